"""Cron expressions (croniter) and the schedule arithmetic the control plane's schedule loop uses."""

import datetime as dt

import pytest

import squall
from squall.exception import InvalidError
from squall.sdk.schedule import next_run, schedule_proto

UTC = dt.timezone.utc


def nxt(expr: str, after: str, tz: str = "UTC") -> str:
    s = schedule_proto(squall.Cron(expr, timezone=tz))
    ts = dt.datetime.fromisoformat(after).replace(tzinfo=UTC).timestamp()
    return dt.datetime.fromtimestamp(next_run(s, ts), UTC).strftime("%Y-%m-%d %H:%M")


def test_steps_lists_ranges_and_names():
    assert nxt("*/5 * * * *", "2026-01-01 10:02") == "2026-01-01 10:05"
    assert nxt("*/5 * * * *", "2026-01-01 10:05") == "2026-01-01 10:10"  # strictly after
    assert nxt("0 8 * * 1", "2026-11-24 09:00") == "2026-11-30 08:00"  # 2026-11-24 is a Tuesday; next Monday
    assert nxt("0 8 * * mon-fri", "2026-11-28 00:00") == "2026-11-30 08:00"  # Saturday -> Monday
    assert nxt("15,45 1-3 * * *", "2026-01-01 01:20") == "2026-01-01 01:45"
    assert nxt("15,45 1-3 * * *", "2026-01-01 03:50") == "2026-01-02 01:15"
    assert nxt("0 0 1 jan *", "2026-03-01 00:00") == "2027-01-01 00:00"
    assert nxt("0 12 * * 7", "2026-11-24 00:00") == "2026-11-29 12:00"  # 7 is Sunday
    assert nxt("0 0 29 2 *", "2026-03-01 00:00") == "2028-02-29 00:00"
    assert nxt("10-50/20 * * * *", "2026-01-01 00:11") == "2026-01-01 00:30"
    assert nxt("@daily", "2026-01-01 00:00") == "2026-01-02 00:00"


def test_day_of_month_or_day_of_week_when_both_are_restricted():
    # the 13th, or any Friday: 2026-11-24 (Tue) -> Friday the 27th comes before 13 December
    assert nxt("0 0 13 * fri", "2026-11-24 00:00") == "2026-11-27 00:00"


def test_timezones():
    # 08:00 in New York is 13:00 UTC in winter and 12:00 UTC in summer
    assert nxt("0 8 * * *", "2026-01-10 00:00", "America/New_York") == "2026-01-10 13:00"
    assert nxt("0 8 * * *", "2026-07-10 00:00", "America/New_York") == "2026-07-10 12:00"


@pytest.mark.parametrize("expr, message", [
    ("* * * *", "has 4 fields; it needs 5"),
    ("60 * * * *", "'60 \\* \\* \\* \\*' is not valid: .*out of range"),
    ("* 24 * * *", "out of range"),
    ("*/0 * * * *", "step '0'"),
    ("* * * foo *", "is not valid"),
    ("0 0 31 2 *", "never matches a real date"),
    ("* * * * * *", "has 6 fields; it needs 5"),
    ("", "give 5 fields"),
])
def test_invalid_expressions_are_refused_at_decoration_time(expr, message):
    with pytest.raises(InvalidError, match=message):
        squall.Cron(expr)


def test_timezone_and_period_validation():
    with pytest.raises(InvalidError, match="'Mars/Olympus' is not an IANA timezone"):
        squall.Cron("* * * * *", timezone="Mars/Olympus")
    with pytest.raises(InvalidError, match="too short"):
        squall.Period(seconds=0.5)
    with pytest.raises(InvalidError, match="hours=-1"):
        squall.Period(hours=-1)
    assert squall.Period(days=1, hours=2, minutes=3, seconds=4).seconds == 86400 + 7200 + 180 + 4
    assert next_run(schedule_proto(squall.Period(seconds=2)), 100.0) == 102.0
