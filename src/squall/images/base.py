"""Base images: the `debian_slim` root filesystem, built once per machine with mmdebstrap.

Also owns `build_once`, the atomic, locked "build into a temp dir, rename when complete"
helper that every cached image artifact (base rootfs, agent layer) goes through: a
half-built result is never cached, and concurrent callers wait for one build.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from squall.exception import ImageBuildError  # noqa: F401 - raised here and by the other image modules

DEBIAN_SUITE = "bookworm"
DEBIAN_SLIM_PACKAGES = ("python3", "python3-pip", "ca-certificates")
# Mount points the worker binds into every container (the agent layer, code, sockets).
ROOTFS_DIRS = ("opt/squall", "opt/squall/agent")

# The Debian apt sources a debian_slim build may use, taken from the host's own entries.
_HOST_SUITES = {DEBIAN_SUITE, f"{DEBIAN_SUITE}-updates", f"{DEBIAN_SUITE}-security"}




def recipe_hash(recipe: object) -> str:
    """A short, stable hash of a JSON-able recipe; part of the cached artifact's name."""
    blob = json.dumps(recipe, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@contextlib.contextmanager
def _file_lock(path: Path, log: Callable[[str], None]) -> Iterator[None]:
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another process building {path.name.removesuffix('.lock')}")
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def build_once(final: Path, build: Callable[[Path], None], log: Callable[[str], None] = print) -> Path:
    """Return `final`, building it first with `build(tmp_dir)` if it does not exist yet.

    `build` fills an empty temporary directory next to `final`; only when it returns is
    the directory renamed to `final` (atomic on one filesystem). A failed or interrupted
    build leaves nothing behind under the final name. A file lock serialises builders
    across processes; whoever waited finds the finished result and returns it.
    """
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(final.parent / f".{final.name}.lock", log):
        if final.is_dir():
            return final
        # Leftovers of a builder that crashed; safe to remove while we hold the lock.
        for stale in final.parent.glob(f".{final.name}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
        try:
            tmp.chmod(0o755)  # mkdtemp makes it 0700; the result is read by other users
            build(tmp)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return final


async def build_once_async(final: Path, build: Callable[[Path], Awaitable[None]], log: Callable[[str], None] = print, force: bool = False) -> Path:
    """`build_once` for async builders, with `force` to replace a finished result.

    A forced rebuild builds next to the old result and swaps it in only when it is
    complete; containers still running on the old one keep it until they end (its
    directory is renamed away, not deleted, and removed on the next build of that name).
    """
    if final.is_dir() and not force:
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    lock_path = final.parent / f".{final.name}.lock"
    with open(lock_path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another build of {final.name}")
            await asyncio.to_thread(fcntl.flock, f, fcntl.LOCK_EX)
        try:
            if final.is_dir() and not force:
                return final
            for stale in final.parent.glob(f".{final.name}.tmp-*"):
                await asyncio.to_thread(shutil.rmtree, stale, True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
            try:
                tmp.chmod(0o755)
                await build(tmp)
                if final.is_dir():  # forced: move the old one out of the way
                    os.rename(final, tmp.with_name(f".{final.name}.tmp-old{os.getpid()}"))
                os.rename(tmp, final)
            except BaseException:
                await asyncio.to_thread(shutil.rmtree, tmp, True)
                raise
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
    return final


def run_logged(argv: list[str], log: Callable[[str], None], **kwargs: object) -> None:
    """Run argv, streaming its combined output to `log` line by line; raise on failure."""
    with subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        **kwargs,  # type: ignore[call-overload]
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            log(line.rstrip("\n"))
    if proc.returncode != 0:
        raise ImageBuildError(f"{argv[0]} failed with exit code {proc.returncode}: {' '.join(argv)}")


def _deb822_stanzas(text: str) -> Iterator[dict[str, str]]:
    fields: dict[str, str] = {}
    key = None
    for line in text.splitlines() + [""]:
        if line.startswith("#"):
            continue
        if not line.strip():
            if fields:
                yield fields
            fields, key = {}, None
        elif line[0] in " \t" and key is not None:
            fields[key] += " " + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()


def host_debian_sources(etc_apt: Path = Path("/etc/apt")) -> list[str]:
    """The host's Debian apt entries for our suite, as one-line `deb ...` sources lines.

    Reads /etc/apt/sources.list.d/*.sources (deb822) and *.list plus /etc/apt/sources.list,
    keeping only the bookworm, -updates and -security suites, so the image is built from
    the same mirror (or proxy) the machine already uses. Empty when none are found.
    """
    lines: list[str] = []
    parts = etc_apt / "sources.list.d"
    for path in sorted(parts.glob("*.sources")) if parts.is_dir() else []:
        for st in _deb822_stanzas(path.read_text(errors="replace")):
            if "deb" not in st.get("types", "").split() or st.get("enabled", "yes") == "no":
                continue
            suites = [s for s in st.get("suites", "").split() if s in _HOST_SUITES]
            signed = st.get("signed-by", "")
            opts = f"[signed-by={signed}] " if signed and "\n" not in signed else ""
            components = st.get("components", "main")
            for uri in st.get("uris", "").split():
                for suite in suites:
                    lines.append(f"deb {opts}{uri} {suite} {components}")
    list_files = [etc_apt / "sources.list"]
    list_files += sorted(parts.glob("*.list")) if parts.is_dir() else []
    for path in list_files:
        if not path.is_file():
            continue
        for raw in path.read_text(errors="replace").splitlines():
            words = raw.split("#", 1)[0].split()
            if not words or words[0] != "deb":
                continue
            rest = words[1:]
            if rest and rest[0].startswith("["):
                while rest and not rest[0].endswith("]"):
                    rest = rest[1:]
                rest = rest[1:]
            if len(rest) >= 2 and rest[1] in _HOST_SUITES:
                lines.append(" ".join(words))
    return lines


DEBIAN_SLIM_RECIPE = {
    "tool": "mmdebstrap",
    "variant": "minbase",
    "suite": DEBIAN_SUITE,
    "include": list(DEBIAN_SLIM_PACKAGES),
    "dirs": list(ROOTFS_DIRS),
    "revision": 2,  # bump to force a rebuild when the build procedure changes
}


def debian_slim_path(home: Path) -> Path:
    """Where the debian_slim rootfs lives under `home` (whether built or not)."""
    return home / "images" / f"debian_slim-{recipe_hash(DEBIAN_SLIM_RECIPE)}" / "rootfs"


def ensure_debian_slim(home: Path, log: Callable[[str], None] = print) -> Path:
    """Return the debian_slim root filesystem under `home`, building it once if needed.

    The build runs `mmdebstrap --variant=minbase --include=python3,ca-certificates bookworm`
    as root with the host's own Debian apt sources (~20-30 s, ~200 MB); later calls return
    at once. The result must never be written to: containers mount it read-only as the
    lower layer of an overlay.
    """
    rootfs = debian_slim_path(home)
    if rootfs.is_dir():
        return rootfs
    if shutil.which("mmdebstrap") is None:
        raise ImageBuildError("mmdebstrap not found: run `make install` (scripts/install-system-deps.sh) or `apt-get install mmdebstrap`")

    def build(tmp: Path) -> None:
        target = tmp / "rootfs"
        argv = [
            "mmdebstrap",
            f"--variant={DEBIAN_SLIM_RECIPE['variant']}",
            f"--include={','.join(DEBIAN_SLIM_PACKAGES)}",
            DEBIAN_SUITE,
            str(target),
        ]
        sources = host_debian_sources()
        if sources:
            # mmdebstrap pastes an existing file given as MIRROR into the chroot's apt
            # sources; with no MIRROR at all it would fall back to deb.debian.org.
            sources_file = tmp / "debian.list"
            sources_file.write_text("\n".join(sources) + "\n")
            argv.append(str(sources_file))
        log(f"building debian_slim: {' '.join(argv)}")
        run_logged(argv, log)
        if sources:
            sources_file.unlink()
        for d in ROOTFS_DIRS:
            (target / d).mkdir(parents=True, exist_ok=True)
        hosts = target / "etc" / "hosts"
        if not hosts.exists():  # minbase ships none; `localhost` must resolve offline
            hosts.write_text("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")

    build_once(rootfs.parent, build, log)
    return rootfs
