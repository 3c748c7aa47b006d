"""API tokens (`core.api_tokens`): a copy of the database holds nothing that authenticates; a read-only token reads
and cannot write; an expired, revoked or suspended person's token is refused with a message saying why; the last
use is noted at most once a minute; only the owner or an administrator revokes a token; bad input on the page and
the API is refused field by field and writes nothing; DRF's plaintext tokens are adopted on upgrade."""

from __future__ import annotations

import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from meridian.core import api_tokens, services
from meridian.core.choices import Role
from meridian.core.factories import PersonFactory, UserFactory
from meridian.core.models import ApiToken, AuditEvent, Person, User
from meridian.core.testing import PrincipalsTestCase

ME = "/api/v1/me/"


def bearer(secret: str, keyword: str = "Token") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{keyword} {secret}")
    return client


def tomorrow() -> datetime.date:
    return timezone.now().date() + datetime.timedelta(days=2)  # after today in any time zone


class TokenAuthenticationTests(PrincipalsTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.agent = cls.p.users[Role.SERVICE_DESK_AGENT]

    def create(self, user: User | None = None, **kwargs: Any) -> tuple[ApiToken, str]:
        user = user or self.agent
        kwargs.setdefault("name", "nightly sync")
        return api_tokens.create_api_token(user, actor=user, **kwargs)

    def test_a_token_works_as_token_or_bearer_and_acts_as_its_owner(self) -> None:
        _, secret = self.create()
        for keyword in ("Token", "Bearer", "token"):
            response = bearer(secret, keyword).get(ME)
            self.assertEqual(response.status_code, 200, keyword)
            self.assertEqual(response.json()["username"], self.agent.username)

    def test_the_database_holds_nothing_that_authenticates(self) -> None:
        token, secret = self.create()
        row = ApiToken.objects.filter(pk=token.pk).values().get()
        stored = [str(value) for value in row.values() if value not in (None, "")]
        self.assertNotIn(secret, stored)
        self.assertEqual(row["digest"], api_tokens.digest_of(secret))
        self.assertTrue(secret.startswith(row["prefix"]))
        # the row's values (a copy of the database) tried as tokens: every one is refused
        for value in [*stored, row["prefix"] + "…"]:
            for keyword in ("Token", "Bearer"):
                response = bearer(value, keyword).get(ME)
                self.assertEqual(response.status_code, 401, f"{keyword} {value}")
        # the audit trail does not carry it either
        for event in AuditEvent.objects.all():
            self.assertNotIn(secret, str(event.changes))
        self.assertEqual(bearer(secret).get(ME).status_code, 200)  # the secret itself works

    def test_a_read_only_token_reads_and_cannot_write(self) -> None:
        admin = self.agent  # the least privileged role that may change a person
        person = PersonFactory(organisation=self.p.org_a, job_title="Clerk")
        _, read_only = self.create(admin, name="report", read_only=True)
        _, writer = self.create(admin, name="sync")
        url = reverse("api:core-people-detail", args=[person.pk])
        api = bearer(read_only)
        self.assertEqual(api.get(url).status_code, 200)
        self.assertEqual(api.head(url).status_code, 200)
        self.assertEqual(api.options(url).status_code, 200)
        before = AuditEvent.objects.count()
        writes = [
            api.post(reverse("api:core-people-list"), {"first_name": "A", "last_name": "B"}, format="json"),
            api.patch(url, {"job_title": "Lead"}, format="json", HTTP_IF_MATCH='"1"'),
            api.put(url, {"job_title": "Lead"}, format="json", HTTP_IF_MATCH='"1"'),
            api.delete(url, HTTP_IF_MATCH='"1"'),
            api.post(reverse("api:api_tokens"), {"name": "escalate"}, format="json"),
        ]
        for response in writes:
            self.assertEqual(response.status_code, 403, response.request["REQUEST_METHOD"])
            self.assertIn("read-only", response.json()["detail"])
        person.refresh_from_db()
        self.assertEqual((person.job_title, person.version), ("Clerk", 1))
        self.assertEqual(AuditEvent.objects.count(), before)
        self.assertEqual(ApiToken.objects.filter(user=admin).count(), 2)
        # the same write with a token that may write goes through: it was the scope that refused it
        ok = bearer(writer).patch(url, {"job_title": "Lead"}, format="json", HTTP_IF_MATCH='"1"')
        self.assertEqual(ok.status_code, 200)

    def test_an_expired_token_is_refused_and_says_so(self) -> None:
        token, secret = self.create(expires_on=tomorrow())
        self.assertEqual(bearer(secret).get(ME).status_code, 200)
        ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
        response = bearer(secret).get(ME)
        self.assertEqual(response.status_code, 401)
        self.assertIn("expired", response.json()["detail"])
        self.assertIn("Token", response["WWW-Authenticate"])

    def test_a_token_expires_when_its_day_begins_in_the_owners_time_zone(self) -> None:
        self.agent.time_zone = "Pacific/Auckland"
        self.agent.save(update_fields=["time_zone"])
        year = timezone.now().year + 2
        token, _ = self.create(expires_on=datetime.date(year, 1, 15))  # summer there: UTC+13
        self.assertEqual(token.expires_at, datetime.datetime(year, 1, 14, 11, 0, tzinfo=datetime.UTC))

    def test_a_revoked_token_is_refused_and_says_so(self) -> None:
        token, secret = self.create()
        api_tokens.revoke_api_token(token, actor=self.agent)
        response = bearer(secret).get(ME)
        self.assertEqual(response.status_code, 401)
        self.assertIn("revoked", response.json()["detail"])

    def test_a_suspended_persons_tokens_are_refused(self) -> None:
        user = UserFactory(username="leaver", roles=[Role.RESOLVER])
        person = PersonFactory(organisation=self.p.internal, user=user)
        _, secret = self.create(user)
        self.assertEqual(bearer(secret).get(ME).status_code, 200)
        services.transition(person, "suspend", actor=self.admin, reason="left", expected_version=person.version)
        response = bearer(secret).get(ME)
        self.assertEqual(response.status_code, 401)
        self.assertIn("revoked", response.json()["detail"])

    def test_a_disabled_logins_token_is_refused(self) -> None:
        _, secret = self.create()
        User.objects.filter(pk=self.agent.pk).update(is_active=False)
        response = bearer(secret).get(ME)
        self.assertEqual(response.status_code, 401)
        self.assertIn("disabled", response.json()["detail"])

    def test_last_use_is_noted_at_most_once_a_minute(self) -> None:
        token, secret = self.create()
        api = bearer(secret)
        self.assertIsNone(ApiToken.objects.get(pk=token.pk).last_used_at)

        def token_queries() -> tuple[int, int]:
            """(reads, writes) of the token table by one request."""
            with CaptureQueriesContext(connection) as queries:
                self.assertEqual(api.get(ME).status_code, 200)
            sql = [query["sql"] for query in queries.captured_queries if '"core_apitoken"' in query["sql"]]
            return len([q for q in sql if q.startswith("SELECT")]), len([q for q in sql if q.startswith("UPDATE")])

        self.assertEqual(token_queries(), (1, 1))  # the first use: one conditional UPDATE
        first = ApiToken.objects.get(pk=token.pk).last_used_at
        self.assertIsNotNone(first)
        self.assertEqual(token_queries(), (1, 0))  # within the minute: nothing written
        self.assertEqual(ApiToken.objects.get(pk=token.pk).last_used_at, first)
        # a minute later the next request notes it again, with one UPDATE
        earlier = first - datetime.timedelta(minutes=2)
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=earlier)
        self.assertEqual(token_queries(), (1, 1))
        self.assertGreater(ApiToken.objects.get(pk=token.pk).last_used_at, earlier)

    def test_a_customers_token_reads_only_their_organisations_records(self) -> None:
        customer = self.p.customer_b
        self.client.force_login(customer)
        page = self.client.post(reverse("api_tokens"), {"name": "portal sync"})
        self.assertEqual(page.status_code, 200)
        secret = page.context["secret"]
        api = bearer(secret)
        self.assertEqual(api.get(ME).json()["username"], customer.username)
        PersonFactory(organisation=self.p.org_a)
        PersonFactory(organisation=self.p.org_b)
        rows = api.get(reverse("api:core-people-list"), {"page_size": 100}).json()["results"]
        self.assertTrue(rows)
        self.assertEqual({row["organisation"] for row in rows}, {self.p.org_b.pk})
        other = PersonFactory(organisation=self.p.org_a)
        self.assertEqual(api.get(reverse("api:core-people-detail", args=[other.pk])).status_code, 404)
        # their own tokens only, through the API too
        token_for_agent = self.create(name="desk")[0]
        listed = api.get(reverse("api:api_tokens")).json()
        self.assertEqual([t["name"] for t in listed], ["portal sync"])
        self.assertEqual(api.delete(reverse("api:api_token", args=[token_for_agent.pk])).status_code, 404)
        self.assertIsNone(ApiToken.objects.get(pk=token_for_agent.pk).revoked_at)

    def test_a_malformed_header_is_refused(self) -> None:
        for header in ("Token", "Token a b", "Bearer " + "x" * 500):
            api = APIClient()
            api.credentials(HTTP_AUTHORIZATION=header)
            self.assertEqual(api.get(ME).status_code, 401, header)

    def test_the_openapi_schema_describes_the_token(self) -> None:
        _, secret = self.create()
        schema = bearer(secret).get(reverse("schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
        scheme = schema["components"]["securitySchemes"]["apiToken"]
        self.assertEqual((scheme["type"], scheme["name"]), ("apiKey", "Authorization"))
        self.assertIn("read-only", scheme["description"])
        self.assertIn("/api/v1/me/api-tokens/", schema["paths"])


class TokenManagementTests(PrincipalsTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.owner = cls.p.users[Role.RESOLVER]
        cls.other = cls.p.users[Role.SERVICE_DESK_AGENT]

    def test_the_page_creates_a_token_and_shows_its_secret_once(self) -> None:
        self.client.force_login(self.owner)
        empty = self.client.get(reverse("api_tokens"))
        self.assertContains(empty, "You have no API tokens")
        response = self.client.post(
            reverse("api_tokens"), {"name": " nightly sync ", "expires_on": tomorrow().isoformat(), "read_only": "on"}
        )
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response["Cache-Control"], "no-store")
        secret = response.context["secret"]
        self.assertContains(response, secret)
        token = ApiToken.objects.get(user=self.owner)
        self.assertEqual((token.name, token.read_only, token.prefix), ("nightly sync", True, secret[:12]))
        self.assertEqual(bearer(secret).get(ME).status_code, 200)
        again = self.client.get(reverse("api_tokens"))
        self.assertNotContains(again, secret)
        self.assertContains(again, token.prefix)
        self.assertContains(again, "read-only")
        # the person's history says so, with the name and prefix (never the secret)
        person = Person.objects.get(user=self.owner)
        event = AuditEvent.objects.filter(record_type="core.person", record_id=str(person.pk)).latest("id")
        self.assertEqual(event.reason, "API token created")
        self.assertIn(token.prefix, event.changes["api_token"]["after"])

    def test_bad_input_on_the_page_is_refused_field_by_field_and_writes_nothing(self) -> None:
        api_tokens.create_api_token(self.owner, name="backup", actor=self.owner)
        self.client.force_login(self.owner)
        yesterday = (timezone.now().date() - datetime.timedelta(days=2)).isoformat()
        cases = [
            ({"name": ""}, "name", "Give the token a name"),
            ({"name": "   "}, "name", "Give the token a name"),
            ({"name": "x" * 101}, "name", "at most 100"),
            ({"name": "BACKUP"}, "name", "already have a token with this name"),
            ({"name": "ok", "expires_on": yesterday}, "expires_on", "after today"),
            ({"name": "ok", "expires_on": "31/01/2027"}, "expires_on", "Enter a date"),
            ({"name": "ok", "expires_on": "9999-12-31"}, "expires_on", "within ten years"),
        ]
        events = AuditEvent.objects.count()
        for data, field, message in cases:
            response = self.client.post(reverse("api_tokens"), data)
            self.assertEqual(response.status_code, 400, data)
            errors = " ".join(response.context["form"].errors.get(field, []))
            self.assertIn(message.lower(), errors.lower(), data)
            self.assertContains(response, "No token was created", status_code=400)
            self.assertNotIn("secret", response.context)
        self.assertEqual(ApiToken.objects.filter(user=self.owner).count(), 1)
        self.assertEqual(AuditEvent.objects.count(), events)

    def test_the_api_creates_lists_and_revokes_with_field_errors_for_bad_input(self) -> None:
        from meridian.core.testing import token_for

        api = bearer(token_for(self.owner, name="admin script"))
        created = api.post(
            reverse("api:api_tokens"),
            {"name": "monitoring", "read_only": True, "expires_on": tomorrow().isoformat()},
            format="json",
        )
        self.assertEqual(created.status_code, 201)
        body = created.json()
        self.assertTrue(body["secret"].startswith(body["prefix"]))
        self.assertEqual(created["Cache-Control"], "no-store")
        self.assertEqual(bearer(body["secret"]).get(ME).status_code, 200)
        listed = api.get(reverse("api:api_tokens")).json()
        self.assertEqual(sorted(t["name"] for t in listed), ["admin script", "monitoring"])
        self.assertFalse(any("secret" in t or "digest" in t for t in listed))
        count = ApiToken.objects.count()
        for data, field in [
            ({}, "name"),
            ({"name": "monitoring"}, "name"),
            ({"name": "x", "expires_on": "2001-01-01"}, "expires_on"),
            ({"name": "x", "expires_on": "soon"}, "expires_on"),
            ({"name": "x", "expires_on": "9999-12-31"}, "expires_on"),
            ({"name": "x", "read_only": "perhaps"}, "read_only"),
        ]:
            response = api.post(reverse("api:api_tokens"), data, format="json")
            self.assertEqual(response.status_code, 400, data)
            self.assertIn(field, response.json(), data)
        self.assertEqual(ApiToken.objects.count(), count)
        revoked = api.delete(reverse("api:api_token", args=[body["id"]]))
        self.assertEqual(revoked.status_code, 204)
        self.assertEqual(bearer(body["secret"]).get(ME).status_code, 401)

    def test_another_person_cannot_revoke_your_token(self) -> None:
        token, secret = api_tokens.create_api_token(self.owner, name="sync", actor=self.owner)
        self.client.force_login(self.other)
        self.assertEqual(self.client.post(reverse("api_token_revoke", args=[token.pk])).status_code, 404)
        from meridian.core.testing import token_for

        other_api = bearer(token_for(self.other))
        self.assertEqual(other_api.delete(reverse("api:api_token", args=[token.pk])).status_code, 404)
        self.assertNotContains(self.client.get(reverse("api_tokens")), token.prefix)
        with self.assertRaises(PermissionDenied):
            api_tokens.revoke_api_token(token, actor=self.other)
        with self.assertRaises(PermissionDenied):
            api_tokens.create_api_token(self.owner, name="planted", actor=self.other)
        self.assertIsNone(ApiToken.objects.get(pk=token.pk).revoked_at)
        self.assertEqual(bearer(secret).get(ME).status_code, 200)

    def test_the_owner_revokes_on_the_page_and_may_reuse_the_name(self) -> None:
        token, secret = api_tokens.create_api_token(self.owner, name="sync", actor=self.owner)
        self.client.force_login(self.owner)
        response = self.client.post(reverse("api_token_revoke", args=[token.pk]))
        self.assertRedirects(response, reverse("api_tokens"))
        self.assertEqual(bearer(secret).get(ME).status_code, 401)
        self.assertEqual(self.client.get(reverse("api_token_revoke", args=[token.pk])).status_code, 405)
        again, _ = api_tokens.create_api_token(self.owner, name="sync", actor=self.owner)
        self.assertNotEqual(again.pk, token.pk)

    def test_an_administrator_sees_and_revokes_a_persons_tokens_on_the_login_tab(self) -> None:
        token, secret = api_tokens.create_api_token(self.owner, name="sync", actor=self.owner)
        person = Person.objects.get(user=self.owner)
        tab = person.get_absolute_url() + "?tab=login"
        revoke_url = reverse("api_token_revoke", args=[token.pk])
        self.client.force_login(self.other)  # staff, not an administrator: no tokens shown
        self.assertNotContains(self.client.get(tab), revoke_url)
        self.client.force_login(self.admin)
        page = self.client.get(tab)
        self.assertContains(page, token.prefix)
        self.assertContains(page, revoke_url)
        response = self.client.post(revoke_url)
        self.assertRedirects(response, tab, fetch_redirect_response=False)
        self.assertEqual(bearer(secret).get(ME).status_code, 401)
        event = AuditEvent.objects.filter(record_type="core.person", record_id=str(person.pk)).latest("id")
        self.assertEqual(
            (event.actor_label, event.reason), (self.admin.username, "API token revoked by an administrator")
        )
        self.assertIn("sync", event.changes["api_token"]["before"])
        history = self.client.get(person.get_absolute_url() + "?tab=history")
        self.assertContains(history, "API token revoked by an administrator")
        self.assertContains(history, f"sync ({token.prefix}…, read and write)")


class AdoptionOfDrfTokensTests(TestCase):
    """Upgrade: DRF's plaintext tokens (`authtoken_token`) become hashed tokens that keep working; the table goes."""

    def test_an_existing_key_keeps_working_and_the_plaintext_table_is_dropped(self) -> None:
        user = UserFactory(username="script-owner", roles=[Role.RESOLVER])
        key = "0123456789abcdef0123456789abcdef01234567"
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created timestamp NOT NULL, "
                "user_id integer NOT NULL)"
            )
            cursor.execute(
                "INSERT INTO authtoken_token (key, created, user_id) VALUES (%s, %s, %s)",
                [key, "2026-01-02 03:04:05", user.pk],
            )
        self.assertEqual(api_tokens.adopt_drf_tokens(ApiToken, connection), 1)
        self.assertNotIn("authtoken_token", connection.introspection.table_names())
        token = ApiToken.objects.get(user=user)
        self.assertEqual((token.name, token.prefix, token.read_only), (api_tokens.LEGACY_NAME, key[:8], False))
        self.assertEqual(token.created_at, datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC))
        self.assertNotIn(key, str(ApiToken.objects.filter(pk=token.pk).values().get()))
        self.assertEqual(bearer(key).get(ME).json()["username"], "script-owner")
        self.assertEqual(api_tokens.adopt_drf_tokens(ApiToken, connection), 0)  # nothing left to adopt


class ApiTokenCommandTests(TestCase):
    """`meridian api_token`: an operator creates, lists and revokes a login's tokens; the audit trail names the
    command line."""

    def test_create_list_and_revoke(self) -> None:
        import io

        from django.core.management import CommandError, call_command

        user = UserFactory(username="exporter", roles=[Role.AUDITOR])
        person = PersonFactory(user=user)
        out = io.StringIO()
        call_command(
            "api_token", "create", "exporter", "--name", "export", "--read-only", stdout=out, stderr=io.StringIO()
        )
        secret = out.getvalue().strip()
        self.assertEqual(bearer(secret).get(ME).json()["username"], "exporter")
        self.assertEqual(bearer(secret).post("/api/v1/me/api-tokens/", {"name": "x"}, format="json").status_code, 403)
        listing = io.StringIO()
        call_command("api_token", "list", "exporter", stdout=listing)
        self.assertIn("read-only", listing.getvalue())
        self.assertIn("export", listing.getvalue())
        self.assertNotIn(secret, listing.getvalue())
        for bad in (
            ["create", "exporter", "--name", "export"],
            ["create", "nobody", "--name", "a"],
            ["create", "exporter", "--name", "b", "--expires-on", "2001-01-01"],
            ["create", "exporter", "--name", "b", "--expires-on", "soon"],
            ["revoke", "exporter", "nope"],
        ):
            with self.assertRaises(CommandError, msg=bad):
                call_command("api_token", *bad, stdout=io.StringIO(), stderr=io.StringIO())
        self.assertEqual(ApiToken.objects.filter(user=user).count(), 1)
        call_command("api_token", "revoke", "exporter", "export", stdout=io.StringIO())
        self.assertEqual(bearer(secret).get(ME).status_code, 401)
        reasons = list(
            AuditEvent.objects.filter(record_type="core.person", record_id=str(person.pk)).values_list(
                "reason", flat=True
            )
        )
        self.assertIn("API token created on the command line", reasons)
        self.assertIn("API token revoked on the command line", reasons)
