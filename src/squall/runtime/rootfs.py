"""A container's root filesystem: an overlay over read-only image layers.

The image directories are the overlay's lower layers and are never written to; each
container gets its own upper and work directories inside its bundle, so throwing the
bundle away throws away everything the container wrote. Mounting goes straight through
the mount(2) syscall: no `mount` subprocess on the start path.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
from collections.abc import Sequence
from pathlib import Path

MNT_DETACH = 2


@functools.cache
def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
    return libc


def _check_path(p: Path) -> str:
    s = str(p)
    # overlayfs option syntax: ',' separates options and ':' separates lower layers
    if any(c in s for c in ",:\n"):
        raise ValueError(f"overlay layer path may not contain ',' ':' or newline: {s!r}")
    return s


def overlay_options(lower: Sequence[Path], upper: Path, work: Path, volatile: bool = True) -> str:
    """mount(2) data for an overlay; `lower` is ordered top-most layer first."""
    if not lower:
        raise ValueError("an overlay needs at least one lower layer")
    lowerdir = ":".join(_check_path(p) for p in lower)
    # volatile: skip syncs to the upper layer; it is thrown away with the container anyway.
    options = f"lowerdir={lowerdir},upperdir={_check_path(upper)},workdir={_check_path(work)}"
    return options + ",volatile" if volatile else options


def mount_overlay(lower: Path | Sequence[Path], bundle: Path, upper: Path | None = None) -> Path:
    """Mount `lower` (read-only) plus an upper dir at bundle/rootfs and return that path.

    `bundle` must exist; rootfs is created in it, and so are the upper and work dirs unless
    `upper` names one (which must exist); then the work dir is `<upper>.work` beside it.
    """
    layers = [lower] if isinstance(lower, Path) else list(lower)
    merged = bundle / "rootfs"
    keep = upper is not None
    if upper is None:
        upper, work = bundle / "upper", bundle / "work"
        upper.mkdir()
        work.mkdir()
    else:  # overlayfs needs the work dir on the upper dir's filesystem
        work = upper.with_name(upper.name + ".work")
        work.mkdir(exist_ok=True)
    merged.mkdir()
    data = overlay_options(layers, upper, work, volatile=not keep)  # a kept upper must reach the disk
    if _libc().mount(b"overlay", bytes(merged), b"overlay", 0, data.encode()) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mounting overlay at {merged} ({data}): {os.strerror(err)}")
    return merged


def unmount(path: Path) -> None:
    """Unmount `path`; lazily if it is still busy. Not mounted is fine."""
    target = bytes(path)
    if _libc().umount2(target, 0) == 0:
        return
    err = ctypes.get_errno()
    if err == 16:  # EBUSY: something still holds it; detach now, the kernel frees it later
        if _libc().umount2(target, MNT_DETACH) == 0:
            return
        err = ctypes.get_errno()
    if err in (22, 2):  # EINVAL: not a mount point; ENOENT: gone
        return
    raise OSError(err, f"unmounting {path}: {os.strerror(err)}")


def mounts_under(directory: Path) -> list[Path]:
    """Mount points at or below `directory`, deepest first (for orphan cleanup)."""
    prefix = str(directory).rstrip("/") + "/"
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4]
            if "\\" in point:
                point = point.encode().decode("unicode_escape")
            if point.startswith(prefix) or point == prefix.rstrip("/"):
                found.append(Path(point))
    return sorted(found, key=lambda p: len(p.parts), reverse=True)
