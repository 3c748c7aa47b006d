"""Browser tests of forms, conflicts and deleting: a real Chromium (Debian's package, through Playwright) against
the live server, under the Content-Security-Policy (no violation allowed, Tom Select loaded).

Screenshots go to test-artifacts/ (gitignored): the form at 1,400 and 390 px, the conflict page, the delete
page, the history tab."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from meridian.core.choices import Role
from meridian.core.factories import OrganisationFactory, PersonFactory, TeamFactory
from meridian.core.models import Organisation, Team
from meridian.core.testing import make_principals
from meridian.core.tests.test_browser import CSP_RECORDER, TIMEOUT_MS, log_in, snap, url

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def new_page(browser: Any) -> Iterator[Any]:
    """Pages in browser contexts of their own (two people on two machines), recording CSP violations."""
    contexts = []

    def make(width: int = 1400) -> Any:
        context = browser.new_context(viewport={"width": width, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        context.add_init_script(CSP_RECORDER)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def violations(page: Any) -> list[Any]:
    return list(page.evaluate("window.__cspViolations"))


def test_a_stale_save_shows_what_the_other_changed_and_reapplies_mine(new_page: Any, live_server: Any) -> None:
    principals = make_principals()
    organisation = principals.org_a
    edit_url = url(live_server, "core:organisation_edit", organisation.pk)
    first, second = new_page(), new_page()
    log_in(first, live_server, principals.users[Role.ADMINISTRATOR].username)
    log_in(second, live_server, principals.users[Role.ADMINISTRATOR].username)
    first.goto(edit_url)
    second.goto(edit_url)

    first.get_by_label("Email").fill("first@customer-a.example")
    first.get_by_role("button", name="Save").click()
    first.wait_for_url(f"**/core/organisations/{organisation.pk}/")

    second.get_by_label("Description").fill("Second person's note")
    second.get_by_role("button", name="Save").click()
    diff = second.locator("#conflict-diff")
    expect(diff).to_be_visible()
    email_row = diff.locator("tbody tr", has_text="Email")
    expect(email_row.locator(".change-after")).to_have_text("first@customer-a.example")
    expect(email_row).to_contain_text(principals.users[Role.ADMINISTRATOR].username)
    expect(diff.locator("tbody tr", has_text="Description")).to_contain_text("Second person's note")
    # the form keeps my input, and takes their email where I changed nothing
    expect(second.get_by_label("Description")).to_have_value("Second person's note")
    expect(second.get_by_label("Email")).to_have_value("first@customer-a.example")
    snap(second, "forms-conflict")

    second.locator("#record-form").get_by_role("button", name="Save my values over theirs").click()
    second.wait_for_url(f"**/core/organisations/{organisation.pk}/")
    organisation.refresh_from_db()
    assert (organisation.email, organisation.description) == ("first@customer-a.example", "Second person's note")
    assert organisation.version == 3

    second.goto(url(live_server, "core:organisation_detail", organisation.pk) + "?tab=history")
    expect(second.locator("#history tbody tr")).to_have_count(2)
    snap(second, "forms-history")
    assert violations(first) == [] and violations(second) == []


def test_a_searchable_select_finds_a_record_by_typing_and_saves_it(
    new_page: Any, live_server: Any, settings: Any
) -> None:
    settings.MERIDIAN_FULL_CHOICES_LIMIT = 3  # more people than that: the picker searches the server
    principals = make_principals()
    for n in range(6):
        PersonFactory(organisation=principals.internal, first_name="Filler", last_name=f"Person {n}")
    wanted = PersonFactory(organisation=principals.internal, first_name="Zelda", last_name="Quintero")
    team = TeamFactory(organisation=principals.internal, name="Night shift")
    page = new_page()
    log_in(page, live_server, principals.users[Role.ADMINISTRATOR].username)
    page.goto(url(live_server, "core:team_edit", team.pk))
    assert page.locator("select[name=lead] option").count() == 1  # only the empty choice is rendered
    snap(page, "forms-team-form-wide")

    search = page.locator("#id_lead-ts-control")  # Tom Select's search box, beside the hidden <select>
    page.locator("#id_lead + .ts-wrapper .ts-control").click()
    with page.expect_response(lambda r: "/api/v1/core/people/" in r.url and "q=Quin" in r.url):
        search.press_sequentially("Quin", delay=30)
    option = page.locator(".ts-dropdown .option", has_text="Zelda Quintero")
    expect(option).to_be_visible()
    snap(page, "forms-searchable-select")
    option.click()
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(f"**/core/teams/{team.pk}/")
    assert Team.objects.get(pk=team.pk).lead_id == wanted.pk
    assert violations(page) == []

    narrow = new_page(390)
    log_in(narrow, live_server, principals.users[Role.ADMINISTRATOR].username)
    narrow.goto(url(live_server, "core:team_edit", team.pk))
    expect(narrow.locator(".ts-wrapper").first).to_be_visible()
    width = narrow.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the form is {width} px wide at 390 px"
    snap(narrow, "forms-team-form-390")
    assert violations(narrow) == []


def test_the_delete_page_names_a_blocker_and_disables_the_button(new_page: Any, live_server: Any) -> None:
    principals = make_principals()
    organisation = OrganisationFactory(name="Blocked Ltd")
    PersonFactory(organisation=organisation, first_name="Bea", last_name="Blocker")
    page = new_page()
    log_in(page, live_server, principals.users[Role.ADMINISTRATOR].username)
    page.goto(url(live_server, "core:organisation_detail", organisation.pk))
    page.get_by_role("link", name="Delete").click()
    page.wait_for_url(f"**{reverse('core:organisation_delete', args=[organisation.pk])}")
    blockers = page.locator("#delete-blockers")
    expect(blockers).to_contain_text("referred to by 1 person")
    expect(blockers.get_by_role("link", name="Bea Blocker")).to_be_visible()
    expect(page.get_by_role("button", name="Delete")).to_be_disabled()
    snap(page, "forms-delete-blocked")
    assert Organisation.objects.filter(pk=organisation.pk).exists()
    assert violations(page) == []
