"""A record's timeline: one chronological view merging what happened to it, newest first, paged by time.

    SOURCES = (Source("changes", "Changes", fetch=...), Source("files", ...), Source("links", ...),
               Source("notifications", "Notifications", fetch=..., roles=STAFF))

Each `Source` is one kind of entry: `fetch(obj, user, before, limit) -> list[Entry]` gives at most `limit` of its
entries older than the cursor `before` (a `Cursor`, or None for the newest), newest first, already read for that
reader (values named as on the History tab, invisible ones hidden). `page()` asks every source the reader may
read for `limit + 1` entries, merges them by (time, source, id) and keeps `limit`: keyset paging, never the whole
history, each entry once. The cursor of the next page is the key of the last entry shown.

The built-in sources read the audit trail (field changes, transitions and record actions; files added or removed;
links made or removed) through `history.readable_history`, and, for staff only, the notifications sent.
Comments (and later SLA events) plug in by `register(Source("comments", "Comments", fetch=...))`: a new kind in
the filter, the page and the API, with no change here.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import DateTimeField, F, FloatField, Func, Q, QuerySet, Value
from django.utils import dateparse, timezone

from meridian.core import attachments, audit, conversation, policy, registry
from meridian.core.choices import AuditAction, CommentVisibility
from meridian.core.history import EMPTY, Change, Shown, readable_history
from meridian.core.models import AuditEvent, NotificationLog
from meridian.core.registry import STAFF

ALL = "all"
PAGE_SIZE = 25


@dataclass(frozen=True)
class Cursor:
    """Where a page ends: entries strictly older than (at, rank of the source, id) come next."""

    at: dt.datetime
    rank: int
    id: int

    def encode(self) -> str:
        raw = json.dumps([self.at.isoformat(), self.rank, self.id]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """The cursor a page gave; ValueError for anything else."""
        try:
            at, rank, pk = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            moment = dateparse.parse_datetime(at)
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as error:
            raise ValueError("Not a cursor given by the timeline.") from error
        if moment is None or not isinstance(rank, int) or not isinstance(pk, int):
            raise ValueError("Not a cursor given by the timeline.")
        return cls(moment, rank, pk)

    def older(self, rows: QuerySet[Any], rank: int, time_field: str) -> QuerySet[Any]:
        """The rows of the source of rank `rank` that come after this cursor (older, or as old but ordered after).
        SQLite keeps times as text in more than one format (the database's clock writes milliseconds): there they
        are compared as the database reads them (`julianday`, to the millisecond)."""
        at: Any = self.at
        if connection.vendor == "sqlite":
            rows = rows.alias(_moment=Func(F(time_field), function="julianday", output_field=FloatField()))
            at = Func(Value(self.at, DateTimeField()), function="julianday", output_field=FloatField())
            time_field = "_moment"
        if rank < self.rank:
            return rows.filter(**{f"{time_field}__lte": at})
        if rank > self.rank:
            return rows.filter(**{f"{time_field}__lt": at})
        return rows.filter(Q(**{f"{time_field}__lt": at}) | Q(**{time_field: at, "id__lt": self.id}))


def moment(at: dt.datetime) -> dt.datetime:
    """A time as entries are ordered by it: to the millisecond on SQLite (as `Cursor.older` compares there)."""
    return at.replace(microsecond=at.microsecond // 1000 * 1000) if connection.vendor == "sqlite" else at


@dataclass
class Entry:
    """One thing that happened to a record: who, when, what (a summary and the values before and after)."""

    kind: str
    at: dt.datetime
    id: int
    actor: str
    summary: str
    changes: list[Change] = field(default_factory=list)
    reason: str = ""
    action: str = ""  # an audit event's action (create, update...): how the page shows its changes
    hidden: bool = False  # nothing in it the reader may read: counted by the paging, never shown
    rank: int = 0
    comment: Any = None  # a comment's entry: the `Comment`, with `html`, `files`, `may_edit`, `may_delete` set

    @property
    def just_now(self) -> bool:
        """Less than a minute ago: "just now" rather than "0 minutes ago"."""
        return timezone.now() - self.at < dt.timedelta(minutes=1)

    @property
    def key(self) -> tuple[dt.datetime, int, int]:
        return (moment(self.at), self.rank, self.id)


@dataclass(frozen=True)
class Source:
    """One kind of timeline entry (see the module's docstring). `roles`: who may read it (None: whoever may read
    the record)."""

    kind: str
    label: str
    fetch: Callable[[Any, Any, Cursor | None, int], list[Entry]]
    roles: frozenset[str] | None = None
    # sources reading the same table (the audit trail) share its ids: at the same time, their entries order by id
    table: str = ""
    # the record types it has entries for (None: every type): comments only on types with a conversation
    applies: Callable[[registry.RecordType], bool] | None = None

    def may_read(self, user: Any, obj: Any = None) -> bool:
        if obj is not None and self.applies is not None:
            rt = registry.find(type(obj))
            if rt is None or not self.applies(rt):
                return False
        return self.roles is None or policy.is_system(user) or bool(policy.roles_of(user) & self.roles)


_SOURCES: list[Source] = []


def register(source: Source) -> Source:
    """Add a kind of entry to every record's timeline (a comment, an SLA event): after the built-in ones."""
    if any(s.kind == source.kind for s in _SOURCES) or source.kind == ALL:
        raise ValueError(f"timeline kind {source.kind!r} is registered twice")
    _SOURCES.append(source)
    return source


def sources() -> tuple[Source, ...]:
    return tuple(_SOURCES)


def kinds_for(user: Any, obj: Any = None) -> list[tuple[str, str]]:
    """The filter a reader is offered (on this record, when given): (kind, label), "all" first."""
    return [(ALL, "All"), *((s.kind, s.label) for s in _SOURCES if s.may_read(user, obj))]


# --- the audit trail: changes, files, links ---------------------------------------------------------------------


def _audit_rows(obj: Any, before: Cursor | None, rank: int, limit: int, only: Q) -> list[AuditEvent]:
    rows: QuerySet[AuditEvent] = audit.history(obj).filter(only)
    if before is not None:
        rows = before.older(rows, rank, "occurred_at")
    return list(rows.order_by("-occurred_at", "-id")[:limit])


def _audit_entries(kind: str, only: Q) -> Callable[[Any, Any, Cursor | None, int], list[Entry]]:
    def fetch(obj: Any, user: Any, before: Cursor | None, limit: int) -> list[Entry]:
        rank, customer = _rank(kind), bool(getattr(user, "is_customer", False))
        events = readable_history(_audit_rows(obj, before, rank, limit, only), type(obj), user)
        entries = []
        for event in events:
            changes = list(event.display_changes)  # type: ignore[attr-defined]
            summary = event.summary or event.get_action_display()  # type: ignore[attr-defined]
            # an update whose every value the reader may not read (a custom field hidden from customers)
            hidden = customer and event.action == AuditAction.UPDATE and not changes
            entries.append(
                Entry(
                    kind=kind,
                    at=event.occurred_at,
                    id=event.pk,
                    actor=event.actor_label,
                    summary=str(summary),
                    changes=changes,
                    reason=event.reason,
                    action=event.action,
                    hidden=hidden,
                    rank=rank,
                )
            )
        return entries

    return fetch


_LINKS = Q(action__in=[AuditAction.LINK, AuditAction.UNLINK])
# a comment's events: shown by the comment's own entry, not twice
_COMMENTS = Q(changes__has_key=conversation.CHANGES_KEY)
_FILES = Q(changes__has_key=attachments.CHANGES_KEY) & ~_LINKS & ~_COMMENTS


def _notification_entries(obj: Any, user: Any, before: Cursor | None, limit: int) -> list[Entry]:
    rank = _rank("notifications")
    rows = NotificationLog.objects.filter(record_type=registry.get(type(obj)).label, record_id=str(obj.pk))
    if before is not None:
        rows = before.older(rows, rank, "created_at")
    return [
        Entry(
            kind="notifications",
            at=n.created_at,
            id=n.pk,
            actor="Meridian",
            summary=f"Notification {n.get_status_display().lower()}",
            changes=[
                Change("recipient", "To", EMPTY, Shown("text", n.recipient), plain=True),
                Change("subject", "Subject", EMPTY, Shown("text", n.subject), plain=True),
                Change("event", "Event", EMPTY, Shown("text", n.event.replace("_", " ")), plain=True),
                *([Change("error", "Error", EMPTY, Shown("text", n.error), plain=True)] if n.error else []),
            ],
            rank=rank,
        )
        for n in rows.order_by("-created_at", "-id")[:limit]
    ]


def _rank(kind: str) -> int:
    """The place of a source in the order of entries at the same time: sources of one table share one."""
    source = next(s for s in _SOURCES if s.kind == kind)
    return next(i for i, s in enumerate(_SOURCES) if s is source or (source.table and s.table == source.table))


def _comment_entries(obj: Any, user: Any, before: Cursor | None, limit: int) -> list[Entry]:
    return conversation.timeline_entries(obj, user, before, limit, _rank("comments"))


# the record's comments (`core.conversation`), for the types that opt in: public replies, and internal notes for staff
register(Source("comments", "Comments", fetch=_comment_entries, applies=lambda rt: rt.conversation is not None))
register(Source("changes", "Changes", fetch=_audit_entries("changes", ~_LINKS & ~_FILES & ~_COMMENTS), table="audit"))
register(Source("files", "Files", fetch=_audit_entries("files", _FILES), table="audit"))
register(Source("links", "Links", fetch=_audit_entries("links", _LINKS), table="audit"))
register(Source("notifications", "Notifications", fetch=_notification_entries, roles=STAFF))


# --- a page ---------------------------------------------------------------------------------------------------


@dataclass
class Page:
    entries: list[Entry]
    older: Cursor | None  # where the next page starts; None when there is nothing older
    kind: str


def page(obj: Any, user: Any, *, kind: str = ALL, before: Cursor | None = None, limit: int = PAGE_SIZE) -> Page:
    """The `limit` newest entries of `obj` older than `before`, of one kind or all the reader may read. `kind`
    must be one of `kinds_for(user)` (ValueError otherwise)."""
    offered = dict(kinds_for(user, obj))
    if kind not in offered:
        raise ValueError(f"Choose one of: {', '.join(offered)}.")
    chosen = [s for s in _SOURCES if s.may_read(user, obj) and (kind == ALL or s.kind == kind)]
    merged: list[Entry] = sorted(
        _each(s.fetch(obj, user, before, limit + 1) for s in chosen), key=lambda e: e.key, reverse=True
    )
    shown = merged[:limit]
    older = Cursor(shown[-1].at, shown[-1].rank, shown[-1].id) if len(merged) > limit else None
    return Page([e for e in shown if not e.hidden], older, kind)


def _each(lists: Iterable[list[Entry]]) -> list[Entry]:
    return [entry for entries in lists for entry in entries]


def as_json(entry: Entry) -> dict[str, Any]:
    """An entry as the API gives it: text only, never a raw id."""
    return {
        "kind": entry.kind,
        "at": timezone.localtime(entry.at).isoformat() if timezone.is_aware(entry.at) else entry.at.isoformat(),
        "actor": entry.actor,
        "summary": entry.summary,
        "reason": entry.reason,
        "changes": [
            {
                "label": c.label,
                "before": None if c.plain or c.before.empty else str(c.before),
                "after": None if c.after.empty else str(c.after),
            }
            for c in entry.changes
        ],
        **({"comment": conversation.as_json(entry.comment)} if entry.comment is not None else {}),
    }


def _parse(user: Any, query: Any, obj: Any = None) -> tuple[str, Cursor | None, dict[str, str]]:
    """The kind and cursor asked for (`?kind=&before=`), and the field errors of what was refused."""
    errors: dict[str, str] = {}
    kind = str(query.get("kind") or ALL)
    offered = dict(kinds_for(user, obj))
    if kind not in offered:
        errors["kind"] = f"Choose one of: {', '.join(offered)}."
        kind = ALL
    before = None
    if query.get("before"):
        try:
            before = Cursor.decode(str(query.get("before")))
        except ValueError as error:
            errors["before"] = str(error)
    return kind, before, errors


def tab_context(obj: Any, user: Any, query: Any) -> dict[str, Any]:
    """The Timeline tab: the filter, a page of entries and the cursor of the next ("Show older")."""
    kind, before, errors = _parse(user, query, obj)
    shown = page(obj, user, kind=kind, before=None if errors else before)
    return {
        "timeline": shown,
        "timeline_kinds": kinds_for(user, obj),
        "timeline_errors": errors,
        "timeline_older": shown.older.encode() if shown.older else "",
        "timeline_more": bool(before) and not errors,  # a further page: only its entries are swapped in
    }


def api_data(obj: Any, user: Any, query: Any) -> dict[str, Any]:
    """`GET .../{id}/timeline/?kind=&before=`: {"kind", "results": [entries], "older": cursor or null}."""
    from rest_framework.exceptions import ValidationError

    kind, before, errors = _parse(user, query, obj)
    if errors:
        raise ValidationError({name: [message] for name, message in errors.items()})
    shown = page(obj, user, kind=kind, before=before)
    return {
        "kind": shown.kind,
        "results": [as_json(e) for e in shown.entries],
        "older": shown.older.encode() if shown.older else None,
    }


def api_schema() -> Any:
    from drf_spectacular.utils import inline_serializer
    from rest_framework import serializers

    change = inline_serializer(
        "TimelineChange",
        {
            "label": serializers.CharField(),
            "before": serializers.CharField(allow_null=True),
            "after": serializers.CharField(allow_null=True),
        },
    )
    entry = inline_serializer(
        "TimelineEntry",
        {
            "kind": serializers.CharField(help_text="comments, changes, files, links, notifications"),
            "at": serializers.DateTimeField(),
            "actor": serializers.CharField(),
            "summary": serializers.CharField(),
            "reason": serializers.CharField(),
            "changes": change.__class__(many=True),
            "comment": inline_serializer(
                "TimelineComment",
                {
                    "id": serializers.IntegerField(),
                    "visibility": serializers.ChoiceField(choices=CommentVisibility.choices),
                    "body_html": serializers.CharField(help_text="The Markdown rendered and sanitised."),
                    "edited_at": serializers.DateTimeField(allow_null=True),
                    "deleted": serializers.BooleanField(),
                    "files": serializers.ListField(child=serializers.DictField()),
                },
                required=False,
                help_text="Only in entries of kind `comments`.",
            ),
        },
    )
    return inline_serializer(
        "Timeline",
        {
            "kind": serializers.CharField(),
            "results": entry.__class__(many=True),
            "older": serializers.CharField(
                allow_null=True, help_text="Pass as `before` for the next, older page; null when there is none."
            ),
        },
    )
