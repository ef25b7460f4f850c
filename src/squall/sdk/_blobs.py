"""Moving blobs between this process and the control plane's blob store: volume file pieces,
and call arguments and results too large to travel inline.

A payload over LARGE_PAYLOAD bytes is uploaded and replaced in its message (Input.args,
Result.data) by a reference: BLOB_REF_PREFIX + its sha256. Pickle data never starts with
that prefix (0xFF is no pickle opcode), so a reference cannot be mistaken for a value; the
control plane stores and forwards it like any other payload. The SDK and the container agent
resolve references when they read a message and make them when they write one.

The async helpers run on the SDK loop; the `*_sync` ones serve the container agent, whose
gRPC channel is synchronous.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterable

from squall._proto.squall.v1 import api_pb2, volume_pb2_grpc
from squall._proto.squall.v1 import volume_pb2 as vpb

LARGE_PAYLOAD = 2 * 1024 * 1024  # bytes: larger arguments and results travel as blob references
BLOB_REF_PREFIX = b"\xffsquall-blob:"
PART = 1024 * 1024  # bytes per streamed message


def is_ref(data: bytes) -> bool:
    return data[: len(BLOB_REF_PREFIX)] == BLOB_REF_PREFIX


def ref_of(digest: str) -> bytes:
    return BLOB_REF_PREFIX + digest.encode()


def digest_of_ref(data: bytes) -> str:
    return data[len(BLOB_REF_PREFIX):].decode()


def _parts(data: bytes, digest: str = "") -> Iterable[api_pb2.BlobChunk]:
    view = memoryview(data)
    for i in range(0, max(1, len(data)), PART):
        yield api_pb2.BlobChunk(digest=digest if i == 0 else "", data=bytes(view[i : i + PART]))


# -- async (the SDK) ---------------------------------------------------------------------------
def stub(client) -> volume_pb2_grpc.VolumeServiceStub:
    s = getattr(client, "_volume_stub", None)
    if s is None:
        s = client._volume_stub = volume_pb2_grpc.VolumeServiceStub(client.channel)
    return s


async def call(client, method: str, request, timeout: float | None = 60.0):
    """A unary VolumeService RPC with the client's auth, retries and error translation."""
    return await client._call(getattr(stub(client), method), request, timeout)


async def stream(client, method: str, request) -> AsyncIterator:
    import grpc

    from squall.client.client import translate

    try:
        async for msg in getattr(stub(client), method)(request, metadata=client.metadata):
            yield msg
    except grpc.aio.AioRpcError as exc:
        raise translate(exc, client.server_url) from None


async def missing(client, digests: list[str]) -> set[str]:
    out: set[str] = set()
    for i in range(0, len(digests), 5000):
        out.update((await call(client, "BlobMissing", vpb.BlobMissingRequest(digests=digests[i : i + 5000]))).missing)
    return out


async def upload(client, data: bytes, digest: str = "", check: bool = True) -> str:
    """Store `data` as a blob (unless the server already has it); returns its digest."""
    import grpc

    from squall.client.client import translate

    digest = digest or hashlib.sha256(data).hexdigest()
    if check and not await missing(client, [digest]):
        return digest

    async def parts():
        for p in _parts(data, digest):
            yield p

    try:
        ref = await stub(client).BlobUpload(parts(), metadata=client.metadata, timeout=600)
    except grpc.aio.AioRpcError as exc:
        raise translate(exc, client.server_url) from None
    return ref.digest


async def download(client, digest: str) -> bytes:
    buf = bytearray()
    async for chunk in stream(client, "BlobDownload", api_pb2.BlobRef(digest=digest)):
        buf += chunk.data
    return bytes(buf)


async def offload(client, data: bytes) -> bytes:
    """`data`, or a reference to it in the blob store when it is larger than LARGE_PAYLOAD."""
    if len(data) <= LARGE_PAYLOAD:
        return data
    return ref_of(await upload(client, data))


async def resolve(client, data: bytes) -> bytes:
    return await download(client, digest_of_ref(data)) if is_ref(data) else data


async def offload_inputs(client, inputs) -> list:
    for inp in inputs:
        if len(inp.args) > LARGE_PAYLOAD:
            inp.args = await offload(client, inp.args)
    return inputs


async def resolve_outputs(client, outputs) -> list:
    for out in outputs:
        if is_ref(out.result.data):
            out.result.data = await resolve(client, out.result.data)
    return outputs


# -- sync (the container agent) ----------------------------------------------------------------
def upload_sync(channel, metadata, data: bytes) -> str:
    s = volume_pb2_grpc.VolumeServiceStub(channel)
    digest = hashlib.sha256(data).hexdigest()
    if s.BlobMissing(vpb.BlobMissingRequest(digests=[digest]), metadata=metadata).missing:
        s.BlobUpload(_parts(data, digest), metadata=metadata, timeout=600)
    return digest


def offload_sync(channel, metadata, data: bytes) -> bytes:
    return ref_of(upload_sync(channel, metadata, data)) if len(data) > LARGE_PAYLOAD else data


def resolve_sync(channel, metadata, data: bytes) -> bytes:
    if not is_ref(data):
        return data
    s = volume_pb2_grpc.VolumeServiceStub(channel)
    buf = bytearray()
    for chunk in s.BlobDownload(api_pb2.BlobRef(digest=digest_of_ref(data)), metadata=metadata):
        buf += chunk.data
    return bytes(buf)
