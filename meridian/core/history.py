"""History as people read it: the audit events of a record with every value named, never raw.

`readable_history(events, model, user)` gives each event `display_changes` (a list of `Change`: the field's
label, the value before and after as `Shown`) and, for a lifecycle action, `summary` ("Suspend") with the status
change. `ValueReader` names raw audit values (ids, lists, booleans, ISO times) for one record type and one reader,
with one query per linked type however many events: the conflict page (`changes_since`) uses it too.

How a value is shown, by what it is:
- a linked record (foreign key, many-to-many): its name as `policy.shown` gives it, with a link; "hidden" without
  a link when the reader may not see it; "deleted record" once it is gone; a login (the user model) by username;
- a list (many-to-many, roles): chips; roles by their label (`Role`);
- a choice by its label, a boolean as Yes/No, a date or time in the reader's format, a date and time in the
  reader's time zone;
- a field the type names in `RecordType.display_values` by its own formatter (a calendar's working hours);
- keys that are not fields (`roles`, `api_token`...): by `EXTRA_KEYS`, else as plain values.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Field, Model
from django.utils import dateparse, formats, timezone
from django.utils.text import capfirst

from meridian.core import actions, attachments, children, conversation, custom_fields, policy, registry
from meridian.core.choices import Role
from meridian.core.models import AuditEvent
from meridian.core.registry import VIEW

DELETED = "deleted record"


@dataclass
class Shown:
    """A value as a page shows it. `kind`: "empty", "text", "links" (one linked record or a list of them: each
    item (text, url), url empty when there is no page to go to) or "chips" (a list of plain values)."""

    kind: str = "empty"
    text: str = ""
    items: list[tuple[str, str]] = field(default_factory=list)
    many: bool = False  # a list of linked records (many-to-many): shown as chips

    def __str__(self) -> str:
        if self.kind in ("links", "chips"):
            return ", ".join(text for text, _ in self.items)
        return self.text

    @property
    def empty(self) -> bool:
        return self.kind == "empty"


EMPTY = Shown()


def _text(value: Any) -> Shown:
    if value is None or value == "" or value == [] or value == {}:
        return EMPTY
    if isinstance(value, bool):
        return Shown("text", "Yes" if value else "No")
    if isinstance(value, list):
        return Shown("chips", items=[(str(_text(v)), "") for v in value])
    if isinstance(value, dict):
        return Shown("text", "; ".join(f"{k}: {_text(v)}" for k, v in value.items()))
    return Shown("text", str(value))


def _roles(value: Any) -> Shown:
    labels = dict(Role.choices)
    values = value if isinstance(value, list) else [value]
    return Shown("chips", items=[(str(labels.get(v, v)), "") for v in values]) if values else EMPTY


# keys an event may carry that are not fields of the record: (label, how to show the value)
EXTRA_KEYS: dict[str, tuple[str, Callable[[Any], Shown]]] = {
    "roles": ("Roles", _roles),
    # a token created or revoked (`core.api_tokens`: its name, prefix and scope); "new"/"set" from before named tokens
    "api_token": ("API token", lambda v: _text({"new": "new token issued", "set": "a token"}.get(v, v))),
    "api_tokens_revoked": ("API tokens revoked", _text),
}


@dataclass
class Change:
    """One field of an event: its label and its value before and after."""

    name: str
    label: str
    before: Shown
    after: Shown
    plain: bool = False  # a value rather than a change (a count): shown alone
    # a list changed in place (a team's members): the items taken out and put in, shown instead of both lists
    removed: Shown | None = None
    added: Shown | None = None


class ValueReader:
    """Names the raw values of one record type's audit events for one reader. Call `want` for every value first,
    then `show`: linked records are fetched in one query per linked type."""

    def __init__(self, model: type[Model], user: Any) -> None:
        self.model = model
        self.user = user
        self._fields: dict[str, Field[Any, Any] | None] = {}
        self._wanted: dict[type[Model], set[Any]] = {}
        self._found: dict[type[Model], dict[Any, Model]] | None = None

    def field(self, name: str) -> Any:
        if name not in self._fields:
            try:
                self._fields[name] = self.model._meta.get_field(name)  # type: ignore[assignment]
            except FieldDoesNotExist:  # a field since removed, or not a field (a transition's "action", roles)
                self._fields[name] = None
        return self._fields[name]

    @cached_property
    def custom(self) -> dict[str, Any]:
        """The custom fields (`custom.<name>` keys) the reader may see; those they may not are never shown."""
        rt = registry.find(self.model)
        return custom_fields.history_rows(rt, self.user) if rt is not None and rt.custom_fields else {}

    link_others: dict[Any, Any] | None = None  # the records named by the events' link values (`links.load_others`)

    def hidden(self, name: str) -> bool:
        """A key the reader may not read: a custom field they may not see (or, for a customer, one since deleted)."""
        if not name.startswith(custom_fields.PREFIX) or name in self.custom:
            return False
        return custom_fields.is_customer(self.user)

    def label(self, name: str) -> str:
        if name in self.custom:
            return str(self.custom[name].label)
        if name in EXTRA_KEYS:
            return EXTRA_KEYS[name][0]
        model_field = self.field(name)
        related = getattr(model_field, "related_model", None)
        if related is not None and related is get_user_model():
            return "Login"
        return str(capfirst(str(getattr(model_field, "verbose_name", name.replace("_", " ")))))

    def want(self, name: str, value: Any) -> None:
        model_field = self.field(name)
        if model_field is None or not model_field.is_relation or value is None:
            return
        ids = value if isinstance(value, list) else [value]
        self._wanted.setdefault(model_field.related_model, set()).update(
            i for i in ids if isinstance(i, int) and not isinstance(i, bool)
        )

    def _load(self) -> dict[type[Model], dict[Any, Model]]:
        if self._found is None:
            self._found = {
                related: related._default_manager.in_bulk(list(ids)) if ids else {}
                for related, ids in self._wanted.items()
            }
        return self._found

    def _linked(self, related: type[Model], pk: Any) -> tuple[str, str]:
        if not isinstance(pk, int):  # an old event that named the record rather than giving its id
            return str(pk), ""
        record = self._load().get(related, {}).get(pk)
        if record is None:
            return DELETED, ""
        if related is get_user_model():
            return str(record.get_username()), ""  # type: ignore[attr-defined]
        if registry.find(related) is None:
            return str(record), ""
        if not policy.can(self.user, VIEW, record):
            return policy.HIDDEN, ""
        return policy.name_of(self.user, record), str(getattr(record, "get_absolute_url", lambda: "")())

    def show(self, name: str, value: Any) -> Shown:
        if name in self.custom:
            return _text(custom_fields.shown_value(self.custom[name], value, self.user))
        if name in EXTRA_KEYS:
            return EXTRA_KEYS[name][1](value) if value not in (None, "", []) else EMPTY
        model_field = self.field(name)
        if model_field is None:
            return _text(value)
        if value is None or value == "" or (value == [] and model_field.many_to_many):
            return EMPTY
        rt = registry.find(self.model)
        if rt is not None and name in rt.display_values:
            return Shown("text", rt.display_values[name](value))
        if model_field.is_relation:
            related = model_field.related_model
            items = [self._linked(related, pk) for pk in (value if isinstance(value, list) else [value])]
            return Shown("links", items=items, many=bool(model_field.many_to_many))
        if model_field.choices:
            labels = dict(model_field.flatchoices)
            if isinstance(value, list):
                return Shown("chips", items=[(str(labels.get(v, v)), "") for v in value])
            return Shown("text", str(labels.get(value, value)))
        internal = model_field.get_internal_type()
        if internal == "DateTimeField" and isinstance(value, str):
            moment = dateparse.parse_datetime(value)
            if moment is not None:
                if timezone.is_aware(moment):
                    moment = timezone.localtime(moment)
                return Shown("text", formats.date_format(moment, "DATETIME_FORMAT"))
        if internal == "DateField" and isinstance(value, str):
            day = dateparse.parse_date(value)
            if day is not None:
                return Shown("text", formats.date_format(day, "DATE_FORMAT"))
        if internal == "TimeField" and isinstance(value, str):
            moment_t: dt.time | None = dateparse.parse_time(value)
            if moment_t is not None:
                return Shown("text", moment_t.strftime("%H:%M"))
        return _text(value)


def _lifecycle_field(model: type[Model]) -> str | None:
    rt = registry.find(model)
    return rt.lifecycle.field if rt is not None and rt.lifecycle is not None else None


def readable_history(events: list[AuditEvent], model: type[Model], user: Any) -> list[AuditEvent]:
    """Give each event `display_changes` (a list of `Change`) and, for a lifecycle action, `summary` (the
    action's title: "Suspend"); one query per linked type, whatever the number of events. The events the reader may
    not read at all (an internal note's, for a customer user: `conversation.hides`) are left out of the list."""
    events = [event for event in events if not conversation.hides(event, user)]
    reader = ValueReader(model, user)
    for event in events:
        for name, change in event.changes.items():
            if isinstance(change, dict) and ("before" in change or "after" in change):
                reader.want(name, change.get("before"))
                reader.want(name, change.get("after"))
    rt = registry.find(model)
    if rt is not None and rt.record_links:  # the other records of every link event, one query per type
        from meridian.core.links import load_others

        link_values = [
            e.changes["link"].get(k)
            for e in events
            if isinstance(e.changes.get("link"), dict)
            for k in ("before", "after")
        ]
        reader.link_others = load_others(link_values)
    child_rows = children.readable(rt, events, user) if rt is not None and rt.children else {}
    for event in events:
        event.summary = ""  # type: ignore[attr-defined]
        action = event.changes.get("action")
        if isinstance(action, str) and rt is not None:  # a lifecycle or record action: named by its title
            declared = actions.find(rt, action)
            event.summary = declared.title if declared else capfirst(action.replace("_", " "))  # type: ignore[attr-defined]
        rows = list(_changes(event, reader))
        for label, before, after in child_rows.get(event.pk, []):  # a child's rows: added, changed, removed
            rows.append(Change(label, str(label), _text(before), _text(after)))
        comment = conversation.history_row(event)  # a comment posted, edited or deleted: its text
        if comment is not None:
            label, was, now = comment
            event.summary = label  # type: ignore[attr-defined]
            rows.append(Change(conversation.CHANGES_KEY, label, _text(was), _text(now), plain=not was))
        for label, before, after in attachments.readable(event):  # files added or removed: name, size, SHA-256
            rows.append(Change(label, str(label), EMPTY, _text(after if after is not None else before), plain=True))
        event.display_changes = rows  # type: ignore[attr-defined]
    return events


def _changes(event: AuditEvent, reader: ValueReader) -> Iterable[Change]:
    status_field = _lifecycle_field(reader.model)
    rt = registry.find(reader.model)
    child_names = {child.name for child in rt.children} if rt is not None else set()
    for name, change in event.changes.items():
        if (
            name in ("action", conversation.CHANGES_KEY)
            or name in child_names
            or name == attachments.CHANGES_KEY
            or reader.hidden(name)
        ):
            continue  # named by the event's summary; a child's rows are read by `children.readable`
        if name == "link" and event.action in ("link", "unlink") and isinstance(change, dict):
            from meridian.core.links import describe  # a link to another record, named as this reader may see it

            found = reader.link_others
            was, now = (
                describe(change.get("before"), reader.user, found),
                describe(change.get("after"), reader.user, found),
            )
            yield Change(name, "Link", _text(was), _text(now))
            continue
        if isinstance(change, dict) and ("before" in change or "after" in change):
            old, new = change.get("before"), change.get("after")
            before, after = reader.show(name, old), reader.show(name, new)
            if event.action == "create" and after.empty:
                continue
            if event.action == "delete" and before.empty:
                continue
            if event.action == "update" and isinstance(old, list) and isinstance(new, list) and old and new:
                removed = reader.show(name, [v for v in old if v not in new])
                added = reader.show(name, [v for v in new if v not in old])
                yield Change(name, reader.label(name), before, after, removed=removed, added=added)
                continue
            yield Change(name, reader.label(name), before, after)
        elif name != status_field:  # a plain value (a count, a note): shown as it is
            yield Change(name, reader.label(name), EMPTY, reader.show(name, change), plain=True)


@dataclass
class TheirChange:
    """A field that someone else changed after the version you read: the value at your version (`base`, raw), who
    changed it last and when, and the value now."""

    name: str
    label: str
    base: Any
    current: Any
    by: list[str]
    at: Any
    before: Shown
    after: Shown


def changes_since(record: Any, version: int, user: Any) -> list[TheirChange]:
    """The fields of `record` changed since `version`, from the audit trail: every write after the creation (an
    update, a lifecycle or record action) adds one to a record's version and writes one event, so the newest
    `record.version - version` such events are the ones since. Field by field: the value at `version` (the
    oldest event's before), the newest value, who changed it and when."""
    count = record.version - version
    if count <= 0:
        return []
    events = list(
        AuditEvent.objects.filter(record_type=record._meta.label_lower, record_id=str(record.pk))
        .exclude(action__in=["create", "delete"])
        .exclude(changes__has_key=conversation.CHANGES_KEY)  # comments do not change the record's version
        .order_by("-id")[:count]
    )
    events.reverse()  # oldest first
    fields: dict[str, dict[str, Any]] = {}
    for event in events:
        for name, change in event.changes.items():
            if not isinstance(change, dict) or "after" not in change:
                continue
            entry = fields.setdefault(name, {"base": change.get("before"), "by": [], "at": None})
            entry["current"] = change.get("after")
            if event.actor_label not in entry["by"]:
                entry["by"].append(event.actor_label)
            entry["at"] = event.occurred_at
    reader = ValueReader(type(record), user)
    fields = {name: entry for name, entry in fields.items() if not reader.hidden(name)}
    for name, entry in fields.items():
        reader.want(name, entry["base"])
        reader.want(name, entry["current"])
    changed = [
        TheirChange(
            name=name,
            label=reader.label(name),
            base=entry["base"],
            current=entry["current"],
            by=entry["by"],
            at=entry["at"],
            before=reader.show(name, entry["base"]),
            after=reader.show(name, entry["current"]),
        )
        for name, entry in fields.items()
        if entry["base"] != entry["current"]
    ]
    rt = registry.find(type(record))
    rows = children.readable(rt, events, user) if rt is not None and rt.children else {}
    for event in events:  # their changes to the record's rows (a team's members), one line each
        for number, (label, before, after) in enumerate(rows.get(event.pk, [])):
            changed.append(
                TheirChange(
                    name=f"{label} ({event.pk}.{number})",  # one line per row change, never merged
                    label=str(label),
                    base=None,
                    current=None,
                    by=[event.actor_label],
                    at=event.occurred_at,
                    before=_text(before),
                    after=_text(after),
                )
            )
    return changed
