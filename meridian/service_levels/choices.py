"""The vocabularies of service level management."""

from __future__ import annotations

from django.db import models


class Impact(models.TextChoices):
    """How much of the business a disruption touches (one axis of the priority matrix)."""

    HIGH = "high", "High: many users or a whole service"
    MEDIUM = "medium", "Medium: a group or a department"
    LOW = "low", "Low: one user"


class Urgency(models.TextChoices):
    """How soon the business needs it back (the other axis of the priority matrix)."""

    HIGH = "high", "High: work has stopped"
    MEDIUM = "medium", "Medium: work is hindered"
    LOW = "low", "Low: a workaround exists"


class AgreementKind(models.TextChoices):
    """Who the provider agrees with (ISO/IEC 20000-1 8.3.3): a customer, an internal team, a supplier."""

    SLA = "sla", "Service level agreement"
    OLA = "ola", "Operational level agreement"
    UC = "uc", "Underpinning contract"


REFERENCE_PREFIXES = {AgreementKind.SLA: "SLA", AgreementKind.OLA: "OLA", AgreementKind.UC: "UC"}


class AgreementStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    AGREED = "agreed", "Agreed"
    ACTIVE = "active", "Active"
    EXPIRED = "expired", "Expired"
    TERMINATED = "terminated", "Terminated"


class Direction(models.TextChoices):
    AT_LEAST = "at_least", "At least"
    AT_MOST = "at_most", "At most"


class WorkloadMeasure(models.TextChoices):
    """What a workload limit counts. The tickets and changes apps measure the first ones; the rest are recorded."""

    REQUESTS = "requests", "Service requests"
    INCIDENTS = "incidents", "Incidents"
    CHANGES = "changes", "Changes"
    USERS = "users", "Users supported"
    RECIPIENTS = "recipients", "Recipients per mass send"
    OTHER = "other", "Other (described)"


class WorkloadPeriod(models.TextChoices):
    DAY = "day", "per day"
    WEEK = "week", "per week"
    MONTH = "month", "per month"
    QUARTER = "quarter", "per quarter"
    YEAR = "year", "per year"
    EACH = "each", "each time"


class ExceptionKind(models.TextChoices):
    EXCLUDED = "excluded", "Excluded from the agreement"
    SUSPENDED = "suspended", "Targets do not apply"
    CUSTOMER = "customer", "Customer's responsibility"
