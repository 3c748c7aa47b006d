"""The lifecycles of incidents and service requests: one transition table each (who may, from where, to where, what
is set with the move, what follows). The clocks follow every move (`services.follow_status`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from meridian.core.actions import ActionForm, RecordAction
from meridian.core.choices import Role
from meridian.core.lifecycle import Lifecycle, Transition
from meridian.core.models import Person, Team
from meridian.core.registry import ADMINS
from meridian.tickets import services
from meridian.tickets.choices import PENDING, ApprovalDecision, ResolutionCode, Status, TaskStatus
from meridian.tickets.models import Task

# who works tickets: the service desk and the resolver teams (and administrators)
AGENTS = ADMINS | {Role.SERVICE_DESK_AGENT, Role.RESOLVER}
# who may raise one: agents, and the people who see services from the business side
RAISERS = AGENTS | {Role.SERVICE_OWNER, Role.CHANGE_MANAGER, Role.CONFIGURATION_MANAGER, Role.SERVICE_LEVEL_MANAGER}
CUSTOMERS = frozenset({Role.CUSTOMER_USER})

NEW, ASSIGNED, IN_PROGRESS = Status.NEW, Status.ASSIGNED, Status.IN_PROGRESS
RESOLVED, CLOSED, CANCELLED = Status.RESOLVED, Status.CLOSED, Status.CANCELLED
WORKING = [NEW, ASSIGNED, IN_PROGRESS]
FOLLOW = [services.follow_status]


class AssignForm(ActionForm):
    """To whom: a team of the provider, and optionally one of its members."""

    team = forms.ModelChoiceField(queryset=Team.objects.all(), label="Assignment team")
    assignee = forms.ModelChoiceField(
        queryset=Person.objects.filter(user__isnull=False), required=False, help_text="A member of the team."
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        team, assignee = data.get("team"), data.get("assignee")
        if team and assignee and not team.memberships.filter(person=assignee).exists() and team.lead_id != assignee.pk:
            self.add_error("assignee", f"{assignee} is not a member of {team}.")
        return data


class ResolveForm(ActionForm):
    """How it was resolved, in words the customer reads."""

    resolution_code = forms.ChoiceField(choices=ResolutionCode.choices)
    resolution_notes = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), help_text="What was done: the customer reads this."
    )


def _assigned(ticket: Any, actor: Any, reason: str) -> dict[str, Any]:
    if ticket.team_id is None:
        raise ValidationError({"team": "Choose the team that takes it."})
    return {}


def _resolved(ticket: Any, actor: Any, reason: str) -> dict[str, Any]:
    if not ticket.resolution_code:
        raise ValidationError({"resolution_code": "Say how it was resolved."})
    if not (ticket.resolution_notes or "").strip():
        raise ValidationError({"resolution_notes": "Say what was done: the customer reads this."})
    return {"resolved_at": timezone.now(), "closed_at": None}


def _reopened(ticket: Any, actor: Any, reason: str) -> dict[str, Any]:
    return {"resolved_at": None, "resolution_code": "", "resolution_notes": ""}


def _closed(ticket: Any, actor: Any, reason: str) -> dict[str, Any]:
    return {"closed_at": timezone.now()}


def _reviewed(ticket: Any, actor: Any) -> str | None:
    from meridian.tickets import major

    return major.close_refusal(ticket, actor)


def _tell_resolved(ticket: Any, actor: Any) -> None:
    from meridian.tickets import outbound

    outbound.resolved(ticket, actor)


def reopen_window() -> timedelta:
    return timedelta(days=int(settings.MERIDIAN_TICKET_REOPEN_DAYS))


def _within_reopen_window(ticket: Any, actor: Any) -> str | None:
    if ticket.resolved_at and timezone.now() - ticket.resolved_at > reopen_window():
        days = int(settings.MERIDIAN_TICKET_REOPEN_DAYS)
        return f"It was resolved more than {days} days ago: raise a new ticket and mention this one."
    return None


def _picked_up(ticket: Any, actor: Any, reason: str) -> dict[str, Any]:
    """Starting work without an assignee makes the one who starts it the assignee."""
    person = getattr(actor, "person", None)
    return {"assignee": person} if ticket.assignee_id is None and person is not None else {}


def _common(first: list[str], waiting: tuple[str, ...] = ()) -> list[Transition]:
    """The moves incidents and requests share; `first` are the statuses work starts from, `waiting` those a ticket
    may also be cancelled from."""
    return [
        Transition(
            "assign",
            source=[*first, ASSIGNED, IN_PROGRESS, *PENDING],
            target=ASSIGNED,
            roles=AGENTS,
            form=AssignForm,
            sets=_assigned,
            label="Assign",
            effects=FOLLOW,
        ),
        Transition(
            "start",
            source=[*first, ASSIGNED],
            target=IN_PROGRESS,
            roles=AGENTS,
            label="Start work",
            sets=_picked_up,
            effects=FOLLOW,
        ),
        Transition(
            "wait_customer",
            source=[ASSIGNED, IN_PROGRESS],
            target=Status.PENDING_CUSTOMER,
            roles=AGENTS,
            label="Wait for the customer",
            reason_required=True,
            style="secondary",
            effects=FOLLOW,
        ),
        Transition(
            "wait_supplier",
            source=[ASSIGNED, IN_PROGRESS],
            target=Status.PENDING_SUPPLIER,
            roles=AGENTS,
            label="Wait for a supplier",
            reason_required=True,
            style="secondary",
            effects=FOLLOW,
        ),
        Transition(
            "wait_change",
            source=[ASSIGNED, IN_PROGRESS],
            target=Status.PENDING_CHANGE,
            roles=AGENTS,
            label="Wait for a change",
            reason_required=True,
            style="secondary",
            effects=FOLLOW,
        ),
        Transition("resume", source=PENDING, target=IN_PROGRESS, roles=AGENTS, label="Resume work", effects=FOLLOW),
        Transition(
            "resolve",
            source=[*first, ASSIGNED, IN_PROGRESS, *PENDING],
            target=RESOLVED,
            roles=AGENTS,
            form=ResolveForm,
            sets=_resolved,
            style="success",
            label="Resolve",
            effects=FOLLOW,
            after_commit=[_tell_resolved],
        ),
        Transition(
            "reopen",
            source=[RESOLVED],
            target=IN_PROGRESS,
            roles=AGENTS | CUSTOMERS,
            reason_required=True,
            guard=_within_reopen_window,
            sets=_reopened,
            style="warning",
            label="Reopen",
            effects=FOLLOW,
            confirm="The resolution is withdrawn and the resolution clock runs again.",
        ),
        Transition(
            "close",
            source=[RESOLVED],
            target=CLOSED,
            roles=AGENTS | CUSTOMERS,
            guard=_reviewed,
            sets=_closed,
            style="success",
            label="Confirm and close",
            effects=FOLLOW,
        ),
        Transition(
            "cancel",
            source=[*first, ASSIGNED, IN_PROGRESS, *PENDING],
            target=CANCELLED,
            roles=AGENTS | CUSTOMERS,
            reason_required=True,
            sets=_closed,
            style="danger",
            label="Cancel",
            effects=FOLLOW,
        ),
    ]


def _approved(request: Any, actor: Any) -> None:
    services.decide(request, actor, ApprovalDecision.APPROVED)
    services.open_next_tasks(request)


def _rejected(request: Any, actor: Any) -> None:
    services.decide(request, actor, ApprovalDecision.REJECTED)


# an approver may be anybody who may log in and read the request (a customer's manager, a service owner), but only
# the person asked decides (the guard)
APPROVERS = frozenset(Role.values)

APPROVAL = [
    Transition(
        "approve",
        source=[Status.AWAITING_APPROVAL],
        target=ASSIGNED,
        roles=APPROVERS,
        guard=services.completing_refusal,
        style="success",
        label="Approve",
        effects=[_approved, *FOLLOW],
    ),
    Transition(
        "reject",
        source=[Status.AWAITING_APPROVAL],
        target=Status.REJECTED,
        roles=APPROVERS,
        guard=services.approval_refusal,
        reason_required=True,
        sets=_closed,
        style="danger",
        label="Reject",
        effects=[_rejected, *FOLLOW],
    ),
]


class ApprovalForm(ActionForm):
    """An approval where every approver must approve: a comment for the others and the requester."""

    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


GIVE_APPROVAL = RecordAction(
    "give_approval",
    "Approve",
    services.give_approval,
    form=ApprovalForm,
    roles=APPROVERS,
    allowed=services.partial_refusal,
    style="success",
    help_text="Your approval, where every approver must approve: the request goes ahead once the last one has.",
)

INCIDENT_LIFECYCLE = Lifecycle(field="status", transitions=_common([NEW]))
REQUEST_LIFECYCLE = Lifecycle(field="status", transitions=[*APPROVAL, *_common([NEW], (Status.AWAITING_APPROVAL,))])


class CompleteTaskForm(ActionForm):
    """Which open task is done, and a note for the record."""

    task = forms.ModelChoiceField(queryset=Task.objects.none(), help_text="One of the request's open tasks.")
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        obj = getattr(self, "obj", None)
        field: Any = self.fields["task"]
        field.queryset = (
            Task.objects.filter(request=obj, status=TaskStatus.OPEN) if obj is not None else Task.objects.none()
        )


COMPLETE_TASK = RecordAction(
    "complete_task",
    "Complete a task",
    services.complete_task,
    form=CompleteTaskForm,
    roles=AGENTS,
    allowed=services.task_refusal,
    style="success",
    help_text="Marks one open fulfilment task done; the next tasks open; the last one done fulfils the request.",
)


class RateForm(ActionForm):
    """How the customer rates the service they had on this ticket."""

    rating = forms.IntegerField(
        min_value=1,
        max_value=5,
        widget=forms.RadioSelect(
            choices=[(5, "5 – Excellent"), (4, "4 – Good"), (3, "3 – Fair"), (2, "2 – Poor"), (1, "1 – Very poor")]
        ),
        help_text="1 (very poor) to 5 (excellent).",
    )
    rating_comment = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, label="Comment", help_text="What went well or not."
    )


RATE = RecordAction(
    "rate",
    "Rate the service",
    services.rate,
    form=RateForm,
    roles=CUSTOMERS | AGENTS,  # the customer, or an agent noting a rating given by phone
    allowed=services.rating_refusal,
    style="outline-primary",
    help_text="How the customer rates the service on this ticket: 1 (very poor) to 5 (excellent), with a comment.",
)
