"""Functions that share a Volume, for tests/integration/test_volumes.py."""

from __future__ import annotations

import errno
import os
import pathlib

import modal

app = modal.App("volumes-test")
vol = modal.Volume.from_name("shared-vol", create_if_missing=True)


def _write(path: str, text: str) -> None:
    p = pathlib.Path("/data") / path
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)


@app.function(volumes={"/data": vol})
def read_text(path: str) -> str | None:
    p = pathlib.Path("/data") / path
    return p.read_text() if p.exists() else None


@app.function(volumes={"/data": vol})
def write_and_commit(path: str, text: str) -> list[str]:
    _write(path, text)
    vol.commit()
    return sorted(os.listdir("/data"))


@app.function(volumes={"/data": vol})
def writer_one(path: str | None, text: str = "") -> None:
    if path:
        _write(path, text)
        vol.commit()


@app.function(volumes={"/data": vol})
def writer_two(path: str | None, text: str = "") -> None:
    if path:
        _write(path, text)
        vol.commit()


@app.function(volumes={"/data": vol})
def reload_and_read(path: str, reload: bool) -> str | None:
    if reload:
        vol.reload()
    p = pathlib.Path("/data") / path
    return p.read_text() if p.exists() else None


@app.function(volumes={"/data": vol}, single_use_containers=True)
def write_and_exit(path: str, text: str) -> str:
    _write(path, text)  # no commit: the worker commits when the container exits cleanly
    return "written"


@app.function(volumes={"/data": vol}, single_use_containers=True)
def write_and_crash(path: str, text: str) -> None:
    _write(path, text)
    os._exit(3)


@app.function(volumes={"/data": vol.read_only()})
def write_read_only() -> tuple[int | None, str]:
    try:
        pathlib.Path("/data/nope.txt").write_text("x")
        code = None
    except OSError as exc:
        code = exc.errno
    try:
        vol.commit()
        message = ""
    except Exception as exc:  # noqa: BLE001
        message = f"{type(exc).__name__}: {exc}"
    return code, message


@app.function()
def commit_unmounted() -> str:
    try:
        vol.commit()
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}"
    return "committed"


@app.function(volumes={"/data": vol})
def big_file_digest(path: str) -> tuple[int, str]:
    import hashlib

    h = hashlib.sha256()
    with open(pathlib.Path("/data") / path, "rb") as f:
        while data := f.read(1 << 20):
            h.update(data)
    return os.path.getsize(pathlib.Path("/data") / path), h.hexdigest()


@app.function()
def echo(data: bytes) -> bytes:
    return data[::-1]


EROFS = errno.EROFS


@app.cls(volumes={"/weights": vol})
class Model:
    @modal.enter()
    def load(self):
        self.weights = (pathlib.Path("/weights") / "model.txt").read_text()

    @modal.method()
    def predict(self, x: str) -> str:
        return f"{self.weights}:{x}"
