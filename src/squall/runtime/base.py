"""The runtime interface: how a worker starts, watches and stops one container.

Each implementation (gvisor, runc, process) declares what it can do through
capability flags; callers branch on the flags, never on the class.
"""

from __future__ import annotations

import abc
import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path

from squall.runtime.network import NetworkPolicy


class RuntimeUnavailableError(RuntimeError):
    """The runtime's binary or a kernel feature it needs is missing.

    The message says how to install what is missing.
    """


@dataclasses.dataclass(frozen=True)
class Capabilities:
    isolation: bool  # False only for `process`: user code shares the host
    cgroup_limits: bool  # CPU / memory / pids limits are enforced
    checkpoint: bool  # memory snapshots (runsc checkpoint / restore)


@dataclasses.dataclass(frozen=True)
class Mount:
    source: Path  # host path (file, directory or unix socket)
    target: str  # absolute path inside the container
    read_only: bool = True


@dataclasses.dataclass
class ContainerSpec:
    container_id: str
    rootfs: Path | list[Path]  # the image's layers, top-most first; never written to
    argv: list[str]
    env: dict[str, str]
    mounts: list[Mount] = dataclasses.field(default_factory=list)
    workdir: str = "/"
    cpu_limit: float = 1.0  # cores
    memory_limit_mb: int = 512
    pids_limit: int = 512
    # False: loopback only. True (or a NetworkPolicy with egress): its own namespace with
    # NAT'd egress, optionally limited to a CIDR allowlist; never the host or other containers.
    network: bool | NetworkPolicy = False
    # Where the container's writes go. None: a scratch dir in the bundle, thrown away at the
    # end. A path (an empty dir): kept after the container ends, e.g. an image layer's build.
    upper_dir: Path | None = None


@dataclasses.dataclass(frozen=True)
class ExitStatus:
    exit_code: int  # negative: killed by that signal
    oom_killed: bool = False  # the memory limit was hit and the kernel killed it


class Container(abc.ABC):
    """A started container. stdout/stderr are the main process's output."""

    container_id: str
    stdout: asyncio.StreamReader
    stderr: asyncio.StreamReader
    # wall-clock (time.time()) marks of the start phases: "rootfs_ready", "process_started"
    timings: dict[str, float]
    # where this host reaches sockets the container listens on (its network namespace's address);
    # None when nothing outside can (loopback-only network)
    address: str | None = None

    async def allow_inbound(self, port: int) -> str | None:
        """Let this host connect to TCP `port` inside the container: the address to connect to, or
        None when nothing outside can reach it."""
        return self.address

    @abc.abstractmethod
    async def wait(self) -> ExitStatus:
        """Wait for the main process to exit, release every resource, say how it ended."""

    @abc.abstractmethod
    async def kill(self) -> None:
        """Stop the container now (SIGKILL); wait() then returns."""


def restore_mismatch(taken_version: str, taken_cpu: list[str], here_version: str, here_cpu: list[str], taken_platform: str = "",
                     here_platform: str = "") -> str:
    """Why a checkpoint image taken under (`taken_version`, `taken_cpu`, `taken_platform`) cannot be
    restored here, in words naming what differs; "" when it can. (runsc images restore only under
    the same build, on a CPU with at least the features the saved processes may be using, and on
    the same platform: a systrap image restored under ptrace dies at once with SIGILL.)"""
    problems = []
    if taken_version != here_version:
        problems.append(f"it was taken with {taken_version or 'an unknown runtime'!r}, this worker has {here_version or 'no gVisor'!r}")
    if taken_platform != here_platform and here_version:
        problems.append(f"it was taken on gVisor's {taken_platform or 'unknown'} platform, this worker runs {here_platform or 'unknown'} "
                        "(SQUALL_GVISOR_PLATFORM)")
    missing = sorted(set(taken_cpu) - set(here_cpu))
    if missing:
        problems.append(f"this worker's CPU lacks features it was taken with: {', '.join(missing[:12])}{' ...' if len(missing) > 12 else ''}")
    return "; ".join(problems)


class Runtime(abc.ABC):
    name: str
    capabilities: Capabilities

    @abc.abstractmethod
    def check_available(self) -> None:
        """Raise RuntimeUnavailableError (saying how to install) if this runtime cannot run here."""

    @abc.abstractmethod
    async def start(self, spec: ContainerSpec) -> Container:
        """Prepare the root filesystem and start spec.argv inside it."""

    @abc.abstractmethod
    async def cleanup_orphans(self) -> None:
        """Kill and remove containers a previous, crashed worker left behind."""

    async def close(self) -> None:
        """Release what the runtime holds for future containers (e.g. pre-made networks)."""

    # -- memory snapshots (capabilities.checkpoint) -------------------------------------------
    def version(self) -> str:
        """The runtime build a checkpoint image is tied to ("" when it has no checkpoints)."""
        return ""

    async def checkpoint(self, container: Container, image_dir: Path, while_paused: Callable[[], Awaitable[None]] | None = None) -> None:
        """Save the running container's processes and memory into `image_dir`; it keeps running.
        `while_paused` runs after the save, before the container resumes (to copy its files)."""
        raise NotImplementedError(f"the {self.name} runtime cannot checkpoint containers")

    async def restore(self, spec: ContainerSpec, image_dir: Path) -> Container:
        """Start a new container from a checkpoint image, with `spec`'s root, mounts and limits
        (the same shape as the checkpointed container's; mount sources may differ)."""
        raise NotImplementedError(f"the {self.name} runtime cannot restore containers")
