"""Browser test of an agent's ticket page: the clocks count down live under the title (business time, 24x7 here, so
they run), and the keyboard works it: "?" lists the shortcuts, "c" opens the Timeline in its reply box, "]" the next
tab. Screenshots (test-artifacts/), no sideways scroll, no CSP violation."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from playwright.sync_api import expect

from meridian.core import services as core
from meridian.core.choices import Role
from meridian.core.testing import make_principals
from meridian.core.tests.browser import CSP_RECORDER, TIMEOUT_MS, log_in, snap_widths
from meridian.service_levels.factories import AgreementFactory, AgreementTargetFactory
from meridian.service_levels.models import Priority
from meridian.service_levels.tests.clock_helpers import always
from meridian.tickets.models import Incident

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_clocks_tick_and_the_keyboard_works_the_ticket(page: Any, live_server: Any) -> None:
    from meridian.core.services import get_system_actor
    from meridian.tickets import defaults

    defaults.ensure(get_system_actor())  # the seeded priorities and clock metrics, after another test's flush
    p = make_principals()
    sla = AgreementFactory(name="Round the clock", status="active", support_hours=always(), valid_from=date(2026, 1, 1))
    for priority in Priority.objects.all():
        AgreementTargetFactory(agreement=sla, priority=priority, response_minutes=30, resolution_minutes=240)
    agent = p.users[Role.SERVICE_DESK_AGENT]
    incident = core.create_record(
        Incident,
        data={"title": "VPN drops", "organisation": p.org_a, "impact": "medium", "urgency": "medium"},
        actor=agent,
    )
    page.set_default_timeout(TIMEOUT_MS)
    page.add_init_script(CSP_RECORDER)
    log_in(page, live_server, agent.username)
    page.goto(f"{live_server.url}{incident.get_absolute_url()}")

    countdown = page.locator('#record-banner [data-clock="resolution"] .countdown')
    expect(countdown).to_have_attribute("data-ticking", "1")
    first = countdown.inner_text()
    expect(countdown).not_to_have_text(first, timeout=3000)  # it runs down, second by second
    assert "min" in countdown.inner_text() and " s" in countdown.inner_text()
    snap_widths(page, "ticket-page-countdown")

    page.keyboard.press("?")
    expect(page.locator("#shortcuts")).to_be_visible()
    expect(page.locator("#shortcuts")).to_contain_text("Comment: the Timeline tab")
    page.keyboard.press("Escape")
    expect(page.locator("#shortcuts")).to_be_hidden()

    page.keyboard.press("c")
    expect(page.locator('.record-tab-bar a[data-tab="timeline"]')).to_have_class("nav-link text-nowrap active")
    expect(page.locator("#record-tabs textarea[name=body]")).to_be_focused()
    page.keyboard.type("Looking into it")  # typed into the box, not taken as shortcuts
    expect(page.locator("#record-tabs textarea[name=body]")).to_have_value("Looking into it")
    page.locator("#record-tabs textarea[name=body]").blur()
    page.keyboard.press("]")
    expect(page.locator(".record-tab-bar a.active")).not_to_have_attribute("data-tab", "timeline")
    assert page.evaluate("window.__cspViolations") == []
