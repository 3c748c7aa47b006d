"""Workload against an agreement's limits. The apps that record the work register how to count it
(`register_measure`): the tickets app counts service requests and incidents of an agreement's customers and
services in a period; until one does, a limit is shown as recorded, not measured."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.utils import timezone

from meridian.service_levels.choices import WorkloadPeriod
from meridian.service_levels.models import Agreement, WorkloadLimit

Counter = Callable[[Agreement, date, date], int]  # (agreement, first day, last day) -> count
_measures: dict[str, Counter] = {}


def register_measure(measure: str, counter: Counter) -> None:
    """`register_measure(WorkloadMeasure.REQUESTS, count_requests)`, from the app that records the work."""
    _measures[measure] = counter


@dataclass(frozen=True)
class Row:
    limit: WorkloadLimit
    first: date | None
    last: date | None
    measured: int | None  # None: nothing counts this measure yet

    @property
    def over(self) -> bool:
        return self.measured is not None and self.measured > self.limit.limit


def current_period(period: str, today: date) -> tuple[date, date] | None:
    """The period a limit counts over that holds today (None for a limit per occurrence)."""
    if period == WorkloadPeriod.EACH:
        return None
    if period == WorkloadPeriod.DAY:
        return today, today
    if period == WorkloadPeriod.WEEK:
        first = date.fromordinal(today.toordinal() - today.weekday())
        return first, date.fromordinal(first.toordinal() + 6)
    if period == WorkloadPeriod.YEAR:
        return date(today.year, 1, 1), date(today.year, 12, 31)
    months = 3 if period == WorkloadPeriod.QUARTER else 1
    start_month = today.month - (today.month - 1) % months
    first = date(today.year, start_month, 1)
    end_month = start_month + months
    after = date(today.year + (end_month > 12), (end_month - 1) % 12 + 1, 1)
    return first, date.fromordinal(after.toordinal() - 1)


def against_limits(agreement: Agreement, today: date | None = None) -> list[Row]:
    today = today or timezone.localdate()
    rows = []
    for limit in agreement.workload_limits.all():
        span = current_period(limit.period, today)
        counter: Any = _measures.get(limit.measure)
        measured = counter(agreement, *span) if counter is not None and span is not None else None
        first, last = span if span is not None else (None, None)
        rows.append(Row(limit, first, last, measured))
    return rows
