"""The REST API as an integrator meets it: tokens, OpenAPI, pagination, filtering, ordering, search, errors."""

from __future__ import annotations

from django.test import TestCase
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from meridian.core.choices import Role
from meridian.core.factories import OrganisationFactory, PersonFactory
from meridian.core.testing import make_principals


class ApiTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.p = make_principals()
        cls.agent = cls.p.users[Role.SERVICE_DESK_AGENT]
        for i in range(7):
            PersonFactory(organisation=cls.p.org_a, last_name=f"Zeta{i}", job_title="Clerk" if i % 2 else "Manager")

    def setUp(self) -> None:
        self.api = APIClient()
        self.api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=self.agent).key}")

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
