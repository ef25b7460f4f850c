"""Schedules end to end: a deployed Period schedule fires repeatedly and each run is recorded;
a cron schedule waits for its time; a server restart neither skips nor repeats runs, and runs
missed while it was down come back as one catch-up run."""

from __future__ import annotations

import datetime as dt
import signal
import time

import pytest

import squall
from squall._proto.squall.v1 import web_pb2
from squall.client import client as sdk_client
from squall.server.scheduler_loop import LATE_S
from tests.conftest import ROOT, using

pytestmark = [pytest.mark.runtime, pytest.mark.integration, pytest.mark.timeout(600)]


def schedules(app: str = "scheduled") -> dict[str, web_pb2.ScheduleInfo]:
    from squall.cli.web import web_call

    sdk_client.reset_client()  # the server may have restarted
    return {s.function_name: s for s in web_call("ScheduleList", web_pb2.ScheduleListRequest(app=app, max_runs=1000)).schedules}


def wait_until(cond, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {timeout} s")


@pytest.fixture
def sdk(runc_cluster, monkeypatch):
    yield from using(runc_cluster, monkeypatch)


def test_a_deployed_schedule_fires_and_each_run_is_recorded(sdk):
    out = sdk.squall("schedule", "list")
    assert out.returncode == 0 and "No schedules" in out.stdout, out.stdout + out.stderr
    out = sdk.squall("deploy", str(ROOT / "tests" / "apps" / "scheduled.py"))
    assert out.returncode == 0, out.stdout + out.stderr

    # tick: every second; at least two runs, each a successful call that really ran.
    wait_until(lambda: sum(r.status == "success" for r in schedules()["tick"].runs) >= 2, 120, "two successful tick runs")
    ticks = squall.Dict.from_name("schedule-ticks")
    assert ticks.len() >= 2
    runs = schedules()["tick"].runs
    assert all(not r.catch_up and r.call_id.startswith("fc-") for r in runs)
    due = sorted(r.scheduled_for for r in runs)
    assert all(b - a >= 0.99 for a, b in zip(due, due[1:])), due  # one per due time, none doubled (a stalled loop may skip ahead)

    # yearly: waits for 1 January, and has not run.
    yearly = schedules()["yearly"]
    now = dt.datetime.now(dt.timezone.utc)
    assert yearly.next_run_at == dt.datetime(now.year + 1, 1, 1, tzinfo=dt.timezone.utc).timestamp()
    assert not yearly.runs and yearly.spec == "cron 0 0 1 1 * (UTC)"

    out = sdk.squall("schedule", "list", "scheduled")
    assert out.returncode == 0, out.stderr
    assert "every 1s" in out.stdout and "cron 0 0 1 1 * (UTC)" in out.stdout and "success" in out.stdout


def test_a_restart_catches_up_once(sdk):
    old_pid = sdk.server.pid
    sdk.server.send_signal(signal.SIGTERM)
    sdk.server.wait(30)
    stopped_at = time.time()
    # Stay down long enough that several runs are missed and the next one counts as late.
    wait_until(lambda: time.time() > stopped_at + LATE_S + 2, LATE_S + 10, "time passing while the server is down")
    sdk.start_server()
    assert sdk.server.pid != old_pid
    wait_until(lambda: sum(r.started_at > stopped_at for r in schedules()["tick"].runs) >= 3, 120, "runs after the restart")
    runs = sorted(schedules()["tick"].runs, key=lambda r: r.scheduled_for)
    before = [r for r in runs if r.started_at < stopped_at]
    after = [r for r in runs if r.started_at > stopped_at]
    assert [r.catch_up for r in after[:3]] == [True, False, False], [(r.scheduled_for, r.catch_up) for r in after]
    assert sum(r.catch_up for r in runs) == 1, "missed runs came back as more than one catch-up run"
    due = [r.scheduled_for for r in runs]
    assert len(set(due)) == len(due), "a due time ran twice"
    # The catch-up run stands for the first due time missed; the next one is due after the restart.
    assert after[0].scheduled_for == pytest.approx(before[-1].scheduled_for + 1.0, abs=0.01)
    assert after[0].scheduled_for < stopped_at + 1.0 < after[1].scheduled_for
    assert after[1].scheduled_for > after[0].started_at
