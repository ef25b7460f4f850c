"""Volumes on a worker: a copy of each mounted volume per container, made from a per-worker
cache of file contents, and the VolumeAgent that commits and reloads those copies.

Mounting. For each `volumes={path: vol}` of a container the worker fetches the volume's
latest manifest, makes sure every file's content is in its cache (`files/<key>`, where the
key is the hash of the file's list of chunk digests; a missing one is streamed from the
blob store once, whatever volume or version names it), and builds the tree in a directory
of its own, which the runtime bind-mounts at `path`. Read-write mounts get their files by
reflink (FICLONE: btrfs, XFS) or, where the filesystem has none, by copy: a hard link
would let a container write through into the shared cache. Read-only mounts are hard links
into the cache: the mount is read-only, so nothing can write through it, and a 1 GiB file
costs nothing to mount again. The cache is pruned, least recently used first, once it passes
SQUALL_VOLUME_CACHE_GB (20 by default); contents a read-only mount links to stay.

Committing. The worker remembers what it put in the directory (each path's entry, and the
size and mtime its file had). A commit walks the directory, treats paths whose size, mtime
or mode changed (and new ones) as puts, hashing and uploading only their contents, treats
vanished paths as removes, and sends them as one VolumeCommit: applied on top of the
latest version, so the last commit wins per path. Nothing changed: no new version. The
pieces, as hashed, also land in the worker's cache, so containers here that mount or reload
the new version copy them locally.
A container commits with `vol.commit()`, through the VolumeAgent on a unix socket mounted
at /opt/squall/run/volumes.sock and authenticated by its token: only volumes mounted into
that container, read-write, can be committed. When a container exits cleanly (exit code 0,
or stopped by squall: scaled down, app stopped) the worker commits its read-write mounts;
when it crashes or times out its changes are dropped, since a half-written file would
otherwise become the volume's content.

Reloading. `vol.reload()` fetches the latest manifest and replaces, in place (rename over
the old file), every path that changed between the copy's version and the latest; the
container's uncommitted changes to other paths stay.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import fcntl
import hashlib
import logging
import os
import pathlib
import shutil
import stat
import time
import uuid

import grpc

from squall import config
from squall._proto.squall.v1 import api_pb2, volume_pb2_grpc
from squall._proto.squall.v1 import volume_pb2 as vpb
from squall.runtime.base import ContainerSpec, Mount, Runtime
from squall.storage import volume_manifest as vm

log = logging.getLogger("squall.worker")

FICLONE = 0x40049409
PART = 1024 * 1024  # bytes per streamed upload message
PARALLEL = 4  # pieces in flight per file, up or down
ENV_CACHE_GB = "SQUALL_VOLUME_CACHE_GB"  # the worker's cache of volume and bucket contents is pruned past this (default 20)


@dataclasses.dataclass
class _Local:
    """What the worker put at one path of a mounted copy (or last committed from it)."""

    entry: vpb.VolumeEntry
    size: int = 0
    mtime_ns: int = 0
    mode: int = 0


@dataclasses.dataclass
class _Bucket:
    """A writable bucket mount: the client to write back with, and what each object looked like
    when it was placed (size, mtime), so only changed files are uploaded."""

    s3: object
    name: str
    prefix: str
    placed: dict[str, tuple[int, int]]


@dataclasses.dataclass
class MountedVolume:
    volume_id: str
    name: str
    path: str  # inside the container
    host_dir: pathlib.Path
    read_only: bool
    version: int = 0
    local: dict[str, _Local] = dataclasses.field(default_factory=dict)
    lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)
    bucket: _Bucket | None = None  # a writable CloudBucketMount: where its changes go back to

    def label(self) -> str:
        return repr(self.name or self.volume_id)


_NOFOLLOW_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _parent_fd(root: pathlib.Path, rel: str, create: bool) -> tuple[int, str]:
    """An fd of rel's parent directory under root, and rel's last name, reached without
    following a symlink anywhere: the container owns the tree and may plant symlinks to the
    host's files in it, and the worker (root) must never write or read through them. With
    create, missing parents are made and a symlink or file where a parent must be is replaced."""
    parts = rel.split("/")
    fd = os.open(root, _NOFOLLOW_DIR)
    try:
        for part in parts[:-1]:
            try:
                nxt = os.open(part, _NOFOLLOW_DIR, dir_fd=fd)
            except (FileNotFoundError, NotADirectoryError, OSError) as exc:
                if not create or (isinstance(exc, OSError) and exc.errno not in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP)):
                    raise
                with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                    os.unlink(part, dir_fd=fd)
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
                nxt = os.open(part, _NOFOLLOW_DIR, dir_fd=fd)
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd, parts[-1]


def _socket_path(wanted: pathlib.Path) -> pathlib.Path:
    """`wanted`, or a short stand-in under the temp dir when it is too long for a unix socket
    (108 bytes on Linux), named by a hash of `wanted` so several workers never share one."""
    if len(str(wanted)) <= 100:
        return wanted
    import tempfile

    return pathlib.Path(tempfile.gettempdir()) / "squall-run" / f"{hashlib.sha256(str(wanted).encode()).hexdigest()[:20]}.sock"


def _same_content(a: vpb.VolumeEntry, b: vpb.VolumeEntry) -> bool:
    return a.kind == b.kind and list(a.chunks) == list(b.chunks) and a.mode == b.mode and a.link_target == b.link_target


def _content_key(chunks) -> str:
    return hashlib.sha256("\n".join(chunks).encode()).hexdigest()


def clone_file(src: pathlib.Path, dst: pathlib.Path) -> None:
    with open(dst, "wb") as fdst:
        clone_into(src, fdst)


def clone_into(src: pathlib.Path, fdst) -> None:
    """fdst (an open, empty file) becomes a copy of src that shares nothing writable with it:
    a reflink where the filesystem has them, else an in-kernel copy (copy_file_range), else a
    plain one."""
    with open(src, "rb") as fsrc:
        try:
            fcntl.ioctl(fdst.fileno(), FICLONE, fsrc.fileno())
            return
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EXDEV, errno.EINVAL, errno.ENOTTY, errno.EBADF, errno.ENOSYS):
                raise
        size = os.fstat(fsrc.fileno()).st_size
        copied = 0
        try:
            while copied < size:
                n = os.copy_file_range(fsrc.fileno(), fdst.fileno(), size - copied)
                if n == 0:
                    break
                copied += n
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
                raise
            fsrc.seek(copied)
            fdst.seek(copied)
            shutil.copyfileobj(fsrc, fdst, 16 * 1024 * 1024)


class VolumeMounts:
    def __init__(self, home: pathlib.Path, worker_id: str, token: str):
        self.root = home / "volumes"
        self.cache = self.root / "files"
        self.mounts_dir = self.root / "mounts" / worker_id  # this worker's copies (several workers may share a home)
        self.socket_path = _socket_path(home / "run" / f"{worker_id}-volumes.sock")
        self.token = token
        self.mounts: dict[str, list[MountedVolume]] = {}  # container id -> its volumes
        self.tokens: dict[str, str] = {}  # container token -> container id
        self.stop_requested: set[str] = set()  # containers squall stopped: their exit is clean
        self._fetching: dict[str, asyncio.Future] = {}
        self._busy = 0  # mounts and reloads in progress: the cache is not pruned under them
        self.cache_limit = int(float(os.environ.get(ENV_CACHE_GB) or 20) * 1024**3)
        self.stub: volume_pb2_grpc.VolumeServiceStub | None = None
        self._server: grpc.aio.Server | None = None

    def _md(self):
        return (("authorization", f"Bearer {self.token}"),)

    async def start(self, channel: grpc.aio.Channel) -> None:
        """Serve the VolumeAgent; `channel` reaches the control plane's VolumeService."""
        self.stub = volume_pb2_grpc.VolumeServiceStub(channel)
        self.cache.mkdir(parents=True, exist_ok=True)
        # copies a previous worker process left (its containers were killed as orphans before this)
        await asyncio.to_thread(shutil.rmtree, self.mounts_dir, True)
        self.mounts_dir.mkdir(parents=True, exist_ok=True)
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        self.socket_path.unlink(missing_ok=True)
        server = grpc.aio.server(options=config.grpc_options())
        volume_pb2_grpc.add_VolumeAgentServicer_to_server(_Agent(self), server)
        try:
            server.add_insecure_port(f"unix://{self.socket_path}")
        except RuntimeError as exc:
            await server.stop(None)
            raise RuntimeError(f"the worker cannot serve volumes on {self.socket_path}: {exc}") from None
        self._server = server
        await server.start()
        self.socket_path.chmod(0o666)

    async def close(self) -> None:
        if self._server is not None:
            await self._server.stop(1.0)
        self.socket_path.unlink(missing_ok=True)

    # -- mount / unmount -----------------------------------------------------------------------
    async def attach(self, start, spec: ContainerSpec, runtime: Runtime) -> None:
        """Materialise the container's volumes and add their bind mounts to its spec."""
        if not start.definition.volumes:
            return
        if not runtime.capabilities.isolation:
            raise RuntimeError(f"volumes need an isolating runtime (runc or gvisor), not {runtime.name!r}: the `process` runtime cannot mount them")
        cid = start.container_id
        mounted = self.mounts.setdefault(cid, [])
        self.tokens[start.token] = cid
        self._busy += 1
        try:
            await self._attach(start, spec, mounted)
        finally:
            self._busy -= 1
        spec.mounts.append(Mount(self.socket_path, config.CONTAINER_VOLUME_SOCKET, read_only=False))
        spec.env[config.ENV_VOLUME_AGENT] = f"unix://{config.CONTAINER_VOLUME_SOCKET}"

    async def _attach(self, start, spec: ContainerSpec, mounted: list[MountedVolume]) -> None:
        cid = start.container_id
        for vmount in start.definition.volumes:
            host_dir = self.mounts_dir / cid / uuid.uuid4().hex[:8]
            host_dir.mkdir(parents=True)
            mv = MountedVolume(vmount.volume_id, vmount.name, vmount.path, host_dir, vmount.read_only)
            mounted.append(mv)
            if vmount.bucket_name:
                mv.bucket = await asyncio.to_thread(self._bucket_tree, vmount, dict(start.secret_env), host_dir)
            else:
                await self._materialise(mv, await self._manifest(mv))
            spec.mounts.append(Mount(host_dir, vmount.path, read_only=mv.read_only))

    async def detach(self, cid: str, exit_code: int | None, log_line=None) -> None:
        """The container is gone: commit its read-write copies if it ended cleanly, then drop them."""
        mounted = self.mounts.pop(cid, [])
        for token in [t for t, c in self.tokens.items() if c == cid]:
            del self.tokens[token]
        clean = exit_code == 0 or cid in self.stop_requested
        self.stop_requested.discard(cid)
        for mv in mounted:
            if mv.bucket is not None:
                if clean:
                    try:
                        written, removed = await asyncio.to_thread(self._bucket_write_back, mv)
                        if log_line and (written or removed):
                            log_line(f"bucket mount at {mv.path}: wrote {written} and removed {removed} objects under s3://{mv.bucket.name}/{mv.bucket.prefix}")
                    except Exception as exc:  # noqa: BLE001 - the others still get their chance
                        log.exception("writing back the bucket mount of container %s failed", cid)
                        if log_line:
                            log_line(f"bucket mount at {mv.path}: the changes could not be written back: {exc}")
                continue
            if clean and not mv.read_only:
                try:
                    async with mv.lock:
                        version = await self._commit(mv)
                    if log_line and version:
                        log_line(f"volume {mv.label()} at {mv.path}: committed as version {version} when the container exited")
                except Exception as exc:  # noqa: BLE001 - the others still get their chance
                    log.exception("committing volume %s of container %s failed", mv.volume_id, cid)
                    if log_line:
                        log_line(f"volume {mv.label()} at {mv.path}: the changes could not be committed: {exc}")
            elif not mv.read_only and log_line and exit_code is not None:
                log_line(f"volume {mv.label()} at {mv.path}: changes not committed, the container failed (exit code {exit_code})")
        if mounted:
            await asyncio.to_thread(shutil.rmtree, self.mounts_dir / cid, True)
            if not self._busy:
                await asyncio.to_thread(self.prune_cache)

    def prune_cache(self) -> list[pathlib.Path]:
        """Keep the cache under its limit: remove the least recently used contents that no
        read-only mount links to (a file with one link is only the cache's)."""
        entries, total = [], 0
        for top in (self.cache, self.cache.parent / "buckets"):
            for path in top.glob("*/*"):
                with contextlib.suppress(FileNotFoundError):
                    st = path.stat()
                    total += st.st_size
                    if st.st_nlink == 1 and not path.name.startswith("."):
                        entries.append((st.st_atime, st.st_size, path))
        removed = []
        for _, size, path in sorted(entries):
            if total <= self.cache_limit:
                break
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                total -= size
                removed.append(path)
        return removed

    # -- manifests and the content cache -------------------------------------------------------
    async def _manifest(self, mv: MountedVolume) -> vpb.VolumeManifest:
        return await self.stub.VolumeGetManifest(vpb.VolumeGetManifestRequest(volume_id=mv.volume_id), metadata=self._md(), timeout=60)

    async def _cached(self, e: vpb.VolumeEntry) -> pathlib.Path:
        """The cache file holding this file entry's content, fetched once per worker."""
        key = _content_key(e.chunks)
        path = self.cache / key[:2] / key
        if path.exists():
            with contextlib.suppress(FileNotFoundError):
                os.utime(path, (time.time(), path.stat().st_mtime))  # used now: pruned last
            return path
        fut = self._fetching.get(key)
        if fut is not None:
            await asyncio.shield(fut)
            return path
        fut = self._fetching[key] = asyncio.get_running_loop().create_future()
        try:
            path.parent.mkdir(exist_ok=True)
            tmp = path.with_name(f".{key}.{uuid.uuid4().hex[:8]}")
            try:
                with open(tmp, "wb") as f:
                    await self._fetch_into(list(e.chunks), f)
                os.replace(tmp, path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            fut.set_result(None)
            return path
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # retrieved: waiters get it through shield
            raise
        finally:
            self._fetching.pop(key, None)

    async def _cached_all(self, entries: list[vpb.VolumeEntry]) -> dict[str, pathlib.Path]:
        """`_cached` for many files, PARALLEL * 2 at a time (many small files are many round trips)."""
        sem = asyncio.Semaphore(PARALLEL * 2)

        async def one(e):
            async with sem:
                return e.path, await self._cached(e)

        return dict(await asyncio.gather(*(one(e) for e in entries)))

    async def _fetch_piece(self, digest: str) -> bytes:
        buf = bytearray()
        async for chunk in self.stub.BlobDownload(api_pb2.BlobRef(digest=digest), metadata=self._md(), timeout=600):
            buf += chunk.data
        if await asyncio.to_thread(lambda: hashlib.sha256(buf).hexdigest()) != digest:
            raise RuntimeError(f"blob {digest} arrived with different content")
        return bytes(buf)

    async def _fetch_into(self, digests: list[str], f) -> None:
        """Write the pieces to f in order, fetching up to PARALLEL of them at a time."""
        pending: list[asyncio.Task] = []
        try:
            for i, digest in enumerate(digests):
                pending.append(asyncio.create_task(self._fetch_piece(digest)))
                while len(pending) > PARALLEL or (pending and i == len(digests) - 1):
                    data = await pending.pop(0)
                    await asyncio.to_thread(f.write, data)
        finally:
            for task in pending:
                task.cancel()

    async def _materialise(self, mv: MountedVolume, manifest: vpb.VolumeManifest) -> None:
        files = await self._cached_all([e for e in manifest.entries if e.kind == vm.FILE])
        await asyncio.to_thread(self._build, mv, list(manifest.entries), files)
        mv.version = manifest.version

    def _build(self, mv: MountedVolume, entries: list[vpb.VolumeEntry], files: dict[str, pathlib.Path]) -> None:
        for e in sorted(entries, key=lambda x: x.path):
            self._place(mv, e, files.get(e.path))

    def _place(self, mv: MountedVolume, e: vpb.VolumeEntry, cached: pathlib.Path | None) -> None:
        """Put one entry at its path (replacing what is there, atomically for files) and record
        it; every step is relative to a directory fd, so no symlink in the copy is followed."""
        pfd, name = _parent_fd(mv.host_dir, e.path, create=True)
        try:
            try:
                old = os.stat(name, dir_fd=pfd, follow_symlinks=False)
            except FileNotFoundError:
                old = None
            if e.kind == vm.DIRECTORY:
                if old is not None and not stat.S_ISDIR(old.st_mode):
                    os.unlink(name, dir_fd=pfd)
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o755, dir_fd=pfd)
                dfd = os.open(name, _NOFOLLOW_DIR, dir_fd=pfd)
                try:
                    os.fchmod(dfd, e.mode or 0o755)
                finally:
                    os.close(dfd)
            else:
                if old is not None and stat.S_ISDIR(old.st_mode):
                    shutil.rmtree(name, dir_fd=pfd)
                tmp = f".squall-{uuid.uuid4().hex[:8]}"
                if e.kind == vm.SYMLINK:
                    os.symlink(e.link_target, tmp, dir_fd=pfd)
                elif mv.read_only:
                    os.link(cached, tmp, dst_dir_fd=pfd)
                else:
                    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, e.mode or 0o644, dir_fd=pfd)
                    with open(fd, "wb") as fdst:
                        clone_into(cached, fdst)
                        os.fchmod(fdst.fileno(), e.mode or 0o644)
                        os.utime(fdst.fileno(), (e.mtime, e.mtime))
                os.replace(tmp, name, src_dir_fd=pfd, dst_dir_fd=pfd)
            st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
        finally:
            os.close(pfd)
        mv.local[e.path] = _Local(e, st.st_size, st.st_mtime_ns, stat.S_IMODE(st.st_mode))

    def _remove(self, mv: MountedVolume, path: str) -> None:
        try:
            pfd, name = _parent_fd(mv.host_dir, path, create=False)
        except OSError:
            pfd = None  # a parent is gone (or is no longer a directory): nothing of ours is left there
        if pfd is not None:
            try:
                st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    shutil.rmtree(name, dir_fd=pfd, ignore_errors=True)
                else:
                    os.unlink(name, dir_fd=pfd)
            except FileNotFoundError:
                pass
            finally:
                os.close(pfd)
        for p in [p for p in mv.local if vm.under(p, path)]:
            del mv.local[p]

    def _open_file(self, mv: MountedVolume, rel: str):
        """A file of the copy opened for reading, refusing symlinks anywhere on its path."""
        pfd, name = _parent_fd(mv.host_dir, rel, create=False)
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
        finally:
            os.close(pfd)
        f = open(fd, "rb")
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            f.close()
            raise OSError(errno.EINVAL, f"{rel} is no longer a regular file")
        return f

    # -- bucket mounts -------------------------------------------------------------------------
    def _bucket_tree(self, vmount, secret_env: dict[str, str], host_dir: pathlib.Path) -> _Bucket | None:
        """A CloudBucketMount: the objects under the prefix, each fetched once into the cache
        (keyed by endpoint, bucket, key and ETag), hard-linked into host_dir when mounted
        read-only, copied when writable (then the placed files are returned for the write-back)."""
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        creds = {}
        if secret_env.get("AWS_ACCESS_KEY_ID"):
            creds = dict(aws_access_key_id=secret_env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=secret_env.get("AWS_SECRET_ACCESS_KEY"),
                         aws_session_token=secret_env.get("AWS_SESSION_TOKEN") or None)
        region = secret_env.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"
        endpoint = vmount.bucket_endpoint_url or None
        where = f"s3://{vmount.bucket_name}/{vmount.key_prefix}" + (f" at {endpoint}" if endpoint else "")
        placed: dict[str, tuple[int, int]] = {}
        try:
            s3 = boto3.session.Session().client("s3", endpoint_url=endpoint, region_name=region, **creds)
            cache = self.cache.parent / "buckets"
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=vmount.bucket_name, Prefix=vmount.key_prefix):
                for obj in page.get("Contents", []):
                    key = obj["Key"]
                    rel = vm.normalise(key[len(vmount.key_prefix):])
                    if not rel or key.endswith("/"):
                        continue
                    ident = "\n".join([endpoint or "", vmount.bucket_name, key, obj.get("ETag", ""), str(obj.get("Size", 0))])
                    ck = hashlib.sha256(ident.encode()).hexdigest()
                    cached = cache / ck[:2] / ck
                    if not cached.exists():
                        cached.parent.mkdir(parents=True, exist_ok=True)
                        tmp = cached.with_name(f".{ck}.{uuid.uuid4().hex[:8]}")
                        try:
                            s3.download_file(vmount.bucket_name, key, str(tmp))
                            os.replace(tmp, cached)
                        finally:
                            with contextlib.suppress(FileNotFoundError):
                                os.unlink(tmp)
                    dst = host_dir / rel
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    if vmount.read_only:
                        os.link(cached, dst)
                    else:
                        clone_file(cached, dst)
                        st = dst.stat()
                        placed[rel] = (st.st_size, st.st_mtime_ns)
        except (BotoCoreError, ClientError) as exc:
            raise RuntimeError(f"cannot mount bucket {where}: {exc}") from exc
        return None if vmount.read_only else _Bucket(s3, vmount.bucket_name, vmount.key_prefix, placed)

    def _bucket_write_back(self, mv: MountedVolume) -> tuple[int, int]:
        """Upload the files the container wrote or changed under a writable bucket mount, and
        delete the objects whose files it removed. Returns (written, removed)."""
        b = mv.bucket
        assert b is not None
        seen: set[str] = set()
        written = 0
        for dirpath, _dirs, files, dirfd in os.fwalk(mv.host_dir):  # by directory fds: a planted symlink is never followed
            for name in files:
                st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
                if not stat.S_ISREG(st.st_mode):
                    continue
                rel = str(pathlib.Path(dirpath, name).relative_to(mv.host_dir))
                seen.add(rel)
                if b.placed.get(rel) == (st.st_size, st.st_mtime_ns):
                    continue
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dirfd)
                with os.fdopen(fd, "rb") as f:
                    b.s3.upload_fileobj(f, b.name, b.prefix + rel)
                written += 1
        removed = [rel for rel in b.placed if rel not in seen]
        for rel in removed:
            b.s3.delete_object(Bucket=b.name, Key=b.prefix + rel)
        return written, len(removed)

    # -- commit and reload ---------------------------------------------------------------------
    def _scan(self, mv: MountedVolume) -> dict[str, tuple[int, os.stat_result, str]]:
        """Every path in the copy: (kind, lstat, symlink target). fwalk: by directory fds, never
        through a symlink, whatever the container does to the tree meanwhile."""
        out = {}
        for dirpath, dirnames, filenames, dirfd in os.fwalk(mv.host_dir):
            for name in dirnames + filenames:
                rel = os.path.relpath(os.path.join(dirpath, name), mv.host_dir).replace(os.sep, "/")
                try:
                    st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if stat.S_ISLNK(st.st_mode):
                    out[rel] = (vm.SYMLINK, st, os.readlink(name, dir_fd=dirfd))
                elif stat.S_ISDIR(st.st_mode):
                    out[rel] = (vm.DIRECTORY, st, "")
                elif stat.S_ISREG(st.st_mode):
                    out[rel] = (vm.FILE, st, "")
        return out

    async def _put_piece(self, digest: str, data: bytes) -> None:
        resp = await self.stub.BlobMissing(vpb.BlobMissingRequest(digests=[digest]), metadata=self._md(), timeout=60)
        if resp.missing:
            await self.stub.BlobUpload(_parts(data, digest), metadata=self._md(), timeout=600)

    async def _upload_file(self, mv: MountedVolume, rel: str) -> list[str]:
        """Hash a file in pieces and upload the pieces the blob store lacks (PARALLEL at a time,
        reading ahead while they travel); returns the digests. The pieces, exactly as hashed,
        also go into this worker's cache, so the next mount or reload here copies locally."""
        chunks: list[str] = []
        inflight: set[asyncio.Task] = set()
        tmp = self.cache / f".commit-{uuid.uuid4().hex[:12]}"

        def read_piece(f, out):
            data = f.read(vm.CHUNK_SIZE)
            if not data:
                return None
            out.write(data)
            return hashlib.sha256(data).hexdigest(), data

        try:
            with self._open_file(mv, rel) as f, open(tmp, "wb") as out:
                while piece := await asyncio.to_thread(read_piece, f, out):
                    chunks.append(piece[0])
                    if len(inflight) >= PARALLEL:
                        done, inflight = await asyncio.wait(inflight, return_when=asyncio.FIRST_COMPLETED)
                        for task in done:
                            task.result()
                    inflight.add(asyncio.create_task(self._put_piece(*piece)))
            await asyncio.gather(*inflight)
            key = _content_key(chunks)
            cached = self.cache / key[:2] / key
            if not cached.exists():
                cached.parent.mkdir(exist_ok=True)
                os.replace(tmp, cached)
        finally:
            for task in inflight:
                task.cancel()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        return chunks

    async def _upload_small(self, mv: MountedVolume, entries: list[vpb.VolumeEntry]) -> None:
        """Files of one piece, a batch at a time: one BlobMissing per batch, the missing pieces
        uploaded PARALLEL at a time, each kept in the cache; fills in each entry's chunk."""
        batch_bytes = 64 * 1024 * 1024
        i = 0
        while i < len(entries):
            batch, size = [], 0
            while i < len(entries) and (not batch or size + entries[i].size <= batch_bytes):
                batch.append(entries[i])
                size += entries[i].size
                i += 1

            def read_all(batch=batch):
                out = []
                for e in batch:
                    with self._open_file(mv, e.path) as f:
                        data = f.read(vm.CHUNK_SIZE + 1)
                    out.append(data)
                return out

            datas = await asyncio.to_thread(read_all)
            digests = [hashlib.sha256(d).hexdigest() if len(d) <= vm.CHUNK_SIZE else "" for d in datas]
            for e, data, digest in zip(batch, datas, digests):
                if not digest:  # it grew past one piece since the scan: stream it
                    e.chunks.extend(await self._upload_file(mv, e.path))
                    continue
                e.size = len(data)
                if data:
                    e.chunks.append(digest)
            wanted = {d: data for d, data in zip(digests, datas) if d and data}
            resp = await self.stub.BlobMissing(vpb.BlobMissingRequest(digests=list(wanted)), metadata=self._md(), timeout=60)
            sem = asyncio.Semaphore(PARALLEL)

            async def put(digest: str) -> None:
                async with sem:
                    await self.stub.BlobUpload(_parts(wanted[digest], digest), metadata=self._md(), timeout=600)

            await asyncio.gather(*(put(d) for d in resp.missing))
            await asyncio.to_thread(self._keep, wanted)

    def _keep(self, contents: dict[str, bytes]) -> None:
        """Put one-piece contents into the cache (as a later mount here would fetch them)."""
        for digest, data in contents.items():
            key = _content_key([digest])
            path = self.cache / key[:2] / key
            if path.exists():
                continue
            path.parent.mkdir(exist_ok=True)
            tmp = path.with_name(f".{key}.{uuid.uuid4().hex[:8]}")
            tmp.write_bytes(data)
            os.replace(tmp, path)

    async def _commit(self, mv: MountedVolume) -> int:
        """Publish the copy's changes since it was made (or last committed); 0 when there were none."""
        current = await asyncio.to_thread(self._scan, mv)
        puts, records = [], {}
        for path, (kind, st, target) in sorted(current.items()):
            rec = mv.local.get(path)
            mode = stat.S_IMODE(st.st_mode)
            if rec is not None and rec.entry.kind == kind and rec.mode == mode:
                if kind == vm.DIRECTORY or (kind == vm.SYMLINK and rec.entry.link_target == target):
                    continue
                if kind == vm.FILE and rec.size == st.st_size and rec.mtime_ns == st.st_mtime_ns:
                    continue
            e = vpb.VolumeEntry(path=path, kind=kind, mode=mode, size=st.st_size if kind == vm.FILE else 0, mtime=st.st_mtime, link_target=target)
            puts.append(e)
            records[path] = _Local(e, st.st_size, st.st_mtime_ns, mode)
        small = [e for e in puts if e.kind == vm.FILE and e.size <= vm.CHUNK_SIZE]
        await self._upload_small(mv, small)
        for e in puts:
            if e.kind == vm.FILE and e.size > vm.CHUNK_SIZE:
                e.chunks.extend(await self._upload_file(mv, e.path))
        gone = [p for p in mv.local if p not in current]
        removes = [p for p in gone if not any(vm.under(p, q) and p != q for q in gone)]  # the topmost of each removed tree
        if not puts and not removes:
            return 0
        resp = await self.stub.VolumeCommit(vpb.VolumeCommitRequest(volume_id=mv.volume_id, puts=puts, removes=removes), metadata=self._md(), timeout=600)
        for p in gone:
            mv.local.pop(p, None)
        mv.local.update(records)
        mv.version = resp.version
        return resp.version

    async def _reload(self, mv: MountedVolume) -> int:
        self._busy += 1
        try:
            return await self._reload_now(mv)
        finally:
            self._busy -= 1

    async def _reload_now(self, mv: MountedVolume) -> int:
        manifest = await self._manifest(mv)
        if manifest.version == mv.version:
            return mv.version
        new = {e.path: e for e in manifest.entries}
        changed = [e for p, e in new.items() if p not in mv.local or not _same_content(mv.local[p].entry, e)]
        gone = [p for p in mv.local if p not in new]
        files = await self._cached_all([e for e in changed if e.kind == vm.FILE])

        def apply() -> None:
            for p in sorted(gone, reverse=True):
                self._remove(mv, p)
            for e in sorted(changed, key=lambda x: x.path):
                self._place(mv, e, files.get(e.path))

        await asyncio.to_thread(apply)
        mv.version = manifest.version
        return mv.version


def _parts(data: bytes, digest: str):
    view = memoryview(data)
    for i in range(0, max(1, len(data)), PART):
        yield api_pb2.BlobChunk(digest=digest if i == 0 else "", data=bytes(view[i : i + PART]))


class _Agent(volume_pb2_grpc.VolumeAgentServicer):
    """Commit and Reload for the container whose token comes with the call."""

    def __init__(self, mounts: VolumeMounts):
        self.m = mounts

    async def _mounted(self, request, context, writing: bool) -> MountedVolume:
        token = dict(context.invocation_metadata()).get("x-squall-container-token", "")
        cid = self.m.tokens.get(token)
        if cid is None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "unknown container token: only containers this worker runs may call it")
        mounted = self.m.mounts.get(cid, [])
        for mv in mounted:
            if request.volume in (mv.volume_id, mv.name):
                if writing and mv.read_only:
                    await context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"volume {mv.label()} is mounted read-only at {mv.path}; it cannot be committed")
                return mv
        have = ", ".join(f"{mv.label()} at {mv.path}" for mv in mounted) or "none"
        await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                            f"volume {request.volume!r} is not mounted in this container (mounted: {have}); add it to the function's volumes={{...}}")

    async def Commit(self, request, context):
        mv = await self._mounted(request, context, writing=True)
        async with mv.lock:
            version = await self.m._commit(mv)
        return vpb.VolumeAgentResponse(version=version or mv.version)

    async def Reload(self, request, context):
        mv = await self._mounted(request, context, writing=False)
        if not mv.volume_id:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"{mv.label()} is a bucket mount: it shows the bucket as of the container's start")
        async with mv.lock:
            return vpb.VolumeAgentResponse(version=await self.m._reload(mv))
