"""Browser test of a CI's Graph tab: opened from the tab bar (htmx), it draws the CI and its neighbours on a canvas;
clicking a node shows its details and link; double-clicking the redundancy group adds its members and the other
app that depends on it; "Show impact" says what fails; the page at depth 2 draws the same graph at once.
Screenshots at 1,400 and 390 px (test-artifacts/), no sideways scroll, no Content-Security-Policy violation."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from meridian.cmdb.choices import CIStatus, Propagation
from meridian.cmdb.factories import CIClassFactory, ConfigurationItemFactory, RelationshipKindFactory
from meridian.cmdb.models import RedundancyGroup, Relationship
from meridian.core.choices import Role
from meridian.core.factories import OrganisationFactory, PersonFactory, UserFactory
from meridian.core.tests.browser import CSP_RECORDER, TIMEOUT_MS, log_in, snap

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NODE_POINT = """(id) => {
  const cy = window.meridianCmdbGraph;
  const at = cy.getElementById(String(id)).renderedPosition();
  const box = cy.container().getBoundingClientRect();
  return {x: box.left + at.x, y: box.top + at.y};
}"""

FITTED = """() => {
  const canvas = document.querySelector("[data-cmdb-graph]");
  return canvas.dataset.fittedWidth === String(canvas.clientWidth);
}"""


def test_graph_tab_draws_expands_and_shows_impact(page: Any, live_server: Any) -> None:
    page.set_default_timeout(TIMEOUT_MS)
    page.add_init_script(CSP_RECORDER)
    user = UserFactory(username="graph-resolver", roles=[Role.RESOLVER])
    PersonFactory(organisation=OrganisationFactory(name="Provider"), user=user, first_name="Rosa", last_name="Graph")
    depends = RelationshipKindFactory(
        name="Graph depends", forward_label="depends on", propagates=Propagation.TO_SOURCE
    )
    part_of = RelationshipKindFactory(name="Graph part", forward_label="is part of", propagates=Propagation.TO_TARGET)
    app_class, group_class = CIClassFactory(name="Graph app"), CIClassFactory(name="Graph group")
    erp = ConfigurationItemFactory(name="erp-app", ci_class=app_class, status=CIStatus.LIVE)
    payroll = ConfigurationItemFactory(name="payroll", ci_class=app_class, status=CIStatus.IN_TEST)
    cluster = ConfigurationItemFactory(name="db-cluster", ci_class=group_class, status=CIStatus.LIVE)
    other = ConfigurationItemFactory(name="crm-app", ci_class=app_class, status=CIStatus.UNDER_MAINTENANCE)
    dbs = [ConfigurationItemFactory(name=f"db-{i}", status=CIStatus.LIVE) for i in (1, 2, 3)]
    Relationship.objects.create(source=erp, target=payroll, kind=part_of)
    Relationship.objects.create(source=erp, target=cluster, kind=depends)
    Relationship.objects.create(source=other, target=cluster, kind=depends)
    RedundancyGroup.objects.create(ci=cluster, required_up=2).members.set(dbs)
    log_in(page, live_server, "graph-resolver")

    page.goto(f"{live_server.url}{erp.get_absolute_url()}")
    page.locator("a[data-tab='graph']").click()  # the tab comes in by htmx: its script starts the graph
    canvas = page.locator("[data-cmdb-graph]")
    expect(canvas).to_have_attribute("data-graph-ready", "ready")
    expect(canvas).to_have_attribute("data-node-count", "3")
    expect(canvas).to_have_attribute("data-edge-count", "2")
    expect(canvas.locator("canvas").first).to_be_visible()

    point = page.evaluate(NODE_POINT, payroll.pk)
    page.mouse.click(point["x"], point["y"])
    panel = page.locator("[data-graph-panel]")
    expect(panel).to_be_visible()
    expect(panel.get_by_role("link", name="payroll")).to_have_attribute("href", payroll.get_absolute_url())
    expect(panel).to_contain_text("In test")

    point = page.evaluate(NODE_POINT, cluster.pk)
    page.mouse.dblclick(point["x"], point["y"])
    expect(canvas).to_have_attribute("data-node-count", "7")  # db-1..3 and crm-app
    expect(page.locator("[data-graph-message]")).to_contain_text("4 CIs added around db-cluster")
    expect(page.locator(".cmdb-graph-list li")).to_have_count(7)  # the list under the graph grows with it
    expect(page.locator("[data-graph-summary]")).to_have_text("The graph as a list (7 CIs, 6 relationships)")
    expect(panel).to_contain_text("2 of 3")

    page.get_by_label("Show impact").check()
    expect(page.locator("[data-graph-message]")).to_have_text("1 CI shown fail when erp-app is down.")
    for width in (1400, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_function(FITTED)  # the graph fitted to the narrower canvas, then drawn
        page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
        snap(page, "cmdb-graph", width)

    page.goto(f"{live_server.url}{erp.get_absolute_url()}?tab=graph&depth=2")
    expect(canvas).to_have_attribute("data-graph-ready", "ready")
    expect(canvas).to_have_attribute("data-node-count", "7")
    expect(canvas).to_have_attribute("data-edge-count", "6")  # 3 relationships, 3 memberships
    assert page.evaluate("window.__cspViolations") == []


def test_many_alike_neighbours_are_one_cluster_until_opened(page: Any, live_server: Any) -> None:
    """A host with twenty virtual machines: the graph draws them as one “20 × …” node; double-clicking it puts the
    twenty in its place, and “Show impact” counts them."""
    page.set_default_timeout(TIMEOUT_MS)
    page.add_init_script(CSP_RECORDER)
    user = UserFactory(username="graph-cluster", roles=[Role.RESOLVER])
    PersonFactory(organisation=OrganisationFactory(name="Provider"), user=user, first_name="Carl", last_name="Uster")
    runs_on = RelationshipKindFactory(name="Cluster runs", forward_label="runs on", propagates=Propagation.TO_SOURCE)
    host = ConfigurationItemFactory(name="host-big", ci_class=CIClassFactory(name="Cluster host"), status=CIStatus.LIVE)
    vm_class = CIClassFactory(name="Cluster VM")
    for i in range(20):
        vm = ConfigurationItemFactory(name=f"vm-{i:02d}", ci_class=vm_class, status=CIStatus.LIVE)
        Relationship.objects.create(source=vm, target=host, kind=runs_on)
    log_in(page, live_server, "graph-cluster")

    page.goto(f"{live_server.url}{host.get_absolute_url()}?tab=graph")
    canvas = page.locator("[data-cmdb-graph]")
    expect(canvas).to_have_attribute("data-graph-ready", "ready")
    expect(canvas).to_have_attribute("data-node-count", "2")  # the host and one cluster
    expect(canvas).to_have_attribute("data-edge-count", "1")
    cluster = page.evaluate("() => window.meridianCmdbGraph.nodes('.cluster').map((n) => n.id())")
    assert len(cluster) == 1
    point = page.evaluate(NODE_POINT, cluster[0])
    page.mouse.click(point["x"], point["y"])
    panel = page.locator("[data-graph-panel]")
    expect(panel).to_contain_text("Cluster VM")
    expect(panel.get_by_role("button", name="Show the 20 CIs")).to_be_visible()
    page.get_by_label("Show impact").check()
    expect(page.locator("[data-graph-message]")).to_have_text("20 CIs shown fail when host-big is down.")
    drawn = "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"
    page.evaluate(drawn)
    snap(page, "cmdb-graph-cluster", 1400)
    panel.get_by_role("button", name="Show the 20 CIs").click()
    expect(canvas).to_have_attribute("data-node-count", "21")
    expect(canvas).to_have_attribute("data-edge-count", "20")
    expect(page.locator("[data-graph-message]")).to_have_text("20 CIs of Cluster VM shown.")
    page.get_by_label("Show impact").uncheck()
    page.get_by_label("Show impact").check()  # counted one by one now
    expect(page.locator("[data-graph-message]")).to_have_text("20 CIs shown fail when host-big is down.")
    assert page.evaluate("() => window.meridianCmdbGraph.nodes('.impacted').length") == 20
    page.evaluate(drawn)
    snap(page, "cmdb-graph-cluster-open", 1400)
    # the list under the graph names every CI all along
    expect(page.locator(".cmdb-graph-list li")).to_have_count(21)
    assert page.evaluate("window.__cspViolations") == []
