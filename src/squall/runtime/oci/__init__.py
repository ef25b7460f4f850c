"""OCI runtime configs (`config.json` in a bundle) for runc and runsc.

`config.json` next to this module is the base: docker's default capability set,
noNewPrivileges, runc's default masked and read-only paths, the standard /proc, /dev,
/dev/pts, /dev/shm, /dev/mqueue, /sys (read-only) and /tmp mounts. It sets no rlimits: the
container inherits the worker's (raising them needs CAP_SYS_RESOURCE, which some hosts,
such as these Firecracker guests, do not grant even to root). `build_config` fills in
one container: its process, namespaces (the network one prepared by network.py when the
container has egress), bind mounts, cgroup path and limits. It is a pure
function, so what a container gets can be tested without running one.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from squall.runtime.base import ContainerSpec
from squall.runtime.cgroups import CPU_PERIOD_US
from squall.runtime.network import NetworkPolicy

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@functools.cache
def _template_text() -> str:
    return resources.files(__name__).joinpath("config.json").read_text()


def template() -> dict[str, Any]:
    """A fresh copy of the base config."""
    return json.loads(_template_text())


def build_config(
    spec: ContainerSpec,
    *,
    cgroups_path: str,
    memory_limit_in_spec: bool = True,
    resolv_conf: str = "/etc/resolv.conf",
    netns_path: str | None = None,
) -> dict[str, Any]:
    """The OCI config for `spec`; the root filesystem is the bundle's `rootfs` directory.

    A spec with network egress joins the namespace at `netns_path` and gets `resolv_conf`
    (both from network.setup()); without egress it gets a fresh namespace with loopback only.

    `memory_limit_in_spec=False` leaves the memory limit out of the spec for runtimes
    whose limit is enforced on a parent cgroup instead (see cgroups.py: runc deletes its
    own cgroup, and with it the OOM evidence).
    """
    if not spec.argv:
        raise ValueError(f"container {spec.container_id}: argv is empty")
    if not spec.workdir.startswith("/"):
        raise ValueError(f"container {spec.container_id}: workdir must be absolute, got {spec.workdir!r}")
    config = template()

    process = config["process"]
    process["args"] = list(spec.argv)
    env = {"PATH": DEFAULT_PATH, **spec.env}
    process["env"] = [f"{k}={v}" for k, v in env.items()]
    process["cwd"] = spec.workdir
    config["hostname"] = spec.container_id[:63]

    policy = NetworkPolicy.of(spec.network)
    egress = policy.egress
    namespaces: list[dict[str, str]] = [{"type": t} for t in ("pid", "ipc", "uts", "mount")]
    if policy.namespaced:
        # The namespace network.setup() prepared (veth to the host bridge), never the host's.
        if not netns_path:
            raise ValueError(f"container {spec.container_id}: network egress or inbound ports need netns_path (from network.setup())")
        namespaces.append({"type": "network", "path": netns_path})
    else:
        namespaces.append({"type": "network"})  # a fresh one: loopback only
    config["linux"]["namespaces"] = namespaces

    mounts = config["mounts"]
    if egress:
        mounts.append(_bind(resolv_conf, "/etc/resolv.conf", read_only=True))
    for m in spec.mounts:
        if not m.target.startswith("/"):
            raise ValueError(f"mount target must be absolute, got {m.target!r}")
        mounts.append(_bind(str(m.source), m.target, read_only=m.read_only))

    linux = config["linux"]
    linux["cgroupsPath"] = cgroups_path
    res = linux["resources"]
    if spec.cpu_limit > 0:
        res["cpu"] = {"quota": int(spec.cpu_limit * CPU_PERIOD_US), "period": CPU_PERIOD_US}
    if memory_limit_in_spec and spec.memory_limit_mb > 0:
        limit = spec.memory_limit_mb * 1024 * 1024
        res["memory"] = {"limit": limit, "swap": limit}  # swap == limit: no swap on top
    if spec.pids_limit > 0:
        res["pids"] = {"limit": spec.pids_limit}
    return config


def _bind(source: str, target: str, *, read_only: bool) -> dict[str, Any]:
    return {
        "destination": target,
        "type": "bind",
        "source": source,
        "options": ["rbind", "ro" if read_only else "rw", "nosuid", "nodev"],
    }
