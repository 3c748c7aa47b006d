"""The catalogue in the API: `/api/v1/portfolio/catalogue/` and `/api/v1/portfolio/catalogue/{reference}/`, what the
catalogue pages show (`portfolio.catalogue` decides who reads which entry: a customer exactly their organisation's)."""

from __future__ import annotations

import functools
from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from meridian.core.models import Organisation
from meridian.portfolio import catalogue

ORGANISATION = OpenApiParameter(
    "organisation",
    int,
    description="Staff: the catalogue as this organisation's users read it (ignored for customers).",
)


def _preview(request: Request) -> Organisation | None:
    found, error = catalogue.preview(request.user, request.query_params.get("organisation", ""))
    if error:
        raise ValidationError({"organisation": [error]})
    return found


@functools.cache
def _entry_schema() -> Any:
    text, many_text = serializers.CharField(), serializers.ListField(child=serializers.CharField())
    hours = inline_serializer(
        "CatalogueHours",
        {
            "calendar": text,
            "weekly": serializers.CharField(help_text="“Mon-Fri 08:00-18:00”, or around the clock."),
            "time_zone": text,
            "exceptions": inline_serializer(
                "CatalogueHoursException", {"date": serializers.DateField(), "note": text}, many=True
            ),
        },
        allow_null=True,
    )
    return inline_serializer(
        "CatalogueEntry",
        {
            "id": serializers.IntegerField(),
            "reference": serializers.CharField(help_text="SVC-0001"),
            "name": text,
            "category": serializers.CharField(allow_null=True),
            "summary": text,
            "business_description": text,
            "service_hours": hours,
            "support_hours": hours,
            "targets": inline_serializer(
                "CatalogueTarget", {"measure": text, "target": text, "period": text}, many=True
            ),
            "security": inline_serializer(
                "CatalogueSecurity",
                {"confidentiality": text, "integrity": text, "availability": text, "requirements": text},
            ),
            "contacts": inline_serializer(
                "CatalogueContact", {"name": text, "role": text, "email": text, "phone": text}, many=True
            ),
            "customer_responsibilities": many_text,
            "offerings": inline_serializer(
                "CatalogueOffering",
                {
                    "id": serializers.IntegerField(),
                    "name": text,
                    "summary": text,
                    "expected_fulfilment": text,
                    "needs_approval": serializers.BooleanField(),
                },
                many=True,
            ),
        },
    )


class CatalogueView(APIView):
    """The live services you may read in the catalogue, in catalogue order, with hours, targets, contacts, security,
    your responsibilities and what you can ask for."""

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, description="Words the name, summary or description holds."),
            ORGANISATION,
        ],
        responses=inline_serializer(
            "Catalogue", {"count": serializers.IntegerField(), "results": _entry_schema().__class__(many=True)}
        ),
        operation_id="portfolio_catalogue_list",
    )
    def get(self, request: Request) -> Response:
        if not catalogue.may_read(request.user):
            raise PermissionDenied
        preview = _preview(request)
        query = request.query_params.get("q", "").strip()
        found = catalogue.search(request.user, query, preview) if query else catalogue.services(request.user, preview)
        entries = catalogue.entries(request.user, preview, found)
        return Response({"count": len(entries), "results": [e.as_dict() for e in entries]})


class CatalogueEntryView(APIView):
    """One service of your catalogue by its reference (SVC-0001); 404 when your catalogue does not hold it."""

    @extend_schema(parameters=[ORGANISATION], responses=_entry_schema(), operation_id="portfolio_catalogue_entry")
    def get(self, request: Request, reference: str) -> Response:
        if not catalogue.may_read(request.user):
            raise PermissionDenied
        entry = catalogue.entry(request.user, reference, _preview(request))
        if entry is None:
            raise Http404
        return Response(entry.as_dict())
