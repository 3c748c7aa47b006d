"""Browser tests of list and detail pages: a related list's next page (htmx), the column chooser remembered per
person, sort arrows, and pages that never scroll sideways at 390 px with a 200-character name in the data.

Screenshots of the organisation list and detail at 1,400 px and 390 px go to test-artifacts/ (gitignored)."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from meridian.core.choices import OrganisationKind, Role
from meridian.core.factories import LocationFactory, OrganisationFactory, PersonFactory, TeamFactory, UserFactory
from meridian.core.models import ListPreference
from meridian.core.tests.browser import TIMEOUT_MS, log_in, no_sideways_scroll, snap

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG_NAME = "Rijkswaterstaat" * 13 + "Infrabeheer"[:5]  # 200 characters, not one space


def make_data() -> Any:
    assert len(LONG_NAME) == 200
    acme = OrganisationFactory(name="Acme Logistics", kind=OrganisationKind.CUSTOMER, email="desk@acme.example")
    for index in range(7):
        PersonFactory(organisation=acme, first_name=f"Person{index}", last_name=f"Acme {index + 1}")
    LocationFactory(organisation=acme, name="Room 10")
    LocationFactory(organisation=acme, name="Room 2")
    OrganisationFactory(name="Acme Benelux", parent=acme)
    TeamFactory(organisation=acme, name="Acme on-site support")
    long = OrganisationFactory(name=LONG_NAME, kind=OrganisationKind.CUSTOMER, email="x" * 60 + "@long.example")
    PersonFactory(organisation=long, last_name="L" * 100)
    for name in ("de Vries Holding", "Wagner GmbH", "zuidas bank"):
        OrganisationFactory(name=name)
    return acme, long


def test_related_list_pages_with_htmx_and_columns_are_remembered(page: Any, live_server: Any) -> None:
    page.set_default_timeout(TIMEOUT_MS)
    acme, long = make_data()
    admin = UserFactory(username="lists-admin", roles=[Role.ADMINISTRATOR])
    log_in(page, live_server, admin.username)

    # the detail page: the people of the organisation, five a page, the next page fetched in place
    page.set_viewport_size({"width": 1400, "height": 900})
    detail_url = f"{live_server.url}{acme.get_absolute_url()}"
    page.goto(detail_url)
    people = page.locator("#related-people")
    expect(people.locator(".related-count")).to_have_text("7")
    expect(people.locator("tbody tr")).to_have_count(5)
    expect(people).to_contain_text("1–5 of 7")
    expect(people.get_by_role("link", name="View all in the list")).to_have_attribute(
        "href", f"{reverse('core:person_list')}?organisation={acme.pk}"
    )
    expect(page.locator("#related-locations tbody tr").first).to_contain_text("Room 2")  # natural order
    expect(page.locator("#related-children")).to_contain_text("Acme Benelux")
    snap(page, "lists-organisation-detail-1400")
    people.get_by_role("link", name="Next page of People").click()
    expect(page.locator("#related-people")).to_contain_text("6–7 of 7")
    expect(page.locator("#related-people tbody tr")).to_have_count(2)
    assert page.url == detail_url  # swapped in place, not a new page
    page.locator("#related-people").get_by_role("link", name="Add person").click()
    page.wait_for_url(f"**/core/people/add/?organisation={acme.pk}")
    expect(page.locator("select#id_organisation")).to_have_value(str(acme.pk))

    # the list: sort arrows say the order
    list_url = f"{live_server.url}{reverse('core:organisation_list')}"
    page.goto(list_url)
    name_header = page.locator("th", has_text="Name").first
    expect(name_header).to_have_attribute("aria-sort", "none")
    name_header.get_by_role("link").click()
    expect(page.locator("th", has_text="Name").first).to_have_attribute("aria-sort", "ascending")
    names = page.locator(
        "#results tbody tr td.bulk-select + td, #results tbody tr td:first-child:not(.bulk-select)"
    ).all_inner_texts()
    assert names.index("de Vries Holding") < names.index("Wagner GmbH") < names.index("zuidas bank")
    page.locator("th", has_text="Name").first.get_by_role("link").click()
    expect(page.locator("th", has_text="Name").first).to_have_attribute("aria-sort", "descending")
    page.locator("th", has_text="People").first.get_by_role("link").click()
    expect(page.locator("th", has_text="People").first).to_have_attribute("aria-sort", "ascending")
    counts = [int(text) for text in page.locator("#results tbody td.text-end").all_inner_texts() if text.isdigit()]
    assert counts == sorted(counts) and counts[-1] == 7

    # the column chooser: Email out, Locations in; kept for this person after a reload; reset
    page.goto(list_url)
    page.get_by_text("Columns", exact=True).click()
    page.get_by_role("checkbox", name="Email").uncheck()
    page.get_by_role("checkbox", name="Locations").check()
    snap(page, "lists-column-chooser-1400")
    page.get_by_role("button", name="Save columns").click()
    page.wait_for_url(list_url)
    headers = page.locator("#results thead th")
    expect(headers.filter(has_text="Locations")).to_have_count(1)
    expect(headers.filter(has_text="Email")).to_have_count(0)
    page.reload()
    expect(page.locator("#results thead th").filter(has_text="Locations")).to_have_count(1)
    assert ListPreference.objects.get(user=admin, record_type="core.organisation").columns.count("email") == 0
    long_cell = page.locator("#results .cell-text", has_text=LONG_NAME[:30])
    expect(long_cell).to_have_attribute("title", LONG_NAME)
    snap(page, "lists-organisation-list-1400")
    page.get_by_text("Columns", exact=True).click()
    page.get_by_role("button", name="Reset to default").click()
    page.wait_for_url(list_url)
    expect(page.locator("#results thead th").filter(has_text="Email")).to_have_count(1)
    expect(page.locator("#results thead th").filter(has_text="Locations")).to_have_count(0)

    # 390 px: the list keeps its first columns, the page never scrolls sideways, nor the detail page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(list_url)
    expect(page.locator("#results thead th").filter(has_text="Email")).to_be_hidden()
    expect(page.locator("#results thead th").filter(has_text="Kind")).to_be_visible()
    no_sideways_scroll(page)
    snap(page, "lists-organisation-list-390")
    page.goto(f"{live_server.url}{long.get_absolute_url()}")
    no_sideways_scroll(page)
    snap(page, "lists-organisation-long-detail-390")
    page.goto(detail_url)
    no_sideways_scroll(page)
    snap(page, "lists-organisation-detail-390")
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{live_server.url}{long.get_absolute_url()}")
    no_sideways_scroll(page)
    snap(page, "lists-organisation-long-detail-1400")
