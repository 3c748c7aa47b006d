"""The REST API as an integrator meets it: tokens, OpenAPI, pagination, filtering, ordering, search, errors."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from typing import Any
from unittest import mock

from django.db import connection, connections
from django.http import HttpRequest, HttpResponse
from django.test import TestCase, TransactionTestCase, override_settings
from django.urls import path as url_path
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

import meridian.urls
from meridian.core import registry, services
from meridian.core.choices import Role
from meridian.core.factories import OrganisationFactory, PersonFactory
from meridian.core.filtersets import filterset_for
from meridian.core.models import AuditEvent, Calendar, IdempotencyKey, Organisation, Person
from meridian.core.testing import PrincipalsTestCase, api_client, make_principals, token_for
from meridian.core.tests.test_services import run_in_threads


class ApiTests(PrincipalsTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.agent = cls.p.users[Role.SERVICE_DESK_AGENT]
        for i in range(7):
            PersonFactory(organisation=cls.p.org_a, last_name=f"Zeta{i}", job_title="Clerk" if i % 2 else "Manager")

    def setUp(self) -> None:
        self.api = APIClient()
        self.api.credentials(HTTP_AUTHORIZATION=f"Token {token_for(self.agent)}")

    def test_openapi_schema_describes_every_type_and_action(self) -> None:
        response = self.api.get(reverse("schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
        self.assertEqual(response.status_code, 200)
        paths = response.json()["paths"]
        for path in (
            "/api/v1/core/organisations/",
            "/api/v1/core/people/{id}/",
            "/api/v1/core/people/{id}/suspend/",
            "/api/v1/core/people/{id}/history/",
            "/api/v1/search/",
            "/api/v1/me/",
        ):
            self.assertIn(path, paths)

    def test_interactive_docs_are_served_locally(self) -> None:
        self.client.force_login(self.agent)
        page = self.client.get(reverse("api-docs"))
        self.assertEqual(page.status_code, 200)
        self.assertNotIn(b"cdn.", page.content)
        self.assertNotIn(b"unpkg", page.content)

    def test_pagination_filtering_ordering(self) -> None:
        url = reverse("api:core-people-list")
        page = self.api.get(url, {"page_size": 3, "organisation": self.p.org_a.pk, "ordering": "-last_name"}).json()
        self.assertEqual(page["count"], 8)  # seven plus the customer user of org A
        self.assertEqual(len(page["results"]), 3)
        self.assertEqual(page["results"][0]["last_name"], "Zeta6")
        self.assertIsNotNone(page["next"])
        managers = self.api.get(url, {"q": "Manager", "organisation": self.p.org_a.pk}).json()
        self.assertEqual(managers["count"], 4)
        bad = self.api.get(url, {"organisation": "not-a-number"})
        self.assertEqual(bad.status_code, 400)
        self.assertIn("organisation", bad.json())

    def test_field_level_errors(self) -> None:
        response = self.api.post(
            reverse("api:core-people-list"), {"first_name": "", "email": "not-an-email"}, format="json"
        )
        self.assertEqual(response.status_code, 400)
        body = response.json()
        self.assertEqual(set(body), {"first_name", "last_name", "email", "organisation"})

    def test_search_and_me(self) -> None:
        OrganisationFactory(name="Searchable Shipping BV")
        hits = self.api.get(reverse("api:search"), {"q": "searchable ship"}).json()
        self.assertEqual([h["display"] for h in hits], ["Searchable Shipping BV"])
        me = self.api.get(reverse("api:me")).json()
        self.assertEqual(me["roles"], ["service_desk_agent"])

    def test_if_match_header_works_as_the_version(self) -> None:
        person = PersonFactory(organisation=self.p.org_a)
        url = reverse("api:core-people-detail", args=[person.pk])
        etag = self.api.get(url)["ETag"]
        self.assertEqual(etag, '"1"')
        ok = self.api.patch(url, {"job_title": "Lead"}, format="json", HTTP_IF_MATCH=etag)
        self.assertEqual(ok.status_code, 200)
        stale = self.api.patch(url, {"job_title": "Other"}, format="json", HTTP_IF_MATCH=etag)
        self.assertEqual(stale.status_code, 409)
        self.assertEqual(stale.json()["current"]["job_title"], "Lead")


class ApiContractTests(PrincipalsTestCase):
    """What integrators rely on: read-only fields refused by name, ETags that match, 409s that say why."""

    def setUp(self) -> None:
        self.api = APIClient()
        self.api.force_authenticate(self.admin)

    def test_read_only_and_unknown_fields_are_refused_by_name(self) -> None:
        person = PersonFactory(organisation=self.p.org_a)
        url = reverse("api:core-people-detail", args=[person.pk])
        refused = self.api.patch(
            url, {"status": "left", "user": self.admin.pk, "colour": "red", "version": 1}, format="json"
        )
        self.assertEqual(refused.status_code, 400)
        body = refused.json()
        self.assertEqual(body["status"], ["The status changes only through its actions."])
        self.assertEqual(body["colour"], ["Unknown field."])
        self.assertIn("user", body)
        person.refresh_from_db()
        self.assertEqual((person.status, person.version), ("active", 1))
        # what GET returned may be sent back unchanged with one edit
        representation = self.api.get(url).json()
        representation["job_title"] = "Dispatcher"
        ok = self.api.put(url, representation, format="json")
        self.assertEqual(ok.status_code, 200, ok.content)
        self.assertEqual(ok.json()["job_title"], "Dispatcher")

    def test_etag_follows_the_version_after_writes(self) -> None:
        created = self.api.post(
            reverse("api:core-organisations-list"), {"name": "Etag BV", "kind": "customer"}, format="json"
        )
        self.assertEqual(created["ETag"], '"1"')
        url = reverse("api:core-organisations-detail", args=[created.json()["id"]])
        updated = self.api.patch(url, {"phone": "1"}, format="json", HTTP_IF_MATCH='"1"')
        self.assertEqual(updated["ETag"], '"2"')
        self.assertEqual(updated.json()["version"], 2)
        self.assertNotIn("Location", created)  # no page address passed off as the API resource

    def test_lifecycle_actions_honour_if_match(self) -> None:
        person = PersonFactory(organisation=self.p.internal)
        url = reverse("api:core-people-detail", args=[person.pk])
        stale = self.api.post(url + "suspend/", {"reason": "x"}, format="json", HTTP_IF_MATCH='"7"')
        self.assertEqual(stale.status_code, 409)
        ok = self.api.post(url + "suspend/", {"reason": "x"}, format="json", HTTP_IF_MATCH='"1"')
        self.assertEqual(ok.status_code, 200)
        self.assertEqual(ok["ETag"], '"2"')

    def test_calendar_hours_are_validated_through_the_api(self) -> None:
        url = reverse("api:core-calendars-list")
        for hours in ({"9": [["25:00", "banana"]]}, "Mon-Fri 09:00-17:00"):
            response = self.api.post(
                url, {"name": f"Bad {hours}", "time_zone": "UTC", "working_hours": hours}, format="json"
            )
            with self.subTest(hours=hours):
                self.assertEqual(response.status_code, 400)
                self.assertIn("working_hours", response.json())
        good = self.api.post(
            url, {"name": "Good", "time_zone": "UTC", "working_hours": {"0": [["09:00", "17:00"]]}}, format="json"
        )
        self.assertEqual(good.status_code, 201, good.content)

    def test_a_person_with_a_login_is_not_deleted_but_leaves(self) -> None:
        from meridian.core.factories import UserFactory

        person = PersonFactory(organisation=self.p.internal, user=UserFactory())
        response = self.api.delete(reverse("api:core-people-detail", args=[person.pk]), HTTP_IF_MATCH='"1"')
        self.assertEqual(response.status_code, 409)
        self.assertIn("Mark as left", response.json()["detail"])
        in_use = OrganisationFactory()
        PersonFactory(organisation=in_use)
        response = self.api.delete(reverse("api:core-organisations-detail", args=[in_use.pk]), HTTP_IF_MATCH='"1"')
        self.assertEqual(response.status_code, 409)
        self.assertIn("still referred to by people", response.json()["detail"])

    def test_a_login_follows_the_persons_email(self) -> None:
        from meridian.core.factories import UserFactory

        person = PersonFactory(organisation=self.p.internal, user=UserFactory(email="old@provider.example"))
        url = reverse("api:core-people-detail", args=[person.pk])
        self.api.patch(url, {"email": "new@provider.example", "version": 1}, format="json")
        person.user.refresh_from_db()
        self.assertEqual(person.user.email, "new@provider.example")

    def test_filter_choices_never_reveal_another_organisation(self) -> None:
        customer = APIClient()
        customer.force_authenticate(self.p.customer_a)
        url = reverse("api:core-people-list")
        other = customer.get(url, {"organisation": self.p.org_b.pk})
        unknown = customer.get(url, {"organisation": 999999})
        self.assertEqual((other.status_code, other.json()), (unknown.status_code, unknown.json()))
        self.client.force_login(self.p.customer_a)
        page = self.client.get("/core/people/")
        self.assertNotContains(page, self.p.org_b.name)
        self.assertContains(page, self.p.org_a.name)


class ExportTests(TestCase):
    def test_export_is_plain_text_in_the_shown_order(self) -> None:
        import csv
        import io

        p = make_principals()
        for name in ("Anker", "Zwaan", "Merel"):
            PersonFactory(organisation=p.org_a, last_name=name, first_name="T")
        self.client.force_login(p.users[Role.AUDITOR])
        body = self.client.get(f"/core/people/?organisation={p.org_a.pk}&sort=-last_name&export=csv").content
        rows = list(csv.reader(io.StringIO(body.decode())))
        self.assertEqual(rows[0][0], "Last name")
        self.assertEqual([r[0] for r in rows[1:4]], ["Zwaan", "Merel", "Customer-A"])
        self.assertNotIn("<span", body.decode())
        self.assertIn("Active", body.decode())

    def test_a_nonsense_filter_matches_nothing_and_says_why(self) -> None:
        p = make_principals()
        self.client.force_login(p.users[Role.AUDITOR])
        page = self.client.get("/core/people/?status=bogus")
        self.assertEqual(page.status_code, 400)
        self.assertEqual(page.context["table"].paginator.count, 0)
        self.assertTrue(page.context["filterset"].errors)

    def test_only_administrators_are_offered_to_give_a_login(self) -> None:
        p = make_principals()
        person = PersonFactory(organisation=p.internal)
        url = f"/core/people/{person.pk}/actions/grant-login/"
        self.client.force_login(p.users[Role.SERVICE_DESK_AGENT])
        self.assertNotContains(self.client.get(person.get_absolute_url()), url)
        self.assertNotContains(self.client.get(person.get_absolute_url() + "?tab=login"), url)
        self.assertEqual(self.client.get(url).status_code, 403)
        self.client.force_login(p.users[Role.ADMINISTRATOR])
        self.assertContains(self.client.get(person.get_absolute_url()), url)
        self.assertContains(self.client.get(person.get_absolute_url() + "?tab=login"), url)


class StaleRepresentationTests(TestCase):
    def test_a_stale_whole_record_put_is_a_409_not_a_field_complaint(self) -> None:
        p = make_principals()
        api = APIClient()
        api.force_authenticate(p.users[Role.ADMINISTRATOR])
        person = PersonFactory(organisation=p.org_a)
        url = reverse("api:core-people-detail", args=[person.pk])
        read = api.get(url).json()
        api.patch(url, {"job_title": "First", "version": 1}, format="json")
        read["job_title"] = "Second"
        response = api.put(url, read, format="json")
        self.assertEqual(response.status_code, 409)
        self.assertEqual(response.json()["current"]["job_title"], "First")

    def test_left_people_get_no_login(self) -> None:
        from django.core.exceptions import ValidationError

        from meridian.core import services

        p = make_principals()
        person = PersonFactory(organisation=p.internal, status="left")
        with self.assertRaises(ValidationError):
            services.grant_login(
                person, username="ghost", roles=[Role.RESOLVER], actor=p.users[Role.ADMINISTRATOR], expected_version=1
            )
        self.client.force_login(p.users[Role.ADMINISTRATOR])
        self.assertNotContains(self.client.get(person.get_absolute_url()), "grant-login")
        self.assertEqual(self.client.get(f"/core/people/{person.pk}/actions/grant-login/").status_code, 409)


class SchemaErrorResponsesTests(TestCase):
    def test_operations_document_their_errors(self) -> None:
        p = make_principals()
        api = APIClient()
        api.force_authenticate(p.users[Role.AUDITOR])
        paths = api.get(reverse("schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json").json()["paths"]
        patch = paths["/api/v1/core/people/{id}/"]["patch"]["responses"]
        self.assertTrue({"200", "400", "401", "403", "404", "409"} <= set(patch))
        action = paths["/api/v1/core/people/{id}/suspend/"]["post"]["responses"]
        self.assertIn("409", action)
        listing = paths["/api/v1/core/people/"]["get"]["responses"]
        self.assertNotIn("409", listing)


class AccountPagesTests(PrincipalsTestCase):
    """The account pages through the browser's path: preferences and giving a login."""

    def test_preferences_page_saves_time_zone_and_language(self) -> None:
        user = self.p.users[Role.RESOLVER]
        self.client.force_login(user)
        response = self.client.post(reverse("preferences"), {"time_zone": "Europe/Berlin", "language": "de"})
        self.assertRedirects(response, reverse("preferences"), fetch_redirect_response=False)
        user.refresh_from_db()
        self.assertEqual((user.time_zone, user.language), ("Europe/Berlin", "de"))
        bad = self.client.post(reverse("preferences"), {"time_zone": "Mars/Olympus", "language": "de"})
        self.assertEqual(bad.status_code, 200)
        self.assertIn("time_zone", bad.context["form"].errors)
        user.refresh_from_db()
        self.assertEqual(user.time_zone, "Europe/Berlin")

    def test_an_administrator_gives_a_login_through_the_page(self) -> None:
        person = PersonFactory(organisation=self.p.internal, email="kim@provider.example")
        self.client.force_login(self.admin)
        url = f"/core/people/{person.pk}/actions/grant-login/"
        self.assertEqual(self.client.get(url).context["form"]["username"].value(), "kim")  # from the email
        refused = self.client.post(url, {"username": "kim", "roles": ["nonsense"], "version": 1})
        self.assertEqual(refused.status_code, 400)
        self.assertIn("roles", refused.context["form"].errors)
        done = self.client.post(url, {"username": "kim", "roles": [Role.RESOLVER, Role.CHANGE_MANAGER], "version": 1})
        self.assertRedirects(done, person.get_absolute_url(), fetch_redirect_response=False)
        person.refresh_from_db()
        self.assertEqual(person.user.role_labels, ["Change manager", "Resolver"])
        self.assertEqual(self.client.get(url).status_code, 409)  # a login already: nothing more to give


class VersionRequiredTests(PrincipalsTestCase):
    """Every API write names the version it was based on, well formed: a bad one is a 400 on `version` (never a
    409, never ignored), a stale one a 409 with the current state, and a refused write changes nothing."""

    BAD_VERSIONS = ("abc", -1, 0, 1.5, "1.5", "1", True, None)
    BAD_IF_MATCH = ('"abc"', "*", '"-1"', '"1.5"', "", '"1", "2"')

    def setUp(self) -> None:
        self.api = api_client(self.admin)
        self.person = PersonFactory(organisation=self.p.internal)
        self.url = reverse("api:core-people-detail", args=[self.person.pk])

    def assert_unchanged(self) -> None:
        self.person.refresh_from_db()
        self.assertEqual((self.person.version, self.person.status, self.person.job_title), (1, "active", ""))
        self.assertFalse(AuditEvent.objects.filter(record_type="core.person", record_id=str(self.person.pk)).exists())

    def test_a_missing_version_is_a_400_that_says_what_to_send(self) -> None:
        for method, url, body in (
            ("patch", self.url, {"job_title": "Lead"}),
            ("put", self.url, {"first_name": "A", "last_name": "B", "organisation": self.p.internal.pk}),
            ("delete", self.url, None),
            ("post", self.url + "suspend/", {"reason": "x"}),
        ):
            with self.subTest(method=method, url=url):
                response = getattr(self.api, method)(url, body, format="json")
                self.assertEqual(response.status_code, 400, response.content)
                self.assertEqual(list(response.json()), ["version"])
                self.assertIn("If-Match", response.json()["version"][0])
        self.assert_unchanged()

    def test_a_malformed_version_is_a_400_on_version_never_a_409(self) -> None:
        for version in self.BAD_VERSIONS:
            for method, url, body in (
                ("patch", self.url, {"job_title": "Lead"}),
                ("delete", self.url, {}),
                ("post", self.url + "suspend/", {"reason": "x"}),
            ):
                with self.subTest(method=method, url=url, version=version):
                    response = getattr(self.api, method)(url, {**body, "version": version}, format="json")
                    self.assertEqual(response.status_code, 400, response.content)
                    self.assertEqual(list(response.json()), ["version"])
        for header in self.BAD_IF_MATCH:
            with self.subTest(if_match=header):
                response = self.api.patch(self.url, {"job_title": "Lead"}, format="json", HTTP_IF_MATCH=header)
                self.assertEqual(response.status_code, 400, response.content)
                self.assertEqual(list(response.json()), ["version"])
        self.assert_unchanged()

    def test_a_null_version_on_an_update_is_a_400_not_a_409(self) -> None:
        response = self.api.patch(self.url, {"job_title": "Lead", "version": None}, format="json")
        self.assertEqual(response.status_code, 400)
        self.assertIn("If-Match", response.json()["version"][0])
        self.assert_unchanged()

    def test_stale_deletes_and_actions_are_409_with_the_current_state(self) -> None:
        self.api.patch(self.url, {"job_title": "Lead", "version": 1}, format="json")
        for method, url in (("delete", self.url), ("post", self.url + "suspend/")):
            with self.subTest(method=method):
                response = getattr(self.api, method)(url, {"reason": "x", "version": 1}, format="json")
                self.assertEqual(response.status_code, 409, response.content)
                self.assertEqual(response.json()["current"]["version"], 2)
        self.person.refresh_from_db()
        self.assertEqual((self.person.version, self.person.status), (2, "active"))
        done = self.api.delete(self.url, HTTP_IF_MATCH='"2"')
        self.assertEqual(done.status_code, 204)


class StrictInputTests(PrincipalsTestCase):
    """The API takes input only in its declared JSON type, as JSON: nothing is coerced or defaulted silently."""

    def setUp(self) -> None:
        self.api = api_client(self.admin)
        self.list_url = reverse("api:core-organisations-list")

    def test_an_id_must_be_a_json_integer(self) -> None:
        parent = OrganisationFactory(name="Parent")
        before = Organisation.objects.count()
        for value in (parent.pk + 0.5, float(parent.pk), str(parent.pk), True):
            with self.subTest(parent=value):
                response = self.api.post(self.list_url, {"name": "Child", "parent": value}, format="json")
                self.assertEqual(response.status_code, 400, response.content)
                self.assertEqual(list(response.json()), ["parent"])
        self.assertEqual(Organisation.objects.count(), before)
        ok = self.api.post(self.list_url, {"name": "Child", "parent": parent.pk}, format="json")
        self.assertEqual((ok.status_code, ok.json()["parent"]), (201, parent.pk))

    def test_text_booleans_and_lists_take_only_their_own_type(self) -> None:
        team = reverse("api:core-teams-list")
        member = PersonFactory(organisation=self.p.internal)
        cases = [
            (self.list_url, {"name": 7}, "name"),
            (self.list_url, {"name": "Acme", "phone": 123456}, "phone"),
            (self.list_url, {"name": "Acme", "active": "false"}, "active"),
            (self.list_url, {"name": "Acme", "active": 0}, "active"),
            (self.list_url, {"name": "Acme", "kind": ["customer"]}, "kind"),
            (
                team,
                {"name": "T", "organisation": self.p.internal.pk, "memberships": {str(member.pk): 1}},
                "memberships",
            ),
            (
                team,
                {"name": "T", "organisation": self.p.internal.pk, "memberships": [{"person": str(member.pk)}]},
                "memberships",
            ),
            (team, {"name": "T", "organisation": self.p.internal.pk, "memberships": [member.pk]}, "memberships"),
        ]
        for url, body, field in cases:
            with self.subTest(body=body):
                response = self.api.post(url, body, format="json")
                self.assertEqual(response.status_code, 400, response.content)
                self.assertEqual(list(response.json()), [field])
        self.assertFalse(Organisation.objects.filter(name="Acme").exists())

    def test_bodies_are_json_only_a_form_post_is_a_415_and_writes_nothing(self) -> None:
        for fmt in ("multipart", None):
            with self.subTest(format=fmt):
                if fmt is None:
                    response = self.api.post(
                        self.list_url, "name=Formed&kind=customer", content_type="application/x-www-form-urlencoded"
                    )
                else:
                    response = self.api.post(self.list_url, {"name": "Formed", "kind": "customer"}, format=fmt)
                self.assertEqual(response.status_code, 415)
                self.assertEqual(response["Content-Type"], "application/json")
                self.assertIn("Unsupported media type", response.json()["detail"])
        self.assertFalse(Organisation.objects.filter(name="Formed").exists())
        # the same as JSON, without `active`: active, as the field's default says
        created = self.api.post(self.list_url, {"name": "Formed", "kind": "customer"}, format="json")
        self.assertEqual((created.status_code, created.json()["active"]), (201, True))

    def test_version_on_a_create_is_refused_as_read_only(self) -> None:
        response = self.api.post(self.list_url, {"name": "Versioned", "version": 50}, format="json")
        self.assertEqual(response.status_code, 400)
        self.assertEqual(response.json(), {"version": ["This field is read-only."]})
        self.assertFalse(Organisation.objects.filter(name="Versioned").exists())

    def test_invalid_pagination_is_a_400_on_the_parameter(self) -> None:
        for name, value in [("page_size", v) for v in ("null", "abc", "0", "-1", "1.5", "")] + [
            ("page", v) for v in ("abc", "0", "-1", "1.5")
        ]:
            with self.subTest(name=name, value=value):
                response = self.api.get(self.list_url, {name: value})
                self.assertEqual(response.status_code, 400, response.content)
                self.assertEqual(list(response.json()), [name])
        self.assertEqual(len(self.api.get(self.list_url, {"page_size": 2}).json()["results"]), 2)
        capped = self.api.get(self.list_url, {"page_size": 5000})
        self.assertEqual(capped.status_code, 200)
        self.assertEqual(self.api.get(self.list_url, {"page": 99}).status_code, 404)


class IdempotencyKeyTests(PrincipalsTestCase):
    """A POST retried with the same Idempotency-Key gets the first answer and writes nothing more."""

    def setUp(self) -> None:
        self.api = api_client(self.admin)
        self.list_url = reverse("api:core-organisations-list")

    def post(self, body: dict[str, object], key: str, url: str | None = None, **extra: str) -> Any:
        return self.api.post(url or self.list_url, body, format="json", HTTP_IDEMPOTENCY_KEY=key, **extra)

    def test_a_retried_create_returns_the_first_answer_and_creates_once(self) -> None:
        first = self.post({"name": "Retried BV", "kind": "customer"}, "key-1")
        self.assertEqual(first.status_code, 201)
        events = AuditEvent.objects.count()
        again = self.post({"kind": "customer", "name": "Retried BV"}, "key-1")  # same body, other key order
        self.assertEqual(again.status_code, 201)
        self.assertEqual(again.content, first.content)
        self.assertEqual(again["ETag"], first["ETag"])
        self.assertEqual(again["Idempotent-Replayed"], "true")
        self.assertEqual(Organisation.objects.filter(name="Retried BV").count(), 1)
        self.assertEqual(AuditEvent.objects.count(), events)
        self.assertEqual(IdempotencyKey.objects.get(key="key-1").user, self.admin)

    def test_the_same_key_for_another_request_is_a_422(self) -> None:
        self.post({"name": "First BV"}, "key-2")
        other_body = self.post({"name": "Second BV"}, "key-2")
        self.assertEqual(other_body.status_code, 422)
        self.assertIn("Idempotency-Key", other_body.json()["detail"])
        other_path = self.post({"name": "First BV"}, "key-2", reverse("api:core-calendars-list"))
        self.assertEqual(other_path.status_code, 422)
        self.assertFalse(Organisation.objects.filter(name="Second BV").exists())

    def test_keys_are_per_user(self) -> None:
        self.post({"name": "Admin's BV"}, "shared")
        other = api_client(self.p.users[Role.SERVICE_DESK_AGENT]).post(
            reverse("api:core-people-list"),
            {"first_name": "A", "last_name": "B", "organisation": self.p.org_a.pk},
            format="json",
            HTTP_IDEMPOTENCY_KEY="shared",
        )
        self.assertEqual(other.status_code, 201)

    def test_a_refused_request_keeps_no_key_and_can_be_corrected(self) -> None:
        refused = self.post({"name": "Bad BV", "kind": "partner"}, "key-3")
        self.assertEqual(refused.status_code, 400)
        self.assertFalse(IdempotencyKey.objects.filter(key="key-3").exists())
        corrected = self.post({"name": "Bad BV", "kind": "supplier"}, "key-3")
        self.assertEqual(corrected.status_code, 201)

    def test_a_retried_action_is_answered_once(self) -> None:
        person = PersonFactory(organisation=self.p.internal)
        url = reverse("api:core-people-detail", args=[person.pk]) + "suspend/"
        first = self.post({"reason": "laptop lost", "version": 1}, "act-1", url)
        self.assertEqual((first.status_code, first["ETag"]), (200, '"2"'))
        again = self.post({"reason": "laptop lost", "version": 1}, "act-1", url)  # stale now, yet the first answer
        self.assertEqual((again.status_code, again.content, again["ETag"]), (200, first.content, '"2"'))
        self.assertEqual(AuditEvent.objects.filter(record_id=str(person.pk), action="transition").count(), 1)
        other_if_match = self.post({"reason": "laptop lost"}, "act-1", url, HTTP_IF_MATCH='"1"')
        self.assertEqual(other_if_match.status_code, 422)

    def test_a_malformed_key_is_a_400_and_writes_nothing(self) -> None:
        for key in ("", "x" * 256, "caf\u00e9", "tab\there"):
            with self.subTest(key=key):
                response = self.post({"name": "Keyed BV"}, key)
                self.assertEqual(response.status_code, 400)
                self.assertEqual(list(response.json()), ["Idempotency-Key"])
        self.assertFalse(Organisation.objects.filter(name="Keyed BV").exists())

    def test_the_key_is_written_in_the_transaction_of_the_write(self) -> None:
        """A failure after the record is written but before commit leaves neither the record nor the key."""
        with (
            mock.patch("meridian.core.api.idempotency.keep", side_effect=RuntimeError("server killed")),
            self.assertRaises(RuntimeError),
        ):
            self.post({"name": "Half BV"}, "crash")
        self.assertFalse(Organisation.objects.filter(name="Half BV").exists())
        self.assertFalse(IdempotencyKey.objects.filter(key="crash").exists())
        self.assertEqual(self.post({"name": "Half BV"}, "crash").status_code, 201)

    def test_keys_older_than_a_day_are_purged(self) -> None:
        from meridian.core.tasks import PERIODIC_TASKS, purge_idempotency_keys

        self.post({"name": "Old BV"}, "old")
        self.post({"name": "New BV"}, "new")
        IdempotencyKey.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))
        IdempotencyKey.objects.filter(key="new").update(created_at=timezone.now() - timedelta(hours=23))
        self.assertEqual(purge_idempotency_keys.call_local(), 1)
        self.assertEqual(list(IdempotencyKey.objects.values_list("key", flat=True)), ["new"])
        self.assertIn("core.purge_idempotency_keys", PERIODIC_TASKS)

    def test_the_schema_documents_the_headers(self) -> None:
        paths = self.api.get(reverse("schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json").json()["paths"]
        for path, method in (("/api/v1/core/organisations/", "post"), ("/api/v1/core/people/{id}/suspend/", "post")):
            names = [p["name"] for p in paths[path][method]["parameters"] if p["in"] == "header"]
            self.assertIn("Idempotency-Key", names)
            self.assertIn("422", paths[path][method]["responses"])
        for method in ("put", "patch", "delete"):
            names = [p["name"] for p in paths["/api/v1/core/people/{id}/"][method]["parameters"] if p["in"] == "header"]
            self.assertEqual(names, ["If-Match"])
        self.assertNotIn("Idempotency-Key", str(paths["/api/v1/core/people/"]["get"]))


class IdempotencyConcurrencyTests(TransactionTestCase):
    """Two requests with one key at the same time, on real connections: one writes, the other waits and replays."""

    def test_concurrent_requests_with_one_key_write_once(self) -> None:
        admin = make_principals().users[Role.ADMINISTRATOR]
        url = reverse("api:core-organisations-list")
        first_in_write, second_started = threading.Event(), threading.Event()
        real_create = services.create_record
        calls: list[int] = []

        def slow_create(*args: Any, **kwargs: Any) -> Any:
            calls.append(1)
            if len(calls) == 1:  # the first writer holds its transaction open until the second is knocking
                first_in_write.set()
                second_started.wait(timeout=30)
                wait_until_blocked()
            return real_create(*args, **kwargs)

        responses: dict[int, Any] = {}

        def request(index: int) -> None:
            if index == 1:
                first_in_write.wait(timeout=30)
                second_started.set()
            responses[index] = api_client(admin).post(
                url, {"name": "Raced BV"}, format="json", HTTP_IDEMPOTENCY_KEY="race"
            )

        with mock.patch.object(services, "create_record", slow_create):
            errors = run_in_threads(2, request)
        self.assertEqual(errors, [])
        self.assertEqual([responses[0].status_code, responses[1].status_code], [201, 201])
        self.assertEqual(responses[0].content, responses[1].content)
        self.assertEqual(Organisation.objects.filter(name="Raced BV").count(), 1)
        self.assertEqual(IdempotencyKey.objects.filter(key="race").count(), 1)
        self.assertEqual(len(calls), 1, "the second request must not write")


def wait_until_blocked() -> None:
    """Give the second request time to reach the database and block on the first's transaction: on PostgreSQL,
    until another backend waits on a lock; on SQLite (no such view) a moment."""
    if connection.vendor != "postgresql":
        time.sleep(0.5)
        return
    with connections["default"].cursor() as cursor:
        for _ in range(300):
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.05)


def _failing_view(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug")


class _UrlsWithAFailingApiView:
    """The real URLs plus an API address whose view fails, for the 500 case."""

    urlpatterns = [url_path("api/v1/failing/", _failing_view), *meridian.urls.urlpatterns]


class ApiErrorsAreJsonTests(PrincipalsTestCase):
    """Every error answered under /api/ is JSON, whatever refused the request: DRF, Django's URL resolver, the
    body limits, the schema view, a server error."""

    def setUp(self) -> None:
        self.api = APIClient()
        self.api.force_authenticate(self.admin)
        self.url = reverse("api:core-organisations-list")

    def assert_json_error(self, response: Any, status: int, detail: str) -> None:
        self.assertEqual(response.status_code, status)
        self.assertEqual(response["Content-Type"], "application/json")
        self.assertEqual(response.json(), {"detail": detail})

    def test_a_body_nested_too_deeply_is_refused_before_it_is_decoded(self) -> None:
        count = Organisation.objects.count()
        deep = "[" * 50_000 + "]" * 50_000
        response = self.api.post(self.url, deep, content_type="application/json")
        self.assert_json_error(response, 400, "JSON parse error - nested more than 32 levels deep.")
        # the limit counts structure, not brackets inside strings; 32 levels are decoded (and then judged)
        at_limit = {
            "name": 'Brackets "[[[' + "[" * 40 + '" BV',
            "kind": "customer",
            "description": json.loads("[" * 31 + "]" * 31),
        }
        response = self.api.post(self.url, json.dumps(at_limit), content_type="application/json")
        self.assertEqual(response.status_code, 400)
        self.assertEqual(list(response.json()), ["description"])
        at_limit["description"] = [at_limit["description"]]
        response = self.api.post(self.url, json.dumps(at_limit), content_type="application/json")
        self.assert_json_error(response, 400, "JSON parse error - nested more than 32 levels deep.")
        self.assertEqual(Organisation.objects.count(), count)

    def test_a_deeply_nested_json_field_sent_form_encoded_is_refused_unread(self) -> None:
        deep = "[" * 50_000 + "]" * 50_000
        response = self.api.post(
            reverse("api:core-calendars-list"), {"name": "Deep", "time_zone": "UTC", "working_hours": deep}
        )
        self.assertEqual(response.status_code, 415)
        self.assertEqual(response["Content-Type"], "application/json")
        self.assertFalse(Calendar.objects.filter(name="Deep").exists())

    def test_a_body_over_the_size_limit_is_a_413_before_it_is_read(self) -> None:
        big = json.dumps({"name": "Big", "kind": "customer", "description": "x" * 5_000_000})
        response = self.api.post(self.url, big, content_type="application/json")
        self.assert_json_error(response, 413, "The request body is too large: at most 1048576 bytes.")
        with override_settings(MERIDIAN_API_MAX_BODY=100):
            small = json.dumps({"name": "Small", "kind": "customer"})
            self.assertEqual(self.api.post(self.url, small, content_type="application/json").status_code, 201)
            response = self.api.post(self.url, small + " " * (101 - len(small)), content_type="application/json")
            self.assert_json_error(response, 413, "The request body is too large: at most 100 bytes.")
        self.assertFalse(Organisation.objects.filter(name="Big").exists())
        schema = self.api.get(reverse("schema"), {"format": "json"}).json()
        self.assertIn("413", schema["paths"]["/api/v1/core/organisations/"]["post"]["responses"])

    def test_unknown_routes_and_actions_are_json_404s(self) -> None:
        person = PersonFactory(organisation=self.p.org_a)
        self.assert_json_error(self.api.get("/api/v1/no-such-type/"), 404, "Not found.")
        self.assert_json_error(self.api.get("/api/v2/"), 404, "Not found.")
        response = self.api.post(f"/api/v1/core/people/{person.pk}/no-such-action/", {}, format="json")
        self.assert_json_error(response, 404, "Not found.")
        # pages keep their HTML error page
        page = self.client.get("/no-such-page/")
        self.assertEqual(page.status_code, 404)
        self.assertTrue(page["Content-Type"].startswith("text/html"))

    def test_the_schema_refuses_strangers_in_json(self) -> None:
        response = APIClient().get(reverse("schema"))
        self.assert_json_error(response, 401, "Authentication credentials were not provided.")
        stranger = APIClient()
        stranger.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
        self.assert_json_error(stranger.get(reverse("schema") + "?format=json"), 401, "This API token is not valid.")
        self.assertTrue(self.api.get(reverse("schema"))["Content-Type"].startswith("application/vnd.oai.openapi"))

    def test_a_wrong_method_is_a_json_405(self) -> None:
        person = PersonFactory(organisation=self.p.internal)
        self.assert_json_error(self.api.delete(self.url), 405, 'Method "DELETE" not allowed.')
        response = self.api.get(reverse("api:core-people-suspend", args=[person.pk]))
        self.assert_json_error(response, 405, 'Method "GET" not allowed.')
        # the docs page is HTML, but under /api/: its refusal is JSON too
        self.client.force_login(self.admin)
        self.assert_json_error(self.client.post(reverse("api-docs")), 405, 'Method "POST" not allowed.')

    @override_settings(ROOT_URLCONF=_UrlsWithAFailingApiView)
    def test_a_server_error_is_a_json_500(self) -> None:
        api = APIClient(raise_request_exception=False)
        api.force_authenticate(self.admin)
        self.assert_json_error(api.get("/api/v1/failing/"), 500, "Server error.")

    def test_a_session_call_without_the_csrf_token_is_a_json_403(self) -> None:
        browser = APIClient(enforce_csrf_checks=True)
        browser.force_login(self.admin)
        response = browser.post(self.url, {"name": "No token", "kind": "customer"}, format="json")
        self.assert_json_error(response, 403, "CSRF Failed: CSRF cookie not set.")
        self.assertFalse(Organisation.objects.filter(name="No token").exists())
        # the docs page renders its own refusals as HTML; under /api/ they are JSON all the same
        self.assert_json_error(browser.post(reverse("api-docs")), 403, "CSRF Failed: CSRF cookie not set.")
        # pages keep Django's page
        page = browser.post(reverse("preferences"), {"time_zone": "UTC", "language": "en"})
        self.assertEqual(page.status_code, 403)
        self.assertTrue(page["Content-Type"].startswith("text/html"))

    def test_the_api_answers_json_only(self) -> None:
        """No browsable HTML API (its pages break the CSP): a browser gets JSON, `?format=api` is not a format."""
        browser_accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        response = self.api.get(self.url, HTTP_ACCEPT=browser_accept)
        self.assertEqual((response.status_code, response["Content-Type"]), (200, "application/json"))
        self.assert_json_error(self.api.get(self.url, {"format": "api"}), 404, "Not found.")


class RequestsLeaveSharedStateAloneTests(PrincipalsTestCase):
    """Nothing a request does (schema generation included) changes a filter set class, its filters or their
    cached form fields: the next request, whoever makes it, sees the lists as before."""

    any_organisation = '<option value="" selected>Any</option>'

    def class_state(self) -> dict[str, Any]:
        base_filters = filterset_for(registry.get(Person)).base_filters
        return {name: (dict(flt.extra), sorted(vars(flt))) for name, flt in base_filters.items()}

    def test_loading_the_schema_leaves_list_filters_as_they_were(self) -> None:
        before = self.class_state()
        self.client.force_login(self.admin)
        self.assertContains(self.client.get("/core/people/"), self.any_organisation, html=True)
        self.assertEqual(self.client.get(reverse("schema")).status_code, 200)
        page = self.client.get("/core/people/")
        self.assertContains(page, self.any_organisation, html=True)
        self.assertNotContains(page, "---------")
        self.assertEqual(self.class_state(), before)
        # and a customer's filter choices are still only their own organisation, on the page and in the API
        self.client.force_login(self.p.customer_a)
        page = self.client.get("/core/people/")
        self.assertContains(page, self.p.org_a.name)
        self.assertNotContains(page, self.p.org_b.name)
        api = APIClient()
        api.force_authenticate(self.p.customer_a)
        response = api.get(reverse("api:core-people-list"), {"organisation": self.p.org_b.pk})
        self.assertEqual(response.status_code, 400)
        self.assertIn("organisation", response.json())

    def test_filter_choices_restricted_for_one_user_do_not_reach_the_next(self) -> None:
        before = self.class_state()
        self.client.force_login(self.p.customer_a)
        self.assertNotContains(self.client.get("/core/people/"), self.p.org_b.name)
        self.client.force_login(self.admin)
        page = self.client.get("/core/people/")
        self.assertContains(page, self.p.org_a.name)
        self.assertContains(page, self.p.org_b.name)
        self.client.force_login(self.p.customer_b)
        page = self.client.get("/core/people/")
        self.assertContains(page, self.p.org_b.name)
        self.assertNotContains(page, self.p.org_a.name)
        self.assertEqual(self.class_state(), before)
