"""The VolumeService: Volumes (names, versions, manifests, commits) and the blob methods that
carry their contents and large call arguments and results.

Who may call what (server/auth.py): clients and workers hold the server's token and may call
everything; containers hold their own token and may only read (manifests, files, blobs) and
upload blobs. A container's commits go through its worker (worker/volumes.py), which commits
only the volumes mounted into that container.
"""

from __future__ import annotations

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
    def __init__(self, store: Store, blobs):
        self.volumes = Volumes(store)
        self.blobs = blobs

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
        missing = sorted({c for e in puts for c in e.chunks if not self.blobs.has(c)})
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
            for data in self.blobs.read_chunks(digest, DOWNLOAD_MESSAGE):
                yield api_pb2.BlobChunk(digest=digest, data=data)

    # -- blobs ---------------------------------------------------------------------------------
    async def BlobMissing(self, request, context):
        return vpb.BlobMissingResponse(missing=[d for d in dict.fromkeys(request.digests) if not self.blobs.has(d)])

    async def BlobUpload(self, request_iterator, context):
        return await receive_blob(self.blobs, request_iterator, context)

    async def BlobDownload(self, request, context):
        try:
            exists = self.blobs.has(request.digest)
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        if not exists:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no blob {request.digest}")
        for data in self.blobs.read_chunks(request.digest, DOWNLOAD_MESSAGE):
            yield api_pb2.BlobChunk(data=data)
