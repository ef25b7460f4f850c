"""Volume manifests (storage/volume_manifest.py): paths, commits applied on the latest version,
listings; and the validation of `volumes={...}` at decoration time."""

from __future__ import annotations

import pytest

from squall._proto.squall.v1 import volume_pb2 as vpb
from squall.exception import InvalidError
from squall.storage import volume_manifest as vm


def f(path: str, chunk: str = "a" * 64, size: int = 1) -> vpb.VolumeEntry:
    return vpb.VolumeEntry(path=path, kind=vm.FILE, mode=0o644, size=size, chunks=[chunk])


def d(path: str) -> vpb.VolumeEntry:
    return vpb.VolumeEntry(path=path, kind=vm.DIRECTORY, mode=0o755)


@pytest.mark.parametrize("raw,norm", [("/a/./b/", "a/b"), ("", ""), ("/", ""), ("a/../b", "b"), ("a//b", "a/b"), ("x\\y", "x/y")])
def test_paths_are_normalised(raw, norm):
    assert vm.normalise(raw) == norm


@pytest.mark.parametrize("bad", ["../x", "a/../../x", "a\x00b", "x" * 5000])
def test_bad_paths_name_the_problem(bad):
    with pytest.raises(InvalidError, match="climbs out|NUL|the limit is 4096"):
        vm.normalise(bad)


def test_a_commit_applies_on_the_latest_version_last_writer_wins_per_path():
    base = vm.apply({}, [f("a/one.txt", "1" * 64), f("b.txt", "b" * 64)], [])
    assert sorted(base) == ["a", "a/one.txt", "b.txt"] and base["a"].kind == vm.DIRECTORY
    # two writers started from `base`; each commit carries only its own changes
    first = vm.apply(base, [f("a/one.txt", "2" * 64), f("x.txt")], [])
    second = vm.apply(first, [f("a/one.txt", "3" * 64)], ["b.txt"])
    assert list(second["a/one.txt"].chunks) == ["3" * 64]
    assert "x.txt" in second and "b.txt" not in second


def test_removes_take_whole_trees_and_a_file_replaces_a_directory():
    m = vm.apply({}, [f("dir/a"), f("dir/sub/b"), f("dirx")], [])
    assert sorted(vm.apply(m, [], ["dir"])) == ["dirx"]
    m2 = vm.apply(m, [f("dir")], [])
    assert sorted(m2) == ["dir", "dirx"] and m2["dir"].kind == vm.FILE
    m3 = vm.apply(m2, [f("dir/again")], [])
    assert m3["dir"].kind == vm.DIRECTORY and "dir/again" in m3
    assert vm.apply(m, [], [""]) == {}


def test_manifests_round_trip_and_list():
    m = vm.apply({}, [f("a/b/c.txt"), f("a/d.txt"), d("empty"), f("top.txt")], [])
    again = vm.from_bytes(vm.to_bytes(m.values()))
    assert again == m
    assert [e.path for e in vm.listdir(m, "/", False)] == ["a", "empty", "top.txt"]
    assert [e.path for e in vm.listdir(m, "a", False)] == ["a/b", "a/d.txt"]
    assert [e.path for e in vm.listdir(m, "a", True)] == ["a/b", "a/b/c.txt", "a/d.txt"]
    assert [e.path for e in vm.listdir(m, "a/d.txt", False)] == ["a/d.txt"]
    with pytest.raises(FileNotFoundError):
        vm.listdir(m, "nope", False)


def test_volume_options_are_checked_when_the_function_is_defined():
    import squall
    from squall.sdk.volume import check_volumes

    vol = squall.Volume.from_name("v")
    assert list(check_volumes({"/data/": vol}, "@app.function")) == ["/data"]
    with pytest.raises(InvalidError, match="absolute path"):
        check_volumes({"data": vol}, "@app.function")
    with pytest.raises(InvalidError, match="reserved"):
        check_volumes({"/opt/squall/x": vol}, "@app.function")
    with pytest.raises(InvalidError, match="must be a squall.Volume"):
        check_volumes({"/data": "v"}, "@app.function")
    with pytest.raises(InvalidError, match="cannot nest"):
        check_volumes({"/data": vol, "/data/more": squall.Volume.from_name("w")}, "@app.function")
    assert list(check_volumes({"/b": squall.CloudBucketMount("bucket")}, "@app.function")) == ["/b"]  # writable is the default
    with pytest.raises(InvalidError, match="must be a squall.Secret"):
        check_volumes({"/b": squall.CloudBucketMount("bucket", secret={"AWS_ACCESS_KEY_ID": "x"}, read_only=True)}, "@app.function")
    assert list(check_volumes({"/b": squall.CloudBucketMount("bucket", key_prefix="d/", read_only=True)}, "@app.function")) == ["/b"]
    with pytest.raises(InvalidError, match="volume name"):
        squall.Volume.from_name("no spaces")
    app = squall.App("t", volumes={"/shared": vol})
    assert app._volumes == {"/shared": vol}
    assert vol.read_only()._read_only and repr(vol.read_only()) == "Volume('v', read_only=True)"


def test_large_payloads_become_references_that_cannot_be_mistaken_for_pickles():
    import cloudpickle

    from squall.sdk import _blobs

    ref = _blobs.ref_of("ab" * 32)
    assert _blobs.is_ref(ref) and _blobs.digest_of_ref(ref) == "ab" * 32
    for value in (b"\xffsquall-blob:", "x", 1, None, {"a": [1]}):
        assert not _blobs.is_ref(cloudpickle.dumps(value, protocol=4))
