"""Security from the start (issue 2): each test fails if one protection breaks.

1. login rate limiting (per account, per address, Unicode look-alikes of a username count as the username);
2. no user enumeration on login and password reset;
3. password-reset tokens work once and for at most an hour;
4. CSRF on pages, logout and the session-authenticated API (token-authenticated API needs none), and a grep of
   the source for APIs that switch protections off;
5. security headers and a CSP the pages respect (no inline script, handler or style);
6. `meridian check --deploy --fail-level WARNING` is clean with the default production settings;
7. suspending or marking a person as left ends their sessions and API tokens, also after reactivation;
8. a customer user cannot write into, or point at, another organisation's records;
9. nothing but login, password reset, /healthz and /metrics answers anonymous users (API schema included).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from unittest import mock

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core import mail
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client, TestCase, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from rest_framework.test import APIClient

from meridian.core import api_tokens, registry, services
from meridian.core.choices import Role
from meridian.core.factories import CalendarFactory, LocationFactory, OrganisationFactory, PersonFactory, UserFactory
from meridian.core.models import Location, Organisation, Person, User
from meridian.core.registry import ADD, CHANGE
from meridian.core.testing import PrincipalsTestCase, api_client

PASSWORD = "correct horse battery"  # what UserFactory sets
ROOT = Path(__file__).resolve().parents[3]  # the project: meridian/, manage.py, pyproject.toml


def login(client: Client, username: str, password: str, address: str = "127.0.0.1") -> Any:
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


# --- 1. login rate limiting ------------------------------------------------------------------------------------


@override_settings(LOGIN_RATE_LIMIT=3)
class LoginRateLimitTests(TestCase):
    def setUp(self) -> None:
        cache.clear()
        self.alice = UserFactory(username="alice")
        self.bob = UserFactory(username="bob")
        self.carol = UserFactory(username="carol")

    def tearDown(self) -> None:
        cache.clear()

    def test_account_is_locked_after_the_limit_even_for_the_right_password(self) -> None:
        for attempt in range(3):
            response = login(self.client, "alice", f"wrong {attempt}", address=f"10.0.0.{attempt + 1}")
            self.assertEqual(response.status_code, 200)
            self.assertFalse(response.wsgi_request.user.is_authenticated)
        # the right password, from yet another address: still refused, and nobody is logged in
        refused = login(self.client, "alice", PASSWORD, address="10.0.0.99")
        self.assertEqual(refused.status_code, 429)
        self.assertContains(refused, "Too many failed attempts", status_code=429)
        self.assertNotIn("_auth_user_id", self.client.session)
        # a different account from a different address is not affected
        other = login(Client(), "bob", PASSWORD, address="10.0.1.1")
        self.assertEqual(other.status_code, 302)
        self.assertEqual(other["Location"], reverse("home"))

    def test_username_spelling_variants_share_one_counter(self) -> None:
        """The form NFKC-normalises the username, so full-width or mathematical-bold letters log in as alice:
        failures under those spellings must count against alice, or each spelling gets a fresh allowance."""
        for number, name in enumerate(["ａｌｉｃｅ", "𝐚𝐥𝐢𝐜𝐞", " ALICE "]):
            self.assertEqual(login(self.client, name, "wrong", address=f"10.0.2.{number}").status_code, 200)
        self.assertEqual(login(self.client, "alice", PASSWORD, address="10.0.2.99").status_code, 429)
        self.assertEqual(login(self.client, "𝒂𝒍𝒊𝒄𝒆", PASSWORD, address="10.0.2.98").status_code, 429)

    def test_address_is_locked_after_the_limit_across_usernames(self) -> None:
        for number in range(3):  # one failure for each of three names: no account reaches its limit
            self.assertEqual(login(self.client, f"nobody{number}", "wrong", address="10.0.3.3").status_code, 200)
        refused = login(self.client, "carol", PASSWORD, address="10.0.3.3")
        self.assertEqual(refused.status_code, 429)
        self.assertNotIn("_auth_user_id", self.client.session)
        # the same account from another address is fine: it was the address that was limited
        self.assertEqual(login(Client(), "carol", PASSWORD, address="10.0.3.4").status_code, 302)

    def test_an_absurd_username_is_an_ordinary_failure(self) -> None:
        """A 5,000-character or control-character username is a failed login (counted), not a server error."""
        for name in ("x" * 5000, "bad\x00 name\n"):
            response = login(self.client, name, "wrong", address="10.0.5.5")
            self.assertEqual(response.status_code, 200)
        login(self.client, "nobody", "wrong", address="10.0.5.5")
        self.assertEqual(login(self.client, "alice", PASSWORD, address="10.0.5.5").status_code, 429)

    def test_login_does_not_redirect_off_site_and_sets_a_guarded_cookie(self) -> None:
        for target in ("https://evil.example/", "//evil.example/", "/\\evil.example/"):
            response = self.client.post(
                reverse("login") + f"?next={target}", {"username": "bob", "password": PASSWORD, "next": target}
            )
            with self.subTest(next=target):
                self.assertEqual(response.status_code, 302)
                self.assertEqual(response["Location"], reverse("home"))
            self.client.logout()
        response = login(Client(), "bob", PASSWORD)
        cookie = response.cookies[settings.SESSION_COOKIE_NAME]
        self.assertTrue(cookie["httponly"])
        self.assertEqual(cookie["samesite"], "Lax")
        self.assertEqual(bool(cookie["secure"]), settings.SESSION_COOKIE_SECURE)

    def test_failures_below_the_limit_do_not_lock(self) -> None:
        for number in range(2):
            login(self.client, "alice", "wrong", address=f"10.0.4.{number}")
        self.assertEqual(login(self.client, "alice", PASSWORD, address="10.0.4.9").status_code, 302)


@override_settings(PASSWORD_RESET_RATE_LIMIT=3)
class PasswordResetRateLimitTests(TestCase):
    """No mail flood (Zammad CVE-2022-35488): a few reset mails per address and per client, then silence,
    with the same answer as ever."""

    def setUp(self) -> None:
        cache.clear()
        self.user = UserFactory(username="dora", email="dora@example.com")

    def tearDown(self) -> None:
        cache.clear()

    def ask(self, email: str, address: str) -> Any:
        return self.client.post(reverse("password_reset"), {"email": email}, REMOTE_ADDR=address)

    def test_an_address_gets_at_most_the_limit_of_mails(self) -> None:
        answers = {self.ask("dora@example.com", f"10.9.0.{i}")["Location"] for i in range(10)}
        self.assertEqual(answers, {reverse("password_reset_done")})
        self.assertEqual(len(mail.outbox), 3)

    def test_a_client_cannot_spray_many_addresses(self) -> None:
        for i in range(3):
            self.ask(f"nobody{i}@example.com", "10.9.1.1")
        self.ask("dora@example.com", "10.9.1.1")
        self.assertEqual(len(mail.outbox), 0)
        self.ask("dora@example.com", "10.9.1.2")
        self.assertEqual(len(mail.outbox), 1)


class ClientAddressTests(TestCase):
    def test_behind_a_proxy_the_address_is_the_one_our_proxy_appended(self) -> None:
        from django.test import RequestFactory

        from meridian.core.ratelimit import client_ip

        request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.7")
        with override_settings(MERIDIAN_BEHIND_PROXY=True):
            self.assertEqual(client_ip(request), "203.0.113.7")
        with override_settings(MERIDIAN_BEHIND_PROXY=False):
            self.assertEqual(client_ip(request), "10.0.0.1")


# --- 2. no user enumeration ---------------------------------------------------------------------------------------

# the per-render CSRF token, in the form and in the htmx headers
CSRF_TOKEN = re.compile(r'(name="csrfmiddlewaretoken" value="|"X-CSRFToken": ")[^"]*"')


class NoEnumerationTests(TestCase):
    def setUp(self) -> None:
        cache.clear()
        self.active = UserFactory(username="known", email="known@example.com")
        self.suspended = UserFactory(username="idle", email="idle@example.com")
        self.suspended.is_active = False
        self.suspended.save()

    def answer(self, username: str, password: str) -> tuple[int, list[str], str]:
        response = login(Client(), username, password)
        body = CSRF_TOKEN.sub("", response.content.decode()).replace(username, "USERNAME")
        return response.status_code, list(response.context["form"].non_field_errors()), body

    def test_login_failure_looks_the_same_for_unknown_wrong_password_and_inactive(self) -> None:
        unknown = self.answer("ghost", PASSWORD)
        wrong_password = self.answer("known", "not the password")
        inactive = self.answer("idle", PASSWORD)  # the right password of a suspended account
        self.assertEqual(unknown[0], 200)
        self.assertEqual(len(unknown[1]), 1)
        self.assertEqual(unknown, wrong_password)
        self.assertEqual(unknown, inactive)

    def reset(self, email: str) -> tuple[Any, Any]:
        client = Client()
        response = client.post(reverse("password_reset"), {"email": email})
        return response, client.get(response["Location"]) if response.status_code == 302 else None

    def test_password_reset_answers_the_same_and_mails_only_a_known_active_account(self) -> None:
        known, known_page = self.reset("known@example.com")
        self.assertEqual(len(mail.outbox), 1)
        self.assertEqual(mail.outbox[0].to, ["known@example.com"])
        for email in ("ghost@example.com", "idle@example.com"):
            with self.subTest(email=email):
                other, other_page = self.reset(email)
                self.assertEqual(len(mail.outbox), 1, "a mail went to an unknown or inactive account")
                self.assertEqual((other.status_code, other["Location"]), (known.status_code, known["Location"]))
                self.assertEqual(other.status_code, 302)
                self.assertEqual(known_page.status_code, other_page.status_code)
                self.assertEqual(
                    CSRF_TOKEN.sub("", known_page.content.decode()), CSRF_TOKEN.sub("", other_page.content.decode())
                )

    def test_password_reset_refuses_a_forged_host(self) -> None:
        """The link in the mail is built from the Host header: a host outside ALLOWED_HOSTS gets 400, no mail."""
        response = Client().post(reverse("password_reset"), {"email": "known@example.com"}, HTTP_HOST="evil.example")
        self.assertEqual(response.status_code, 400)
        self.assertEqual(mail.outbox, [])


# --- 3. password reset tokens -------------------------------------------------------------------------------------


class PasswordResetTokenTests(TestCase):
    def setUp(self) -> None:
        self.user = UserFactory(username="resetme", email="resetme@example.com")
        self.uid = urlsafe_base64_encode(force_bytes(self.user.pk))
        self.token = default_token_generator.make_token(self.user)
        self.url = reverse("password_reset_confirm", args=[self.uid, self.token])

    def open_link(self, client: Client) -> Any:
        """Follow the mailed link: Django moves the token into the session and redirects to the form."""
        return client.get(self.url, follow=True)

    def assert_expired(self, response: Any) -> None:
        self.assertEqual(response.status_code, 200)
        self.assertIs(response.context["validlink"], False)
        self.assertContains(response, "This link has expired")
        self.assertNotContains(response, 'name="new_password1"')

    def test_token_works_once(self) -> None:
        client = Client()
        page = self.open_link(client)
        self.assertIs(page.context["validlink"], True)
        new = "a brand new passphrase 42"
        done = client.post(page.redirect_chain[-1][0], {"new_password1": new, "new_password2": new})
        self.assertRedirects(done, reverse("password_reset_complete"), fetch_redirect_response=False)
        self.user.refresh_from_db()
        self.assertTrue(self.user.check_password(new))
        self.assert_expired(self.open_link(Client()))
        # and it cannot set a password again, even posted straight at the set-password step
        again = Client()
        step = again.get(self.url)
        if step.status_code == 302:
            again.post(
                step["Location"],
                {"new_password1": "yet another passphrase 7", "new_password2": "yet another passphrase 7"},
            )
        self.user.refresh_from_db()
        self.assertTrue(self.user.check_password(new))

    def test_token_expires_after_the_timeout(self) -> None:
        self.assertLessEqual(settings.PASSWORD_RESET_TIMEOUT, 3600, "reset links must live at most an hour")
        late = datetime.now() + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT + 5)
        with mock.patch.object(default_token_generator, "_now", return_value=late):
            self.assertFalse(default_token_generator.check_token(self.user, self.token))
            self.assert_expired(self.open_link(Client()))
        in_time = datetime.now() + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT - 60)
        with mock.patch.object(default_token_generator, "_now", return_value=in_time):
            self.assertIs(self.open_link(Client()).context["validlink"], True)

    def test_token_dies_with_a_password_change_or_a_login(self) -> None:
        self.user.set_password("changed elsewhere 99")
        self.user.save()
        self.assert_expired(self.open_link(Client()))

        user = UserFactory(username="logsin", email="logsin@example.com")
        uid = urlsafe_base64_encode(force_bytes(user.pk))
        token = default_token_generator.make_token(user)
        cache.clear()
        self.assertEqual(login(Client(), "logsin", PASSWORD).status_code, 302)
        self.assert_expired(Client().get(reverse("password_reset_confirm", args=[uid, token]), follow=True))


# --- 4. CSRF ------------------------------------------------------------------------------------------------------


class CsrfTests(PrincipalsTestCase):
    def setUp(self) -> None:
        cache.clear()

    def csrf_token_of(self, client: Client) -> str:
        client.get(reverse("home"))
        return client.cookies[settings.CSRF_COOKIE_NAME].value

    def test_login_post_without_token_is_refused(self) -> None:
        client = Client(enforce_csrf_checks=True)
        response = client.post(reverse("login"), {"username": self.admin.username, "password": PASSWORD})
        self.assertEqual(response.status_code, 403)
        self.assertNotIn("_auth_user_id", client.session)

    def test_record_form_post_without_token_is_refused(self) -> None:
        client = Client(enforce_csrf_checks=True)
        client.force_login(self.admin)
        url = reverse("core:organisation_add")
        data = {"name": "Forged Org", "kind": "customer", "active": "on"}
        self.assertEqual(client.post(url, data).status_code, 403)
        self.assertFalse(Organisation.objects.filter(name="Forged Org").exists())
        # the same post with the token goes through: it was the missing token that was refused
        data["csrfmiddlewaretoken"] = self.csrf_token_of(client)
        self.assertEqual(client.post(url, data).status_code, 302)
        self.assertTrue(Organisation.objects.filter(name="Forged Org").exists())

    def test_logout_needs_a_post_with_token(self) -> None:
        client = Client(enforce_csrf_checks=True)
        client.force_login(self.admin)
        self.assertEqual(client.get(reverse("logout")).status_code, 405)
        self.assertEqual(client.post(reverse("logout")).status_code, 403)
        self.assertEqual(client.get(reverse("home")).status_code, 200, "a forged logout logged the user out")
        token = self.csrf_token_of(client)
        self.assertEqual(client.post(reverse("logout"), {"csrfmiddlewaretoken": token}).status_code, 302)
        self.assertEqual(client.get(reverse("home")).status_code, 302)

    def test_session_api_needs_a_token_and_token_api_does_not(self) -> None:
        url = reverse("api:core-organisations-list")
        session = APIClient(enforce_csrf_checks=True)
        session.force_login(self.admin)
        refused = session.post(url, {"name": "Via session", "kind": "customer"}, format="json")
        self.assertEqual(refused.status_code, 403)
        self.assertIn("CSRF", str(refused.json()))
        self.assertFalse(Organisation.objects.filter(name="Via session").exists())
        for method in ("put", "patch", "delete"):
            detail = reverse("api:core-organisations-detail", args=[self.p.org_a.pk])
            with self.subTest(method=method):
                response = getattr(session, method)(detail, {"name": "x", "version": 1}, format="json")
                self.assertEqual(response.status_code, 403)
        self.assertTrue(Organisation.objects.filter(pk=self.p.org_a.pk, name=self.p.org_a.name).exists())
        ok = session.post(
            url,
            {"name": "Via session", "kind": "customer"},
            format="json",
            HTTP_X_CSRFTOKEN=self.csrf_token_of(session),
        )
        self.assertEqual(ok.status_code, 201, ok.content)

        with_token = api_client(self.admin, enforce_csrf_checks=True)
        created = with_token.post(url, {"name": "Via token", "kind": "customer"}, format="json")
        self.assertEqual(created.status_code, 201, created.content)


# Source patterns that switch a protection off, and the files they are looked for in. An entry in ALLOWED is
# "path: name", with the reason on the same line as a comment.
PY_AND_TEMPLATES = (".py", ".html", ".txt", ".xml")
BANNED: dict[str, tuple[re.Pattern[str], tuple[str, ...]]] = {
    "csrf_exempt": (re.compile(r"csrf_exempt"), PY_AND_TEMPLATES),
    "mark_safe(": (re.compile(r"mark_safe\s*\("), PY_AND_TEMPLATES),
    "SafeString(": (re.compile(r"SafeString\s*\("), PY_AND_TEMPLATES),
    "|safe": (re.compile(r"\|\s*safe\b"), PY_AND_TEMPLATES),
    # plain-text mail bodies (.txt) are rendered with autoescape off on purpose: they are never HTML
    "autoescape off": (re.compile(r"{%\s*autoescape\s+off"), (".py", ".html", ".xml")),
    ".extra(": (re.compile(r"\.extra\s*\("), PY_AND_TEMPLATES),
    "RawSQL(": (re.compile(r"RawSQL\s*\("), PY_AND_TEMPLATES),
    ".raw(": (re.compile(r"\.raw\s*\("), PY_AND_TEMPLATES),
}
ALLOWED: set[str] = {
    "meridian/core/conversation.py: mark_safe(",  # comments: nh3's output against an allow-list (tested with payloads)
}


def test_banned_apis_are_absent_from_the_source() -> None:
    package = ROOT / "meridian"
    this_file = Path(__file__).resolve()
    files = [
        f
        for f in sorted(package.rglob("*"))
        if f.suffix in PY_AND_TEMPLATES and f.is_file() and f.resolve() != this_file
    ]
    assert any(f.suffix == ".html" for f in files) and any(f.suffix == ".py" for f in files)
    found = []
    for path in files:
        relative = path.relative_to(ROOT).as_posix()
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            for name, (pattern, suffixes) in BANNED.items():
                if path.suffix in suffixes and pattern.search(line) and f"{relative}: {name}" not in ALLOWED:
                    found.append(f"{relative}:{number}: {name}: {line.strip()}")
    assert not found, "protection-disabling APIs outside the allow-list:\n" + "\n".join(found)


def test_the_banned_api_grep_finds_what_it_looks_for() -> None:
    """The grep itself: each pattern matches the usual spellings (so a typo in a pattern cannot pass silently)."""
    samples = {
        "csrf_exempt": "@csrf_exempt",
        "mark_safe(": "return mark_safe (html)",
        "SafeString(": "SafeString(value)",
        "|safe": "{{ body| safe }}",
        "autoescape off": "{%  autoescape off %}",
        ".extra(": "qs.extra(where=['1=1'])",
        "RawSQL(": "RawSQL('select 1', [])",
        ".raw(": "Person.objects.raw('select * from x')",
    }
    assert set(samples) == set(BANNED)
    for name, sample in samples.items():
        assert BANNED[name][0].search(sample), name
    assert not BANNED["|safe"][0].search("{{ value|safeish }}")


# --- 5. headers, CSP, and pages that respect it --------------------------------------------------------------------


class InlineFinder(HTMLParser):
    """What a strict CSP would block: inline scripts and styles, event-handler attributes, javascript: URLs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name.lower(): value or "" for name, value in attrs}
        if tag == "script" and not names.get("src"):
            self.problems.append(f"inline <script> at line {self.getpos()[0]}")
        if tag == "style":
            self.problems.append(f"inline <style> at line {self.getpos()[0]}")
        for name, value in names.items():
            if name.startswith("on") or name.startswith("hx-on"):
                self.problems.append(f"handler attribute {name}= on <{tag}>")
            if name == "style":
                self.problems.append(f'style= attribute on <{tag}>: "{value}"')
            if name in ("href", "src", "action", "formaction") and value.strip().lower().startswith("javascript:"):
                self.problems.append(f"javascript: URL in {name}= on <{tag}>")


def inline_problems(html: str) -> list[str]:
    finder = InlineFinder()
    finder.feed(html)
    return finder.problems


def csp_directives(header: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


class HeaderTests(PrincipalsTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.location = LocationFactory(organisation=cls.p.org_a, name="Harbour site")
        cls.person = PersonFactory(
            organisation=cls.p.org_a, location=cls.location, first_name="Searchable", last_name="Zebra"
        )

    def assert_headers(self, response: Any, url: str) -> None:
        self.assertEqual(response["X-Frame-Options"], "DENY", url)
        self.assertEqual(response["X-Content-Type-Options"], "nosniff", url)
        self.assertIn(
            response.get("Referrer-Policy"), ("same-origin", "strict-origin-when-cross-origin", "no-referrer"), url
        )
        header = response.get("Content-Security-Policy")
        self.assertTrue(header, f"{url}: no Content-Security-Policy (report-only does not count)")
        csp = csp_directives(header)
        script_src = csp.get("script-src", csp.get("default-src"))
        self.assertIsNotNone(script_src, url)
        self.assertIn("'self'", script_src, url)
        for unsafe in ("'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:"):
            self.assertNotIn(unsafe, script_src, f"{url}: script-src allows {unsafe}")
        self.assertNotIn("'unsafe-inline'", csp.get("style-src", []), url)
        self.assertEqual(csp.get("object-src"), ["'none'"], url)
        self.assertEqual(csp.get("frame-ancestors"), ["'none'"], url)
        self.assertIn("base-uri", csp, url)

    def check_page(self, client: Client, url: str, status: int = 200) -> None:
        response = client.get(url)
        with self.subTest(url=url):
            self.assertEqual(response.status_code, status, url)
            self.assertTrue(response["Content-Type"].startswith("text/html"), url)
            self.assert_headers(response, url)
            self.assertEqual(inline_problems(response.content.decode()), [], url)

    def test_anonymous_pages(self) -> None:
        client = Client()
        for url in (reverse("login"), reverse("password_reset"), reverse("password_reset_done")):
            self.check_page(client, url)
        user = UserFactory(username="linkuser", email="linkuser@example.com")
        uid = urlsafe_base64_encode(force_bytes(user.pk))
        self.check_page(client, reverse("password_reset_confirm", args=[uid, "bad-token"]))
        cache.clear()
        failed = login(client, "ghost", "wrong")  # the login page with an error on it
        self.assertEqual(inline_problems(failed.content.decode()), [])

    def test_logged_in_pages(self) -> None:
        client = Client()
        client.force_login(self.admin)
        person, location = self.person, self.location
        pages = [
            reverse("home"),
            reverse("core:person_list"),
            reverse("core:person_list") + "?status=active",
            reverse("core:person_detail", args=[person.pk]),
            reverse("core:person_detail", args=[person.pk]) + "?tab=history",
            reverse("core:person_detail", args=[person.pk]) + "?tab=notifications",
            reverse("core:person_add"),
            reverse("core:person_edit", args=[person.pk]),
            reverse("core:location_detail", args=[location.pk]),
            reverse("core:organisation_list"),
            reverse("core:organisation_add"),
            reverse("core:calendar_add"),
            reverse("core:organisation_delete", args=[OrganisationFactory().pk]),
            reverse("search") + "?q=Zebra",
            reverse("preferences"),
            reverse("password_change"),
            reverse("core:person_action", args=[person.pk, "grant-login"]),
            reverse("core:person_detail", args=[person.pk]) + "?tab=login",
            reverse("core:calendar_detail", args=[CalendarFactory().pk]) + "?tab=hours",
        ]
        for url in pages:
            self.check_page(client, url)
        self.check_page(client, reverse("core:person_detail", args=[999999]), status=404)
        search = client.get(reverse("search") + "?q=Zebra")
        self.assertContains(search, person.get_absolute_url())  # the search page did find something

    def test_a_form_with_errors_and_a_record_with_markup_in_it(self) -> None:
        client = Client()
        client.force_login(self.admin)
        response = client.post(reverse("core:organisation_add"), {"name": "", "kind": "nonsense"})
        self.assertEqual(response.status_code, 400)
        self.assertEqual(inline_problems(response.content.decode()), [])
        payload = '<script>alert(1)</script><img src=x onerror=alert(2) style="x">'
        hostile = OrganisationFactory(name=payload, description=payload)
        for url in (
            reverse("core:organisation_detail", args=[hostile.pk]),
            reverse("core:organisation_list"),
            reverse("search") + "?q=alert",
        ):
            response = client.get(url)
            with self.subTest(url=url):
                self.assertEqual(inline_problems(response.content.decode()), [], "user input rendered unescaped")

    def test_api_docs_load_no_inline_script_or_style(self) -> None:
        client = Client()
        client.force_login(self.admin)
        response = client.get(reverse("api-docs"))
        self.assertEqual(response.status_code, 200)
        self.assert_headers(response, "api-docs")
        self.assertEqual(inline_problems(response.content.decode()), [])


# --- 6. deployment checks with the production defaults -----------------------------------------------------------


def production_env(var_dir: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MERIDIAN_", "DJANGO_", "SECURE_", "SESSION_"))}
    for name in (
        "DEBUG",
        "DATABASE_URL",
        "REDIS_URL",
        "ALLOWED_HOSTS",
        "SECRET_KEY",
        "CSRF_TRUSTED_ORIGINS",
        "EMAIL_URL",
    ):
        env.pop(name, None)
    env.update(
        {
            "SECRET_KEY": secrets.token_urlsafe(64),
            "ALLOWED_HOSTS": "meridian.example.com",
            "MERIDIAN_TESTING": "false",
            "DATABASE_URL": f"sqlite:///{var_dir}/meridian.sqlite3",
            "MERIDIAN_VAR_DIR": var_dir,
            "DJANGO_SETTINGS_MODULE": "meridian.settings",
        }
    )
    return env


def test_check_deploy_is_clean_with_production_settings() -> None:
    with tempfile.TemporaryDirectory() as var_dir:
        env = {**production_env(var_dir), "MERIDIAN_HTTPS": "true", "DEBUG": "false"}
        result = subprocess.run(
            [sys.executable, "-m", "meridian.cli", "check", "--deploy", "--fail-level", "WARNING"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues (0 silenced)." in output, output


def test_production_defaults_are_secure() -> None:
    """Without MERIDIAN_HTTPS or DEBUG in the environment, production is what you get."""
    names = [
        "DEBUG",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SESSION_COOKIE_HTTPONLY",
        "X_FRAME_OPTIONS",
        "SECURE_CONTENT_TYPE_NOSNIFF",
        "SILENCED_SYSTEM_CHECKS",
        "PASSWORD_HASHERS",
        "PASSWORD_RESET_TIMEOUT",
    ]
    script = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        f"print(json.dumps({{n: getattr(s, n, None) for n in {names!r}}}))"
    )
    with tempfile.TemporaryDirectory() as var_dir:
        result = subprocess.run(  # noqa: S603 - our own interpreter, our own script
            [sys.executable, "-c", script],
            cwd=ROOT,
            env=production_env(var_dir),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values["DEBUG"] is False
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_HSTS_SECONDS"] >= 31536000
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SESSION_COOKIE_HTTPONLY"] is True
    assert values["X_FRAME_OPTIONS"] == "DENY"
    assert values["SECURE_CONTENT_TYPE_NOSNIFF"] is True
    assert values["SILENCED_SYSTEM_CHECKS"] == []
    assert "MD5" not in values["PASSWORD_HASHERS"][0]
    assert values["PASSWORD_RESET_TIMEOUT"] <= 3600


# --- 7. deactivation ends sessions and tokens ---------------------------------------------------------------------


class DeactivationTests(PrincipalsTestCase):
    def setUp(self) -> None:
        cache.clear()
        self.user = UserFactory(username="leaver", roles=[Role.SERVICE_DESK_AGENT])
        self.person = PersonFactory(organisation=self.p.internal, user=self.user)
        self.browser = Client()
        self.browser.force_login(self.user)
        self.api = api_client(self.user)
        self.me = reverse("api:me")

    def assert_logged_out(self) -> None:
        response = self.browser.get(reverse("home"))
        self.assertEqual(response.status_code, 302)
        self.assertTrue(response["Location"].startswith(reverse("login")), response["Location"])
        self.assertEqual(self.api.get(self.me).status_code, 401)

    def test_suspension_ends_sessions_and_tokens_and_reactivation_does_not_revive_them(self) -> None:
        self.assertEqual(self.browser.get(reverse("home")).status_code, 200)
        self.assertEqual(self.api.get(self.me).status_code, 200)
        # a second session (another browser) ends too
        other = Client()
        self.assertEqual(login(other, "leaver", PASSWORD).status_code, 302)

        services.transition(self.person, "suspend", actor=self.admin, reason="x", expected_version=1)
        self.assert_logged_out()
        self.assertEqual(other.get(reverse("home")).status_code, 302)
        self.assertFalse(api_tokens.active_tokens(self.user).exists())  # revoked, kept on record

        services.transition(
            Person.objects.get(pk=self.person.pk), "reactivate", actor=self.admin, reason="back", expected_version=2
        )
        self.assert_logged_out()
        self.assertEqual(other.get(reverse("home")).status_code, 302)
        # a fresh login is needed, and works
        again = Client()
        self.assertEqual(login(again, "leaver", PASSWORD).status_code, 302)
        self.assertEqual(again.get(reverse("home")).status_code, 200)

    def test_leaving_ends_sessions_and_tokens(self) -> None:
        services.transition(self.person, "leave", actor=self.admin, reason="x", expected_version=1)
        self.assert_logged_out()
        self.assertEqual(login(Client(), "leaver", PASSWORD).status_code, 200)  # and cannot log in again

    def test_suspended_user_cannot_log_in(self) -> None:
        services.transition(self.person, "suspend", actor=self.admin, reason="x", expected_version=1)
        response = login(Client(), "leaver", PASSWORD)
        self.assertEqual(response.status_code, 200)
        self.assertFalse(response.wsgi_request.user.is_authenticated)


# --- 8. cross-tenant writes ------------------------------------------------------------------------------------------


class CrossTenantWriteTests(PrincipalsTestCase):
    """Customers may not add or change people (see core/records.py), so the API answers 403. The protection that
    matters once a customer-writable type exists (every foreign key checked against the *requester's* visible
    records) is tested by granting customers ADD and CHANGE on Person for the duration of a test."""

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.customer = cls.p.customer_a
        cls.colleague = PersonFactory(organisation=cls.p.org_a, first_name="Colleague")
        cls.site_a = LocationFactory(organisation=cls.p.org_a, name="A site")
        cls.site_b = LocationFactory(organisation=cls.p.org_b, name="B site")
        cls.url = reverse("api:core-people-list")

    def setUp(self) -> None:
        self.api = api_client(self.customer)
        self.before = Person.objects.count()

    def grant_customers(self) -> Any:
        rt = registry.get(Person)
        extra = {ADD: rt.permissions[ADD] | {Role.CUSTOMER_USER}, CHANGE: rt.permissions[CHANGE] | {Role.CUSTOMER_USER}}
        return mock.patch.dict(rt.permissions, extra)

    def person_data(self, **extra: Any) -> dict[str, Any]:
        return {"first_name": "Mallory", "last_name": "Intruder", **extra}

    def test_customers_have_no_add_on_any_core_type(self) -> None:
        """If this fails, a core type became customer-writable: then its cross-tenant FK test must be added here."""
        writable = [
            rt.label
            for rt in registry.all_types()
            if Role.CUSTOMER_USER in rt.permissions[ADD] | rt.permissions[CHANGE]
        ]
        self.assertEqual([w for w in writable if w.startswith("core.")], [])

    def test_customer_cannot_create_or_move_people_by_default(self) -> None:
        response = self.api.post(self.url, self.person_data(organisation=self.p.org_b.pk), format="json")
        self.assertEqual(response.status_code, 403)
        response = self.api.post(self.url, self.person_data(organisation=self.p.org_a.pk), format="json")
        self.assertEqual(response.status_code, 403)
        detail = reverse("api:core-people-detail", args=[self.colleague.pk])
        response = self.api.patch(
            detail, {"organisation": self.p.org_b.pk, "version": self.colleague.version}, format="json"
        )
        self.assertEqual(response.status_code, 403)
        self.assertEqual(Person.objects.count(), self.before)
        self.assertEqual(Person.objects.get(pk=self.colleague.pk).organisation_id, self.p.org_a.pk)

    def test_another_organisation_is_refused_as_a_field_error(self) -> None:
        with self.grant_customers():
            response = self.api.post(self.url, self.person_data(organisation=self.p.org_b.pk), format="json")
            self.assertEqual(response.status_code, 400, response.content)
            self.assertIn("organisation", response.json())
            self.assertEqual(Person.objects.count(), self.before)

            detail = reverse("api:core-people-detail", args=[self.colleague.pk])
            response = self.api.patch(
                detail, {"organisation": self.p.org_b.pk, "version": self.colleague.version}, format="json"
            )
            self.assertEqual(response.status_code, 400, response.content)
            self.assertIn("organisation", response.json())
            moved = Person.objects.get(pk=self.colleague.pk)
            self.assertEqual((moved.organisation_id, moved.version), (self.p.org_a.pk, self.colleague.version))

            response = self.api.post(
                self.url, self.person_data(organisation=self.p.org_a.pk, location=self.site_b.pk), format="json"
            )
            self.assertEqual(response.status_code, 400, response.content)
            self.assertIn("location", response.json())
            self.assertEqual(Person.objects.count(), self.before)

            # positive control: own organisation, own location
            response = self.api.post(
                self.url, self.person_data(organisation=self.p.org_a.pk, location=self.site_a.pk), format="json"
            )
            self.assertEqual(response.status_code, 201, response.content)

    def test_pages_refuse_another_organisation_too(self) -> None:
        client = Client()
        client.force_login(self.customer)
        with self.grant_customers():
            for data, field in (
                (self.person_data(organisation=self.p.org_b.pk), "organisation"),
                (self.person_data(organisation=self.p.org_a.pk, location=self.site_b.pk), "location"),
            ):
                response = client.post(reverse("core:person_add"), data)
                with self.subTest(field=field):
                    self.assertEqual(response.status_code, 400)
                    self.assertIn(field, response.context["form"].errors)
        self.assertEqual(Person.objects.count(), self.before)

    def test_services_refuse_another_organisation_whatever_the_channel(self) -> None:
        customer = User.objects.get(pk=self.customer.pk)
        with self.assertRaises(PermissionDenied):
            services.create_record(Person, data=self.person_data(organisation=self.p.org_a), actor=customer)
        with self.grant_customers():
            for data, field in (
                (self.person_data(organisation=self.p.org_b), "organisation"),
                (self.person_data(organisation=self.p.org_a, location=self.site_b), "location"),
            ):
                with self.subTest(field=field), self.assertRaises(ValidationError) as caught:
                    services.create_record(Person, data=data, actor=customer)
                self.assertIn(field, caught.exception.message_dict)
            with self.assertRaises(ValidationError) as caught:
                services.update_record(
                    self.colleague, data={"organisation": self.p.org_b}, actor=customer, expected_version=1
                )
            self.assertIn("organisation", caught.exception.message_dict)
        self.assertEqual(Person.objects.count(), self.before)
        self.assertEqual(Location.objects.get(pk=self.site_b.pk).organisation_id, self.p.org_b.pk)


# --- 9. anonymous access ----------------------------------------------------------------------------------------------

PUBLIC = {
    "login",
    "password_reset",
    "password_reset_done",
    "password_reset_confirm",
    "password_reset_complete",
    "healthz",
    "metrics",
    "watch_unfollow",  # a mail's signed unfollow link: works without login (core.watchers; tested there)
}
SAMPLE_KWARGS = {
    "pk": "1",
    "uidb64": "MQ",
    "token": "set-password",
    "action": "suspend",
    "format": "json",
    "link_id": "1",
    "job_id": "6f1c0a52-0000-4000-8000-000000000001",  # an import (core.import_views)
    "attachment_id": "1",
    "comment_id": "1",
}


def named_routes() -> list[tuple[str, URLPattern]]:
    """Every named URL of the project but the Django admin (which guards itself), as a reversible name."""
    routes: list[tuple[str, URLPattern]] = []

    def walk(patterns: list[Any], namespaces: list[str]) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if pattern.namespace == "admin":
                    continue
                walk(pattern.url_patterns, [*namespaces, pattern.namespace] if pattern.namespace else namespaces)
            elif isinstance(pattern, URLPattern) and pattern.name:
                routes.append((":".join([*namespaces, pattern.name]), pattern))

    walk(get_resolver().url_patterns, [])
    return routes


def sample_url(name: str, pattern: URLPattern) -> str:
    groups = pattern.pattern.regex.groupindex
    return reverse(name, kwargs={g: SAMPLE_KWARGS.get(g, "x") for g in groups})


class AnonymousAccessTests(TestCase):
    def setUp(self) -> None:
        self.client = Client()
        self.api = APIClient()

    def page_routes(self, record_pages: bool) -> list[tuple[str, str]]:
        """(method, url) of every page but the public ones; the generated record-type pages, or the others."""
        generated = {f"{rt.app_label}:{rt.model_name}_" for rt in registry.all_types()}
        routes = []
        for name, pattern in named_routes():
            if name.startswith("api:") or name in PUBLIC or name in ("logout", "schema"):
                continue
            if any(name.startswith(prefix) for prefix in generated) != record_pages:
                continue
            routes.append(("post" if name.endswith("_action") else "get", sample_url(name, pattern)))
        return routes

    def assert_sent_to_login(self, routes: list[tuple[str, str]]) -> None:
        for method, url in routes:
            response = getattr(self.client, method)(url)
            with self.subTest(url=url, method=method):
                self.assertEqual(response.status_code, 302, f"{method.upper()} {url}")
                self.assertTrue(response["Location"].startswith(reverse("login") + "?next="), response["Location"])

    def test_every_page_sends_anonymous_users_to_login(self) -> None:
        routes = self.page_routes(record_pages=False)
        self.assertGreaterEqual(len(routes), 5)
        self.assert_sent_to_login(routes)
        admin = self.client.get("/admin/")
        self.assertEqual(admin.status_code, 302)
        self.assertIn("/login/", admin["Location"])

    def test_record_pages_show_anonymous_users_nothing(self) -> None:
        """Whatever the answer, an anonymous user gets no record page (and never a server error)."""
        organisation = OrganisationFactory(name="Secret Org")
        routes = self.page_routes(record_pages=True)
        self.assertGreaterEqual(len(routes), 6 * len(registry.all_types()))
        for method, url in [*routes, ("get", reverse("core:organisation_detail", args=[organisation.pk]))]:
            response = getattr(self.client, method)(url)
            with self.subTest(url=url, method=method):
                self.assertIn(response.status_code, (302, 403, 404, 405), f"{method.upper()} {url}")
                self.assertNotIn(b"Secret Org", response.content)

    def test_record_pages_send_anonymous_users_to_login(self) -> None:
        self.assert_sent_to_login(self.page_routes(record_pages=True))

    def test_every_api_endpoint_refuses_anonymous_users(self) -> None:
        checked = 0
        for name, pattern in named_routes():
            if not name.startswith("api:"):
                continue
            url = sample_url(name, pattern)
            for method in ("get", "post", "put", "patch", "delete"):
                response = getattr(self.api, method)(url, {}, format="json")
                with self.subTest(url=url, method=method):
                    self.assertIn(response.status_code, (401, 403, 405), f"{method.upper()} {url}")
                    if method == "get":
                        self.assertIn(response.status_code, (401, 403), f"GET {url}")
            checked += 1
        self.assertGreater(checked, 10)
        self.assertEqual(self.api.get(reverse("api:core-people-list")).status_code, 401)  # with WWW-Authenticate

    def test_a_bad_token_is_refused(self) -> None:
        self.api.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
        self.assertEqual(self.api.get(reverse("api:me")).status_code, 401)

    def test_api_schema_and_docs_need_a_login(self) -> None:
        self.assertIn(self.api.get(reverse("schema")).status_code, (401, 403))
        docs = self.client.get(reverse("api-docs"))
        self.assertEqual(docs.status_code, 302)
        self.assertTrue(docs["Location"].startswith(reverse("login")))
        user = UserFactory(username="reader", roles=[Role.AUDITOR])
        self.assertEqual(api_client(user).get(reverse("schema")).status_code, 200)
        self.client.force_login(user)
        self.assertEqual(self.client.get(reverse("schema")).status_code, 200)  # the docs page fetches it by session

    def test_public_endpoints_stay_public(self) -> None:
        for name in ("login", "password_reset", "password_reset_done", "password_reset_complete", "healthz", "metrics"):
            with self.subTest(name=name):
                self.assertEqual(self.client.get(reverse(name)).status_code, 200)
