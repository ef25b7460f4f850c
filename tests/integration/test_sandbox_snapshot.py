"""Memory snapshots of sandboxes end to end: a real server, gVisor worker and runsc, driven through
the public SDK and the `squall sandbox snapshots` CLI."""

from __future__ import annotations

import concurrent.futures
import json
import os
import sqlite3

import pytest

import squall
from squall.exception import InvalidError, NotFoundError
from squall.server.secret_box import SecretBox
from tests.conftest import using
from tests.integration.test_sandbox_tunnels import _echo, _retry

pytestmark = [pytest.mark.runtime, pytest.mark.integration]

# The sandbox's main command: a counter held only in this process's memory, with a random token
# drawn at start (so a restored copy proves it is the same process, not a re-run). Each request
# (a line written to the FIFO /tmp/req) bumps the counter; the answer comes back on /tmp/resp and
# is printed to stdout.
COUNTER = """
import os, secrets
token = secrets.token_hex(8)
n = 0
for p in ("/tmp/req", "/tmp/resp"):
    os.mkfifo(p)
print("ready", token, flush=True)
while True:
    with open("/tmp/req") as f:
        f.read()
    n += 1
    with open("/tmp/resp", "w") as f:
        f.write(f"{n} {token}\\n")
    print("served", n, flush=True)
"""


@pytest.fixture
def sdk(gvisor_cluster, monkeypatch):
    yield from using(gvisor_cluster, monkeypatch)


def ask(sb: squall.Sandbox) -> tuple[int, str]:
    """One request to the counter in `sb`: (its count, its token)."""
    p = sb.exec("sh", "-c", "echo inc > /tmp/req; cat /tmp/resp", timeout=30)
    out = p.stdout.read()
    assert p.wait() == 0, (out, p.stderr.read(), p.exit_reason)
    n, token = out.split()
    return int(n), token


def counter_sandbox(**kwargs) -> tuple[squall.Sandbox, str]:
    kwargs.setdefault("block_network", True)
    sb = squall.Sandbox.create("python3", "-u", "-c", COUNTER, timeout=300, **kwargs)
    first = next(iter(sb.stdout))
    assert first.startswith("ready "), first
    return sb, first.split()[1]


def test_restored_sandbox_has_the_processes_memory_and_files_of_the_snapshot(sdk):
    sb, token = counter_sandbox()
    restored = []
    try:
        sb.filesystem.write_text("/root/before.txt", "written before the snapshot")
        assert ask(sb) == (1, token)
        assert ask(sb) == (2, token)

        snap = sb.snapshot_memory()
        assert isinstance(snap, squall.SandboxSnapshot) and snap.object_id.startswith("sn-")

        # The source runs on, the same process with the same memory.
        assert ask(sb) == (3, token)
        sb.filesystem.write_text("/root/after.txt", "written after the snapshot")

        sb2 = squall.Sandbox.from_snapshot(snap)
        restored.append(sb2)
        assert sb2.object_id != sb.object_id
        # The counter was at 2 when the snapshot was taken: the restored process goes on from there,
        # with the token only that process's memory held.
        assert ask(sb2) == (3, token)
        assert sb2.filesystem.read_text("/root/before.txt") == "written before the snapshot"
        with pytest.raises(NotFoundError):
            sb2.filesystem.read_text("/root/after.txt")
        # The main command's output after the restore is the new sandbox's stdout.
        assert next(iter(sb2.stdout)) == "served 3\n"

        # A second restore of the same snapshot is independent of the first and of the source.
        sb3 = squall.Sandbox.from_snapshot(squall.SandboxSnapshot.from_id(snap.object_id))
        restored.append(sb3)
        assert ask(sb3) == (3, token)
        assert ask(sb3) == (4, token)
        assert ask(sb2) == (4, token)
        assert ask(sb) == (4, token)
        sb3.filesystem.write_text("/root/only-in-3.txt", "3")
        with pytest.raises(NotFoundError):
            sb2.filesystem.read_text("/root/only-in-3.txt")

        # New processes, exit codes and stderr work in the restored sandbox.
        p = sb2.exec("sh", "-c", "echo out; echo err >&2; exit 3")
        assert p.stdout.read() == "out\n" and p.stderr.read() == "err\n" and p.wait() == 3

        sb2.terminate()
        sb2.wait(raise_on_termination=False)
        assert sb2.returncode is not None
        assert ask(sb3) == (5, token)  # terminating one restored copy leaves the others alone
    finally:
        for s in [sb, *restored]:
            s.terminate()


# A user process that keeps trying to take the supervisor's link: connect, send a made-up proof,
# see whether anything comes back. It runs through the snapshot, so in the restored sandbox it is
# there from the first instant, racing the restored supervisor to the link.
INTRUDER = """
import json, os, socket, time
header = json.dumps({"resume": {"proof": "0" * 64}}).encode()
frame = (4 + len(header)).to_bytes(4, "big") + len(header).to_bytes(4, "big") + header
counts = {"refused": 0, "closed": 0, "answered": 0}
while True:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(2)
    try:
        s.connect("/opt/squall/run/link.sock")
        s.sendall(frame)
        counts["closed" if s.recv(1) == b"" else "answered"] += 1
    except OSError:
        counts["refused"] += 1
    finally:
        s.close()
    with open("/tmp/intruder.tmp", "w") as f:
        f.write(json.dumps(counts))
    os.replace("/tmp/intruder.tmp", "/tmp/intruder.json")
    time.sleep(0.01)
"""

# One connection to the link without the proof, or with a wrong one, after the supervisor is back.
KNOCK = """
import json, socket
def knock(first):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    try:
        s.connect("/opt/squall/run/link.sock")
        if first:
            s.sendall(first)
        return "closed" if s.recv(1) == b"" else "answered"
    except OSError:
        return "refused"
    finally:
        s.close()
header = json.dumps({"resume": {"proof": "0" * 64}}).encode()
print(knock(b""), knock((4 + len(header)).to_bytes(4, "big") + len(header).to_bytes(4, "big") + header))
"""


def intruder_counts(sb: squall.Sandbox) -> dict:
    return json.loads(sb.filesystem.read_text("/tmp/intruder.json"))


def test_link_refuses_other_clients_after_snapshot_and_restore(sdk):
    sb, token = counter_sandbox()
    restored = None
    try:
        sb.exec("python3", "-c", INTRUDER)
        assert ask(sb) == (1, token)
        snap = sb.snapshot_memory()
        restored = squall.Sandbox.from_snapshot(snap)
        for box in (sb, restored):
            # The supervisor is back and the intruder never got it: a client with no proof or a
            # wrong one is turned away, and the sandbox goes on working.
            p = box.exec("python3", "-c", KNOCK, timeout=30)
            outcomes = p.stdout.read().split()
            assert len(outcomes) == 2 and set(outcomes) <= {"closed", "refused"}, (outcomes, p.stderr.read())
            assert p.wait() == 0
            assert box.exec("echo", "still mine").stdout.read() == "still mine\n"
        assert ask(sb) == (2, token) and ask(restored) == (2, token)
        # The intruder ran in the restored sandbox from its first instant and was refused throughout.
        first = intruder_counts(restored)
        assert ask(restored) == (3, token)
        later = intruder_counts(restored)
        assert later["answered"] == 0 and intruder_counts(sb)["answered"] == 0, later
        assert sum(later.values()) > sum(first.values()), (first, later)
        snap.delete()
    finally:
        sb.terminate()
        if restored is not None:
            restored.terminate()


def test_commands_sent_during_a_snapshot_wait_and_run(sdk):
    sb, token = counter_sandbox()
    try:
        sb.filesystem.write_text("/root/big", "x" * (64 << 20))  # a checkpoint that takes a moment
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            snap = pool.submit(sb.snapshot_memory)
            asks = pool.submit(lambda: [ask(sb) for _ in range(3)])  # one at a time: the FIFOs serve one client
            echo = pool.submit(lambda: sb.exec("echo", "during").stdout.read())
            snap = snap.result()
            assert asks.result() == [(1, token), (2, token), (3, token)]
            assert echo.result() == "during\n"
        assert ask(sb) == (4, token)
        snap.delete()
    finally:
        sb.terminate()


def test_restores_at_once_from_one_snapshot(sdk):
    sb, token = counter_sandbox()
    try:
        assert ask(sb) == (1, token)
        snap = sb.snapshot_memory()
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            boxes = list(pool.map(lambda _: squall.Sandbox.from_snapshot(snap), range(3)))
        try:
            assert len({b.object_id for b in boxes}) == 3
            with concurrent.futures.ThreadPoolExecutor(3) as pool:
                assert list(pool.map(ask, boxes)) == [(2, token)] * 3
        finally:
            for b in boxes:
                b.terminate()
        snap.delete()
    finally:
        sb.terminate()


def test_snapshots_listed_and_removed_with_the_cli(sdk, gvisor_cluster):
    sb = squall.Sandbox.create(block_network=True, timeout=120)
    try:
        snap = sb.snapshot_memory()
    finally:
        sb.terminate()
    listed = gvisor_cluster.squall("sandbox", "snapshots", "list")
    assert listed.returncode == 0, listed.stderr
    assert snap.object_id in listed.stdout and sb.object_id in listed.stdout
    # Snapshots outlive their sandbox: it was terminated, the snapshot still restores.
    sb2 = squall.Sandbox.from_snapshot(snap)
    try:
        assert sb2.exec("echo", "back").stdout.read() == "back\n"
    finally:
        sb2.terminate()
    rm = gvisor_cluster.squall("sandbox", "snapshots", "rm", snap.object_id)
    assert rm.returncode == 0, rm.stderr
    assert snap.object_id not in gvisor_cluster.squall("sandbox", "snapshots", "list").stdout
    with pytest.raises(NotFoundError, match=snap.object_id):
        squall.Sandbox.from_snapshot(snap)
    again = gvisor_cluster.squall("sandbox", "snapshots", "rm", snap.object_id)
    assert again.returncode != 0 and snap.object_id in again.stderr


def _tamper(cluster, snapshot_id: str, **values) -> None:
    db = sqlite3.connect(cluster.home / "server" / "state.db")
    with db:
        for column, value in values.items():
            db.execute(f"UPDATE sandbox_snapshots SET {column} = ? WHERE id = ?", (value, snapshot_id))
    db.close()


def test_restore_refused_where_runtime_or_cpu_differ(sdk, gvisor_cluster):
    sb = squall.Sandbox.create(block_network=True, timeout=120)
    try:
        snap = sb.snapshot_memory()
    finally:
        sb.terminate()
    taken = snap.info()
    assert taken.runtime_version.startswith("runsc version")
    _tamper(gvisor_cluster, snap.object_id, runtime_version="runsc version 0.0~20990101.0")
    with pytest.raises(InvalidError, match=r"20990101.*this worker has 'runsc version"):
        squall.Sandbox.from_snapshot(snap)

    db = sqlite3.connect(gvisor_cluster.home / "server" / "state.db")
    features, stored_secret = db.execute("SELECT cpu_features, resume_secret FROM sandbox_snapshots WHERE id = ?", (snap.object_id,)).fetchone()
    features = json.loads(features)
    db.close()
    # The resume secret is kept encrypted with the server's key, as Secrets are (the restore at the end works with it).
    assert len(stored_secret) > 32 and len(SecretBox.for_home(gvisor_cluster.home / "server").decrypt_bytes(stored_secret)) == 32
    _tamper(gvisor_cluster, snap.object_id, runtime_version=taken.runtime_version, cpu_features=json.dumps([*features, "avx9000_vnni"]))
    with pytest.raises(InvalidError, match=r"CPU lacks features it was taken with: avx9000_vnni"):
        squall.Sandbox.from_snapshot(snap)
    _tamper(gvisor_cluster, snap.object_id, cpu_features=json.dumps(features))

    # A snapshot taken on another gVisor platform: a systrap image restored under ptrace dies at once.
    assert taken.platform == "ptrace"
    _tamper(gvisor_cluster, snap.object_id, platform="systrap")
    with pytest.raises(InvalidError, match=r"taken on gVisor's systrap platform, this worker runs ptrace"):
        squall.Sandbox.from_snapshot(snap)
    _tamper(gvisor_cluster, snap.object_id, platform="ptrace")

    # The worker checks the image's own record too: a mismatch only it can see is refused as clearly.
    meta_path = gvisor_cluster.home / "worker" / "snapshots" / snap.object_id / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "runtime_version": "runsc version 0.0~20990202.0"}))
    with pytest.raises(InvalidError, match=r"cannot be restored on worker .*20990202"):
        squall.Sandbox.from_snapshot(snap)
    meta_path.write_text(json.dumps({**meta, "platform": "systrap"}))
    with pytest.raises(InvalidError, match=r"cannot be restored on worker .*systrap platform"):
        squall.Sandbox.from_snapshot(snap)
    meta_path.write_text(json.dumps(meta))

    # Put right again, it restores: the refusals were about what differed, nothing else.
    sb2 = squall.Sandbox.from_snapshot(snap)
    try:
        assert sb2.exec("echo", "ok").stdout.read() == "ok\n"
    finally:
        sb2.terminate()
        snap.delete()


# -- sandboxes with network access: gVisor's netstack is checkpointed; a restored one gets a network of its own --
from tests.integration.test_network import CLIENT, remote  # noqa: F401 - the fixture is used by name
from tests.integration.test_sandbox_security import PROBE

# Prints the sandbox's own address: the source of a (never sent) UDP "connection" to the target.
MY_ADDRESS = "import socket, sys; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect((sys.argv[1], 9)); print(s.getsockname()[0])"

LISTENER = """
import socket
srv = socket.socket()
srv.bind(("0.0.0.0", 7000))
srv.listen(8)
print("listening", flush=True)
while True:
    conn, _ = srv.accept()
    conn.sendall(b"listener-ok")
    conn.close()
"""


def _run(sb: squall.Sandbox, *argv: str) -> list[str]:
    p = sb.exec(*argv, timeout=60)
    out = p.stdout.read()
    assert p.wait() == 0, (out, p.stderr.read())
    return out.splitlines()


def test_sandbox_with_network_restores_with_a_network_of_its_own(sdk, gvisor_cluster, remote):  # noqa: F811 - the fixture
    sb, token = counter_sandbox(block_network=False)
    allowlisted, allowlisted_token = counter_sandbox(block_network=False, outbound_cidr_allowlist=["192.0.2.0/24"])
    restored: list[squall.Sandbox] = []
    try:
        assert _run(sb, "python3", "-c", CLIENT, remote.target)[0].startswith("connected remote-ok")
        address = _run(sb, "python3", "-c", MY_ADDRESS, str(remote.address))[0]
        listener = sb.exec("python3", "-u", "-c", LISTENER)  # runs on in the source and in the restored copy
        assert next(iter(listener.stdout)) == "listening\n"
        snap = sb.snapshot_memory()
        sb2 = squall.Sandbox.from_snapshot(snap)
        restored.append(sb2)
        assert ask(sb2) == (1, token)  # the same process, with its memory
        # Its own network: egress works, from a new address (the source still holds the old one).
        assert _run(sb2, "python3", "-c", CLIENT, remote.target)[0].startswith("connected remote-ok")
        address2 = _run(sb2, "python3", "-c", MY_ADDRESS, str(remote.address))[0]
        assert address2 != address, address
        # A socket listening at snapshot time listens in both, on loopback and on the new address.
        assert _run(sb2, "python3", "-c", CLIENT, "127.0.0.1:7000", f"{address2}:7000") == ["connected listener-ok"] * 2
        assert _run(sb, "python3", "-c", CLIENT, "127.0.0.1:7000") == ["connected listener-ok"]
        assert _run(sb, "python3", "-c", CLIENT, remote.target)[0].startswith("connected remote-ok")  # the source runs on, online
        assert ask(sb) == (1, token)
        # And its isolation: the host (the control plane's port) is out of reach, as for any sandbox.
        sb2.filesystem.write_text("/tmp/probe.py", PROBE)
        lines = _run(sb2, "python3", "/tmp/probe.py", str(gvisor_cluster.port))
        assert lines[0] == "tcp: refused", lines
        assert lines[1] == "gateways: 1", lines
        snap.delete()

        # A restored sandbox keeps the source's egress policy: an allowlist still blocks the rest.
        assert _run(allowlisted, "python3", "-c", CLIENT, remote.target)[0].startswith("blocked")
        snap = allowlisted.snapshot_memory()
        sb3 = squall.Sandbox.from_snapshot(snap)
        restored.append(sb3)
        assert ask(sb3) == (1, allowlisted_token)
        assert _run(sb3, "python3", "-c", CLIENT, remote.target)[0].startswith("blocked")
        snap.delete()
    finally:
        for s in (sb, allowlisted, *restored):
            s.terminate()


# Echoes on 9000 and 9443, a thread a connection.
ECHO_SERVER = """
import socket, threading
def serve(port):
    srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); srv.bind(("0.0.0.0", port)); srv.listen(16)
    while True:
        conn, _ = srv.accept()
        def handle(c=conn):
            with c:
                while data := c.recv(65536):
                    c.sendall(data)
        threading.Thread(target=handle, daemon=True).start()
threading.Thread(target=serve, args=(9443,), daemon=True).start()
serve(9000)
"""


def test_a_restored_sandbox_serves_its_ports_through_tunnels_of_its_own(sdk):
    sb = squall.Sandbox.create("python3", "-c", ECHO_SERVER, unencrypted_ports=[9000], encrypted_ports=[9443], timeout=180)
    restored = None
    try:
        source = sb.tunnels(timeout=60)
        assert _retry(lambda: _echo(source[9000].tcp_socket, b"before")) == b"before"
        snap = sb.snapshot_memory()
        restored = squall.Sandbox.from_snapshot(snap)
        tunnels = restored.tunnels(timeout=60)
        assert sorted(tunnels) == [9000, 9443]
        assert tunnels[9000].tcp_socket != source[9000].tcp_socket  # its own listeners, to its own address
        # The server that listened at snapshot time answers in the copy, plain and over TLS, and in the source still.
        payload = os.urandom(100_000)
        assert _retry(lambda: _echo(tunnels[9000].tcp_socket, payload)) == payload
        assert _retry(lambda: _echo(tunnels[9443].tls_socket, b"tls", tunnels[9443].ssl_context(), tunnels[9443].host)) == b"tls"
        assert _echo(source[9000].tcp_socket, b"source") == b"source"
        snap.delete()
    finally:
        sb.terminate()
        if restored is not None:
            restored.terminate()


def test_runc_sandbox_refused_clearly(runc_cluster, monkeypatch):
    for _ in using(runc_cluster, monkeypatch):
        sb = squall.Sandbox.create(runtime="runc", block_network=True, timeout=60)
        try:
            with pytest.raises(InvalidError, match="memory snapshots need runtime='gvisor'"):
                sb.snapshot_memory()
            assert sb.exec("echo", "still here").stdout.read() == "still here\n"
        finally:
            sb.terminate()
