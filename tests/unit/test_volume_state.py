"""Volume versions in a real state store (SQLite): commits apply on the latest version, their
preconditions refuse with the path named, and only the last versions are kept."""

from __future__ import annotations

import pytest

from squall._proto.squall.v1 import volume_pb2 as vpb
from squall.server.state.store import Store
from squall.server.volumes import KEEP_VERSIONS, VolumeConflict, Volumes
from squall.storage import volume_manifest as vm


def f(path: str, chunk: str) -> vpb.VolumeEntry:
    return vpb.VolumeEntry(path=path, kind=vm.FILE, mode=0o644, size=1, chunks=[chunk * 64])


@pytest.fixture
def volumes(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    yield Volumes(store)
    store.close()


def test_commits_build_versions_and_refuse_what_they_must(volumes):
    vid = volumes.create("v", False)
    assert volumes.manifest(vid) == (0, {})
    assert volumes.commit(vid, [f("a.txt", "1"), f("dir/b.txt", "2")], []) == 1
    assert volumes.commit(vid, [f("a.txt", "3")], ["dir"]) == 2
    version, manifest = volumes.manifest(vid)
    assert version == 2 and sorted(manifest) == ["a.txt"] and manifest["a.txt"].chunks == ["3" * 64]
    assert sorted(volumes.manifest(vid, 1)[1]) == ["a.txt", "dir", "dir/b.txt"]
    with pytest.raises(VolumeConflict, match="a.txt already exists"):
        volumes.commit(vid, [f("a.txt", "4")], [], no_overwrite=True)
    with pytest.raises(VolumeConflict, match="nope: no such file"):
        volumes.commit(vid, [], ["nope"], require_removes_exist=True)
    assert volumes.manifest(vid)[0] == 2, "a refused commit makes no version"
    info = volumes.version_info(vid)
    assert (info.version, info.num_files, info.size_bytes) == (2, 1, 1)


def test_only_the_last_versions_are_kept(volumes):
    vid = volumes.create(None, True)
    for i in range(KEEP_VERSIONS + 5):
        volumes.commit(vid, [f(f"f{i}", "a")], [])
    assert volumes.manifest(vid)[0] == KEEP_VERSIONS + 5 and len(volumes.manifest(vid)[1]) == KEEP_VERSIONS + 5
    with pytest.raises(KeyError):
        volumes.manifest(vid, 5)
    assert volumes.manifest(vid, 6)[0] == 6
    volumes.delete(vid)
    assert volumes.find(vid) is None and volumes.manifest(vid) == (0, {})
