"""Properties of the replay that hold for any life of a clock (hypothesis): elapsed at the due time is the target, a
pause never brings the due time earlier, the answer does not depend on the order in which segments were added, and
elapsed time never goes back."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meridian.core.calendars import Schedule, holiday_dates
from meridian.service_levels.clock_models import ClockState
from meridian.service_levels.clocks import US_PER_MINUTE, Replay, Segment, replay, threshold_us

AMS = ZoneInfo("Europe/Amsterdam")
SCHEDULES = {
    "office": Schedule(
        tz=AMS,
        weekly={day: [(time(9), time(17))] for day in range(5)},
        closed_days=holiday_dates("NL", None, range(2025, 2029)),
    ),
    "split": Schedule(tz=AMS, weekly={day: [(time(8), time(12)), (time(13), time(17))] for day in range(5)}),
    "nights": Schedule(tz=AMS, weekly={day: [(time(0), time(4))] for day in range(7)}),
    "24x7": Schedule(tz=AMS, always_open=True),
}
RUNNING = ("new", "in_progress")
STATUSES = ["new", "in_progress", "pending", "resolved"]
THRESHOLDS = [50, 75, 90]
BASE = datetime(2026, 1, 1, tzinfo=UTC)

lives = st.fixed_dictionaries(
    {
        "schedule": st.sampled_from(sorted(SCHEDULES)),
        "start_minute": st.integers(0, 365 * 24 * 60),  # 2026, DST days included
        "target": st.integers(1, 6000),
        "pieces": st.lists(st.tuples(st.integers(1, 4 * 24 * 60), st.sampled_from(STATUSES)), min_size=0, max_size=8),
        "last": st.sampled_from(RUNNING),
    }
)


def segments_of(life: dict) -> tuple[datetime, list[Segment]]:  # type: ignore[type-arg]
    """Consecutive segments from the start; the last one open, in a running status."""
    started = BASE + timedelta(minutes=life["start_minute"])
    cursor, segments = started, []
    for minutes, status in life["pieces"]:
        segments.append((cursor, cursor + timedelta(minutes=minutes), status))
        cursor += timedelta(minutes=minutes)
    segments.append((cursor, None, life["last"]))
    return started, segments


def run(life: dict, segments: list[Segment], end: datetime, recorded: tuple[int, ...] = ()) -> Replay:  # type: ignore[type-arg]
    started, _ = segments_of(life)
    return replay(
        schedule=SCHEDULES[life["schedule"]],
        started_at=started,
        target_minutes=life["target"],
        running_statuses=RUNNING,
        thresholds=THRESHOLDS,
        segments=segments,
        state=ClockState.RUNNING,
        end=end,
        recorded=recorded,
    )


def last_start(segments: list[Segment]) -> datetime:
    return segments[-1][0]


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(lives)
def test_elapsed_at_the_due_time_is_the_target(life: dict) -> None:  # type: ignore[type-arg]
    _, segments = segments_of(life)
    result = run(life, segments, last_start(segments))
    assert result.due_at is not None
    at_due = run(life, segments, result.due_at)
    assert at_due.elapsed_us == life["target"] * US_PER_MINUTE
    assert at_due.breached_at == result.due_at
    # a microsecond earlier the target was not reached yet (the due time is the earliest such instant)
    before = run(life, segments, result.due_at - timedelta(microseconds=1))
    assert before.elapsed_us < life["target"] * US_PER_MINUTE
    assert before.breached_at is None


@PROPERTY
@given(lives, st.integers(0, 10_000), st.integers(1, 3 * 24 * 60))
def test_a_pause_never_brings_the_due_time_earlier(life: dict, offset: int, length: int) -> None:  # type: ignore[type-arg]
    _, segments = segments_of(life)
    now = last_start(segments)
    due = run(life, segments, now).due_at
    # pause the last (running) segment for a while somewhere after it began, then resume
    open_start, _, status = segments[-1]
    pause_start = open_start + timedelta(minutes=offset)
    pause_end = pause_start + timedelta(minutes=length)
    paused = [
        *segments[:-1],
        (open_start, pause_start, status),
        (pause_start, pause_end, "pending"),
        (pause_end, None, status),
    ]
    later = run(life, paused, pause_end).due_at
    assert due is not None and later is not None
    assert later >= due


@PROPERTY
@given(lives, st.randoms(use_true_random=False), st.integers(1, 4))
def test_replay_does_not_depend_on_the_order_segments_were_added(
    life: dict,  # type: ignore[type-arg]
    rng: random.Random,
    batches: int,
) -> None:
    _, segments = segments_of(life)
    now = last_start(segments) + timedelta(hours=30)
    expected = run(life, segments, now, recorded=(50,))
    shuffled = list(segments)
    rng.shuffle(shuffled)
    size = max(1, len(shuffled) // batches)
    added: list[Segment] = []
    for index in range(0, len(shuffled), size):  # written in batches, each in its own order
        batch = shuffled[index : index + size]
        rng.shuffle(batch)
        added.extend(batch)
    assert run(life, added, now, recorded=(50,)) == expected


@PROPERTY
@given(lives, st.integers(0, 20_000), st.integers(0, 20_000))
def test_elapsed_never_goes_back_and_thresholds_come_in_order(life: dict, first: int, second: int) -> None:  # type: ignore[type-arg]
    _, segments = segments_of(life)
    started = segments[0][0]
    early, late = sorted((first, second))
    a = run(life, segments, started + timedelta(minutes=early))
    b = run(life, segments, started + timedelta(minutes=late))
    assert a.elapsed_us <= b.elapsed_us
    # the next event is the lowest threshold not recorded, and it comes before the next one up
    recorded: tuple[int, ...] = ()
    instants = []
    for percent in (*THRESHOLDS, 100):
        result = run(life, segments, last_start(segments), recorded=recorded)
        instants.append(result.next_event_at)
        at = run(life, segments, result.next_event_at)  # type: ignore[arg-type]
        assert at.elapsed_us == threshold_us(life["target"], percent)
        recorded = (*recorded, percent)
    assert instants == sorted(instants)  # type: ignore[type-var]
    assert run(life, segments, last_start(segments), recorded=recorded).next_event_at is None
