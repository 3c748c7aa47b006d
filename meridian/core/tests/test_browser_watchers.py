"""Browser test of watchers (core.watchers) on a location's page, as a service desk agent: Follow swaps the button to
"Following" in place (htmx, no reload, under the Content-Security-Policy), the followers list names them, a reload
keeps it, and the button unfollows again; the preferences page lists the record while it is followed. Screenshots at
1400 and 390 px go to test-artifacts/."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from meridian.core import watchers
from meridian.core.choices import Role
from meridian.core.factories import LocationFactory
from meridian.core.testing import make_principals
from meridian.core.tests.browser import CSP_RECORDER, TIMEOUT_MS, log_in, snap

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_follow_by_the_button_see_following_then_unfollow(page: Any, live_server: Any) -> None:
    p = make_principals()
    agent = p.users[Role.SERVICE_DESK_AGENT]
    location: Any = LocationFactory(organisation=p.org_a, name="Rotterdam data centre")
    page.add_init_script(CSP_RECORDER)
    log_in(page, live_server, agent.username)
    page.goto(f"{live_server.url}{location.get_absolute_url()}")
    page.evaluate("window.__loadedOnce = true")  # gone if the page reloads

    follow = page.get_by_role("button", name="Follow", exact=True)
    expect(follow).to_be_visible(timeout=TIMEOUT_MS)
    for width in (1400, 390):
        snap(page, "watchers-not-following", width)
    page.set_viewport_size({"width": 1400, "height": 900})
    follow.click()

    following = page.locator("#watch-panel button[data-watch='unfollow']")
    expect(following).to_contain_text("Following", timeout=TIMEOUT_MS)
    assert page.evaluate("window.__loadedOnce") is True  # swapped in place, not reloaded
    assert [w.person.user_id for w in watchers.of(location)] == [agent.pk]
    page.locator(".watchers-count").click()
    expect(page.locator(".watchers-list")).to_contain_text("(you)")
    expect(page.locator(".watchers-list")).to_contain_text("By choice")
    for width in (1400, 390):
        snap(page, "watchers-following", width)
    page.set_viewport_size({"width": 1400, "height": 900})
    page.keyboard.press("Escape")

    page.goto(f"{live_server.url}{reverse('preferences')}")
    expect(page.locator("#followed-records")).to_contain_text("Rotterdam data centre", timeout=TIMEOUT_MS)
    for width in (1400, 390):
        snap(page, "watchers-preferences", width)
    page.set_viewport_size({"width": 1400, "height": 900})

    page.goto(f"{live_server.url}{location.get_absolute_url()}")
    following = page.locator("#watch-panel button[data-watch='unfollow']")
    expect(following).to_contain_text("Following", timeout=TIMEOUT_MS)
    following.hover()
    expect(following).to_contain_text("Unfollow")  # what a click will do
    following.click()
    expect(page.get_by_role("button", name="Follow", exact=True)).to_be_visible(timeout=TIMEOUT_MS)
    assert list(watchers.of(location)) == []
    assert page.evaluate("window.__cspViolations") == []
