"""Which agreement applies, deterministically (ISO/IEC 20000-1 8.3.3).

Given a customer organisation, a service and a priority, the service level agreement in force that is most
specific wins: one naming the customer and the service (3) beats one naming the customer only (2), which beats one
naming the service only (1), which beats a standard one naming neither (0). Two in force with the same best score
are a configuration error (`Tie`), shown on both agreements' pages (`ties`) and answered as an error, never a coin
toss. The winning agreement's target for the priority is the target (none: the agreement has no target for that
priority; a less specific agreement is not consulted). Beneath it: the operational level agreement of the team
assigned (one naming the service beats one for all services) and the underpinning contract of the supplier
involved, chosen the same way. Due times count in the agreement's support hours."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from meridian.core.calendars import Schedule, add_business_minutes
from meridian.core.models import Calendar
from meridian.service_levels.choices import AgreementKind, AgreementStatus
from meridian.service_levels.models import Agreement, AgreementTarget, Priority

SCORE_LABELS = {
    3: "names the customer and the service",
    2: "names the customer (every service)",
    1: "names the service (every customer)",
    0: "a standard agreement (every customer, every service)",
}


class Tie(Exception):
    """Two agreements in force are equally specific for the question: a configuration error to fix."""

    def __init__(self, kind: str, agreements: list[Agreement]) -> None:
        self.agreements = agreements
        refs = " and ".join(a.reference for a in agreements)
        label = AgreementKind(kind).label.lower()
        super().__init__(f"{refs} are equally specific {label}s in force for this: make one more specific, or end one.")


@dataclass(frozen=True)
class Choice:
    """One chosen agreement, its target for the priority (if it has one) and why it was chosen."""

    agreement: Agreement
    score: int
    target: AgreementTarget | None

    @property
    def why(self) -> str:
        if self.agreement.kind == AgreementKind.SLA:
            return SCORE_LABELS[self.score]
        return "names the service" if self.score else "covers every service"

    def rule(self, measure: str) -> str:
        """The rule a clock records: which agreement, priority and target gave it."""
        minutes = getattr(self.target, f"{measure}_minutes", None) if self.target else None
        priority = self.target.priority if self.target else "no priority target"
        return f"{self.agreement.reference} · {priority} · {measure} {minutes} business minutes ({self.why})"


@dataclass
class Answer:
    """What applies to a ticket of this customer, service and priority opened at `at`."""

    at: datetime
    priority: Priority
    sla: Choice | None
    ola: Choice | None = None
    uc: Choice | None = None
    response_due: datetime | None = None
    resolution_due: datetime | None = None
    errors: list[str] = field(default_factory=list)


def in_force(kind: str, on: date) -> QuerySet[Agreement]:
    return Agreement.objects.filter(kind=kind, status=AgreementStatus.ACTIVE, valid_from__lte=on).filter(
        Q(valid_to__isnull=True) | Q(valid_to__gte=on)
    )


def _covering(queryset: QuerySet[Agreement], service: Any) -> QuerySet[Agreement]:
    """Agreements covering the service (naming it, or naming no service), annotated with whether they name it."""
    names = Agreement.services.through.objects.filter(agreement_id=OuterRef("pk"), service_id=getattr(service, "pk", 0))
    return queryset.annotate(service_count=Count("services", distinct=True), names_service=Exists(names)).filter(
        Q(names_service=True) | Q(service_count=0)
    )


def _best(kind: str, candidates: Iterable[tuple[int, Agreement]]) -> tuple[int, Agreement] | None:
    ranked = sorted(candidates, key=lambda pair: (-pair[0], pair[1].reference))
    if not ranked:
        return None
    top = [agreement for score, agreement in ranked if score == ranked[0][0]]
    if len(top) > 1:
        raise Tie(kind, top)
    return ranked[0]


def _target(agreement: Agreement, priority: Priority | None) -> AgreementTarget | None:
    if priority is None:
        return None
    return agreement.targets.select_related("priority").filter(priority=priority).first()


def choose_sla(customer: Any, service: Any, priority: Priority | None, on: date) -> Choice | None:
    """The SLA in force that applies (None: none), with its target for `priority` (None: only the agreement)."""
    names = Agreement.customers.through.objects.filter(
        agreement_id=OuterRef("pk"), organisation_id=getattr(customer, "pk", 0)
    )
    found = (
        _covering(in_force(AgreementKind.SLA, on), service)
        .annotate(customer_count=Count("customers", distinct=True), names_customer=Exists(names))
        .filter(Q(names_customer=True) | Q(customer_count=0))
        .select_related("support_hours")
    )
    best = _best(AgreementKind.SLA, ((2 * a.names_customer + a.names_service, a) for a in found))  # type: ignore[attr-defined]
    return None if best is None else Choice(best[1], best[0], _target(best[1], priority))


def choose_beneath(kind: str, party: Any, service: Any, priority: Priority, on: date) -> Choice | None:
    """The OLA of a team (`kind` OLA, `party` the team) or the UC of a supplier (`kind` UC, the organisation)."""
    if party is None:
        return None
    party_field = "team" if kind == AgreementKind.OLA else "supplier"
    found = _covering(in_force(kind, on).filter(**{party_field: party}), service).select_related("support_hours")
    best = _best(kind, ((int(a.names_service), a) for a in found))  # type: ignore[attr-defined]
    return None if best is None else Choice(best[1], best[0], _target(best[1], priority))


class Schedules:
    """Each calendar's schedule built once for a batch of questions (its day table is then reused)."""

    def __init__(self) -> None:
        self._built: dict[int, Schedule] = {}

    def of(self, calendar: Calendar) -> Schedule:
        if calendar.pk not in self._built:
            self._built[calendar.pk] = calendar.schedule()
        return self._built[calendar.pk]


def due(schedules: Schedules, calendar: Calendar, start: datetime, minutes: int | None) -> datetime | None:
    if minutes is None:
        return None
    return add_business_minutes(schedules.of(calendar), start, minutes)


def applicable(
    *,
    customer: Any,
    service: Any,
    priority: Priority,
    team: Any = None,
    supplier: Any = None,
    at: datetime | None = None,
) -> Answer:
    """What applies (see the module's docstring). A tie is reported in `errors`, never resolved by chance."""
    at = at or timezone.now()
    on = timezone.localdate(at)
    answer = Answer(at=at, priority=priority, sla=None)
    try:
        answer.sla = choose_sla(customer, service, priority, on)
    except Tie as tie:
        answer.errors.append(str(tie))
    for kind, party, slot in ((AgreementKind.OLA, team, "ola"), (AgreementKind.UC, supplier, "uc")):
        try:
            setattr(answer, slot, choose_beneath(kind, party, service, priority, on))
        except Tie as tie:
            answer.errors.append(str(tie))
    if answer.sla is not None and answer.sla.target is not None:
        schedules, target = Schedules(), answer.sla.target
        calendar = answer.sla.agreement.support_hours
        answer.response_due = due(schedules, calendar, at, target.response_minutes)
        answer.resolution_due = due(schedules, calendar, at, target.resolution_minutes)
    return answer


# --- ties, for the agreement pages ------------------------------------------------------------------------------

RIVALS = (AgreementStatus.AGREED, AgreementStatus.ACTIVE)  # could be in force at the same time


def _overlap(a_from: date, a_to: date | None, b_from: date, b_to: date | None) -> bool:
    return (b_to is None or a_from <= b_to) and (a_to is None or b_from <= a_to)


def ties(agreement: Agreement) -> list[tuple[Agreement, str]]:
    """The other agreed or active agreements that would tie with this one for some question (the same kind and
    party, equally specific, covering a common customer and service, valid at a common date), each with the
    customer-service pair that shows it. A draft or ended agreement ties with nothing."""
    if agreement.status not in RIVALS:
        return []
    mine_services = set(agreement.services.values_list("pk", flat=True))
    mine_customers = set(agreement.customers.values_list("pk", flat=True))
    rivals = Agreement.objects.filter(kind=agreement.kind, status__in=RIVALS).exclude(pk=agreement.pk)
    if agreement.kind == AgreementKind.OLA:
        rivals = rivals.filter(team_id=agreement.team_id)
    elif agreement.kind == AgreementKind.UC:
        rivals = rivals.filter(supplier_id=agreement.supplier_id)
    found = []
    for other in rivals.prefetch_related("services", "customers"):
        if not _overlap(agreement.valid_from, agreement.valid_to, other.valid_from, other.valid_to):
            continue
        theirs_services = {s.pk for s in other.services.all()}
        theirs_customers = {c.pk for c in other.customers.all()}
        shared = []
        axes = [(mine_services, theirs_services, "service")]
        if agreement.kind == AgreementKind.SLA:
            axes.append((mine_customers, theirs_customers, "customer"))
        for mine, theirs, word in axes:
            if bool(mine) != bool(theirs):
                break  # one names them, the other does not: the one naming them is more specific
            if mine and not mine & theirs:
                break  # both name them, none in common
            shared.append(f"every {word}" if not mine else ", ".join(sorted(_names(word, mine & theirs))))
        else:
            found.append((other, " / ".join(shared)))
    return found


def _names(word: str, pks: set[int]) -> list[str]:
    from meridian.core.models import Organisation
    from meridian.portfolio.models import Service

    if word == "service":
        return [s.reference for s in Service.objects.filter(pk__in=pks)]
    return [o.name for o in Organisation.objects.filter(pk__in=pks)]
