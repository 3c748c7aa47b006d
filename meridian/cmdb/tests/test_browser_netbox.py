"""Browser test of the NetBox import page as a configuration manager: from the Control menu, upload the NetBox demo
inventory, read the dry run's report (per kind what would be created; nothing written), import, and find an imported
router among the CIs; a corrupted file shows its problems by kind, position and field, with no Import button.
Screenshots at 1,400 and 390 px (test-artifacts/), no sideways scroll, no Content-Security-Policy violation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from meridian.cmdb.models import ConfigurationItem
from meridian.cmdb.tests.test_netbox import DATASET, SKIP_REASON, of
from meridian.core import services
from meridian.core.choices import OrganisationKind
from meridian.core.models import Organisation
from meridian.core.tests.browser import CSP_RECORDER, PASSWORD, TIMEOUT_MS, log_in, snap_widths, use_attachment_storage

SLOW_MS = 120_000  # the dry run and the import of the whole inventory run in the request (several seconds each)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(DATASET is None, reason=SKIP_REASON),
]


@pytest.fixture(autouse=True)
def own_storage(settings: Any, tmp_path: Path) -> None:
    use_attachment_storage(settings, tmp_path / "storage")


def test_a_configuration_manager_checks_then_imports_the_netbox_demo(
    page: Any, live_server: Any, tmp_path: Path
) -> None:
    assert DATASET is not None
    page.set_default_timeout(TIMEOUT_MS)
    page.add_init_script(CSP_RECORDER)
    call_command("demo", password=PASSWORD)
    items = json.loads(DATASET.read_text())
    # tenants and providers become organisations, which an administrator adds (the dry run names the missing ones)
    admin = services.get_system_actor()
    for model, kind in (
        ("tenancy.tenant", OrganisationKind.CUSTOMER),
        ("circuits.provider", OrganisationKind.SUPPLIER),
    ):
        for o in of(items, model):
            services.create_record(Organisation, data={"name": o["fields"]["name"], "kind": kind}, actor=admin)
    log_in(page, live_server, "lars")  # the configuration manager

    bad = tmp_path / "netbox-bad.json"
    corrupted = json.loads(DATASET.read_text())
    of(corrupted, "dcim.device")[12]["fields"]["site"] = 99
    bad.write_text(json.dumps(corrupted))
    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="NetBox import").first.click()
    expect(page.get_by_role("heading", name="Import a NetBox inventory")).to_be_visible()
    snap_widths(page, "cmdb-netbox-start")
    page.get_by_label("NetBox dump").set_input_files(str(bad))
    page.get_by_role("button", name="Upload and check").click(timeout=SLOW_MS)
    problems = page.locator("#netbox-problems")
    expect(problems).to_contain_text("devices[12].site")
    expect(problems).to_contain_text("site 99 is not in the file.")
    expect(page.locator("#netbox-commit")).to_have_count(0)
    snap_widths(page, "cmdb-netbox-problems")

    page.get_by_role("link", name="Import another file").click()
    page.get_by_label("NetBox dump").set_input_files(str(DATASET))
    page.get_by_role("button", name="Upload and check").click(timeout=SLOW_MS)
    devices = page.locator("#netbox-counts tr[data-kind=devices]")
    expect(devices).to_contain_text("72")
    expect(page.locator("#netbox-ready")).to_be_visible()
    assert not ConfigurationItem.objects.filter(name="dmi01-akron-rtr01").exists()  # the dry run wrote nothing
    snap_widths(page, "cmdb-netbox-checked")

    page.get_by_role("button", name="Import").click(timeout=SLOW_MS)
    expect(page.locator("#netbox-result")).to_contain_text("Imported.")
    snap_widths(page, "cmdb-netbox-done")
    page.get_by_role("link", name="See the CIs").click()
    page.locator(".filter-form input[name=q]").fill("akron-rtr01")  # the list's own search
    row = page.locator("tr", has_text="dmi01-akron-rtr01")
    expect(row).to_contain_text("Network device")
    expect(row).to_contain_text("Dunder-Mifflin")
    assert page.evaluate("window.__cspViolations") == []
