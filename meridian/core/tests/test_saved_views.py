"""Saved views (`core.saved_views`), generic for every registered type: saved from the list page and the API,
applied (`?view=<id>` on the page and the API list), a person's default, sharing with a team or everyone, refusals
with field errors that write nothing, isolation (a shared view never widens what a reader sees), filters gone
since a view was saved reported on opening, the columns in the URL and the home page's quick links."""

from __future__ import annotations

from typing import Any

from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from meridian.core import policy, registry, saved_views
from meridian.core.choices import Role
from meridian.core.factories import CustomFieldFactory, PersonFactory, TeamFactory
from meridian.core.models import DefaultView, Person, SavedView, TeamMembership
from meridian.core.registry import VIEW, RecordType
from meridian.core.tables import available_columns
from meridian.core.testing import PrincipalsTestCase, api_client, least_privileged_viewer


def _plan(rt: RecordType) -> tuple[str, list[str]]:
    """A query (a search and a sort) and a column choice that every type's list accepts."""
    sort = saved_views.sortable_columns(rt)[0]
    columns = [rt.list_columns[0], available_columns(rt)[-1]]
    return f"q=zz&sort=-{sort}", list(dict.fromkeys(columns))


class GenericSavedViewTests(PrincipalsTestCase):
    """For every registered type (one subTest each): save from the page, open it, make it the default, apply it
    through the API, and refuse a taken name, an unknown column, an unknown filter and a bad sort."""

    def save(self, rt: RecordType, **data: Any) -> Any:
        return self.client.post(reverse(rt.url_name("views")), data)

    def test_every_type_saves_applies_and_defaults_a_view(self) -> None:
        for rt in registry.all_types():
            with self.subTest(type=rt.label):
                reader = least_privileged_viewer(self.p, rt)  # a staff role that may view, not the administrator
                self.client.force_login(reader)
                api = api_client(reader)
                query, columns = _plan(rt)
                list_url = reverse(rt.url_name("list"))
                response = self.save(rt, name="Mine", query=query, columns=",".join(columns), sharing="private")
                view = SavedView.objects.get(record_type=rt.label, owner=reader, name="Mine")
                self.assertRedirects(response, f"{list_url}?view={view.pk}", fetch_redirect_response=False)
                self.assertEqual(view.columns, columns)

                page = self.client.get(list_url, {"view": view.pk})
                self.assertEqual(page.status_code, 200)
                self.assertEqual(page.context["applied_view"], view)
                self.assertEqual(page.context["columns"], columns)
                self.assertEqual(page.context["filterset"].form.data.get("q"), "zz")
                self.assertEqual(page.context["table"].order_by, (query.split("sort=")[1],))
                self.assertContains(page, 'id="view-applied"')
                self.assertFalse(page.context["view_changed"])
                # the URL's own filter on top of the view: applied, and the view marked as changed
                changed = self.client.get(list_url, {"view": view.pk, "q": "other"})
                self.assertEqual(changed.context["filterset"].form.data.get("q"), "other")
                self.assertTrue(changed.context["view_changed"])

                # default: the list without a query string opens it; ?view=none is the plain list
                self.client.post(reverse(rt.url_name("view"), args=[view.pk]), {"action": "default"})
                self.assertRedirects(self.client.get(list_url), f"{list_url}?view={view.pk}", target_status_code=200)
                plain = self.client.get(list_url, {"view": "none"})
                self.assertIsNone(plain.context["applied_view"])
                self.assertIsNone(plain.context["filterset"].form.data.get("q"))

                # the API list with the view: its filter applies (no record matches "zz")
                api_list = reverse(f"api:{rt.app_label}-{rt.url_slug}-list")
                self.assertEqual(api.get(api_list, {"view": view.pk}).json()["count"], 0)
                self.assertGreaterEqual(api.get(api_list).json()["count"], 0)

                # refusals: a field error each, nothing written
                before = SavedView.objects.count()
                refused = {
                    "name": {"name": "mine", "query": query, "columns": ""},
                    "columns": {"name": "Other", "query": "", "columns": "no_such_column"},
                    "query": {"name": "Other", "query": "no_such_filter=1", "columns": ""},
                }
                for field, data in refused.items():
                    response = self.save(rt, sharing="private", **data)
                    self.assertEqual(response.status_code, 400, field)
                    self.assertIn(field, response.context["menu_state"]["errors"], field)
                bad_sort = self.save(rt, name="Other", query="sort=no_such_column")
                self.assertEqual(bad_sort.status_code, 400)
                self.assertIn("sorted by", " ".join(bad_sort.context["menu_state"]["errors"]["query"]))
                self.assertEqual(SavedView.objects.count(), before)

    def test_every_type_refuses_bad_views_through_the_api(self) -> None:
        url = reverse("api:core-saved-views-list")
        for rt in registry.all_types():
            with self.subTest(type=rt.label):
                api = api_client(least_privileged_viewer(self.p, rt))
                query, columns = _plan(rt)
                created = api.post(
                    url, {"record_type": rt.label, "name": "A", "query": query, "columns": columns}, format="json"
                )
                self.assertEqual(created.status_code, 201, created.content)
                self.assertEqual(created.json()["url"], f"{reverse(rt.url_name('list'))}?view={created.json()['id']}")
                for body, field in (
                    ({"name": "a"}, "name"),
                    ({"name": "B", "columns": ["nope"]}, "columns"),
                    ({"name": "B", "query": "nope=1"}, "query"),
                    ({"name": "B", "sharing": "galaxy"}, "sharing"),
                ):
                    response = api.post(url, {"record_type": rt.label, **body}, format="json")
                    self.assertEqual(response.status_code, 400, body)
                    self.assertIn(field, response.json(), body)
                self.assertEqual(SavedView.objects.filter(record_type=rt.label).count(), 1)
                listed = api.get(url, {"record_type": rt.label}).json()["results"]
                self.assertEqual([row["name"] for row in listed], ["A"])


class SharingTests(PrincipalsTestCase):
    """Who may share with whom, who sees a shared view, and that a shared view never widens what a reader sees."""

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.agent = cls.p.users[Role.SERVICE_DESK_AGENT]
        cls.resolver = cls.p.users[Role.RESOLVER]
        cls.team = TeamFactory(name="Desk", organisation=cls.p.internal)
        cls.other_team = TeamFactory(name="Elsewhere", organisation=cls.p.internal)
        TeamMembership.objects.create(team=cls.team, person=Person.objects.get(user=cls.agent))
        cls.rt = registry.get(Person)
        cls.people_a = [PersonFactory(organisation=cls.p.org_a) for _ in range(2)]
        cls.people_b = [PersonFactory(organisation=cls.p.org_b) for _ in range(3)]

    def test_a_member_shares_with_their_team_and_only_its_members_see_it(self) -> None:
        view = saved_views.save_view(self.rt, self.agent, name="Desk people", sharing="team", team=self.team.pk)
        self.assertIn(view, saved_views.visible_views(self.agent, self.rt))
        self.assertNotIn(view, saved_views.visible_views(self.resolver, self.rt))
        self.client.force_login(self.resolver)
        self.assertEqual(self.client.get(reverse("core:person_list"), {"view": view.pk}).status_code, 404)
        TeamMembership.objects.create(team=self.team, person=Person.objects.get(user=self.resolver))
        page = self.client.get(reverse("core:person_list"), {"view": view.pk})
        self.assertEqual(page.status_code, 200)
        self.assertEqual(page.context["views_menu"].teams, [view])

    def test_sharing_is_refused_to_who_may_not(self) -> None:
        self.client.force_login(self.agent)
        url = reverse("core:person_views")
        for sharing, field in ((f"team:{self.other_team.pk}", "team"), ("everyone", "sharing"), ("team:", "team")):
            response = self.client.post(url, {"name": "Shared", "sharing": sharing})
            self.assertEqual(response.status_code, 400, sharing)
            self.assertIn(field, response.context["menu_state"]["errors"], sharing)
        self.assertContains(response, "view-save-form", status_code=400)
        self.assertFalse(SavedView.objects.exists())
        api = api_client(self.agent)
        response = api.post(
            reverse("api:core-saved-views-list"),
            {"record_type": "core.person", "name": "All", "sharing": "everyone"},
            format="json",
        )
        self.assertEqual(response.status_code, 400)
        self.assertEqual(response.json()["sharing"], ["Only administrators may share a view with everyone."])
        self.assertFalse(SavedView.objects.exists())

    def test_a_view_shared_with_everyone_shows_a_customer_only_their_records(self) -> None:
        view = saved_views.save_view(self.rt, self.admin, name="Everybody", query="sort=last_name", sharing="everyone")
        customer = self.p.customer_b
        self.client.force_login(customer)
        page = self.client.get(reverse("core:person_list"), {"view": view.pk})
        self.assertEqual(page.status_code, 200)
        shown = {row.record.organisation_id for row in page.context["table"].paginated_rows}
        self.assertEqual(shown, {self.p.org_b.pk})
        api = api_client(customer)
        rows = api.get(reverse("api:core-people-list"), {"view": view.pk, "page_size": 100}).json()["results"]
        self.assertTrue(rows)
        self.assertEqual({row["organisation"] for row in rows}, {self.p.org_b.pk})
        self.assertEqual(page.context["views_menu"].everyone, [view])
        # they may use it as their default, never change it
        saved_views.set_default(self.rt, customer, view)
        self.assertRedirects(
            self.client.get(reverse("core:person_list")), f"{reverse('core:person_list')}?view={view.pk}"
        )
        response = self.client.post(
            reverse("core:person_view", args=[view.pk]), {"action": "rename", "name": "Mine", "version": 1}
        )
        self.assertEqual(response.status_code, 403)
        detail = reverse("api:core-saved-views-detail", args=[view.pk])
        self.assertEqual(api.patch(detail, {"name": "Mine", "version": 1}, format="json").status_code, 403)
        self.assertEqual(SavedView.objects.get(pk=view.pk).name, "Everybody")

    def test_a_type_the_reader_may_not_read_is_refused_by_the_api(self) -> None:
        customer = self.p.customer_b
        hidden = next(rt for rt in registry.all_types() if not policy.has_role_permission(customer, VIEW, rt.model))
        url = reverse("api:core-saved-views-list")
        response = api_client(customer).post(url, {"record_type": hidden.label, "name": "Peek"}, format="json")
        self.assertEqual(response.status_code, 400)
        self.assertIn("record_type", response.json())
        self.assertFalse(SavedView.objects.exists())

    def test_another_persons_private_view_is_404_everywhere(self) -> None:
        view = saved_views.save_view(self.rt, self.agent, name="Private", query="q=x")
        self.client.force_login(self.resolver)
        self.assertEqual(self.client.get(reverse("core:person_list"), {"view": view.pk}).status_code, 404)
        post = self.client.post(reverse("core:person_view", args=[view.pk]), {"action": "delete", "version": 1})
        self.assertEqual(post.status_code, 404)
        api = api_client(self.resolver)
        self.assertEqual(api.get(reverse("api:core-saved-views-detail", args=[view.pk])).status_code, 404)
        self.assertEqual(api.get(reverse("api:core-people-list"), {"view": view.pk}).status_code, 404)
        self.assertEqual(api.get(reverse("api:core-saved-views-list")).json()["count"], 0)
        self.assertTrue(SavedView.objects.filter(pk=view.pk).exists())
        # a view of another type is no view of this one
        self.client.force_login(self.agent)
        self.assertEqual(self.client.get(reverse("core:organisation_list"), {"view": view.pk}).status_code, 404)


class ManageTests(PrincipalsTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.rt = registry.get(Person)
        cls.agent = cls.p.users[Role.SERVICE_DESK_AGENT]

    def setUp(self) -> None:
        self.view = saved_views.save_view(self.rt, self.agent, name="Active", query="status=active")
        self.url = reverse("core:person_view", args=[self.view.pk])
        self.client.force_login(self.agent)

    def test_update_rename_and_delete_are_version_checked(self) -> None:
        response = self.client.post(
            self.url, {"action": "update", "version": 1, "query": "status=active&sort=-email", "columns": "email"}
        )
        self.assertRedirects(response, f"{reverse('core:person_list')}?view={self.view.pk}")
        self.view.refresh_from_db()
        self.assertEqual((self.view.version, self.view.query), (2, "status=active&sort=-email"))
        self.assertEqual(self.view.columns, ["last_name", "email"])
        stale = self.client.post(self.url, {"action": "rename", "version": 1, "name": "Renamed"})
        self.assertEqual(stale.status_code, 409)
        self.assertContains(stale, "was changed since you opened it", status_code=409)
        self.client.post(self.url, {"action": "rename", "version": 2, "name": "Renamed"})
        self.view.refresh_from_db()
        self.assertEqual((self.view.name, self.view.version), ("Renamed", 3))
        blank = self.client.post(self.url, {"action": "rename", "version": 3, "name": "  "})
        self.assertEqual(blank.status_code, 400)
        self.assertEqual(blank.context["menu_state"]["errors"]["name"], ["Give the view a name."])
        self.assertEqual(self.client.post(self.url, {"action": "delete", "version": 2}).status_code, 409)
        self.client.post(self.url, {"action": "delete", "version": 3})
        self.assertFalse(SavedView.objects.filter(pk=self.view.pk).exists())

    def test_api_update_and_delete(self) -> None:
        api = api_client(self.agent)
        detail = reverse("api:core-saved-views-detail", args=[self.view.pk])
        self.assertIn("version", api.patch(detail, {"name": "X"}, format="json").json())
        self.assertEqual(api.patch(detail, {"name": "X", "version": 9}, format="json").status_code, 409)
        done = api.patch(detail, {"name": "X", "version": 1, "is_default": True}, format="json").json()
        self.assertEqual((done["name"], done["version"], done["is_default"]), ("X", 2, True))
        self.assertTrue(DefaultView.objects.filter(user=self.agent, view=self.view).exists())
        self.assertEqual(api.delete(detail).status_code, 400)
        self.assertEqual(api.delete(f"{detail}?version=1").status_code, 409)
        self.assertEqual(api.delete(f"{detail}?version=2").status_code, 204)
        self.assertFalse(DefaultView.objects.exists())

    def test_a_filter_gone_since_the_view_was_saved_is_reported(self) -> None:
        definition = CustomFieldFactory(applies_to="core.person", name="badge", label="Badge", type="text")
        view = saved_views.save_view(self.rt, self.agent, name="Badges", query="custom.badge=7&status=active")
        definition.delete()
        page = self.client.get(reverse("core:person_list"), {"view": view.pk})
        self.assertEqual(page.context["missing_filters"], ["custom.badge"])
        self.assertContains(page, 'id="view-missing"')
        self.assertContains(page, "custom.badge")
        api = api_client(self.agent)
        row = api.get(reverse("api:core-saved-views-detail", args=[view.pk])).json()
        self.assertEqual(row["missing_filters"], ["custom.badge"])

    def test_the_menu_is_empty_with_a_hint(self) -> None:
        page = self.client.get(reverse("core:organisation_list"))
        self.assertTrue(page.context["views_menu"].empty)
        self.assertContains(page, "No saved views yet — filter and sort the list, then Save current view")

    def test_columns_in_the_url(self) -> None:
        page = self.client.get(reverse("core:person_list"), {"columns": "email,nothing,first_name"})
        self.assertEqual(page.context["columns"], ["last_name", "email", "first_name"])
        self.assertEqual(page.context["unknown_columns"], ["nothing"])
        export = self.client.get(reverse("core:person_list"), {"columns": "email", "export": "csv"})
        self.assertEqual(export.content.decode().splitlines()[0], "Last name,Email")


class QueryTests(PrincipalsTestCase):
    """The Views menu, the default and the reader's teams are read once per list page, and neither the page nor
    the saved-views API runs more queries as views and teams grow."""

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.rt = registry.get(Person)
        cls.agent = cls.p.users[Role.SERVICE_DESK_AGENT]
        cls.person = Person.objects.get(user=cls.agent)

    def grow(self, count: int) -> SavedView:
        """`count` more teams of the agent, each with a view shared with it, and `count` more views of their own."""
        for _ in range(count):
            team = TeamFactory(organisation=self.p.internal)
            TeamMembership.objects.create(team=team, person=self.person)
            saved_views.save_view(self.rt, self.admin, name=f"For {team.name}", sharing="team", team=team.pk)
            view = saved_views.save_view(self.rt, self.agent, name=f"Mine {SavedView.objects.count()}", query="q=a")
        saved_views.set_default(self.rt, self.agent, view)
        return view

    def queries(self, url: str, params: dict[str, Any], client: Any = None) -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            response = (client or self.client).get(url, params)
        self.assertEqual(response.status_code, 200)
        return [query["sql"] for query in captured.captured_queries]

    def test_the_list_page_reads_views_and_teams_once_however_many(self) -> None:
        self.client.force_login(self.agent)
        url = reverse("core:person_list")
        view = self.grow(1)
        few = self.queries(url, {"view": view.pk})
        teams = [sql for sql in few if 'FROM "core_team"' in sql]
        self.assertEqual(len(teams), 1, teams)  # the menu's, used again for "Share with"
        self.assertEqual(len([sql for sql in few if 'FROM "core_savedview"' in sql]), 1)
        view = self.grow(4)
        many = self.queries(url, {"view": view.pk})
        self.assertEqual(len(many), len(few))
        plain = self.queries(url, {"view": "none"})
        self.assertEqual(len([sql for sql in plain if 'FROM "core_team"' in sql]), 1)

    def test_the_api_list_runs_the_same_queries_however_many_views(self) -> None:
        api = api_client(self.agent)
        url = reverse("api:core-saved-views-list")
        api.get(url)  # the token's first use is noted (`api_tokens.touch`); not again within a minute
        self.grow(1)
        few = self.queries(url, {}, api)
        self.grow(4)
        many = self.queries(url, {}, api)
        self.assertEqual(len(many), len(few))


class HomeTests(PrincipalsTestCase):
    def test_default_and_home_views_are_quick_links_with_counts(self) -> None:
        cache.clear()
        rt = registry.get(Person)
        agent = self.p.users[Role.SERVICE_DESK_AGENT]
        PersonFactory(organisation=self.p.org_a, last_name="Zyx")
        on_home = saved_views.save_view(rt, agent, name="Zyx people", query="q=Zyx", show_on_home=True)
        saved_views.save_view(rt, agent, name="Not on home", query="q=Zyx")
        self.client.force_login(agent)
        page = self.client.get(reverse("home"))
        items = page.context["home"].views
        self.assertEqual([(item.view, item.count, item.exact) for item in items], [(on_home, 1, True)])
        self.assertContains(page, f"?view={on_home.pk}")
        PersonFactory(organisation=self.p.org_a, last_name="Zyx")
        self.assertEqual(self.client.get(reverse("home")).context["home"].views[0].count, 1)  # cached a minute
        saved_views.update_view(on_home, agent, expected_version=1, query="q=Zyx&sort=email")
        self.assertEqual(self.client.get(reverse("home")).context["home"].views[0].count, 2)  # a changed view
