"""Notifications: outbound email about a record, queued in the event's transaction and sent by the task queue.

An app declares its events once:

    register_event(Event("core.person.account_ended", recipients=lambda person: [person]))

with templates `notifications/<event>.subject.txt` and `notifications/<event>.body.txt`; then
`notify("core.person.account_ended", person)` wherever the event happens (typically a lifecycle's
`after_commit`). Every message is logged per record (`NotificationLog`), and no recipient is told about a
record they may not see.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from meridian.core import policy
from meridian.core.choices import NotificationStatus
from meridian.core.models import NotificationLog, Person
from meridian.core.registry import VIEW

Recipient = Person | str

# a message left "sending" this long was abandoned by a worker that died: it may be taken again
SENDING_TIMEOUT = timedelta(minutes=10)
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Event:
    name: str
    recipients: Callable[[Any], Iterable[Recipient]]
    description: str = ""


_events: dict[str, Event] = {}


def register_event(event: Event) -> Event:
    _events[event.name] = event
    return event


def events() -> list[Event]:
    return list(_events.values())


def _allowed(recipient: Recipient, obj: models.Model) -> str | None:
    """The address to write to, or None when this recipient may not know about the record."""
    if isinstance(recipient, str):
        return recipient or None
    if not recipient.email:
        return None
    user = recipient.user
    if user is not None:
        return recipient.email if policy.can(user, VIEW, obj) else None
    # a contact without a login: only about their own organisation's records
    tenant_id = getattr(obj, "tenant_id", None)
    return recipient.email if tenant_id in (None, recipient.organisation_id) else None


def notify(
    event_name: str,
    obj: models.Model,
    *,
    context: dict[str, Any] | None = None,
    recipients: Iterable[Recipient] | None = None,
) -> list[NotificationLog]:
    """Queue the event's message to each allowed recipient (the event's, or `recipients` for a message written
    for one reader: `core.watchers`); sending happens after commit."""
    event = _events[event_name]
    ctx = {"object": obj, "base_url": settings.MERIDIAN_BASE_URL, **(context or {})}
    subject = " ".join(render_to_string(f"notifications/{event_name}.subject.txt", ctx).split())
    body = render_to_string(f"notifications/{event_name}.body.txt", ctx)
    logs = []
    seen: set[str] = set()
    for recipient in event.recipients(obj) if recipients is None else recipients:
        address = _allowed(recipient, obj)
        if address is None or address.lower() in seen:
            continue
        seen.add(address.lower())
        logs.append(
            NotificationLog.objects.create(
                event=event_name,
                record_type=obj._meta.label_lower,
                record_id=str(obj.pk),
                organisation_id=getattr(obj, "tenant_id", None),
                recipient=address,
                subject=subject[:300],
                body=body,
                message_id=new_message_id(),
            )
        )
    if logs:
        from meridian.core.tasks import send_notification

        ids = [log.pk for log in logs]
        transaction.on_commit(lambda: [send_notification(i) for i in ids])
    return logs


def new_message_id() -> str:
    """A Message-ID for one outbound message: unique, of Meridian's mail domain, so that a reply to it can be traced
    back to its record (`integrations.inbound.thread_of`)."""
    return f"<{uuid.uuid4().hex}.{secrets.token_hex(4)}@{settings.MERIDIAN_MAIL_DOMAIN}>"


def record_thread_id(record_type: str, record_id: str) -> str:
    """The one Message-ID every message about a record refers to (In-Reply-To, References): mail clients show
    them as one thread, and a reply to any of them names the record."""
    return f"<{record_type}.{record_id}@{settings.MERIDIAN_MAIL_DOMAIN}>"


def threading_headers(log: NotificationLog) -> dict[str, str]:
    """The headers that thread a notification with the others about its record and mark it as Meridian's:
    Message-ID, In-Reply-To and References (the record's thread id), X-Meridian-Loop (inbound mail carrying it
    is a loop) and Auto-Submitted (RFC 3834: no auto-replies, please)."""
    thread = record_thread_id(log.record_type, log.record_id)
    headers = {
        "In-Reply-To": thread,
        "References": thread,
        "X-Meridian-Loop": settings.MERIDIAN_MAIL_DOMAIN,
        "Auto-Submitted": "auto-generated",
    }
    if log.message_id:
        headers["Message-ID"] = log.message_id
    return headers


def _abandoned(now: datetime) -> models.Q:
    """Messages left "sending" by a worker that died (longer than SENDING_TIMEOUT)."""
    return models.Q(status=NotificationStatus.SENDING, claimed_at__lt=now - SENDING_TIMEOUT)


def _claimable(now: datetime) -> models.Q:
    """Messages a worker may take to send now: queued, failed, or abandoned."""
    return models.Q(status__in=[NotificationStatus.QUEUED, NotificationStatus.FAILED]) | _abandoned(now)


def due_for_retry(now: datetime | None = None) -> models.QuerySet[NotificationLog]:
    """Messages the periodic retry sends: failed, left "sending" or still queued (their task was lost) for longer
    than SENDING_TIMEOUT, with attempts left."""
    now = now or timezone.now()
    return NotificationLog.objects.filter(
        models.Q(status=NotificationStatus.FAILED)
        | _abandoned(now)
        | models.Q(status=NotificationStatus.QUEUED, created_at__lt=now - SENDING_TIMEOUT),
        attempts__lt=MAX_ATTEMPTS,
    )


def deliver(log_id: int) -> NotificationLog:
    """Send one message, holding no transaction while the mail server is talked to (on SQLite an open write
    transaction would make every other write wait for the mail server).

    1. Claim it: one UPDATE, a short transaction of its own, moves it to "sending" and counts the attempt, if it
       is claimable (`_claimable`). A second worker's claim of the same message matches no row, so a message is
       never sent by two workers at once, and a sent message is never sent again.
    2. Send it, with no transaction open.
    3. Record the outcome in another short UPDATE, if the claim is still this one (same attempt).

    A worker that dies between 1 and 3 leaves the message "sending"; the periodic retry takes it again after
    SENDING_TIMEOUT (longer than the mail connection's timeout, EMAIL_TIMEOUT).
    """
    from django.core.mail import EmailMessage

    now = timezone.now()
    claimed = NotificationLog.objects.filter(_claimable(now), pk=log_id).update(
        status=NotificationStatus.SENDING, claimed_at=now, attempts=models.F("attempts") + 1
    )
    log = NotificationLog.objects.get(pk=log_id)
    if not claimed:
        return log  # sent already, or being sent by another worker
    try:
        reply_to = [settings.MERIDIAN_MAIL_REPLY_TO] if settings.MERIDIAN_MAIL_REPLY_TO else None
        EmailMessage(
            log.subject,
            log.body,
            settings.DEFAULT_FROM_EMAIL,
            [log.recipient],
            headers=threading_headers(log),
            reply_to=reply_to,
        ).send()
    except Exception as exc:  # noqa: BLE001 - any transport error is recorded and retried later
        log.status, log.error = NotificationStatus.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
    else:
        log.status, log.error, log.sent_at = NotificationStatus.SENT, "", timezone.now()
    NotificationLog.objects.filter(pk=log_id, status=NotificationStatus.SENDING, attempts=log.attempts).update(
        status=log.status, error=log.error, sent_at=log.sent_at
    )
    return log
