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
