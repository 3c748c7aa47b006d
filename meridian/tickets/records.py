"""Incidents, service requests and ticket categories, registered with the generic machinery (pages, API, search,
export, policy, conversation, watchers, attachments, links, custom fields, saved views)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from meridian.changes.models import Change
from meridian.core.attachments import Attachments
from meridian.core.choices import STATUS_COLOURS, Role
from meridian.core.conversation import Conversation
from meridian.core.links import LinkType, register_link_type
from meridian.core.registry import (
    ADD,
    ADMINS,
    CHANGE,
    DELETE,
    EXPORT,
    STAFF,
    VIEW,
    Computed,
    Link,
    MyWork,
    RecordType,
    register,
    register_page,
)
from meridian.core.tabs import Banner, Tab
from meridian.core.watchers import Watchers
from meridian.service_levels import clocks
from meridian.tickets import escalation, major, queues, services
from meridian.tickets.choices import ACTIVE, Status, TaskStatus
from meridian.tickets.models import Category, Incident, ServiceRequest
from meridian.tickets.reports.views import READERS
from meridian.tickets.workflows import (
    AGENTS,
    COMPLETE_TASK,
    CUSTOMERS,
    GIVE_APPROVAL,
    INCIDENT_LIFECYCLE,
    RAISERS,
    RATE,
    REQUEST_LIFECYCLE,
)

STATUS_COLOURS.update(
    {
        Status.ASSIGNED: "info",
        Status.IN_PROGRESS: "primary",
        Status.PENDING_CUSTOMER: "warning",
        Status.PENDING_SUPPLIER: "warning",
        Status.PENDING_CHANGE: "warning",
        Status.AWAITING_APPROVAL: "warning",
        Status.RESOLVED: "success",
        Status.CANCELLED: "secondary",
        Status.REJECTED: "danger",
    }
)

register(
    RecordType(
        model=Category,
        fields=["name", "parent", "default_team", "active"],
        list_columns=["name", "parent", "default_team", "active"],
        filter_fields=["active", "parent"],
        search_fields=["name"],
        permissions={ADD: ADMINS, CHANGE: ADMINS, DELETE: ADMINS},
        reference_data=True,
        area="operations",  # beside the tickets it sorts
        select_related=["parent"],
        help_text="Categories of incidents and requests, for routing (a default team) and the service reports.",
    )
)

FIELDS = [
    "title",
    "organisation",
    "caller",
    "service",
    "configuration_items",
    "category",
    "impact",
    "urgency",
    "team",
    "assignee",
    "channel",
    "description",
]
COLUMNS = ["reference", "title", "organisation", "priority", "status", "team", "assignee", "due", "updated_at"]
FILTERS = ["status", "priority", "team", "assignee", "organisation", "service", "category", "channel", "impact"]
SEARCH = ["reference", "title", "description"]


def _mine(queryset: QuerySet[Any], user: Any) -> QuerySet[Any]:
    person = getattr(user, "person", None)
    if person is None:
        return queryset.none()
    mine = Q(assignee=person) | Q(team__memberships__person=person, assignee__isnull=True)
    return queryset.filter(mine, status__in=ACTIVE).distinct()


def _clock_tab(label: str) -> Tab:
    return Tab(
        "sla",
        "Service levels",
        template="tickets/tabs/sla.html",
        context=lambda ticket, user: {**clocks.panel_context(ticket), "ticket": ticket},
        badge=lambda ticket, user: _badge(ticket),
        api=lambda ticket, user, request: {"clocks": [clocks.clock_json(c) for c in clocks.clocks_of(ticket)]},
        help_text=f"The {label}'s service level clocks: due, remaining, used, breached, and the terms they run on.",
    )


def _banner(ticket: Any, user: Any) -> dict[str, Any] | None:
    """The ticket's clocks as live countdowns (`clocks.countdown`); None when no clock runs on it."""
    found = list(clocks.clocks_of(ticket).order_by("target_minutes", "pk"))  # the response first
    if not found:
        return None
    schedules = clocks.schedules_for({clock.calendar_id for clock in found})  # one read of the calendars for all
    return {
        "clocks": [clocks.countdown(r, schedules[r.clock.calendar_id]) for r in clocks.readings(found, None, schedules)]
    }


BANNER = Banner("tickets/banner.html", _banner)


def _badge(ticket: Any) -> str | None:
    readings = clocks.readings(list(clocks.clocks_of(ticket)))
    labels = {r.label for r in readings}
    for label, text in (("breached", "Breached"), ("at_risk", "At risk")):
        if label in labels:
            return text
    return None


def _fulfilment(request: ServiceRequest, user: Any) -> dict[str, Any]:
    from meridian.portfolio.offerings import answer_rows

    answers = answer_rows(request.offering, request.answers, user) if request.offering is not None else []
    return {
        "service_request": request,
        "answers": answers,
        "approvals": list(request.approvals.select_related("approver")),
        "tasks": list(request.tasks.select_related("team", "assignee")),
        "may_decide": services.pending_approval(request, user) is not None,
    }


def _fulfilment_api(request: ServiceRequest, user: Any, http_request: Any) -> dict[str, Any]:
    context = _fulfilment(request, user)
    return {
        "answers": [{"label": label, "value": str(value)} for label, value in context["answers"]],
        "approvals": [
            {"approver": str(a.approver), "decision": a.decision, "decided_at": a.decided_at, "comment": a.comment}
            for a in context["approvals"]
        ],
        "tasks": [
            {
                "id": t.pk,
                "order": t.order,
                "title": t.title,
                "team": str(t.team),
                "status": t.status,
                "done_at": t.done_at,
                "notes": t.notes,
            }
            for t in context["tasks"]
        ],
    }


FULFILMENT = Tab(
    "fulfilment",
    "Approval & tasks",
    template="tickets/tabs/fulfilment.html",
    context=_fulfilment,
    badge=lambda request, user: request.tasks.filter(status=TaskStatus.OPEN).count() or None,
    api=_fulfilment_api,
    help_text="The request form's answers, who approves and their decision, and the fulfilment tasks in order.",
)


# --- the context of a ticket: the caller's other tickets, the CIs and their impact ---------------------------------


def _context(ticket: Any, user: Any) -> dict[str, Any]:
    from meridian.core import policy
    from meridian.core.querysets import records_for
    from meridian.core.registry import get

    recent: list[Any] = []
    if ticket.caller_id:
        for model in (Incident, ServiceRequest):
            found = records_for(get(model), user, annotate=False).filter(caller_id=ticket.caller_id)
            if isinstance(ticket, model):
                found = found.exclude(pk=ticket.pk)
            recent.extend(found.order_by("-created_at")[:10])
    recent.sort(key=lambda t: t.created_at, reverse=True)
    cis = [ci for ci in ticket.configuration_items.all() if policy.can(user, VIEW, ci)]
    # what their failure reaches (`cmdb.impact`, as a major incident's customer updates read it): each customer with
    # the services it is offered or covered for by an agreement in force
    reached = major.reach(ticket) if cis else []
    return {"ticket": ticket, "recent": recent[:10], "cis": cis, "reached": reached}


CONTEXT = Tab(
    "context",
    "Caller & CIs",
    template="tickets/tabs/context.html",
    context=_context,
    roles=STAFF,
    help_text="The caller's other recent tickets; the configuration items affected and the services and customers "
    "their failure reaches.",
)


def _ticket_type(
    model: Any,
    lifecycle: Any,
    label: str,
    extra_fields: list[str],
    tabs: list[Tab] | None = None,
    actions: list[Any] | None = None,
    validate: Any = None,
) -> RecordType:
    model_name = model._meta.model_name
    return RecordType(
        model=model,
        fields=FIELDS[:4] + extra_fields + FIELDS[4:],
        # what the ticket's page shows: the fields, then what the lifecycle and the clocks set
        detail_fields=[
            "status",
            "priority",
            *FIELDS[:4],
            *extra_fields,
            *FIELDS[4:],
            "agreement",
            "responded_at",
            "resolved_at",
            "resolution_code",
            "resolution_notes",
            "closed_at",
            "rating",
            "rating_comment",
        ],
        list_columns=COLUMNS,
        filter_fields=FILTERS,
        search_fields=SEARCH,
        filterset=queues.filterset(model, FILTERS, SEARCH),
        permissions={
            VIEW: STAFF | CUSTOMERS,
            EXPORT: STAFF | CUSTOMERS,
            ADD: RAISERS | CUSTOMERS,
            CHANGE: AGENTS,
            DELETE: ADMINS,
        },
        lifecycle=lifecycle,
        area="operations",
        links={"team": Link.INTERNAL, "assignee": Link.INTERNAL, "configuration_items": Link.SAME_ORGANISATION},
        select_related=[
            "organisation",
            "priority",
            "team",
            "assignee",
            "caller",
            "service",
            "category",
            "agreement",
            *(["offering"] if "offering" in extra_fields else []),
        ],
        prefetch_related=["configuration_items"],
        computed={"due": Computed(queues.due_expression(model_name), "Due")},
        linkable={"service": services.may_name_service, "offering": services.may_name_offering},
        # the customer reads who works on their ticket, at what priority, under which agreement (by name)
        named=frozenset({"priority", "team", "agreement"}),
        validate=validate,
        after_save=services.after_save,
        tabs=[_clock_tab(label), *(tabs or []), CONTEXT],
        banner=BANNER,
        actions=[*(actions or []), RATE, escalation.escalate_action(AGENTS)],
        record_links=True,
        attachments=Attachments(),
        conversation=Conversation(on_post=services.comment_posted),
        watchers=Watchers(auto=["caller", "assignee"]),
        custom_fields=True,
        my_work=MyWork("Yours or your teams'", _mine),
        help_text=f"{label.capitalize()}s: from every channel to closure within the agreed service levels.",
    )


register(_ticket_type(Incident, INCIDENT_LIFECYCLE, "incident", [], tabs=[major.TAB], actions=major.ACTIONS))
register(major.CRITERION_TYPE)
register(
    _ticket_type(
        ServiceRequest,
        REQUEST_LIFECYCLE,
        "service request",
        ["offering", "answers"],
        tabs=[FULFILMENT],
        actions=[GIVE_APPROVAL, COMPLETE_TASK],
        validate=services.check_request,
    )
)

register_page(
    "operations",
    "Report a problem",
    "tickets:report_problem",
    RAISERS | CUSTOMERS,
    icon="exclamation-triangle",
    help_text="Tell the service desk what does not work: an incident, in your words.",
)
register_page(
    "service",
    "Service reports",
    "tickets:service_reports",
    READERS | {Role.CUSTOMER_USER},
    icon="graph-up",
    help_text="Per agreement and period: volumes, compliance, breaches, backlog, business times, satisfaction, "
    "workload, trend; print, CSV, Excel; mailed monthly.",
)

# incidents are caused and resolved by changes (ISO/IEC 20000-1 8.6.1: the link to change management)
register_link_type(LinkType("caused_by", "caused by", "caused", source=Incident, target=Change))
register_link_type(LinkType("resolved_by", "resolved by", "resolved", source=Incident, target=Change))
