"""Sandboxes on a worker: the container spec of a sandbox and the life of one.

A sandbox is a container whose main process is the supervisor (squall/sandbox/supervisor.py)
rather than the function agent. It gets two mounts: the supervisor's directory (read-only) and the
unix socket of its link to this worker (sandbox_link.py), which holds the sandbox's stream to the
control plane. No token, no socket to the control plane and no squall package enter the sandbox;
the user's environment and Secrets reach the supervisor over its link, never through the
container's environment.

A gVisor sandbox also gets a read-only resume dir (snapshots.py): after a memory snapshot, and in a
sandbox restored from one (`StartSandbox.restore`: `runsc restore` instead of `runsc run`), the
nonce written there tells the detached supervisor to reconnect and prove itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import pathlib
import secrets
import shutil
import types
from typing import TYPE_CHECKING

from squall import config
from squall._proto.squall.v1 import sandbox_pb2 as sb_pb
from squall._proto.squall.v1 import worker_pb2
from squall.runtime.base import ContainerSpec, Mount, Runtime
from squall.runtime.network import NetworkPolicy
from squall.worker import loop_mount, supervisor_dir
from squall.worker.sandbox_link import CONTAINER_LINK, SupervisorLink

if TYPE_CHECKING:
    from squall.worker.worker import Worker

log = logging.getLogger("squall.worker")

# Host tasks a gVisor sandbox may have (its pids cgroup counts the sentry's threads, and under the
# ptrace platform every process inside is a host process with threads of its own); processes
# inside are capped by RLIMIT_NPROC and the supervisor's watchdog. A fork bomb held at 512 tasks
# inside peaked at ~4,500 host tasks under ptrace (~1,000 under systrap); at the cgroup's limit
# the sentry cannot trace a new process and the whole sandbox dies, so this sits above that.
GVISOR_THREAD_HEADROOM = 8192
# The supervisor's own threads (file I/O) under runc's pids cgroup.
SUPERVISOR_PIDS = 64
SUPERVISOR_DIR = "/opt/squall/sandbox"
# `-I -S`: no site, no user paths, no PYTHON* variables: the supervisor imports only the modules
# built into the interpreter (and subprocess), from its compiled file when the versions match.
SUPERVISOR_ARGV = ["python3", "-I", "-S", "-c", f"import sys; sys.path.insert(0, {SUPERVISOR_DIR!r}); import supervisor; supervisor.main()"]


def supervisor_argv(with_spawn_helper: bool) -> list[str]:
    """The sandbox's main process: the supervisor, through squall-spawn (which starts its server, a clone
    that starts the supervisor's processes, then becomes it) where the worker could build it (supervisor_dir.py)."""
    if with_spawn_helper:
        return [f"{SUPERVISOR_DIR}/{supervisor_dir.SPAWN_HELPER}", "--init", *SUPERVISOR_ARGV]
    return SUPERVISOR_ARGV


def runtime_memory_limit_mb(limit_mb: int) -> int:
    """The cgroup's limit sits above the sandbox's: the supervisor kills a process that takes the
    sandbox past its own limit and says why, before the runtime's OOM kill (which would end the
    whole sandbox under gVisor) or gVisor's refusal to map more memory."""
    return limit_mb + max(64, limit_mb // 4)


def sandbox_spec(worker: Worker, start: sb_pb.StartSandbox, runtime: Runtime, link_path: pathlib.Path) -> ContainerSpec:
    if not runtime.capabilities.isolation:
        raise RuntimeError(f"sandboxes run untrusted code and need an isolating runtime (gvisor or runc), not {runtime.name!r}")
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8"}
    mounts = [Mount(worker.supervisor_dir, SUPERVISOR_DIR), Mount(link_path, CONTAINER_LINK, read_only=False)]
    if runtime.capabilities.checkpoint:
        from squall.worker.snapshots import resume_dir

        mounts.append(Mount(resume_dir(worker, start.sandbox_id), config.CONTAINER_RESUME_DIR))
    pids = start.pids_limit + SUPERVISOR_PIDS
    if runtime.name == "gvisor":
        pids = max(pids, GVISOR_THREAD_HEADROOM)
    return ContainerSpec(
        container_id=start.sandbox_id, rootfs=worker.rootfs, argv=supervisor_argv(worker.spawn_helper is not None), env=env, mounts=mounts,
        workdir="/", cpu_limit=start.cpu_limit, memory_limit_mb=runtime_memory_limit_mb(start.memory_limit_mb), pids_limit=pids,
        network=_network(start),
    )


def _network(start: sb_pb.StartSandbox) -> bool | NetworkPolicy:
    """block_network: loopback only. Otherwise egress through NAT, to the allowlist when given.
    Exposed ports (tunnels) are reachable from the worker's forwarder, also with block_network."""
    ports = [*start.encrypted_ports, *start.unencrypted_ports]
    if start.block_network:
        return NetworkPolicy(egress=False, inbound_ports=ports) if ports else False
    return NetworkPolicy(egress=True, cidr_allowlist=list(start.outbound_cidr_allowlist) or None, inbound_ports=ports)


class Disk:
    """A sandbox's writable layer: an ext4 filesystem in a sparse file of `size_mb`, loop-mounted,
    so writes past the limit fail with ENOSPC inside the sandbox and never fill the worker's disk.
    (A tmpfs would count the files against the memory limit.) It is a sparse copy of a formatted
    template (under 1 MiB of data), mounted from this process: no mkfs or mount per disk."""

    def __init__(self, root: pathlib.Path, name: str):
        self.size_mb = 0
        self.image = root / f"{name}.img"
        self.mount_point = root / name
        self.upper = self.mount_point / "upper"

    async def create(self, size_mb: int, template: pathlib.Path) -> None:
        self.size_mb = size_mb
        self.mount_point.mkdir(parents=True)
        await asyncio.to_thread(self._make, template)  # mount(2) blocks for milliseconds

    def _make(self, template: pathlib.Path) -> None:
        _copy_sparse(template, self.image)
        loop_mount.mount_image(str(self.image), str(self.mount_point))
        self.upper.mkdir()

    async def remove(self) -> None:
        if os.path.ismount(self.mount_point):
            await asyncio.to_thread(loop_mount.unmount, str(self.mount_point))
        self.image.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.mount_point.rmdir()


class DiskPool:
    """Sandbox disks made, formatted and mounted ahead of need, so that (~25 ms of) mkfs and mount
    are off the start path. It keeps `ready` disks of the size the last sandbox asked for; each
    disk serves one sandbox and is then removed."""

    def __init__(self, root: pathlib.Path, ready: int = 2) -> None:
        self.root = root
        self.want = ready
        self.size_mb = 0
        self.ready: list[Disk] = []
        self._filling: asyncio.Task | None = None
        self._templates: dict[int, pathlib.Path] = {}
        self._template_lock = asyncio.Lock()

    async def template(self, size_mb: int) -> pathlib.Path:
        """A formatted, unmounted image of `size_mb` that disks are copied from (made once)."""
        async with self._template_lock:
            path = self._templates.get(size_mb)
            if path is None:
                self.root.mkdir(parents=True, exist_ok=True)
                path = self.root / f"template-{size_mb}.ext4"
                partial = path.with_suffix(".partial")
                with open(partial, "wb") as f:  # noqa: ASYNC230 - a sparse file: no data written
                    f.truncate(size_mb << 20)
                await _run("mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal", "-E", "lazy_itable_init=1,lazy_journal_init=1", str(partial))
                partial.rename(path)
                self._templates[size_mb] = path
            return path

    async def cleanup(self) -> None:
        """Remove the disks a worker that died left mounted here."""
        if not self.root.is_dir():
            return
        for entry in self.root.iterdir():
            if entry.is_dir():
                await Disk(self.root, entry.name).remove()
            elif entry.suffix in (".img", ".ext4", ".partial") and not (self.root / entry.stem).exists():
                entry.unlink(missing_ok=True)  # a dead worker's disk image or template

    async def take(self, size_mb: int) -> Disk:
        self.size_mb = size_mb  # spares are made at the size asked for last
        disk = next((d for d in self.ready if d.size_mb == size_mb), None)
        if disk is not None:
            self.ready.remove(disk)
        else:
            disk = await self._new_disk(size_mb)
        if self._filling is None or self._filling.done():
            self._filling = asyncio.create_task(self._fill())
        return disk

    async def _fill(self) -> None:
        while len(self.ready) < self.want:
            try:
                self.ready.append(await self._new_disk(self.size_mb))
            except Exception:
                log.exception("making a spare sandbox disk failed")
                return

    async def _new_disk(self, size_mb: int) -> Disk:
        disk = Disk(self.root, f"d-{secrets.token_hex(8)}")
        try:
            await disk.create(size_mb, await self.template(size_mb))
        except BaseException:
            await disk.remove()
            raise
        return disk

    async def close(self) -> None:
        if self._filling is not None:
            self._filling.cancel()
            with contextlib.suppress(BaseException):
                await self._filling
        for disk in self.ready:
            with contextlib.suppress(Exception):
                await disk.remove()
        self.ready.clear()


def _copy_sparse(src: pathlib.Path, dst: pathlib.Path) -> None:
    """Copy `src` into a new `dst` of the same size, its data ranges only (holes stay holes)."""
    with open(src, "rb") as s, open(dst, "wb") as d:
        size = os.fstat(s.fileno()).st_size
        d.truncate(size)
        offset = 0
        while offset < size:
            try:
                start = os.lseek(s.fileno(), offset, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno == errno.ENXIO:  # only a hole is left
                    return
                raise
            end = os.lseek(s.fileno(), start, os.SEEK_HOLE)
            while start < end:
                start += os.copy_file_range(s.fileno(), d.fileno(), end - start, start, start)
            offset = end


async def _run(*argv: str) -> None:
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:2])} failed: {out.decode(errors='replace').strip()}")


async def run_sandbox(worker: Worker, start: sb_pb.StartSandbox) -> None:
    sid = start.sandbox_id
    disk: Disk | None = None
    restoring = start.HasField("restore")
    link = SupervisorLink(worker.channel, sid, start.token, resume_secret=start.restore.resume_secret if restoring else b"")
    worker.sandbox_links[sid] = link
    try:
        runtime = worker.runtimes.get(start.runtime)
        if runtime is None:
            raise RuntimeError(f"runtime {start.runtime!r} is not enabled on worker {worker.worker_id} (enabled: {', '.join(worker.runtimes)})")
        if restoring and not runtime.capabilities.checkpoint:
            raise RuntimeError(f"memory snapshots need the gvisor runtime, not {runtime.name!r}")
        await link.listen()
        if runtime.capabilities.checkpoint:
            from squall.worker import snapshots

            # A restored supervisor reconnects as soon as it reads this nonce, proving itself with
            # HMAC(resume secret, nonce); a new one just notes it.
            snapshots.write_nonce(worker, sid, link.expect_resume() if restoring else "")
        spec = sandbox_spec(worker, start, runtime, link.path)
        if start.image.layers:
            await worker.apply_image(start.image, spec, lambda line: log.info("sandbox %s: %s", sid, line))
        if start.disk_limit_mb:
            disk = await worker.disks.take(start.disk_limit_mb)
            spec.upper_dir = disk.upper
        else:  # writes land in a dir of ours, so snapshot_filesystem can pack them
            spec.upper_dir = worker.home / "run" / "sandbox-uppers" / sid / "fs"
            spec.upper_dir.mkdir(parents=True)
        worker.upper_dirs[sid] = spec.upper_dir
        if start.volumes:
            await worker.volumes.attach(_VolumeStart(start), spec, runtime)
        if restoring:
            image = await snapshots.prepare_restore(worker, start.restore, spec.upper_dir)
            container = await runtime.restore(spec, image)
        else:
            container = await runtime.start(spec)
    except Exception as exc:
        log.exception("sandbox %s failed to start", sid)
        await link.close()
        worker.sandbox_links.pop(sid, None)
        shutil.rmtree(worker.home / "run" / "sandbox-resume" / sid, ignore_errors=True)
        if start.volumes:
            await worker.volumes.detach(sid, None)
        if worker.upper_dirs.pop(sid, None) is not None and disk is None:
            shutil.rmtree(worker.home / "run" / "sandbox-uppers" / sid, ignore_errors=True)
        if disk is not None:
            await disk.remove()
        what = "restore from its snapshot" if restoring else "start"
        worker.outbox.put_nowait(worker_pb2.WorkerEvent(exited=worker_pb2.ContainerExited(container_id=sid, exit_code=-1, reason=f"sandbox failed to {what}: {exc}")))
        return
    worker.containers[sid] = container
    tunnels = None
    if start.encrypted_ports or start.unencrypted_ports:
        from squall.worker.tunnels import SandboxTunnels

        tunnels = SandboxTunnels(worker, start, container)  # opens its listeners, then reports them
    timings = {"scheduled": start.scheduled_at, **container.timings}
    worker.outbox.put_nowait(worker_pb2.WorkerEvent(started=worker_pb2.ContainerStarted(container_id=sid, timings=timings)))
    # The supervisor's own output (its errors); the user's output travels over its stream.
    pumps = [asyncio.create_task(_drain(sid, container.stdout)), asyncio.create_task(_drain(sid, container.stderr))]
    status = await container.wait()
    if tunnels is not None:
        await tunnels.close()
    await asyncio.gather(*pumps, return_exceptions=True)
    await link.close()
    worker.sandbox_links.pop(sid, None)
    shutil.rmtree(worker.home / "run" / "sandbox-resume" / sid, ignore_errors=True)
    worker.containers.pop(sid, None)
    worker._layers_in_use.pop(sid, None)
    if start.volumes:
        await worker.volumes.detach(sid, status.exit_code, lambda line: log.info("sandbox %s: %s", sid, line))
    if worker.upper_dirs.pop(sid, None) is not None and disk is None:
        shutil.rmtree(worker.home / "run" / "sandbox-uppers" / sid, ignore_errors=True)
    if disk is not None:
        try:
            await disk.remove()
        except Exception:
            log.exception("sandbox %s: removing its disk failed", sid)
    worker.outbox.put_nowait(worker_pb2.WorkerEvent(exited=worker_pb2.ContainerExited(container_id=sid, exit_code=status.exit_code, oom_killed=status.oom_killed)))


async def _drain(sid: str, reader: asyncio.StreamReader) -> None:
    while line := await reader.readline():
        log.warning("sandbox %s supervisor: %s", sid, line.decode(errors="replace").rstrip())


class _VolumeStart:
    """A sandbox start, seen as the container start the volume mounts expect."""

    def __init__(self, start: sb_pb.StartSandbox) -> None:
        self.container_id = start.sandbox_id
        self.token = start.token
        self.secret_env: dict[str, str] = dict(start.bucket_env)  # for its CloudBucketMounts' credentials
        self.definition = types.SimpleNamespace(volumes=list(start.volumes))
