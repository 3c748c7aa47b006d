"""The lifecycle of a service: proposed, in design, in transition, live, retired (ISO/IEC 20000-1 8.2.2–8.2.3, 8.5.1).
Service owners and administrators move it; its configuration item's status follows (`services.keep_ci_status`)."""

from __future__ import annotations

from typing import Any

from meridian.core.choices import Role
from meridian.core.lifecycle import Lifecycle, Transition
from meridian.core.registry import ADMINS
from meridian.portfolio.choices import ServiceStatus
from meridian.portfolio.services import keep_ci_status

OWNERS = ADMINS | {Role.SERVICE_OWNER}
PROPOSED, IN_DESIGN, IN_TRANSITION, LIVE, RETIRED = (
    ServiceStatus.PROPOSED,
    ServiceStatus.IN_DESIGN,
    ServiceStatus.IN_TRANSITION,
    ServiceStatus.LIVE,
    ServiceStatus.RETIRED,
)


def ready_for_catalogue(service: Any, actor: Any) -> str | None:
    """A live service is in customers' catalogues: it needs an owner and words a customer reads."""
    missing = [
        label
        for label, present in (
            ("a service owner", service.owner_id),
            ("a summary or business description", service.summary or service.business_description),
        )
        if not present
    ]
    return f"Before it goes live, give it {' and '.join(missing)}." if missing else None


SERVICE_LIFECYCLE = Lifecycle(
    field="status",
    transitions=[
        Transition(
            "design", source=[PROPOSED], target=IN_DESIGN, roles=OWNERS, label="Start design", effects=[keep_ci_status]
        ),
        Transition(
            "transition",
            source=[IN_DESIGN],
            target=IN_TRANSITION,
            roles=OWNERS,
            label="Start transition",
            effects=[keep_ci_status],
        ),
        Transition(
            "go_live",
            source=[IN_TRANSITION],
            target=LIVE,
            roles=OWNERS,
            label="Go live",
            style="success",
            guard=ready_for_catalogue,
            confirm="Customers it is offered to will see it in their catalogue.",
            effects=[keep_ci_status],
        ),
        Transition(
            "redesign",
            source=[IN_TRANSITION],
            target=IN_DESIGN,
            roles=OWNERS,
            label="Back to design",
            reason_required=True,
            style="secondary",
            effects=[keep_ci_status],
        ),
        Transition(
            "retire",
            source=[PROPOSED, IN_DESIGN, IN_TRANSITION, LIVE],
            target=RETIRED,
            roles=OWNERS,
            reason_required=True,
            style="danger",
            confirm="It leaves every customer's catalogue; its record and history stay.",
            effects=[keep_ci_status],
        ),
    ],
)
