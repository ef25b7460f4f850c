"""Content-addressed blob store: one interface (has, put_chunks, put_async, read_chunks, size,
delete), two backends. The local directory is the default; `storage/s3.py` keeps blobs in any
S3 API. `open_blob_store(url)` picks one from the server's --blob-url / SQUALL_BLOB_URL.

A blob's name is the sha256 of its content, so the same content is stored once.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import tempfile
from collections.abc import AsyncIterator, Iterator

CHUNK = 1024 * 1024


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_digest(digest: str) -> str:
    if len(digest) != 64 or not all(ch in "0123456789abcdef" for ch in digest):
        raise ValueError(f"not a sha256 digest: {digest!r}")
    return digest


def open_blob_store(url: str | None, default_root: pathlib.Path):
    """The blob store for a URL: `s3://bucket/prefix` (endpoint and credentials from the AWS_*
    environment variables), `file:///path` or a plain path; None or "": `default_root`."""
    if not url:
        return LocalBlobStore(default_root)
    if url.startswith("s3://"):
        from squall.storage.s3 import S3BlobStore

        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        store = S3BlobStore(bucket, prefix)
        store.check()
        return store
    if url.startswith("file://"):
        return LocalBlobStore(pathlib.Path(url.removeprefix("file://")))
    if "://" in url:
        raise ValueError(f"blob store URL {url!r}: use s3://bucket/prefix, file:///path or a directory path")
    return LocalBlobStore(pathlib.Path(url))


class LocalBlobStore:
    def __init__(self, root: pathlib.Path):
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, digest: str) -> pathlib.Path:
        return self.root / check_digest(digest)[:2] / digest

    def has(self, digest: str) -> bool:
        return self._path(digest).exists()

    def put_chunks(self, chunks: Iterator[bytes], expected_digest: str = "") -> str:
        """Write atomically; the digest is checked so a torn upload is never stored."""
        with _Upload(self) as upload:
            for chunk in chunks:
                upload.write(chunk)
            return upload.commit(expected_digest)

    async def put_async(self, chunks: AsyncIterator[bytes], expected_digest: str = "") -> str:
        """`put_chunks` for a stream that arrives over time (an upload): written as it comes,
        never held whole in memory."""
        with _Upload(self) as upload:
            async for chunk in chunks:
                upload.write(chunk)
            return upload.commit(expected_digest)

    def size(self, digest: str) -> int:
        return self._path(digest).stat().st_size

    def delete(self, digest: str) -> None:
        try:
            self._path(digest).unlink()
        except FileNotFoundError:
            pass

    def read_chunks(self, digest: str, chunk_size: int = CHUNK) -> Iterator[bytes]:
        with open(self._path(digest), "rb") as f:
            while chunk := f.read(chunk_size):
                yield chunk


class _Upload:
    """A blob being written: a temp file that becomes the blob only on commit()."""

    def __init__(self, store: LocalBlobStore) -> None:
        self.store = store
        self.hash = hashlib.sha256()
        fd, self.tmp = tempfile.mkstemp(dir=store.root, prefix=".upload-")
        self.file = os.fdopen(fd, "wb")

    def __enter__(self) -> _Upload:
        return self

    def __exit__(self, *exc) -> None:
        self.file.close()
        if os.path.exists(self.tmp):
            os.unlink(self.tmp)

    def write(self, chunk: bytes) -> None:
        self.hash.update(chunk)
        self.file.write(chunk)

    def commit(self, expected_digest: str = "") -> str:
        self.file.close()
        digest = self.hash.hexdigest()
        if expected_digest and digest != expected_digest:
            raise ValueError(f"blob content does not match its digest {expected_digest}")
        dest = self.store._path(digest)
        dest.parent.mkdir(exist_ok=True)
        os.replace(self.tmp, dest)
        return digest
