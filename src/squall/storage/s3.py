"""The S3 blob backend: the same content-addressed interface as `LocalBlobStore`, over any
S3 API (AWS, MinIO, Ceph, ...) through boto3.

A blob lives at `<prefix>/<sha256[:2]>/<sha256>` in one bucket. An upload is spooled to a
local temporary file while its digest is computed (the key is the digest, known only at the
end), then sent with boto3's managed transfer, which uses multipart uploads for big blobs;
content that is already stored is not sent again. Reads stream the object in chunks.

Configured by a URL, `s3://bucket/prefix`; the endpoint and credentials come from the usual
environment variables (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_DEFAULT_REGION), so nothing here is specific to one S3 implementation.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator, Iterator

from squall.storage.blobs import CHUNK, check_digest

MULTIPART_THRESHOLD = 64 * 1024 * 1024
MULTIPART_CHUNK = 16 * 1024 * 1024


class S3BlobStore:
    """Blobs in `s3://bucket/prefix`."""

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None, spool_dir: str | None = None):
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        if not bucket:
            raise ValueError("an S3 blob store needs a bucket: s3://BUCKET/prefix")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.spool_dir = spool_dir
        endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None
        self.s3 = boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url, region_name=os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1",
            config=Config(retries={"max_attempts": 5, "mode": "standard"}, max_pool_connections=16),
        )
        self.transfer = TransferConfig(multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_CHUNK, use_threads=True)
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"

    def check(self) -> None:
        """Fail at start-up, with the URL in the message, when the bucket cannot be reached."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.s3.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise RuntimeError(f"cannot use blob store {self.url}: {exc}. Check the bucket exists and AWS_ENDPOINT_URL / credentials") from exc

    def _key(self, digest: str) -> str:
        check_digest(digest)
        return f"{self.prefix}/{digest[:2]}/{digest}" if self.prefix else f"{digest[:2]}/{digest}"

    def has(self, digest: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.s3.head_object(Bucket=self.bucket, Key=self._key(digest))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def size(self, digest: str) -> int:
        return int(self.s3.head_object(Bucket=self.bucket, Key=self._key(digest))["ContentLength"])

    def delete(self, digest: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=self._key(digest))

    def read_chunks(self, digest: str, chunk_size: int = CHUNK) -> Iterator[bytes]:
        body = self.s3.get_object(Bucket=self.bucket, Key=self._key(digest))["Body"]
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()

    def put_chunks(self, chunks: Iterator[bytes], expected_digest: str = "") -> str:
        with _Spool(self.spool_dir) as spool:
            for chunk in chunks:
                spool.write(chunk)
            return self._store(spool, expected_digest)

    async def put_async(self, chunks: AsyncIterator[bytes], expected_digest: str = "") -> str:
        with _Spool(self.spool_dir) as spool:
            async for chunk in chunks:
                spool.write(chunk)
            return await asyncio.to_thread(self._store, spool, expected_digest)

    def _store(self, spool: _Spool, expected_digest: str) -> str:
        spool.file.close()
        digest = spool.hash.hexdigest()
        if expected_digest and digest != expected_digest:
            raise ValueError(f"blob content does not match its digest {expected_digest}")
        if not self.has(digest):  # content-addressed: the same content is stored once
            self.s3.upload_file(spool.path, self.bucket, self._key(digest), Config=self.transfer)
        return digest


class _Spool:
    def __init__(self, spool_dir: str | None) -> None:
        self.hash = hashlib.sha256()
        fd, self.path = tempfile.mkstemp(prefix="squall-s3-upload-", dir=spool_dir)
        self.file = os.fdopen(fd, "wb")

    def __enter__(self) -> _Spool:
        return self

    def __exit__(self, *exc) -> None:
        self.file.close()
        if os.path.exists(self.path):
            os.unlink(self.path)

    def write(self, chunk: bytes) -> None:
        self.hash.update(chunk)
        self.file.write(chunk)
