"""The person account lifecycle: every action from every state as every role, its effects and its API/page
endpoints."""

from __future__ import annotations

from django.core import mail
from django.test import TestCase
from django.urls import reverse
from rest_framework.test import APIClient

from meridian.core import api_tokens, services
from meridian.core.choices import PersonStatus, Role
from meridian.core.factories import PersonFactory, UserFactory
from meridian.core.models import AuditEvent, NotificationLog, Person
from meridian.core.testing import (
    PrincipalsTestCase,
    assert_lifecycle_walk,
    make_principals,
    token_for,
    walks_lifecycle,
)


class PersonLifecycleTests(PrincipalsTestCase):
    def make_person(self, state: str = PersonStatus.ACTIVE) -> Person:
        user = UserFactory(roles=[Role.RESOLVER], is_active=state == PersonStatus.ACTIVE)
        return PersonFactory(organisation=self.p.internal, user=user, status=state)

    def own_account_of_the_administrator(self, state: str) -> Person:
        """The walking administrator's own person, in `state`: the guard refuses to suspend or end it."""
        Person.objects.filter(user=self.admin).update(status=state)
        return Person.objects.get(user=self.admin)

    @walks_lifecycle(Person)
    def test_every_action_from_every_state_as_every_role(self) -> None:
        assert_lifecycle_walk(
            self,
            Person,
            self.own_account_of_the_administrator,
            self.p,
            make_allowed=lambda state, action, actor: self.make_person(state),
        )

    def test_suspending_ends_sessions_and_revokes_tokens_and_tells_the_person(self) -> None:
        person = self.make_person()
        secret = token_for(person.user)
        self.client.login(username=person.user.username, password="correct horse battery")
        self.assertEqual(self.client.get(reverse("home")).status_code, 200)
        with self.captureOnCommitCallbacks(execute=True):
            services.transition(person, "suspend", actor=self.admin, reason="laptop stolen", expected_version=1)
        self.assertRedirects(
            self.client.get(reverse("home")), f"{reverse('login')}?next=/", fetch_redirect_response=False
        )
        self.assertFalse(api_tokens.active_tokens(person.user).exists())
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
        self.assertEqual(api.get("/api/v1/me/").status_code, 401)
        person.refresh_from_db()
        self.assertEqual(person.status, PersonStatus.SUSPENDED)
        event = AuditEvent.objects.filter(record_type="core.person", record_id=str(person.pk)).first()
        self.assertEqual(event.reason, "laptop stolen")
        self.assertEqual(event.actor_label, self.admin.username)
        log = NotificationLog.objects.get(record_id=str(person.pk), event="core.person.account_ended")
        self.assertEqual(log.status, "sent")
        self.assertEqual(mail.outbox[-1].to, [person.email])
        self.assertIn("suspended", mail.outbox[-1].subject)

    def test_reason_is_required_to_suspend_and_nothing_changes_without(self) -> None:
        person = self.make_person()
        with self.assertRaisesMessage(Exception, "reason is required"):
            services.transition(person, "suspend", actor=self.admin, reason="  ", expected_version=1)
        person.refresh_from_db()
        self.assertEqual(person.status, PersonStatus.ACTIVE)
        self.assertTrue(person.user.is_active)

    def test_reactivation_restores_login_but_not_old_sessions(self) -> None:
        person = self.make_person()
        self.client.login(username=person.user.username, password="correct horse battery")
        services.transition(person, "suspend", actor=self.admin, reason="leave of absence", expected_version=1)
        services.transition(person, "reactivate", actor=self.admin, expected_version=2)
        self.assertEqual(self.client.get(reverse("home")).status_code, 302)
        self.assertTrue(self.client.login(username=person.user.username, password="correct horse battery"))
        self.assertEqual(self.client.get(reverse("home")).status_code, 200)

    def test_api_action_endpoints_follow_the_table(self) -> None:
        person = self.make_person()
        api = APIClient()
        api.force_authenticate(self.admin)
        url = reverse("api:core-people-detail", args=[person.pk])
        self.assertEqual(api.get(url).json()["available_actions"], ["suspend", "leave"])
        missing_reason = api.post(url + "suspend/", {"version": 1}, format="json")
        self.assertEqual(missing_reason.status_code, 400)
        self.assertIn("reason", missing_reason.json())
        done = api.post(url + "suspend/", {"reason": "audit finding", "version": 1}, format="json")
        self.assertEqual(done.status_code, 200, done.content)
        self.assertEqual(done.json()["status"], "suspended")
        self.assertEqual(done.json()["available_actions"], ["reactivate", "leave"])
        again = api.post(url + "suspend/", {"reason": "twice", "version": 2}, format="json")
        self.assertEqual(again.status_code, 409)
        stale = api.post(url + "leave/", {"reason": "moved on", "version": 1}, format="json")
        self.assertEqual(stale.status_code, 409)
        self.assertIn("current", stale.json())
        agent = APIClient()
        agent.force_authenticate(self.p.users[Role.SERVICE_DESK_AGENT])
        self.assertEqual(agent.get(url).json()["available_actions"], [])
        self.assertEqual(agent.post(url + "leave/", {"reason": "x", "version": 2}, format="json").status_code, 403)

    def test_status_cannot_be_written_directly(self) -> None:
        person = self.make_person()
        api = APIClient()
        api.force_authenticate(self.admin)
        url = reverse("api:core-people-detail", args=[person.pk])
        api.patch(url, {"status": "left", "version": person.version}, format="json")
        person.refresh_from_db()
        self.assertEqual(person.status, PersonStatus.ACTIVE)

    def test_page_shows_only_allowed_buttons_and_runs_them(self) -> None:
        person = self.make_person()
        self.client.force_login(self.p.users[Role.SERVICE_DESK_AGENT])
        page = self.client.get(person.get_absolute_url())
        self.assertNotContains(page, "Suspend account")
        self.client.force_login(self.admin)
        page = self.client.get(person.get_absolute_url())
        self.assertContains(page, "Suspend account")
        self.assertNotContains(page, "Reactivate")
        url = reverse("core:person_action", args=[person.pk, "suspend"])
        response = self.client.post(url, {"reason": "security review", "version": person.version}, follow=True)
        self.assertContains(response, "Reactivate")
        person.refresh_from_db()
        self.assertEqual(person.status, PersonStatus.SUSPENDED)
        response = self.client.post(url, {"reason": "again", "version": person.version}, follow=True)
        self.assertContains(response, "is not possible while")


class SelfLockoutTests(TestCase):
    def test_an_administrator_cannot_suspend_or_end_their_own_account(self) -> None:
        p = make_principals()
        admin = p.users[Role.ADMINISTRATOR]
        own = Person.objects.get(user=admin)
        self.assertEqual(services.available_transitions(own, admin), [])
        for action in ("suspend", "leave"):
            with self.subTest(action=action), self.assertRaisesMessage(services.TransitionNotAllowed, "own account"):
                services.transition(own, action, actor=admin, reason="oops", expected_version=own.version)
        own.refresh_from_db()
        self.assertEqual(own.status, PersonStatus.ACTIVE)
