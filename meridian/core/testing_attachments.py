"""The generic tests of a record type's files (`core.attachments`), part of every `RecordTypeTests` subclass: a type
that declares `attachments=` gets them by opting in (they are skipped for the others), and the meta-test
(`test_registry_coverage.AttachmentCoverageTests`) fails when a type that opted in has not run all of them
(`ATTACHMENTS_TESTED`, filled as each one completes).

They run as the least privileged staff role that may add files (not the administrator when another role may), and
check the refusals as the auditor, a staff role that may only read, and a customer user of another organisation.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, cast

from django.core.files.storage import FileSystemStorage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import override_settings
from django.urls import reverse

from meridian.core import attachments, policy
from meridian.core.choices import Role
from meridian.core.models import AuditEvent, attachment_storage
from meridian.core.registry import VIEW

if TYPE_CHECKING:
    from meridian.core.models import User

# (record type label, test name) of every attachment test that ran to its end in this process
ATTACHMENTS_TESTED: set[tuple[str, str]] = set()
ATTACHMENT_TESTS = (
    "test_attachments_upload_list_download_delete_on_page_and_api",
    "test_attachments_refuse_bad_files_and_write_nothing",
    "test_attachments_are_404_to_other_organisations_and_read_only_to_readers",
)


def png_bytes(width: int = 4, height: int = 4) -> bytes:
    """A small valid PNG image (red)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\0" + b"\xcc\x22\x22" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def done(response: Any) -> int:
    """The status of a response, its streamed file read to the end: the test client closes a streamed response
    when it is read (never call `close()` again: that sends `request_finished` to Django's connection cleanup, which
    closes the test's database connection inside its transaction)."""
    if getattr(response, "streaming", False):
        b"".join(response.streaming_content)
    return int(response.status_code)


def use_own_attachment_storage(test: Any, backend: str | None = None) -> None:
    """Give a test an empty attachment storage of its own, removed afterwards (files outlive the test's rolled-back
    transaction, and record ids are reused); `backend`: another file system storage class (dotted path)."""
    import shutil
    import tempfile

    from django.conf import settings

    location = tempfile.mkdtemp(prefix="meridian-attachments-")
    configured: dict[str, Any] = {**cast("dict[str, Any]", settings.STORAGES["attachments"])}
    configured["OPTIONS"] = {**configured.get("OPTIONS", {}), "location": location}
    if backend:
        configured["BACKEND"] = backend
    overridden = override_settings(STORAGES={**settings.STORAGES, "attachments": configured})
    overridden.enable()
    test.addCleanup(overridden.disable)
    test.addCleanup(shutil.rmtree, location, True)


class OutsideTransactionStorage(FileSystemStorage):
    """A file system storage that fails a write made inside a transaction (no row may stay locked while a file's
    bytes travel to the storage: `attachments.uploaded`); `while_saving`, set by a test, runs once as a file is
    written (another upload landing meanwhile, say). Only for a `TransactionTestCase`, where nothing else holds a
    transaction open."""

    while_saving: Callable[[], Any] | None = None

    def save(self, name: str | None, content: Any, max_length: int | None = None) -> str:
        if connection.in_atomic_block:
            raise AssertionError(f"{name} was written to the storage inside a transaction")
        hook, self.while_saving = self.while_saving, None
        if hook is not None:
            hook()
        return super().save(name, content, max_length)


def stored_files(obj: Any) -> list[str]:
    """The files in the attachment storage under this record (through the storage API: any backend)."""
    try:
        return sorted(attachment_storage().listdir(f"{obj._meta.app_label}/{obj._meta.model_name}/{obj.pk}")[1])
    except FileNotFoundError:
        return []


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


class AttachmentTests:
    """Mixed into `RecordTypeTests` (which gives `rt`, `p`, `obj_a`, `obj_b`, `page_client`, `api`)."""

    if TYPE_CHECKING:  # given by RecordTypeTests
        rt: Any
        p: ClassVar[Any]
        obj_a: ClassVar[Any]

    def setUp(self) -> None:
        super().setUp()  # type: ignore[misc]
        if self.rt.attachments is not None:
            use_own_attachment_storage(self)

    # -- helpers ---------------------------------------------------------------------------------------------
    def _attachments_declared(self) -> attachments.Attachments:
        declared = self.rt.attachments
        if declared is None:
            self.skipTest(f"{self.rt.label} has no attachments")  # type: ignore[attr-defined]
        return declared  # type: ignore[no-any-return]

    def _writer_roles(self) -> frozenset[str]:
        declared = self.rt.attachments
        roles = declared.roles if declared.roles is not None else self.rt.permissions["change"]
        return frozenset(roles) - {Role.AUDITOR}

    def attachment_writer(self) -> User:
        """The least privileged staff user who may add files: not the administrator when another role may."""
        staff = sorted(self._writer_roles() - {Role.CUSTOMER_USER, Role.ADMINISTRATOR})
        return self.p.users[staff[0] if staff else Role.ADMINISTRATOR]  # type: ignore[no-any-return]

    def attachment_readers(self) -> list[User]:
        """Staff who may read the record but not add files: the auditor always, and any other such role."""
        others = [
            self.p.users[role]
            for role in sorted(set(self.p.users) - self._writer_roles() - {Role.AUDITOR})
            if policy.can(self.p.users[role], VIEW, self.obj_a)
        ]
        return [self.p.users[Role.AUDITOR], *others[:1]]

    def page_urls(self, obj: Any, attachment_id: int = 0) -> dict[str, str]:
        return {
            "upload": reverse(self.rt.url_name("attachments"), args=[obj.pk]),
            "download": reverse(self.rt.url_name("attachment"), args=[obj.pk, attachment_id]),
            "delete": reverse(self.rt.url_name("attachment_delete"), args=[obj.pk, attachment_id]),
        }

    def api_urls(self, obj: Any, attachment_id: int = 0) -> dict[str, str]:
        base = f"api:{self.rt.app_label}-{self.rt.url_slug}"
        return {
            "list": reverse(f"{base}-attachments", kwargs={"pk": obj.pk}),
            "one": reverse(f"{base}-attachment", kwargs={"pk": obj.pk, "attachment_id": attachment_id}),
        }

    def file_events(self, obj: Any) -> list[dict[str, Any]]:
        events = AuditEvent.objects.filter(record_type=self.rt.label, record_id=str(obj.pk)).order_by("id")
        return [e.changes[attachments.CHANGES_KEY] for e in events if attachments.CHANGES_KEY in e.changes]

    def assert_safe_download(self, response: Any, name: str, content: bytes, *, inline: bool = False) -> None:
        test: Any = self
        test.assertEqual(response.status_code, 200)
        test.assertEqual(b"".join(response.streaming_content), content)
        disposition = response["Content-Disposition"]
        test.assertTrue(disposition.startswith("inline" if inline else "attachment"), disposition)
        test.assertIn(name.encode("ascii", "ignore").decode() if name.isascii() else "filename*=utf-8''", disposition)
        test.assertEqual(response["X-Content-Type-Options"], "nosniff")
        test.assertEqual(response["Content-Security-Policy"], "default-src 'none'; sandbox")

    # -- the tests -------------------------------------------------------------------------------------------
    def test_attachments_upload_list_download_delete_on_page_and_api(self) -> None:
        self._attachments_declared()
        test: Any = self
        obj, writer = self.obj_a, self.attachment_writer()
        client = test.page_client(writer)
        urls = self.page_urls(obj)
        image, text = png_bytes(), "Übersicht der Räume\n".encode()
        with test.subTest(channel="page upload of two files"):
            response = client.post(urls["upload"], {"file": [upload("plan.png", image), upload("Räume.txt", text)]})
            test.assertEqual(response.status_code, 303)
            test.assertEqual(response["Location"], f"{obj.get_absolute_url()}?tab=attachments")
            made = {a.name: a for a in attachments.of(obj)}
            test.assertEqual(set(made), {"plan.png", "Räume.txt"})
            test.assertEqual(made["plan.png"].content_type, "image/png")
            test.assertEqual(made["Räume.txt"].content_type, "text/plain")
            test.assertEqual(made["plan.png"].size, len(image))
            test.assertEqual(made["plan.png"].uploaded_by_id, writer.pk)
            import hashlib

            test.assertEqual(made["Räume.txt"].sha256, hashlib.sha256(text).hexdigest())
            (event,) = self.file_events(obj)
            test.assertEqual([item["name"] for item in event["added"]], ["plan.png", "Räume.txt"])  # as sent
            test.assertEqual(len(stored_files(obj)), 2)
        with test.subTest(channel="page tab lists them"):
            page = client.get(f"{obj.get_absolute_url()}?tab=attachments")
            test.assertContains(page, "plan.png")
            test.assertContains(page, "Räume.txt")
            test.assertContains(page, self.page_urls(obj, made["plan.png"].pk)["download"] + "?preview=1")
        with test.subTest(channel="page download and preview"):
            urls_png = self.page_urls(obj, made["plan.png"].pk)
            self.assert_safe_download(client.get(urls_png["download"]), "plan.png", image)
            preview = client.get(urls_png["download"] + "?preview=1")
            self.assert_safe_download(preview, "plan.png", image, inline=True)
            test.assertEqual(preview["Content-Type"], "image/png")
            text_download = client.get(self.page_urls(obj, made["Räume.txt"].pk)["download"] + "?preview=1")
            self.assert_safe_download(text_download, "Räume.txt", text)  # only raster images are shown inline
            test.assertIn("filename*=utf-8''R%C3%A4ume.txt", text_download["Content-Disposition"])
        with test.subTest(channel="page delete"):
            response = client.post(self.page_urls(obj, made["plan.png"].pk)["delete"])
            test.assertEqual(response.status_code, 303)
            test.assertEqual([a.name for a in attachments.of(obj)], ["Räume.txt"])
            removed = self.file_events(obj)[-1]["removed"][0]
            test.assertEqual(
                {k: removed[k] for k in ("name", "size", "sha256")},
                {"name": "plan.png", "size": len(image), "sha256": made["plan.png"].sha256},
            )
            history = client.get(f"{obj.get_absolute_url()}?tab=history")
            test.assertContains(history, "Attachment removed")
            test.assertContains(history, made["plan.png"].sha256)
        api = test.api(writer)
        api_urls = self.api_urls(obj)
        with test.subTest(channel="api upload"):
            response = api.post(api_urls["list"], {"file": [upload("contract.pdf", PDF)]}, format="multipart")
            test.assertEqual(response.status_code, 201, response.content)
            (created,) = response.json()
            test.assertEqual(created["content_type"], "application/pdf")
            test.assertEqual(created["size"], len(PDF))
        with test.subTest(channel="api list"):
            listed = api.get(api_urls["list"]).json()
            test.assertEqual([row["name"] for row in listed], ["contract.pdf", "Räume.txt"])
        with test.subTest(channel="api download"):
            self.assert_safe_download(api.get(self.api_urls(obj, created["id"])["one"]), "contract.pdf", PDF)
        with test.subTest(channel="api delete"):
            response = api.delete(self.api_urls(obj, created["id"])["one"])
            test.assertEqual(response.status_code, 204)
            test.assertEqual([a.name for a in attachments.of(obj)], ["Räume.txt"])
            test.assertEqual(self.file_events(obj)[-1]["removed"][0]["name"], "contract.pdf")
            test.assertEqual(done(api.get(self.api_urls(obj, created["id"])["one"])), 404)
        with test.subTest(channel="api: JSON is refused on the upload (415), multipart nowhere else"):
            test.assertEqual(api.post(api_urls["list"], {"file": "x"}, format="json").status_code, 415)
        ATTACHMENTS_TESTED.add((self.rt.label, "test_attachments_upload_list_download_delete_on_page_and_api"))

    def test_attachments_refuse_bad_files_and_write_nothing(self) -> None:
        self._attachments_declared()
        test: Any = self
        obj, writer = self.obj_a, self.attachment_writer()
        client, api = test.page_client(writer), test.api(writer)
        big = b"x" * 1001  # over the limit this test sets
        bad = {
            "oversized": ([upload("big.txt", big)], "at most"),
            "empty": ([upload("empty.txt", b"")], "is empty"),
            "refused ending": ([upload("setup.exe", b"MZ" + b"\0" * 200)], "not accepted"),
            "HTML by its bytes": (
                [upload("notes.txt", b"<!DOCTYPE html><html><script>alert(1)</script></html>")],
                "not accepted",
            ),
            "SVG by its bytes": (
                [upload("logo.png", b'<svg xmlns="http://www.w3.org/2000/svg"></svg>')],
                "not accepted",
            ),
            "script by its bytes": ([upload("run.txt", b"#!/bin/sh\nrm -rf /\n")], "not accepted"),
            "bytes contradict the name": ([upload("report.pdf", png_bytes())], "not what its name says"),
            "one bad file refuses all": (
                [upload("fine.txt", b"fine\n"), upload("report.pdf", png_bytes())],
                "report.pdf",
            ),
            "no file": ([], "at least one file"),
        }
        for case, (files, message) in bad.items():
            for channel in ("page", "api"):
                with (
                    test.subTest(case=case, channel=channel),
                    override_settings(MERIDIAN_ATTACHMENT_MAX_FILE_SIZE=1000),
                ):
                    for f in files:
                        f.seek(0)
                    if channel == "page":
                        response = client.post(self.page_urls(obj)["upload"], {"file": files})
                        test.assertEqual(response.status_code, 400)
                        test.assertContains(response, message, status_code=400)
                    else:
                        response = api.post(self.api_urls(obj)["list"], {"file": files}, format="multipart")
                        test.assertEqual(response.status_code, 400, response.content)
                        test.assertIn(message, " ".join(response.json()["file"]))
                    test.assertEqual(list(attachments.of(obj)), [])
                    test.assertEqual(self.file_events(obj), [])
                    test.assertEqual(stored_files(obj), [])
        with test.subTest(case="the record's total"), override_settings(MERIDIAN_ATTACHMENT_MAX_RECORD_SIZE=150):
            self.assertEqual(  # type: ignore[attr-defined]
                api.post(
                    self.api_urls(obj)["list"], {"file": [upload("a.txt", b"a" * 100)]}, format="multipart"
                ).status_code,
                201,
            )
            response = api.post(self.api_urls(obj)["list"], {"file": [upload("b.txt", b"b" * 100)]}, format="multipart")
            test.assertEqual(response.status_code, 400)
            test.assertIn("at most 150", " ".join(response.json()["file"]))
            test.assertEqual([a.name for a in attachments.of(obj)], ["a.txt"])
        with (
            test.subTest(case="request too large: 413 before it is read"),
            override_settings(MERIDIAN_ATTACHMENT_MAX_UPLOAD=1000),
        ):
            large = upload("c.txt", b"c" * 2000)
            test.assertEqual(
                api.post(self.api_urls(obj)["list"], {"file": [large]}, format="multipart").status_code, 413
            )
            large.seek(0)
            test.assertEqual(client.post(self.page_urls(obj)["upload"], {"file": [large]}).status_code, 413)
            test.assertEqual([a.name for a in attachments.of(obj)], ["a.txt"])
        ATTACHMENTS_TESTED.add((self.rt.label, "test_attachments_refuse_bad_files_and_write_nothing"))

    def test_attachments_are_404_to_other_organisations_and_read_only_to_readers(self) -> None:
        self._attachments_declared()
        test: Any = self
        obj = self.obj_a
        (existing,) = attachments.attach_files(
            obj, files=[upload("plan.txt", b"floor plan\n")], actor=self.p.users[Role.ADMINISTRATOR]
        )
        page_urls, api_urls = self.page_urls(obj, existing.pk), self.api_urls(obj, existing.pk)
        events_before = len(self.file_events(obj))

        def tries(user: User) -> dict[str, int]:
            client, api = test.page_client(user), test.api(user)
            return {
                "page tab": client.get(f"{obj.get_absolute_url()}?tab=attachments").status_code,
                "page upload": client.post(page_urls["upload"], {"file": [upload("x.txt", b"x\n")]}).status_code,
                "page download": done(client.get(page_urls["download"])),
                "page delete": client.post(page_urls["delete"]).status_code,
                "api list": api.get(api_urls["list"]).status_code,
                "api upload": api.post(
                    api_urls["list"], {"file": [upload("x.txt", b"x\n")]}, format="multipart"
                ).status_code,
                "api download": done(api.get(api_urls["one"])),
                "api delete": api.delete(api_urls["one"]).status_code,
            }

        outsider = self.p.customer_b
        api_status = 404 if policy.can(outsider, VIEW, self.rt.model) else 403  # as for the record's own routes
        with test.subTest(who="customer of another organisation"):
            result = tries(outsider)
            test.assertEqual(
                {k: v for k, v in result.items() if k.startswith("page")},
                dict.fromkeys(["page tab", "page upload", "page download", "page delete"], 404),
            )
            test.assertEqual(
                {k: v for k, v in result.items() if k.startswith("api")},
                dict.fromkeys(["api list", "api upload", "api download", "api delete"], api_status),
            )
        for reader in self.attachment_readers():
            with test.subTest(who=reader.username):
                result = tries(reader)
                test.assertEqual(
                    result,
                    {
                        "page tab": 200,
                        "page upload": 403,
                        "page download": 200,
                        "page delete": 403,
                        "api list": 200,
                        "api upload": 403,
                        "api download": 200,
                        "api delete": 403,
                    },
                )
                page = test.page_client(reader).get(f"{obj.get_absolute_url()}?tab=attachments")
                test.assertNotContains(page, "data-attachments")  # no upload form for who may not add files
        test.assertEqual([a.pk for a in attachments.of(obj)], [existing.pk])
        test.assertEqual(len(self.file_events(obj)), events_before)
        ATTACHMENTS_TESTED.add(
            (self.rt.label, "test_attachments_are_404_to_other_organisations_and_read_only_to_readers")
        )
