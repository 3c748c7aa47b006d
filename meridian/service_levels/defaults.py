"""The priorities and the impact × urgency matrix a fresh installation starts with (migration 0001 seeds its own
copy, as migrations must); `ensure(actor)` writes them through the services where none exist (the demo, a database
emptied by a test)."""

from __future__ import annotations

from typing import Any

PRIORITIES = [
    (1, "P1 – Critical", "A whole service is down, or a disruption stops the business."),
    (2, "P2 – High", "Serious disruption of many users or of a critical function."),
    (3, "P3 – Medium", "Disruption of a group, or one user with no workaround."),
    (4, "P4 – Low", "One user, with a workaround; requests and questions."),
]
MATRIX = {
    ("high", "high"): 1,
    ("high", "medium"): 2,
    ("medium", "high"): 2,
    ("high", "low"): 3,
    ("medium", "medium"): 3,
    ("low", "high"): 3,
    ("medium", "low"): 4,
    ("low", "medium"): 4,
    ("low", "low"): 4,
}


def ensure(actor: Any) -> None:
    from meridian.core import services
    from meridian.service_levels.models import Priority, PriorityRule
    from meridian.service_levels.priorities import save_matrix

    if Priority.objects.exists():
        return
    by_rank = {
        rank: services.create_record(
            Priority, data={"rank": rank, "name": name, "description": text}, actor=actor, reason="defaults"
        )
        for rank, name, text in PRIORITIES
    }
    if not PriorityRule.objects.exists():
        save_matrix({cell: by_rank[rank] for cell, rank in MATRIX.items()}, actor=actor)
