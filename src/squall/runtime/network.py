"""Per-container networks: a network namespace per container, egress through a bridge + NAT.

A container with egress gets its own network namespace `/run/netns/sq-<index>-<container id>`
holding `lo` and `eth0`, one end of a veth pair whose other end (`sqh<index>`) is a port of
the host bridge `squall0`. Its address is `<subnet>[index]` (subnet: $SQUALL_CONTAINER_SUBNET,
default 10.213.0.0/16; the bridge holds the first address and is the default route). The
host forwards and masquerades the subnet's traffic to its own uplinks. A container without
egress needs nothing from here: runc gives it a fresh namespace, runsc `--network=none`.

What a container can reach, enforced on the host where the container cannot change it:
- Anything the host routes to, unless its policy has a CIDR allowlist: then only those
  CIDRs, plus DNS (port 53) to the nameservers of its resolv.conf. DNS is allowed on purpose,
  so that an allowlist of addresses still lets code resolve names; it is a narrow channel
  to the resolver and nothing else. Other destinations are rejected (an immediate
  EHOSTUNREACH, not a hang).
- Never the host itself: new connections arriving from `squall0`, to any of the host's
  addresses, are rejected (the worker's API, the control plane and anything else bound on
  the host are out of reach; replies to connections the host opens still pass). A resolver
  running on the host is therefore out of reach too; see resolv_conf_path().
- Never another container: bridge ports are isolated from each other, and nothing new is
  forwarded into `squall0`. IPv6 is off on the bridge (the rules are IPv4 only).
- Nothing reaches a container from the host either, except the TCP ports its policy lists
  in `inbound_ports` (a sandbox's tunnels: the worker's forwarder connects to them). New
  connections the host opens into `squall0` go through SQUALL-OUTPUT: one ACCEPT per
  (container address, port) in SQUALL-INGRESS, else REJECT (a TCP reset: refused at once).
  A policy with inbound ports and no egress gets the namespace and veth but no egress rule
  and no default route: it can answer the forwarder and reach nothing.
- A container's rules match its address AND its bridge port (`-m physdev`): a container
  with CAP_NET_RAW could forge another's source address, never the port it sends from. This
  needs br_netfilter with net.bridge.bridge-nf-call-iptables=1, which setup turns on (as
  docker does); without it egress fails closed.

iptables layout (filter): INPUT -> SQUALL-INPUT, FORWARD -> SQUALL-FORWARD, which sends
everything from `squall0` to SQUALL-EGRESS: one rule per container (`-s <ip> -j ACCEPT`, or
`-s <ip> -j SQ-<index>` holding its allowlist), then DROP for anything else.
OUTPUT -o squall0 -> SQUALL-OUTPUT: replies, then SQUALL-INGRESS (`-d <ip> -p tcp --dport N
-j ACCEPT` per inbound port), then REJECT.
(nat) POSTROUTING -> SQUALL-POSTROUTING: MASQUERADE for the subnet leaving by any other
device. The SQUALL-* chains are rebuilt whenever a process first sets up a network; the
per-container rules are added and removed one container at a time.

Addresses are leased with one file per address under $SQUALL_NETWORK_STATE_DIR (default
/run/squall/network, a tmpfs that empties on reboot exactly when namespaces and rules do).
A lease is created with link(2), which fails if it exists, so concurrent setups in one or
many processes never share an address, and a restarted worker sees what a crashed one held.
The lease is written before anything is created and removed after everything is gone; a
lease records its owner (the runtime's bundle dir), which `cleanup_orphans(owner)` uses to
tear down exactly what a dead worker left behind.

The start path costs three subprocesses (`ip -batch` on the host, `ip -batch` in the
namespace, `iptables-restore --noflush`); teardown two. The first setup in a process also
prepares the host (bridge, sysctl, chains) under a file lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import functools
import ipaddress
import json
import logging
import os
import random
import re
import time
import uuid
import weakref
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

SUBNET_ENV = "SQUALL_CONTAINER_SUBNET"
DEFAULT_SUBNET = "10.213.0.0/16"
STATE_DIR_ENV = "SQUALL_NETWORK_STATE_DIR"
DEFAULT_STATE_DIR = "/run/squall/network"
BRIDGE = "squall0"
NETNS_DIR = Path("/run/netns")
NETNS_PREFIX = "sq-"
HOST_VETH_PREFIX = "sqh"  # + index in hex: at most 15 characters (IFNAMSIZ)
CONTAINER_IFACE = "eth0"
CHAIN_PREFIX = "SQ-"  # per-container allowlist chain, + index in hex
BRIDGE_MAC = "02:53:51:00:00:01"  # fixed, locally administered ("SQ"): see _prepare_host_locked
INPUT_CHAIN = "SQUALL-INPUT"
FORWARD_CHAIN = "SQUALL-FORWARD"
EGRESS_CHAIN = "SQUALL-EGRESS"
OUTPUT_CHAIN = "SQUALL-OUTPUT"
# Host-to-container connections the host may open: `-d <ip>/32 -p tcp -m tcp --dport N -j ACCEPT`
# per allowed port (a sandbox's tunnels, a web container's listener); the host's OUTPUT into
# squall0 goes through this chain, then is rejected.
INGRESS_CHAIN = "SQUALL-INGRESS"
NAT_CHAIN = "SQUALL-POSTROUTING"
HOST_RESOLV_CONF = "/etc/resolv.conf"
SYSTEMD_RESOLV_CONF = "/run/systemd/resolve/resolv.conf"

_NETNS_NAME = re.compile(rf"^{NETNS_PREFIX}([0-9a-f]+)-")
_HOST_VETH_NAME = re.compile(rf"^{HOST_VETH_PREFIX}([0-9a-f]+)$")
_CHAIN_NAME = re.compile(rf"^{CHAIN_PREFIX}([0-9a-f]+)$")


class NetworkError(RuntimeError):
    """Setting up or tearing down a container's network failed; the message has the tool's output."""


# -- policy ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class NetworkPolicy:
    """What a container may reach over the network.

    egress=False: loopback only. egress=True: through the host's NAT to any destination, or
    with `cidr_allowlist` only to those IPv4 CIDRs (plus DNS to its resolvers). Never the host
    itself nor another container. `inbound_ports`: TCP ports the host may connect to (with or
    without egress); no other port is reachable from outside the container.
    """

    egress: bool = False
    cidr_allowlist: Sequence[str] | None = None
    inbound_ports: Sequence[int] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.egress, bool):
            raise TypeError(f"NetworkPolicy.egress must be True or False, got {self.egress!r}")
        ports = tuple(self.inbound_ports)
        for port in ports:
            if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
                raise ValueError(f"inbound_ports: {port!r} is not a TCP port (1 to 65535)")
        object.__setattr__(self, "inbound_ports", tuple(sorted(set(ports))))
        if self.cidr_allowlist is None:
            return
        if isinstance(self.cidr_allowlist, str):
            raise TypeError(f"cidr_allowlist must be a list of CIDRs, got the string {self.cidr_allowlist!r}: wrap it in a list")
        if not self.egress:
            raise ValueError("cidr_allowlist needs egress=True: without egress a container only has loopback")
        object.__setattr__(self, "cidr_allowlist", tuple(str(parse_cidr(c)) for c in self.cidr_allowlist))

    @property
    def namespaced(self) -> bool:
        """Whether the container needs a namespace from setup() (a veth on the bridge)."""
        return self.egress or bool(self.inbound_ports)

    @classmethod
    def of(cls, value: bool | NetworkPolicy | None) -> NetworkPolicy:
        """The policy for a ContainerSpec's `network`: True/False are shorthands for egress."""
        if isinstance(value, NetworkPolicy):
            return value
        if value is None or isinstance(value, bool):
            return cls(egress=bool(value))
        raise TypeError(f"network must be a NetworkPolicy or a bool, got {value!r}")


def parse_cidr(value: object) -> ipaddress.IPv4Network:
    """One allowlist entry: an IPv4 network ('10.0.0.0/8') or address ('192.0.2.7' = /32)."""
    if not isinstance(value, str):
        raise TypeError(f"cidr_allowlist entries must be strings like '10.0.0.0/8', got {value!r}")
    try:
        net = ipaddress.ip_network(value.strip(), strict=True)
    except ValueError as e:
        hint = ""
        with contextlib.suppress(ValueError):
            hint = f": did you mean {ipaddress.ip_network(value.strip(), strict=False)}?"
        raise ValueError(f"invalid CIDR {value!r} in cidr_allowlist ({e}){hint}") from None
    if not isinstance(net, ipaddress.IPv4Network):
        raise ValueError(f"invalid CIDR {value!r} in cidr_allowlist: containers only have IPv4, use an IPv4 network like '10.0.0.0/8'")  # noqa: TRY004
    return net


# -- host configuration ---------------------------------------------------------------------


def container_subnet(env: Mapping[str, str] | None = None) -> ipaddress.IPv4Network:
    """The containers' subnet: $SQUALL_CONTAINER_SUBNET, else 10.213.0.0/16."""
    value = (os.environ if env is None else env).get(SUBNET_ENV) or DEFAULT_SUBNET
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as e:
        raise ValueError(f"{SUBNET_ENV}={value!r} is not a network ({e}); use e.g. {DEFAULT_SUBNET}") from None
    if not isinstance(net, ipaddress.IPv4Network) or net.prefixlen > 29:
        raise ValueError(f"{SUBNET_ENV}={value!r}: use an IPv4 network of /29 or larger, e.g. {DEFAULT_SUBNET}")
    return net


def gateway(subnet: ipaddress.IPv4Network) -> ipaddress.IPv4Address:
    """The bridge's address: the subnet's first."""
    return subnet.network_address + 1


def address_range(subnet: ipaddress.IPv4Network) -> range:
    """Lease indexes: after the gateway, up to (not including) the broadcast address."""
    return range(2, subnet.num_addresses - 1)


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    return Path((os.environ if env is None else env).get(STATE_DIR_ENV) or DEFAULT_STATE_DIR)


def nameservers(resolv_conf_text: str) -> list[str]:
    out = []
    for line in resolv_conf_text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            out.append(parts[1])
    return out


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


def resolv_conf_path(host: str = HOST_RESOLV_CONF, systemd: str = SYSTEMD_RESOLV_CONF) -> str:
    """The file to bind-mount at a container's /etc/resolv.conf.

    The host's, unless it names a loopback resolver (systemd-resolved's 127.0.0.53 stub,
    dnsmasq on 127.0.0.1): inside the container's namespace loopback is the container's
    own. Then systemd-resolved's list of upstream servers if it exists, else the host's
    anyway (names will not resolve; nothing better exists).
    """
    try:
        text = Path(host).read_text()
    except OSError:
        return host
    if any(_is_loopback(ns) for ns in nameservers(text)) and os.path.exists(systemd):
        return systemd
    return host


def _default_route_mtu() -> int:
    """MTU of the device holding the IPv4 default route, so container packets fit the uplink."""
    try:
        with open("/proc/net/route") as f:
            for line in f.read().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 7 and fields[1] == "00000000" and fields[7] == "00000000":
                    return int(Path(f"/sys/class/net/{fields[0]}/mtu").read_text())
    except (OSError, ValueError):
        pass
    return 1500


# -- names and rules (pure) -------------------------------------------------------------------


def netns_name(index: int, container_id: str) -> str:
    return f"{NETNS_PREFIX}{index:x}-{container_id}"[:200]


def host_veth_name(index: int) -> str:
    return f"{HOST_VETH_PREFIX}{index:x}"


def chain_name(index: int) -> str:
    return f"{CHAIN_PREFIX}{index:x}"


def host_rules(subnet: ipaddress.IPv4Network, existing: str) -> str:
    """iptables-restore input that (re)builds the SQUALL-* chains; `existing` is iptables-save output.

    Jumps from the built-in chains and SQUALL-EGRESS (which holds the live containers'
    rules) are only created when missing.
    """
    filter_lines = [
        f":{INPUT_CHAIN} - [0:0]",
        f":{FORWARD_CHAIN} - [0:0]",
        f"-A {INPUT_CHAIN} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
        f"-A {INPUT_CHAIN} -j REJECT --reject-with icmp-admin-prohibited",
        f"-A {FORWARD_CHAIN} -o {BRIDGE} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
        f"-A {FORWARD_CHAIN} -o {BRIDGE} -j DROP",  # nothing new into a container, not even from another
        f"-A {FORWARD_CHAIN} -i {BRIDGE} -j {EGRESS_CHAIN}",
        f":{OUTPUT_CHAIN} - [0:0]",
        f"-A {OUTPUT_CHAIN} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
        f"-A {OUTPUT_CHAIN} -j {INGRESS_CHAIN}",  # the containers' inbound ports
        f"-A {OUTPUT_CHAIN} -p tcp -j REJECT --reject-with tcp-reset",
        f"-A {OUTPUT_CHAIN} -j REJECT --reject-with icmp-admin-prohibited",
    ]
    tables = _saved_tables(existing)
    filter_saved = tables.get("filter", "")
    if f":{EGRESS_CHAIN} " not in filter_saved:
        filter_lines[2:2] = [f":{EGRESS_CHAIN} - [0:0]", f"-A {EGRESS_CHAIN} -j DROP"]
    if f":{INGRESS_CHAIN} " not in filter_saved:  # declaring it again would flush the live containers' ports
        filter_lines[2:2] = [f":{INGRESS_CHAIN} - [0:0]"]
    if f"-A INPUT -i {BRIDGE} -j {INPUT_CHAIN}" not in filter_saved:
        filter_lines.append(f"-I INPUT 1 -i {BRIDGE} -j {INPUT_CHAIN}")
    if f"-A FORWARD -j {FORWARD_CHAIN}" not in filter_saved:
        filter_lines.append(f"-I FORWARD 1 -j {FORWARD_CHAIN}")
    if f"-A OUTPUT -o {BRIDGE} -j {OUTPUT_CHAIN}" not in filter_saved:
        filter_lines.append(f"-I OUTPUT 1 -o {BRIDGE} -j {OUTPUT_CHAIN}")
    nat_lines = [f":{NAT_CHAIN} - [0:0]", f"-A {NAT_CHAIN} -s {subnet} ! -o {BRIDGE} -j MASQUERADE"]
    if f"-A POSTROUTING -j {NAT_CHAIN}" not in tables.get("nat", ""):
        nat_lines.append(f"-I POSTROUTING 1 -j {NAT_CHAIN}")
    return "\n".join(["*filter", *filter_lines, "COMMIT", "*nat", *nat_lines, "COMMIT", ""])


def _saved_tables(saved: str) -> dict[str, str]:
    tables: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in saved.splitlines():
        if line.startswith("*"):
            current = tables.setdefault(line[1:].strip(), [])
        elif current is not None:
            current.append(line)
    return {name: "\n".join(lines) + "\n" for name, lines in tables.items()}


def container_rules(index: int, address: ipaddress.IPv4Address, policy: NetworkPolicy, dns_servers: Iterable[str] = ()) -> tuple[str, str]:
    """(add, remove): iptables-restore inputs for one container's egress and inbound rules."""
    if not policy.inbound_ports:
        return _egress_rules(index, address, policy, dns_servers)
    ingress = [f"-d {address}/32 -p tcp -m tcp --dport {port} -j ACCEPT" for port in policy.inbound_ports]
    add = [f"-I {INGRESS_CHAIN} 1 {rule}" for rule in ingress]
    remove = [f"-D {INGRESS_CHAIN} {rule}" for rule in ingress]
    if policy.egress:
        egress_add, egress_remove = _egress_rules(index, address, policy, dns_servers)
        add = egress_add.splitlines()[1:-1] + add
        remove = egress_remove.splitlines()[1:-1] + remove
    return "\n".join(["*filter", *add, "COMMIT", ""]), "\n".join(["*filter", *remove, "COMMIT", ""])


def _egress_rules(index: int, address: ipaddress.IPv4Address, policy: NetworkPolicy, dns_servers: Iterable[str]) -> tuple[str, str]:
    if not policy.egress:
        return "", ""
    # The source address counts only on the container's own bridge port: with CAP_NET_RAW a
    # container can forge another's address, never the port its packets come in by.
    match = f"-s {address}/32 -m physdev --physdev-in {host_veth_name(index)}"
    if policy.cidr_allowlist is None:
        rule = f"{match} -j ACCEPT"
        return (f"*filter\n-I {EGRESS_CHAIN} 1 {rule}\nCOMMIT\n", f"*filter\n-D {EGRESS_CHAIN} {rule}\nCOMMIT\n")
    chain = chain_name(index)
    lines = [f":{chain} - [0:0]"]
    for ns in dns_servers:
        with contextlib.suppress(ValueError):
            if isinstance(ipaddress.ip_address(ns), ipaddress.IPv4Address):
                lines += [f"-A {chain} -d {ns}/32 -p udp --dport 53 -j ACCEPT", f"-A {chain} -d {ns}/32 -p tcp --dport 53 -j ACCEPT"]
    lines += [f"-A {chain} -d {cidr} -j ACCEPT" for cidr in policy.cidr_allowlist]
    lines.append(f"-A {chain} -j REJECT --reject-with icmp-admin-prohibited")  # fails fast, not a hang
    jump = f"{match} -j {chain}"
    add = "\n".join(["*filter", *lines, f"-I {EGRESS_CHAIN} 1 {jump}", "COMMIT", ""])
    remove = "\n".join(["*filter", f"-D {EGRESS_CHAIN} {jump}", f"-F {chain}", f"-X {chain}", "COMMIT", ""])
    return add, remove


def host_link_commands(index: int, container_id: str, mtu: int) -> str:
    """`ip -batch` input run on the host: the namespace, the veth pair, the bridge port."""
    ns, veth = netns_name(index, container_id), host_veth_name(index)
    lines = [
        f"netns add {ns}",
        f"link add {veth} mtu {mtu} type veth peer name {CONTAINER_IFACE} mtu {mtu} netns {ns}",
        f"link set {veth} master {BRIDGE}",
        f"link set dev {veth} type bridge_slave isolated on",  # ports cannot reach each other
        # No IPv6 address on the host's end (a bridge port: the host's IPv6 is off on the bridge
        # itself). Before it is up, so none is made: removing one later (disable_ipv6) took ~10 ms.
        f"link set dev {veth} addrgenmode none",
        f"link set {veth} up",
    ]
    return "\n".join(lines) + "\n"


def netns_commands(address: ipaddress.IPv4Address, subnet: ipaddress.IPv4Network, egress: bool = True) -> str:
    """`ip -batch` input run inside the container's namespace (no default route without egress)."""
    lines = [
        "link set lo up",
        f"addr add {address}/{subnet.prefixlen} dev {CONTAINER_IFACE}",
        f"link set {CONTAINER_IFACE} up",
    ]
    if egress:
        lines.append(f"route add default via {gateway(subnet)}")
    return "\n".join(lines) + "\n"


# -- leases -----------------------------------------------------------------------------------


class Leases:
    """One file per leased address index, `<dir>/<index hex>.json`, created atomically."""

    def __init__(self, directory: Path, subnet: ipaddress.IPv4Network) -> None:
        self.dir = directory
        self.subnet = subnet
        # Round-robin from a random start: a freed address is not reused at once, not even by a
        # restarted worker (a new container would inherit the old one's conntrack entries).
        self._next = random.randrange(len(address_range(subnet)))

    def acquire(self, record: dict) -> int:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        indexes = address_range(self.subnet)
        tmp = self.dir / f".tmp-{os.getpid()}-{id(record)}-{time.monotonic_ns()}"
        try:
            for i in range(len(indexes)):
                index = indexes[(self._next + i) % len(indexes)]
                tmp.write_text(json.dumps({**record, "index": index, "address": str(self.subnet.network_address + index)}))
                try:
                    os.link(tmp, self.path(index))
                except FileExistsError:
                    continue
                self._next = (self._next + i + 1) % len(indexes)
                return index
        finally:
            tmp.unlink(missing_ok=True)
        raise NetworkError(f"no free address in {self.subnet}: {len(indexes)} containers have one (see {self.dir})")

    def path(self, index: int) -> Path:
        return self.dir / f"{index:x}.json"

    def release(self, index: int) -> None:
        self.path(index).unlink(missing_ok=True)

    def all(self) -> dict[int, dict]:
        out = {}
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.dir):
                if entry.name.startswith(".") or not entry.name.endswith(".json"):
                    continue
                try:
                    record = json.loads(Path(entry.path).read_text())
                    out[int(record["index"])] = record
                except (OSError, ValueError, KeyError, TypeError):
                    log.warning("network: ignoring unreadable lease %s", entry.path)
        return out


# -- subprocesses -----------------------------------------------------------------------------


async def _run(argv: list[str], stdin: str | None = None) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate(stdin.encode() if stdin is not None else None)
    return proc.returncode or 0, out.decode(errors="replace").strip()


async def _check(argv: list[str], stdin: str | None = None, *, what: str) -> str:
    rc, out = await _run(argv, stdin)
    if rc != 0:
        detail = f"\n{stdin}" if stdin else ""
        raise NetworkError(f"{what}: `{' '.join(argv)}` exited {rc}: {out}{detail}")
    return out


# -- host preparation -------------------------------------------------------------------------

_host_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()
_host_ready: set[str] = set()  # subnets prepared by this process


async def prepare_host(subnet: ipaddress.IPv4Network, directory: Path) -> None:
    """Bridge, forwarding and the SQUALL-* chains; once per process, idempotent across processes."""
    if str(subnet) in _host_ready:
        return
    lock = _host_locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())  # a lock serves one loop
    async with lock:
        if str(subnet) in _host_ready:
            return
        held = await asyncio.to_thread(_acquire_file_lock, directory / "host.lock")
        try:
            await _prepare_host_locked(subnet)
        finally:
            held.close()  # closing the file drops the flock
        _host_ready.add(str(subnet))


def _acquire_file_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    f = open(path, "a")  # noqa: SIM115 - held until prepare_host is done
    fcntl.flock(f, fcntl.LOCK_EX)
    return f


async def _prepare_host_locked(subnet: ipaddress.IPv4Network) -> None:
    _sysctl("net/ipv4/ip_forward", "1")
    # Bridge ports must be visible to iptables (the physdev match in the egress rules);
    # docker sets the same. Without it no container packet would match and egress fails closed.
    if not Path("/proc/sys/net/bridge").exists():
        await _run(["modprobe", "br_netfilter"])
    try:
        _sysctl("net/bridge/bridge-nf-call-iptables", "1")
    except OSError as e:
        raise NetworkError(f"cannot enable net.bridge.bridge-nf-call-iptables ({e}): load the br_netfilter module (`modprobe br_netfilter`)") from e
    gw = f"{gateway(subnet)}/{subnet.prefixlen}"
    # A bridge without an address of its own takes the lowest of its ports' MACs, and so changes
    # as containers' veths come and go: containers that cached the gateway's old MAC then send
    # their packets nowhere until their neighbour entry goes stale (~30 s of lost egress).
    mac = f"link set {BRIDGE} address {BRIDGE_MAC}\n"
    if not Path(f"/sys/class/net/{BRIDGE}").exists():
        mtu = _default_route_mtu()
        cmds = f"link add {BRIDGE} mtu {mtu} type bridge\n{mac}addr replace {gw} dev {BRIDGE}\nlink set {BRIDGE} up\n"
    else:
        cmds = f"{mac}addr replace {gw} dev {BRIDGE}\nlink set {BRIDGE} up\n"
    await _check(["ip", "-batch", "-"], cmds, what=f"creating bridge {BRIDGE}")
    # The rules are IPv4 only; with IPv6 on, containers could reach host services over the
    # bridge's link-local address.
    _disable_ipv6(BRIDGE)
    saved = await _check(["iptables-save"], what="reading iptables rules")
    await _check(["iptables-restore", "--wait", "--noflush"], host_rules(subnet, saved), what="installing squall's iptables chains")


# -- one container's network ------------------------------------------------------------------


@dataclasses.dataclass
class ContainerNetwork:
    """A container's namespace, veth, address and rules; `close()` removes them all."""

    container_id: str
    policy: NetworkPolicy
    index: int
    address: ipaddress.IPv4Address
    subnet: ipaddress.IPv4Network
    resolv_conf: str  # host file to bind-mount at /etc/resolv.conf
    setup_s: float = 0.0  # how long setup() took
    _leases: Leases | None = dataclasses.field(default=None, repr=False)
    _remove_rules: str = dataclasses.field(default="", repr=False)
    _closed: bool = dataclasses.field(default=False, repr=False)

    @property
    def netns(self) -> str:
        return netns_name(self.index, self.container_id)

    @property
    def netns_path(self) -> str:
        return str(NETNS_DIR / self.netns)

    @property
    def host_veth(self) -> str:
        return host_veth_name(self.index)

    @property
    def gateway(self) -> ipaddress.IPv4Address:
        return gateway(self.subnet)

    async def allow_inbound(self, port: int) -> None:
        """Let the host open TCP connections to `port` on the container's address (the gateway to
        a web endpoint's listener); the rule goes when the network does."""
        rule = f"-d {self.address}/32 -p tcp -m tcp --dport {port} -j ACCEPT"
        if INGRESS_CHAIN not in _host_ready:  # created once, never declared again: that would flush other containers' ports
            await _run(["iptables", "--wait", "-N", INGRESS_CHAIN])
            _host_ready.add(INGRESS_CHAIN)
        await _check(["iptables", "--wait", "-I", INGRESS_CHAIN, "1", *rule.split()], what=f"container {self.container_id}: allowing port {port} in")
        remove = f"-D {INGRESS_CHAIN} {rule}\n"
        self._remove_rules = self._remove_rules.replace("COMMIT\n", remove + "COMMIT\n", 1) if self._remove_rules else f"*filter\n{remove}COMMIT\n"

    async def close(self) -> None:
        """Remove rules, veth, namespace, then the lease; every step runs even if one fails.

        The lease is kept if anything could not be removed, so the address is not handed
        out again and `cleanup_orphans` retries.
        """
        if self._closed:
            return
        self._closed = True
        ok = await _teardown(self.index, self.netns, self._remove_rules)
        if self._leases is not None:
            if ok:
                self._leases.release(self.index)
            else:
                log.warning("network: keeping the lease of %s (%s) until cleanup_orphans", self.container_id, self.address)


async def setup(container_id: str, policy: NetworkPolicy, *, owner: str = "") -> ContainerNetwork:
    """Create the network for one container with egress; close() it when the container is gone.

    `owner` names who is responsible for it (the runtime's bundle dir): `cleanup_orphans(owner)`
    removes whatever that owner left behind.
    """
    if not policy.namespaced:
        raise ValueError(f"container {container_id}: a loopback-only network needs no setup (no egress, no inbound ports)")
    started = time.perf_counter()
    subnet = container_subnet()
    directory = state_dir()
    await prepare_host(subnet, directory)
    leases = _leases(directory, subnet)
    index = leases.acquire({"container_id": container_id, "owner": owner, "pid": os.getpid(), "subnet": str(subnet)})
    address = subnet.network_address + index
    resolv = resolv_conf_path()
    dns: list[str] = []
    if policy.cidr_allowlist is not None:
        with contextlib.suppress(OSError):
            dns = nameservers(Path(resolv).read_text())
    add_rules, remove_rules = container_rules(index, address, policy, dns)
    net = ContainerNetwork(container_id, policy, index, address, subnet, resolv, _leases=leases, _remove_rules=remove_rules)
    try:
        await _check(["ip", "-batch", "-"], host_link_commands(index, container_id, _bridge_mtu()), what=f"container {container_id}: creating its veth")
        await _check(["ip", "-n", net.netns, "-batch", "-"], netns_commands(address, subnet, policy.egress), what=f"container {container_id}: configuring {CONTAINER_IFACE}")
        await _check(["iptables-restore", "--wait", "--noflush"], add_rules, what=f"container {container_id}: adding its egress rules")
    except BaseException:
        await net.close()
        raise
    net.setup_s = time.perf_counter() - started
    log.debug("network: %s has %s in %s (%.1f ms)", container_id, address, net.netns, net.setup_s * 1000)
    return net


def _sysctl(name: str, value: str) -> None:
    path = Path("/proc/sys") / name
    if path.read_text().strip() != value:
        path.write_text(value + "\n")


def _disable_ipv6(device: str) -> None:
    with contextlib.suppress(FileNotFoundError):  # no IPv6 in this kernel: nothing to disable
        Path(f"/proc/sys/net/ipv6/conf/{device}/disable_ipv6").write_text("1\n")


@functools.cache
def _leases(directory: Path, subnet: ipaddress.IPv4Network) -> Leases:
    return Leases(directory / "leases", subnet)


def _bridge_mtu() -> int:
    try:
        return int(Path(f"/sys/class/net/{BRIDGE}/mtu").read_text())
    except (OSError, ValueError):
        return _default_route_mtu()


async def _teardown(index: int, netns: str | None, remove_rules: str | None, *, rules: bool = True) -> bool:
    """Remove one index's rules (unless rules=False), veth and namespace; True when none is left."""
    ok = True
    if rules:
        try:
            ok &= await _remove_container_rules(index, remove_rules)
        except Exception:
            log.exception("network: removing the rules of %s failed", host_veth_name(index))
            ok = False
    try:
        veth = host_veth_name(index)
        cmds = f"link del {veth}\n" if Path(f"/sys/class/net/{veth}").exists() else ""
        if netns and (NETNS_DIR / netns).exists():
            cmds += f"netns del {netns}\n"
        if cmds:
            _, out = await _run(["ip", "-force", "-batch", "-"], cmds)
            if Path(f"/sys/class/net/{veth}").exists() or (netns and (NETNS_DIR / netns).exists()):
                log.warning("network: removing %s / %s failed: %s", veth, netns, out)
                ok = False
    except Exception:
        log.exception("network: removing the links of %s failed", host_veth_name(index))
        ok = False
    return ok


async def _remove_container_rules(index: int, remove_rules: str | None) -> bool:
    """Delete the rules; if the exact batch fails (a partial setup), find and delete what exists."""
    if remove_rules:
        rc, _ = await _run(["iptables-restore", "--wait", "--noflush"], remove_rules)
        if rc == 0:
            return True
    saved = await _check(["iptables-save", "-t", "filter"], what="reading iptables rules")
    leftovers = stale_rules(saved, {index})
    if not leftovers:
        return True
    rc, out = await _run(["iptables-restore", "--wait", "--noflush"], leftovers)
    if rc != 0:
        log.warning("network: removing rules of %s failed: %s", host_veth_name(index), out)
    return rc == 0


def stale_rules(saved_filter: str, indexes: set[int] | None, *, keep: set[int] = frozenset(), subnet: ipaddress.IPv4Network | None = None) -> str:
    """iptables-restore input deleting per-container rules and chains of `indexes` (None: any not in `keep`).

    `saved_filter` is `iptables-save -t filter` output. Rules in SQUALL-EGRESS (SQUALL-INGRESS)
    are matched to an index through their source (destination) address (needs `subnet` when `indexes` is None) or chain name.
    """
    deletes, chains = [], []
    subnet = subnet or container_subnet()

    def wanted(index: int) -> bool:
        return (index in indexes) if indexes is not None else (index not in keep)

    for line in saved_filter.splitlines():
        if line.startswith(f":{CHAIN_PREFIX}"):
            m = _CHAIN_NAME.match(line[1:].split()[0])
            if m and wanted(int(m.group(1), 16)):
                chains.append(m.group(0))
        elif line.startswith((f"-A {EGRESS_CHAIN} -s ", f"-A {INGRESS_CHAIN} -d ")):
            src = line.split()[3]
            with contextlib.suppress(ValueError):
                addr = ipaddress.ip_network(src, strict=False).network_address
                if addr in subnet and wanted(int(addr) - int(subnet.network_address)):
                    deletes.append("-D" + line[2:])
    if not deletes and not chains:
        return ""
    body = deletes + [f"-F {c}" for c in chains] + [f"-X {c}" for c in chains]
    return "\n".join(["*filter", *body, "COMMIT", ""])


def _pid_alive(pid: object) -> bool:
    """Whether the process that took a lease still runs (a dead one's leases are orphans)."""
    if not isinstance(pid, int) or pid <= 0:
        return True  # unknown: assume alive, leave it to its owner
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def cleanup_orphans(owner: str | None = None) -> None:
    """Remove networks a crashed worker left behind.

    Every lease of `owner` (None: of anyone), and every lease whose process is gone, is
    torn down with its namespace, veth and rules. Squall-named namespaces (`sq-*`), host veths (`sqh*`) and per-container rules
    with no lease at all are removed too: a live container always has its lease.
    """
    subnet = container_subnet()
    directory = state_dir()
    leases = Leases(directory / "leases", subnet)
    held = leases.all()
    for index, record in sorted(held.items()):
        if owner is not None and record.get("owner") != owner and _pid_alive(record.get("pid")):
            continue  # another live worker's
        cid = str(record.get("container_id", ""))
        log.warning("network: removing orphaned network of %s (%s)", cid or "?", record.get("address"))
        netns = netns_name(index, cid) if cid else None
        if await _teardown(index, netns, None):
            leases.release(index)
        del held[index]
    # Leftovers with no lease (a teardown that failed after its lease was gone, or a lease
    # deleted by hand). Resources are listed before leases are checked: a live container's
    # lease is created before its resources, so it is always seen.
    netns_names: list[tuple[int, str]] = []
    with contextlib.suppress(FileNotFoundError):
        netns_names = [(int(m.group(1), 16), e.name) for e in os.scandir(NETNS_DIR) if (m := _NETNS_NAME.match(e.name))]
    veths = [int(m.group(1), 16) for e in os.scandir("/sys/class/net") if (m := _HOST_VETH_NAME.match(e.name))]
    rc, saved = await _run(["iptables-save", "-t", "filter"])
    leased = set(leases.all())
    for index, name in netns_names:
        if index not in leased:
            log.warning("network: removing orphaned namespace %s", name)
            await _teardown(index, name, None, rules=False)
    for index in veths:
        if index not in leased:
            log.warning("network: removing orphaned veth %s", host_veth_name(index))
            await _teardown(index, None, None, rules=False)
    if rc == 0:
        leftovers = stale_rules(saved, None, keep=leased, subnet=subnet)
        if leftovers:
            log.warning("network: removing orphaned iptables rules:\n%s", leftovers)
            rc, out = await _run(["iptables-restore", "--wait", "--noflush"], leftovers)
            if rc != 0:
                log.warning("network: removing orphaned iptables rules failed: %s", out)


POOL_SIZE = int(os.environ.get("SQUALL_NETWORK_POOL", "2"))


class NetworkPool:
    """Networks with plain egress (no allowlist) made ahead of time.

    A container start then takes a ready namespace instead of running `ip` twice and
    `iptables-restore` on its start path (~9 ms, more on a busy machine); the pool is
    refilled in the background. Pooled networks belong to `owner` like any other, so a
    worker that dies leaves them to `cleanup_orphans(owner)`.
    """

    def __init__(self, owner: str, size: int = POOL_SIZE) -> None:
        self.owner = owner
        self.size = size
        self.ready: list[ContainerNetwork] = []
        self._filling: asyncio.Task | None = None

    async def take(self, container_id: str, policy: NetworkPolicy) -> ContainerNetwork:
        if policy.cidr_allowlist is None and not policy.inbound_ports and self.ready:
            net = self.ready.pop()  # keeps its pool name: its namespace is named after it
        else:
            net = await setup(container_id, policy, owner=self.owner)
        self._refill()
        return net

    def _refill(self) -> None:
        if self.size > 0 and (self._filling is None or self._filling.done()):
            self._filling = asyncio.ensure_future(self._fill())

    async def _fill(self) -> None:
        while len(self.ready) < self.size:
            try:
                net = await setup(f"pool-{uuid.uuid4().hex[:10]}", NetworkPolicy(egress=True), owner=self.owner)
            except Exception:
                log.exception("network: filling the pool failed; containers will set up their own")
                return
            self.ready.append(net)

    async def close(self) -> None:
        if self._filling is not None:
            self._filling.cancel()
        for net in self.ready:
            await net.close()
        self.ready.clear()
