"""The home page and the navigation: what each role sees, tenancy of counts and recent records, the current area,
the Django admin link, declared pages and `my_work`, and a number of queries that does not grow with the number
of registered record types."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import skipUnless

from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.db import connection
from django.db.models import QuerySet
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.text import capfirst

from meridian.core import registry, services
from meridian.core.choices import AuditAction, Role
from meridian.core.factories import LocationFactory, PersonFactory, TeamFactory, UserFactory
from meridian.core.models import AuditEvent, Organisation, Person, Team
from meridian.core.registry import AREAS, VIEW, MyWork, RecordType
from meridian.core.testing import PrincipalsTestCase


def teams_of(qs: QuerySet[Any], user: Any) -> QuerySet[Any]:
    return qs.filter(members__user=user)


TEAMS_I_AM_IN = MyWork("Teams you are in", teams_of)


@contextmanager
def extra_types(count: int, *, my_work: bool = True) -> Iterator[list[RecordType]]:
    """`count` more registered types (copies of the core types, spread over every area, every other one declaring
    `my_work`), as fifteen apps would add; the registry is restored afterwards."""
    saved = dict(registry._registry)
    core = list(saved.values())
    added = []
    try:
        teams = saved[Team]
        for n in range(count):
            if my_work and n % 2 == 0:
                rt = dataclasses.replace(teams, area=AREAS[n % len(AREAS)].key, my_work=TEAMS_I_AM_IN)
            else:
                rt = dataclasses.replace(core[n % len(core)], area=AREAS[n % len(AREAS)].key)
            registry._registry[type(f"Extra{n}", (), {})] = rt
            added.append(rt)
        yield added
    finally:
        registry._registry.clear()
        registry._registry.update(saved)


@contextmanager
def extra_pages(*pages: tuple[str, str, str, set[str]]) -> Iterator[None]:
    saved = list(registry._pages)
    try:
        for area, label, url_name, roles in pages:
            registry.register_page(area, label, url_name, roles)
        yield
    finally:
        registry._pages[:] = saved


def page_text(response: Any) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


class HomeQueriesTest(PrincipalsTestCase):
    def setUp(self) -> None:
        self.agent = self.p.users[Role.SERVICE_DESK_AGENT]
        self.client.force_login(self.agent)
        team = TeamFactory(organisation=self.p.internal)
        team.members.add(Person.objects.get(user=self.agent))
        services.create_record(
            Person, data={"first_name": "Rita", "last_name": "Rack", "organisation": self.p.internal}, actor=self.agent
        )

    def home_queries(self) -> int:
        cache.clear()  # a visit with the counts not cached: the most queries a visit makes
        with CaptureQueriesContext(connection) as queries:
            response = self.client.get(reverse("home"))
        self.assertEqual(response.status_code, 200)
        return len(queries)

    def test_queries_do_not_grow_with_the_number_of_registered_types(self) -> None:
        with extra_types(1):  # one type declaring my_work, so that every part of the page runs
            baseline = self.home_queries()
        with extra_types(75) as added:
            self.assertGreater(len(registry.all_types()), 75)
            self.assertGreater(sum(1 for rt in added if rt.my_work), 5)
            response = self.client.get(reverse("home"))
            many = self.home_queries()
        self.assertEqual(many, baseline)
        # the declared my_work really ran, and the team the agent is in is shown
        self.assertTrue(response.context["home"].my_work_types)
        self.assertEqual([item.type_label for item in response.context["home"].my_work][:1], ["Team"])

    def test_counts_come_from_the_cache_within_a_minute(self) -> None:
        cache.clear()
        self.client.get(reverse("home"))
        with CaptureQueriesContext(connection) as queries:
            self.client.get(reverse("home"))
        counting = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and "meridian_cache" not in q["sql"]]
        self.assertEqual(counting, [], "a second visit counted the records again")


class HomeByRoleTest(PrincipalsTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        for n in range(2):
            PersonFactory(organisation=cls.p.org_a, first_name=f"Ann{n}", last_name="A")
        for n in range(5):
            PersonFactory(organisation=cls.p.org_b, first_name=f"Ben{n}", last_name="B")

    def setUp(self) -> None:
        cache.clear()

    def home(self, user: Any) -> Any:
        self.client.force_login(user)
        response = self.client.get(reverse("home"))
        self.assertEqual(response.status_code, 200)
        return response

    def counts(self, response: Any) -> dict[str, int | None]:
        return {link.rt.model_name: link.count for area in response.context["home"].areas for link in area.types}

    def test_a_user_without_a_role_is_told_to_ask_for_one(self) -> None:
        nobody = UserFactory(username="t-nobody")
        PersonFactory(organisation=self.p.internal, user=nobody)
        response = self.home(nobody)
        self.assertContains(response, "You have no role yet")
        self.assertContains(response, "Ask an administrator to give your login a role")
        self.assertNotContains(response, 'id="nav-areas"><li')
        self.assertEqual(response.context["nav_areas"], [])

    def test_a_customer_sees_their_organisation_and_counts_of_its_rows_only(self) -> None:
        response = self.home(self.p.customer_a)
        self.assertContains(response, "Customer A (tests)")
        self.assertNotContains(response, "Customer B (tests)")
        counts = self.counts(response)
        self.assertEqual(counts["person"], Person.objects.filter(organisation=self.p.org_a).count())
        self.assertEqual(counts["person"], 3)  # Alice and the two Anns; never Bob and the five Bens
        self.assertEqual(counts["organisation"], 1)
        self.assertNotIn("team", counts)
        self.assertNotIn("calendar", counts)
        self.assertNotContains(response, 'id="home-teams"')
        self.assertContains(response, "what you create or change shows here")
        # the other customer, right after: their own counts, never the first one's cached ones
        other = self.counts(self.home(self.p.customer_b))
        self.assertEqual(other["person"], 6)
        # and staff see everyone
        staff = self.counts(self.home(self.p.users[Role.SERVICE_DESK_AGENT]))
        self.assertEqual(staff["person"], Person.objects.count())

    def test_a_customer_sees_no_record_of_another_organisation_among_recent_ones(self) -> None:
        own = LocationFactory(organisation=self.p.org_a, name="Own office")
        foreign_parent = LocationFactory(organisation=self.p.org_b, name="Foreign campus")
        child = LocationFactory(organisation=self.p.org_a, name="Own floor", parent=foreign_parent)
        foreign = LocationFactory(organisation=self.p.org_b, name="Foreign office")
        for obj in (own, child, foreign, foreign_parent):
            AuditEvent.objects.create(
                actor_id=self.p.customer_a.pk,
                actor_label="alice",
                action=AuditAction.UPDATE,
                record_type="core.location",
                record_id=str(obj.pk),
                record_label=str(obj),
            )
        response = self.home(self.p.customer_a)
        recent = response.context["home"].recent
        self.assertEqual([item.name for item in recent], ["hidden / Own floor", "Own office"])
        self.assertNotContains(response, "Foreign")
        self.assertContains(response, reverse("core:location_detail", args=[own.pk]))

    def test_an_agent_sees_their_teams_and_what_they_changed_linked_and_named(self) -> None:
        agent = self.p.users[Role.SERVICE_DESK_AGENT]
        team = TeamFactory(organisation=self.p.internal, name="Service Desk (tests)")
        team.members.add(Person.objects.get(user=agent))
        TeamFactory(organisation=self.p.internal, name="Other team")
        person = services.create_record(
            Person, data={"first_name": "Nora", "last_name": "New", "organisation": self.p.org_a}, actor=agent
        )
        gone = services.create_record(
            Person, data={"first_name": "Gina", "last_name": "Gone", "organisation": self.p.org_a}, actor=agent
        )
        services.delete_record(gone, actor=self.admin, expected_version=gone.version)
        response = self.home(agent)
        self.assertContains(response, "Service Desk (tests)")
        self.assertNotContains(response, "Other team")
        recent = response.context["home"].recent
        self.assertEqual([(i.name, i.what) for i in recent], [(str(person), "Created")])
        self.assertContains(response, reverse("core:person_detail", args=[person.pk]))
        self.assertContains(response, "Nothing is assigned to you or your teams")
        self.assertNotContains(response, "Gina")

    def test_an_agent_in_no_team_is_told_how_to_get_into_one(self) -> None:
        response = self.home(self.p.users[Role.SERVICE_DESK_AGENT])
        self.assertContains(response, "You are in no team yet")

    def test_an_administrator_is_shown_where_to_start_and_may_add(self) -> None:
        response = self.home(self.admin)
        self.assertContains(response, "Start by adding the organisations you serve")
        self.assertContains(response, f'href="{reverse("core:organisation_add")}"')
        self.assertContains(response, f'href="{reverse("core:team_add")}"')
        agent_page = self.home(self.p.users[Role.SERVICE_DESK_AGENT])
        self.assertNotContains(agent_page, f'href="{reverse("core:organisation_add")}"')
        self.assertContains(agent_page, f'href="{reverse("core:person_add")}"')  # agents keep people

    def test_my_work_lists_the_readers_records_newest_first_with_counts(self) -> None:
        agent = self.p.users[Role.SERVICE_DESK_AGENT]
        me = Person.objects.get(user=agent)
        mine = [TeamFactory(organisation=self.p.internal, name=f"Mine {n}") for n in range(3)]
        for team in mine:
            team.members.add(me)
        TeamFactory(organisation=self.p.internal, name="Not mine")
        Team.objects.filter(pk=mine[1].pk).update(updated_at=mine[1].updated_at.replace(year=2030))
        team_type = registry.get(Team)
        saved = team_type.my_work
        team_type.my_work = TEAMS_I_AM_IN
        try:
            response = self.home(agent)
        finally:
            team_type.my_work = saved
        home = response.context["home"]
        self.assertEqual(next(item.name for item in home.my_work), "Mine 1")
        self.assertEqual(sorted(item.name for item in home.my_work), ["Mine 0", "Mine 1", "Mine 2"])
        self.assertEqual([(k.label, k.count) for k in home.my_work_types], [("Teams you are in", 3)])
        self.assertNotContains(response, "Not mine")


class NavigationTest(PrincipalsTestCase):
    def nav(self, user: Any, path: str | None = None) -> Any:
        self.client.force_login(user)
        response = self.client.get(path or reverse("home"))
        self.assertEqual(response.status_code, 200)
        return response

    def labels(self, response: Any) -> dict[str, list[str]]:
        return {area["label"]: [item["label"] for item in area["items"]] for area in response.context["nav_areas"]}

    def test_a_customer_sees_only_the_types_they_may_view(self) -> None:
        labels = self.labels(self.nav(self.p.customer_a))
        self.assertEqual(labels["Administration"], ["Organisations", "People", "Locations"])
        shown = {label for area in labels.values() for label in area}
        for rt in registry.all_types():  # every other app's types too: only those customers may view
            label = capfirst(rt.verbose_name_plural)
            self.assertEqual(label in shown, Role.CUSTOMER_USER in rt.permissions[VIEW], label)
        response = self.nav(self.p.customer_a)
        self.assertNotContains(response, reverse("core:team_list"))
        self.assertNotContains(response, reverse("core:calendar_list"))

    def test_staff_see_every_core_type(self) -> None:
        labels = self.labels(self.nav(self.p.users[Role.RESOLVER]))
        core = ["Organisations", "People", "Teams", "Locations", "Calendars", "Custom fields"]
        # the core's types in their order (the apps' administration types and pages come beside them)
        self.assertEqual([label for label in labels["Administration"] if label in core], core)

    def test_declared_pages_show_to_their_roles_in_their_area(self) -> None:
        with extra_pages(("control", "Approval inbox", "search", {Role.CHANGE_MANAGER})):
            manager = self.labels(self.nav(self.p.users[Role.CHANGE_MANAGER]))
            agent = self.labels(self.nav(self.p.users[Role.SERVICE_DESK_AGENT]))
            response = self.nav(self.p.users[Role.CHANGE_MANAGER])
        self.assertEqual(manager["Change & configuration"][0], "Approval inbox")  # pages before the area's types
        self.assertNotIn("Approval inbox", agent.get("Change & configuration", []))
        self.assertEqual(list(manager), [a.label for a in registry.AREAS if a.label in manager])  # declared order
        self.assertContains(response, "Approval inbox")

    def test_the_current_area_and_type_are_marked(self) -> None:
        response = self.nav(self.p.users[Role.RESOLVER], reverse("core:team_list"))
        html = page_text(response)
        self.assertRegex(
            html, r'<button [^>]*class="nav-link dropdown-toggle active" id="nav-area-administration"[^>]*aria-current'
        )
        self.assertIn(f'href="{reverse("core:team_list")}" aria-current="page">Teams</a>', html)
        self.assertEqual(html.count('aria-current="page"'), 1)
        team = TeamFactory(organisation=self.p.internal)
        detail = page_text(self.nav(self.p.users[Role.RESOLVER], reverse("core:team_detail", args=[team.pk])))
        self.assertIn(f'href="{reverse("core:team_list")}" aria-current="true">Teams</a>', detail)
        home = page_text(self.nav(self.p.users[Role.RESOLVER]))
        self.assertNotIn("aria-current", home)

    def test_the_admin_link_shows_exactly_to_those_the_admin_site_lets_in(self) -> None:
        superuser = UserFactory(username="t-super", is_staff=True, is_superuser=True)
        staff_with_permission = UserFactory(username="t-staff-perm", is_staff=True)
        staff_with_permission.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
        staff_without_permission = UserFactory(username="t-staff-none", is_staff=True)
        cases = [
            (superuser, True),
            (staff_with_permission, True),
            (staff_without_permission, False),  # the admin lets them in to a page that says they may see nothing
            (self.admin, False),  # the administrator role alone is not a staff account: the admin refuses it
            (self.p.users[Role.SERVICE_DESK_AGENT], False),
            (self.p.customer_a, False),
        ]
        for user, shown in cases:
            with self.subTest(user=user.username):
                response = self.nav(user)
                self.assertEqual("Django admin" in response.content.decode(), shown)
                admin_index = self.client.get(reverse("admin:index"))
                if shown:
                    self.assertEqual(admin_index.status_code, 200)
                    self.assertContains(admin_index, "Audit events")
                elif not user.is_staff:
                    self.assertRedirects(admin_index, f"{reverse('admin:login')}?next={reverse('admin:index')}")


class RegistryDeclarationsTest(PrincipalsTestCase):
    def test_an_unknown_area_is_refused(self) -> None:
        with self.assertRaisesMessage(ValueError, "unknown area 'servicedesk'"):
            registry.register_page("servicedesk", "Inbox", "search", {Role.SERVICE_DESK_AGENT})
        with self.assertRaisesMessage(ValueError, "unknown area 'servicedesk'"):
            dataclasses.replace(registry.get(Organisation), area="servicedesk")

    def test_a_page_is_declared_once_per_area(self) -> None:
        with (
            extra_pages(("operations", "Inbox", "search", {Role.SERVICE_DESK_AGENT})),
            self.assertRaisesMessage(ValueError, "registered twice"),
        ):
            registry.register_page("operations", "Inbox", "search", {Role.RESOLVER})


@skipUnless(connection.vendor == "postgresql", "PostgreSQL's row estimates")
class HomeEstimatesTest(PrincipalsTestCase):
    def test_staff_see_estimates_of_large_tables_and_customers_exact_counts_of_their_own(self) -> None:
        for n in range(40):
            PersonFactory(organisation=self.p.org_b, first_name=f"Many{n}")
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE core_person")
        cache.clear()
        with self.settings(MERIDIAN_COUNT_ESTIMATE_FROM=20):
            self.client.force_login(self.p.users[Role.SERVICE_DESK_AGENT])
            staff = self.client.get(reverse("home"))
            self.client.force_login(self.p.customer_a)
            customer = self.client.get(reverse("home"))
        people = next(link for area in staff.context["home"].areas for link in area.types if link.rt.model is Person)
        self.assertTrue(people.estimated)
        self.assertGreaterEqual(people.count, 20)
        self.assertContains(staff, "estimated from the database")
        own = next(link for area in customer.context["home"].areas for link in area.types if link.rt.model is Person)
        self.assertEqual((own.count, own.estimated), (1, False))
        self.assertNotContains(customer, "estimated from the database")
