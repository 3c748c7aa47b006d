"""The rules of an agreement: its lifecycle (draft, agreed, active, expired, terminated), its reviews, who its
parties may be, and the daily dates work (activation, expiry, overdue reviews). ISO/IEC 20000-1 8.3.3."""

from __future__ import annotations

import calendar as month_calendar
from datetime import date
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from meridian.core import audit, services
from meridian.core.actions import ActionForm, RecordAction
from meridian.core.choices import AuditAction, Role
from meridian.core.lifecycle import Lifecycle, Transition
from meridian.core.notifications import notify
from meridian.core.registry import ADMINS
from meridian.core.tasks import periodic
from meridian.service_levels.choices import AgreementKind, AgreementStatus
from meridian.service_levels.models import Agreement

KEEPERS = ADMINS | {Role.SERVICE_LEVEL_MANAGER}
DRAFT, AGREED, ACTIVE, EXPIRED, TERMINATED = (
    AgreementStatus.DRAFT,
    AgreementStatus.AGREED,
    AgreementStatus.ACTIVE,
    AgreementStatus.EXPIRED,
    AgreementStatus.TERMINATED,
)
IN_FORCE = (ACTIVE,)
LIVE = (AGREED, ACTIVE)  # agreed or in force: what configuration checks and reviews look at
REVIEW_OVERDUE_EVENT = "service_levels.agreement.review_overdue"


def add_months(day: date, months: int) -> date:
    """The same day `months` later (the month's last day when it has fewer days: 31 January + 1 = 28/29 February)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, month_calendar.monthrange(year, month)[1]))


def review_overdue(agreement: Agreement, today: date | None = None) -> bool:
    today = today or timezone.localdate()
    return bool(agreement.status in LIVE and agreement.next_review and agreement.next_review < today)


def ready_to_agree(agreement: Agreement, actor: Any) -> str | None:
    """Agreed means both parties signed up to targets: it needs some, and an owner who keeps it."""
    missing = []
    if not agreement.owner_id:
        missing.append("an agreement owner")
    has_targets = (
        agreement.availability_target is not None or agreement.targets.exists() or agreement.measured_targets.exists()
    )
    if not has_targets:
        missing.append("at least one target (per priority, availability or another measure)")
    return f"Before it is agreed, give it {' and '.join(missing)}." if missing else None


def ready_to_start(agreement: Agreement, actor: Any) -> str | None:
    today = timezone.localdate()
    if agreement.valid_from > today:
        return f"It is valid from {agreement.valid_from:%d %b %Y}: it comes into force on that day by itself."
    if agreement.valid_to and agreement.valid_to < today:
        return f"Its validity ended on {agreement.valid_to:%d %b %Y}."
    return None


def validity_ended(agreement: Agreement, actor: Any) -> str | None:
    if agreement.valid_to is None or agreement.valid_to >= timezone.localdate():
        return "It is still valid: terminate it to end it early (with the reason)."
    return None


def first_review(agreement: Agreement, actor: Any, reason: str) -> dict[str, Any]:
    """Agreeing sets the first review, unless one is planned already."""
    if agreement.next_review:
        return {}
    return {"next_review": add_months(timezone.localdate(), agreement.review_interval)}


AGREEMENT_LIFECYCLE = Lifecycle(
    field="status",
    transitions=[
        Transition(
            "agree",
            source=[DRAFT],
            target=AGREED,
            roles=KEEPERS,
            label="Record as agreed",
            style="success",
            guard=ready_to_agree,
            sets=first_review,
            confirm="Both parties have agreed to it. Attach the signed document in Attachments.",
        ),
        Transition(
            "renegotiate",
            source=[AGREED],
            target=DRAFT,
            roles=KEEPERS,
            label="Back to negotiation",
            reason_required=True,
            style="secondary",
        ),
        Transition(
            "activate",
            source=[AGREED],
            target=ACTIVE,
            roles=KEEPERS,
            label="Put in force",
            guard=ready_to_start,
            confirm="Tickets of its customers and services are measured against it from now on.",
        ),
        Transition("expire", source=[ACTIVE], target=EXPIRED, roles=KEEPERS, guard=validity_ended, style="secondary"),
        Transition(
            "terminate",
            source=[AGREED, ACTIVE],
            target=TERMINATED,
            roles=KEEPERS,
            reason_required=True,
            style="danger",
            confirm="It stops applying at once; its record and history stay.",
        ),
    ],
)


def check_parties(agreement: Agreement, actor: Any, changes: dict[str, Any]) -> None:
    """Who an agreement is with follows its kind (raised in the write's transaction: nothing is written). The
    model checks the team and supplier; the customers, a many-to-many, are checked here once set."""
    if agreement.kind != AgreementKind.SLA and agreement.customers.exists():
        raise ValidationError(
            {
                "customers": f"Only a service level agreement has customers; an {agreement.reference_prefix()}'s "
                "party is its " + ("team." if agreement.kind == AgreementKind.OLA else "supplier.")
            }
        )


def delete_refusal(agreement: Agreement) -> str | None:
    if agreement.status != DRAFT:
        return "Only a draft agreement can be deleted: terminate it instead (its record and history stay)."
    return None


class ReviewForm(ActionForm):
    """The input of "Record a review": when the next one is due (default: a review interval from today)."""

    next_review = forms.DateField(
        required=False,
        help_text="Empty: today plus the agreement's review interval.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def clean_next_review(self) -> date | None:
        value = self.cleaned_data.get("next_review")
        if value is not None and value <= timezone.localdate():
            raise ValidationError("The next review is after today.")
        return value


def record_review(
    agreement: Agreement, *, actor: Any, expected_version: int, reason: str = "", next_review: date | None = None
) -> Agreement:
    """Record action "Record a review": reviewed today (the reason says what was decided), the next one planned."""
    today = timezone.localdate()
    before = {"last_reviewed": agreement.last_reviewed, "next_review": agreement.next_review}
    agreement.last_reviewed = today
    agreement.next_review = next_review or add_months(today, agreement.review_interval)
    agreement.review_notified_for = None
    agreement.version = F("version") + 1
    agreement.updated_by, agreement.updated_at = actor, timezone.now()
    agreement.save(
        update_fields=["last_reviewed", "next_review", "review_notified_for", "version", "updated_by", "updated_at"]
    )
    agreement.refresh_from_db(fields=["version"])
    changes: dict[str, Any] = {
        name: {"before": str(value) if value else None, "after": str(getattr(agreement, name))}
        for name, value in before.items()
    }
    changes["action"] = "record_review"
    audit.record_event(action=AuditAction.UPDATE, obj=agreement, actor=actor, changes=changes, reason=reason)
    return agreement


def review_refusal(agreement: Agreement, actor: Any) -> str | None:
    if agreement.status not in LIVE:
        return "Only an agreed or active agreement is reviewed."
    return None


RECORD_REVIEW = RecordAction(
    "record_review",
    "Record a review",
    record_review,
    form=ReviewForm,
    roles=KEEPERS,
    allowed=review_refusal,
    reason_required=True,
    style="secondary",
    help_text="The agreement was reviewed with the other party today: say what was decided; the next review is "
    "planned (by default a review interval from today).",
)


def run_dates(actor: Any, today: date | None = None) -> dict[str, int]:
    """The daily dates work, idempotent: agreed agreements whose validity has begun come into force, active ones
    whose validity has ended expire, and the owner of each agreement whose review became overdue is told once."""
    today = today or timezone.localdate()
    counts = {"activated": 0, "expired": 0, "reviews_overdue": 0}
    starting = Agreement.objects.filter(status=AGREED, valid_from__lte=today).filter(
        Q(valid_to__isnull=True) | Q(valid_to__gte=today)
    )
    for pk in starting.values_list("pk", flat=True):
        counts["activated"] += _move(pk, "activate", AGREED, actor, f"Valid from {today:%d %b %Y}: in force.")
    for pk in Agreement.objects.filter(status=ACTIVE, valid_to__lt=today).values_list("pk", flat=True):
        counts["expired"] += _move(pk, "expire", ACTIVE, actor, "Its validity period ended.")
    overdue = Agreement.objects.filter(status__in=LIVE, next_review__lt=today).exclude(
        review_notified_for=F("next_review")
    )
    for pk in overdue.values_list("pk", flat=True):
        with transaction.atomic():
            agreement = Agreement.objects.select_for_update().get(pk=pk)
            if agreement.review_notified_for == agreement.next_review or not review_overdue(agreement, today):
                continue  # told already by a run at the same time
            Agreement.objects.filter(pk=pk).update(review_notified_for=agreement.next_review)
            notify(REVIEW_OVERDUE_EVENT, agreement)
            counts["reviews_overdue"] += 1
    return counts


def _move(pk: int, action: str, expected: str, actor: Any, reason: str) -> int:
    with transaction.atomic():
        agreement = Agreement.objects.select_for_update().get(pk=pk)
        if agreement.status != expected:
            return 0  # moved by a run or a person at the same time
        services.transition(agreement, action, actor=actor, expected_version=agreement.version, reason=reason)
    return 1


@periodic("service_levels.agreement_dates", minute="5", hour="*")
def agreement_dates(*, actor: Any) -> dict[str, int]:
    """Agreements come into force and expire on their dates; an owner is told once of an overdue review."""
    return run_dates(actor)
