"""Attachments beyond the generic tests every opting-in type runs (`testing_attachments`): what goes with a deleted
record, names taken apart, which names and contents agree, files written outside the record's lock and never left
without their row, and a type without attachments."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from typing import Any
from unittest import mock

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TransactionTestCase, override_settings
from django.urls import NoReverseMatch, reverse

from meridian.core import attachments, audit, conversation, services
from meridian.core.choices import Role
from meridian.core.factories import LocationFactory, PersonFactory
from meridian.core.models import Attachment, AuditEvent, Comment, Location, attachment_storage
from meridian.core.testing import PrincipalsTestCase, api_client, make_principals
from meridian.core.testing_attachments import PDF, png_bytes, stored_files, use_own_attachment_storage


def docx_bytes() -> bytes:
    """A minimal Word document (a zip with the parts libmagic looks for)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        archive.writestr("word/document.xml", '<?xml version="1.0"?><w:document/>')
    return out.getvalue()


class AttachmentServiceTests(PrincipalsTestCase):
    def setUp(self) -> None:
        super().setUp()
        use_own_attachment_storage(self)

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.location = LocationFactory(organisation=cls.p.org_a, name="Utrecht office")

    def test_deleting_a_record_removes_its_files_and_names_them_in_the_delete_event(self) -> None:
        made = attachments.attach_files(
            self.location,
            files=[SimpleUploadedFile("plan.png", png_bytes()), SimpleUploadedFile("c.pdf", PDF)],
            actor=self.admin,
        )
        stored = [a.file.name for a in made]
        self.assertTrue(all(attachment_storage().exists(name) for name in stored))
        self.location.refresh_from_db()
        with self.captureOnCommitCallbacks(execute=True):
            services.delete_record(self.location, actor=self.admin, expected_version=self.location.version)
        self.assertFalse(Attachment.objects.filter(record_type="core.location", record_id=self.location.pk).exists())
        self.assertFalse(any(attachment_storage().exists(name) for name in stored))
        event = AuditEvent.objects.get(record_type="core.location", record_id=str(self.location.pk), action="delete")
        removed = event.changes["attachments"]["removed"]
        self.assertEqual(sorted(r["name"] for r in removed), ["c.pdf", "plan.png"])
        self.assertEqual({r["sha256"] for r in removed}, {a.sha256 for a in made})

    def test_a_refused_delete_of_the_record_keeps_its_files(self) -> None:
        (made,) = attachments.attach_files(self.location, files=[SimpleUploadedFile("a.txt", b"a\n")], actor=self.admin)
        LocationFactory(organisation=self.p.org_a, parent=self.location, name="Floor 2")  # protects the location
        self.location.refresh_from_db()
        with self.captureOnCommitCallbacks(execute=True), self.assertRaises(services.RecordInUse):
            services.delete_record(self.location, actor=self.admin, expected_version=self.location.version)
        self.assertTrue(Attachment.objects.filter(pk=made.pk).exists())
        self.assertTrue(attachment_storage().exists(made.file.name))

    def test_a_name_keeps_no_directory_and_office_files_and_text_kinds_match_their_names(self) -> None:
        agent = self.p.users[Role.SERVICE_DESK_AGENT]
        made = attachments.attach_files(
            self.location,
            files=[
                SimpleUploadedFile("../../etc/passwd.txt", b"root:x:0:0\n"),
                SimpleUploadedFile("C:\\Users\\me\\cabling.docx", docx_bytes()),
                SimpleUploadedFile("ports.csv", b"port,vlan\n1,10\n"),
                SimpleUploadedFile("config.json", b'{"vlan": 10}'),
                SimpleUploadedFile("README", b"no ending at all\n"),
            ],
            actor=agent,
        )
        self.assertEqual([a.name for a in made], ["passwd.txt", "cabling.docx", "ports.csv", "config.json", "README"])
        for attachment in made:
            self.assertTrue(attachment.file.name.startswith(f"core/location/{self.location.pk}/"))
            self.assertNotIn(attachment.name, attachment.file.name)  # stored under a random name

    def test_a_text_file_named_as_an_image_and_an_image_named_as_text_are_refused(self) -> None:
        for name, content in (("photo.jpg", b"just text\n"), ("notes.txt", png_bytes())):
            with self.subTest(name=name), self.assertRaises(ValidationError) as caught:
                attachments.attach_files(self.location, files=[SimpleUploadedFile(name, content)], actor=self.admin)
            self.assertIn("not what its name says", " ".join(caught.exception.message_dict["file"]))
        self.assertFalse(attachments.of(self.location).exists())


class UploadOutsideTheLockTests(TransactionTestCase):
    """Both ways files come in (`attach_files`, a comment with files) write them to the storage before the
    transaction that locks the record's row — an S3 upload of a large file must not hold the lock — against a
    storage that fails a write inside a transaction; and the storage keeps no file whose row was not written."""

    def setUp(self) -> None:
        use_own_attachment_storage(self, "meridian.core.testing_attachments.OutsideTransactionStorage")
        self.p = make_principals()
        self.agent, self.admin = self.p.users[Role.SERVICE_DESK_AGENT], self.p.users[Role.ADMINISTRATOR]

    def ways(self) -> list[tuple[str, Location, Callable[[list[SimpleUploadedFile]], Any]]]:
        """Each way in, as the service desk agent, with a location of its own."""
        agent = self.agent
        first, second = (LocationFactory(organisation=self.p.org_a, name=name) for name in ("First", "Second"))
        return [
            ("attach_files", first, lambda files: attachments.attach_files(first, files=files, actor=agent)),
            (
                "comment",
                second,
                lambda files: conversation.post_comment(
                    second, actor=agent, body="See the files.", visibility="internal", files=files
                ),
            ),
        ]

    def file_events(self, location: Location) -> list[dict[str, Any]]:
        events = AuditEvent.objects.filter(record_type="core.location", record_id=str(location.pk)).order_by("id")
        return [e.changes[attachments.CHANGES_KEY] for e in events if attachments.CHANGES_KEY in e.changes]

    def test_files_are_written_with_no_transaction_open_and_kept_with_their_rows(self) -> None:
        for way, location, upload in self.ways():
            with self.subTest(way=way):
                upload([SimpleUploadedFile("plan.png", png_bytes()), SimpleUploadedFile("c.pdf", PDF)])
                rows = attachments.of(location)
                self.assertEqual(sorted(a.name for a in rows), ["c.pdf", "plan.png"])
                self.assertEqual(stored_files(location), sorted(a.file.name.rsplit("/", 1)[1] for a in rows))
                added = [sorted(f["name"] for f in e["added"]) for e in self.file_events(location)]
                self.assertEqual(added, [["c.pdf", "plan.png"]])

    @override_settings(MERIDIAN_ATTACHMENT_MAX_RECORD_SIZE=150)
    def test_files_another_upload_took_the_room_of_meanwhile_are_refused_under_the_lock_and_deleted(self) -> None:
        for way, location, upload in self.ways():
            with self.subTest(way=way):
                other = [SimpleUploadedFile("a.txt", b"a" * 100)]  # done while this upload's file is being written
                attachment_storage().while_saving = lambda obj=location, files=other: attachments.attach_files(
                    obj, files=files, actor=self.admin
                )
                with self.assertRaises(ValidationError) as refused:
                    upload([SimpleUploadedFile("b.txt", b"b" * 100)])
                self.assertIn("at most 150", " ".join(refused.exception.message_dict["file"]))
                (kept,) = attachments.of(location)
                self.assertEqual(kept.name, "a.txt")
                self.assertEqual(stored_files(location), [kept.file.name.rsplit("/", 1)[1]])
                self.assertEqual([[f["name"] for f in e["added"]] for e in self.file_events(location)], [["a.txt"]])
        self.assertFalse(Comment.objects.exists())

    def test_a_failure_after_the_files_were_written_removes_them(self) -> None:
        for way, location, upload in self.ways():
            with self.subTest(way=way):
                with (
                    mock.patch.object(audit, "record_event", side_effect=RuntimeError("the audit trail is down")),
                    self.assertRaises(RuntimeError),
                ):
                    upload([SimpleUploadedFile("plan.png", png_bytes()), SimpleUploadedFile("c.pdf", PDF)])
                self.assertEqual(list(attachments.of(location)), [])
                self.assertEqual(stored_files(location), [])
                self.assertEqual(self.file_events(location), [])
        self.assertFalse(Comment.objects.exists())


class TypeWithoutAttachmentsTests(PrincipalsTestCase):
    def test_a_type_without_attachments_has_no_tab_routes_or_endpoints(self) -> None:
        person = PersonFactory(organisation=self.p.org_a)
        with self.assertRaises(NoReverseMatch):
            reverse("core:person_attachments", args=[person.pk])
        self.client.force_login(self.admin)
        self.assertEqual(self.client.get(f"{person.get_absolute_url()}?tab=attachments").status_code, 404)
        api = api_client(self.admin)
        self.assertEqual(api.get(f"/api/v1/core/people/{person.pk}/attachments/").status_code, 404)
