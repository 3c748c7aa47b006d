"""List pages and API lists: natural, case-insensitive sorting of text (SQLite and PostgreSQL alike), linked
records as links, sort arrows, long values, the column chooser's queries, computed values and tenancy."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from meridian.core.choices import OrganisationKind, Role
from meridian.core.factories import LocationFactory, OrganisationFactory, PersonFactory, TeamFactory
from meridian.core.models import Organisation
from meridian.core.querysets import natural_key
from meridian.core.registry import get
from meridian.core.tables import available_columns, save_columns
from meridian.core.testing import PrincipalsTestCase, api_client

NAMES = ["Wagner", "de Vries", "Room 10", "Room 2", "Älmhult", "apple", "ROOM 3", "Zeta"]
NATURAL = ["Älmhult", "apple", "de Vries", "Room 2", "ROOM 3", "Room 10", "Wagner", "Zeta"]


class NaturalSortTests(PrincipalsTestCase):
    """ "de Vries" before "Wagner", "Room 2" before "Room 10", accents and case ignored: on the list page (by
    default and by its sort arrow, both ways), in the API's `ordering` and in a linked column."""

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.orgs = [OrganisationFactory(name=name, kind=OrganisationKind.CUSTOMER) for name in NAMES]

    def ours(self, names: list[str]) -> list[str]:
        return [name for name in names if name in NAMES]

    def page_names(self, **params: str) -> list[str]:
        self.client.force_login(self.p.users[Role.SERVICE_DESK_AGENT])
        table = self.client.get(reverse("core:organisation_list"), params).context["table"]
        return self.ours([row.record.name for row in table.paginated_rows])

    def test_the_python_key_agrees(self) -> None:
        self.assertEqual(sorted(NAMES, key=natural_key), NATURAL)

    def test_list_page_sorts_names_naturally(self) -> None:
        self.assertEqual(self.page_names(), NATURAL)
        self.assertEqual(self.page_names(sort="name"), NATURAL)
        self.assertEqual(self.page_names(sort="-name"), NATURAL[::-1])

    def test_api_orders_names_naturally(self) -> None:
        api = api_client(self.p.users[Role.SERVICE_DESK_AGENT])
        url = reverse("api:core-organisations-list")
        for ordering, expected in (("name", NATURAL), ("-name", NATURAL[::-1])):
            with self.subTest(ordering=ordering):
                rows = api.get(url, {"ordering": ordering, "page_size": 100}).json()["results"]
                self.assertEqual(self.ours([row["name"] for row in rows]), expected)

    def test_a_linked_column_sorts_by_the_linked_records_name(self) -> None:
        people = {org.name: PersonFactory(organisation=org, last_name="Same") for org in self.orgs}
        self.client.force_login(self.p.users[Role.SERVICE_DESK_AGENT])
        table = self.client.get(reverse("core:person_list"), {"sort": "organisation", "q": "Same"}).context["table"]
        self.assertEqual([row.record.organisation.name for row in table.paginated_rows], NATURAL)
        self.assertEqual(len(people), len(NAMES))


def make(factory: Any, owner: Organisation | None, count: int) -> None:
    for _ in range(count):
        factory() if owner is None else factory(organisation=owner)


class ListPageTests(PrincipalsTestCase):
    def test_sort_arrows_say_the_order(self) -> None:
        self.client.force_login(self.admin)
        url = reverse("core:organisation_list")
        self.assertContains(self.client.get(url, {"sort": "name"}), 'aria-sort="ascending"')
        descending = self.client.get(url, {"sort": "-people_count"})
        self.assertContains(descending, 'aria-sort="descending"')
        self.assertContains(descending, 'aria-sort="none"')

    def test_linked_records_are_links_and_hidden_ones_plain_text(self) -> None:
        hidden_parent = LocationFactory(organisation=self.p.org_b, name="Secret campus")
        LocationFactory(organisation=self.p.org_a, name="Room Alpha", parent=hidden_parent)
        self.client.force_login(self.p.customer_a)
        listing = self.client.get(reverse("core:location_list"))
        org_a = self.p.org_a
        self.assertContains(listing, f'<a href="{org_a.get_absolute_url()}" title="{org_a.name}">{org_a.name}</a>')
        self.assertContains(listing, '<span class="text-muted">hidden</span>', html=True)
        self.assertNotContains(listing, "Secret campus")
        self.assertNotContains(listing, hidden_parent.get_absolute_url())

    def test_a_long_name_is_shortened_with_the_full_value_on_hover(self) -> None:
        long_name = "Northwind" * 22 + "X" * 2  # 200 characters, no space
        OrganisationFactory(name=long_name)
        self.client.force_login(self.admin)
        listing = self.client.get(reverse("core:organisation_list"))
        self.assertContains(listing, f'<span class="cell-text" title="{long_name}">')

    def test_chosen_columns_cost_no_query_per_row(self) -> None:
        """Every column chosen (linked records, many-to-many, computed): the list still makes as many queries
        for seven rows as for two, as an agent and as a customer."""
        for model, factory, user, owner in (
            (Organisation, OrganisationFactory, self.p.users[Role.SERVICE_DESK_AGENT], None),
            (get(TeamFactory._meta.model).model, TeamFactory, self.p.users[Role.SERVICE_DESK_AGENT], self.p.internal),
            (get(PersonFactory._meta.model).model, PersonFactory, self.p.customer_a, self.p.org_a),
            (get(LocationFactory._meta.model).model, LocationFactory, self.p.customer_a, self.p.org_a),
        ):
            rt = get(model)
            with self.subTest(type=rt.label, user=user.username):
                save_columns(rt, user, available_columns(rt))
                self.client.force_login(user)
                url = reverse(rt.url_name("list"))

                make(factory, owner, 2)
                self.client.get(url)
                with CaptureQueriesContext(connection) as few:
                    self.client.get(url)
                make(factory, owner, 5)
                with CaptureQueriesContext(connection) as many:
                    response = self.client.get(url)
                self.assertEqual(len(many), len(few), [q["sql"] for q in many.captured_queries])
                self.assertEqual(response.context["columns"], available_columns(rt))


class QuerysetMachineryTests(PrincipalsTestCase):
    """`records_for`: prefetches restricted to what the reader may see, and the type's `queryset` hook applied on
    every channel."""

    def test_a_prefetch_never_carries_another_organisations_rows(self) -> None:
        from meridian.core.models import Location
        from meridian.core.querysets import records_for

        room = LocationFactory(organisation=self.p.org_a, name="Room A1")
        own = PersonFactory(organisation=self.p.org_a, location=room, last_name="Own")
        stranger = PersonFactory(organisation=self.p.org_b, location=room, last_name="Stranger")
        rt = get(Location)
        as_customer = records_for(rt, self.p.customer_a, prefetch=["people"]).get(pk=room.pk)
        self.assertEqual(list(as_customer.people.all()), [own])
        as_staff = records_for(rt, self.p.users[Role.SERVICE_DESK_AGENT], prefetch=["people"]).get(pk=room.pk)
        self.assertEqual({p.pk for p in as_staff.people.all()}, {own.pk, stranger.pk})

    def test_the_types_queryset_hook_narrows_pages_and_api(self) -> None:
        from unittest import mock

        rt = get(Organisation)
        dormant = OrganisationFactory(name="Dormant Ltd", active=False)
        awake = OrganisationFactory(name="Awake Ltd", active=True)
        with mock.patch.object(rt, "queryset", lambda qs, user: qs.filter(active=True)):
            self.client.force_login(self.admin)
            listing = self.client.get(reverse("core:organisation_list"))
            self.assertContains(listing, "Awake Ltd")
            self.assertNotContains(listing, "Dormant Ltd")
            self.assertEqual(self.client.get(dormant.get_absolute_url()).status_code, 404)
            api = api_client(self.admin)
            ids = [row["id"] for row in api.get(reverse("api:core-organisations-list")).json()["results"]]
            self.assertIn(awake.pk, ids)
            self.assertNotIn(dormant.pk, ids)
        self.assertEqual(self.client.get(dormant.get_absolute_url()).status_code, 200)
