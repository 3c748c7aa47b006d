"""The business rules of incidents and service requests, in one place: pages, API, mail, webhooks and commands call
these (or the generic services, whose hooks land here).

- `classify(ticket)` (the model's `clean`, so every write gets it and the audit trail records it): the priority from
  impact and urgency through the matrix, and the service level agreement that applies to the customer, service and
  priority (`service_levels.applies`).
- `after_save` (the record type's hook, in the write's transaction): starts the response and resolution clocks when
  a ticket is opened, re-targets them when what decides the target changes (priority, customer, service).
- `follow_status` (an effect of every transition): the clocks follow the status; leaving new/assigned for work is
  the first response.
- `comment_posted` (the conversation's hook): a staff member's first public reply is the first response.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model
from django.utils import timezone

from meridian.core import policy
from meridian.core.choices import Role
from meridian.service_levels import applies, clocks
from meridian.service_levels.clock_models import ClockMetric, ClockState
from meridian.service_levels.priorities import priority_for
from meridian.tickets.choices import Status

MEASURES = ("response", "resolution")
NOT_RESPONDED = (Status.NEW, Status.ASSIGNED, Status.AWAITING_APPROVAL)
# what decides a ticket's targets: a change of any re-targets its clocks
TERMS = {"priority", "agreement", "organisation", "service"}


def classify(ticket: Any) -> None:
    """Priority from the matrix; the agreement that applies (none when none does, or when two tie: the tie is a
    configuration error shown on the agreements, and the ticket runs without targets until it is fixed)."""
    ticket.priority = priority_for(ticket.impact, ticket.urgency)
    ticket.agreement = None
    if ticket.priority is None or not ticket.organisation_id:
        return
    answer = _answer(ticket)
    ticket.agreement = answer.sla.agreement if answer.sla is not None else None


def _answer(ticket: Any) -> applies.Answer:
    return applies.applicable(
        customer=ticket.organisation,
        service=ticket.service,
        priority=ticket.priority,
        team=ticket.team,
        at=ticket.created_at or timezone.now(),
    )


def _terms(ticket: Any) -> dict[str, tuple[int, Any, str]]:
    """Per measure: (target minutes, calendar, rule) from the agreement that applies, for the measures it targets."""
    if ticket.priority is None:
        return {}
    answer = _answer(ticket)
    choice = answer.sla
    if choice is None or choice.target is None:
        return {}
    found = {}
    for measure in MEASURES:
        minutes = getattr(choice.target, f"{measure}_minutes", None)
        if minutes:
            found[measure] = (minutes, choice.agreement.support_hours, choice.rule(measure))
    return found


def after_save(ticket: Any, actor: Any, changes: dict[str, Any]) -> None:
    """Clocks started when the ticket is opened; re-targeted (or started, or left) when its terms change."""
    created = ticket.version == 1
    if not created and not (TERMS & set(changes)):
        return
    terms = _terms(ticket)
    metrics = {m.key: m for m in ClockMetric.objects.filter(key__in=MEASURES)}
    existing = {clock.metric.key: clock for clock in clocks.clocks_of(ticket)}
    for measure, (minutes, calendar, rule) in terms.items():
        if measure not in metrics:
            continue
        clock = existing.get(measure)
        if clock is None:
            if measure == "response" and not created:
                continue  # a response clock starts with the ticket or not at all
            clocks.start(
                ticket,
                metrics[measure],
                target_minutes=minutes,
                calendar=calendar,
                rule=rule,
                status=ticket.status,
                actor=actor,
                at=ticket.created_at if created else None,
            )
        elif clock.state != ClockState.FINISHED and (clock.target_minutes, clock.calendar_id, clock.rule) != (
            minutes,
            calendar.pk,
            rule,
        ):
            clocks.retarget(
                clock,
                target_minutes=minutes,
                calendar=calendar,
                rule=rule,
                actor=actor,
                reason=_why_retarget(changes),
            )


def _why_retarget(changes: dict[str, Any]) -> str:
    named = [name for name in ("priority", "agreement", "organisation", "service") if name in changes]
    return f"{', '.join(named).capitalize()} changed" if named else "Terms changed"


def responded(ticket: Any, at: Any = None) -> None:
    """The first response: the response clock is finished and the time kept (once)."""
    at = at or timezone.now()
    for clock in clocks.clocks_of(ticket).filter(metric__key="response"):
        clocks.stop(clock, at=at)
    if ticket.responded_at is None:
        type(ticket).objects.filter(pk=ticket.pk, responded_at__isnull=True).update(responded_at=at)
        ticket.responded_at = at


def follow_status(ticket: Any, actor: Any) -> None:
    """A transition's effect: every clock of the ticket follows its new status."""
    clocks.status_changed(ticket, ticket.status)
    if ticket.status not in NOT_RESPONDED and ticket.responded_at is None:
        responded(ticket)


def comment_posted(ticket: Model, comment: Any, actor: Any) -> None:
    """The conversation's hook: a staff member's public reply is a response."""
    staff = policy.is_system(actor) or bool(policy.roles_of(actor) - {Role.CUSTOMER_USER, Role.AUDITOR})
    if comment.visibility == "public" and staff and getattr(ticket, "responded_at", 1) is None:
        responded(ticket)
