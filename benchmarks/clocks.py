"""`make bench BENCH_ARGS=clocks`: the SLA clock layer (issue 11, "The clock engine").

1. Re-timing after a calendar edit: 200,000 open clocks on one Europe/Amsterdam office-hours calendar (Dutch
   holidays), each with one to four segments (some paused while pending, some reopened). After a first replay (the
   bulk load leaves the stored values empty: every row is written), a closure is added to the calendar and
   `clocks.retime` replays every open clock on it and writes the rows whose values changed; then the weekly hours
   change, which moves every clock (the worst case: every row rewritten). Goal on PostgreSQL: <= 10 s.
   `BENCH_CLOCKS` changes the number (SQLite runs).
2. Due-time computations per second through the clock layer: `clocks.replay` (elapsed, due, breach and next event
   of one clock from its segments: one `business_minutes_between` and one or two `add_business_minutes`) over the
   same clocks, in memory, against `add_business_minutes` alone on the same starts and targets.

The rows are written in bulk (no audit, no services): what is measured is the re-timing, not the set-up.
"""

from __future__ import annotations

import os
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

BATCH = 5000


def _retime_part(job: tuple[int, int, int]) -> int:
    """One part of a re-timing in a worker process of its own (its own database connection, closed after)."""
    from django.db import connection

    from meridian.service_levels import clocks

    calendar_id, first, last = job
    try:
        return clocks.retime(calendar_id=calendar_id, ids=(first, last))
    finally:
        connection.close()


def _in_processes(workers: int, jobs: list[tuple[int, int, int]]) -> list[int]:
    """The parts run by `workers` forked processes, as that many task workers would (connections closed first: each
    process opens its own to the same benchmark database)."""
    import multiprocessing

    from django.db import connections

    connections.close_all()
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        return pool.map(_retime_part, jobs)


def build(total: int, seed: int = 11) -> tuple[Any, Any]:
    """The calendar, the metric and `total` clocks with their segments, written in bulk."""
    from django.contrib.contenttypes.models import ContentType

    from meridian.core.models import Calendar, Organisation
    from meridian.service_levels.clock_models import Clock, ClockMetric, ClockSegment, ClockState

    rng = random.Random(seed)
    calendar = Calendar.objects.create(
        name="Bench office NL",
        time_zone="Europe/Amsterdam",
        working_hours={str(day): [["09:00", "17:00"]] for day in range(5)},
        holiday_country="NL",
    )
    metric = ClockMetric.objects.create(
        key="bench-resolution",
        name="Bench resolution",
        running_statuses=["new", "in_progress"],
        stop_statuses=["resolved"],
    )
    content_type = ContentType.objects.get_for_model(Organisation)
    base = datetime(2026, 9, 1, tzinfo=UTC)
    made = 0
    while made < total:
        count = min(BATCH, total - made)
        clocks = []
        lives = []
        for number in range(made, made + count):
            started = base + timedelta(minutes=rng.randrange(0, 90 * 24 * 60))
            cursor, segments = started, []
            statuses = rng.choice([["new"], ["new", "in_progress"], ["new", "pending", "in_progress"],
                                   ["new", "resolved", "in_progress", "pending"]])  # fmt: skip
            for index, status in enumerate(statuses):
                length = None if index == len(statuses) - 1 else timedelta(minutes=rng.randrange(10, 3 * 24 * 60))
                segments.append((cursor, None if length is None else cursor + length, status))
                if length is not None:
                    cursor += length
            last = statuses[-1]
            state = ClockState.RUNNING if last in ("new", "in_progress") else ClockState.PAUSED
            clocks.append(
                Clock(
                    content_type=content_type,
                    object_id=number + 1,
                    metric=metric,
                    target_minutes=rng.choice([240, 480, 960, 2400]),
                    calendar=calendar,
                    rule="bench",
                    started_at=started,
                    state=state,
                    status=last,
                )
            )
            lives.append(segments)
        Clock.objects.bulk_create(clocks, batch_size=BATCH)
        ClockSegment.objects.bulk_create(
            [
                ClockSegment(clock=clock, start=start, end=end, status=status)
                for clock, segments in zip(clocks, lives, strict=True)
                for start, end, status in segments
            ],
            batch_size=BATCH,
        )
        made += count
    return calendar, metric


def run(_principals: Any = None) -> dict[str, Any]:
    from django.db import transaction
    from django.utils import timezone

    from meridian.core.calendars import add_business_minutes
    from meridian.core.choices import CalendarExceptionKind
    from meridian.core.models import CalendarException
    from meridian.service_levels import clocks
    from meridian.service_levels.clock_models import Clock, ClockSegment, ClockState

    total = int(os.environ.get("BENCH_CLOCKS", "200000"))
    begin = time.perf_counter()
    calendar, metric = build(total)
    built = time.perf_counter() - begin
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # as autovacuum would have done after such a load
    print(f"clocks: {total} clocks written in {built:.1f} s")
    begin = time.perf_counter()
    clocks.retime(calendar_id=calendar.pk)  # the values the engine stores (the bulk load left them empty)
    first_s = time.perf_counter() - begin
    print(f"clocks: first replay of all (every row written) {first_s:.2f} s")

    # 1. a calendar edit re-times every open clock on it: a closure (only clocks whose due time or next event lies
    # after it change), then new weekly hours (every clock changes: the worst case)
    from huey.contrib.djhuey import HUEY

    HUEY.immediate = False  # the edits' own after-commit task is queued, not run: the re-timing is timed below
    try:
        with transaction.atomic():
            CalendarException.objects.create(
                calendar=calendar, date=datetime(2026, 12, 24).date(), kind=CalendarExceptionKind.CLOSED, reason="Bench"
            )
    finally:
        HUEY.immediate = True
    now = timezone.now()
    begin = time.perf_counter()
    retimed = clocks.retime(calendar_id=calendar.pk, now=now)
    retime_s = time.perf_counter() - begin
    print(f"clocks: a closure: {retimed} open clocks replayed in {retime_s:.2f} s ({retimed / retime_s:,.0f} a second)")
    HUEY.immediate = False
    try:
        calendar.working_hours = {str(day): [["08:30", "16:30"]] for day in range(5)}
        calendar.save(update_fields=["working_hours"])
    finally:
        HUEY.immediate = True
    begin = time.perf_counter()
    retimed_all = clocks.retime(calendar_id=calendar.pk, now=now)
    retime_all_s = time.perf_counter() - begin
    print(f"clocks: new weekly hours: {retimed_all} open clocks replayed and rewritten in {retime_all_s:.2f} s")
    # the same by two worker processes sharing the parts (`tasks.retime_clocks` cuts a large re-timing into tasks)
    HUEY.immediate = False
    try:
        calendar.working_hours = {str(day): [["08:00", "16:00"]] for day in range(5)}
        calendar.save(update_fields=["working_hours"])
    finally:
        HUEY.immediate = True
    parts = clocks.retime_parts(calendar_id=calendar.pk, parts=4)
    begin = time.perf_counter()
    retimed_two = sum(_in_processes(2, [(calendar.pk, first, last) for first, last in parts]))
    retime_two_s = time.perf_counter() - begin
    print(f"clocks: new weekly hours, two worker processes: {retimed_two} rewritten in {retime_two_s:.2f} s")

    # the stored values are what a reading of the clock gives (a sample)
    sample = list(Clock.objects.select_related("metric", "calendar").order_by("?")[:200])
    mismatches = 0
    for clock in sample:
        read = clocks.reading(clock, clock.computed_at)  # stored: as of its last change
        if read.due_at != clock.due_at or abs(read.elapsed_minutes - clock.elapsed_minutes) > 1e-6:
            mismatches += 1
    print(f"clocks: {mismatches} of {len(sample)} sampled clocks differ from their reading")

    # 2. due-time computations per second through the clock layer, in memory
    schedule = clocks.schedule_of(calendar)
    rows = list(
        Clock.objects.filter(state=ClockState.RUNNING).values_list("pk", "started_at", "target_minutes")[:20000]
    )
    segments: dict[int, list[Any]] = {pk: [] for pk, _, _ in rows}
    for clock_id, start, end, status in ClockSegment.objects.filter(clock_id__in=list(segments)).values_list(
        "clock_id", "start", "end", "status"
    ):
        segments[clock_id].append((start, end, status))
    clocks.replay(
        schedule=schedule, started_at=rows[0][1], target_minutes=rows[0][2], running_statuses=metric.running_statuses,
        thresholds=metric.thresholds, segments=segments[rows[0][0]], state=ClockState.RUNNING, end=now,
    )  # fmt: skip
    begin = time.perf_counter()
    for pk, started, target in rows:
        clocks.replay(
            schedule=schedule,
            started_at=started,
            target_minutes=target,
            running_statuses=metric.running_statuses,
            thresholds=metric.thresholds,
            segments=segments[pk],
            state=ClockState.RUNNING,
            end=now,
        )
    replay_rate = len(rows) / (time.perf_counter() - begin)
    begin = time.perf_counter()
    for _pk, started, target in rows:
        add_business_minutes(schedule, started, target)
    add_rate = len(rows) / (time.perf_counter() - begin)
    print(f"clocks: {replay_rate:,.0f} clock replays a second; add_business_minutes alone {add_rate:,.0f} a second")
    return {
        "clocks": total,
        "build_s": round(built, 2),
        "first_replay_all_written_s": round(first_s, 3),
        "retimed": retimed,
        "retime_closure_s": round(retime_s, 3),
        "retime_closure_per_s": round(retimed / retime_s),
        "retime_weekly_hours_s": round(retime_all_s, 3),
        "retime_weekly_hours_per_s": round(retimed_all / retime_all_s),
        "retime_weekly_hours_two_workers_s": round(retime_two_s, 3),
        "retime_goal_s": 10,
        "sample_mismatches": mismatches,
        "replays_per_s": round(replay_rate),
        "add_business_minutes_per_s": round(add_rate),
    }
