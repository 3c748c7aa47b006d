"""The service catalogue as people read it (ISO/IEC 20000-1 8.2.4): the live services, in business language, with
their hours, targets, contacts, security and what the customer must do — for customer users exactly the services
offered to their organisation, for staff every live service (or, previewing, those one organisation sees).

One place decides who reads which entry (`entries`): the portal pages, the catalogue API, its exports and the
global search all ask here. An entry holds only what a customer may read: never the internal description, the
configuration item, a contact not marked for customers or another customer's responsibilities."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.db.models import F, Prefetch, Q, QuerySet
from django.utils import timezone

from meridian.core import policy
from meridian.core.choices import OrganisationKind
from meridian.core.hours import format_hours
from meridian.core.models import Calendar, Organisation
from meridian.portfolio.choices import DependencyKind, ServiceStatus
from meridian.portfolio.models import ExternalDependency, Service, ServiceContact

UPCOMING_DAYS = 90


def may_read(user: Any) -> bool:
    """Everyone who may log in reads a catalogue: staff the whole, customers their organisation's."""
    return bool(policy.roles_of(user)) or policy.is_system(user)


def organisation_of(user: Any, preview: Organisation | None = None) -> Organisation | None:
    """Whose catalogue: a customer user's own organisation, whatever they ask; staff may preview one."""
    if getattr(user, "is_customer", False):
        return Organisation.objects.filter(pk=user.organisation_id).first() if user.organisation_id else None
    return preview


def preview(user: Any, raw: str) -> tuple[Organisation | None, str]:
    """Staff may read the catalogue as one customer organisation's users do (`?organisation=<id>`, pages and API);
    a customer's catalogue is always their own, whatever they ask. (organisation, what was wrong with `raw`)."""
    raw = (raw or "").strip()
    if not raw or getattr(user, "is_customer", False):
        return None, ""
    found = policy.restrict(Organisation.objects.all(), user).filter(pk=int(raw)).first() if raw.isdigit() else None
    return (found, "") if found else (None, f"No such organisation: {raw}.")


def services(user: Any, organisation: Organisation | None = None) -> QuerySet[Service]:
    """The live services `user` reads in the catalogue (of `organisation`, for a staff preview)."""
    if not may_read(user):
        return Service.objects.none()
    found = Service.objects.filter(status=ServiceStatus.LIVE)
    whose = organisation_of(user, organisation)
    if getattr(user, "is_customer", False):
        if whose is None:
            return Service.objects.none()
        found = found.filter(customers=whose)
    elif whose is not None:
        found = found.filter(customers=whose)
    return found.select_related("category", "service_hours", "support_hours").order_by(
        F("category__order").asc(nulls_last=True), F("category__name").asc(nulls_last=True), "name"
    )  # a service without a category last, under "Other services"


def search(user: Any, query: str, organisation: Organisation | None = None) -> QuerySet[Service]:
    """Entries whose name, summary or business description holds the words (never the internal description)."""
    found = services(user, organisation)
    for word in query.split():
        found = found.filter(
            Q(name__icontains=word)
            | Q(summary__icontains=word)
            | Q(business_description__icontains=word)
            | Q(reference__iexact=word)
        )
    return found


@dataclass
class Hours:
    calendar: str
    weekly: str
    time_zone: str
    upcoming: list[tuple[date, str]] = field(default_factory=list)  # closures and holidays ahead
    zoned: bool = True  # False for a calendar open around the clock (its time zone says nothing)

    def as_dict(self) -> dict[str, Any]:
        return {
            "calendar": self.calendar,
            "weekly": self.weekly,
            "time_zone": self.time_zone,
            "exceptions": [{"date": day.isoformat(), "note": note} for day, note in self.upcoming],
        }


def hours(calendar: Calendar | None) -> Hours | None:
    """A calendar as a customer reads it: "Mon-Fri 08:00-18:00" in its time zone, and its closures, extra working
    days and public holidays in the next 90 days."""
    if calendar is None:
        return None
    weekly = "24 hours a day, 7 days a week" if calendar.always_open else format_hours(calendar.working_hours)
    today = timezone.localdate()
    last = today + timedelta(days=UPCOMING_DAYS)
    upcoming = [(day, f"Public holiday: {name}") for day, name in calendar.upcoming_holidays(count=12) if day <= last]
    upcoming += [
        (e.date, f"{e.get_kind_display()}{': ' + e.reason if e.reason else ''}")
        for e in calendar.exceptions.filter(date__gte=today, date__lte=last)
    ]
    return Hours(
        calendar.name, weekly or "No working hours set", calendar.time_zone, sorted(upcoming), not calendar.always_open
    )


# what another app says of a service for a reader of one organisation's catalogue (None: staff, every customer): the
# service levels app gives the service level agreement that applies (`register_agreement_source`); None: nothing
AgreementSource = Callable[[Organisation | None, Service], dict[str, Any] | None]
_agreement_sources: list[AgreementSource] = []


def register_agreement_source(source: AgreementSource) -> None:
    _agreement_sources.append(source)


def agreement_of(whose: Organisation | None, service: Service) -> dict[str, Any] | None:
    for source in _agreement_sources:
        found = source(whose, service)
        if found is not None:
            return found
    return None


@dataclass
class Entry:
    """One service of the catalogue, as its reader may read it."""

    service: Service
    targets: list[Any]
    contacts: list[ServiceContact]
    responsibilities: list[ExternalDependency]
    service_hours: Hours | None
    support_hours: Hours | None
    offerings: list[Any]
    agreement: dict[str, Any] | None = None  # on one entry's page and API: the SLA that applies (`agreement_of`)

    def as_dict(self) -> dict[str, Any]:
        s = self.service
        return {
            "id": s.pk,
            "reference": s.reference,
            "name": s.name,
            "category": s.category.name if s.category else None,
            "summary": s.summary,
            "business_description": s.business_description,
            "service_hours": self.service_hours.as_dict() if self.service_hours else None,
            "support_hours": self.support_hours.as_dict() if self.support_hours else None,
            "targets": [{"measure": t.measure, "target": t.target, "period": t.period} for t in self.targets],
            "security": {
                "confidentiality": s.confidentiality,
                "integrity": s.integrity,
                "availability": s.availability,
                "requirements": s.security_requirements,
            },
            "contacts": [
                {"name": str(c.person), "role": c.get_role_display(), "email": c.person.email, "phone": c.person.phone}
                for c in self.contacts
            ],
            "customer_responsibilities": [d.responsibility for d in self.responsibilities],
            "offerings": [_offering_dict(o) for o in self.offerings],
            "agreement": self.agreement,
        }


def _offering_dict(offering: Any) -> dict[str, Any]:
    return {
        "id": offering.pk,
        "name": offering.name,
        "summary": offering.summary,
        "expected_fulfilment": offering.expected_fulfilment,
        "needs_approval": offering.approval != "none",
    }


def entries(
    user: Any, organisation: Organisation | None = None, queryset: QuerySet[Service] | None = None
) -> list[Entry]:
    """The catalogue entries `user` reads (a staff preview: as `organisation` would), in catalogue order; `queryset`
    narrows them (a search), never widens. Rows read in a fixed number of queries whatever the number of services."""
    allowed = services(user, organisation)
    found = allowed if queryset is None else allowed.filter(pk__in=queryset.values("pk"))
    return _build(user, organisation_of(user, organisation), found)


def _contacts(whose: Organisation | None) -> QuerySet[ServiceContact]:
    """The contacts marked for customers that a reader of `whose` catalogue may read: the provider's people and
    their own organisation's, never another customer's person (their name and mail are that customer's data).
    Staff (no organisation) read every contact marked for customers."""
    found = ServiceContact.objects.filter(customer_visible=True).select_related("person")
    if whose is None:
        return found
    return found.filter(Q(person__organisation__kind=OrganisationKind.INTERNAL) | Q(person__organisation=whose))


def _build(user: Any, whose: Organisation | None, found: QuerySet[Service]) -> list[Entry]:
    """The entries of these services as a reader of `whose` catalogue reads them (None: staff, every customer)."""
    found = found.prefetch_related(
        "targets",
        Prefetch("contacts", _contacts(whose)),
        Prefetch(
            "external_dependencies",
            ExternalDependency.objects.filter(kind=DependencyKind.CUSTOMER).filter(
                Q(party__isnull=True) | Q(party=whose) if whose is not None else Q()
            ),
            to_attr="customer_duties",
        ),
    )
    from meridian.portfolio.offerings import requestable

    offerings: dict[int, list[Any]] = {}
    for offering in requestable(user, found.values("pk"), whose).order_by("name", "pk"):
        offerings.setdefault(offering.service_id, []).append(offering)
    calendars: dict[int, Hours | None] = {}

    def hours_of(calendar: Calendar | None) -> Hours | None:
        if calendar is None:
            return None
        if calendar.pk not in calendars:
            calendars[calendar.pk] = hours(calendar)
        return calendars[calendar.pk]

    return [
        Entry(
            service=s,
            targets=list(s.targets.all()),
            contacts=list(s.contacts.all()),
            responsibilities=list(s.customer_duties),  # type: ignore[attr-defined]
            service_hours=hours_of(s.service_hours),
            support_hours=hours_of(s.support_hours),
            offerings=offerings.get(s.pk, []),
        )
        for s in found
    ]


def entry(user: Any, reference: str, organisation: Organisation | None = None) -> Entry | None:
    """One entry by its reference (SVC-0001), or None when the reader's catalogue does not hold it."""
    found = entries(user, organisation, services(user, organisation).filter(reference__iexact=reference))
    if not found:
        return None
    found[0].agreement = agreement_of(organisation_of(user, organisation), found[0].service)
    return found[0]


EXPORT_HEADER = [
    "Reference",
    "Service",
    "Category",
    "Summary",
    "Description",
    "Service hours",
    "Support hours",
    "Targets",
    "Confidentiality",
    "Integrity",
    "Availability",
    "Security requirements",
    "Contacts",
    "Your responsibilities",
]


def _hours_text(h: Hours | None) -> str:
    return (f"{h.weekly} ({h.time_zone})" if h.zoned else h.weekly) if h else ""


def export_rows(found: list[Entry]) -> list[list[Any]]:
    """The catalogue as a table (CSV/XLSX): what the pages show, one row per service."""
    rows: list[list[Any]] = [list(EXPORT_HEADER)]
    for e in found:
        s = e.service
        rows.append(
            [
                s.reference,
                s.name,
                s.category.name if s.category else "",
                s.summary,
                s.business_description,
                _hours_text(e.service_hours),
                _hours_text(e.support_hours),
                "; ".join(f"{t.measure}: {t.target}{' ' + t.period if t.period else ''}" for t in e.targets),
                s.get_confidentiality_display(),
                s.get_integrity_display(),
                s.get_availability_display(),
                s.security_requirements,
                "; ".join(
                    f"{c.person} ({c.get_role_display()}){' ' + c.person.email if c.person.email else ''}"
                    for c in e.contacts
                ),
                "; ".join(d.responsibility for d in e.responsibilities),
            ]
        )
    return rows


def tab_context(service: Service, user: Any) -> dict[str, Any]:
    """The service page's "In the catalogue" tab: the entry as its customers read it (a preview before it is live)."""
    live = service.status == ServiceStatus.LIVE
    preview = _build(user, None, Service.objects.filter(pk=service.pk).select_related("category"))  # staff only
    return {
        "entry": preview[0] if live and preview else None,
        "preview": preview[0] if preview else None,
        "offered": [o.name for o in service.customers.all()],
    }
