"""Dicts and Queues end to end: functions in real (runc) containers and this test process
share them through the server; the CLI reads them."""

from __future__ import annotations

import queue
import threading
import time

import pytest

import squall
from squall.exception import NotFoundError
from tests.apps import storage
from tests.conftest import using

pytestmark = [pytest.mark.runtime, pytest.mark.integration, pytest.mark.timeout(600)]


@pytest.fixture
def sdk(runc_cluster, monkeypatch):
    yield from using(runc_cluster, monkeypatch)


def test_a_container_fills_a_dict_and_a_queue_this_process_reads(sdk):
    d = squall.Dict.from_name("results", create_if_missing=True)
    q = squall.Queue.from_name("work", create_if_missing=True)
    assert d.len() == 0 and q.len(total=True) == 0  # handles are lazy: this creates both
    with storage.app.run():
        assert storage.produce.remote("results", "work", 5) == 6
    assert d["from-container"] == {"n": 5}
    assert sorted(k for k in d.keys() if k.startswith("k")) == [f"k{i}" for i in range(5)]
    assert q.len() == 5 and q.len(total=True) == 6
    assert q.get_many(10) == [{"item": i} for i in range(5)]
    assert q.get(partition="status") == "done"
    assert q.get(block=False) is None

    out = sdk.squall("dict", "items", "results")
    assert out.returncode == 0, out.stderr
    assert "from-container" in out.stdout and "{'n': 5}" in out.stdout
    q.put_many([1, 2, 3])
    out = sdk.squall("queue", "len", "work")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "3"
    out = sdk.squall("queue", "peek", "work", "2")
    assert out.stdout.split() == ["1", "2"]
    assert sdk.squall("queue", "clear", "work", "--yes").returncode == 0
    assert q.len() == 0


def test_an_ephemeral_dict_passed_to_a_container_is_deleted_on_exit(sdk):
    with storage.app.run(), squall.Dict.ephemeral() as d:
        assert storage.fill.remote(d, "answer", 42) is True
        assert d["answer"] == 42
    with pytest.raises(NotFoundError, match="does not exist"):
        d.get("answer")
    assert d.object_id not in sdk.squall("dict", "list").stdout


def test_a_blocking_get_wakes_as_soon_as_another_thread_puts(sdk):
    with squall.Queue.ephemeral() as q:
        got: list = []

        def consumer():
            t0 = time.monotonic()
            got.append((q.get(timeout=30), time.monotonic() - t0))

        t = threading.Thread(target=consumer)
        t.start()
        time.sleep(0.5)
        q.put("wake up")
        t.join(30)
        assert got and got[0][0] == "wake up"
        assert got[0][1] < 5, f"the get took {got[0][1]:.1f} s; it should wake at the put"
        with pytest.raises(queue.Empty):
            q.get(timeout=0.2)


def test_a_blocking_get_in_a_container_wakes_at_a_put_from_here(sdk):
    squall.Queue.from_name("handoff", create_if_missing=True).clear()
    with storage.app.run():
        call = storage.consume.spawn("handoff", 60)
        time.sleep(2)
        squall.Queue.from_name("handoff").put({"hello": "container"})
        assert call.get(timeout=60) == {"hello": "container"}


def test_missing_names_say_how_to_create_them(sdk):
    with pytest.raises(NotFoundError, match="create_if_missing=True"):
        squall.Queue.from_name("nope").len()
    out = sdk.squall("dict", "get", "nope", "k")
    assert out.returncode == 1 and "squall dict create nope" in out.stderr
