"""Browser test of custom fields: an administrator defines a field on people (the Administration page of custom
fields), a service desk agent fills it on a person's form, it shows on the person's page under the fields, and the
people list filters by it. Screenshots at 1400 and 390 px go to test-artifacts/."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from meridian.core.choices import Role
from meridian.core.factories import OrganisationFactory, PersonFactory, UserFactory
from meridian.core.models import CustomField, Person
from meridian.core.tests.browser import PASSWORD, TIMEOUT_MS, snap_widths

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page: Any, live_server: Any, username: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{live_server.url}{reverse('login')}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login/" not in url)


def test_admin_defines_a_field_agent_fills_it_page_shows_and_list_filters(page: Any, live_server: Any) -> None:
    page.set_default_timeout(TIMEOUT_MS)
    UserFactory(username="admin", roles=[Role.ADMINISTRATOR])
    UserFactory(username="agent", roles=[Role.SERVICE_DESK_AGENT])
    acme = OrganisationFactory(name="Acme")
    ada = PersonFactory(first_name="Ada", last_name="Lovelace", organisation=acme)
    PersonFactory(first_name="Bob", last_name="Builder", organisation=acme)

    log_in(page, live_server, "admin")
    page.goto(f"{live_server.url}{reverse('core:customfield_add')}")
    page.locator('[name="applies_to"]').select_option("core.person")
    page.locator('[name="name"]').fill("tier")
    page.locator('[name="label"]').fill("Support tier")
    page.locator('[name="type"]').select_option("choice")
    page.locator('[name="choices"]').fill("Gold\nSilver\nBronze")
    page.locator('[name="help_text"]').fill("The support contract this person is entitled to.")
    snap_widths(page, "custom-fields-define")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/core/custom-fields/*/")
    assert CustomField.objects.get().name == "tier"
    snap_widths(page, "custom-fields-definition")

    log_in(page, live_server, "agent")
    page.goto(f"{live_server.url}{reverse('core:person_edit', args=[ada.pk])}")
    tier = page.get_by_label("Support tier")
    expect(tier).to_be_visible()
    tier.select_option("Gold")
    snap_widths(page, "custom-fields-form")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(f"**/core/people/{ada.pk}/")
    assert Person.objects.get(pk=ada.pk).custom == {"tier": "Gold"}
    details = page.locator("dl").first
    expect(details).to_contain_text("Support tier")
    expect(details).to_contain_text("Gold")
    snap_widths(page, "custom-fields-detail")

    page.goto(f"{live_server.url}{reverse('core:person_list')}")
    expect(page.locator("#results")).to_contain_text("Builder")
    page.get_by_label("Support tier").select_option("Gold")  # the list reloads on change (htmx)
    expect(page.locator("#results")).not_to_contain_text("Builder")
    expect(page.locator("#results")).to_contain_text("Lovelace")
    assert "custom.tier=Gold" in page.url
    snap_widths(page, "custom-fields-list")
