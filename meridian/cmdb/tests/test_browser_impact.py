"""Browser test of the CMDB on the demo data: the CI list, a host's page, its Impact tab (one host down is absorbed by
the redundancy; a what-if with a second host takes the warehouse service down, with its path), the dependencies of
the service. Screenshots at 1,400 and 390 px (test-artifacts/), no sideways scroll, no Content-Security-Policy
violation."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from meridian.cmdb.models import ConfigurationItem
from meridian.core.tests.browser import CSP_RECORDER, PASSWORD, TIMEOUT_MS, log_in, snap_widths

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_impact_of_one_host_then_two_with_the_path_to_the_service(page: Any, live_server: Any) -> None:
    page.set_default_timeout(TIMEOUT_MS)
    page.add_init_script(CSP_RECORDER)
    call_command("demo", password=PASSWORD)
    log_in(page, live_server, "lars")  # the configuration manager

    page.goto(f"{live_server.url}/cmdb/cis/")
    host = page.locator("tr", has_text="host-ams-01")
    expect(host).to_contain_text("Platform Engineering")
    expect(page.get_by_label("CPUs", exact=True)).to_have_count(0)  # class attributes: once a class is chosen
    page.locator("#id_ci_class").select_option(label="Server", force=True)  # under its Tom Select
    expect(page.get_by_label("CPUs", exact=True)).to_be_visible()  # Server's own, and Hardware's above it
    expect(page.get_by_label("Serial number", exact=True)).to_be_visible()
    expect(page.get_by_label("Hypervisor", exact=True)).to_have_count(0)  # Virtual machine's, below it
    expect(page.locator("tr", has_text="host-ams-02")).to_be_visible()
    expect(page.locator("tr", has_text="vm-wms-01")).to_have_count(0)
    snap_widths(page, "cmdb-ci-list")

    host.get_by_role("link").first.click()
    expect(page.get_by_role("heading", name="host-ams-01")).to_be_visible()
    snap_widths(page, "cmdb-ci-detail")

    page.get_by_role("link", name="Impact").click()
    expect(page.locator(".impact-tab h2").last).to_have_text("2 CIs impacted")
    expect(page.locator(".impact-services")).to_have_count(0)  # the clusters keep enough members: no service down
    second = ConfigurationItem.objects.get(name="host-ams-02")
    page.get_by_label("Also down (what-if)").fill(second.reference)
    page.get_by_role("button", name="Analyse").click()
    path = "Warehouse Management ← WMS application ← wms-app-pool (2 of 2 down) ← vm-wms-02 ← host-ams-02"
    expect(page.locator("tr", has_text="Warehouse Management").locator(".impact-path")).to_have_text(path)
    expect(page.locator(".impact-services")).to_contain_text("Warehouse Management")
    expect(page.locator(".impact-organisations")).to_contain_text("Northwind Logistics")
    assert f"down={second.reference}" in page.url  # the what-if is in the address: bookmarkable
    snap_widths(page, "cmdb-impact")

    page.get_by_label("Show").select_option("dependencies")
    page.get_by_label("Also down (what-if)").fill("")
    page.get_by_role("button", name="Analyse").click()
    expect(page.locator(".impact-tab h2").last).to_contain_text("it depends on")
    assert page.evaluate("window.__cspViolations") == []
