"""Test-wide set-up: the browser fixture for Playwright tests, and Redis for the tests that need it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

# Playwright's sync API runs an event loop; Django would refuse ORM calls in the same thread without this.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's chromium, driven by Playwright, or else Playwright's own Chromium (`playwright install chromium`).
    `make test` makes one of them available first (scripts/test-prerequisites.sh)."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    args = ["--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")
    with sync_playwright() as playwright:
        if executable is None and not os.path.exists(playwright.chromium.executable_path):
            pytest.fail("no Chromium: apt-get install chromium (Debian), or .venv/bin/playwright install chromium")
        browser = playwright.chromium.launch(executable_path=executable, args=args)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(autouse=True)
def insecure_cookies(request: Any) -> None:
    """Browser tests only: secure cookies are never sent over http://, and the live server has no TLS (nothing
    else differs from production; every other test keeps the secure cookie settings)."""
    if request.node.get_closest_marker("browser") is None:
        return
    settings = request.getfixturevalue("settings")
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A real Redis; missing, the test is skipped, unless MERIDIAN_REQUIRE_REDIS=1 (CI), where it fails."""
    import redis

    url = os.environ.get("MERIDIAN_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        if os.environ.get("MERIDIAN_REQUIRE_REDIS") == "1":
            pytest.fail(f"Redis at {url} is required: {exc}")
        pytest.skip(f"no Redis at {url}")
    return url


def pytest_configure(config: Any) -> None:
    config.addinivalue_line("markers", "run_last: a meta-test that checks what the other tests did; runs after them")


def pytest_collection_modifyitems(items: list[Any]) -> None:
    """Tests marked run_last go last (a stable sort: everything else keeps pytest's order). On PostgreSQL the browser
    tests are skipped unless MERIDIAN_BROWSER_TESTS_ON_POSTGRES=1: they test the pages in Chromium, which is the same
    whatever the database, and run on SQLite (`make test` without DATABASE_URL, CI's other run), while every page and
    API request of the other tests runs on both. This keeps CI's two runs, side by side, well inside its 30 minutes."""
    items.sort(key=lambda item: item.get_closest_marker("run_last") is not None)
    on_postgres = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
    if on_postgres and os.environ.get("MERIDIAN_BROWSER_TESTS_ON_POSTGRES") != "1":
        skip = pytest.mark.skip(reason="browser tests run on SQLite (MERIDIAN_BROWSER_TESTS_ON_POSTGRES=1: here too)")
        for item in items:
            if item.get_closest_marker("browser") is not None:
                item.add_marker(skip)
