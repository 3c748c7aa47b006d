"""Attachments: files hanging off any registered record whose type opts in, declared once in its `RecordType`:

    register(RecordType(model=Organisation, ..., attachments=Attachments()))
    register(RecordType(model=Location, ..., attachments=Attachments(max_file_size=10 * MB, roles=STAFF)))

One declaration gives the record's **Attachments** tab (a list, a picker with drag and drop for several files at
once and a progress bar), `GET/POST /api/v1/<app>/<plural>/{id}/attachments/` (list; multipart upload),
`GET .../attachments/{attachment_id}/` (the file) and `DELETE .../attachments/{attachment_id}/`, downloads through
an authorised view only, and an audit event on the parent record for every file added or removed (name, size,
SHA-256, content type).

- **Who**: whoever may read the record sees and downloads its files; `roles` (default: whoever may change the
  record) upload and delete, on a record they may read; the auditor never. A record the reader may not see is a 404
  on every route, before anything else is looked at.
- **What**: each file is checked before anything is written: its size (`max_file_size`, and all of the record's
  files together `max_record_size`; settings give the defaults), its name's ending (refused endings: scripts,
  executables, HTML, SVG), its content type taken from the bytes by libmagic (python-magic), never from the client:
  a refused type is refused whatever its name, and a file whose bytes contradict its name (a PNG called
  `report.pdf`) is refused. One bad file refuses the whole upload, with a message naming it; nothing is written.
- **Where**: `STORAGES["attachments"]`, through Django's storage API only (no file system paths), so an
  S3-compatible bucket works as well as the local `var/attachments/`. The stored name is random; the uploaded
  name is kept in the row and sent back in `Content-Disposition` (RFC 6266). Files are written before the
  transaction that locks the record's row (no lock is held while bytes travel to a bucket), the rows in it, after
  the record's total is checked again under the lock; a refused or failed upload leaves no file behind
  (`uploaded`).
- **Serving**: `Content-Disposition: attachment`, `X-Content-Type-Options: nosniff`,
  `Content-Security-Policy: default-src 'none'; sandbox`; raster images (PNG, JPEG, GIF, WebP) are shown inline
  for a preview, after the type check, with the same headers.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import models, transaction
from django.http import FileResponse, Http404
from django.template.defaultfilters import filesizeformat

from meridian.core import audit, policy, registry
from meridian.core.choices import AuditAction
from meridian.core.models import Attachment, Record, attachment_storage
from meridian.core.registry import CHANGE, READ_ONLY_ROLES, VIEW

MB = 1024 * 1024
FIELD = "file"  # the field of pages and API that carries the files (repeated for several)
CHANGES_KEY = "attachments"  # under this key an audit event of the parent names the files added or removed
HEAD = 8192  # bytes given to libmagic
# shown inline for a preview (after the type check); everything else is only ever downloaded
PREVIEWABLE = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "private, no-store",
    "Cross-Origin-Resource-Policy": "same-origin",
}
# content types that name the same kind of file as another: bytes detected as one of the set match a name of another
_TEXT = {"application/json", "application/xml", "text/xml", "message/rfc822", "application/x-yaml", "text/csv"}
_ZIP = {"application/zip", "application/x-zip-compressed"}
_OLE = {"application/x-ole-storage", "application/CDFV2", "application/vnd.ms-office"}


@dataclass(frozen=True)
class Attachments:
    """A record type's files (`RecordType.attachments`). Limits in bytes; None takes the setting
    (`MERIDIAN_ATTACHMENT_MAX_FILE_SIZE`, `MERIDIAN_ATTACHMENT_MAX_RECORD_SIZE`), which is also the ceiling.
    `roles` may upload and delete files; None: whoever may change the record."""

    max_file_size: int | None = None
    max_record_size: int | None = None
    roles: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if self.roles is not None:
            object.__setattr__(self, "roles", frozenset(self.roles) - READ_ONLY_ROLES)

    @property
    def file_limit(self) -> int:
        ceiling = int(settings.MERIDIAN_ATTACHMENT_MAX_FILE_SIZE)
        return min(self.max_file_size, ceiling) if self.max_file_size else ceiling

    @property
    def record_limit(self) -> int:
        ceiling = int(settings.MERIDIAN_ATTACHMENT_MAX_RECORD_SIZE)
        return min(self.max_record_size, ceiling) if self.max_record_size else ceiling

    def may_write(self, user: Any, obj: Record) -> bool:
        """May `user` upload or delete files of this record (which they may read)? The auditor is in neither
        `roles` nor CHANGE (both lose `READ_ONLY_ROLES`), so never."""
        if not policy.can(user, VIEW, obj):
            return False
        if self.roles is None:
            return policy.can(user, CHANGE, obj)
        return policy.is_system(user) or bool(policy.roles_of(user) & self.roles)


def declaration(record_type: registry.RecordType) -> Attachments:
    """The type's declaration; a type that did not opt in has no attachments (404 on every route)."""
    declared = getattr(record_type, "attachments", None)
    if declared is None:
        raise Http404("This kind of record has no attachments.")
    return declared  # type: ignore[no-any-return]


def of(obj: Record, user: Any = None) -> models.QuerySet[Attachment]:
    """The files of a record (a record the caller has already looked up for the reader), newest first; given the
    reader, without the files of comments they may not read (an internal note's, for a customer user)."""
    files = Attachment.objects.filter(record_type=obj._meta.label_lower, record_id=obj.pk)
    if user is not None:
        from meridian.core import conversation

        hidden = conversation.hidden_file_ids(obj, user)
        if hidden is not None:
            files = files.exclude(comment_id__in=hidden)
    return files


def find(obj: Record, attachment_id: Any, user: Any = None) -> Attachment:
    """One file of this record (a record the reader may see) that the reader may see, or 404: an id of another
    record's file, or of an internal note's file for a customer, is not here."""
    try:
        return of(obj, user).get(pk=int(attachment_id))
    except (Attachment.DoesNotExist, TypeError, ValueError):
        raise Http404("No such attachment.") from None


def require_write(record_type: registry.RecordType, obj: Record, user: Any) -> Attachments:
    declared = declaration(record_type)
    policy.require(user, VIEW, obj)  # 404 for a record the user may not see
    if not declared.may_write(user, obj):
        raise PermissionDenied(f"You may not add or remove files of this {obj._meta.verbose_name}.")
    return declared


# --- checks ---------------------------------------------------------------------------------------------------


def clean_name(name: str) -> str:
    """The uploaded name without any directory part or control characters, at most 255 characters (its ending
    kept)."""
    base = os.path.basename(name.replace("\\", "/")).strip()
    base = "".join(ch for ch in base if ch.isprintable())
    if len(base) > 255:
        stem, ending = os.path.splitext(base)
        base = stem[: 255 - len(ending)] + ending
    return base


def ending(name: str) -> str:
    return os.path.splitext(name)[1].lower().lstrip(".")


def detect(head: bytes) -> str:
    """The content type of a file from its first bytes (libmagic), never from its name or the client's word."""
    import magic

    if not head:
        return "application/x-empty"
    return str(magic.from_buffer(head, mime=True))


def _kind(content_type: str) -> str:
    """What a person calls a content type: `PNG image`, `HTML page`, `text`."""
    names = {
        "text/html": "an HTML page",
        "image/svg+xml": "an SVG image",
        "application/pdf": "a PDF document",
        "application/x-dosexec": "a Windows program",
        "application/x-executable": "a program",
        "text/x-shellscript": "a shell script",
        "text/plain": "plain text",
        "application/octet-stream": "binary data of no known kind",
    }
    if content_type in names:
        return names[content_type]
    major, _, minor = content_type.partition("/")
    if major == "image":
        return f"a {minor.upper()} image"
    if content_type.startswith("text/x-script") or content_type.startswith("text/x-"):
        return "a script"
    return f"a file of type {content_type}"


def _matches(expected: str | None, detected: str) -> bool:
    """Whether bytes detected as `detected` may carry a name whose ending means `expected`."""
    if expected is None or expected == detected:
        return True  # an ending that names no known type claims nothing
    if expected == "application/octet-stream":
        return True
    textual = {expected, detected} <= (_TEXT | {t for t in (expected, detected) if t.startswith("text/")})
    if textual:
        return True
    if detected in _ZIP:  # office documents, e-books and archives built on zip
        return expected in _ZIP or expected.startswith(("application/vnd.openxmlformats", "application/vnd.oasis"))
    if detected in _OLE:  # older Office formats
        return expected.startswith(("application/msword", "application/vnd.ms-"))
    return False


def _refused_reason(name: str, content_type: str) -> str | None:
    refused_types = {t.lower() for t in settings.MERIDIAN_ATTACHMENT_REFUSED_TYPES}
    refused_endings = {e.lower().lstrip(".") for e in settings.MERIDIAN_ATTACHMENT_REFUSED_EXTENSIONS}
    if ending(name) in refused_endings:
        return f"“{name}”: files ending in .{ending(name)} are not accepted (programs, scripts, web pages and SVG)."
    if content_type.lower() in refused_types or content_type.startswith("text/x-script"):
        return f"“{name}” is {_kind(content_type)}: files of that kind are not accepted."
    return None


@dataclass
class Checked:
    """An uploaded file that passed the checks, with what they learnt about it (and its name in the storage, once
    written)."""

    upload: UploadedFile
    name: str
    size: int
    sha256: str
    content_type: str
    stored: str = ""


def check(declared: Attachments, uploads: Sequence[UploadedFile]) -> list[Checked]:
    """Check every file of one upload on its own (its name, size and type from its bytes: nothing that needs the
    record's lock); raise one `ValidationError` on `file` naming each bad file and why."""
    errors: list[str] = []
    checked: list[Checked] = []
    limit = declared.file_limit
    for upload in uploads:
        name = clean_name(upload.name or "")
        if not name or name in {".", ".."}:
            errors.append("A file without a name is not accepted.")
            continue
        size = int(upload.size or 0)
        if size == 0:
            errors.append(f"“{name}” is empty.")
            continue
        if size > limit:
            errors.append(f"“{name}” is {filesizeformat(size)}: files may be at most {filesizeformat(limit)}.")
            continue
        upload.seek(0)
        head = upload.read(HEAD)
        content_type = detect(head)
        reason = _refused_reason(name, content_type)
        if reason:
            errors.append(reason)
            continue
        expected = mimetypes.guess_type(name, strict=False)[0]
        if not _matches(expected, content_type):
            errors.append(
                f"“{name}” is {_kind(content_type)}, not what its name says (.{ending(name)}): "
                "rename it or choose the right file."
            )
            continue
        digest = hashlib.sha256()
        upload.seek(0)
        for chunk in upload.chunks():
            digest.update(chunk)
        checked.append(Checked(upload, name, size, digest.hexdigest(), content_type))
    if errors:
        raise ValidationError({FIELD: errors})
    return checked


def check_room(declared: Attachments, obj: Record, checked: Sequence[Checked]) -> None:
    """Refuse files the record has no room for: all its files together at most `record_limit`. What decides is this
    check under the record's lock (`Upload.attach`), so that two uploads at once cannot pass the limit together."""
    total = sum(c.size for c in checked)
    already = of(obj).aggregate(total=models.Sum("size"))["total"] or 0
    if already + total > declared.record_limit:
        raise ValidationError(
            {
                FIELD: [
                    f"Together with the {filesizeformat(already)} already attached, these files would make "
                    f"{filesizeformat(already + total)}: a {obj._meta.verbose_name} may hold at most "
                    f"{filesizeformat(declared.record_limit)} of files."
                ]
            }
        )


# --- services -------------------------------------------------------------------------------------------------


def summary(attachment: Attachment) -> dict[str, Any]:
    """What the audit trail keeps of a file: enough to identify it after it is gone."""
    return {
        "id": attachment.pk,
        "name": attachment.name,
        "size": attachment.size,
        "sha256": attachment.sha256,
        "content_type": attachment.content_type,
    }


class Upload:
    """The files of one upload, checked and written to the storage (`uploaded`), waiting for their rows (`attach`)."""

    def __init__(self, obj: Record) -> None:
        self.obj = obj
        self.record_type = registry.get(type(obj))
        self.checked: list[Checked] = []
        self.made: list[Attachment] | None = None  # the rows, once `attach` made them

    def write(self) -> None:
        """Each file under a fresh random name (`<app>/<model>/<id>/<random>`), noted as soon as it is written."""
        storage = attachment_storage()
        folder = f"{self.record_type.app_label}/{self.record_type.model_name}/{self.obj.pk}"
        for item in self.checked:
            item.upload.seek(0)
            item.stored = storage.save(f"{folder}/{uuid.uuid4().hex}", item.upload)

    def remove(self) -> None:
        storage = attachment_storage()
        for item in self.checked:
            if item.stored:
                storage.delete(item.stored)

    def attach(self, current: Record, *, actor: Any, comment_id: int | None = None) -> list[Attachment]:
        """The files' `Attachment` rows (of a comment, given `comment_id`), in the caller's transaction with the
        record's row locked (`current`): the record's room is checked again first, as it is now (another upload may
        have taken it while these files were written)."""
        if self.checked:
            check_room(declaration(self.record_type), current, self.checked)
        uploader = actor if getattr(actor, "pk", None) else None
        self.made = []
        for item in self.checked:
            attachment = Attachment(
                record_type=self.record_type.label,
                record_id=current.pk,
                comment_id=comment_id,
                name=item.name,
                size=item.size,
                sha256=item.sha256,
                content_type=item.content_type,
                uploaded_by=uploader,
                uploaded_by_label=actor.get_username() if uploader else "anonymous",
            )
            attachment.file.name = item.stored
            attachment.save(force_insert=True)
            self.made.append(attachment)
        return self.made


@contextmanager
def uploaded(obj: Record, files: Sequence[UploadedFile]) -> Iterator[Upload]:
    """The one way files are added to a record (alone or with a comment): each file checked (`check`; none is
    written when one is refused) and written to the storage *before* the transaction, so that no row stays locked
    while the bytes travel (to an S3 bucket: seconds for a large file; the lock order), then handed to the block,
    which opens the transaction, locks the record's row, checks what depends on the record as it is now and makes
    the rows (`Upload.attach`). When the block fails (a refusal, an exception, a rollback) or makes no rows, the
    written files are deleted: the storage keeps no file without its row.

        with attachments.uploaded(obj, files) as upload, transaction.atomic():
            current = type(obj).objects.select_for_update().get(pk=obj.pk)
            made = upload.attach(current, actor=actor)"""
    upload = Upload(obj)
    if files:
        declared = declaration(upload.record_type)
        upload.checked = check(declared, files)
        check_room(declared, obj, upload.checked)  # early, unlocked: no bytes sent for files that cannot stay
    kept = False
    try:
        upload.write()
        yield upload
        kept = upload.made is not None
    finally:
        if not kept:
            upload.remove()


def attach_files(obj: Record, *, files: Sequence[UploadedFile], actor: Any, reason: str = "") -> list[Attachment]:
    """Attach files to a record: every file checked first (nothing is written when one is refused), written to the
    storage outside the transaction, then recorded with one audit event on the record naming each file (`uploaded`).
    The record's row is locked (the lock order: the record first) while the rows are made, so that two uploads at
    once cannot pass the record's size limit together. The record's version is not changed: files are not fields,
    and an edit of the record is never refused because someone added a file."""
    record_type = registry.get(type(obj))
    require_write(record_type, obj, actor)  # 404 or 403 before any file is looked at
    if not files:
        raise ValidationError({FIELD: ["Choose at least one file."]})
    with uploaded(obj, files) as upload, transaction.atomic():
        current = type(obj).objects.select_for_update().get(pk=obj.pk)
        require_write(record_type, current, actor)  # again, as the record is now
        made = upload.attach(current, actor=actor)
        audit.record_event(
            action=AuditAction.UPDATE,
            obj=current,
            actor=actor,
            changes={CHANGES_KEY: {"added": [summary(a) for a in made]}},
            reason=reason,
        )
    return made


def delete_attachment(obj: Record, attachment: Attachment, *, actor: Any, reason: str = "") -> None:
    """Remove a file of a record: one audit event on the record keeps its name, size and SHA-256; the stored file
    is deleted after commit (a rolled-back delete keeps it)."""
    record_type = registry.get(type(obj))
    with transaction.atomic():
        current = type(obj).objects.select_for_update().get(pk=obj.pk)
        require_write(record_type, current, actor)
        row = of(current).select_for_update().filter(pk=attachment.pk).first()
        if row is None:
            raise Http404("No such attachment.")
        audit.record_event(
            action=AuditAction.UPDATE,
            obj=current,
            actor=actor,
            changes={CHANGES_KEY: {"removed": [summary(row)]}},
            reason=reason,
        )
        name = row.file.name
        row.delete()
        transaction.on_commit(lambda: attachment_storage().delete(name))


def removed_with(record_type: registry.RecordType, obj: Record) -> dict[str, Any]:
    """The files that go with a record being deleted (in its transaction): their rows are deleted now, the stored
    files after commit; the delete's audit event names them (`services.delete_record`)."""
    if getattr(record_type, "attachments", None) is None:
        return {}
    rows = list(of(obj).select_for_update())
    return {CHANGES_KEY: {"removed": remove(rows)}} if rows else {}


def remove(rows: Sequence[Attachment]) -> list[dict[str, Any]]:
    """Delete these files (rows locked by the caller, in its transaction): the rows now, the stored files after
    commit (a rolled-back delete keeps them). What the audit event keeps of them (`summary`)."""
    summaries = [summary(row) for row in rows]
    names = [row.file.name for row in rows]
    Attachment.objects.filter(pk__in=[row.pk for row in rows]).delete()

    def delete_files() -> None:
        storage = attachment_storage()
        for name in names:
            storage.delete(name)

    transaction.on_commit(delete_files)
    return summaries


def readable(event: Any) -> list[tuple[str, Any, Any]]:
    """History rows of an event's files: ("Attachment added", None, "report.pdf · 1.2 MB · SHA-256 …")."""
    change = (event.changes or {}).get(CHANGES_KEY)
    if not isinstance(change, dict):
        return []
    rows: list[tuple[str, Any, Any]] = []
    for key, label in (("added", "Attachment added"), ("removed", "Attachment removed")):
        for item in change.get(key) or []:
            text = f"{item.get('name')} · {filesizeformat(item.get('size') or 0)} · SHA-256 {item.get('sha256')}"
            rows.append((label, None, text) if key == "added" else (label, text, None))
    return rows


# --- serving --------------------------------------------------------------------------------------------------


def may_preview(attachment: Attachment) -> bool:
    return attachment.content_type in PREVIEWABLE


def serve(attachment: Attachment, *, inline: bool = False) -> FileResponse:
    """The file as a download (or, for a raster image asked `inline`, a preview), with headers that keep a browser
    from running or sniffing it. Streamed from the storage, whatever it is."""
    shown_inline = inline and may_preview(attachment)
    content_type = attachment.content_type
    handle = attachment_storage().open(attachment.file.name, "rb")  # the configured storage, whatever it is now
    response = FileResponse(handle, as_attachment=not shown_inline, filename=attachment.name, content_type=content_type)
    response["Content-Length"] = str(attachment.size)
    for header, value in SECURITY_HEADERS.items():
        response[header] = value
    return response


def listing(attachments: Iterable[Attachment]) -> list[dict[str, Any]]:
    """The files as the API lists them."""
    return [
        {
            "id": a.pk,
            "name": a.name,
            "size": a.size,
            "sha256": a.sha256,
            "content_type": a.content_type,
            "uploaded_by": a.uploaded_by_label,
            "uploaded_at": a.uploaded_at,
            "comment": a.comment_id,
        }
        for a in attachments
    ]
