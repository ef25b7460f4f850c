"""The schedule loop's bookkeeping on a real Store (SQLite): one run per due time, one
catch-up run after downtime, a fresh start for an app that was stopped and deployed again."""

from __future__ import annotations

import types

from squall._proto.squall.v1 import common_pb2 as pb
from squall._proto.squall.v1 import web_pb2
from squall.server.scheduler_loop import ScheduleRunner
from squall.server.state.store import Store
from squall.server.web_state import WebState


class FakeCP:
    def __init__(self, store: Store):
        self.store = store
        self.running_apps = {"ap-1"}
        d = pb.FunctionDefinition(function_name="tick")
        d.schedule.CopyFrom(web_pb2.Schedule(period_s=10))
        self.functions = {"fu-1": types.SimpleNamespace(function_id="fu-1", app_id="ap-1", name="tick", definition=d, parent_id=None, retired=False)}
        self.calls = 0

    def create_call(self, fn, kind, inputs):
        self.calls += 1
        return types.SimpleNamespace(call_id=f"fc-{self.calls}")


def runner(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    store.add_app_version("ap-1", {"tick": "fu-1"})
    cp = FakeCP(store)
    return cp, ScheduleRunner(cp, WebState(store)), store


def runs(r: ScheduleRunner):
    return [(x.scheduled_for, x.catch_up) for x in reversed(r.state.schedule_runs("ap-1", "tick", 100))]


def test_period_runs_once_per_due_time(tmp_path):
    cp, r, _ = runner(tmp_path)
    r.tick(1000.0)  # first sight: due at 1010
    r.tick(1005.0)
    assert cp.calls == 0
    r.tick(1010.1)
    r.tick(1010.2)
    r.tick(1020.0)
    assert runs(r) == [(1010.0, False), (1020.0, False)] and cp.calls == 2


def test_downtime_gives_one_catch_up_run(tmp_path):
    cp, r, store = runner(tmp_path)
    r.tick(1000.0)
    r.tick(1010.0)
    # The server was down from 1011 to 1100: a new runner, as after a restart.
    r2 = ScheduleRunner(cp, WebState(store))
    r2.tick(1100.0)
    r2.tick(1100.5)
    r2.tick(1110.0)
    assert runs(r2) == [(1010.0, False), (1020.0, True), (1110.0, False)]


def test_a_stopped_app_deployed_again_starts_afresh(tmp_path):
    cp, r, _ = runner(tmp_path)
    r.tick(1000.0)
    r.tick(1010.0)
    cp.running_apps.clear()  # squall app stop
    r.tick(1050.0)
    cp.running_apps.add("ap-1")  # deployed again
    r.tick(1100.0)
    r.tick(1105.0)
    r.tick(1110.0)
    assert runs(r) == [(1010.0, False), (1110.0, False)]
