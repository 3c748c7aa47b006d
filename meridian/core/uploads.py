"""Text fields that may also come as a file (`RecordType(uploads=[TextUpload(...)])`).

A record whose input is a document (a configuration audit's discovered data: a discovery tool's CSV or JSON export)
declares the text field and the name of its upload once:

    register(RecordType(model=ConfigurationAudit, ...,
        uploads=[TextUpload("discovered_file", "discovered_data", endings=(".csv", ".json", ".txt"))]))

and gets, on every channel that writes the record:

- **page**: a file input `discovered_file` beside the text area (the add/edit form is `multipart/form-data`);
- **API**: `multipart/form-data` on create and change of the type, with the file under `discovered_file` and the
  other fields as form fields (ids and numbers as digits, booleans as true/false); JSON bodies as before;
- **the same checks**: the file is refused (a field error on the upload, nothing written) when it is empty, larger
  than `MERIDIAN_IMPORT_MAX_SIZE` (`core.imports.check_size`), not text (a workbook, a PDF, bytes that are neither
  UTF-8 nor Windows-1252, UTF-16) or of another kind than `endings` say; sent together with a pasted text; and the
  model's own validation of the text field (rows and columns) is said on the upload when the text came from it.

The file's text (decoded) is what the record stores: the text field stays the one place of the value (history,
API, exports), and pasting remains the alternative.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from django.core.exceptions import ValidationError

BINARY_HEADS = {
    b"PK\x03\x04": "a ZIP archive or an Excel workbook",
    b"%PDF": "a PDF document",
    b"\xd0\xcf\x11\xe0": "an old Office document (.xls, .doc)",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"\x1f\x8b": "a gzip archive",
}


@dataclass(frozen=True)
class TextUpload:
    """`name` (the upload's form field and API part) fills the text field `field`; `endings` are the file name
    endings accepted (empty: any), `label` and `help_text` say it on the form."""

    name: str
    field: str
    endings: tuple[str, ...] = ()
    label: str = "File"
    help_text: str = ""

    def accept(self) -> str:
        """The file input's `accept` attribute."""
        return ",".join(self.endings)


def read_text(upload: TextUpload, fileobj: IO[bytes], file_name: str) -> str:
    """The text of an uploaded file; ValidationError (one message) when it is refused (see the module)."""
    from meridian.core import imports

    name = (file_name or "").lower()
    if upload.endings and not name.endswith(upload.endings):
        raise ValidationError(
            f"“{file_name}” is not one of the files accepted here ({', '.join(upload.endings)}).", code="invalid"
        )
    try:
        imports.check_size(fileobj)
        head = fileobj.read(8)
        fileobj.seek(0)
        for start, kind in BINARY_HEADS.items():
            if head.startswith(start):
                raise ValidationError(f"“{file_name}” is {kind}, not text: export CSV (UTF-8) or JSON.")
        encoding, _label = imports.detect_encoding(fileobj)
        raw = fileobj.read()
    except imports.ImportRefused as exc:
        raise ValidationError(exc.message, code="invalid") from None
    finally:
        fileobj.seek(0)
    if b"\x00" in raw:
        raise ValidationError(f"“{file_name}” holds binary data (NUL bytes), not text: export CSV (UTF-8) or JSON.")
    return raw.decode(encoding)


def take(uploads: Iterable[TextUpload], values: dict[str, Any], files: dict[str, Any]) -> dict[str, str]:
    """Put the text of each file given into its field of `values` (in place); the fields so filled, to their
    upload's name. ValidationError on the upload's name: a refused file, or a file and a pasted text both given."""
    errors: dict[str, list[str]] = {}
    used: dict[str, str] = {}
    for upload in uploads:
        fileobj = files.get(upload.name)
        if not fileobj:
            continue
        if str(values.get(upload.field) or "").strip():
            errors[upload.name] = ["Upload a file or paste the text, not both."]
            continue
        try:
            values[upload.field] = read_text(upload, fileobj, getattr(fileobj, "name", "") or "")
        except ValidationError as exc:
            errors[upload.name] = exc.messages
            continue
        used[upload.field] = upload.name
    if errors:
        raise ValidationError(errors)
    return used


def on_uploads(exc: ValidationError, used: dict[str, str]) -> ValidationError:
    """`exc` with the errors of fields filled from a file said on the file's upload instead."""
    if not used or not hasattr(exc, "error_dict"):
        return exc
    return ValidationError({used.get(name, name): errors for name, errors in exc.error_dict.items()})


@contextlib.contextmanager
def errors_on_uploads(used: dict[str, str]) -> Iterator[None]:
    """Re-raise a write's ValidationError with the errors of fields filled from a file on the file's upload."""
    try:
        yield
    except ValidationError as exc:
        raise on_uploads(exc, used) from exc
