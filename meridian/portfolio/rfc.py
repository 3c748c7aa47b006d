"""The request for change that controls the work of an approved service proposal (ISO/IEC 20000-1 8.5.1.2: a new
or changed service is initiated by a request for change), in one place.

`RequestsForChange` is what the portfolio needs of change management; `ChangeManagement` is its answer with
`meridian.changes` (a `Change`, CHG-000001). The two record actions of a proposal use nothing else:

- "Raise the request for change" (`raise_request_for_change`): a draft change made from the proposal (its title;
  its reference and purpose in the description; its service's configuration item listed), through
  `core.services.create_record` (audited on the change), and linked on the proposal;
- "Record an existing change" (`record_request_for_change`): a change raised elsewhere, linked on the proposal.

Either writes one audit event on the proposal naming the action, with the change's id (`request_for_change`)."""

from __future__ import annotations

from typing import Any, Protocol

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import F
from django.utils import timezone

from meridian.changes.choices import ChangeStatus
from meridian.changes.models import Change
from meridian.core import audit, services
from meridian.core.actions import ActionForm
from meridian.core.choices import AuditAction
from meridian.portfolio.choices import ProposalStatus


class RequestsForChange(Protocol):
    """Change management, as the portfolio sees it."""

    model: type[Any]  # the record of a request for change (the proposal's `request_for_change` points to it)

    def raise_for(self, proposal: Any, *, actor: Any) -> Any:
        """Make a draft request for change for the approved proposal (audited), and return it."""
        ...

    def refusal(self, change: Any) -> str | None:
        """Why `change` cannot control a proposal's work (decided against, withdrawn, over), or None."""
        ...


class ChangeManagement:
    """`RequestsForChange` with `meridian.changes`."""

    model = Change
    CLOSED = (ChangeStatus.REJECTED, ChangeStatus.WITHDRAWN, ChangeStatus.CLOSED)

    def raise_for(self, proposal: Any, *, actor: Any) -> Change:
        service = proposal.service
        lines = [f"Controls the work of service proposal {proposal.reference} “{proposal.title}”.", ""]
        lines += ["Purpose:", proposal.purpose.strip(), ""]
        items = []
        if service is not None:
            made = " (made on approval of the proposal)" if proposal.for_new_service else ""
            lines.append(f"Service: {service.reference} “{service.name}”{made}.")
            if service.configuration_item_id is not None:
                items.append(service.configuration_item)
                lines.append(f"Its configuration item {service.configuration_item.reference} is listed.")
        title = f"{proposal.reference}: {proposal.title}"
        return services.create_record(
            Change,
            data={"title": title[:200], "description": "\n".join(lines).strip(), "configuration_items": items},
            actor=actor,
            reason=f"Raised for service proposal {proposal.reference}.",
        )

    def refusal(self, change: Any) -> str | None:
        if change.status in self.CLOSED:
            return (
                f"{change.reference} is {change.get_status_display().lower()}: choose a change that is still open, "
                "or raise a new one."
            )
        return None


REQUESTS_FOR_CHANGE: RequestsForChange = ChangeManagement()


def rfc_refusal(proposal: Any, actor: Any) -> str | None:
    """Whether a request for change may be recorded on the proposal now (the actions' `allowed`)."""
    if proposal.status != ProposalStatus.APPROVED:
        return "Only an approved proposal gets its request for change."
    if proposal.request_for_change_id is not None:
        return f"Its request for change is recorded already ({proposal.request_for_change.reference})."
    return None


def _record(proposal: Any, change: Any, *, actor: Any, reason: str, action: str) -> Any:
    """Link the change on the proposal (its row locked by the action's runner): version + 1, one event."""
    before = proposal.request_for_change_id
    proposal.request_for_change = change
    proposal.version = F("version") + 1
    proposal.updated_by, proposal.updated_at = actor, timezone.now()
    proposal.save(update_fields=["request_for_change", "version", "updated_by", "updated_at"])
    proposal.refresh_from_db(fields=["version"])
    audit.record_event(
        action=AuditAction.UPDATE,
        obj=proposal,
        actor=actor,
        changes={"request_for_change": {"before": before, "after": change.pk}, "action": action},
        reason=reason,
    )
    return proposal


def raise_request_for_change(proposal: Any, *, actor: Any, expected_version: int, reason: str = "") -> Any:
    """Record action "Raise the request for change": a draft change made from the approved proposal."""
    change = REQUESTS_FOR_CHANGE.raise_for(proposal, actor=actor)
    return _record(proposal, change, actor=actor, reason=reason, action="raise_rfc")


def record_request_for_change(
    proposal: Any, *, change: Any, actor: Any, expected_version: int, reason: str = ""
) -> Any:
    """Record action "Record an existing change": a change raised elsewhere controls the proposal's work."""
    refusal = REQUESTS_FOR_CHANGE.refusal(change)
    if refusal:
        raise ValidationError({"change": refusal})
    return _record(proposal, change, actor=actor, reason=reason, action="record_rfc")


class RecordChangeForm(ActionForm):
    """The input of "Record an existing change": the change (among those the person may see)."""

    change = forms.ModelChoiceField(
        queryset=Change.objects.all(),
        help_text="The request for change that controls the work (not rejected, withdrawn or closed).",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from meridian.core.forms import choose_widgets

        choose_widgets(self, self.user)

    def clean_change(self) -> Any:
        change = self.cleaned_data["change"]
        refusal = REQUESTS_FOR_CHANGE.refusal(change)
        if refusal:
            raise ValidationError(refusal)
        return change
