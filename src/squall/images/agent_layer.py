"""The agent layer: the container agent's Python dependencies, installed once per machine.

Every image runs `python3 -m squall.container`, which needs grpcio, protobuf and
cloudpickle (and croniter, for the Cron schedules user modules declare). Rather than installing them into each image, the worker builds one
directory of site-packages and bind-mounts it read-only into every container at
/opt/squall/agent (which goes on PYTHONPATH). The versions pinned are the ones installed
next to this worker, so the agent speaks exactly the worker's protocol and pickles.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path

from squall.images.base import build_once, recipe_hash, run_logged

AGENT_PACKAGES = ("grpcio", "protobuf", "cloudpickle", "croniter")  # croniter: user modules build Cron(...) schedules
# Newest glibc the layer's wheels may need: the debian_slim base is bookworm (glibc 2.36).
CONTAINER_GLIBC_MINOR = 36


def agent_requirements() -> list[str]:
    """`name==version` for each agent dependency, as installed in this environment."""
    return [f"{name}=={importlib.metadata.version(name)}" for name in AGENT_PACKAGES]


def _container_platforms() -> list[str]:
    # pip matches --platform tags literally, so list every manylinux the container's
    # glibc can load; the host's own tags could name a newer glibc than the image has.
    # Legacy aliases too (manylinux2014 = 2_17, ...): pip does not expand them for --platform,
    # and without them the abi3 wheels (protobuf's C backend) lose to slow pure-Python ones.
    arch = platform.machine()
    legacy = [f"manylinux2014_{arch}", f"manylinux2010_{arch}", f"manylinux1_{arch}"]
    return [f"manylinux_2_{minor}_{arch}" for minor in range(CONTAINER_GLIBC_MINOR, 4, -1)] + legacy


def agent_layer_path(home: Path, python_version: str = "3.11") -> Path:
    recipe = {
        "requirements": agent_requirements(),
        "python": python_version,
        "platforms": _container_platforms(),
        "revision": 2,
    }
    return home / "layers" / f"agent-py{python_version}-{recipe_hash(recipe)}"


def ensure_agent_layer(home: Path, python_version: str = "3.11", log: Callable[[str], None] = print) -> Path:
    """Return the agent layer directory for `python_version`, building it once if needed.

    The build is `python -m pip install --target <tmp> --only-binary=:all:
    --python-version <ver> grpcio==X protobuf==Y cloudpickle==Z` with this environment's
    versions; wheels only, so no compiler is needed and nothing is built for the host by
    mistake. Later calls return at once.
    """
    final = agent_layer_path(home, python_version)
    if final.is_dir():
        return final
    requirements = agent_requirements()

    def build(tmp: Path) -> None:
        argv = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--target",
            str(tmp),
            "--only-binary=:all:",
            "--python-version",
            python_version,
            *(arg for p in _container_platforms() for arg in ("--platform", p)),
            "--disable-pip-version-check",
            "--no-input",
            *requirements,
        ]
        log(f"building agent layer for python {python_version}: {' '.join(requirements)}")
        env = {**os.environ, "PIP_ROOT_USER_ACTION": "ignore"}
        run_logged(argv, log, env=env)

    return build_once(final, build, log)
