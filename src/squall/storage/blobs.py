"""Content-addressed blob store. The local directory backend is the default; S3 comes later.

A blob's name is the sha256 of its content, so the same content is stored once.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import tempfile
from collections.abc import Iterator

CHUNK = 1024 * 1024


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class LocalBlobStore:
    def __init__(self, root: pathlib.Path):
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, digest: str) -> pathlib.Path:
        if len(digest) != 64 or not all(ch in "0123456789abcdef" for ch in digest):
            raise ValueError(f"not a sha256 digest: {digest!r}")
        return self.root / digest[:2] / digest

    def has(self, digest: str) -> bool:
        return self._path(digest).exists()

    def put_chunks(self, chunks: Iterator[bytes], expected_digest: str = "") -> str:
        """Write atomically; the digest is checked so a torn upload is never stored."""
        h = hashlib.sha256()
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in chunks:
                    h.update(chunk)
                    f.write(chunk)
            digest = h.hexdigest()
            if expected_digest and digest != expected_digest:
                raise ValueError(f"blob content does not match its digest {expected_digest}")
            dest = self._path(digest)
            dest.parent.mkdir(exist_ok=True)
            os.replace(tmp, dest)
            return digest
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def read_chunks(self, digest: str) -> Iterator[bytes]:
        with open(self._path(digest), "rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk
