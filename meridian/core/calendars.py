"""Business-hours calendar engine for SLA clocks.

This module is pure Python (standard library + ``zoneinfo`` + the ``holidays``
package) and knows nothing about Django. Models elsewhere turn their stored
calendars into a :class:`Schedule`; the functions here do the arithmetic.

Semantics
---------
* Working hours are given in *local wall-clock time* of ``Schedule.tz``. Every
  day's local intervals are converted to UTC instants and all durations are
  real elapsed time between those instants. On a spring-forward day an
  interval 01:00-04:00 in Europe/Berlin therefore lasts 2 real hours; on the
  fall-back day it lasts 4 (the repeated hour 02:00-03:00 is worked twice).
* Local times are resolved to instants by :func:`local_to_utc`:

  - an unambiguous local time maps to its only instant;
  - an ambiguous local time (in the repeated hour of a fall-back transition)
    maps to its *first* occurrence (``fold=0``), for starts and ends alike, so
    back-to-back intervals such as 01:00-02:30 and 02:30-04:00 stay contiguous;
  - a nonexistent local time (in the skipped hour of a spring-forward
    transition) maps to the transition instant itself, i.e. the moment the
    clocks jump. An interval lying wholly inside the gap is empty.

  This mapping is non-decreasing in wall-clock time, so sorted local intervals
  give sorted, non-overlapping UTC intervals.
* ``time(0, 0)`` as the *end* of an interval means midnight at the end of the
  day (24:00).
* All intervals are half-open: ``[start, end)``.
* Every operation accepts timezone-aware datetimes in any time zone and
  returns datetimes in UTC. Naive datetimes raise :class:`ValueError`.
* Searches forward in time (:func:`add_business_minutes`,
  :func:`next_working_instant`) give up after :data:`SEARCH_HORIZON` and raise
  :class:`ValueError`, so they always terminate.

Method: a cumulative table per schedule
---------------------------------------
:func:`add_business_minutes` and :func:`business_minutes_between` cost the
same for any span. Each :class:`Schedule` keeps a ``_DayTable`` of consecutive
local days: for day ``k`` the instant it starts (its midnight through
:func:`local_to_utc`), its UTC working intervals (exactly
:meth:`Schedule.utc_intervals`, so weekly hours, holidays, closures, extra
working days and DST days of 23 or 25 hours are all applied) and ``cum[k]``,
the working time of all days before it, all in integer microseconds since the
epoch. ``F(t)``, the working time from the table's start up to instant ``t``,
is a ``bisect`` over the day starts plus a walk within that one day; business
time in ``[a, b)`` is ``F(b) - F(a)`` (minus ``F`` over each merged pause
clipped to the span). A due time is the earliest ``t`` with
``F(t) = F(start) + minutes``: a ``bisect`` over ``cum`` finds the day, a walk
over its few intervals the instant. With pauses the same is done on each stretch
between pauses. Since a day's intervals lie between its own midnight and the
next, and :func:`local_to_utc` is non-decreasing, ``F`` is well defined and the
answers equal those of walking interval by interval, to the microsecond (the old
walk is kept in ``core/tests/reference_calendars.py`` and compared by a
hypothesis test). The table is built on demand and grows (never changes: a grown
table is a new object, so readers in other threads see a consistent one) up to
about 110 years; questions reaching before year 2 or after year 9980, or
wider than that, fall back to the walk (:func:`_iter_working`), which
:func:`working_intervals`, :func:`is_working_time` and
:func:`next_working_instant` still use.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

import holidays

__all__ = [
    "SEARCH_HORIZON",
    "LocalInterval",
    "Schedule",
    "UTCInterval",
    "add_business_minutes",
    "business_minutes_between",
    "elapsed_and_instants",
    "holiday_dates",
    "is_working_time",
    "local_to_utc",
    "next_working_instant",
    "working_intervals",
]

LocalInterval = tuple[time, time]
"""A local wall-clock working interval ``(start, end)``; ``end == time(0, 0)`` means 24:00."""

UTCInterval = tuple[datetime, datetime]
"""A half-open interval ``[start, end)`` of aware UTC datetimes."""

SEARCH_HORIZON = timedelta(days=3653)
"""How far (about ten years) forward searches look before giving up."""

_MIDNIGHT = time(0, 0)
_ONE_DAY = timedelta(days=1)
_ONE_MICROSECOND = timedelta(microseconds=1)
_DAY_CACHE_LIMIT = 20_000


def _time_offset(value: time) -> timedelta:
    """Return the offset of ``value`` from the start of the day."""
    return timedelta(hours=value.hour, minutes=value.minute, seconds=value.second, microseconds=value.microsecond)


def _validate_intervals(label: str, intervals: Iterable[LocalInterval]) -> tuple[LocalInterval, ...]:
    """Check that ``intervals`` are well-formed, sorted and non-overlapping.

    Returns them as a tuple of ``(start, end)`` pairs. Touching intervals
    (one ends exactly where the next starts) are allowed.

    Raises:
        ValueError: if an interval is not a pair, is empty or reversed, has
            timezone-aware bounds, or the intervals are out of order or overlap.
        TypeError: if an interval bound is not a ``datetime.time``.
    """
    result: list[LocalInterval] = []
    previous_end: timedelta | None = None
    for item in intervals:
        try:
            start, end = item
        except (TypeError, ValueError):
            raise ValueError(f"{label}: each working interval must be a (start, end) pair, got {item!r}") from None
        if not isinstance(start, time) or not isinstance(end, time):
            raise TypeError(f"{label}: interval bounds must be datetime.time objects, got {item!r}")
        if start.tzinfo is not None or end.tzinfo is not None:
            raise ValueError(f"{label}: interval bounds must be naive local times, got {item!r}")
        start_offset = _time_offset(start)
        end_offset = _ONE_DAY if end == _MIDNIGHT else _time_offset(end)
        if start_offset >= end_offset:
            raise ValueError(
                f"{label}: interval {start.isoformat()}-{end.isoformat()} must start before it ends "
                "(use 00:00 as the end for midnight at the end of the day)"
            )
        if previous_end is not None and start_offset < previous_end:
            raise ValueError(
                f"{label}: interval {start.isoformat()}-{end.isoformat()} overlaps or is out of order with "
                "the previous one; intervals must be sorted and non-overlapping"
            )
        previous_end = end_offset
        result.append((start, end))
    return tuple(result)


@dataclass(frozen=True)
class Schedule:
    """A business-hours calendar.

    Attributes:
        tz: the time zone in which the working hours are expressed.
        weekly: weekday (0 = Monday ... 6 = Sunday) to that day's local working
            intervals; several intervals per day are allowed, they must be
            sorted and non-overlapping; an end of ``time(0, 0)`` means
            midnight at the end of the day. Missing weekdays are not worked.
        closed_days: local dates that are closed all day (public holidays and
            the calendar's own closures).
        extra_days: exceptions: a local date worked with exactly these
            intervals, overriding both ``weekly`` and ``closed_days`` (for
            example an extra working Saturday). An empty sequence closes the
            date.
        always_open: a 24x7 calendar: every instant is working time;
            ``weekly``, ``closed_days`` and ``extra_days`` are ignored.

    The mappings are copied into read-only mappings on construction.

    Raises:
        ValueError: on malformed, overlapping or unsorted intervals, or a
            weekday outside 0..6.
        TypeError: if ``tz`` is not a ZoneInfo, or dates/times have the wrong type.
    """

    tz: ZoneInfo
    weekly: Mapping[int, Sequence[LocalInterval]] = field(default_factory=dict)
    closed_days: frozenset[date] = frozenset()
    extra_days: Mapping[date, Sequence[LocalInterval]] = field(default_factory=dict)
    always_open: bool = False
    _day_cache: dict[date, tuple[UTCInterval, ...]] = field(default_factory=dict, init=False, repr=False, compare=False)
    _tables: dict[str, _DayTable] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Validate and freeze the calendar definition."""
        if not isinstance(self.tz, ZoneInfo):
            raise TypeError(f"Schedule.tz must be a zoneinfo.ZoneInfo, got {self.tz!r}")
        weekly: dict[int, tuple[LocalInterval, ...]] = {}
        for weekday, intervals in self.weekly.items():
            if not isinstance(weekday, int) or isinstance(weekday, bool) or not 0 <= weekday <= 6:
                raise ValueError(f"Schedule.weekly: weekday must be an int 0 (Monday) .. 6 (Sunday), got {weekday!r}")
            weekly[weekday] = _validate_intervals(f"Schedule.weekly[{weekday}]", intervals)
        extra: dict[date, tuple[LocalInterval, ...]] = {}
        for day, intervals in self.extra_days.items():
            if not isinstance(day, date) or isinstance(day, datetime):
                raise TypeError(f"Schedule.extra_days: keys must be datetime.date objects, got {day!r}")
            extra[day] = _validate_intervals(f"Schedule.extra_days[{day.isoformat()}]", intervals)
        closed = frozenset(self.closed_days)
        for day in closed:
            if not isinstance(day, date) or isinstance(day, datetime):
                raise TypeError(f"Schedule.closed_days: items must be datetime.date objects, got {day!r}")
        object.__setattr__(self, "weekly", MappingProxyType(weekly))
        object.__setattr__(self, "extra_days", MappingProxyType(extra))
        object.__setattr__(self, "closed_days", closed)

    def __hash__(self) -> int:
        """Hash by value, so schedules can be used as cache keys."""
        return hash(
            (
                self.tz,
                tuple(sorted(self.weekly.items())),
                self.closed_days,
                tuple(sorted(self.extra_days.items())),
                self.always_open,
            )
        )

    def __reduce__(self) -> tuple[type[Schedule], tuple[object, ...]]:
        """Pickle by constructor arguments (read-only mapping proxies cannot be pickled)."""
        return (
            Schedule,
            (self.tz, dict(self.weekly), self.closed_days, dict(self.extra_days), self.always_open),
        )

    @property
    def has_working_time(self) -> bool:
        """Whether the calendar can ever be open (ignoring closures)."""
        return self.always_open or any(self.weekly.values()) or any(self.extra_days.values())

    def local_intervals(self, day: date) -> tuple[LocalInterval, ...]:
        """Return the local working intervals of ``day`` (not meaningful for 24x7 calendars)."""
        extra = self.extra_days.get(day)
        if extra is not None:
            return tuple(extra)
        if day in self.closed_days:
            return ()
        return tuple(self.weekly.get(day.weekday(), ()))

    def utc_intervals(self, day: date) -> tuple[UTCInterval, ...]:
        """Return the working intervals of local date ``day`` as UTC instants.

        Intervals that are empty in real time (lying inside a DST gap) are
        dropped. Results are cached per schedule instance.
        """
        cached = self._day_cache.get(day)
        if cached is not None:
            return cached
        result: list[UTCInterval] = []
        for start, end in self.local_intervals(day):
            utc_start = local_to_utc(self.tz, day, start)
            utc_end = (
                local_to_utc(self.tz, day + _ONE_DAY, _MIDNIGHT)
                if end == _MIDNIGHT
                else local_to_utc(self.tz, day, end)
            )
            if utc_start < utc_end:
                result.append((utc_start, utc_end))
        intervals = tuple(result)
        if len(self._day_cache) >= _DAY_CACHE_LIMIT:
            self._day_cache.clear()
        self._day_cache[day] = intervals
        return intervals


def holiday_dates(country: str, subdivision: str | None, years: Iterable[int]) -> frozenset[date]:
    """Return the public holidays of ``country`` (and ``subdivision``) in ``years``.

    Args:
        country: ISO 3166-1 alpha-2 country code, e.g. ``"NL"``.
        subdivision: ISO 3166-2 subdivision code understood by the ``holidays``
            package (e.g. ``"BY"`` for Bavaria), or ``None`` for national ones.
        years: the calendar years to include.

    Raises:
        ValueError: if the country or subdivision is unknown to ``holidays``.
    """
    year_list = sorted(set(years))
    try:
        calendar = holidays.country_holidays(country, subdiv=subdivision, years=year_list)
    except NotImplementedError as exc:
        if subdivision is None:
            raise ValueError(f"Unknown holiday country {country!r}: {exc}") from exc
        raise ValueError(f"Unknown holiday country/subdivision {country!r}/{subdivision!r}: {exc}") from exc
    return frozenset(day for day in calendar if day.year in year_list)


def _require_aware(value: datetime, name: str) -> datetime:
    """Return ``value`` converted to UTC; raise ValueError if it is naive."""
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {value!r}")
    return value.astimezone(UTC)


def _gap_transition(tz: ZoneInfo, earliest: datetime, latest: datetime, after: timedelta | None) -> datetime:
    """Return the first instant in ``(earliest, latest]`` whose UTC offset in ``tz`` is ``after``.

    Binary search on microseconds; ``earliest``/``latest`` are naive UTC.
    """
    low = earliest
    high = latest
    while high - low > _ONE_MICROSECOND:
        middle = low + (high - low) // 2
        if middle.replace(tzinfo=UTC).astimezone(tz).utcoffset() == after:
            high = middle
        else:
            low = middle
    return high.replace(tzinfo=UTC)


def local_to_utc(tz: ZoneInfo, day: date, wall: time) -> datetime:
    """Resolve the local wall-clock time ``day`` ``wall`` in ``tz`` to an aware UTC datetime.

    Ambiguous times resolve to their first occurrence (``fold=0``);
    nonexistent times resolve to the instant of the transition that skipped
    them. The mapping is non-decreasing in wall-clock time.
    """
    naive = datetime.combine(day, wall.replace(tzinfo=None, fold=0))
    first = naive.replace(tzinfo=tz)
    offset_first = first.utcoffset()
    offset_second = first.replace(fold=1).utcoffset()
    if offset_first is None or offset_second is None:  # pragma: no cover - ZoneInfo always has offsets
        raise ValueError(f"Time zone {tz.key} has no UTC offset at {naive.isoformat()}")
    if offset_first >= offset_second:
        # Unambiguous, or ambiguous (fall-back: take the first occurrence).
        return (naive - offset_first).replace(tzinfo=UTC)
    # Nonexistent (spring-forward gap): fold=0 uses the offset before the
    # transition, fold=1 the offset after it; the transition lies in between.
    return _gap_transition(tz, naive - offset_second, naive - offset_first, offset_second)


def _iter_working(schedule: Schedule, start: datetime, end: datetime) -> Iterator[UTCInterval]:
    """Yield merged UTC working intervals clipped to ``[start, end)`` (both aware UTC)."""
    if start >= end:
        return
    if schedule.always_open:
        yield (start, end)
        return
    tz = schedule.tz
    day = start.astimezone(tz).date() - _ONE_DAY
    pending: UTCInterval | None = None
    while True:
        if local_to_utc(tz, day, _MIDNIGHT) >= end:
            break
        for interval_start, interval_end in schedule.utc_intervals(day):
            clipped_start = max(interval_start, start)
            clipped_end = min(interval_end, end)
            if clipped_start >= clipped_end:
                continue
            if pending is not None and pending[1] >= clipped_start:
                pending = (pending[0], max(pending[1], clipped_end))
            else:
                if pending is not None:
                    yield pending
                pending = (clipped_start, clipped_end)
        if day == date.max:
            break
        day += _ONE_DAY
    if pending is not None:
        yield pending


def _normalise_pauses(pauses: Iterable[tuple[datetime, datetime]]) -> list[UTCInterval]:
    """Convert pauses to UTC, drop empty ones, sort and merge overlapping or touching ones."""
    converted: list[UTCInterval] = []
    for index, pause in enumerate(pauses):
        try:
            pause_start, pause_end = pause
        except (TypeError, ValueError):
            raise ValueError(f"pause #{index} must be a (start, end) pair, got {pause!r}") from None
        utc_start = _require_aware(pause_start, f"pause #{index} start")
        utc_end = _require_aware(pause_end, f"pause #{index} end")
        if utc_end < utc_start:
            raise ValueError(f"pause #{index} ends before it starts: {pause_start!r} > {pause_end!r}")
        if utc_end > utc_start:
            converted.append((utc_start, utc_end))
    converted.sort()
    merged: list[UTCInterval] = []
    for pause_start, pause_end in converted:
        if merged and merged[-1][1] >= pause_start:
            if pause_end > merged[-1][1]:
                merged[-1] = (merged[-1][0], pause_end)
        else:
            merged.append((pause_start, pause_end))
    return merged


def _subtract_pauses(intervals: Iterable[UTCInterval], pauses: Sequence[UTCInterval]) -> Iterator[UTCInterval]:
    """Yield the parts of sorted ``intervals`` not covered by sorted, merged ``pauses``."""
    first_relevant = 0
    for interval_start, interval_end in intervals:
        while first_relevant < len(pauses) and pauses[first_relevant][1] <= interval_start:
            first_relevant += 1
        cursor = interval_start
        index = first_relevant
        while index < len(pauses) and pauses[index][0] < interval_end:
            pause_start, pause_end = pauses[index]
            if pause_start > cursor:
                yield (cursor, pause_start)
            cursor = max(cursor, pause_end)
            if cursor >= interval_end:
                break
            index += 1
        if cursor < interval_end:
            yield (cursor, interval_end)


def _horizon_end(start: datetime) -> datetime:
    """Return ``start + SEARCH_HORIZON``, clamped to the largest representable instant."""
    try:
        return start + SEARCH_HORIZON
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)


# --------------------------------------------------------------------------- the per-day cumulative table

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TABLE_MIN_DAY = date(2, 1, 1).toordinal()
_TABLE_MAX_DAY = date(9980, 1, 1).toordinal()
_TABLE_MAX_DAYS = 40_000
"""The most local days one schedule's table holds (about 110 years); wider questions use the walk."""
_TABLE_MARGIN_DAYS = 32
"""Extra days added on the side a table grows, so a stream of later due times does not rebuild it each time."""
_US_PER_MINUTE = 60_000_000


class _NoTable(Exception):
    """The question lies outside what a day table may cover: the caller falls back to the walk."""


def _to_us(value: datetime) -> int:
    """Microseconds since the Unix epoch of the aware datetime ``value``."""
    return (value - _EPOCH) // _ONE_MICROSECOND


def _from_us(value: int) -> datetime:
    """The aware UTC datetime ``value`` microseconds after the Unix epoch."""
    return _EPOCH + timedelta(microseconds=value)


def _local_day(tz: ZoneInfo, value: datetime) -> int:
    """The ordinal of the local date of ``value`` in ``tz``."""
    return value.astimezone(tz).date().toordinal()


class _DayTable:
    """Working time of the consecutive local days ``first .. first + len(days) - 1`` of one schedule.

    ``bounds[k]`` is the instant (microseconds since the epoch) at which local day ``first + k`` begins
    (its midnight resolved by :func:`local_to_utc`), ``bounds[len(days)]`` the end of the last day;
    ``days[k]`` are that day's UTC working intervals in microseconds (exactly :meth:`Schedule.utc_intervals`)
    and ``cum[k]`` the working microseconds of all days before day ``k``. A table is never changed once
    built; growing one builds a new one, so concurrent readers always see a consistent table.
    """

    __slots__ = ("bounds", "cum", "days", "first")

    def __init__(self, first: int, bounds: list[int], days: list[tuple[tuple[int, int], ...]]) -> None:
        self.first = first
        self.bounds = bounds
        self.days = days
        cum = [0]
        total = 0
        for intervals in days:
            for start, end in intervals:
                total += end - start
            cum.append(total)
        self.cum = cum

    @property
    def end(self) -> int:
        """The ordinal of the day after the last one held."""
        return self.first + len(self.days)

    def value(self, instant: int) -> int:
        """Working microseconds from the table's first midnight up to ``instant`` (which it must cover)."""
        index = bisect_right(self.bounds, instant) - 1
        if index >= len(self.days):
            return self.cum[-1]
        total = self.cum[index]
        for start, end in self.days[index]:
            if instant <= start:
                break
            total += (instant if instant < end else end) - start
        return total

    def inverse(self, target: int) -> int:
        """The earliest instant whose :meth:`value` is ``target`` (``cum[0] < target <= cum[-1]``)."""
        index = bisect_left(self.cum, target) - 1
        remaining = target - self.cum[index]
        for start, end in self.days[index]:
            length = end - start
            if remaining <= length:
                return start + remaining
            remaining -= length
        raise AssertionError("cumulative working time out of step with the day's intervals")  # pragma: no cover


def _day_row(schedule: Schedule, ordinal: int) -> tuple[int, tuple[tuple[int, int], ...]]:
    """The start instant and the UTC working intervals (microseconds) of local day ``ordinal``."""
    day = date.fromordinal(ordinal)
    intervals = tuple((_to_us(start), _to_us(end)) for start, end in schedule.utc_intervals(day))
    return _to_us(local_to_utc(schedule.tz, day, _MIDNIGHT)), intervals


def _table(schedule: Schedule, low: int, high: int) -> _DayTable:
    """A day table of ``schedule`` holding at least the local days ``low .. high`` (ordinals), built or grown.

    Raises:
        _NoTable: if those days are too near the ends of the calendar or too many for one table.
    """
    if low < _TABLE_MIN_DAY or high > _TABLE_MAX_DAY or high - low >= _TABLE_MAX_DAYS:
        raise _NoTable
    table = schedule._tables.get("days")
    if table is not None and table.first <= low and high < table.end:
        return table
    if table is None or max(high + 1, table.end) - min(low, table.first) > _TABLE_MAX_DAYS:
        first, end = low, high + 1
        rows = [_day_row(schedule, ordinal) for ordinal in range(first, end + 1)]
        bounds = [bound for bound, _ in rows]
        days = [intervals for _, intervals in rows[:-1]]
    else:
        first, end = min(low, table.first), max(high + 1, table.end)
        if low < table.first and end - first + _TABLE_MARGIN_DAYS <= _TABLE_MAX_DAYS:
            first = max(first - _TABLE_MARGIN_DAYS, _TABLE_MIN_DAY)
        if high >= table.end and end - first + _TABLE_MARGIN_DAYS <= _TABLE_MAX_DAYS:
            end = min(end + _TABLE_MARGIN_DAYS, _TABLE_MAX_DAY + 1)
        before = [_day_row(schedule, ordinal) for ordinal in range(first, table.first)]
        after = [_day_row(schedule, ordinal) for ordinal in range(table.end, end + 1)]
        bounds = [bound for bound, _ in before] + table.bounds[:-1] + [bound for bound, _ in after]
        days = [intervals for _, intervals in before] + table.days + [intervals for _, intervals in after[:-1]]
    table = _DayTable(first, bounds, days)
    schedule._tables["days"] = table
    return table


def _fast_between(schedule: Schedule, start: datetime, end: datetime, pauses: Sequence[UTCInterval]) -> int:
    """Working microseconds in ``[start, end)`` outside the merged ``pauses``, from the day table.

    Raises:
        _NoTable: if no table can cover ``start .. end``.
    """
    start_us, end_us = _to_us(start), _to_us(end)
    if schedule.always_open:
        total = end_us - start_us
        for pause_start, pause_end in pauses:
            low, high = max(_to_us(pause_start), start_us), min(_to_us(pause_end), end_us)
            if low < high:
                total -= high - low
        return total
    table = schedule._tables.get("days")
    if table is None or not table.bounds[0] <= start_us <= end_us <= table.bounds[-1]:
        tz = schedule.tz
        table = _table(schedule, _local_day(tz, start) - 2, _local_day(tz, end) + 2)
    total = table.value(end_us) - table.value(start_us)
    for pause_start, pause_end in pauses:
        low, high = max(_to_us(pause_start), start_us), min(_to_us(pause_end), end_us)
        if low < high:
            total -= table.value(high) - table.value(low)
    return total


def _fast_add_within(schedule: Schedule, cursor: datetime, remaining: int, stop: int) -> tuple[int | None, int]:
    """Spend ``remaining`` working microseconds from ``cursor`` on, before the instant ``stop``.

    Returns ``(instant, 0)`` with the instant at which they are spent, or ``(None, left)`` with what is left
    at ``stop``.

    Raises:
        _NoTable: if no table can cover the days needed.
    """
    cursor_us = _to_us(cursor)
    if schedule.always_open:
        available = stop - cursor_us
        return (cursor_us + remaining, 0) if remaining <= available else (None, remaining - available)
    table = schedule._tables.get("days")
    if table is not None and table.bounds[0] <= cursor_us <= table.bounds[-1]:
        before = table.value(cursor_us)
        if table.bounds[-1] >= stop:
            available = table.value(stop) - before
            if remaining <= available:
                return table.inverse(before + remaining), 0
            return None, remaining - available
        if table.cum[-1] - before >= remaining:
            return table.inverse(before + remaining), 0
    day = _local_day(schedule.tz, cursor)
    # At least a day per 12 working hours still to spend, but no further than just past ``stop``.
    ahead = min(8 + remaining // 43_200_000_000, 3 + (stop - cursor_us) // 86_400_000_000)
    while True:
        table = _table(schedule, day - 2, day + ahead)
        before = table.value(cursor_us)
        if table.bounds[-1] >= stop:
            available = table.value(stop) - before
            if remaining <= available:
                return table.inverse(before + remaining), 0
            return None, remaining - available
        if table.cum[-1] - before >= remaining:
            return table.inverse(before + remaining), 0
        ahead = ahead * 4


def _fast_add(schedule: Schedule, start: datetime, remaining: int, pauses: Sequence[UTCInterval]) -> datetime | None:
    """The instant ``remaining`` working microseconds after ``start`` outside ``pauses``, or ``None`` when
    it lies beyond the search horizon.

    Raises:
        _NoTable: if no table can cover the days needed.
    """
    stop = _to_us(_horizon_end(start))
    cursor = start
    for pause_start, pause_end in pauses:
        if pause_end <= cursor:
            continue
        if pause_start > cursor:
            instant, remaining = _fast_add_within(schedule, cursor, remaining, min(_to_us(pause_start), stop))
            if instant is not None:
                return _from_us(instant)
        cursor = pause_end
        if _to_us(cursor) >= stop:
            return None
    instant, remaining = _fast_add_within(schedule, cursor, remaining, stop)
    return None if instant is None else _from_us(instant)


def working_intervals(schedule: Schedule, start: datetime, end: datetime) -> Iterator[UTCInterval]:
    """Yield the working time within ``[start, end)`` as UTC intervals.

    Intervals are in chronological order, clipped to ``[start, end)`` and
    merged where they touch (e.g. consecutive 00:00-24:00 days). An empty
    iterator is produced when ``end <= start``.

    Raises:
        ValueError: if ``start`` or ``end`` is naive.
    """
    utc_start = _require_aware(start, "start")
    utc_end = _require_aware(end, "end")
    return _iter_working(schedule, utc_start, utc_end)


def is_working_time(schedule: Schedule, instant: datetime) -> bool:
    """Return whether ``instant`` falls inside working time (intervals are half-open).

    Raises:
        ValueError: if ``instant`` is naive.
    """
    utc_instant = _require_aware(instant, "instant")
    if schedule.always_open:
        return True
    return any(True for _ in _iter_working(schedule, utc_instant, utc_instant + _ONE_MICROSECOND))


def business_minutes_between(
    schedule: Schedule,
    start: datetime,
    end: datetime,
    pauses: Iterable[tuple[datetime, datetime]] = (),
) -> float:
    """Return the business minutes in ``[start, end)`` not covered by any pause.

    Pauses may overlap each other and working or non-working time; overlapping
    pause time is only subtracted once, and only where it overlaps working time.

    Raises:
        ValueError: if any datetime is naive, ``end < start``, or a pause ends
            before it starts.
    """
    utc_start = _require_aware(start, "start")
    utc_end = _require_aware(end, "end")
    if utc_end < utc_start:
        raise ValueError(f"end ({end.isoformat()}) is before start ({start.isoformat()})")
    merged_pauses = _normalise_pauses(pauses)
    try:
        return _fast_between(schedule, utc_start, utc_end, merged_pauses) / _US_PER_MINUTE
    except _NoTable:
        pass
    total = timedelta(0)
    for piece_start, piece_end in _subtract_pauses(_iter_working(schedule, utc_start, utc_end), merged_pauses):
        total += piece_end - piece_start
    return total / timedelta(minutes=1)


def add_business_minutes(
    schedule: Schedule,
    start: datetime,
    minutes: float,
    pauses: Iterable[tuple[datetime, datetime]] = (),
) -> datetime:
    """Return the earliest instant ``t >= start`` with ``business_minutes_between(start, t, pauses) == minutes``.

    ``minutes == 0`` returns ``start`` itself (converted to UTC), even outside
    working time. For ``minutes > 0`` the result always lies in (the closure
    of) working time: it is never the start of a non-working stretch. Minutes
    are resolved to whole microseconds, at least one for any positive value.

    Raises:
        ValueError: if ``start`` or a pause is naive, ``minutes`` is negative or
            not finite, the schedule has no working time at all, or the target
            is not reached within :data:`SEARCH_HORIZON` of ``start``.
    """
    utc_start = _require_aware(start, "start")
    if not math.isfinite(minutes) or minutes < 0:
        raise ValueError(f"minutes must be a finite number >= 0, got {minutes!r}")
    if minutes == 0:
        return utc_start
    if not schedule.has_working_time:
        raise ValueError("The schedule has no working time at all; business minutes cannot be added")
    try:
        remaining = max(timedelta(minutes=minutes), _ONE_MICROSECOND)
    except OverflowError:
        raise ValueError(f"minutes={minutes!r} is too large") from None
    merged_pauses = _normalise_pauses(pauses)
    try:
        found = _fast_add(schedule, utc_start, remaining // _ONE_MICROSECOND, merged_pauses)
    except _NoTable:
        pass
    else:
        if found is not None:
            return found
        raise ValueError(
            f"Adding {minutes} business minutes to {start.isoformat()} does not finish within the "
            f"search horizon of {SEARCH_HORIZON.days} days"
        )
    horizon = _horizon_end(utc_start)
    for piece_start, piece_end in _subtract_pauses(_iter_working(schedule, utc_start, horizon), merged_pauses):
        length = piece_end - piece_start
        if remaining <= length:
            return piece_start + remaining
        remaining -= length
    raise ValueError(
        f"Adding {minutes} business minutes to {start.isoformat()} does not finish within the "
        f"search horizon of {SEARCH_HORIZON.days} days"
    )


def elapsed_and_instants(
    schedule: Schedule,
    start: datetime,
    end: datetime,
    pauses: Iterable[tuple[datetime, datetime]],
    targets_us: Sequence[int],
) -> tuple[int, list[datetime]]:
    """One clock's arithmetic at once (an SLA clock's replay): the working microseconds in ``[start, end)`` outside
    ``pauses``, and for each of ``targets_us`` (working microseconds, > 0) the earliest instant at which that much
    working time outside the pauses has passed since ``start``. The same answers as
    :func:`business_minutes_between` (in microseconds) and :func:`add_business_minutes`, with the pauses checked and
    merged once for all of them.

    Raises:
        ValueError: as those two do (naive datetimes, ``end < start``, a pause ending before it starts, no working
            time at all, a target beyond the search horizon).
    """
    utc_start = _require_aware(start, "start")
    utc_end = _require_aware(end, "end")
    if utc_end < utc_start:
        raise ValueError(f"end ({end.isoformat()}) is before start ({start.isoformat()})")
    merged = _normalise_pauses(pauses)
    if any(target <= 0 for target in targets_us):
        raise ValueError("targets must be > 0 microseconds")
    if targets_us and not schedule.has_working_time:
        raise ValueError("The schedule has no working time at all; business minutes cannot be added")
    try:
        elapsed = _fast_between(schedule, utc_start, utc_end, merged)
        instants = []
        for target in targets_us:
            found = _fast_add(schedule, utc_start, target, merged)
            if found is None:
                raise ValueError(
                    f"Adding {target / _US_PER_MINUTE} business minutes to {start.isoformat()} does not finish "
                    f"within the search horizon of {SEARCH_HORIZON.days} days"
                )
            instants.append(found)
        return elapsed, instants
    except _NoTable:
        elapsed = round(business_minutes_between(schedule, utc_start, utc_end, merged) * _US_PER_MINUTE)
        return elapsed, [add_business_minutes(schedule, utc_start, t / _US_PER_MINUTE, merged) for t in targets_us]


def next_working_instant(schedule: Schedule, instant: datetime) -> datetime:
    """Return the earliest working instant ``>= instant`` (``instant`` itself if it is working time).

    Raises:
        ValueError: if ``instant`` is naive, the schedule has no working time at
            all, or no working time starts within :data:`SEARCH_HORIZON`.
    """
    utc_instant = _require_aware(instant, "instant")
    if schedule.always_open:
        return utc_instant
    if not schedule.has_working_time:
        raise ValueError("The schedule has no working time at all")
    for interval_start, _ in _iter_working(schedule, utc_instant, _horizon_end(utc_instant)):
        return interval_start
    raise ValueError(f"No working time within {SEARCH_HORIZON.days} days after {instant.isoformat()}")
