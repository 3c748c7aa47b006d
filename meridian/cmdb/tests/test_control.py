"""Controlled updates of the CMDB: an edit of a controlled CI's attributes, status, version or relationships must
cite an approved change that lists it, on every channel (services, pages, API, bulk, import), or it is refused
with a message naming the change needed and nothing is written; the audit trail and the CI's "Change control" tab
show which change set what."""

from __future__ import annotations

import io
from typing import Any

from django.core.exceptions import ValidationError
from django.urls import reverse
from rest_framework.test import APIClient

from meridian.changes.choices import ChangeStatus
from meridian.changes.factories import ChangeFactory
from meridian.changes.models import Change
from meridian.cmdb.choices import CIPolicy, CIStatus, ConfigurationPolicy
from meridian.cmdb.factories import CIClassFactory, ConfigurationItemFactory, RelationshipKindFactory
from meridian.cmdb.models import ConfigurationItem, Relationship
from meridian.core import imports, registry, services
from meridian.core.choices import AuditAction, Role
from meridian.core.models import AuditEvent
from meridian.core.testing import PrincipalsTestCase


def events_of(obj: Any) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(record_type=obj._meta.label_lower, record_id=obj.pk).order_by("id"))


class ControlTestCase(PrincipalsTestCase):
    def setUp(self) -> None:
        self.keeper = self.p.users[Role.CONFIGURATION_MANAGER]
        self.controlled_class = CIClassFactory(
            name="Core database", configuration_policy=ConfigurationPolicy.CONTROLLED
        )
        self.open_class = CIClassFactory(name="Test box", configuration_policy=ConfigurationPolicy.OPEN)
        self.db = ConfigurationItemFactory(name="wms-db-1", ci_class=self.controlled_class, reference="CI-900001")
        self.box = ConfigurationItemFactory(name="test-box", ci_class=self.open_class, reference="CI-900002")
        self.kind = RelationshipKindFactory(name="Mounted in (tests)")
        self.approved = self.change("Patch wms-db-1", ChangeStatus.APPROVED, [self.db])

    def change(self, title: str, status: str, cis: list[ConfigurationItem]) -> Change:
        change = ChangeFactory(title=title, status=status)
        change.configuration_items.set(cis)
        return change

    def edit(self, ci: ConfigurationItem, cited: str = "", **data: Any) -> ConfigurationItem:
        ci.refresh_from_db()
        return services.update_record(
            ci, data=data, actor=self.keeper, expected_version=ci.version, authorised_by=cited
        )


class ServiceRuleTests(ControlTestCase):
    def test_an_open_ci_changes_without_a_change(self) -> None:
        saved = self.edit(self.box, ci_version="2.0")
        self.assertEqual(saved.ci_version, "2.0")
        self.assertEqual(events_of(self.box)[-1].authorised_by, "")

    def test_a_controlled_ci_without_a_change_is_refused_naming_the_change_that_would_do(self) -> None:
        with self.assertRaises(ValidationError) as caught:
            self.edit(self.db, ci_version="16.4")
        message = " ".join(caught.exception.message_dict["authorised_by"])
        self.assertIn("CI-900001", message)
        self.assertIn("under change control", message)
        self.assertIn(self.approved.reference, message)  # the approved change that lists it
        self.db.refresh_from_db()
        self.assertEqual((self.db.ci_version, self.db.version), ("", 1))
        self.assertEqual(events_of(self.db), [])

    def test_without_any_approved_change_the_message_says_to_raise_one(self) -> None:
        self.approved.configuration_items.clear()
        with self.assertRaises(ValidationError) as caught:
            self.edit(self.db, ci_version="16.4")
        self.assertIn("raise a change", caught.exception.message_dict["authorised_by"][0])

    def test_the_cited_change_must_exist_be_approved_and_list_the_ci(self) -> None:
        draft = self.change("Not yet", ChangeStatus.SUBMITTED, [self.db])
        other = self.change("Other work", ChangeStatus.APPROVED, [self.box])
        cases = [
            ("CHG-999999", "There is no change CHG-999999"),
            (draft.reference, "not approved"),
            (other.reference, "does not list CI-900001"),
        ]
        for cited, expected in cases:
            with self.subTest(cited=cited), self.assertRaises(ValidationError) as caught:
                self.edit(self.db, cited, ci_version="16.4")
            self.assertIn(expected, caught.exception.message_dict["authorised_by"][0])
        self.db.refresh_from_db()
        self.assertEqual(self.db.version, 1)

    def test_an_approved_change_that_lists_it_authorises_and_the_trail_keeps_it(self) -> None:
        saved = self.edit(self.db, self.approved.reference.lower(), ci_version="16.4")
        self.assertEqual(saved.ci_version, "16.4")
        event = events_of(self.db)[-1]
        self.assertEqual((event.action, event.authorised_by), (AuditAction.UPDATE, self.approved.reference))
        self.assertEqual(event.actor_id, self.keeper.pk)

    def test_ownership_and_description_are_not_configuration(self) -> None:
        saved = self.edit(self.db, description="Primary of the WMS cluster")
        self.assertEqual(saved.description, "Primary of the WMS cluster")

    def test_custom_attributes_are_controlled(self) -> None:
        from meridian.core.factories import CustomFieldFactory

        CustomFieldFactory(
            applies_to="cmdb.configurationitem", name="test_memory_gb", label="Memory (GB, tests)", type="integer"
        )
        with self.assertRaises(ValidationError):
            self.edit(self.db, custom={"test_memory_gb": 64})
        self.assertEqual(
            self.edit(self.db, self.approved.reference, custom={"test_memory_gb": 64}).custom["test_memory_gb"], 64
        )

    def test_a_status_change_needs_the_change_too(self) -> None:
        with self.assertRaises(ValidationError) as caught:
            services.transition(self.db, "build", actor=self.keeper, expected_version=1)
        self.assertIn("authorised_by", caught.exception.message_dict)
        done = services.transition(
            self.db, "build", actor=self.keeper, expected_version=1, authorised_by=self.approved.reference
        )
        self.assertEqual(done.status, CIStatus.IN_BUILD)
        self.assertEqual(events_of(self.db)[-1].authorised_by, self.approved.reference)

    def test_relationships_to_or_from_a_controlled_ci_need_a_change_that_lists_it(self) -> None:
        data = {"source": self.box, "kind": self.kind, "target": self.db}
        with self.assertRaises(ValidationError):
            services.create_record(Relationship, data=data, actor=self.keeper)
        self.assertFalse(Relationship.objects.exists())
        rel = services.create_record(Relationship, data=data, actor=self.keeper, authorised_by=self.approved.reference)
        self.assertEqual(events_of(rel)[-1].authorised_by, self.approved.reference)
        with self.assertRaises(ValidationError):
            services.delete_record(rel, actor=self.keeper, expected_version=rel.version)
        services.delete_record(
            rel, actor=self.keeper, expected_version=rel.version, authorised_by=self.approved.reference
        )
        self.assertFalse(Relationship.objects.exists())

    def test_moving_a_relationship_onto_a_controlled_ci_needs_a_change(self) -> None:
        other = ConfigurationItemFactory(name="other-box", ci_class=self.open_class)
        rel = services.create_record(
            Relationship, data={"source": self.box, "kind": self.kind, "target": other}, actor=self.keeper
        )
        with self.assertRaises(ValidationError):
            services.update_record(rel, data={"target": self.db}, actor=self.keeper, expected_version=rel.version)
        rel.refresh_from_db()
        self.assertEqual(rel.target_id, other.pk)

    def test_between_open_cis_no_change_is_needed(self) -> None:
        other = ConfigurationItemFactory(name="other-box", ci_class=self.open_class)
        services.create_record(
            Relationship, data={"source": self.box, "kind": self.kind, "target": other}, actor=self.keeper
        )

    def test_a_ci_may_be_controlled_whatever_its_class_and_leaving_control_needs_a_change(self) -> None:
        self.edit(self.box, configuration_policy=CIPolicy.CONTROLLED)  # tightening needs none
        self.box.refresh_from_db()
        self.assertTrue(self.box.controlled)
        with self.assertRaises(ValidationError):
            self.edit(self.box, ci_version="3")
        with self.assertRaises(ValidationError):
            self.edit(self.db, configuration_policy=CIPolicy.OPEN)  # loosening is a change of its own
        self.db.refresh_from_db()
        self.assertTrue(self.db.controlled)

    def test_a_change_cited_for_an_open_ci_is_still_checked(self) -> None:
        with self.assertRaises(ValidationError):
            self.edit(self.box, "CHG-424242", ci_version="2.0")

    def test_a_deleted_controlled_ci_needs_a_change(self) -> None:
        with self.assertRaises(ValidationError):
            services.delete_record(self.db, actor=self.keeper, expected_version=1)
        self.assertTrue(ConfigurationItem.objects.filter(pk=self.db.pk).exists())

    def test_a_submitted_change_keeps_its_list_of_cis(self) -> None:
        change = ChangeFactory(title="Widen scope", status=ChangeStatus.SUBMITTED)
        with self.assertRaises(ValidationError) as caught:
            services.update_record(
                change, data={"configuration_items": [self.db]}, actor=self.admin, expected_version=change.version
            )
        self.assertIn("fixed", caught.exception.message_dict["configuration_items"][0])
        self.assertFalse(change.configuration_items.exists())

    def test_approval_through_the_lifecycle_makes_it_authorise(self) -> None:
        change = services.create_record(
            Change, data={"title": "Resize", "configuration_items": [self.db]}, actor=self.keeper
        )
        change = services.transition(change, "submit", actor=self.keeper, expected_version=change.version)
        with self.assertRaises(ValidationError):
            self.edit(self.db, change.reference, ci_version="17")
        manager = self.p.users[Role.CHANGE_MANAGER]
        services.transition(change, "approve", actor=manager, expected_version=change.version)
        self.assertEqual(self.edit(self.db, change.reference, ci_version="17").ci_version, "17")


class ChannelTests(ControlTestCase):
    def test_edit_page_asks_for_the_change_and_refuses_without(self) -> None:
        self.client.force_login(self.keeper)
        url = reverse("cmdb:configurationitem_edit", args=[self.db.pk])
        page = self.client.get(url)
        self.assertContains(page, 'name="authorised_by"')
        self.assertContains(page, self.approved.reference)  # the approved change that lists it, in the help
        data = {
            "name": self.db.name,
            "ci_class": self.controlled_class.pk,
            "ci_version": "16.4",
            "criticality": "medium",
            "confidentiality": "medium",
            "integrity": "medium",
            "availability": "medium",
            "version": 1,
        }
        refused = self.client.post(url, data)
        self.assertEqual(refused.status_code, 400)
        self.assertIn("authorised_by", refused.context["form"].errors)
        self.db.refresh_from_db()
        self.assertEqual(self.db.ci_version, "")
        done = self.client.post(url, {**data, "authorised_by": self.approved.reference})
        self.assertEqual(done.status_code, 302)
        self.assertEqual(events_of(self.db)[-1].authorised_by, self.approved.reference)

    def test_detail_page_says_it_is_controlled_and_its_buttons_take_the_change(self) -> None:
        self.client.force_login(self.keeper)
        page = self.client.get(self.db.get_absolute_url())
        self.assertContains(page, "Under change control")
        self.assertContains(page, 'name="authorised_by"')
        url = reverse("cmdb:configurationitem_action", args=[self.db.pk, "build"])
        self.client.post(url, {"version": 1})
        self.db.refresh_from_db()
        self.assertEqual(self.db.status, CIStatus.PLANNED)
        self.client.post(url, {"version": 1, "authorised_by": self.approved.reference})
        self.db.refresh_from_db()
        self.assertEqual(self.db.status, CIStatus.IN_BUILD)
        open_page = self.client.get(self.box.get_absolute_url())
        self.assertNotContains(open_page, "Under change control")

    def test_api_update_action_and_delete(self) -> None:
        api = APIClient()
        api.force_authenticate(self.keeper)
        url = f"/api/v1/cmdb/cis/{self.db.pk}/"
        refused = api.patch(url, {"ci_version": "16.4", "version": 1}, format="json")
        self.assertEqual(refused.status_code, 400)
        self.assertIn(self.approved.reference, refused.json()["authorised_by"][0])
        done = api.patch(
            url, {"ci_version": "16.4", "version": 1, "authorised_by": self.approved.reference}, format="json"
        )
        self.assertEqual(done.status_code, 200, done.content)
        self.assertNotIn("authorised_by", done.json())  # write-only: the history keeps it
        history = api.get(f"{url}history/").json()["results"]
        self.assertEqual(history[0]["authorised_by"], self.approved.reference)
        refused = api.post(f"{url}build/", {"version": 2}, format="json")
        self.assertEqual(refused.status_code, 400)
        done = api.post(f"{url}build/", {"version": 2, "authorised_by": self.approved.reference}, format="json")
        self.assertEqual(done.status_code, 200, done.content)
        self.assertEqual(api.delete(url, HTTP_IF_MATCH='"3"').status_code, 400)
        gone = api.delete(url, HTTP_IF_MATCH='"3"', HTTP_X_AUTHORISED_BY=self.approved.reference)
        self.assertEqual(gone.status_code, 204, gone.content)

    def test_api_relationship_create(self) -> None:
        api = APIClient()
        api.force_authenticate(self.keeper)
        body = {"source": self.box.pk, "kind": self.kind.pk, "target": self.db.pk}
        refused = api.post("/api/v1/cmdb/relationships/", body, format="json")
        self.assertEqual(refused.status_code, 400)
        self.assertIn("authorised_by", refused.json())
        done = api.post(
            "/api/v1/cmdb/relationships/", {**body, "authorised_by": self.approved.reference}, format="json"
        )
        self.assertEqual(done.status_code, 201, done.content)

    def test_bulk_edit_refuses_the_controlled_ones_without_a_change(self) -> None:
        api = APIClient()
        api.force_authenticate(self.keeper)
        body = {"ids": [self.db.pk, self.box.pk], "values": {"ci_version": "5"}}
        answer = api.post("/api/v1/cmdb/cis/bulk/edit/", body, format="json").json()
        self.assertEqual([r["id"] for r in answer["refused"]], [self.db.pk])
        self.assertEqual(answer["refused"][0]["field"], "authorised_by")
        self.db.refresh_from_db()
        self.box.refresh_from_db()
        self.assertEqual((self.db.ci_version, self.box.ci_version), ("", "5"))
        body = {"ids": [self.db.pk], "values": {"ci_version": "5"}, "authorised_by": self.approved.reference}
        answer = api.post("/api/v1/cmdb/cis/bulk/edit/", body, format="json").json()
        self.assertEqual(answer["refused"], [])
        self.db.refresh_from_db()
        self.assertEqual(self.db.ci_version, "5")

    def test_import_refuses_rows_of_controlled_cis_without_a_change(self) -> None:
        rt = registry.get(ConfigurationItem)
        content = b"reference,ci_version\nCI-900001,16.4\nCI-900002,2.0\n"

        def run(**options: Any) -> imports.Report:
            source = imports.open_source(io.BytesIO(content), "cis.csv")
            return imports.run(rt, source, actor=self.keeper, dry_run=False, update_on="reference", **options)

        report = run()
        self.assertFalse(report.ok)
        self.assertEqual([(p.row, "CI-900001" in p.message) for p in report.problems], [(2, True)])
        self.db.refresh_from_db()
        self.box.refresh_from_db()
        self.assertEqual((self.db.ci_version, self.box.ci_version), ("", ""))  # all or nothing
        report = run(authorised_by=self.approved.reference)
        self.assertTrue(report.ok, report.problems)
        self.db.refresh_from_db()
        self.assertEqual(self.db.ci_version, "16.4")
        self.assertEqual(events_of(self.db)[-1].authorised_by, self.approved.reference)
        self.assertEqual(events_of(self.box)[-1].authorised_by, self.approved.reference)  # the import's change


class ProvenanceTests(ControlTestCase):
    def test_the_tab_shows_which_change_last_set_each_attribute(self) -> None:
        later = self.change("Upgrade", ChangeStatus.APPROVED, [self.db])
        self.edit(self.db, self.approved.reference, ci_version="16.3", criticality="high")
        self.edit(self.db, later.reference, ci_version="16.4")
        self.edit(self.db, description="notes")
        api = APIClient()
        api.force_authenticate(self.keeper)
        data = api.get(f"/api/v1/cmdb/cis/{self.db.pk}/control/").json()
        rows = {a["name"]: a for a in data["attributes"]}
        self.assertTrue(data["controlled"])
        self.assertEqual(rows["ci_version"]["last_set"]["change"], later.reference)
        self.assertEqual(rows["ci_version"]["value"], "16.4")
        self.assertEqual(rows["criticality"]["last_set"]["change"], self.approved.reference)
        self.assertEqual(rows["description"]["last_set"]["change"], "")
        self.assertFalse(rows["description"]["controlled"])
        self.assertIsNone(rows["location"]["last_set"])
        self.client.force_login(self.keeper)
        page = self.client.get(self.db.get_absolute_url(), {"tab": "control"})
        self.assertContains(page, later.reference)
        self.assertContains(page, "Under change control")

    def test_customers_do_not_get_the_tab(self) -> None:
        mine = ConfigurationItemFactory(name="a-app", ci_class=self.open_class, organisation=self.p.org_a)
        api = APIClient()
        api.force_authenticate(self.p.customer_a)
        self.assertEqual(api.get(f"/api/v1/cmdb/cis/{mine.pk}/control/").status_code, 403)


class ChangeEvidenceTests(ControlTestCase):
    def test_a_change_shows_the_writes_made_under_it(self) -> None:
        other = self.change("Other work", ChangeStatus.APPROVED, [self.db])
        self.edit(self.db, self.approved.reference, ci_version="16.4")
        services.transition(
            ConfigurationItem.objects.get(pk=self.db.pk),
            "build",
            actor=self.keeper,
            expected_version=2,
            authorised_by=self.approved.reference,
        )
        self.edit(self.db, other.reference, ci_version="16.5")  # under the other change: not this one's
        self.edit(self.db, description="notes")  # under none
        api = APIClient()
        api.force_authenticate(self.keeper)
        data = api.get(f"/api/v1/changes/changes/{self.approved.pk}/configuration/").json()
        self.assertEqual(data["total"], 2)
        self.assertEqual(
            [(w["action"], w["record"], w["fields"]) for w in data["writes"]],
            [("transition", "wms-db-1", ["status"]), ("update", "wms-db-1", ["ci_version"])],
        )
        self.client.force_login(self.keeper)
        page = self.client.get(self.approved.get_absolute_url(), {"tab": "configuration"})
        self.assertContains(page, "2 writes cite this change as their authority")
        self.assertContains(page, "Version number")  # fields as the pages name them
        self.assertContains(page, self.db.get_absolute_url())
        empty = self.change("Nothing yet", ChangeStatus.APPROVED, [self.box])
        page = self.client.get(empty.get_absolute_url(), {"tab": "configuration"})
        self.assertContains(page, "Nothing has been changed under this change yet")
