"""Import of records from CSV, XLSX and JSON, for every registered record type (`core.registry`).

    source = imports.open_source(fileobj, "people.xlsx", sheet="Staff")
    report = imports.run(record_type, source, actor=user, dry_run=True, update_on="email")
    report = imports.run(record_type, imports.open_source(...), actor=user, dry_run=False, update_on="email",
                         expected_versions=report.versions)

The file is read as a stream, in batches of `BATCH_SIZE` rows: memory stays flat whatever its length. Every row
is checked by the rules of a form or API write (`core.services`): the importer's policy (ADD, and CHANGE on each
record updated), tenancy, the type's link rules, the model's field validation and `clean()`, unique fields (in the
database and inside the file), the custom field validator (`core.custom_fields.clean_values`) and the lifecycle
(a status column may only repeat the status a record has or starts with: a status moves through its actions).
Every problem is reported as (row, column, message). The commit is one transaction that writes nothing unless
every row passes: rows are written in batches (`bulk_create`/`bulk_update`, references allocated in blocks) with
one audit event per created or changed record, inserted unchained in bulk and linked by the one chainer
(`core.audit.chain_pending`). A record changed since the dry run (its version differs from the one the dry run
read, `expected_versions`) is reported and not overwritten.
"""

from __future__ import annotations

import ast
import codecs
import contextlib
import csv
import datetime as dt
import functools
import io
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.db.models import F, Q
from django.db.models.functions import Concat, Lower
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from meridian.core import audit, control, policy, registry, services
from meridian.core.choices import AuditAction
from meridian.core.models import Sequence
from meridian.core.registry import ADD, CHANGE, VIEW, RecordType

BATCH_SIZE = 1000
MAX_PROBLEMS = 1000  # problems listed in a report (all are counted)
HEADER_ROW = 1
MISSING = object()  # a JSON object without the key: the field is left as it is
TRUE_WORDS = {"yes", "true", "1", "y", "on", "✔"}
FALSE_WORDS = {"no", "false", "0", "n", "off", "—", "-", ""}
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\0")
# read-only columns of exports and API representations: recognised and skipped, said once in the report's notes
READ_ONLY_COLUMNS = {
    "id",
    "reference",
    "version",
    "display",
    "web_url",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
    "available_actions",
    "created",
    "updated",
}


# how a field shown by `RecordType.display_values` is read back from its text: (type label, field) -> parser
# (text -> value, ValueError with a message); JSON is read as such before a parser is tried
_parsers: dict[tuple[str, str], Callable[[str], Any]] = {}


def register_parser(label: str, field_name: str, parser: Callable[[str], Any]) -> None:
    """Read a field's displayed text back on import, e.g.
    `register_parser("core.calendar", "working_hours", parse_hours)`."""
    _parsers[(label, field_name)] = parser


def _parse_hours(text: str) -> Any:
    from meridian.core.hours import parse_hours

    return parse_hours(text)


register_parser("core.calendar", "working_hours", _parse_hours)


def model_field_of(model: type[models.Model], name: str) -> Any:
    """A concrete field of the model (typed loosely: a field of a registered type's `fields`, never a reverse
    relation)."""
    return model._meta.get_field(name)


def max_size() -> int:
    """The largest file accepted, in bytes: the setting MERIDIAN_IMPORT_MAX_SIZE (default 100 MB)."""
    return int(getattr(settings, "MERIDIAN_IMPORT_MAX_SIZE", 100 * 1024 * 1024))


def background_threshold() -> int:
    """Files with more rows than this are imported by the task queue from the page (MERIDIAN_IMPORT_BACKGROUND_ROWS)."""
    return int(getattr(settings, "MERIDIAN_IMPORT_BACKGROUND_ROWS", 2000))


class ImportRefused(Exception):
    """The file as a whole cannot be read (encoding, format, size, sheet, headers): nothing was checked or
    written. `field` names the input at fault (`file`, `sheet`, `mapping`, `update_on`) for field-level errors."""

    def __init__(self, message: str, field: str = "file", choices: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.choices = choices or []


@dataclass
class Problem:
    row: int  # the row in the file as a spreadsheet numbers it (1: the header)
    column: str  # the column's header as in the file ("" for the whole row)
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "message": self.message}


@dataclass
class Report:
    """What an import did or would do: counts, every problem (the first MAX_PROBLEMS listed), notes on how the file
    was read, and the version of each record matched for an update (the commit compares them)."""

    record_type: str
    dry_run: bool
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    problem_count: int = 0
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    encoding: str = ""
    columns: dict[str, str] = field(default_factory=dict)  # header -> field ("" skipped)
    versions: dict[str, int] = field(default_factory=dict)  # pk -> version read, of records to update
    committed: bool = False

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def add(self, row: int, column: str, message: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(row, column, message))

    def summary(self) -> str:
        verb = "would create" if self.dry_run else ("created" if self.committed else "would have created")
        text = (
            f"{self.rows} row(s): {verb} {self.created}, "
            f"{'update' if self.dry_run else 'updated'} {self.updated}, unchanged {self.unchanged}; "
            f"{self.problem_count} problem(s)."
        )
        if not self.dry_run and not self.committed:
            text += " Nothing was written."
        return text

    def as_dict(self, *, with_versions: bool = False) -> dict[str, Any]:
        data = {
            "record_type": self.record_type,
            "dry_run": self.dry_run,
            "committed": self.committed,
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "problem_count": self.problem_count,
            "problems": [p.as_dict() for p in self.problems],
            "notes": self.notes,
            "encoding": self.encoding,
            "columns": self.columns,
        }
        if with_versions:
            data["versions"] = self.versions
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Report:
        report = cls(data["record_type"], data["dry_run"])
        for name in ("rows", "created", "updated", "unchanged", "problem_count", "encoding", "committed"):
            setattr(report, name, data.get(name, getattr(report, name)))
        report.problems = [Problem(**p) for p in data.get("problems", [])]
        report.notes = list(data.get("notes", []))
        report.columns = dict(data.get("columns", {}))
        report.versions = dict(data.get("versions", {}))
        return report

    def csv_text(self) -> str:
        """The problems as a CSV file (row, column, message), the summary in its last line."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["row", "column", "message"])
        for p in self.problems:
            writer.writerow([p.row, _safe_cell(p.column), _safe_cell(p.message)])
        writer.writerow(["", "", _safe_cell(self.summary())])
        return out.getvalue()


def _safe_cell(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


# --- reading files ----------------------------------------------------------------------------------------------


@dataclass
class Source:
    """A file opened for import: its header and an iterator of (row number, cells). Cells are text ("" for an empty
    cell), or for JSON also None (null: clear) and MISSING (key absent: leave as is)."""

    format: str  # csv | xlsx | json
    headers: list[str]
    rows: Iterator[tuple[int, list[Any]]]
    encoding: str = ""
    notes: list[str] = field(default_factory=list)
    sheets: list[str] = field(default_factory=list)


def file_format(name: str, head: bytes) -> str:
    lower = name.lower()
    for ending, kind in ((".csv", "csv"), (".txt", "csv"), (".xlsx", "xlsx"), (".xlsm", "xlsx"), (".json", "json")):
        if lower.endswith(ending):
            return kind
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"["):
        return "json"
    if lower.endswith(".xls"):
        raise ImportRefused("Old Excel files (.xls) are not read: save the sheet as .xlsx or CSV UTF-8.")
    return "csv"


def check_size(fileobj: IO[bytes]) -> None:
    """Refuse an empty file, or one larger than `max_size()` (ImportRefused); the file is left at its start."""
    fileobj.seek(0, io.SEEK_END)
    size = fileobj.tell()
    fileobj.seek(0)
    if size == 0:
        raise ImportRefused("The file is empty.")
    if size > max_size():
        raise ImportRefused(
            f"The file is {size / 1024 / 1024:.1f} MB; at most {max_size() / 1024 / 1024:.0f} MB are imported at once: "
            "split it."
        )


def open_source(fileobj: IO[bytes], name: str, *, sheet: str | None = None) -> Source:
    """Open an uploaded or local file (binary, seekable) for import; ImportRefused if it cannot be read."""
    check_size(fileobj)
    head = fileobj.read(8)
    fileobj.seek(0)
    kind = file_format(name, head)
    if kind == "xlsx":
        return _open_xlsx(fileobj, sheet)
    if kind == "json":
        return _open_json(fileobj)
    return _open_csv(fileobj)


def detect_encoding(fileobj: IO[bytes]) -> tuple[str, str]:
    """UTF-8 (with or without a byte order mark) or Windows-1252 (Excel's "CSV" on Windows); refused otherwise.
    Read in chunks: the file is never held whole in memory."""
    head = fileobj.read(4)
    fileobj.seek(0)
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise ImportRefused(
            "The file is UTF-16 text (Excel's “Unicode text”): save it as “CSV UTF-8 (comma delimited)”."
        )
    bom = head.startswith(codecs.BOM_UTF8)
    for encoding, label in (("utf-8", "UTF-8 with a byte order mark" if bom else "UTF-8"), ("cp1252", "Windows-1252")):
        decoder = codecs.getincrementaldecoder(encoding)()
        position = 0
        try:
            while chunk := fileobj.read(1 << 20):
                decoder.decode(chunk)
                position += len(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            fileobj.seek(0)
            if encoding == "cp1252":
                raise ImportRefused(
                    f"The file is neither UTF-8 nor Windows-1252 text (byte 0x{exc.object[exc.start]:02x} at position "
                    f"{position + exc.start} cannot be read): save it as “CSV UTF-8”."
                ) from None
            continue
        fileobj.seek(0)
        return ("utf-8-sig" if encoding == "utf-8" else encoding), label
    raise AssertionError("unreachable")


def _open_csv(fileobj: IO[bytes]) -> Source:
    encoding, label = detect_encoding(fileobj)
    text = io.TextIOWrapper(fileobj, encoding=encoding, newline="")
    sample = text.read(16384)
    text.seek(0)
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(text, dialect)
    try:
        headers = next(reader, None)
    except csv.Error as exc:
        raise ImportRefused(f"The file is not CSV text: {exc}.") from None
    if not headers or not any(h.strip() for h in headers):
        raise ImportRefused("The file is empty: the first row must name the columns.")
    notes = [f"Read as {label} CSV text" + (" (as saved by Excel on Windows)." if encoding == "cp1252" else ".")]

    def rows() -> Iterator[tuple[int, list[Any]]]:
        number = HEADER_ROW
        try:
            for cells in reader:
                number += 1
                if not any(c.strip() for c in cells):
                    continue
                yield number, cells
        except csv.Error as exc:
            raise ImportRefused(f"Row {number + 1} cannot be read as CSV: {exc}.") from None

    return Source("csv", [h.strip() for h in headers], rows(), label, notes)


def _xlsx_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)  # a formula comes as its text ("=SUM(A1:A3)"): stored as such, never evaluated


def _open_xlsx(fileobj: IO[bytes], sheet: str | None) -> Source:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(fileobj, read_only=True, data_only=False)
    except Exception as exc:  # noqa: BLE001  # zip, XML and openpyxl errors alike: not a workbook we can read
        raise ImportRefused(f"The file is not a readable XLSX workbook ({type(exc).__name__}).") from None
    names = list(workbook.sheetnames)
    if sheet is None or sheet == "":
        if len(names) > 1:
            raise ImportRefused(
                f"This workbook has {len(names)} sheets: say which to import ({', '.join(names)}).", "sheet", names
            )
        sheet = names[0]
    if sheet not in names:
        raise ImportRefused(f"There is no sheet “{sheet}”: choose one of {', '.join(names)}.", "sheet", names)
    rows_iter = workbook[sheet].iter_rows(values_only=True)
    first = next(rows_iter, None)
    headers = [_xlsx_cell(v).strip() for v in first] if first else []
    while headers and not headers[-1]:
        headers.pop()
    if not headers:
        workbook.close()
        raise ImportRefused(f"The sheet “{sheet}” is empty: its first row must name the columns.")

    def rows() -> Iterator[tuple[int, list[Any]]]:
        width = len(headers)
        try:
            for number, values in enumerate(rows_iter, start=HEADER_ROW + 1):
                cells = [_xlsx_cell(v) for v in values]
                while len(cells) > width and not cells[-1]:
                    cells.pop()
                if not any(c.strip() for c in cells):
                    continue
                cells += [""] * (width - len(cells))  # a spreadsheet row ends at its last filled cell
                yield number, cells
        finally:
            workbook.close()

    return Source("xlsx", headers, rows(), "", [f"Read the sheet “{sheet}” of the workbook."], names)


def _json_objects(fileobj: IO[bytes]) -> Iterator[Any]:
    """The items of a top-level JSON array, decoded one at a time from a buffer (never the whole file)."""
    text = io.TextIOWrapper(fileobj, encoding="utf-8-sig")
    decoder = json.JSONDecoder()
    buffer = ""
    eof = False

    def fill() -> bool:
        nonlocal buffer, eof
        if eof:
            return False
        chunk = text.read(1 << 16)
        if not chunk:
            eof = True
            return False
        buffer += chunk
        return True

    position = 0

    def skip_space() -> None:
        nonlocal position, buffer
        while True:
            while position < len(buffer) and buffer[position] in " \t\r\n":
                position += 1
            if position < len(buffer) or not fill():
                return

    try:
        skip_space()
        if position >= len(buffer) or buffer[position] != "[":
            raise ImportRefused("A JSON file must hold a list of objects: [{…}, {…}].")
        position += 1
        skip_space()
        if position < len(buffer) and buffer[position] == "]":
            return
        while True:
            skip_space()
            while True:
                try:
                    item, end = decoder.raw_decode(buffer, position)
                    if end == len(buffer) and fill():
                        continue  # a number might go on in the next chunk
                    break
                except json.JSONDecodeError:
                    if not fill():
                        raise
            yield item
            buffer, position = buffer[end:], 0
            skip_space()
            if position >= len(buffer):
                raise ImportRefused("The JSON list is not closed: the file is cut short.")
            if buffer[position] == "]":
                return
            if buffer[position] != ",":
                raise ImportRefused("The JSON list is malformed: a comma or ] is missing between objects.")
            position += 1
    except json.JSONDecodeError as exc:
        raise ImportRefused(f"The file is not valid JSON: {exc.msg}.") from None
    except UnicodeDecodeError:
        raise ImportRefused("A JSON file must be UTF-8 text.") from None


def _json_cell(value: Any) -> Any:
    if value is None or isinstance(value, list):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value)
    return value if isinstance(value, int) else str(value)


def _flatten(item: dict[str, Any]) -> dict[str, Any]:
    """An API representation's `custom` object becomes one `custom.<name>` column per value."""
    flat = {k: v for k, v in item.items() if k != "custom"}
    custom = item.get("custom")
    if isinstance(custom, dict):
        flat.update({f"custom.{k}": v for k, v in custom.items()})
    elif "custom" in item:
        flat["custom"] = custom
    return flat


def _open_json(fileobj: IO[bytes]) -> Source:
    items = _json_objects(fileobj)
    first = next(items, None)
    if first is None:
        raise ImportRefused("The file is empty: the JSON list holds no objects.")
    if not isinstance(first, dict):
        raise ImportRefused("A JSON file must hold a list of objects: [{…}, {…}].")
    first = _flatten(first)
    headers = list(first)

    def rows() -> Iterator[tuple[int, list[Any]]]:
        index = {h: i for i, h in enumerate(headers)}
        item: Any = first
        number = 1
        while True:
            number += 1
            if not isinstance(item, dict):
                yield number, [ValueError("This item is not a JSON object.")]
            else:
                item = _flatten(item) if item is not first else item
                cells: list[Any] = [MISSING] * len(headers)
                extra = [k for k in item if k not in index]
                for key, value in item.items():
                    if key in index:
                        cells[index[key]] = _json_cell(value)
                if extra:
                    cells.append(ValueError(f"Keys not in the first object: {', '.join(extra)}."))
                yield number, cells
            item = next(items, None)
            if item is None:
                return

    return Source("json", headers, rows(), "UTF-8", ["Read as a JSON list of objects (object 1 is row 2)."])


# --- columns ----------------------------------------------------------------------------------------------------


def _norm(text: str) -> str:
    return " ".join(str(text).replace("_", " ").replace("*", "").split()).casefold()


@dataclass
class Column:
    index: int
    header: str
    kind: str  # field | custom | status | skip
    name: str = ""  # the model field, or the custom field's name
    model_field: Any = None
    definition: Any = None


def importable_fields(record_type: RecordType) -> list[str]:
    """The fields an import writes: the type's form fields (its children's rows are not imported)."""
    return [name for name in record_type.fields if not model_field_of(record_type.model, name).many_to_many]


def match_columns(
    record_type: RecordType,
    headers: list[str],
    definitions: list[Any],
    mapping: Mapping[str, str] | None,
    report: Report,
) -> list[Column]:
    """Each header matched to a field by name or label (case-insensitive), or by `mapping` (header -> field name,
    "" to skip a column). Unknown and duplicate columns are problems of row 1; mapping errors refuse the file."""
    model = record_type.model
    targets: dict[str, tuple[str, str]] = {}  # normalised name or label -> (kind, name)
    for name in importable_fields(record_type):
        f = model_field_of(model, name)
        for alias in (name, str(f.verbose_name)):
            targets.setdefault(_norm(alias), ("field", name))
    lifecycle = record_type.lifecycle
    if lifecycle is not None:
        f = model_field_of(model, lifecycle.field)
        for alias in (lifecycle.field, str(f.verbose_name)):
            targets.setdefault(_norm(alias), ("status", lifecycle.field))
    for d in definitions:
        for alias in (f"custom.{d.name}", d.name, d.label):
            targets.setdefault(_norm(alias), ("custom", d.name))
    skipped = {_norm(n) for n in READ_ONLY_COLUMNS}
    for name, computed in record_type.computed.items():
        skipped |= {_norm(name), _norm(computed.label)}
    for child in record_type.children:  # rows edited with the record: not imported (its form and API write them)
        skipped |= {_norm(child.name), _norm(child.label or child.name)}
    for f in model._meta.concrete_fields:
        if f.name not in record_type.fields:
            skipped |= {_norm(f.name), _norm(str(f.verbose_name))}
    for f in model._meta.many_to_many:  # lists of records (an export's column): written by the form and the API
        skipped |= {_norm(f.name), _norm(str(f.verbose_name))}
    mapping = dict(mapping or {})
    unknown_keys = [h for h in mapping if h not in headers]
    if unknown_keys:
        raise ImportRefused(
            f"The mapping names columns that the file does not have: {', '.join(unknown_keys)}.", "mapping"
        )
    columns: list[Column] = []
    seen: dict[tuple[str, str], str] = {}
    skipped_headers = []
    for index, header in enumerate(headers):
        if header in mapping:
            wanted = (mapping[header] or "").strip()
            if not wanted:
                columns.append(Column(index, header, "skip"))
                report.columns[header] = ""
                continue
            target = targets.get(_norm(wanted))
            if target is None:
                raise ImportRefused(
                    f"The mapping sends “{header}” to “{wanted}”, which is not a field that can be imported.",
                    "mapping",
                )
        else:
            target = targets.get(_norm(header))
        if target is None:
            if _norm(header) in skipped or not header:
                columns.append(Column(index, header, "skip"))
                skipped_headers.append(header or f"column {index + 1}")
                report.columns[header] = ""
                continue
            report.add(
                HEADER_ROW,
                header,
                f"Unknown column: not a field of {record_type.verbose_name_plural}. Rename it, map it to a field or "
                "map it to nothing to leave it out.",
            )
            columns.append(Column(index, header, "skip"))
            continue
        kind, name = target
        if target in seen:
            report.add(HEADER_ROW, header, f"This column is for the same field as “{seen[target]}”.")
            columns.append(Column(index, header, "skip"))
            continue
        seen[target] = header
        column = Column(index, header, kind, name)
        if kind in ("field", "status"):
            column.model_field = model_field_of(model, name)
        else:
            column.definition = next(d for d in definitions if d.name == name)
        columns.append(column)
        report.columns[header] = f"custom.{name}" if kind == "custom" else name
    if skipped_headers:
        report.notes.append(f"Read-only columns left out: {', '.join(skipped_headers)}.")
    return columns


def key_fields(record_type: RecordType) -> list[tuple[str, str]]:
    """(name, label) of the fields an import matches existing records on (`update_on`): the id, the reference, and
    every importable field that is not a link (a link names no one record)."""
    model = record_type.model
    found = [("id", "ID")] + ([("reference", "Reference")] if hasattr(model, "reference") else [])
    for name in importable_fields(record_type):
        f = model_field_of(model, name)
        if not f.is_relation:
            found.append((name, str(f.verbose_name).capitalize()))
    return found


def available_targets(record_type: RecordType, definitions: list[Any]) -> list[tuple[str, str]]:
    """(field name, label) of every column an import can fill, for the mapping step."""
    model = record_type.model
    found = [(n, str(model_field_of(model, n).verbose_name).capitalize()) for n in importable_fields(record_type)]
    return found + [(f"custom.{d.name}", d.label) for d in definitions]


# --- values -----------------------------------------------------------------------------------------------------


def _unquote(text: str) -> str:
    """An exported cell that a spreadsheet would have run is quoted ('=…): the quote goes, the text stays text."""
    if len(text) > 1 and text[0] == "'" and text[1:].startswith(FORMULA_PREFIXES):
        return text[1:]
    return text


def parse_bool(text: str) -> bool:
    word = text.strip().casefold()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValidationError("Must be yes or no (also true/false, 1/0).")


def _choice(model_field: Any, text: str) -> Any:
    wanted = text.strip()
    for value, _label in model_field.flatchoices:
        if str(value) == wanted:
            return value
    folded = wanted.casefold()
    for value, label in model_field.flatchoices:
        if str(value).casefold() == folded or str(label).casefold() == folded:
            return value
    labels = ", ".join(str(label) for _, label in model_field.flatchoices[:20])
    raise ValidationError(f"“{wanted}” is not one of the choices: {labels}.")


def plain_value(model_field: Any, cell: Any) -> Any:
    """A non-link field's value from a cell; ValidationError with a message people understand."""
    if cell is None or (isinstance(cell, str) and not cell.strip()):
        if isinstance(model_field, models.BooleanField):
            return False
        if model_field.null:
            return None
        return "" if isinstance(model_field, models.CharField | models.TextField) else None
    if isinstance(model_field, models.JSONField) and isinstance(cell, list | dict):
        return cell  # a JSON file's list or object is the value itself (a clock metric's statuses)
    if isinstance(cell, list):
        raise ValidationError("Must be one value, not a list.")
    text = _unquote(str(cell)) if isinstance(cell, str) else str(cell)
    if model_field.choices:
        return _choice(model_field, text)
    if isinstance(model_field, models.BooleanField):
        return parse_bool(text)
    if isinstance(model_field, models.DateTimeField):
        moment = parse_datetime(text.strip().replace(" ", "T", 1))
        if moment is None:
            try:
                day = dt.date.fromisoformat(text.strip())
            except ValueError:
                raise ValidationError("Must be a date and time: YYYY-MM-DD HH:MM (ISO 8601).") from None
            moment = dt.datetime.combine(day, dt.time(0))
        return timezone.make_aware(moment) if timezone.is_naive(moment) else moment
    if isinstance(model_field, models.DateField):
        try:
            return dt.date.fromisoformat(text.strip()[:10] if "T" in text else text.strip())
        except ValueError:
            raise ValidationError("Must be a date: YYYY-MM-DD.") from None
    if isinstance(model_field, models.TimeField):
        try:
            return dt.time.fromisoformat(text.strip())
        except ValueError:
            raise ValidationError("Must be a time: HH:MM.") from None
    parser = _parsers.get((model_field.model._meta.label_lower, model_field.name))
    if isinstance(model_field, models.JSONField):
        try:
            return json.loads(text)
        except ValueError:
            pass
        try:  # as older exports wrote it (Python's notation of the value): literals only, never code
            return ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            if parser is None:
                raise ValidationError("Must be JSON.") from None
    if parser is not None:
        try:
            return parser(text)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
    if isinstance(model_field, models.CharField | models.TextField):
        return text.strip() if isinstance(model_field, models.CharField) else text
    return model_field.to_python(text.strip())


def custom_value(definition: Any, cell: Any, resolve_reference: Callable[[Any, Any], Any]) -> Any:
    """A custom field's value as its JSON form (what `custom_fields.clean_values` takes) from a cell."""
    from meridian.core.choices import CustomFieldType as T
    from meridian.core.custom_fields import REFERENCE_TYPES

    if cell is None or cell == "" or cell == []:
        return None
    if isinstance(cell, list):
        return cell
    text = _unquote(str(cell)).strip() if isinstance(cell, str) else cell
    kind = definition.type
    if kind == T.INTEGER:
        try:
            return int(str(text))
        except ValueError:
            raise ValidationError("Must be a whole number.") from None
    if kind == T.BOOLEAN:
        return parse_bool(str(text))
    if kind == T.MULTIPLE_CHOICE:
        return [part.strip() for part in str(text).replace(";", ",").split(",") if part.strip()]
    if kind in REFERENCE_TYPES:
        return resolve_reference(definition, text)
    return str(text)


# --- links: by reference, natural key or name -------------------------------------------------------------------


class Resolver:
    """Finds the records a link column names, among those the importer may see: by reference, by a unique field
    (natural key), by name (or email, or a person's full name), or by id; looked up once per distinct value, a
    batch at a time, case-insensitively. A name shared by several records is refused (narrowed first to the row's
    own organisation where the link must stay in it)."""

    CACHE_LIMIT = 100_000

    def __init__(self, model: type[models.Model], actor: Any) -> None:
        self.model = model
        self.queryset = policy.restrict(model._default_manager.all(), actor, VIEW)
        names = {f.name: f for f in model._meta.concrete_fields}
        self.keys: list[tuple[str, Any]] = []
        if "reference" in names:
            self.keys.append(("reference", Lower("reference")))
        for f in model._meta.concrete_fields:
            if f.unique and f.name not in ("id", "reference") and isinstance(f, models.CharField):
                self.keys.append((f.name, Lower(f.name)))
        for name in ("name", "email", "username"):
            if name in names and all(k != name for k, _ in self.keys):
                self.keys.append((name, Lower(name)))
        if "first_name" in names and "last_name" in names:
            self.keys.append(("full_name", Lower(Concat("first_name", models.Value(" "), "last_name"))))
        self.tenant_field = getattr(model, "TENANT_FIELD", None)
        self.cache: dict[str, list[tuple[int, int | None]]] = {}

    def _tenant_expr(self) -> Any:
        if self.tenant_field is None:
            return models.Value(None, output_field=models.IntegerField())
        return F(self.tenant_field)

    def prefetch(self, values: set[str]) -> None:
        wanted = {v.strip().casefold() for v in values if v.strip()} - set(self.cache)
        if not wanted:
            return
        if len(self.cache) > self.CACHE_LIMIT:
            self.cache.clear()
        found: dict[str, set[tuple[int, int | None]]] = {v: set() for v in wanted}
        if self.keys:
            annotations = {f"_k_{name}": expr for name, expr in self.keys}
            condition = Q()
            for name, _ in self.keys:
                condition |= Q(**{f"_k_{name}__in": list(wanted)})
            rows = (
                self.queryset.annotate(**annotations, _tenant=self._tenant_expr())
                .filter(condition)
                .values_list("pk", "_tenant", *annotations)
            )
            for pk, tenant, *keys in rows:
                for key in keys:
                    if key in found:
                        found[key].add((pk, tenant))
        ids = [int(v) for v in wanted if v.isdigit() and not found[v]]
        if ids:
            for pk, tenant in (
                self.queryset.annotate(_tenant=self._tenant_expr()).filter(pk__in=ids).values_list("pk", "_tenant")
            ):
                found[str(pk)].add((pk, tenant))
        self.cache.update({k: sorted(v, key=lambda t: t[0]) for k, v in found.items()})

    def by_id(self, pk: int) -> list[tuple[int, int | None]]:
        key = f"#{pk}"
        if key not in self.cache:
            self.cache[key] = list(
                self.queryset.annotate(_tenant=self._tenant_expr()).filter(pk=pk).values_list("pk", "_tenant")
            )
        return self.cache[key]

    def resolve(self, value: Any, tenant: int | None = None) -> tuple[int, int | None]:
        if isinstance(value, int) and not isinstance(value, bool):
            candidates = self.by_id(value)
        else:
            text = str(value).strip()
            key = text.casefold()
            if key not in self.cache:
                self.prefetch({text})
            candidates = self.cache.get(key, [])
        plural = self.model._meta.verbose_name_plural
        if not candidates:
            raise ValidationError(f"No {self.model._meta.verbose_name} “{value}” among the {plural} you may see.")
        if len(candidates) > 1 and tenant is not None:
            own = [c for c in candidates if c[1] == tenant]
            candidates = own or candidates
        if len(candidates) > 1:
            raise ValidationError(
                f"{len(candidates)} {plural} are called “{value}”: name it by its reference or id instead."
            )
        return candidates[0]


# --- the import -------------------------------------------------------------------------------------------------


@dataclass
class _Row:
    number: int
    cells: list[Any]
    values: dict[str, Any] = field(default_factory=dict)  # field name -> value (links as (pk, tenant))
    custom: dict[str, Any] | None = None
    status: Any = MISSING
    bad: bool = False
    skip: bool = False  # the row as a whole cannot be read (cells and header disagree)
    bad_columns: set[str] = field(default_factory=set)
    existing: Any = None
    obj: Any = None
    changes: dict[str, Any] = field(default_factory=dict)
    authorised_by: str = ""  # the change it cites, checked (`core.control`)


class Importer:
    def __init__(
        self,
        record_type: RecordType,
        source: Source,
        *,
        actor: Any,
        dry_run: bool,
        update_on: str | None = None,
        mapping: Mapping[str, str] | None = None,
        expected_versions: Mapping[str, int] | None = None,
        progress: Callable[[int], None] | None = None,
        reason: str = "",
        batch_size: int = BATCH_SIZE,
        authorised_by: str = "",
    ) -> None:
        from meridian.core import custom_fields

        self.rt = record_type
        self.model = record_type.model
        self.source = source
        self.actor = actor
        self.dry_run = dry_run
        self.expected = (
            {str(k): int(v) for k, v in (expected_versions or {}).items()} if expected_versions is not None else None
        )
        self.progress = progress
        self.reason = reason or f"import of {source.format.upper()} file"
        self.authorised_by = authorised_by  # the change the import cites for records under change control
        self.batch_size = batch_size
        self.report = Report(record_type.label, dry_run, encoding=source.encoding, notes=list(source.notes))
        self.definitions = custom_fields.definitions(record_type, actor) if record_type.custom_fields else []
        self.columns = match_columns(record_type, source.headers, self.definitions, mapping, self.report)
        self.key_field = self._key_field(update_on)
        self.key_column = (
            next((c for c in self.columns if c.kind == "field" and c.name == self.key_field), None)
            if self.key_field
            else None
        )
        if self.key_field == "id":
            self.key_column = next((c for c in self.columns if _norm(c.header) == "id"), None)
        elif self.key_field == "reference":
            self.key_column = next((c for c in self.columns if _norm(c.header) == "reference"), None)
        if self.key_field and self.key_column is None:
            raise ImportRefused(f"The file has no column for “{update_on}”, the key to match records on.", "update_on")
        self.resolvers: dict[str, Resolver] = {}
        for column in self.columns:
            if column.kind == "field" and column.model_field.is_relation:
                self.resolvers[column.name] = Resolver(column.model_field.related_model, actor)
        self.internal = functools.cache(services.internal_organisations)  # read once, if a link rule needs it
        self.unique_fields = [
            f.name
            for f in self.model._meta.concrete_fields
            if f.unique and f.name in record_type.fields and not f.is_relation
        ]
        # unique constraints on several fields (a location's name under its parent): checked a batch at a time like
        # the unique fields; any other constraint is validated row by row
        constraints = self.model._meta.constraints
        self.unique_sets: list[tuple[str, ...]] = [tuple(c.fields) for c in constraints if _batched(c)]  # type: ignore[attr-defined]
        self.row_constraints = any(not _batched(c) for c in constraints)
        self.seen_keys: dict[tuple[Any, ...], int] = {}
        self.missing_required: set[str] = set()  # said once for the file, not again on every row

    def _key_field(self, update_on: str | None) -> str | None:
        if not update_on:
            return None
        wanted = _norm(update_on)
        keys = key_fields(self.rt)
        for name, label in keys:
            if wanted in (_norm(name), _norm(label)):
                return name
        raise ImportRefused(
            f"“{update_on}” is not a field to match records on: use {', '.join(name for name, _ in keys[:-1])} or "
            f"{keys[-1][0]}.",
            "update_on",
        )

    # --- the run -------------------------------------------------------------------------------------------------

    def run(self) -> Report:
        require_import(self.rt, self.actor)
        self._check_required_columns()
        if self.dry_run:
            self._pass()
            return self.report
        with transaction.atomic():
            self._pass()
            if self.report.ok:
                self.report.committed = True
            else:
                transaction.set_rollback(True)
                self.report.created = self.report.updated = 0
        return self.report

    def _check_required_columns(self) -> None:
        if self.key_field:
            return  # rows that match existing records need only the columns they change
        given = {c.name for c in self.columns if c.kind == "field"}
        for name in importable_fields(self.rt):
            f = model_field_of(self.model, name)
            if name not in given and not f.blank and not f.has_default() and not f.null:
                self.missing_required.add(name)
                self.report.add(
                    HEADER_ROW,
                    "",
                    f"A column for “{str(f.verbose_name).capitalize()}” is required: every new record needs it.",
                )

    def _pass(self) -> None:
        batch: list[_Row] = []
        for number, cells in self.source.rows:
            batch.append(_Row(number, cells))
            if len(batch) >= self.batch_size:
                self._batch(batch)
                batch = []
        if batch:
            self._batch(batch)

    def _batch(self, rows: list[_Row]) -> None:
        width = len(self.source.headers)
        for row in rows:
            self.report.rows += 1
            if row.cells and isinstance(row.cells[-1], ValueError):
                self._problem(row, "", str(row.cells.pop()))
                row.skip = not row.cells
            if self.source.format == "csv" and len(row.cells) != width:
                extra = row.cells[width:]
                if len(row.cells) < width or any(str(c).strip() for c in extra):
                    self._problem(
                        row,
                        "",
                        f"This row has {len(row.cells)} cells and the header {width}: check its separators and quotes.",
                    )
                    row.skip = True
                    continue
            if self.source.format == "xlsx" and len(row.cells) > width:
                self._problem(row, "", f"This row has values beyond the last named column ({width} columns).")
                row.skip = True
                continue
            self._parse(row)
        self._prefetch_links(rows)
        self._match(rows)
        for row in rows:
            if not row.skip:
                self._build(row)
        self._check_unique(rows)
        self._check_unique_sets(rows)
        good = [row for row in rows if not row.bad and row.obj is not None]
        for row in good:
            if row.existing is None:
                self.report.created += 1
            elif row.changes:
                self.report.updated += 1
            else:
                self.report.unchanged += 1
        if not self.dry_run and self.report.ok:
            self._write(good)
        if self.progress:
            self.progress(self.report.rows)

    def _problem(self, row: _Row, column: str, message: str) -> None:
        row.bad = True
        if column in row.bad_columns:
            return  # one problem per cell: the first says it
        row.bad_columns.add(column)
        self.report.add(row.number, column, message)

    def _cell(self, row: _Row, column: Column) -> Any:
        return row.cells[column.index] if column.index < len(row.cells) else MISSING

    def _parse(self, row: _Row) -> None:
        for column in self.columns:
            if column.kind == "skip":
                continue
            cell = self._cell(row, column)
            if cell is MISSING:
                continue
            if column.kind == "status":
                row.status = cell
                continue
            if column.kind == "custom":
                try:
                    value = custom_value(column.definition, cell, self._custom_reference)
                except ValidationError as exc:
                    self._problem(row, column.header, " ".join(exc.messages))
                    continue
                row.custom = {**(row.custom or {}), column.name: value}
                continue
            f = column.model_field
            if f.is_relation:
                if cell is None or (isinstance(cell, str) and not cell.strip()):
                    row.values[column.name] = None
                elif isinstance(cell, list | dict):
                    self._problem(row, column.header, "Must be one record's name, reference or id.")
                else:
                    row.values[column.name] = ("link", cell)
                continue
            try:
                row.values[column.name] = plain_value(f, cell)
            except ValidationError as exc:
                self._problem(row, column.header, " ".join(exc.messages))

    def _custom_reference(self, definition: Any, text: Any) -> Any:
        from meridian.core.custom_fields import reference_model

        model = reference_model(definition)
        if isinstance(text, int):
            return text
        resolver = self.resolvers.setdefault(f"custom.{definition.name}", Resolver(model, self.actor))
        return resolver.resolve(text)[0]

    def _prefetch_links(self, rows: list[_Row]) -> None:
        for name, resolver in self.resolvers.items():
            if name.startswith("custom."):
                continue
            values = {
                str(v[1])
                for row in rows
                if not row.skip
                for v in [row.values.get(name)]
                if isinstance(v, tuple) and not isinstance(v[1], int)
            }
            resolver.prefetch(values)

    def _key_value(self, row: _Row) -> Any:
        assert self.key_column is not None
        cell = self._cell(row, self.key_column)
        if self.key_field in ("id", "reference"):
            return None if cell in (MISSING, None, "") else str(cell).strip()
        value = row.values.get(self.key_field or "", MISSING)
        return None if value in (MISSING, None, "") else value

    def _match(self, rows: list[_Row]) -> None:
        """The existing record of each row (update-on), read in one query per batch; locked when committing."""
        if not self.key_field:
            return
        keys: dict[Any, list[_Row]] = {}
        for row in rows:
            if row.skip:
                continue
            key = self._key_value(row)
            if key is None:
                self._problem(row, self.key_column.header, "Empty: the key to match a record on is needed.")  # type: ignore[union-attr]
                continue
            folded = key.casefold() if isinstance(key, str) else key
            earlier = self.seen_keys.get(("key", folded))
            if earlier is not None:
                self._problem(row, self.key_column.header, f"Duplicate key: row {earlier} has the same.")  # type: ignore[union-attr]
                continue
            self.seen_keys[("key", folded)] = row.number
            keys.setdefault(folded, []).append(row)
        if not keys:
            return
        field_name = self.key_field
        queryset = self.model._default_manager.all()
        if field_name == "id":
            numbers = [k for k in keys if str(k).isdigit()]
            found = queryset.filter(pk__in=numbers)
            key_of: Callable[[Any], Any] = lambda obj: str(obj.pk)  # noqa: E731
        else:
            f = model_field_of(self.model, field_name)  # type: ignore[arg-type]
            if isinstance(f, models.CharField | models.TextField):
                found = queryset.annotate(_key=Lower(field_name)).filter(_key__in=[str(k) for k in keys])
                key_of = lambda obj: getattr(obj, field_name).casefold()  # noqa: E731
            else:
                found = queryset.filter(**{f"{field_name}__in": list(keys)})
                key_of = lambda obj: getattr(obj, field_name)  # noqa: E731
        if not self.dry_run:
            found = found.select_for_update()
        matched: dict[Any, list[Any]] = {}
        for obj in found:
            matched.setdefault(key_of(obj), []).append(obj)
        for key, key_rows in keys.items():
            objs = matched.get(key, [])
            for row in key_rows:
                if len(objs) > 1:
                    self._problem(
                        row,
                        self.key_column.header,  # type: ignore[union-attr]
                        f"{len(objs)} {self.rt.verbose_name_plural} have this {field_name}: it does not name one.",
                    )
                elif objs:
                    row.existing = objs[0]
                elif field_name in ("id", "reference"):
                    self._problem(row, self.key_column.header, f"No {self.rt.verbose_name} has this {field_name}.")  # type: ignore[union-attr]

    def _links_allowed(self, row: _Row, obj: Any, column_of: dict[str, Column], changed: set[str] | None) -> None:
        """The type's link rules, checked by the services' own rule (`services.links_to_check`, `link_refusal`) on
        the (pk, organisation) the resolvers found: a link the row does not name is checked only when the record
        moves to another organisation."""
        for name, rule in services.links_to_check(self.rt, changed).items():
            value = row.values.get(name, MISSING)
            if value is MISSING:
                if row.existing is None:
                    continue
                pk = getattr(obj, model_field_of(self.model, name).attname)
                if pk is None:
                    continue
                value = self.resolvers.setdefault(
                    name, Resolver(model_field_of(self.model, name).related_model, self.actor)
                ).by_id(pk)
                value = value[0] if value else None
            if value is None:
                continue
            refusal = services.link_refusal(rule, obj, name, value[1], self.internal)
            if refusal:
                self._problem(row, column_of[name].header if name in column_of else name, refusal)

    def _build(self, row: _Row) -> None:
        from meridian.core import custom_fields

        column_of = {c.name: c for c in self.columns if c.kind in ("field", "status")}
        tenant_link = self.rt.tenant_link
        # the row's own organisation first: it narrows the names of the other links to it
        tenant_hint = None
        if tenant_link and isinstance(row.values.get(tenant_link), tuple):
            try:
                row.values[tenant_link] = self.resolvers[tenant_link].resolve(row.values[tenant_link][1])
                tenant_hint = row.values[tenant_link][0]
            except ValidationError as exc:
                self._problem(row, column_of[tenant_link].header, " ".join(exc.messages))
                del row.values[tenant_link]
        elif self.rt.tenant_field == "id" and row.existing is not None:
            tenant_hint = row.existing.pk
        elif tenant_link and row.existing is not None:
            tenant_hint = row.existing.tenant_id
        for name, value in list(row.values.items()):
            if isinstance(value, tuple) and value[0] == "link":
                try:
                    row.values[name] = self.resolvers[name].resolve(value[1], tenant_hint)
                except ValidationError as exc:
                    self._problem(row, column_of[name].header, " ".join(exc.messages))
                    del row.values[name]
        if row.bad and self.key_field and row.existing is None:
            return  # which record the row is about is not known: its other checks would mislead
        existing = row.existing
        if existing is not None:
            if not policy.can(self.actor, CHANGE, existing):
                self._problem(row, self.key_column.header if self.key_column else "", f"You may not change {existing}.")
                return
            expected = self.expected.get(str(existing.pk)) if self.expected is not None else None
            if self.expected is not None and expected is None:
                self._problem(row, "", f"{existing} was not matched by the dry run: check the file again.")
                return
            if expected is not None and existing.version != expected:
                self._problem(
                    row,
                    "",
                    f"{existing} was changed since the dry run (version {expected} then, {existing.version} now, by "
                    f"{existing.updated_by or 'someone'}): not overwritten. Check the file again.",
                )
                return
            self.report.versions[str(existing.pk)] = existing.version
            obj = existing
            before = audit.snapshot(obj)
            stored_controlled = control.controlled_records(self.rt.control, obj) if self.rt.control else []
        else:
            if not policy.can(self.actor, ADD, self.model):
                self._problem(row, "", f"You may not add {self.rt.verbose_name_plural}: no record matches this row.")
                return
            obj = self.model()
            obj.created_by = obj.updated_by = self.actor
            before = {}
            stored_controlled = None
        for name, value in row.values.items():
            f = model_field_of(self.model, name)
            if f.is_relation:
                setattr(obj, f.attname, None if value is None else value[0])
            else:
                setattr(obj, name, value)
        # the lifecycle: a status column may only say the status the record has (or a new record starts with)
        lifecycle = self.rt.lifecycle
        if lifecycle is not None and row.status is not MISSING and row.status not in (None, ""):
            f = model_field_of(self.model, lifecycle.field)
            current = getattr(obj, lifecycle.field)
            try:
                wanted = _choice(f, str(row.status))
            except ValidationError as exc:
                self._problem(row, column_of[lifecycle.field].header, " ".join(exc.messages))
                wanted = current
            if wanted != current:
                shown = dict(f.flatchoices).get(current, current)
                self._problem(
                    row,
                    column_of[lifecycle.field].header,
                    "The status changes only through its actions: "
                    f"{'this record is' if existing else 'a new record starts as'} “{shown}”.",
                )
        # tenancy: the importer's own organisation only (a customer), and the type's link rules
        if not policy.in_tenancy(self.actor, obj):
            header = column_of[tenant_link].header if tenant_link in column_of else ""
            self._problem(row, header, "Not an organisation of yours.")
            return
        changed = None if existing is None else set(audit.diff(before, audit.snapshot(obj)))
        self._links_allowed(row, obj, column_of, changed)
        for name, value in row.values.items():
            f = model_field_of(self.model, name)
            if f.is_relation and value is None and not f.null:
                self._problem(row, column_of[name].header, "This field is required.")
        errors: dict[str, list[str]] = {}
        if self.rt.custom_fields and (self.definitions or row.custom):
            try:
                obj.custom = custom_fields.clean_values(
                    self.rt, obj, row.custom or {}, actor=self.actor, existing=obj.custom if existing else None
                )
            except ValidationError as exc:
                errors.update(exc.message_dict)
        exclude = {"reference", "created_by", "updated_by", "custom"}
        exclude |= {f.name for f in self.model._meta.concrete_fields if f.is_relation}
        try:
            obj.clean_fields(exclude=exclude)
        except ValidationError as exc:
            errors.update(exc.message_dict)
        if not errors:
            try:
                obj.clean()
                if self.rt.validate is not None:
                    self.rt.validate(obj, self.actor)
                if self.row_constraints:
                    obj.validate_constraints()
            except ValidationError as exc:
                errors.update(exc.message_dict)
        header_of = {c.name: c.header for c in self.columns if c.kind != "skip"}
        for name, messages in errors.items():
            if name in self.missing_required:
                row.bad = True
                continue
            if name.startswith("custom."):
                column = header_of.get(name.removeprefix("custom."), name)
            else:
                column = header_of.get(name, "" if name == "__all__" else name)
            self._problem(row, column, " ".join(messages))
        if row.bad:
            return
        if existing is not None:
            row.changes = audit.diff(before, audit.snapshot(obj))
        if existing is None or row.changes:  # change control (`core.control`): the change the import cites
            try:
                row.authorised_by = control.authorise(
                    self.rt, obj, row.changes if existing else None, self.authorised_by, self.actor, stored_controlled
                )
            except ValidationError as exc:
                self._problem(row, "", " ".join(exc.messages))
                return
        row.obj = obj

    def _check_unique(self, rows: list[_Row]) -> None:
        """Unique fields: no two rows of the file alike, and none like another record in the database (one query
        per field and batch)."""
        for name in self.unique_fields:
            header = next((c.header for c in self.columns if c.name == name and c.kind == "field"), name)
            wanted: dict[Any, _Row] = {}
            for row in rows:
                if row.obj is None or row.bad or (row.existing is not None and name not in row.changes):
                    continue
                value = getattr(row.obj, name)
                if value in (None, ""):
                    continue
                folded = value.casefold() if isinstance(value, str) else value
                earlier = self.seen_keys.get((name, folded))
                if earlier is not None and earlier != row.number:
                    self._problem(
                        row, header, f"Row {earlier} has the same {model_field_of(self.model, name).verbose_name}."
                    )
                    continue
                self.seen_keys[(name, folded)] = row.number
                wanted[value] = row
            if not wanted:
                continue
            taken = self.model._default_manager.filter(**{f"{name}__in": list(wanted)}).values_list(name, "pk")
            for value, pk in taken:
                row = wanted[value]
                if row.existing is None or row.existing.pk != pk:
                    self._problem(
                        row,
                        header,
                        f"{self.rt.verbose_name.capitalize()} with this "
                        f"{model_field_of(self.model, name).verbose_name} already exists.",
                    )
                    row.obj = None

    def _check_unique_sets(self, rows: list[_Row]) -> None:
        """Unique constraints on several fields, as the database sees them (exact values; a row with an empty one
        is never a duplicate): no two rows of the file alike, none like another record (one query per batch)."""
        for fields in self.unique_sets:
            attnames = [model_field_of(self.model, name).attname for name in fields]
            wanted: dict[tuple[Any, ...], _Row] = {}
            for row in rows:
                if row.obj is None or row.bad or (row.existing is not None and not set(fields) & set(row.changes)):
                    continue
                values = tuple(getattr(row.obj, name) for name in attnames)
                if None in values:
                    continue
                earlier = self.seen_keys.get((fields, *values))
                if earlier is not None and earlier != row.number:
                    labels = [str(model_field_of(self.model, name).verbose_name) for name in fields]
                    self._problem(row, "", f"Row {earlier} has the same {', '.join(labels[:-1])} and {labels[-1]}.")
                    row.obj = None
                    continue
                self.seen_keys[(fields, *values)] = row.number
                wanted[values] = row
            if not wanted:
                continue
            first = attnames[0]
            taken = self.model._default_manager.filter(**{f"{first}__in": {v[0] for v in wanted}})
            for *values, pk in taken.values_list(*attnames, "pk"):
                row = wanted.get(tuple(values))  # type: ignore[assignment]
                if row is not None and (row.existing is None or row.existing.pk != pk):
                    self._problem(row, "", " ".join(row.obj.unique_error_message(self.model, fields).messages))
                    row.obj = None

    # --- writing -------------------------------------------------------------------------------------------------

    def _write(self, rows: list[_Row]) -> None:
        now = timezone.now()
        new = [row for row in rows if row.existing is None]
        changed = [row for row in rows if row.existing is not None and row.changes]
        if new:
            if self.model.REFERENCE_PREFIX:
                by_prefix: dict[str, list[_Row]] = {}
                for row in new:  # one prefix per type, or per kind (`Record.reference_prefix`)
                    by_prefix.setdefault(row.obj.reference_prefix(), []).append(row)
                for prefix, prefixed in by_prefix.items():
                    references = allocate_references(prefix, len(prefixed), self.model.REFERENCE_WIDTH)
                    for row, reference in zip(prefixed, references, strict=True):
                        row.obj.reference = reference
            for row in new:
                row.obj.created_at = row.obj.updated_at = now
            self.model._default_manager.bulk_create([row.obj for row in new], batch_size=self.batch_size)
        if changed:
            names: set[str] = {"version", "updated_by", "updated_at"}
            for row in changed:
                row.obj.version += 1
                row.obj.updated_by = self.actor
                row.obj.updated_at = now
                names |= {name.split(".")[0] for name in row.changes}
            concrete = {f.name for f in self.model._meta.concrete_fields}
            self.model._default_manager.bulk_update(
                [row.obj for row in changed], sorted(names & concrete), batch_size=self.batch_size
            )
        written = [*new, *changed]
        for row in new:
            row.changes = audit.diff({}, audit.snapshot(row.obj))
        # the linked records a record's name shows (a location's parent): one query per link and batch, not per row
        links = [c.name for c in self.columns if c.kind == "field" and c.model_field.is_relation]
        models.prefetch_related_objects([row.obj for row in written], *links)
        events = [
            audit.new_event(
                action=AuditAction.CREATE if row.existing is None else AuditAction.UPDATE,
                obj=row.obj,
                actor=self.actor,
                changes=row.changes,
                reason=self.reason,
                authorised_by=row.authorised_by,
            )
            for row in written
        ]
        if self.rt.after_save:
            for row in written:
                self.rt.after_save(row.obj, self.actor, row.changes)
        audit.record_events(events)


def _batched(constraint: Any) -> bool:
    """A unique constraint on plain fields: the import checks it a batch at a time (`_check_unique_sets`)."""
    return (
        isinstance(constraint, models.UniqueConstraint)
        and len(constraint.fields) > 1
        and not constraint.expressions
        and constraint.condition is None
        and constraint.nulls_distinct is not False
    )


def allocate_references(prefix: str, count: int, width: int = 6) -> list[str]:
    """`count` new references of a prefix at once (one UPDATE of the sequence row, held until commit)."""
    if not connection.in_atomic_block:
        raise RuntimeError("references are allocated inside the creating transaction")
    first = services.next_reference(prefix, width)  # creates the sequence row if needed, and locks it
    Sequence.objects.filter(prefix=prefix).update(last_value=F("last_value") + count - 1)
    start = int(first.rsplit("-", 1)[1])
    return [f"{prefix}-{n:0{width}d}" for n in range(start, start + count)]


def run(
    record_type: RecordType,
    source: Source,
    *,
    actor: Any,
    dry_run: bool,
    update_on: str | None = None,
    mapping: Mapping[str, str] | None = None,
    expected_versions: Mapping[str, int] | None = None,
    progress: Callable[[int], None] | None = None,
    batch_size: int = BATCH_SIZE,
    authorised_by: str = "",
) -> Report:
    """Check (`dry_run=True`) or import a file opened by `open_source`: see the module's docstring. Raises
    ImportRefused for a file that cannot be read, PermissionDenied when the actor may not add (or change) records
    of the type; every other problem is in the report, and a commit with problems writes nothing. `authorised_by`:
    the change the import cites for the records under change control it writes (`core.control`)."""
    importer = Importer(
        record_type,
        source,
        actor=actor,
        dry_run=dry_run,
        update_on=update_on,
        mapping=mapping,
        expected_versions=expected_versions,
        progress=progress,
        batch_size=batch_size,
        authorised_by=authorised_by,
    )
    return importer.run()


def may_import(record_type: RecordType, actor: Any) -> bool:
    """Importing needs the permission to add records of the type (updates also need CHANGE on each record)."""
    return policy.can(actor, ADD, record_type.model)


def require_import(record_type: RecordType, actor: Any) -> None:
    if not may_import(record_type, actor):
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied(
            f"Your roles do not allow adding {record_type.verbose_name_plural}, so no import either."
        )


def find_type(name: str) -> RecordType:
    """A record type by label (`core.person`), model name (`person`) or plural (`people`)."""
    wanted = _norm(name)
    for rt in registry.all_types():
        if wanted in {_norm(rt.label), _norm(rt.model_name), _norm(rt.url_slug), _norm(rt.verbose_name_plural)}:
            return rt
    raise LookupError(f"No record type “{name}”: one of {', '.join(sorted(rt.label for rt in registry.all_types()))}.")


# --- import jobs: the page's and the API's two steps (check, then commit), and the background task ---------------


def _storage() -> Any:
    from meridian.core.models import attachment_storage

    return attachment_storage()


@contextlib.contextmanager
def _local_copy(name: str) -> Iterator[IO[bytes]]:
    """A stored file copied to a local temporary file: the commit's transaction (holding its locks) then reads no
    remote storage (an S3 bucket) while it runs."""
    with tempfile.TemporaryFile() as local:
        with _storage().open(name, "rb") as stored:
            shutil.copyfileobj(stored, local, 1 << 20)
        local.seek(0)
        yield local


def _hash(fileobj: IO[bytes]) -> str:
    import hashlib

    digest = hashlib.sha256()
    fileobj.seek(0)
    while chunk := fileobj.read(1 << 20):
        digest.update(chunk)
    fileobj.seek(0)
    return digest.hexdigest()


def _options(
    update_on: str | None, sheet: str | None, mapping: Mapping[str, str] | None, authorised_by: str = ""
) -> dict[str, Any]:
    return {
        "update_on": update_on or "",
        "sheet": sheet or "",
        "mapping": dict(mapping or {}),
        "authorised_by": authorised_by or "",
    }


def save_upload(record_type: RecordType, fileobj: IO[bytes], file_name: str, *, actor: Any) -> Any:
    """Keep an uploaded file as a new ImportJob (its id is the token of the later steps), in the attachments
    storage. Refuses an empty or too large file at once (ImportRefused), and an importer without ADD."""
    from django.core.files import File

    from meridian.core.models import ImportJob

    require_import(record_type, actor)
    check_size(fileobj)
    job = ImportJob(
        record_type=record_type.label,
        created_by=actor,
        file_name=(file_name or "upload")[:255],
        sha256=_hash(fileobj),
        status=ImportJob.Status.UPLOADED,
    )
    job.file = _storage().save(f"imports/{job.pk}", File(fileobj, name=str(job.pk)))
    job.save()
    return job


def check_job(
    job: Any,
    *,
    actor: Any,
    update_on: str | None = None,
    sheet: str | None = None,
    mapping: Mapping[str, str] | None = None,
    authorised_by: str = "",
) -> Report:
    """The dry run of a job's file with these options; the report (with the versions read) is kept on the job, which
    is then ready to commit. ImportRefused (the file cannot be read with these options) leaves it as uploaded."""
    from meridian.core.models import ImportJob

    record_type = type_of(job)
    with _storage().open(job.file, "rb") as fileobj:
        source = open_source(fileobj, job.file_name, sheet=sheet)
        report = run(
            record_type,
            source,
            actor=actor,
            dry_run=True,
            update_on=update_on,
            mapping=mapping,
            authorised_by=authorised_by,
        )
    job.options = _options(update_on, sheet, mapping, authorised_by)
    job.status = ImportJob.Status.CHECKED
    job.total_rows = report.rows
    job.report = report.as_dict(with_versions=True)
    job.save(update_fields=["options", "status", "total_rows", "report"])
    return report


def check_file(
    record_type: RecordType,
    fileobj: IO[bytes],
    file_name: str,
    *,
    actor: Any,
    update_on: str | None = None,
    sheet: str | None = None,
    mapping: Mapping[str, str] | None = None,
    authorised_by: str = "",
) -> tuple[Any, Report]:
    """`save_upload` and `check_job` at once (the API's dry run). A file that cannot be read is not kept."""
    job = save_upload(record_type, fileobj, file_name, actor=actor)
    try:
        return job, check_job(
            job, actor=actor, update_on=update_on, sheet=sheet, mapping=mapping, authorised_by=authorised_by
        )
    except BaseException:
        discard_file(job)
        job.delete()
        raise


def type_of(job: Any) -> RecordType:
    return next(rt for rt in registry.all_types() if rt.label == job.record_type)


def job_for(token: Any, record_type: RecordType, actor: Any) -> Any:
    """The import job of a dry-run token, if it is the actor's own, of this type, and still to commit."""
    import uuid

    from meridian.core.models import ImportJob

    try:
        pk = uuid.UUID(str(token))
    except ValueError:
        return None
    return ImportJob.objects.filter(pk=pk, created_by=actor, record_type=record_type.label).first()


def commit_job(job: Any, *, actor: Any) -> Report:
    """Import the file of a checked job (its dry run's versions compared), recording progress and the report on
    the job; the file is removed once the import is done or refused."""
    from django.core.cache import cache

    from meridian.core.models import ImportJob

    record_type = type_of(job)
    options = job.options or {}
    expected = (job.report or {}).get("versions", {})
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.RUNNING, done_rows=0)
    key = f"meridian:import:{job.pk}"

    def progress(rows: int) -> None:
        with contextlib.suppress(Exception):  # progress is a courtesy; the import goes on without it
            cache.set(key, rows, 3600)

    try:
        with _local_copy(job.file) as fileobj:
            source = open_source(fileobj, job.file_name, sheet=options.get("sheet") or None)
            report = run(
                record_type,
                source,
                actor=actor,
                dry_run=False,
                update_on=options.get("update_on") or None,
                mapping=options.get("mapping") or None,
                expected_versions=expected,
                progress=progress,
                authorised_by=options.get("authorised_by") or "",
            )
    except ImportRefused as exc:
        report = Report(record_type.label, False)
        report.add(0, "", exc.message)
    job.status = ImportJob.Status.DONE if report.committed else ImportJob.Status.FAILED
    job.report = report.as_dict()
    job.done_rows = report.rows
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "report", "done_rows", "finished_at"])
    discard_file(job)
    cache.delete(key)
    return report


def job_progress(job: Any) -> int:
    """Rows done of a running job (from the cache the task writes to, outside its transaction when it can)."""
    from django.core.cache import cache

    if job.status == job.Status.RUNNING:
        try:
            return int(cache.get(f"meridian:import:{job.pk}") or 0)
        except Exception:  # noqa: BLE001
            return 0
    return job.done_rows


def discard_file(job: Any) -> None:
    if job.file:
        try:
            _storage().delete(job.file)
        finally:
            type(job).objects.filter(pk=job.pk).update(file="")
            job.file = ""


def purge_jobs(older_than: dt.timedelta = dt.timedelta(days=1)) -> int:
    """Forget dry runs never committed and their files after a day (the periodic task)."""
    from meridian.core.models import ImportJob

    stale = ImportJob.objects.filter(created_at__lt=timezone.now() - older_than).exclude(
        status=ImportJob.Status.RUNNING
    )
    count = 0
    for job in stale.exclude(file="").iterator():  # done and refused imports have no file left
        discard_file(job)
        count += 1
    stale.filter(status__in=[ImportJob.Status.UPLOADED, ImportJob.Status.CHECKED]).delete()
    return count
