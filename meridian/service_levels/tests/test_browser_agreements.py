"""Browser test on the demo data: a service level manager sets up an OLA and then an SLA above it through the pages,
puts both in force, and the SLA's Coverage tab flags that the OLA (office hours, 5 hours) cannot support the SLA's
round-the-clock 4-hour resolution; "What applies" then names the SLA and its due times. Screenshots at 1,400 and
390 px (test-artifacts/), no sideways scroll, no Content-Security-Policy violation."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from meridian.core.tests.browser import CSP_RECORDER, PASSWORD, TIMEOUT_MS, log_in, snap_widths
from meridian.service_levels.models import Agreement

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def fill_agreement(page: Any, live_server: Any, kind: str, name: str, hours: str, targets: tuple[str, str]) -> None:
    page.goto(f"{live_server.url}/service-levels/agreements/add/")
    page.locator("#id_kind").select_option(kind)
    page.locator("#id_name").fill(name)
    page.locator("#id_owner").select_option(label="Samir Haddad", force=True)  # under its Tom Select
    page.locator("#id_services").select_option(label="Video meetings", force=True)
    page.locator("#id_valid_from").fill("2026-01-01")
    page.locator("#id_support_hours").select_option(label=hours, force=True)
    page.locator('[name="targets-0-priority"]').select_option(label="P1 – Critical", force=True)
    page.locator('[name="targets-0-response_minutes"]').fill(targets[0])
    page.locator('[name="targets-0-resolution_minutes"]').fill(targets[1])


def put_in_force(page: Any) -> None:
    for button in ("Record as agreed", "Put in force"):
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name=button).click()
        expect(page.get_by_role("button", name=button)).to_have_count(0)


def test_a_service_level_manager_sets_up_an_sla_over_an_ola_and_sees_it_flagged(page: Any, live_server: Any) -> None:
    page.set_default_timeout(TIMEOUT_MS)
    page.add_init_script(CSP_RECORDER)
    call_command("demo", password=PASSWORD)
    log_in(page, live_server, "samir")

    fill_agreement(page, live_server, "ola", "Service Desk for video", "Netherlands office hours", ("15", "300"))
    page.locator("#id_team").select_option(label="Service Desk", force=True)
    page.get_by_role("button", name="Save").click()
    expect(page.locator("h1")).to_contain_text("Service Desk for video")
    put_in_force(page)
    ola = Agreement.objects.get(name="Service Desk for video")
    assert ola.reference.startswith("OLA-") and ola.status == "active"

    fill_agreement(page, live_server, "sla", "Harbour video meetings", "24x7", ("30", "240"))
    page.locator("#id_customers").select_option(label="Harbour City Council", force=True)
    page.get_by_role("button", name="Save").click()
    expect(page.locator("h1")).to_contain_text("Harbour video meetings")
    put_in_force(page)
    sla = Agreement.objects.get(name="Harbour video meetings")
    assert sla.reference.startswith("SLA-") and sla.status == "active"

    page.get_by_role("link", name="Coverage & consistency").click()
    findings = page.locator(".consistency-findings")
    expect(findings).to_contain_text(f"{ola.reference} (Service Desk) promises resolution of P1 – Critical in 5 h")
    expect(page.locator("#record-tabs")).to_contain_text("Harbour City Council")
    snap_widths(page, "service-levels-coverage")

    page.goto(f"{live_server.url}/service-levels/applies/")
    page.locator("#id_customer").select_option(label="Harbour City Council", force=True)
    page.locator("#id_service").select_option(label="Video meetings", force=True)
    page.locator("#id_priority").select_option(label="P1 – Critical", force=True)
    page.locator("#id_team").select_option(label="Service Desk", force=True)
    page.get_by_role("button", name="Show what applies").click()
    answer = page.locator(".applies-answer")
    expect(answer).to_contain_text(f"{sla.reference} Harbour video meetings")
    expect(answer).to_contain_text("names the customer and the service")
    expect(answer).to_contain_text(ola.reference)
    expect(answer.locator(".resolution-due")).to_have_count(1)
    snap_widths(page, "service-levels-applies")
    assert page.evaluate("window.__cspViolations") == []
