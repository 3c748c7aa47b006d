"""Inbound mail, ingested: one raw message in, one `InboundMail` row out, and at most one handler call between.

    from meridian.integrations.inbound import Outcome, register_handler

    def handle_mail(message: InboundMessage, mail: InboundMail) -> Outcome:
        ...  # find the record (thread_of, references_in_subject), reply to it or create one
        return Outcome("replied", record=ticket)

    register_handler(handle_mail)  # in the app's AppConfig.ready()

`ingest(raw, source=...)` parses (`meridian.integrations.mail.parse`), logs a Message-ID already ingested as a
duplicate, ignores machine-written mail (auto-replies, bounces, complaints, receipts) and loops, and only then
calls the handler, inside one transaction with the log row: when the handler raises, nothing it wrote is kept and
the row says "failed" with the reason; the exception does not escape. Only a database that cannot record even that
makes `ingest` raise (a `DatabaseError`), so that an MTA retries later.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, IntegrityError, models, transaction
from django.utils import timezone

from meridian.integrations.choices import DONE_OUTCOMES, InboundMailOutcome, InboundMailSource
from meridian.integrations.mail import AUTO_REPLY, BOUNCE, COMPLAINT, NORMAL, RECEIPT, InboundMessage, parse
from meridian.integrations.models import InboundMail

logger = logging.getLogger(__name__)

IGNORED_KINDS = {
    AUTO_REPLY: InboundMailOutcome.IGNORED_AUTO_REPLY,
    BOUNCE: InboundMailOutcome.IGNORED_BOUNCE,
    COMPLAINT: InboundMailOutcome.IGNORED_COMPLAINT,
    RECEIPT: InboundMailOutcome.IGNORED_RECEIPT,
}


@dataclass(frozen=True)
class Outcome:
    """What a handler did with a message: an `InboundMailOutcome` value ("created", "replied", "ignored",
    "refused-unknown-sender"), the record it landed on, and why (for the log)."""

    outcome: str
    record: models.Model | None = None
    reason: str = ""


Handler = Callable[[InboundMessage, InboundMail], Outcome]
_handler: Handler | None = None


def register_handler(fn: Handler | None) -> Handler | None:
    """Make `fn` the handler of normal inbound mail (one per installation: the last registered wins). Usable as a
    decorator. Returns `fn`."""
    global _handler  # a registry of one, like core's registries of many
    _handler = fn
    return fn


def registered_handler() -> Handler | None:
    return _handler


# --- addresses and threads -----------------------------------------------------------------------------------


def mail_domain() -> str:
    return str(settings.MERIDIAN_MAIL_DOMAIN).lower()


def own_addresses() -> set[str]:
    """Meridian's own addresses: what it sends from and what it receives at."""
    addresses = {settings.DEFAULT_FROM_EMAIL, settings.MERIDIAN_MAIL_REPLY_TO, *settings.MERIDIAN_MAIL_ADDRESSES}
    out = set()
    for address in addresses:
        if address:
            out.add(address.rpartition("<")[2].strip(" >").lower())
    return out


def thread_id(record_type: str, record_id: str) -> str:
    """The Message-ID that every mail about one record refers to (In-Reply-To, References): "<tickets.incident.42@
    domain>", so that any mail client shows them as one thread and a reply names the record."""
    from meridian.core.notifications import record_thread_id

    return record_thread_id(record_type, record_id)


THREAD_ID = re.compile(r"^<(?P<type>[a-z0-9_]+\.[a-z0-9_]+)\.(?P<id>[A-Za-z0-9_-]+)@(?P<domain>[^<>@\s]+)>$")


def thread_of(message: InboundMessage) -> tuple[str, str] | None:
    """(record_type, record_id) of the record this message answers, from its In-Reply-To and References (newest
    first): a Message-ID Meridian sent (a `NotificationLog`) or a record's thread id of this domain. None when it
    answers nothing of Meridian's. The record may since have been deleted: the caller looks it up."""
    from meridian.core.models import NotificationLog

    ids = message.thread_ids
    if not ids:
        return None
    sent = {
        log.message_id: (log.record_type, log.record_id)
        for log in NotificationLog.objects.filter(message_id__in=ids).only("message_id", "record_type", "record_id")
    }
    domain = mail_domain()
    for mid in ids:
        if mid in sent:
            return sent[mid]
        match = THREAD_ID.match(mid)
        if match and match["domain"].lower() == domain:
            return match["type"], match["id"]
    return None


# --- ingest ----------------------------------------------------------------------------------------------------


def _loop_reason(message: InboundMessage) -> str:
    """Why this message is part of a mail loop, or ""."""
    if message.sender and message.sender in own_addresses():
        return f"sent from Meridian's own address {message.sender}"
    if message.loop_marker and message.loop_marker.lower() == mail_domain():
        return "carries Meridian's own X-Meridian-Loop header"
    limit, minutes = settings.MERIDIAN_MAIL_RATE_LIMIT, settings.MERIDIAN_MAIL_RATE_WINDOW
    if message.sender and limit:
        since = timezone.now() - timedelta(minutes=minutes)
        count = (
            InboundMail.objects.filter(sender=message.sender, received_at__gte=since)
            .exclude(outcome=InboundMailOutcome.DUPLICATE)
            .count()
        )
        if count >= limit:
            return f"{count} messages from {message.sender} within {minutes} minutes (limit {limit})"
    return ""


def _key(message: InboundMessage, raw: bytes) -> str:
    """The message's identity: its Message-ID, or for a message without one the SHA-256 of its bytes."""
    return message.message_id or f"<{hashlib.sha256(raw).hexdigest()[:40]}@sha256.invalid>"


def _keep_failed(raw: bytes, mail: InboundMail) -> None:
    folder = settings.MERIDIAN_MAIL_FAILED_DIR
    if not folder:
        return
    try:
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        (path / f"{mail.received_at:%Y%m%dT%H%M%S}-{mail.pk}.eml").write_bytes(raw)
    except OSError:
        logger.exception("could not keep failed inbound mail %s in %s", mail.pk, folder)


def ingest(raw: bytes, *, source: str = InboundMailSource.PIPE) -> InboundMail:
    """Take one raw message and log what became of it (the returned row, saved). Never raises for the message's
    sake; raises `DatabaseError` only when the database cannot record the outcome (the caller retries later)."""
    message = parse(raw)
    mail = InboundMail(
        message_id=_key(message, raw)[:255],
        sender=message.sender[:254],
        subject=message.subject[:300],
        source=source,
        size=len(raw),
    )

    def log(outcome: str, reason: str = "") -> InboundMail:
        mail.outcome, mail.reason = outcome, reason.replace("\x00", "")[:2000]
        mail.save()
        return mail

    if InboundMail.objects.filter(message_id=mail.message_id, outcome__in=DONE_OUTCOMES).exists():
        return log(InboundMailOutcome.DUPLICATE, "this Message-ID was ingested before")
    if message.kind != NORMAL:
        return _log_once(mail, IGNORED_KINDS[message.kind], message.kind_reason)
    loop = _loop_reason(message)
    if loop:
        return _log_once(mail, InboundMailOutcome.IGNORED_LOOP, loop)
    handler = _handler
    if handler is None:
        return log(InboundMailOutcome.FAILED, "no mail handler is registered")

    try:
        with transaction.atomic():
            mail.outcome = InboundMailOutcome.FAILED  # until the handler says otherwise
            mail.save()
            result = handler(message, mail)
            if result.outcome not in InboundMailOutcome.values or result.outcome in (
                InboundMailOutcome.DUPLICATE,
                InboundMailOutcome.FAILED,
            ):
                raise ValueError(f"the mail handler answered {result.outcome!r}, not an outcome it may give")
            mail.outcome, mail.reason = result.outcome, result.reason[:2000]
            if result.record is not None:
                mail.record_type, mail.record_id = result.record._meta.label_lower, str(result.record.pk)
            mail.save()
        return mail
    except IntegrityError as exc:
        if InboundMail.objects.filter(message_id=mail.message_id, outcome__in=DONE_OUTCOMES).exists():
            mail.pk = None  # another ingest of the same message committed first
            mail.record_type = mail.record_id = ""
            return log(InboundMailOutcome.DUPLICATE, "this Message-ID was ingested at the same time")
        error: Exception = exc
    except Exception as exc:  # noqa: BLE001 - a handler's failure is logged, never the end of a Maildir run
        error = exc
    logger.warning("inbound mail %s failed: %s", mail.message_id, error, exc_info=error)
    mail.pk = None
    mail.record_type = mail.record_id = ""
    failed = log(InboundMailOutcome.FAILED, f"{type(error).__name__}: {error}")  # DatabaseError escapes here
    _keep_failed(raw, failed)
    return failed


def _log_once(mail: InboundMail, outcome: str, reason: str) -> InboundMail:
    mail.outcome, mail.reason = outcome, reason[:2000]
    try:
        with transaction.atomic():
            mail.save()
    except IntegrityError:
        mail.pk = None
        mail.outcome, mail.reason = InboundMailOutcome.DUPLICATE, "this Message-ID was ingested at the same time"
        mail.save()
    return mail


__all__ = [
    "DatabaseError",
    "Handler",
    "InboundMail",
    "InboundMessage",
    "Outcome",
    "ingest",
    "own_addresses",
    "register_handler",
    "registered_handler",
    "thread_id",
    "thread_of",
]
