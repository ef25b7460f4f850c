"""What each build step runs inside the build container.

A step of the recipe (`squall.images.recipe`) becomes one or more commands; each runs in
its own build container over the same upper directory, so a failure names the exact
command. Files a step needs (a requirements file, a pickled function) are written to a
per-step directory on the worker that is mounted read-only at STEP_DIR; tools squall
brings (uv, the agent's cloudpickle) are mounted under BUILD_DIR too. BUILD_DIR is below
/tmp, a tmpfs in every container, so none of it ends up in the layer.
"""

from __future__ import annotations

import shlex
from typing import Any

BUILD_DIR = "/tmp/.squall-build"
STEP_DIR = f"{BUILD_DIR}/step"
UV_DIR = f"{BUILD_DIR}/uv"
AGENT_DIR = f"{BUILD_DIR}/agent"
LIB_DIR = f"{BUILD_DIR}/lib"

APT_INSTALL = (
    "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends {pkgs}"
    " && apt-get clean && rm -rf /var/lib/apt/lists/*"
)

RUN_FUNCTION = (
    "import cloudpickle, sys\n"
    f"with open('{STEP_DIR}/payload.pkl', 'rb') as f:\n"
    "    fn, args, kwargs = cloudpickle.load(f)\n"
    "fn(*args, **kwargs)\n"
)


def step_files(step: dict[str, Any]) -> dict[str, str]:
    """Text files the step reads from STEP_DIR (name -> content)."""
    if step.get("requirements"):
        return {"requirements.txt": step["requirements"]}
    return {}


def _pip_options(step: dict[str, Any]) -> list[str]:
    args: list[str] = []
    if step.get("index_url"):
        args += ["--index-url", step["index_url"]]
    if step.get("extra_index_url"):
        args += ["--extra-index-url", step["extra_index_url"]]
    if step.get("find_links"):
        args += ["--find-links", step["find_links"]]
    if step.get("pre"):
        args.append("--pre")
    args += shlex.split(step.get("extra_options", ""))
    if step.get("requirements"):
        args += ["-r", f"{STEP_DIR}/requirements.txt"]
    return args + list(step.get("packages", []))


def commands(step: dict[str, Any]) -> list[list[str]]:
    """The argv of each command the step runs, in order (empty for host-side steps)."""
    op = step["op"]
    if op == "pip_install":
        return [["python3", "-m", "pip", "install", "--no-cache-dir", *_pip_options(step)]]
    if op == "uv_pip_install":
        return [[f"{UV_DIR}/bin/uv", "pip", "install", "--system", "--break-system-packages", "--python", "python3", "--no-cache", *_pip_options(step)]]
    if op == "apt_install":
        return [["/bin/sh", "-c", APT_INSTALL.format(pkgs=shlex.join(step["packages"]))]]
    if op == "run_commands":
        return [["/bin/sh", "-c", cmd] for cmd in step["commands"]]
    if op == "add_python":
        want = step["version"]
        check = (
            "import sys; v = '%d.%d' % sys.version_info[:2]; "
            f"sys.exit(0 if v == '{want}' else 'add_python: the image\\'s packages give Python ' + v + ', not {want}; use a base image of that release')"
        )
        return [
            ["/bin/sh", "-c", "command -v apt-get >/dev/null || { echo 'add_python needs a Debian or Ubuntu based image (apt-get); this one has none' >&2; exit 1; }"],
            ["/bin/sh", "-c", APT_INSTALL.format(pkgs="python3 python3-pip")],
            ["python3", "-c", check],
        ]
    if op == "run_function":
        return [["python3", "-c", RUN_FUNCTION]]
    if op == "copy":
        return []  # the worker unpacks the files straight into the layer
    raise ValueError(f"unknown build step {op!r}")


def display(argv: list[str]) -> str:
    """How a command shows in logs and errors."""
    if argv[:2] == ["/bin/sh", "-c"]:
        return argv[2]
    if argv[:2] == ["python3", "-c"] and argv[2] == RUN_FUNCTION:
        return "python3 <run_function>"
    return shlex.join(argv)
