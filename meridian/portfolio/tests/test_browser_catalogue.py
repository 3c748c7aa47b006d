"""Browser test of the portfolio on the demo data: a service owner takes a new service from proposed to live on its
page (the catalogue entry previewed on the way); a customer user then finds it in their catalogue, reads its entry
and never another organisation's services. Screenshots at 1,400 and 390 px (test-artifacts/), no sideways scroll,
no Content-Security-Policy violation."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from meridian.core.tests.browser import CSP_RECORDER, PASSWORD, TIMEOUT_MS, log_in, snap_widths
from meridian.portfolio.models import Service

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_new_service_goes_live_and_its_customer_reads_it(page: Any, live_server: Any) -> None:
    page.set_default_timeout(TIMEOUT_MS)
    page.add_init_script(CSP_RECORDER)
    call_command("demo", password=PASSWORD)
    log_in(page, live_server, "maria")  # the service owner

    page.goto(f"{live_server.url}/portfolio/services/add/")
    page.locator("#id_name").fill("Large file exchange")
    page.locator("#id_summary").fill("Send large files safely to anyone, inside or outside your organisation.")
    page.locator("#id_customers").select_option(label="Northwind Logistics", force=True)  # under its Tom Select
    page.locator("#id_owner").select_option(label="Maria Rossi", force=True)
    page.locator("#id_business_description").fill("Files up to 20 GB, links that expire after 14 days.")
    page.locator("#id_internal_description").fill("Runs on sft-01; certificate renews in May.")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("h1")).to_contain_text("Large file exchange")
    service = Service.objects.get(name="Large file exchange")
    assert service.configuration_item is not None

    page.get_by_role("link", name="In the catalogue").click()
    expect(page.locator("#record-tabs")).to_contain_text("A preview of what they will read then")
    expect(page.locator("#record-tabs")).not_to_contain_text("sft-01")
    for button in ("Start design", "Start transition", "Go live"):
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name=button).click()
        expect(page.get_by_role("button", name=button)).to_have_count(0)
    service.refresh_from_db()
    assert service.status == "live"
    page.get_by_role("link", name="History").click()
    expect(page.locator("#record-tabs")).to_contain_text("Live")
    page.context.clear_cookies()
    log_in(page, live_server, "eva")  # Northwind's IT coordinator
    page.goto(f"{live_server.url}/portfolio/catalogue/")
    expect(page.locator("h1")).to_have_text("Your services")
    expect(page.locator(".catalogue-card")).to_contain_text(["Large file exchange"])
    expect(page.locator("main")).not_to_contain_text("Claims Portal")  # Bergland's
    snap_widths(page, "portfolio-catalogue")

    page.get_by_label("Search the catalogue").fill("large files")
    page.get_by_role("button", name="Search").click()
    expect(page.locator(".catalogue-card")).to_have_count(1)
    page.get_by_role("link", name="Large file exchange").click()
    expect(page.locator("h1")).to_have_text("Large file exchange")
    expect(page.locator("main")).to_contain_text("Files up to 20 GB")
    expect(page.locator("main")).not_to_contain_text("sft-01")

    page.goto(f"{live_server.url}/portfolio/catalogue/SVC-0001/")  # e-mail: offered to Northwind too
    expect(page.locator("#contacts")).to_be_visible()
    expect(page.locator("main")).to_contain_text("What we promise")
    snap_widths(page, "portfolio-catalogue-entry")

    claims = Service.objects.get(name="Claims Portal")
    response = page.goto(f"{live_server.url}/portfolio/catalogue/{claims.reference}/")
    assert response is not None and response.status == 404
    assert page.evaluate("window.__cspViolations") == []
