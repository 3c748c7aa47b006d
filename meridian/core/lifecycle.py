"""Declared lifecycles: one transition table per record type, used by pages, API, services and tests.

    PERSON_LIFECYCLE = Lifecycle(
        field="status",
        transitions=[
            Transition("suspend", source=[ACTIVE], target=SUSPENDED, roles=ADMINS, reason_required=True,
                       effects=[end_sessions]),
            ...
        ],
    )

`core.services.transition(obj, action, actor=..., reason=...)` is the only way a status moves: it checks the
source state, the roles, the guard and the reason, writes the status together with the fields `sets` gives, audits
them in one event, runs `effects` inside the transaction and `after_commit` callbacks (notifications, tasks) once
the transaction has committed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from meridian.core.registry import READ_ONLY_ROLES

Effect = Callable[[Any, Any], None]  # (obj, actor) -> None
Sets = Callable[[Any, Any, str], Mapping[str, Any]]  # (obj, actor, reason) -> {field: value} set with the move
Guard = Callable[[Any, Any], str | None]  # (obj, actor) -> None if allowed, else the reason it is not


@dataclass(frozen=True)
class Transition:
    """One row of a transition table: from which states, to which, who may, on what condition."""

    action: str
    source: Sequence[str]
    target: str
    roles: frozenset[str]
    label: str = ""
    guard: Guard | None = None
    reason_required: bool = False
    effects: Sequence[Effect] = ()
    after_commit: Sequence[Effect] = ()
    style: str = "primary"  # the button's colour: primary, warning, danger ...
    confirm: str = ""
    # fields of the record itself set with the move (who decided and when, a classification made on submission):
    # saved in the status's row write and recorded in its one audit event, after every check; it may refuse the
    # move with a field `ValidationError` (nothing is written) and may create the records the move brings into
    # being through the services (their own events), returning the links to them
    sets: Sets | None = None
    # the input the move takes (a `core.actions.ActionForm`): its fields are fields of the record itself, set with
    # the move like `sets` (a resolution code and notes on resolving); checked by the form on the page and in the API
    # and by the model's field validation in `services.transition`, whoever calls it
    form: Any = None

    def __post_init__(self) -> None:
        # an auditor changes nothing, whatever a transition declares (`roles=STAFF` includes the auditor)
        object.__setattr__(self, "roles", frozenset(self.roles) - READ_ONLY_ROLES)

    @property
    def title(self) -> str:
        return self.label or self.action.replace("_", " ").capitalize()


@dataclass
class Lifecycle:
    """The transition table of a record type and the status field it moves."""

    field: str
    transitions: list[Transition]
    _by_action: dict[str, Transition] = dataclasses.field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        for t in self.transitions:
            if t.action in self._by_action:
                raise ValueError(f"transition action {t.action!r} is declared twice")
            self._by_action[t.action] = t

    def get(self, action: str) -> Transition | None:
        return self._by_action.get(action)

    def states(self) -> set[str]:
        found: set[str] = set()
        for t in self.transitions:
            found.update(t.source)
            found.add(t.target)
        return found

    def from_state(self, state: str) -> Iterable[Transition]:
        return (t for t in self.transitions if state in t.source)
