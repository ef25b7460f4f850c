"""Container runtimes: how a worker starts, watches and stops containers.

`get_runtime(name, state_dir)` returns one of:

- `runc`: kernel namespaces + cgroups; the fastest start.
- `gvisor`: runsc, a user-space kernel in front of the host; for untrusted code; can
  checkpoint and restore.
- `process`: plain host processes, NO isolation; for machines without root.

Callers branch on `runtime.capabilities`, never on the class (base.py).
"""

from __future__ import annotations

from pathlib import Path

from squall.runtime.base import (
    Capabilities,
    Container,
    ContainerSpec,
    ExitStatus,
    Mount,
    Runtime,
    RuntimeUnavailableError,
)
from squall.runtime.network import NetworkPolicy

RUNTIME_NAMES = ("runc", "gvisor", "process")

__all__ = [
    "RUNTIME_NAMES",
    "Capabilities",
    "Container",
    "ContainerSpec",
    "ExitStatus",
    "Mount",
    "NetworkPolicy",
    "Runtime",
    "RuntimeUnavailableError",
    "get_runtime",
]


def get_runtime(name: str, state_dir: Path) -> Runtime:
    """The runtime called `name`, keeping its bundles and state under `state_dir`.

    `state_dir` is per worker (e.g. ~/.squall/worker/run). Nothing is checked or created
    here; call `check_available()` before the first start.
    """
    if name == "runc":
        from squall.runtime.runc import RuncRuntime

        return RuncRuntime(state_dir)
    if name == "gvisor":
        from squall.runtime.gvisor import GvisorRuntime

        return GvisorRuntime(state_dir)
    if name == "process":
        from squall.runtime.process import ProcessRuntime

        return ProcessRuntime(state_dir)
    raise ValueError(f"unknown runtime {name!r}: choose one of {', '.join(RUNTIME_NAMES)}")
