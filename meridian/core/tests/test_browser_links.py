"""Browser test of links between records (core.links): a configuration manager opens a location's Links tab,
chooses "relates to — team", finds the team by typing (htmx search, under the Content-Security-Policy), adds the
link, and sees it on the team's Links tab from the team's side; a customer of the location's organisation sees the
team as "hidden". Screenshots of both tabs at 1400 and 390 px go to test-artifacts/."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from meridian.core.choices import Role
from meridian.core.factories import LocationFactory, OrganisationFactory, TeamFactory
from meridian.core.models import AuditEvent, RecordLink
from meridian.core.testing import make_principals
from meridian.core.tests.browser import CSP_RECORDER, PASSWORD, TIMEOUT_MS, log_in, snap

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_link_added_on_one_record_shows_on_the_other(page: Any, live_server: Any) -> None:
    page.set_default_timeout(TIMEOUT_MS)
    page.add_init_script(CSP_RECORDER)
    p = make_principals()
    for user in (p.users[Role.CONFIGURATION_MANAGER], p.customer_a):
        user.set_password(PASSWORD)
        user.save()
    location = LocationFactory(name="Amsterdam data centre", organisation=p.org_a)
    team = TeamFactory(name="Network Operations", organisation=p.internal)
    TeamFactory(name="Service Desk", organisation=p.internal)
    OrganisationFactory(name="Network Rail (not a team)")

    log_in(page, live_server, p.users[Role.CONFIGURATION_MANAGER].username)
    page.goto(f"{live_server.url}{location.get_absolute_url()}")
    page.get_by_role("link", name="Links").click()
    expect(page.locator('[data-tab-pane="links"]')).to_contain_text("not linked to any other record")
    page.get_by_label("Link", exact=True).select_option(label="Relates to — team")
    page.get_by_label("Find the record").fill("network")
    candidate = page.get_by_label("Network Operations")
    expect(candidate).to_be_visible()
    expect(page.locator("#link-candidates")).not_to_contain_text("Service Desk")
    expect(page.locator("#link-candidates")).not_to_contain_text("Network Rail")
    snap(page, "links-location-search", 1400)
    page.get_by_label("Find the record").fill("zebra")
    expect(page.locator("#link-candidates")).to_contain_text("No record you may see matches “zebra”.")
    page.get_by_role("button", name="Add link").click()  # no record chosen: said on the field, nothing written
    expect(page.locator("#link-record-error")).to_have_text("Choose the record to link.")
    assert not RecordLink.objects.exists()
    snap(page, "links-location-refused", 390)
    page.get_by_label("Link", exact=True).select_option(label="Relates to — team")
    page.get_by_label("Find the record").fill("network")
    candidate = page.get_by_label("Network Operations")
    candidate.check()
    page.get_by_role("button", name="Add link").click()
    page.wait_for_url(f"**{location.get_absolute_url()}?tab=links")
    row = page.locator(".links-table tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Relates to")
    expect(row).to_contain_text("Network Operations")
    link = RecordLink.objects.get()
    assert (link.source_type, link.source_id, link.target_type, link.target_id) == (
        "core.location",
        location.pk,
        "core.team",
        team.pk,
    )
    assert AuditEvent.objects.filter(action="link").count() == 2  # one on each record
    snap(page, "links-location-tab", 1400)
    snap(page, "links-location-tab", 390)

    row.get_by_role("link", name="Network Operations").click()
    page.wait_for_url(f"**{team.get_absolute_url()}")
    page.get_by_role("link", name="Links").click()
    team_row = page.locator(".links-table tbody tr")
    expect(team_row).to_contain_text("Amsterdam data centre")
    expect(team_row).to_contain_text("Location")
    snap(page, "links-team-tab", 1400)
    snap(page, "links-team-tab", 390)
    page.get_by_role("link", name="History").click()
    expect(page.locator("#history")).to_contain_text("relates to Amsterdam data centre")
    assert page.evaluate("window.__cspViolations") == []

    page.context.clear_cookies()
    log_in(page, live_server, p.customer_a.username)
    page.goto(f"{live_server.url}{location.get_absolute_url()}?tab=links")
    customer_row = page.locator(".links-table tbody tr")
    expect(customer_row).to_contain_text("hidden")
    expect(customer_row).not_to_contain_text("Network Operations")
    expect(page.get_by_role("button", name="Add link")).to_have_count(0)
    snap(page, "links-customer-hidden", 390)
