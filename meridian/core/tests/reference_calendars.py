"""The business-time engine as it was before the per-day cumulative table (commit e7f76a8), kept for tests only.

A verbatim copy of ``meridian/core/calendars.py`` that walks working intervals one day at a time. The
equivalence property test (``test_calendar_speed_equivalence.py``) and ``make bench BENCH_ARGS=calendars``
compare the current engine against it. It is not used by the application.
"""

from __future__ import annotations

import math
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
