"""Whether the agreements beneath a service level agreement can support it (ISO/IEC 20000-1 8.3.3: the provider
agrees OLAs and underpinning contracts that support the SLA's targets).

Underneath an SLA are the agreed or active OLAs and underpinning contracts that cover one of its services (or every
service) at a common date. For each priority the SLA has a response or resolution target for, each of them should
promise no later: its due time, in its own support hours, may not fall after the SLA's for a ticket opened at any
hour of a week (every hour from next Monday 00:00 in the SLA's time zone, 168 starts; so different business hours
are compared as a person would, ticket by ticket, and an OLA working fewer hours is caught on the hours it does
not work). A missing target of the same priority is flagged too: that part of the SLA is not underpinned."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Q, QuerySet
from django.utils import timezone

from meridian.service_levels.applies import RIVALS, Schedules, _overlap, due
from meridian.service_levels.choices import AgreementKind
from meridian.service_levels.models import Agreement, AgreementTarget, working_time

MEASURES = ("response", "resolution")
SAMPLE_HOURS = 7 * 24


@dataclass(frozen=True)
class Finding:
    """One place an SLA is not supported by an agreement beneath it."""

    sla: Agreement
    beneath: Agreement
    priority: str
    measure: str  # response / resolution
    message: str
    example_start: datetime | None = None
    sla_due: datetime | None = None
    beneath_due: datetime | None = None


def _sharing(agreement: Agreement, kinds: list[str]) -> QuerySet[Agreement]:
    """The agreed or active agreements of `kinds` covering one of the agreement's services (either covering every
    service counts) and valid at a common date."""
    services = list(agreement.services.values_list("pk", flat=True))
    found = Agreement.objects.filter(kind__in=kinds, status__in=RIVALS).exclude(pk=agreement.pk)
    if services:
        found = found.filter(Q(services__in=services) | Q(services__isnull=True))
    pks = [
        a.pk for a in found.distinct() if _overlap(agreement.valid_from, agreement.valid_to, a.valid_from, a.valid_to)
    ]
    return Agreement.objects.filter(pk__in=pks).select_related("team", "supplier", "support_hours").order_by("kind")


def beneath(sla: Agreement) -> QuerySet[Agreement]:
    """The OLAs and UCs beneath an SLA."""
    return _sharing(sla, [AgreementKind.OLA, AgreementKind.UC])


def supported(agreement: Agreement) -> QuerySet[Agreement]:
    """The SLAs an OLA or UC is beneath (the reverse of `beneath`)."""
    return _sharing(agreement, [AgreementKind.SLA])


def _starts(sla: Agreement, now: datetime) -> list[datetime]:
    zone = ZoneInfo(sla.support_hours.time_zone)
    local = now.astimezone(zone)
    monday = (local + timedelta(days=7 - local.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    return [(monday + timedelta(hours=h)).astimezone(zone) for h in range(SAMPLE_HOURS)]


def _label(agreement: Agreement) -> str:
    party = agreement.party
    return f"{agreement.reference} ({party})" if party is not None else agreement.reference


def check(sla: Agreement, now: datetime | None = None) -> list[Finding]:
    """Every place the agreements beneath the SLA cannot support it (see the module's docstring)."""
    if sla.kind != AgreementKind.SLA:
        return []
    now = now or timezone.now()
    targets = list(sla.targets.select_related("priority"))
    if not targets:
        return []
    schedules, starts, findings = Schedules(), _starts(sla, now), []
    for under in beneath(sla):
        theirs = {t.priority_id: t for t in under.targets.all()}
        for mine in targets:
            findings.extend(_compare(sla, mine, under, theirs.get(mine.priority_id), schedules, starts))
    return findings


def _compare(
    sla: Agreement,
    mine: AgreementTarget,
    under: Agreement,
    theirs: AgreementTarget | None,
    schedules: Schedules,
    starts: list[datetime],
) -> list[Finding]:
    found = []
    for measure in MEASURES:
        promised = getattr(mine, f"{measure}_minutes")
        if promised is None:
            continue
        backing = getattr(theirs, f"{measure}_minutes", None) if theirs else None
        if backing is None:
            found.append(
                Finding(
                    sla,
                    under,
                    str(mine.priority),
                    measure,
                    f"{_label(under)} has no {measure} target for {mine.priority}: the SLA's "
                    f"{working_time(promised)} is not underpinned by it.",
                )
            )
            continue
        for start in starts:
            sla_due = due(schedules, sla.support_hours, start, promised)
            their_due = due(schedules, under.support_hours, start, backing)
            if sla_due is not None and their_due is not None and their_due > sla_due:
                found.append(
                    Finding(
                        sla,
                        under,
                        str(mine.priority),
                        measure,
                        f"{_label(under)} promises {measure} of {mine.priority} in {working_time(backing)} of "
                        f"{under.support_hours}; the SLA promises {working_time(promised)} of {sla.support_hours}. "
                        f"A ticket opened {start:%a %d %b %H:%M} is due {sla_due.astimezone(start.tzinfo):%a %H:%M} "
                        f"under the SLA but {their_due.astimezone(start.tzinfo):%a %H:%M} under "
                        f"{under.reference}.",
                        start,
                        sla_due,
                        their_due,
                    )
                )
                break  # the first ticket that shows it is enough
    return found


def findings_for(agreement: Agreement, now: datetime | None = None) -> list[Finding]:
    """On an SLA's page its own findings; on an OLA's or UC's, those of the SLAs it is beneath that name it."""
    if agreement.kind == AgreementKind.SLA:
        return check(agreement, now)
    return [f for sla in supported(agreement) for f in check(sla, now) if f.beneath.pk == agreement.pk]
