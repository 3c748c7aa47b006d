"""The Coverage tab of an agreement: who and what it covers, the agreements beneath it (or above it), where they
cannot support it, equally specific agreements it ties with, and its workload against its limits."""

from __future__ import annotations

from typing import Any

from meridian.core import policy
from meridian.core.registry import VIEW
from meridian.service_levels import applies, consistency, workload
from meridian.service_levels.choices import AgreementKind
from meridian.service_levels.models import Agreement


def tab_context(agreement: Agreement, user: Any) -> dict[str, Any]:
    is_sla = agreement.kind == AgreementKind.SLA
    related = consistency.beneath(agreement) if is_sla else consistency.supported(agreement)
    return {
        "agreement": agreement,
        "is_sla": is_sla,
        "services": list(agreement.services.all()),
        "customers": list(agreement.customers.all()),
        "related": [a for a in related if policy.can(user, VIEW, a)],
        "related_label": "Beneath it: OLAs and underpinning contracts" if is_sla else "The SLAs it underpins",
        "findings": consistency.findings_for(agreement),
        "ties": applies.ties(agreement),
        "workload": workload.against_limits(agreement),
    }


def badge(agreement: Agreement, user: Any) -> int | None:
    count = len(consistency.findings_for(agreement)) + len(applies.ties(agreement))
    return count or None


def tab_api(agreement: Agreement, user: Any, request: Any) -> dict[str, Any]:
    values = tab_context(agreement, user)
    return {
        "services": [{"reference": s.reference, "name": s.name} for s in values["services"]],
        "customers": [{"id": c.pk, "name": c.name} for c in values["customers"]],
        "related": [
            {"reference": a.reference, "kind": a.kind, "name": a.name, "status": a.status} for a in values["related"]
        ],
        "findings": [
            {
                "sla": f.sla.reference,
                "beneath": f.beneath.reference,
                "priority": f.priority,
                "measure": f.measure,
                "message": f.message,
                "example_start": f.example_start,
                "sla_due": f.sla_due,
                "beneath_due": f.beneath_due,
            }
            for f in values["findings"]
        ],
        "ties": [{"reference": other.reference, "where": where} for other, where in values["ties"]],
        "workload": [
            {
                "measure": row.limit.measure,
                "limit": row.limit.limit,
                "period": row.limit.period,
                "measured": row.measured,
                "over": row.over,
            }
            for row in values["workload"]
        ],
    }
