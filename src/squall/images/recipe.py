"""An image recipe and its plan: the chain of layers an image is made of.

`squall.Image` describes an image as JSON: a base plus a list of steps, e.g.

    {"base": {"kind": "debian_slim", "python_version": "3.11"},
     "steps": [{"op": "pip_install", "packages": ["six"]}, {"op": "env", "env": {"A": "1"}}]}

`plan()` turns that into layers. The base is the bottom layer; every step that changes
files (pip_install, apt_install, run_commands, copy, run_function, ...) is one layer
above it. Settings steps (env, workdir, entrypoint, cmd) change no files: they go into
the image's config, and into the definition of every later step, since a RUN sees them.

A layer's id is a hash of (its parent's id, its step, the settings it runs under); a
step that reads local files carries the digest of their tar, so the hash covers their
contents. So two images with a common prefix share those layers, and changing one step
changes only its own id and the ids above it. The image id is a hash of the top layer
and the final config. Keys starting with "_" (an upload's digest whose bytes are not
deterministic, like a pickled function) and `force_build` are left out of the hashes.

Pure functions only: the control plane plans, workers build what the plan says.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

BASE_KINDS = ("debian_slim", "registry", "scratch")
# Steps that produce a layer, and steps that only change the image's config.
LAYER_OPS = ("pip_install", "uv_pip_install", "apt_install", "run_commands", "copy", "run_function", "add_python")
CONFIG_OPS = ("env", "workdir", "entrypoint", "cmd")
DEBIAN_SLIM_PYTHON = "3.11"  # Debian bookworm's python3, which the base installs


class RecipeError(ValueError):
    """The recipe is malformed; the message names the step and the bad value."""


@dataclasses.dataclass(frozen=True)
class Layer:
    layer_id: str
    step: dict[str, Any]  # the step as the builder runs it, settings included
    force: bool = False


@dataclasses.dataclass(frozen=True)
class Plan:
    image_id: str
    layers: list[Layer]  # the base first
    config: dict[str, Any]  # env, workdir, entrypoint, cmd, python_version ("" = found at build)
    description: str

    @property
    def layer_ids(self) -> list[str]:
        return [layer.layer_id for layer in self.layers]


def _hash(obj: object, n: int = 24) -> str:
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:n]


def _hashed(step: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in step.items() if not k.startswith("_") and k != "force_build"}


def describe_step(step: dict[str, Any]) -> str:
    """A short human form of one step, e.g. `pip_install(six, requests)`."""
    op = step.get("op", "?")
    if op == "base":
        kind = step.get("kind")
        return f"from_registry({step.get('ref')})" if kind == "registry" else f"{kind}()"
    args = {
        "pip_install": lambda s: ", ".join(s.get("packages", [])) + ("-r requirements.txt" if s.get("requirements") else ""),
        "uv_pip_install": lambda s: ", ".join(s.get("packages", [])),
        "apt_install": lambda s: ", ".join(s.get("packages", [])),
        "run_commands": lambda s: "; ".join(s.get("commands", [])),
        "copy": lambda s: f"{s.get('source', '')} -> {s.get('dest', '')}",
        "run_function": lambda s: s.get("name", ""),
        "add_python": lambda s: s.get("version", ""),
        "env": lambda s: ", ".join(f"{k}=..." for k in s.get("env", {})),
        "workdir": lambda s: s.get("path", ""),
        "entrypoint": lambda s: " ".join(s.get("argv", [])),
        "cmd": lambda s: " ".join(s.get("argv", [])),
    }.get(op, lambda s: "")(step)
    if len(args) > 80:
        args = args[:77] + "..."
    return f"{op}({args})"


def _check_base(base: Any) -> dict[str, Any]:
    if not isinstance(base, dict) or base.get("kind") not in BASE_KINDS:
        raise RecipeError(f"image base {base!r}: kind must be one of {', '.join(BASE_KINDS)}")
    if base["kind"] == "registry" and not base.get("ref"):
        raise RecipeError("a registry base needs a ref, e.g. python:3.12-slim")
    return base


def plan(recipe: dict[str, Any], force_all: bool = False) -> Plan:
    """The layers and config of `recipe`; raises RecipeError for a malformed one."""
    base = _check_base(recipe.get("base"))
    steps = recipe.get("steps", [])
    if not isinstance(steps, list):
        raise RecipeError(f"image steps must be a list, got {type(steps).__name__}")
    base_step = {"op": "base", **{k: v for k, v in base.items() if k != "secret"}}
    layer_id = _hash(_hashed(base_step))
    force = force_all or bool(base.get("force_build"))
    layers = [Layer(layer_id, base_step, force)]
    python = DEBIAN_SLIM_PYTHON if base["kind"] == "debian_slim" else ""
    config: dict[str, Any] = {"env": {}, "workdir": "", "entrypoint": None, "cmd": None, "python_version": python}
    described = [describe_step(base_step)]
    for i, step in enumerate(steps):
        op = step.get("op") if isinstance(step, dict) else None
        if op in CONFIG_OPS:
            _apply_config(config, step, i)
        elif op in LAYER_OPS:
            runs_as = {**step, "env": dict(config["env"]), "workdir": config["workdir"]}
            layer_id = _hash({"parent": layer_id, "step": _hashed(runs_as)})
            force = force or bool(step.get("force_build"))  # a rebuilt step rebuilds everything after it
            layers.append(Layer(layer_id, runs_as, force))
            if op == "add_python":
                config["python_version"] = step.get("version", "")
        else:
            raise RecipeError(f"image step {i + 1}: unknown op {op!r}; known: {', '.join(LAYER_OPS + CONFIG_OPS)}")
        described.append(describe_step(step))
    image_id = "im-" + _hash({"top": layer_id, "config": config}, 20)
    return Plan(image_id, layers, config, ".".join(described))


def _apply_config(config: dict[str, Any], step: dict[str, Any], i: int) -> None:
    op = step["op"]
    if op == "env":
        env = step.get("env")
        if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
            raise RecipeError(f"image step {i + 1}: env needs a dict of str to str, got {env!r}")
        config["env"] = {**config["env"], **env}
    elif op == "workdir":
        config["workdir"] = step.get("path", "")
    else:
        config[op] = list(step.get("argv") or [])
