"""Browser tests of the navigation and the home page: the collapsed menu at 390 px used with the keyboard, the
current area marked, area menus that stay inside the window with fifteen apps' worth of entries, and no horizontal
scrolling with 200-character names. Screenshots of home and the open menu at 1400 and 390 px, for an administrator,
an agent and a customer, go to test-artifacts/ (gitignored)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from meridian.core import registry, services
from meridian.core.choices import OrganisationKind, Role
from meridian.core.factories import OrganisationFactory, PersonFactory, TeamFactory, UserFactory
from meridian.core.models import Person
from meridian.core.tests.browser import ARTIFACTS, TIMEOUT_MS, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDE, NARROW = 1400, 390
LONG = "Zeta" + "x" * 196  # 200 characters, no space to break at

# what fifteen process apps will add to the areas (DESIGN.md), as pages, so that the menus are as full as they get
FIFTEEN_APPS = {
    "service": ["Services", "Service catalogue", "Service plans", "SLAs", "OLAs", "Service targets", "Reports"],
    "operations": [
        "Service desk inbox",
        "Incidents",
        "Service requests",
        "Request catalogue",
        "Problems",
        "Known errors",
        "Major incidents",
        "Fulfilment tasks",
        "Escalations",
        "Satisfaction surveys",
    ],
    "control": [
        "Approval inbox",
        "Change calendar",
        "Changes",
        "Change tasks",
        "Change templates",
        "Releases",
        "Deployments",
        "Configuration items",
        "CI relationships",
        "Baselines",
        "Configuration audits",
        "Transition plans",
        "Acceptance criteria",
    ],
    "relationships": ["Customers", "Complaints", "Satisfaction", "Suppliers", "Contracts", "Supplier reviews"],
    "assurance": [
        "Capacity plans",
        "Thresholds",
        "Forecasts",
        "Availability targets",
        "Outages",
        "Continuity plans",
        "Continuity tests",
        "Security policies",
        "Security controls",
        "Security risks",
        "Dashboards",
        "Scheduled reports",
        "Audit evidence",
    ],
}


@pytest.fixture
def new_page(browser: Any) -> Iterator[Any]:
    contexts = []

    def make(width: int) -> Any:
        context = browser.new_context(viewport={"width": width, "height": 860})
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def fifteen_apps() -> Iterator[None]:
    """The areas' menus as full as fifteen apps make them (staff roles only); the registry is restored after."""
    saved = list(registry._pages)
    staff = set(Role.values) - {Role.CUSTOMER_USER}
    try:
        for area, labels in FIFTEEN_APPS.items():
            for label in labels:
                if not any((p.area, p.label) == (area, label) for p in saved):  # an app has it already
                    registry.register_page(area, label, "search", staff)
        yield
    finally:
        registry._pages[:] = saved


def snap(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"nav-{name}.png"), full_page=True)


def assert_no_horizontal_scroll(page: Any) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"the page is {widths[0]} px wide in a {widths[1]} px window"


def people_with_long_names() -> dict[str, Any]:
    """An administrator, an agent in a team and a customer user, with 200-character organisation names, a
    100-character team name and long unbroken personal names; each has created or changed something."""
    provider = OrganisationFactory(name="Provider " + LONG[:150], kind=OrganisationKind.INTERNAL)
    customer_org = OrganisationFactory(name=LONG)
    admin = UserFactory(username="admin-n", roles=[Role.ADMINISTRATOR], is_staff=True, is_superuser=True)
    PersonFactory(organisation=provider, user=admin, first_name="Ada", last_name="Admin")
    agent = UserFactory(username="agent-n", roles=[Role.SERVICE_DESK_AGENT], first_name="A" * 100, last_name="B" * 60)
    agent_person = PersonFactory(organisation=provider, user=agent, first_name="A" * 100, last_name="B" * 60)
    team = TeamFactory(organisation=provider, name="Team" + "t" * 96)
    team.members.add(agent_person)
    TeamFactory(organisation=provider, name="Service Desk").members.add(agent_person)
    customer = UserFactory(username="customer-n", roles=[Role.CUSTOMER_USER], first_name="Carla")
    PersonFactory(organisation=customer_org, user=customer, first_name="Carla", last_name="Customer")
    services.create_record(
        Person, data={"first_name": "P" * 100, "last_name": "Q" * 100, "organisation": customer_org}, actor=agent
    )
    nora = {"first_name": "Nora", "last_name": "New", "organisation": provider}
    services.create_record(Person, data=nora, actor=agent)
    services.create_record(type(customer_org), data={"name": "Other " + LONG[:180], "kind": "customer"}, actor=admin)
    return {"admin": admin, "agent": agent, "customer": customer}


def test_at_390_px_the_menu_opens_with_the_keyboard_leads_to_a_list_and_marks_the_area(
    new_page: Any, live_server: Any
) -> None:
    people_with_long_names()
    page = new_page(NARROW)
    log_in(page, live_server, "agent-n")
    toggler = page.get_by_role("button", name="Menu")
    expect(page.locator("#nav-area-administration")).to_be_hidden()  # collapsed
    toggler.focus()
    page.keyboard.press("Enter")
    area = page.locator("#nav-area-administration")
    expect(area).to_be_visible()
    area.focus()
    page.keyboard.press("Enter")
    teams = page.locator("#mainnav").get_by_role("link", name="Teams", exact=True)
    expect(teams).to_be_visible()
    items = page.locator('[aria-labelledby="nav-area-administration"] a.dropdown-item').all_inner_texts()
    for _ in range([item.strip() for item in items].index("Teams") + 1):
        page.keyboard.press("ArrowDown")  # Bootstrap's dropdown: arrows move through the items, from the first
    expect(teams).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(f"**{reverse('core:team_list')}")
    assert_no_horizontal_scroll(page)

    page.get_by_role("button", name="Menu").click()
    expect(page.locator("#mainnav")).to_have_class("navbar-collapse collapse show")
    area = page.locator("#nav-area-administration")
    expect(area).to_have_class("nav-link dropdown-toggle active")
    expect(area).to_have_attribute("aria-current", "true")
    area.click()
    expect(page.locator(f'a[href="{reverse("core:team_list")}"]')).to_have_attribute("aria-current", "page")
    expect(page.locator(f'a[href="{reverse("core:person_list")}"]')).not_to_have_attribute("aria-current", "page")
    snap(page, "agent-390-menu-on-teams")

    page.goto(f"{live_server.url}{reverse('search')}?q=Zeta")  # long names in search results wrap too
    expect(page.locator("#search-results li")).to_have_count(3)  # the three organisations
    snap(page, "agent-390-search")
    assert_no_horizontal_scroll(page)


@pytest.mark.usefixtures("fifteen_apps")
def test_home_and_menus_fit_the_window_for_every_role_at_1400_and_390_px(new_page: Any, live_server: Any) -> None:
    people = people_with_long_names()
    for role, user in people.items():
        for width in (WIDE, NARROW):
            page = new_page(width)
            log_in(page, live_server, user.username)
            page.goto(f"{live_server.url}{reverse('home')}")
            expect(page.get_by_role("heading", name="Good to see you")).to_be_visible()
            snap(page, f"{role}-{width}-home")
            assert_no_horizontal_scroll(page)
            if role == "customer":
                expect(page.get_by_role("heading", name="Your organisation")).to_be_visible()
                own = page.locator("#home-organisation").get_by_text(LONG, exact=True)
                expect(own).to_have_attribute("title", LONG)  # the full name on hover
                assert page.get_by_text("Other " + LONG[:180]).count() == 0
                assert (
                    page.locator("#nav-area-operations").count() == 1
                )  # the Service desk: their tickets, report a problem
            else:
                expect(page.get_by_role("heading", name="Recently created or changed by you")).to_be_visible()

            if width == NARROW:
                page.get_by_role("button", name="Menu").click()
                expect(page.locator("#mainnav")).to_have_class("navbar-collapse collapse show")  # opened
            else:  # one row: the six areas, search and the person's menu
                assert page.locator("nav.navbar").bounding_box()["height"] < 70
            area = page.locator("#nav-area-operations" if role != "customer" else "#nav-area-administration")
            area.click()
            menu = page.locator(".dropdown-menu.show").first
            expect(menu).to_be_visible()
            if width == WIDE:  # a long menu scrolls inside itself, never past the window
                box = menu.bounding_box()
                assert box["y"] + box["height"] <= 860
            assert_no_horizontal_scroll(page)
            page.screenshot(path=str(ARTIFACTS / f"nav-{role}-{width}-menu.png"))

            admin_link = page.get_by_role("link", name="Django admin")
            page.keyboard.press("Escape")
            page.locator(".nav-user").click()
            if role == "admin":
                expect(admin_link).to_be_visible()
            else:
                expect(admin_link).to_have_count(0)
