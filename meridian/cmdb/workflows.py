"""The lifecycle of a configuration item: planned, in build, in test, live, under maintenance, retired, disposed.
Configuration managers and administrators move it (ISO/IEC 20000-1 8.2.6: a status recorded for every CI)."""

from __future__ import annotations

from meridian.cmdb.choices import CIStatus
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
