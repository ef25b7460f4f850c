"""Failure and scaling behaviour a user would notice: a dying worker loses no input,
warm containers stay warm, idle ones go away."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from squall._proto.squall.v1 import api_pb2
from squall.cli._common import api_call
from tests.apps import basic
from tests.conftest import make_cluster, needs_root

pytestmark = [pytest.mark.runtime, pytest.mark.integration, pytest.mark.timeout(600)]


@pytest.fixture
def runc_cluster(tmp_path_factory, monkeypatch):
    needs_root()
    c = make_cluster(tmp_path_factory, "runc")
    c.use_in_this_process(monkeypatch)
    yield c
    c.stop()


def containers(app_id: str) -> list:
    return list(api_call("ContainerList", api_pb2.ContainerListRequest(app_id=app_id)).containers)


def test_killing_the_worker_mid_map_loses_no_input(runc_cluster):
    results: list = []
    with basic.app.run():
        basic.slow_square.remote(0)  # a warm container, so the map is under way quickly
        t = threading.Thread(target=lambda: results.extend(basic.slow_square.map(range(60), return_exceptions=True)))
        t.start()
        time.sleep(1.0)
        victim = runc_cluster.workers[0]
        os.killpg(victim.pid, signal.SIGKILL)  # the worker and the runtime processes it started
        victim.wait()
        runc_cluster.start_worker("w2")
        t.join(300)
        assert not t.is_alive()
        lost = [c for c in containers(basic.app.app_id) if "was lost" in c.exit_reason]
    assert results == [x * x for x in range(60)]
    assert lost, "the map should have been running on the killed worker"


def test_min_containers_stay_warm_and_idle_ones_scale_down(runc_cluster):
    import squall

    app = squall.App("scaling")
    with basic.app.run():
        fn = basic.square.with_options(min_containers=1, scaledown_window=2)
        assert fn.remote(3) == 9
        burst = basic.square.with_options(scaledown_window=2, max_containers=3)
        assert list(burst.map(range(30))) == [x * x for x in range(30)]
        time.sleep(1.0)
        stats = fn.get_current_stats()
        assert stats.num_total_runners == 1
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and burst.get_current_stats().num_total_runners > 0:
            time.sleep(0.5)
        assert burst.get_current_stats().num_total_runners == 0  # idle past scaledown_window: gone
        time.sleep(3)
        assert fn.get_current_stats().num_total_runners == 1  # min_containers: still warm
    del app


def test_inputs_survive_a_control_plane_crash(tmp_path_factory, monkeypatch):
    """An acknowledged input is stored: kill -9 the server before any worker ran it, start
    it again, and the call still completes."""
    import squall
    from tests.conftest import Cluster

    needs_root()
    c = Cluster(tmp_path_factory.mktemp("crash"), "runc")
    try:
        c.start_server()
        c.use_in_this_process(monkeypatch)
        with basic.app.run():
            call = basic.square.spawn(12)  # acknowledged: no worker exists yet, so it waits
            os.killpg(c.server.pid, signal.SIGKILL)
            c.server.wait()
            c.start_server()
            c.start_worker()
            assert squall.FunctionCall.from_id(call.object_id).get(timeout=120) == 144
    finally:
        c.stop()


def test_cancel_drops_waiting_inputs(runc_cluster):
    from squall.exception import InputCancellation

    with basic.app.run():
        call = basic.slow_square.spawn_map(range(200))
        time.sleep(0.5)
        call.cancel()
        with pytest.raises(InputCancellation):
            call.get(timeout=60)
        assert basic.slow_square.get_current_stats().backlog == 0
