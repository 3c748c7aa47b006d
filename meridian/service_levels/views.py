"""Service levels' own pages beside the generated ones: "What applies" and the priority matrix."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path

from meridian.core import policy
from meridian.core.forms import choose_widgets, style_fields
from meridian.core.registry import CHANGE, STAFF
from meridian.service_levels import applies
from meridian.service_levels.choices import Impact, Urgency
from meridian.service_levels.forms import AppliesForm, MatrixForm
from meridian.service_levels.models import Priority
from meridian.service_levels.priorities import current_cells, save_matrix


def _staff(user: Any) -> None:
    if not (policy.is_system(user) or policy.roles_of(user) & STAFF):
        raise PermissionDenied


@login_required
def applies_page(request: HttpRequest) -> HttpResponse:
    _staff(request.user)
    asked = bool(request.GET)
    form = AppliesForm(request.GET or None)
    choose_widgets(form, request.user)
    style_fields(form)
    answer = applies.applicable(**_question(form.cleaned_data)) if asked and form.is_valid() else None
    return render(request, "service_levels/applies.html", {"form": form, "answer": answer})


def _question(data: dict[str, Any]) -> dict[str, Any]:
    return {name: data.get(name) for name in ("customer", "service", "priority", "team", "supplier", "at")}


@login_required
def matrix_page(request: HttpRequest) -> HttpResponse:
    _staff(request.user)
    may_change = policy.has_role_permission(request.user, CHANGE, Priority)  # the matrix is the priorities'
    form = MatrixForm(request.POST or None, initial_cells=current_cells())
    style_fields(form)
    if request.method == "POST":
        if not may_change:
            raise PermissionDenied
        if form.is_valid():
            changed = save_matrix(form.cells(), actor=request.user)
            messages.success(request, f"Priority matrix saved: {changed} cell{'s' if changed != 1 else ''} changed.")
            return redirect("service_levels:matrix")
    rows = [
        (Impact(impact).label, [form[f"cell_{impact}_{urgency}"] for urgency in Urgency.values])
        for impact in Impact.values
    ]
    return render(
        request,
        "service_levels/matrix.html",
        {"form": form, "rows": rows, "urgencies": Urgency.labels, "may_change": may_change},
    )


urlpatterns = [
    path("applies/", login_required(applies_page), name="applies"),
    path("priority-matrix/", login_required(matrix_page), name="matrix"),
]
