"""The VolumeService: Volumes (names, versions, manifests, commits) and the blob methods that
carry their contents and large call arguments and results.

Who may call what (server/auth.py): clients and workers hold the server's token and may call
everything; containers hold their own token and may read (manifests, files, blobs), upload
blobs, and commit client-style edits (batch_upload, remove_file, ...) only to volumes mounted
read-write into them. A container's `vol.commit()` of its copy goes through its worker
(worker/volumes.py), which likewise commits only the volumes mounted into that container.
"""

from __future__ import annotations

import asyncio

import grpc
import sqlalchemy as sa

from squall import _limits as lim
from squall._proto.squall.v1 import api_pb2
from squall._proto.squall.v1 import volume_pb2 as vpb
from squall._proto.squall.v1 import volume_pb2_grpc
from squall.exception import InvalidError
from squall.server.api.sdk import receive_blob
from squall.server.state.store import Store
from squall.server.volumes import VolumeConflict, Volumes
from squall.storage import volume_manifest as vm

DOWNLOAD_MESSAGE = 4 * 1024 * 1024  # bytes of a blob per streamed message: a volume file's piece in one
_CONFLICT_CODES = {"exists": grpc.StatusCode.ALREADY_EXISTS, "missing": grpc.StatusCode.NOT_FOUND,
                   "limit": grpc.StatusCode.RESOURCE_EXHAUSTED, "busy": grpc.StatusCode.ABORTED}


class VolumeServicer(volume_pb2_grpc.VolumeServiceServicer):
    def __init__(self, store: Store, blobs, cp=None, server_token: str = ""):
        self.volumes = Volumes(store)
        self.blobs = blobs
        self.cp = cp
        self._server_auth = f"Bearer {server_token}"

    async def _may_write(self, volume_id: str, context) -> None:
        """A container (not the server's token) may write only to volumes mounted read-write in it."""
        import hmac

        from squall.server.auth import CONTAINER_TOKEN_HEADER

        md = dict(context.invocation_metadata())
        if self.cp is None or hmac.compare_digest(md.get("authorization", ""), self._server_auth):
            return
        c = self.cp.container_for_token(md.get(CONTAINER_TOKEN_HEADER, ""))
        fn = self.cp.functions.get(c.function_id) if c is not None else None
        mounts = list(fn.definition.volumes) if fn is not None else []
        if any(m.volume_id == volume_id and not m.read_only and not m.bucket_name for m in mounts):
            return
        mounted = ", ".join(f"{m.name or m.volume_id} at {m.path}{' (read-only)' if m.read_only else ''}" for m in mounts) or "none"
        await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                            f"volume {volume_id} is not mounted read-write in this container (mounted: {mounted}); add it to the function's volumes={{...}}")

    async def _volume(self, volume_id: str, context) -> sa.Row:
        row = self.volumes.find(volume_id)
        if row is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"volume {volume_id!r} does not exist (it was deleted, or it was ephemeral and its owner exited)")
        return row

    async def VolumeGetOrCreate(self, request, context):
        if request.ephemeral:
            return vpb.VolumeGetOrCreateResponse(volume_id=self.volumes.create(None, True))
        try:
            lim.check_name("volume", request.name)
        except InvalidError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        row = self.volumes.find(request.name)
        if row is None:
            if not request.create_if_missing:
                await context.abort(grpc.StatusCode.NOT_FOUND, f"no volume named {request.name!r}: pass create_if_missing=True to Volume.from_name, "
                                                               f"or run `squall volume create {request.name}`")
            try:
                return vpb.VolumeGetOrCreateResponse(volume_id=self.volumes.create(request.name, False))
            except sa.exc.IntegrityError:  # created meanwhile by another server on the same database
                row = self.volumes.find(request.name)
        info = self.volumes.version_info(row.id)
        return vpb.VolumeGetOrCreateResponse(volume_id=row.id, version=info.version if info else 0)

    async def VolumeDelete(self, request, context):
        row = self.volumes.find(request.name)
        if row is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no volume named {request.name!r}; `squall volume list` shows them")
        self.volumes.delete(row.id)  # the blobs stay: other versions and volumes may share them
        return vpb.VolumeEmpty()

    async def VolumeList(self, request, context):
        out = []
        for r in self.volumes.list():
            info = self.volumes.version_info(r.id)
            out.append(vpb.VolumeInfo(volume_id=r.id, name=r.name, created_at=r.created_at, version=info.version if info else 0,
                                      num_files=info.num_files if info else 0, size_bytes=info.size_bytes if info else 0,
                                      committed_at=info.created_at if info else 0.0))
        return vpb.VolumeListResponse(volumes=out)

    async def VolumeGetManifest(self, request, context):
        await self._volume(request.volume_id, context)
        try:
            version, manifest = self.volumes.manifest(request.volume_id, request.version)
        except KeyError:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"volume {request.volume_id} has no version {request.version}")
        return vpb.VolumeManifest(volume_id=request.volume_id, version=version, entries=sorted(manifest.values(), key=lambda e: e.path))

    async def VolumeCommit(self, request, context):
        await self._volume(request.volume_id, context)
        await self._may_write(request.volume_id, context)
        puts = []
        try:
            for e in request.puts:
                path = vm.normalise(e.path)
                if not path or path != e.path:
                    raise InvalidError(f"volume path {e.path!r} is not normalised (expected {path!r}, and not the root)")
                if e.kind not in (vm.FILE, vm.DIRECTORY, vm.SYMLINK):
                    raise InvalidError(f"{e.path}: unknown entry kind {e.kind}")
                puts.append(e)
            removes = [vm.normalise(r) for r in request.removes]
        except InvalidError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        digests = {c for e in puts for c in e.chunks}
        missing = sorted(await asyncio.to_thread(lambda: [c for c in digests if not self.blobs.has(c)]))
        if missing:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"{len(missing)} chunks of this commit were not uploaded (first: {missing[0]})")
        try:
            version = self.volumes.commit(request.volume_id, puts, removes, request.no_overwrite, request.require_removes_exist)
        except VolumeConflict as exc:
            await context.abort(_CONFLICT_CODES[exc.code], str(exc))
        return vpb.VolumeCommitResponse(version=version)

    async def VolumeGetFile(self, request, context):
        await self._volume(request.volume_id, context)
        try:
            path = vm.normalise(request.path)
            version, manifest = self.volumes.manifest(request.volume_id, request.version)
        except (InvalidError, KeyError) as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        e = manifest.get(path)
        if e is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"{request.path}: no such file in the volume (version {version})")
        if e.kind != vm.FILE:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{request.path} is a {'directory' if e.kind == vm.DIRECTORY else 'symlink'}, not a file")
        for digest in e.chunks:
            async for data in self._read(digest):
                yield api_pb2.BlobChunk(digest=digest, data=data)

    # -- blobs ---------------------------------------------------------------------------------
    async def BlobMissing(self, request, context):
        digests = list(dict.fromkeys(request.digests))
        try:
            missing = await asyncio.to_thread(lambda: [d for d in digests if not self.blobs.has(d)])
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        return vpb.BlobMissingResponse(missing=missing)

    async def BlobUpload(self, request_iterator, context):
        return await receive_blob(self.blobs, request_iterator, context)

    async def BlobDownload(self, request, context):
        try:
            exists = await asyncio.to_thread(self.blobs.has, request.digest)
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        if not exists:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no blob {request.digest}")
        async for data in self._read(request.digest):
            yield api_pb2.BlobChunk(data=data)

    async def _read(self, digest: str):
        """A blob's pieces, each read off the event loop (an S3 read is network I/O)."""
        chunks = self.blobs.read_chunks(digest, DOWNLOAD_MESSAGE)
        try:
            while (data := await asyncio.to_thread(next, chunks, None)) is not None:
                yield data
        finally:
            chunks.close()
