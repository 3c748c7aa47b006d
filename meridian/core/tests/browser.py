"""What the browser tests share: the test password, where screenshots go, the recorder of Content-Security-Policy
violations, and logging in. (Plain-http cookies for the live server: `insecure_cookies` in the root conftest.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings as django_settings
from django.urls import reverse

PASSWORD = "correct horse battery"
ARTIFACTS = Path(django_settings.BASE_DIR) / "test-artifacts"
TIMEOUT_MS = 10_000
CSP_RECORDER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push({directive: e.effectiveDirective, blocked: e.blockedURI});
});
"""


def log_in(page: Any, live_server: Any, username: str) -> None:
    page.goto(f"{live_server.url}{reverse('login')}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login/" not in url)
