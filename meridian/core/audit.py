"""The audit trail: append-only, hash-chained events written in the same transaction as the change.

Each event's hash is SHA-256 over its canonical JSON and the previous event's hash. Writers never queue on the
chain: `record_event` inserts the event unchained (no `seq`, `prev_hash` or `hash`; the auto id keeps the
insertion order) and one chainer, `chain_pending`, links waiting events in id order under a lock of its own.
On PostgreSQL the chainer runs right after the writer commits, in its own short transaction (a writer that
finds another chainer at work leaves its events to it; every minute the task queue links what a process that
died between commit and chaining left behind); on SQLite, where every write transaction already holds the
database's one write lock, it runs inside the writer's transaction, so no event is ever seen unchained.

`verify_chain` finds events edited, removed or inserted behind the application's back. `check_trail` (the
`meridian audit verify` command and the periodic tasks) chains what is waiting, verifies, and writes the head
to a witness outside the database (a file and the log), against which the next check compares: removing the
newest events is then caught without anybody remembering a hash.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import logging
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Count, Max, Min, Subquery
from django.db.models.functions import Now
from django.utils import timezone

from meridian.core.models import AuditEvent

log = logging.getLogger("meridian.audit")

GENESIS_HASH = "0" * 64
ADVISORY_LOCK_KEY = 0x4D45524944  # "MERID"
CHAIN_BATCH = 1000  # events linked per chainer transaction
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
        if f.name == "custom":  # custom field values (`core.custom_fields`): one entry per field, `custom.<name>`
            data.update({f"custom.{k}": to_primitive(v) for k, v in (getattr(obj, f.attname) or {}).items()})
            continue
        data[f.name] = to_primitive(getattr(obj, f.attname))
    if obj.pk:
        for m2m in obj._meta.many_to_many:
            if not m2m.remote_field.through._meta.auto_created:  # type: ignore[union-attr]
                continue  # a many-to-many with attributes is written as child rows, audited as such
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


def _head() -> tuple[int, str]:
    """The newest chained event's seq and hash (0 and the genesis hash while nothing is chained)."""
    last = AuditEvent.objects.filter(seq__isnull=False).order_by("-seq").values_list("seq", "hash").first()
    return (last[0] or 0, last[1] or "") if last else (0, GENESIS_HASH)


def _claim_chainer_lock() -> bool:
    """One statement: is any event waiting, and if so, can this connection take the chainer's lock (a PostgreSQL
    session advisory lock taken by nobody but the chainer, tried without waiting)? True when it holds it now."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM core_auditevent WHERE seq IS NULL) "
            "THEN pg_try_advisory_lock(%s) ELSE false END",
            [ADVISORY_LOCK_KEY],
        )
        return bool(cursor.fetchone()[0])


def _release_chainer_lock() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_KEY])


def new_event(
    *,
    action: str,
    obj: models.Model,
    actor: Any,
    changes: dict[str, Any],
    reason: str = "",
    authorised_by: str = "",
) -> AuditEvent:
    """One event for `obj`, not saved yet (`record_event` saves one, `record_events` many at once)."""
    return AuditEvent(
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
    )


def record_event(
    *,
    action: str,
    obj: models.Model,
    actor: Any,
    changes: dict[str, Any],
    reason: str = "",
    authorised_by: str = "",
) -> AuditEvent:
    """Append one event for `obj`. Must run inside the transaction of the change it describes.

    The event is inserted unchained and takes no lock; it is linked to the chain by `chain_pending`: at once on
    SQLite, right after commit on PostgreSQL. The returned instance is the event as inserted (`seq`, `prev_hash`
    and `hash` None, `occurred_at` from the database's clock)."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit events are written inside the transaction of the change")
    event = new_event(action=action, obj=obj, actor=actor, changes=changes, reason=reason, authorised_by=authorised_by)
    event.save(force_insert=True)
    from meridian.core import watchers  # followers: auto-follow and their mails, for every write (`core.watchers`)

    watchers.event_recorded(event, obj, actor)
    _chain_soon()
    return event


def record_events(events: list[AuditEvent]) -> None:
    """Append many events (`new_event`) at once, in their order, by bulk inserts: unchained like `record_event`'s
    and linked by the same chainer (imports write one event per record this way). Inside the change's transaction.
    Followers are not told of these (an import's records are new, or changed in bulk: `core.watchers` mails per
    event of `record_event` only)."""
    if not events:
        return
    if not connection.in_atomic_block:
        raise RuntimeError("audit events are written inside the transaction of the change")
    AuditEvent.objects.bulk_create(events, batch_size=CHAIN_BATCH)
    _chain_soon()


def _chain_soon() -> None:
    if connection.vendor == "sqlite":
        chain_pending()
    elif not any(entry[1] is _chain_after_commit for entry in connection.run_on_commit):
        # once per transaction, however many events it writes (discarded with the transaction if it rolls back)
        transaction.on_commit(_chain_after_commit, robust=True)


def _chain_after_commit() -> None:
    chain_pending()


def chain_pending() -> int:
    """Link the events waiting to be chained, in id order, and return how many this call linked.

    On PostgreSQL, call it outside any transaction: each batch is linked by one UPDATE statement (a short
    transaction of its own) while holding the chainer's lock. A chainer that finds the lock taken returns at
    once: the holder looks for waiting events again after letting go of the lock, so an event committed before
    that failed attempt is linked by the holder (or by whoever holds the lock next); none is left behind. On
    SQLite it runs inside the writer's transaction (`record_event` calls it), so an event is never seen
    unchained."""
    linked = 0
    if connection.vendor != "postgresql":  # BEGIN IMMEDIATE: this transaction holds the database's write lock
        while (batch := _link_batch()) == CHAIN_BATCH:
            linked += batch
        return linked + batch
    # each claim looks for waiting events after the previous batch let go of the lock: see the docstring
    while _claim_chainer_lock():
        try:
            linked += _link_batch()  # one read and one UPDATE statement: atomic by itself
        finally:
            _release_chainer_lock()
    return linked


def _link_batch() -> int:
    """Link up to CHAIN_BATCH waiting events after the head, from their values as stored (one read, one write)."""
    chained = AuditEvent.objects.filter(seq__isnull=False).order_by("-seq")
    pending = list(
        AuditEvent.objects.filter(seq__isnull=True)
        .order_by("id")
        .annotate(head_seq=Subquery(chained.values("seq")[:1]), head_hash=Subquery(chained.values("hash")[:1]))[
            :CHAIN_BATCH
        ]
    )
    if not pending:
        return 0
    seq: int = getattr(pending[0], "head_seq", None) or 0
    prev_hash: str = getattr(pending[0], "head_hash", None) or GENESIS_HASH
    for event in pending:  # as stored: the hash covers the values exactly as the database keeps them
        seq += 1
        event.seq, event.prev_hash = seq, prev_hash
        event.hash = prev_hash = compute_hash(event)
    rows = ", ".join(["(%s, %s, %s, %s)"] * len(pending))
    with connection.cursor() as cursor:  # one statement for the whole batch (bulk_update would add a transaction)
        cursor.execute(
            f"UPDATE core_auditevent SET seq = v.column2, prev_hash = v.column3, hash = v.column4 "  # noqa: S608
            f"FROM (VALUES {rows}) AS v WHERE core_auditevent.id = v.column1",
            [value for e in pending for value in (e.pk, e.seq, e.prev_hash, e.hash)],
        )
    return len(pending)


def history(obj: models.Model) -> models.QuerySet[AuditEvent]:
    """A record's events, newest first (those still waiting for the chainer first of all)."""
    return AuditEvent.objects.filter(record_type=obj._meta.label_lower, record_id=str(obj.pk))  # Meta.ordering


# --- verification ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Head:
    """The newest chained event (`seq` 0 and the genesis hash for an empty chain), as written to a witness."""

    seq: int
    hash: str
    at: str = ""  # when it was witnessed (ISO 8601), for people

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> Head:
        """`SEQ:HASH`, optionally followed by the time it was witnessed; ValueError if malformed."""
        head, _, at = text.strip().partition(" ")
        seq, _, digest = head.partition(":")
        if not seq.isdigit() or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"not SEQ:HASH: {text.strip()[:80]!r}")
        return cls(int(seq), digest, at.strip())


@dataclass(frozen=True)
class Backlog:
    """Events written but not yet chained; the age is measured by the database's clock."""

    count: int = 0
    oldest_id: int | None = None
    oldest_age: dt.timedelta | None = None


@dataclass(frozen=True)
class ChainProblem:
    seq: int | None  # None: an event not chained yet, or the witness itself
    kind: str  # edited | removed | inserted | unchained | witness
    detail: str

    def __str__(self) -> str:
        where = f"event #{self.seq}" if self.seq is not None else "audit trail"
        return f"{where}: {self.kind}: {self.detail}"

    @property
    def tampering(self) -> bool:
        return self.kind in {"edited", "removed", "inserted"}


@dataclass(frozen=True)
class ChainReport:
    checked: int
    problems: list[ChainProblem]
    head_seq: int
    head_hash: str
    backlog: Backlog = Backlog()

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def head(self) -> Head:
        return Head(self.head_seq, self.head_hash)


def backlog() -> Backlog:
    """How many events wait for the chainer, and for how long the oldest has waited."""
    row = AuditEvent.objects.filter(seq__isnull=True).aggregate(
        count=Count("id"), oldest_id=Min("id"), oldest=Min("occurred_at"), now=Max(Now())
    )
    if not row["count"]:
        return Backlog()
    return Backlog(row["count"], row["oldest_id"], row["now"] - row["oldest"])


def _iter_events(after: int = 0, batch: int = 2000) -> Iterator[AuditEvent]:
    while True:
        rows = list(AuditEvent.objects.filter(seq__gt=after).order_by("seq")[:batch])
        if not rows:
            return
        yield from rows
        after = rows[-1].seq or 0


def verify_chain(
    expected_head: Head | tuple[int, str] | None = None,
    *,
    witness: Head | None = None,
    since: Head | None = None,
    waiting: Backlog | None = None,
) -> ChainReport:
    """Walk the chain in sequence order (the database's order: application clocks are never compared).

    `expected_head` (recorded earlier off the host) and `witness` (the last head written by `check_trail`) must
    still be in the chain unchanged: that also catches removal of the newest events, which the links alone
    cannot show. `since` starts the walk at an earlier verified head instead of the first event. `waiting` is
    the backlog to report (measured now if not given): an event unchained for longer than
    AUDIT_CHAIN_MAX_DELAY seconds is a problem (the chainer is not running); younger ones are only counted."""
    problems: list[ChainProblem] = []
    waiting = backlog() if waiting is None else waiting
    named = {
        "recorded head": Head(*expected_head) if isinstance(expected_head, tuple) else expected_head,
        "witnessed head": witness,
        "verified head": since if since != witness else None,
    }
    heads = {name: head for name, head in named.items() if head is not None and head.seq > 0}
    with transaction.atomic():
        head_seq, head_hash = _head()
        stored = dict(AuditEvent.objects.filter(seq__in=[h.seq for h in heads.values()]).values_list("seq", "hash"))
        prev_seq, prev_hash = (since.seq, since.hash) if since else (0, GENESIS_HASH)
        checked = 0
        for event in _iter_events(after=prev_seq):
            checked += 1
            seq = event.seq or 0
            if seq != prev_seq + 1:
                problems.append(ChainProblem(seq, "removed", f"events #{prev_seq + 1}..#{seq - 1} are missing"))
            if event.prev_hash != prev_hash:
                problems.append(
                    ChainProblem(
                        seq,
                        "inserted",
                        "its link to the previous event does not match: an event "
                        "before it was removed, replaced or inserted",
                    )
                )
            if compute_hash(event) != event.hash:
                problems.append(ChainProblem(seq, "edited", "its content no longer matches its hash"))
            prev_seq, prev_hash = seq, event.hash or ""
    for name, head in heads.items():
        when = f" (witnessed {head.at})" if head.at else ""
        if head.seq > head_seq:
            problems.append(
                ChainProblem(head.seq, "removed", f"the chain ends at #{head_seq}, before the {name}{when}")
            )
        elif stored.get(head.seq) != head.hash:
            problems.append(ChainProblem(head.seq, "edited", f"its hash no longer matches the {name}{when}"))
    limit = dt.timedelta(seconds=settings.AUDIT_CHAIN_MAX_DELAY)
    if waiting.oldest_age is not None and waiting.oldest_age > limit:
        problems.append(
            ChainProblem(
                None,
                "unchained",
                f"event id {waiting.oldest_id} waited {waiting.oldest_age.total_seconds():.0f} s to be chained "
                f"({waiting.count} waiting): the chainer is not running",
            )
        )
    return ChainReport(checked, problems, head_seq, head_hash, waiting)


# --- the witness: the head kept outside the database ---------------------------------------------------------


def _witness_path() -> Path | None:
    path: str = settings.AUDIT_WITNESS_FILE
    return Path(path) if path else None


def read_witness() -> Head | None:
    """The last head written by `check_trail` (None when no witness file is configured or none was written)."""
    path = _witness_path()
    if path is None or not path.exists():
        return None
    return Head.parse(path.read_text())


def write_witness(head: Head) -> Head:
    """Record `head` outside the database: replace the witness file (atomically) and log it."""
    witnessed = Head(head.seq, head.hash, timezone.now().astimezone(dt.UTC).isoformat(timespec="seconds"))
    path = _witness_path()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(f"{witnessed} {witnessed.at}\n")
        os.replace(tmp, path)
    log.info("audit trail head %s witnessed at %s", witnessed, witnessed.at)
    return witnessed


def check_trail(expected_head: Head | None = None, *, incremental: bool = False) -> ChainReport:
    """Chain what is waiting, verify against the last witness (and `expected_head`), and when all is well
    witness the new head. `incremental` verifies only the events after the last witness (the every-minute
    check); otherwise the whole chain (`meridian audit verify`, the nightly check). Problems are logged."""
    waiting = backlog()  # measured before chaining: an old waiting event means the chainer is not running
    chain_pending()
    try:
        witness = read_witness()
    except ValueError as exc:
        report = verify_chain(expected_head, waiting=waiting)
        problem = ChainProblem(None, "witness", f"the witness file {settings.AUDIT_WITNESS_FILE} is unreadable: {exc}")
        report = ChainReport(report.checked, [*report.problems, problem], report.head_seq, report.head_hash, waiting)
    else:
        since = witness if incremental and witness and witness.seq else None
        report = verify_chain(expected_head, witness=witness, since=since, waiting=waiting)
    for problem in report.problems:
        log.error("audit trail: %s", problem)
    if report.ok:
        write_witness(report.head)
    return report
