"""Browser test of the conversation (core.conversation) on an organisation's Timeline tab: a service desk agent
writes an internal note (the composer's default for staff, amber and labelled "Internal note — staff only"),
previews Markdown, then switches to a public reply and posts it with a file, each without a page reload; the
timeline shows both, newest first. The organisation's customer user then sees the reply and its file, and neither
the note, its text nor an internal option anywhere on the page; they post a reply of their own, edit it and delete
it. Screenshots at 1400 and 390 px go to
test-artifacts/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from meridian.core.choices import Role
from meridian.core.models import Comment
from meridian.core.testing import make_principals
from meridian.core.tests.browser import CSP_RECORDER, TIMEOUT_MS, log_in, snap, use_attachment_storage

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_agent_note_and_reply_then_the_customer_sees_only_the_reply(
    page: Any, live_server: Any, settings: Any, tmp_path: Path
) -> None:
    use_attachment_storage(settings, tmp_path / "files")
    p = make_principals()
    org = p.org_a
    url = f"{live_server.url}{org.get_absolute_url()}?tab=timeline"
    page.add_init_script(CSP_RECORDER)
    log_in(page, live_server, p.users[Role.SERVICE_DESK_AGENT].username)
    page.goto(url)
    expect(page.get_by_text("No comments yet.")).to_be_visible(timeout=TIMEOUT_MS)
    composer = page.locator("form.comment-composer")
    expect(composer.get_by_text("Internal note — staff only")).to_be_visible()
    expect(composer.get_by_text("Public reply — the customer sees this")).to_be_hidden()
    colour = composer.evaluate("el => getComputedStyle(el).backgroundColor")
    assert colour == "rgb(255, 246, 214)", colour  # amber: an internal note cannot be mistaken for a reply

    page.evaluate("window.__marker = 'same page'")  # gone if the page reloads
    composer.get_by_label("Comment").fill("Customer's **contract** renews in May; margin is thin.")
    composer.get_by_role("button", name="Preview").click()
    expect(composer.locator("#comment-preview strong")).to_have_text("contract", timeout=TIMEOUT_MS)
    composer.get_by_role("button", name="Write").click()
    snap(page, "conversation-composer-internal", 1400)
    composer.get_by_role("button", name="Post").click()
    expect(page.get_by_text("Internal note posted.")).to_be_visible(timeout=TIMEOUT_MS)

    composer = page.locator("form.comment-composer")
    composer.get_by_text("Public reply", exact=True).click()
    expect(composer.get_by_text("Public reply — the customer sees this")).to_be_visible()
    expect(composer.get_by_text("Internal note — staff only")).to_be_hidden()
    report = tmp_path / "renewal-offer.txt"
    report.write_text("Offer: 12 months, same price.\n", encoding="utf-8")
    composer.get_by_label("Comment").fill("Your renewal offer is attached.")
    composer.get_by_label("Attach files").set_input_files([str(report)])
    composer.get_by_role("button", name="Post").click()
    expect(page.get_by_text("Public reply posted.")).to_be_visible(timeout=TIMEOUT_MS)
    assert page.evaluate("window.__marker") == "same page"  # posted without a reload

    comments = page.locator("article.comment")
    expect(comments).to_have_count(2)
    expect(comments.nth(0)).to_contain_text("Your renewal offer is attached.")  # newest first
    expect(comments.nth(0)).to_contain_text("Public reply")
    expect(comments.nth(0).get_by_role("link", name="renewal-offer.txt")).to_be_visible()
    expect(comments.nth(1)).to_contain_text("margin is thin")
    expect(comments.nth(1)).to_contain_text("Internal note")
    snap(page, "conversation-agent-timeline", 1400)
    snap(page, "conversation-agent-timeline", 390)
    assert Comment.objects.count() == 2

    page.context.clear_cookies()
    log_in(page, live_server, p.customer_a.username)
    page.goto(url)
    comments = page.locator("article.comment")
    expect(comments).to_have_count(1, timeout=TIMEOUT_MS)
    expect(comments.first).to_contain_text("Your renewal offer is attached.")
    expect(comments.first.get_by_role("link", name="renewal-offer.txt")).to_be_visible()
    body = page.content()
    assert "margin is thin" not in body and "Internal note" not in body and 'value="internal"' not in body
    expect(page.locator("form.comment-composer").get_by_text("Public reply — the customer sees this")).to_be_visible()
    snap(page, "conversation-customer-timeline", 1400)
    snap(page, "conversation-customer-timeline", 390)
    with page.expect_download() as download:
        comments.first.get_by_role("link", name="renewal-offer.txt").click()
    assert Path(download.value.path()).read_text(encoding="utf-8") == "Offer: 12 months, same price.\n"

    composer = page.locator("form.comment-composer")  # the customer replies, corrects the reply, then deletes it
    composer.get_by_label("Comment").fill("Thanks, we accept the offr.")
    composer.get_by_role("button", name="Post").click()
    expect(page.get_by_text("Public reply posted.")).to_be_visible(timeout=TIMEOUT_MS)
    mine = page.locator("article.comment").first
    mine.get_by_role("link", name="Edit").click()
    editor = page.get_by_label("Text of the comment")
    expect(editor).to_have_value("Thanks, we accept the offr.", timeout=TIMEOUT_MS)
    snap(page, "conversation-customer-editing", 1400)
    snap(page, "conversation-customer-editing", 390)
    page.set_viewport_size({"width": 1400, "height": 900})
    editor.fill("Thanks, we accept the offer.")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Comment saved.")).to_be_visible(timeout=TIMEOUT_MS)
    mine = page.locator("article.comment").first
    expect(mine).to_contain_text("Thanks, we accept the offer.")
    expect(mine).to_contain_text("(edited)")
    page.once("dialog", lambda dialog: dialog.accept())  # "Delete this comment? ..."
    mine.get_by_role("button", name="Delete").click()
    expect(page.get_by_text("Comment deleted.")).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.locator("article.comment").first).to_contain_text("This comment was deleted")
    assert page.evaluate("window.__cspViolations") == []
