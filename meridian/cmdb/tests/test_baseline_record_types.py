"""The baseline and audit record types through the generic mixins (pages, API, roles, tenancy, exports, stale saves,
lifecycle actions). A baseline is immutable: the generic tests of editing it are replaced by tests of the refusal."""

from __future__ import annotations

from typing import Any

from meridian.cmdb.choices import BaselineScope, FindingKind, ScheduleFrequency
from meridian.cmdb.factories import (
    BaselineFactory,
    BaselineScheduleFactory,
    CIClassFactory,
    ConfigurationAuditFactory,
    FindingFactory,
)
from meridian.cmdb.models import Baseline, BaselineSchedule, ConfigurationAudit, ConfigurationItem, Finding
from meridian.core.choices import Role
from meridian.core.models import AuditEvent
from meridian.core.registry import ADD, CHANGE, DELETE, VIEW
from meridian.core.testing import RecordTypeTests


class TestBaselineSchedule(RecordTypeTests):
    model = BaselineSchedule
    factory = BaselineScheduleFactory
    changed_data = {"description": "Before the monthly patch window"}

    def new_data(self) -> dict[str, Any]:
        return {
            "name": "Weekly servers",
            "scope": BaselineScope.CI_CLASS,
            "scope_class": CIClassFactory(),
            "frequency": ScheduleFrequency.WEEKLY,
            "active": True,
        }


class TestBaseline(RecordTypeTests):
    model = Baseline
    factory = BaselineFactory
    changed_data = {}

    def new_data(self) -> dict[str, Any]:
        return {"name": "Before REL-000001", "scope": BaselineScope.ALL}

    def actor(self, action: str) -> Any:
        """Nobody may change a baseline: the administrator stands for whoever tries."""
        if action == CHANGE:
            return self.p.users[Role.ADMINISTRATOR]
        return super().actor(action)

    # -- the generic tests of editing, as a baseline has them: every edit refused, nothing written ---------------
    def assert_untouched(self, obj: Any) -> None:
        current = Baseline.objects.get(pk=obj.pk)
        self.assertEqual((current.name, current.version), (obj.name, 1))
        self.assertFalse(self.events(obj, "update").exists())

    def test_pages_create_edit_delete_and_history(self) -> None:
        client = self.page_client(self.actor(ADD))
        response = client.post(self.url("add"), self.form_data(self.new_data()))
        self.assertEqual(response.status_code, 302)
        created = Baseline.objects.order_by("-pk").first()
        assert created is not None
        self.assertEqual(created.item_count, ConfigurationItem.objects.count())
        self.assertTrue(self.events(created, "create").exists())
        for role in Role.values:
            client = self.page_client(self.p.for_role(role))
            edit = client.post(self.url("edit", created), {"name": "changed", "version": 1})
            self.assertIn(edit.status_code, {403} if role != Role.CUSTOMER_USER else {404})
        self.assert_untouched(created)
        self.assertContains(
            self.page_client(self.actor(VIEW)).get(self.url("detail", created) + "?tab=history"), "Created"
        )
        client = self.page_client(self.actor(DELETE))
        self.assertEqual(client.post(self.url("delete", created), {"version": 1, "reason": "test"}).status_code, 302)
        self.assertFalse(Baseline.objects.filter(pk=created.pk).exists())
        self.assertTrue(self.events(created, "delete").exists())

    def test_api_create_read_update_delete(self) -> None:
        response = self.api(self.actor(ADD)).post(self.api_url(), self.form_data(self.new_data()), format="json")
        self.assertEqual(response.status_code, 201, response.content)
        created = Baseline.objects.get(pk=response.json()["id"])
        self.assertEqual(created.item_count, ConfigurationItem.objects.count())
        for role in (Role.ADMINISTRATOR, Role.CONFIGURATION_MANAGER):
            api = self.api(self.p.users[role])
            self.assertEqual(api.get(self.api_url(created)).status_code, 200)
            for method in ("patch", "put"):
                answer = getattr(api, method)(self.api_url(created), {"name": "x", "version": 1}, format="json")
                self.assertEqual(answer.status_code, 403, (role, method))
        self.assert_untouched(created)
        history = self.api(self.actor(VIEW)).get(self.api_url(created, "history"))
        self.assertEqual([e["action"] for e in history.json()["results"]], ["create"])
        api = self.api(self.actor(DELETE))
        self.assertEqual(api.delete(self.api_url(created)).status_code, 400)
        self.assertEqual(api.delete(self.api_url(created), HTTP_IF_MATCH='"1"').status_code, 204)

    def test_api_stale_update_gets_409_with_current_state(self) -> None:
        """No version makes an edit possible: stale or current, 403."""
        api = self.api(self.actor(CHANGE))
        for version in (0, 1, 2):
            answer = api.patch(self.api_url(self.obj_a), {"name": "x", "version": version}, format="json")
            self.assertEqual(answer.status_code, 403)
        self.assert_untouched(self.obj_a)

    def test_stale_page_save_is_refused_with_409(self) -> None:
        client = self.page_client(self.actor(CHANGE))
        for version in ("1", "2"):
            self.assertEqual(
                client.post(self.url("edit", self.obj_a), {"name": "x", "version": version}).status_code, 403
            )
        self.assert_untouched(self.obj_a)

    def test_stale_page_save_shows_their_change_and_yours(self) -> None:
        self.assertEqual(self.page_client(self.actor(CHANGE)).get(self.url("edit", self.obj_a)).status_code, 403)

    def test_page_writes_name_a_well_formed_version(self) -> None:
        """The delete page (the one write a baseline's page offers) needs a well-formed, current version."""
        client = self.page_client(self.actor(DELETE))
        events = AuditEvent.objects.count()
        for version in (None, "abc", "-1", "1.5"):
            with self.subTest(version=version):
                data = {} if version is None else {"version": version}
                self.assertEqual(client.post(self.url("delete", self.obj_a), data).status_code, 400)
        self.assertEqual(client.post(self.url("delete", self.obj_a), {"version": "2"}).status_code, 409)
        self.assertEqual(AuditEvent.objects.count(), events)
        self.assertTrue(Baseline.objects.filter(pk=self.obj_a.pk).exists())

    def test_history_shows_every_value_readably(self) -> None:
        client = self.page_client(self.actor(ADD))
        self.assertEqual(client.post(self.url("add"), self.form_data(self.new_data())).status_code, 302)
        created = Baseline.objects.order_by("-pk").first()
        page = client.get(self.url("detail", created) + "?tab=history")
        events = page.context["events"]
        self.assertEqual([e.action for e in events], ["create"])
        for change in events[0].display_changes:
            shown = change.after
            for text in [text for text, _ in shown.items] if shown.items else [shown.text]:
                self.assertNotRegex(text, self.RAW_VALUE)

    def assert_no_bulk_edit(self, name: str) -> None:
        """Nobody is offered a bulk edit of baselines, and the API's refuses everyone (403), writing nothing."""
        from meridian.core import bulk
        from meridian.core.testing_bulk import BULK_TESTED

        for role in Role.values:
            user = self.p.for_role(role)
            self.assertNotIn("edit", [a.name for a in bulk.available(self.rt, user)])
            answer = self.api(user).post(
                self.bulk_api_url("edit"), {"ids": [self.obj_a.pk], "values": {"name": "x"}}, format="json"
            )
            self.assertEqual(answer.status_code, 403, role)
        self.assert_untouched(self.obj_a)
        BULK_TESTED.add((self.rt.label, name))

    def test_bulk_edit_writes_each_record_with_its_event(self) -> None:
        self.assert_no_bulk_edit("test_bulk_edit_writes_each_record_with_its_event")

    def test_bulk_edit_refuses_stale_and_unseen_records_and_writes_others(self) -> None:
        self.assert_no_bulk_edit("test_bulk_edit_refuses_stale_and_unseen_records_and_writes_others")

    def test_import_export_round_trip_changes_nothing(self) -> None:
        """Importing the export back would change baselines: refused row by row, nothing written."""
        from meridian.core.testing_imports import run_import

        user = self.actor(ADD)
        client = self.page_client(user)
        events = AuditEvent.objects.count()
        content = client.get(self.url("list"), {"export": "csv"}).content
        report = run_import(self.rt, content, "export.csv", user, update_on="Reference")
        self.assertFalse(report.committed)
        self.assertTrue(all("You may not change" in p.message for p in report.problems), report.problems)
        self.assertEqual(AuditEvent.objects.count(), events)


class TestConfigurationAudit(RecordTypeTests):
    model = ConfigurationAudit
    factory = ConfigurationAuditFactory
    changed_data = {"name": "Q3 audit"}

    def new_data(self) -> dict[str, Any]:
        return {"name": "Q3", "scope": BaselineScope.ALL, "key_field": "reference"}


class TestFinding(RecordTypeTests):
    model = Finding
    factory = FindingFactory
    changed_data = {"summary": "host-7 was found in rack 12 instead of rack 4"}

    def new_data(self) -> dict[str, Any]:
        return {"audit": ConfigurationAuditFactory(), "kind": FindingKind.OTHER, "summary": "Unlabelled cable"}
