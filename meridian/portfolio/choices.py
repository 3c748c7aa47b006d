"""The portfolio's vocabularies."""

from __future__ import annotations

from django.db import models


class ServiceStatus(models.TextChoices):
    """Where a service is in its life (ISO/IEC 20000-1 8.2.2: the portfolio holds planned, live and retired services).
    Its configuration item's status follows (`portfolio.services.CI_STATUS`)."""

    PROPOSED = "proposed", "Proposed"
    IN_DESIGN = "in_design", "In design"
    IN_TRANSITION = "in_transition", "In transition"
    LIVE = "live", "Live"
    RETIRED = "retired", "Retired"


class ContactRole(models.TextChoices):
    SERVICE_OWNER = "service_owner", "Service owner"
    SERVICE_MANAGER = "service_manager", "Service manager"
    TECHNICAL_LEAD = "technical_lead", "Technical lead"
    ESCALATION = "escalation", "Escalation contact"
    CUSTOMER_CONTACT = "customer_contact", "Customer contact"
    SUPPLIER_CONTACT = "supplier_contact", "Supplier contact"


class DependencyKind(models.TextChoices):
    """Who a service depends on outside the provider's direct control (ISO/IEC 20000-1 8.2.4)."""

    SUPPLIER = "supplier", "External supplier"
    INTERNAL_GROUP = "internal_group", "Internal group"
    CUSTOMER = "customer", "Customer responsibility"


# --- proposals (planning new or changed services, ISO/IEC 20000-1 8.2.2, 8.5.1.1) ---


class ProposalStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    UNDER_ASSESSMENT = "under_assessment", "Under assessment"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"


class ProposalOrigin(models.TextChoices):
    """Who the need for a new or changed service comes from."""

    CUSTOMER = "customer", "A customer"
    INTERNAL_GROUP = "internal_group", "An internal group"
    SUPPLIER = "supplier", "A supplier"
    PROVIDER = "provider", "The provider itself"


class ProposalKind(models.TextChoices):
    """A criterion's condition on what a proposal is about."""

    NEW = "new", "A new service"
    CHANGED = "changed", "A change to an existing service"


class ProposalDecision(models.TextChoices):
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class ProposalRoute(models.TextChoices):
    """Where an approved proposal's work goes next (`portfolio.criteria.route`)."""

    DESIGN_AND_TRANSITION = "design_and_transition", "Service design and transition"
    CHANGE_MANAGEMENT = "change_management", "Change management"
