"""Writing history: run the ordinary services as if it were an instant of the past (`with as_of(instant): ...`).

The services read the time from `django.utils.timezone.now()` (status changes, clocks, `updated_at`, resolutions) and
take no "at" argument; the demo's month of tickets (`tickets.demo`), and later imports of historical tickets, must
still be written through them so that clocks, audit trail and timelines are what live work would have left. Inside
`as_of(instant)`, in this thread (a `ContextVar`; other threads and requests keep the real time):

- `django.utils.timezone.now()` answers `instant` (the module attribute is swapped while at least one `as_of` is
  open anywhere, and put back when the last one closes; outside an `as_of` it answers the real time);
- the fields whose default is `timezone.now` (bound when the model was defined: `created_at` and the like) get
  `instant` on insert when their default gave the real time, and the audit events' `occurred_at` (the database's
  clock, `db_default=Now()`) gets `instant`: so the ticket's timeline shows the moves when they "happened". The
  audit chain is unaffected (it is verified by sequence, never by time);
- the outbound messages written (`NotificationLog`) are recorded as sent at `instant`: they belong to the past
  being written and are never mailed now (a month of mails to the demo's people would otherwise go out on the first
  start).

Nothing stays patched after the outermost `as_of` returns (tested). Not for live work: a request's writes happen
now."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from django.db.models.signals import pre_save
from django.utils import timezone

_INSTANT: ContextVar[datetime | None] = ContextVar("meridian_as_of", default=None)
_REAL_NOW = timezone.now
_LOCK = threading.Lock()
_OPEN = 0


def _now() -> datetime:
    instant = _INSTANT.get()
    return instant if instant is not None else _REAL_NOW()


def _stamp(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    """On insert inside `as_of`: defaults of "now" and the audit event's database time become the instant."""
    instant = _INSTANT.get()
    if instant is None or raw or not instance._state.adding:
        return
    from meridian.core.choices import NotificationStatus
    from meridian.core.models import AuditEvent, NotificationLog

    if isinstance(instance, AuditEvent) and not isinstance(instance.occurred_at, datetime):
        instance.occurred_at = instant  # unset: the database's clock would give the real time
    for field in instance._meta.concrete_fields:
        if field.default is _REAL_NOW:
            value = getattr(instance, field.attname)
            if isinstance(value, datetime) and value > instant:  # the default's real time, later than the past
                setattr(instance, field.attname, instant)
    if isinstance(instance, NotificationLog) and instance.status == NotificationStatus.QUEUED:
        instance.status, instance.sent_at = NotificationStatus.SENT, instant


def is_open() -> bool:
    """Whether `timezone.now` is swapped by an open `as_of` (in any thread)."""
    return _OPEN > 0


@contextmanager
def as_of(instant: datetime) -> Iterator[datetime]:
    """Inside: `timezone.now()` is `instant` for this thread, and what is written is stamped with it (above)."""
    global _OPEN
    if timezone.is_naive(instant):
        raise ValueError("as_of needs an aware datetime")
    with _LOCK:
        if _OPEN == 0:
            timezone.now = _now
            pre_save.connect(_stamp, dispatch_uid="meridian.tickets.as_of")
        _OPEN += 1
    token = _INSTANT.set(instant)
    try:
        yield instant
    finally:
        _INSTANT.reset(token)
        with _LOCK:
            _OPEN -= 1
            if _OPEN == 0:
                timezone.now = _REAL_NOW
                pre_save.disconnect(dispatch_uid="meridian.tickets.as_of")
