"""The service level record types through the generic mixins (pages, API, roles, exports, stale saves, imports)."""

from __future__ import annotations

from typing import Any

from meridian.core.testing import RecordTypeTests
from meridian.service_levels.factories import PriorityFactory
from meridian.service_levels.models import Priority


class TestPriority(RecordTypeTests):
    model = Priority
    factory = PriorityFactory
    changed_data = {"description": "Whole service down."}

    def new_data(self) -> dict[str, Any]:
        return {"name": "P0 – Disaster", "rank": 99}
