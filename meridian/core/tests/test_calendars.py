"""Tests for the business-hours calendar engine (pure Python, no database)."""

from __future__ import annotations

import copy
import dataclasses
import itertools
import pickle
import time as wallclock
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from meridian.core.calendars import (
    Schedule,
    add_business_minutes,
    business_minutes_between,
    holiday_dates,
    is_working_time,
    local_to_utc,
    next_working_instant,
    working_intervals,
)

AMS = ZoneInfo("Europe/Amsterdam")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
KOLKATA = ZoneInfo("Asia/Kolkata")
UTC_ZONE = ZoneInfo("UTC")

OFFICE_HOURS = [(time(9, 0), time(12, 30)), (time(13, 30), time(17, 30))]


def local(
    tz: tzinfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, *, fold: int = 0
) -> datetime:
    """Build an aware local datetime."""
    return datetime(year, month, day, hour, minute, second, tzinfo=tz, fold=fold)


def dutch_office() -> Schedule:
    """Mon-Fri 09:00-12:30 + 13:30-17:30 in Amsterdam with Dutch public holidays."""
    return Schedule(
        tz=AMS,
        weekly=dict.fromkeys(range(5), OFFICE_HOURS),
        closed_days=holiday_dates("NL", None, range(2024, 2029)),
    )


def every_day(tz: ZoneInfo, *intervals: tuple[time, time]) -> Schedule:
    """The same intervals on all seven weekdays."""
    return Schedule(tz=tz, weekly={weekday: list(intervals) for weekday in range(7)})


# --------------------------------------------------------------------------- holidays


def test_holiday_dates_netherlands() -> None:
    days = holiday_dates("NL", None, [2026])
    assert date(2026, 4, 27) in days  # King's Day
    assert date(2026, 12, 25) in days
    assert date(2026, 12, 26) in days
    assert date(2026, 1, 1) in days
    assert all(day.year == 2026 for day in days)


def test_holiday_dates_subdivision() -> None:
    bavaria = holiday_dates("DE", "BY", [2026])
    berlin = holiday_dates("DE", "BE", [2026])
    assert date(2026, 1, 6) in bavaria  # Epiphany in Bavaria only
    assert date(2026, 1, 6) not in berlin


@pytest.mark.parametrize(("country", "subdivision"), [("XX", None), ("NL", "ZZ")])
def test_holiday_dates_unknown(country: str, subdivision: str | None) -> None:
    with pytest.raises(ValueError, match="Unknown holiday"):
        holiday_dates(country, subdivision, [2026])


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "intervals",
    [
        [(time(12), time(9))],
        [(time(9), time(9))],
        [(time(9), time(12)), (time(11), time(13))],
        [(time(13), time(17)), (time(9), time(12))],
        [(time(9), time(0)), (time(10), time(11))],
        [(time(9),)],
    ],
)
def test_invalid_intervals_rejected(intervals: list[tuple[time, ...]]) -> None:
    with pytest.raises(ValueError, match=r"Schedule\.weekly\[0\]"):
        Schedule(tz=AMS, weekly={0: intervals})  # type: ignore[dict-item]


def test_invalid_weekday_and_extra_day_rejected() -> None:
    with pytest.raises(ValueError, match="weekday"):
        Schedule(tz=AMS, weekly={7: [(time(9), time(17))]})
    with pytest.raises(ValueError, match="extra_days"):
        Schedule(tz=AMS, extra_days={date(2026, 1, 3): [(time(17), time(9))]})


def test_touching_intervals_allowed_and_merged() -> None:
    schedule = Schedule(tz=UTC_ZONE, weekly={0: [(time(9), time(12)), (time(12), time(13))]})
    intervals = list(working_intervals(schedule, local(UTC, 2026, 1, 5), local(UTC, 2026, 1, 6)))
    assert intervals == [(local(UTC, 2026, 1, 5, 9), local(UTC, 2026, 1, 5, 13))]


def test_schedule_is_hashable_picklable_and_read_only() -> None:
    schedule = dutch_office()
    assert hash(schedule) == hash(dutch_office())
    assert schedule == dutch_office()
    business_minutes_between(schedule, local(AMS, 2026, 1, 1), local(AMS, 2026, 2, 1))  # fill the day cache
    assert schedule == dutch_office()
    restored = pickle.loads(pickle.dumps(schedule))  # noqa: S301 - round-trips our own object
    assert restored == schedule
    assert copy.deepcopy(schedule) == schedule
    with pytest.raises(TypeError):
        schedule.weekly[5] = [(time(9), time(17))]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        schedule.always_open = True  # type: ignore[misc]


def test_naive_datetimes_rejected() -> None:
    schedule = dutch_office()
    naive = datetime(2026, 1, 5, 9)
    aware = local(AMS, 2026, 1, 5, 9)
    with pytest.raises(ValueError, match="timezone-aware"):
        business_minutes_between(schedule, naive, aware)
    with pytest.raises(ValueError, match="timezone-aware"):
        add_business_minutes(schedule, naive, 5)
    with pytest.raises(ValueError, match="timezone-aware"):
        is_working_time(schedule, naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        next_working_instant(schedule, naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        list(working_intervals(schedule, aware, naive))
    with pytest.raises(ValueError, match="timezone-aware"):
        business_minutes_between(schedule, aware, aware + timedelta(hours=1), [(naive, aware)])


def test_bad_arguments_rejected() -> None:
    schedule = dutch_office()
    start = local(AMS, 2026, 1, 5, 9)
    with pytest.raises(ValueError, match="before start"):
        business_minutes_between(schedule, start, start - timedelta(seconds=1))
    with pytest.raises(ValueError, match="minutes"):
        add_business_minutes(schedule, start, -1)
    with pytest.raises(ValueError, match="minutes"):
        add_business_minutes(schedule, start, float("nan"))
    with pytest.raises(ValueError, match="ends before it starts"):
        business_minutes_between(schedule, start, start + timedelta(hours=1), [(start, start - timedelta(1))])


def test_no_working_time_raises() -> None:
    empty = Schedule(tz=AMS)
    start = local(AMS, 2026, 1, 5, 9)
    with pytest.raises(ValueError, match="no working time"):
        add_business_minutes(empty, start, 1)
    with pytest.raises(ValueError, match="no working time"):
        next_working_instant(empty, start)
    assert business_minutes_between(empty, start, start + timedelta(days=30)) == 0
    assert add_business_minutes(empty, start, 0) == start


def test_horizon_limit_raises() -> None:
    # Only one extra working day, in the past: the search must give up, not hang.
    schedule = Schedule(tz=AMS, extra_days={date(2020, 1, 4): [(time(9), time(17))]})
    started = wallclock.perf_counter()
    with pytest.raises(ValueError, match="horizon"):
        add_business_minutes(schedule, local(AMS, 2026, 1, 5, 9), 1)
    with pytest.raises(ValueError, match="No working time"):
        next_working_instant(schedule, local(AMS, 2026, 1, 5, 9))
    assert wallclock.perf_counter() - started < 5
    # More minutes than the horizon holds, even when 24x7.
    with pytest.raises(ValueError, match="horizon"):
        add_business_minutes(Schedule(tz=UTC_ZONE, always_open=True), local(UTC, 2026, 1, 1), 11 * 366 * 1440)


# --------------------------------------------------------------------------- Dutch office


def test_friday_afternoon_rolls_to_monday() -> None:
    schedule = dutch_office()
    # Friday 2026-01-09 16:45: 45 minutes left on Friday, 15 more on Monday.
    result = add_business_minutes(schedule, local(AMS, 2026, 1, 9, 16, 45), 60)
    assert result.tzinfo is UTC
    assert result == local(AMS, 2026, 1, 12, 9, 15)
    # Friday 17:15: 15 minutes on Friday, 45 on Monday.
    assert add_business_minutes(schedule, local(AMS, 2026, 1, 9, 17, 15), 60) == local(AMS, 2026, 1, 12, 9, 45)
    assert business_minutes_between(schedule, local(AMS, 2026, 1, 9, 16, 45), local(AMS, 2026, 1, 12, 9, 15)) == 60


def test_kings_day_is_skipped() -> None:
    schedule = dutch_office()
    # Friday 24 April 2026 16:45 + 60 min: Monday 27 April is King's Day.
    assert add_business_minutes(schedule, local(AMS, 2026, 4, 24, 16, 45), 60) == local(AMS, 2026, 4, 28, 9, 15)
    assert not is_working_time(schedule, local(AMS, 2026, 4, 27, 10))
    assert is_working_time(schedule, local(AMS, 2026, 4, 28, 10))


def test_christmas_is_skipped() -> None:
    schedule = dutch_office()
    # Thursday 24 Dec 2026 17:00; 25 (Fri) and 26 (Sat) are holidays, then weekend.
    assert add_business_minutes(schedule, local(AMS, 2026, 12, 24, 17), 60) == local(AMS, 2026, 12, 28, 9, 30)
    assert business_minutes_between(schedule, local(AMS, 2026, 12, 24), local(AMS, 2026, 12, 29)) == 2 * 450


def test_lunch_break_and_working_day_total() -> None:
    schedule = dutch_office()
    assert business_minutes_between(schedule, local(AMS, 2026, 1, 5), local(AMS, 2026, 1, 6)) == 450
    assert add_business_minutes(schedule, local(AMS, 2026, 1, 5, 12), 60) == local(AMS, 2026, 1, 5, 14)
    assert add_business_minutes(schedule, local(AMS, 2026, 1, 5, 12), 30) == local(AMS, 2026, 1, 5, 12, 30)
    assert not is_working_time(schedule, local(AMS, 2026, 1, 5, 12, 30))
    assert is_working_time(schedule, local(AMS, 2026, 1, 5, 12, 29, 59))
    assert next_working_instant(schedule, local(AMS, 2026, 1, 5, 12, 45)) == local(AMS, 2026, 1, 5, 13, 30)
    assert next_working_instant(schedule, local(AMS, 2026, 1, 5, 10)) == local(AMS, 2026, 1, 5, 10)
    assert next_working_instant(schedule, local(AMS, 2026, 1, 9, 18)) == local(AMS, 2026, 1, 12, 9)


def test_zero_minutes_returns_start() -> None:
    schedule = dutch_office()
    saturday = local(AMS, 2026, 1, 10, 3)
    assert add_business_minutes(schedule, saturday, 0) == saturday
    assert add_business_minutes(schedule, saturday, 0).tzinfo is UTC


def test_any_input_timezone_accepted() -> None:
    schedule = dutch_office()
    start = datetime(2026, 1, 9, 15, 45, tzinfo=UTC)  # 16:45 in Amsterdam
    tokyo = start.astimezone(ZoneInfo("Asia/Tokyo"))
    fixed = start.astimezone(timezone(timedelta(hours=-3)))
    expected = local(AMS, 2026, 1, 12, 9, 15)
    assert add_business_minutes(schedule, tokyo, 60) == expected
    assert add_business_minutes(schedule, fixed, 60) == expected


def test_extra_working_saturday() -> None:
    saturday = date(2026, 1, 10)
    schedule = Schedule(
        tz=AMS,
        weekly=dict.fromkeys(range(5), OFFICE_HOURS),
        extra_days={saturday: [(time(10), time(14))]},
    )
    assert add_business_minutes(schedule, local(AMS, 2026, 1, 9, 17), 60) == local(AMS, 2026, 1, 10, 10, 30)
    assert business_minutes_between(schedule, local(AMS, 2026, 1, 10), local(AMS, 2026, 1, 11)) == 240
    assert is_working_time(schedule, local(AMS, 2026, 1, 10, 13, 59))
    assert not is_working_time(schedule, local(AMS, 2026, 1, 10, 14))


def test_extra_day_overrides_holiday() -> None:
    schedule = Schedule(
        tz=AMS,
        weekly=dict.fromkeys(range(5), OFFICE_HOURS),
        closed_days=frozenset({date(2026, 4, 27)}),
        extra_days={date(2026, 4, 27): [(time(9), time(11))]},
    )
    assert business_minutes_between(schedule, local(AMS, 2026, 4, 27), local(AMS, 2026, 4, 28)) == 120


def test_closure() -> None:
    closure = date(2026, 1, 7)  # a Wednesday the office is closed
    schedule = Schedule(
        tz=AMS,
        weekly=dict.fromkeys(range(5), OFFICE_HOURS),
        closed_days=frozenset({closure}),
    )
    assert business_minutes_between(schedule, local(AMS, 2026, 1, 5), local(AMS, 2026, 1, 10)) == 4 * 450
    assert add_business_minutes(schedule, local(AMS, 2026, 1, 6, 17), 60) == local(AMS, 2026, 1, 8, 9, 30)
    assert next_working_instant(schedule, local(AMS, 2026, 1, 7, 10)) == local(AMS, 2026, 1, 8, 9)


# --------------------------------------------------------------------------- DST


def test_local_to_utc_gap_and_ambiguity() -> None:
    # Spring forward in Berlin: 02:00 CET -> 03:00 CEST at 01:00 UTC.
    transition = datetime(2026, 3, 29, 1, tzinfo=UTC)
    assert local_to_utc(BERLIN, date(2026, 3, 29), time(2, 0)) == transition
    assert local_to_utc(BERLIN, date(2026, 3, 29), time(2, 30)) == transition
    assert local_to_utc(BERLIN, date(2026, 3, 29), time(3, 0)) == transition
    # Fall back: 03:00 CEST -> 02:00 CET at 01:00 UTC; 02:30 is ambiguous -> first occurrence.
    assert local_to_utc(BERLIN, date(2026, 10, 25), time(2, 30)) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert local_to_utc(BERLIN, date(2026, 10, 25), time(3, 0)) == datetime(2026, 10, 25, 2, tzinfo=UTC)
    # Lord Howe: 30-minute shift, 02:00 -> 02:30 in October.
    assert local_to_utc(LORD_HOWE, date(2026, 10, 4), time(2, 15)) == local_to_utc(
        LORD_HOWE, date(2026, 10, 4), time(2, 30)
    )


def test_berlin_spring_forward() -> None:
    schedule = every_day(BERLIN, (time(1), time(4)))
    day_start, day_end = local(BERLIN, 2026, 3, 29), local(BERLIN, 2026, 3, 30)
    assert business_minutes_between(schedule, day_start, day_end) == 120
    assert list(working_intervals(schedule, day_start, day_end)) == [
        (datetime(2026, 3, 29, 0, tzinfo=UTC), datetime(2026, 3, 29, 2, tzinfo=UTC))
    ]
    assert add_business_minutes(schedule, local(BERLIN, 2026, 3, 29, 1), 90) == local(BERLIN, 2026, 3, 29, 3, 30)
    # An interval lying wholly inside the gap is empty.
    gap_only = every_day(BERLIN, (time(2, 0), time(3, 0)))
    assert business_minutes_between(gap_only, day_start, day_end) == 0
    assert business_minutes_between(gap_only, local(BERLIN, 2026, 3, 28), local(BERLIN, 2026, 3, 29)) == 60
    # An interval ending inside the gap ends at the transition.
    into_gap = every_day(BERLIN, (time(1), time(2, 30)))
    assert business_minutes_between(into_gap, day_start, day_end) == 60
    # An interval starting inside the gap starts at the transition.
    from_gap = every_day(BERLIN, (time(2, 30), time(4)))
    assert business_minutes_between(from_gap, day_start, day_end) == 60


def test_berlin_fall_back() -> None:
    schedule = every_day(BERLIN, (time(1), time(4)))
    day_start, day_end = local(BERLIN, 2026, 10, 25), local(BERLIN, 2026, 10, 26)
    # 01:00 CEST (23:00 UTC) to 04:00 CET (03:00 UTC): the repeated hour is worked twice.
    assert business_minutes_between(schedule, day_start, day_end) == 240
    # (Compare in UTC: PEP 495 makes inter-zone == false for datetimes inside a fold.)
    second_half_past_two = local(BERLIN, 2026, 10, 25, 2, 30, fold=1).astimezone(UTC)
    assert second_half_past_two == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert add_business_minutes(schedule, local(BERLIN, 2026, 10, 25, 1), 150) == second_half_past_two
    # Ambiguous bounds resolve to the first occurrence, so these stay contiguous.
    split = every_day(BERLIN, (time(1), time(2, 30)), (time(2, 30), time(4)))
    assert list(working_intervals(split, day_start, day_end)) == [
        (datetime(2026, 10, 24, 23, tzinfo=UTC), datetime(2026, 10, 25, 3, tzinfo=UTC))
    ]
    # An interval ending in the repeated hour ends at its first occurrence.
    early = every_day(BERLIN, (time(1), time(2, 30)))
    assert business_minutes_between(early, day_start, day_end) == 90
    assert not is_working_time(early, local(BERLIN, 2026, 10, 25, 2, 15, fold=1))
    assert is_working_time(early, local(BERLIN, 2026, 10, 25, 2, 15, fold=0))


def test_new_york_spring_forward_and_fall_back() -> None:
    schedule = every_day(NEW_YORK, (time(1), time(4)))
    # 8 March 2026: 02:00 EST -> 03:00 EDT.
    assert business_minutes_between(schedule, local(NEW_YORK, 2026, 3, 8), local(NEW_YORK, 2026, 3, 9)) == 120
    # 1 November 2026: 02:00 EDT -> 01:00 EST; 01:00 is ambiguous, first occurrence is taken.
    assert business_minutes_between(schedule, local(NEW_YORK, 2026, 11, 1), local(NEW_YORK, 2026, 11, 2)) == 240
    spanning = every_day(NEW_YORK, (time(0, 30), time(3, 30)))
    assert business_minutes_between(spanning, local(NEW_YORK, 2026, 3, 8), local(NEW_YORK, 2026, 3, 9)) == 120
    assert business_minutes_between(spanning, local(NEW_YORK, 2026, 11, 1), local(NEW_YORK, 2026, 11, 2)) == 240
    office = Schedule(tz=NEW_YORK, weekly={weekday: [(time(9), time(17))] for weekday in range(5)})
    # Friday 6 March 16:00 EST + 120 min -> Monday 9 March 10:00 EDT; the weekend's DST change is invisible.
    assert add_business_minutes(office, local(NEW_YORK, 2026, 3, 6, 16), 120) == local(NEW_YORK, 2026, 3, 9, 10)


def test_always_open_uses_real_time_across_dst() -> None:
    schedule = Schedule(tz=BERLIN, always_open=True, closed_days=frozenset({date(2026, 3, 29)}))
    start = local(BERLIN, 2026, 3, 28, 12)
    result = add_business_minutes(schedule, start, 1440)
    assert result - start == timedelta(hours=24)
    assert result == local(BERLIN, 2026, 3, 29, 13)  # wall clock moved 25 hours
    fall = local(BERLIN, 2026, 10, 24, 12)
    assert add_business_minutes(schedule, fall, 1440) == local(BERLIN, 2026, 10, 25, 11)
    utc_start = start.astimezone(UTC)  # real-time arithmetic (same-zone arithmetic is wall-clock)
    assert business_minutes_between(schedule, utc_start, utc_start + timedelta(days=365)) == 365 * 1440
    assert is_working_time(schedule, local(BERLIN, 2026, 3, 29, 3))
    assert list(working_intervals(schedule, start, result)) == [(start.astimezone(UTC), result)]


def test_full_days_merge_across_midnight() -> None:
    schedule = every_day(BERLIN, (time(0), time(0)))
    start, end = local(BERLIN, 2026, 3, 27, 12), local(BERLIN, 2026, 3, 31, 12)
    assert list(working_intervals(schedule, start, end)) == [(start.astimezone(UTC), end.astimezone(UTC))]
    assert business_minutes_between(schedule, start, end) == 4 * 1440 - 60


def test_interval_ending_at_midnight() -> None:
    evening = Schedule(tz=AMS, weekly={0: [(time(22), time(0))], 1: [(time(0), time(1))]})
    monday, tuesday = local(AMS, 2026, 1, 5), local(AMS, 2026, 1, 6)
    intervals = list(working_intervals(evening, monday, tuesday + timedelta(days=1)))
    assert intervals == [(local(AMS, 2026, 1, 5, 22), local(AMS, 2026, 1, 6, 1))]
    assert add_business_minutes(evening, local(AMS, 2026, 1, 5, 23, 30), 60) == local(AMS, 2026, 1, 6, 0, 30)
    assert is_working_time(evening, local(AMS, 2026, 1, 5, 23, 59, 59))
    assert not is_working_time(evening, local(AMS, 2026, 1, 6, 1))


# --------------------------------------------------------------------------- pauses


def test_pauses_overlapping_and_outside_working_time() -> None:
    schedule = dutch_office()
    monday = date(2026, 1, 5)
    start, end = local(AMS, 2026, 1, 5, 9), local(AMS, 2026, 1, 5, 17, 30)
    pauses = [
        (local(AMS, 2026, 1, 5, 10), local(AMS, 2026, 1, 5, 11)),
        (local(AMS, 2026, 1, 5, 10, 30), local(AMS, 2026, 1, 5, 11, 30)),  # overlaps the first
        (local(AMS, 2026, 1, 5, 10, 45), local(AMS, 2026, 1, 5, 11, 15)),  # inside both
        (local(AMS, 2026, 1, 5, 12), local(AMS, 2026, 1, 5, 14)),  # spans lunch: 60 working minutes
        (local(AMS, 2026, 1, 5, 18), local(AMS, 2026, 1, 5, 20)),  # outside working time
        (local(AMS, 2026, 1, 5, 16), local(AMS, 2026, 1, 5, 16)),  # empty
    ]
    assert business_minutes_between(schedule, start, end) == 450
    assert business_minutes_between(schedule, start, end, pauses) == 450 - 90 - 60
    # Adding 90 minutes from 09:00: 60 before the pause, then 30 after 11:30.
    assert add_business_minutes(schedule, start, 90, pauses) == local(AMS, 2026, 1, 5, 12)
    assert add_business_minutes(schedule, start, 120, pauses) == local(AMS, 2026, 1, 5, 14, 30)
    # Pauses in any order and time zone.
    reordered = [(a.astimezone(NEW_YORK), b.astimezone(KOLKATA)) for a, b in reversed(pauses)]
    assert business_minutes_between(schedule, start, end, reordered) == 300
    # A pause covering everything.
    everything = [(local(AMS, 2026, 1, 1), local(AMS, 2026, 2, 1))]
    assert business_minutes_between(schedule, start, end, everything) == 0
    assert add_business_minutes(schedule, start, 1, everything) == local(AMS, 2026, 2, 2, 9, 1)
    assert monday.weekday() == 0


# --------------------------------------------------------------------------- performance


def test_one_year_is_fast() -> None:
    start, end = local(AMS, 2026, 1, 1), local(AMS, 2027, 1, 1)
    # 261 weekdays in 2026, 7 of them Dutch public holidays (New Year, Good Friday, King's Day, ...).
    weekday_holidays = sum(1 for day in holiday_dates("NL", None, [2026]) if day.weekday() < 5)
    expected = (261 - weekday_holidays) * 450
    timings = []
    for _ in range(3):
        schedule = dutch_office()  # fresh instance: no cached days
        started = wallclock.perf_counter()
        assert business_minutes_between(schedule, start, end) == expected
        timings.append(wallclock.perf_counter() - started)
        started = wallclock.perf_counter()
        assert add_business_minutes(schedule, start, expected) == local(AMS, 2026, 12, 31, 17, 30)
        timings.append(wallclock.perf_counter() - started)
    assert min(timings) < 0.05


# --------------------------------------------------------------------------- properties

ZONES = [BERLIN, NEW_YORK, LORD_HOWE, KOLKATA, UTC_ZONE]
RANGE_START = datetime(2024, 1, 1, tzinfo=UTC)
RANGE_SECONDS = int((datetime(2028, 1, 1, tzinfo=UTC) - RANGE_START).total_seconds())


def _transition_days(tz: ZoneInfo) -> list[datetime]:
    """UTC midnights of days in 2024-2027 on which ``tz`` changes its UTC offset."""
    days = []
    day = RANGE_START
    previous = day.astimezone(tz).utcoffset()
    while day.year < 2028:
        day += timedelta(days=1)
        offset = day.astimezone(tz).utcoffset()
        if offset != previous:
            days.append(day - timedelta(days=1))
        previous = offset
    return days


TRANSITIONS = {tz.key: _transition_days(tz) for tz in ZONES}


def _minute_time(minute: int) -> time:
    return time(0, 0) if minute == 1440 else time(minute // 60, minute % 60)


@st.composite
def day_intervals(draw: st.DrawFn, min_size: int = 0) -> list[tuple[time, time]]:
    """Sorted, non-overlapping (possibly touching) local intervals on minute boundaries."""
    marks = sorted(draw(st.lists(st.integers(0, 1440), max_size=6)))
    intervals = []
    for index in range(0, len(marks) - 1, 2):
        if marks[index] < marks[index + 1]:
            intervals.append((_minute_time(marks[index]), _minute_time(marks[index + 1])))
    if len(intervals) < min_size:
        start = draw(st.integers(0, 1439))
        intervals = [(_minute_time(start), _minute_time(draw(st.integers(start + 1, 1440))))]
    return intervals


def _interval_minutes(intervals: list[tuple[time, time]]) -> int:
    total = 0
    for start, end in intervals:
        end_minute = 1440 if end == time(0) else end.hour * 60 + end.minute
        total += end_minute - (start.hour * 60 + start.minute)
    return total


@st.composite
def instants(draw: st.DrawFn, tz: ZoneInfo) -> datetime:
    """Whole-second UTC instants in 2024-2027, often near a DST transition of ``tz``."""
    transitions = TRANSITIONS[tz.key]
    near_transition = draw(st.booleans())
    if transitions and near_transition:
        anchor = draw(st.sampled_from(transitions))
        return anchor + timedelta(seconds=draw(st.integers(-3 * 86400, 3 * 86400)))
    return RANGE_START + timedelta(seconds=draw(st.integers(0, RANGE_SECONDS)))


@dataclass(frozen=True)
class Case:
    """A random schedule, a start instant and positive business-minute amounts (whole seconds)."""

    schedule: Schedule
    start: datetime
    amounts: tuple[float, float]


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """A random schedule with some working time, an instant, and amounts it can absorb well within the horizon."""
    tz = draw(st.sampled_from(ZONES))
    start = draw(instants(tz))
    if draw(st.integers(0, 19)) == 0:
        schedule = Schedule(tz=tz, always_open=True)
        weekly_minutes = 7 * 1440
    else:
        weekly = draw(st.dictionaries(st.integers(0, 6), day_intervals(), max_size=7))
        if not any(weekly.values()):
            weekly[draw(st.integers(0, 6))] = draw(day_intervals(min_size=1))
        base = start.astimezone(tz).date()
        near_dates = st.integers(-3, 40).map(lambda offset: base + timedelta(days=offset))
        closed = draw(st.frozensets(near_dates, max_size=10))
        extra = draw(st.dictionaries(near_dates, day_intervals(), max_size=3))
        schedule = Schedule(tz=tz, weekly=weekly, closed_days=closed, extra_days=extra)
        weekly_minutes = sum(_interval_minutes(intervals) for intervals in weekly.values())
    # Up to ten weeks' worth of working time (at most 30 days of minutes), in whole seconds.
    cap_seconds = min(10 * weekly_minutes, 30 * 1440) * 60
    first = draw(st.integers(1, cap_seconds)) / 60
    second = draw(st.integers(1, cap_seconds)) / 60
    return Case(schedule, start, (first, second))


PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)


def _pauses_strategy(base: datetime) -> st.SearchStrategy[list[tuple[datetime, datetime]]]:
    offsets = st.tuples(st.integers(-2 * 86400, 30 * 86400), st.integers(0, 3 * 86400))
    return st.lists(offsets, max_size=6).map(
        lambda pairs: [
            (base + timedelta(seconds=start), base + timedelta(seconds=start + length)) for start, length in pairs
        ]
    )


@PROPERTY_SETTINGS
@given(cases())
def test_property_add_then_measure_roundtrips(case: Case) -> None:
    """(a) business_minutes_between(t, add(t, n)) == n."""
    minutes = case.amounts[0]
    result = add_business_minutes(case.schedule, case.start, minutes)
    assert result >= case.start
    assert result.tzinfo is UTC
    assert business_minutes_between(case.schedule, case.start, result) == pytest.approx(minutes, abs=1e-6)


@PROPERTY_SETTINGS
@given(cases())
def test_property_result_is_inside_working_time(case: Case) -> None:
    """(b) The second before a deadline is working time, and the deadline is the earliest possible."""
    minutes = case.amounts[0]
    result = add_business_minutes(case.schedule, case.start, minutes)
    assert is_working_time(case.schedule, result - timedelta(seconds=1))
    earlier = business_minutes_between(case.schedule, case.start, result - timedelta(seconds=1))
    assert earlier == pytest.approx(minutes - 1 / 60, abs=1e-6)


@PROPERTY_SETTINGS
@given(cases(), st.integers(0, 10 * 86400))
def test_property_monotonic(case: Case, shift: int) -> None:
    """(c) Deadlines grow with the amount and with the start instant."""
    schedule, start = case.schedule, case.start
    low, high = sorted(case.amounts)
    assert add_business_minutes(schedule, start, low) <= add_business_minutes(schedule, start, high)
    later = start + timedelta(seconds=shift)
    assert add_business_minutes(schedule, start, low) <= add_business_minutes(schedule, later, low)
    assert add_business_minutes(schedule, start, 0) <= add_business_minutes(schedule, start, low)


@PROPERTY_SETTINGS
@given(cases(), st.integers(0, 20 * 86400), st.integers(0, 20 * 86400))
def test_property_additive(case: Case, first: int, second: int) -> None:
    """(d) between(a, c) == between(a, b) + between(b, c)."""
    schedule, a = case.schedule, case.start
    b = a + timedelta(seconds=first)
    c = b + timedelta(seconds=second)
    whole = business_minutes_between(schedule, a, c)
    parts = business_minutes_between(schedule, a, b) + business_minutes_between(schedule, b, c)
    assert whole == pytest.approx(parts, abs=1e-6)
    assert 0 <= whole <= (c - a).total_seconds() / 60 + 1e-9


@PROPERTY_SETTINGS
@given(st.data(), cases(), st.integers(0, 20 * 86400))
def test_property_pauses_never_add_time(data: st.DataObject, case: Case, length: int) -> None:
    """(e) Pauses never increase measured time, and push deadlines later."""
    schedule, start = case.schedule, case.start
    minutes = case.amounts[0]
    end = start + timedelta(seconds=length)
    pauses = data.draw(_pauses_strategy(start))
    with_pauses = business_minutes_between(schedule, start, end, pauses)
    assert 0 <= with_pauses <= business_minutes_between(schedule, start, end)
    paused_result = add_business_minutes(schedule, start, minutes, pauses)
    assert paused_result >= add_business_minutes(schedule, start, minutes)
    assert business_minutes_between(schedule, start, paused_result, pauses) == pytest.approx(minutes, abs=1e-6)
    # Pauses count once: duplicating them changes nothing.
    assert business_minutes_between(schedule, start, end, pauses + pauses) == pytest.approx(with_pauses, abs=1e-9)


@PROPERTY_SETTINGS
@given(cases(), st.integers(0, 20 * 86400))
def test_property_intervals_are_consistent(case: Case, length: int) -> None:
    """working_intervals is sorted, merged, clipped and agrees with the other operations."""
    schedule, start = case.schedule, case.start
    end = start + timedelta(seconds=length)
    intervals = list(working_intervals(schedule, start, end))
    previous_end: datetime | None = None
    for interval_start, interval_end in intervals:
        assert start <= interval_start < interval_end <= end
        assert interval_start.tzinfo is UTC and interval_end.tzinfo is UTC
        if previous_end is not None:
            assert previous_end < interval_start  # sorted and merged: never touching
        assert is_working_time(schedule, interval_start)
        assert is_working_time(schedule, interval_end - timedelta(microseconds=1))
        previous_end = interval_end
    total = sum(((b - a) for a, b in intervals), timedelta()) / timedelta(minutes=1)
    assert total == pytest.approx(business_minutes_between(schedule, start, end), abs=1e-9)
    for (_, gap_start), (gap_end, _) in itertools.pairwise(intervals):
        assert not is_working_time(schedule, gap_start)
        assert business_minutes_between(schedule, gap_start, gap_end) == 0


@PROPERTY_SETTINGS
@given(cases())
def test_property_next_working_instant(case: Case) -> None:
    """next_working_instant finds the first working instant and skips no working time."""
    schedule, start = case.schedule, case.start
    found = next_working_instant(schedule, start)
    assert found >= start
    assert is_working_time(schedule, found)
    assert business_minutes_between(schedule, start, found) == 0
    assert (found == start) == is_working_time(schedule, start)


def _wall_clock_oracle(schedule: Schedule) -> Callable[[datetime], bool | None]:
    """Independent check by local wall-clock time; ``None`` near DST transitions (not comparable)."""

    def working(instant: datetime) -> bool | None:
        wall = instant.astimezone(schedule.tz)
        day = wall.date()
        day_offsets = {
            datetime.combine(day + timedelta(days=delta), time(), schedule.tz).utcoffset() for delta in (-1, 0, 1, 2)
        }
        if len(day_offsets) > 1:
            return None
        minute = wall.hour * 60 + wall.minute + wall.second / 60
        for start, end in schedule.local_intervals(day):
            start_minute = start.hour * 60 + start.minute
            end_minute = 1440 if end == time(0) else end.hour * 60 + end.minute
            if start_minute <= minute < end_minute:
                return True
        return False

    return working


@PROPERTY_SETTINGS
@given(cases(), st.lists(st.integers(-7 * 86400, 7 * 86400), min_size=1, max_size=20))
def test_property_matches_wall_clock_oracle(case: Case, offsets: list[int]) -> None:
    """Away from DST transitions, is_working_time agrees with a naive wall-clock check."""
    schedule, base = case.schedule, case.start
    assume(not schedule.always_open)
    oracle = _wall_clock_oracle(schedule)
    for offset in offsets:
        instant = base + timedelta(seconds=offset)
        expected = oracle(instant)
        if expected is not None:
            assert is_working_time(schedule, instant) == expected, instant.astimezone(schedule.tz)
