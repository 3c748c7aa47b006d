"""The service level record types, registered with the generic machinery (pages, API, search, export, policy)."""

from __future__ import annotations

from meridian.core.choices import Role
from meridian.core.registry import ADD, ADMINS, CHANGE, DELETE, RecordType, register
from meridian.service_levels.models import Priority

# who keeps agreements, priorities and targets (ISO/IEC 20000-1 8.3.3)
SERVICE_LEVEL_KEEPERS = ADMINS | {Role.SERVICE_LEVEL_MANAGER}

register(
    RecordType(
        model=Priority,
        fields=["name", "rank", "description"],
        list_columns=["rank", "name", "description"],
        search_fields=["name", "description"],
        permissions={ADD: ADMINS, CHANGE: SERVICE_LEVEL_KEEPERS, DELETE: ADMINS},
        area="administration",
        help_text="The priorities agreements give targets for; the matrix maps impact and urgency to them.",
    )
)
from meridian.service_levels import clock_records  # noqa: E402,F401
