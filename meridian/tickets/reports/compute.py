"""The figures of a service report: one agreement, one period, optionally one customer organisation.

Decisions (docs/users/service-reports.md says them to readers):

- Periods are calendar days in the time zone of the agreement's support hours (the calendar its targets count in),
  for every reader and for the mail: the same report says the same thing to everyone.
- The tickets of an SLA are those it was applied to (`Ticket.agreement`); of an OLA, those assigned to its team.
  A customer reader's report holds only their organisation's tickets (`organisation`).
- Compliance, times and satisfaction are of the tickets *opened* in the period (a cohort): met = the clock ended
  (stopped or finished) without a breach, breached = `breached_at` set, otherwise still running (not counted in %).
- Times are business minutes of the clocks that ended (`elapsed_minutes`, final once ended); the 90th percentile
  is the nearest rank (the smallest value with at least 90 % of the values at or below it).
- Cancelled and rejected tickets count in the volumes and the backlog, not in compliance, times or breaches.
- A breach's reason: the resolution notes (with the resolution code) when there are some; otherwise the last
  pending status the clock spent time in ("Pending: on a supplier"); otherwise the ticket's status now.

A report costs a fixed number of queries whatever the number of tickets: per ticket kind a handful of aggregates
grouped in SQL, plus one query for the elapsed minutes (percentiles), one for the breached clocks' tickets and one
for their segments.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, DateTimeField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import TruncMonth
from django.utils import timezone

from meridian.service_levels.choices import AgreementKind
from meridian.service_levels.clock_models import Clock, ClockSegment, ClockState
from meridian.service_levels.models import Agreement, AgreementTarget, Priority
from meridian.service_levels.workload import against_limits
from meridian.tickets.choices import PENDING, ResolutionCode, Status
from meridian.tickets.models import Category, Incident, ServiceRequest

KINDS: list[tuple[str, Any, str]] = [("incidents", Incident, "Incidents"), ("requests", ServiceRequest, "Requests")]
METRICS = [("response", "Response"), ("resolution", "Resolution")]
ENDED = [ClockState.STOPPED, ClockState.FINISHED]
TREND_MONTHS = 6
NONE_LABEL = "(none)"
UNMEASURED = [Status.CANCELLED, Status.REJECTED]


# --- periods -------------------------------------------------------------------------------------------------


def add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + month - 1 + months
    return index // 12, index % 12 + 1


@dataclass(frozen=True)
class Period:
    """Calendar days `first` to `last` (both included) in time zone `tz`."""

    first: date
    last: date
    tz: ZoneInfo

    @classmethod
    def month(cls, year: int, month: int, tz: ZoneInfo) -> Period:
        ny, nm = add_months(year, month, 1)
        return cls(date(year, month, 1), date(ny, nm, 1) - timedelta(days=1), tz)

    @classmethod
    def quarter(cls, year: int, quarter: int, tz: ZoneInfo) -> Period:
        first_month = (quarter - 1) * 3 + 1
        ny, nm = add_months(year, first_month, 3)
        return cls(date(year, first_month, 1), date(ny, nm, 1) - timedelta(days=1), tz)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), tzinfo=self.tz)

    @property
    def end(self) -> datetime:
        """The first instant after the period."""
        return datetime.combine(self.last + timedelta(days=1), time(), tzinfo=self.tz)

    @property
    def key(self) -> str:
        """`2026-11`, `2026-Q4` or `2026-11-03_2026-11-20`: for file names and the record of what was mailed."""
        if self.first.day == 1 and Period.month(self.first.year, self.first.month, self.tz).last == self.last:
            return f"{self.first:%Y-%m}"
        quarter = self.first.month // 3 + 1
        if self.first.day == 1 and self.first.month % 3 == 1 and self._quarter_last(quarter) == self.last:
            return f"{self.first.year}-Q{quarter}"
        return f"{self.first:%Y-%m-%d}_{self.last:%Y-%m-%d}"

    def _quarter_last(self, quarter: int) -> date:
        return Period.quarter(self.first.year, quarter, self.tz).last

    @property
    def label(self) -> str:
        key = self.key
        if len(key) == 7 and key[4] == "-" and key[5:].isdigit():
            return f"{self.first:%B %Y}"
        if "Q" in key:
            return key.replace("-", " ")
        return f"{self.first:%d %b %Y} – {self.last:%d %b %Y}"

    def trend_months(self, count: int = TREND_MONTHS) -> list[Period]:
        """The `count` calendar months up to the one holding the period's last day (oldest first)."""
        months = []
        for back in range(count - 1, -1, -1):
            year, month = add_months(self.last.year, self.last.month, -back)
            months.append(Period.month(year, month, self.tz))
        return months


def agreement_tz(agreement: Agreement) -> ZoneInfo:
    return ZoneInfo(agreement.support_hours.time_zone or "UTC")


def previous_month(agreement: Agreement, today: date | None = None) -> Period:
    tz = agreement_tz(agreement)
    today = today or timezone.now().astimezone(tz).date()
    year, month = add_months(today.year, today.month, -1)
    return Period.month(year, month, tz)


# --- figures -------------------------------------------------------------------------------------------------


def percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def p90(values: list[float]) -> float | None:
    """The nearest-rank 90th percentile: the smallest value with at least 90 % of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(0.9 * len(ordered)), 1) - 1]


def mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


@dataclass
class Compliance:
    met: int = 0
    breached: int = 0
    running: int = 0
    target: int | None = None  # business minutes (per-priority rows)

    @property
    def measured(self) -> int:
        return self.met + self.breached

    @property
    def percent(self) -> float | None:
        return percent(self.met, self.measured)


@dataclass
class Times:
    values: list[float] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float | None:
        return mean(self.values)

    @property
    def p90(self) -> float | None:
        return p90(self.values)


@dataclass
class Breach:
    kind: str
    reference: str
    title: str
    url: str
    priority: str
    metric: str
    target: int
    elapsed: float
    breached_at: datetime
    status: str
    reason: str


@dataclass
class KindFigures:
    key: str
    label: str
    by_priority: list[tuple[str, int]]
    by_category: list[tuple[str, int]]
    opened: int
    resolved: int
    closed: int
    open_at_end: int
    compliance: dict[str, list[tuple[str, Compliance]]]  # metric -> [(priority label or "All", figures)]
    times: dict[str, list[tuple[str, Times]]]  # metric -> [(priority label or "All", times)]

    @property
    def rows(self) -> list[tuple[str, str, Compliance, Times]]:
        """(metric, priority, compliance, times): the "All" row first for each metric."""
        result = []
        for metric_key, metric_label in METRICS:
            times = dict(self.times[metric_key])
            for priority, figures in self.compliance[metric_key]:
                result.append((metric_label, priority, figures, times.get(priority, Times())))
        return result


@dataclass
class Report:
    agreement: Agreement
    period: Period
    organisation: Any  # the customer organisation it is narrowed to, or None (every customer of the agreement)
    kinds: list[KindFigures]
    breaches: list[Breach]
    ratings: dict[int, int]
    workload: list[Any] | None  # workload.Row list; None when not shown (a customer of a shared agreement)
    trend: list[dict[str, Any]]

    @property
    def rating_count(self) -> int:
        return sum(self.ratings.values())

    @property
    def rating_rows(self) -> list[tuple[int, int]]:
        return [(r, self.ratings.get(r, 0)) for r in range(5, 0, -1)]

    @property
    def rating_mean(self) -> float | None:
        count = self.rating_count
        return round(sum(r * n for r, n in self.ratings.items()) / count, 2) if count else None

    def totals(self, metric: str) -> Compliance:
        total = Compliance()
        for kind in self.kinds:
            overall = kind.compliance[metric][0][1]
            total.met += overall.met
            total.breached += overall.breached
            total.running += overall.running
        return total

    def chart_data(self) -> dict[str, Any]:
        """What the page's charts draw (passed with json_script)."""
        return {
            "volumes": {
                "labels": [label for label, _ in self.kinds[0].by_priority],
                "series": [{"label": k.label, "data": [n for _, n in k.by_priority]} for k in self.kinds],
            },
            "compliance": {
                "labels": [m_label for _, m_label in METRICS],
                "met": [self.totals(m).met for m, _ in METRICS],
                "breached": [self.totals(m).breached for m, _ in METRICS],
            },
            "ratings": {"labels": ["1", "2", "3", "4", "5"], "data": [self.ratings.get(r, 0) for r in range(1, 6)]},
            "trend": {
                "labels": [row["label"] for row in self.trend],
                "incidents": [row["incidents"] for row in self.trend],
                "requests": [row["requests"] for row in self.trend],
                "response": [row["response"] for row in self.trend],
                "resolution": [row["resolution"] for row in self.trend],
            },
        }


def tickets_of(model: Any, agreement: Agreement, organisation_id: int | None) -> QuerySet[Any]:
    """The tickets a report of `agreement` is about (every period), narrowed to one customer organisation."""
    if agreement.kind == AgreementKind.OLA:
        queryset = model.objects.filter(team_id=agreement.team_id)
    else:
        queryset = model.objects.filter(agreement=agreement)
    if organisation_id is not None:
        queryset = queryset.filter(organisation_id=organisation_id)
    return queryset


def _opened(queryset: QuerySet[Any], start: datetime, end: datetime) -> QuerySet[Any]:
    return queryset.filter(created_at__gte=start, created_at__lt=end)


def _measured(tickets: QuerySet[Any]) -> QuerySet[Any]:
    """The tickets whose clocks count: not cancelled or rejected (their clocks stopped without a service given)."""
    return tickets.exclude(status__in=UNMEASURED)


def _clocks(model: Any, tickets: QuerySet[Any]) -> Any:  # a Clock queryset with annotations
    ct = ContentType.objects.get_for_model(model)
    owner = model.objects.filter(pk=OuterRef("object_id"))
    return Clock.objects.filter(content_type=ct, object_id__in=tickets.values("pk")).annotate(
        priority_id=Subquery(owner.values("priority_id")[:1]),
        opened_at=Subquery(owner.values("created_at")[:1], output_field=DateTimeField()),
    )


def _compliance_counts() -> dict[str, Any]:
    return {
        "met": Count("pk", filter=Q(breached_at__isnull=True, state__in=ENDED)),
        "breached": Count("pk", filter=Q(breached_at__isnull=False)),
        "all": Count("pk"),
    }


def _kind_figures(
    key: str,
    label: str,
    model: Any,
    scope: QuerySet[Any],
    period: Period,
    priorities: list[Priority],
    categories: dict[int, str],
    targets: dict[int, AgreementTarget],
) -> KindFigures:
    start, end = period.start, period.end
    opened = _opened(scope, start, end)
    by_priority_rows = dict(
        opened.order_by().values_list("priority_id").annotate(n=Count("pk")).values_list("priority_id", "n")
    )
    by_priority = [(p.name, by_priority_rows.get(p.pk, 0)) for p in priorities]
    if by_priority_rows.get(None):
        by_priority.append((NONE_LABEL, by_priority_rows[None]))
    by_category_rows = (
        opened.order_by().values_list("category_id").annotate(n=Count("pk")).values_list("category_id", "n")
    )
    by_category = sorted(
        ((categories.get(cid, NONE_LABEL) if cid else NONE_LABEL, n) for cid, n in by_category_rows),
        key=lambda item: (-item[1], item[0]),
    )
    flow = scope.aggregate(
        opened=Count("pk", filter=Q(created_at__gte=start, created_at__lt=end)),
        resolved=Count("pk", filter=Q(resolved_at__gte=start, resolved_at__lt=end)),
        closed=Count("pk", filter=Q(closed_at__gte=start, closed_at__lt=end)),
        open_at_end=Count(
            "pk",
            filter=Q(created_at__lt=end)
            & (Q(resolved_at__isnull=True) | Q(resolved_at__gte=end))
            & (Q(closed_at__isnull=True) | Q(closed_at__gte=end)),
        ),
    )
    clocks = _clocks(model, _measured(opened))
    compliance: dict[str, list[tuple[str, Compliance]]] = {}
    times: dict[str, list[tuple[str, Times]]] = {}
    grouped: dict[tuple[str, int | None], Compliance] = {}
    for row in clocks.values("metric__key", "priority_id").annotate(**_compliance_counts()).order_by():
        grouped[(row["metric__key"], row["priority_id"])] = Compliance(
            row["met"], row["breached"], row["all"] - row["met"] - row["breached"]
        )
    elapsed: dict[tuple[str, int | None], list[float]] = defaultdict(list)
    for metric_key, priority_id, minutes in clocks.filter(state__in=ENDED).values_list(
        "metric__key", "priority_id", "elapsed_minutes"
    ):
        elapsed[(metric_key, priority_id)].append(minutes)
    for metric_key, _ in METRICS:
        overall = Compliance()
        rows: list[tuple[str, Compliance]] = []
        all_times: list[float] = []
        time_rows: list[tuple[str, Times]] = []
        for priority in priorities:
            figures = grouped.get((metric_key, priority.pk), Compliance())
            target = targets.get(priority.pk)
            figures.target = getattr(target, f"{metric_key}_minutes", None) if target else None
            rows.append((priority.name, figures))
            overall.met += figures.met
            overall.breached += figures.breached
            overall.running += figures.running
            values = elapsed.get((metric_key, priority.pk), [])
            all_times.extend(values)
            time_rows.append((priority.name, Times(values)))
        unprioritised = grouped.get((metric_key, None))
        if unprioritised:
            rows.append((NONE_LABEL, unprioritised))
            overall.met += unprioritised.met
            overall.breached += unprioritised.breached
            overall.running += unprioritised.running
            all_times.extend(elapsed.get((metric_key, None), []))
        compliance[metric_key] = [("All", overall), *rows]
        times[metric_key] = [("All", Times(all_times)), *time_rows]
    return KindFigures(
        key=key,
        label=label,
        by_priority=by_priority,
        by_category=by_category,
        opened=flow["opened"],
        resolved=flow["resolved"],
        closed=flow["closed"],
        open_at_end=flow["open_at_end"],
        compliance=compliance,
        times=times,
    )


def _breaches(
    scopes: Iterable[tuple[str, str, Any, QuerySet[Any]]], period: Period, priorities: dict[int, str]
) -> list[Breach]:
    metric_labels = dict(METRICS)
    status_labels = dict(Status.choices)
    codes = dict(ResolutionCode.choices)
    found: list[tuple[str, Any, Clock]] = []
    for key, _label, model, scope in scopes:
        opened = _opened(scope, period.start, period.end)
        breached = (
            _clocks(model, _measured(opened))
            .filter(breached_at__isnull=False)
            .select_related("metric")
            .order_by("breached_at", "pk")
        )
        found.extend((key, model, clock) for clock in breached)
    if not found:
        return []
    pending_of: dict[int, str] = {}
    segments = ClockSegment.objects.filter(clock_id__in=[c.pk for _, _, c in found], status__in=PENDING).order_by(
        "clock_id", "start", "pk"
    )
    for clock_id, status in segments.values_list("clock_id", "status"):
        pending_of[clock_id] = status  # the last one wins
    tickets: dict[tuple[str, int], Any] = {}
    for key, model in {(k, m) for k, m, _ in found}:
        ids = [c.object_id for k, _, c in found if k == key]
        for ticket in model.objects.filter(pk__in=ids).only(
            "pk", "reference", "title", "status", "resolution_code", "resolution_notes", "priority_id"
        ):
            tickets[(key, ticket.pk)] = ticket
    rows = []
    for key, _model, clock in found:
        ticket = tickets.get((key, clock.object_id))
        if ticket is None:
            continue
        if ticket.resolution_notes.strip():
            code = codes.get(ticket.resolution_code, "")
            reason = f"{code}: {ticket.resolution_notes.strip()}" if code else ticket.resolution_notes.strip()
        elif clock.pk in pending_of:
            reason = status_labels.get(pending_of[clock.pk], pending_of[clock.pk])
        else:
            reason = f"Still {status_labels.get(ticket.status, ticket.status).lower()}"
        rows.append(
            Breach(
                kind=key,
                reference=ticket.reference,
                title=ticket.title,
                url=ticket.get_absolute_url() if hasattr(ticket, "get_absolute_url") else "",
                priority=priorities.get(ticket.priority_id, NONE_LABEL) if ticket.priority_id else NONE_LABEL,
                metric=metric_labels.get(clock.metric.key, clock.metric.name),
                target=clock.target_minutes,
                elapsed=round(clock.elapsed_minutes, 1),
                breached_at=clock.breached_at,  # type: ignore[arg-type]
                status=status_labels.get(ticket.status, ticket.status),
                reason=reason,
            )
        )
    return rows


def _trend(scopes: list[tuple[str, str, Any, QuerySet[Any]]], period: Period) -> list[dict[str, Any]]:
    months = period.trend_months()
    start, end = months[0].start, months[-1].end
    tz = period.tz
    volumes: dict[tuple[str, tuple[int, int]], int] = {}
    compliance: dict[tuple[str, tuple[int, int]], list[int]] = defaultdict(lambda: [0, 0])
    for key, _label, model, scope in scopes:
        opened = _opened(scope, start, end)
        for month, n in (
            opened.order_by()
            .annotate(month=TruncMonth("created_at", tzinfo=tz))
            .values("month")
            .annotate(n=Count("pk"))
            .values_list("month", "n")
            .order_by()
        ):
            month = month.astimezone(tz)
            volumes[(key, (month.year, month.month))] = n
        clocks = _clocks(model, _measured(opened))
        for counted in (
            clocks.annotate(month=TruncMonth("opened_at", tzinfo=tz))
            .values("month", "metric__key")
            .annotate(**_compliance_counts())
            .order_by()
        ):
            month = counted["month"].astimezone(tz)
            cell = compliance[(counted["metric__key"], (month.year, month.month))]
            cell[0] += counted["met"]
            cell[1] += counted["breached"]
    rows = []
    for month in months:
        ym = (month.first.year, month.first.month)
        row: dict[str, Any] = {"label": f"{month.first:%b %Y}", "key": month.key}
        for key, *_ in scopes:
            row[key] = volumes.get((key, ym), 0)
        for metric_key, _ in METRICS:
            met, breached = compliance[(metric_key, ym)]
            row[metric_key] = percent(met, met + breached)
        rows.append(row)
    return rows


def shows_workload(agreement: Agreement, organisation_id: int | None) -> bool:
    """Workload limits are the agreement's as a whole: a customer reader sees them only when the agreement is
    theirs alone (the counts would otherwise tell of other customers' tickets)."""
    if organisation_id is None:
        return True
    customers = [c.pk for c in agreement.customers.all()]
    return customers == [organisation_id]


def build(agreement: Agreement, period: Period, *, organisation: Any = None) -> Report:
    """The report of `agreement` over `period`; with `organisation`, only that customer's tickets."""
    organisation_id = organisation.pk if organisation is not None else None
    priorities = list(Priority.objects.order_by("rank"))
    priority_names = {p.pk: p.name for p in priorities}
    categories = {c.pk: str(c) for c in Category.objects.select_related("parent")}
    targets = {t.priority_id: t for t in AgreementTarget.objects.filter(agreement=agreement)}
    scopes = [(key, label, model, tickets_of(model, agreement, organisation_id)) for key, model, label in KINDS]
    kinds = [
        _kind_figures(key, label, model, scope, period, priorities, categories, targets)
        for key, label, model, scope in scopes
    ]
    ratings: dict[int, int] = defaultdict(int)
    for _key, _label, _model, scope in scopes:
        for rating, n in (
            _opened(scope, period.start, period.end)
            .order_by()
            .filter(rating__isnull=False)
            .values_list("rating")
            .annotate(n=Count("pk"))
            .values_list("rating", "n")
            .order_by()
        ):
            ratings[rating] += n
    workload = against_limits(agreement, today=period.last) if shows_workload(agreement, organisation_id) else None
    return Report(
        agreement=agreement,
        period=period,
        organisation=organisation,
        kinds=kinds,
        breaches=_breaches(scopes, period, priority_names),
        ratings=dict(ratings),
        workload=workload,
        trend=_trend(scopes, period),
    )


# --- tables (CSV, XLSX, mail) --------------------------------------------------------------------------------


def _n(value: float | None) -> Any:
    return "" if value is None else value


def sections(report: Report) -> list[tuple[str, list[str], list[list[Any]]]]:
    """The report as titled tables: the CSV writes them one after another, the XLSX one sheet each."""
    period = report.period
    summary = [
        ["Agreement", f"{report.agreement.reference} {report.agreement.name}"],
        ["Period", period.label],
        ["From", period.first.isoformat()],
        ["To", period.last.isoformat()],
        ["Time zone", str(period.tz)],
        ["Customer", str(report.organisation) if report.organisation is not None else "Every customer of it"],
    ]
    for metric_key, metric_label in METRICS:
        total = report.totals(metric_key)
        summary.append([f"{metric_label} compliance %", _n(total.percent)])
    summary.append(["Mean rating", _n(report.rating_mean)])
    volumes = []
    for kind in report.kinds:
        volumes += [[kind.label, "Priority", label, n] for label, n in kind.by_priority]
        volumes += [[kind.label, "Category", label, n] for label, n in kind.by_category]
    compliance = []
    times = []
    for kind in report.kinds:
        for metric_key, metric_label in METRICS:
            for priority, c in kind.compliance[metric_key]:
                compliance.append(
                    [kind.label, metric_label, priority, _n(c.target), c.met, c.breached, c.running, _n(c.percent)]
                )
            for priority, t in kind.times[metric_key]:
                times.append([kind.label, metric_label, priority, t.count, _n(t.mean), _n(t.p90)])
    breaches = [
        [
            b.reference,
            b.title,
            b.priority,
            b.metric,
            b.target,
            b.elapsed,
            b.breached_at.astimezone(period.tz).strftime("%Y-%m-%d %H:%M"),
            b.status,
            b.reason,
        ]
        for b in report.breaches
    ]
    backlog = [[k.label, k.opened, k.resolved, k.closed, k.open_at_end] for k in report.kinds]
    satisfaction = [[r, report.ratings.get(r, 0)] for r in range(1, 6)]
    result: list[tuple[str, list[str], list[list[Any]]]] = [
        ("Summary", ["Item", "Value"], summary),
        ("Volumes", ["Kind", "By", "Value", "Tickets"], volumes),
        (
            "Compliance",
            ["Kind", "Metric", "Priority", "Target (business minutes)", "Met", "Breached", "Running", "Met %"],
            compliance,
        ),
        (
            "Times",
            ["Kind", "Metric", "Priority", "Ended clocks", "Mean (business minutes)", "90th percentile"],
            times,
        ),
        (
            "Breaches",
            ["Ticket", "Title", "Priority", "Metric", "Target", "Elapsed", "Breached at", "Status", "Reason"],
            breaches,
        ),
        ("Backlog", ["Kind", "Opened", "Resolved", "Closed", "Open at period end"], backlog),
        ("Satisfaction", ["Rating", "Tickets"], satisfaction),
    ]
    if report.workload is not None:
        result.append(
            (
                "Workload",
                ["Limit", "At most", "Per", "From", "To", "Measured", "Over"],
                [
                    [
                        row.limit.get_measure_display(),
                        row.limit.limit,
                        row.limit.get_period_display(),
                        row.first.isoformat() if row.first else "",
                        row.last.isoformat() if row.last else "",
                        _n(row.measured),
                        "yes" if row.over else "",
                    ]
                    for row in report.workload
                ],
            )
        )
    result.append(
        (
            "Trend",
            ["Month", "Incidents", "Requests", "Response met %", "Resolution met %"],
            [[r["label"], r["incidents"], r["requests"], _n(r["response"]), _n(r["resolution"])] for r in report.trend],
        )
    )
    return result


def summary_text(report: Report) -> str:
    """A plain-text summary (the mail's body)."""
    lines = [
        f"Service report: {report.agreement.reference} {report.agreement.name}",
        f"Period: {report.period.label} ({report.period.first:%d %b %Y} – {report.period.last:%d %b %Y}, "
        f"{report.period.tz})",
    ]
    if report.organisation is not None:
        lines.append(f"Customer: {report.organisation}")
    lines.append("")
    for kind in report.kinds:
        lines.append(
            f"{kind.label}: {kind.opened} opened, {kind.resolved} resolved, {kind.open_at_end} open at the end"
        )
    for metric_key, metric_label in METRICS:
        total = report.totals(metric_key)
        pct = f"{total.percent} %" if total.percent is not None else "nothing measured"
        lines.append(f"{metric_label}: {pct} met ({total.met} met, {total.breached} breached)")
    lines.append(f"Breaches: {len(report.breaches)}")
    if report.rating_count:
        lines.append(f"Satisfaction: {report.rating_mean} of 5 from {report.rating_count} ratings")
    return "\n".join(lines)
