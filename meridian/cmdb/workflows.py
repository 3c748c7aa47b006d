"""The lifecycle of a configuration item: planned, in build, in test, live, under maintenance, retired, disposed.
Configuration managers and administrators move it (ISO/IEC 20000-1 8.2.6: a status recorded for every CI)."""

from __future__ import annotations

from typing import Any

from meridian.cmdb.choices import CIStatus, FindingStatus
from meridian.core.choices import Role
from meridian.core.lifecycle import Lifecycle, Transition
from meridian.core.registry import ADMINS

KEEPERS = ADMINS | {Role.CONFIGURATION_MANAGER}
PLANNED, IN_BUILD, IN_TEST, LIVE = CIStatus.PLANNED, CIStatus.IN_BUILD, CIStatus.IN_TEST, CIStatus.LIVE
MAINTENANCE, RETIRED, DISPOSED = CIStatus.UNDER_MAINTENANCE, CIStatus.RETIRED, CIStatus.DISPOSED

CI_LIFECYCLE = Lifecycle(
    field="status",
    transitions=[
        Transition("build", source=[PLANNED], target=IN_BUILD, roles=KEEPERS, label="Start building"),
        Transition("test", source=[IN_BUILD], target=IN_TEST, roles=KEEPERS, label="Move to test"),
        Transition("rework", source=[IN_TEST], target=IN_BUILD, roles=KEEPERS, label="Back to build", style="warning"),
        Transition("go_live", source=[IN_BUILD, IN_TEST], target=LIVE, roles=KEEPERS, label="Go live", style="success"),
        Transition(
            "maintain", source=[LIVE], target=MAINTENANCE, roles=KEEPERS, label="Start maintenance", style="warning"
        ),
        Transition(
            "resume", source=[MAINTENANCE], target=LIVE, roles=KEEPERS, label="End maintenance", style="success"
        ),
        Transition(
            "retire",
            source=[PLANNED, IN_BUILD, IN_TEST, LIVE, MAINTENANCE],
            target=RETIRED,
            roles=KEEPERS,
            reason_required=True,
            label="Retire",
            style="warning",
        ),
        Transition(
            "dispose",
            source=[RETIRED],
            target=DISPOSED,
            roles=KEEPERS,
            reason_required=True,
            label="Dispose",
            style="danger",
            confirm="Disposed is final: record how it was disposed of (wiped, destroyed, returned) in the reason.",
        ),
    ],
)


# --- findings of configuration audits ------------------------------------------------------------------------------

F_OPEN, F_ASSIGNED, F_FIXED, F_CLOSED = (
    FindingStatus.OPEN,
    FindingStatus.ASSIGNED,
    FindingStatus.FIXED,
    FindingStatus.CLOSED,
)
F_ACCEPTED, F_FALSE_POSITIVE = FindingStatus.ACCEPTED, FindingStatus.FALSE_POSITIVE


def someone_named(finding: Any, actor: Any) -> str | None:
    """Assign: the finding names a person or a team (edit it first)."""
    if finding.assignee_id is None and finding.team_id is None:
        return "Choose a person or a team for the finding first (Edit), then assign it."
    return None


FINDING_LIFECYCLE = Lifecycle(
    field="status",
    transitions=[
        Transition("assign", source=[F_OPEN], target=F_ASSIGNED, roles=KEEPERS, guard=someone_named, label="Assign"),
        Transition("fix", source=[F_ASSIGNED], target=F_FIXED, roles=KEEPERS, label="Mark fixed", style="success"),
        Transition("reopen", source=[F_FIXED], target=F_ASSIGNED, roles=KEEPERS, label="Not fixed", style="warning"),
        Transition("close", source=[F_FIXED], target=F_CLOSED, roles=KEEPERS, label="Close", style="success"),
        Transition(
            "accept",
            source=[F_OPEN, F_ASSIGNED],
            target=F_ACCEPTED,
            roles=KEEPERS,
            reason_required=True,
            label="Accept",
            style="warning",
        ),
        Transition(
            "false_positive",
            source=[F_OPEN, F_ASSIGNED],
            target=F_FALSE_POSITIVE,
            roles=KEEPERS,
            reason_required=True,
            label="False positive",
            style="secondary",
        ),
    ],
)
