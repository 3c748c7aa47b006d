"""Bulk actions (`core.bulk`) beyond the generic tests every type runs: "all matching" a list's filters, a job in
the background with its progress, the input refused before anything is written, the limits, a lifecycle action
whose guard and reason apply per record, following many records, and jobs that are their starter's own."""

from __future__ import annotations

from typing import Any

from django.test import override_settings
from django.urls import reverse

from meridian.core import bulk
from meridian.core.choices import PersonStatus, Role
from meridian.core.factories import OrganisationFactory, PersonFactory
from meridian.core.models import AuditEvent, BulkJob, Person, Watch
from meridian.core.testing import PrincipalsTestCase, api_client

LIST = "/core/people/"
BULK = "/core/people/bulk/"


def api_url(name: str) -> str:
    return reverse(f"api:core-people-bulk-{name}")


class BulkPageTests(PrincipalsTestCase):
    def setUp(self) -> None:
        self.org = OrganisationFactory(name="Reorganised BV")
        self.people = [PersonFactory(organisation=self.org, job_title="Clerk") for _ in range(3)]
        self.client.force_login(self.admin)
        self.agent = self.p.users[Role.SERVICE_DESK_AGENT]  # may change and follow people; not the administrator

    def test_the_list_offers_a_checkbox_per_row_and_the_actions_of_the_role(self) -> None:
        page = self.client.get(LIST, {"organisation": self.org.pk}).content.decode()
        for person in self.people:
            self.assertIn(f'value="{person.pk}:{person.version}"', page)
        for title in ("Edit fields", "Suspend account", "Follow", "Delete", "Export the rows ticked (CSV)"):
            self.assertIn(title, page)
        self.assertNotIn("Give a login", page.split('id="bulk-action"')[1].split("</select>")[0])  # one person's
        self.client.force_login(self.p.users[Role.AUDITOR])  # reads and exports, changes nothing
        bar = self.client.get(LIST).content.decode().split('id="bulk-action"')[1].split("</select>")[0]
        self.assertNotIn("Edit fields", bar)
        self.assertNotIn("Delete", bar)
        self.assertIn("Export the rows ticked (CSV)", bar)

    def test_the_confirmation_names_the_records_and_nothing_is_written_before_confirm(self) -> None:
        self.client.force_login(self.agent)
        selected = [f"{p.pk}:{p.version}" for p in self.people[:2]]
        response = self.client.post(BULK, {"action": "edit", "selected": selected})
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "Edit fields: 2 people")
        self.assertContains(response, str(self.people[0]))
        self.assertFalse(BulkJob.objects.exists())

    def test_all_matching_the_filters_changes_those_records_only(self) -> None:
        self.client.force_login(self.agent)
        other = PersonFactory(job_title="Clerk")
        data = {
            "action": "edit",
            "all": "1",
            "query": f"organisation={self.org.pk}&sort=last_name",
            "confirm": "1",
            "change": ["job_title"],
            "job_title": "Agent",
        }
        response = self.client.post(BULK, data)
        self.assertEqual(response.status_code, 303)
        self.assertEqual(
            sorted(Person.objects.filter(organisation=self.org).values_list("job_title", flat=True)), ["Agent"] * 3
        )
        other.refresh_from_db()
        self.assertEqual((other.job_title, other.version), ("Clerk", 1))
        job = BulkJob.objects.get()
        self.assertEqual((job.total, job.changed, job.status), (3, 3, "done"))
        result = self.client.get(response["Location"])
        self.assertContains(result, "Changed 3")
        self.assertContains(result, f'href="/core/people/?organisation={self.org.pk}&amp;sort=last_name"')  # back

    def test_input_that_makes_no_sense_is_refused_with_the_field_and_nothing_is_written(self) -> None:
        self.client.force_login(self.agent)
        selected = [f"{p.pk}:{p.version}" for p in self.people]
        events = AuditEvent.objects.count()
        cases = [
            ({"change": ["last_name"], "last_name": ""}, "Required: it cannot be emptied."),
            ({"change": ["organisation"], "organisation": "999999"}, "Select a valid choice"),
            ({}, "Tick at least one field to change."),
        ]
        for given, message in cases:
            with self.subTest(given=given):
                response = self.client.post(BULK, {"action": "edit", "selected": selected, "confirm": "1", **given})
                self.assertEqual(response.status_code, 400)
                self.assertContains(response, message, status_code=400)
        self.assertEqual(AuditEvent.objects.count(), events)
        self.assertFalse(BulkJob.objects.exists())

    def test_a_filter_that_makes_no_sense_or_matches_too_many_is_refused(self) -> None:
        self.client.force_login(self.agent)
        response = self.client.post(BULK, {"action": "edit", "all": "1", "query": "status=nonsense"}, follow=True)
        self.assertContains(response, "These filters are not valid: Status", status_code=400)  # the list, as filtered
        with override_settings(MERIDIAN_BULK_MAX_ROWS=2):
            response = self.client.post(
                BULK, {"action": "edit", "all": "1", "query": f"organisation={self.org.pk}"}, follow=True
            )
        self.assertContains(response, "more than one bulk action takes (2): narrow the filters")
        response = self.client.post(BULK, {"action": "edit"}, follow=True)
        self.assertContains(response, "Choose at least one record.")
        self.assertFalse(BulkJob.objects.exists())

    def test_a_lifecycle_action_applies_its_guard_and_reason_to_each_record(self) -> None:
        admin_person = Person.objects.get(user=self.admin)
        chosen = [*self.people, admin_person]
        selected = [f"{p.pk}:{p.version}" for p in chosen]
        response = self.client.post(BULK, {"action": "suspend", "selected": selected, "confirm": "1"})
        self.assertContains(response, "a reason is required", status_code=400)
        self.assertFalse(BulkJob.objects.exists())
        response = self.client.post(
            BULK, {"action": "suspend", "selected": selected, "confirm": "1", "reason": "contract ended"}
        )
        self.assertEqual(response.status_code, 303)
        job = BulkJob.objects.get()
        self.assertEqual(job.changed, 3)
        self.assertEqual([r["id"] for r in job.refused], [admin_person.pk])  # the guard: not your own account
        self.assertIn("your own account", job.refused[0]["message"])
        self.assertEqual(Person.objects.get(pk=admin_person.pk).status, PersonStatus.ACTIVE)
        for person in self.people:
            event = AuditEvent.objects.filter(record_type="core.person", record_id=str(person.pk)).latest("id")
            self.assertEqual((event.changes["action"], event.reason), ("suspend", "contract ended"))
        report = self.client.get(response["Location"], {"format": "csv"})
        self.assertEqual(report["Content-Type"], "text/csv; charset=utf-8")
        self.assertIn("your own account", report.content.decode())

    def test_follow_and_unfollow_many(self) -> None:
        self.client.force_login(self.agent)
        selected = [f"{p.pk}:{p.version}" for p in self.people]
        self.client.post(BULK, {"action": "follow", "selected": selected, "confirm": "1"})
        watched = Watch.objects.filter(person__user=self.agent, record_type="core.person")
        self.assertEqual(sorted(watched.values_list("record_id", flat=True)), sorted(p.pk for p in self.people))
        self.client.post(BULK, {"action": "unfollow", "selected": selected, "confirm": "1"})
        self.assertFalse(watched.exists())
        self.assertEqual([p.version for p in Person.objects.filter(organisation=self.org)], [1, 1, 1])

    @override_settings(MERIDIAN_BULK_INLINE_ROWS=2)
    def test_a_larger_selection_runs_in_the_background_with_progress(self) -> None:
        self.client.force_login(self.agent)
        selected = [f"{p.pk}:{p.version}" for p in self.people]
        data = {"action": "edit", "selected": selected, "confirm": "1", "change": ["job_title"], "job_title": "Lead"}
        with self.captureOnCommitCallbacks(execute=False) as queued:
            response = self.client.post(BULK, data)
        self.assertEqual(response.status_code, 303)
        job = BulkJob.objects.get()
        page = self.client.get(response["Location"])
        self.assertContains(page, "Waiting for the task queue")
        self.assertContains(page, 'hx-trigger="every 1s"')
        for callback in queued:  # the task queue runs it (immediately, in tests)
            callback()
        job.refresh_from_db()
        self.assertEqual((job.status, job.done_rows, job.changed), ("done", 3, 3))
        poll = self.client.get(response["Location"], HTTP_HX_REQUEST="true")
        self.assertEqual(poll["HX-Refresh"], "true")
        self.assertContains(self.client.get(response["Location"]), "Changed 3")

    def test_a_job_is_its_starters_own(self) -> None:
        selected = [f"{self.people[0].pk}:1"]
        response = self.client.post(BULK, {"action": "follow", "selected": selected, "confirm": "1"})
        job = BulkJob.objects.get()
        other = self.p.users[Role.SERVICE_DESK_AGENT]
        self.client.force_login(other)
        self.assertEqual(self.client.get(response["Location"]).status_code, 404)
        self.assertEqual(api_client(other).get(reverse("api:core-bulk-job", args=[job.pk])).status_code, 404)
        self.assertEqual(api_client(self.admin).get(reverse("api:core-bulk-job", args=[job.pk])).status_code, 200)


class BulkApiTests(PrincipalsTestCase):
    def setUp(self) -> None:
        self.org = OrganisationFactory(name="Reorganised BV")
        self.people = [PersonFactory(organisation=self.org, job_title="Clerk") for _ in range(3)]
        self.api = api_client(self.p.users[Role.SERVICE_DESK_AGENT])  # may change people; not the administrator

    def test_selection_must_be_one_of_ids_records_or_filter(self) -> None:
        for body in ({}, {"ids": [1], "filter": {"q": "x"}}):
            response = self.api.post(api_url("edit"), {**body, "values": {"job_title": "x"}}, format="json")
            self.assertEqual(response.status_code, 400)
            self.assertIn("ids", response.json())

    def test_a_filter_the_list_does_not_know_is_refused_not_ignored(self) -> None:
        body = {"filter": {"organisaton": str(self.org.pk)}, "values": {"job_title": "Agent"}}  # misspelt
        response = self.api.post(api_url("edit"), body, format="json")
        self.assertEqual(response.status_code, 400)
        self.assertEqual(response.json(), {"filter": ["Not a filter of this list: organisaton."]})
        self.assertFalse(BulkJob.objects.exists())
        self.assertFalse(Person.objects.filter(job_title="Agent").exists())
        body = {"filter": {"organisation": str(self.org.pk), "q": "a"}, "values": {"job_title": "Agent"}}
        self.assertEqual(self.api.post(api_url("edit"), body, format="json").status_code, 200)

    def test_values_of_the_wrong_type_or_unknown_fields_are_refused_by_name(self) -> None:
        body = {"ids": [p.pk for p in self.people], "values": {"organisation": "1", "nickname": "x"}}
        response = self.api.post(api_url("edit"), body, format="json")
        self.assertEqual(response.status_code, 400)
        self.assertEqual(
            response.json(),
            {"organisation": ["Must be a whole number."], "nickname": ["Not a field a bulk edit can change."]},
        )
        self.assertFalse(BulkJob.objects.exists())

    def test_protected_fields_cannot_be_set_in_bulk(self) -> None:
        """Mass assignment (SECURITY.md S2): the lifecycle's status, the version, the audit columns and the login
        are no field a bulk edit changes; each is refused by name and nothing is written."""
        ids = [p.pk for p in self.people]
        for name, value in [("status", "left"), ("version", 9), ("created_by", 1), ("user", 1), ("id", 5)]:
            with self.subTest(field=name):
                response = self.api.post(api_url("edit"), {"ids": ids, "values": {name: value}}, format="json")
                self.assertEqual(response.status_code, 400)
                self.assertEqual(response.json(), {name: ["Not a field a bulk edit can change."]})
        self.assertEqual({p.version for p in Person.objects.filter(organisation=self.org)}, {1})
        self.assertFalse(BulkJob.objects.exists())

    @override_settings(MERIDIAN_BULK_INLINE_ROWS=2)
    def test_a_large_selection_answers_202_and_the_job_to_poll(self) -> None:
        body = {"filter": {"organisation": str(self.org.pk)}, "values": {"job_title": "Agent"}}
        with self.captureOnCommitCallbacks(execute=True):
            response = self.api.post(api_url("edit"), body, format="json")
        self.assertEqual(response.status_code, 202, response.content)
        self.assertEqual(response.json()["status"], "queued")
        polled = self.api.get(response["Location"]).json()
        self.assertEqual((polled["status"], polled["changed"], polled["total"]), ("done", 3, 3))

    def test_a_role_without_the_action_gets_403_and_nothing_runs(self) -> None:
        auditor = api_client(self.p.users[Role.AUDITOR])  # reads everything, changes nothing
        body = {"ids": [p.pk for p in self.people], "reason": "x", "values": {"job_title": "Agent"}}
        for name in ("edit", "delete", "suspend"):
            with self.subTest(action=name):
                response = auditor.post(api_url(name), body, format="json")
                self.assertEqual(response.status_code, 403, response.content)
        self.assertFalse(BulkJob.objects.exists())

    def test_a_customer_selects_only_what_they_may_see(self) -> None:
        customer = api_client(self.p.customer_a)
        own = PersonFactory(organisation=self.p.org_a)
        body = {"ids": [own.pk, self.people[0].pk]}
        response = customer.post(api_url("follow"), body, format="json")
        self.assertEqual(response.status_code, 200, response.content)
        result: dict[str, Any] = response.json()
        self.assertEqual(result["changed"], 1)
        self.assertEqual(
            result["refused"],
            [{"id": self.people[0].pk, "label": f"#{self.people[0].pk}", "field": "", "message": bulk.NOT_FOUND}],
        )
