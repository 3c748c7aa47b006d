"""The tickets app's own pages beside the generated ones: raising a ticket from the portal (*Report a problem*,
*Request* an offering) and the service reports (`tickets.reports`)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path

from meridian.core import policy
from meridian.core.registry import ADD
from meridian.portfolio import offerings
from meridian.portfolio.models import Offering
from meridian.tickets import services
from meridian.tickets.models import Incident, ServiceRequest
from meridian.tickets.portal import ProblemForm, RequestDetailsForm
from meridian.tickets.reports import views as reports_views


def _refused(form: Any, exc: ValidationError) -> None:
    """A refusal of the services shown on the form: by field where the form has it, else above it."""
    for name, errors in exc.message_dict.items():
        target = name if name in form.fields else None
        if name == "file":
            target = "uploads"
        for error in errors:
            form.add_error(target, error)


@login_required
def report_problem(request: HttpRequest) -> HttpResponse:
    """*Report a problem*: an incident, in the customer's words (who is affected, how badly: impact and urgency)."""
    if not policy.has_role_permission(request.user, ADD, Incident):
        raise PermissionDenied
    initial = {"service": request.GET.get("service")} if request.GET.get("service") else {}
    form = ProblemForm(request.POST or None, request.FILES or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            ticket = services.raise_ticket(
                Incident, actor=request.user, data=form.ticket_data(request.user), files=form.cleaned_data["uploads"]
            )
        except ValidationError as exc:
            _refused(form, exc)
        else:
            messages.success(
                request, f"Thank you: {ticket.reference} is with the service desk. We will keep you posted."
            )
            return redirect(ticket.get_absolute_url())
    status = 400 if request.method == "POST" else 200
    return render(request, "tickets/report_problem.html", {"form": form}, status=status)


@login_required
def request_offering(request: HttpRequest, pk: int) -> HttpResponse:
    """*Request* an offering of the catalogue: its own form (`portfolio.offerings`), a title and files."""
    offering = get_object_or_404(Offering.objects.select_related("service"), pk=pk)
    refusal = offerings.may_request(offering, request.user)
    if refusal is not None:
        if getattr(request.user, "is_customer", False):
            raise Http404(refusal)  # a customer does not learn of offerings not offered to them
        raise PermissionDenied(refusal)
    data = request.POST or None
    details = RequestDetailsForm(data, request.FILES or None, user=request.user, offering=offering)
    chosen = request.POST.get("organisation", "")
    organisation = int(chosen) if chosen.isdigit() else None
    answers = offerings.request_form(offering, request.user, data, prefix="answers", organisation_id=organisation)
    if request.method == "POST" and details.is_valid() and answers.is_valid():
        try:
            ticket = services.raise_ticket(
                ServiceRequest,
                actor=request.user,
                data=details.ticket_data(request.user, offering, answers.answers()),
                files=details.cleaned_data["uploads"],
            )
        except ValidationError as exc:
            _refused(details, exc)
        else:
            waits = " It needs an approval first: we ask for it now." if ticket.status == "awaiting_approval" else ""
            messages.success(request, f"Thank you: {ticket.reference} is on its way.{waits}")
            return redirect(ticket.get_absolute_url())
    context = {"offering": offering, "details": details, "answers": answers}
    return render(request, "tickets/request_offering.html", context, status=400 if request.method == "POST" else 200)


urlpatterns: list[Any] = [
    path("report/", report_problem, name="report_problem"),
    path("request/<int:pk>/", request_offering, name="request_offering"),
    *reports_views.urlpatterns,
]
