"""Browser test of the import pages (core.imports) as the least role that may add: an administrator importing
organisations (the list's Import button, a file whose header needs mapping, the report with its problems, the mapping
step, the commit and the downloadable report), and a service desk agent following the progress bar of a long import
of people running in the background. Screenshots at 1400 and 390 px go to test-artifacts/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.urls import reverse
from playwright.sync_api import expect

from meridian.core.choices import Role
from meridian.core.models import ImportJob, Organisation
from meridian.core.testing import make_principals
from meridian.core.tests.browser import CSP_RECORDER, TIMEOUT_MS, log_in, snap_widths, use_attachment_storage

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def own_storage(settings: Any, tmp_path: Path) -> None:
    use_attachment_storage(settings, tmp_path / "storage")


def test_upload_map_check_and_import(page: Any, live_server: Any, tmp_path: Path) -> None:
    p = make_principals()
    page.add_init_script(CSP_RECORDER)
    log_in(page, live_server, p.users[Role.ADMINISTRATOR].username)
    page.goto(f"{live_server.url}{reverse('core:organisation_list')}")
    page.get_by_role("link", name="Import").click()
    expect(page.get_by_role("heading", name="Import organisations")).to_be_visible(timeout=TIMEOUT_MS)
    snap_widths(page, "import-start")

    bad = tmp_path / "suppliers.csv"
    bad.write_text("Company,Kind,Active\nNorth Wind Ltd,Supplier,yes\nSouth Wind,martian,perhaps\n", encoding="cp1252")
    page.get_by_label("File").set_input_files(str(bad))
    page.get_by_role("button", name="Upload and check").click()
    problems = page.locator("#import-problems")
    expect(problems).to_contain_text("Unknown column", timeout=TIMEOUT_MS)
    expect(problems).to_contain_text("“martian” is not one of the choices")
    expect(page.locator("#import-counts")).to_contain_text("Problems")
    expect(page.locator("#import-commit")).to_have_count(0)  # nothing to import while problems remain
    snap_widths(page, "import-problems")

    # the mapping step: "Company" is the name; the bad row still refuses the file
    page.get_by_label("Company").select_option(label="Name")
    page.get_by_role("button", name="Check again").click()
    expect(problems).not_to_contain_text("Unknown column", timeout=TIMEOUT_MS)
    expect(problems).to_contain_text("Must be yes or no")
    assert not Organisation.objects.filter(name="North Wind Ltd").exists()

    good = tmp_path / "good.csv"
    good.write_text("Company,Kind,Active\nNorth Wind Ltd,Supplier,yes\nSouth Wind,customer,no\n")
    page.goto(f"{live_server.url}{reverse('core:organisation_import')}")
    page.get_by_label("File").set_input_files(str(good))
    page.get_by_role("button", name="Upload and check").click()
    page.get_by_label("Company").select_option(label="Name")
    page.get_by_role("button", name="Check again").click()
    expect(page.locator("#import-counts")).to_contain_text("Will create 2", timeout=TIMEOUT_MS)
    snap_widths(page, "import-checked")
    page.get_by_role("button", name="Import 2 rows").click()
    expect(page.locator("#import-result")).to_contain_text("Imported.", timeout=TIMEOUT_MS)
    assert Organisation.objects.get(name="South Wind").active is False
    with page.expect_download() as info:
        page.get_by_role("link", name="Download the report (CSV)").first.click()
    assert "created 2" in Path(info.value.path()).read_text()
    snap_widths(page, "import-done")
    assert page.evaluate("window.__cspViolations") == []


def test_progress_of_a_background_import(page: Any, live_server: Any) -> None:
    p = make_principals()
    agent = p.users[Role.SERVICE_DESK_AGENT]  # the least role that may add (and so import) people
    job = ImportJob.objects.create(
        record_type="core.person",
        created_by=agent,
        file_name="staff-2026.xlsx",
        sha256="0" * 64,
        status=ImportJob.Status.RUNNING,
        total_rows=20_000,
        report={"record_type": "core.person", "dry_run": True, "rows": 20_000, "created": 19_000, "updated": 1_000},
    )
    cache.set(f"meridian:import:{job.pk}", 8_000)
    page.add_init_script(CSP_RECORDER)
    log_in(page, live_server, agent.username)
    page.goto(f"{live_server.url}{reverse('core:person_import_job', args=[job.pk])}")
    expect(page.locator("#import-progress")).to_contain_text("Importing: 8000 of 20000 rows", timeout=TIMEOUT_MS)
    snap_widths(page, "import-progress")
    cache.set(f"meridian:import:{job.pk}", 12_000)
    expect(page.locator("#import-progress")).to_contain_text("12000 of 20000", timeout=TIMEOUT_MS)  # htmx polling
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.DONE,
        done_rows=20_000,
        report={**job.report, "dry_run": False, "committed": True},
    )
    expect(page.locator("#import-result")).to_contain_text("Imported.", timeout=TIMEOUT_MS)  # the page reloads
    assert page.evaluate("window.__cspViolations") == []
