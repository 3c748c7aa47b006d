"""`/api/v1/tickets/reports/` and `/api/v1/tickets/reports/{agreement id}/`: the service reports as JSON, for a
dashboard or a customer's own reporting. The same readers, narrowing and period as the pages (`views`): staff
readers every SLA and OLA, a customer user the SLAs naming their organisation, narrowed to it; `month=YYYY-MM`,
`quarter=YYYY-Qn` or `first`/`last` dates (default: the last whole month)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from meridian.core import policy
from meridian.core.choices import Role
from meridian.tickets.reports import compute
from meridian.tickets.reports.views import (
    PeriodForm,
    is_staff_reader,
    period_query,
    readable_agreements,
    reader_organisation,
    report_url,
)

PARAMETERS = [
    OpenApiParameter("month", str, description="A calendar month, YYYY-MM."),
    OpenApiParameter("quarter", str, description="A quarter, YYYY-Qn (2026-Q4)."),
    OpenApiParameter("first", str, description="First day of a range (YYYY-MM-DD), with last."),
    OpenApiParameter("last", str, description="Last day of a range (YYYY-MM-DD), with first."),
]


def _may_read(user: Any) -> None:
    if not is_staff_reader(user) and Role.CUSTOMER_USER not in policy.roles_of(user):
        raise PermissionDenied("Service level managers, service owners, auditors and customer users read reports.")


def report_json(report: compute.Report, request: Request) -> dict[str, Any]:
    agreement, period = report.agreement, report.period
    return {
        "agreement": {"id": agreement.pk, "reference": agreement.reference, "name": agreement.name},
        "kind": agreement.kind,
        "period": {"first": period.first, "last": period.last, "label": period.label},
        "organisation": str(report.organisation) if report.organisation is not None else None,
        "totals": {
            key: {"met": t.met, "breached": t.breached, "running": t.running, "percent": t.percent}
            for key, t in ((key, report.totals(key)) for key, _label in compute.METRICS)
        },
        "satisfaction": {"ratings": report.rating_count, "mean": report.rating_mean},
        "sections": [
            {"title": title, "columns": list(header), "rows": [list(row) for row in rows]}
            for title, header, rows in compute.sections(report)
        ],
        "charts": report.chart_data(),
        "web_url": request.build_absolute_uri(report_url(agreement, period)),
    }


class ReportListView(APIView):
    """The agreements the reader may read a report of, each with the address of its last whole month's report."""

    @extend_schema(responses={200: dict}, operation_id="tickets_reports_list", tags=["tickets"])
    def get(self, request: Request) -> Response:
        _may_read(request.user)
        agreements = readable_agreements(request.user).filter(~Q(status="draft")).order_by("reference")
        results = []
        for agreement in agreements:
            period = compute.previous_month(agreement)
            results.append(
                {
                    "id": agreement.pk,
                    "reference": agreement.reference,
                    "name": agreement.name,
                    "kind": agreement.kind,
                    "last_month": request.build_absolute_uri(
                        f"/api/v1/tickets/reports/{agreement.pk}/?{period_query(period)}"
                    ),
                }
            )
        return Response({"results": results})


class ReportView(APIView):
    """One agreement's report for a period: compliance per metric, every section of the page and its exports
    (volumes, compliance and times per priority, breaches with their reasons, backlog, satisfaction, workload,
    trend) as rows, and the charts' data."""

    @extend_schema(parameters=PARAMETERS, responses={200: dict}, operation_id="tickets_reports_read", tags=["tickets"])
    def get(self, request: Request, pk: int) -> Response:
        _may_read(request.user)
        agreement = readable_agreements(request.user).filter(pk=pk).first()
        if agreement is None:
            raise NotFound("No such agreement among those you may read a report of.")
        try:
            organisation = reader_organisation(request.user, agreement)
        except Http404 as exc:
            raise NotFound("No such agreement among those you may read a report of.") from exc
        form = PeriodForm(request.query_params or None)
        if request.query_params and not form.is_valid():
            raise ValidationError({name: [str(e) for e in errors] for name, errors in form.errors.items()})
        report = compute.build(agreement, form.period(agreement), organisation=organisation)
        return Response(report_json(report, request))
