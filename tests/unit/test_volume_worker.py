"""The worker's side of Volumes (worker/volumes.py) with a fake control plane: what a commit
sends after the container changed its copy, what a reload replaces, where the socket goes."""

from __future__ import annotations

import asyncio
import hashlib
import pathlib

from squall._proto.squall.v1 import api_pb2
from squall._proto.squall.v1 import volume_pb2 as vpb
from squall.storage import volume_manifest as vm
from squall.worker import volumes as wv


class FakeControlPlane:
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.manifest: vm.Manifest = {}
        self.version = 0
        self.commits: list[vpb.VolumeCommitRequest] = []

    def put(self, path: str, data: bytes) -> None:
        d = hashlib.sha256(data).hexdigest()
        self.blobs[d] = data
        self.manifest = vm.apply(self.manifest, [vpb.VolumeEntry(path=path, kind=vm.FILE, mode=0o644, size=len(data), chunks=[d], mtime=1.0)], [])
        self.version += 1

    async def BlobMissing(self, req, **_):
        return vpb.BlobMissingResponse(missing=[d for d in req.digests if d not in self.blobs])

    async def BlobUpload(self, parts, **_):
        data = b"".join(p.data for p in parts)
        d = hashlib.sha256(data).hexdigest()
        self.blobs[d] = data
        return api_pb2.BlobRef(digest=d)

    async def BlobDownload(self, req, **_):
        yield api_pb2.BlobChunk(data=self.blobs[req.digest])

    async def VolumeGetManifest(self, req, **_):
        return vpb.VolumeManifest(volume_id=req.volume_id, version=self.version, entries=list(self.manifest.values()))

    async def VolumeCommit(self, req, **_):
        self.commits.append(req)
        self.manifest = vm.apply(self.manifest, req.puts, req.removes)
        self.version += 1
        return vpb.VolumeCommitResponse(version=self.version)


def _mounts(tmp_path: pathlib.Path, cp: FakeControlPlane) -> wv.VolumeMounts:
    m = wv.VolumeMounts(tmp_path / "home", "wk-test", "token")
    m.stub = cp
    m.cache.mkdir(parents=True)
    return m


def test_a_commit_sends_only_what_the_container_changed_and_a_reload_keeps_its_other_changes(tmp_path):
    cp = FakeControlPlane()
    cp.put("keep.txt", b"keep")
    cp.put("edit.txt", b"old")
    cp.put("gone/x.txt", b"x")
    m = _mounts(tmp_path, cp)
    mv = wv.MountedVolume("vo-1", "v", "/data", tmp_path / "copy", read_only=False)
    mv.host_dir.mkdir()

    async def go():
        await m._materialise(mv, await cp.VolumeGetManifest(vpb.VolumeGetManifestRequest(volume_id="vo-1")))
        assert (mv.host_dir / "edit.txt").read_bytes() == b"old"
        assert await m._commit(mv) == 0  # nothing changed: no new version
        (mv.host_dir / "edit.txt").write_bytes(b"new!")
        (mv.host_dir / "new.txt").write_bytes(b"fresh")
        import shutil

        shutil.rmtree(mv.host_dir / "gone")
        version = await m._commit(mv)
        req = cp.commits[-1]
        assert sorted(e.path for e in req.puts) == ["edit.txt", "new.txt"] and list(req.removes) == ["gone"]
        assert cp.blobs[req.puts[0].chunks[0]] == b"new!" and version == cp.version
        key = wv._content_key(req.puts[0].chunks)
        assert (m.cache / key[:2] / key).read_bytes() == b"new!", "a commit leaves the content in the worker's cache"
        # someone else changes keep.txt; this copy has an uncommitted change to new.txt
        cp.put("keep.txt", b"theirs")
        (mv.host_dir / "new.txt").write_bytes(b"mine, uncommitted")
        await m._reload(mv)
        assert (mv.host_dir / "keep.txt").read_bytes() == b"theirs"
        assert (mv.host_dir / "new.txt").read_bytes() == b"mine, uncommitted"
        await m._commit(mv)
        assert [e.path for e in cp.commits[-1].puts] == ["new.txt"]

    asyncio.run(go())


def test_copies_share_nothing_writable_with_the_cache(tmp_path):
    src = tmp_path / "cached"
    src.write_bytes(b"content" * 1000)
    dst = tmp_path / "copy"
    wv.clone_file(src, dst)
    dst.write_bytes(b"changed")
    assert src.read_bytes() == b"content" * 1000


def test_a_socket_path_too_long_for_unix_sockets_moves_to_a_short_one(tmp_path):
    short = tmp_path / "run" / "wk-1-volumes.sock"
    assert wv._socket_path(short) == short
    long_a = pathlib.Path("/tmp/" + "x" * 120 + "/a.sock")
    long_b = pathlib.Path("/tmp/" + "x" * 120 + "/b.sock")
    assert len(str(wv._socket_path(long_a))) <= 100 and wv._socket_path(long_a) != wv._socket_path(long_b)


def test_the_cache_is_pruned_least_recently_used_first_but_never_under_a_mount(tmp_path):
    import os

    m = _mounts(tmp_path, FakeControlPlane())
    m.cache_limit = 2500
    paths = []
    for i, name in enumerate(["old-linked", "old", "mid", "new"]):
        p = m.cache / "ab" / name
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(b"x" * 1000)
        os.utime(p, (1000 + i, 1000 + i))
        paths.append(p)
    os.link(paths[0], tmp_path / "mounted-read-only")
    removed = m.prune_cache()
    assert removed == [paths[1], paths[2]]
    assert paths[0].exists() and paths[3].exists()


def test_a_big_file_commits_in_pieces_and_many_small_ones_in_batches(tmp_path):
    import os

    cp = FakeControlPlane()
    m = _mounts(tmp_path, cp)
    mv = wv.MountedVolume("vo-1", "v", "/data", tmp_path / "copy", read_only=False)
    mv.host_dir.mkdir()
    big = os.urandom(vm.CHUNK_SIZE * 2 + 123)
    (mv.host_dir / "big.bin").write_bytes(big)
    for i in range(300):
        (mv.host_dir / f"s{i}.txt").write_text(f"small {i}")

    async def go():
        await m._commit(mv)

    asyncio.run(go())
    puts = {e.path: e for e in cp.commits[-1].puts}
    assert len(puts) == 301 and len(puts["big.bin"].chunks) == 3 and puts["big.bin"].size == len(big)
    assert b"".join(cp.blobs[d] for d in puts["big.bin"].chunks) == big
    assert cp.blobs[puts["s7.txt"].chunks[0]] == b"small 7"
    key = wv._content_key(puts["big.bin"].chunks)
    assert (m.cache / key[:2] / key).read_bytes() == big


def test_symlinks_a_container_plants_never_lead_the_worker_out_of_its_copy(tmp_path):
    """A container owns its copy: a symlink it makes to the host's files must not make the
    (root) worker write there on a reload, nor read them on a commit."""
    import shutil

    cp = FakeControlPlane()
    cp.put("link/a.txt", b"a")
    m = _mounts(tmp_path, cp)
    outside = tmp_path / "host-secrets"
    outside.mkdir()
    (outside / "shadow").write_text("host secret")
    mv = wv.MountedVolume("vo-1", "v", "/data", tmp_path / "copy", read_only=False)
    mv.host_dir.mkdir()

    async def go():
        await m._materialise(mv, await cp.VolumeGetManifest(vpb.VolumeGetManifestRequest(volume_id="vo-1")))
        shutil.rmtree(mv.host_dir / "link")  # the container's doing, not committed
        (mv.host_dir / "link").symlink_to(outside)
        cp.put("link/planted.txt", b"evil")  # meanwhile someone commits a file under that path
        await m._reload(mv)
        assert not (outside / "planted.txt").exists()
        assert (mv.host_dir / "link" / "planted.txt").read_bytes() == b"evil"
        (mv.host_dir / "leak").symlink_to(outside / "shadow")
        await m._commit(mv)
        sent = {e.path: e for e in cp.commits[-1].puts}
        assert sent["leak"].kind == vm.SYMLINK and not sent["leak"].chunks
        assert all(data != b"host secret" for data in cp.blobs.values())

    asyncio.run(go())
    assert sorted(p.name for p in outside.iterdir()) == ["shadow"]
