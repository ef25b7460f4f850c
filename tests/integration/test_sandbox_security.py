"""What code in a sandbox must not be able to do. Each test makes the attempt from inside a real
sandbox (gVisor, and runc where it is cheap) and checks that it fails."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

import squall
from squall.exception import NotFoundError

pytestmark = [pytest.mark.runtime, pytest.mark.integration]

DISK_MB = 128  # each sandbox's writable disk in this module's clusters
CLUSTER_ENV = {"SQUALL_SANDBOX_DISK_MB": str(DISK_MB)}
LIST_CMDLINES = 'for f in /proc/[0-9]*/cmdline; do tr "\\0" " " < "$f"; echo; done'


def test_host_files_are_not_readable(any_runtime, tmp_path_factory):
    name = f"squall-host-secret-{uuid.uuid4().hex}"
    secret = f"/tmp/{name}"
    with open(secret, "w") as f:
        f.write("host secret")
    try:
        sb = squall.Sandbox.create(runtime=any_runtime, timeout=60)
        p = sb.exec("cat", secret)
        assert p.wait() != 0
        assert "host secret" not in p.stdout.read()
        assert name not in sb.exec("sh", "-c", "ls -a /tmp /root / 2>&1").stdout.read()
        found = sb.exec("sh", "-c", f"grep -rl 'host secret' /tmp /root /opt /var /etc 2>/dev/null; find / -name '{name[:20]}*' 2>/dev/null")
        assert found.stdout.read() == ""
        with pytest.raises(NotFoundError):
            sb.filesystem.read_text(secret)
        sb.terminate()
    finally:
        import os

        os.unlink(secret)


def test_host_processes_are_not_visible(any_runtime):
    marker = f"squall-host-process-{uuid.uuid4().hex}"
    host = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", marker])
    try:
        sb = squall.Sandbox.create(runtime=any_runtime, timeout=60)
        seen = sb.exec("sh", "-c", LIST_CMDLINES).stdout.read()
        assert "import supervisor" in seen  # it does see its own processes: the listing works
        assert marker not in seen
        assert str(host.pid) not in sb.exec("sh", "-c", "ls /proc").stdout.read().split()
        sb.terminate()
    finally:
        host.kill()
        host.wait()


def test_another_sandboxs_files_and_processes_are_not_visible(gvisor):
    marker = f"sandbox-a-{uuid.uuid4().hex}"
    a = squall.Sandbox.create(timeout=60)
    b = squall.Sandbox.create(timeout=60)
    a.filesystem.write_text("/tmp/a-secret", "only for a")
    a_proc = a.exec("python3", "-c", "import time; print('ready', flush=True); time.sleep(300)", marker)
    assert next(iter(a_proc.stdout)) == "ready\n"
    assert marker in a.exec("sh", "-c", LIST_CMDLINES).stdout.read()
    p = b.exec("cat", "/tmp/a-secret")
    assert p.wait() != 0
    with pytest.raises(NotFoundError):
        b.filesystem.read_text("/tmp/a-secret")
    assert marker not in b.exec("sh", "-c", LIST_CMDLINES).stdout.read()
    assert b.exec("sh", "-c", "find / -name a-secret 2>/dev/null").stdout.read() == ""
    a_proc.kill()
    a.terminate()
    b.terminate()


PROBE = r"""
import os, socket, sys

port = int(sys.argv[1])
gateways = []
try:  # the sandbox's default route leads to the host's bridge: the host itself must not answer there
    for line in open("/proc/net/route").read().splitlines()[1:]:
        f = line.split()
        if f[1] == "00000000" and f[2] != "00000000":
            gateways.append(socket.inet_ntoa(bytes.fromhex(f[2])[::-1]))
except OSError:
    pass
for host in ["127.0.0.1", *gateways]:
    try:
        socket.create_connection((host, port), timeout=3).close()
        print("tcp: connected", host)
        break
    except OSError as e:
        pass
else:
    print("tcp: refused")
print("gateways:", len(gateways))

environ = open("/proc/1/environ", "rb").read().split(b"\0") if os.access("/proc/1/environ", os.R_OK) else []
print("squall variables in /proc/1/environ:", [e.split(b"=")[0].decode() for e in environ if e.startswith(b"SQUALL")])
print("squall variables here:", [k for k in os.environ if k.startswith("SQUALL")])
print("in /opt/squall/run:", sorted(os.listdir("/opt/squall/run")))
opened = []  # the supervisor's sockets (its link) cannot be reopened through /proc
try:
    for fd in os.listdir("/proc/1/fd"):
        try:
            if os.readlink(f"/proc/1/fd/{fd}").startswith("socket:"):
                os.close(os.open(f"/proc/1/fd/{fd}", os.O_RDWR))
                opened.append(fd)
        except OSError:
            pass
except PermissionError:
    pass
print("supervisor sockets opened:", opened)
# The supervisor's link to the worker takes one client, the supervisor: a second is turned away.
try:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect("/opt/squall/run/link.sock")
    s.sendall((12).to_bytes(4, "big") + (8).to_bytes(4, "big") + b'{"x": 1}')
    print("link:", "closed" if s.recv(1) == b"" else "answered")
except OSError as e:
    print("link: refused")
"""


def test_control_plane_is_unreachable_and_nothing_to_steal(gvisor):
    sb = squall.Sandbox.create(timeout=60)
    sb.filesystem.write_text("/tmp/probe.py", PROBE)
    p = sb.exec("python3", "/tmp/probe.py", str(gvisor.port))
    out = p.stdout.read()
    assert p.wait() == 0, p.stderr.read()
    lines = out.splitlines()
    assert lines[0] == "tcp: refused"  # the host's loopback is not this sandbox's, and the host is not reachable from it
    assert lines[1] == "gateways: 1"  # a default sandbox has egress: the host's side of it was tried too
    assert lines[2] == "squall variables in /proc/1/environ: []"  # no token or address anywhere
    assert lines[3] == "squall variables here: []"
    assert lines[4] == "in /opt/squall/run: ['link.sock']"  # no socket to the control plane
    assert lines[5] == "supervisor sockets opened: []"  # the link cannot be taken over
    assert lines[6] in ("link: refused", "link: closed")
    assert sb.exec("echo", "still fine").stdout.read() == "still fine\n"  # the attempts did not break the supervisor
    sb.terminate()


def test_no_network_when_blocked(gvisor):
    sb = squall.Sandbox.create(block_network=True, timeout=60)
    code = (
        "import socket, sys\n"
        "for host, port in [('127.0.0.1', int(sys.argv[1])), ('10.0.2.2', 80), ('1.1.1.1', 53), ('8.8.8.8', 443)]:\n"
        "    try:\n"
        "        socket.create_connection((host, port), timeout=3).close(); print('connected', host)\n"
        "    except OSError as e:\n"
        "        print('failed', host, type(e).__name__)\n"
        "print(sorted(name for _, name in socket.if_nameindex()))\n"
    )
    p = sb.exec("python3", "-c", code, str(gvisor.port))
    out = p.stdout.read()
    assert p.wait() == 0, p.stderr.read()
    assert "connected" not in out
    assert out.count("failed") == 4
    assert out.splitlines()[-1] == "['lo']"
    sb.terminate()


def test_memory_bomb_is_killed_and_says_why(gvisor):
    sb = squall.Sandbox.create(memory=256, timeout=120)
    p = sb.exec("python3", "-c", "x = []\nwhile True:\n    x.append(b'x' * (4 * 1024 * 1024))")
    assert p.wait() == -9
    assert "out of memory (limit 256 MiB)" in p.exit_reason
    if sb.poll() is None:  # the supervisor caught it first: only the bomb was killed
        assert sb.exec("echo", "alive").stdout.read() == "alive\n"
        sb.terminate()
    else:  # the runtime's OOM kill ended the whole sandbox: it says so too
        assert sb.returncode == -9
        assert "out of memory (limit 256 MiB)" in sb.exit_reason


def test_writes_past_the_disk_limit_fail(any_runtime):
    sb = squall.Sandbox.create(runtime=any_runtime, timeout=60)
    p = sb.exec("sh", "-c", f"dd if=/dev/zero of=/root/fill bs=1M count={2 * DISK_MB}")
    assert p.wait() != 0
    assert "No space left on device" in p.stderr.read()
    size = int(sb.exec("stat", "-c", "%s", "/root/fill").stdout.read())
    assert DISK_MB // 2 << 20 < size <= DISK_MB << 20
    # Freeing space makes room again: the limit is on what the sandbox holds, not what it wrote.
    sb.filesystem.remove("/root/fill")
    assert sb.exec("sh", "-c", f"dd if=/dev/zero of=/root/again bs=1M count={DISK_MB // 2}").wait() == 0
    sb.terminate()


def test_a_fork_bomb_is_contained(gvisor):
    """The classic bomb either hits the limit (and is killed) or dies out under RLIMIT_NPROC;
    either way the sandbox survives and no bomb process is left."""
    sb = squall.Sandbox.create(timeout=90)
    bomb = sb.exec("sh", "-c", "f() { f | f & }; f; sleep 5")
    bomb.wait()
    assert bomb.returncode is not None
    count = sb.exec("sh", "-c", "ls /proc | grep -c '^[0-9]'")
    assert count.wait() == 0
    assert int(count.stdout.read()) < 10
    assert sb.exec("echo", "alive").stdout.read() == "alive\n"
    assert sb.poll() is None
    sb.terminate()


def test_going_past_the_process_limit_is_stopped_and_says_why(gvisor):
    """Processes that pile up (none dies on its own) reach the limit every time: the exec is
    killed and told why, and the sandbox survives."""
    sb = squall.Sandbox.create(timeout=90)
    pile = sb.exec("sh", "-c", "i=0; while [ $i -lt 400 ]; do sleep 300 & i=$((i+1)); done; wait")
    assert pile.wait() == -9
    assert "limit of 256 processes" in pile.exit_reason
    count = sb.exec("sh", "-c", "ls /proc | grep -c '^[0-9]'")
    assert count.wait() == 0
    assert int(count.stdout.read()) < 10
    assert sb.poll() is None
    sb.terminate()


# -- egress: a "remote host" in a network namespace made by the test (tests/integration/test_network.py) --
from tests.integration.test_network import CLIENT, remote  # noqa: E402,F401 - the fixture is used by name


def _connect(sb, *targets: str) -> list[str]:
    p = sb.exec("python3", "-c", CLIENT, *targets)
    out = p.stdout.read()
    assert p.wait() == 0, p.stderr.read()
    return out.splitlines()


def test_egress_by_default_and_cidr_allowlist(gvisor, remote):
    open_sb = squall.Sandbox.create(timeout=60)
    assert _connect(open_sb, remote.target)[0].startswith("connected remote-ok")
    allowed = squall.Sandbox.create(outbound_cidr_allowlist=[str(remote.subnet)], timeout=60)
    assert _connect(allowed, remote.target)[0].startswith("connected remote-ok")
    elsewhere = squall.Sandbox.create(outbound_cidr_allowlist=["192.0.2.0/24"], timeout=60)
    assert _connect(elsewhere, remote.target)[0].startswith("blocked")
    blocked = squall.Sandbox.create(block_network=True, timeout=60)
    assert _connect(blocked, remote.target)[0].startswith("blocked")
    for sb in (open_sb, allowed, elsewhere, blocked):
        sb.terminate()
