"""The change record through the generic mixins (pages, API, roles, exports, stale saves, links, attachments,
comments, watchers), and its lifecycle walked from every state as every role."""

from __future__ import annotations

from typing import Any

from meridian.changes.factories import ChangeFactory
from meridian.changes.models import Change
from meridian.cmdb.factories import ConfigurationItemFactory
from meridian.core.testing import PrincipalsTestCase, RecordTypeTests, assert_lifecycle_walk, walks_lifecycle


class TestChange(RecordTypeTests):
    model = Change
    factory = ChangeFactory
    changed_data = {"description": "Roll back by restoring last night's snapshot."}

    def new_data(self) -> dict[str, Any]:
        listed, _spare = ConfigurationItemFactory.create_batch(2)  # the spare: a CI the edit may add
        return {"title": "Upgrade wms-db-1 to PostgreSQL 17", "configuration_items": [listed]}


class ChangeLifecycleTests(PrincipalsTestCase):
    @walks_lifecycle(Change)
    def test_every_action_from_every_state_as_every_role(self) -> None:
        assert_lifecycle_walk(self, Change, lambda state: ChangeFactory(status=state), self.p)
