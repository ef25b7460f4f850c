"""Image: the environment a function runs in. The walking skeleton has the base image only;
the full DSL (pip_install, apt_install, ...) arrives with the images issue."""

from __future__ import annotations

from squall.exception import InvalidError

HOST_PYTHON = "3.11"  # Debian bookworm's python3, which mmdebstrap installs


class Image:
    def __init__(self, image_id: str, description: str):
        self.image_id = image_id
        self._description = description

    @staticmethod
    def debian_slim(python_version: str | None = None) -> Image:
        if python_version is not None and str(python_version) != HOST_PYTHON:
            raise InvalidError(
                f"Image.debian_slim(python_version={python_version!r}): this build provides Python {HOST_PYTHON} (Debian bookworm's python3); "
                f"use python_version={HOST_PYTHON!r} or leave it out"
            )
        return Image(f"debian_slim:{HOST_PYTHON}", "debian_slim")

    def __getattr__(self, name: str):
        if name in {"pip_install", "apt_install", "run_commands", "uv_pip_install", "env", "workdir", "add_local_dir", "add_local_file",
                    "add_local_python_source", "pip_install_from_requirements", "pip_install_from_pyproject", "run_function", "entrypoint"}:
            raise InvalidError(f"Image.{name}() is not available yet in this squall build: only Image.debian_slim() images run")
        raise AttributeError(name)

    def imports(self):
        import contextlib

        return contextlib.nullcontext()

    def __repr__(self) -> str:
        return f"Image({self._description})"
