"""The impact cache (`cmdb.impact_cache`): the walk over a worker's snapshot answers exactly as the walk in the
database (hypothesis graphs, cycles and k-of-n groups included, both directions, paths and depths); the database's
token changes on every write of the graph (relationships, kinds, groups, members, a CI's deletion, an import), so a
snapshot is rebuilt and a stale one never answers; a write rolled back never leaves a wrong snapshot in use; the
background rebuild on committed data."""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from django.test import TestCase, override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis.extra.django import TestCase as HypothesisTestCase

from meridian.cmdb import impact, impact_cache
from meridian.cmdb.choices import Propagation
from meridian.cmdb.factories import CIClassFactory, ConfigurationItemFactory
from meridian.cmdb.models import CIClass, ConfigurationItem, RedundancyGroup, Relationship, RelationshipKind
from meridian.cmdb.tests.test_impact import build_graph, graphs
from meridian.core.choices import Role
from meridian.core.testing import PrincipalsTestCase

TABLES = ("cmdb_relationship", "cmdb_relationshipkind", "cmdb_redundancygroup", "cmdb_redundancygroup_members")


def snapshot_in_use() -> impact_cache.Graph | None:
    """The worker's snapshot when it is the one the database's token names (the one `analyse` would use)."""
    graph = impact_cache._state.graph
    return graph if graph is not None and graph.token == impact_cache.read_token() else None


@override_settings(MERIDIAN_IMPACT_CACHE="inline")
class SnapshotAgreesWithTheDatabaseTests(HypothesisTestCase):
    def setUp(self) -> None:
        impact_cache.clear()

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(graphs())
    def test_the_snapshot_walk_gives_the_database_walks_answer(self, graph: dict[str, Any]) -> None:
        ids = build_graph(graph)
        down = [ids[i] for i in graph["down"]]
        snapshot = impact_cache.build()
        assert snapshot is not None
        for direction in impact.DIRECTIONS:
            reference = impact.analyse_in_database(down, direction)
            cached = impact._walk(snapshot, down, direction)
            self.assertEqual(cached.reached, reference.reached)  # the same CIs, causes, depths and group counts
            self.assertEqual(cached.start, reference.start)
            self.assertEqual(impact.analyse(down, direction).reached, reference.reached)
        self.assertIsNotNone(snapshot_in_use())


class GraphTestCase(PrincipalsTestCase):
    """host-6..8 ← db-1..3 (runs on) ← db-cluster (2 of 3) ← ERP app (depends on) → Payroll (part of)."""

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.depends = RelationshipKind.objects.get(name="Depends on")
        cls.runs_on = RelationshipKind.objects.get(name="Runs on")
        cls.part_of = RelationshipKind.objects.get(name="Part of")
        server = CIClass.objects.get(name="Server")

        def ci(name: str) -> ConfigurationItem:
            return ConfigurationItemFactory(name=name, ci_class=server)

        cls.payroll, cls.erp, cls.cluster = ci("Payroll"), ci("ERP app"), ci("db-cluster")
        cls.dbs = [ci(f"db-{i}") for i in (1, 2, 3)]
        cls.hosts = [ci(f"host-{i}") for i in (6, 7, 8)]
        Relationship.objects.create(source=cls.erp, target=cls.payroll, kind=cls.part_of)
        Relationship.objects.create(source=cls.erp, target=cls.cluster, kind=cls.depends)
        for db, host in zip(cls.dbs, cls.hosts, strict=True):
            Relationship.objects.create(source=db, target=host, kind=cls.runs_on)
        cls.group = RedundancyGroup.objects.create(ci=cls.cluster, required_up=2)
        cls.group.members.set(cls.dbs)

    def setUp(self) -> None:
        impact_cache.clear()

    def analyse(self, down: list[int], direction: str = impact.IMPACT) -> set[int]:
        """`analyse`'s answer, checked against the database walk's, with the snapshot of the current token in use."""
        result = impact.analyse(down, direction)
        self.assertEqual(result.reached, impact.analyse_in_database(down, direction).reached)
        self.assertIsNotNone(snapshot_in_use())
        return result.ids()


@override_settings(MERIDIAN_IMPACT_CACHE="inline")
class FreshnessTests(GraphTestCase):
    def assert_rebuilt_after(self, change: Any, down: list[int], before: set[int], after: set[int]) -> None:
        self.assertEqual(self.analyse(down), before)
        token, builds = impact_cache.read_token(), impact_cache.builds()
        change()
        self.assertNotEqual(impact_cache.read_token(), token)
        self.assertEqual(self.analyse(down), after)
        self.assertEqual(impact_cache.builds(), builds + 1)

    def test_a_new_relationship(self) -> None:
        host = self.hosts[0].pk
        self.assert_rebuilt_after(
            lambda: Relationship.objects.create(source=self.payroll, target=self.hosts[0], kind=self.runs_on),
            [host],
            {self.dbs[0].pk},
            {self.dbs[0].pk, self.payroll.pk},
        )

    def test_a_relationship_changed_and_deleted(self) -> None:
        rel = Relationship.objects.get(source=self.dbs[0])
        backed_up = RelationshipKind.objects.get(name="Backed up by")
        host = [self.hosts[0].pk]
        self.assert_rebuilt_after(
            lambda: Relationship.objects.filter(pk=rel.pk).update(kind=backed_up), host, {self.dbs[0].pk}, set()
        )
        Relationship.objects.filter(pk=rel.pk).update(kind=self.runs_on)
        self.assert_rebuilt_after(lambda: rel.delete(), host, {self.dbs[0].pk}, set())

    def test_a_kind_that_stops_carrying_a_failure(self) -> None:
        self.assert_rebuilt_after(
            lambda: RelationshipKind.objects.filter(pk=self.runs_on.pk).update(propagates=Propagation.NONE),
            [self.hosts[0].pk, self.hosts[1].pk],
            {self.dbs[0].pk, self.dbs[1].pk, self.cluster.pk, self.erp.pk, self.payroll.pk},
            set(),
        )

    def test_a_group_that_needs_all_its_members(self) -> None:
        self.assert_rebuilt_after(
            lambda: RedundancyGroup.objects.filter(pk=self.group.pk).update(required_up=3),
            [self.hosts[0].pk],
            {self.dbs[0].pk},
            {self.dbs[0].pk, self.cluster.pk, self.erp.pk, self.payroll.pk},
        )

    def test_a_member_removed_and_a_group_deleted(self) -> None:
        self.assert_rebuilt_after(
            lambda: self.group.members.remove(self.dbs[2]),  # 2 of 2 now: one down is enough
            [self.hosts[0].pk],
            {self.dbs[0].pk},
            {self.dbs[0].pk, self.cluster.pk, self.erp.pk, self.payroll.pk},
        )
        self.assert_rebuilt_after(
            lambda: RedundancyGroup.objects.filter(pk=self.group.pk).delete(),
            [self.hosts[0].pk],
            {self.dbs[0].pk, self.cluster.pk, self.erp.pk, self.payroll.pk},
            {self.dbs[0].pk},
        )

    def test_a_ci_deleted_with_its_relationships(self) -> None:
        self.assert_rebuilt_after(
            lambda: ConfigurationItem.objects.filter(pk=self.erp.pk).delete(),  # cascades to its relationships
            [self.hosts[0].pk, self.hosts[1].pk],
            {self.dbs[0].pk, self.dbs[1].pk, self.cluster.pk, self.erp.pk, self.payroll.pk},
            {self.dbs[0].pk, self.dbs[1].pk, self.cluster.pk},
        )

    def test_an_import_of_relationships(self) -> None:
        from meridian.core import imports
        from meridian.core.testing_imports import run_import

        content = f"source,kind,target\n{self.payroll.pk},{self.runs_on.pk},{self.hosts[2].pk}\n".encode()
        rt = imports.find_type("cmdb.relationship")

        def load() -> None:
            report = run_import(rt, content, "relationships.csv", self.p.users[Role.ADMINISTRATOR])
            self.assertTrue(report.ok, report.problems)

        self.assert_rebuilt_after(load, [self.hosts[2].pk], {self.dbs[2].pk}, {self.dbs[2].pk, self.payroll.pk})

    def test_a_bulk_create(self) -> None:
        self.assert_rebuilt_after(
            lambda: Relationship.objects.bulk_create(
                [Relationship(source=self.payroll, target=h, kind=self.runs_on) for h in self.hosts]
            ),
            [self.hosts[1].pk],
            {self.dbs[1].pk},
            {self.dbs[1].pk, self.payroll.pk},
        )

    def test_dependencies_from_the_snapshot(self) -> None:
        self.assertEqual(
            self.analyse([self.payroll.pk], impact.DEPENDENCIES),
            {self.erp.pk, self.cluster.pk, *(d.pk for d in self.dbs), *(h.pk for h in self.hosts)},
        )

    def test_a_write_rolled_back_leaves_no_wrong_snapshot_in_use(self) -> None:
        host = [self.hosts[0].pk]
        self.assertEqual(self.analyse(host), {self.dbs[0].pk})
        committed = impact_cache.read_token()
        with self.assertRaises(RuntimeError), transaction.atomic():
            Relationship.objects.create(source=self.payroll, target=self.hosts[0], kind=self.runs_on)
            self.assertEqual(self.analyse(host), {self.dbs[0].pk, self.payroll.pk})  # its own write, seen
            raise RuntimeError("rolled back")
        self.assertEqual(impact_cache.read_token(), committed)
        self.assertNotEqual(impact_cache._state.graph.token, committed)  # the snapshot of the write rolled back
        self.assertEqual(self.analyse(host), {self.dbs[0].pk})  # ... is not used: rebuilt


class ModesTests(GraphTestCase):
    @override_settings(MERIDIAN_IMPACT_CACHE="inline")
    def test_a_stale_snapshot_is_never_used_while_it_is_rebuilt_in_the_background(self) -> None:
        host = [self.hosts[0].pk]
        self.assertEqual(self.analyse(host), {self.dbs[0].pk})
        stale = impact_cache._state.graph
        with override_settings(MERIDIAN_IMPACT_CACHE="on"):
            Relationship.objects.create(source=self.payroll, target=self.hosts[0], kind=self.runs_on)
            self.assertEqual(impact.analyse(host).ids(), {self.dbs[0].pk, self.payroll.pk})  # from the database
            impact_cache.wait()  # the background one read the committed graph: not this transaction's
            self.assertIsNone(snapshot_in_use())
            self.assertEqual(impact.analyse(host).ids(), {self.dbs[0].pk, self.payroll.pk})
        assert stale is not None
        self.assertEqual(impact._walk(stale, host).ids(), {self.dbs[0].pk})  # what it would have said

    @override_settings(MERIDIAN_IMPACT_CACHE="off")
    def test_off_always_asks_the_database(self) -> None:
        builds = impact_cache.builds()
        self.assertEqual(impact.analyse([self.hosts[0].pk]).ids(), {self.dbs[0].pk})
        self.assertIsNone(impact_cache._state.graph)
        self.assertEqual(impact_cache.builds(), builds)

    @override_settings(MERIDIAN_IMPACT_CACHE="inline", MERIDIAN_IMPACT_CACHE_MAX_RELATIONSHIPS=2)
    def test_a_graph_above_the_bound_is_not_kept(self) -> None:
        builds = impact_cache.builds()
        self.assertEqual(impact.analyse([self.hosts[0].pk]).ids(), {self.dbs[0].pk})
        self.assertEqual(impact.analyse([self.hosts[1].pk]).ids(), {self.dbs[1].pk})
        self.assertIsNone(impact_cache._state.graph)
        self.assertEqual(impact_cache.builds(), builds)


class TriggerTests(TestCase):
    def test_every_table_of_the_graph_has_its_triggers(self) -> None:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(
                    "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                    "WHERE t.tgname LIKE %s AND NOT t.tgisinternal",
                    ["%_graph_changed"],
                )
                self.assertEqual(sorted(r[0] for r in cursor.fetchall()), sorted(TABLES))
            else:
                cursor.execute(
                    "SELECT tbl_name FROM sqlite_master WHERE type = 'trigger' AND name LIKE %s", ["%_graph_%"]
                )
                found = [r[0] for r in cursor.fetchall()]
                self.assertEqual(sorted(found), sorted(t for t in TABLES for _event in range(3)))

    def test_a_truncate_changes_the_token_on_postgresql(self) -> None:
        if connection.vendor != "postgresql":
            self.skipTest("SQLite has no TRUNCATE (a DELETE fires the row triggers)")
        token = impact_cache.read_token()
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE cmdb_redundancygroup_members")
        self.assertNotEqual(impact_cache.read_token(), token)


@override_settings(MERIDIAN_IMPACT_CACHE="on")
class BackgroundRebuildTests(TestCase):
    """The rebuild in its own thread and connection reads the committed graph. A test's transaction never commits, so
    this one writes the graph only after the committed graph's snapshot is in use: its own token then differs. (Not a
    TransactionTestCase: its flush would take the default rows the live-server tests that follow need.)"""

    def setUp(self) -> None:
        impact_cache.clear()
        server = CIClassFactory()
        self.runs_on = RelationshipKind.objects.get(name="Runs on")
        self.host, self.vm = (ConfigurationItemFactory(name=n, ci_class=server) for n in ("host", "vm"))

    def tearDown(self) -> None:
        impact_cache.clear()

    def test_a_miss_answers_from_the_database_and_the_next_call_from_the_rebuilt_snapshot(self) -> None:
        host = [self.host.pk]
        builds = impact_cache.builds()
        self.assertEqual(impact.analyse(host).ids(), set())
        impact_cache.wait()
        self.assertEqual(impact_cache.builds(), builds + 1)  # in the background
        self.assertIsNotNone(snapshot_in_use())  # the committed graph's: nothing of this test written yet
        self.assertEqual(impact.analyse(host).ids(), set())
        self.assertEqual(impact_cache.builds(), builds + 1)  # a hit
        committed = impact_cache._state.graph
        # a write rolled back: its own answer from the database; the committed snapshot in use again after
        with self.assertRaises(RuntimeError), transaction.atomic():
            Relationship.objects.create(source=self.vm, target=self.host, kind=self.runs_on)
            self.assertIsNone(snapshot_in_use())
            self.assertEqual(impact.analyse(host).ids(), {self.vm.pk})
            impact_cache.wait()
            raise RuntimeError("rolled back")
        self.assertIs(snapshot_in_use(), committed)
        self.assertEqual(impact.analyse(host).ids(), set())
        # written: the snapshot of the committed graph is stale for this transaction and never answers it
        Relationship.objects.create(source=self.vm, target=self.host, kind=self.runs_on)
        self.assertEqual(impact.analyse(host).ids(), {self.vm.pk})
        impact_cache.wait()
        self.assertIsNone(snapshot_in_use())
        self.assertEqual(impact.analyse(host).ids(), {self.vm.pk})
