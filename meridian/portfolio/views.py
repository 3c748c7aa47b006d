"""The portfolio's own pages beside the generated ones: the service catalogue as people read it (the first page of
the customer portal). What a reader sees is decided in `portfolio.catalogue`."""

from __future__ import annotations

from itertools import groupby
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path

from meridian.core.models import Organisation
from meridian.core.views import table_file
from meridian.portfolio import catalogue

EXPORTS = ("csv", "xlsx")


@login_required
def catalogue_page(request: HttpRequest) -> HttpResponse:
    if not catalogue.may_read(request.user):
        raise PermissionDenied
    preview, error = catalogue.preview(request.user, request.GET.get("organisation", ""))
    error = f"{error} Showing every live service." if error else ""
    query = request.GET.get("q", "").strip()
    found = catalogue.search(request.user, query, preview) if query else catalogue.services(request.user, preview)
    entries = catalogue.entries(request.user, preview, found)
    kind = request.GET.get("format", "")
    if kind in EXPORTS:
        return table_file(catalogue.export_rows(entries), kind, "Service catalogue")
    groups = [
        (category, list(items))
        for category, items in groupby(entries, key=lambda e: e.service.category.name if e.service.category else "")
    ]
    customer = getattr(request.user, "is_customer", False)
    if request.GET.get("view") == "full":  # every entry in full, one after the other: the catalogue to print
        return render(
            request,
            "portfolio/catalogue_full.html",
            {
                "entries": entries,
                "customer": customer,
                "organisation": catalogue.organisation_of(request.user, preview),
            },
        )
    context: dict[str, Any] = {
        "groups": groups,
        "count": len(entries),
        "query": query,
        "customer": customer,
        "organisation": catalogue.organisation_of(request.user, preview),
        "organisations": []
        if customer
        else Organisation.objects.filter(services__isnull=False).distinct().order_by("name"),
        "preview_error": error,
        "export_query": request.GET.urlencode(),
    }
    return render(request, "portfolio/catalogue.html", context)


@login_required
def catalogue_entry(request: HttpRequest, reference: str) -> HttpResponse:
    if not catalogue.may_read(request.user):
        raise PermissionDenied
    preview, _error = catalogue.preview(request.user, request.GET.get("organisation", ""))
    entry = catalogue.entry(request.user, reference, preview)
    if entry is None:
        raise Http404("No such service in your catalogue.")
    return render(
        request,
        "portfolio/catalogue_entry.html",
        {
            "entry": entry,
            "customer": getattr(request.user, "is_customer", False),
            "organisation": catalogue.organisation_of(request.user, preview),
        },
    )


urlpatterns = [
    path("catalogue/", login_required(catalogue_page), name="catalogue"),
    path("catalogue/<str:reference>/", login_required(catalogue_entry), name="catalogue_entry"),
]
