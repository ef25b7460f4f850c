"""Placement: which worker gets a new container. Pure; the control plane calls it."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class WorkerCapacity:
    worker_id: str
    free_cpu: float
    free_memory_mb: int
    runtimes: tuple[str, ...]


def pick_worker(workers: list[WorkerCapacity], cpu: float, memory_mb: int, runtime: str) -> WorkerCapacity | None:
    """The worker with the most free CPU that fits the request and has the runtime; None if none fits."""
    fits = [w for w in workers if w.free_cpu + 1e-9 >= cpu and w.free_memory_mb >= memory_mb and (not runtime or runtime in w.runtimes)]
    if not fits:
        return None
    return max(fits, key=lambda w: (w.free_cpu, w.free_memory_mb))
