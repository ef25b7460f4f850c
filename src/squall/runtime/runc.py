"""The `runc` runtime, and the OCI-bundle machinery it shares with gVisor's runsc.

One container = one bundle directory `<state_dir>/bundles/<runtime>/<id>` holding
`config.json`, the overlay's `upper` and `work` and the merged `rootfs`, plus one cgroup
`/squall/<id>` (cgroups.py), plus one `<runtime> run` child process whose stdout and stderr
are the container's. When that process exits, the container is torn down whether or not
anyone is waiting: runtime state, overlay, bundle, cgroups.

The start path is: mkdir, mount(2), a few cgroup file writes, one config.json write, one
exec of the runtime binary. No other subprocess runs unless something goes wrong, or the
container has network egress: then network.setup() adds three (`ip` twice, `iptables-restore`)
before the runtime starts, and its close() two more after it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from squall.runtime import cgroups, network, oci, rootfs
from squall.runtime.base import (
    Capabilities,
    Container,
    ContainerSpec,
    ExitStatus,
    Runtime,
    RuntimeUnavailableError,
)

log = logging.getLogger(__name__)

# runc's own rule for container ids, kept short enough for socket paths and hostnames.
_CONTAINER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
STREAM_LIMIT = 1024 * 1024  # longest line a reader of stdout/stderr can readline()
KILL_RETRY_S = 5.0  # how long kill() keeps trying while the runtime is still registering


def exit_code_from_runtime(returncode: int) -> int:
    """`runc run` / `runsc run` report a container killed by signal N as 128+N."""
    if 128 < returncode <= 128 + 64:
        return -(returncode - 128)
    return returncode


def _alive(pid: int) -> bool:
    """Running, not merely a zombie waiting for a parent to reap it."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return False


OOM_POLL_S = 0.2


class OciContainer(Container):
    def __init__(
        self,
        runtime: OciRuntime,
        spec: ContainerSpec,
        proc: asyncio.subprocess.Process,
        bundle: Path,
        cgroup: cgroups.ContainerCgroup,
        timings: dict[str, float],
        net: network.ContainerNetwork | None = None,
    ) -> None:
        self.container_id = spec.container_id
        self.timings = timings
        assert proc.stdout is not None and proc.stderr is not None
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self._runtime = runtime
        self._proc = proc
        self._bundle = bundle
        self._cgroup = cgroup
        self.network = net  # None: loopback only
        self.address = str(net.address) if net is not None else None
        # Teardown runs when the process exits, not when someone calls wait(): a caller
        # that is cancelled or never waits still leaves nothing behind.
        self._done = asyncio.ensure_future(self._watch())
        if runtime.kill_on_oom:
            self._oom_watch = asyncio.ensure_future(self._watch_oom())

    async def allow_inbound(self, port: int) -> str | None:
        if self.network is None:
            return None
        await self.network.allow_inbound(port)
        return self.address

    async def _watch_oom(self) -> None:
        """An OOM kill inside a gVisor sandbox can leave it wedged rather than exited: end it."""
        while not self._done.done():
            if self._cgroup.oom_killed():
                log.warning("container %s hit its memory limit; stopping it", self.container_id)
                await self.kill()
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._done), OOM_POLL_S)

    async def _watch(self) -> ExitStatus:
        try:
            returncode = await self._proc.wait()
        finally:
            oom = await self._runtime._release(self.container_id, self._bundle, self._cgroup, self.network)
        return self._runtime._exit_status(returncode, oom)

    async def wait(self) -> ExitStatus:
        return await asyncio.shield(self._done)

    async def kill(self) -> None:
        deadline = time.monotonic() + KILL_RETRY_S
        delay = 0.005
        while not self._done.done() and self._proc.returncode is None:
            if await self._runtime._kill(self.container_id):
                return
            # Not registered with the runtime yet (or the runtime is stuck): kill what is
            # already in the cgroup, then ask the runtime again until it knows the id.
            self._cgroup.kill_all()
            if time.monotonic() > deadline:
                log.warning("container %s: %s kill keeps failing; killing the runtime process", self.container_id, self._runtime.binary)
                with contextlib.suppress(ProcessLookupError):
                    self._proc.send_signal(signal.SIGKILL)
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._done), delay)
            delay = min(delay * 2, 0.1)


class OciRuntime(Runtime):
    """A runtime driven through an OCI CLI (`<binary> --root <dir> run --bundle ...`)."""

    binary: str
    install_hint: str
    # nested: the runtime makes (and deletes) its own cgroup below ours, so limits go on ours.
    nested_cgroup: bool
    # kill_on_oom: any OOM kill in the cgroup ends the container (runc leaves that to the main process).
    kill_on_oom: bool = False

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self.root = self.state_dir / self.binary  # the runtime's --root
        self.bundles = self.state_dir / "bundles" / self.name
        self.networks = network.NetworkPool(owner=str(self.bundles))
        self._dirs_ready = False

    # -- hooks for the concrete runtimes ----------------------------------------------------
    def _global_args(self, spec: ContainerSpec | None) -> list[str]:
        """Flags before the subcommand; `spec` is given for `run` only."""
        return ["--root", str(self.root)]

    def _launcher(self, net: network.ContainerNetwork | None) -> list[str]:
        """argv put before `<binary>` for `run`/`restore` (it must exec the binary, keeping the pid)."""
        return []

    def _exit_status(self, returncode: int, oom: bool) -> ExitStatus:
        return ExitStatus(exit_code=exit_code_from_runtime(returncode), oom_killed=oom)

    def _has_state(self, container_id: str) -> bool:
        return (self.root / container_id).exists()

    async def _remove_state(self, container_id: str) -> None:
        # `run` deletes the container itself when it exits normally; only a runtime that
        # died (or was killed while starting) leaves state behind.
        if self._has_state(container_id):
            await self._delete(container_id)

    # -- Runtime ------------------------------------------------------------------------------
    def check_available(self) -> None:
        if shutil.which(self.binary) is None:
            raise RuntimeUnavailableError(f"{self.binary} not found: {self.install_hint}")
        if os.geteuid() != 0:
            raise RuntimeUnavailableError(
                f"the {self.name} runtime needs root (mounts, cgroups, namespaces): run the worker as root, or use the `process` runtime (no isolation)"
            )
        if "overlay" not in Path("/proc/filesystems").read_text():
            with contextlib.suppress(OSError):
                subprocess.run(["modprobe", "overlay"], capture_output=True, check=False)
            if "overlay" not in Path("/proc/filesystems").read_text():
                raise RuntimeUnavailableError("the kernel has no overlayfs: run `modprobe overlay`")
        try:
            cgroups.check()
        except cgroups.CgroupError as e:
            raise RuntimeUnavailableError(f"{e}: the {self.name} runtime needs the memory, cpu and pids cgroup controllers") from e

    def _ensure_dirs(self) -> None:
        if not self._dirs_ready:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.bundles.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._dirs_ready = True

    def bundle_dir(self, container_id: str) -> Path:
        return self.bundles / container_id

    def build_config(self, spec: ContainerSpec, cgroup_path: str, net: network.ContainerNetwork | None = None) -> dict[str, Any]:
        if net is None:
            return oci.build_config(spec, cgroups_path=cgroup_path, memory_limit_in_spec=not self.nested_cgroup)
        return oci.build_config(
            spec,
            cgroups_path=cgroup_path,
            memory_limit_in_spec=not self.nested_cgroup,
            resolv_conf=net.resolv_conf,
            netns_path=net.netns_path,
        )

    async def start(self, spec: ContainerSpec) -> Container:
        return await self._launch(spec, ["run"])

    async def _launch(self, spec: ContainerSpec, command: list[str]) -> Container:
        """Bundle, overlay, cgroup and network for `spec`, then `<binary> <command> --bundle ... <id>`."""
        policy = network.NetworkPolicy.of(spec.network)
        if not _CONTAINER_ID.match(spec.container_id):
            raise ValueError(f"invalid container id {spec.container_id!r}: use letters, digits and _.- (at most 64)")
        for m in spec.mounts:
            if not os.path.lexists(m.source):
                raise FileNotFoundError(f"container {spec.container_id}: mount source {m.source} does not exist")
        self._ensure_dirs()
        bundle = self.bundle_dir(spec.container_id)
        try:
            bundle.mkdir()
        except FileExistsError:
            raise ValueError(f"container {spec.container_id} already exists in {self.bundles}") from None
        timings: dict[str, float] = {}
        cgroup: cgroups.ContainerCgroup | None = None
        mounted: Path | None = None
        net: network.ContainerNetwork | None = None
        try:
            mounted = rootfs.mount_overlay(spec.rootfs, bundle, spec.upper_dir)
            timings["rootfs_ready"] = time.time()
            cgroup = cgroups.ContainerCgroup.create(
                spec.container_id,
                cpu_limit=spec.cpu_limit,
                memory_limit_bytes=spec.memory_limit_mb * 1024 * 1024,
                pids_limit=spec.pids_limit,
                nested=self.nested_cgroup,
            )
            if policy.namespaced:
                net = await self.networks.take(spec.container_id, policy)
                timings["network_ready"] = time.time()
            config = self.build_config(spec, cgroup.runtime_path, net)
            # A few KB to local disk: cheaper inline than a hop to a thread on the start path.
            with open(bundle / "config.json", "w") as f:  # noqa: ASYNC230
                json.dump(config, f)
            proc = await asyncio.create_subprocess_exec(
                *self._launcher(net),
                self.binary,
                *self._global_args(spec),
                *command,
                "--bundle",
                str(bundle),
                spec.container_id,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,  # terminal signals to the worker must not reach it
                limit=STREAM_LIMIT,
            )
            timings["process_started"] = time.time()
        except BaseException:
            if net is not None:
                await net.close()
            if cgroup is not None:
                cgroup.remove_now()
            if mounted is not None:
                rootfs.unmount(mounted)
            shutil.rmtree(bundle, ignore_errors=True)
            raise
        return OciContainer(self, spec, proc, bundle, cgroup, timings, net)

    async def _run_cli(self, *args: str) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            self.binary,
            *self._global_args(None),
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        return proc.returncode or 0, out.decode(errors="replace").strip()

    async def _kill(self, container_id: str) -> bool:
        rc, _ = await self._run_cli("kill", container_id, "KILL")
        return rc == 0

    async def _delete(self, container_id: str) -> None:
        rc, out = await self._run_cli("delete", "--force", container_id)
        if rc != 0:
            log.warning("%s delete %s failed: %s", self.binary, container_id, out)

    async def _release(self, container_id: str, bundle: Path, cgroup: cgroups.ContainerCgroup, net: network.ContainerNetwork | None = None) -> bool:
        """Tear one container down; every step runs even if an earlier one failed."""
        oom = False
        try:
            await self._remove_state(container_id)
        except Exception:
            log.exception("container %s: removing runtime state failed", container_id)
        try:
            oom = cgroup.oom_killed()
        except Exception:
            log.exception("container %s: reading OOM counters failed", container_id)
        try:
            rootfs.unmount(bundle / "rootfs")
            await asyncio.to_thread(shutil.rmtree, bundle, True)
        except Exception:
            log.exception("container %s: removing bundle %s failed", container_id, bundle)
        try:
            await cgroup.remove()
        except Exception:
            log.exception("container %s: removing cgroups failed", container_id)
        if net is not None:  # after the runtime is gone: nothing holds the namespace any more
            try:
                await net.close()
            except Exception:
                log.exception("container %s: removing its network failed", container_id)
        return oom

    async def close(self) -> None:
        await self.networks.close()

    def _orphan_run_pids(self) -> list[int]:
        """Live `<binary> ... run --bundle <our bundle>` processes: a dead worker's children."""
        pids = []
        prefix = str(self.bundles) + "/"
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                    argv = f.read().decode(errors="replace").split("\0")
            except OSError:
                continue
            if os.path.basename(argv[0]) != self.binary or "run" not in argv:
                continue
            if any(a.startswith(prefix) for a in argv):
                pids.append(int(entry.name))
        return pids

    async def cleanup_orphans(self) -> None:
        # First the dead worker's `run` processes: left alive, they would race us to tidy
        # up the runtime state as soon as their container dies.
        pids = self._orphan_run_pids() if self.bundles.is_dir() else []
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for _ in range(200):
            if not any(_alive(pid) for pid in pids):
                break
            await asyncio.sleep(0.01)
        ids: set[str] = set()
        if self.root.is_dir() and any(self.root.iterdir()):
            rc, out = await self._run_cli("list", "--quiet")
            if rc == 0:
                ids.update(out.split())
            for cid in sorted(ids):
                log.warning("%s: removing orphaned container %s", self.name, cid)
                await self._kill(cid)
                await self._delete(cid)
                await self._remove_state(cid)
        if self.bundles.is_dir():
            for mount in rootfs.mounts_under(self.bundles):
                log.warning("%s: unmounting orphaned %s", self.name, mount)
                rootfs.unmount(mount)
            for bundle in self.bundles.iterdir():
                ids.add(bundle.name)
                await asyncio.to_thread(shutil.rmtree, bundle, True)
        for cid in sorted(ids):
            if _CONTAINER_ID.match(cid):
                cg = cgroups.ContainerCgroup(cid, nested=self.nested_cgroup)
                cg.kill_all()
                await cg.remove()
        # Last: the namespaces, veths and rules of this runtime's containers, now all dead.
        try:
            await network.cleanup_orphans(owner=str(self.bundles))
        except Exception:
            log.exception("%s: removing orphaned networks failed", self.name)


class RuncRuntime(OciRuntime):
    """runc: the fastest start; isolation by kernel namespaces, shares the host kernel."""

    name = "runc"
    binary = "runc"
    capabilities = Capabilities(isolation=True, cgroup_limits=True, checkpoint=False)
    install_hint = "run `make install` (scripts/install-system-deps.sh) or `apt-get install runc`"
    nested_cgroup = True
