"""Schedules: `Period(...)` and `Cron("...")` for `@app.function(schedule=...)`.

A schedule only says *when*; the control plane's scheduler loop (server/scheduler_loop.py)
runs the function of a *deployed* app at those times, as Modal does (`squall run` and
`squall serve` never fire schedules).

The cron parser is our own, small and dependency-free, because the user's module (and so
`Cron(...)`, validated at decoration time) is imported inside every container too, where only
squall's own runtime dependencies exist. It reads the classic 5 fields

    minute (0-59)  hour (0-23)  day-of-month (1-31)  month (1-12 or jan-dec)  day-of-week (0-7 or sun-sat; 0 and 7 are Sunday)

each one `*`, a number or name, a range `a-b`, a step `*/n`, `a-b/n` or `a/n`, or a comma
list of those; plus the aliases @hourly, @daily (@midnight), @weekly, @monthly, @yearly
(@annually). As in cron, when both day-of-month and day-of-week are restricted, a day that
matches either runs. Times are computed in the schedule's IANA timezone (zoneinfo).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from squall._proto.squall.v1 import web_pb2
from squall.exception import InvalidError

_MONTHS = {n: i + 1 for i, n in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))}
_DAYS = {n: i for i, n in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_FIELDS = (  # name, low, high, names
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day-of-month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 0, 7, _DAYS),
)
_ALIASES = {
    "@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *",
}
_SEARCH_YEARS = 8  # far enough for "29 Feb on a Monday"; an expression with no time in it is an error


class CronExpression:
    """A parsed 5-field cron expression: the allowed values of each field."""

    def __init__(self, text: str):
        if not isinstance(text, str) or not text.strip():
            raise InvalidError(f"cron expression {text!r}: give 5 fields, e.g. '*/5 * * * *' (minute hour day-of-month month day-of-week)")
        self.text = text.strip()
        expanded = _ALIASES.get(self.text.lower(), self.text)
        parts = expanded.split()
        if len(parts) != 5:
            raise InvalidError(f"cron expression {text!r} has {len(parts)} fields; it needs 5: minute hour day-of-month month day-of-week "
                               f"(e.g. '0 8 * * 1'), or one of {', '.join(sorted(_ALIASES))}")
        sets = [_parse_field(text, part, *spec) for part, spec in zip(parts, _FIELDS)]
        self.minutes, self.hours, self.days, self.months, dows = sets
        self.weekdays = {d % 7 for d in dows}  # 7 is Sunday too
        self.dom_any = parts[2] in ("*", "*/1")
        self.dow_any = parts[4] in ("*", "*/1")
        if self.next_after(dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc), dt.timezone.utc) is None:
            raise InvalidError(f"cron expression {text!r} never matches a real date (e.g. day 31 of a 30-day month)")

    def _day_matches(self, day: dt.date) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.days
        dow = (day.isoweekday() % 7) in self.weekdays
        if self.dom_any and self.dow_any:
            return True
        if self.dom_any:
            return dow
        if self.dow_any:
            return dom
        return dom or dow

    def next_after(self, after: dt.datetime, tz: dt.tzinfo) -> dt.datetime | None:
        """The first matching minute strictly after `after` (aware), as an aware time in `tz`."""
        local = after.astimezone(tz).replace(second=0, microsecond=0, tzinfo=None)
        day = local.date()
        hours, minutes = sorted(self.hours), sorted(self.minutes)
        for _ in range(366 * _SEARCH_YEARS):
            if self._day_matches(day):
                for h in hours:
                    for m in minutes:
                        candidate = dt.datetime(day.year, day.month, day.day, h, m, tzinfo=tz)
                        if candidate > after:
                            return candidate
            day += dt.timedelta(days=1)
        return None


def _parse_field(text: str, part: str, name: str, lo: int, hi: int, names: dict) -> set[int]:
    def bad(why: str) -> InvalidError:
        allowed = f"{lo}-{hi}" + (f" or {names and min(names, key=names.get)}-{max(names, key=names.get)}" if names else "")
        return InvalidError(f"cron expression {text!r}: {name} field {part!r} {why}; allowed: {allowed}, '*', ranges a-b, steps */n, lists a,b")

    def value(token: str) -> int:
        token = token.lower()
        if token in names:
            return names[token]
        if not token.isdigit():
            raise bad(f"has {token!r}, which is not a number")
        v = int(token)
        if not lo <= v <= hi:
            raise bad(f"has {v}, out of range")
        return v

    out: set[int] = set()
    for item in part.split(","):
        if not item:
            raise bad("has an empty list item")
        rng, _, step_text = item.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) < 1:
                raise bad(f"has step {step_text!r}; a step is a whole number >= 1")
            step = int(step_text)
        if rng == "*":
            start, end = lo, hi
        elif "-" in rng:
            a, _, b = rng.partition("-")
            start, end = value(a), value(b)
            if start > end:
                raise bad(f"has the range {rng!r}, which runs backwards")
        else:
            start = value(rng)
            end = hi if step_text else start
        out.update(range(start, end + 1, step))
    return out


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
        self.expression = CronExpression(cron_string)
        self.cron_string = self.expression.text
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
    tz = _timezone(s.timezone)
    found = CronExpression(s.cron).next_after(dt.datetime.fromtimestamp(after, dt.timezone.utc), tz)
    return found.timestamp() if found is not None else float("inf")
