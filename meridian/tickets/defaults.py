"""The clock metrics the tickets measure, as a fresh installation has them (migration 0001 seeds its own copy, as
migrations must); `ensure(actor)` writes them through the services where they are missing (the demo, a database
emptied by a test). What runs, pauses and stops a clock is this configuration: a service level manager who wants the
resolution clock to keep running while a ticket waits on a supplier adds "pending_supplier" to its running
statuses (*Administration → Clock metrics*)."""

from __future__ import annotations

from typing import Any

METRICS = [
    {
        "key": "response",
        "name": "Response",
        "description": "From the ticket's arrival to the provider's first response: work started, or a public reply.",
        "running_statuses": ["new", "assigned"],
        "stop_statuses": [],
    },
    {
        "key": "resolution",
        "name": "Resolution",
        "description": "From the ticket's arrival to its resolution. Pending statuses pause it (they are not "
        "listed as running); waiting for approval pauses a request's clock; reopening resumes it.",
        "running_statuses": ["new", "assigned", "in_progress"],
        "stop_statuses": ["resolved", "closed", "cancelled", "rejected"],
    },
]


def ensure(actor: Any) -> None:
    from meridian.core import services
    from meridian.service_levels import defaults as service_level_defaults
    from meridian.service_levels.clock_models import ClockMetric

    service_level_defaults.ensure(actor)
    have = set(ClockMetric.objects.values_list("key", flat=True))
    for metric in METRICS:
        if metric["key"] not in have:
            services.create_record(ClockMetric, data=metric, actor=actor, reason="defaults")
