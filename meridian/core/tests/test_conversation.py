"""Conversation beyond the generic tests (`testing_conversation`): the work of reading a thread does not grow with
it (the Timeline tab, the comment list and the timeline of the API)."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from meridian.core import conversation
from meridian.core.choices import Role
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
