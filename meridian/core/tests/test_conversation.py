"""Conversation beyond the generic tests (`testing_conversation`): the work of reading a thread does not grow with
it (the Timeline tab, the comment list and the timeline of the API); a deleted comment's files go with it."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from meridian.core import attachments, conversation
from meridian.core.choices import Role
from meridian.core.models import Attachment, AuditEvent, attachment_storage
from meridian.core.testing import PrincipalsTestCase, api_client
from meridian.core.testing_attachments import use_own_attachment_storage


class ThreadQueryTests(PrincipalsTestCase):
    """As a service desk agent (staff: notes and replies) and as the organisation's customer user (replies only),
    each comment with a file and an author of its own."""

    def setUp(self) -> None:
        use_own_attachment_storage(self)
        self.org: Any = self.p.org_a
        self.writers = [self.p.users[Role.SERVICE_DESK_AGENT], self.p.users[Role.RESOLVER], self.p.customer_a]
        self.base = f"api:core-{self.org._meta.model_name}s"

    def post(self, count: int) -> None:
        for n in range(count):
            writer = self.writers[n % len(self.writers)]
            visibility = "public" if writer == self.p.customer_a or n % 2 else "internal"
            conversation.post_comment(
                self.org,
                actor=writer,
                body=f"Comment **{n}**",
                visibility=visibility,
                files=[SimpleUploadedFile(f"note-{n}.txt", b"some text\n")],
            )

    def queries(self, user: Any) -> dict[str, int]:
        page = self.client
        page.force_login(user)
        api = api_client(user)
        counted = {}
        for name, get in (
            ("page", lambda: page.get(f"{self.org.get_absolute_url()}?tab=timeline")),
            ("api list", lambda: api.get(reverse(f"{self.base}-comments", args=[self.org.pk]))),
            ("api timeline", lambda: api.get(reverse(f"{self.base}-timeline", args=[self.org.pk]))),
        ):
            with CaptureQueriesContext(connection) as captured:
                response = get()
            self.assertEqual(response.status_code, 200, name)
            counted[name] = len(captured)
        return counted

    def test_the_thread_is_read_in_the_same_number_of_queries_whatever_its_length(self) -> None:
        for user in (self.p.users[Role.SERVICE_DESK_AGENT], self.p.customer_a):
            with self.subTest(user=user.username):
                self.post(3)
                few = self.queries(user)
                self.post(6)
                many = self.queries(user)
                self.assertEqual(few, many)


class CommentFileTests(PrincipalsTestCase):
    def setUp(self) -> None:
        use_own_attachment_storage(self)

    def test_a_deleted_comment_takes_its_files_with_it_and_the_audit_event_names_them(self) -> None:
        org: Any = self.p.org_a
        agent = self.p.users[Role.SERVICE_DESK_AGENT]
        comment = conversation.post_comment(
            org,
            actor=agent,
            body="See the plan.",
            visibility="internal",
            files=[SimpleUploadedFile("plan.txt", b"a plan")],
        )
        (stored,) = Attachment.objects.filter(comment_id=comment.pk)
        self.assertEqual((stored.record_id, stored.uploaded_by_id, stored.name), (org.pk, agent.pk, "plan.txt"))
        self.assertTrue(attachment_storage().exists(stored.file.name))
        with self.captureOnCommitCallbacks(execute=True):
            conversation.delete_comment(comment, actor=agent, expected_version=1)
        self.assertFalse(Attachment.objects.filter(pk=stored.pk).exists())
        self.assertFalse(attachment_storage().exists(stored.file.name))
        event = AuditEvent.objects.filter(record_type="core.organisation", record_id=str(org.pk)).latest("id")
        self.assertEqual(event.changes[conversation.CHANGES_KEY]["op"], "deleted")
        self.assertEqual([f["name"] for f in event.changes[attachments.CHANGES_KEY]["removed"]], ["plan.txt"])
