"""What a sandbox sees of squall: a read-only directory mounted at /opt/squall/sandbox.

It holds the supervisor (squall/sandbox/supervisor.py and processes.py, compiled for the Python the
images usually have) and `squall-spawn`, the static C program the supervisor starts processes with
(squall/sandbox/spawn.c: under gVisor a start costs a dozen system calls instead of ~80). The worker
makes it once, under the cache, named by the hash of its sources, so a sandbox restored from a
memory snapshot finds the same files at the same path. Without a C compiler (or a static C library)
there is no `squall-spawn`, and the supervisor starts processes itself: slower under gVisor, the
same otherwise; the worker says so once.
"""

from __future__ import annotations

import compileall
import contextlib
import hashlib
import logging
import os
import pathlib
import shutil
import subprocess
import tempfile

import squall.sandbox

log = logging.getLogger("squall.worker")

SOURCES = pathlib.Path(squall.sandbox.__file__).parent
MODULES = ("supervisor.py", "processes.py")  # imported in the sandbox as top-level modules
SPAWN_HELPER = "squall-spawn"
COMPILERS = ("cc", "gcc", "clang")


def prepare(cache: pathlib.Path) -> pathlib.Path:
    """The directory for sandboxes under `cache`, made if missing (a few hundred ms: the compile)."""
    sources = {name: (SOURCES / name).read_bytes() for name in (*MODULES, "spawn.c")}
    digest = hashlib.sha256(b"\0".join(sources.values())).hexdigest()[:16]
    final = cache / "sandbox-supervisor" / digest
    if (final / "supervisor.py").exists():
        if (final / SPAWN_HELPER).exists() or _compiler() is None:
            return final
        shutil.rmtree(final, ignore_errors=True)  # made without a compiler, and there is one now
    final.parent.mkdir(parents=True, exist_ok=True)
    work = pathlib.Path(tempfile.mkdtemp(prefix=f".{digest}-", dir=final.parent))
    try:
        for name in MODULES:
            (work / name).write_bytes(sources[name])
            with contextlib.suppress(OSError):
                compileall.compile_file(str(work / name), quiet=2)
        build_spawn_helper(SOURCES / "spawn.c", work / SPAWN_HELPER)
        work.chmod(0o755)
        with contextlib.suppress(OSError):  # another worker sharing the cache made it first
            work.rename(final)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return final


def _compiler() -> str | None:
    return next((c for c in COMPILERS if shutil.which(c)), None)


def build_spawn_helper(source: pathlib.Path, target: pathlib.Path) -> bool:
    """Compile spawn.c into a static `target`; False (and a warning) where it cannot be."""
    compiler = _compiler()
    why = "no C compiler (cc, gcc or clang) on PATH"
    if compiler is not None:
        cmd = [compiler, "-O2", "-static", "-s", "-o", str(target), str(source)]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            why = f"`{' '.join(cmd)}` failed: {exc}"
        else:
            if done.returncode == 0:
                os.chmod(target, 0o755)
                return True
            why = f"`{' '.join(cmd)}` failed: {done.stderr.strip()[-400:]}"
    log.warning(
        "sandboxes start processes without %s (%s): each exec in a gVisor sandbox takes 1-2 ms longer. "
        "Install gcc and libc6-dev (Debian) to build it.", SPAWN_HELPER, why,
    )
    return False
