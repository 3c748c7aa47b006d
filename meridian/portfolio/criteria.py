"""Which service proposals are *major* (ISO/IEC 20000-1 8.5.1.1: the criteria that decide whether a new or changed
service goes through service design and transition, 8.5.2, or straight to change management).

The criteria are rows administrators keep (`ProposalCriterion`, the "Proposal criteria" list), not one settings
record: each rule is a record with its own history, rules are combined with *or* (a proposal is major when one
active rule holds) and conditions within a rule with *and*, and a proposal names the rule that made it major. One
settings record would have to say all of that in a single form, and could not say which of its conditions applied.

`classify(proposal)` reads them; `route(proposal)` says where the work of a classified proposal goes next."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from meridian.cmdb.choices import Level
from meridian.portfolio.choices import ProposalKind, ProposalRoute
from meridian.portfolio.models import ProposalCriterion

LEVELS = [Level.LOW, Level.MEDIUM, Level.HIGH]


@dataclass(frozen=True)
class Classification:
    major: bool
    criterion: ProposalCriterion | None
    reason: str


def _rank(level: str) -> int:
    return LEVELS.index(level) if level in LEVELS else -1  # type: ignore[arg-type]


def _label(level: str) -> str:
    return str(Level(level).label).lower()


def category_of(proposal: Any) -> int | None:
    """The category the criteria judge: the proposal's own, else its service's."""
    if proposal.category_id:
        return int(proposal.category_id)
    service = proposal.service
    return service.category_id if service is not None else None


def holds(criterion: ProposalCriterion, proposal: Any) -> list[str] | None:
    """What of `criterion` the proposal meets (its conditions, in words), or None when one of them does not hold."""
    met: list[str] = []
    if criterion.kind:
        kind = ProposalKind.NEW if proposal.for_new_service else ProposalKind.CHANGED
        if kind != criterion.kind:
            return None
        met.append(str(ProposalKind(kind).label).lower())
    if criterion.origin:
        if proposal.origin != criterion.origin:
            return None
        met.append(f"origin: {proposal.get_origin_display().lower()}")
    if criterion.customers_affected_at_least is not None:
        if proposal.customers_affected < criterion.customers_affected_at_least:
            return None
        met.append(
            f"{proposal.customers_affected} customers affected (at least {criterion.customers_affected_at_least})"
        )
    for field, wanted, label in (
        ("financial_impact_level", criterion.financial_impact_at_least, "financial impact"),
        ("risk", criterion.risk_at_least, "risk"),
    ):
        if wanted:
            value = getattr(proposal, field)
            if _rank(value) < _rank(wanted):
                return None
            met.append(f"{label} {_label(value)} (at least {_label(wanted)})")
    if criterion.category_id is not None:
        if category_of(proposal) != criterion.category_id:
            return None
        met.append(f"service category “{criterion.category}”")
    return met


def classify(proposal: Any) -> Classification:
    """Major or not, by the active criteria in their order: the first rule that holds names why."""
    rules = list(ProposalCriterion.objects.filter(active=True).select_related("category").order_by("order", "name"))
    for criterion in rules:
        met = holds(criterion, proposal)
        if met is not None:
            reason = f"Major by the criterion “{criterion.name}”: {'; '.join(met)}."
            return Classification(True, criterion, reason[:500])
    checked = f"{len(rules)} active {'criterion' if len(rules) == 1 else 'criteria'}" if rules else "no criteria"
    return Classification(False, None, f"Minor: none of the proposal criteria holds ({checked} checked).")


def classification_values(proposal: Any) -> dict[str, Any]:
    """The fields a classification sets on the proposal (a lifecycle's `sets`)."""
    found = classify(proposal)
    return {"major": found.major, "major_criterion": found.criterion, "major_reason": found.reason}


def route(proposal: Any) -> str | None:
    """Where the work of a classified proposal goes next: a major one to service design and transition (a later
    issue takes it there), a minor one straight to change management. None while a draft (not classified yet)."""
    if proposal.major is None:
        return None
    return (ProposalRoute.DESIGN_AND_TRANSITION if proposal.major else ProposalRoute.CHANGE_MANAGEMENT).value


def conditions(criterion: ProposalCriterion) -> str:
    """A rule's conditions in words (its list column): "a new service and risk at least high"."""
    parts = []
    if criterion.kind:
        parts.append(str(ProposalKind(criterion.kind).label).lower())
    if criterion.origin:
        parts.append(f"origin {criterion.get_origin_display().lower()}")
    if criterion.customers_affected_at_least is not None:
        parts.append(f"at least {criterion.customers_affected_at_least} customers affected")
    if criterion.financial_impact_at_least:
        parts.append(f"financial impact at least {_label(criterion.financial_impact_at_least)}")
    if criterion.risk_at_least:
        parts.append(f"risk at least {_label(criterion.risk_at_least)}")
    if criterion.category_id is not None:
        parts.append(f"category “{criterion.category}”")
    return " and ".join(parts)
