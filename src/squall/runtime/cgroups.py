"""The cgroup squall owns for each container: limits and OOM detection.

Every isolated container gets `/squall/<container_id>` in the memory, cpu and pids
hierarchies. Squall writes the limits there itself and keeps the directory until it has
read how the container ended, because the OCI runtimes are no help with that:

- runc deletes the cgroup it ran the container in as soon as the container exits, taking
  its OOM counters with it. So runc's cgroup goes one level down
  (`/squall/<id>/container`) and the limits live on ours, the parent: memory charges are
  hierarchical, so the parent's limit is what the kernel enforces, and the OOM happens
  (and is counted) in a cgroup that survives.
- runsc (gVisor) joins a pre-existing cgroup without touching its settings or deleting it,
  so it runs directly in `/squall/<id>`; it reads the memory limit and CPU quota from
  there to size the sandbox.

OOM detection, cgroup v1 (this project's Debian hosts mount v1 controllers): an eventfd
registered through `cgroup.event_control` on `memory.oom_control` before the container
starts. The kernel signals it whenever this cgroup's limit triggers the OOM killer, even
when the victim sits in a child cgroup that is gone by the time we look. `oom_kill` in
`memory.oom_control` covers victims that ran directly in our cgroup (the gVisor case).
cgroup v2: `memory.events` `oom_kill`, which counts descendants too.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

ROOT_GROUP = "squall"  # /sys/fs/cgroup/<controller>/squall/<container_id>
CPU_PERIOD_US = 100_000
CONTROLLERS = ("memory", "cpu", "pids")  # the ones squall writes limits to


class CgroupError(RuntimeError):
    """The cgroup hierarchy lacks something squall needs (a controller, permissions)."""


@dataclass(frozen=True)
class Hierarchy:
    """Where the cgroup filesystems are mounted on this host."""

    v1: dict[str, Path]  # controller (or "name=systemd") -> mount point of its v1 hierarchy
    v2: Path | None  # the cgroup2 mount, if any
    v2_controllers: frozenset[str] = field(default_factory=frozenset)

    def mode(self, controller: str) -> str:
        if controller in self.v1:
            return "v1"
        if self.v2 is not None and controller in self.v2_controllers:
            return "v2"
        raise CgroupError(f"cgroup controller {controller!r} is not mounted (looked in /proc/self/mountinfo)")

    def all_roots(self) -> list[Path]:
        roots = sorted(set(self.v1.values()))
        if self.v2 is not None:
            roots.append(self.v2)
        return roots


_V1_FLAGS = {"rw", "ro", "xattr", "noprefix", "clone_children", "cpuset_v2_mode", "favordynmods"}


def _unescape(s: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as octal
    return s.encode().decode("unicode_escape") if "\\" in s else s


@functools.cache
def hierarchy() -> Hierarchy:
    """Parse /proc/self/mountinfo once; the mounts do not change while we run."""
    v1: dict[str, Path] = {}
    v2: Path | None = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            mount_point = Path(_unescape(fields[4]))
            fstype, super_opts = fields[sep + 1], fields[sep + 3]
            if fstype == "cgroup":
                for opt in super_opts.split(","):
                    if opt in _V1_FLAGS or ("=" in opt and not opt.startswith("name=")):
                        continue
                    v1.setdefault(opt, mount_point)
            elif fstype == "cgroup2" and v2 is None:
                v2 = mount_point
    controllers: frozenset[str] = frozenset()
    if v2 is not None:
        with contextlib.suppress(OSError):
            controllers = frozenset((v2 / "cgroup.controllers").read_text().split())
    return Hierarchy(v1=v1, v2=v2, v2_controllers=controllers)


def check() -> None:
    """Raise CgroupError unless memory, cpu and pids controllers are usable."""
    h = hierarchy()
    for c in CONTROLLERS:
        h.mode(c)


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


class ContainerCgroup:
    """`/squall/<container_id>`: created with limits before start, removed after exit.

    `runtime_path` is what goes into the OCI spec's `linux.cgroupsPath`.
    """

    def __init__(self, container_id: str, *, nested: bool) -> None:
        self.container_id = container_id
        self.relpath = f"{ROOT_GROUP}/{container_id}"
        self.nested = nested
        self.runtime_path = f"/{self.relpath}/container" if nested else f"/{self.relpath}"
        self._oom_eventfd: int | None = None
        self._oom_seen = False

    @classmethod
    def create(
        cls,
        container_id: str,
        *,
        cpu_limit: float,
        memory_limit_bytes: int,
        pids_limit: int,
        nested: bool,
    ) -> ContainerCgroup:
        """Create the cgroup with its limits; `nested`: the runtime makes its own child."""
        cg = cls(container_id, nested=nested)
        try:
            cg._create(cpu_limit, memory_limit_bytes, pids_limit)
        except BaseException:
            cg._close_eventfd()
            cg.remove_now()
            raise
        return cg

    def _create(self, cpu_limit: float, memory_bytes: int, pids_limit: int) -> None:
        h = hierarchy()
        quota = int(cpu_limit * CPU_PERIOD_US) if cpu_limit > 0 else -1
        v2_done = False
        for controller in CONTROLLERS:
            mode = h.mode(controller)
            if mode == "v2":
                if not v2_done:
                    self._create_v2(h, quota, memory_bytes, pids_limit)
                    v2_done = True
                continue
            d = h.v1[controller] / self.relpath
            d.mkdir(parents=True, exist_ok=True)
            if controller == "memory":
                limit = str(memory_bytes) if memory_bytes > 0 else "-1"
                _write(d / "memory.limit_in_bytes", limit)
                # memsw exists only with swap accounting; it must be set after (and >=) the limit.
                memsw = d / "memory.memsw.limit_in_bytes"
                if memsw.exists():
                    _write(memsw, limit)
                self._register_oom_eventfd(d)
            elif controller == "cpu":
                _write(d / "cpu.cfs_period_us", str(CPU_PERIOD_US))
                _write(d / "cpu.cfs_quota_us", str(quota))
            elif controller == "pids":
                _write(d / "pids.max", str(pids_limit) if pids_limit > 0 else "max")

    def _create_v2(self, h: Hierarchy, quota: int, memory_bytes: int, pids_limit: int) -> None:
        assert h.v2 is not None
        enable = " ".join(f"+{c}" for c in CONTROLLERS if c in h.v2_controllers)
        top = h.v2 / ROOT_GROUP
        top.mkdir(exist_ok=True)
        _write(h.v2 / "cgroup.subtree_control", enable)
        _write(top / "cgroup.subtree_control", enable)
        d = h.v2 / self.relpath
        d.mkdir(exist_ok=True)
        if self.nested:  # the runtime's own cgroup below needs the controllers too
            _write(d / "cgroup.subtree_control", enable)
        _write(d / "memory.max", str(memory_bytes) if memory_bytes > 0 else "max")
        with contextlib.suppress(FileNotFoundError):
            _write(d / "memory.swap.max", "0")
        _write(d / "cpu.max", f"{quota if quota > 0 else 'max'} {CPU_PERIOD_US}")
        _write(d / "pids.max", str(pids_limit) if pids_limit > 0 else "max")

    def _register_oom_eventfd(self, memcg: Path) -> None:
        efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._oom_eventfd = efd
        cfd = os.open(memcg / "memory.oom_control", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _write(memcg / "cgroup.event_control", f"{efd} {cfd}")
        finally:
            os.close(cfd)  # the kernel holds its own reference

    def _close_eventfd(self) -> None:
        if self._oom_eventfd is not None:
            os.close(self._oom_eventfd)
            self._oom_eventfd = None

    def oom_killed(self) -> bool:
        """Whether the memory limit made the kernel kill a process in this container.

        Call after the container exited and before remove(); the answer is kept.
        """
        if self._oom_seen:
            return True
        h = hierarchy()
        try:
            if h.mode("memory") == "v1":
                if self._oom_eventfd is not None:
                    with contextlib.suppress(BlockingIOError):
                        if os.eventfd_read(self._oom_eventfd) > 0:
                            self._oom_seen = True
                if not self._oom_seen:
                    text = (h.v1["memory"] / self.relpath / "memory.oom_control").read_text()
                    self._oom_seen = _counter(text, "oom_kill") > 0
            else:
                assert h.v2 is not None
                text = (h.v2 / self.relpath / "memory.events").read_text()
                self._oom_seen = _counter(text, "oom_kill") > 0
        except FileNotFoundError:
            pass
        return self._oom_seen

    def kill_all(self) -> int:
        """SIGKILL every process in this container's cgroups; returns how many were signalled.

        The fallback when the runtime cannot kill (container not registered yet, runtime
        wedged). Killing the container's init takes its whole PID namespace with it.
        """
        h = hierarchy()
        root = h.v1["memory"] if h.mode("memory") == "v1" else h.v2
        assert root is not None
        n = 0
        for dirpath, _, _ in os.walk(root / self.relpath):
            try:
                pids = (Path(dirpath) / "cgroup.procs").read_text().split()
            except FileNotFoundError:
                continue
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
                    n += 1
        return n

    def _dirs(self) -> list[Path]:
        """Every directory this container may own, deepest first."""
        dirs: list[Path] = []
        for root in hierarchy().all_roots():
            base = root / self.relpath
            if base.is_dir():
                # runtimes' own children (runc: "container"); walk in case of deeper ones
                for dirpath, dirnames, _ in os.walk(base, topdown=False):
                    for name in dirnames:
                        dirs.append(Path(dirpath) / name)
                dirs.append(base)
        return dirs

    def _try_remove(self) -> list[Path]:
        busy = []
        for d in self._dirs():
            try:
                d.rmdir()
            except FileNotFoundError:
                pass
            except OSError as e:
                if e.errno != errno.EBUSY:
                    raise
                busy.append(d)
        return busy

    def remove_now(self) -> None:
        """Remove without waiting (nothing ever ran in it, or last resort)."""
        self._close_eventfd()
        busy = self._try_remove()
        if busy:
            log.warning("cgroups still busy, left behind: %s", ", ".join(map(str, busy)))

    async def remove(self, timeout: float = 2.0) -> None:
        """Remove our directories in every hierarchy, waiting for dying tasks to leave."""
        self.oom_killed()  # read the counters while they still exist
        self._close_eventfd()
        delay, waited = 0.002, 0.0
        while True:
            busy = self._try_remove()
            if not busy:
                return
            if waited >= timeout:
                log.warning("cgroups still busy after %.1fs, left behind: %s", waited, ", ".join(map(str, busy)))
                return
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, 0.1)


def _counter(text: str, key: str) -> int:
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return int(value)
    return 0
