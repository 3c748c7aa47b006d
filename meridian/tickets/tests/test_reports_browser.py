"""Browser test: a service level manager opens December's service report of an SLA with a few tickets and sees
its charts drawn (Chart.js, data passed with json_script: no inline script), and the print-ready page. Screenshots
at 1,400 and 390 px (test-artifacts/), no sideways scroll, no Content-Security-Policy violation."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from meridian.core import services as core
from meridian.core.choices import Role
from meridian.core.testing import make_principals
from meridian.core.tests.browser import CSP_RECORDER, TIMEOUT_MS, log_in, snap_widths
from meridian.service_levels import clocks
from meridian.service_levels.factories import AgreementFactory, AgreementTargetFactory
from meridian.service_levels.models import Priority
from meridian.service_levels.tests.clock_helpers import office
from meridian.tickets.models import Incident
from meridian.tickets.tests.test_tickets import At, ams

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def december_tickets() -> Any:
    from meridian.core.services import get_system_actor
    from meridian.tickets import defaults

    defaults.ensure(get_system_actor())  # the seeded priorities and clock metrics, after another test's flush
    p = make_principals()
    sla = AgreementFactory(
        name="Standard", status="active", support_hours=office("Office"), valid_from=date(2026, 1, 1)
    )
    sla.customers.set([p.org_a, p.org_b])
    for rank, response, resolution in ((1, 15, 120), (3, 60, 480)):
        AgreementTargetFactory(
            agreement=sla,
            priority=Priority.objects.get(rank=rank),
            response_minutes=response,
            resolution_minutes=resolution,
        )
    actor = p.users[Role.SERVICE_DESK_AGENT]
    plan = [  # opened, impact × urgency, started, resolved, rating
        (ams(7, 16), "medium", ams(7, 16, 30), ams(8, 10), 5),
        (ams(7, 9), "medium", ams(7, 11), ams(9, 15), 2),
        (ams(8, 9), "high", ams(8, 9, 10), ams(8, 12), 4),
        (ams(10, 9), "medium", None, None, None),
    ]
    for number, (opened, level, started, resolved, rating) in enumerate(plan, 1):
        with At(opened):
            ticket = core.create_record(
                Incident,
                data={"title": f"Ticket {number}", "organisation": p.org_a, "impact": level, "urgency": level},
                actor=actor,
            )
        Incident.objects.filter(pk=ticket.pk).update(created_at=opened)
        for action, at, values in (
            ("start", started, {}),
            ("resolve", resolved, {"resolution_code": "fixed", "resolution_notes": "Fixed it."}),
        ):
            if at is None:
                continue
            ticket.refresh_from_db()
            with At(at):
                core.transition(ticket, action, actor=actor, expected_version=ticket.version, reason="", values=values)
        if rating:
            Incident.objects.filter(pk=ticket.pk).update(rating=rating)
    with At(ams(10, 8)):
        clocks.record_due_events()
    return p, sla


def test_the_report_page_draws_its_charts(page: Any, live_server: Any) -> None:
    page.set_default_timeout(TIMEOUT_MS)
    page.add_init_script(CSP_RECORDER)
    p, sla = december_tickets()
    log_in(page, live_server, p.users[Role.SERVICE_LEVEL_MANAGER].username)
    page.goto(f"{live_server.url}{reverse('tickets:service_report', args=[sla.pk])}?month=2026-12")
    expect(page.locator("h1")).to_contain_text("Service report")
    expect(page.locator(".report-period")).to_have_text("December 2026")
    charts = page.locator("canvas[data-report-chart]")
    expect(charts).to_have_count(5)
    for index in range(5):
        expect(charts.nth(index)).to_have_attribute("data-drawn", "true")
    # something was painted: the volume chart's canvas is not blank
    painted = page.evaluate(
        """() => { const c = document.querySelector('canvas[data-report-chart="volumes"]');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 3; i < d.length; i += 4) { if (d[i] !== 0) return true; } return false; }"""
    )
    assert painted
    expect(page.locator(".report-kpis")).to_contain_text("66.7 %")
    snap_widths(page, "service-report")
    page.get_by_role("link", name="Print-ready page").click()
    expect(page.locator(".service-report-print")).to_have_count(1)
    page.emulate_media(media="print")
    snap_widths(page, "service-report-print", widths=(1000,))
    assert page.evaluate("window.__cspViolations") == []
