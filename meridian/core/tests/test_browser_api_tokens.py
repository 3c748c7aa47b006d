"""Browser test of the API tokens page (`core.api_tokens`), as a resolver: the empty state explains what a token is
for; a name missing is refused at the field; a read-only token with an expiry is created, its secret shown once with
a Copy button (the page's own script, under the Content-Security-Policy), and it works against the API; after a
reload the secret is gone and the list shows name, prefix, scope and dates; Revoke asks first, then the token stops
working. Screenshots at 1400 and 390 px go to test-artifacts/ (no horizontal scroll at 390)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect
from rest_framework.test import APIClient

from meridian.core.choices import Role
from meridian.core.models import ApiToken
from meridian.core.testing import make_principals
from meridian.core.tests.browser import CSP_RECORDER, TIMEOUT_MS, log_in, snap

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def works(secret: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return int(client.get("/api/v1/me/").status_code)


def test_create_copy_list_and_revoke_a_token(page: Any, live_server: Any) -> None:
    p = make_principals()
    user = p.users[Role.RESOLVER]
    page.add_init_script(CSP_RECORDER)
    log_in(page, live_server, user.username)
    page.goto(f"{live_server.url}{reverse('api_tokens')}")
    expect(page.get_by_text("You have no API tokens")).to_be_visible(timeout=TIMEOUT_MS)
    for width in (1400, 390):
        snap(page, "api-tokens-empty", width)
    page.set_viewport_size({"width": 1400, "height": 900})

    # no name: refused at the field, nothing created
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_text("No token was created")).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.get_by_text("Give the token a name")).to_be_visible()
    assert not ApiToken.objects.exists()

    expires = (timezone.now().date() + datetime.timedelta(days=30)).isoformat()
    page.get_by_label("Name").fill("Nightly CMDB export")
    page.get_by_label("Expires on").fill(expires)
    page.get_by_label("Read-only").check()
    page.get_by_role("button", name="Create token").click()
    secret_field = page.get_by_label("The new token's secret")
    expect(secret_field).to_be_visible(timeout=TIMEOUT_MS)
    secret = secret_field.input_value()
    assert secret.startswith("mrd_")
    assert works(secret) == 200
    token = ApiToken.objects.get(user=user)
    assert token.read_only
    row = page.locator(".api-token-table tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Nightly CMDB export")
    expect(row).to_contain_text(token.prefix)
    expect(row).to_contain_text("read-only")
    expect(row).to_contain_text(expires)

    # Copy: the page's script puts the secret on the clipboard and says so
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.get_by_role("button", name="Copy").click()
    expect(page.locator("[data-copy-label]")).to_have_text("Copied", timeout=TIMEOUT_MS)
    assert page.evaluate("navigator.clipboard.readText()") == secret
    for width in (1400, 390):
        snap(page, "api-tokens-created", width)
    page.set_viewport_size({"width": 1400, "height": 900})

    # shown once: a new visit does not show it
    page.goto(f"{live_server.url}{reverse('api_tokens')}")
    expect(page.locator(".api-token-table")).to_contain_text("Nightly CMDB export", timeout=TIMEOUT_MS)
    assert secret not in page.content()
    expect(page.get_by_label("The new token's secret")).to_have_count(0)

    # revoke asks first; declining keeps the token, accepting revokes it
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Revoke the token Nightly CMDB export").click()
    assert works(secret) == 200
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke the token Nightly CMDB export").click()
    expect(page.get_by_text("is revoked")).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.get_by_text("You have no API tokens")).to_be_visible()
    assert works(secret) == 401
    assert page.evaluate("window.__cspViolations") == []


def test_an_administrator_revokes_a_persons_token_on_the_login_tab(page: Any, live_server: Any) -> None:
    from meridian.core import api_tokens
    from meridian.core.models import Person

    p = make_principals()
    owner = p.users[Role.RESOLVER]
    api_tokens.create_api_token(owner, name="Backup script", actor=owner)
    _, secret = api_tokens.create_api_token(owner, name="Monitoring", read_only=True, actor=owner)
    person = Person.objects.get(user=owner)
    page.add_init_script(CSP_RECORDER)
    log_in(page, live_server, p.users[Role.ADMINISTRATOR].username)
    page.goto(f"{live_server.url}{person.get_absolute_url()}?tab=login")
    table = page.locator(".api-token-table")
    expect(table).to_contain_text("Monitoring", timeout=TIMEOUT_MS)
    expect(table).to_contain_text("Backup script")
    for width in (1400, 390):
        snap(page, "api-tokens-login-tab", width)
    page.set_viewport_size({"width": 1400, "height": 900})
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke the token Monitoring").click()
    expect(page.get_by_text("The token “Monitoring” of")).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.locator(".api-token-table")).not_to_contain_text("Monitoring")
    assert works(secret) == 401
    assert page.evaluate("window.__cspViolations") == []
