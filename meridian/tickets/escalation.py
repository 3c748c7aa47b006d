"""Escalation (ISO/IEC 20000-1 8.6.1): functional — to another team (the *Assign* action) — and hierarchical — to
the team's lead and its escalation contact —, by hand (*Escalate*) and automatically when a ticket's clock passes its
last warning threshold (the assignee and the team are told) or breaches (the lead and the escalation contact are
told). Each is recorded once, as an audit event on the ticket (`changes["escalation"]`): the clock engine records each
threshold of a clock once (a unique row) and calls `clock_event` once after that commit."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from meridian.core import audit, history, notifications
from meridian.core.actions import ActionForm, RecordAction
from meridian.core.choices import AuditAction
from meridian.core.notifications import Event, register_event
from meridian.core.services import check_version, get_system_actor, record_action_done
from meridian.service_levels import clocks
from meridian.service_levels.clock_models import BREACH, Clock, ClockEvent
from meridian.tickets.choices import ACTIVE

FUNCTIONAL, HIERARCHICAL = "functional", "hierarchical"


def _people(ticket: Any, level: str) -> list[Any]:
    team = ticket.team
    if level == FUNCTIONAL:
        found = [ticket.assignee] if ticket.assignee_id else []
        if team is not None:
            found += [m.person for m in team.memberships.select_related("person")] if not found else []
        return [p for p in found if p is not None]
    if team is None:
        return []
    return [p for p in (team.lead, team.escalation_contact) if p is not None]


register_event(
    Event(
        "tickets.ticket.escalated",
        recipients=lambda ticket: [],  # always written for named people: `escalate`
        description="A ticket was escalated to you: at risk of breaching, breached, or by hand.",
    )
)


def _change(level: str, why: str, people: list[Any], metric: str = "", threshold: int | None = None) -> dict:
    return {
        "escalation": {
            "before": None,
            "after": {
                "level": level,
                "metric": metric,
                "threshold": threshold,
                "to": [p.pk for p in people],
                "why": why,
            },
        }
    }


def _tell(ticket: Any, people: list[Any], level: str, why: str) -> None:
    if people:
        notifications.notify(
            "tickets.ticket.escalated", ticket, recipients=people, context={"level": level, "why": why}
        )


def escalate(ticket: Any, *, level: str, why: str, actor: Any, metric: str = "", threshold: int | None = None) -> Any:
    """Record one automatic escalation on the ticket (an audit event that changes no version, as it changes none of
    its fields) and tell the people it goes to, after commit."""
    people = _people(ticket, level)
    event = audit.record_event(
        action=AuditAction.UPDATE,
        obj=ticket,
        actor=actor,
        changes=_change(level, why, people, metric, threshold),
        reason=why,
    )
    _tell(ticket, people, level, why)
    return event


def clock_event(clock: Clock, event: ClockEvent) -> None:
    """The clock engine's hook (after commit, once per recorded event): the last warning before the breach escalates
    functionally, the breach hierarchically."""
    model = ContentType.objects.get_for_id(clock.content_type_id).model_class()
    if model is None or model._meta.app_label != "tickets":
        return
    ticket = model._default_manager.filter(pk=clock.object_id).select_related("team", "assignee").first()
    if ticket is None or getattr(ticket, "status", None) not in ACTIVE:
        return  # resolved meanwhile (the event is recorded at its instant, late): nobody is chased about it
    warnings = list(clock.metric.thresholds or [])
    if event.threshold == BREACH:
        level, why = HIERARCHICAL, f"The {clock.metric.name.lower()} target was breached."
    elif warnings and event.threshold == warnings[-1]:
        level, why = FUNCTIONAL, f"{event.threshold} % of the {clock.metric.name.lower()} target is used."
    else:
        return
    with transaction.atomic():
        escalate(
            ticket,
            level=level,
            why=why,
            actor=get_system_actor(),
            metric=clock.metric.key,
            threshold=event.threshold,
        )


clocks.on_event(None, clock_event)


def _shown(value: Any) -> history.Shown:
    if not isinstance(value, dict):
        return history.Shown("text", str(value))
    levels = {"functional": "to the assignee and team", "hierarchical": "to the team's lead"}
    level = levels.get(str(value.get("level")), "")
    return history.Shown("text", f"{value.get('why', '')} Escalated {level}.".strip())


history.EXTRA_KEYS["escalation"] = ("Escalation", _shown)


class EscalateForm(ActionForm):
    """Escalate by hand to the team's lead and escalation contact (to another team: use Assign)."""

    why = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="What the lead should know or decide.")


def escalate_by_hand(ticket: Any, *, actor: Any, expected_version: int, reason: str = "", why: str) -> Any:
    """By hand, as a record action (the runner locked the ticket): the version moves, one event names the action."""
    check_version(ticket, expected_version)
    people = _people(ticket, HIERARCHICAL)
    record_action_done(ticket, actor=actor, action="escalate", changes=_change(HIERARCHICAL, why, people), reason=why)
    _tell(ticket, people, HIERARCHICAL, why)
    return ticket


def _escalation_refusal(ticket: Any, actor: Any) -> str | None:
    if ticket.status not in ACTIVE:
        return "Only an open ticket is escalated."
    if ticket.team_id is None:
        return "Assign it to a team first: its lead is who it is escalated to."
    return None


def escalate_action(roles: frozenset[str]) -> RecordAction:
    return RecordAction(
        "escalate",
        "Escalate",
        escalate_by_hand,
        form=EscalateForm,
        roles=roles,
        allowed=_escalation_refusal,
        style="warning",
        help_text="Hierarchical escalation: the team's lead and escalation contact are told, and it is recorded.",
    )
