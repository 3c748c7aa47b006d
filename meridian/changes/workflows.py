"""The lifecycle of a request for change: draft, submitted, approved or rejected, implemented, closed (or
withdrawn). Change managers decide; the change management issue adds assessment, scheduling and review."""

from __future__ import annotations

from meridian.changes.choices import ChangeStatus
from meridian.core.choices import Role
from meridian.core.lifecycle import Lifecycle, Transition
from meridian.core.registry import ADMINS

DECIDERS = ADMINS | {Role.CHANGE_MANAGER}
RAISERS = DECIDERS | {Role.CONFIGURATION_MANAGER, Role.SERVICE_OWNER, Role.RESOLVER, Role.SERVICE_DESK_AGENT}
DRAFT, SUBMITTED, APPROVED = ChangeStatus.DRAFT, ChangeStatus.SUBMITTED, ChangeStatus.APPROVED
REJECTED, IMPLEMENTED, CLOSED, WITHDRAWN = (
    ChangeStatus.REJECTED,
    ChangeStatus.IMPLEMENTED,
    ChangeStatus.CLOSED,
    ChangeStatus.WITHDRAWN,
)

CHANGE_LIFECYCLE = Lifecycle(
    field="status",
    transitions=[
        Transition("submit", source=[DRAFT], target=SUBMITTED, roles=RAISERS, label="Submit for approval"),
        Transition(
            "approve",
            source=[SUBMITTED],
            target=APPROVED,
            roles=DECIDERS,
            label="Approve",
            style="success",
            confirm="While approved, it authorises edits of the controlled configuration items it lists.",
        ),
        Transition("reject", source=[SUBMITTED], target=REJECTED, roles=DECIDERS, reason_required=True, style="danger"),
        Transition("implemented", source=[APPROVED], target=IMPLEMENTED, roles=RAISERS, label="Mark implemented"),
        Transition("close", source=[IMPLEMENTED, REJECTED], target=CLOSED, roles=DECIDERS, label="Close"),
        Transition(
            "withdraw",
            source=[DRAFT, SUBMITTED, APPROVED],
            target=WITHDRAWN,
            roles=RAISERS,
            reason_required=True,
            style="warning",
        ),
    ],
)
