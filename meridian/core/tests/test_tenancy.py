"""Authorisation and tenancy: auditors never act, links stay within the rules, hidden linked records stay hidden
on every channel, and concurrent login grants leave no orphan login."""

from __future__ import annotations

import csv
import dataclasses
import io
import threading
from typing import Any
from unittest import mock

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import close_old_connections, connection
from django.test import TransactionTestCase
from django.urls import reverse

from meridian.core import audit, policy, registry, services
from meridian.core.choices import AuditAction, PersonStatus, Role
from meridian.core.factories import CalendarFactory, LocationFactory, PersonFactory
from meridian.core.lifecycle import Transition
from meridian.core.models import AuditEvent, Location, Person, Team, User
from meridian.core.registry import EXPORT, STAFF, Link, RecordType
from meridian.core.testing import PrincipalsTestCase, api_client, fresh, make_principals


class AuditorNeverActsTests(PrincipalsTestCase):
    """A transition declared for STAFF (which includes the auditor) is still closed to the auditor: service, page
    and API refuse, and no button or API action is offered; an agent, also in STAFF, may."""

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.auditor = cls.p.users[Role.AUDITOR]
        cls.agent = cls.p.users[Role.SERVICE_DESK_AGENT]

    def setUp(self) -> None:
        self.person = PersonFactory(organisation=self.p.internal, first_name="Target")
        lifecycle = registry.get(Person).lifecycle
        assert lifecycle is not None
        staff_suspend = dataclasses.replace(lifecycle.get("suspend"), roles=STAFF)  # type: ignore[type-var]
        transitions = [staff_suspend if t.action == "suspend" else t for t in lifecycle.transitions]
        for patch in (
            mock.patch.object(lifecycle, "transitions", transitions),
            mock.patch.dict(lifecycle._by_action, {"suspend": staff_suspend}),
        ):
            patch.start()
            self.addCleanup(patch.stop)

    def assert_still_active(self) -> None:
        self.person.refresh_from_db()
        self.assertEqual((self.person.status, self.person.version), (PersonStatus.ACTIVE, 1))
        self.assertFalse(AuditEvent.objects.filter(action=AuditAction.TRANSITION).exists())

    def test_a_transition_never_lists_the_auditor_whatever_it_declares(self) -> None:
        declared = Transition("look", source=["a"], target="b", roles=STAFF)
        self.assertNotIn(Role.AUDITOR, declared.roles)
        self.assertIn(Role.SERVICE_DESK_AGENT, declared.roles)

    def test_service_refuses_the_auditor(self) -> None:
        with self.assertRaises(PermissionDenied):
            services.transition(self.person, "suspend", actor=fresh(self.auditor), reason="audit", expected_version=1)
        self.assertEqual(services.available_transitions(self.person, fresh(self.auditor)), [])
        self.assert_still_active()

    def test_page_offers_no_button_and_refuses_the_post(self) -> None:
        self.client.force_login(self.auditor)
        detail = self.client.get(self.person.get_absolute_url())
        self.assertEqual(detail.status_code, 200)
        self.assertNotContains(detail, "Suspend account")
        url = reverse("core:person_action", args=[self.person.pk, "suspend"])
        response = self.client.post(url, {"reason": "audit", "version": 1})
        self.assertEqual(response.status_code, 403)
        self.assert_still_active()

    def test_api_offers_no_action_and_refuses_it(self) -> None:
        api = api_client(self.auditor)
        detail = api.get(reverse("api:core-people-detail", args=[self.person.pk]))
        self.assertEqual(detail.json()["available_actions"], [])
        url = reverse("api:core-people-suspend", args=[self.person.pk])
        response = api.post(url, {"reason": "audit", "version": 1}, format="json")
        self.assertEqual(response.status_code, 403, response.content)
        self.assert_still_active()

    def test_an_agent_in_the_same_declared_roles_may(self) -> None:
        """The control: the STAFF declaration is in force, so only the auditor's exclusion refuses above."""
        api = api_client(self.agent)
        detail = api.get(reverse("api:core-people-detail", args=[self.person.pk]))
        self.assertEqual(detail.json()["available_actions"], ["suspend"])
        url = reverse("api:core-people-suspend", args=[self.person.pk])
        response = api.post(url, {"reason": "agent", "version": 1}, format="json")
        self.assertEqual(response.status_code, 200, response.content)
        self.person.refresh_from_db()
        self.assertEqual(self.person.status, PersonStatus.SUSPENDED)


class LinkRuleTests(PrincipalsTestCase):
    """The declared link rules of the core types, on the form channel too, and the declaration itself."""

    def test_the_form_refuses_a_parent_location_of_another_organisation(self) -> None:
        parent_b = LocationFactory(organisation=self.p.org_b, name="B campus")
        self.client.force_login(self.admin)
        before = (Location.objects.count(), AuditEvent.objects.count())
        response = self.client.post(
            reverse("core:location_add"),
            {"name": "A room", "kind": "room", "organisation": self.p.org_a.pk, "parent": parent_b.pk},
        )
        self.assertEqual(response.status_code, 400)
        self.assertEqual(
            response.context["form"].errors["parent"],
            ["Choose from the locations of this location's own organisation."],
        )
        self.assertEqual((Location.objects.count(), AuditEvent.objects.count()), before)

    def test_moving_a_person_to_another_organisation_checks_the_links_they_keep(self) -> None:
        site_a = LocationFactory(organisation=self.p.org_a)
        person = PersonFactory(organisation=self.p.org_a, location=site_a)
        with self.assertRaises(ValidationError) as refused:
            services.update_record(person, data={"organisation": self.p.org_b}, actor=self.admin, expected_version=1)
        self.assertEqual(list(refused.exception.message_dict), ["location"])
        person.refresh_from_db()
        self.assertEqual(person.organisation_id, self.p.org_a.pk)

    def test_a_team_of_the_provider_takes_its_own_people(self) -> None:
        member = PersonFactory(organisation=self.p.internal)
        team = services.create_record(
            Team,
            data={"name": "NOC", "organisation": self.p.internal, "lead": member, "memberships": [{"person": member}]},
            actor=self.admin,
        )
        self.assertEqual((team.lead, list(team.members.all())), (member, [member]))

    def test_an_organisation_may_have_a_parent_of_another_organisation(self) -> None:
        child = services.update_record(
            self.p.org_b, data={"parent": self.p.org_a}, actor=self.admin, expected_version=self.p.org_b.version
        )
        self.assertEqual(child.parent, self.p.org_a)

    def test_a_declared_link_must_be_a_relation(self) -> None:
        with self.assertRaisesMessage(ValueError, "links ['name'] are not foreign keys"):
            RecordType(
                model=Location, fields=["name"], list_columns=["name"], search_fields=[], links={"name": Link.ANY}
            )


class HiddenLinksTests(PrincipalsTestCase):
    """A linked record the reader may not see is "hidden" (no name, no link) on the detail page, in list columns,
    CSV and XLSX exports, the history tab, API `display` and the API's related fields. The data: customer B's
    organisation has customer A as its parent (allowed: a group of companies) and a calendar (customers do not see
    calendars); B's room lies in A's campus (written before the link rule existed)."""

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.reader = cls.p.customer_b
        org_b = cls.p.org_b
        org_b.parent = cls.p.org_a
        org_b.calendar = CalendarFactory(name="Secret hours")
        org_b.save()
        cls.campus_a = LocationFactory(organisation=cls.p.org_a, name="Campus Alpha")
        cls.room_b = LocationFactory(organisation=org_b, name="Room Beta", parent=cls.campus_a)
        audit.record_event(
            action=AuditAction.UPDATE,
            obj=cls.room_b,
            actor=cls.admin,
            changes={"parent": {"before": None, "after": cls.campus_a.pk}},
        )
        cls.secrets = [cls.p.org_a.name, "Campus Alpha", "Secret hours"]
        cls.secret_urls = [cls.p.org_a.get_absolute_url(), cls.campus_a.get_absolute_url()]

    def assert_nothing_disclosed(self, text: str) -> None:
        for secret in [*self.secrets, *self.secret_urls]:
            self.assertNotIn(secret, text)

    def test_helper_names_hidden_records_hidden_and_visible_ones_by_name(self) -> None:
        reader = fresh(self.reader)
        self.assertEqual(policy.shown(reader, self.campus_a), "hidden")
        self.assertEqual(policy.shown(reader, self.room_b), "hidden / Room Beta")
        self.assertEqual(policy.shown(fresh(self.admin), self.room_b), "Campus Alpha / Room Beta")

    def test_detail_pages(self) -> None:
        self.client.force_login(self.reader)
        for obj in (self.p.org_b, self.room_b):
            with self.subTest(obj=obj):
                response = self.client.get(obj.get_absolute_url())
                self.assertEqual(response.status_code, 200)
                self.assertContains(response, '<span class="text-muted">hidden</span>', html=True)
                self.assert_nothing_disclosed(response.content.decode())

    def test_history_tab(self) -> None:
        self.client.force_login(self.reader)
        response = self.client.get(self.room_b.get_absolute_url() + "?tab=history")
        self.assertContains(response, "hidden")
        self.assert_nothing_disclosed(response.content.decode())

    def test_list_column_and_exports(self) -> None:
        """Customers may not export core types by default: granted here, as a process type may grant it."""
        rt = registry.get(Location)
        self.client.force_login(self.reader)
        url = reverse("core:location_list")
        listing = self.client.get(url)
        self.assertContains(listing, "Room Beta")
        self.assert_nothing_disclosed(listing.content.decode())
        grant = mock.patch.dict(rt.permissions, {EXPORT: rt.permissions[EXPORT] | {Role.CUSTOMER_USER}})
        grant.start()
        self.addCleanup(grant.stop)
        rows = list(csv.reader(io.StringIO(self.client.get(url + "?export=csv").content.decode())))
        header = rows[0]
        room = next(row for row in rows if row[0] == "Room Beta")
        self.assertEqual(room[header.index("Parent")], "hidden")
        self.assert_nothing_disclosed(repr(rows))
        from openpyxl import load_workbook

        sheet = load_workbook(io.BytesIO(self.client.get(url + "?export=xlsx").content)).active
        cells = [[cell.value for cell in row] for row in sheet.iter_rows()]
        self.assertIn(["Room Beta", "Site", "Customer B (tests)", "hidden"], cells)
        self.assert_nothing_disclosed(repr(cells))

    def test_api_display_and_related_fields(self) -> None:
        api = api_client(self.reader)
        room = api.get(reverse("api:core-locations-detail", args=[self.room_b.pk])).json()
        self.assertEqual((room["display"], room["parent"]), ("hidden / Room Beta", "hidden"))
        self.assertEqual(room["organisation"], self.p.org_b.pk)
        organisation = api.get(reverse("api:core-organisations-detail", args=[self.p.org_b.pk])).json()
        self.assertEqual((organisation["parent"], organisation["calendar"]), ("hidden", "hidden"))
        listed = api.get(reverse("api:core-locations-list")).json()["results"]
        self.assertEqual([(r["display"], r["parent"]) for r in listed], [("hidden / Room Beta", "hidden")])
        self.assert_nothing_disclosed(repr([room, organisation, listed]))

    def test_search_page_and_api(self) -> None:
        self.client.force_login(self.reader)
        page = self.client.get(reverse("search"), {"q": "Room Beta"})
        self.assertContains(page, "hidden / Room Beta")
        self.assert_nothing_disclosed(page.content.decode())
        hits = api_client(self.reader).get(reverse("api:search"), {"q": "Room Beta"}).json()
        self.assertEqual([hit["display"] for hit in hits], ["hidden / Room Beta"])
        self.assert_nothing_disclosed(repr(hits))

    def test_staff_still_read_names(self) -> None:
        room = api_client(self.admin).get(reverse("api:core-locations-detail", args=[self.room_b.pk])).json()
        self.assertEqual((room["display"], room["parent"]), ("Campus Alpha / Room Beta", self.campus_a.pk))


class ConcurrentLoginGrantTests(TransactionTestCase):
    """Two administrators give the same person a login at the same moment (real threads, own connections, on
    SQLite and PostgreSQL): exactly one wins, the other gets a field error, and no login is left without a
    person."""

    def test_two_grants_race_one_wins_and_no_orphan_login_remains(self) -> None:
        p = make_principals()
        admins = [p.users[Role.ADMINISTRATOR], User.objects.create_user("second-admin", is_superuser=True)]
        person = PersonFactory(organisation=p.internal, first_name="Contested")
        barrier = threading.Barrier(2)
        outcomes: dict[str, Any] = {}

        def grant(index: int) -> None:
            stale = Person.objects.get(pk=person.pk)  # both read "no login yet" before either writes
            username = f"contested-{index}"
            try:
                barrier.wait()
                services.grant_login(
                    stale,
                    username=username,
                    roles=[Role.RESOLVER],
                    actor=fresh(admins[index]),
                    expected_version=stale.version,
                )
                outcomes[username] = "granted"
            except services.StaleVersion:
                outcomes[username] = "stale"  # the winner's grant moved the person's version on
            except ValidationError as exc:
                outcomes[username] = exc.message_dict
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                outcomes[username] = exc
            finally:
                close_old_connections()
                connection.close()

        threads = [threading.Thread(target=grant, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)

        winners = [name for name, outcome in outcomes.items() if outcome == "granted"]
        self.assertEqual(len(winners), 1, outcomes)
        (loser,) = set(outcomes) - set(winners)
        self.assertEqual(outcomes[loser], "stale")
        person.refresh_from_db()
        self.assertEqual((person.user.username, person.version), (winners[0], 2))
        self.assertFalse(User.objects.filter(username=loser).exists())
        orphans = User.objects.filter(person__isnull=True, groups__isnull=False)  # a login with roles, no person
        self.assertEqual(list(orphans), [])
        grants = AuditEvent.objects.filter(record_type="core.person", record_id=str(person.pk), action="update")
        self.assertEqual([User.objects.get(pk=e.changes["user"]["after"]).username for e in grants], winners)
