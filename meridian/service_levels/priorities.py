"""The priority matrix: reading a cell (`priority_for`), the cells as they are (`current_cells`) and writing the
cells that changed (`save_matrix`, each audited). The one place for the matrix's rules: the page, the form of
"What applies" and the defaults use it."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from meridian.core import audit
from meridian.core.choices import AuditAction
from meridian.service_levels.models import Priority, PriorityRule


def priority_for(impact: str, urgency: str) -> Priority | None:
    """The matrix: this impact with this urgency is this priority (None when the cell is not set)."""
    rule = PriorityRule.objects.select_related("priority").filter(impact=impact, urgency=urgency).first()
    return rule.priority if rule else None


def current_cells() -> dict[tuple[str, str], int]:
    return {(r.impact, r.urgency): r.priority_id for r in PriorityRule.objects.all()}


def save_matrix(cells: dict[tuple[str, str], Any], *, actor: Any) -> int:
    """Write the cells that changed (each audited on its priority cell); the rest stay as they are."""
    changed = 0
    with transaction.atomic():
        existing = {(r.impact, r.urgency): r for r in PriorityRule.objects.select_for_update()}
        for (impact, urgency), priority in cells.items():
            rule = existing.get((impact, urgency))
            if rule is not None and rule.priority_id == priority.pk:
                continue
            before = rule.priority_id if rule else None
            if rule is None:
                rule = PriorityRule(impact=impact, urgency=urgency, created_by=actor)
            rule.priority, rule.updated_by, rule.updated_at = priority, actor, timezone.now()
            if rule.pk:
                rule.version += 1
            rule.save()
            audit.record_event(
                action=AuditAction.UPDATE if before else AuditAction.CREATE,
                obj=rule,
                actor=actor,
                changes={"priority": {"before": before, "after": priority.pk}},
                reason="Priority matrix edited.",
            )
            changed += 1
    return changed
