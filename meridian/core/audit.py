"""The audit trail: append-only, hash-chained events written in the same transaction as the change.

Each event's hash is SHA-256 over its canonical JSON and the previous event's hash; inserts are serialised
(PostgreSQL advisory lock; SQLite's IMMEDIATE transactions) so the chain has one order. `verify_chain` finds
events edited, removed or inserted out of order behind the application's back.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from meridian.core.models import AuditEvent

GENESIS_HASH = "0" * 64
ADVISORY_LOCK_KEY = 0x4D45524944  # "MERID"
NOT_AUDITED = {"created_at", "created_by", "updated_at", "updated_by", "version"}


def to_primitive(value: Any) -> Any:
    """A JSON value for a model field value, the same before and after a round trip through the database."""
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple | set | frozenset):
        items = [to_primitive(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if isinstance(value, dict):
        return {str(k): to_primitive(v) for k, v in value.items()}
    return value


def snapshot(obj: models.Model) -> dict[str, Any]:
    """The audited field values of a record: concrete fields (foreign keys as ids) and many-to-many ids."""
    data: dict[str, Any] = {}
    for f in obj._meta.concrete_fields:
        if f.name in NOT_AUDITED or f.name == "id":
            continue
        data[f.name] = to_primitive(getattr(obj, f.attname))
    if obj.pk:
        for m2m in obj._meta.many_to_many:
            data[m2m.name] = sorted(o.pk for o in m2m.value_from_object(obj))  # type: ignore[attr-defined]
    return data


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: {"before": before.get(name), "after": after.get(name)}
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    }


def _canonical(event: AuditEvent) -> bytes:
    body = {
        "seq": event.seq,
        "occurred_at": to_primitive(event.occurred_at),
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "action": event.action,
        "record_type": event.record_type,
        "record_id": event.record_id,
        "record_label": event.record_label,
        "organisation_id": event.organisation_id,
        "changes": event.changes,
        "reason": event.reason,
        "authorised_by": event.authorised_by,
        "prev_hash": event.prev_hash,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def compute_hash(event: AuditEvent) -> str:
    return hashlib.sha256(_canonical(event)).hexdigest()


def _lock_chain() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_KEY])
    # SQLite: every Meridian transaction is BEGIN IMMEDIATE, which already holds the database's write lock


def record_event(
    *,
    action: str,
    obj: models.Model,
    actor: Any,
    changes: dict[str, Any],
    reason: str = "",
    authorised_by: str = "",
) -> AuditEvent:
    """Append one event for `obj`. Must run inside the transaction of the change it describes."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit events are written inside the transaction of the change")
    _lock_chain()
    last = AuditEvent.objects.order_by("-seq").only("seq", "hash").first()
    event = AuditEvent(
        seq=(last.seq + 1) if last else 1,
        occurred_at=timezone.now(),
        actor_id=getattr(actor, "pk", None),
        actor_label=(actor.get_username() if actor is not None and getattr(actor, "pk", None) else "anonymous"),
        action=action,
        record_type=obj._meta.label_lower,
        record_id=str(obj.pk),
        record_label=str(obj)[:300],
        organisation_id=getattr(obj, "tenant_id", None),
        changes=to_primitive(changes),
        reason=reason,
        authorised_by=authorised_by,
        prev_hash=last.hash if last else GENESIS_HASH,
    )
    event.hash = compute_hash(event)
    event.save(force_insert=True)
    return event


def history(obj: models.Model) -> models.QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(record_type=obj._meta.label_lower, record_id=str(obj.pk)).order_by("-seq")


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    kind: str  # edited | removed | inserted | out-of-order
    detail: str

    def __str__(self) -> str:
        return f"event #{self.seq}: {self.kind}: {self.detail}"


@dataclass(frozen=True)
class ChainReport:
    checked: int
    problems: list[ChainProblem]
    head_seq: int
    head_hash: str

    @property
    def ok(self) -> bool:
        return not self.problems


def _iter_events(batch: int = 2000) -> Iterator[AuditEvent]:
    last_seq = None
    while True:
        qs = AuditEvent.objects.order_by("seq")
        if last_seq is not None:
            qs = qs.filter(seq__gt=last_seq)
        rows = list(qs[:batch])
        if not rows:
            return
        yield from rows
        last_seq = rows[-1].seq


def verify_chain(expected_head: tuple[int, str] | None = None) -> ChainReport:
    """Walk the whole chain in sequence order. `expected_head` (seq, hash) recorded earlier off the host also
    catches removal of the newest events, which the chain alone cannot show."""
    problems: list[ChainProblem] = []
    prev_hash, prev_seq, prev_time, checked = GENESIS_HASH, 0, None, 0
    head_found: str | None = None
    with transaction.atomic():
        for event in _iter_events():
            checked += 1
            if event.seq != prev_seq + 1:
                problems.append(
                    ChainProblem(event.seq, "removed", f"events #{prev_seq + 1}..#{event.seq - 1} are missing")
                )
            if event.prev_hash != prev_hash:
                problems.append(
                    ChainProblem(
                        event.seq,
                        "inserted",
                        "its link to the previous event does not match: an event "
                        "before it was removed, replaced or inserted",
                    )
                )
            if compute_hash(event) != event.hash:
                problems.append(ChainProblem(event.seq, "edited", "its content no longer matches its hash"))
            if prev_time is not None and event.occurred_at < prev_time:
                problems.append(ChainProblem(event.seq, "out-of-order", "it is dated before the event preceding it"))
            prev_hash, prev_seq, prev_time = event.hash, event.seq, event.occurred_at
            if expected_head is not None and event.seq == expected_head[0]:
                head_found = event.hash
    if expected_head is not None:
        seq, digest = expected_head
        if seq > prev_seq:
            problems.append(ChainProblem(seq, "removed", f"the chain ends at #{prev_seq}, before the recorded head"))
        elif head_found != digest:
            problems.append(ChainProblem(seq, "edited", "the recorded head hash does not match"))
    return ChainReport(checked=checked, problems=problems, head_seq=prev_seq, head_hash=prev_hash)
