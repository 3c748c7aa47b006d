"""What the browser tests share: the test password, where screenshots go, the recorder of Content-Security-Policy
violations, logging in, screenshots (`snap`) and the check that a page never scrolls sideways
(`no_sideways_scroll`). (Plain-http cookies for the live server: `insecure_cookies` in the root conftest.)"""

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


def no_sideways_scroll(page: Any, name: str = "the page") -> None:
    """The page is no wider than its window: nothing to scroll sideways to."""
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.viewport_size["width"]
    assert width <= viewport, f"{name} is {width} px wide in a {viewport} px window"


def snap(page: Any, name: str, width: int | None = None) -> None:
    """A full-page screenshot in test-artifacts/: `<name>.png`; with `width`, the window made that wide first, the
    file `<name>-<width>.png`, and the page checked for sideways scrolling."""
    ARTIFACTS.mkdir(exist_ok=True)
    if width is not None:
        page.set_viewport_size({"width": width, "height": 900})
    page.screenshot(path=str(ARTIFACTS / (f"{name}-{width}.png" if width else f"{name}.png")), full_page=True)
    if width is not None:
        no_sideways_scroll(page, name)


def snap_widths(page: Any, name: str, widths: tuple[int, ...] = (1400, 390)) -> None:
    """`snap` at each width, then the window back at the first."""
    for width in widths:
        snap(page, name, width)
    page.set_viewport_size({"width": widths[0], "height": 900})


def use_attachment_storage(settings: Any, location: Path) -> None:
    """Files stored by the live server go to `location` (a test's tmp_path) for this test (the `settings`
    fixture restores the storages afterwards)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "attachments": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(location)},
        },
    }
