"""Functions and classes end to end: real server, worker and runtime (runc and gVisor),
driven through the public SDK."""

from __future__ import annotations

import time

import pytest

import squall
from squall.exception import ExecutionError, FunctionTimeoutError, InvalidError
from tests.apps import basic

pytestmark = [pytest.mark.runtime, pytest.mark.integration, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def running(cluster):
    import os

    saved = {k: os.environ.get(k) for k in ("SQUALL_HOME", "SQUALL_CACHE_HOME", "SQUALL_SERVER_URL", "SQUALL_TOKEN")}
    os.environ.update({k: cluster.env[k] for k in saved})
    from squall.client import client

    client.reset_client()
    with basic.app.run():
        yield cluster
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    client.reset_client()


def test_remote_runs_in_an_isolated_container(running):
    seen = basic.whoami.remote()
    assert seen["is_local"] is False
    assert seen["input_id"].startswith("in-")
    assert seen["uid"] == 0
    assert seen["pid1"].endswith("python3")  # the agent is pid 1 of its own pid namespace
    assert seen["interfaces"] == ["eth0", "lo"]  # its own namespace: loopback and the NAT'd veth
    assert basic.offline_interfaces.remote() == ["lo"]  # block_network=True: loopback only
    assert seen["app_file_writable"] is False  # code is mounted read-only
    assert basic.square.remote(7) == 49
    assert basic.add.remote(2, b=3) == 5


def test_map_starmap_for_each_and_order(running):
    assert list(basic.square.map(range(200))) == [x * x for x in range(200)]
    assert sorted(basic.square.map(range(50), order_outputs=False)) == sorted(x * x for x in range(50))
    assert list(basic.add.starmap([(1, 2), (3, 4)])) == [3, 7]
    assert list(basic.add.map([1, 2], kwargs={"b": 10})) == [11, 12]
    assert basic.square.for_each(range(5)) is None


def test_remote_exception_keeps_type_and_traceback(running):
    with pytest.raises(basic.MyError, match="boom") as info:
        basic.fail.remote("boom")
    assert "Remote traceback" in "".join(getattr(info.value, "__notes__", []))
    assert 'raise MyError(message)' in "".join(info.value.__notes__)
    results = list(basic.fail.map(["a", "b"], return_exceptions=True))
    assert [type(r) for r in results] == [basic.MyError, basic.MyError]
    with pytest.raises(basic.MyError):
        list(basic.fail.map(["x"]))


def test_spawn_get_gather_and_from_id(running):
    call = basic.square.spawn(9)
    assert call.object_id.startswith("fc-")
    assert squall.FunctionCall.from_id(call.object_id).get(timeout=60) == 81
    calls = [basic.square.spawn(i) for i in range(3)]
    assert squall.FunctionCall.gather(*calls) == [0, 1, 4]
    assert basic.square.spawn_map(range(4)).get(timeout=60) == [0, 1, 4, 9]
    mapped = basic.square.spawn_map(range(3))
    assert squall.FunctionCall.from_id(mapped.object_id).get(timeout=60) == [0, 1, 4]  # the server says it is a map of 3


def test_generator_streams_values(running):
    assert list(basic.countdown.remote_gen(3)) == [3, 2, 1]


def test_env_option_reaches_the_container(running):
    assert basic.with_env.remote() == "hi"


def test_timeout_raises_function_timeout_error(running):
    t0 = time.monotonic()
    with pytest.raises(FunctionTimeoutError, match="timeout of 2 s"):
        basic.sleepy.remote(30)
    assert time.monotonic() - t0 < 20
    assert basic.sleepy.remote(0) == "woke"  # a fresh container replaces the stopped one


def test_memory_limit_kills_and_names_the_limit(running):
    with pytest.raises(ExecutionError, match=r"ran out of memory \(limit 128 MiB\)"):
        basic.hog.remote(400)
    assert basic.hog.remote(8) == 8


def test_crashing_container_is_retried_then_reported(running):
    with pytest.raises(ExecutionError, match="exited unexpectedly with code 3"):
        basic.die_hard.remote(3)


def test_class_keeps_state_and_parameters_get_own_pool(running):
    c = basic.Counter(start=10)
    assert c.incr.remote() == 11
    assert c.incr.remote(5) == 16  # same container, same instance
    other = basic.Counter(start=100)
    assert other.incr.remote() == 101
    assert other.pid.remote() > 0
    with pytest.raises(InvalidError, match="no parameter"):
        basic.Counter(nope=1)


def test_concurrent_inputs_share_a_container(running):
    t0 = time.monotonic()
    assert list(basic.concurrent_sleep.map([1.0] * 8)) == [1.0] * 8
    assert time.monotonic() - t0 < 8  # one-at-a-time would take at least 8 s in one container


def test_batched_function_receives_lists(running):
    results = list(basic.batch_double.map(range(8)))
    assert [r % 1000 for r in results] == [x * 2 for x in range(8)]
    assert max(r // 1000 for r in results) > 1  # some calls were batched together


def test_aio_variants(running):
    import asyncio

    async def go():
        value = await basic.square.remote.aio(5)
        values = [v async for v in basic.square.map.aio(range(3))]
        return value, values

    assert asyncio.run(go()) == (25, [0, 1, 4])


def test_generator_error_arrives_after_its_items(running):
    seen = []
    with pytest.raises(basic.MyError, match="after the items"):
        for item in basic.count_then_fail.remote_gen(3):
            seen.append(item)
    assert seen == [0, 1, 2]


def test_a_module_that_crashes_on_import_fails_the_call_instead_of_looping(running):
    from tests.apps import crashy

    with crashy.app.run():
        with pytest.raises(ExecutionError, match="failed to start 3 times; last: the container exited unexpectedly with code 3"):
            crashy.never_runs.remote()
