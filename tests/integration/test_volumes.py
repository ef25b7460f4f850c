"""Volumes end to end: functions in real (runc) containers and this test process share a
Volume through the server and the worker; the CLI reads and writes it."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time

import pytest

import squall
from squall.exception import AlreadyExistsError, InvalidError, NotFoundError
from tests.apps import volumes as apps
from tests.conftest import using

pytestmark = [pytest.mark.runtime, pytest.mark.integration, pytest.mark.timeout(600)]


@pytest.fixture
def sdk(runc_cluster, monkeypatch):
    yield from using(runc_cluster, monkeypatch)


def _read(vol, path: str) -> bytes:
    return b"".join(vol.read_file(path))


def _paths(vol, path: str = "/") -> list[str]:
    return [e.path for e in vol.listdir(path, recursive=True)]


def _container_states(cluster, app_id: str) -> list[str]:
    from squall._proto.squall.v1 import api_pb2
    from squall.cli._common import api_call

    return [c.state for c in api_call("ContainerList", api_pb2.ContainerListRequest(app_id=app_id)).containers]


def _wait(cond, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.1)


def test_client_uploads_containers_read_write_and_commit(sdk, tmp_path):
    vol = squall.Volume.from_name("shared-vol", create_if_missing=True)
    (tmp_path / "tree" / "sub").mkdir(parents=True)
    (tmp_path / "tree" / "sub" / "deep.txt").write_text("deep")
    (tmp_path / "hello.txt").write_text("hello from the client")
    with vol.batch_upload() as batch:
        batch.put_file(tmp_path / "hello.txt", "/hello.txt")
        batch.put_directory(tmp_path / "tree", "/tree")
    assert _paths(vol) == ["hello.txt", "tree", "tree/sub", "tree/sub/deep.txt"]
    with pytest.raises(AlreadyExistsError, match="hello.txt already exists"):
        with vol.batch_upload() as batch:
            batch.put_file(tmp_path / "hello.txt", "hello.txt")

    with apps.app.run():
        assert apps.read_text.remote("hello.txt") == "hello from the client"
        assert apps.read_text.remote("tree/sub/deep.txt") == "deep"
        listing = apps.write_and_commit.remote("out/result.txt", "written in a container")
        assert listing == ["hello.txt", "out", "tree"]
        assert _read(vol, "out/result.txt") == b"written in a container"

        # Each container works on its own copy: the warm read_text container does not see
        # a later change until it reloads; another function's container reloads and does.
        assert apps.reload_and_read.remote("hello.txt", False) == "hello from the client"
        with vol.batch_upload(force=True) as batch:
            batch.put_file(__import__("io").BytesIO(b"changed by the client"), "hello.txt")
        assert apps.read_text.remote("hello.txt") == "hello from the client"
        assert apps.reload_and_read.remote("hello.txt", False) == "hello from the client"
        assert apps.reload_and_read.remote("hello.txt", True) == "changed by the client"


def test_concurrent_commits_merge_and_the_last_writer_wins_per_file(sdk):
    vol = squall.Volume.from_name("shared-vol", create_if_missing=True)
    with apps.app.run():
        apps.writer_one.remote(None)  # both containers start (and copy the volume) before either writes
        apps.writer_two.remote(None)
        apps.writer_one.remote("lww/one.txt", "one")
        apps.writer_two.remote("lww/two.txt", "two")
        apps.writer_one.remote("lww/same.txt", "first")
        apps.writer_two.remote("lww/same.txt", "second")
    assert sorted(p for p in _paths(vol, "lww")) == ["lww/one.txt", "lww/same.txt", "lww/two.txt"]
    assert _read(vol, "lww/same.txt") == b"second"
    apps_one_then = None
    with apps.app.run():
        apps.writer_two.remote("lww/same.txt", "third")
        apps.writer_one.remote("lww/same.txt", "fourth")
        apps_one_then = _read(vol, "lww/same.txt")
    assert apps_one_then == b"fourth"


def test_a_clean_exit_commits_and_a_crash_does_not(sdk):
    vol = squall.Volume.from_name("shared-vol", create_if_missing=True)
    with apps.app.run():
        assert apps.write_and_exit.remote("auto/committed.txt", "at exit") == "written"
        # single_use_containers: the container exits cleanly after its input; the worker
        # commits before it reports the exit.
        _wait(lambda: "auto/committed.txt" in _paths(vol), "the commit at container exit")
        assert _read(vol, "auto/committed.txt") == b"at exit"
        with pytest.raises(Exception):
            apps.write_and_crash.remote("auto/crashed.txt", "lost")
        app_id = apps.app.app_id
        _wait(lambda: "stopped" in _container_states(sdk, app_id) and all(s == "stopped" for s in _container_states(sdk, app_id)[-1:]),
              "the crashed container's exit")
    assert "auto/crashed.txt" not in _paths(vol)


def test_read_only_mounts_and_unmounted_volumes_refuse_writes(sdk):
    with apps.app.run():
        code, message = apps.write_read_only.remote()
        assert code == apps.EROFS
        assert "mounted read-only" in message and "InvalidError" in message
        message = apps.commit_unmounted.remote()
        assert message.startswith("PermissionDeniedError") and "not mounted in this container" in message
        squall.Volume.from_name("not-mounted-vol", create_if_missing=True).listdir("/")
        message = apps.upload_from_container.remote("from-container-upload.txt", "uploaded")
        assert message.startswith("PermissionDeniedError") and "not mounted read-write in this container" in message, message
    vol = squall.Volume.from_name("shared-vol", create_if_missing=True)
    assert _read(vol, "from-container-upload.txt") == b"uploaded"


def test_a_big_file_streams_in_pieces_and_dedupes(sdk, tmp_path):
    vol = squall.Volume.from_name("shared-vol", create_if_missing=True)
    big = tmp_path / "big.bin"
    data = os.urandom(3 * 1024 * 1024) * 7  # 21 MiB: six pieces, and the repeats are stored once
    big.write_bytes(data)
    with vol.batch_upload(force=True) as batch:
        batch.put_file(big, "big/one.bin")
        batch.put_file(big, "big/two.bin")
    blobs = sdk.home / "server" / "blobs"
    stored = sum(f.stat().st_size for f in blobs.rglob("*") if f.is_file())
    assert stored < 2 * len(data), "the same content in two files is stored once"
    assert _read(vol, "big/two.bin") == data
    with apps.app.run():
        assert apps.big_file_digest.remote("big/one.bin") == (len(data), hashlib.sha256(data).hexdigest())


def test_client_file_operations(sdk):
    with squall.Volume.ephemeral() as vol:
        with vol.batch_upload() as batch:
            batch.put_file(__import__("io").BytesIO(b"a"), "dir/a.txt")
            batch.put_file(__import__("io").BytesIO(b"b"), "dir/b.txt")
        vol.copy_files(["dir/a.txt"], "copy/")
        vol.copy_files(["dir"], "dir2", recursive=True)
        vol.rename("dir/b.txt", "moved.txt")
        assert _paths(vol) == ["copy", "copy/a.txt", "dir", "dir/a.txt", "dir2", "dir2/a.txt", "dir2/b.txt", "moved.txt"]
        assert _read(vol, "moved.txt") == b"b"
        with pytest.raises(InvalidError, match="recursive=True"):
            vol.remove_file("dir2")
        vol.remove_file("dir2", recursive=True)
        with pytest.raises(NotFoundError):
            vol.remove_file("nope.txt")
        with pytest.raises(InvalidError, match="climbs out"):
            vol.listdir("../etc")
        assert [e.path for e in vol.listdir("/")] == ["copy", "dir", "moved.txt"]
        vol_id = vol.object_id
    with pytest.raises(NotFoundError):
        squall.Volume(None, object_id=vol_id).listdir("/")


def test_cli(sdk, tmp_path):
    (tmp_path / "f.txt").write_text("from the cli")
    assert sdk.squall("volume", "create", "cli-vol").returncode == 0
    r = sdk.squall("volume", "create", "cli-vol")
    assert r.returncode == 1 and "already exists" in r.stderr
    r = sdk.squall("volume", "put", "cli-vol", str(tmp_path / "f.txt"), "/docs/")
    assert r.returncode == 0, r.stderr
    r = sdk.squall("volume", "cp", "cli-vol", "docs/f.txt", "docs/g.txt")
    assert r.returncode == 0, r.stderr
    r = sdk.squall("volume", "ls", "cli-vol", "docs")
    assert r.returncode == 0 and "docs/f.txt" in r.stdout and "docs/g.txt" in r.stdout, r.stdout + r.stderr
    r = sdk.squall("volume", "get", "cli-vol", "docs/g.txt", "-")
    assert r.stdout == "from the cli"
    r = sdk.squall("volume", "get", "cli-vol", "docs", str(tmp_path / "down"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "down" / "f.txt").read_text() == "from the cli"
    assert sdk.squall("volume", "rm", "cli-vol", "docs/f.txt").returncode == 0
    r = sdk.squall("volume", "list")
    assert "cli-vol" in r.stdout
    assert sdk.squall("volume", "delete", "cli-vol", "--yes").returncode == 0
    r = sdk.squall("volume", "ls", "cli-vol")
    assert r.returncode == 1 and "squall volume create cli-vol" in r.stderr


def test_large_arguments_and_results_travel_by_reference(sdk):
    payload = os.urandom(50 * 1024 * 1024)
    with apps.app.run():
        assert apps.echo.remote(payload) == payload[::-1]
        assert list(apps.echo.map([payload[:10], payload[: 3 * 1024 * 1024]])) == [payload[:10][::-1], payload[: 3 * 1024 * 1024][::-1]]
    db = sqlite3.connect(sdk.home / "server" / "state.db")
    try:
        biggest_input = db.execute("select max(length(args)) from inputs").fetchone()[0]
        biggest_output = db.execute("select max(length(result)) from outputs").fetchone()[0]
    finally:
        db.close()
    assert biggest_input < 64 * 1024 and biggest_output < 64 * 1024, (biggest_input, biggest_output)


def test_volumes_under_gvisor(gvisor_cluster, monkeypatch):
    """The same copy, commit and reload path through gVisor's gofer and --host-uds socket."""
    gvisor_cluster.use_in_this_process(monkeypatch)
    try:
        vol = squall.Volume.from_name("shared-vol", create_if_missing=True)
        with vol.batch_upload(force=True) as batch:
            batch.put_file(__import__("io").BytesIO(b"v1"), "g.txt")
        with apps.app.run():
            assert apps.reload_and_read.remote("g.txt", False) == "v1"
            assert apps.write_and_commit.remote("from-gvisor.txt", "hi") == ["from-gvisor.txt", "g.txt"]
            with vol.batch_upload(force=True) as batch:
                batch.put_file(__import__("io").BytesIO(b"v2"), "g.txt")
            assert apps.reload_and_read.remote("g.txt", True) == "v2"
            assert apps.write_read_only.remote()[0] == apps.EROFS
        assert _read(vol, "from-gvisor.txt") == b"hi"
    finally:
        from squall.client import client

        client.reset_client()


def test_a_class_reads_its_volume_in_enter_and_aio_variants_work(sdk):
    import asyncio

    vol = squall.Volume.from_name("shared-vol", create_if_missing=True)

    async def upload_and_list():
        async with vol.batch_upload(force=True) as batch:
            batch.put_file(__import__("io").BytesIO(b"w1"), "model.txt")
        entries = await vol.listdir.aio("/")
        data = b"".join([chunk async for chunk in vol.read_file.aio("model.txt")])
        async with squall.Volume.ephemeral.aio() as eph:
            assert await eph.listdir.aio("/") == []
        return [e.path for e in entries], data

    paths, data = asyncio.run(upload_and_list())
    assert "model.txt" in paths and data == b"w1"
    with apps.app.run():
        assert apps.Model().predict.remote("x") == "w1:x"
