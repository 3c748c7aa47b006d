"""Major incidents (ISO/IEC 20000-1 8.6.1): the criteria that propose them, the declaration with a named major incident
manager and top management informed, communication updates to the customers the incident reaches, and the
post-incident review required before closure.

- **Criteria** are rows administrators and service level managers keep (`MajorIncidentCriterion`, "Major incident
  criteria"), like the portfolio's proposal criteria: each rule is a record with its own history; rules are combined
  with *or*, conditions within a rule with *and* (priority at least, customers reached at least, a critical service
  reached); the incident names the rule that held. `check(incident, actor, changes)` runs on every incident write
  (`services.after_save`) and **proposes** the incident as major (`major_proposed_at`, `major_criterion`,
  `major_reason`; one audit event; the team's lead and escalation contact told). It never declares: a declaration
  names a person who runs it and pages top management, which a rule cannot decide for a misclassified priority.
- **Declaring** is the action *Declare major incident* (agents): the major incident manager (a person of the provider
  with a login and a staff role) and the reason. Top management is told at once (`tickets.major.declared`, to the
  addresses of the setting `MERIDIAN_MAJOR_INCIDENT_NOTIFY`, and the manager), and the time is recorded on the
  incident (`management_informed_at`, left empty when no address is configured: the tab says so). One audit event.
- **Who is reached** (`reach`): the incident's customer; the customers of its service and of every service whose CI
  the failure of its CIs reaches (`cmdb.impact.analyse`): those it is offered to and those an SLA in force names
  together with the service; and the customers whose own (dedicated) CIs are reached. Each with its services and the
  addresses to write to: the organisation's address and its people named as contacts of those services.
- **Customer updates** (*Send a customer update*): one mail per customer (`tickets.major.customer_update`) naming
  only that customer's services — never the incident's title, another customer or the list; the text is also posted
  as a public comment on the incident; the update is kept (`MajorIncidentUpdate`: customers and addresses counted)
  and audited (counts only: the incident's customer reads its history).
- **Post-incident review** (*Record the post-incident review*, `MajorIncidentReview`): written or revised while the
  incident is major; `close_refusal` is the guard of the incident's *close* transition.
- **The tab** *Major incident* (staff only: it names other customers), with its API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from meridian.core import audit, conversation, history, notifications
from meridian.core.actions import ActionForm, RecordAction
from meridian.core.choices import AuditAction, OrganisationKind, PersonStatus, Role
from meridian.core.models import Organisation, Person
from meridian.core.notifications import Event, register_event
from meridian.core.registry import ADD, ADMINS, CHANGE, DELETE, STAFF, RecordType
from meridian.core.services import check_version, record_action_done
from meridian.core.tabs import Tab
from meridian.tickets.choices import ACTIVE, FINAL, Status
from meridian.tickets.models import Incident, MajorIncidentCriterion, MajorIncidentReview, MajorIncidentUpdate
from meridian.tickets.workflows import AGENTS

DECLARED, PROPOSED, CUSTOMER_UPDATE = (
    "tickets.major.declared",
    "tickets.major.proposed",
    "tickets.major.customer_update",
)
KEEPERS = ADMINS | {Role.SERVICE_LEVEL_MANAGER}
# what decides whether a criterion holds: a write changing none of these is not checked again
DECIDING = {"priority", "impact", "urgency", "service", "configuration_items", "organisation"}
REVIEW_FIELDS = ("what_happened", "timeline", "root_cause", "went_well", "went_badly", "actions")


# --- who is reached -------------------------------------------------------------------------------------------------


@dataclass
class Reach:
    """One customer the incident reaches: its services affected, its own CIs reached, and where to write."""

    organisation: Organisation
    services: list[Any] = field(default_factory=list)
    cis: list[str] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    why: set[str] = field(default_factory=set)


def _services_reached(incident: Incident) -> tuple[list[Any], set[int]]:
    """The portfolio services the incident affects (its own, and those whose CI its CIs' failure reaches), and the
    CIs reached (the incident's own included)."""
    from meridian.cmdb import impact
    from meridian.portfolio.models import Service

    ci_ids = list(incident.configuration_items.values_list("pk", flat=True))
    reached = set(impact.analyse(ci_ids).reached) if ci_ids else set()
    by_ci = dict(Service.objects.filter(configuration_item__isnull=False).values_list("configuration_item_id", "pk"))
    ids = {by_ci[ci] for ci in reached if ci in by_ci}
    if incident.service_id:
        ids.add(incident.service_id)
    return list(Service.objects.filter(pk__in=ids).order_by("name")), reached


def reach(incident: Incident) -> list[Reach]:
    """The customers the incident reaches, by name, each with its services and addresses (see the module)."""
    from meridian.cmdb.models import ConfigurationItem
    from meridian.portfolio.choices import ContactRole
    from meridian.portfolio.models import Service, ServiceContact
    from meridian.service_levels.applies import in_force
    from meridian.service_levels.choices import AgreementKind

    services, reached = _services_reached(incident)
    found: dict[int, Reach] = {}
    customers = Organisation.objects.filter(kind=OrganisationKind.CUSTOMER, active=True)

    def add(org: Organisation, why: str, service: Any = None, ci: str = "") -> None:
        entry = found.setdefault(org.pk, Reach(org))
        entry.why.add(why)
        if service is not None and service not in entry.services:
            entry.services.append(service)
        if ci and ci not in entry.cis:
            entry.cis.append(ci)

    known: dict[int, Organisation | None] = {}

    def customer(pk: int) -> Organisation | None:
        if pk not in known:
            known[pk] = customers.filter(pk=pk).first()
        return known[pk]

    own = customer(incident.organisation_id)
    if own is not None:
        add(own, "the incident's customer", incident.service if incident.service_id else None)
    service_ids = [s.pk for s in services]
    offered = Service.customers.through.objects.filter(service_id__in=service_ids)
    for org_id, service_id in offered.values_list("organisation_id", "service_id"):
        org = customer(org_id)
        if org is not None:
            add(org, "offered the service", next(s for s in services if s.pk == service_id))
    agreements = in_force(AgreementKind.SLA, timezone.localdate()).filter(services__in=service_ids).distinct()
    for agreement in agreements.prefetch_related("customers", "services"):
        for service in agreement.services.all():
            if service.pk in service_ids:
                for org in agreement.customers.all():
                    if org.kind == OrganisationKind.CUSTOMER and org.active:
                        add(org, f"agreed in {agreement.reference}", service)
    ordered = sorted(reached)
    for start in range(0, len(ordered), 1000):  # the CIs reached that are dedicated to a customer, a chunk at a time
        dedicated = ConfigurationItem.objects.filter(
            pk__in=ordered[start : start + 1000], organisation__kind=OrganisationKind.CUSTOMER
        ).order_by("name")
        for name, org_id in dedicated.values_list("name", "organisation_id"):
            org = customer(org_id)
            if org is not None:
                add(org, "its configuration items", ci=name)
    contacts = ServiceContact.objects.filter(
        service_id__in=service_ids,
        role=ContactRole.CUSTOMER_CONTACT,
        person__organisation_id__in=list(found),
        person__status=PersonStatus.ACTIVE,
    ).exclude(person__email="")
    for contact in contacts.select_related("person"):
        entry = found[contact.person.organisation_id]
        if any(s.pk == contact.service_id for s in entry.services):
            entry.addresses.append(contact.person.email)
    for entry in found.values():
        if entry.organisation.email:
            entry.addresses.insert(0, entry.organisation.email)
        unique: dict[str, str] = {}
        for address in entry.addresses:
            unique.setdefault(address.lower(), address)
        entry.addresses = list(unique.values())
    return sorted(found.values(), key=lambda r: r.organisation.name.lower())


# --- the criteria ---------------------------------------------------------------------------------------------------


def holds(criterion: MajorIncidentCriterion, incident: Incident, reached: Any) -> list[str] | None:
    """What of `criterion` the incident meets, in words, or None when a condition does not hold. `reached()` gives
    (services, customers) when a condition needs them (computed once, and only then)."""
    met: list[str] = []
    if criterion.priority_at_least_id is not None:
        wanted = criterion.priority_at_least
        if incident.priority is None or wanted is None or incident.priority.rank > wanted.rank:
            return None
        met.append(f"priority {incident.priority} (at least {wanted})")
    if criterion.customers_reached_at_least is not None:
        count = len(reached()[1])
        if count < criterion.customers_reached_at_least:
            return None
        met.append(f"{count} customers reached (at least {criterion.customers_reached_at_least})")
    if criterion.service_id is not None:
        if criterion.service_id not in {s.pk for s in reached()[0]}:
            return None
        met.append(f"the service “{criterion.service}” is reached")
    return met


def classify(incident: Incident) -> tuple[MajorIncidentCriterion, str] | None:
    """The first active rule that holds, and why; None when none does."""
    rules = list(
        MajorIncidentCriterion.objects.filter(active=True)
        .select_related("priority_at_least", "service")
        .order_by("order", "name")
    )
    if not rules:
        return None
    known: list[Any] = []

    def reached() -> Any:
        if not known:
            known.append((_services_reached(incident)[0], reach(incident)))
        return known[0]

    for criterion in rules:
        met = holds(criterion, incident, reached)
        if met is not None:
            return criterion, f"Proposed as major by the criterion “{criterion.name}”: {'; '.join(met)}."[:1000]
    return None


def check(incident: Any, actor: Any, changes: dict[str, Any]) -> None:
    """The criteria on every incident write (`services.after_save`, in its transaction): an open incident neither
    major nor proposed yet, created or changed in what decides, is proposed when a rule holds: its fields set without
    a new version (like the first response), one audit event, the team's lead and escalation contact told."""
    if not isinstance(incident, Incident) or incident.major or incident.major_proposed_at is not None:
        return
    if incident.status not in ACTIVE or (incident.version != 1 and not DECIDING & set(changes)):
        return
    found = classify(incident)
    if found is None:
        return
    criterion, why = found
    now = timezone.now()
    Incident.objects.filter(pk=incident.pk).update(major_proposed_at=now, major_criterion=criterion, major_reason=why)
    incident.major_proposed_at, incident.major_criterion, incident.major_reason = now, criterion, why
    audit.record_event(
        action=AuditAction.UPDATE,
        obj=incident,
        actor=actor,
        changes={"major_proposed": {"before": None, "after": why}},
        reason=why,
    )
    team = incident.team
    people = [p for p in (team.lead, team.escalation_contact) if p is not None] if team is not None else []
    if people:
        notifications.notify(PROPOSED, incident, recipients=people, context={"why": why})


# --- declaring -----------------------------------------------------------------------------------------------------


def managers() -> Any:
    """Who may be named major incident manager: active people of the provider with a login."""
    return Person.objects.filter(
        user__isnull=False,
        user__is_active=True,
        status=PersonStatus.ACTIVE,
        organisation__kind=OrganisationKind.INTERNAL,
    )


class DeclareForm(ActionForm):
    """Who runs it, and why it is major."""

    manager = forms.ModelChoiceField(
        queryset=Person.objects.none(),
        label="Major incident manager",
        help_text="A person of the provider with a login: runs the incident until it is closed.",
    )
    why = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), label="Why it is major", help_text="Management reads this."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field_: Any = self.fields["manager"]
        field_.queryset = managers().order_by("last_name", "first_name")

    def clean_manager(self) -> Any:
        person = self.cleaned_data["manager"]
        roles = set(person.user.roles) if person.user is not None else set()
        if not roles - {Role.CUSTOMER_USER, Role.AUDITOR}:
            raise ValidationError(f"{person} has no staff role: name someone who can work the incident.")
        return person


def management_addresses() -> list[str]:
    return [a for a in getattr(settings, "MERIDIAN_MAJOR_INCIDENT_NOTIFY", []) or [] if a]


def declare(
    incident: Incident, *, actor: Any, expected_version: int, reason: str = "", manager: Person, why: str
) -> Incident:
    """Declare the incident major (the runner locked it): the manager named, top management and the manager told,
    the time they were told recorded; one audit event naming the action (the addresses are in the notifications
    log, not in the history the customer reads)."""
    check_version(incident, expected_version)
    before = audit.snapshot(incident)
    now = timezone.now()
    addresses = management_addresses()
    incident.major, incident.major_manager, incident.major_declared_at = True, manager, now
    incident.major_reason = why.strip()
    incident.management_informed_at = now if addresses else None
    record_action_done(
        incident,
        actor=actor,
        action="declare_major",
        changes={**audit.diff(before, audit.snapshot(incident)), "management_told": len(addresses)},
        reason=reason or why,
        fields=["major", "major_manager", "major_declared_at", "major_reason", "management_informed_at"],
    )
    context = {"why": incident.major_reason, "manager": manager, "declared_at": now}
    notifications.notify(DECLARED, incident, recipients=[*addresses, manager], context=context)
    return incident


def declare_refusal(incident: Incident, actor: Any) -> str | None:
    if incident.major:
        return "It is a major incident already."
    if incident.status not in ACTIVE:
        return "Only an open incident is declared major."
    return None


# --- customer updates ----------------------------------------------------------------------------------------------


class CustomerUpdateForm(ActionForm):
    """The update, in words every customer reached may read: it goes to each of them, and is a public reply here."""

    text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="What is known, what is being done, when the next update comes. Name no customer: every customer "
        "reached gets it.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        obj = getattr(self, "obj", None)
        if isinstance(obj, Incident):
            found = reach(obj)
            listed = "; ".join(
                f"{r.organisation.name} ({', '.join(s.name for s in r.services) or 'its CIs'}): "
                f"{len(r.addresses)} address{'es' if len(r.addresses) != 1 else ''}"
                for r in found
            )
            self.fields["text"].help_text = f"Goes to: {listed or 'nobody'}. {self.fields['text'].help_text}"


def send_update(incident: Incident, *, actor: Any, expected_version: int, reason: str = "", text: str) -> Incident:
    """One mail per customer reached, naming only its own services; the text posted as a public comment; the update
    kept with its counts; one audit event naming the action."""
    check_version(incident, expected_version)
    text = text.strip()
    if not text:
        raise ValidationError({"text": "Write the update."})
    found = [r for r in reach(incident) if r.addresses]
    if not found:
        raise ValidationError(
            {"text": "No customer it reaches has an address: the organisation's, or a service's customer contact."}
        )
    comment = conversation.post_comment(
        incident, actor=actor, body=f"**Update to the customers affected**\n\n{text}", visibility=conversation.PUBLIC
    )
    sent: set[str] = set()
    for entry in found:
        addresses = [a for a in entry.addresses if a.lower() not in sent]
        sent.update(a.lower() for a in addresses)
        if addresses:
            context = {
                "text": text,
                "customer": entry.organisation,
                "services": entry.services,
                "cis": entry.cis,
            }
            notifications.notify(CUSTOMER_UPDATE, incident, recipients=addresses, context=context)
    now = timezone.now()
    MajorIncidentUpdate.objects.create(
        incident=incident,
        sent_at=now,
        sent_by=Person.objects.filter(user_id=getattr(actor, "pk", None)).first(),
        text=text,
        comment_id=comment.pk,
        customers=len(found),
        recipients=len(sent),
    )
    record_action_done(
        incident,
        actor=actor,
        action="send_customer_update",
        changes={"customer_update": {"before": None, "after": {"customers": len(found), "recipients": len(sent)}}},
        reason=reason,
    )
    return incident


def update_refusal(incident: Incident, actor: Any) -> str | None:
    if not incident.major:
        return "Customer updates are sent for a major incident: declare it first."
    if incident.status in FINAL:
        return "It is closed: no more updates."
    return None


# --- the post-incident review ------------------------------------------------------------------------------------


class ReviewForm(ActionForm):
    """The post-incident review: what happened and what is learnt."""

    what_happened = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}))
    timeline = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), help_text="One line per moment: time, what.")
    root_cause = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    went_well = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, label="What went well")
    went_badly = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, label="What went badly")
    actions = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, help_text="What will be done, by whom, by when."
    )


def review_initial(incident: Incident, user: Any) -> dict[str, Any]:
    review = MajorIncidentReview.objects.filter(incident=incident).first()
    return {name: getattr(review, name) for name in REVIEW_FIELDS} if review is not None else {}


def record_review(
    incident: Incident, *, actor: Any, expected_version: int, reason: str = "", **values: str
) -> Incident:
    """Write (or revise) the review; one audit event naming the action, with what changed in it."""
    check_version(incident, expected_version)
    review = MajorIncidentReview.objects.select_for_update().filter(incident=incident).first()
    before = {name: getattr(review, name) for name in REVIEW_FIELDS} if review is not None else {}
    after = {name: (values.get(name) or "").strip() for name in REVIEW_FIELDS}
    now = timezone.now()
    person = Person.objects.filter(user_id=getattr(actor, "pk", None)).first()
    if review is None:
        review = MajorIncidentReview(incident=incident, reviewed_at=now)
    for name, value in after.items():
        setattr(review, name, value)
    review.reviewed_at, review.reviewed_by = now, person
    review.full_clean(exclude=["incident"])
    review.save()
    changed = {k: {"before": before.get(k, ""), "after": v} for k, v in after.items() if before.get(k, "") != v}
    record_action_done(
        incident,
        actor=actor,
        action="record_review",
        changes={"review": {"before": "recorded" if before else None, "after": changed}},
        reason=reason,
    )
    return incident


def review_refusal(incident: Incident, actor: Any) -> str | None:
    if not incident.major:
        return "A post-incident review is for a major incident."
    if incident.status == Status.CANCELLED:
        return "It was cancelled."
    return None


def close_refusal(incident: Any, actor: Any) -> str | None:
    """The guard of the incident's *close*: a major incident closes once its post-incident review is recorded."""
    if getattr(incident, "major", False) and not MajorIncidentReview.objects.filter(incident_id=incident.pk).exists():
        return "A major incident is closed once its post-incident review is recorded (Record the post-incident review)."
    return None


# --- history, notifications, actions, the tab, the criteria's type --------------------------------------------------


def _shown_update(value: Any) -> history.Shown:
    if not isinstance(value, dict):
        return history.Shown("text", str(value))
    return history.Shown(
        "text", f"sent to {value.get('recipients', 0)} addresses of {value.get('customers', 0)} customers"
    )


def _shown_review(value: Any) -> history.Shown:
    if not isinstance(value, dict):
        return history.Shown("text", str(value or ""))
    labels = {"what_happened": "what happened", "went_well": "what went well", "went_badly": "what went badly"}
    named = [labels.get(k, k.replace("_", " ")) for k in value]
    return history.Shown("text", f"changed: {', '.join(named)}" if named else "unchanged")


history.EXTRA_KEYS["major_proposed"] = ("Proposed as major", lambda v: history.Shown("text", str(v)))
history.EXTRA_KEYS["management_told"] = ("Management addresses told", lambda v: history.Shown("text", str(v)))
history.EXTRA_KEYS["customer_update"] = ("Customer update", _shown_update)
history.EXTRA_KEYS["review"] = ("Post-incident review", _shown_review)

register_event(
    Event(DECLARED, recipients=lambda incident: [], description="Top management and the manager: a major incident.")
)
register_event(
    Event(
        PROPOSED, recipients=lambda incident: [], description="The team's lead: the criteria propose a major incident."
    )
)
register_event(
    Event(
        CUSTOMER_UPDATE,
        recipients=lambda incident: [],
        description="The contacts of each customer a major incident reaches: an update about their services.",
    )
)

DECLARE = RecordAction(
    "declare_major",
    "Declare major incident",
    declare,
    form=DeclareForm,
    roles=AGENTS,
    allowed=declare_refusal,
    style="danger",
    help_text="Names the major incident manager and tells top management at once (the time is recorded).",
)
SEND_UPDATE = RecordAction(
    "send_customer_update",
    "Send a customer update",
    send_update,
    form=CustomerUpdateForm,
    roles=AGENTS,
    allowed=update_refusal,
    style="warning",
    help_text="Mails each customer the incident reaches about its own services, and posts the text as a public reply.",
)
RECORD_REVIEW = RecordAction(
    "record_review",
    "Record the post-incident review",
    record_review,
    form=ReviewForm,
    roles=AGENTS,
    allowed=review_refusal,
    initial=review_initial,
    style="outline-primary",
    help_text="What happened, the timeline, the root cause, what went well and badly, the actions: needed to close.",
)
ACTIONS = [DECLARE, SEND_UPDATE, RECORD_REVIEW]


def tab_context(incident: Incident, user: Any) -> dict[str, Any]:
    reached = reach(incident) if incident.major or incident.major_proposed_at else []
    return {
        "incident": incident,
        "reached": reached,
        "addresses": sum(len(r.addresses) for r in reached),
        "updates": list(incident.major_updates.select_related("sent_by")),
        "review": MajorIncidentReview.objects.filter(incident=incident).select_related("reviewed_by").first(),
        "management_configured": bool(management_addresses()),
    }


def tab_api(incident: Incident, user: Any, request: Any) -> dict[str, Any]:
    context = tab_context(incident, user)
    review = context["review"]
    manager = incident.major_manager
    return {
        "major": incident.major,
        "proposed_at": incident.major_proposed_at,
        "criterion": str(incident.major_criterion) if incident.major_criterion_id else None,
        "reason": incident.major_reason,
        "declared_at": incident.major_declared_at,
        "manager": {"id": manager.pk, "name": str(manager)} if manager is not None else None,
        "management_informed_at": incident.management_informed_at,
        "customers": [
            {
                "id": r.organisation.pk,
                "name": r.organisation.name,
                "services": [{"id": s.pk, "name": s.name} for s in r.services],
                "configuration_items": r.cis,
                "addresses": r.addresses,
            }
            for r in context["reached"]
        ],
        "updates": [
            {
                "sent_at": u.sent_at,
                "sent_by": str(u.sent_by or ""),
                "text": u.text,
                "customers": u.customers,
                "recipients": u.recipients,
            }
            for u in context["updates"]
        ],
        "review": (
            {
                **{name: getattr(review, name) for name in REVIEW_FIELDS},
                "reviewed_at": review.reviewed_at,
                "reviewed_by": str(review.reviewed_by or ""),
            }
            if review is not None
            else None
        ),
    }


def _badge(incident: Incident, user: Any) -> str | None:
    if incident.major:
        return "Major"
    return "Proposed" if incident.major_proposed_at else None


TAB = Tab(
    "major",
    "Major incident",
    template="tickets/tabs/major.html",
    context=tab_context,
    roles=STAFF,
    badge=_badge,
    api=tab_api,
    help_text="Whether it is major and why, its manager, when management was told, the customers it reaches with "
    "their services, the updates sent and the post-incident review.",
)

CRITERION_TYPE = RecordType(
    model=MajorIncidentCriterion,
    fields=["name", "description", "active", "order", "priority_at_least", "customers_reached_at_least", "service"],
    list_columns=["name", "order", "priority_at_least", "customers_reached_at_least", "service", "active"],
    filter_fields=["active", "priority_at_least", "service"],
    search_fields=["name", "description"],
    permissions={ADD: KEEPERS, CHANGE: KEEPERS, DELETE: KEEPERS},
    area="administration",
    select_related=["priority_at_least", "service"],
    help_text="The rules that propose an incident as major: priority, customers reached, a critical service.",
)
