"""The portfolio's record types, registered with the generic machinery (pages, API, search, export, policy).

Services are the provider's records (staff read them whole); customer users read the catalogue of their
organisation through `portfolio.catalogue` (the portal pages and `/api/v1/portfolio/catalogue/`)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.urls import reverse

from meridian.cmdb.models import Relationship
from meridian.core import audit
from meridian.core.attachments import Attachments
from meridian.core.children import Child
from meridian.core.choices import STATUS_COLOURS, AuditAction
from meridian.core.control import Control
from meridian.core.conversation import Conversation
from meridian.core.registry import (
    ADD,
    ADMINS,
    CHANGE,
    DELETE,
    EVERYONE,
    Link,
    RecordType,
    Related,
    register,
    register_page,
)
from meridian.core.search import Hit, register_source
from meridian.core.tabs import Tab
from meridian.core.watchers import Watchers
from meridian.portfolio import catalogue, configuration, services
from meridian.portfolio.choices import ServiceStatus
from meridian.portfolio.models import ExternalDependency, Service, ServiceCategory, ServiceContact, ServiceTarget
from meridian.portfolio.workflows import OWNERS, SERVICE_LIFECYCLE

STATUS_COLOURS.update(
    {
        ServiceStatus.PROPOSED: "secondary",
        ServiceStatus.IN_DESIGN: "info",
        ServiceStatus.IN_TRANSITION: "primary",
    }
)

SERVICE_FIELDS = [
    "name",
    "summary",
    "category",
    "owner",
    "customers",
    "configuration_item",
    "business_description",
    "internal_description",
    "service_hours",
    "support_hours",
    "confidentiality",
    "integrity",
    "availability",
    "security_requirements",
]


def _controlled(ci: Any) -> bool:
    return bool(ci is not None and ci.controlled)


# a service whose CI is under change control: a write of what its CI keeps (name, summary, security levels, status)
# cites an approved change that lists the CI; the rest of the catalogue entry is the owner's to keep
SERVICE_CONTROL = Control(
    touched=lambda service: [getattr(service, "configuration_item", None)],
    controlled=_controlled,
    exempt=frozenset(
        {*SERVICE_FIELDS, "targets", "contacts", "external_dependencies", "custom"} - services.CONTROLLED_FIELDS
    ),
)


def delete_refusal(service: Service) -> str | None:
    if service.status != ServiceStatus.PROPOSED:
        return "Only a proposed service can be deleted: retire it instead (its record and history stay)."
    ci = service.configuration_item_id
    if ci and Relationship.objects.filter(Q(source_id=ci) | Q(target_id=ci)).exists():
        return "Its configuration item has relationships in the CMDB: remove them first, or retire the service."
    return None


def delete_ci(service: Service, actor: Any) -> None:
    """A proposed service's CI goes with it (audited on the CI)."""
    ci = service.configuration_item
    if ci is None:
        return
    audit.record_event(
        action=AuditAction.DELETE,
        obj=ci,
        actor=actor,
        changes=audit.diff(audit.snapshot(ci), {}),
        reason=f"Deleted with service {service.reference}.",
    )
    ci.delete()


register(
    RecordType(
        model=ServiceCategory,
        fields=["name", "description", "order"],
        list_columns=["name", "order", "description"],
        search_fields=["name", "description"],
        permissions={ADD: OWNERS, CHANGE: OWNERS, DELETE: OWNERS},
        area="service",
        related=[Related("services", "Services", columns=["reference", "name", "status", "owner"])],
        help_text="The headings of the service catalogue.",
    )
)

register(
    RecordType(
        model=Service,
        fields=SERVICE_FIELDS,
        list_columns=["reference", "name", "category", "status", "owner", "customers"],
        filter_fields=["status", "category", "owner", "customers"],
        search_fields=["reference", "name", "summary", "business_description", "internal_description"],
        permissions={ADD: OWNERS, CHANGE: OWNERS, DELETE: ADMINS},
        lifecycle=SERVICE_LIFECYCLE,
        control=SERVICE_CONTROL,
        area="service",
        links={"customers": Link.ANY, "owner": Link.INTERNAL, "configuration_item": Link.ANY},
        select_related=["category", "owner", "configuration_item", "service_hours", "support_hours"],
        prefetch_related=["customers"],
        after_save=services.keep_ci,
        delete_refusal=delete_refusal,
        after_delete=delete_ci,
        children=[
            Child(ServiceTarget, fk="service", fields=["measure", "target", "period"], label="Service targets"),
            Child(
                ServiceContact,
                fk="service",
                fields=["person", "role", "customer_visible"],
                label="Contacts",
                links={"person": Link.ANY},
            ),
            Child(
                ExternalDependency,
                fk="service",
                fields=["kind", "party", "responsibility"],
                label="Dependencies and responsibilities outside our control",
                links={"party": Link.ANY},
            ),
        ],
        tabs=[
            Tab(
                "configuration",
                "Components & dependencies",
                template="portfolio/tabs/configuration.html",
                context=configuration.tab_context,
                api=configuration.tab_api,
                help_text="From the CMDB: the service's configuration item, the CIs that are part of it, what it "
                "depends on and what depends on it (only CIs you may see).",
            ),
            Tab(
                "catalogue",
                "In the catalogue",
                template="portfolio/tabs/catalogue.html",
                context=catalogue.tab_context,
                help_text="The service's catalogue entry as its customers read it.",
            ),
            Tab(
                "graph",
                "Graph",
                template="portfolio/tabs/graph.html",
                request_context=configuration.graph_context,
                api=configuration.graph_api,
                help_text="The service's configuration item and its neighbours in the CMDB (`depth` 1 to 3).",
            ),
        ],
        custom_fields=True,
        record_links=True,
        attachments=Attachments(),  # service descriptions, design documents
        conversation=Conversation(),
        watchers=Watchers(auto=["owner"]),
        help_text="The service portfolio: every service from proposal to retirement, with what the catalogue says "
        "of it (targets, hours, security, contacts, outside dependencies) and its configuration item.",
    )
)


def _catalogue_hits(user: Any, query: str, per_type: int) -> list[Hit]:
    """Customers find the services of their catalogue (staff find the service records themselves)."""
    if not getattr(user, "is_customer", False):
        return []
    return [
        Hit(
            type="portfolio.catalogue",
            type_label="service",
            id=s.pk,
            display=f"{s.reference} {s.name}",
            url=reverse("portfolio:catalogue_entry", args=[s.reference]),
            api_url=reverse("api:portfolio-catalogue-entry", args=[s.reference]),
        )
        for s in catalogue.search(user, query)[:per_type]
    ]


register_source(_catalogue_hits)
register_page(
    "service",
    "Service catalogue",
    "portfolio:catalogue",
    EVERYONE,
    icon="book",
    help_text="The live services as customers read them: hours, targets, contacts, what you can ask for.",
)

# the app's other record types, registered after the service they refer to
from meridian.portfolio import offerings  # noqa: E402, F401, I001 - offerings (the request catalogue)
from meridian.portfolio import proposals  # noqa: E402, F401 - service proposals and their criteria
