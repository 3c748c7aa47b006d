"""Browser test of attachments (core.attachments) on a location's Attachments tab, as a service desk agent (the
location's declaration lets agents add files): two files chosen with the picker are uploaded in one request with
the progress shown (the page's own script, under the Content-Security-Policy), listed, one is downloaded; a file
dropped on the drop zone is uploaded too; a refused file is named and nothing is attached. Screenshots at 1400 and
390 px go to test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from meridian.core import attachments
from meridian.core.choices import Role
from meridian.core.factories import LocationFactory
from meridian.core.testing import make_principals
from meridian.core.testing_attachments import png_bytes
from meridian.core.tests.browser import CSP_RECORDER, TIMEOUT_MS, log_in, snap

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# what the upload form's status line said while the request ran (it is replaced by the new tab afterwards)
STATUS_RECORDER = """
window.__uploadStatus = [];
new MutationObserver(() => {
  const status = document.getElementById("attachment-status");
  const progress = document.querySelector(".attachment-progress");
  if (status && status.textContent) {
    window.__uploadStatus.push({text: status.textContent, shown: progress ? !progress.hidden : false});
  }
}).observe(document, {subtree: true, childList: true, characterData: true, attributes: true});
"""


@pytest.fixture(autouse=True)
def own_storage(settings: Any, tmp_path: Path) -> Iterator[None]:
    settings.STORAGES = {
        **settings.STORAGES,
        "attachments": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }
    yield


def test_two_files_by_the_picker_with_progress_then_a_download(page: Any, live_server: Any, tmp_path: Path) -> None:
    p = make_principals()
    location = LocationFactory(organisation=p.org_a, name="Rotterdam data centre")
    page.add_init_script(CSP_RECORDER)
    page.add_init_script(STATUS_RECORDER)
    log_in(page, live_server, p.users[Role.SERVICE_DESK_AGENT].username)
    page.goto(f"{live_server.url}{location.get_absolute_url()}?tab=attachments")
    expect(page.get_by_text("No files are attached to this location")).to_be_visible(timeout=TIMEOUT_MS)

    plan, notes = tmp_path / "floor-plan.png", tmp_path / "Übersicht.txt"
    plan.write_bytes(png_bytes(64, 48))
    notes.write_text("Rack 12: patch panel B\n", encoding="utf-8")
    page.get_by_label("Drop files here").set_input_files([str(plan), str(notes)])
    page.get_by_role("button", name="Upload").click()

    expect(page.get_by_text("2 files attached: floor-plan.png, Übersicht.txt.")).to_be_visible(timeout=TIMEOUT_MS)
    said = page.evaluate("window.__uploadStatus")
    assert any(s["text"].startswith("Uploading 2 files") and s["shown"] for s in said), said
    table = page.locator("table.attachment-list")
    expect(table.get_by_role("link", name="floor-plan.png", exact=True)).to_be_visible()
    expect(table.get_by_role("link", name="Übersicht.txt")).to_be_visible()
    expect(page.get_by_role("img", name="Preview of floor-plan.png")).to_be_visible()
    page.wait_for_function("() => document.querySelector('.attachment-thumb img').complete", timeout=TIMEOUT_MS)
    assert page.evaluate("document.querySelector('.attachment-thumb img').naturalWidth") == 64  # the image, decoded
    expect(page.locator("[data-tab=attachments] .badge")).to_have_text("2")
    assert sorted(a.name for a in attachments.of(location)) == ["floor-plan.png", "Übersicht.txt"]

    with page.expect_download() as info:
        table.get_by_role("link", name="Übersicht.txt").click()
    download = info.value
    assert download.suggested_filename == "Übersicht.txt"
    assert Path(download.path()).read_text(encoding="utf-8") == "Rack 12: patch panel B\n"

    for width in (1400, 390):
        snap(page, "attachments-list", width)
    page.set_viewport_size({"width": 1400, "height": 900})

    # a file dropped on the drop zone goes up at once
    page.evaluate(
        """() => {
        const transfer = new DataTransfer();
        transfer.items.add(new File(["dropped notes\\n"], "dropped.txt", {type: "text/plain"}));
        const zone = document.querySelector("[data-attachment-drop]");
        zone.dispatchEvent(new DragEvent("dragover", {bubbles: true, cancelable: true, dataTransfer: transfer}));
        zone.dispatchEvent(new DragEvent("drop", {bubbles: true, cancelable: true, dataTransfer: transfer}));
    }"""
    )
    expect(page.get_by_text("1 file attached: dropped.txt.")).to_be_visible(timeout=TIMEOUT_MS)

    # a refused file is named, and nothing is attached
    bad = tmp_path / "report.pdf"
    bad.write_bytes(png_bytes())
    page.get_by_label("Drop files here").set_input_files([str(bad)])
    page.get_by_role("button", name="Upload").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("“report.pdf” is a PNG image, not what its name says (.pdf)", timeout=TIMEOUT_MS)
    assert sorted(a.name for a in attachments.of(location)) == ["dropped.txt", "floor-plan.png", "Übersicht.txt"]
    for width in (1400, 390):
        snap(page, "attachments-refused", width)

    # the history names every file added, with its size and checksum
    page.set_viewport_size({"width": 1400, "height": 900})
    page.get_by_role("link", name="History").click()
    expect(page.get_by_text("Attachment added").first).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.get_by_text("floor-plan.png ·")).to_be_visible()
    for width in (1400, 390):
        snap(page, "attachments-history", width)
    assert page.evaluate("window.__cspViolations") == []
