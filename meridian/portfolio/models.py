"""The service portfolio and catalogue (ISO/IEC 20000-1 8.2.2–8.2.4): services with what the catalogue records of
them (business description, targets offered, service and support hours, security requirements, contacts, the
dependencies and responsibilities outside the provider's direct control).

A service is a configuration item too: `Service.configuration_item` is created with it and kept in step
(`portfolio.services`); its components and its dependencies on other services are the CI's relationships in the
CMDB, never a second copy."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from meridian.cmdb.choices import Level
from meridian.cmdb.models import ConfigurationItem
from meridian.core.models import Calendar, Organisation, Person, Record, ReferencedRecord, custom_values_field
from meridian.portfolio.choices import ContactRole, DependencyKind, ServiceStatus


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
