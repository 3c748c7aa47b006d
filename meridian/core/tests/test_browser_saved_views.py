"""Browser test of saved views: the Views menu's empty state, saving the filtered and sorted list under a name as
the default (a taken name refused beside the field), the view applied and named on the page, the list opening with
it, "All records", and the menu open at 1,400 px and 390 px without sideways scrolling.

Screenshots go to test-artifacts/ (gitignored)."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from meridian.core.choices import OrganisationKind, Role
from meridian.core.factories import OrganisationFactory, PersonFactory, TeamFactory, UserFactory
from meridian.core.models import Person, SavedView, TeamMembership
from meridian.core.tests.browser import TIMEOUT_MS, log_in, no_sideways_scroll, snap

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# an element as wide as its text needs: measured against an unconstrained copy of itself
WHOLE = """e => {
  const copy = e.cloneNode(true);
  copy.style.cssText = "position: absolute; visibility: hidden; flex: none; max-width: none";
  e.parentNode.appendChild(copy);
  const needed = copy.getBoundingClientRect().width;
  copy.remove();
  return e.getBoundingClientRect().width >= needed - 0.01;
}"""


def test_save_a_view_make_it_the_default_and_open_it(page: Any, live_server: Any) -> None:
    page.set_default_timeout(TIMEOUT_MS)
    provider = OrganisationFactory(name="Provider", kind=OrganisationKind.INTERNAL)
    for name in ("Wagner GmbH", "de Vries Holding", "Zuidas Bank"):
        OrganisationFactory(name=name, kind=OrganisationKind.CUSTOMER)
    OrganisationFactory(name="Parts Supplier", kind=OrganisationKind.SUPPLIER)
    admin = UserFactory(username="views-admin", roles=[Role.ADMINISTRATOR])
    team = TeamFactory(name="Service desk", organisation=provider)
    TeamMembership.objects.create(team=team, person=PersonFactory(organisation=provider, user=admin))
    log_in(page, live_server, admin.username)
    page.set_viewport_size({"width": 1400, "height": 900})
    list_url = f"{live_server.url}{reverse('core:organisation_list')}"

    page.goto(f"{list_url}?kind=customer&sort=-name")
    page.locator(".views-menu > summary").click()
    expect(page.locator("#views-empty")).to_contain_text("No saved views yet")
    page.locator("#view-name").fill("Customers Z–A")
    page.locator("#view-sharing").select_option(label="Team: Service desk")
    page.locator("#view-default").check()
    page.get_by_role("button", name="Save view").click()
    expect(page.locator("#view-applied")).to_contain_text("View: Customers Z–A")  # saved: read it only then
    view = SavedView.objects.get(name="Customers Z–A")
    page.wait_for_url(f"**/core/organisations/?view={view.pk}")
    expect(page.locator("#view-applied")).to_contain_text("default")
    expect(page.locator("tbody tr")).to_have_count(3)
    expect(page.locator("tbody tr").first).to_contain_text("Zuidas Bank")
    assert view.team == team and view.query == "kind=customer&sort=-name"

    # a taken name is refused beside the field, and nothing is written
    page.locator(".views-menu > summary").click()
    page.locator("#view-name").fill("customers z–a")
    page.get_by_role("button", name="Save view").click()
    expect(page.locator("#view-name-error")).to_contain_text("You already have a view named")
    assert SavedView.objects.count() == 1
    expect(page.locator("#views-menu [data-view]")).to_have_count(1)
    name = page.locator("#views-menu [data-view] .views-name")  # the name whole, the team note cut short instead
    assert name.evaluate(WHOLE), "the view's name is cut short in the menu"
    snap(page, "saved-views-menu-1400")

    # the list opens with the default; "All records" is the plain list
    page.goto(list_url)
    page.wait_for_url(f"**/core/organisations/?view={view.pk}")
    page.locator("#view-applied").get_by_role("link", name="All records").click()
    expect(page.locator("#view-applied")).to_have_count(0)
    expect(page.locator("tbody tr")).to_have_count(5)

    # the home page: the default view as a quick link with its count
    page.goto(f"{live_server.url}{reverse('home')}")
    expect(page.locator("#home-views")).to_contain_text("Customers Z–A")
    expect(page.locator("#home-views .badge")).to_have_text("3")
    snap(page, "saved-views-home-1400")

    # small screens: the menu fits
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{list_url}?view={view.pk}")
    page.locator(".views-menu > summary").click()
    expect(page.locator("#view-update")).to_be_visible()
    no_sideways_scroll(page)
    snap(page, "saved-views-menu-390")
    assert Person.objects.filter(user=admin).exists()
