"""Monthly delivery of service reports by email (`tasks.monthly_service_reports`, the 1st of each month).

Who receives what, per live (agreed or active) SLA or OLA:
- the agreement's owner (the service level manager who keeps it): the whole report;
- an OLA's team, at the team's address: the whole report;
- each customer organisation an SLA names, at the organisation's address: the report of **its own tickets only**.
A standard SLA (no customer named) goes to its owner only.

Each message is recorded in `NotificationLog` (event `tickets.service_report:<period>`, the agreement as the record,
the recipient, the customer organisation) before it is sent, under a lock of the agreement's row: a re-run, or a
second worker at the same time, finds the record and sends nothing twice. The message carries a text summary, a
link to the report and the CSV attached; a failed send is left "failed" and the notification retry sends its text
(summary and link) later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from meridian.core.choices import NotificationStatus
from meridian.core.models import NotificationLog, Organisation
from meridian.service_levels.agreements import LIVE
from meridian.service_levels.choices import AgreementKind
from meridian.service_levels.models import Agreement
from meridian.tickets.reports import compute
from meridian.tickets.reports.views import REPORTED_KINDS, csv_text, file_name, report_url

EVENT = "tickets.service_report"
RECORD_TYPE = "service_levels.agreement"


@dataclass(frozen=True)
class Recipient:
    email: str
    organisation: Organisation | None  # the customer whose tickets only it receives; None: the whole report


def recipients(agreement: Agreement) -> list[Recipient]:
    found: list[Recipient] = []
    if agreement.owner_id and agreement.owner and agreement.owner.email:
        found.append(Recipient(agreement.owner.email, None))
    if agreement.kind == AgreementKind.OLA and agreement.team_id and agreement.team and agreement.team.email:
        found.append(Recipient(agreement.team.email, None))
    if agreement.kind == AgreementKind.SLA:
        found += [Recipient(org.email, org) for org in agreement.customers.all() if org.email]
    unique: dict[tuple[str, int | None], Recipient] = {}
    for recipient in found:
        key = (recipient.email.lower(), recipient.organisation.pk if recipient.organisation else None)
        unique.setdefault(key, recipient)
    return list(unique.values())


def _already_sent(agreement: Agreement, event: str, recipient: Recipient) -> bool:
    return NotificationLog.objects.filter(
        event=event,
        record_type=RECORD_TYPE,
        record_id=str(agreement.pk),
        recipient=recipient.email,
        organisation_id=recipient.organisation.pk if recipient.organisation else None,
    ).exists()


def send_agreement_reports(agreement_id: int, today: date | None = None) -> int:
    """Mail last month's report of one agreement to each of its recipients not mailed yet; how many were sent."""
    sent = 0
    agreement = Agreement.objects.select_related("owner", "team", "support_hours").get(pk=agreement_id)
    period = compute.previous_month(agreement, today)
    event = f"{EVENT}:{period.key}"
    for recipient in recipients(agreement):
        with transaction.atomic():
            Agreement.objects.select_for_update().filter(pk=agreement.pk).first()  # one sender at a time
            if _already_sent(agreement, event, recipient):
                continue
            report = compute.build(agreement, period, organisation=recipient.organisation)
            link = f"{settings.MERIDIAN_BASE_URL.rstrip('/')}{report_url(agreement, period)}"
            body = (
                f"{compute.summary_text(report)}\n\nThe whole report (log in): {link}\nThe figures: attached (CSV).\n"
            )
            subject = f"Service report {agreement.reference} {period.label}"
            if recipient.organisation is not None:
                subject += f" – {recipient.organisation}"
            log = NotificationLog.objects.create(
                event=event,
                record_type=RECORD_TYPE,
                record_id=str(agreement.pk),
                organisation_id=recipient.organisation.pk if recipient.organisation else None,
                recipient=recipient.email,
                subject=subject,
                body=body,
                status=NotificationStatus.SENDING,
                claimed_at=timezone.now(),
                attempts=1,
            )
            attachment = (file_name(report, "csv"), csv_text(report), "text/csv")
        sent += _send(log, attachment)
    return sent


def _send(log: NotificationLog, attachment: tuple[str, str, str]) -> int:
    try:
        message = EmailMessage(log.subject, log.body, settings.DEFAULT_FROM_EMAIL, [log.recipient])
        message.attach(*attachment)
        message.send()
    except Exception as exc:  # noqa: BLE001 - recorded; the notification retry sends the text later
        NotificationLog.objects.filter(pk=log.pk).update(
            status=NotificationStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000]
        )
        return 0
    NotificationLog.objects.filter(pk=log.pk).update(status=NotificationStatus.SENT, sent_at=timezone.now())
    return 1


def send_monthly_reports(today: date | None = None) -> int:
    """Every live SLA and OLA: last month's report to its recipients, once each."""
    sent = 0
    ids: list[Any] = list(
        Agreement.objects.filter(kind__in=REPORTED_KINDS, status__in=LIVE).order_by("pk").values_list("pk", flat=True)
    )
    for agreement_id in ids:
        sent += send_agreement_reports(agreement_id, today)
    return sent
