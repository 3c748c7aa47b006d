"""Browser test of bulk actions: on the people list, the header's box ticks the page and the bar counts the rows
ticked; the action chosen beside the filters does not reload the list (nor untick the rows); "Edit fields" on two
people, typing a value ticks its "Change" box, the confirmation names them, and the result says what changed; a
lifecycle action with its reason; one on two people names the one its guard refused (the administrator's own
account) and does the other. Screenshots at 1,400 and 390 px (test-artifacts/), no sideways scroll, no
Content-Security-Policy violation."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from meridian.core.choices import PersonStatus, Role
from meridian.core.factories import OrganisationFactory, PersonFactory, UserFactory
from meridian.core.models import Person
from meridian.core.tests.browser import CSP_RECORDER, TIMEOUT_MS, log_in, snap_widths

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_edit_two_people_then_suspend_all_matching(page: Any, live_server: Any) -> None:
    page.set_default_timeout(TIMEOUT_MS)
    page.add_init_script(CSP_RECORDER)
    admin = UserFactory(username="bulk-admin", roles=[Role.ADMINISTRATOR])
    org = OrganisationFactory(name="Harbour Logistics")
    PersonFactory(organisation=org, user=admin, first_name="Ada", last_name="Admin")
    for last in ("Bakker", "Jansen", "Visser"):
        PersonFactory(organisation=org, first_name="Sam", last_name=last, job_title="Clerk")
    log_in(page, live_server, "bulk-admin")

    page.goto(f"{live_server.url}/core/people/?organisation={org.pk}")
    rows = page.locator("input[data-bulk-row]")
    expect(rows).to_have_count(4)
    page.get_by_label("Select every row of this page").check()
    expect(page.locator("[data-bulk-count]")).to_have_text("4 ticked")
    page.get_by_label("Select every row of this page").uncheck()
    page.get_by_label("Select Sam Bakker").check()
    page.get_by_label("Select Sam Jansen").check()
    expect(page.locator("[data-bulk-count]")).to_have_text("2 ticked")
    page.locator("#bulk-action").select_option("edit")  # a select beside the filters: the list is not reloaded
    expect(page.get_by_label("Select Sam Jansen")).to_be_checked()
    snap_widths(page, "bulk-list")
    page.get_by_role("button", name="Go").click()

    expect(page.get_by_role("heading", name="Edit fields: 2 people")).to_be_visible()
    expect(page.locator("#bulk-sample")).to_contain_text("Sam Bakker, Sam Jansen")
    page.locator("#id_job_title").fill("Warehouse lead")
    page.locator("#id_job_title").press("Tab")  # a change of the value ticks its box
    expect(page.get_by_label("Change job title")).to_be_checked()
    snap_widths(page, "bulk-edit")
    page.locator("#bulk-go").click()
    expect(page.locator("#bulk-result")).to_contain_text("2 changed")
    assert sorted(Person.objects.filter(job_title="Warehouse lead").values_list("last_name", flat=True)) == [
        "Bakker",
        "Jansen",
    ]

    page.goto(f"{live_server.url}/core/people/?organisation={org.pk}")
    page.get_by_label("Select Sam Visser").check()
    page.locator("#bulk-action").select_option("suspend")
    page.get_by_role("button", name="Go").click()
    page.get_by_label("Reason").fill("Contract ended")
    page.locator("#bulk-go").click()
    expect(page.locator("#bulk-result")).to_contain_text("1 changed")
    assert Person.objects.get(last_name="Visser").status == PersonStatus.SUSPENDED

    page.goto(f"{live_server.url}/core/people/?organisation={org.pk}&status=active")
    page.get_by_label("Select Ada Admin").check()
    page.get_by_label("Select Sam Bakker").check()
    page.locator("#bulk-action").select_option("suspend")
    page.get_by_role("button", name="Go").click()
    page.get_by_label("Reason").fill("Office closed")
    page.locator("#bulk-go").click()
    expect(page.locator("#bulk-result")).to_contain_text("1 changed, 1 refused")
    expect(page.locator("#bulk-refused")).to_contain_text("You cannot do this to your own account")
    snap_widths(page, "bulk-result")
    assert page.evaluate("window.__cspViolations") == []
