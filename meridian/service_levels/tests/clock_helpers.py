"""What the clock tests share: calendars, a metric, a record to own the clocks, Amsterdam wall-clock times."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from meridian.core.factories import OrganisationFactory
from meridian.core.models import Calendar, Organisation
from meridian.service_levels.clock_models import ClockMetric

AMS = ZoneInfo("Europe/Amsterdam")
WEEKDAYS = ["0", "1", "2", "3", "4"]
ALL_DAYS = [*WEEKDAYS, "5", "6"]


def ams(year: int, month: int, day: int, hour: int = 0, minute: int = 0, fold: int = 0) -> datetime:
    """An Amsterdam wall-clock time."""
    return datetime(year, month, day, hour, minute, tzinfo=AMS, fold=fold)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def calendar(name: str, hours: dict[str, list[list[str]]] | None = None, **values: Any) -> Calendar:
    return Calendar.objects.create(name=name, time_zone="Europe/Amsterdam", working_hours=hours or {}, **values)


def office(name: str = "Office NL", **values: Any) -> Calendar:
    """Monday to Friday 09:00-17:00 in Amsterdam, Dutch public holidays."""
    return calendar(name, {day: [["09:00", "17:00"]] for day in WEEKDAYS}, holiday_country="NL", **values)


def split_shift(name: str = "Split shift") -> Calendar:
    """Monday to Friday 08:00-12:00 and 13:00-17:00 in Amsterdam, no holidays."""
    return calendar(name, {day: [["08:00", "12:00"], ["13:00", "17:00"]] for day in WEEKDAYS})


def nights(name: str = "Night shift") -> Calendar:
    """Every day 00:00-04:00 in Amsterdam: the DST transitions (02:00/03:00) fall inside working time."""
    return calendar(name, {day: [["00:00", "04:00"]] for day in ALL_DAYS})


def always(name: str = "24x7") -> Calendar:
    return calendar(name, always_open=True)


def resolution_metric(key: str = "resolution", thresholds: list[int] | None = None) -> ClockMetric:
    """Runs while new or in progress, stops when resolved; pending (waiting for the customer) pauses it. (The tickets'
    migration seeds "response" and "resolution": one of that key is replaced.)"""
    ClockMetric.objects.filter(key=key).delete()  # (not an update: that would queue a re-timing of its clocks)
    return ClockMetric.objects.create(
        key=key,
        name=key.capitalize(),
        running_statuses=["new", "in_progress"],
        stop_statuses=["resolved", "closed"],
        thresholds=[50, 75, 90] if thresholds is None else thresholds,
    )


def owner() -> Organisation:
    """Any registered record owns clocks; an organisation will do."""
    return OrganisationFactory()
