"""Schedules: the control plane runs `schedule=Period(...)` / `Cron(...)` functions of deployed apps.

Only the *current version* of a *running, deployed* app fires (like Modal: `squall run` and
`squall serve` never do). Each schedule's next due time is persisted (table schedule_state,
keyed by app and function name), and moving it on is written in the same transaction as the
record of the run that fired, so a restart neither skips nor repeats a run that was recorded.

Runs missed while the server was down: when the server starts and finds a schedule overdue,
it runs the function **once** (recorded with catch_up=True) and then continues from the next
due time after now: one catch-up run, never a storm of the missed ones. The same applies when
the loop itself falls behind. A redeploy with a different schedule starts that schedule afresh
(first run one period, or the next cron time, after the deploy); the same schedule carries on.

A run is an ordinary spawned call with no arguments: it gets the function's retries, timeout
and autoscaling, and shows in `squall schedule list` with its call id and outcome.
"""

from __future__ import annotations

import asyncio
import logging
import time

from squall import _serialization as ser
from squall._proto.squall.v1 import api_pb2
from squall._proto.squall.v1 import common_pb2 as pb
from squall.sdk.schedule import describe, next_run
from squall.server.web_state import WebState

log = logging.getLogger("squall.server")

TICK_S = 0.25
LATE_S = 5.0  # a run due this long before we noticed it is a catch-up run (the server was down or stalled)


class ScheduleRunner:
    def __init__(self, cp, state: WebState):
        self.cp = cp
        self.state = state
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            try:
                self.tick(time.time())
            except Exception:  # keep scheduling whatever one schedule's state is
                log.exception("schedule step failed")
            await asyncio.sleep(TICK_S)

    def scheduled_functions(self) -> list:
        """(app id, function name, FunctionRec) for each schedule that may fire now."""
        found = []
        apps: dict[str, set[str] | None] = {}
        for fn in list(self.cp.functions.values()):
            if not fn.definition.HasField("schedule") or fn.parent_id is not None or fn.retired or fn.app_id not in self.cp.running_apps:
                continue
            if fn.app_id not in apps:
                current = self.cp.store.current_app_version(fn.app_id)  # None: never deployed (an ephemeral app)
                apps[fn.app_id] = set(current.function_ids.values()) if current is not None else None
            if apps[fn.app_id] is not None and fn.function_id in apps[fn.app_id]:
                found.append((fn.app_id, fn.name, fn))
        return found

    def tick(self, now: float) -> None:
        states = self.state.schedule_states()
        for app_id, name, fn in self.scheduled_functions():
            s = fn.definition.schedule
            spec = describe(s)
            row = states.get((app_id, name))
            if row is None or row.spec != spec:
                self.state.set_next_run(app_id, name, spec, next_run(s, now))
                continue
            if row.next_run_at > now:
                continue
            catch_up = now - row.next_run_at > LATE_S
            call = self.cp.create_call(fn, api_pb2.SPAWN, [pb.Input(idx=0, args=ser.serialize_args((), {}))])
            following = next_run(s, row.next_run_at)
            if following <= now:  # missed several: this one run stands for them all
                following = next_run(s, now)
            self.state.set_next_run(app_id, name, spec, following,
                                    run=dict(call_id=call.call_id, scheduled_for=row.next_run_at, started_at=now, catch_up=catch_up))
            log.info("schedule %s of app %s ran (%s%s)", name, app_id, call.call_id, ", catch-up" if catch_up else "")
