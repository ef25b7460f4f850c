"""What a container is given, checked on the generated OCI config (no container runs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from squall.runtime import RUNTIME_NAMES, get_runtime
from squall.runtime.base import ContainerSpec, Mount
from squall.runtime.network import NetworkPolicy
from squall.runtime.oci import build_config
from squall.runtime.rootfs import overlay_options

DOCKER_DEFAULT_CAPS = {
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}  # fmt: skip


def make_spec(**overrides) -> ContainerSpec:
    fields = {
        "container_id": "ta-123",
        "rootfs": Path("/images/debian/rootfs"),
        "argv": ["python3", "-m", "squall.container"],
        "env": {"SQUALL_CONTAINER_ID": "ta-123", "PYTHONUNBUFFERED": "1"},
        "workdir": "/root",
        "cpu_limit": 1.5,
        "memory_limit_mb": 256,
        "pids_limit": 128,
    }
    fields.update(overrides)
    return ContainerSpec(**fields)


def mount_at(config: dict, destination: str) -> dict:
    found = [m for m in config["mounts"] if m["destination"] == destination]
    assert len(found) == 1, f"expected one mount at {destination}, got {found}"
    return found[0]


def test_process_runs_argv_as_root_with_env_and_cwd():
    config = build_config(make_spec(), cgroups_path="/squall/ta-123")
    process = config["process"]
    assert process["args"] == ["python3", "-m", "squall.container"]
    assert process["cwd"] == "/root"
    assert process["user"] == {"uid": 0, "gid": 0}
    assert process["terminal"] is False
    env = dict(e.split("=", 1) for e in process["env"])
    assert env["SQUALL_CONTAINER_ID"] == "ta-123"
    assert env["PATH"].startswith("/usr/local/sbin:")  # runc resolves argv[0] with it
    assert config["root"] == {"path": "rootfs", "readonly": False}


def test_caller_path_overrides_default():
    config = build_config(make_spec(env={"PATH": "/opt/bin"}), cgroups_path="/x")
    assert "PATH=/opt/bin" in config["process"]["env"]


def test_no_network_gets_its_own_network_namespace():
    config = build_config(make_spec(network=False), cgroups_path="/x")
    types = [ns["type"] for ns in config["linux"]["namespaces"]]
    assert sorted(types) == ["ipc", "mount", "network", "pid", "uts"]
    assert all("path" not in ns for ns in config["linux"]["namespaces"])
    assert not [m for m in config["mounts"] if m["destination"] == "/etc/resolv.conf"]


@pytest.mark.parametrize("network", [True, NetworkPolicy(egress=True, cidr_allowlist=["192.0.2.0/24"])])
def test_egress_joins_the_prepared_namespace_and_gets_resolv_conf(network):
    config = build_config(make_spec(network=network), cgroups_path="/x", netns_path="/run/netns/sq-2a-ta-123", resolv_conf="/run/r.conf")
    namespaces = config["linux"]["namespaces"]
    assert {ns["type"] for ns in namespaces} == {"pid", "ipc", "uts", "mount", "network"}
    assert [ns for ns in namespaces if ns["type"] == "network"] == [{"type": "network", "path": "/run/netns/sq-2a-ta-123"}]
    resolv = mount_at(config, "/etc/resolv.conf")
    assert resolv["source"] == "/run/r.conf"
    assert "ro" in resolv["options"]


def test_egress_without_a_prepared_namespace_is_an_error():
    # Never fall back to the host's namespace.
    with pytest.raises(ValueError, match="netns_path"):
        build_config(make_spec(network=True), cgroups_path="/x")


def test_loopback_only_policy_is_like_no_network():
    config = build_config(make_spec(network=NetworkPolicy(egress=False)), cgroups_path="/x", netns_path="/run/netns/ignored")
    assert {"type": "network"} in config["linux"]["namespaces"]
    assert not [m for m in config["mounts"] if m["destination"] == "/etc/resolv.conf"]


def test_gvisor_egress_flags(tmp_path, monkeypatch):
    from squall.runtime.gvisor import NETSTACK_ENV

    monkeypatch.delenv(NETSTACK_ENV, raising=False)
    rt = get_runtime("gvisor", tmp_path)
    assert "--network=none" in rt._global_args(make_spec(network=False))  # type: ignore[attr-defined]
    assert "--network=sandbox" in rt._global_args(make_spec(network=True))  # type: ignore[attr-defined]  # gVisor's netstack: it checkpoints
    monkeypatch.setenv(NETSTACK_ENV, "host")
    assert "--network=host" in get_runtime("gvisor", tmp_path)._global_args(make_spec(network=True))  # type: ignore[attr-defined]
    monkeypatch.setenv(NETSTACK_ENV, "bridge")
    with pytest.raises(ValueError, match="SQUALL_GVISOR_NETSTACK='bridge'"):
        get_runtime("gvisor", tmp_path)


def test_limits_from_spec():
    config = build_config(make_spec(cpu_limit=1.5, memory_limit_mb=256, pids_limit=128), cgroups_path="/squall/ta-123")
    linux = config["linux"]
    assert linux["cgroupsPath"] == "/squall/ta-123"
    res = linux["resources"]
    assert res["cpu"] == {"quota": 150_000, "period": 100_000}
    assert res["memory"] == {"limit": 256 * 1024 * 1024, "swap": 256 * 1024 * 1024}
    assert res["pids"] == {"limit": 128}
    assert res["devices"] == [{"allow": False, "access": "rwm"}]


def test_memory_limit_can_live_outside_the_spec():
    config = build_config(make_spec(), cgroups_path="/squall/ta-123/container", memory_limit_in_spec=False)
    assert "memory" not in config["linux"]["resources"]
    assert config["linux"]["resources"]["pids"] == {"limit": 128}


def test_standard_mounts():
    config = build_config(make_spec(), cgroups_path="/x")
    assert mount_at(config, "/proc")["type"] == "proc"
    assert mount_at(config, "/dev")["type"] == "tmpfs"
    assert mount_at(config, "/dev/pts")["type"] == "devpts"
    assert mount_at(config, "/dev/shm")["type"] == "tmpfs"
    assert "ro" in mount_at(config, "/sys")["options"]
    tmp = mount_at(config, "/tmp")
    assert tmp["type"] == "tmpfs" and "mode=1777" in tmp["options"]


def test_bind_mounts_are_recursive_and_read_only_when_asked():
    spec = make_spec(
        mounts=[
            Mount(Path("/srv/agent"), "/opt/squall/agent"),
            Mount(Path("/run/squall/api.sock"), "/opt/squall/run/api.sock", read_only=False),
        ]
    )
    config = build_config(spec, cgroups_path="/x")
    agent = mount_at(config, "/opt/squall/agent")
    assert agent["type"] == "bind" and agent["source"] == "/srv/agent"
    assert "rbind" in agent["options"] and "ro" in agent["options"]
    sock = mount_at(config, "/opt/squall/run/api.sock")
    assert sock["source"] == "/run/squall/api.sock"
    assert "rw" in sock["options"] and "ro" not in sock["options"]
    # user mounts come after the standard ones, so nothing shadows them
    destinations = [m["destination"] for m in config["mounts"]]
    assert destinations.index("/opt/squall/agent") > destinations.index("/tmp")


def test_hardening_matches_docker_defaults():
    config = build_config(make_spec(), cgroups_path="/x")
    caps = config["process"]["capabilities"]
    for kind in ("bounding", "effective", "permitted"):
        assert set(caps[kind]) == DOCKER_DEFAULT_CAPS
    assert "CAP_SYS_ADMIN" not in caps["bounding"]
    assert "ambient" not in caps and "inheritable" not in caps
    assert config["process"]["noNewPrivileges"] is True
    assert "/proc/kcore" in config["linux"]["maskedPaths"]
    assert "/sys/firmware" in config["linux"]["maskedPaths"]
    assert "/proc/sys" in config["linux"]["readonlyPaths"]


def test_each_config_is_independent():
    a = build_config(make_spec(mounts=[Mount(Path("/a"), "/a")]), cgroups_path="/x")
    b = build_config(make_spec(), cgroups_path="/y")
    assert len(b["mounts"]) == len(a["mounts"]) - 1
    assert b["linux"]["cgroupsPath"] == "/y"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [({"argv": []}, "argv is empty"), ({"workdir": "root"}, "workdir must be absolute"), ({"mounts": [Mount(Path("/a"), "rel")]}, "absolute")],
)
def test_bad_specs_are_rejected(overrides, message):
    with pytest.raises(ValueError, match=message):
        build_config(make_spec(**overrides), cgroups_path="/x")


def test_hostname_is_the_container_id():
    assert build_config(make_spec(), cgroups_path="/x")["hostname"] == "ta-123"


def test_overlay_options_order_layers_top_first():
    opts = overlay_options([Path("/l/top"), Path("/l/base")], Path("/b/upper"), Path("/b/work"))
    assert opts.startswith("lowerdir=/l/top:/l/base,upperdir=/b/upper,workdir=/b/work")
    with pytest.raises(ValueError, match="may not contain"):
        overlay_options([Path("/l/a:b")], Path("/b/upper"), Path("/b/work"))


@pytest.mark.parametrize(("name", "isolation", "checkpoint"), [("runc", True, False), ("gvisor", True, True), ("process", False, False)])
def test_get_runtime_capabilities(tmp_path, name, isolation, checkpoint):
    rt = get_runtime(name, tmp_path)
    assert rt.name == name
    assert rt.capabilities.isolation is isolation
    assert rt.capabilities.cgroup_limits is isolation
    assert rt.capabilities.checkpoint is checkpoint
    assert not any(tmp_path.iterdir())  # creating a runtime touches nothing


def test_get_runtime_unknown_name_lists_allowed(tmp_path):
    with pytest.raises(ValueError) as err:
        get_runtime("docker", tmp_path)
    for name in RUNTIME_NAMES:
        assert name in str(err.value)


def test_host_debian_sources_keeps_only_debian_suites(tmp_path):
    """debian_slim is built from the host's own mirror entries (images/base.py)."""
    from squall.images.base import host_debian_sources

    d = tmp_path / "sources.list.d"
    d.mkdir()
    (d / "debian.sources").write_text(
        "Types: deb\n# a comment\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n"
    )
    (d / "other.sources").write_text("Types: deb\nURIs: https://vendor.example/apt\nSuites: nodistro\nComponents: main\n")
    (tmp_path / "sources.list").write_text(
        "deb [arch=amd64] http://old.example/debian bookworm main contrib\ndeb https://vendor.example cloud-sdk-bookworm main\n"
    )
    assert host_debian_sources(tmp_path) == [
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.example/debian bookworm main",
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.example/debian bookworm-updates main",
        "deb http://mirror.example/debian-security bookworm-security main",
        "deb [arch=amd64] http://old.example/debian bookworm main contrib",
    ]


def _prepared_network():
    import ipaddress

    from squall.runtime.network import ContainerNetwork

    subnet = ipaddress.ip_network("10.213.0.0/16")
    return ContainerNetwork("ta-123", NetworkPolicy(egress=True), 0x2A, subnet.network_address + 0x2A, subnet, "/etc/resolv.conf")


def test_runc_joins_the_prepared_namespace(tmp_path):
    rt = get_runtime("runc", tmp_path)
    net = _prepared_network()
    config = rt.build_config(make_spec(network=True), "/x", net)  # type: ignore[attr-defined]
    assert {"type": "network", "path": "/run/netns/sq-2a-ta-123"} in config["linux"]["namespaces"]
    assert rt._launcher(net) == []  # type: ignore[attr-defined]


def test_gvisor_host_netstack_starts_inside_the_prepared_namespace(tmp_path, monkeypatch):
    from squall.runtime.gvisor import NETSTACK_ENV

    monkeypatch.setenv(NETSTACK_ENV, "host")
    rt = get_runtime("gvisor", tmp_path)
    net = _prepared_network()
    config = rt.build_config(make_spec(network=True), "/x", net)  # type: ignore[attr-defined]
    assert "network" not in {ns["type"] for ns in config["linux"]["namespaces"]}  # runsc is already in it
    assert rt._launcher(net) == ["nsenter", "--net=/run/netns/sq-2a-ta-123", "--"]  # type: ignore[attr-defined]
    assert rt._launcher(None) == []  # type: ignore[attr-defined]


def test_gvisor_netstack_starts_in_the_namespace_with_the_root_check_masked(tmp_path, monkeypatch):
    from squall.runtime.gvisor import NETSTACK_ENV

    monkeypatch.delenv(NETSTACK_ENV, raising=False)
    rt = get_runtime("gvisor", tmp_path)
    net = _prepared_network()
    config = rt.build_config(make_spec(network=True), "/x", net)  # type: ignore[attr-defined]
    assert {"type": "network", "path": "/run/netns/sq-2a-ta-123"} in config["linux"]["namespaces"]  # runsc scrapes it
    argv = rt._launcher(net)  # type: ignore[attr-defined]
    assert argv[:2] == ["nsenter", "--net=/run/netns/sq-2a-ta-123"]  # the mask must be mounted inside that namespace
    assert argv[argv.index("unshare") : argv.index("unshare") + 4] == ["unshare", "--mount", "--propagation", "slave"]
    assert "/proc/sys/net/core" in argv[argv.index("-c") + 1] and 'exec "$@"' in argv[argv.index("-c") + 1]
    assert rt._launcher(None) == []  # type: ignore[attr-defined]
