"""The per-day cumulative engine of ``core.calendars`` gives exactly the answers of the old interval walk.

``reference_calendars`` is the engine as it was before (a verbatim copy); both are given the same random
calendars, instants, spans and pauses, and must return the same instants and minutes, or refuse with the same
message. No timings are asserted here (see ``make bench BENCH_ARGS=calendars``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from meridian.core import calendars
from meridian.core.tests import reference_calendars as reference

ZONES = [
    ZoneInfo(key)
    for key in ("Europe/Amsterdam", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "Europe/Berlin", "UTC")
]
YEARS = range(2023, 2040)


@cache
def holidays_of(country: str) -> frozenset[date]:
    return calendars.holiday_dates(country, None, YEARS)


@cache
def transitions(tz: ZoneInfo) -> tuple[datetime, ...]:
    """The UTC instants in 2024-2028 at which ``tz`` changes its offset (to the hour)."""
    found = []
    instant = datetime(2024, 1, 1, tzinfo=UTC)
    previous = instant.astimezone(tz).utcoffset()
    while instant < datetime(2029, 1, 1, tzinfo=UTC):
        instant += timedelta(minutes=30)
        offset = instant.astimezone(tz).utcoffset()
        if offset != previous:
            found.append(instant)
            previous = offset
    return tuple(found)


def _minute(value: int) -> time:
    return time(0) if value == 1440 else time(value // 60, value % 60)


@st.composite
def day_intervals(draw: st.DrawFn) -> list[tuple[time, time]]:
    """Sorted, non-overlapping (possibly touching) intervals: none, one, or a split shift."""
    marks = sorted(draw(st.lists(st.sampled_from(range(0, 1441, 15)) | st.integers(0, 1440), max_size=6)))
    intervals = []
    for index in range(0, len(marks) - 1, 2):
        if marks[index] < marks[index + 1]:
            intervals.append((_minute(marks[index]), _minute(marks[index + 1])))
    return intervals


@st.composite
def schedule_args(draw: st.DrawFn) -> dict[str, Any]:
    tz = draw(st.sampled_from(ZONES))
    kind = draw(st.sampled_from(["office", "random", "night", "24x7", "always_open"]))
    if kind == "always_open":
        return {"tz": tz, "always_open": True}
    if kind == "office":
        weekly: dict[int, list[tuple[time, time]]] = {
            day: [(time(9), time(12, 30)), (time(13, 30), time(17, 30))] for day in range(5)
        }
    elif kind == "night":  # shifts across midnight: 22:00-24:00 then 00:00-06:00 the next day
        nights = draw(st.sets(st.integers(0, 6), min_size=1))
        weekly = {day: [] for day in range(7)}
        for day in nights:
            weekly[day].append((time(22), time(0)))
            weekly[(day + 1) % 7].insert(0, (time(0), time(6)))
    elif kind == "24x7":
        weekly = {day: [(time(0), time(0))] for day in range(7)}
    else:
        weekly = draw(st.dictionaries(st.integers(0, 6), day_intervals(), max_size=7))
        if not any(weekly.values()):
            weekly[draw(st.integers(0, 6))] = [(time(8), time(16))]
    closed: set[date] = set()
    for country in draw(st.sets(st.sampled_from(["NL", "DE", "US"]), max_size=2)):
        closed |= holidays_of(country)
    some_days = st.dates(date(2024, 1, 1), date(2026, 12, 31))
    closed |= draw(st.sets(some_days, max_size=12))
    extra = draw(st.dictionaries(some_days, day_intervals(), max_size=6))
    return {"tz": tz, "weekly": weekly, "closed_days": frozenset(closed), "extra_days": extra}


@st.composite
def instants(draw: st.DrawFn, tz: ZoneInfo) -> datetime:
    """An aware instant in 2024-2026: anywhere, near an offset change, or a local wall time in a DST gap or overlap."""
    near = transitions(tz)
    how = draw(st.sampled_from(["anywhere", "near", "wall"] if near else ["anywhere"]))
    if how == "anywhere":
        seconds = draw(st.integers(0, 3 * 365 * 86400))
        return datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds, microseconds=draw(st.sampled_from([0, 1])))
    anchor = draw(st.sampled_from(near))
    if how == "near":
        return anchor + timedelta(seconds=draw(st.integers(-2 * 86400, 2 * 86400)))
    # A wall-clock time around the change, possibly one that does not exist or exists twice; either fold.
    wall = anchor.astimezone(tz).replace(tzinfo=None) + timedelta(minutes=draw(st.integers(-150, 150)))
    return wall.replace(tzinfo=tz, fold=draw(st.sampled_from([0, 1])))


def both(function: str, args: dict[str, Any], *call: Any) -> tuple[Any, Any]:
    """Call ``function`` of the new and of the reference engine on their own schedules built from ``args``."""
    results = []
    for module in (calendars, reference):
        schedule = module.Schedule(**args)  # type: ignore[attr-defined]
        try:
            results.append(("ok", getattr(module, function)(schedule, *call)))
        except ValueError as exc:
            results.append(("refused", str(exc)))
    return results[0], results[1]


SPANS = st.integers(0, 100_000) | st.integers(0, 100_000 * 60).map(lambda seconds: seconds / 60) | st.floats(0, 100_000)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), args=schedule_args(), span=SPANS)
def test_add_business_minutes_is_unchanged(data: st.DataObject, args: dict[str, Any], span: float) -> None:
    start = data.draw(instants(args["tz"]))
    new, old = both("add_business_minutes", args, start, span)
    assert new == old
    if new[0] == "ok":
        assert new[1].tzinfo == UTC


@settings(max_examples=200, deadline=None)
@given(data=st.data(), args=schedule_args(), days=st.integers(0, 700), seconds=st.integers(0, 86400))
def test_business_minutes_between_is_unchanged(
    data: st.DataObject, args: dict[str, Any], days: int, seconds: int
) -> None:
    start = data.draw(instants(args["tz"]))
    end = start + timedelta(days=days, seconds=seconds)
    new, old = both("business_minutes_between", args, start, end)
    assert new == old
    assert _same(both("business_minutes_between", args, end, start))  # refused alike unless the span is empty


@st.composite
def pauses(draw: st.DrawFn, base: datetime) -> list[tuple[datetime, datetime]]:
    pairs = draw(st.lists(st.tuples(st.integers(-3 * 86400, 60 * 86400), st.integers(0, 5 * 86400)), max_size=6))
    return [(base + timedelta(seconds=start), base + timedelta(seconds=start + length)) for start, length in pairs]


@settings(max_examples=100, deadline=None)
@given(data=st.data(), args=schedule_args(), span=st.integers(0, 20_000), days=st.integers(0, 90))
def test_pauses_are_unchanged(data: st.DataObject, args: dict[str, Any], span: int, days: int) -> None:
    start = data.draw(instants(args["tz"]))
    paused = data.draw(pauses(start))
    assert _same(both("add_business_minutes", args, start, span, paused))
    assert _same(both("business_minutes_between", args, start, start + timedelta(days=days), paused))


def _same(pair: tuple[Any, Any]) -> bool:
    return pair[0] == pair[1]


def test_one_schedule_answers_many_questions_in_any_order() -> None:
    """The table grows backwards and forwards on one schedule; every answer stays the old one."""
    args = {
        "tz": ZoneInfo("Europe/Amsterdam"),
        "weekly": {day: [(time(9), time(17))] for day in range(5)},
        "closed_days": holidays_of("NL"),
    }
    new_schedule, old_schedule = calendars.Schedule(**args), reference.Schedule(**args)
    starts = [datetime(year, month, 3, 7, 30, tzinfo=UTC) for year in (2030, 2024, 2035, 2026) for month in (1, 3, 10)]
    for start in starts:
        for minutes in (0.5, 240, 2400, 24_000, 100_000):
            assert calendars.add_business_minutes(new_schedule, start, minutes) == reference.add_business_minutes(
                old_schedule, start, minutes
            )
        end = start + timedelta(days=400)
        assert calendars.business_minutes_between(new_schedule, start, end) == reference.business_minutes_between(
            old_schedule, start, end
        )


def test_far_instants_fall_back_to_the_walk() -> None:
    """Near the ends of the representable dates, or over spans wider than a table, the old walk still answers."""
    args = {"tz": ZoneInfo("America/New_York"), "weekly": {day: [(time(8), time(18))] for day in range(6)}}
    new_schedule, old_schedule = calendars.Schedule(**args), reference.Schedule(**args)
    for start, end in [
        (datetime(1, 1, 10, tzinfo=UTC), datetime(1, 3, 1, tzinfo=UTC)),
        (datetime(9998, 1, 1, tzinfo=UTC), datetime(9999, 12, 30, tzinfo=UTC)),
        (datetime(1900, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC)),
    ]:
        assert calendars.business_minutes_between(new_schedule, start, end) == reference.business_minutes_between(
            old_schedule, start, end
        )
        assert calendars.add_business_minutes(new_schedule, start, 6000) == reference.add_business_minutes(
            old_schedule, start, 6000
        )


@settings(max_examples=100, deadline=None)
@given(
    data=st.data(),
    args=schedule_args(),
    targets=st.lists(st.integers(1, 20_000 * 60_000_000), max_size=3),
    days=st.integers(0, 90),
)
def test_a_clocks_arithmetic_at_once_is_the_walks(
    data: st.DataObject, args: dict[str, Any], targets: list[int], days: int
) -> None:
    """`elapsed_and_instants` (an SLA clock's replay) answers what the old walk answers question by question."""
    start = data.draw(instants(args["tz"]))
    end = start + timedelta(days=days)
    paused = data.draw(pauses(start))
    try:
        new: Any = calendars.elapsed_and_instants(calendars.Schedule(**args), start, end, paused, targets)
    except ValueError:
        new = "refused"
    old_schedule = reference.Schedule(**args)
    try:
        old: Any = (
            round(reference.business_minutes_between(old_schedule, start, end, paused) * 60_000_000),
            [reference.add_business_minutes(old_schedule, start, t / 60_000_000, paused) for t in targets],
        )
    except ValueError:
        old = "refused"  # no working time at all, or a target beyond the search horizon
    assert new == old
