"""`make bench BENCH_ARGS=calendars`: due-time computations per second (issue 11, "Speed" of the clock engine).

Adds 4, 40 and 400 business hours to instants spread over 2026 on a Europe/Amsterdam office-hours calendar
(Monday to Friday 09:00-17:00, Dutch public holidays and a few closures), with three engines in the same run:

- Meridian's engine (`meridian.core.calendars`: per-day cumulative table and a binary search),
- the old interval walk (`meridian/core/tests/reference_calendars.py`, the engine before the table),
- the `businesstimedelta` package (PyPI) with the same hours, holidays and closures.

Goal: >= 50,000 computations a second on one core for every span, and >= 20x businesstimedelta. The schedule
is built once, as the application caches it per calendar; the first call on a fresh schedule (which builds its
table) is reported separately. Also runs without Django: `python -m benchmarks.calendars`.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

SPANS_HOURS = (4, 40, 400)
CASES = 5000
BUDGET_S = 1.5  # per engine and span: stop early once this much time is spent (the slow engines)


def _rate(add: Callable[[datetime, int], Any], starts: list[datetime], hours: int) -> tuple[float, int]:
    """Computations per second of ``add(start, hours)`` over ``starts`` (at most ``BUDGET_S`` seconds)."""
    add(starts[0], hours)  # warm up
    done = 0
    begin = time.perf_counter()
    for start in starts:
        add(start, hours)
        done += 1
        if done % 50 == 0 and time.perf_counter() - begin > BUDGET_S:
            break
    return done / (time.perf_counter() - begin), done


def run(_principals: Any = None) -> dict[str, Any]:
    import businesstimedelta
    import pytz

    from meridian.core import calendars
    from meridian.core.tests import reference_calendars

    tz_name = "Europe/Amsterdam"
    closures = {date(2026, 12, 24), date(2026, 12, 31), date(2026, 5, 15), date(2027, 5, 7), date(2026, 7, 31)}
    closed = calendars.holiday_dates("NL", None, range(2025, 2040)) | closures
    args = {
        "tz": ZoneInfo(tz_name),
        "weekly": {day: [(dtime(9), dtime(17))] for day in range(5)},
        "closed_days": closed,
    }
    new_schedule = calendars.Schedule(**args)
    old_schedule = reference_calendars.Schedule(**args)
    pytz_tz = pytz.timezone(tz_name)
    rules = businesstimedelta.Rules(
        [
            businesstimedelta.WorkDayRule(
                start_time=dtime(9), end_time=dtime(17), working_days=[0, 1, 2, 3, 4], tz=pytz_tz
            ),
            businesstimedelta.HolidayRule(set(closed), tz=pytz_tz),
        ]
    )
    deltas = {hours: businesstimedelta.BusinessTimeDelta(rules, hours=hours) for hours in SPANS_HOURS}

    engines: dict[str, Callable[[datetime, int], Any]] = {
        "meridian": lambda start, hours: calendars.add_business_minutes(new_schedule, start, hours * 60),
        "old_walk": lambda start, hours: reference_calendars.add_business_minutes(old_schedule, start, hours * 60),
        "businesstimedelta": lambda start, hours: start + deltas[hours],
    }
    rng = random.Random(11)
    year = datetime(2026, 1, 1, tzinfo=UTC)
    starts = [year + timedelta(minutes=rng.randrange(365 * 1440)) for _ in range(CASES)]

    results: dict[str, Any] = {"calendar": "Europe/Amsterdam Mon-Fri 09:00-17:00, NL holidays + 5 closures"}
    for hours in SPANS_HOURS:
        row: dict[str, Any] = {}
        for name, add in engines.items():
            rate, done = _rate(add, starts, hours)
            row[name] = {"per_s": round(rate), "computations": done}
        row["meridian_vs_old_walk"] = round(row["meridian"]["per_s"] / row["old_walk"]["per_s"], 1)
        row["meridian_vs_businesstimedelta"] = round(row["meridian"]["per_s"] / row["businesstimedelta"]["per_s"], 1)
        sample = starts[:200]
        row["same_due_time_as_businesstimedelta"] = sum(
            engines["meridian"](start, hours) == engines["businesstimedelta"](start, hours) for start in sample
        )
        row["same_due_time_as_old_walk"] = sum(
            engines["meridian"](start, hours) == engines["old_walk"](start, hours) for start in sample
        )
        row["sample"] = len(sample)
        results[f"+{hours}h"] = row

    fresh = calendars.Schedule(**args)
    begin = time.perf_counter()
    calendars.add_business_minutes(fresh, starts[0], 400 * 60)
    results["first_call_on_a_fresh_schedule_ms"] = round((time.perf_counter() - begin) * 1000, 2)

    slowest = min(results[f"+{hours}h"]["meridian"]["per_s"] for hours in SPANS_HOURS)
    ratio = min(results[f"+{hours}h"]["meridian_vs_businesstimedelta"] for hours in SPANS_HOURS)
    results["goal"] = ">= 50,000 computations/s for every span and >= 20x businesstimedelta"
    results["goal_met"] = slowest >= 50_000 and ratio >= 20

    print(f"{'span':>6} {'meridian/s':>11} {'old walk/s':>11} {'btd/s':>9} {'x old':>7} {'x btd':>7}")
    for hours in SPANS_HOURS:
        row = results[f"+{hours}h"]
        print(
            f"{'+' + str(hours) + 'h':>6} {row['meridian']['per_s']:>11,} {row['old_walk']['per_s']:>11,} "
            f"{row['businesstimedelta']['per_s']:>9,} {row['meridian_vs_old_walk']:>7} "
            f"{row['meridian_vs_businesstimedelta']:>7}"
        )
    print(
        f"first call on a fresh schedule: {results['first_call_on_a_fresh_schedule_ms']} ms; goal met: "
        f"{results['goal_met']}"
    )
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=1))
