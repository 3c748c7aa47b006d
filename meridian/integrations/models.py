"""Models of the integrations app."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from meridian.integrations.choices import DONE_OUTCOMES, InboundMailOutcome, InboundMailSource


class InboundMail(models.Model):
    """One message received by `meridian mail ingest`, and what became of it: a log, like core's NotificationLog,
    not a record type. The raw message is not kept here (see `MERIDIAN_MAIL_FAILED_DIR` for failed ones).

    At most one row per Message-ID has a done outcome (`DONE_OUTCOMES`): the same message again, from an MTA's
    retry or a second poll, is logged as a duplicate and changes nothing, even when both arrive at once."""

    message_id = models.CharField(max_length=255, db_index=True)
    sender = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=10, choices=InboundMailSource.choices)
    outcome = models.CharField(max_length=30, choices=InboundMailOutcome.choices)
    reason = models.TextField(blank=True)
    record_type = models.CharField(max_length=100, blank=True)  # what it landed on: "tickets.incident"
    record_id = models.CharField(max_length=64, blank=True)
    size = models.PositiveIntegerField(default=0)  # bytes of the raw message

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["sender", "received_at"], name="integ_inbound_sender_idx"),
            models.Index(fields=["record_type", "record_id"], name="integ_inbound_record_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["message_id"],
                condition=models.Q(outcome__in=DONE_OUTCOMES),
                name="integ_inbound_done_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.message_id} from {self.sender}: {self.outcome}"


# the monitoring intake's models (`integrations.alerts`)
from meridian.integrations.alert_models import AlertGroup, AlertSource  # noqa: E402,F401
