"""The S3 blob backend against a real S3 API on loopback (moto's server mode), and the whole
platform (code mounts, image layers, volumes, large arguments) on a server that keeps its
blobs there."""

from __future__ import annotations

import hashlib
import io
import os
import time

import pytest

from tests.conftest import Cluster, free_port, needs_root

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

BUCKET = "squall-blobs"


@pytest.fixture(scope="module")
def s3():
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "squall-test", "AWS_SECRET_ACCESS_KEY": "squall-test",
           "AWS_DEFAULT_REGION": "us-east-1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    import boto3

    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    try:
        yield env, client
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        server.stop()


def _objects_once(client, bucket: str, want: dict[str, bytes], timeout: float = 60) -> dict[str, bytes]:
    """The bucket's objects (key -> body) once they are `want`, or as they are at the deadline:
    a container's writable bucket mount is written back as it goes, after the call returned."""
    deadline = time.monotonic() + timeout
    while True:
        objects = {o["Key"]: client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
                   for o in client.list_objects_v2(Bucket=bucket)["Contents"]}
        if objects == want or time.monotonic() > deadline:
            return objects
        time.sleep(0.2)


def _keys(client, prefix: str) -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def test_blobs_round_trip_dedupe_and_use_multipart_uploads(s3):
    from squall.storage.blobs import open_blob_store
    from squall.storage.s3 import MULTIPART_THRESHOLD, S3BlobStore

    _, client = s3
    store = open_blob_store(f"s3://{BUCKET}/unit", None)
    assert isinstance(store, S3BlobStore)
    digest = store.put_chunks(iter([b"hello ", b"world"]))
    assert digest == hashlib.sha256(b"hello world").hexdigest()
    assert store.has(digest) and store.size(digest) == 11
    assert b"".join(store.read_chunks(digest)) == b"hello world"
    assert store.put_chunks(iter([b"hello world"])) == digest
    assert _keys(client, "unit/") == [f"unit/{digest[:2]}/{digest}"]

    with pytest.raises(ValueError, match="does not match its digest"):
        store.put_chunks(iter([b"other"]), expected_digest=digest.replace(digest[0], "0" if digest[0] != "0" else "1", 1))
    assert len(_keys(client, "unit/")) == 1

    big = os.urandom(1024 * 1024) * (MULTIPART_THRESHOLD // (1024 * 1024) + 6)  # past the multipart threshold
    big_digest = store.put_chunks(iter([big[i : i + (4 << 20)] for i in range(0, len(big), 4 << 20)]))
    etag = client.head_object(Bucket=BUCKET, Key=f"unit/{big_digest[:2]}/{big_digest}")["ETag"]
    assert "-" in etag, f"a {len(big) >> 20} MiB blob should go up as a multipart upload (ETag {etag})"
    assert hashlib.sha256(b"".join(store.read_chunks(big_digest))).hexdigest() == big_digest
    store.delete(digest)
    assert not store.has(digest)

    with pytest.raises(RuntimeError, match="s3://no-such-bucket"):
        open_blob_store("s3://no-such-bucket/x", None)
    with pytest.raises(ValueError, match="s3://bucket/prefix"):
        open_blob_store("gs://bucket/x", None)


@pytest.fixture(scope="module")
def s3_cluster(s3, tmp_path_factory):
    needs_root()
    env, _ = s3
    c = Cluster(tmp_path_factory.mktemp("cluster-s3"), "runc")
    c.env.update(env)
    c.env["SQUALL_BLOB_URL"] = f"s3://{BUCKET}/platform"
    c.start_server()
    c.start_worker()
    yield c
    c.stop()


@pytest.mark.runtime
def test_functions_volumes_and_large_arguments_on_the_s3_backend(s3, s3_cluster, monkeypatch):
    import squall
    from tests.apps import volumes as apps

    _, client = s3
    s3_cluster.use_in_this_process(monkeypatch)
    try:
        vol = squall.Volume.from_name("shared-vol", create_if_missing=True)
        with vol.batch_upload(force=True) as batch:
            batch.put_file(io.BytesIO(b"kept in S3"), "hello.txt")
        payload = os.urandom(50 * 1024 * 1024)
        with apps.app.run():
            assert apps.read_text.remote("hello.txt") == "kept in S3"
            assert apps.write_and_commit.remote("from/container.txt", "committed to S3") == ["from", "hello.txt"]
            assert apps.echo.remote(payload) == payload[::-1]
        assert b"".join(vol.read_file("from/container.txt")) == b"committed to S3"
        keys = _keys(client, "platform/")
        for content in (b"kept in S3", b"committed to S3"):
            d = hashlib.sha256(content).hexdigest()
            assert f"platform/{d[:2]}/{d}" in keys
        assert len(keys) >= 5  # code mount, both files, the big argument and the big result
        local = s3_cluster.home / "server" / "blobs"
        assert not local.exists() or not any(p.is_file() for p in local.rglob("*")), "no blob may land in the local directory"
    finally:
        from squall.client import client as squall_client

        squall_client.reset_client()


@pytest.mark.runtime
def test_a_cloud_bucket_mount_shows_an_s3_prefix_read_only(s3, s3_cluster, monkeypatch):
    _, client = s3
    client.create_bucket(Bucket="squall-data")
    for key, body in (("datasets/a.txt", b"alpha"), ("datasets/sub/b.txt", b"beta"), ("other/c.txt", b"not mounted")):
        client.put_object(Bucket="squall-data", Key=key, Body=body)
    monkeypatch.setenv("SQUALL_TEST_S3_ENDPOINT", os.environ["AWS_ENDPOINT_URL"])
    s3_cluster.use_in_this_process(monkeypatch)
    import importlib

    from tests.apps import buckets

    buckets = importlib.reload(buckets)  # picks up the endpoint
    try:
        with buckets.app.run():
            got = buckets.read_bucket.remote()
        assert got == {"files": ["a.txt", "sub/b.txt"], "a": "alpha", "nested": "beta", "erofs": True}
    finally:
        from squall.client import client as squall_client

        squall_client.reset_client()


@pytest.mark.runtime
def test_a_writable_cloud_bucket_mount_writes_back_when_the_container_ends(s3, s3_cluster, monkeypatch):
    _, client = s3
    client.create_bucket(Bucket="squall-work")
    for key, body in (("work/changed.txt", b"before"), ("work/gone.txt", b"to delete"), ("work/kept.txt", b"untouched"), ("elsewhere.txt", b"x")):
        client.put_object(Bucket="squall-work", Key=key, Body=body)
    monkeypatch.setenv("SQUALL_TEST_S3_ENDPOINT", os.environ["AWS_ENDPOINT_URL"])
    s3_cluster.use_in_this_process(monkeypatch)
    import importlib

    from tests.apps import buckets

    buckets = importlib.reload(buckets)
    try:
        with buckets.app.run():
            assert buckets.edit_bucket.remote() == ["changed.txt", "gone.txt", "kept.txt"]
        # The app stopped: its container ends cleanly and writes its changes back (the worker does
        # that as the container goes, so wait for it with a deadline).
        want = {"work/changed.txt": b"changed", "work/kept.txt": b"untouched", "work/new.txt": b"written in the container", "elsewhere.txt": b"x"}
        keys = _objects_once(client, "squall-work", want)
        assert keys == want
    finally:
        from squall.client import client as squall_client

        squall_client.reset_client()


@pytest.mark.runtime
def test_a_sandbox_mounts_s3_prefixes_read_only_and_writable(s3, s3_cluster, monkeypatch):
    _, client = s3
    client.create_bucket(Bucket="squall-sandbox")
    for key, body in (("in/a.txt", b"alpha"), ("out/old.txt", b"old"), ("out/kept.txt", b"kept")):
        client.put_object(Bucket="squall-sandbox", Key=key, Body=body)
    s3_cluster.use_in_this_process(monkeypatch)
    import squall

    endpoint = os.environ["AWS_ENDPOINT_URL"]
    creds = squall.Secret.from_dict({"AWS_ACCESS_KEY_ID": "squall-test", "AWS_SECRET_ACCESS_KEY": "squall-test"})
    inputs = squall.CloudBucketMount("squall-sandbox", bucket_endpoint_url=endpoint, key_prefix="in/", secret=creds, read_only=True)
    outputs = squall.CloudBucketMount("squall-sandbox", bucket_endpoint_url=endpoint, key_prefix="out/", secret=creds)
    try:
        sb = squall.Sandbox.create(runtime="runc", volumes={"/in": inputs, "/out": outputs}, timeout=120)
        try:
            assert sb.filesystem.read_text("/in/a.txt") == "alpha"
            assert sorted(e.path for e in sb.filesystem.list_files("/out")) == ["/out/kept.txt", "/out/old.txt"]
            p = sb.exec("sh", "-c", "touch /in/new.txt 2>/dev/null || echo read-only; echo written > /out/new.txt; rm /out/old.txt")
            assert p.stdout.read() == "read-only\n" and p.wait() == 0, p.stderr.read()
        finally:
            sb.terminate()
        # Terminated: the worker writes the writable mount's changes back as the sandbox goes.
        want = {"in/a.txt": b"alpha", "out/kept.txt": b"kept", "out/new.txt": b"written\n"}
        keys = _objects_once(client, "squall-sandbox", want)
        assert keys == want
    finally:
        from squall.client import client as squall_client

        squall_client.reset_client()
