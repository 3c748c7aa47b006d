"""The SLA clock engine: start, pause, resume, stop and re-target a clock on any record, and read it.

A clock is an append-only list of segments (start, end, the record's status meanwhile) and its current terms (a
target in business minutes of a calendar, and the rule that gave it). Everything else is *replayed* from those by
one function, :func:`replay`, with the clock's current terms over the whole segment list:

- elapsed = business minutes, in the current calendar, of the segments whose status runs per the metric's current
  configuration: one ``business_minutes_between(started_at, end, pauses=[the other segments])``;
- due (running clocks only) = the earliest instant at which elapsed reaches the target:
  ``add_business_minutes(started_at, target, pauses=...)``; a threshold's instant likewise with its share of it.

So changing the priority (re-target), the agreement, the calendar or the metric's statuses, or reopening, gives
the answer a person computes by hand. The arithmetic is `meridian.core.calendars` (one engine); this module only
calls it. Due time, elapsed minutes (as of the last change), breach and the next instant the periodic task must
look are stored on the clock so that queues sort and filter by them in SQL.

Writes lock the clock's row (after the record's own row, which the caller's transaction holds: the one lock order).
Warnings and breaches are recorded by the periodic task `service_levels.clock_events` (`record_events`), each once,
at the instant it was crossed; `on_event` callbacks run after commit for each newly recorded event.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from meridian.core import audit
from meridian.core.calendars import (
    Schedule,
    add_business_minutes,
    business_minutes_between,
    elapsed_and_instants,
    working_intervals,
)
from meridian.core.choices import AuditAction
from meridian.core.models import Calendar, CalendarException
from meridian.service_levels.clock_models import (
    BREACH,
    Clock,
    ClockEvent,
    ClockEventKind,
    ClockMetric,
    ClockSegment,
    ClockState,
    ClockTerm,
)

log = logging.getLogger(__name__)

US_PER_MINUTE = 60_000_000
OPEN = (ClockState.RUNNING, ClockState.PAUSED, ClockState.STOPPED)

Segment = tuple[datetime, datetime | None, str]
"""(start, end or None while open, the record's status during it)."""


# --- schedules: one per calendar as it is now, cached per process ---------------------------------------------------

_SCHEDULES: OrderedDict[tuple[Any, ...], Schedule] = OrderedDict()
_SCHEDULES_LOCK = threading.Lock()
SCHEDULE_CACHE_SIZE = 64


def _calendar_key(calendar: Calendar, exceptions: Iterable[tuple[Any, ...]]) -> tuple[Any, ...]:
    """Everything `Calendar.schedule()` reads, so an edit of the calendar or of its exceptions always changes the key,
    even one written behind the services' back (which would not bump the calendar's version)."""
    rows = tuple(sorted((tuple(row) for row in exceptions), key=lambda row: row[0]))
    return (
        calendar.pk,
        calendar.time_zone,
        calendar.always_open,
        json.dumps(calendar.working_hours or {}, sort_keys=True),
        calendar.holiday_country,
        calendar.holiday_subdivision,
        timezone.now().year,  # `Calendar.schedule()` holds the holidays of the years around this one
        rows,
    )


def schedule_of(calendar: Calendar, exceptions: Iterable[tuple[Any, ...]] | None = None) -> Schedule:
    """The calendar's `Schedule`, built once per calendar content and process (its day table is kept warm).

    `exceptions` are the calendar's (date, kind, start, end) rows when the caller read them in bulk; otherwise one
    query reads them. The key is the calendar's content, not its version: `CalendarException` rows written through
    the services bump the calendar's version, but a direct write would not."""
    if exceptions is None:
        exceptions = CalendarException.objects.filter(calendar_id=calendar.pk).values_list(
            "date", "kind", "start", "end"
        )
    key = _calendar_key(calendar, exceptions)
    with _SCHEDULES_LOCK:
        found = _SCHEDULES.get(key)
        if found is not None:
            _SCHEDULES.move_to_end(key)
            return found
    schedule = calendar.schedule()
    with _SCHEDULES_LOCK:
        _SCHEDULES[key] = schedule
        while len(_SCHEDULES) > SCHEDULE_CACHE_SIZE:
            _SCHEDULES.popitem(last=False)
    return schedule


def schedules_for(calendar_ids: Iterable[int]) -> dict[int, Schedule]:
    """The schedules of several calendars: two queries, whatever their number."""
    ids = set(calendar_ids)
    rows: dict[int, list[tuple[Any, ...]]] = {pk: [] for pk in ids}
    for calendar_id, *row in CalendarException.objects.filter(calendar_id__in=ids).values_list(
        "calendar_id", "date", "kind", "start", "end"
    ):
        rows[calendar_id].append(tuple(row))
    return {calendar.pk: schedule_of(calendar, rows[calendar.pk]) for calendar in Calendar.objects.filter(pk__in=ids)}


# --- replay: the one computation ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Replay:
    """What a clock's segments and current terms give as of `end` (now, or the instant it finished)."""

    end: datetime
    elapsed_us: int
    due_at: datetime | None  # running clocks only
    breached_at: datetime | None  # when elapsed reached the target, if it did by `end`
    next_event_at: datetime | None  # the earliest crossing of a threshold not recorded yet (past or, running, future)

    @property
    def elapsed_minutes(self) -> float:
        return self.elapsed_us / US_PER_MINUTE


def threshold_us(target_minutes: int, percent: int) -> int:
    """The elapsed microseconds at which `percent` of the target is reached (exact: whole minutes and percents)."""
    return target_minutes * (US_PER_MINUTE // 100) * percent


def _pauses(segments: Iterable[Segment], running_statuses: Iterable[str], end: datetime) -> list[tuple[Any, Any]]:
    """The segments in which the clock does not run, cut at `end` (an open segment ends there)."""
    running = running_statuses if isinstance(running_statuses, frozenset) else frozenset(running_statuses)
    pauses = []
    for start, stop, status in segments:
        if status in running:
            continue
        stop = end if stop is None or stop > end else stop
        if start < stop:
            pauses.append((start, stop))
    return pauses


def replay(
    *,
    schedule: Schedule,
    started_at: datetime,
    target_minutes: int,
    running_statuses: Iterable[str],
    thresholds: Sequence[int],
    segments: Iterable[Segment],
    state: str,
    end: datetime,
    recorded: Iterable[int] = (),
) -> Replay:
    """Elapsed, due, breach and the next event of a clock, from its segments (in any order) and current terms, as of
    `end` (now, or when it finished). `recorded` are the thresholds already recorded as events."""
    end = max(end, started_at)
    pauses = _pauses(segments, running_statuses, end)
    is_running = state == ClockState.RUNNING
    done = set(recorded)
    waiting = [p for p in (*thresholds, BREACH) if p not in done]
    first = min(waiting) if waiting else None
    candidates = {BREACH} if first is None else {BREACH, first}
    # the instants wanted: a running clock's due time and next event, known before its elapsed time; a paused or
    # stopped one's breach and next event only once its elapsed time shows they were crossed (a second pass)
    wanted = sorted(candidates) if is_running else []
    elapsed_us, found = elapsed_and_instants(
        schedule, started_at, end, pauses, [threshold_us(target_minutes, p) for p in wanted]
    )
    if not is_running:
        wanted = sorted(p for p in candidates if threshold_us(target_minutes, p) <= elapsed_us)
        if wanted:
            found = elapsed_and_instants(
                schedule, started_at, started_at, pauses, [threshold_us(target_minutes, p) for p in wanted]
            )[1]
    at = dict(zip(wanted, found, strict=True))
    reached = threshold_us(target_minutes, BREACH) <= elapsed_us
    due_at = at[BREACH] if is_running else None
    breached_at = at[BREACH] if reached else None
    next_event_at = at.get(first) if first is not None else None
    return Replay(end, elapsed_us, due_at, breached_at, next_event_at)


def crossings_by(
    *,
    schedule: Schedule,
    started_at: datetime,
    target_minutes: int,
    running_statuses: Iterable[str],
    thresholds: Sequence[int],
    segments: Iterable[Segment],
    end: datetime,
) -> dict[int, datetime]:
    """Every threshold (and the breach, 100) the clock had crossed by `end`, with the instant it crossed it."""
    end = max(end, started_at)
    pauses = _pauses(segments, running_statuses, end)
    elapsed_us = round(business_minutes_between(schedule, started_at, end, pauses) * US_PER_MINUTE)
    return {
        percent: add_business_minutes(schedule, started_at, target_minutes * percent / 100, pauses)
        for percent in (*thresholds, BREACH)
        if threshold_us(target_minutes, percent) <= elapsed_us
    }


def _segments(clock: Clock) -> list[Segment]:
    return list(clock.segments.order_by("start", "id").values_list("start", "end", "status"))


def _end_of(clock: Clock, now: datetime) -> datetime:
    return clock.finished_at if clock.state == ClockState.FINISHED and clock.finished_at else now


def replay_clock(
    clock: Clock,
    *,
    now: datetime,
    segments: list[Segment] | None = None,
    schedule: Schedule | None = None,
    recorded: Iterable[int] | None = None,
) -> Replay:
    """`replay` of a stored clock (its segments, metric and calendar read unless given)."""
    metric = clock.metric
    return replay(
        schedule=schedule or schedule_of(clock.calendar),
        started_at=clock.started_at,
        target_minutes=clock.target_minutes,
        running_statuses=metric.running_statuses,
        thresholds=metric.thresholds,
        segments=_segments(clock) if segments is None else segments,
        state=clock.state,
        end=_end_of(clock, now),
        recorded=clock.events.values_list("threshold", flat=True) if recorded is None else recorded,
    )


STORED = ["state", "due_at", "elapsed_minutes", "computed_at", "breached_at", "next_event_at", "updated_at"]


def _store(clock: Clock, result: Replay, *, extra: Sequence[str] = ()) -> None:
    clock.due_at = result.due_at
    clock.elapsed_minutes = result.elapsed_minutes
    clock.computed_at = result.end
    clock.breached_at = result.breached_at
    clock.next_event_at = result.next_event_at
    clock.updated_at = timezone.now()
    clock.save(update_fields=[*STORED, *extra])


def state_for(metric: ClockMetric, status: str) -> str:
    """Running in a running status, stopped in a stop status, paused in every other: configuration, not code."""
    if status in metric.running_statuses:
        return ClockState.RUNNING
    if status in metric.stop_statuses:
        return ClockState.STOPPED
    return ClockState.PAUSED


# --- the operations -------------------------------------------------------------------------------------------------


def _check_terms(target_minutes: Any, calendar: Any) -> None:
    errors = {}
    if isinstance(target_minutes, bool) or not isinstance(target_minutes, int) or target_minutes < 1:
        errors["target_minutes"] = "The target is a whole number of business minutes, at least 1."
    if not isinstance(calendar, Calendar) or calendar.pk is None:
        errors["calendar"] = "Choose a calendar."
    elif not schedule_of(calendar).has_working_time:
        errors["calendar"] = f"The calendar “{calendar}” has no working time: a clock on it would never be due."
    if errors:
        raise ValidationError(errors)


def _terms_text(target_minutes: int, calendar: Calendar, rule: str) -> str:
    text = f"{target_minutes} business minutes on {calendar}"
    return f"{text} ({rule})" if rule else text


def _lock(clock_id: int) -> Clock:
    return Clock.objects.select_for_update(of=("self",)).select_related("metric", "calendar").get(pk=clock_id)


def _owner_of(clock: Clock) -> models.Model | None:
    model = clock.content_type.model_class()
    return None if model is None else model._default_manager.filter(pk=clock.object_id).first()


def start(
    record: models.Model,
    metric: ClockMetric,
    *,
    target_minutes: int,
    calendar: Calendar,
    rule: str,
    status: str,
    actor: Any,
    at: datetime | None = None,
) -> Clock:
    """Start `metric`'s clock on `record` (in `status` now) with a target of business minutes of `calendar`; `rule`
    says which agreement and target gave it. One clock per record and metric (a second start is a field error)."""
    at = at or timezone.now()
    _check_terms(target_minutes, calendar)
    content_type = ContentType.objects.get_for_model(record)
    with transaction.atomic():
        if Clock.objects.filter(content_type=content_type, object_id=record.pk, metric=metric).exists():
            raise ValidationError({"metric": f"This record already has a {metric} clock: re-target it instead."})
        clock = Clock.objects.create(
            content_type=content_type,
            object_id=record.pk,
            metric=metric,
            target_minutes=target_minutes,
            calendar=calendar,
            rule=rule,
            started_at=at,
            state=state_for(metric, status),
            status=status,
            computed_at=at,
        )
        ClockSegment.objects.create(clock=clock, start=at, status=status)
        ClockTerm.objects.create(
            clock=clock,
            at=at,
            target_minutes=target_minutes,
            calendar=calendar,
            rule=rule,
            reason="started",
            actor=actor if getattr(actor, "pk", None) else None,
            actor_label=actor.get_username() if getattr(actor, "pk", None) else "",
        )
        _store(clock, replay_clock(clock, now=at, segments=[(at, None, status)], recorded=()))
        audit.record_event(
            action=AuditAction.UPDATE,
            obj=record,
            actor=actor,
            changes={f"{metric.key}_clock": {"before": None, "after": _terms_text(target_minutes, calendar, rule)}},
            reason=f"{metric} clock started",
        )
    return clock


def status_changed(record: models.Model, status: str, *, at: datetime | None = None) -> list[Clock]:
    """The record moved to `status`: every open clock of the record ends its current segment and opens one in the new
    status (running, paused or stopped as its metric says). Process apps call it from their lifecycle's effects, in
    the transition's transaction (the record's row is locked first). Returns the clocks changed."""
    at = at or timezone.now()
    changed = []
    with transaction.atomic():
        ids = list(clocks_of(record).filter(state__in=OPEN).order_by("pk").values_list("pk", flat=True))
        for clock_id in ids:
            clock = _lock(clock_id)
            if clock.state == ClockState.FINISHED or clock.status == status:
                continue
            current = clock.segments.filter(end__isnull=True).order_by("-start", "-id").first()
            if current is not None:
                if at < current.start:
                    raise ValueError(f"{clock}: a status change at {at.isoformat()} is before the current segment")
                ClockSegment.objects.filter(pk=current.pk, end__isnull=True).update(end=at)
            ClockSegment.objects.create(clock=clock, start=at, status=status)
            clock.status = status
            clock.state = state_for(clock.metric, status)
            _store(clock, replay_clock(clock, now=at), extra=["status"])
            changed.append(clock)
    return changed


def stop(clock: Clock, *, at: datetime | None = None) -> Clock:
    """Stop the clock for good (e.g. the response was given): its elapsed time and breach stay as of `at`."""
    at = at or timezone.now()
    with transaction.atomic():
        current = _lock(clock.pk)
        if current.state == ClockState.FINISHED:
            return current
        open_segment = current.segments.filter(end__isnull=True).order_by("-start", "-id").first()
        if open_segment is not None:
            if at < open_segment.start:
                raise ValueError(f"{clock}: stopped at {at.isoformat()}, before its current segment began")
            ClockSegment.objects.filter(pk=open_segment.pk, end__isnull=True).update(end=at)
        current.state = ClockState.FINISHED
        current.finished_at = at
        _store(current, replay_clock(current, now=at), extra=["finished_at"])
    return current


def retarget(
    clock: Clock,
    *,
    target_minutes: int,
    calendar: Calendar,
    rule: str,
    reason: str,
    actor: Any,
    at: datetime | None = None,
) -> Clock:
    """Give the clock new terms (the priority, the agreement or the calendar changed). They apply to its whole life:
    the clock is replayed, so a breach the new target puts in the past is recorded at the instant it happened."""
    at = at or timezone.now()
    _check_terms(target_minutes, calendar)
    with transaction.atomic():
        current = _lock(clock.pk)
        before = _terms_text(current.target_minutes, current.calendar, current.rule)
        current.target_minutes, current.calendar, current.rule = target_minutes, calendar, rule
        ClockTerm.objects.create(
            clock=current,
            at=at,
            target_minutes=target_minutes,
            calendar=calendar,
            rule=rule,
            reason=reason,
            actor=actor if getattr(actor, "pk", None) else None,
            actor_label=actor.get_username() if getattr(actor, "pk", None) else "",
        )
        _store(current, replay_clock(current, now=at), extra=["target_minutes", "calendar", "rule"])
        owner = _owner_of(current)
        if owner is not None:
            audit.record_event(
                action=AuditAction.UPDATE,
                obj=owner,
                actor=actor,
                changes={
                    f"{current.metric.key}_clock": {
                        "before": before,
                        "after": _terms_text(target_minutes, calendar, rule),
                    }
                },
                reason=reason,
            )
    return current


def clocks_of(record: models.Model) -> models.QuerySet[Clock]:
    """The record's clocks, with metric and calendar."""
    content_type = ContentType.objects.get_for_model(record)
    return Clock.objects.filter(content_type=content_type, object_id=record.pk).select_related("metric", "calendar")


# --- reading --------------------------------------------------------------------------------------------------------


class Label(models.TextChoices):
    MET = "met", "Met"
    ON_TRACK = "on_track", "On track"
    AT_RISK = "at_risk", "At risk"
    BREACHED = "breached", "Breached"


LABEL_COLOURS = {Label.MET: "success", Label.ON_TRACK: "info", Label.AT_RISK: "warning", Label.BREACHED: "danger"}


@dataclass(frozen=True)
class Reading:
    """A clock as people read it, as of `at`."""

    clock: Clock
    at: datetime
    state: str
    target_minutes: int
    elapsed_minutes: float
    remaining_minutes: float  # negative: overdue by that much
    percent_used: float
    due_at: datetime | None
    breached_at: datetime | None
    label: str
    rule: str

    @property
    def colour(self) -> str:
        return LABEL_COLOURS[Label(self.label)]

    @property
    def label_text(self) -> str:
        return str(Label(self.label).label)

    @property
    def state_text(self) -> str:
        return str(ClockState(self.state).label)

    @property
    def bar_percent(self) -> int:
        return max(0, min(100, int(self.percent_used)))

    @property
    def remaining_text(self) -> str:
        """“2 h 05 min” of business time left, or overdue by."""
        minutes = round(abs(self.remaining_minutes))
        hours, rest = divmod(minutes, 60)
        return f"{hours} h {rest:02d} min" if hours else f"{rest} min"


def _label(clock: Clock, result: Replay) -> str:
    if result.breached_at is not None:
        return Label.BREACHED
    if clock.state in (ClockState.FINISHED, ClockState.STOPPED):
        return Label.MET
    thresholds = clock.metric.thresholds
    first = thresholds[0] if thresholds else BREACH
    if result.elapsed_us >= threshold_us(clock.target_minutes, first):
        return Label.AT_RISK
    return Label.ON_TRACK


def reading(
    clock: Clock,
    now: datetime | None = None,
    *,
    segments: list[Segment] | None = None,
    schedule: Schedule | None = None,
) -> Reading:
    """Due, elapsed, remaining, percent used and met / on track / at risk / breached, replayed as of `now`."""
    now = now or timezone.now()
    result = replay_clock(clock, now=now, segments=segments, recorded=(), schedule=schedule)
    elapsed = result.elapsed_minutes
    return Reading(
        clock=clock,
        at=result.end,
        state=clock.state,
        target_minutes=clock.target_minutes,
        elapsed_minutes=elapsed,
        remaining_minutes=clock.target_minutes - elapsed,
        percent_used=100 * elapsed / clock.target_minutes,
        due_at=result.due_at,
        breached_at=result.breached_at,
        label=_label(clock, result),
        rule=clock.rule,
    )


def ticking(clock: Clock, at: datetime, schedule: Schedule | None = None) -> tuple[bool, datetime | None]:
    """Whether the clock's business time runs at `at` (it runs, inside its calendar's working time) and until when
    that holds: the end of this working interval, or the start of the next (None: it does not run, or no working
    time within a week). What a live countdown needs to tick second by second and to stop at the day's end."""
    if clock.state != ClockState.RUNNING:
        return False, None
    for start, end in working_intervals(schedule or schedule_of(clock.calendar), at, at + timedelta(days=8)):
        return (True, end) if start <= at else (False, start)
    return False, None


def countdown(read: Reading, schedule: Schedule | None = None) -> dict[str, Any]:
    """A clock as a live countdown shows it: `seconds` of business time left (negative: overdue), whether they run
    down now (`ticking`) and `until` when that holds (then the page asks again)."""
    running, until = ticking(read.clock, read.at, schedule)
    return {
        "read": read,
        "seconds": round(read.remaining_minutes * 60),
        "ticking": running,
        "until": until,
    }


def readings(
    clocks: Sequence[Clock], now: datetime | None = None, schedules: dict[int, Schedule] | None = None
) -> list[Reading]:
    """`reading` of many clocks: one query for all their segments, schedules shared."""
    now = now or timezone.now()
    by_clock: dict[int, list[Segment]] = {clock.pk: [] for clock in clocks}
    rows = ClockSegment.objects.filter(clock_id__in=by_clock).values_list("clock_id", "start", "end", "status")
    for clock_id, start_at, end_at, status in rows:
        by_clock[clock_id].append((start_at, end_at, status))
    if schedules is None:
        schedules = schedules_for({clock.calendar_id for clock in clocks})
    return [reading(clock, now, segments=by_clock[clock.pk], schedule=schedules[clock.calendar_id]) for clock in clocks]


def panel_context(record: models.Model, now: datetime | None = None) -> dict[str, Any]:
    """The context of `service_levels/clock_panel.html` for a record's page."""
    return {"clock_readings": readings(list(clocks_of(record).order_by("metric__name", "pk")), now)}


def clock_json(clock: Clock, now: datetime | None = None) -> dict[str, Any]:
    """A clock for record pages and the API of later apps."""
    read = reading(clock, now)
    return {
        "metric": clock.metric.key,
        "metric_name": clock.metric.name,
        "state": read.state,
        "status": clock.status,
        "target_minutes": read.target_minutes,
        "calendar": clock.calendar_id,
        "rule": read.rule,
        "started_at": clock.started_at.isoformat(),
        "due_at": read.due_at.isoformat() if read.due_at else None,
        "elapsed_minutes": round(read.elapsed_minutes, 2),
        "remaining_minutes": round(read.remaining_minutes, 2),
        "percent_used": round(read.percent_used, 1),
        "breached_at": read.breached_at.isoformat() if read.breached_at else None,
        "label": read.label,
        "as_of": read.at.isoformat(),
    }


# --- events: recorded once, callbacks after commit ------------------------------------------------------------------

EventCallback = Callable[[Clock, ClockEvent], Any]
_CALLBACKS: list[tuple[str | None, EventCallback]] = []


def on_event(metric_key: str | None, callback: EventCallback) -> None:
    """Call `callback(clock, event)` after commit for each warning or breach newly recorded on clocks of the metric
    (`None`: every metric). Register at import time (an app's `ready`), not per request."""
    _CALLBACKS.append((metric_key, callback))


def _notify(clock: Clock, event: ClockEvent) -> None:
    for key, callback in list(_CALLBACKS):
        if key is None or key == clock.metric.key:
            try:
                callback(clock, event)
            except Exception:  # one failing escalation does not stop the others
                log.exception("clock event callback %r failed for %s", callback, event)


def record_events(clock: Clock, *, now: datetime, segments: list[Segment] | None = None) -> list[ClockEvent]:
    """Record every threshold the (locked) clock has crossed by `now` and not recorded yet, at the instant it was
    crossed, each once (the unique constraint decides a race), then store the clock's next event. Inside a
    transaction; callbacks run after its commit."""
    segments = _segments(clock) if segments is None else segments
    schedule = schedule_of(clock.calendar)
    metric = clock.metric
    end = _end_of(clock, now)
    crossed = crossings_by(
        schedule=schedule,
        started_at=clock.started_at,
        target_minutes=clock.target_minutes,
        running_statuses=metric.running_statuses,
        thresholds=metric.thresholds,
        segments=segments,
        end=end,
    )
    recorded = set(clock.events.values_list("threshold", flat=True))
    made = []
    for percent, instant in sorted(crossed.items()):
        if percent in recorded:
            continue
        event = ClockEvent(
            clock=clock,
            threshold=percent,
            kind=ClockEventKind.BREACH if percent == BREACH else ClockEventKind.WARNING,
            occurred_at=instant,
            recorded_at=timezone.now(),
        )
        try:
            with transaction.atomic():
                event.save(force_insert=True)
        except IntegrityError:  # another worker recorded it meanwhile
            continue
        recorded.add(percent)
        made.append(event)
    _store(clock, replay_clock(clock, now=now, segments=segments, schedule=schedule, recorded=recorded))
    for event in made:
        transaction.on_commit(functools.partial(_notify, clock, event))
    return made


EVENT_BATCH = 200


def record_due_events(now: datetime | None = None, *, batch: int = EVENT_BATCH) -> int:
    """The periodic task's work: every clock whose next event is due by `now` gets its crossed thresholds recorded.
    Safe when late (every threshold passed meanwhile is recorded at its true instant), repeated, or run by several
    workers at once (PostgreSQL: rows locked with SKIP LOCKED; the unique constraint is the last word)."""
    now = now or timezone.now()
    total = 0
    seen: set[int] = set()
    while True:
        with transaction.atomic():
            query = (
                Clock.objects.filter(next_event_at__lte=now)
                .select_related("metric", "calendar")
                .order_by("next_event_at", "pk")
            )
            if connection.features.has_select_for_update_skip_locked:
                query = query.select_for_update(skip_locked=True, of=("self",))
            clocks = [clock for clock in query[:batch] if clock.pk not in seen]
            if not clocks:  # none due, or only clocks handled already (their next event is past `now`: none)
                return total
            for clock in clocks:
                seen.add(clock.pk)
                total += len(record_events(clock, now=now))


# --- re-timing after a calendar or metric edit ----------------------------------------------------------------------

RETIME_BATCH = 2000


def _open_clocks(calendar_id: int | None, metric_id: int | None) -> models.QuerySet[Clock]:
    query = Clock.objects.filter(state__in=OPEN)
    if calendar_id is not None:
        query = query.filter(calendar_id=calendar_id)
    if metric_id is not None:
        query = query.filter(metric_id=metric_id)
    return query


def retime_parts(*, calendar_id: int | None = None, metric_id: int | None = None, parts: int) -> list[tuple[int, int]]:
    """The open clocks to re-time cut into at most `parts` ranges of ids holding about as many clocks each (each
    range a task of its own, so that several workers share a large re-timing)."""
    ids = list(_open_clocks(calendar_id, metric_id).order_by("pk").values_list("pk", flat=True))
    if not ids:
        return []
    size = -(-len(ids) // max(parts, 1))
    return [(ids[i], ids[min(i + size, len(ids)) - 1]) for i in range(0, len(ids), size)]


def retime(
    *,
    calendar_id: int | None = None,
    metric_id: int | None = None,
    now: datetime | None = None,
    ids: tuple[int, int] | None = None,
) -> int:
    """Replay every open clock on the calendar (or of the metric) with the calendar and metric as they are now, and
    store its state, due time, elapsed minutes, breach and next event where they changed. Elapsed minutes stay "as of
    the clock's last change" (`computed_at`): the replay ends there, so an edit that moves nothing up to then writes
    nothing. In batches of `RETIME_BATCH` by id: per batch one query for the clocks, one for their segments, one for
    their recorded events, one write of the rows that changed, conditional on the row being as read (no row lock: a
    status change never waits for a re-timing; a clock changed meanwhile is read and replayed again). Returns the
    number of clocks replayed; `now` is kept for the callers' signature (a clock's values are as of its own last
    change). `ids`: only the clocks of this range of ids (a part of `retime_parts`)."""
    now = now or timezone.now()
    query = _open_clocks(calendar_id, metric_id)
    if ids is not None:
        query = query.filter(pk__gte=ids[0], pk__lte=ids[1])
    metrics = {
        metric.pk: (metric, frozenset(metric.running_statuses), frozenset(metric.stop_statuses))
        for metric in ClockMetric.objects.all()
    }
    found = list(query.order_by("pk").values_list("pk", flat=True))
    chunks = [found[index : index + RETIME_BATCH] for index in range(0, len(found), RETIME_BATCH)]
    done = 0
    if connection.vendor == "postgresql" and not connection.in_atomic_block and len(chunks) > 1:
        missed, done = _retime_pipelined(query, chunks, metrics, now)
    else:
        missed = []
        for chunk in chunks:
            with transaction.atomic():
                rows = _fetch(  # by a range of the primary key: an index range scan, whatever the table's size
                    query.filter(pk__gte=chunk[0], pk__lte=chunk[-1]).order_by("pk").values_list(*RETIME_COLUMNS)
                )
                missed += _retime_batch(rows, metrics, now) if rows else []
                done += len(rows)
    for _attempt in range(3):  # changed meanwhile: read again (the concurrent write has committed) and replay
        if not missed:
            break
        with transaction.atomic():
            rows = _fetch(query.filter(pk__in=missed).order_by("pk").values_list(*RETIME_COLUMNS))
            missed = _retime_batch(rows, metrics, now) if rows else []
    return done


def _retime_pipelined(
    query: models.QuerySet[Clock],
    chunks: list[list[int]],
    metrics: dict[int, tuple[ClockMetric, frozenset[str], frozenset[str]]],
    now: datetime,
) -> tuple[list[int], int]:
    """PostgreSQL outside a transaction: while the server writes one batch (on a second connection, in a thread that
    mostly waits on the server and so holds no lock the replays need), the next batch is read and replayed. Each
    batch's write is one statement, atomic by itself and conditional on the rows being as read, as in the serial
    path. Returns the ids changed meanwhile (to read and replay again) and the number of clocks replayed."""
    from concurrent.futures import Future, ThreadPoolExecutor

    def write(results: list[tuple[int, str, Replay, datetime]]) -> list[int]:
        written = _write_retimed(results)
        return [pk for pk, _, _, _ in results if pk not in written]

    missed: list[int] = []
    done = 0
    pending: list[Future[list[int]]] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="retime-writer") as writer:
        try:
            for chunk in chunks:
                rows = _fetch(
                    query.filter(pk__gte=chunk[0], pk__lte=chunk[-1]).order_by("pk").values_list(*RETIME_COLUMNS)
                )
                done += len(rows)
                results = _replay_batch(rows, metrics, now) if rows else []
                if len(pending) >= 2:  # at most two batches' results held in memory
                    missed += pending.pop(0).result()
                pending.append(writer.submit(write, results))
            for future in pending:
                missed += future.result()
        finally:
            writer.submit(lambda: connection.close()).result()  # the writer thread's own connection
    return missed, done


def _fetch(queryset: models.QuerySet[Any]) -> list[tuple[Any, ...]]:
    """The rows of a `values_list` queryset. On PostgreSQL the ORM's own SQL and parameters are run on psycopg's cursor
    with binary results: timestamps are decoded in C rather than parsed from text (half the read time of a batch)."""
    if connection.vendor != "postgresql":
        return list(queryset)
    sql, params = queryset.query.sql_with_params()
    import psycopg

    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:  # Django's own cursors bind on the client: text only
        cursor.execute(sql, params, binary=True)
        return cursor.fetchall()


RETIME_COLUMNS = (
    "pk",
    "metric_id",
    "calendar_id",
    "started_at",
    "target_minutes",
    "status",
    "state",
    "due_at",
    "elapsed_minutes",
    "computed_at",
    "breached_at",
    "next_event_at",
    "updated_at",
)


def _retime_batch(
    rows: list[tuple[Any, ...]], metrics: dict[int, tuple[ClockMetric, frozenset[str], frozenset[str]]], now: datetime
) -> list[int]:
    """Replay the clocks of `rows` and write those whose values changed; returns the ids not written because they
    were changed since they were read."""
    results = _replay_batch(rows, metrics, now)
    written = _write_retimed(results)
    return [pk for pk, _, _, _ in results if pk not in written]


def _replay_batch(
    rows: list[tuple[Any, ...]], metrics: dict[int, tuple[ClockMetric, frozenset[str], frozenset[str]]], now: datetime
) -> list[tuple[int, str, Replay, datetime]]:
    """Replay the clocks of `rows` (with their segments and recorded events, read by id range): those whose stored
    values changed, with their new values and the `updated_at` they were read with."""
    first, last = rows[0][0], rows[-1][0]
    segments: dict[int, list[Segment]] = {row[0]: [] for row in rows}
    # by id range, not `IN (2,000 ids)`: clocks of the range outside the batch are skipped
    for clock_id, start_at, end_at, status in _fetch(
        ClockSegment.objects.filter(clock_id__gte=first, clock_id__lte=last)
        .order_by()
        .values_list("clock_id", "start", "end", "status")
    ):
        found = segments.get(clock_id)
        if found is not None:
            found.append((start_at, end_at, status))
    recorded: dict[int, list[int]] = {}
    for clock_id, percent in _fetch(
        ClockEvent.objects.filter(clock_id__gte=first, clock_id__lte=last)
        .order_by()
        .values_list("clock_id", "threshold")
    ):
        recorded.setdefault(clock_id, []).append(percent)
    schedules = schedules_for({row[2] for row in rows})
    results: list[tuple[int, str, Replay, datetime]] = []
    for (
        pk,
        metric_id,
        calendar_id,
        started_at,
        target,
        status,
        was,
        due,
        elapsed,
        computed,
        breached,
        upcoming,
        seen,
    ) in rows:
        metric, running, stopping = metrics[metric_id]
        state = (
            ClockState.RUNNING if status in running else ClockState.STOPPED if status in stopping else ClockState.PAUSED
        )
        result = replay(
            schedule=schedules[calendar_id],
            started_at=started_at,
            target_minutes=target,
            running_statuses=running,
            thresholds=metric.thresholds,
            segments=segments[pk],
            state=state,
            end=computed,
            recorded=recorded.get(pk, ()),
        )
        if (
            state != was
            or result.due_at != due
            or result.breached_at != breached
            or result.next_event_at != upcoming
            or abs(result.elapsed_minutes - elapsed) > 1e-9
        ):
            results.append((pk, state, result, seen))
    return results


_RETIME_SQL = """
UPDATE service_levels_clock AS c
   SET state = v.state, due_at = v.due_at, elapsed_minutes = v.elapsed, breached_at = v.breached_at,
       next_event_at = v.next_event_at, updated_at = %s
  FROM unnest(%b::bigint[], %b::text[], %b::timestamptz[], %b::float8[], %b::timestamptz[], %b::timestamptz[],
              %b::timestamptz[])
       AS v(id, state, due_at, elapsed, breached_at, next_event_at, seen)
 WHERE c.id = v.id AND c.updated_at = v.seen AND c.state <> 'finished'
RETURNING c.id
"""


_RETIME_ROW_SQL = """
UPDATE service_levels_clock
   SET state = %s, due_at = %s, elapsed_minutes = %s, breached_at = %s, next_event_at = %s, updated_at = %s
 WHERE id = %s AND updated_at = %s AND state <> 'finished'
"""


def _write_retimed(rows: list[tuple[int, str, Replay, datetime]]) -> set[int]:
    """Write the re-timed values of the clocks not changed since they were read (`updated_at` as seen): a clock
    changed meanwhile was replayed by that change, with the calendar and metric as they are now; no row lock is
    taken, so a re-timing never makes a status change wait."""
    if not rows:
        return set()
    if connection.vendor == "postgresql":  # one statement per batch; bulk_update's CASE grows with the batch
        import psycopg

        connection.ensure_connection()
        with psycopg.Cursor(connection.connection) as cursor:  # server-side binding: the arrays sent in binary (%b)
            cursor.execute(
                _RETIME_SQL,
                [
                    timezone.now(),
                    [pk for pk, _, _, _ in rows],
                    [state for _, state, _, _ in rows],
                    [r.due_at for _, _, r, _ in rows],
                    [r.elapsed_minutes for _, _, r, _ in rows],
                    [r.breached_at for _, _, r, _ in rows],
                    [r.next_event_at for _, _, r, _ in rows],
                    [seen for _, _, _, seen in rows],
                ],
            )
            return {row[0] for row in cursor.fetchall()}
    adapt = connection.ops.adapt_datetimefield_value  # other databases: one parameterised statement per row
    stamp = adapt(timezone.now())
    with connection.cursor() as cursor:
        cursor.executemany(
            _RETIME_ROW_SQL,
            [
                (state, adapt(r.due_at), r.elapsed_minutes, adapt(r.breached_at), adapt(r.next_event_at), stamp, pk,
                 adapt(seen))
                for pk, state, r, seen in rows
            ],
        )  # fmt: skip
    # SQLite: the batch's transaction holds the database's one write lock from its start (BEGIN IMMEDIATE), so no
    # clock can have changed since it was read
    return {pk for pk, _, _, _ in rows}
