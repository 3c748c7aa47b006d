"""Weekly working hours of a calendar: stored as {"0": [["09:00", "17:00"], ...], ...} (0 = Monday, local times,
"00:00" as an end meaning midnight), typed by people as lines like `Mon-Fri 09:00-12:30 13:30-17:30`."""

from __future__ import annotations

import re
from datetime import time
from typing import Any

from meridian.core.choices import WEEKDAYS

_DAY = {name.lower(): i for i, name in enumerate(WEEKDAYS)}
_SPAN = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


def format_hours(hours: dict[str, list[list[str]]]) -> str:
    """The text people type, consecutive days with the same hours as one range: `Mon-Fri 09:00-17:00`."""
    lines: list[str] = []
    day = 0
    while day < 7:
        spans = hours.get(str(day)) or []
        last = day
        while last + 1 < 7 and (hours.get(str(last + 1)) or []) == spans:
            last += 1
        if spans:
            days = WEEKDAYS[day] if last == day else f"{WEEKDAYS[day]}-{WEEKDAYS[last]}"
            lines.append(f"{days} " + " ".join(f"{a[:5]}-{'24:00' if b == '00:00' else b[:5]}" for a, b in spans))
        day = last + 1
    return "\n".join(lines)


def parse_hours(text: str) -> dict[str, list[list[str]]]:
    """`Mon-Fri 09:00-12:30 13:30-17:30` per line; `Sat 10:00-14:00`; 24:00 may end a day."""
    result: dict[str, list[list[str]]] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        days_part, _, spans_part = line.partition(" ")
        days = days_part.lower().split("-")
        if not spans_part.strip() or any(d[:3] not in _DAY for d in days) or len(days) > 2:
            raise ValueError(f"Line {number}: write it like “Mon-Fri 09:00-17:00”.")
        first, last = _DAY[days[0][:3]], _DAY[days[-1][:3]]
        if last < first:
            raise ValueError(f"Line {number}: the day range runs backwards.")
        spans: list[list[str]] = []
        for token in spans_part.split():
            match = _SPAN.match(token)
            if not match:
                raise ValueError(f"Line {number}: “{token}” is not a time range like 09:00-17:00.")
            h1, m1, h2, m2 = (int(g) for g in match.groups())
            if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
                raise ValueError(f"Line {number}: “{token}” is not a valid time range.")
            start, end = time(h1, m1), time(0) if h2 == 24 else time(h2, m2)
            if end != time(0) and end <= start:
                raise ValueError(f"Line {number}: in “{token}” the end is not after the start.")
            if spans and (spans[-1][1] == "00:00" or start.isoformat("minutes") < spans[-1][1]):
                raise ValueError(f"Line {number}: the ranges overlap or are not in order.")
            spans.append([start.isoformat("minutes"), end.isoformat("minutes")])
        for day in range(first, last + 1):
            if str(day) in result:
                raise ValueError(f"Line {number}: {WEEKDAYS[day]} is given twice.")
            result[str(day)] = spans
    return result


def normalise_working_hours(value: Any) -> dict[str, list[list[str]]]:
    """The canonical stored form of weekly hours given as JSON by any entry point ("9:00" becomes "09:00",
    an end of "24:00" becomes "00:00"); ValueError, naming the weekday, when it is not well-formed."""
    if not isinstance(value, dict):
        raise ValueError('Give an object from weekday ("0" = Monday … "6" = Sunday) to [["09:00", "17:00"], …].')
    result: dict[str, list[list[str]]] = {}
    for day, spans in value.items():
        if str(day) not in {str(d) for d in range(7)}:
            raise ValueError(f"“{day}” is not a weekday: use 0 (Monday) to 6 (Sunday).")
        if not isinstance(spans, list) or not all(
            isinstance(s, list | tuple) and len(s) == 2 and all(isinstance(t, str) for t in s) for s in spans
        ):
            raise ValueError(f'{WEEKDAYS[int(day)]}: give a list of [start, end] pairs like ["09:00", "17:00"].')
        if not spans:
            continue
        text = " ".join(f"{a}-{'24:00' if b == '00:00' else b}" for a, b in spans)
        try:
            parsed = parse_hours(f"{WEEKDAYS[int(day)]} {text}")
        except ValueError as exc:
            raise ValueError(str(exc).replace("Line 1", WEEKDAYS[int(day)])) from None
        result[str(int(day))] = parsed[str(int(day))]
    return result


def preview(calendar: Any, days: int = 14) -> list[dict[str, Any]]:
    """The working hours of a calendar's next `days` local days, as its Hours tab shows them: per day the local
    intervals (`time(0)` as an end: midnight) with weekly hours, public holidays, closures and extra working days
    applied, and a note saying why a day differs (the holiday's name, the closure's reason)."""
    from datetime import date, datetime, timedelta
    from zoneinfo import ZoneInfo

    from django.utils import timezone

    from meridian.core.calendars import working_intervals

    tz = ZoneInfo(calendar.time_zone)
    today = timezone.now().astimezone(tz).date()
    last = today + timedelta(days=days - 1)
    start = datetime.combine(today, time(0), tz)
    end = datetime.combine(last + timedelta(days=1), time(0), tz)
    schedule = calendar.schedule(years=range(today.year, last.year + 1))
    hours: dict[date, list[tuple[time, time]]] = {}
    for utc_start, utc_end in working_intervals(schedule, start, end):
        local, until = utc_start.astimezone(tz), utc_end.astimezone(tz)
        while local < until:  # split at local midnights
            midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tz)
            piece_end = min(until, midnight)
            hours.setdefault(local.date(), []).append((local.time(), piece_end.astimezone(tz).time()))
            local = piece_end
    holidays = {day: name for day, name in calendar.upcoming_holidays(count=60) if day <= last}
    exceptions = {e.date: e for e in calendar.exceptions.all() if today <= e.date <= last}
    result = []
    for offset in range(days):
        day = today + timedelta(days=offset)
        closure = exceptions.get(day)
        note = f"{closure.get_kind_display()}: {closure.reason}" if closure is not None else holidays.get(day, "")
        result.append({"date": day, "hours": hours.get(day, []), "note": note})
    return result
