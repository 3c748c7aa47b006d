"""Record actions and tabs on the core types: a person's "Give a login" (page and API), the object-level check of
API actions before their code runs, transitions as record actions, the calendar's Hours tab, and the declarations."""

from __future__ import annotations

from datetime import date, timedelta

from django.contrib.auth import get_user_model
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from meridian.core import actions, registry, tabs
from meridian.core.actions import ActionForm, RecordAction
from meridian.core.choices import CalendarExceptionKind, PersonStatus, Role
from meridian.core.factories import CalendarExceptionFactory, CalendarFactory, PersonFactory
from meridian.core.models import AuditEvent, Calendar, Person
from meridian.core.registry import STAFF
from meridian.core.tabs import Tab
from meridian.core.testing import PrincipalsTestCase, api_client


class GrantLoginActionTests(PrincipalsTestCase):
    """ "Give a login" is a record action: one input form for the page and the API."""

    def setUp(self) -> None:
        self.person = PersonFactory(organisation=self.p.internal, email="kim@provider.example", first_name="Kim")
        self.url = reverse("api:core-people-grant_login", args=[self.person.pk])

    def events(self) -> list[AuditEvent]:
        return list(AuditEvent.objects.filter(record_type="core.person", record_id=str(self.person.pk)))

    def test_the_api_gives_a_login_with_the_forms_validation(self) -> None:
        api = api_client(self.admin)
        detail = api.get(reverse("api:core-people-detail", args=[self.person.pk])).json()
        self.assertEqual(detail["available_actions"], ["suspend", "leave", "grant_login"])
        refused = api.post(self.url, {"username": "kim", "roles": ["nonsense"], "version": 1}, format="json")
        self.assertEqual(refused.status_code, 400)
        self.assertIn("roles", refused.json())
        wrong_types = api.post(self.url, {"username": 7, "roles": "resolver", "version": 1}, format="json")
        self.assertEqual(wrong_types.status_code, 400)
        self.assertEqual(set(wrong_types.json()), {"username", "roles"})
        unknown = api.post(self.url, {"username": "kim", "roles": [], "admin": True, "version": 1}, format="json")
        self.assertEqual(unknown.status_code, 400)
        self.assertIn("admin", unknown.json())
        no_version = api.post(self.url, {"username": "kim", "roles": [Role.RESOLVER]}, format="json")
        self.assertEqual(no_version.status_code, 400)
        self.assertIn("version", no_version.json())
        self.assertEqual(self.events(), [])
        done = api.post(
            self.url, {"username": "kim", "roles": [Role.RESOLVER], "reason": "new hire", "version": 1}, format="json"
        )
        self.assertEqual(done.status_code, 200, done.content)
        self.assertEqual((done.json()["version"], done.json()["available_actions"]), (2, ["suspend", "leave"]))
        self.assertEqual(done["ETag"], '"2"')
        self.person.refresh_from_db()
        self.assertEqual(self.person.user.username, "kim")
        self.assertEqual(self.person.user.roles, frozenset({Role.RESOLVER}))
        (event,) = self.events()
        self.assertEqual(
            (event.changes["action"], event.reason, event.actor_id), ("grant_login", "new hire", self.admin.pk)
        )
        again = api.post(self.url, {"username": "kim2", "roles": [Role.RESOLVER], "version": 2}, format="json")
        self.assertEqual(again.status_code, 409)
        self.assertIn("already has a login", again.json()["detail"])

    def test_a_retry_with_the_same_idempotency_key_gives_the_first_answer(self) -> None:
        api = api_client(self.admin)
        body = {"username": "kim", "roles": [Role.RESOLVER], "version": 1}
        first = api.post(self.url, body, format="json", HTTP_IDEMPOTENCY_KEY="grant-kim-1")
        second = api.post(self.url, body, format="json", HTTP_IDEMPOTENCY_KEY="grant-kim-1")
        self.assertEqual((first.status_code, second.status_code), (200, 200))
        self.assertEqual(second.json(), first.json())
        self.assertEqual(second["Idempotent-Replayed"], "true")
        self.assertEqual(get_user_model().objects.filter(username="kim").count(), 1)
        self.assertEqual(len(self.events()), 1)

    def test_the_role_is_checked_before_the_actions_code_runs(self) -> None:
        """A role the action does not name is a 403 whatever it sends (no field errors: the input is not even
        read); a customer of another organisation gets 404, even for a body that would be refused."""
        agent = api_client(self.p.users[Role.SERVICE_DESK_AGENT])
        self.assertEqual(agent.post(self.url, {"bogus": 1}, format="json").status_code, 403)
        self.assertEqual(
            agent.post(self.url, {"username": "x", "roles": [], "version": 1}, format="json").status_code, 403
        )
        customer = PersonFactory(organisation=self.p.org_a)
        outsider = api_client(self.p.customer_b)
        url = reverse("api:core-people-grant_login", args=[customer.pk])
        self.assertEqual(outsider.post(url, {"bogus": 1}, format="json").status_code, 404)
        suspend = reverse("api:core-people-suspend", args=[customer.pk])
        self.assertEqual(outsider.post(suspend, {"bogus": 1}, format="json").status_code, 404)
        self.assertEqual(api_client(self.p.customer_a).post(suspend, {"bogus": 1}, format="json").status_code, 403)
        self.assertEqual(self.events(), [])
        self.assertIsNone(Person.objects.get(pk=customer.pk).user_id)

    def test_the_page_shows_the_button_and_the_form_page_gives_the_login(self) -> None:
        self.client.force_login(self.admin)
        page = self.client.get(self.person.get_absolute_url())
        form_url = reverse("core:person_action", args=[self.person.pk, "grant-login"])
        self.assertContains(page, f'href="{form_url}"')
        form_page = self.client.get(form_url)
        self.assertContains(form_page, "Give a login")
        self.assertEqual(form_page.context["form"]["username"].value(), "kim")
        refused = self.client.post(form_url, {"username": "", "roles": [Role.RESOLVER], "version": 1})
        self.assertEqual(refused.status_code, 400)
        self.assertIn("username", refused.context["form"].errors)
        done = self.client.post(form_url, {"username": "kim", "roles": [Role.RESOLVER], "version": 1}, follow=True)
        self.assertContains(done, "Give a login done")
        self.assertContains(self.client.get(self.person.get_absolute_url() + "?tab=login"), "<code>kim</code>")
        stale = self.client.post(form_url, {"username": "kim3", "roles": [Role.RESOLVER], "version": 1})
        self.assertEqual(stale.status_code, 409)
        self.assertContains(stale, "changed by someone else", status_code=409)

    def test_a_customer_is_not_shown_the_login_tab(self) -> None:
        customer_person = PersonFactory(organisation=self.p.org_a)
        self.client.force_login(self.p.customer_a)
        page = self.client.get(customer_person.get_absolute_url())
        self.assertEqual(page.status_code, 200)
        self.assertNotContains(page, 'data-tab="login"')
        self.assertNotContains(page, 'data-tab="notifications"')
        self.assertContains(page, 'data-tab="history"')
        self.assertEqual(self.client.get(customer_person.get_absolute_url() + "?tab=login").status_code, 403)


class TransitionsAreRecordActionsTests(PrincipalsTestCase):
    def test_the_person_lifecycle_and_the_login_are_one_list_of_actions(self) -> None:
        found = actions.actions_of(registry.get(Person))
        self.assertEqual([a.name for a in found], ["suspend", "reactivate", "leave", "grant_login"])
        self.assertEqual([a.transition is not None for a in found], [True, True, True, False])
        self.assertTrue(all(Role.AUDITOR not in a.roles for a in found))

    def test_a_button_posts_a_transition_through_the_same_url_scheme(self) -> None:
        person = PersonFactory(organisation=self.p.internal)
        self.client.force_login(self.admin)
        url = reverse("core:person_action", args=[person.pk, "suspend"])
        self.assertEqual(self.client.post(url, {"version": 1}).status_code, 302)  # no reason: said on the page
        self.assertEqual(Person.objects.get(pk=person.pk).status, PersonStatus.ACTIVE)
        confirm_page = self.client.get(reverse("core:person_action", args=[person.pk, "leave"]))
        self.assertContains(confirm_page, "Their login stops working at once")
        self.client.post(url, {"version": 1, "reason": "lost laptop"})
        self.assertEqual(Person.objects.get(pk=person.pk).status, PersonStatus.SUSPENDED)
        self.assertEqual(self.client.post(url.replace("suspend", "nope"), {"version": 2}).status_code, 404)


class ActionDeclarationTests(PrincipalsTestCase):
    def test_an_action_never_names_the_auditor_and_refuses_bad_declarations(self) -> None:
        declared = RecordAction("look", "Look", lambda obj, **kw: obj, roles=STAFF)
        self.assertNotIn(Role.AUDITOR, declared.roles)
        with self.assertRaises(ValueError):
            RecordAction("Bad-Name", "Bad", lambda obj, **kw: obj)
        with self.assertRaises(TypeError):
            RecordAction("plain", "Plain", lambda obj, **kw: obj, form=object)  # type: ignore[arg-type]
        with self.assertRaises(ValueError):
            Tab("details", "Details", template="x.html")

    def test_the_request_schema_is_derived_from_the_form(self) -> None:
        api = api_client(self.p.users[Role.AUDITOR])
        schema = api.get(reverse("schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
        body = schema["paths"]["/api/v1/core/people/{id}/grant-login/"]["post"]["requestBody"]
        ref = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        properties = schema["components"]["schemas"][ref]["properties"]
        self.assertEqual(set(properties), {"username", "roles", "password", "reason", "version"})
        self.assertEqual(set(schema["components"]["schemas"][ref]["required"]), {"username", "roles"})

    def test_action_forms_subclass_action_form(self) -> None:
        from meridian.core.forms import GrantLoginForm

        self.assertTrue(issubclass(GrantLoginForm, ActionForm))


@override_settings(TIME_ZONE="UTC")
class CalendarHoursTabTests(PrincipalsTestCase):
    def setUp(self) -> None:
        self.calendar = CalendarFactory(name="Amsterdam office", holiday_country="")
        self.today = timezone.now().date()
        self.closed = self.today + timedelta(days=3)
        CalendarExceptionFactory(
            calendar=self.calendar, date=self.closed, kind=CalendarExceptionKind.CLOSED, reason="Office move"
        )

    def test_the_tab_shows_the_next_two_weeks_with_closures_and_a_badge(self) -> None:
        self.client.force_login(self.p.users[Role.RESOLVER])
        detail = self.client.get(self.calendar.get_absolute_url())
        self.assertContains(detail, 'data-tab="hours"')
        self.assertEqual(detail.context["tab_bar"][1]["badge"], 1)  # one closure to come
        tab = self.client.get(self.calendar.get_absolute_url() + "?tab=hours")
        self.assertEqual(tab.status_code, 200)
        days = tab.context["days"]
        self.assertEqual(len(days), 14)
        by_date = {d["date"]: d for d in days}
        self.assertEqual(by_date[self.closed]["hours"], [])
        self.assertEqual(by_date[self.closed]["note"], "Closed all day: Office move")
        weekday = next(
            d for d in days if d["date"].weekday() < 5 and d["date"] != self.closed and d["date"] > self.today
        )
        self.assertEqual(
            [(a.strftime("%H:%M"), b.strftime("%H:%M")) for a, b in weekday["hours"]], [("09:00", "17:00")]
        )
        saturday = next(d for d in days if d["date"].weekday() == 5)
        self.assertEqual(saturday["hours"], [])
        self.assertContains(tab, "Office move")

    def test_htmx_gets_the_tab_alone(self) -> None:
        self.client.force_login(self.p.users[Role.RESOLVER])
        partial = self.client.get(
            self.calendar.get_absolute_url() + "?tab=hours", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="record-tabs"
        )
        self.assertEqual(partial.status_code, 200)
        self.assertNotContains(partial, "<html")
        self.assertContains(partial, 'data-tab-pane="hours"')

    def test_the_api_gives_the_same_days(self) -> None:
        api = api_client(self.p.users[Role.RESOLVER])
        data = api.get(reverse("api:core-calendars-hours", args=[self.calendar.pk])).json()
        self.assertEqual(data["time_zone"], "Europe/Amsterdam")
        self.assertEqual(len(data["days"]), 14)
        closed = next(d for d in data["days"] if d["date"] == self.closed.isoformat())
        self.assertEqual((closed["hours"], closed["note"]), ([], "Closed all day: Office move"))
        self.assertEqual(api.get(reverse("api:core-calendars-hours", args=[999999])).status_code, 404)

    def test_a_holiday_is_named_in_the_preview(self) -> None:
        calendar = Calendar.objects.get(pk=self.calendar.pk)
        calendar.holiday_country = "NL"
        from meridian.core.hours import preview

        days = preview(calendar, days=400)
        christmas = next(d for d in days if d["date"] == date(d["date"].year, 12, 25))
        self.assertEqual(christmas["hours"], [])
        self.assertIn("Christmas", christmas["note"])

    def test_built_in_tabs_are_declared_like_the_others(self) -> None:
        names = [t.name for t in tabs.tabs_of(registry.get(Calendar))]
        self.assertEqual(names, ["hours", "timeline", "history", "notifications"])
