"""What a Volume version is, shared by the SDK, the control plane and the worker.

A version is a manifest: every path in the volume (relative, '/'-separated, normalised) with
its kind (file, directory, symlink), permission bits, size and, for a file, the sha256
digests of its content in CHUNK_SIZE pieces. The pieces are blobs, so a 1 GiB file streams
in 4 MiB pieces, and a file (or a piece) that several versions or volumes share is stored
once. Directories are listed explicitly, so empty ones survive.

A commit is a set of puts and removes applied to the *latest* version, whatever version the
committer started from: the last commit wins per path, and commits to different paths
merge. (Two containers that write the same file: the later commit's content is the file's.)
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator

from squall._proto.squall.v1 import volume_pb2 as vpb
from squall.exception import InvalidError

CHUNK_SIZE = 4 * 1024 * 1024
MAX_PATH_LEN = 4096
MAX_FILES = 1_000_000
FILE, DIRECTORY, SYMLINK = vpb.FILE, vpb.DIRECTORY, vpb.SYMLINK

Manifest = dict[str, vpb.VolumeEntry]


def normalise(path: str) -> str:
    """'/a/./b/' -> 'a/b'; '' or '/' -> '' (the root). '..' that climbs out is refused."""
    if not isinstance(path, str):
        raise InvalidError(f"a volume path must be a string, got {path!r}")
    if len(path) > MAX_PATH_LEN:
        raise InvalidError(f"volume path {path[:40]!r}... is {len(path)} characters; the limit is {MAX_PATH_LEN}")
    if "\x00" in path:
        raise InvalidError(f"volume path {path!r} contains a NUL character")
    parts: list[str] = []
    for part in path.replace("\\", "/").split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise InvalidError(f"volume path {path!r} climbs out of the volume with '..'")
            parts.pop()
            continue
        parts.append(part)
    return "/".join(parts)


def parents(path: str) -> Iterator[str]:
    """'a/b/c' -> 'a', 'a/b'."""
    parts = path.split("/")
    for i in range(1, len(parts)):
        yield "/".join(parts[:i])


def under(path: str, root: str) -> bool:
    return root == "" or path == root or path.startswith(root + "/")


def apply(manifest: Manifest, puts: Iterable[vpb.VolumeEntry], removes: Iterable[str]) -> Manifest:
    """The manifest after a commit: removes first (a path and everything under it), then puts
    (a put replaces what was at its path, and a file put over a directory replaces the
    directory); the parents of every put exist as directories afterwards."""
    new = dict(manifest)
    for r in removes:
        if r == "":
            new.clear()
            continue
        for p in [p for p in new if under(p, r)]:
            del new[p]
    for e in puts:
        old = new.get(e.path)
        if old is not None and old.kind == DIRECTORY and e.kind != DIRECTORY:
            for p in [p for p in new if under(p, e.path)]:
                del new[p]
        for parent in parents(e.path):
            have = new.get(parent)
            if have is None or have.kind != DIRECTORY:
                if have is not None:  # a file where a directory must be: the put wins
                    del new[parent]
                new[parent] = vpb.VolumeEntry(path=parent, kind=DIRECTORY, mode=0o755, mtime=e.mtime)
        new[e.path] = e
    return new


def to_bytes(entries: Iterable[vpb.VolumeEntry]) -> bytes:
    """The stored form of a manifest: a VolumeManifest proto, zlib-compressed."""
    import zlib

    return zlib.compress(vpb.VolumeManifest(entries=sorted(entries, key=lambda e: e.path)).SerializeToString(), 1)


def from_bytes(data: bytes) -> Manifest:
    import zlib

    if not data:
        return {}
    m = vpb.VolumeManifest.FromString(zlib.decompress(data))
    return {e.path: e for e in m.entries}


def listdir(manifest: Manifest, path: str, recursive: bool) -> list[vpb.VolumeEntry]:
    """The entries under `path` (a directory): its children, or everything below with recursive.
    `path` naming a file gives that file."""
    path = normalise(path)
    e = manifest.get(path)
    if e is not None and e.kind != DIRECTORY:
        return [e]
    if path and e is None:
        raise FileNotFoundError(path)
    depth = 0 if path == "" else path.count("/") + 1
    return sorted(
        (x for p, x in manifest.items() if p != path and under(p, path) and (recursive or p.count("/") == depth)),
        key=lambda x: x.path,
    )


def file_chunks(f, size_hint: int = 0) -> Iterator[tuple[str, bytes]]:
    """(sha256, data) of each CHUNK_SIZE piece of an open binary file."""
    while data := f.read(CHUNK_SIZE):
        yield hashlib.sha256(data).hexdigest(), data


def stat_entry(path: str, st: os.stat_result, kind: int, chunks: list[str] = (), link_target: str = "") -> vpb.VolumeEntry:
    import stat as stat_mod

    return vpb.VolumeEntry(path=path, kind=kind, mode=stat_mod.S_IMODE(st.st_mode), size=st.st_size if kind == FILE else 0,
                           chunks=list(chunks), mtime=st.st_mtime, link_target=link_target)
