"""Lists at scale: a bounded count ("more than 10,000"), record pickers instead of every option in a filter, the
indexes PostgreSQL reads page 1 and a search from, and `meridian demo --scale`. The timings themselves are measured
by `make bench BENCH_ARGS=lists`, never here."""

from __future__ import annotations

import io
import json
import re
import unittest
from unittest import mock

from django.core.management import call_command
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from meridian.core import audit, querysets
from meridian.core.choices import Role
from meridian.core.factories import OrganisationFactory, PersonFactory
from meridian.core.models import Organisation, Person
from meridian.core.querysets import natural_order
from meridian.core.testing import PrincipalsTestCase

POSTGRES = connection.vendor == "postgresql"


class BoundedCountTests(PrincipalsTestCase):
    def setUp(self) -> None:
        self.client.force_login(self.p.users[Role.SERVICE_DESK_AGENT])
        for i in range(8):
            PersonFactory(organisation=self.p.org_a, last_name=f"Scale {i}")
        self.people = Person.objects.count()

    def test_past_the_limit_the_list_says_more_than_and_counts_only_on_request(self) -> None:
        with mock.patch.object(querysets, "COUNT_LIMIT", 5), CaptureQueriesContext(connection) as queries:
            response = self.client.get("/core/people/")
        text = response.content.decode()
        self.assertIn("More than 5 people", text)
        self.assertIn("Count them all", text)
        counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"] and "core_person" in q["sql"]]
        self.assertTrue(counts, "the list counted nothing")
        self.assertTrue(all("LIMIT 6" in sql for sql in counts), f"an unbounded count of the table: {counts}")

        with mock.patch.object(querysets, "COUNT_LIMIT", 5):
            exact = self.client.get("/core/people/?count=exact").content.decode()
        self.assertIn(f"{self.people} people", exact)
        self.assertNotIn("More than 5", exact)

    def test_under_the_limit_the_count_is_exact_and_no_link_is_offered(self) -> None:
        text = self.client.get("/core/people/").content.decode()
        self.assertIn(f"{self.people} people", text)
        self.assertNotIn("Count them all", text)

    def test_a_filtered_list_bounds_its_total_too(self) -> None:
        with mock.patch.object(querysets, "COUNT_LIMIT", 5):
            text = self.client.get("/core/people/?q=Scale+1").content.decode()
        self.assertRegex(re.sub(r"\s+", " ", text), r"1 person of more than 5")

    def test_a_page_past_the_reachable_ones_shows_the_last_reachable_page(self) -> None:
        with mock.patch.object(querysets, "COUNT_LIMIT", 5):
            response = self.client.get("/core/people/?page=999&per_page=2")
        self.assertEqual(response.status_code, 200)
        self.assertIn("More than 5 people", response.content.decode())


class FilterPickerTests(PrincipalsTestCase):
    @override_settings(MERIDIAN_FULL_CHOICES_LIMIT=3)
    def test_a_filter_on_a_link_with_many_records_renders_a_search_not_every_option(self) -> None:
        for i in range(6):
            OrganisationFactory(name=f"Picker {i}")
        self.client.force_login(self.p.users[Role.SERVICE_DESK_AGENT])
        chosen = Organisation.objects.get(name="Picker 4")
        text = self.client.get(f"/core/people/?organisation={chosen.pk}").content.decode()
        select = re.search(r'<select name="organisation".*?</select>', text, re.S)
        assert select is not None
        self.assertIn('data-record-select="remote"', select.group(0))
        options = re.findall(r"<option[^>]*>([^<]*)</option>", select.group(0))
        self.assertIn("Picker 4", options)
        self.assertLessEqual(len(options), 2, f"every organisation rendered as an option: {options}")


@unittest.skipUnless(POSTGRES, "PostgreSQL's plans and indexes")
class PostgresIndexTests(PrincipalsTestCase):
    """Page 1 of a list in its default order and a search are read from indexes, not by sorting or scanning the
    table (the planner is told to avoid both where it can, so a plan with them means no index could serve)."""

    def plan(self, queryset: object) -> str:
        sql, params = queryset.query.sql_with_params()  # type: ignore[attr-defined]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_sort = off")
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            return json.dumps(cursor.fetchone()[0])

    def test_the_default_order_of_the_core_lists_is_an_index_scan(self) -> None:
        from meridian.core.models import Calendar, Team

        for model, index in [
            (Person, "core_person_natural_idx"),
            (Organisation, "core_organisation_natural_idx"),
            (Team, "core_team_natural_idx"),
            (Calendar, "core_calendar_natural_idx"),
        ]:
            with self.subTest(model=model.__name__):
                plan = self.plan(natural_order(model.objects.all())[:50])
                self.assertIn(index, plan)
                self.assertNotIn('"Node Type": "Sort"', plan)

    def test_a_descending_sort_reads_the_same_index_backwards(self) -> None:
        plan = self.plan(natural_order(Organisation.objects.all(), ["-name"])[:50])
        self.assertIn("core_organisation_natural_idx", plan)
        self.assertIn("Backward", plan)

    def test_a_search_reads_the_trigram_indexes(self) -> None:
        from meridian.core.filtersets import filterset_for
        from meridian.core.registry import get

        request = mock.Mock(user=self.admin)
        filterset = filterset_for(get(Person))({"q": "jansen"}, queryset=Person.objects.all(), request=request)
        plan = self.plan(filterset.qs)
        for column in ("first_name", "last_name", "email", "job_title"):
            self.assertIn(f"core_person_{column}_trgm_idx", plan)
        self.assertNotIn("Seq Scan", plan)


class SortedFromMatchesTests(PrincipalsTestCase):
    """A search whose matches are few is sorted from its matches (PostgreSQL: the first sort key made one no index
    serves, so the planner cannot walk the whole natural index looking for them); the rows and their order on the
    page are exactly those of the natural order, on both databases."""

    def test_the_page_shows_the_matches_in_the_natural_order(self) -> None:
        org = OrganisationFactory()
        for last in ("Jansen 10", "jansen 2", "Jansenius", "de Jansen", "Visser"):
            PersonFactory(organisation=org, last_name=last, first_name="Kim")
        self.client.force_login(self.p.users[Role.SERVICE_DESK_AGENT])
        for sort, expected in [
            ("", ["de Jansen", "jansen 2", "Jansen 10", "Jansenius"]),
            ("-last_name", ["Jansenius", "Jansen 10", "jansen 2", "de Jansen"]),
        ]:
            with self.subTest(sort=sort):
                page = self.client.get("/core/people/", {"q": "jansen", "sort": sort}).content.decode()
                shown = re.findall(r'<a href="/core/people/\d+/"><span class="cell-text" title="[^"]*">([^<]+)<', page)
                self.assertEqual(shown, expected)

    @unittest.skipUnless(POSTGRES, "PostgreSQL's plans")
    def test_few_matches_are_sorted_from_them_and_many_are_walked_in_index_order(self) -> None:
        from meridian.core.filtersets import filterset_for
        from meridian.core.registry import get

        request = mock.Mock(user=self.admin)
        filtered = filterset_for(get(Person))({"q": "jansen"}, queryset=Person.objects.all(), request=request).qs
        ordered = natural_order(filtered)
        rewritten = querysets.sorted_from_matches(ordered)
        self.assertIn("|| '')", str(rewritten.query))  # a first key no index serves
        self.assertNotIn("core_person_natural_idx", rewritten[:50].explain())
        self.assertEqual(list(rewritten), list(ordered))
        with override_settings(MERIDIAN_SORT_FROM_MATCHES_BELOW=0):  # "many" matches: left to the index walk
            self.assertEqual(str(querysets.sorted_from_matches(ordered).query), str(ordered.query))
        unfiltered = natural_order(Person.objects.all())
        self.assertEqual(str(querysets.sorted_from_matches(unfiltered).query), str(unfiltered.query))

    @unittest.skipUnless(POSTGRES, "PostgreSQL's plans")
    @override_settings(MERIDIAN_SORT_FROM_MATCHES_BELOW=1)  # "a large list": any list of a row or more
    def test_a_sort_no_index_serves_is_said_above_a_large_list(self) -> None:
        PersonFactory.create_batch(3)
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_sort = off")  # as on a large table: an index when there is one
        self.client.force_login(self.p.users[Role.SERVICE_DESK_AGENT])
        page = self.client.get("/core/people/", {"sort": "email"})
        self.assertContains(page, "Sorting by <strong>Email</strong> sorts about")
        for sort in ("last_name", "-last_name", ""):
            with self.subTest(sort=sort):
                self.assertNotContains(self.client.get("/core/people/", {"sort": sort}), 'id="slow-sort"')


class ScaleDemoTests(PrincipalsTestCase):
    def test_demo_scale_adds_people_in_organisations_of_a_hundred_and_the_trail_verifies(self) -> None:
        organisations, people = Organisation.objects.count(), Person.objects.count()
        out = io.StringIO()
        call_command("demo", "--if-empty", "--scale", "250", stdout=out)
        self.assertIn("Generated 3 organisations and 250 people", out.getvalue())
        self.assertEqual(Organisation.objects.count(), organisations + 3)
        self.assertEqual(Person.objects.count(), people + 250)
        self.assertEqual(len({p.email for p in Person.objects.filter(email__contains="@scale-")}), 250)
        report = audit.verify_chain()
        self.assertTrue(report.ok, report.problems)

    def test_demo_scale_refuses_a_size_below_one(self) -> None:
        from django.core.management.base import CommandError

        with self.assertRaisesMessage(CommandError, "--scale"):
            call_command("demo", "--if-empty", "--scale", "0", stdout=io.StringIO())


class ApiPagingTests(PrincipalsTestCase):
    def setUp(self) -> None:
        from meridian.core.testing import api_client

        for i in range(7):
            PersonFactory(organisation=self.p.org_a, last_name=f"Walk {i}")
        self.api = api_client(self.p.users[Role.SERVICE_DESK_AGENT])
        self.url = "/api/v1/core/people/"

    def test_past_the_limit_the_count_says_so_and_far_pages_point_to_the_cursor(self) -> None:
        with mock.patch.object(querysets, "COUNT_LIMIT", 5), CaptureQueriesContext(connection) as queries:
            page = self.api.get(self.url, {"page_size": 2}).json()
        self.assertEqual((page["count"], page["count_exact"]), (5, False))
        counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"]]
        self.assertTrue(counts and all("LIMIT 6" in sql for sql in counts), counts)
        with mock.patch.object(querysets, "COUNT_LIMIT", 5):
            far = self.api.get(self.url, {"page_size": 2, "page": 4})
        self.assertEqual(far.status_code, 400)
        self.assertIn("cursor", far.json()["page"][0])
        exact = self.api.get(self.url, {"page_size": 2}).json()
        self.assertTrue(exact["count_exact"])
        everyone = self.api.get(self.url, {"cursor": "", "page_size": 1000}).json()["results"]
        self.assertEqual(exact["count"], len(everyone))

    def test_a_cursor_walks_every_row_once_in_id_order_with_filters(self) -> None:
        seen: list[int] = []
        url: str | None = f"{self.url}?cursor=&page_size=3&q=Walk"
        pages = 0
        while url:
            body = self.api.get(url).json()
            self.assertIsNone(body["count"])
            seen.extend(row["id"] for row in body["results"])
            url = body["next"]
            pages += 1
        expected = list(Person.objects.filter(last_name__startswith="Walk").order_by("pk").values_list("pk", flat=True))
        self.assertEqual(seen, expected)
        self.assertEqual(pages, 3)

    def test_a_customer_user_walks_only_their_own_organisation(self) -> None:
        from meridian.core.testing import api_client

        for i in range(3):
            PersonFactory(organisation=self.p.org_b, last_name=f"Walk B{i}")
        customer = api_client(self.p.customer_a)
        seen: list[int] = []
        url: str | None = f"{self.url}?cursor=&page_size=2"
        while url:
            body = customer.get(url).json()
            seen.extend(row["id"] for row in body["results"])
            url = body["next"]
        mine = list(Person.objects.filter(organisation=self.p.org_a).order_by("pk").values_list("pk", flat=True))
        self.assertEqual(seen, mine)
        with mock.patch.object(querysets, "COUNT_LIMIT", 2):
            page = customer.get(self.url, {"page_size": 1}).json()
        self.assertEqual((page["count"], page["count_exact"]), (2, False))

    def test_cursor_refusals_are_field_errors(self) -> None:
        for params, field in [
            ({"cursor": "nonsense!"}, "cursor"),
            ({"cursor": "", "ordering": "last_name"}, "ordering"),
            ({"cursor": "", "page": 2}, "page"),
            ({"cursor": "", "page_size": 0}, "page_size"),
        ]:
            with self.subTest(params=params):
                response = self.api.get(self.url, params)
                self.assertEqual(response.status_code, 400)
                self.assertIn(field, response.json())

    def test_a_cursor_page_costs_the_same_statements_however_far_it_is(self) -> None:
        first = self.api.get(self.url, {"cursor": "", "page_size": 2}).json()
        with CaptureQueriesContext(connection) as near:
            self.api.get(first["next"])
        last_id = Person.objects.order_by("-pk").values_list("pk", flat=True)[2]
        from meridian.core.api.pagination import encode_cursor

        with CaptureQueriesContext(connection) as far:
            body = self.api.get(self.url, {"cursor": encode_cursor(last_id), "page_size": 2}).json()
        self.assertEqual(len(body["results"]), 2)
        self.assertEqual(len(near), len(far))
        self.assertFalse(any("OFFSET" in q["sql"] for q in far.captured_queries))
