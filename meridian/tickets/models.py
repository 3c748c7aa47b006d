"""Incidents and service requests (ISO/IEC 20000-1 8.6.1–8.6.2): two record types sharing one abstract `Ticket`.

What they share: who called and for which customer, the service and the CIs affected, category, impact and urgency
giving the priority through the matrix (`service_levels.priorities`), assignment, status, channel, resolution and
closure, satisfaction. Their clocks (response, resolution) are the clock engine's (`service_levels.clocks`), owned
generically by the ticket. A request adds the offering it was raised from, the answers to its form, its approvals
and its fulfilment tasks (rows of the request, `core.children`)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from meridian.core.models import Organisation, Person, Record, ReferencedRecord, Team
from meridian.service_levels.choices import Impact, Urgency
from meridian.tickets.choices import (
    INCIDENT_STATUSES,
    ApprovalDecision,
    Channel,
    ResolutionCode,
    Status,
    TaskStatus,
)


class Category(Record):
    """A category of tickets ("Email", "Hardware › Laptop"): for routing and the reports. Reference data."""

    name = models.CharField(max_length=100)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children", verbose_name="within"
    )
    default_team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text="Who gets new tickets of it."
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name_plural = "categories"
        constraints = [models.UniqueConstraint(fields=["parent", "name"], name="tickets_category_unique_name")]

    def __str__(self) -> str:
        return f"{self.parent.name} › {self.name}" if self.parent_id and self.parent else self.name

    def labelled(self, name: Any) -> str:
        return f"{name(self.parent)} › {self.name}" if self.parent_id else self.name


class Ticket(ReferencedRecord):
    """What incidents and service requests share."""

    TENANT_FIELD = "organisation"

    title = models.CharField(max_length=200, help_text="In a few words, what happened or what is asked.")
    description = models.TextField(blank=True)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="%(class)ss", verbose_name="customer"
    )
    caller = models.ForeignKey(
        Person,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="%(class)ss_called",
        help_text="Who reported it or asks for it.",
    )
    service = models.ForeignKey(
        "portfolio.Service", null=True, blank=True, on_delete=models.PROTECT, related_name="%(class)ss"
    )
    configuration_items = models.ManyToManyField(
        "cmdb.ConfigurationItem", blank=True, related_name="%(class)ss", verbose_name="configuration items affected"
    )
    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.PROTECT, related_name="%(class)ss")
    impact = models.CharField(max_length=10, choices=Impact.choices, default=Impact.LOW)
    urgency = models.CharField(max_length=10, choices=Urgency.choices, default=Urgency.MEDIUM)
    priority = models.ForeignKey(
        "service_levels.Priority",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="%(class)ss",
        editable=False,
        help_text="From impact and urgency through the priority matrix.",
    )
    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="%(class)ss",
        verbose_name="assignment team",
    )
    assignee = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.PROTECT, related_name="%(class)ss_assigned"
    )
    channel = models.CharField(max_length=20, choices=Channel.choices, default=Channel.AGENT)
    agreement = models.ForeignKey(
        "service_levels.Agreement",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="%(class)ss",
        editable=False,
        verbose_name="service level agreement",
        help_text="The agreement whose targets the clocks run against (the most specific one in force).",
    )
    responded_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name="first response")
    resolution_code = models.CharField(max_length=30, choices=ResolutionCode.choices, blank=True, editable=False)
    resolution_notes = models.TextField(blank=True, editable=False)
    resolved_at = models.DateTimeField(null=True, blank=True, editable=False)
    closed_at = models.DateTimeField(null=True, blank=True, editable=False)
    rating = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        editable=False,
        validators=[MinValueValidator(1), MaxValueValidator(5)],
        help_text="The customer's rating of the service, 1 (poor) to 5 (excellent).",
    )
    rating_comment = models.TextField(blank=True, editable=False)
    custom = models.JSONField(default=dict, blank=True, editable=False)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        # the reference first: people (and mail subjects) name tickets by it
        return f"{self.reference} {self.title}" if self.reference else self.title

    def clean(self) -> None:
        from meridian.tickets import services

        services.classify(self)


class Incident(Ticket):
    """An unplanned interruption or reduction in quality of a service (or a failure that has not yet hit one)."""

    REFERENCE_PREFIX = "INC"

    status = models.CharField(
        max_length=20, choices=[(s.value, s.label) for s in INCIDENT_STATUSES], default=Status.NEW, editable=False
    )
    major = models.BooleanField(default=False, editable=False, help_text="Handled as a major incident.")
    # major incidents (`tickets.major`): proposed by the criteria, declared by hand with a manager; all read-only here
    major_proposed_at = models.DateTimeField(null=True, blank=True, editable=False)
    major_criterion = models.ForeignKey(
        "MajorIncidentCriterion", null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    major_reason = models.TextField(blank=True, editable=False, help_text="Why it is (proposed as) major.")
    major_declared_at = models.DateTimeField(null=True, blank=True, editable=False)
    major_manager = models.ForeignKey(
        Person,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="major_incidents_managed",
        editable=False,
        verbose_name="major incident manager",
    )
    management_informed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "team"], name="tickets_incident_queue_idx")]


class ServiceRequest(Ticket):
    """A request for something the catalogue offers: raised from an offering, answered on its form, approved when
    the offering says so and fulfilled by its tasks."""

    REFERENCE_PREFIX = "REQ"

    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW, editable=False)
    offering = models.ForeignKey(
        "portfolio.Offering", null=True, blank=True, on_delete=models.PROTECT, related_name="requests"
    )
    answers = models.JSONField(default=dict, blank=True, help_text="The answers to the offering's request form.")

    class Meta:
        ordering = ["-id"]
        verbose_name = "service request"
        verbose_name_plural = "requests"  # the catalogue's requests: `/tickets/requests/`, `/api/v1/tickets/requests/`
        indexes = [models.Index(fields=["status", "team"], name="tickets_request_queue_idx")]


class Approval(models.Model):
    """One approver's decision on a request."""

    request = models.ForeignKey(ServiceRequest, on_delete=models.CASCADE, related_name="approvals")
    approver = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=10, choices=ApprovalDecision.choices, default=ApprovalDecision.PENDING)
    decided_at = models.DateTimeField(null=True, blank=True)
    comment = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["request", "approver"], name="tickets_approval_once")]

    def __str__(self) -> str:
        return f"{self.approver}: {self.get_decision_display()}"


class Task(models.Model):
    """A fulfilment task of a request: done by a team, in order (tasks with the same order run together)."""

    request = models.ForeignKey(ServiceRequest, on_delete=models.CASCADE, related_name="tasks")
    order = models.PositiveIntegerField(default=10)
    title = models.CharField(max_length=200)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="+")
    assignee = models.ForeignKey(Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=TaskStatus.choices, default=TaskStatus.WAITING)
    done_at = models.DateTimeField(null=True, blank=True)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["order", "id"]
        verbose_name = "fulfilment task"

    def __str__(self) -> str:
        return self.title


# --- major incidents (`tickets.major`) ----------------------------------------------------------------------------


class MajorIncidentCriterion(Record):
    """One rule of the criteria that propose an incident as *major*: every condition it sets must hold (a condition
    left empty holds for every incident); an incident is proposed when at least one active rule holds. The first such
    rule, in `order`, is kept on the incident with why. Kept by administrators and service level managers."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True, help_text="Why incidents like these are major (the policy's words).")
    active = models.BooleanField(default=True, help_text="Inactive rules are kept for the incidents that cite them.")
    order = models.PositiveIntegerField(default=100, help_text="Lower first: the first rule that holds is named.")
    priority_at_least = models.ForeignKey(
        "service_levels.Priority",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="priority, at least",
        help_text="This priority or a more urgent one (P1 is the most urgent).",
    )
    customers_reached_at_least = models.PositiveIntegerField(
        null=True,
        blank=True,
        verbose_name="customers reached, at least",
        help_text="Customers the incident's service and the impact of its CIs reach (`Major incident` tab).",
    )
    service = models.ForeignKey(
        "portfolio.Service",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="reaches the service",
        help_text="A critical service: the incident's own service, or one the failure of its CIs reaches.",
    )

    CONDITIONS = ("priority_at_least", "customers_reached_at_least", "service")

    class Meta:
        ordering = ["order", "name"]
        verbose_name = "major incident criterion"
        verbose_name_plural = "major incident criteria"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if all(getattr(self, f"{name}_id", getattr(self, name, None)) is None for name in self.CONDITIONS):
            raise ValidationError(
                {"priority_at_least": "Set at least one condition: a rule without any would make every incident major."}
            )


class MajorIncidentUpdate(models.Model):
    """One communication update sent to the customers a major incident reaches: its text (also a public comment on
    the incident) and how many customers and addresses it went to."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="major_updates")
    sent_at = models.DateTimeField()
    sent_by = models.ForeignKey(Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    comment_id = models.BigIntegerField(null=True, blank=True)
    customers = models.PositiveIntegerField(default=0)
    recipients = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["sent_at", "id"]
        verbose_name = "customer update"

    def __str__(self) -> str:
        return f"{self.incident_id}: update of {self.sent_at:%Y-%m-%d %H:%M} to {self.recipients} addresses"


class MajorIncidentReview(models.Model):
    """The post-incident review of a major incident (ISO/IEC 20000-1 8.6.1): required before it is closed."""

    incident = models.OneToOneField(Incident, on_delete=models.CASCADE, related_name="major_review")
    what_happened = models.TextField()
    timeline = models.TextField(help_text="When what happened, was noticed, was done; one line each.")
    root_cause = models.TextField(blank=True, help_text="As far as known (a problem record takes it further).")
    went_well = models.TextField(blank=True, verbose_name="what went well")
    went_badly = models.TextField(blank=True, verbose_name="what went badly")
    actions = models.TextField(blank=True, verbose_name="actions", help_text="What will be done, by whom, by when.")
    reviewed_at = models.DateTimeField()
    reviewed_by = models.ForeignKey(Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = "post-incident review"

    def __str__(self) -> str:
        return f"Post-incident review of {self.incident_id}"
