"""The generic tests of a record type's comments (`core.conversation`), part of every `RecordTypeTests` subclass: a
type that declares `conversation=` gets them by opting in (they are skipped for the others), and the meta-test
(`test_registry_coverage.ConversationCoverageTests`) fails when a type that opted in has not run all of them
(`CONVERSATION_TESTED`, filled as each one completes).

They write as the least privileged staff role that may read the record (not the administrator), and check the
isolation as a customer user of another organisation and a customer user of the record's own organisation.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, ClassVar

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse

from meridian.core import attachments, conversation, policy
from meridian.core.choices import Role
from meridian.core.models import Attachment, AuditEvent, Comment, NotificationLog
from meridian.core.registry import EXPORT, VIEW
from meridian.core.search import search
from meridian.core.testing_attachments import done, png_bytes

if TYPE_CHECKING:
    from meridian.core.models import User

# (record type label, test name) of every conversation test that ran to its end in this process
CONVERSATION_TESTED: set[tuple[str, str]] = set()
CONVERSATION_TESTS = (
    "test_conversation_post_edit_delete_on_page_and_api",
    "test_conversation_refuses_bad_input_and_writes_nothing",
    "test_conversation_isolation_matrix",
)
SCRIPT_PAYLOADS = (
    "<script>alert('x')</script>hello",
    '<img src=x onerror="alert(1)">',
    "[click](javascript:alert(1))",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    '<a href="#" onclick="alert(1)">x</a>',
    "![x](https://evil.example/t.png)",
    '<svg onload="alert(1)"></svg>',
    '<iframe src="javascript:alert(1)"></iframe>',
    "[x](JaVaScRiPt:alert(1))",
    '<div style="background:url(javascript:alert(1))">x</div>',
)


def dangerous(html: str) -> list[str]:
    """What in this HTML could run or load something: elements other than the allow-list, event handlers, style,
    URLs with a scheme other than http(s)/mailto, images from anywhere but the record's files."""
    from html.parser import HTMLParser

    found: list[str] = []

    class Finder(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag not in conversation.ALLOWED_TAGS:
                found.append(f"<{tag}>")
            for name, value in attrs:
                url = (value or "").strip().lower()
                if name.startswith("on") or name == "style":
                    found.append(f"{tag}[{name}]")
                if name in ("href", "src") and ":" in url.split("/")[0] and not url.startswith(("http", "mailto")):
                    found.append(f"{tag}[{name}={url}]")
                if tag == "img" and name == "src" and "/attachments/" not in url:
                    found.append(f"img from {url}")

    Finder().feed(html)
    return found


class ConversationTests:
    """Mixed into `RecordTypeTests` (which gives `rt`, `p`, `obj_a`, `obj_b`, `page_client`, `api`)."""

    if TYPE_CHECKING:  # given by RecordTypeTests
        rt: Any
        p: ClassVar[Any]
        obj_a: ClassVar[Any]
        obj_b: ClassVar[Any]

    # -- helpers ---------------------------------------------------------------------------------------------
    def _conversation_declared(self) -> conversation.Conversation:
        declared = self.rt.conversation
        if declared is None:
            self.skipTest(f"{self.rt.label} has no conversation")  # type: ignore[attr-defined]
        return declared  # type: ignore[no-any-return]

    def comment_writer(self) -> User:
        """The least privileged staff user who reads the record: not the administrator, not the auditor."""
        for role in (Role.SERVICE_DESK_AGENT, Role.RESOLVER, Role.CHANGE_MANAGER, Role.CONFIGURATION_MANAGER):
            user = self.p.users[role]
            if policy.can(user, VIEW, self.obj_a):
                return user  # type: ignore[no-any-return]
        return self.p.users[Role.ADMINISTRATOR]  # type: ignore[no-any-return]

    def other_staff(self, writer: User) -> User:
        for role in (Role.RESOLVER, Role.SERVICE_OWNER, Role.CHANGE_MANAGER, Role.SERVICE_DESK_AGENT):
            user = self.p.users[role]
            if user != writer and policy.can(user, VIEW, self.obj_a):
                return user  # type: ignore[no-any-return]
        return self.p.users[Role.ADMINISTRATOR]  # type: ignore[no-any-return]

    def comment_urls(self, obj: Any, comment_id: int = 0) -> dict[str, str]:
        base = f"api:{self.rt.app_label}-{self.rt.url_slug}"
        return {
            "post": reverse(self.rt.url_name("comments"), args=[obj.pk]),
            "preview": reverse(self.rt.url_name("comment_preview"), args=[obj.pk]),
            "edit": reverse(self.rt.url_name("comment_edit"), args=[obj.pk, comment_id]),
            "delete": reverse(self.rt.url_name("comment_delete"), args=[obj.pk, comment_id]),
            "api": reverse(f"{base}-comments", kwargs={"pk": obj.pk}),
            "api_one": reverse(f"{base}-comment", kwargs={"pk": obj.pk, "comment_id": comment_id}),
            "timeline": reverse(f"{base}-timeline", kwargs={"pk": obj.pk}),
            "history": reverse(f"{base}-history", kwargs={"pk": obj.pk}),
        }

    def comment_events(self, obj: Any) -> list[dict[str, Any]]:
        events = AuditEvent.objects.filter(record_type=self.rt.label, record_id=str(obj.pk)).order_by("id")
        return [e.changes[conversation.CHANGES_KEY] for e in events if conversation.CHANGES_KEY in e.changes]

    def _setup_storage(self) -> None:
        from meridian.core.testing_attachments import use_own_attachment_storage

        if self.rt.attachments is None:
            use_own_attachment_storage(self)  # AttachmentTests gives one to the types with attachments

    # -- the tests -------------------------------------------------------------------------------------------
    def test_conversation_post_edit_delete_on_page_and_api(self) -> None:
        self._conversation_declared()
        self._setup_storage()
        test: Any = self
        obj, writer = self.obj_a, self.comment_writer()
        colleague = self.other_staff(writer)
        client = test.page_client(writer)
        urls = self.comment_urls(obj)
        with test.subTest(channel="page: the composer, internal by default for staff, and the empty state"):
            page = client.get(f"{obj.get_absolute_url()}?tab=timeline")
            test.assertContains(page, "data-comment-form")
            test.assertContains(page, "Internal note — staff only")
            test.assertContains(page, "Public reply — the customer sees this")
            test.assertContains(page, 'value="internal" id="comment-internal" checked')
            test.assertContains(page, "No comments yet.")
        with test.subTest(channel="page: post an internal note with htmx, mentioning a colleague"):
            response = client.post(
                urls["post"],
                {"body": f"Checked the **logs**, @{colleague.username} please look.", "visibility": "internal"},
                HTTP_HX_REQUEST="true",
                HTTP_HX_TARGET="record-tabs",
            )
            test.assertEqual(response.status_code, 200)
            test.assertContains(response, 'id="record-tabs"')
            test.assertContains(response, "<strong>logs</strong>")
            test.assertContains(response, "Internal note posted.")
            note = Comment.objects.get(record_type=self.rt.label, record_id=obj.pk)
            test.assertEqual((note.visibility, note.author_id, note.version), ("internal", writer.pk, 1))
            (event,) = self.comment_events(obj)
            test.assertEqual(
                event,
                {
                    "id": note.pk,
                    "op": "posted",
                    "visibility": "internal",
                    "body": note.body,
                    "before": "",
                    "mentions": [colleague.pk],
                },
            )
            mail = NotificationLog.objects.get(event=conversation.MENTIONED_EVENT, record_id=str(obj.pk))
            test.assertEqual(mail.recipient, colleague.person.email)
            test.assertIn("Checked the **logs**", mail.body)
            test.assertIn("internal note", mail.body)
        with test.subTest(channel="page: preview renders with the same sanitiser"):
            preview = client.post(urls["preview"], {"body": "_hi_ <script>alert(1)</script>"})
            test.assertEqual(preview.status_code, 200)
            test.assertIn(b"<em>hi</em>", preview.content)
            test.assertNotIn(b"<script", preview.content)
        api = test.api(writer)
        with test.subTest(channel="api: post a public reply"):
            response = api.post(urls["api"], {"body": "We are on it.", "visibility": "public"}, format="json")
            test.assertEqual(response.status_code, 201, response.content)
            reply = response.json()
            test.assertEqual((reply["visibility"], reply["body_html"]), ("public", "<p>We are on it.</p>\n"))
            test.assertEqual(self.comment_events(obj)[-1]["op"], "posted")
        with test.subTest(channel="api: list, newest first"):
            listed = api.get(urls["api"]).json()["results"]
            test.assertEqual([c["id"] for c in listed], [reply["id"], note.pk])
        with test.subTest(channel="api: the timeline's Comments filter"):
            entries = api.get(urls["timeline"], {"kind": "comments"}).json()["results"]
            test.assertEqual([e["comment"]["id"] for e in entries], [reply["id"], note.pk])
            test.assertEqual({e["kind"] for e in entries}, {"comments"})
            test.assertEqual(entries[1]["comment"]["visibility"], "internal")
            page = client.get(f"{obj.get_absolute_url()}?tab=timeline&kind=comments")
            test.assertContains(page, f'id="comment-{reply["id"]}"')
            test.assertNotContains(page, 'class="timeline-entry timeline-changes"')
        with test.subTest(channel="api: an Idempotency-Key posts once"):
            before = Comment.objects.count()
            first = api.post(
                urls["api"], {"body": "Once.", "visibility": "public"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
            )
            again = api.post(
                urls["api"], {"body": "Once.", "visibility": "public"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
            )
            test.assertEqual((first.status_code, again.status_code), (201, 201))
            test.assertEqual(again.json()["id"], first.json()["id"])
            test.assertEqual(Comment.objects.count(), before + 1)
            Comment.objects.filter(pk=first.json()["id"]).delete()  # out of the way of the next steps
        with test.subTest(channel="api: edit with the version; a stale version is a 409"):
            one = self.comment_urls(obj, reply["id"])["api_one"]
            test.assertEqual(api.patch(one, {"body": "x"}, format="json").status_code, 400)  # no version
            edited = api.patch(one, {"body": "We are **still** on it.", "version": 1}, format="json")
            test.assertEqual(edited.status_code, 200, edited.content)
            test.assertEqual(edited.json()["version"], 2)
            stale = api.patch(one, {"body": "again", "version": 1}, format="json")
            test.assertEqual(stale.status_code, 409)
            test.assertEqual(stale.json()["current"]["body"], "We are **still** on it.")
            last = self.comment_events(obj)[-1]
            test.assertEqual(
                (last["op"], last["before"], last["body"]), ("edited", "We are on it.", "We are **still** on it.")
            )
            test.assertEqual(api.patch(one, {"visibility": "internal", "version": 2}, format="json").status_code, 400)
        with test.subTest(channel="page: edit and the (edited) marker"):
            edit_url = self.comment_urls(obj, note.pk)["edit"]
            test.assertContains(client.get(edit_url), f'id="comment-edit-{note.pk}"')
            response = client.post(edit_url, {"body": "Checked the logs: disk full.", "version": 1})
            test.assertEqual(response.status_code, 303)
            page = client.get(f"{obj.get_absolute_url()}?tab=timeline")
            test.assertContains(page, "disk full")
            test.assertContains(page, "(edited)")
        with test.subTest(channel="page: delete; the text is blanked, the history keeps it"):
            response = client.post(self.comment_urls(obj, note.pk)["delete"], {"version": 2})
            test.assertEqual(response.status_code, 303)
            note.refresh_from_db()
            test.assertEqual((note.body, note.deleted_by_id), ("", writer.pk))
            last = self.comment_events(obj)[-1]
            test.assertEqual(
                (last["op"], last["body"], last["before"]), ("deleted", "", "Checked the logs: disk full.")
            )
            page = client.get(f"{obj.get_absolute_url()}?tab=timeline")
            test.assertContains(page, "This comment was deleted")
            test.assertNotContains(page, "disk full")
            history = client.get(f"{obj.get_absolute_url()}?tab=history")
            test.assertContains(history, "Internal note deleted")
            test.assertContains(history, "disk full")
        with test.subTest(channel="the edit window: over, the author is refused; an administrator moderates"):
            Comment.objects.filter(pk=reply["id"]).update(created_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
            one = self.comment_urls(obj, reply["id"])["api_one"]
            refused = api.patch(one, {"body": "late", "version": 2}, format="json")
            test.assertEqual(refused.status_code, 403)
            test.assertIn("minutes", refused.json()["detail"])
            test.assertEqual(api.delete(one, HTTP_IF_MATCH='"2"').status_code, 403)
            admin = test.api(self.p.users[Role.ADMINISTRATOR])
            no_reason = admin.delete(one, HTTP_IF_MATCH='"2"')
            test.assertEqual(no_reason.status_code, 400)
            test.assertIn("reason", no_reason.json())
            test.assertEqual(admin.delete(one, HTTP_IF_MATCH='"2"', HTTP_X_REASON="Personal data").status_code, 204)
            latest = AuditEvent.objects.filter(record_type=self.rt.label, record_id=str(obj.pk)).order_by("-id")[0]
            test.assertEqual((latest.reason, latest.changes["comment"]["op"]), ("Personal data", "deleted"))
        with test.subTest(channel="someone else's comment: a colleague may neither edit nor delete it"):
            mine = conversation.post_comment(obj, actor=writer, body="Mine to change.", visibility="public")
            mine_urls = self.comment_urls(obj, mine.pk)
            theirs_api, theirs_page = test.api(colleague), test.page_client(colleague)
            if colleague.pk != self.p.users[Role.ADMINISTRATOR].pk:  # (an administrator moderates)
                refused = theirs_api.patch(mine_urls["api_one"], {"body": "x", "version": 1}, format="json")
                test.assertEqual(refused.status_code, 403)
                test.assertIn("Only its author", refused.json()["detail"])
                test.assertEqual(theirs_api.delete(mine_urls["api_one"], HTTP_IF_MATCH='"1"').status_code, 403)
                test.assertEqual(theirs_page.post(mine_urls["edit"], {"body": "x", "version": 1}).status_code, 403)
                test.assertEqual(theirs_page.post(mine_urls["delete"], {"version": 1}).status_code, 403)
                mine.refresh_from_db()
                test.assertEqual((mine.body, mine.version, mine.deleted_at), ("Mine to change.", 1, None))
        customer = self.p.customer_a
        if policy.can(customer, VIEW, obj):
            with test.subTest(channel="a customer user edits and deletes their own reply, on the page and by the API"):
                own_page, own_api = test.page_client(customer), test.api(customer)
                posted = own_api.post(urls["api"], {"body": "Thanks, waiting.", "visibility": "public"}, format="json")
                test.assertEqual(posted.status_code, 201, posted.content)
                theirs = self.comment_urls(obj, posted.json()["id"])
                response = own_page.post(theirs["edit"], {"body": "Thanks, still waiting.", "version": 1})
                test.assertEqual(response.status_code, 303)
                edited = own_api.patch(theirs["api_one"], {"body": "Thanks! Solved.", "version": 2}, format="json")
                test.assertEqual((edited.status_code, edited.json()["body"]), (200, "Thanks! Solved."))
                test.assertEqual(
                    [(e["op"], e["before"]) for e in self.comment_events(obj)[-2:]],
                    [("edited", "Thanks, waiting."), ("edited", "Thanks, still waiting.")],
                )
                test.assertEqual(own_api.delete(theirs["api_one"], HTTP_IF_MATCH='"3"').status_code, 204)
                test.assertEqual(self.comment_events(obj)[-1]["op"], "deleted")
                page_posted = conversation.post_comment(obj, actor=customer, body="Another.", visibility="public")
                response = own_page.post(self.comment_urls(obj, page_posted.pk)["delete"], {"version": 1})
                test.assertEqual(response.status_code, 303)
                page_posted.refresh_from_db()
                test.assertTrue(page_posted.is_deleted)
                test.assertEqual(page_posted.deleted_by_id, customer.pk)
        with test.subTest(channel="the auditor never writes"):
            response = test.api(self.p.users[Role.AUDITOR]).post(
                urls["api"], {"body": "x", "visibility": "public"}, format="json"
            )
            test.assertEqual(response.status_code, 403)
        CONVERSATION_TESTED.add((self.rt.label, "test_conversation_post_edit_delete_on_page_and_api"))

    def test_conversation_refuses_bad_input_and_writes_nothing(self) -> None:
        self._conversation_declared()
        self._setup_storage()
        test: Any = self
        obj, writer = self.obj_a, self.comment_writer()
        client, api = test.page_client(writer), test.api(writer)
        urls = self.comment_urls(obj)
        with test.subTest(case="script and event-handler payloads render inert"):
            for payload in SCRIPT_PAYLOADS:
                test.assertEqual(dangerous(str(conversation.render(payload, obj))), [], payload)
            link = str(conversation.render("[ok](https://example.org)", obj))
            test.assertIn('rel="noopener nofollow ugc"', link)
        customer_b = self.p.customer_b
        unknown_cases: dict[str, tuple[dict[str, Any], str, str]] = {
            "empty body": ({"body": "   ", "visibility": "public"}, "body", "cannot be empty"),
            "bad visibility": ({"body": "x", "visibility": "secret"}, "visibility", "public"),
            "no visibility": ({"body": "x"}, "visibility", "public"),
            "mention of someone who may not see": (
                {"body": f"Hi @{customer_b.username}", "visibility": "public"},
                "body",
                f"@{customer_b.username}",
            ),
            "mention of an unknown login": (
                {"body": "Hi @nobody-here", "visibility": "public"},
                "body",
                "@nobody-here",
            ),
        }
        if policy.can(self.p.customer_a, VIEW, obj):
            unknown_cases["mention of a customer in an internal note"] = (
                {"body": f"@{self.p.customer_a.username} see", "visibility": "internal"},
                "body",
                "customer",
            )
        if self.rt.attachments is not None:
            unknown_cases["file whose bytes lie"] = (
                {"body": "see file", "visibility": "public", "file": [SimpleUploadedFile("report.pdf", png_bytes())]},
                "file",
                "not what its name says",
            )
            unknown_cases["refused file"] = (
                {"body": "see", "visibility": "public", "file": [SimpleUploadedFile("x.exe", b"MZ" + b"\0" * 99)]},
                "file",
                "not accepted",
            )
            unknown_cases["oversized file"] = (
                {"body": "see", "visibility": "public", "file": [SimpleUploadedFile("big.txt", b"x" * 2000)]},
                "file",
                "at most",
            )
        else:
            unknown_cases["a file where the type takes none"] = (
                {"body": "see", "visibility": "public", "file": [SimpleUploadedFile("a.txt", b"a\n")]},
                "file",
                "cannot be attached",
            )
        for case, (data, field, message) in unknown_cases.items():
            for channel in ("page", "api"):
                with (
                    test.subTest(case=case, channel=channel),
                    override_settings(MERIDIAN_ATTACHMENT_MAX_FILE_SIZE=1000),
                ):
                    for f in data.get("file", []):
                        f.seek(0)
                    if channel == "page":
                        response = client.post(urls["post"], data, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="record-tabs")
                        test.assertEqual(response.status_code, 400)
                        test.assertContains(response, f'data-error="{field}"', status_code=400)
                        test.assertContains(response, message, status_code=400)
                        if data.get("body", "").strip():  # the text is kept in place
                            test.assertContains(response, data["body"].split()[0], status_code=400)
                    else:
                        response = api.post(urls["api"], data, format="multipart" if "file" in data else "json")
                        test.assertEqual(response.status_code, 400, response.content)
                        test.assertIn(message, " ".join(response.json()[field]))
                    test.assertFalse(Comment.objects.filter(record_type=self.rt.label, record_id=obj.pk).exists())
                    test.assertEqual(self.comment_events(obj), [])
                    test.assertFalse(Attachment.objects.filter(record_type=self.rt.label, record_id=obj.pk).exists())
                    test.assertFalse(NotificationLog.objects.filter(event=conversation.MENTIONED_EVENT).exists())
        with test.subTest(case="a script payload posted is stored as text and shown inert"):
            response = api.post(urls["api"], {"body": SCRIPT_PAYLOADS[0], "visibility": "public"}, format="json")
            test.assertEqual(response.status_code, 201)
            test.assertNotIn("<script", response.json()["body_html"])
            page = client.get(f"{obj.get_absolute_url()}?tab=timeline")
            test.assertNotContains(page, "<script>alert('x')")
        with test.subTest(case="edit without a version, or mentioning someone who may not see"):
            one = self.comment_urls(obj, response.json()["id"])["api_one"]
            test.assertIn("version", api.patch(one, {"body": "y"}, format="json").json())
            refused = api.patch(one, {"body": f"@{customer_b.username}", "version": 1}, format="json")
            test.assertEqual(refused.status_code, 400)
            test.assertIn(f"@{customer_b.username}", " ".join(refused.json()["body"]))
            test.assertEqual(Comment.objects.get(pk=response.json()["id"]).version, 1)
        if self.rt.attachments is not None:
            with test.subTest(case="images only from the record's own files"):
                admin = self.p.users[Role.ADMINISTRATOR]
                (own,) = attachments.attach_files(obj, files=[SimpleUploadedFile("p.png", png_bytes())], actor=admin)
                (other,) = attachments.attach_files(
                    self.obj_b, files=[SimpleUploadedFile("q.png", png_bytes())], actor=admin
                )
                mine = f"{obj.get_absolute_url()}attachments/{own.pk}/?preview=1"
                theirs = f"{self.obj_b.get_absolute_url()}attachments/{other.pk}/?preview=1"
                html = str(conversation.render(f"![plan]({mine}) ![secret]({theirs})", obj))
                test.assertIn(f'<img src="{mine}" alt="plan">', html)
                test.assertNotIn(theirs, html)
                test.assertIn("secret", html)  # the refused image is its text
        CONVERSATION_TESTED.add((self.rt.label, "test_conversation_refuses_bad_input_and_writes_nothing"))

    def test_conversation_isolation_matrix(self) -> None:
        self._conversation_declared()
        self._setup_storage()
        test: Any = self
        obj, writer = self.obj_a, self.comment_writer()
        customer_a, customer_b = self.p.customer_a, self.p.customer_b
        customer_reads = policy.can(customer_a, VIEW, obj)
        files = [SimpleUploadedFile("secret-plan.txt", b"internal plan\n")] if self.rt.attachments else []
        body = "Zebrasecret internal note"
        note = conversation.post_comment(obj, actor=writer, body=body, visibility="internal", files=files)
        public_body = "Giraffepublic reply" + (f" for @{customer_a.username}" if customer_reads else "")
        reply = conversation.post_comment(obj, actor=writer, body=public_body, visibility="public")
        note_file = Attachment.objects.filter(comment_id=note.pk).first()
        urls = self.comment_urls(obj, note.pk)
        reply_urls = self.comment_urls(obj, reply.pk)

        def seen(user: User) -> dict[str, Any]:
            client, api = test.page_client(user), test.api(user)
            timeline_page = client.get(f"{obj.get_absolute_url()}?tab=timeline")
            history_page = client.get(f"{obj.get_absolute_url()}?tab=history")
            api_list = api.get(urls["api"])
            timeline_api = api.get(urls["timeline"])
            history_api = api.get(urls["history"])
            texts = {
                "page timeline": timeline_page.content.decode(),
                "page history": history_page.content.decode(),
                "api list": api_list.content.decode(),
                "api timeline": timeline_api.content.decode(),
                "api history": history_api.content.decode(),
                "search": " ".join(h.url for h in search(user, "Zebrasecret")),
            }
            return {
                "statuses": {
                    "page timeline": timeline_page.status_code,
                    "api list": api_list.status_code,
                    "api note": api.get(urls["api_one"]).status_code,
                    "api edit note": api.patch(urls["api_one"], {"body": "x", "version": 1}, format="json").status_code,
                    "page edit note": client.post(urls["edit"], {"body": "x", "version": 1}).status_code,
                    "page delete note": client.post(urls["delete"], {"version": 1}).status_code,
                    "api reply": api.get(reply_urls["api_one"]).status_code,
                    "file": done(client.get(f"{obj.get_absolute_url()}attachments/{note_file.pk}/"))
                    if note_file
                    else None,
                },
                "texts": texts,
                "public search": [h.url for h in search(user, "Giraffepublic")],
            }

        outsider = seen(customer_b)
        api_status = 404 if policy.can(customer_b, VIEW, self.rt.model) else 403
        with test.subTest(who="customer of another organisation"):
            test.assertEqual(
                outsider["statuses"],
                {
                    "page timeline": 404,
                    "api list": api_status,
                    "api note": api_status,
                    "api edit note": api_status,
                    "page edit note": 404,
                    "page delete note": 404,
                    "api reply": api_status,
                    "file": 404 if note_file else None,
                },
            )
            for channel, text in outsider["texts"].items():
                test.assertNotIn("Zebrasecret", text, channel)
                test.assertNotIn("Giraffepublic", text, channel)
            test.assertEqual(outsider["public search"], [])
        with test.subTest(who="customer of the record's organisation"):
            own = seen(customer_a)
            if customer_reads:
                test.assertEqual(
                    own["statuses"],
                    {
                        "page timeline": 200,
                        "api list": 200,
                        "api note": 404,
                        "api edit note": 404,
                        "page edit note": 404,
                        "page delete note": 404,
                        "api reply": 200,
                        "file": 404 if note_file else None,
                    },
                )
                test.assertIn("Giraffepublic", own["texts"]["page timeline"])
                test.assertIn("Giraffepublic", own["texts"]["api list"])
                test.assertIn("Giraffepublic", own["texts"]["api timeline"])
                test.assertEqual(len(own["public search"]), 1)
                test.assertNotIn('value="internal"', own["texts"]["page timeline"])  # no internal option
                api_files = test.api(customer_a).get(test.api_url(obj, "attachments")) if self.rt.attachments else None
                if api_files is not None:
                    test.assertNotIn("secret-plan.txt", api_files.content.decode())
            for channel, text in own["texts"].items():
                test.assertNotIn("Zebrasecret", text, channel)
                test.assertNotIn("secret-plan.txt", text, channel)
        with test.subTest(who="staff read both"):
            staff = seen(self.other_staff(writer))
            test.assertIn("Zebrasecret", staff["texts"]["page timeline"])
            test.assertIn("Zebrasecret", staff["texts"]["api history"])
            test.assertIn("Internal note", staff["texts"]["page history"])
            test.assertEqual(len(staff["texts"]["search"].split()), 1)
            test.assertEqual(staff["statuses"]["api note"], 200)
        with test.subTest(channel="export never holds comment text"):
            for user in (self.p.users[Role.ADMINISTRATOR], customer_a):
                if not policy.can(user, EXPORT, self.rt.model):
                    continue
                client = test.page_client(user)
                for kind in ("csv", "xlsx"):
                    response = client.get(self.url("list") + f"?export={kind}")  # type: ignore[attr-defined]
                    test.assertEqual(response.status_code, 200)
                    test.assertNotIn(b"Zebrasecret", response.content)
                    test.assertNotIn(b"Giraffepublic", response.content)
        with test.subTest(channel="notification mail: only the public reply reaches the customer"):
            logs = NotificationLog.objects.filter(event=conversation.MENTIONED_EVENT)
            customer_address = customer_a.person.email.lower()
            for log in logs:
                test.assertNotIn("Zebrasecret", log.body)
                test.assertNotIn("Zebrasecret", log.subject)
            if customer_reads:
                test.assertEqual([log.recipient.lower() for log in logs], [customer_address])
                test.assertIn("Giraffepublic", logs[0].body)
        CONVERSATION_TESTED.add((self.rt.label, "test_conversation_isolation_matrix"))
