"""Browser test of a baseline's Compare tab on the demo data: no differences right after it is taken; after a
version change, a status change and a new dependency, the differences grouped with their counts; the other baseline
chosen in the select. Screenshots at 1,400 and 390 px (test-artifacts/), no sideways scroll, no
Content-Security-Policy violation."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from meridian.cmdb.baselines import take_baseline
from meridian.cmdb.choices import BaselineScope
from meridian.cmdb.models import ConfigurationItem, Relationship, RelationshipKind
from meridian.core import services
from meridian.core.models import User
from meridian.core.tests.browser import CSP_RECORDER, PASSWORD, TIMEOUT_MS, log_in, snap_widths

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_compare_a_service_baseline_with_the_present_and_with_a_later_baseline(page: Any, live_server: Any) -> None:
    page.set_default_timeout(TIMEOUT_MS)
    page.add_init_script(CSP_RECORDER)
    call_command("demo", password=PASSWORD)
    lars = User.objects.get(username="lars")  # the configuration manager
    service = ConfigurationItem.objects.get(name="Warehouse Management")
    baseline = take_baseline("Before WMS 2.0", scope=BaselineScope.DEPENDENCIES, ci=service, actor=lars)
    log_in(page, live_server, "lars")

    page.goto(f"{live_server.url}/cmdb/baselines/{baseline.pk}/")
    page.get_by_role("link", name="Compare").click()
    expect(page.locator(".compare-none")).to_contain_text("No differences")

    app = ConfigurationItem.objects.get(name="WMS application")
    app = services.update_record(app, data={"ci_version": "2.0"}, actor=lars, expected_version=app.version)
    host = ConfigurationItem.objects.exclude(pk=app.pk).filter(status="live", ci_class__name="Server").first()
    assert host is not None
    new_db = services.create_record(
        ConfigurationItem, data={"name": "wms-cache-01", "ci_class": host.ci_class}, actor=lars
    )
    services.create_record(
        Relationship,
        data={"source": app, "target": new_db, "kind": RelationshipKind.objects.get(name="Depends on")},
        actor=lars,
    )
    later = take_baseline("After WMS 2.0", scope=BaselineScope.DEPENDENCIES, ci=service, actor=lars)

    page.get_by_role("button", name="Compare").click()
    expect(page.locator("[data-count=added]")).to_have_text("1 added")
    expect(page.locator("[data-count=changed]")).to_have_text("1 changed")
    expect(page.locator(".compare-added")).to_contain_text("wms-cache-01")
    row = page.locator(".compare-item", has_text="WMS application")
    expect(row.locator(".compare-attributes tr", has_text="Version number")).to_contain_text("2.0")
    expect(row.locator(".compare-relationships")).to_contain_text("depends on wms-cache-01")
    snap_widths(page, "cmdb-baseline-compare")

    page.get_by_label("Compare with").select_option(str(later.pk))
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url(f"**with={later.pk}")  # the comparison chosen is in the address: bookmarkable
    expect(page.locator("[data-count=changed]")).to_have_text("1 changed")
    expect(page.locator(".baseline-compare")).to_contain_text(f"to {later.reference} After WMS 2.0")
    page.get_by_role("link", name="CIs").click()
    expect(page.locator(".baseline-contents")).to_contain_text("WMS application")
    snap_widths(page, "cmdb-baseline-contents")
    assert page.evaluate("window.__cspViolations") == []
