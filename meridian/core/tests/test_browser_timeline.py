"""Browser test of the Timeline tab (core.timeline): a service desk agent opens a location's Timeline, sees its
changes, a link and a notification merged newest first with relative times (the exact time on hover), filters to
changes only, and loads older entries with "Show older" (htmx, under the Content-Security-Policy) until there are
none. Screenshots at 1400 and 390 px go to test-artifacts/."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from meridian.core import services
from meridian.core.choices import Role
from meridian.core.factories import LocationFactory
from meridian.core.links import RELATES_TO
from meridian.core.models import NotificationLog
from meridian.core.testing import make_principals
from meridian.core.tests.browser import CSP_RECORDER, PASSWORD, TIMEOUT_MS, log_in, snap
from meridian.core.timeline import PAGE_SIZE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_agent_reads_filters_and_pages_a_records_timeline(page: Any, live_server: Any) -> None:
    page.set_default_timeout(TIMEOUT_MS)
    page.add_init_script(CSP_RECORDER)
    p = make_principals()
    agent = p.users[Role.SERVICE_DESK_AGENT]
    agent.set_password(PASSWORD)
    agent.save()
    admin = p.users[Role.ADMINISTRATOR]
    location = LocationFactory(name="Site 0", organisation=p.org_a)
    other = LocationFactory(name="Rotterdam depot", organisation=p.org_a)
    for n in range(1, PAGE_SIZE + 6):  # more changes than one page holds
        location = services.update_record(
            location, data={"name": f"Site {n}"}, actor=admin, expected_version=location.version
        )
    services.link_records(
        location, link_type=RELATES_TO.name, other_type=other._meta.label_lower, other_id=other.pk, actor=admin
    )
    NotificationLog.objects.create(
        event="changed",
        record_type=location._meta.label_lower,
        record_id=str(location.pk),
        recipient="desk@example.com",
        subject="Location changed",
        body="-",
    )

    log_in(page, live_server, agent.username)
    page.goto(f"{live_server.url}{location.get_absolute_url()}")
    page.get_by_role("link", name="Timeline").click()
    pane = page.locator('[data-tab-pane="timeline"]')
    entries = pane.locator(".timeline-entry")
    expect(entries).to_have_count(PAGE_SIZE)
    expect(entries.first).to_contain_text("Location changed")  # the newest: the notification, then the link
    expect(entries.nth(1)).to_contain_text("relates to Rotterdam depot")
    expect(entries.nth(2)).to_contain_text(f"Site {PAGE_SIZE + 4}")
    expect(entries.nth(2)).to_contain_text(f"Site {PAGE_SIZE + 5}")
    when = entries.first.locator("time")
    expect(when).to_have_text("just now")
    assert when.get_attribute("datetime")
    assert when.get_attribute("title")
    snap(page, "timeline-all", 1400)
    snap(page, "timeline-all", 390)

    page.set_viewport_size({"width": 1400, "height": 900})
    pane.get_by_role("link", name="Changes", exact=True).click()
    expect(page).to_have_url(re.compile(r"kind=changes"))
    expect(entries).to_have_count(PAGE_SIZE)
    expect(pane).not_to_contain_text("Location changed")
    expect(pane).not_to_contain_text("relates to")
    expect(entries.first).to_contain_text(f"Site {PAGE_SIZE + 5}")
    pane.get_by_role("link", name="Show older").click()
    expect(pane).to_contain_text("No older entries.")
    expect(pane.get_by_role("link", name="Show older")).to_have_count(0)
    total = PAGE_SIZE + 5  # every change, once
    expect(entries).to_have_count(total)
    names = [entries.nth(i).inner_text() for i in (PAGE_SIZE - 1, PAGE_SIZE)]
    assert names[0] != names[1]
    snap(page, "timeline-changes-older", 1400)
    snap(page, "timeline-changes-older", 390)
    assert page.evaluate("window.__cspViolations") == []
