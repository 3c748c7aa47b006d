"""Configuration audits: the CMDB compared with discovered reality and with its own audit trail.

**The discovered data** (`ConfigurationAudit.discovered_data`) is what a discovery tool exports, uploaded as a file
(`discovered_file` on the form and in a multipart API body, `core.uploads`: UTF-8 or Windows-1252 text, at most
`MERIDIAN_IMPORT_MAX_SIZE`) or pasted as text:

- CSV with a header row (separator `,`, `;` or tab), or JSON: a list of objects (or `{"items": [...]}`) whose
  values are text, numbers, booleans or null;
- one column is the **key** (`ConfigurationAudit.key_field`): `reference`, `name`, or the name of a CI attribute
  (a custom field of CIs such as `serial_number` or `netbox_id`); every row must have one, and no two rows the
  same;
- the other columns are CI attributes, by name or label (`ci_version` or “Version number”, `status`, `location`,
  `serial_number` ...). An empty cell says nothing (the tool did not see that value) and is not compared.

Anything else (an unknown column, an empty or repeated key, a row longer than the header, a nested JSON value,
more than `MAX_ROWS` rows) refuses the audit with a message per row and column, and nothing is written.

**Findings** (`Finding`, one per fact, each with its own lifecycle):

- *missing*: a CI in the audit's scope whose key is not among the discovered rows;
- *not recorded*: a discovered row whose key matches no CI;
- *differs*: one per attribute of a matched CI whose recorded value (its value or its label, case-insensitive;
  numbers compared as numbers) is not the discovered one;
- *change without an authorising change*: an `update` or `transition` audit event of a controlled CI in scope
  (`ConfigurationItem.controlled`) in the audit's period whose `authorised_by` is empty (comments and files on the
  CI are not configuration changes and are left out).
"""

from __future__ import annotations

import csv
import decimal
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from meridian.cmdb import baselines
from meridian.cmdb.baselines import field_of as _field
from meridian.cmdb.choices import ConfigurationPolicy, FindingKind
from meridian.cmdb.models import ConfigurationAudit, ConfigurationItem, Finding
from meridian.core import audit, custom_fields, registry
from meridian.core.choices import AuditAction
from meridian.core.models import AuditEvent

MAX_ROWS = 100_000
FILE_ENDINGS = (".csv", ".json", ".txt", ".tsv")  # a discovery file (`discovered_file`, core.uploads)
MAX_ERRORS = 20
BUILT_IN_KEYS = ("reference", "name")
NOT_CONFIGURATION = {"comment", "attachments"}  # keys of events that are conversation or files, not configuration
# inputs of an audit: fixed once it has run
INPUTS = (
    "scope",
    "scope_ci",
    "scope_class",
    "scope_view",
    "key_field",
    "period_start",
    "period_end",
    "discovered_data",
)


def _definitions() -> dict[str, Any]:
    return {d.name: d for d in custom_fields.definitions(registry.get(ConfigurationItem))}


def key_field_error(key: str) -> str | None:
    if key in BUILT_IN_KEYS or key in _definitions():
        return None
    return "reference, name, or the name of a CI attribute (a custom field of CIs)."


@dataclass
class Column:
    header: str
    name: str  # a field of `baselines.FIELDS`, or a custom field's name
    label: str
    custom: bool = False


@dataclass
class Discovered:
    key: str
    columns: list[Column] = field(default_factory=list)
    rows: list[tuple[int, str, dict[str, str]]] = field(default_factory=list)  # (row number, key, {name: text})


def _attributes() -> dict[str, Column]:
    """Every name and label (case-insensitive) a column may have, to the attribute it names."""
    known: dict[str, Column] = {}
    for name in baselines.FIELDS:
        label = str(_field(name).verbose_name)
        column = Column(name, name, label[:1].upper() + label[1:])
        known[name.casefold()] = known[label.casefold()] = column
    known["class"] = known["ci_class"]
    known["version"] = known["ci_version"]
    for name, definition in _definitions().items():
        column = Column(name, name, str(definition.label), custom=True)
        known.setdefault(name.casefold(), column)
        known.setdefault(str(definition.label).casefold(), column)
    return known


def _records(text: str) -> tuple[list[str], Iterable[tuple[int, list[Any]]], list[str]]:
    """The header and the rows (numbered as a person counts them: the header is row 1 of a CSV, the first object
    row 1 of a JSON list) of CSV or JSON text; problems of the format itself."""
    stripped = text.strip()
    if stripped[:1] in "[{":
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            return [], [], [f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."]
        if isinstance(data, dict):
            data = data.get("items")
        if not isinstance(data, list):
            return [], [], ["JSON: a list of objects, or an object whose “items” is one."]
        header: list[str] = []
        problems = []
        for number, obj in enumerate(data, start=1):
            if not isinstance(obj, dict):
                problems.append(f"Row {number}: an object, not {type(obj).__name__}.")
                continue
            for name in obj:
                if name not in header:
                    header.append(name)
        rows = [(n, [obj.get(h) for h in header]) for n, obj in enumerate(data, start=1) if isinstance(obj, dict)]
        return header, rows, problems
    try:
        dialect: Any = csv.Sniffer().sniff(stripped.splitlines()[0], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(stripped), dialect)
    header = [h.strip() for h in next(reader, [])]
    return header, ((number, row) for number, row in enumerate(reader, start=2)), []


def parse_discovered(text: str, key: str) -> Discovered:
    """The discovered data, checked (see the module's docstring); ValidationError with one message per problem
    (at most `MAX_ERRORS`, then how many more)."""
    header, rows, problems = _records(text)
    known = _attributes()
    result = Discovered(key)
    key_at = None
    for index, name in enumerate(header):
        if name.casefold() == key.casefold():
            key_at = index
            continue
        column = known.get(name.casefold())
        if column is None:
            problems.append(f"Row 1, column “{name}”: not an attribute of CIs (nor the key “{key}”).")
        elif column.name == key:
            key_at = index
        elif any(c.name == column.name for c in result.columns):
            problems.append(f"Row 1, column “{name}”: {column.label} is there twice.")
        else:
            result.columns.append(Column(name, column.name, column.label, column.custom))
    if header and key_at is None:
        problems.append(f"Row 1: no column “{key}”, the key of this audit.")
    if not header:
        problems.append("No rows: the first row names the columns.")
    seen: dict[str, int] = {}
    attribute_at = [(index, c) for index, c in enumerate(header) if index != key_at]
    by_header = {c.header: c for c in result.columns}
    count = 0
    for number, cells in rows if key_at is not None else []:
        assert key_at is not None
        count += 1
        if count > MAX_ROWS:
            problems.append(f"More than {MAX_ROWS:,} rows: split the file.")
            break
        if len(cells) > len(header):
            problems.append(f"Row {number}: {len(cells)} cells, but the header names {len(header)} columns.")
            continue
        cells = list(cells) + [None] * (len(header) - len(cells))
        texts: list[str] = []
        for index, value in enumerate(cells):
            if isinstance(value, dict | list):
                problems.append(f"Row {number}, column “{header[index]}”: a text, number or boolean, not a list.")
                value = None
            texts.append("" if value is None else str(value).strip() if not isinstance(value, bool) else str(value))
        identity = texts[key_at]
        if not identity:
            problems.append(f"Row {number}, column “{header[key_at]}”: the key is empty.")
            continue
        folded = identity.casefold()
        if folded in seen:
            problems.append(
                f"Row {number}, column “{header[key_at]}”: “{identity}” is also the key of row {seen[folded]}."
            )
            continue
        seen[folded] = number
        values = {by_header[name].name: texts[i] for i, name in attribute_at if name in by_header and texts[i] != ""}
        result.rows.append((number, identity, values))
    if problems:
        shown = problems[:MAX_ERRORS]
        if len(problems) > MAX_ERRORS:
            shown.append(f"… and {len(problems) - MAX_ERRORS} more problems.")
        raise ValidationError(shown)
    return result


# --- running an audit --------------------------------------------------------------------------------------------


def _key_of(ci: ConfigurationItem, key: str) -> str:
    value = getattr(ci, key) if key in BUILT_IN_KEYS else (ci.custom or {}).get(key)
    return "" if value is None else str(value).strip()


def _keys(key: str) -> dict[str, int]:
    """Every CI's key (case-folded) to its id; the lowest id when several CIs share one."""
    found: dict[str, int] = {}
    if key in BUILT_IN_KEYS:
        pairs: Iterable[tuple[int, Any]] = ConfigurationItem.objects.order_by("-pk").values_list("pk", key)
    else:
        pairs = (
            (pk, (custom or {}).get(key))
            for pk, custom in ConfigurationItem.objects.filter(custom__has_key=key)
            .order_by("-pk")
            .values_list("pk", "custom")
        )
    for pk, value in pairs:
        if value not in (None, ""):
            found[str(value).strip().casefold()] = pk
    return found


def _number(text: str) -> decimal.Decimal | None:
    try:
        return decimal.Decimal(text)
    except (decimal.InvalidOperation, ValueError):
        return None


def _same(recorded: Iterable[str], discovered: str) -> bool:
    wanted = discovered.strip().casefold()
    for text in recorded:
        if text.strip().casefold() == wanted:
            return True
        a, b = _number(text), _number(discovered)
        if a is not None and b is not None and a == b:
            return True
    return False


def _recorded(ci: ConfigurationItem, column: Column, definitions: dict[str, Any], user: Any) -> tuple[list[str], str]:
    """The texts a recorded value matches (its value and its label) and the one to show."""
    if column.custom:
        value = (ci.custom or {}).get(column.name)
        definition = definitions.get(column.name)
        shown = custom_fields.shown_value(definition, value, user) if definition is not None else value
        texts = [] if value is None else [str(value), str(shown)]
        if isinstance(value, bool):
            texts += ["yes", "true", "1"] if value else ["no", "false", "0"]
        if isinstance(value, list):
            texts.append(", ".join(value))
        return texts, "" if shown is None else str(shown)
    value = getattr(ci, column.name)
    if value is None or value == "":
        return [], ""
    if _field(column.name).is_relation:
        return [str(value)], str(value)
    label = getattr(ci, f"get_{column.name}_display", lambda: value)()
    return [str(value), str(label)], str(label)


@dataclass
class _Made:
    audit: ConfigurationAudit
    actor: Any
    findings: list[Finding] = field(default_factory=list)

    def add(self, kind: str, summary: str, **values: Any) -> None:
        now = timezone.now()
        self.findings.append(
            Finding(
                audit=self.audit,
                kind=kind,
                summary=summary[:300],
                created_by=self.actor if getattr(self.actor, "pk", None) else None,
                updated_by=self.actor if getattr(self.actor, "pk", None) else None,
                created_at=now,
                updated_at=now,
                **values,
            )
        )


def _discovery_findings(made: _Made, discovered: Discovered, in_scope: list[int]) -> None:
    key = discovered.key
    keys = _keys(key)
    definitions = _definitions()
    matched: dict[int, tuple[int, str, dict[str, str]]] = {}
    for row in discovered.rows:
        number, identity, values = row
        pk = keys.get(identity.casefold())
        if pk is None:
            attributes = ", ".join(f"{name}={value}" for name, value in values.items())
            made.add(
                FindingKind.UNRECORDED,
                f"“{identity}” was discovered (row {number}) but is not in the CMDB.",
                key=identity,
                discovered=attributes,
            )
        else:
            matched[pk] = row
    for start in range(0, len(in_scope), baselines.BATCH):
        chunk = in_scope[start : start + baselines.BATCH]
        for ci in ConfigurationItem.objects.filter(pk__in=chunk).order_by("reference", "pk"):
            if ci.pk not in matched:
                made.add(
                    FindingKind.MISSING,
                    f"{ci.reference} {ci.name} is recorded but was not discovered.",
                    ci=ci,
                    key=_key_of(ci, key),
                )
    ids = sorted(matched)
    for start in range(0, len(ids), baselines.BATCH):
        chunk = ids[start : start + baselines.BATCH]
        for ci in ConfigurationItem.objects.filter(pk__in=chunk).select_related(*baselines.LINKED).order_by("pk"):
            _row, identity, values = matched[ci.pk]
            for column in discovered.columns:
                found = values.get(column.name)
                if found is None:
                    continue
                texts, shown = _recorded(ci, column, definitions, made.actor)
                if not _same(texts, found):
                    made.add(
                        FindingKind.DIFFERS,
                        f"{ci.reference} {ci.name}: {column.label} is “{shown}” in the CMDB, “{found}” discovered.",
                        ci=ci,
                        key=identity,
                        attribute=column.label,
                        recorded=shown,
                        discovered=found,
                    )


def controlled_ids(ids: list[int]) -> list[int]:
    """Those of the CIs that are controlled (`ConfigurationItem.controlled`, in one query per batch)."""
    controlled = Q(configuration_policy=ConfigurationPolicy.CONTROLLED) | Q(
        configuration_policy="", ci_class__configuration_policy=ConfigurationPolicy.CONTROLLED
    )
    found: list[int] = []
    for start in range(0, len(ids), baselines.BATCH):
        chunk = ids[start : start + baselines.BATCH]
        found += ConfigurationItem.objects.filter(controlled, pk__in=chunk).values_list("pk", flat=True)
    return sorted(found)


def unauthorised_events(ids: list[int], start: Any, end: Any) -> list[AuditEvent]:
    """Update and transition events of these CIs (the controlled ones) without an authorising change, in the
    period, oldest first; comments and files left out."""
    events = AuditEvent.objects.filter(
        record_type=registry.get(ConfigurationItem).label,
        action__in=[AuditAction.UPDATE, AuditAction.TRANSITION],
        authorised_by="",
    )
    if start is not None:
        events = events.filter(occurred_at__gte=start)
    if end is not None:
        events = events.filter(occurred_at__lte=end)
    found: list[AuditEvent] = []
    for offset in range(0, len(ids), baselines.BATCH):
        chunk = [str(pk) for pk in ids[offset : offset + baselines.BATCH]]
        found += events.filter(record_id__in=chunk).order_by()
    found.sort(key=lambda e: e.pk)
    return [e for e in found if _needed_authority(e)]


def _needed_authority(event: AuditEvent) -> bool:
    """Whether the write needed an authorising change under the CMDB's control rule (`cmdb.records.CI_CONTROL`):
    not for what is not configuration (comments, files, who owns and supports it, its description), nor for
    putting the CI under control."""
    rule = registry.get(ConfigurationItem).control
    exempt = rule.exempt if rule is not None else frozenset()
    names = {n.split(".")[0] for n in event.changes} - NOT_CONFIGURATION - exempt - {"action"}
    policy = (event.changes.get("configuration_policy") or {}).get("after")
    if names == {"configuration_policy"} and policy == ConfigurationPolicy.CONTROLLED:
        return False
    return bool(names)


def _change_labels(event: AuditEvent) -> str:
    names = [n for n in event.changes if n not in NOT_CONFIGURATION and n != "action"]
    definitions = _definitions()
    labels = []
    for name in names:
        if name.startswith("custom."):
            definition = definitions.get(name.removeprefix("custom."))
            labels.append(str(definition.label) if definition else name)
        else:
            try:
                labels.append(str(_field(name).verbose_name))
            except Exception:  # noqa: BLE001 - a key that is not a field
                labels.append(name)
    return ", ".join(labels)


def _trail_findings(made: _Made, in_scope: list[int]) -> None:
    audit_ = made.audit
    end = audit_.period_end or timezone.now()
    cis = ConfigurationItem.objects.in_bulk(controlled_ids(in_scope))
    for event in unauthorised_events(sorted(cis), audit_.period_start, end):
        ci = cis[int(event.record_id)]
        what = "status" if event.action == AuditAction.TRANSITION else _change_labels(event)
        when = timezone.localtime(event.occurred_at).strftime("%Y-%m-%d %H:%M")
        made.add(
            FindingKind.UNAUTHORISED,
            f"{ci.reference} {ci.name} is controlled: {what} changed by {event.actor_label} on {when} without an "
            "authorising change.",
            ci=ci,
            attribute=what,
            event_id=event.pk,
        )


def run_audit(configuration_audit: ConfigurationAudit, actor: Any, changes: dict[str, Any]) -> None:
    """`after_save` of a configuration audit. On its creation, in the creating transaction: the CIs in scope,
    the discovered data matched with them, the audit trail read, one finding per fact (bulk-inserted, each with its
    creation event). On a later edit: its inputs are fixed (a field error on each one changed)."""
    if configuration_audit.version != 1:
        fixed = {name: "Fixed once the audit has run: start a new audit." for name in INPUTS if name in changes}
        if fixed:
            raise ValidationError(fixed)
        return
    in_scope = baselines.ids_in_scope(configuration_audit, actor)
    made = _Made(configuration_audit, actor)
    discovered = getattr(configuration_audit, "_discovered", None)
    if discovered is None and configuration_audit.discovered_data.strip():
        discovered = parse_discovered(configuration_audit.discovered_data, configuration_audit.key_field)
    if discovered is not None:
        _discovery_findings(made, discovered, in_scope)
    _trail_findings(made, in_scope)
    Finding.objects.bulk_create(made.findings, batch_size=1000)
    audit.record_events(
        [
            audit.new_event(
                action=AuditAction.CREATE,
                obj=finding,
                actor=actor,
                changes=audit.diff({}, audit.snapshot(finding)),
                reason=f"found by {configuration_audit.reference}",
            )
            for finding in made.findings
        ]
    )
    counts = {"discovered_count": len(discovered.rows) if discovered else 0, "checked_count": len(in_scope)}
    ConfigurationAudit.objects.filter(pk=configuration_audit.pk).update(**counts)
    for name, value in counts.items():
        setattr(configuration_audit, name, value)
