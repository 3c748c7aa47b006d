"""Planning new or changed services (ISO/IEC 20000-1 8.2.2, 8.5.1.1-8.5.1.2): service proposals and the criteria
that make one major, registered with the generic machinery (pages, API, search, export, policy).

A proposal goes draft -> submitted -> under assessment -> approved or rejected (or withdrawn before a decision).
Service owners, administrators, service desk agents and change managers raise and submit proposals; service owners
and administrators assess and decide. Submitting classifies it by the criteria (`criteria.classify`: major or
minor, and why); deciding classifies it again (the assessment may have changed its levels) and records who decided,
when, what and why, in the same row write and audit event as the status (`Transition.sets`). Approving a proposal
for a new service makes the service (status proposed) through `core.services.create_record` and links it on the
proposal. An approved proposal then records its request for change (`portfolio.rfc`)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from meridian.core import services
from meridian.core.actions import RecordAction
from meridian.core.attachments import Attachments
from meridian.core.choices import STATUS_COLOURS, OrganisationKind, Role
from meridian.core.conversation import Conversation
from meridian.core.lifecycle import Lifecycle, Transition
from meridian.core.registry import ADD, ADMINS, CHANGE, DELETE, Computed, RecordType, register
from meridian.core.watchers import Watchers
from meridian.portfolio import criteria, rfc
from meridian.portfolio.choices import ProposalDecision, ProposalStatus
from meridian.portfolio.models import ProposalCriterion, Service, ServiceProposal, name_taken
from meridian.portfolio.workflows import OWNERS

RAISERS = OWNERS | {Role.SERVICE_DESK_AGENT, Role.CHANGE_MANAGER}
DECIDERS = OWNERS
DRAFT, SUBMITTED, UNDER_ASSESSMENT = ProposalStatus.DRAFT, ProposalStatus.SUBMITTED, ProposalStatus.UNDER_ASSESSMENT
APPROVED, REJECTED, WITHDRAWN = ProposalStatus.APPROVED, ProposalStatus.REJECTED, ProposalStatus.WITHDRAWN
OPEN = (DRAFT, SUBMITTED, UNDER_ASSESSMENT)

ASSESSMENTS = {
    "financial_impact": "the financial impact",
    "organisational_impact": "the organisational impact",
    "technical_impact": "the technical impact",
    "sms_impact": "the impact on the service management system",
}

STATUS_COLOURS.update(
    {
        UNDER_ASSESSMENT: "primary",
        # draft, submitted, approved, rejected, withdrawn: shared with the changes' colours
    }
)


def assessed(proposal: ServiceProposal, actor: Any) -> str | None:
    """Guard of "start assessment" and "approve": the four assessments are written (the refusal names those not)."""
    missing = [label for name, label in ASSESSMENTS.items() if not getattr(proposal, name).strip()]
    if not missing:
        return None
    listed = missing[0] if len(missing) == 1 else f"{', '.join(missing[:-1])} and {missing[-1]}"
    return f"Assess {listed} first (the proposal's assessment fields)."


def classified(proposal: ServiceProposal, actor: Any, reason: str) -> dict[str, Any]:
    """`sets` of "submit": major or minor by the criteria, and why."""
    return criteria.classification_values(proposal)


def _decision(proposal: ServiceProposal, actor: Any, reason: str, decision: str) -> dict[str, Any]:
    return {
        "decision": decision,
        "decided_by": actor,
        "decided_at": timezone.now(),
        "decision_note": reason.strip(),
    }


def rejected(proposal: ServiceProposal, actor: Any, reason: str) -> dict[str, Any]:
    """`sets` of "reject": who decided, when, and why."""
    return _decision(proposal, actor, reason, ProposalDecision.REJECTED)


def approved(proposal: ServiceProposal, actor: Any, reason: str) -> dict[str, Any]:
    """`sets` of "approve": classified again, who decided, when and why; for a new service, the service made for it
    (status proposed, its name and category, the raiser as its owner when they are the provider's staff). A name
    taken meanwhile refuses the approval on the name, before anything is written."""
    values = {
        **criteria.classification_values(proposal),
        **_decision(proposal, actor, reason, ProposalDecision.APPROVED),
    }
    if proposal.for_new_service and proposal.service_id is None:
        clash = name_taken(proposal.proposed_service_name)
        if clash:
            raise ValidationError({"proposed_service_name": clash})
        values["service"] = services.create_record(
            Service,
            data={"name": proposal.proposed_service_name, "category": proposal.category, "owner": _owner(proposal)},
            actor=actor,
            reason=f"Made on approval of service proposal {proposal.reference} “{proposal.title}”.",
        )
    return values


def _owner(proposal: ServiceProposal) -> Any:
    """The raiser's person, when they are one of the provider's staff (a service's owner is: `Link.INTERNAL`)."""
    person = getattr(proposal.created_by, "person", None) if proposal.created_by_id else None
    if person is None or person.organisation.kind != OrganisationKind.INTERNAL:
        return None
    return person


PROPOSAL_LIFECYCLE = Lifecycle(
    field="status",
    transitions=[
        Transition(
            "submit", source=[DRAFT], target=SUBMITTED, roles=RAISERS, label="Submit for assessment", sets=classified
        ),
        Transition(
            "start_assessment",
            source=[SUBMITTED],
            target=UNDER_ASSESSMENT,
            roles=DECIDERS,
            label="Start assessment",
            guard=assessed,
        ),
        Transition(
            "approve",
            source=[UNDER_ASSESSMENT],
            target=APPROVED,
            roles=DECIDERS,
            style="success",
            guard=assessed,
            sets=approved,
            confirm="A proposal for a new service makes the service (status proposed) in the portfolio.",
        ),
        Transition(
            "reject",
            source=[UNDER_ASSESSMENT],
            target=REJECTED,
            roles=DECIDERS,
            reason_required=True,
            style="danger",
            sets=rejected,
        ),
        Transition(
            "withdraw", source=list(OPEN), target=WITHDRAWN, roles=RAISERS, reason_required=True, style="warning"
        ),
    ],
)


def fixed_once_decided(proposal: ServiceProposal, actor: Any, changes: dict[str, Any]) -> None:
    """A decision is of what was assessed: an approved, rejected or withdrawn proposal is not edited any more.
    (Raised inside the write's transaction: the edit writes nothing.)"""
    if proposal.status in OPEN:
        return
    fields = [name for name in changes if name in PROPOSAL_FIELDS] or ["title"]
    state = proposal.get_status_display().lower()
    raise ValidationError(dict.fromkeys(fields, f"The proposal is {state}: it is kept as decided."))


def delete_refusal(proposal: ServiceProposal) -> str | None:
    if proposal.status != DRAFT:
        return "Only a draft proposal can be deleted: withdraw it instead (its record and history stay)."
    return None


def _outcome(proposal: ServiceProposal) -> str:
    """What became of it (a list column and the API's `outcome`): the service it made, the change controlling it."""
    parts = []
    if proposal.status == APPROVED and proposal.service is not None and proposal.for_new_service:
        parts.append(f"created {proposal.service.reference} “{proposal.service.name}”")
    if proposal.request_for_change is not None:
        parts.append(f"request for change {proposal.request_for_change.reference}")
    return "; ".join(parts)


PROPOSAL_FIELDS = [
    "title",
    "service",
    "proposed_service_name",
    "category",
    "origin",
    "originating_organisation",
    "purpose",
    "customers_affected",
    "financial_impact_level",
    "risk",
    "financial_impact",
    "organisational_impact",
    "technical_impact",
    "sms_impact",
]

RFC_ROLES = DECIDERS | {Role.CHANGE_MANAGER}
RAISE_RFC = RecordAction(
    "raise_rfc",
    "Raise the request for change",
    rfc.raise_request_for_change,
    roles=RFC_ROLES,
    allowed=rfc.rfc_refusal,
    style="success",
    confirm="A draft request for change is made from the proposal and linked to it.",
    help_text="Makes a draft request for change from the approved proposal (its title, reference and purpose; "
    "its service's configuration item listed) and records it as the change that controls the work.",
)
RECORD_RFC = RecordAction(
    "record_rfc",
    "Record an existing change",
    rfc.record_request_for_change,
    form=rfc.RecordChangeForm,
    roles=RFC_ROLES,
    allowed=rfc.rfc_refusal,
    style="secondary",
    bulk=False,
    help_text="Records a request for change raised elsewhere as the change that controls the approved proposal's work.",
)


register(
    RecordType(
        model=ProposalCriterion,
        fields=[
            "name",
            "description",
            "active",
            "order",
            "kind",
            "origin",
            "customers_affected_at_least",
            "financial_impact_at_least",
            "risk_at_least",
            "category",
        ],
        list_columns=["name", "conditions", "active", "order"],
        filter_fields=["active", "kind", "origin", "category"],
        search_fields=["name", "description"],
        permissions={ADD: ADMINS, CHANGE: ADMINS, DELETE: ADMINS},
        area="service",
        select_related=["category"],
        computed={"conditions": Computed(criteria.conditions, "Conditions")},
        help_text="The criteria that make a service proposal major (routed to service design and transition): a "
        "proposal is major when one active rule holds, that is when all the conditions it sets hold.",
    )
)

register(
    RecordType(
        model=ServiceProposal,
        fields=PROPOSAL_FIELDS,
        detail_fields=[
            *PROPOSAL_FIELDS,
            "status",
            "major",
            "major_criterion",
            "major_reason",
            "decision",
            "decided_by",
            "decided_at",
            "decision_note",
            "request_for_change",
        ],
        list_columns=["reference", "title", "service", "origin", "status", "major", "outcome"],
        filter_fields=["status", "origin", "major", "service", "category", "decision"],
        search_fields=["reference", "title", "proposed_service_name", "purpose"],
        permissions={ADD: RAISERS, CHANGE: RAISERS, DELETE: ADMINS},
        lifecycle=PROPOSAL_LIFECYCLE,
        actions=[RAISE_RFC, RECORD_RFC],
        area="service",
        select_related=[
            "service",
            "category",
            "originating_organisation",
            "major_criterion",
            "decided_by",
            "request_for_change",
        ],
        computed={
            "route": Computed(criteria.route, "Route"),
            "outcome": Computed(_outcome, "Outcome"),
        },
        after_save=fixed_once_decided,
        delete_refusal=delete_refusal,
        record_links=True,
        attachments=Attachments(),  # business cases, designs, quotations
        conversation=Conversation(),
        watchers=Watchers(),
        help_text="Proposals for new or changed services: where the need comes from, what it is for, its assessed "
        "impacts, whether it is major by the proposal criteria (and so where its work goes next), the decision, and "
        "the request for change that controls the work.",
    )
)
