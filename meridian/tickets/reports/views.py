"""The service report pages: the list of agreements a reader may report on, one agreement's report for a period
(page with charts, print-ready page, CSV and XLSX). Mounted under `/tickets/reports/` (namespace `tickets`)."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils.http import urlencode
from django.utils.text import slugify

from meridian.core import policy
from meridian.core.choices import Role
from meridian.core.forms import style_fields
from meridian.core.models import Organisation
from meridian.core.views import neutralise
from meridian.service_levels.choices import AgreementKind
from meridian.service_levels.models import Agreement
from meridian.tickets.reports import compute

# who reads every report (auditors read only: a report changes nothing)
READERS = frozenset({Role.SERVICE_LEVEL_MANAGER, Role.SERVICE_OWNER, Role.ADMINISTRATOR, Role.AUDITOR})
REPORTED_KINDS = (AgreementKind.SLA, AgreementKind.OLA)


def is_staff_reader(user: Any) -> bool:
    return policy.is_system(user) or bool(policy.roles_of(user) & READERS)


def readable_agreements(user: Any) -> QuerySet[Agreement]:
    """The agreements `user` may read a report of: every SLA and OLA for staff readers; for a customer user, the
    SLAs that name their organisation."""
    queryset = Agreement.objects.filter(kind__in=REPORTED_KINDS).select_related("support_hours")
    if is_staff_reader(user):
        return queryset
    if Role.CUSTOMER_USER in policy.roles_of(user) and user.organisation_id:
        return queryset.filter(kind=AgreementKind.SLA, customers=user.organisation_id).distinct()
    return queryset.none()


def reader_organisation(user: Any, agreement: Agreement) -> Organisation | None:
    """The organisation a reader's report is narrowed to: None for staff readers (every customer), the reader's
    own for a customer user (404 when the agreement does not name it)."""
    if is_staff_reader(user):
        return None
    if not readable_agreements(user).filter(pk=agreement.pk).exists():
        raise Http404
    return Organisation.objects.get(pk=user.organisation_id)


QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class PeriodForm(forms.Form):
    month = forms.CharField(required=False, widget=forms.TextInput(attrs={"type": "month"}), help_text="YYYY-MM")
    quarter = forms.CharField(required=False, help_text="e.g. 2026-Q4")
    first = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    last = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def clean_month(self) -> str:
        value = self.cleaned_data["month"].strip()
        match = MONTH.match(value)
        if value and not (match and 1 <= int(match[2]) <= 12):
            raise forms.ValidationError("Give a month as YYYY-MM, e.g. 2026-11.")
        return value

    def clean_quarter(self) -> str:
        value = self.cleaned_data["quarter"].strip().upper()
        if value and not QUARTER.match(value):
            raise forms.ValidationError("Give a quarter as YYYY-Qn, e.g. 2026-Q4.")
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, last = data.get("first"), data.get("last")
        if bool(first) != bool(last):
            raise forms.ValidationError("Give both ends of a range (from and to), or a month or a quarter.")
        if first and last and last < first:
            raise forms.ValidationError("The range ends before it starts.")
        if first and last and (last - first).days > 3660:
            raise forms.ValidationError("A range is at most ten years.")
        return data

    def period(self, agreement: Agreement) -> compute.Period:
        """The period asked for: a range, else a quarter, else a month, else last month (in the agreement's time
        zone)."""
        tz = compute.agreement_tz(agreement)
        data = self.cleaned_data if self.is_valid() else {}
        if data.get("first") and data.get("last"):
            return compute.Period(data["first"], data["last"], tz)
        if data.get("quarter"):
            match = QUARTER.match(data["quarter"])
            assert match
            return compute.Period.quarter(int(match[1]), int(match[2]), tz)
        if data.get("month"):
            match = MONTH.match(data["month"])
            assert match
            return compute.Period.month(int(match[1]), int(match[2]), tz)
        return compute.previous_month(agreement)


def period_query(period: compute.Period) -> str:
    key = period.key
    if MONTH.match(key):
        return urlencode({"month": key})
    if QUARTER.match(key):
        return urlencode({"quarter": key})
    return urlencode({"first": period.first.isoformat(), "last": period.last.isoformat()})


def report_url(agreement: Agreement, period: compute.Period, view: str = "tickets:service_report") -> str:
    return f"{reverse(view, args=[agreement.pk])}?{period_query(period)}"


def _report(request: HttpRequest, pk: int) -> tuple[compute.Report, PeriodForm]:
    agreement = get_object_or_404(readable_agreements(request.user), pk=pk)
    organisation = reader_organisation(request.user, agreement)
    form = PeriodForm(request.GET or None)
    style_fields(form)
    return compute.build(agreement, form.period(agreement), organisation=organisation), form


@login_required
def index(request: HttpRequest) -> HttpResponse:
    agreements = readable_agreements(request.user)
    if not is_staff_reader(request.user) and Role.CUSTOMER_USER not in policy.roles_of(request.user):
        raise PermissionDenied
    rows = [(a, compute.previous_month(a)) for a in agreements.filter(~Q(status="draft")).order_by("reference")]
    return render(
        request,
        "tickets/reports/index.html",
        {"rows": [(a, period, report_url(a, period)) for a, period in rows]},
    )


def _context(report: compute.Report, form: PeriodForm, printing: bool) -> dict[str, Any]:
    agreement, period = report.agreement, report.period
    return {
        "report": report,
        "form": form,
        "printing": printing,
        "metrics": compute.METRICS,
        "totals": [(label, report.totals(key)) for key, label in compute.METRICS],
        "chart_data": report.chart_data(),
        "csv_url": report_url(agreement, period, "tickets:service_report_csv"),
        "xlsx_url": report_url(agreement, period, "tickets:service_report_xlsx"),
        "print_url": report_url(agreement, period, "tickets:service_report_print"),
        "page_url": report_url(agreement, period),
    }


@login_required
def report_page(request: HttpRequest, pk: int) -> HttpResponse:
    report, form = _report(request, pk)
    return render(request, "tickets/reports/report.html", _context(report, form, printing=False))


@login_required
def print_page(request: HttpRequest, pk: int) -> HttpResponse:
    report, form = _report(request, pk)
    return render(request, "tickets/reports/report.html", _context(report, form, printing=True))


def file_name(report: compute.Report, extension: str) -> str:
    who = f"-{slugify(str(report.organisation))}" if report.organisation is not None else ""
    return f"service-report-{report.agreement.reference.lower()}{who}-{report.period.key}.{extension}"


def csv_text(report: compute.Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for number, (title, header, rows) in enumerate(compute.sections(report)):
        if number:
            writer.writerow([])
        writer.writerow([title])
        writer.writerow(header)
        writer.writerows([[neutralise(cell) for cell in row] for row in rows])
    return buffer.getvalue()


def xlsx_bytes(report: compute.Report) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    for title, header, rows in compute.sections(report):
        sheet = workbook.create_sheet(title)
        sheet.append(header)
        for row in rows:
            sheet.append([neutralise(cell) for cell in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@login_required
def report_csv(request: HttpRequest, pk: int) -> HttpResponse:
    report, _form = _report(request, pk)
    response = HttpResponse(csv_text(report), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{file_name(report, "csv")}"'
    return response


@login_required
def report_xlsx(request: HttpRequest, pk: int) -> HttpResponse:
    report, _form = _report(request, pk)
    response = HttpResponse(
        xlsx_bytes(report), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    response["Content-Disposition"] = f'attachment; filename="{file_name(report, "xlsx")}"'
    return response


urlpatterns = [
    path("reports/", index, name="service_reports"),
    path("reports/<int:pk>/", report_page, name="service_report"),
    path("reports/<int:pk>/print/", print_page, name="service_report_print"),
    path("reports/<int:pk>/report.csv", report_csv, name="service_report_csv"),
    path("reports/<int:pk>/report.xlsx", report_xlsx, name="service_report_xlsx"),
]
