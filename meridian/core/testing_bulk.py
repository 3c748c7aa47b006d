"""Generic tests of bulk actions (`core.bulk`) that every registered record type runs, mixed into
`testing.RecordTypeTests`: a bulk edit of two records from the list page and from the API writes each with its own
audit event (and the reason); a record changed since it was selected and an id the person may not see are refused
by name while the others are written; every bulk action as every role on both channels is refused (403) exactly
when the role may not take it one record at a time, and otherwise done or refused per record with the record as it
was; the selected rows export; OpenAPI describes every bulk endpoint."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.urls import reverse

from meridian.core import bulk
from meridian.core.choices import Role
from meridian.core.models import AuditEvent, BulkJob
from meridian.core.registry import CHANGE, EXPORT
from meridian.core.testing_openapi import openapi_schema

if TYPE_CHECKING:
    pass

# (type label, test name) of each generic bulk test run to its end in this process: the meta-test
# (`test_registry_coverage.BulkCoverageTests`) requires all of them for every registered type
BULK_TESTED: set[tuple[str, str]] = set()
BULK_TESTS = (
    "test_bulk_edit_writes_each_record_with_its_event",
    "test_bulk_edit_refuses_stale_and_unseen_records_and_writes_others",
    "test_every_bulk_action_as_every_role_on_both_channels",
    "test_bulk_export_of_the_rows_ticked",
    "test_openapi_describes_every_bulk_endpoint",
)


class BulkTests:
    """Mixed into RecordTypeTests: uses its `model`, `rt`, `p`, `actor()`, `url()`, `api_url()`, `page_client()`,
    `api()`, `make_record()`, `changed_data`, `api_value()`, `action_record()`, `action_input()`."""

    rt: Any  # RecordTypeTests.rt (a property)

    def bulk_changes(self: Any) -> dict[str, Any]:
        """The part of `changed_data` a bulk edit may set (unique fields are not offered)."""
        form = bulk.EditForm(record_type=self.rt, user=self.bulk_editor())
        changes = {name: value for name, value in self.changed_data.items() if name in form.changeable}
        if not changes:
            self.skipTest("no field of changed_data is open to a bulk edit")  # pragma: no cover
        return changes

    def bulk_editor(self: Any) -> Any:
        """Who runs the bulk edits: a staff role that may change the type other than the administrator (the
        administrator only where no other may), so that the per-record checks run as they do for most people."""
        allowed = self.rt.permissions[CHANGE] - {Role.ADMINISTRATOR, Role.CUSTOMER_USER}
        return self.p.users[sorted(allowed)[0]] if allowed else self.actor(CHANGE)

    def bulk_record(self: Any) -> Any:
        """A new record of customer A's organisation (for organisations themselves: a new organisation)."""
        return self.factory() if self.model.TENANT_FIELD == "id" else self.make_record(self.p.org_a)

    def bulk_api_url(self: Any, name: str) -> str:
        return reverse(f"api:{self.rt.app_label}-{self.rt.url_slug}-bulk-{name.replace('_', '-')}")

    def _updates(self: Any, obj: Any) -> list[AuditEvent]:
        return list(AuditEvent.objects.filter(record_type=self.rt.label, record_id=str(obj.pk), action="update"))

    def test_bulk_edit_writes_each_record_with_its_event(self: Any) -> None:
        from meridian.core.testing import page_value

        user = self.bulk_editor()
        changes = self.bulk_changes()
        for channel in ("page", "api"):
            records = [self.bulk_record(), self.bulk_record()]
            with self.subTest(channel=channel):
                if channel == "page":
                    data: dict[str, Any] = {
                        "action": "edit",
                        "confirm": "1",
                        "selected": [f"{o.pk}:{o.version}" for o in records],
                        "change": list(changes),
                        "reason": "reorganisation",
                        **{name: page_value(value) for name, value in changes.items()},
                    }
                    response = self.page_client(user).post(self.url("bulk"), data)
                    self.assertEqual(response.status_code, 303, response.content[:2000])
                    job_page = self.page_client(user).get(response["Location"])
                    self.assertContains(job_page, "Changed 2")
                else:
                    body = {
                        "records": [{"id": o.pk, "version": o.version} for o in records],
                        "values": {name: self.api_value(value) for name, value in changes.items()},
                        "reason": "reorganisation",
                    }
                    response = self.api(user).post(self.bulk_api_url("edit"), body, format="json")
                    self.assertEqual(response.status_code, 200, response.content)
                    self.assertEqual((response.json()["changed"], response.json()["refused"]), (2, []))
                for before in records:
                    after = self.model.objects.get(pk=before.pk)
                    for name, value in changes.items():
                        self.assertEqual(self.api_value(getattr(after, name)), self.api_value(value), name)
                    self.assertEqual(after.version, before.version + 1)
                    events = self._updates(before)
                    self.assertEqual(len(events), 1)
                    self.assertEqual(events[0].reason, "reorganisation")
        BULK_TESTED.add((self.rt.label, "test_bulk_edit_writes_each_record_with_its_event"))

    def test_bulk_edit_refuses_stale_and_unseen_records_and_writes_others(self: Any) -> None:
        from meridian.core import services

        user = self.bulk_editor()
        changes = self.bulk_changes()
        kept, moved = self.bulk_record(), self.bulk_record()
        selected = [(kept.pk, kept.version), (moved.pk, moved.version)]
        services.update_record(moved, data=changes, actor=user, expected_version=moved.version)  # after selection
        missing = max(self.model.objects.values_list("pk", flat=True)) + 1000
        body = {
            "records": [{"id": pk, "version": version} for pk, version in [*selected, (missing, 1)]],
            "values": {name: self.api_value(value) for name, value in changes.items()},
        }
        response = self.api(user).post(self.bulk_api_url("edit"), body, format="json")
        self.assertEqual(response.status_code, 200, response.content)
        result = response.json()
        self.assertEqual((result["changed"], result["refused_count"]), (1, 2))
        refused = {row["id"]: row["message"] for row in result["refused"]}
        self.assertIn("Changed since it was selected", refused[moved.pk])
        self.assertEqual(refused[missing], bulk.NOT_FOUND)
        after = self.model.objects.get(pk=moved.pk)
        self.assertEqual(after.version, moved.version + 1)  # only the other person's change
        self.assertEqual(self.model.objects.get(pk=kept.pk).version, kept.version + 1)
        BULK_TESTED.add((self.rt.label, "test_bulk_edit_refuses_stale_and_unseen_records_and_writes_others"))

    def test_every_bulk_action_as_every_role_on_both_channels(self: Any) -> None:
        """403 exactly when the role may not take the action one record at a time (the API for every role, the page
        for one role allowed, one refused and the customer user); else the record is done, or refused by name and
        left as it was. A customer's selection of another organisation's record is refused as not found."""
        from meridian.core.testing import fresh

        for action in bulk.actions_of(self.rt):
            # every role through the API; on the page (the same `may`, another door) a role it allows, one it
            # refuses and the customer user
            allowed = [r for r in Role.values if action.may(self.rt, self.p.for_role(r))]
            refused = [r for r in Role.values if r not in allowed]
            on_page = {*allowed[:1], *refused[:1], Role.CUSTOMER_USER}
            unused = None  # a record a refused role left as it was (asserted): the next role tries it
            for role in Role.values:
                for channel in ("page", "api") if role in on_page else ("api",):
                    user = fresh(self.p.for_role(role))
                    may = action.may(self.rt, user)
                    if role == Role.CUSTOMER_USER and action.record_action is None:  # another organisation's: not found
                        obj = self.factory() if self.model.TENANT_FIELD == "id" else self.make_record(self.p.org_b)
                    elif unused is not None:
                        obj = unused
                    elif action.record_action is not None:
                        obj = self.action_record(action.record_action)
                    else:
                        obj = self.bulk_record()
                    obj = self.model.objects.get(pk=obj.pk)
                    unused = None if may else obj
                    values = self.action_input(action.record_action, obj, role) if action.record_action else {}
                    reason = values.pop("reason", "generic test")
                    with self.subTest(action=action.name, role=role, channel=channel):
                        jobs = BulkJob.objects.count()
                        if channel == "api":
                            body: dict[str, Any] = {"ids": [obj.pk], "reason": reason}
                            if action.name == bulk.EDIT:
                                body["values"] = {k: self.api_value(v) for k, v in self.bulk_changes().items()}
                            elif values:
                                body["values"] = values
                            response = self.api(user).post(self.bulk_api_url(action.name), body, format="json")
                            self.assertEqual(response.status_code, 200 if may else 403, response.content)
                        else:
                            data: dict[str, Any] = {
                                "action": action.name,
                                "selected": [f"{obj.pk}:{obj.version}"],
                                "confirm": "1",
                                "reason": reason,
                                **values,
                            }
                            if action.name == bulk.EDIT:
                                from meridian.core.testing import page_value

                                changes = self.bulk_changes()
                                data.update({k: page_value(v) for k, v in changes.items()}, change=list(changes))
                            response = self.page_client(user).post(self.url("bulk"), data)
                            allowed_status = 303
                            self.assertEqual(response.status_code, allowed_status if may else 403)
                        if not may:
                            self.assertEqual(BulkJob.objects.count(), jobs)
                            self.assertEqual(self.model.objects.get(pk=obj.pk).version, obj.version)
                            continue
                        job = BulkJob.objects.latest("created_at")
                        self.assertEqual((job.total, job.done_rows), (1, 1))
                        visible = role != Role.CUSTOMER_USER or obj.tenant_id == user.organisation_id
                        after = self.model.objects.filter(pk=obj.pk).first()
                        if not visible:
                            self.assertEqual([r["message"] for r in job.refused], [bulk.NOT_FOUND])
                        if job.refused:
                            self.assertEqual(job.changed, 0)
                            self.assertIsNotNone(after, "a refused record is kept")
                            self.assertEqual(after.version, obj.version, "a refused record is as it was")
                        elif action.name == bulk.REMOVE:
                            self.assertIsNone(after)
                        elif action.needs_version:
                            self.assertEqual(after.version, obj.version + 1)
        BULK_TESTED.add((self.rt.label, "test_every_bulk_action_as_every_role_on_both_channels"))

    def test_bulk_export_of_the_rows_ticked(self: Any) -> None:
        user = self.p.users[Role.AUDITOR]
        chosen = self.bulk_record()
        self.bulk_record()
        response = self.page_client(user).post(
            self.url("bulk"), {"action": "export_csv", "selected": [f"{chosen.pk}:{chosen.version}"]}
        )
        self.assertEqual(response.status_code, 200)
        self.assertEqual(len(response.content.decode().strip().splitlines()), 2)  # the header and the one row
        response = self.api(user).post(self.bulk_api_url("export"), {"ids": [chosen.pk]}, format="json")
        self.assertEqual(response.status_code, 200, response.content)
        self.assertEqual(len(response.content.decode().strip().splitlines()), 2)
        if Role.CUSTOMER_USER not in self.rt.permissions[EXPORT]:
            customer = self.p.customer_a
            data = {"action": "export_csv", "selected": [f"{chosen.pk}:{chosen.version}"]}
            self.assertEqual(self.page_client(customer).post(self.url("bulk"), data).status_code, 403)
            response = self.api(customer).post(self.bulk_api_url("export"), {"ids": [chosen.pk]}, format="json")
            self.assertEqual(response.status_code, 403)
        BULK_TESTED.add((self.rt.label, "test_bulk_export_of_the_rows_ticked"))

    def test_openapi_describes_every_bulk_endpoint(self: Any) -> None:
        schema = openapi_schema(self.api(self.p.users[Role.AUDITOR]))
        base = f"/api/v1/{self.rt.url_app}/{self.rt.url_slug}/bulk/"
        for name in [*(a.slug for a in bulk.actions_of(self.rt)), "export"]:
            with self.subTest(action=name):
                operation = schema["paths"][f"{base}{name}/"]["post"]
                self.assertIn("requestBody", operation)
        BULK_TESTED.add((self.rt.label, "test_openapi_describes_every_bulk_endpoint"))
