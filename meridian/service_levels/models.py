"""Service level management (ISO/IEC 20000-1 8.3.3): priorities (the impact × urgency matrix), agreements with
customers (SLA), internal teams (OLA) and suppliers (underpinning contracts), their targets, and the clocks that
measure records against them (`service_levels.clocks`)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from meridian.core.choices import OrganisationKind
from meridian.core.models import Calendar, Organisation, Person, Record, ReferencedRecord, Team
from meridian.portfolio.models import Service
from meridian.service_levels.choices import (
    REFERENCE_PREFIXES,
    AgreementKind,
    AgreementStatus,
    Direction,
    ExceptionKind,
    Impact,
    Urgency,
    WorkloadMeasure,
    WorkloadPeriod,
)


def working_time(minutes: int | None) -> str:
    """240 → "4 h", 90 → "1 h 30 min", 15 → "15 min": business minutes as people say them."""
    if minutes is None:
        return ""
    hours, rest = divmod(int(minutes), 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h {rest} min" if rest else f"{hours} h"


class Priority(Record):
    """A priority of the matrix (P1 Critical ... P4 Low). Agreements give targets per priority."""

    name = models.CharField(max_length=40, unique=True, help_text="As people say it, e.g. “P1 – Critical”.")
    rank = models.PositiveSmallIntegerField(unique=True, help_text="1 is the most urgent.")
    description = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["rank"]
        verbose_name_plural = "priorities"

    def __str__(self) -> str:
        return self.name


class PriorityRule(Record):
    """One cell of the matrix: this impact with this urgency is this priority."""

    impact = models.CharField(max_length=10, choices=Impact.choices)
    urgency = models.CharField(max_length=10, choices=Urgency.choices)
    priority = models.ForeignKey(Priority, on_delete=models.PROTECT, related_name="rules")

    class Meta:
        ordering = ["impact", "urgency"]
        constraints = [models.UniqueConstraint(fields=["impact", "urgency"], name="service_levels_one_cell")]
        verbose_name = "priority matrix cell"

    def __str__(self) -> str:
        return f"{self.get_impact_display()} × {self.get_urgency_display()} → {self.priority}"


class Agreement(ReferencedRecord):
    """An agreement on service levels: with customers (SLA-0001), with an internal team (OLA-0001) or with a
    supplier (UC-0001, an underpinning contract). One shape for the three: the kind says who the other party is.
    Empty customers or services mean every customer or every service (a standard agreement); the agreement that
    names a customer or service is the more specific one (`service_levels.applies`)."""

    REFERENCE_PREFIX = "SLA"
    REFERENCE_WIDTH = 4

    kind = models.CharField(
        max_length=3,
        choices=AgreementKind.choices,
        default=AgreementKind.SLA,
        help_text="With a customer (SLA), an internal team (OLA) or a supplier (underpinning contract). Fixed once "
        "created: its reference says it.",
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, help_text="The scope: what is agreed, for whom, what it is not.")
    status = models.CharField(
        max_length=12, choices=AgreementStatus.choices, default=AgreementStatus.DRAFT, editable=False
    )
    owner = models.ForeignKey(
        Person,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="owned_agreements",
        verbose_name="agreement owner",
        help_text="Who keeps it for the provider: reviews it, is told when a review is due.",
    )
    customers = models.ManyToManyField(
        Organisation,
        blank=True,
        related_name="agreements",
        limit_choices_to={"kind": OrganisationKind.CUSTOMER},
        help_text="SLA only: the customer organisations it is agreed with. Empty: every customer (a standard SLA).",
    )
    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="agreements",
        help_text="OLA only: the internal team that agrees to the targets.",
    )
    supplier = models.ForeignKey(
        Organisation,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="contracts",
        limit_choices_to={"kind": OrganisationKind.SUPPLIER},
        help_text="Underpinning contract only: the supplier organisation.",
    )
    services = models.ManyToManyField(
        Service,
        blank=True,
        related_name="agreements",
        verbose_name="services covered",
        help_text="Empty: every service.",
    )
    valid_from = models.DateField()
    valid_to = models.DateField(null=True, blank=True, help_text="Empty: until terminated.")
    support_hours = models.ForeignKey(
        Calendar,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The business hours its response and resolution targets count in.",
    )
    service_hours = models.ForeignKey(
        Calendar,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="When the services must be available (its availability target counts in them). Empty: the "
        "support hours.",
    )
    availability_target = models.DecimalField(
        max_digits=6,
        decimal_places=3,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        verbose_name="availability target (%)",
        help_text="Within the service hours, e.g. 99.9.",
    )
    provider_responsibilities = models.TextField(blank=True, verbose_name="the provider's responsibilities")
    party_responsibilities = models.TextField(
        blank=True,
        verbose_name="the other party's responsibilities",
        help_text="The customer's, team's or supplier's: what they must do for the targets to hold.",
    )
    review_interval = models.PositiveSmallIntegerField(
        default=12,
        validators=[MinValueValidator(1), MaxValueValidator(60)],
        verbose_name="review every (months)",
    )
    next_review = models.DateField(
        null=True, blank=True, help_text="When it is reviewed next; past it, the review is overdue and the owner told."
    )
    last_reviewed = models.DateField(null=True, blank=True, editable=False)
    review_notified_for = models.DateField(null=True, blank=True, editable=False)  # the overdue review told of

    class Meta:
        ordering = ["reference"]
        indexes = [models.Index(fields=["kind", "status"], name="service_lev_kind_status")]

    def __str__(self) -> str:
        return self.name

    def reference_prefix(self) -> str:
        return REFERENCE_PREFIXES[AgreementKind(self.kind)]

    @property
    def party(self) -> Any:
        """The other party: a team, a supplier, or None for an SLA (its customers are a list)."""
        return {AgreementKind.OLA: self.team, AgreementKind.UC: self.supplier}.get(AgreementKind(self.kind))

    @property
    def calendar_for_availability(self) -> Calendar:
        return self.service_hours or self.support_hours

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.pk:
            stored = type(self).objects.filter(pk=self.pk).values_list("kind", flat=True).first()
            if stored and stored != self.kind:
                errors["kind"] = "The kind of an agreement cannot change (its reference says it): make a new one."
        if self.kind == AgreementKind.OLA and not self.team_id:
            errors["team"] = "An operational level agreement is with a team: choose it."
        if self.kind != AgreementKind.OLA and self.team_id:
            errors["team"] = "Only an operational level agreement has a team."
        if self.kind == AgreementKind.UC and not self.supplier_id:
            errors["supplier"] = "An underpinning contract is with a supplier: choose it."
        if self.kind != AgreementKind.UC and self.supplier_id:
            errors["supplier"] = "Only an underpinning contract has a supplier."
        if self.valid_from and self.valid_to and self.valid_to < self.valid_from:
            errors["valid_to"] = "It cannot end before it starts."
        if errors:
            raise ValidationError(errors)


class AgreementTarget(Record):
    """The response and resolution targets of one priority, in business minutes of the agreement's support hours."""

    agreement = models.ForeignKey(Agreement, on_delete=models.CASCADE, related_name="targets")
    priority = models.ForeignKey(Priority, on_delete=models.PROTECT, related_name="+")
    response_minutes = models.PositiveIntegerField(
        null=True, blank=True, verbose_name="response (business minutes)", help_text="e.g. 30; empty: no target."
    )
    resolution_minutes = models.PositiveIntegerField(
        null=True, blank=True, verbose_name="resolution (business minutes)", help_text="e.g. 240 for 4 hours."
    )

    class Meta:
        ordering = ["priority__rank"]
        constraints = [models.UniqueConstraint(fields=["agreement", "priority"], name="service_levels_one_target")]
        verbose_name = "priority target"

    def __str__(self) -> str:
        return f"{self.priority}: response {self.response_minutes}, resolution {self.resolution_minutes}"

    def display_response_minutes(self) -> str:
        return f"{self.response_minutes} ({working_time(self.response_minutes)})" if self.response_minutes else ""

    def display_resolution_minutes(self) -> str:
        return f"{self.resolution_minutes} ({working_time(self.resolution_minutes)})" if self.resolution_minutes else ""

    def clean(self) -> None:
        if self.response_minutes is None and self.resolution_minutes is None:
            raise ValidationError({"resolution_minutes": "Give a response or a resolution target (or both)."})
        if (
            self.response_minutes is not None
            and self.resolution_minutes is not None
            and self.response_minutes > self.resolution_minutes
        ):
            raise ValidationError({"response_minutes": "A response cannot be due after the resolution."})


class MeasuredTarget(Record):
    """Another measurable target: a value with its unit, and where the measured value comes from."""

    agreement = models.ForeignKey(Agreement, on_delete=models.CASCADE, related_name="measured_targets")
    measure = models.CharField(max_length=120, help_text="e.g. First-call resolution, Customer satisfaction.")
    direction = models.CharField(max_length=10, choices=Direction.choices, default=Direction.AT_LEAST)
    target = models.DecimalField(max_digits=12, decimal_places=3)
    unit = models.CharField(max_length=30, help_text="e.g. %, ms, score of 5.")
    source = models.CharField(
        max_length=200, help_text="Where the measured value comes from: a report, a monitoring system, a survey."
    )

    class Meta:
        ordering = ["measure"]

    def __str__(self) -> str:
        return f"{self.measure} {self.get_direction_display().lower()} {self.target} {self.unit}"


class WorkloadLimit(Record):
    """A limit of the workload the targets hold for: at most N requests a month, M recipients per mass send."""

    agreement = models.ForeignKey(Agreement, on_delete=models.CASCADE, related_name="workload_limits")
    measure = models.CharField(max_length=12, choices=WorkloadMeasure.choices)
    limit = models.PositiveIntegerField(verbose_name="at most")
    period = models.CharField(max_length=8, choices=WorkloadPeriod.choices, default=WorkloadPeriod.MONTH)
    description = models.CharField(max_length=200, blank=True, help_text="What counts; required for “Other”.")

    class Meta:
        ordering = ["measure"]

    def __str__(self) -> str:
        return f"{self.get_measure_display()}: at most {self.limit} {self.get_period_display()}"

    def clean(self) -> None:
        if self.measure == WorkloadMeasure.OTHER and not self.description.strip():
            raise ValidationError({"description": "Say what an “Other” limit counts."})


class AgreementException(Record):
    """What the agreement excludes, or when its targets do not apply (planned maintenance, force majeure)."""

    agreement = models.ForeignKey(Agreement, on_delete=models.CASCADE, related_name="exceptions")
    kind = models.CharField(max_length=10, choices=ExceptionKind.choices, default=ExceptionKind.EXCLUDED)
    description = models.CharField(max_length=300)

    class Meta:
        ordering = ["kind", "description"]
        verbose_name = "exception"

    def __str__(self) -> str:
        return self.description


from meridian.service_levels.clock_models import Clock, ClockEvent, ClockMetric, ClockSegment, ClockTerm  # noqa: E402,F401
