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


@db_task()
def retime_clocks(calendar_id: int | None = None, metric_id: int | None = None) -> int:
    """Replay every open clock on the calendar (or of the metric) after it was edited, in batches."""
    from meridian.service_levels.clocks import retime

    if calendar_id is None and metric_id is None:
        return 0
    return retime(calendar_id=calendar_id, metric_id=metric_id)
