"""Browser test of the iTop import page: a configuration manager finds it in the Control menu and uploads a
corrupted copy of iTop's sample data (its problems by file, class, id and field, no Import button); an administrator
uploads the sample (.zip), reads the dry run's report (per iTop class what would be created; nothing written),
imports, and finds an imported server among the CIs. Screenshots at 1,400 and 390 px (test-artifacts/), no
Content-Security-Policy violation."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from meridian.cmdb import itop
from meridian.cmdb.models import ConfigurationItem
from meridian.cmdb.tests.test_itop import DATASET, SKIP_REASON
from meridian.core.tests.browser import CSP_RECORDER, PASSWORD, TIMEOUT_MS, log_in, snap_widths, use_attachment_storage

SLOW_MS = 120_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(DATASET is None, reason=SKIP_REASON),
]


@pytest.fixture(autouse=True)
def own_storage(settings: Any, tmp_path: Path) -> None:
    use_attachment_storage(settings, tmp_path / "storage")


def test_the_itop_sample_is_checked_then_imported(page: Any, live_server: Any, tmp_path: Path) -> None:
    assert DATASET is not None
    page.set_default_timeout(TIMEOUT_MS)
    page.add_init_script(CSP_RECORDER)
    call_command("demo", password=PASSWORD)
    good = tmp_path / "itop-sample.zip"
    good.write_bytes(itop.zip_directory(DATASET))
    copy = tmp_path / "itop"
    shutil.copytree(DATASET, copy)
    servers = copy / "itop-config-mgmt" / "data.sample.servers.xml"
    servers.write_text(servers.read_text().replace("<location_id>1</location_id>", "<location_id>9</location_id>", 1))
    bad = tmp_path / "itop-bad.zip"
    bad.write_bytes(itop.zip_directory(copy))

    log_in(page, live_server, "lars")  # the configuration manager
    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="iTop import").first.click()
    expect(page.get_by_role("heading", name="Import iTop data")).to_be_visible()
    snap_widths(page, "cmdb-itop-start")
    page.get_by_label("iTop XML files (.zip)").set_input_files(str(bad))
    page.get_by_role("button", name="Upload and check").click(timeout=SLOW_MS)
    problems = page.locator("#itop-problems")
    expect(problems).to_contain_text("Server 2.location_id")
    expect(problems).to_contain_text("location 9 is not in the files.")
    expect(problems).to_contain_text("itop-config-mgmt/data.sample.servers.xml")
    expect(page.locator("#itop-commit")).to_have_count(0)
    snap_widths(page, "cmdb-itop-problems")

    page.context.clear_cookies()
    log_in(page, live_server, "admin")  # organisations, people and teams are an administrator's to add
    page.goto(f"{live_server.url}/cmdb/itop/import/")
    page.get_by_label("iTop XML files (.zip)").set_input_files(str(good))
    page.get_by_role("button", name="Upload and check").click(timeout=SLOW_MS)
    expect(page.locator("#itop-counts tr[data-kind=Server]")).to_contain_text("4")
    expect(page.locator("#itop-notes")).to_contain_text("customer contracts")
    expect(page.locator("#itop-ready")).to_be_visible()
    assert not ConfigurationItem.objects.filter(custom__itop_id="Server:2").exists()  # the dry run wrote nothing
    snap_widths(page, "cmdb-itop-checked")

    page.get_by_role("button", name="Import").click(timeout=SLOW_MS)
    expect(page.locator("#itop-result")).to_contain_text("Imported.")
    snap_widths(page, "cmdb-itop-done")
    page.get_by_role("link", name="See the CIs").click()
    page.locator(".filter-form input[name=q]").fill("Server1")  # the list's own search, not the top bar's
    row = page.locator("tr", has_text="Server1")
    expect(row).to_contain_text("Server")
    expect(row).to_contain_text("Demo")
    assert page.evaluate("window.__cspViolations") == []
