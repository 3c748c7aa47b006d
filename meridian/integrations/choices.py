"""Choices of the integrations app."""

from django.db import models


class InboundMailSource(models.TextChoices):
    PIPE = "pipe", "MTA pipe"
    MAILDIR = "maildir", "Maildir"
    IMAP = "imap", "IMAP"


class InboundMailOutcome(models.TextChoices):
    CREATED = "created", "Created a record"
    REPLIED = "replied", "Added a reply"
    IGNORED_AUTO_REPLY = "ignored-auto-reply", "Ignored: an auto-reply"
    IGNORED_BOUNCE = "ignored-bounce", "Ignored: a bounce"
    IGNORED_COMPLAINT = "ignored-complaint", "Ignored: a spam complaint"
    IGNORED_RECEIPT = "ignored-receipt", "Ignored: a read receipt"
    IGNORED_LOOP = "ignored-loop", "Ignored: a mail loop"
    IGNORED = "ignored", "Ignored by the handler"
    REFUSED_UNKNOWN_SENDER = "refused-unknown-sender", "Refused: unknown sender"
    DUPLICATE = "duplicate", "Duplicate"
    FAILED = "failed", "Failed"


# a Message-ID with one of these outcomes was ingested: the same message again is a duplicate and changes nothing
DONE_OUTCOMES = [
    o.value for o in InboundMailOutcome if o not in (InboundMailOutcome.DUPLICATE, InboundMailOutcome.FAILED)
]
