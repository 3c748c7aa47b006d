"""The service level record types, registered with the generic machinery (pages, API, search, export, policy):
priorities and agreements (SLA, OLA, underpinning contract) with their targets, limits and exceptions."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from meridian.core.attachments import Attachments
from meridian.core.children import Child
from meridian.core.choices import STATUS_COLOURS, Role
from meridian.core.notifications import Event, register_event
from meridian.core.registry import (
    ADD,
    ADMINS,
    CHANGE,
    DELETE,
    STAFF,
    Computed,
    Link,
    RecordType,
    register,
    register_page,
)
from meridian.core.tabs import Tab
from meridian.core.watchers import Watchers
from meridian.portfolio.catalogue import register_agreement_source
from meridian.service_levels import agreements, coverage
from meridian.service_levels.agreements import AGREEMENT_LIFECYCLE, KEEPERS, RECORD_REVIEW
from meridian.service_levels.catalogue import agreement_for
from meridian.service_levels.choices import AgreementKind, AgreementStatus
from meridian.service_levels.models import (
    Agreement,
    AgreementException,
    AgreementTarget,
    MeasuredTarget,
    Priority,
    WorkloadLimit,
)

# who keeps agreements, priorities and targets (ISO/IEC 20000-1 8.3.3)
SERVICE_LEVEL_KEEPERS = KEEPERS

STATUS_COLOURS.update({AgreementStatus.AGREED: "info", AgreementStatus.EXPIRED: "secondary"})

register(
    RecordType(
        model=Priority,
        fields=["name", "rank", "description"],
        list_columns=["rank", "name", "description"],
        search_fields=["name", "description"],
        permissions={ADD: ADMINS, CHANGE: SERVICE_LEVEL_KEEPERS, DELETE: ADMINS},
        area="administration",
        help_text="The priorities agreements give targets for; the priority matrix maps impact and urgency to them.",
    )
)


def _service_report_tab(agreement: Agreement, user: Any) -> dict[str, Any]:
    """The tickets app's reports of the agreement (imported when shown: service levels do not depend on tickets)."""
    from meridian.tickets.reports.tab import tab_context

    return tab_context(agreement, user)


def _party(agreement: Agreement) -> str:
    if agreement.kind == AgreementKind.SLA:
        names = [c.name for c in agreement.customers.all()]
        return ", ".join(names) if names else "Every customer"
    return str(agreement.party or "")


def _review(agreement: Agreement) -> str:
    if not agreement.next_review:
        return ""
    if agreement.status in agreements.LIVE and agreement.next_review < timezone.localdate():
        return f"Overdue since {agreement.next_review:%d %b %Y}"
    return f"Due {agreement.next_review:%d %b %Y}"


AGREEMENT_FIELDS = [
    "kind",
    "name",
    "description",
    "owner",
    "customers",
    "team",
    "supplier",
    "services",
    "valid_from",
    "valid_to",
    "support_hours",
    "service_hours",
    "availability_target",
    "provider_responsibilities",
    "party_responsibilities",
    "review_interval",
    "next_review",
]

register(
    RecordType(
        model=Agreement,
        fields=AGREEMENT_FIELDS,
        detail_fields=[*AGREEMENT_FIELDS, "last_reviewed"],
        list_columns=["reference", "name", "kind", "status", "party", "valid_to", "review"],
        filter_fields=["kind", "status", "customers", "team", "supplier", "services", "owner"],
        search_fields=["reference", "name", "description"],
        permissions={ADD: SERVICE_LEVEL_KEEPERS, CHANGE: SERVICE_LEVEL_KEEPERS, DELETE: SERVICE_LEVEL_KEEPERS},
        lifecycle=AGREEMENT_LIFECYCLE,
        actions=[RECORD_REVIEW],
        area="service",
        links={"owner": Link.INTERNAL, "customers": Link.ANY, "supplier": Link.ANY, "services": Link.ANY},
        select_related=["owner", "team", "supplier", "support_hours", "service_hours"],
        prefetch_related=["customers", "services"],
        computed={"party": Computed(_party, "With"), "review": Computed(_review, "Review")},
        after_save=agreements.check_parties,
        delete_refusal=agreements.delete_refusal,
        children=[
            Child(
                AgreementTarget,
                fk="agreement",
                fields=["priority", "response_minutes", "resolution_minutes"],
                label="Targets per priority",
                extra=2,
            ),
            Child(
                MeasuredTarget,
                fk="agreement",
                fields=["measure", "direction", "target", "unit", "source"],
                label="Other measurable targets",
            ),
            Child(
                WorkloadLimit,
                fk="agreement",
                fields=["measure", "limit", "period", "description"],
                label="Workload limits",
            ),
            Child(
                AgreementException,
                fk="agreement",
                fields=["kind", "description"],
                label="Exceptions",
            ),
        ],
        tabs=[
            Tab(
                "coverage",
                "Coverage & consistency",
                template="service_levels/tabs/coverage.html",
                context=coverage.tab_context,
                badge=coverage.badge,
                api=coverage.tab_api,
                help_text="Who and what it covers; the OLAs and underpinning contracts beneath an SLA (or the SLAs "
                "above an OLA or contract) and where they cannot support its targets; equally specific agreements "
                "it ties with; workload against its limits.",
            ),
            Tab(
                "service_report",
                "Service report",
                template="tickets/reports/tab.html",
                context=_service_report_tab,
                roles=frozenset({Role.SERVICE_LEVEL_MANAGER, Role.SERVICE_OWNER, Role.ADMINISTRATOR, Role.AUDITOR}),
                help_text="Its service reports: last month, the last quarter, the last six months.",
            ),
        ],
        attachments=Attachments(),  # the signed agreement, schedules, minutes of reviews
        watchers=Watchers(auto=["owner"]),
        help_text="Service level agreements with customers, operational level agreements with internal teams and "
        "underpinning contracts with suppliers: targets per priority, availability, workload limits, exceptions, "
        "reviews.",
    )
)

register_event(
    Event(
        agreements.REVIEW_OVERDUE_EVENT,
        recipients=lambda agreement: [agreement.owner] if agreement.owner_id else [],
        description="To an agreement's owner, once, when its review date has passed without a review recorded.",
    )
)

register_page(
    "service",
    "What applies",
    "service_levels:applies",
    STAFF,
    icon="signpost-split",
    help_text="Which agreement and target apply to a customer, service and priority, and when a ticket opened now "
    "would be due.",
)
register_page(
    "administration",
    "Priority matrix",
    "service_levels:matrix",
    STAFF,
    icon="grid-3x3",
    help_text="Impact × urgency gives the priority; agreements give targets per priority.",
)

register_agreement_source(agreement_for)  # a catalogue entry shows the SLA that applies to its reader

from meridian.service_levels import clock_records  # noqa: E402,F401
