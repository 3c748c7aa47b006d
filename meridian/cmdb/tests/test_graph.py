"""The relationship graph (`cmdb.graph`, the CI's Graph tab and its API) on the worked example of the impact tests:
depth, directions, the cap, what a customer may see, the impact flags against `cmdb.impact`."""

from __future__ import annotations

import json
import re
from typing import Any

from django.urls import reverse

from meridian.cmdb import graph, impact
from meridian.cmdb.factories import ConfigurationItemFactory
from meridian.cmdb.models import CIClass, ConfigurationItem, RedundancyGroup, Relationship, RelationshipKind
from meridian.core.choices import Role
from meridian.core.testing import PrincipalsTestCase, api_client


class GraphTests(PrincipalsTestCase):
    """payroll ← erp-app → db-cluster (2 of 3: db-1..3, each on a host) ← erp-b (another customer's app);
    report-a (customer A's) runs on host-6: customer A's graph never crosses the provider's CIs to reach it."""

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        depends = RelationshipKind.objects.get(name="Depends on")
        runs_on = RelationshipKind.objects.get(name="Runs on")
        part_of = RelationshipKind.objects.get(name="Part of")
        server = CIClass.objects.get(name="Server")

        def ci(name: str, organisation: Any = None, class_name: str = "Server") -> ConfigurationItem:
            return ConfigurationItemFactory(
                name=name, organisation=organisation, ci_class=CIClass.objects.get(name=class_name)
            )

        cls.payroll = ci("payroll", cls.p.org_a, "Service")
        cls.erp = ci("erp-app", cls.p.org_a, "Application")
        cls.cluster = ci("db-cluster", None, "Redundancy group")
        cls.dbs = [ci(f"db-{i}") for i in (1, 2, 3)]
        cls.hosts = [ConfigurationItemFactory(name=f"host-{i}", ci_class=server) for i in (6, 7, 8)]
        cls.erp_b = ci("erp-b", cls.p.org_b, "Application")
        cls.report_a = ci("report-a", cls.p.org_a, "Application")
        Relationship.objects.create(source=cls.erp, target=cls.payroll, kind=part_of)
        Relationship.objects.create(source=cls.erp, target=cls.cluster, kind=depends)
        Relationship.objects.create(source=cls.erp_b, target=cls.cluster, kind=depends)
        for db, host in zip(cls.dbs, cls.hosts, strict=True):
            Relationship.objects.create(source=db, target=host, kind=runs_on)
        Relationship.objects.create(source=cls.report_a, target=cls.hosts[0], kind=runs_on)
        group = RedundancyGroup.objects.create(ci=cls.cluster, required_up=2)
        group.members.set(cls.dbs)
        cls.staff = cls.p.users[Role.RESOLVER]

    def names(self, data: dict[str, Any]) -> dict[str, int]:
        """Each node's name and depth."""
        return {node["name"]: node["depth"] for node in data["nodes"]}

    def edges(self, data: dict[str, Any]) -> set[tuple[str, str, str]]:
        """Each edge as (source name, label, target name)."""
        name = {node["id"]: node["name"] for node in data["nodes"]}
        return {(name[e["source"]], e["label"], name[e["target"]]) for e in data["edges"]}

    def test_depth_one_is_the_neighbours_in_both_directions_with_directed_labelled_edges(self) -> None:
        data = graph.neighbourhood(self.erp, self.staff)
        self.assertEqual(self.names(data), {"erp-app": 0, "db-cluster": 1, "payroll": 1})
        self.assertEqual(
            self.edges(data), {("erp-app", "is part of", "payroll"), ("erp-app", "depends on", "db-cluster")}
        )
        self.assertFalse(data["truncated"])
        centre = [node for node in data["nodes"] if node["centre"]]
        self.assertEqual([node["name"] for node in centre], ["erp-app"])
        # from the cluster's side: the same edge, still pointing from the app to the cluster
        from_cluster = graph.neighbourhood(self.cluster, self.staff)
        self.assertIn(("erp-app", "depends on", "db-cluster"), self.edges(from_cluster))
        self.assertIn(("erp-b", "depends on", "db-cluster"), self.edges(from_cluster))

    def test_deeper_levels_follow_memberships_and_relationships_and_mark_the_group(self) -> None:
        two = graph.neighbourhood(self.erp, self.staff, depth=2)
        self.assertEqual(
            self.names(two),
            {"erp-app": 0, "db-cluster": 1, "payroll": 1, "db-1": 2, "db-2": 2, "db-3": 2, "erp-b": 2},
        )
        self.assertIn(("db-2", graph.MEMBER_OF, "db-cluster"), self.edges(two))
        self.assertEqual([n["group"] for n in two["nodes"] if n["name"] == "db-cluster"], ["2 of 3"])
        three = graph.neighbourhood(self.erp, self.staff, depth=3)
        self.assertEqual(
            {name for name, depth in self.names(three).items() if depth == 3}, {"host-6", "host-7", "host-8"}
        )
        self.assertIn(("db-1", "runs on", "host-6"), self.edges(three))
        self.assertNotIn("report-a", self.names(three))  # four steps away

    def test_the_cap_keeps_the_nearest_says_so_and_leaves_no_edge_to_a_node_left_out(self) -> None:
        data = graph.neighbourhood(self.erp, self.staff, depth=3, max_nodes=4)
        self.assertTrue(data["truncated"])
        self.assertEqual(self.names(data), {"erp-app": 0, "db-cluster": 1, "payroll": 1, "db-1": 2})
        ids = {node["id"] for node in data["nodes"]}
        self.assertTrue(all(e["source"] in ids and e["target"] in ids for e in data["edges"]))
        self.assertFalse(graph.neighbourhood(self.erp, self.staff, depth=3, max_nodes=11)["truncated"])  # all 11

    def test_a_customer_sees_only_their_organisations_cis_and_never_anothers_name(self) -> None:
        api = api_client(self.p.customer_a)
        response = api.get(reverse("api:cmdb-cis-graph", args=[self.erp.pk]), {"depth": "3"})
        self.assertEqual(response.status_code, 200)
        self.assertEqual(self.names(response.json()), {"erp-app": 0, "payroll": 1})
        self.assertEqual(self.edges(response.json()), {("erp-app", "is part of", "payroll")})
        for hidden in ("db-cluster", "db-1", "host-6", "erp-b", self.cluster.reference, self.erp_b.reference):
            self.assertNotIn(hidden, response.content.decode())
        self.client.force_login(self.p.customer_a)
        page = self.client.get(
            reverse("cmdb:configurationitem_detail", args=[self.erp.pk]), {"tab": "graph", "depth": 3}
        )
        self.assertContains(page, "payroll")
        for hidden in ("db-cluster", "erp-b", "host-6"):
            self.assertNotContains(page, hidden)

    def test_the_impact_flags_are_cmdb_impacts(self) -> None:
        for down in (self.cluster, self.hosts[0], self.erp):
            with self.subTest(down=down.name):
                data = graph.neighbourhood(self.cluster, self.staff, depth=3, impact_of=down.pk)
                flagged = {node["id"] for node in data["nodes"] if node["impacted"]}
                shown = {node["id"] for node in data["nodes"]}
                self.assertEqual(flagged, impact.analyse([down.pk]).ids() & shown)
        data = graph.neighbourhood(self.cluster, self.staff, depth=3, impact_of=self.cluster.pk)
        self.assertEqual({node["name"] for node in data["nodes"] if node["impacted"]}, {"erp-app", "erp-b", "payroll"})
        self.assertEqual({node["impacted"] for node in graph.neighbourhood(self.cluster, self.staff)["nodes"]}, {None})

    def test_the_api_answers_who_may_read_and_refuses_bad_input_by_field(self) -> None:
        url = reverse("api:cmdb-cis-graph", args=[self.erp.pk])
        api = api_client(self.staff)
        body = api.get(url, {"depth": "2", "impact_of": str(self.hosts[0].pk)}).json()
        self.assertEqual(set(body), {"nodes", "edges", "clusters", "truncated"})
        self.assertEqual(len(body["nodes"]), 7)
        self.assertEqual(body["nodes"][0]["api"], url)
        for query, field in (
            ({"depth": "4"}, "depth"),
            ({"depth": "0"}, "depth"),
            ({"depth": "two"}, "depth"),
            ({"impact_of": "999999"}, "impact_of"),
        ):
            with self.subTest(query=query):
                response = api.get(url, query)
                self.assertEqual(response.status_code, 400)
                self.assertEqual(list(response.json()), [field])
        customer = api_client(self.p.customer_a)
        refused = customer.get(url, {"impact_of": str(self.cluster.pk)})  # the provider's: named like a missing one
        self.assertEqual(refused.json(), {"impact_of": [f"No such configuration item: {self.cluster.pk}."]})
        self.assertEqual(customer.get(reverse("api:cmdb-cis-graph", args=[self.erp_b.pk])).status_code, 404)
        self.assertEqual(api_client(self.p.customer_b).get(url).status_code, 404)

    def test_the_tab_embeds_the_graph_and_says_a_wrong_depth(self) -> None:
        self.client.force_login(self.p.users[Role.SERVICE_DESK_AGENT])
        url = reverse("cmdb:configurationitem_detail", args=[self.erp.pk])
        page = self.client.get(url, {"tab": "graph"})
        self.assertContains(page, 'id="cmdb-graph-data"')
        found = re.search(r'<script id="cmdb-graph-data" type="application/json">(.*?)</script>', page.content.decode())
        assert found is not None
        embedded = json.loads(found.group(1))
        self.assertEqual(self.names(embedded), {"erp-app": 0, "db-cluster": 1, "payroll": 1})
        self.assertEqual({n["name"] for n in embedded["nodes"] if n["impacted"]}, {"payroll"})  # its own impact
        bad = self.client.get(url, {"tab": "graph", "depth": "9"})
        self.assertContains(bad, "Depth: A whole number from 1 to 3.")
        self.assertContains(bad, "The graph as a list (3 CIs, 2 relationships)")


class ClusterTests(PrincipalsTestCase):
    """A host with twelve virtual machines on it (and one that also depends on a database): the twelve alike leaves
    are one cluster; the one with another relationship is not."""

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        runs_on = RelationshipKind.objects.get(name="Runs on")
        depends = RelationshipKind.objects.get(name="Depends on")
        vm_class = CIClass.objects.get(name="Virtual machine")
        cls.host = ConfigurationItemFactory(name="host-big", ci_class=CIClass.objects.get(name="Server"))
        cls.vms = [ConfigurationItemFactory(name=f"vm-{i:02d}", ci_class=vm_class) for i in range(12)]
        cls.busy = ConfigurationItemFactory(name="vm-busy", ci_class=vm_class)
        cls.db = ConfigurationItemFactory(name="db-x", ci_class=CIClass.objects.get(name="Database"))
        for vm in [*cls.vms, cls.busy]:
            Relationship.objects.create(source=vm, target=cls.host, kind=runs_on)
        Relationship.objects.create(source=cls.busy, target=cls.db, kind=depends)
        cls.staff = cls.p.users[Role.RESOLVER]

    def test_alike_leaves_of_one_ci_are_one_cluster_and_the_rest_stay_nodes(self) -> None:
        data = graph.neighbourhood(self.host, self.staff, depth=2, impact_of=self.host.pk)
        self.assertEqual(len(data["clusters"]), 1)
        cluster = data["clusters"][0]
        self.assertEqual(
            (cluster["hub"], cluster["label"], cluster["direction"], cluster["class"], cluster["count"]),
            (self.host.pk, "runs on", "to", "Virtual machine", 12),
        )
        self.assertEqual(sorted(cluster["members"]), sorted(vm.pk for vm in self.vms))
        self.assertEqual(cluster["impacted"], 12)  # each fails when the host is down
        in_cluster = {node["id"] for node in data["nodes"] if node["cluster"] == cluster["id"]}
        self.assertEqual(in_cluster, {vm.pk for vm in self.vms})
        self.assertEqual(len(data["nodes"]), 15)  # every CI is still listed, and every relationship
        self.assertEqual(len(data["edges"]), 14)

    def test_fewer_alike_leaves_are_no_cluster(self) -> None:
        Relationship.objects.filter(source__in=self.vms[: 12 - (graph.CLUSTER_MIN - 2)]).delete()  # and vm-busy: 7
        data = graph.neighbourhood(self.host, self.staff)
        self.assertEqual(data["clusters"], [])

    def test_the_api_answers_the_clusters(self) -> None:
        answer = api_client(self.staff).get(reverse("api:cmdb-cis-graph", args=[self.host.pk]))
        self.assertEqual(answer.status_code, 200)
        # at depth 1 vm-busy's database is not in the graph: it hangs off the host by "runs on" alone, like the rest
        self.assertEqual([c["count"] for c in answer.json()["clusters"]], [13])
