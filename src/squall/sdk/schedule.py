"""Schedules: `Period(...)` and `Cron("...")` for `@app.function(schedule=...)`.

A schedule only says *when*; the control plane's scheduler loop (server/scheduler_loop.py)
runs the function of a *deployed* app at those times, as Modal does (`squall run` and
`squall serve` never fire schedules).

Cron expressions are croniter's: the classic 5 fields

    minute (0-59)  hour (0-23)  day-of-month (1-31)  month (1-12 or jan-dec)  day-of-week (0-7 or sun-sat)

or one of the aliases @hourly, @daily, @weekly, @monthly, @yearly; when both day-of-month and
day-of-week are restricted, a day that matches either runs, as in cron. Times are computed in the
schedule's IANA timezone. An expression is checked at decoration time (it must parse and fire at
some real date); inside containers, whose agent layer carries croniter too, it is checked again
only if croniter is there: the control plane already checked it when the app was deployed.
"""

from __future__ import annotations

import datetime as dt
import os
import zoneinfo

from squall import config
from squall._proto.squall.v1 import web_pb2
from squall.exception import InvalidError

ALIASES = ("@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually")
FIELDS = "minute hour day-of-month month day-of-week"


def _croniter():
    try:
        from croniter import croniter
    except ImportError:
        return None
    return croniter


def check_cron(text) -> str:
    """The expression, stripped; InvalidError naming what is wrong when croniter refuses it or it
    never fires."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidError(f"cron expression {text!r}: give 5 fields, e.g. '*/5 * * * *' ({FIELDS})")
    expr = text.strip()
    fields = expr.split()
    if expr.lower() not in ALIASES and len(fields) != 5:
        raise InvalidError(f"cron expression {text!r} has {len(fields)} fields; it needs 5: {FIELDS} (e.g. '0 8 * * 1'), or one of {', '.join(ALIASES)}")
    croniter = _croniter()
    if croniter is None:
        if os.environ.get(config.ENV_CONTAINER_ID):
            return expr  # checked by the control plane at deploy time
        raise InvalidError("Cron schedules need the croniter package: pip install croniter")
    try:
        croniter(expr, dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)).get_next(dt.datetime)
    except (ValueError, KeyError) as exc:  # croniter's errors are ValueErrors
        why = "it never matches a real date" if "find next date" in str(exc) else str(exc).replace(f"[{expr}] ", "")
        raise InvalidError(f"cron expression {text!r} is not valid: {why}. The 5 fields are {FIELDS}, e.g. '0 8 * * 1'") from None
    return expr


def _timezone(name: str) -> dt.tzinfo:
    if name in ("", "UTC", "utc"):
        return dt.timezone.utc
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidError(f"timezone={name!r} is not an IANA timezone name; use e.g. 'UTC', 'Europe/Berlin', 'America/New_York'") from None


class Schedule:
    """Base of Period and Cron."""

    def _to_proto(self) -> web_pb2.Schedule:
        raise NotImplementedError


class Period(Schedule):
    """Run every so often: `Period(hours=1)`, `Period(seconds=30)`. The first run is one period
    after the deployment."""

    def __init__(self, *, weeks: float = 0, days: float = 0, hours: float = 0, minutes: float = 0, seconds: float = 0):
        for name, v in (("weeks", weeks), ("days", days), ("hours", hours), ("minutes", minutes), ("seconds", seconds)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                raise InvalidError(f"Period({name}={v!r}): give a number >= 0")
        self.seconds = float(weeks * 604800 + days * 86400 + hours * 3600 + minutes * 60 + seconds)
        if self.seconds < 1:
            raise InvalidError(f"Period() of {self.seconds:g} s is too short: a schedule runs at most once a second (give e.g. seconds=1 or more)")

    def __repr__(self) -> str:
        return f"Period(seconds={self.seconds:g})"

    def _to_proto(self) -> web_pb2.Schedule:
        return web_pb2.Schedule(period_s=self.seconds)


class Cron(Schedule):
    """Run on a cron expression: `Cron("0 8 * * 1")` is 08:00 every Monday, in `timezone`."""

    def __init__(self, cron_string: str, timezone: str = "UTC"):
        self.cron_string = check_cron(cron_string)
        _timezone(timezone)
        self.timezone = timezone

    def __repr__(self) -> str:
        return f"Cron({self.cron_string!r}, timezone={self.timezone!r})"

    def _to_proto(self) -> web_pb2.Schedule:
        return web_pb2.Schedule(cron=self.cron_string, timezone=self.timezone)


def schedule_proto(schedule) -> web_pb2.Schedule | None:
    if schedule is None:
        return None
    if not isinstance(schedule, Schedule):
        raise InvalidError(f"schedule={schedule!r}: give squall.Period(...) or squall.Cron('...')")
    return schedule._to_proto()


def describe(s: web_pb2.Schedule) -> str:
    if s.cron:
        return f"cron {s.cron} ({s.timezone or 'UTC'})"
    return f"every {s.period_s:g}s"


def next_run(s: web_pb2.Schedule, after: float) -> float:
    """The first due time strictly after `after` (a Unix time)."""
    if not s.cron:
        return after + s.period_s
    croniter = _croniter()
    if croniter is None:
        raise InvalidError("Cron schedules need the croniter package: pip install croniter")
    start = dt.datetime.fromtimestamp(after, _timezone(s.timezone))
    try:
        return croniter(s.cron, start).get_next(dt.datetime).timestamp()
    except (ValueError, KeyError):  # never fires again
        return float("inf")
