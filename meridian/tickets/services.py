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

from django.core.exceptions import ValidationError
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
    if hasattr(ticket, "answers") and ticket.answers is None:
        ticket.answers = {}  # a form's empty answers field
    offering = getattr(ticket, "offering", None)
    if offering is not None:
        if ticket.service_id is None:
            ticket.service = offering.service
        elif ticket.service_id != offering.service_id:
            raise ValidationError({"offering": f"“{offering}” is offered under {offering.service}, not this service."})
    if ticket.pk is None:
        route(ticket)
        if ticket.status == Status.NEW and approvers_of(ticket):
            ticket.status = Status.AWAITING_APPROVAL  # a new request of an offering that needs approval waits for it
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
        at=timezone.now() if ticket.pk is None else ticket.created_at,
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
    if created:
        from meridian.tickets import outbound

        outbound.opened(ticket, actor)
    if created and hasattr(ticket, "offering"):
        request_opened(ticket, actor)
    if hasattr(ticket, "major"):
        from meridian.tickets import major

        major.check(ticket, actor, changes)
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
    # the system posts a contact's mail (`tickets.inbound`): not a response of the provider's
    staff = not policy.is_system(actor) and bool(policy.roles_of(actor) - {Role.CUSTOMER_USER, Role.AUDITOR})
    if comment.visibility == "public" and staff and getattr(ticket, "responded_at", 1) is None:
        responded(ticket)
    from meridian.tickets import outbound

    outbound.replied(ticket, comment, actor)


# --- service requests: approval and fulfilment -------------------------------------------------------------------


def route(ticket: Any) -> None:
    """A ticket without a team goes to its category's default team, a request to its offering's first task's team."""
    if ticket.team_id is not None:
        return
    if ticket.category_id and ticket.category.default_team_id:
        ticket.team = ticket.category.default_team
        return
    offering = getattr(ticket, "offering", None)
    first = offering.tasks.order_by("order", "id").first() if offering is not None else None
    if first is not None:
        ticket.team = first.team


def check_request(request: Any, actor: Any) -> None:
    """A request names an offering its requester may request (when raised) and answers its form (the offering's
    rules, `portfolio.offerings`); the answers are stored as the form keeps them. The record type's `validate`: run
    before the save and the audit event, so a refused request writes nothing and history shows the stored answers."""
    from meridian.portfolio import offerings

    if request.pk is not None:
        stored = type(request).objects.filter(pk=request.pk).values("offering_id", "answers").first()
        if stored == {"offering_id": request.offering_id, "answers": request.answers}:
            return  # neither changed: checked when they were written (the form may have changed since)
    if request.offering_id is None:
        if request.answers:
            raise ValidationError({"answers": "Answers belong to an offering's form: choose the offering."})
        return
    if request.pk is None and not policy.is_system(actor):
        refusal = offerings.may_request(request.offering, actor)
        if refusal:
            raise ValidationError({"offering": refusal})
    request.answers = offerings.clean_answers(
        request.offering, request.answers, actor=actor, organisation_id=request.organisation_id
    )


def may_name_service(actor: Any, service: Any) -> bool:
    """A customer names a service of their catalogue on their ticket (they read it there, not as a record)."""
    from meridian.portfolio import catalogue

    return catalogue.may_read(actor) and catalogue.services(actor).filter(pk=service.pk).exists()


def may_name_offering(actor: Any, offering: Any) -> bool:
    from meridian.portfolio import offerings

    return offerings.may_request(offering, actor) is None


def approvers_of(request: Any) -> list[Any]:
    """Who approves this new request (empty: its offering needs no approval): `portfolio.offerings.approvers`, with
    the caller as the requester (their manager)."""
    from meridian.portfolio import offerings

    offering = getattr(request, "offering", None)
    if offering is None:
        return []
    return offerings.approvers(offering, request.caller)


def request_opened(request: Any, actor: Any) -> None:
    """A new request of an offering: its tasks copied from the offering (waiting); the approval asked of the
    offering's approver (the request was created awaiting it: `classify`), or else the first tasks opened."""
    from meridian.tickets.models import Approval, Task

    offering = request.offering
    if offering is None:
        return
    Task.objects.bulk_create(
        Task(request=request, order=row.order, title=row.title, team=row.team) for row in offering.tasks.all()
    )
    approvers = approvers_of(request) if request.status == Status.AWAITING_APPROVAL else []
    if approvers:
        Approval.objects.bulk_create(Approval(request=request, approver=person) for person in approvers)
    else:
        open_next_tasks(request)


def open_next_tasks(request: Any) -> list[Any]:
    """Open the waiting tasks of the lowest order among those not done (tasks of one order run together)."""
    from meridian.tickets.choices import TaskStatus

    tasks = list(request.tasks.exclude(status__in=[TaskStatus.DONE, TaskStatus.CANCELLED]))
    if not tasks or any(t.status == TaskStatus.OPEN for t in tasks):
        return []
    first = min(t.order for t in tasks)
    opened = [t for t in tasks if t.order == first]
    for task in opened:
        task.status = TaskStatus.OPEN
        task.save(update_fields=["status"])
    return opened


def pending_approval(request: Any, user: Any) -> Any:
    """The approval `user` may decide on this request now, or None."""
    from meridian.tickets.choices import ApprovalDecision

    person = getattr(user, "person", None)
    if person is None:
        return None
    return request.approvals.filter(approver=person, decision=ApprovalDecision.PENDING).first()


def _all_required(request: Any) -> bool:
    from meridian.portfolio.models import ApprovalRule

    return request.offering is not None and request.offering.approval_rule == ApprovalRule.ALL


def _others_pending(request: Any, actor: Any) -> int:
    from meridian.tickets.choices import ApprovalDecision

    pending = request.approvals.filter(decision=ApprovalDecision.PENDING)
    person = getattr(actor, "person", None)
    return pending.exclude(approver=person).count() if person is not None else pending.count()


def approval_refusal(request: Any, actor: Any) -> str | None:
    """Reject: any one approver asked. Approve (the request goes ahead): an approver asked whose approval completes
    it (any one of them, or the last when all must approve; the others give theirs with `give_approval`)."""
    if policy.is_system(actor):
        return None
    if pending_approval(request, actor) is None:
        return "Only the approvers asked may decide on this request."
    return None


def completing_refusal(request: Any, actor: Any) -> str | None:
    refusal = approval_refusal(request, actor)
    if refusal or policy.is_system(actor) or not _all_required(request):
        return refusal
    others = _others_pending(request, actor)
    if others:
        return f"{others} other approver{'s' if others > 1 else ''} must approve too: give your approval."
    return None


def partial_refusal(request: Any, actor: Any) -> str | None:
    """Give one's approval while others must still give theirs (every member must approve)."""
    if request.status != Status.AWAITING_APPROVAL:
        return "Only a request awaiting approval is approved."
    refusal = approval_refusal(request, actor)
    if refusal or policy.is_system(actor):
        return refusal or "Only an approver asked gives an approval."
    if not _all_required(request) or not _others_pending(request, actor):
        return "Your approval lets the request go ahead: use Approve."
    return None


def decide(request: Any, actor: Any, decision: str, comment: str = "") -> None:
    """Record the actor's decision (the system's: the first pending approval's). A rejection, or an approval that
    lets the request go ahead, leaves the other pending approvals not needed."""
    from meridian.tickets.choices import ApprovalDecision

    approval = pending_approval(request, actor)
    if approval is None:
        approval = request.approvals.filter(decision=ApprovalDecision.PENDING).first()
    now = timezone.now()
    if approval is not None:
        approval.decision, approval.decided_at, approval.comment = decision, now, comment
        approval.save(update_fields=["decision", "decided_at", "comment"])
    if request.status != Status.AWAITING_APPROVAL:  # the move is made: nobody else needs to decide
        request.approvals.filter(decision=ApprovalDecision.PENDING).update(
            decision=ApprovalDecision.NOT_NEEDED, decided_at=now
        )


def give_approval(request: Any, *, actor: Any, expected_version: int, reason: str = "", comment: str = "") -> Any:
    """One approver's approval where every one must approve and others still have to: recorded (one audit event),
    the request still awaiting the others."""
    from meridian.core import services as core_services
    from meridian.tickets.choices import ApprovalDecision

    core_services.check_version(request, expected_version)
    approval = pending_approval(request, actor)
    if approval is None:
        raise ValidationError({"comment": "Only an approver asked gives an approval."})
    decide(request, actor, ApprovalDecision.APPROVED, comment.strip() or reason)
    core_services.record_action_done(
        request,
        actor=actor,
        action="give_approval",
        changes={"approval": {"before": str(approval.approver), "after": f"{approval.approver}: approved"}},
        reason=reason or comment,
    )
    return request


def complete_task(
    request: Any, *, actor: Any, expected_version: int, reason: str = "", task: Any, notes: str = ""
) -> Any:
    """Mark one open task of the request done; open the next ones; when none is left, the request is resolved as
    fulfilled. One audit event names the task (and the resolution its own)."""
    from meridian.core import services as core_services
    from meridian.tickets.choices import ResolutionCode, TaskStatus

    current = type(request).objects.select_for_update().get(pk=request.pk)
    core_services.check_version(current, expected_version)
    row = current.tasks.select_for_update().get(pk=task.pk)
    if row.status != TaskStatus.OPEN:
        raise ValidationError({"task": "This task is not open."})
    row.status, row.done_at, row.notes = TaskStatus.DONE, timezone.now(), notes
    row.save(update_fields=["status", "done_at", "notes"])
    core_services.record_action_done(
        current,
        actor=actor,
        action="complete_task",
        changes={"task": {"before": row.title, "after": f"{row.title}: done"}},
        reason=reason or notes,
    )
    open_next_tasks(current)
    left = current.tasks.exclude(status__in=[TaskStatus.DONE, TaskStatus.CANCELLED]).exists()
    if not left:
        done = "; ".join(t.title for t in current.tasks.filter(status=TaskStatus.DONE))
        current = core_services.transition(
            current,
            "resolve",
            actor=actor,
            expected_version=current.version,
            reason="every task is done",
            values={"resolution_code": ResolutionCode.FULFILLED, "resolution_notes": f"Done: {done}."},
        )
    return current


def rate(
    ticket: Any, *, actor: Any, expected_version: int, reason: str = "", rating: int, rating_comment: str = ""
) -> Any:
    """The customer's rating (1-5) and comment, once, on a resolved or closed ticket: one audit event."""
    from meridian.core import audit
    from meridian.core import services as core_services

    core_services.check_version(ticket, expected_version)
    before = audit.snapshot(ticket)
    ticket.rating, ticket.rating_comment = rating, rating_comment.strip()
    ticket.full_clean(exclude=["custom"], validate_unique=False, validate_constraints=False)
    core_services.record_action_done(
        ticket,
        actor=actor,
        action="rate",
        changes=audit.diff(before, audit.snapshot(ticket)),
        reason=reason,
        fields=["rating", "rating_comment"],
    )
    return ticket


def rating_refusal(ticket: Any, actor: Any) -> str | None:
    if ticket.status not in (Status.RESOLVED, Status.CLOSED):
        return "A ticket is rated once it is resolved."
    if ticket.rating is not None:
        return "It has been rated already."
    return None


def task_refusal(request: Any, actor: Any) -> str | None:
    from meridian.tickets.choices import TaskStatus

    if request.status not in (Status.ASSIGNED, Status.IN_PROGRESS):
        return "Tasks are done while the request is assigned or in progress."
    if not request.tasks.filter(status=TaskStatus.OPEN).exists():
        return "No task of this request is open."
    return None


# --- raising a ticket from the portal ----------------------------------------------------------------------------


def raise_ticket(model: Any, *, actor: Any, data: dict[str, Any], files: Any = ()) -> Any:
    """A ticket raised by a person from the portal (a customer user for their own organisation, staff on behalf of a
    customer): the files checked first (one refused file refuses the whole, nothing written), then the ticket and its
    files in one transaction through the generic services (priority, agreement, clocks, approval, audit)."""
    from django.db import transaction

    from meridian.core import attachments, registry
    from meridian.core import services as core_services

    files = list(files)
    declared = attachments.declaration(registry.get(model))
    if files:
        attachments.check(declared, files)
        for upload in files:
            upload.seek(0)
    with transaction.atomic():
        ticket = core_services.create_record(model, data=data, actor=actor, reason="raised from the portal")
        if files:
            attachments.attach_files(ticket, files=files, actor=actor, reason="attached when raised")
    return ticket
