"""The `process` runtime: runs the command directly on the host, with NO isolation.

For machines where the worker has no root (a laptop, CI without privileges). The user's
code runs as the worker's user, sees the host's files, network and processes, and has no
CPU, memory or pids limits. `spec.rootfs` is ignored.

Mounts cannot be bind-mounted without root, so they are passed to the process instead:
the environment variable `SQUALL_PROCESS_MOUNTS` holds a JSON object mapping each mount's
container path (target) to its host path (source), e.g.
`{"/opt/squall/run/api.sock": "/home/me/.squall/worker/proxy.sock"}`. Code inside the
container that looks for a well-known container path should consult it first.

The working directory is `spec.workdir` if that exists on the host, else a fresh
directory under `<state_dir>/process/<id>`, removed when the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import time
from pathlib import Path

from squall.runtime.base import Capabilities, Container, ContainerSpec, ExitStatus, Runtime

log = logging.getLogger(__name__)

MOUNTS_ENV = "SQUALL_PROCESS_MOUNTS"
STREAM_LIMIT = 1024 * 1024

_warned = False


def _warn_no_isolation() -> None:
    global _warned
    if not _warned:
        _warned = True
        log.warning(
            "runtime 'process' gives NO isolation: containers run as ordinary host processes "
            "(same user, files, network; no CPU/memory limits). Use runc or gvisor for untrusted code."
        )


class ProcessContainer(Container):
    def __init__(self, spec: ContainerSpec, proc: asyncio.subprocess.Process, scratch: Path | None, timings: dict[str, float]) -> None:
        self.container_id = spec.container_id
        self.timings = timings
        assert proc.stdout is not None and proc.stderr is not None
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self._proc = proc
        self._scratch = scratch
        self.address = "127.0.0.1"  # it shares the host's network
        self._done = asyncio.ensure_future(self._watch())

    async def _watch(self) -> ExitStatus:
        try:
            returncode = await self._proc.wait()
        finally:
            # The process group may outlive its leader (daemonised children); end it too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            if self._scratch is not None:
                await asyncio.to_thread(shutil.rmtree, self._scratch, True)
        return ExitStatus(exit_code=returncode)  # asyncio already reports signals as -N

    async def wait(self) -> ExitStatus:
        return await asyncio.shield(self._done)

    async def kill(self) -> None:
        if self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGKILL)


class ProcessRuntime(Runtime):
    """No isolation at all; for machines without root. See the module docstring."""

    name = "process"
    capabilities = Capabilities(isolation=False, cgroup_limits=False, checkpoint=False)

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self.scratch_root = self.state_dir / "process"

    def check_available(self) -> None:
        _warn_no_isolation()

    async def start(self, spec: ContainerSpec) -> Container:
        _warn_no_isolation()
        if not spec.argv:
            raise ValueError(f"container {spec.container_id}: argv is empty")
        scratch: Path | None = None
        cwd = Path(spec.workdir)
        if not cwd.is_dir():
            scratch = self.scratch_root / spec.container_id
            scratch.mkdir(parents=True, exist_ok=False)
            cwd = scratch
        env = dict(spec.env)
        env.setdefault("PATH", os.environ.get("PATH", os.defpath))
        env[MOUNTS_ENV] = json.dumps({m.target: str(m.source) for m in spec.mounts})
        timings = {"rootfs_ready": time.time()}
        try:
            proc = await asyncio.create_subprocess_exec(
                *spec.argv,
                cwd=cwd,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,  # its own process group, so kill() gets its children too
                limit=STREAM_LIMIT,
            )
        except BaseException:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
            raise
        timings["process_started"] = time.time()
        return ProcessContainer(spec, proc, scratch, timings)

    async def cleanup_orphans(self) -> None:
        # Orphaned processes cannot be told apart from the user's own; only scratch dirs go.
        if self.scratch_root.is_dir():
            await asyncio.to_thread(shutil.rmtree, self.scratch_root, True)
