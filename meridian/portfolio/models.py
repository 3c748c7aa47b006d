"""The service portfolio and catalogue (ISO/IEC 20000-1 8.2.2–8.2.4): services with what the catalogue records of
them (business description, targets offered, service and support hours, security requirements, contacts, the
dependencies and responsibilities outside the provider's direct control).

A service is a configuration item too: `Service.configuration_item` is created with it and kept in step
(`portfolio.services`); its components and its dependencies on other services are the CI's relationships in the
CMDB, never a second copy."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import formats, timezone

from meridian.cmdb.choices import Level
from meridian.cmdb.models import ConfigurationItem
from meridian.core.choices import CustomFieldType
from meridian.core.models import (
    Calendar,
    CustomField,
    Organisation,
    Person,
    Record,
    ReferencedRecord,
    custom_values_field,
)
from meridian.portfolio.choices import (
    ContactRole,
    DependencyKind,
    ProposalDecision,
    ProposalKind,
    ProposalOrigin,
    ProposalStatus,
    ServiceStatus,
)


class ServiceCategory(Record):
    """A heading of the catalogue (Communication, Business applications, Workplace, Hosting)."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    order = models.PositiveIntegerField(default=100, help_text="Lower first in the catalogue.")

    class Meta:
        ordering = ["order", "name"]
        verbose_name = "service category"
        verbose_name_plural = "service categories"

    def __str__(self) -> str:
        return self.name


class Service(ReferencedRecord):
    """A service of the portfolio. The provider's record (no organisation of its own): customer users read the
    services offered to their organisation through the catalogue (`portfolio.catalogue`), never this record."""

    REFERENCE_PREFIX = "SVC"
    REFERENCE_WIDTH = 4

    name = models.CharField(max_length=200, unique=True)
    summary = models.CharField(
        max_length=300, blank=True, help_text="One sentence a customer understands: what it does for them."
    )
    business_description = models.TextField(
        blank=True, help_text="In the customer's language: what they get, what they can do with it, what it is not."
    )
    internal_description = models.TextField(
        blank=True, help_text="For staff only: how it is built and run, known limits, where the runbooks are."
    )
    category = models.ForeignKey(
        ServiceCategory, null=True, blank=True, on_delete=models.PROTECT, related_name="services"
    )
    status = models.CharField(
        max_length=20, choices=ServiceStatus.choices, default=ServiceStatus.PROPOSED, editable=False
    )
    owner = models.ForeignKey(
        Person,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="owned_services",
        verbose_name="service owner",
        help_text="Accountable for the service end to end.",
    )
    customers = models.ManyToManyField(
        Organisation,
        blank=True,
        related_name="services",
        verbose_name="offered to",
        help_text="The customer organisations whose users see it in their catalogue.",
    )
    configuration_item = models.OneToOneField(
        ConfigurationItem,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="service",
        verbose_name="configuration item",
        help_text="Its CI in the CMDB, kept in step: empty, a new one is made; or an existing service CI (from "
        "NetBox or iTop) for it to adopt. Its components and dependencies are that CI's relationships.",
    )
    service_hours = models.ForeignKey(
        Calendar,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="When the service is available (business-hours calendar, with its closures).",
    )
    support_hours = models.ForeignKey(
        Calendar,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="When the service desk and the resolver teams work on it.",
    )
    confidentiality = models.CharField(max_length=10, choices=Level.choices, default=Level.MEDIUM)
    integrity = models.CharField(max_length=10, choices=Level.choices, default=Level.MEDIUM)
    availability = models.CharField(max_length=10, choices=Level.choices, default=Level.MEDIUM)
    security_requirements = models.TextField(
        blank=True, help_text="What the service guarantees and requires: data location, encryption, access, retention."
    )
    custom = custom_values_field()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        ci = self.configuration_item
        if ci is not None:
            from meridian.cmdb.impact import service_class_ids

            if ci.ci_class_id not in service_class_ids():
                raise ValidationError(
                    {"configuration_item": f"{ci.reference} “{ci.name}” is a {ci.ci_class}, not a service CI."}
                )


class ServiceTarget(models.Model):
    """A target the service offers (until service level management holds the agreements: the offered value as
    recorded): "Availability 99.9 % per calendar month within service hours"."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="targets")
    measure = models.CharField(max_length=100, help_text="Availability, first response, resolution of a P1 ...")
    target = models.CharField(max_length=100, help_text="99.9 %, 30 minutes, 4 business hours ...")
    period = models.CharField(max_length=100, blank=True, help_text="Per calendar month, per quarter ...")

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.measure}: {self.target}"


class ServiceContact(models.Model):
    """Who to talk to about the service, in which role."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="contacts")
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=20, choices=ContactRole.choices)
    customer_visible = models.BooleanField(
        default=True, help_text="Shown to customers in their catalogue (an internal escalation contact may not be)."
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["service", "person", "role"], name="portfolio_contact_once_per_role")
        ]

    def __str__(self) -> str:
        return f"{self.person} ({self.get_role_display()})"


class ExternalDependency(models.Model):
    """A dependency or responsibility outside the provider's direct control: a supplier, an internal group, the
    customer itself (ISO/IEC 20000-1 8.2.4)."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="external_dependencies")
    kind = models.CharField(max_length=20, choices=DependencyKind.choices)
    party = models.ForeignKey(
        Organisation,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The supplier, internal group or customer (empty: every customer of the service).",
    )
    responsibility = models.CharField(max_length=300, help_text="What they provide or must do.")

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "external dependencies"

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.responsibility}"


# --- offerings ---------------------------------------------------------------------------------------------------
# What a customer can ask for under a service: the request catalogue (`portfolio.offerings`: registration, who may
# request, the request form).


class OfferingApproval(models.TextChoices):
    """Who approves a request for an offering before its tasks start."""

    NONE = "none", "No approval"
    SERVICE_OWNER = "service_owner", "The service owner"
    MANAGER = "manager", "The requester's manager"
    PERSON = "person", "A named person"
    TEAM_LEAD = "team_lead", "A team's lead"
    TEAM = "team", "A team's members"


class ApprovalRule(models.TextChoices):
    """With approval by a team's members: whose approval is enough."""

    ANY = "any", "Any one of them"
    ALL = "all", "All of them"


class Offering(Record):
    """Something a customer can ask for under a service (“New mailbox”, “Restore a deleted mail”): what it is in
    their words, who may ask for it, who approves, how long it takes, the form the requester fills and the tasks a
    request starts. The provider's record, like its service: customer users read the offerings they may request
    through the catalogue (`offerings.offerings_for`), never this record."""

    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="offerings")
    name = models.CharField(max_length=200, help_text="What the customer asks for, in their words: “New mailbox”.")
    summary = models.CharField(
        max_length=300, blank=True, help_text="One sentence the customer reads in the catalogue: what they get."
    )
    description = models.TextField(
        blank=True,
        help_text="In the customer's language: what they get, what they need to have ready, what it does not include.",
    )
    active = models.BooleanField(
        default=True, help_text="Only active offerings of live services can be requested and are in the catalogue."
    )
    requesters = models.ManyToManyField(
        Organisation,
        blank=True,
        related_name="requestable_offerings",
        verbose_name="who may request",
        help_text="The customer organisations whose users may request it, among those the service is offered to. "
        "Empty: every customer the service is offered to.",
    )
    staff_may_request = models.BooleanField(
        "staff may request on behalf",
        default=True,
        help_text="Service desk agents and other staff may request it for a customer (a call, a visit at the desk).",
    )
    approval = models.CharField(
        max_length=20,
        choices=OfferingApproval.choices,
        default=OfferingApproval.NONE,
        help_text="Who approves a request before its tasks start.",
    )
    approver_person = models.ForeignKey(
        Person,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="approver",
        help_text="With approval by a named person: who (one of the provider's people, with a login).",
    )
    approver_team = models.ForeignKey(
        "core.Team",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="approving team",
        help_text="With approval by a team's lead or members: the team (its lead, or its members with a login, at the "
        "time of the request).",
    )
    approval_rule = models.CharField(
        "approved when",
        max_length=5,
        choices=ApprovalRule.choices,
        default=ApprovalRule.ANY,
        help_text="With approval by a team's members: one approval is enough, or every member must approve. One "
        "rejection always rejects.",
    )
    expected_fulfilment = models.CharField(
        "expected fulfilment time",
        max_length=100,
        blank=True,
        help_text="What the customer is told, e.g. “2 business days” or “within 4 hours”.",
    )

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["service", "name"], name="portfolio_offering_unique_name")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from meridian.portfolio.offerings import approval_errors

        errors = approval_errors(self)
        if errors:
            raise ValidationError(errors)

    def request_form(self, user: Any, data: Any = None, **kwargs: Any) -> Any:
        """The form a requester fills for this offering (`offerings.RequestForm`), bound when `data` is given."""
        from meridian.portfolio.offerings import request_form

        return request_form(self, user, data, **kwargs)


class FulfilmentTask(models.Model):
    """A task a request for the offering starts: what is done, by which of the provider's teams, in which order."""

    offering = models.ForeignKey(Offering, on_delete=models.CASCADE, related_name="tasks")
    order = models.PositiveIntegerField(
        default=10, help_text="Tasks run in this order; tasks with the same number may run at the same time."
    )
    title = models.CharField(max_length=200)
    team = models.ForeignKey("core.Team", on_delete=models.PROTECT, related_name="+", help_text="Who does it.")
    description = models.TextField(blank=True, help_text="What to do, for the team.")

    class Meta:
        ordering = ["order", "id"]
        verbose_name = "fulfilment task"

    def __str__(self) -> str:
        return self.title


class RequestField(models.Model):
    """A field of an offering's request form: what the requester fills in. The same kinds and rules as a custom field
    (`core.CustomField`: name, label, kind, required, default, help text, choices, range, pattern), checked by the
    same code; see `portfolio.offerings` for why it belongs to the offering."""

    offering = models.ForeignKey(Offering, on_delete=models.CASCADE, related_name="request_fields")
    order = models.PositiveIntegerField(default=100, help_text="Fields are shown in this order.")
    name = models.CharField(
        max_length=50, help_text="Lower-case letters, digits and underscores (e.g. “mailbox_name”): the key in the API."
    )
    label = models.CharField(max_length=100, help_text="The question the requester reads.")
    type = models.CharField(max_length=20, choices=CustomFieldType.choices, default=CustomFieldType.TEXT)
    required = models.BooleanField(default=False)
    choices = models.TextField(blank=True, help_text="For a choice or multiple choice: one choice per line.")
    help_text = models.CharField("help text", max_length=300, blank=True)
    default = models.CharField(max_length=200, blank=True, help_text="As the requester would type it.")
    min_value = models.DecimalField("minimum", max_digits=20, decimal_places=6, null=True, blank=True)
    max_value = models.DecimalField("maximum", max_digits=20, decimal_places=6, null=True, blank=True)
    regex = models.CharField(
        "pattern", max_length=200, blank=True, help_text="For text: a regular expression the whole answer must match."
    )

    class Meta:
        ordering = ["order", "id"]
        verbose_name = "request form field"
        constraints = [models.UniqueConstraint(fields=["offering", "name"], name="portfolio_requestfield_unique_name")]

    def __str__(self) -> str:
        return self.label

    def definition(self) -> CustomField:
        """The field as a custom field definition (not saved): what `core.custom_fields` builds forms from and checks
        values against."""
        return CustomField(
            name=self.name,
            label=self.label,
            type=self.type,
            required=self.required,
            choices=self.choices,
            help_text=self.help_text,
            default=self.default,
            min_value=self.min_value,
            max_value=self.max_value,
            regex=self.regex,
            order=self.order,
        )

    def clean(self) -> None:
        from meridian.core.custom_fields import definition_errors

        errors = definition_errors(self.definition())
        if errors:
            raise ValidationError(errors)


# --- proposals ---
# Planning new or changed services (ISO/IEC 20000-1 8.2.2, 8.5.1.1): a proposal is raised, assessed and decided; the
# administrators' criteria say which are major (routed to service design and transition, a later issue) and which go
# straight to change management; an approved one records the request for change that controls its work. The rules
# are in `portfolio.proposals` (lifecycle, decision), `portfolio.criteria` (major or not) and `portfolio.rfc`.


class ProposalCriterion(Record):
    """One rule of the criteria that make a proposal *major*: every condition it sets must hold (a condition left
    empty holds for every proposal); a proposal is major when at least one active rule holds. The first such rule,
    in `order`, is kept on the proposal with why."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True, help_text="Why proposals like these are major (the policy's words).")
    active = models.BooleanField(default=True, help_text="Inactive rules are kept for the proposals that cite them.")
    order = models.PositiveIntegerField(default=100, help_text="Lower first: the first rule that holds is named.")
    kind = models.CharField(
        max_length=10,
        choices=ProposalKind.choices,
        blank=True,
        verbose_name="proposal for",
        help_text="Empty: new services and changes alike.",
    )
    origin = models.CharField(
        max_length=20, choices=ProposalOrigin.choices, blank=True, help_text="Empty: whoever the need comes from."
    )
    customers_affected_at_least = models.PositiveIntegerField(
        null=True, blank=True, verbose_name="customers affected, at least"
    )
    financial_impact_at_least = models.CharField(
        max_length=10, choices=Level.choices, blank=True, verbose_name="financial impact level, at least"
    )
    risk_at_least = models.CharField(max_length=10, choices=Level.choices, blank=True, verbose_name="risk, at least")
    category = models.ForeignKey(
        ServiceCategory,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="service category",
        help_text="Always major for services of this category (the proposal's category, or its service's).",
    )

    CONDITIONS = (
        "kind",
        "origin",
        "customers_affected_at_least",
        "financial_impact_at_least",
        "risk_at_least",
        "category",
    )

    class Meta:
        ordering = ["order", "name"]
        verbose_name = "proposal criterion"
        verbose_name_plural = "proposal criteria"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if all(getattr(self, name) in (None, "") for name in self.CONDITIONS):
            raise ValidationError(
                {"kind": "Set at least one condition: a rule without any would make every proposal major."}
            )


class ServiceProposal(ReferencedRecord):
    """A proposal for a new service or a change to one (ISO/IEC 20000-1 8.2.2 and 8.5.1.1): where the need comes
    from, what it is for, its assessed impacts, whether it is major (by the criteria), the decision, and the request
    for change that controls the work once approved. The provider's record (no organisation): staff only."""

    REFERENCE_PREFIX = "SPR"
    REFERENCE_WIDTH = 4

    title = models.CharField(max_length=200)
    service = models.ForeignKey(
        Service,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="proposals",
        help_text="The service it changes; empty for a new service (the service made on approval is linked here).",
    )
    proposed_service_name = models.CharField(
        max_length=200, blank=True, help_text="For a new service: its name in the portfolio once approved."
    )
    category = models.ForeignKey(
        ServiceCategory,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="service category",
        help_text="For a new service: its heading in the catalogue.",
    )
    origin = models.CharField(
        max_length=20, choices=ProposalOrigin.choices, verbose_name="origin of the need", help_text="Who needs it."
    )
    originating_organisation = models.ForeignKey(
        Organisation,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The customer, supplier or internal group it comes from.",
    )
    purpose = models.TextField(help_text="The need it meets, for whom, and what the service will do.")
    customers_affected = models.PositiveIntegerField(
        default=0, help_text="How many customer organisations it affects (an estimate for a new service)."
    )
    financial_impact_level = models.CharField(max_length=10, choices=Level.choices, blank=True)
    risk = models.CharField(max_length=10, choices=Level.choices, blank=True)
    financial_impact = models.TextField(
        blank=True, verbose_name="financial impact", help_text="Costs, charges, budget; who pays."
    )
    organisational_impact = models.TextField(
        blank=True, help_text="People, skills, teams, suppliers and contracts it needs or changes."
    )
    technical_impact = models.TextField(
        blank=True, help_text="Components, capacity, availability, security, the services it depends on."
    )
    sms_impact = models.TextField(
        blank=True,
        verbose_name="impact on the service management system",
        help_text="Processes, policies, plans, the catalogue and agreements it changes.",
    )
    status = models.CharField(
        max_length=20, choices=ProposalStatus.choices, default=ProposalStatus.DRAFT, editable=False
    )
    major = models.BooleanField(
        null=True,
        editable=False,
        verbose_name="major",
        help_text="By the proposal criteria, when submitted and again when decided; empty while a draft.",
    )
    major_criterion = models.ForeignKey(
        ProposalCriterion,
        null=True,
        editable=False,
        on_delete=models.PROTECT,
        related_name="proposals",
        verbose_name="major by the criterion",
    )
    major_reason = models.CharField(max_length=500, blank=True, editable=False, verbose_name="why major or minor")
    decision = models.CharField(max_length=10, choices=ProposalDecision.choices, blank=True, editable=False)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, editable=False, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, editable=False)
    decision_note = models.TextField(blank=True, editable=False, help_text="The reason given with the decision.")
    request_for_change = models.ForeignKey(
        "changes.Change",
        null=True,
        editable=False,
        on_delete=models.PROTECT,
        related_name="service_proposals",
        help_text="The change that controls the work of the approved proposal.",
    )

    class Meta:
        ordering = ["-id"]
        verbose_name = "service proposal"
        verbose_name_plural = "service proposals"

    def __str__(self) -> str:
        return self.title

    def display_decided_by(self) -> str:
        """The login that decided, as its page shows it: the person's name and the username."""
        user = self.decided_by
        if user is None:
            return ""
        person = getattr(user, "person", None)
        return f"{person} ({user.get_username()})" if person is not None else user.get_username()

    def display_decided_at(self) -> str:
        """When, in the reader's time zone (the active one)."""
        return formats.date_format(timezone.localtime(self.decided_at), "DATETIME_FORMAT") if self.decided_at else ""

    @property
    def for_new_service(self) -> bool:
        """A proposal for a new service names it (and, once approved, links the service made for it)."""
        return bool(self.proposed_service_name.strip())

    def clean(self) -> None:
        super().clean()
        self.proposed_service_name = self.proposed_service_name.strip()
        if self.status == ProposalStatus.APPROVED:
            return  # the service it made is linked: both are set, on purpose
        if self.service_id and self.proposed_service_name:
            raise ValidationError(
                {
                    "proposed_service_name": "Leave this empty for a change to an existing service, or clear the "
                    "service for a new one."
                }
            )
        if not self.service_id and not self.proposed_service_name:
            raise ValidationError(
                {"proposed_service_name": "Name the new service, or choose the service this proposal changes."}
            )
        clash = name_taken(self.proposed_service_name)
        if clash:
            raise ValidationError({"proposed_service_name": clash})


def name_taken(name: str) -> str | None:
    """Why a new service may not be called `name` (a service of that name exists, whatever the case), or None."""
    if not name:
        return None
    existing = Service.objects.filter(name__iexact=name).only("reference", "name").first()
    if existing is None:
        return None
    return (
        f"A service “{existing.name}” exists already ({existing.reference}): propose a change to it, or another name."
    )
