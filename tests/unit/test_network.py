"""Container network logic that needs no root: policies, addresses, leases, rules, resolv.conf."""

from __future__ import annotations

import ipaddress
import threading

import pytest

from squall.runtime import network
from squall.runtime.network import Leases, NetworkError, NetworkPolicy

SUBNET = ipaddress.ip_network("10.213.0.0/16")


# -- policy ---------------------------------------------------------------------------------


def test_policy_defaults_to_loopback_only():
    assert NetworkPolicy() == NetworkPolicy(egress=False, cidr_allowlist=None)


@pytest.mark.parametrize(("value", "egress"), [(True, True), (False, False), (None, False)])
def test_policy_of_bool(value, egress):
    assert NetworkPolicy.of(value) == NetworkPolicy(egress=egress)


def test_policy_of_policy_is_itself():
    p = NetworkPolicy(egress=True, cidr_allowlist=["10.0.0.0/8"])
    assert NetworkPolicy.of(p) is p


def test_policy_of_other_types_is_an_error():
    with pytest.raises(TypeError, match="'yes'"):
        NetworkPolicy.of("yes")  # type: ignore[arg-type]


def test_allowlist_is_normalised():
    p = NetworkPolicy(egress=True, cidr_allowlist=["10.0.0.0/8", " 192.0.2.7 "])
    assert p.cidr_allowlist == ("10.0.0.0/8", "192.0.2.7/32")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("10.0.0.0/33", "invalid CIDR '10.0.0.0/33'"),
        ("example.com", "invalid CIDR 'example.com'"),
        ("10.1.2.3/8", "did you mean 10.0.0.0/8"),
        ("2001:db8::/32", "only have IPv4"),
    ],
)
def test_bad_allowlist_entries_are_named(entry, message):
    with pytest.raises(ValueError, match=message):
        NetworkPolicy(egress=True, cidr_allowlist=["10.0.0.0/8", entry])


def test_allowlist_must_be_a_list_of_strings():
    with pytest.raises(TypeError, match="wrap it in a list"):
        NetworkPolicy(egress=True, cidr_allowlist="10.0.0.0/8")
    with pytest.raises(TypeError, match="got 10"):
        NetworkPolicy(egress=True, cidr_allowlist=[10])  # type: ignore[list-item]


def test_allowlist_needs_egress():
    with pytest.raises(ValueError, match="needs egress=True"):
        NetworkPolicy(egress=False, cidr_allowlist=["10.0.0.0/8"])


def test_egress_must_be_a_bool():
    with pytest.raises(TypeError, match="egress must be True or False"):
        NetworkPolicy(egress="no")  # type: ignore[arg-type]


# -- subnet ---------------------------------------------------------------------------------


def test_subnet_default_and_env():
    assert network.container_subnet({}) == SUBNET
    assert network.container_subnet({network.SUBNET_ENV: "172.31.0.0/24"}) == ipaddress.ip_network("172.31.0.0/24")
    assert network.gateway(SUBNET) == ipaddress.ip_address("10.213.0.1")


@pytest.mark.parametrize("value", ["10.213.0.1/16", "fd00::/64", "10.0.0.0/30", "nonsense"])
def test_bad_subnet_is_named(value):
    with pytest.raises(ValueError, match=f"{network.SUBNET_ENV}={value!r}"):
        network.container_subnet({network.SUBNET_ENV: value})


def test_address_range_skips_network_gateway_and_broadcast():
    r = network.address_range(ipaddress.ip_network("10.0.0.0/29"))
    assert list(r) == [2, 3, 4, 5, 6]


# -- resolv.conf ----------------------------------------------------------------------------


def test_resolv_conf_is_the_hosts(tmp_path):
    host = tmp_path / "resolv.conf"
    host.write_text("search example\nnameserver 192.0.2.53\n")
    systemd = tmp_path / "systemd-resolv.conf"
    systemd.write_text("nameserver 192.0.2.1\n")
    assert network.resolv_conf_path(str(host), str(systemd)) == str(host)


@pytest.mark.parametrize("stub", ["127.0.0.53", "127.0.0.1", "::1"])
def test_loopback_stub_resolver_uses_systemds_upstream_list(tmp_path, stub):
    host = tmp_path / "resolv.conf"
    host.write_text(f"nameserver {stub}\noptions edns0\n")
    systemd = tmp_path / "systemd-resolv.conf"
    systemd.write_text("nameserver 192.0.2.1\n")
    assert network.resolv_conf_path(str(host), str(systemd)) == str(systemd)


def test_loopback_stub_without_systemd_falls_back_to_the_hosts(tmp_path):
    host = tmp_path / "resolv.conf"
    host.write_text("nameserver 127.0.0.53\n")
    assert network.resolv_conf_path(str(host), str(tmp_path / "absent")) == str(host)


def test_nameservers():
    assert network.nameservers("# c\nnameserver 192.0.2.1\nnameserver  fe80::1%eth0\nsearch x\n") == ["192.0.2.1", "fe80::1%eth0"]


# -- leases ---------------------------------------------------------------------------------


def test_concurrent_leases_get_distinct_addresses(tmp_path):
    leases = Leases(tmp_path, SUBNET)
    got: list[int] = []
    lock = threading.Lock()

    def take(n: int) -> None:
        for i in range(n):
            index = leases.acquire({"container_id": f"c{i}"})
            with lock:
                got.append(index)

    threads = [threading.Thread(target=take, args=(25,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 200 and len(set(got)) == 200
    assert set(leases.all()) == set(got)
    assert all(i in network.address_range(SUBNET) for i in got)


def test_leases_survive_a_restart_and_run_out(tmp_path):
    small = ipaddress.ip_network("10.0.0.0/29")
    first = Leases(tmp_path, small)
    held = {first.acquire({"container_id": f"a{i}", "owner": "w1"}) for i in range(3)}
    restarted = Leases(tmp_path, small)  # a new worker process sees what the old one holds
    more = {restarted.acquire({"container_id": f"b{i}"}) for i in range(2)}
    assert held | more == {2, 3, 4, 5, 6}
    with pytest.raises(NetworkError, match="no free address in 10.0.0.0/29"):
        restarted.acquire({"container_id": "c"})
    restarted.release(4)
    assert restarted.acquire({"container_id": "d"}) == 4
    record = restarted.all()[4]
    assert record["container_id"] == "d" and record["address"] == "10.0.0.4"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


# -- names and commands ---------------------------------------------------------------------


def test_names_fit_the_kernel_limits():
    last = network.address_range(ipaddress.ip_network("10.0.0.0/8"))[-1]
    assert len(network.host_veth_name(last)) <= 15  # IFNAMSIZ - 1
    assert len(network.chain_name(last)) <= 28  # iptables chain names
    assert network.netns_name(0x2A, "ta-1") == "sq-2a-ta-1"


def test_link_commands():
    host = network.host_link_commands(0x2A, "ta-1", 1400)
    assert host.splitlines() == [
        "netns add sq-2a-ta-1",
        "link add sqh2a mtu 1400 type veth peer name eth0 mtu 1400 netns sq-2a-ta-1",
        "link set sqh2a master squall0",
        "link set dev sqh2a type bridge_slave isolated on",
        "link set dev sqh2a addrgenmode none",
        "link set sqh2a up",
    ]
    inside = network.netns_commands(ipaddress.ip_address("10.213.0.42"), SUBNET)
    assert inside.splitlines() == ["link set lo up", "addr add 10.213.0.42/16 dev eth0", "link set eth0 up", "route add default via 10.213.0.1"]


# -- iptables rules -------------------------------------------------------------------------


def test_rules_for_any_destination():
    add, remove = network.container_rules(0x2A, ipaddress.ip_address("10.213.0.42"), NetworkPolicy(egress=True))
    rule = "-s 10.213.0.42/32 -m physdev --physdev-in sqh2a -j ACCEPT"
    assert add == f"*filter\n-I SQUALL-EGRESS 1 {rule}\nCOMMIT\n"
    assert remove == f"*filter\n-D SQUALL-EGRESS {rule}\nCOMMIT\n"


def test_rules_for_an_allowlist_allow_dns_then_the_cidrs_then_reject():
    policy = NetworkPolicy(egress=True, cidr_allowlist=["192.0.2.0/24", "198.51.100.7"])
    add, remove = network.container_rules(0x2A, ipaddress.ip_address("10.213.0.42"), policy, ["192.0.2.53", "fe80::1", "bogus"])
    assert add.splitlines() == [
        "*filter",
        ":SQ-2a - [0:0]",
        "-A SQ-2a -d 192.0.2.53/32 -p udp --dport 53 -j ACCEPT",
        "-A SQ-2a -d 192.0.2.53/32 -p tcp --dport 53 -j ACCEPT",
        "-A SQ-2a -d 192.0.2.0/24 -j ACCEPT",
        "-A SQ-2a -d 198.51.100.7/32 -j ACCEPT",
        "-A SQ-2a -j REJECT --reject-with icmp-admin-prohibited",
        "-I SQUALL-EGRESS 1 -s 10.213.0.42/32 -m physdev --physdev-in sqh2a -j SQ-2a",
        "COMMIT",
    ]
    assert remove.splitlines() == [
        "*filter",
        "-D SQUALL-EGRESS -s 10.213.0.42/32 -m physdev --physdev-in sqh2a -j SQ-2a",
        "-F SQ-2a",
        "-X SQ-2a",
        "COMMIT",
    ]


EMPTY_SAVE = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\nCOMMIT\n*nat\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n"


def test_host_rules_on_a_fresh_host():
    rules = network.host_rules(SUBNET, EMPTY_SAVE)
    lines = rules.splitlines()
    assert ":SQUALL-EGRESS - [0:0]" in lines and "-A SQUALL-EGRESS -j DROP" in lines
    assert "-I INPUT 1 -i squall0 -j SQUALL-INPUT" in lines
    assert "-I FORWARD 1 -j SQUALL-FORWARD" in lines
    assert "-I POSTROUTING 1 -j SQUALL-POSTROUTING" in lines
    assert "-A SQUALL-POSTROUTING -s 10.213.0.0/16 ! -o squall0 -j MASQUERADE" in lines
    assert "-A SQUALL-INPUT -j REJECT --reject-with icmp-admin-prohibited" in lines
    forward = [line for line in lines if line.startswith("-A SQUALL-FORWARD")]
    assert forward == [  # replies in, nothing else in (not even from another container), egress by policy
        "-A SQUALL-FORWARD -o squall0 -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
        "-A SQUALL-FORWARD -o squall0 -j DROP",
        "-A SQUALL-FORWARD -i squall0 -j SQUALL-EGRESS",
    ]


def test_host_rules_keep_live_containers_and_add_no_second_jump():
    saved = network.host_rules(SUBNET, EMPTY_SAVE)  # what the first worker installed ...
    existing = (
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:SQUALL-EGRESS - [0:0]\n:SQUALL-INGRESS - [0:0]\n"
        "-A INPUT -i squall0 -j SQUALL-INPUT\n-A FORWARD -j SQUALL-FORWARD\n-A OUTPUT -o squall0 -j SQUALL-OUTPUT\n"
        "-A SQUALL-INGRESS -d 10.213.0.2/32 -p tcp -m tcp --dport 8000 -j ACCEPT\n"
        "-A SQUALL-EGRESS -s 10.213.0.2/32 -m physdev --physdev-in sqh2 -j ACCEPT\n-A SQUALL-EGRESS -j DROP\nCOMMIT\n"
        "*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -j SQUALL-POSTROUTING\nCOMMIT\n"
    )  # ... as iptables-save shows it, with a live container
    again = network.host_rules(SUBNET, existing)
    assert "SQUALL-EGRESS - [0:0]" not in again  # declaring it would flush the live rules
    assert "SQUALL-INGRESS - [0:0]" not in again
    assert "-I " not in again
    assert saved.count("-I ") == 4


def test_host_rules_reject_new_connections_from_the_host_except_inbound_ports():
    lines = network.host_rules(SUBNET, EMPTY_SAVE).splitlines()
    assert ":SQUALL-INGRESS - [0:0]" in lines
    assert "-I OUTPUT 1 -o squall0 -j SQUALL-OUTPUT" in lines
    assert [line for line in lines if line.startswith("-A SQUALL-OUTPUT")] == [
        "-A SQUALL-OUTPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
        "-A SQUALL-OUTPUT -j SQUALL-INGRESS",
        "-A SQUALL-OUTPUT -p tcp -j REJECT --reject-with tcp-reset",
        "-A SQUALL-OUTPUT -j REJECT --reject-with icmp-admin-prohibited",
    ]


def test_rules_for_inbound_ports_without_egress():
    policy = NetworkPolicy(egress=False, inbound_ports=[9000, 8000, 8000])
    assert policy.inbound_ports == (8000, 9000) and policy.namespaced
    add, remove = network.container_rules(0x2A, ipaddress.ip_address("10.213.0.42"), policy)
    assert add.splitlines() == [
        "*filter",
        "-I SQUALL-INGRESS 1 -d 10.213.0.42/32 -p tcp -m tcp --dport 8000 -j ACCEPT",
        "-I SQUALL-INGRESS 1 -d 10.213.0.42/32 -p tcp -m tcp --dport 9000 -j ACCEPT",
        "COMMIT",
    ]
    assert "SQUALL-EGRESS" not in add  # no way out: it only answers the forwarder
    assert remove.splitlines()[1:3] == [
        "-D SQUALL-INGRESS -d 10.213.0.42/32 -p tcp -m tcp --dport 8000 -j ACCEPT",
        "-D SQUALL-INGRESS -d 10.213.0.42/32 -p tcp -m tcp --dport 9000 -j ACCEPT",
    ]
    inside = network.netns_commands(ipaddress.ip_address("10.213.0.42"), SUBNET, egress=False)
    assert not any(line.startswith("route") for line in inside.splitlines())


def test_rules_for_inbound_ports_with_egress():
    add, remove = network.container_rules(0x2A, ipaddress.ip_address("10.213.0.42"), NetworkPolicy(egress=True, inbound_ports=[8000]))
    assert add.splitlines() == [
        "*filter",
        "-I SQUALL-EGRESS 1 -s 10.213.0.42/32 -m physdev --physdev-in sqh2a -j ACCEPT",
        "-I SQUALL-INGRESS 1 -d 10.213.0.42/32 -p tcp -m tcp --dport 8000 -j ACCEPT",
        "COMMIT",
    ]
    assert len(remove.splitlines()) == 4


def test_inbound_ports_are_checked():
    for bad in (0, 70000, "80", True):
        with pytest.raises(ValueError, match="inbound_ports"):
            NetworkPolicy(inbound_ports=[bad])
    assert not NetworkPolicy().namespaced


def test_stale_rules_include_inbound_ports():
    saved = "*filter\n:SQUALL-INGRESS - [0:0]\n-A SQUALL-INGRESS -d 10.213.0.42/32 -p tcp -m tcp --dport 8000 -j ACCEPT\nCOMMIT\n"
    assert network.stale_rules(saved, {0x2A}, subnet=SUBNET).splitlines()[1] == "-D SQUALL-INGRESS -d 10.213.0.42/32 -p tcp -m tcp --dport 8000 -j ACCEPT"
    assert network.stale_rules(saved, None, keep={0x2A}, subnet=SUBNET) == ""


def test_stale_rules_pick_only_the_given_indexes():
    saved = (
        "*filter\n:SQ-2a - [0:0]\n:SQ-3 - [0:0]\n:SQUALL-EGRESS - [0:0]\n"
        "-A SQ-2a -d 192.0.2.0/24 -j ACCEPT\n"
        "-A SQUALL-EGRESS -s 10.213.0.42/32 -m physdev --physdev-in sqh2a -j SQ-2a\n"
        "-A SQUALL-EGRESS -s 10.213.0.3/32 -m physdev --physdev-in sqh3 -j SQ-3\n"
        "-A SQUALL-EGRESS -s 10.213.0.9/32 -m physdev --physdev-in sqh9 -j ACCEPT\n"
        "-A SQUALL-EGRESS -j DROP\nCOMMIT\n"
    )
    only = network.stale_rules(saved, {0x2A}, subnet=SUBNET).splitlines()
    assert only == ["*filter", "-D SQUALL-EGRESS -s 10.213.0.42/32 -m physdev --physdev-in sqh2a -j SQ-2a", "-F SQ-2a", "-X SQ-2a", "COMMIT"]
    unleased = network.stale_rules(saved, None, keep={3}, subnet=SUBNET)
    assert "sqh2a" in unleased and "sqh9" in unleased and "SQ-3" not in unleased
    assert "-j DROP" not in unleased  # the catch-all stays
    assert network.stale_rules(saved, {0x77}, subnet=SUBNET) == ""
