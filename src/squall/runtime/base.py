"""The runtime interface: how a worker starts, watches and stops one container.

Each implementation (gvisor, runc, process) declares what it can do through
capability flags; callers branch on the flags, never on the class.
"""

from __future__ import annotations

import abc
import asyncio
import dataclasses
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
