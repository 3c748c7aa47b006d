"""Declared lifecycles of the core records."""

from __future__ import annotations

from meridian.core import services
from meridian.core.choices import PersonStatus
from meridian.core.lifecycle import Lifecycle, Transition
from meridian.core.models import Person
from meridian.core.notifications import notify
from meridian.core.registry import ADMINS

ACTIVE, SUSPENDED, LEFT = PersonStatus.ACTIVE, PersonStatus.SUSPENDED, PersonStatus.LEFT


def _notify_account_ended(person: Person, actor: object) -> None:
    notify("core.person.account_ended", person)


def not_your_own_account(person: Person, actor: object) -> str | None:
    """Guard: nobody suspends or ends their own account (an administrator could lock everyone out)."""
    if person.user_id is not None and person.user_id == getattr(actor, "pk", None):
        return "You cannot do this to your own account: ask another administrator."
    return None


PERSON_LIFECYCLE = Lifecycle(
    field="status",
    transitions=[
        Transition(
            "suspend",
            source=[ACTIVE],
            target=SUSPENDED,
            roles=ADMINS,
            reason_required=True,
            guard=not_your_own_account,
            effects=[services.end_sessions_and_tokens],
            after_commit=[_notify_account_ended],
            style="warning",
            label="Suspend account",
        ),
        Transition(
            "reactivate",
            source=[SUSPENDED],
            target=ACTIVE,
            roles=ADMINS,
            effects=[services.reactivate_login],
            style="success",
            label="Reactivate",
        ),
        Transition(
            "leave",
            source=[ACTIVE, SUSPENDED],
            target=LEFT,
            roles=ADMINS,
            reason_required=True,
            guard=not_your_own_account,
            effects=[services.end_sessions_and_tokens],
            after_commit=[_notify_account_ended],
            style="danger",
            label="Mark as left",
            confirm="Their login stops working at once and their API tokens are revoked.",
        ),
    ],
)
