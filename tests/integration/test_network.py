"""Container networks against the real thing: runc and runsc, real namespaces, veths and iptables.

Every address used is on this machine. The test makes a "remote host": a network namespace
with a veth to the host and an address in a test-only subnet (10.214.<pid % 256>.0/24,
routed by the host), running a tiny TCP server that answers with the address it saw. It
also listens on the host itself. Containers then try to reach both, and each other.

Needs root; the debian_slim rootfs is built once per machine like in test_runtime.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from squall.runtime import ContainerSpec, Runtime, get_runtime, network
from squall.runtime.network import NetworkPolicy

TEST_HOME = Path(os.environ.get("SQUALL_TEST_HOME") or os.environ.get("SQUALL_TEST_CACHE") or "/tmp/squall-test-cache")
REMOTE_PORT = 8077
CONNECT_TIMEOUT_S = 6  # a blocked connection is refused at once or dies in ARP (~3 s); never longer

pytestmark = pytest.mark.runtime

# Runs in the container: one line per target, "connected <reply>" or "blocked <errno>".
CLIENT = textwrap.dedent(
    """
    import errno, socket, sys
    for target in sys.argv[1:]:
        host, port = target.rsplit(":", 1)
        try:
            s = socket.create_connection((host, int(port)), timeout=TIMEOUT)
        except OSError as e:
            print("blocked", errno.errorcode.get(e.errno, type(e).__name__), flush=True)
            continue
        s.settimeout(TIMEOUT)
        try:
            print("connected", s.recv(100).decode().strip() or "-", flush=True)
        except OSError as e:
            print("connected", "no-reply", type(e).__name__, flush=True)
        s.close()
    """
).replace("TIMEOUT", str(CONNECT_TIMEOUT_S))

# Runs in the remote namespace (host python): answers every connection with the peer's address.
REMOTE_SERVER = textwrap.dedent(
    """
    import socket, sys
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", int(sys.argv[1])))
    srv.listen(64)
    print("ready", flush=True)
    while True:
        conn, addr = srv.accept()
        conn.sendall(f"remote-ok {addr[0]}\\n".encode())
        conn.close()
    """
)


def require_root() -> None:
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("CI runs as root: the runtime tests must run there")
        pytest.skip("needs root (runc / runsc, ip, iptables)")


def sh(*argv: str, stdin: str | None = None) -> str:
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, check=True).stdout


def run(coro, timeout: float = 90):
    return asyncio.run(asyncio.wait_for(coro, timeout))


@pytest.fixture(scope="module")
def debian_rootfs() -> Path:
    require_root()
    from squall.images.base import ensure_debian_slim

    return ensure_debian_slim(TEST_HOME, log=lambda line: print(line, file=sys.stderr))


@pytest.fixture(params=["runc", "gvisor"])
def runtime(request, tmp_path_factory, debian_rootfs) -> Runtime:
    rt = get_runtime(request.param, tmp_path_factory.mktemp(f"net-{request.param}"))
    rt.check_available()
    return rt


@dataclass
class Remote:
    netns: str
    subnet: ipaddress.IPv4Network
    host_side: ipaddress.IPv4Address  # the host's address on the remote's link
    address: ipaddress.IPv4Address

    @property
    def target(self) -> str:
        return f"{self.address}:{REMOTE_PORT}"


@pytest.fixture(scope="module")
def remote() -> Iterator[Remote]:
    """A namespace playing a host outside the machine, reachable by routing through the host."""
    require_root()
    pid = os.getpid()
    subnet = ipaddress.ip_network(f"10.214.{pid % 256}.0/24")
    r = Remote(netns=f"sqtest-remote-{pid}", subnet=subnet, host_side=subnet.network_address + 1, address=subnet.network_address + 2)
    veth = f"sqtr{pid:x}"[:15]
    server = None
    try:
        sh("ip", "netns", "add", r.netns)
        sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", r.netns)
        sh("ip", "addr", "add", f"{r.host_side}/24", "dev", veth)
        sh("ip", "link", "set", veth, "up")
        sh(
            "ip",
            "-n",
            r.netns,
            "-batch",
            "-",
            stdin=f"link set lo up\naddr add {r.address}/24 dev eth0\nlink set eth0 up\nroute add default via {r.host_side}\n",
        )
        server = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{r.netns}", sys.executable, "-c", REMOTE_SERVER, str(REMOTE_PORT)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdout is not None
        assert server.stdout.readline().strip() == "ready"
        yield r
    finally:
        if server is not None:
            server.kill()
            server.wait()
            server.stdout.close()  # type: ignore[union-attr]
        subprocess.run(["ip", "link", "del", veth], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", r.netns], capture_output=True, check=False)


@pytest.fixture
def host_server() -> Iterator[int]:
    """A TCP server on the host itself (0.0.0.0): stands for the control plane; yields its port."""
    srv = socket.socket()
    srv.bind(("0.0.0.0", 0))
    srv.listen(16)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                conn, _ = srv.accept()
                conn.sendall(b"host-ok\n")
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    port = srv.getsockname()[1]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:  # it is up and answers
        assert s.recv(100) == b"host-ok\n"
    yield port
    stop.set()
    srv.shutdown(socket.SHUT_RDWR)
    srv.close()
    thread.join(5)


_counter = iter(range(1_000_000))


def spec(rt: Runtime, rootfs: Path, policy: NetworkPolicy | bool, argv: list[str]) -> ContainerSpec:
    return ContainerSpec(container_id=f"tn-{rt.name}-{os.getpid()}-{next(_counter)}", rootfs=rootfs, argv=argv, env={}, network=policy)


def assert_network_gone(net: network.ContainerNetwork) -> None:
    assert not Path(net.netns_path).exists()
    assert not Path(f"/sys/class/net/{net.host_veth}").exists()
    assert f"{net.address}/32" not in sh("iptables-save", "-t", "filter")
    assert network.chain_name(net.index) not in sh("iptables-save", "-t", "filter")
    assert not (network.state_dir() / "leases" / f"{net.index:x}.json").exists()


async def connect_from_container(rt: Runtime, rootfs: Path, policy: NetworkPolicy | bool, *targets: str) -> list[str]:
    """Start a container that tries each target; its verdicts, one per target."""
    c = await rt.start(spec(rt, rootfs, policy, ["python3", "-c", CLIENT, *targets]))
    net = getattr(c, "network", None)
    out, err, status = await asyncio.gather(c.stdout.read(), c.stderr.read(), c.wait())
    assert status.exit_code == 0, err.decode()
    if net is not None:
        assert_network_gone(net)
    lines = out.decode().splitlines()
    assert len(lines) == len(targets), out.decode() + err.decode()
    return lines


def test_egress_reaches_a_remote_host_through_nat(runtime, debian_rootfs, remote):
    [verdict] = run(connect_from_container(runtime, debian_rootfs, NetworkPolicy(egress=True), remote.target))
    # The remote saw the host's address on its link: the container's was masqueraded.
    assert verdict == f"connected remote-ok {remote.host_side}"


def test_network_true_is_egress(runtime, debian_rootfs, remote):
    [verdict] = run(connect_from_container(runtime, debian_rootfs, True, remote.target))
    assert verdict.startswith("connected remote-ok")


def test_loopback_only_cannot_reach_the_remote(runtime, debian_rootfs, remote):
    [verdict] = run(connect_from_container(runtime, debian_rootfs, NetworkPolicy(egress=False), remote.target))
    assert verdict.startswith("blocked ")


def test_cidr_allowlist(runtime, debian_rootfs, remote):
    elsewhere = NetworkPolicy(egress=True, cidr_allowlist=["10.215.0.0/16", "192.0.2.128/25"])
    exact = NetworkPolicy(egress=True, cidr_allowlist=[str(remote.address)])
    covering = NetworkPolicy(egress=True, cidr_allowlist=["10.215.0.0/16", str(remote.subnet)])

    async def scenario():
        return await asyncio.gather(
            connect_from_container(runtime, debian_rootfs, elsewhere, remote.target),
            connect_from_container(runtime, debian_rootfs, exact, remote.target),
            connect_from_container(runtime, debian_rootfs, covering, remote.target),
        )

    [excluded], [exact_verdict], [covered] = run(scenario())
    assert excluded == "blocked EHOSTUNREACH"  # rejected by the allowlist, at once
    assert exact_verdict.startswith("connected remote-ok")
    assert covered.startswith("connected remote-ok")


def test_host_services_are_unreachable(runtime, debian_rootfs, remote, host_server):
    host_addresses = {str(network.gateway(network.container_subnet())), str(remote.host_side)}
    for line in sh("ip", "-4", "-o", "addr", "show", "scope", "global").splitlines():
        host_addresses.add(line.split()[3].split("/")[0])  # the host's own addresses, e.g. eth0's
    targets = sorted(f"{a}:{host_server}" for a in host_addresses)
    verdicts = run(connect_from_container(runtime, debian_rootfs, NetworkPolicy(egress=True), *targets, remote.target))
    assert verdicts[:-1] == ["blocked EHOSTUNREACH"] * len(targets), dict(zip(targets, verdicts))
    assert verdicts[-1].startswith("connected remote-ok")  # the same container does have egress


SERVER_IN_CONTAINER = textwrap.dedent(
    """
    import socket, threading
    srv = socket.socket()
    srv.bind(("0.0.0.0", 9000))
    srv.listen(16)
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.connect(("10.0.0.1", 9))  # no packet is sent: this only picks the source address
    me = probe.getsockname()[0]
    socket.create_connection((me, 9000), timeout=5).close()  # it answers on its own address
    srv.accept()[0].close()
    print(me, flush=True)
    threading.Event().wait()  # until killed
    """
)


def test_containers_cannot_reach_each_other(runtime, debian_rootfs, remote):
    async def scenario():
        server_spec = spec(runtime, debian_rootfs, NetworkPolicy(egress=True), ["python3", "-c", SERVER_IN_CONTAINER])
        server = await runtime.start(server_spec)
        try:
            line = await asyncio.wait_for(server.stdout.readline(), 60)
            address = line.decode().strip()
            assert ipaddress.ip_address(address) in network.container_subnet(), line + await server.stderr.read()
            return await connect_from_container(runtime, debian_rootfs, NetworkPolicy(egress=True), f"{address}:9000", remote.target)
        finally:
            await server.kill()
            await server.wait()

    to_other, to_remote = run(scenario())
    assert to_other.startswith("blocked "), to_other
    assert to_remote.startswith("connected remote-ok")


def test_cleanup_orphans_removes_what_a_dead_owner_left(remote):
    owner = f"test-owner-{os.getpid()}"

    async def scenario():
        nets = [await network.setup(f"orphan-{os.getpid()}-{i}", policy, owner=owner) for i, policy in enumerate(
            [NetworkPolicy(egress=True), NetworkPolicy(egress=True, cidr_allowlist=[str(remote.subnet)])]
        )]  # fmt: skip
        for net in nets:  # all there before the cleanup
            assert Path(net.netns_path).exists() and Path(f"/sys/class/net/{net.host_veth}").exists()
            assert f"{net.address}/32" in sh("iptables-save", "-t", "filter")
        await network.cleanup_orphans(owner=owner)
        for net in nets:
            assert_network_gone(net)
            await net.close()  # closing after the cleanup is harmless

    run(scenario())
