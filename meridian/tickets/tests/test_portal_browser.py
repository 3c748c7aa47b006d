"""Browser test of the whole request from the portal: a customer user requests an offering that needs approval
(its own form), the service owner approves it on the request's page, an agent completes its tasks, and the customer
confirms the resolution and rates the service. Screenshots (test-artifacts/), no sideways scroll, no CSP
violation. And a problem reported from the portal lands as an incident of the customer's organisation."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from meridian.core.choices import Role
from meridian.core.factories import TeamFactory
from meridian.core.testing import make_principals
from meridian.core.tests.browser import CSP_RECORDER, TIMEOUT_MS, log_in, snap_widths
from meridian.portfolio.factories import ServiceFactory
from meridian.portfolio.models import FulfilmentTask, Offering, RequestField
from meridian.tickets.models import Incident, ServiceRequest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _catalogue() -> Any:
    from meridian.core.services import get_system_actor
    from meridian.tickets import defaults

    defaults.ensure(get_system_actor())  # the seeded priorities and clock metrics, after another test's flush
    p = make_principals()
    owner = p.users[Role.SERVICE_OWNER].person
    service = ServiceFactory(name="Mail", owner=owner, status="live")
    service.customers.add(p.org_a)
    offering = Offering.objects.create(
        service=service, name="Shared mailbox", approval="service_owner", expected_fulfilment="2 business days"
    )
    RequestField.objects.create(offering=offering, name="address", label="Which address?", required=True)
    team = TeamFactory(organisation=p.internal, name="Messaging")
    FulfilmentTask.objects.create(offering=offering, order=10, title="Create the mailbox", team=team)
    FulfilmentTask.objects.create(offering=offering, order=20, title="Tell the requester", team=team)
    return p, service, offering


def _log_in_as(page: Any, live_server: Any, username: str) -> None:
    page.context.clear_cookies()
    log_in(page, live_server, username)


def test_a_request_from_the_portal_to_its_rating(page: Any, live_server: Any) -> None:
    page.set_default_timeout(TIMEOUT_MS)
    page.add_init_script(CSP_RECORDER)
    p, service, _offering = _catalogue()
    # the customer finds it in their catalogue and requests it
    _log_in_as(page, live_server, p.customer_a.username)
    page.goto(f"{live_server.url}{reverse('portfolio:catalogue_entry', args=[service.reference])}")
    page.get_by_role("link", name="Request").click()
    expect(page.locator("h1")).to_have_text("Shared mailbox")
    page.get_by_role("button", name="Send the request").click()  # the required answer is missing
    expect(page.locator(".invalid-feedback")).to_contain_text("required")
    assert not ServiceRequest.objects.exists()
    page.get_by_label("Which address?").fill("sales@customer-a.example")
    snap_widths(page, "portal-request")
    page.get_by_role("button", name="Send the request").click()
    expect(page.locator(".alert-success")).to_contain_text("needs an approval first")
    request = ServiceRequest.objects.get()
    assert (request.status, request.answers) == ("awaiting_approval", {"address": "sales@customer-a.example"})
    # the service owner approves it on the request's page
    _log_in_as(page, live_server, p.users[Role.SERVICE_OWNER].username)
    page.goto(f"{live_server.url}{request.get_absolute_url()}")
    page.get_by_role("button", name="Approve").click()
    expect(page.locator(".alert-success")).to_contain_text("Approve done")
    request.refresh_from_db()
    assert request.status == "assigned"
    # an agent completes the two tasks, in order
    _log_in_as(page, live_server, p.users[Role.SERVICE_DESK_AGENT].username)
    for title in ("Create the mailbox", "Tell the requester"):
        page.goto(f"{live_server.url}{request.get_absolute_url()}")
        page.get_by_role("link", name="Complete a task").click()
        page.get_by_label("Task").select_option(label=title)
        page.get_by_role("button", name="Complete a task").click()
    request.refresh_from_db()
    assert (request.status, request.resolution_code) == ("resolved", "fulfilled")
    # the customer confirms and rates
    _log_in_as(page, live_server, p.customer_a.username)
    page.goto(f"{live_server.url}{request.get_absolute_url()}")
    snap_widths(page, "portal-request-resolved")
    page.get_by_role("button", name="Confirm and close").click()
    expect(page.locator(".alert-success")).to_contain_text("Confirm and close done")
    page.get_by_role("link", name="Rate the service").click()
    page.get_by_label("4 – Good").check()
    page.get_by_label("Comment").fill("Quick, thank you.")
    page.get_by_role("button", name="Rate the service").click()
    request.refresh_from_db()
    assert (request.status, request.rating, request.rating_comment) == ("closed", 4, "Quick, thank you.")
    assert page.evaluate("window.__cspViolations") == []


def test_a_problem_reported_from_the_portal(page: Any, live_server: Any) -> None:
    page.set_default_timeout(TIMEOUT_MS)
    page.add_init_script(CSP_RECORDER)
    p, service, _offering = _catalogue()
    _log_in_as(page, live_server, p.customer_a.username)
    page.goto(f"{live_server.url}{reverse('tickets:report_problem')}?service={service.pk}")
    page.get_by_label("What is wrong, in a few words?").fill("Mail does not arrive")
    page.get_by_label("Tell us more").fill("Since 9:00 nobody in sales receives mail.")
    page.get_by_label("My team or department").check()
    page.get_by_label("I cannot work").check()
    snap_widths(page, "portal-report-problem")
    page.get_by_role("button", name="Send to the service desk").click()
    expect(page.locator(".alert-success")).to_contain_text("is with the service desk")
    incident = Incident.objects.get()
    assert (incident.organisation, incident.caller, incident.service) == (p.org_a, p.customer_a.person, service)
    assert (incident.impact, incident.urgency, incident.channel) == ("medium", "high", "portal")
    assert page.evaluate("window.__cspViolations") == []
