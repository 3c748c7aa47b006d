"""Browser tests of record actions and tabs: a tab opened from the tab bar (htmx, no reload, a bookmarkable URL)
and a record action with a form run from the record's page. Screenshots at 1400 and 390 px go to test-artifacts/.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from meridian.core.choices import CalendarExceptionKind, Role
from meridian.core.factories import CalendarExceptionFactory, CalendarFactory, PersonFactory, UserFactory
from meridian.core.models import Person
from meridian.core.tests.browser import CSP_RECORDER, PASSWORD, TIMEOUT_MS, snap_widths

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page: Any, live_server: Any, username: str) -> None:
    page.context.add_init_script(CSP_RECORDER)
    page.set_default_timeout(TIMEOUT_MS)
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{live_server.url}{reverse('login')}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login/" not in url)


def test_the_calendar_hours_tab_opens_without_a_reload(page: Any, live_server: Any) -> None:
    UserFactory(username="owner", roles=[Role.SERVICE_OWNER])
    calendar = CalendarFactory(name="Amsterdam service desk")
    CalendarExceptionFactory(
        calendar=calendar,
        date=timezone.localdate() + timedelta(days=2),
        kind=CalendarExceptionKind.CLOSED,
        reason="Office move",
    )
    log_in(page, live_server, "owner")
    page.goto(f"{live_server.url}{calendar.get_absolute_url()}")
    page.evaluate("window.__sameDocument = true")  # lost if the tab loads a whole new page
    tab = page.locator("[data-tab=hours]")
    expect(tab.locator(".badge")).to_have_text("1")
    tab.click()
    page.wait_for_url(re.compile(r"\?tab=hours$"))
    expect(page.locator("[data-tab-pane=hours]")).to_be_visible()
    expect(page.locator("[data-tab=hours]")).to_have_attribute("aria-current", "page")
    expect(page.locator(".hours-preview tbody tr")).to_have_count(14)
    expect(page.get_by_text("Closed all day: Office move")).to_be_visible()
    assert page.evaluate("window.__sameDocument") is True
    snap_widths(page, "actions-calendar-hours-tab")
    page.reload()  # the URL is the tab: bookmarkable
    expect(page.locator("[data-tab-pane=hours]")).to_be_visible()
    page.locator("[data-tab=history]").click()
    expect(page.locator("[data-tab-pane=history]")).to_be_visible()
    assert page.evaluate("window.__cspViolations") == []


def test_an_administrator_gives_a_login_from_the_persons_page(page: Any, live_server: Any) -> None:
    UserFactory(username="admin-g", roles=[Role.ADMINISTRATOR])
    from meridian.core.choices import OrganisationKind
    from meridian.core.factories import OrganisationFactory

    provider = OrganisationFactory(name="Provider", kind=OrganisationKind.INTERNAL)
    person = PersonFactory(
        organisation=provider, first_name="Kim", last_name="Jansen", email="kim.jansen@provider.example"
    )
    log_in(page, live_server, "admin-g")
    page.goto(f"{live_server.url}{person.get_absolute_url()}")
    snap_widths(page, "actions-person-with-actions")
    page.get_by_role("link", name="Give a login…").click()
    page.wait_for_url(re.compile(r"/actions/grant-login/$"))
    assert page.get_by_label("Username").input_value() == "kim.jansen"
    with page.expect_response(lambda r: r.request.method == "POST") as refused:
        page.get_by_role("button", name="Give a login").click()  # no role chosen
    assert refused.value.status == 400
    expect(page.locator("#action-error")).to_contain_text("Nothing was done")
    expect(page.locator(".invalid-feedback")).to_contain_text("This field is required")
    snap_widths(page, "actions-grant-login-form-refused")
    page.get_by_label("Username").fill("kjansen")
    page.get_by_label("Resolver").check()
    page.get_by_label("Change manager").check()
    snap_widths(page, "actions-grant-login-form")
    page.get_by_role("button", name="Give a login").click()
    page.wait_for_url(f"**{person.get_absolute_url()}")
    expect(page.get_by_role("alert").filter(has_text="Give a login done")).to_be_visible()
    expect(page.get_by_role("link", name="Give a login…")).to_have_count(0)  # no longer possible
    person = Person.objects.select_related("user").get(pk=person.pk)
    assert person.user is not None and person.user.username == "kjansen"
    assert person.user.role_labels == ["Change manager", "Resolver"]
    page.locator("[data-tab=login]").click()
    expect(page.locator("[data-tab-pane=login] code")).to_have_text("kjansen")
    page.locator("[data-tab=history]").click()
    expect(page.locator("#history tbody tr").first).to_contain_text("kjansen")
    assert page.evaluate("window.__cspViolations") == []
