"""Browser tests: a real Chromium (Debian's package, through Playwright) against the live server.

They cover what only a browser shows: the login, forms and history tab working end to end, the stale-save
warning between two tabs, tenancy as a customer sees it, a suspended account's open session ending, and pages
that run under the Content-Security-Policy without a single violation (htmx, Swagger UI and API addresses opened
in the browser included).

The live server speaks plain http://localhost, so the secure-cookie flags of the production settings are turned
off for these tests (the `insecure_cookies` fixture); nothing else differs from production.

Screenshots of the pages seen go to test-artifacts/ (gitignored) for people to look at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from meridian.core.choices import OrganisationKind, PersonStatus, Role
from meridian.core.factories import OrganisationFactory, PersonFactory, UserFactory
from meridian.core.models import Organisation
from meridian.core.testing import make_principals
from meridian.core.tests.browser import ARTIFACTS, PASSWORD, TIMEOUT_MS, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


# Records every Content-Security-Policy violation the page reports, with directive and blocked resource. Added
# through the DevTools protocol, so the page's own CSP does not apply to it.
CSP_RECORDER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push({
    directive: e.effectiveDirective, blocked: e.blockedURI, source: e.sourceFile, line: e.lineNumber, sample: e.sample,
  });
});
"""


@pytest.fixture
def new_page(browser: Any) -> Iterator[Any]:
    """Pages in browser contexts of their own: separate cookies, as two people on two machines."""
    contexts = []

    def make() -> Any:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def snap(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"browser-{name}.png"), full_page=True)


def url(live_server: Any, name: str, *args: Any) -> str:
    return f"{live_server.url}{reverse(name, args=args)}"


def test_admin_creates_and_edits_an_organisation_and_sees_its_history(page: Any, live_server: Any) -> None:
    page.set_default_timeout(TIMEOUT_MS)
    UserFactory(username="admin-a", roles=[Role.ADMINISTRATOR])

    page.goto(url(live_server, "home"))
    assert "/login/" in page.url  # not logged in: the login page, keeping where we were going
    snap(page, "login")
    page.get_by_label("Username").fill("admin-a")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(url(live_server, "home"))

    page.goto(url(live_server, "core:organisation_list"))
    page.get_by_role("link", name="Add organisation").click()
    page.wait_for_url("**/core/organisations/add/")
    page.get_by_label("Name").fill("Zephyr Airways")
    page.get_by_label("Kind").select_option("customer")
    page.get_by_label("Email").fill("it@zephyr.example")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"/core/organisations/\d+/$"))
    expect(page.get_by_role("alert").filter(has_text="created")).to_be_visible()
    organisation = Organisation.objects.get(name="Zephyr Airways")
    assert organisation.email == "it@zephyr.example"

    page.get_by_role("link", name="Edit").click()
    page.wait_for_url(f"**/core/organisations/{organisation.pk}/edit/")
    assert page.get_by_label("Email").input_value() == "it@zephyr.example"
    page.get_by_label("Email").fill("servicedesk@zephyr.example")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(f"**/core/organisations/{organisation.pk}/")
    organisation.refresh_from_db()
    assert (organisation.email, organisation.version) == ("servicedesk@zephyr.example", 2)

    page.get_by_role("link", name="History").click()
    page.wait_for_url("**?tab=history")
    history = page.locator("#history")
    created = history.locator("tbody tr", has_text="Created")
    updated = history.locator("tbody tr", has_text="Updated")
    assert created.count() == 1 and updated.count() == 1
    assert "admin-a" in created.inner_text() and "Zephyr Airways" in created.inner_text()
    email_change = updated.locator("li", has_text="email")
    assert email_change.locator(".change-before").inner_text() == "it@zephyr.example"
    assert email_change.locator(".change-after").inner_text() == "servicedesk@zephyr.example"
    snap(page, "organisation-history")


def test_second_stale_save_gets_409_and_keeps_the_first(new_page: Any, live_server: Any) -> None:
    principals = make_principals()
    organisation = principals.org_a
    edit_url = url(live_server, "core:organisation_edit", organisation.pk)
    first, second = new_page(), new_page()
    log_in(first, live_server, principals.users[Role.ADMINISTRATOR].username)
    log_in(second, live_server, principals.users[Role.ADMINISTRATOR].username)
    first.goto(edit_url)
    second.goto(edit_url)

    first.get_by_label("Phone").fill("+31 20 111 1111")
    first.get_by_role("button", name="Save").click()
    first.wait_for_url(f"**/core/organisations/{organisation.pk}/")

    second.get_by_label("Phone").fill("+31 20 222 2222")
    with second.expect_response(lambda r: r.request.method == "POST") as response:
        second.get_by_role("button", name="Save").click()
    assert response.value.status == 409
    warning = second.locator("#stale-warning")
    assert "Someone else saved this organisation" in warning.inner_text()
    assert "+31 20 111 1111" in warning.inner_text()  # their version is shown
    snap(second, "stale-save")

    organisation.refresh_from_db()
    assert (organisation.phone, organisation.version) == ("+31 20 111 1111", 2)

    # starting again from their version loads the current state, which then saves
    warning.get_by_role("link", name="Start again from their version").click()
    second.wait_for_url(edit_url)
    assert second.get_by_label("Phone").input_value() == "+31 20 111 1111"


def test_customer_gets_404_for_another_organisations_person_and_lists_only_their_own(
    page: Any, live_server: Any
) -> None:
    page.set_default_timeout(TIMEOUT_MS)
    principals = make_principals()
    colleague = PersonFactory(organisation=principals.org_b, first_name="Bea", last_name="Colleague")
    stranger = PersonFactory(organisation=principals.org_a, first_name="Sam", last_name="Stranger")
    log_in(page, live_server, principals.customer_b.username)

    response = page.goto(url(live_server, "core:person_detail", stranger.pk))
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    assert "Stranger" not in page.content()
    snap(page, "404")

    page.goto(url(live_server, "core:person_list"))
    rows = page.locator("#results tbody tr")
    names = sorted(rows.nth(i).locator("td:not(.bulk-select)").first.inner_text() for i in range(rows.count()))
    assert names == sorted(["Colleague", "Customer-B"])
    assert page.get_by_text("Stranger").count() == 0
    expect(page.get_by_text(colleague.email)).to_be_visible()

    response = page.goto(url(live_server, "core:person_detail", colleague.pk))
    assert response is not None and response.status == 200


def test_suspending_a_person_logs_their_open_session_out(new_page: Any, live_server: Any) -> None:
    UserFactory(username="admin-d", roles=[Role.ADMINISTRATOR])
    user = UserFactory(username="pat", roles=[Role.CUSTOMER_USER])
    person = PersonFactory(
        user=user,
        first_name="Pat",
        last_name="Suspended",
        organisation=OrganisationFactory(kind=OrganisationKind.CUSTOMER),
    )
    pats_page, admin_page = new_page(), new_page()
    log_in(pats_page, live_server, "pat")
    expect(pats_page.get_by_role("heading", name="Good to see you")).to_be_visible()

    log_in(admin_page, live_server, "admin-d")
    admin_page.goto(url(live_server, "core:person_detail", person.pk))
    suspend = admin_page.locator("form", has=admin_page.get_by_role("button", name="Suspend account"))
    reason = suspend.get_by_label(re.compile("Reason"))
    assert reason.get_attribute("required") is not None
    # the browser refuses to submit without a reason
    suspend.get_by_role("button", name="Suspend account").click()
    assert reason.evaluate("element => !element.validity.valid")
    person.refresh_from_db()
    assert person.status == PersonStatus.ACTIVE

    reason.fill("Laptop reported stolen")
    suspend.get_by_role("button", name="Suspend account").click()
    expect(admin_page.get_by_role("alert").filter(has_text="Done")).to_be_visible()
    person.refresh_from_db()
    assert person.status == PersonStatus.SUSPENDED
    snap(admin_page, "person-suspended")

    pats_page.goto(url(live_server, "home"))
    assert pats_page.url.startswith(url(live_server, "login"))
    expect(pats_page.get_by_role("button", name="Log in")).to_be_visible()
    # and logging in again does not work either
    pats_page.get_by_label("Username").fill("pat")
    pats_page.get_by_label("Password").fill(PASSWORD)
    pats_page.get_by_role("button", name="Log in").click()
    expect(pats_page.get_by_role("alert").filter(has_text="do not match an active account")).to_be_visible()


def test_main_pages_run_without_content_security_policy_violations(page: Any, live_server: Any) -> None:
    page.set_default_timeout(TIMEOUT_MS)
    page.context.add_init_script(CSP_RECORDER)
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{page.url}: {message.text}"))
    violations: list[Any] = []

    def visit(path: str) -> Any:
        response = page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        violations.extend(page.evaluate("window.__cspViolations"))
        return response

    principals = make_principals()
    for n in range(3):
        OrganisationFactory(name=f"Aardvark Holdings {n}")
    OrganisationFactory(name="Quokka Logistics")
    log_in(page, live_server, principals.users[Role.ADMINISTRATOR].username)

    visit(reverse("home"))

    visit(reverse("core:organisation_list"))
    rows = page.locator("#results tbody tr")
    assert rows.count() == 7
    page.evaluate("window.__notReloaded = true")
    with page.expect_response(lambda r: "q=Quokka" in r.url and r.request.headers.get("hx-request") == "true"):
        page.get_by_label("Search", exact=True).press_sequentially("Quokka", delay=20)
    page.wait_for_function("document.querySelectorAll('#results tbody tr').length === 1")
    assert rows.first.inner_text().strip().startswith("Quokka Logistics")
    assert page.evaluate("window.__notReloaded") is True  # htmx swapped the table; no full page load
    assert "q=Quokka" in page.url  # and the address bar keeps the filter
    violations.extend(page.evaluate("window.__cspViolations"))
    snap(page, "organisation-list-filtered")

    visit(reverse("core:organisation_detail", args=[principals.org_a.pk]))
    visit(reverse("core:organisation_detail", args=[principals.org_a.pk]) + "?tab=history")
    visit(reverse("core:person_add"))
    visit(reverse("core:calendar_add"))
    visit(reverse("search") + "?q=Customer")
    assert page.locator("#search-results li").count() >= 2

    visit(reverse("api-docs"))
    page.locator("#operations-tag-organisations").click()  # the groups open on demand
    page.get_by_text("/api/v1/core/organisations/").first.wait_for()
    page.get_by_text("/api/v1/core/organisations/").first.click()  # open an operation: more of Swagger UI renders
    page.wait_for_load_state("networkidle")
    violations.extend(page.evaluate("window.__cspViolations"))

    # an API address opened in the browser: JSON (there is no browsable HTML API), and an error is JSON too
    api_list = visit(reverse("api:core-organisations-list"))
    assert api_list.headers["content-type"] == "application/json"
    assert api_list.json()["count"] == 7
    snap(page, "api-in-the-browser")
    not_a_format = visit(reverse("api:core-organisations-list") + "?format=api")
    assert (not_a_format.status, not_a_format.json()) == (404, {"detail": "Not found."})
    no_such_action = visit(f"/api/v1/core/organisations/{principals.org_a.pk}/no-such-action/")
    assert (no_such_action.status, no_such_action.json()) == (404, {"detail": "Not found."})

    assert [line for line in console if "Content Security Policy" in line] == []
    assert violations == []


def test_an_invalid_filter_is_refused_not_ignored(page: Any, live_server: Any) -> None:
    page.set_default_timeout(TIMEOUT_MS)
    UserFactory(username="admin-f", roles=[Role.ADMINISTRATOR])
    PersonFactory.create_batch(3)
    log_in(page, live_server, "admin-f")

    response = page.goto(url(live_server, "core:person_list") + "?status=bogus")
    expect(page.locator("#filter-errors").get_by_text("Status")).to_be_visible()  # the page names the bad filter
    assert response is not None and response.status == 400
    assert page.locator("#results tbody tr").count() == 0
