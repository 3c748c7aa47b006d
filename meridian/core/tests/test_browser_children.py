"""Browser test of child rows (core.children): on a calendar's form, fill the blank row, "Add a row" (the page's
own script, under the Content-Security-Policy), save; then remove a row and save; the history names both.
Screenshots of the calendar and team forms at 1400 and 390 px go to test-artifacts/."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from meridian.core import registry, services
from meridian.core.choices import Role, TeamRole
from meridian.core.factories import CalendarFactory, PersonFactory, TeamFactory, UserFactory
from meridian.core.models import Calendar, Team
from meridian.core.testing import make_principals
from meridian.core.tests.browser import CSP_RECORDER, PASSWORD, TIMEOUT_MS, log_in, snap

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_rows_are_added_and_removed_inline_and_saved_with_the_calendar(page: Any, live_server: Any) -> None:
    page.set_default_timeout(TIMEOUT_MS)
    page.add_init_script(CSP_RECORDER)
    UserFactory(username="owner", roles=[Role.SERVICE_OWNER])
    calendar = CalendarFactory(name="Utrecht office hours")
    log_in(page, live_server, "owner")

    page.goto(f"{live_server.url}{reverse('core:calendar_edit', args=[calendar.pk])}")
    rows = page.locator("#exceptions-rows tbody tr")
    expect(rows).to_have_count(1)  # one blank row to fill
    page.locator('[name="exceptions-0-date"]').fill("2026-12-24")
    page.locator('[name="exceptions-0-reason"]').fill("Christmas Eve")
    page.get_by_role("button", name="Add a row").click()
    expect(rows).to_have_count(2)
    page.locator('[name="exceptions-1-date"]').fill("2026-12-19")
    page.locator('[name="exceptions-1-kind"]').select_option("working")
    page.locator('[name="exceptions-1-start"]').fill("09:00")
    page.locator('[name="exceptions-1-end"]').fill("13:00")
    page.locator('[name="exceptions-1-reason"]').fill("Migration weekend")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(f"**/core/calendars/{calendar.pk}/")
    calendar = Calendar.objects.get(pk=calendar.pk)
    assert [(e.date, e.reason) for e in calendar.exceptions.all()] == [
        (dt.date(2026, 12, 19), "Migration weekend"),
        (dt.date(2026, 12, 24), "Christmas Eve"),
    ]
    assert calendar.version == 2
    expect(page.locator("#exceptions")).to_contain_text("Christmas Eve")

    page.goto(f"{live_server.url}{reverse('core:calendar_edit', args=[calendar.pk])}")
    christmas = page.locator("#exceptions-rows tbody tr", has=page.locator('input[value="Christmas Eve"]'))
    christmas.get_by_label("Remove").check()
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(f"**/core/calendars/{calendar.pk}/")
    assert [e.reason for e in calendar.exceptions.all()] == ["Migration weekend"]

    page.get_by_role("link", name="History").click()
    history = page.locator("#history")
    expect(history).to_contain_text("Closures and extra working days: row removed")
    expect(history).to_contain_text("Christmas Eve")
    assert page.evaluate("window.__cspViolations") == []


def test_an_invalid_row_is_named_and_nothing_is_saved(page: Any, live_server: Any) -> None:
    page.set_default_timeout(TIMEOUT_MS)
    UserFactory(username="owner", roles=[Role.SERVICE_OWNER])
    calendar = CalendarFactory()
    log_in(page, live_server, "owner")
    page.goto(f"{live_server.url}{reverse('core:calendar_edit', args=[calendar.pk])}")
    page.locator('[name="exceptions-0-date"]').fill("2026-12-24")
    page.locator('[name="exceptions-0-kind"]').select_option("working")
    page.locator('[name="exceptions-0-reason"]').fill("Stocktake")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("Row 1, Start: An extra working day needs a start time.")
    snap(page, "children-calendar-form-error", 1400)
    snap(page, "children-calendar-form-error", 390)
    assert not calendar.exceptions.exists()


def test_screenshots_of_the_calendar_and_team_forms(page: Any, live_server: Any) -> None:
    page.set_default_timeout(TIMEOUT_MS)
    p = make_principals()
    admin = p.users[Role.ADMINISTRATOR]
    admin.set_password(PASSWORD)
    admin.save()
    calendar = CalendarFactory(name="Netherlands office hours")
    services.update_record(
        calendar,
        data={
            "exceptions": [
                {"date": dt.date(2026, 12, 24), "kind": "closed", "reason": "Office closed on Christmas Eve"},
                {
                    "date": dt.date(2026, 12, 19),
                    "kind": "working",
                    "start": dt.time(9),
                    "end": dt.time(13),
                    "reason": "Saturday migration window staffed",
                },
            ]
        },
        actor=admin,
        expected_version=1,
    )
    team = TeamFactory(name="Service Desk", organisation=p.internal)
    people = [PersonFactory(organisation=p.internal, first_name=n, last_name="de Vries") for n in ("Sanne", "Jonas")]
    services.update_record(
        team,
        data={
            "memberships": [
                {"person": people[0], "role": TeamRole.DEPUTY_LEAD, "since": dt.date(2024, 3, 1)},
                {"person": people[1], "role": TeamRole.DISPATCHER, "since": None},
            ]
        },
        actor=admin,
        expected_version=1,
    )
    log_in(page, live_server, admin.username)
    for name, model, obj in (("calendar", Calendar, calendar), ("team", Team, team)):
        rt = registry.get(model)
        for width in (1400, 390):
            page.goto(f"{live_server.url}{reverse(rt.url_name('edit'), args=[obj.pk])}")
            snap(page, f"children-{name}-form", width)
            page.goto(f"{live_server.url}{reverse(rt.url_name('detail'), args=[obj.pk])}")
            snap(page, f"children-{name}-detail", width)
            page.goto(f"{live_server.url}{reverse(rt.url_name('detail'), args=[obj.pk])}?tab=history")
            snap(page, f"children-{name}-history", width)
