"""The `gvisor` runtime: runsc, an OCI runtime with its own user-space kernel.

Same bundle, overlay and cgroup handling as runc (runc.py); the differences:

- runsc needs the 2024 build (bookworm-backports); the 2022 one in bookworm breaks `ls`
  and checkpointing.
- `--host-uds=open` lets the sandbox connect to unix sockets bind-mounted from the host
  (the worker's API socket). `--network=none` gives a loopback-only netstack.
- With egress (or inbound ports), gVisor's own netstack (`--network=sandbox`): runsc scrapes
  the namespace network.py prepared (eth0's address, MAC and routes), takes the address off
  eth0 and from then on sends and receives raw frames on it; the sandbox's TCP/IP runs in the
  sentry, behind the same veth, NAT and host rules as runc. Unlike the host stack it can be
  checkpointed, and `runsc restore` scrapes the namespace it is restored into: a restored
  sandbox has its new network's address, not the source's (connections open at checkpoint
  time are lost there). The runsc we have (bookworm-backports 2024-07-29) refuses to start it
  on these kernels ("cannot run with network enabled in root network namespace"): it decides
  "am I in the root network namespace?" by whether /proc/sys/net/core/rmem_default exists,
  which kernels since 5.x/6.x show in every namespace. So runsc is started by netstack_launcher():
  `nsenter --net=<its namespace>`, then a mount namespace of its own (a slave of the host's)
  where a tmpfs hides /proc/sys/net/core (the mount must be made inside the container's network
  namespace: /proc/sys/net entries are per namespace), then `exec runsc`. Newer runsc releases
  check properly, and the mask is harmless to them. Where the worker has built squall-spawn
  (squall/sandbox/spawn.c), `squall-spawn --netstack <namespace> runsc ...` does the same in one
  program instead of five (~3.5 ms of CPU less per start). That mount namespace lives as long as the
  container's `runsc run`; a private copy would pin every other container's rootfs and disk
  mounts (a removed sandbox's loop disk and space freed only when this one ends), so the
  runtime's state dir (bundles, sandbox disks) is made a shared mount (bound onto itself) and
  the copy a slave of it: the host's unmounts reach every copy, at no cost per start.
  `--net-disconnect-ok`: a checkpoint aborts the TCP
  connections open at that moment (ECONNABORTED in the source sandbox too; listening sockets and
  new connections are fine); without it runsc refuses ("endpoint cannot be saved in connected
  state") while any is open, including ones closed in the last minute (TIME_WAIT). Start time, idle cost and throughput measured about the
  same as the host stack (docs/sandboxes.md). $SQUALL_GVISOR_NETSTACK=host restores the old
  way: `nsenter --net=<namespace> runsc --network=host` (sockets are host-kernel sockets in
  that namespace), which runsc cannot checkpoint ("checkpoint not supported when using hostinet").
- The platform (how the sentry intercepts the sandbox's system calls) is `ptrace` unless
  $SQUALL_GVISOR_PLATFORM says otherwise. On these machines (themselves VMs: `/dev/kvm` is a
  nested-virtualisation shim on which `--platform=kvm` hangs) ptrace measured as fast as
  runsc's default, systrap, or faster (system calls ~20 us both; python startup 40 vs 60 ms;
  spawning a process 8 vs 12 ms), and an idle sandbox costs no CPU under ptrace while systrap's
  sentry keeps ~2 % of a core busy per idle sandbox, which adds up to whole cores with a few
  hundred. On bare metal systrap is the faster one: set SQUALL_GVISOR_PLATFORM=systrap there.
- runsc runs directly in squall's cgroup `/squall/<id>`: it joins a pre-created cgroup as
  is (applying none of the spec's resources there and never deleting it), and sizes the
  sandbox (memory, CPUs) from the limits it finds in it.
- When the memory limit is hit the kernel kills the sandbox process itself, so an OOM
  always ends the whole container: reported as SIGKILL with `oom_killed=True`.
- Checkpoint (memory snapshots): `pause`, `checkpoint --leave-running --compression=none`, the
  caller's copy of the upper dir, `resume`; so memory and files are of the same instant and the
  container runs on. runsc refuses (a panic in its state encoder, reported as an error; the
  container keeps running) while the sandbox holds a connected host unix socket, and always with
  `--network=host` ("checkpoint not supported when using hostinet"). Restore is `runsc restore`
  on a fresh bundle of the same shape, in a network namespace of its own (a new address);
  bind-mount sources may differ (the resume file does).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import signal
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from squall.runtime import network
from squall.runtime.base import Capabilities, Container, ContainerSpec, ExitStatus, RuntimeUnavailableError
from squall.runtime.network import NetworkPolicy
from squall.runtime.runc import OciRuntime, exit_code_from_runtime

MIN_RUNSC_DATE = 20240101
NETSTACK_ENV = "SQUALL_GVISOR_NETSTACK"
PLATFORM_ENV = "SQUALL_GVISOR_PLATFORM"
PLATFORMS = ("ptrace", "systrap")
_VERSION_DATE = re.compile(r"(20\d{6})")
# runsc's answer while the sandbox still holds a connected host unix socket (the supervisor's
# stream, closing): its state encoder panics on the host endpoint. Worth retrying briefly.
_HOST_SOCKET_BUSY = ("SCMConnectedEndpoint", "host fd", "hostfd")
CHECKPOINT_TRIES = 50
CHECKPOINT_RETRY_S = 0.02


# Run by `sh -c` inside the container's network namespace and a fresh mount namespace, before
# `exec runsc`: $1 is a file listing other containers' mounts to detach (or "").
_NETSTACK_SCRIPT = (
    "mount -t tmpfs -o ro,size=4k,mode=0555 squall-netstack /proc/sys/net/core "
    '|| { echo "squall: cannot hide /proc/sys/net/core from runsc --network=sandbox (set SQUALL_GVISOR_NETSTACK=host)" >&2; exit 125; }; '
    'exec "$@"'
)


def netstack_launcher(netns_path: str) -> list[str]:
    """argv before `runsc --network=sandbox run|restore`: see the module docstring."""
    return ["nsenter", f"--net={netns_path}", "--", "unshare", "--mount", "--propagation", "slave", "--", "sh", "-c", _NETSTACK_SCRIPT, "squall-netstack"]


def share_mounts(path: Path) -> bool:
    """Make `path` a shared mount (binding it onto itself first if it is not a mount point), so
    mounts and unmounts under it reach the runsc launchers' slave copies. True if it was bound here."""
    bound = False
    if not os.path.ismount(path):
        subprocess.run(["mount", "--bind", str(path), str(path)], check=True, capture_output=True)
        bound = True
    subprocess.run(["mount", "--make-rshared", str(path)], check=True, capture_output=True)
    return bound


class CheckpointError(RuntimeError):
    """runsc could not checkpoint the container; it is still running."""


@functools.cache
def runsc_version() -> str:
    """`runsc --version`'s first line: a checkpoint image restores only under the same build."""
    out = subprocess.run(["runsc", "--version"], capture_output=True, text=True, check=False).stdout
    return out.splitlines()[0].strip() if out else ""


def configured_platform() -> str:
    """runsc's --platform: $SQUALL_GVISOR_PLATFORM, else ptrace (see the module docstring)."""
    platform = os.environ.get(PLATFORM_ENV) or "ptrace"
    if platform not in PLATFORMS:
        raise ValueError(f"{PLATFORM_ENV}={platform!r}: choose one of {', '.join(PLATFORMS)} (kvm hangs on nested virtualisation)")
    return platform


class GvisorRuntime(OciRuntime):
    """runsc: a user-space kernel between the container and the host; has checkpoint/restore."""

    name = "gvisor"
    binary = "runsc"
    capabilities = Capabilities(isolation=True, cgroup_limits=True, checkpoint=True)
    install_hint = (
        "run `make install` (scripts/install-system-deps.sh), or add Debian's bookworm-backports "
        "suite to apt's sources and `apt-get install -t bookworm-backports runsc`"
    )
    nested_cgroup = False
    kill_on_oom = True

    def __init__(self, state_dir: Path) -> None:
        super().__init__(state_dir)
        self.netstack = os.environ.get(NETSTACK_ENV) or "sandbox"
        if self.netstack not in ("host", "sandbox"):
            raise ValueError(f"{NETSTACK_ENV}={self.netstack!r}: choose host or sandbox")
        self.platform = configured_platform()
        self.netstack_helper: Path | None = None  # squall-spawn, if the worker built it (see the module docstring)

    def _global_args(self, spec: ContainerSpec | None) -> list[str]:
        args = ["--root", str(self.root), f"--platform={self.platform}", "--host-uds=open"]
        if spec is not None and spec.upper_dir is not None:
            # runsc keeps root filesystem writes in an overlay of its own by default; a kept
            # upper dir (an image layer being built) must see them on the host.
            args.append("--overlay2=none")
        if spec is not None:
            if not NetworkPolicy.of(spec.network).namespaced:
                args.append("--network=none")  # gVisor's netstack with loopback only
            else:
                args.append(f"--network={self.netstack}")
        if self.netstack == "sandbox":
            # Without it runsc refuses to checkpoint while any TCP connection is open, and one
            # closed a minute ago (TIME_WAIT) counts; with it they are aborted (see the docstring).
            args.append("--net-disconnect-ok")
        return args

    def _launcher(self, net: network.ContainerNetwork | None) -> list[str]:
        if net is None:
            return []
        if self.netstack == "host":
            # runsc's "host" is whatever namespace it starts in: the container's own.
            return ["nsenter", f"--net={net.netns_path}", "--"]
        if self.netstack_helper is not None:
            return [str(self.netstack_helper), "--netstack", net.netns_path]
        return netstack_launcher(net.netns_path)

    def share_state_mounts(self) -> None:
        """Before anything is mounted under the state dir (the worker calls this at start, after
        removing what a dead worker left): make it a shared mount, see the module docstring."""
        if self.netstack == "sandbox" and os.geteuid() == 0:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            self._bound_state_dir = share_mounts(self.state_dir)

    async def close(self) -> None:
        await super().close()
        if getattr(self, "_bound_state_dir", False):
            subprocess.run(["umount", "-l", str(self.state_dir)], capture_output=True)
            self._bound_state_dir = False

    def build_config(self, spec: ContainerSpec, cgroup_path: str, net: network.ContainerNetwork | None = None) -> dict[str, Any]:
        config = super().build_config(spec, cgroup_path, net)
        if net is not None and self.netstack == "host":
            # runsc --network=host must not be handed a namespace path; it runs in it already.
            config["linux"]["namespaces"] = [ns for ns in config["linux"]["namespaces"] if ns["type"] != "network"]
        return config

    def _exit_status(self, returncode: int, oom: bool) -> ExitStatus:
        if oom:  # the sandbox itself was killed; runsc then exits 1 or 128+9
            return ExitStatus(exit_code=-signal.SIGKILL, oom_killed=True)
        return ExitStatus(exit_code=exit_code_from_runtime(returncode), oom_killed=False)

    def _has_state(self, container_id: str) -> bool:
        return (self.root / f"{container_id}_sandbox:{container_id}.state").exists()

    async def _remove_state(self, container_id: str) -> None:
        await super()._remove_state(container_id)
        # A sandbox killed while starting (or by the OOM killer) leaves its lock file and
        # control socket behind even after `runsc delete`.
        for leftover in (f"{container_id}_sandbox:{container_id}.lock", f"runsc-{container_id}.sock"):
            with contextlib.suppress(FileNotFoundError):
                (self.root / leftover).unlink()

    # -- memory snapshots ----------------------------------------------------------------------
    def version(self) -> str:
        return runsc_version()

    async def checkpoint(self, container: Container, image_dir: Path, while_paused: Callable[[], Awaitable[None]] | None = None) -> None:
        cid = container.container_id
        if self.netstack == "host" and getattr(container, "network", None) is not None:
            raise CheckpointError(
                f"{cid} runs on the host's network stack ({NETSTACK_ENV}=host on this worker), which runsc cannot checkpoint "
                '("checkpoint not supported when using hostinet"): unset it, or create the sandbox with block_network=True'
            )
        for attempt in range(CHECKPOINT_TRIES):
            await self._cli_ok("pause", cid)
            try:
                rc, out = await self._run_cli("checkpoint", "--leave-running", "--compression=none", f"--image-path={image_dir}", cid)
                if rc == 0:
                    if while_paused is not None:
                        await while_paused()
                    return
            finally:
                await self._cli_ok("resume", cid)
            busy = any(marker in out for marker in _HOST_SOCKET_BUSY)
            if not busy or attempt == CHECKPOINT_TRIES - 1:
                first = next((line for line in out.splitlines() if line.strip()), out)
                raise CheckpointError(f"runsc checkpoint of {cid} failed{' (the sandbox still holds a host socket)' if busy else ''}: {first[:500]}")
            for leftover in image_dir.iterdir():  # a half-written image
                leftover.unlink()
            await asyncio.sleep(CHECKPOINT_RETRY_S)

    async def restore(self, spec: ContainerSpec, image_dir: Path) -> Container:
        if NetworkPolicy.of(spec.network).namespaced and self.netstack == "host":
            raise CheckpointError(
                f"this worker runs gVisor sandboxes with network access on the host's network stack ({NETSTACK_ENV}=host), "
                "into which runsc cannot restore a snapshot taken on its own netstack; unset it"
            )
        return await self._launch(spec, ["restore", f"--image-path={image_dir}"])

    async def _cli_ok(self, *args: str) -> None:
        rc, out = await self._run_cli(*args)
        if rc != 0:
            raise CheckpointError(f"runsc {args[0]} {args[-1]} failed: {out[:500]}")

    def check_available(self) -> None:
        super().check_available()
        out = subprocess.run(["runsc", "--version"], capture_output=True, text=True, check=False).stdout
        m = _VERSION_DATE.search(out)
        if m is None or int(m.group(1)) < MIN_RUNSC_DATE:
            version = out.splitlines()[0] if out else "unknown version"
            raise RuntimeUnavailableError(f"runsc is too old ({version}; need a 2024 build): {self.install_hint}")
