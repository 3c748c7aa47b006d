"""The tickets' vocabularies: statuses, channels, pending reasons, resolution codes."""

from __future__ import annotations

from django.db import models


class Status(models.TextChoices):
    """An incident's or a service request's status. Requests add approval (`AWAITING_APPROVAL`, `REJECTED`).
    Which statuses run, pause or stop an SLA clock is the clock metrics' configuration (`ClockMetric`), not code:
    each pending status pauses the resolution clock unless a service level manager lists it as running."""

    NEW = "new", "New"
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    ASSIGNED = "assigned", "Assigned"
    IN_PROGRESS = "in_progress", "In progress"
    PENDING_CUSTOMER = "pending_customer", "Pending: on the customer"
    PENDING_SUPPLIER = "pending_supplier", "Pending: on a supplier"
    PENDING_CHANGE = "pending_change", "Pending: on a change"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"
    CANCELLED = "cancelled", "Cancelled"
    REJECTED = "rejected", "Rejected"


INCIDENT_STATUSES = [s for s in Status if s not in (Status.AWAITING_APPROVAL, Status.REJECTED)]
OPEN = [Status.NEW, Status.AWAITING_APPROVAL, Status.ASSIGNED, Status.IN_PROGRESS]
PENDING = [Status.PENDING_CUSTOMER, Status.PENDING_SUPPLIER, Status.PENDING_CHANGE]
ACTIVE = [*OPEN, *PENDING]  # not yet resolved: what the queues hold
FINAL = [Status.CLOSED, Status.CANCELLED, Status.REJECTED]


class Channel(models.TextChoices):
    PORTAL = "portal", "Portal"
    AGENT = "agent", "Service desk"
    EMAIL = "email", "Email"
    API = "api", "API"
    MONITORING = "monitoring", "Monitoring"


class ResolutionCode(models.TextChoices):
    FIXED = "fixed", "Fixed"
    WORKAROUND = "workaround", "Workaround given"
    FULFILLED = "fulfilled", "Fulfilled"
    NO_FAULT = "no_fault", "No fault found"
    DUPLICATE = "duplicate", "Duplicate"
    USER_ERROR = "user_error", "Solved by the user / advice given"
    RESOLVED_BY_CHANGE = "resolved_by_change", "Resolved by a change"
    NOT_REPRODUCIBLE = "not_reproducible", "Could not be reproduced"


class ApprovalDecision(models.TextChoices):
    PENDING = "pending", "Waiting"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    NOT_NEEDED = "not_needed", "Not needed"  # another approver's decision settled it


class TaskStatus(models.TextChoices):
    WAITING = "waiting", "Waiting for earlier tasks"
    OPEN = "open", "Open"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"
