"""The agents' queues: filters on the ticket lists (`queue=mine|my_teams|unassigned|at_risk|breached`), the due time
of the next running clock as a sortable column, and the shared saved views that make them one click away
(`ensure_views`). The SLA conditions are read from the clock engine's stored columns in SQL, never per row."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import DateTimeField, Exists, Min, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from meridian.core.filtersets import RecordFilterSet
from meridian.service_levels.clock_models import Clock, ClockEvent, ClockEventKind, ClockState
from meridian.tickets.choices import ACTIVE

QUEUES = [
    ("mine", "Assigned to me"),
    ("my_teams", "My teams' (not yet taken)"),
    ("unassigned", "Unassigned"),
    ("at_risk", "At risk (a warning passed)"),
    ("breached", "Breached"),
]


def _clocks(model_name: str) -> QuerySet[Clock]:
    return Clock.objects.filter(
        content_type__app_label="tickets", content_type__model=model_name, object_id=OuterRef("pk")
    )


def due_expression(model_name: str) -> Subquery:
    """When the ticket's next running clock is due (its earliest due time), for sorting the queues. A clock has a due
    time only while it runs (`Clock.due_at`): the condition is on it, not on `state`, and the earliest is a MIN, not
    an ORDER BY, so that the planner looks the ticket's clocks up by their (content type, object) key — with `state`
    and an ORDER BY, SQLite walked the (state, due_at) index for every row (20 s for a page of 10,000 tickets)."""
    running = (
        _clocks(model_name)
        .filter(due_at__isnull=False)
        .order_by()
        .values("object_id")
        .annotate(first=Min("due_at"))
        .values("first")
    )
    return Subquery(running, output_field=DateTimeField())


def breached_condition(model_name: str) -> Q:
    now = timezone.now()
    late = _clocks(model_name).filter(Q(breached_at__isnull=False) | Q(state=ClockState.RUNNING, due_at__lt=now))
    return Q(Exists(late))


def at_risk_condition(model_name: str) -> Q:
    warned = ClockEvent.objects.filter(
        clock__content_type__app_label="tickets",
        clock__content_type__model=model_name,
        clock__object_id=OuterRef("pk"),
        clock__state__in=[ClockState.RUNNING, ClockState.PAUSED],
        kind=ClockEventKind.WARNING,
    )
    return Q(Exists(warned)) & ~breached_condition(model_name)


def in_queue(queryset: QuerySet[Any], queue: str, user: Any) -> QuerySet[Any]:
    model_name = queryset.model._meta.model_name
    active = queryset.filter(status__in=ACTIVE)
    person = getattr(user, "person", None)
    if queue == "mine":
        return active.filter(assignee=person) if person else active.none()
    if queue == "my_teams":
        if person is None:
            return active.none()
        return active.filter(
            Q(team__memberships__person=person) | Q(team__lead=person), assignee__isnull=True
        ).distinct()
    if queue == "unassigned":
        return active.filter(team__isnull=True, assignee__isnull=True)
    if queue == "at_risk":
        return active.filter(at_risk_condition(model_name))
    if queue == "breached":
        return active.filter(breached_condition(model_name))
    return queryset


class TicketFilterSet(RecordFilterSet):
    """The ticket lists' filters: the declared fields and the queues."""

    queue = django_filters.ChoiceFilter(choices=QUEUES, method="by_queue", label="Queue", empty_label="Any")

    def by_queue(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        return in_queue(queryset, value, getattr(self.request, "user", None))


def filterset(model: Any, fields: list[str], search_fields: list[str]) -> type[TicketFilterSet]:
    meta = type("Meta", (), {"model": model, "fields": fields})
    return type(f"{model.__name__}FilterSet", (TicketFilterSet,), {"Meta": meta, "search_fields": search_fields})
