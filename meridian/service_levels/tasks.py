"""Background work of service levels: warnings and breaches of SLA clocks every minute, and re-timing open clocks
after an edit of their calendar or metric (`service_levels.clocks`)."""

from __future__ import annotations

from typing import Any

from huey.contrib.djhuey import db_task

from meridian.core.tasks import periodic


@periodic("service_levels.clock_events", minute="*")
def clock_events(*, actor: Any) -> int:
    """Every minute: record each warning threshold and breach that running clocks have crossed, once, at the instant
    it was crossed (also when the task ran late), and call the escalation hooks after commit."""
    from meridian.service_levels.clocks import record_due_events

    return record_due_events()


# a re-timing of more clocks than this is cut into parts, one task each, that the workers share
RETIME_PARTS_ABOVE = 20_000


@db_task()
def retime_clocks(calendar_id: int | None = None, metric_id: int | None = None) -> int:
    """Replay every open clock on the calendar (or of the metric) after it was edited, in batches; many clocks are
    cut into `settings.SLA_RETIME_PARTS` ranges, each its own task, so that several workers share the work."""
    from django.conf import settings

    from meridian.service_levels.clocks import retime, retime_parts

    if calendar_id is None and metric_id is None:
        return 0
    if _count(calendar_id, metric_id) <= RETIME_PARTS_ABOVE:
        return retime(calendar_id=calendar_id, metric_id=metric_id)
    for first, last in retime_parts(calendar_id=calendar_id, metric_id=metric_id, parts=settings.SLA_RETIME_PARTS):
        retime_clock_range(calendar_id, metric_id, first, last)
    return 0


def _count(calendar_id: int | None, metric_id: int | None) -> int:
    from meridian.service_levels.clocks import _open_clocks

    return _open_clocks(calendar_id, metric_id).count()


@db_task()
def retime_clock_range(calendar_id: int | None, metric_id: int | None, first: int, last: int) -> int:
    """One part of a large re-timing: the open clocks of ids `first` to `last`."""
    from meridian.service_levels.clocks import retime

    return retime(calendar_id=calendar_id, metric_id=metric_id, ids=(first, last))
