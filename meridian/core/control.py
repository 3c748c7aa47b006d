"""Change control of records (ISO/IEC 20000-1 8.2.6 and 8.5.1): a write that touches a record under control must
cite an authorising record — an approved change that lists it — or it is refused and nothing is written.

A record type opts in with `RecordType(control=Control(touched=..., controlled=...))`: `touched(obj)` names the
records a write of `obj` touches (a configuration item itself; a relationship's two ends), `controlled(record)`
whether one is under control *as stored when the write begins* (putting a record under control needs no change;
taking it out does). The services check every channel's write (`services.create_record`, `update_record`,
`delete_record`, `transition`): pages, API, bulk actions and imports pass the reference the user cites as
`authorised_by`, which the audit event keeps.

Who may authorise is the business of change management: an `Authority` (set by the changes app when it loads)
answers whether a cited reference authorises a write of given records, which approved changes would, and where a
reference's page is. Without one, a controlled record cannot be changed at all — the check is never faked."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.core.exceptions import ValidationError
from django.db import models

FIELD = "authorised_by"
LABEL = "Authorising change"
MAX_LENGTH = 200


@dataclass(frozen=True)
class Control:
    """The change control of a record type (`RecordType.control`)."""

    touched: Callable[[Any], Iterable[Any]]  # the records a write of this one touches (itself, its two ends ...)
    controlled: Callable[[Any], bool]  # whether such a record is under change control
    # fields whose change needs no authorisation (who owns it, its free-text description)
    exempt: frozenset[str] = field(default_factory=frozenset)


class Authority(Protocol):
    """What change management answers to the control check (`meridian.changes.authority.ApprovedChanges`)."""

    def refusal(self, reference: str, records: list[Any], actor: Any) -> str | None:
        """Why the change `reference` does not authorise a write of `records` now (it does not exist, is not
        approved, does not list one of them), or None when it does."""

    def candidates(self, records: list[Any], actor: Any) -> list[str]:
        """The references of the approved changes that would authorise a write of all of `records` now."""

    def url(self, reference: str) -> str | None:
        """The page of the change `reference`, when there is one."""


_authority: list[Authority] = []


def set_authority(authority: Authority) -> None:
    """Called by the change management app when it loads (once)."""
    _authority[:] = [authority]


def authority() -> Authority | None:
    return _authority[0] if _authority else None


def _name(record: Any) -> str:
    reference = getattr(record, "reference", "")
    return f"{reference} “{record}”" if reference else f"“{record}”"


def controlled_records(control: Control, obj: Any, *, before: list[Any] | None = None) -> list[Any]:
    """The stored records under control that a write of `obj` touches (each once). What counts is what was stored
    when the write began: an update calls this once before setting its values, then again with that answer as
    `before`, which adds the records its new values touch (a relationship's new end) but not `obj` itself as
    changed. A record not stored yet is under no control."""
    found: dict[tuple[type, Any], Any] = {(type(r), r.pk): r for r in before or []}
    for record in control.touched(obj):
        key = (type(record), getattr(record, "pk", None))
        if record is None or key[1] is None or key in found:
            continue
        if before is not None and key == (type(obj), obj.pk):
            continue
        if control.controlled(record):
            found[key] = record
    return list(found.values())


def needs_authority(control: Control, changes: Mapping[str, Any] | None) -> bool:
    """Whether a write with these changes (None: a create or delete) needs an authorising change."""
    if changes is None:
        return True
    return any(name.split(".")[0] not in control.exempt for name in changes)


def check(records: list[Any], authorised_by: str, actor: Any) -> str:
    """The authorising reference of a write touching `records` (those under control): '' when none is needed and
    none was cited; else the cited reference, checked. Raises a `ValidationError` on `authorised_by` saying which
    change would be needed, and a cited reference is always checked (a wrong one is never recorded as authority)."""
    reference = (authorised_by or "").strip().upper()
    if not records and not reference:
        return ""
    judge = authority()
    if judge is None:
        if records:
            raise ValidationError(
                {
                    FIELD: f"{_names(records)} under change control, and no change management is installed to "
                    "authorise the edit."
                }
            )
        raise ValidationError({FIELD: "No change management is installed to check a cited change."})
    if not reference:
        cited = judge.candidates(records, actor)
        hint = (
            f" Approved changes that list {'it' if len(records) == 1 else 'them'}: {', '.join(cited)}."
            if cited
            else f" None lists {'it' if len(records) == 1 else 'them'} yet: raise a change that does and have it "
            "approved."
        )
        raise ValidationError(
            {
                FIELD: f"{_names(records)} under change control: cite an approved change that lists "
                f"{'it' if len(records) == 1 else 'them'}.{hint}"
            }
        )
    if len(reference) > MAX_LENGTH:
        raise ValidationError({FIELD: f"At most {MAX_LENGTH} characters."})
    refusal = judge.refusal(reference, records, actor)
    if refusal:
        raise ValidationError({FIELD: refusal})
    return reference


def authorise(
    record_type: Any,
    obj: Any,
    changes: Mapping[str, Any] | None,
    authorised_by: str,
    actor: Any,
    before: list[Any] | None = None,
) -> str:
    """The change control of one write of `obj` (every channel's, through the services and the import): the checked
    authorising reference ('' when none is needed and none was cited), or a `ValidationError` on `authorised_by`
    saying which change would be needed. `changes`: the write's changes (None: a create or delete); `before`: the
    controlled records as stored when an update began (computed before it set its values)."""
    rule = record_type.control
    if rule is None:
        if (authorised_by or "").strip():
            raise ValidationError(
                {
                    FIELD: f"{str(record_type.verbose_name_plural).capitalize()} are not under change control: leave "
                    "this empty."
                }
            )
        return ""
    records = controlled_records(rule, obj, before=before) if needs_authority(rule, changes) else []
    return check(records, authorised_by, actor)


def _names(records: list[Any]) -> str:
    shown = ", ".join(_name(r) for r in records[:5]) + (f" and {len(records) - 5} more" if len(records) > 5 else "")
    return f"{shown} {'is' if len(records) == 1 else 'are'}"


def form_field(rule: Control | None = None, obj: Any = None, user: Any = None) -> Any:
    """The "Authorising change" input of a form of a controlled type (edit, delete, actions, bulk edit). On the
    form of a record under control it says so, with the approved changes that list it."""
    from django import forms

    help_text = (
        "For an item under change control: the reference of an approved change that lists it (CHG-000123). "
        "Kept in the record's history."
    )
    records = controlled_records(rule, obj) if rule is not None and obj is not None and obj.pk else []
    if records:
        judge = authority()
        cited = judge.candidates(records, user) if judge is not None else []
        help_text = "Under change control: cite an approved change that lists it. " + (
            f"Approved changes that do: {', '.join(cited)}." if cited else "No approved change lists it yet."
        )
    return forms.CharField(label=LABEL, required=False, max_length=MAX_LENGTH, help_text=help_text)


def under_control(record_type: Any, obj: Any) -> bool:
    """Whether a write of this record needs an authorising change (its page asks for one)."""
    rule = getattr(record_type, "control", None)
    return rule is not None and bool(controlled_records(rule, obj))


def last_set(obj: models.Model, names: Iterable[str]) -> dict[str, Any]:
    """For each field (and `custom.<name>`) of a record, the audit event that last set it: {name: event}."""
    from meridian.core.models import AuditEvent

    wanted = set(names)
    found: dict[str, Any] = {}
    events = AuditEvent.objects.filter(record_type=obj._meta.label_lower, record_id=obj.pk).order_by("-id")
    for event in events.iterator():
        for name in event.changes or {}:
            if name in wanted and name not in found:
                found[name] = event
        if len(found) == len(wanted):
            break
    return found
