"""`Volume`: a versioned, persistent file tree shared by clients and containers.

    vol = squall.Volume.from_name("weights", create_if_missing=True)

    @app.function(volumes={"/data": vol})
    def train():
        open("/data/model.bin", "wb").write(...)
        vol.commit()            # publish now (it also happens when the container exits cleanly)

A container works on its own copy of the volume as of its start (or its last `reload()`).
`commit()` publishes the container's changes as the next version: the changes, not the
whole tree, so commits from several containers to different paths merge, and for the same
path **the last commit wins**. `reload()` brings the container's copy up to the latest
version: paths changed since the copy was made are replaced, and the container's own
uncommitted changes to other paths are kept. Inside a container both go to the worker that
holds the copy (worker/volumes.py), which only accepts volumes mounted into that container.

From a client, every operation reads or writes the latest version directly:
`batch_upload()`, `listdir()`, `read_file()`, `remove_file()`, `copy_files()`, `rename()`;
there `commit()` and `reload()` have nothing to do. Each write is one commit. Code in a
container may use them too: reads on any volume, writes only on volumes mounted read-write
into it (they change the volume, not the container's copy, until it reloads).
`vol.read_only()` is a handle whose mounts refuse writes (EROFS).

Limits: names as for Dicts (64 characters of `A-Z a-z 0-9 . _ -`); paths up to 4,096
characters; 1,000,000 entries per volume. File contents travel in 4 MiB pieces.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import pathlib
import posixpath
from collections.abc import AsyncIterator

from squall import _limits as lim
from squall import config
from squall._proto.squall.v1 import volume_pb2 as vpb
from squall.exception import InvalidError, NotFoundError
from squall.sdk import _blobs
from squall.sdk._sync import live_function, live_method, run_aio, run_sync
from squall.storage import volume_manifest as vm


class FileEntryType(enum.IntEnum):
    UNSPECIFIED = 0
    FILE = 1
    DIRECTORY = 2
    SYMLINK = 3


@dataclasses.dataclass(frozen=True)
class FileEntry:
    """One entry of `Volume.listdir()`."""

    path: str
    type: FileEntryType
    mtime: float
    size: int


def _entry(e: vpb.VolumeEntry) -> FileEntry:
    return FileEntry(path=e.path, type=FileEntryType(e.kind), mtime=e.mtime, size=e.size)


async def _client():
    from squall.client.client import get_client

    return await get_client()


class Volume:
    """A handle to a volume; nothing is sent until the first method that needs the server."""

    def __init__(self, name: str | None, create_if_missing: bool = False, object_id: str | None = None, read_only: bool = False):
        self._name = name
        self._create_if_missing = create_if_missing
        self._object_id = object_id
        self._read_only = read_only
        self._resolved_on: str | None = None  # the server a named handle's id came from

    @staticmethod
    def from_name(name: str, *, create_if_missing: bool = False, environment_name: str | None = None, version: int | None = None) -> Volume:
        return Volume(lim.check_name("volume", name), create_if_missing)

    def read_only(self) -> Volume:
        """The same volume, mounted read-only: writes in the container fail with EROFS."""
        ro = Volume(self._name, self._create_if_missing, self._object_id, read_only=True)
        ro._resolved_on = self._resolved_on
        return ro

    @property
    def name(self) -> str | None:
        return self._name

    @property
    def object_id(self) -> str | None:
        return self._object_id

    def __repr__(self) -> str:
        return f"Volume({self._name or self._object_id or 'ephemeral'!r}{', read_only=True' if self._read_only else ''})"

    def __getstate__(self):  # handles travel into containers as arguments or closures
        return {"_name": self._name, "_create_if_missing": self._create_if_missing, "_object_id": self._object_id, "_read_only": self._read_only}

    def __setstate__(self, state) -> None:
        self.__dict__.update(state)
        self._resolved_on = None  # in a container: the id came from the same server, by another address

    async def _id(self) -> str:
        """The volume's id; a named handle resolves its name again when used with another server."""
        client = await _client()
        if self._object_id is None or (self._name is not None and self._resolved_on not in (None, client.server_url)):
            request = vpb.VolumeGetOrCreateRequest(name=self._name, create_if_missing=self._create_if_missing)
            self._object_id = (await _blobs.call(client, "VolumeGetOrCreate", request)).volume_id
            self._resolved_on = client.server_url
        return self._object_id

    async def _manifest(self, version: int = 0) -> vpb.VolumeManifest:
        return await _blobs.call(await _client(), "VolumeGetManifest", vpb.VolumeGetManifestRequest(volume_id=await self._id(), version=version))

    async def _commit(self, puts=(), removes=(), no_overwrite: bool = False, require_removes_exist: bool = False) -> int:
        request = vpb.VolumeCommitRequest(volume_id=await self._id(), puts=list(puts), removes=list(removes), no_overwrite=no_overwrite,
                                          require_removes_exist=require_removes_exist)
        return (await _blobs.call(await _client(), "VolumeCommit", request, timeout=300)).version

    # -- in a container: through the worker that holds the mounted copy --------------------------
    async def _agent(self, method: str) -> int | None:
        target = os.environ.get(config.ENV_VOLUME_AGENT)
        if not target:
            if os.environ.get(config.ENV_CONTAINER_ID):
                from squall.exception import PermissionDeniedError

                raise PermissionDeniedError(f"volume {self._label()} is not mounted in this container (it mounts no volumes); "
                                            "add it to the function's volumes={...}")
            return None  # a client: its writes are committed as they happen
        import grpc

        from squall._proto.squall.v1 import volume_pb2_grpc
        from squall.client.client import translate

        async with grpc.aio.insecure_channel(target) as channel:
            stub = volume_pb2_grpc.VolumeAgentStub(channel)
            md = (("x-squall-container-token", os.environ.get(config.ENV_CONTAINER_TOKEN, "")),)
            try:
                resp = await getattr(stub, method)(vpb.VolumeAgentRequest(volume=self._object_id or self._name or ""), metadata=md, timeout=3600)
            except grpc.aio.AioRpcError as exc:
                raise translate(exc, target) from None
        return resp.version

    @live_method
    async def commit(self) -> None:
        """In a container: publish this container's changes to the volume as its next version."""
        await self._agent("Commit")

    @live_method
    async def reload(self) -> None:
        """In a container: bring the mounted copy up to the latest version."""
        await self._agent("Reload")

    # -- client-side file operations -----------------------------------------------------------
    @live_method
    async def listdir(self, path: str = "/", *, recursive: bool = False) -> list[FileEntry]:
        """The entries in directory `path` (everything below it with recursive=True)."""
        path = vm.normalise(path)
        m = await self._manifest()
        try:
            return [_entry(e) for e in vm.listdir({e.path: e for e in m.entries}, path, recursive)]
        except FileNotFoundError:
            raise NotFoundError(f"{path}: no such file or directory in volume {self._label()}") from None

    @live_method
    async def iterdir(self, path: str = "/", *, recursive: bool = True) -> AsyncIterator[FileEntry]:
        for e in await self.listdir.aio(path, recursive=recursive):
            yield e

    @live_method
    async def read_file(self, path: str) -> AsyncIterator[bytes]:
        """The file's content, streamed in pieces of up to 1 MiB."""
        request = vpb.VolumeGetFileRequest(volume_id=await self._id(), path=vm.normalise(path))
        async for chunk in _blobs.stream(await _client(), "VolumeGetFile", request):
            yield chunk.data

    @live_method
    async def read_file_into_fileobj(self, path: str, fileobj) -> int:
        n = 0
        async for data in self.read_file.aio(path):
            fileobj.write(data)
            n += len(data)
        return n

    @live_method
    async def remove_file(self, path: str, recursive: bool = False) -> None:
        """Remove a file, or a directory (and all it holds) with recursive=True."""
        path = vm.normalise(path)
        if path == "" and not recursive:
            raise InvalidError("remove_file('/') would empty the whole volume; pass recursive=True to do that")
        if not recursive:
            entries = {e.path: e for e in (await self._manifest()).entries}
            e = entries.get(path)
            if e is not None and e.kind == vm.DIRECTORY and any(vm.under(p, path) and p != path for p in entries):
                raise InvalidError(f"{path} is a directory that is not empty; pass recursive=True to remove it and everything in it")
        await self._commit(removes=[path], require_removes_exist=True)

    @live_method
    async def copy_files(self, src_paths: list[str], dst_path: str, recursive: bool = False) -> None:
        """Copy files (directories with recursive=True) within the volume. Several sources, or a
        destination that is a directory (or ends in '/'), copy into that directory. No content
        moves: the copies name the same blobs."""
        if isinstance(src_paths, str):
            raise InvalidError("copy_files(src_paths, dst_path): src_paths is a list of paths")
        entries = {e.path: e for e in (await self._manifest()).entries}
        puts = self._copies(entries, [vm.normalise(s) for s in src_paths], dst_path, recursive)
        await self._commit(puts=puts)

    @live_method
    async def rename(self, src: str, dst: str) -> None:
        """Move a file or directory within the volume."""
        entries = {e.path: e for e in (await self._manifest()).entries}
        src_n = vm.normalise(src)
        puts = self._copies(entries, [src_n], dst, recursive=True, into_dir=False)
        await self._commit(puts=puts, removes=[src_n])

    def _copies(self, entries: dict, srcs: list[str], dst_path: str, recursive: bool, into_dir: bool | None = None) -> list[vpb.VolumeEntry]:
        dst = vm.normalise(dst_path)
        if into_dir is None:
            into_dir = len(srcs) > 1 or dst_path.endswith("/") or dst == "" or (dst in entries and entries[dst].kind == vm.DIRECTORY)
        puts = []
        for src in srcs:
            e = entries.get(src)
            if e is None or src == "":
                raise NotFoundError(f"{src or '/'}: no such file or directory in volume {self._label()}")
            target = posixpath.join(dst, posixpath.basename(src)) if into_dir else dst
            if not target:
                raise InvalidError(f"cannot copy {src} onto the volume's root")
            if e.kind == vm.DIRECTORY and not recursive:
                raise InvalidError(f"{src} is a directory; pass recursive=True to copy it")
            for p, x in entries.items():
                if vm.under(p, src):
                    c = vpb.VolumeEntry()
                    c.CopyFrom(x)
                    c.path = target + p[len(src):]
                    puts.append(c)
        return puts

    def batch_upload(self, force: bool = False) -> _BatchUpload:
        """`with vol.batch_upload() as batch: batch.put_file(...); batch.put_directory(...)`: the
        files are uploaded and committed as one version when the block ends (nothing if it
        raises). Without force, a path that already exists is an error."""
        return _BatchUpload(self, force)

    @staticmethod
    @live_function
    async def delete(name: str) -> None:
        """Delete the named volume and all its versions."""
        await _blobs.call(await _client(), "VolumeDelete", vpb.VolumeDeleteRequest(name=lim.check_name("volume", name)))

    def _label(self) -> str:
        return repr(self._name or self._object_id)

    ephemeral: _EphemeralFactory


class _BatchUpload:
    def __init__(self, volume: Volume, force: bool):
        self._volume = volume
        self._force = force
        self._files: list[tuple[pathlib.Path | bytes, str, int | None]] = []  # (local path or data, remote path, mode)

    def put_file(self, local_file, remote_path: str, *, mode: int | None = None) -> None:
        """Upload a local file (a path or a binary file object) to `remote_path`."""
        remote = vm.normalise(remote_path)
        if not remote:
            raise InvalidError(f"put_file: remote path {remote_path!r} names the volume's root; give a file path")
        if hasattr(local_file, "read"):
            self._files.append((local_file.read(), remote, mode))
            return
        p = pathlib.Path(local_file)
        if not p.is_file():
            raise NotFoundError(f"put_file: {str(p)!r} is not a file")
        self._files.append((p, remote, mode))

    def put_directory(self, local_path, remote_path: str, recursive: bool = True) -> None:
        """Upload a local directory's files under `remote_path`."""
        root = pathlib.Path(local_path)
        if not root.is_dir():
            raise NotFoundError(f"put_directory: {str(root)!r} is not a directory")
        remote = vm.normalise(remote_path)
        for p in sorted(root.rglob("*") if recursive else root.iterdir()):
            if p.is_file():
                self._files.append((p, posixpath.join(remote, p.relative_to(root).as_posix()), None))

    async def _run(self) -> None:
        import asyncio
        import hashlib
        import time

        client = await _client()
        puts, pieces = [], {}  # digest -> (source, offset, length)
        for src, remote, mode in self._files:
            chunks, size = [], 0
            if isinstance(src, bytes):
                for i in range(0, len(src), vm.CHUNK_SIZE):
                    d = hashlib.sha256(src[i : i + vm.CHUNK_SIZE]).hexdigest()
                    pieces.setdefault(d, (src, i, len(src[i : i + vm.CHUNK_SIZE])))
                    chunks.append(d)
                size, fmode, mtime = len(src), 0o644, time.time()
            else:
                def hash_file(path=src):
                    out = []
                    with open(path, "rb") as f:
                        off = 0
                        for d, data in vm.file_chunks(f):
                            out.append((d, off, len(data)))
                            off += len(data)
                    return out, os.stat(path)
                found, st = await asyncio.to_thread(hash_file)
                for d, off, n in found:
                    pieces.setdefault(d, (src, off, n))
                    chunks.append(d)
                size, fmode, mtime = st.st_size, st.st_mode & 0o777, st.st_mtime
            puts.append(vpb.VolumeEntry(path=remote, kind=vm.FILE, mode=mode if mode is not None else fmode, size=size, chunks=chunks, mtime=mtime))
        for d in await _blobs.missing(client, list(pieces)):
            src, off, n = pieces[d]
            if isinstance(src, bytes):
                data = src[off : off + n]
            else:
                def read(path=src, off=off, n=n):
                    with open(path, "rb") as f:
                        f.seek(off)
                        return f.read(n)
                data = await asyncio.to_thread(read)
            await _blobs.upload(client, data, d, check=False)
        if puts:
            await self._volume._commit(puts=puts, no_overwrite=not self._force)

    def __enter__(self) -> _BatchUpload:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            run_sync(self._run())

    async def __aenter__(self) -> _BatchUpload:
        return self

    async def __aexit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            await run_aio(self._run())


class _Ephemeral:
    def __init__(self):
        self._vol: Volume | None = None

    async def _create(self) -> Volume:
        resp = await _blobs.call(await _client(), "VolumeGetOrCreate", vpb.VolumeGetOrCreateRequest(ephemeral=True))
        self._vol = Volume(None, object_id=resp.volume_id)
        return self._vol

    async def _destroy(self) -> None:
        if self._vol is not None:
            await _blobs.call(await _client(), "VolumeDelete", vpb.VolumeDeleteRequest(name=self._vol.object_id))

    def __enter__(self) -> Volume:
        return run_sync(self._create())

    def __exit__(self, *exc) -> None:
        run_sync(self._destroy())

    async def __aenter__(self) -> Volume:
        return await run_aio(self._create())

    async def __aexit__(self, *exc) -> None:
        await run_aio(self._destroy())


class _EphemeralFactory:
    """`Volume.ephemeral()` for `with`, `Volume.ephemeral.aio()` for `async with`."""

    def __call__(self) -> _Ephemeral:
        return _Ephemeral()

    def aio(self) -> _Ephemeral:
        return _Ephemeral()


Volume.ephemeral = _EphemeralFactory()


def bucket_secrets(volumes: dict) -> list:
    """The Secrets of the CloudBucketMounts among `volumes`: the function gets them too."""
    from squall.sdk.cloud_bucket_mount import CloudBucketMount

    return [v.secret for v in volumes.values() if isinstance(v, CloudBucketMount) and v.secret is not None]


async def mount_spec(path: str, vol) -> object:
    """The wire form of one entry of `volumes={...}` (resolving a named volume: create_if_missing happens here)."""
    from squall._proto.squall.v1 import common_pb2 as pb
    from squall.sdk.cloud_bucket_mount import CloudBucketMount

    if isinstance(vol, CloudBucketMount):
        return pb.VolumeMount(path=path, read_only=vol.read_only, bucket_name=vol.bucket_name, bucket_endpoint_url=vol.bucket_endpoint_url or "",
                              key_prefix=vol.key_prefix or "", name=f"s3://{vol.bucket_name}/{vol.key_prefix or ''}")
    return pb.VolumeMount(path=path, volume_id=await vol._id(), name=vol.name or "", read_only=vol._read_only)


def check_volumes(volumes, where: str) -> dict[str, Volume]:
    """Validate `volumes={"/path": Volume}` at decoration time."""
    if not volumes:
        return {}
    if not isinstance(volumes, dict):
        raise InvalidError(f"{where}(volumes=...) takes a dict of mount path to squall.Volume, got {volumes!r}")
    out = {}
    for path, vol in volumes.items():
        if not isinstance(path, str) or not path.startswith("/") or vm.normalise(path) == "":
            raise InvalidError(f"{where}(volumes={{{path!r}: ...}}): the mount path must be an absolute path other than '/'")
        norm = "/" + vm.normalise(path)
        if norm.startswith("/opt/squall") or norm in ("/proc", "/sys", "/dev", "/tmp", "/etc", "/usr", "/bin", "/lib"):
            raise InvalidError(f"{where}(volumes={{{path!r}: ...}}): {norm} is reserved; mount volumes elsewhere, e.g. /data")
        from squall.sdk.cloud_bucket_mount import CloudBucketMount

        if isinstance(vol, CloudBucketMount):
            vol.check(f"{where}(volumes={{{path!r}: ...}})")
        elif not isinstance(vol, Volume):
            raise InvalidError(f"{where}(volumes={{{path!r}: {vol!r}}}): the value must be a squall.Volume (Volume.from_name or Volume.ephemeral) "
                               "or a squall.CloudBucketMount")
        if norm in out:
            raise InvalidError(f"{where}(volumes=...): two volumes at {norm}")
        out[norm] = vol
    for a in out:
        for b in out:
            if a != b and b.startswith(a + "/"):
                raise InvalidError(f"{where}(volumes=...): {b} is inside {a}; volumes cannot nest")
    return out
