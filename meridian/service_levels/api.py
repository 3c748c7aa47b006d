"""`/api/v1/service-levels/applies/`: which agreement and target apply to a customer, service and priority, and
when a ticket opened now would be due (the same question and answer as the "What applies" page)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from meridian.core import policy
from meridian.core.registry import STAFF
from meridian.service_levels import applies
from meridian.service_levels.forms import AppliesForm


def _choice(choice: applies.Choice | None) -> dict[str, Any] | None:
    if choice is None:
        return None
    agreement, target = choice.agreement, choice.target
    return {
        "reference": agreement.reference,
        "kind": agreement.kind,
        "name": agreement.name,
        "why": choice.why,
        "support_hours": {"id": agreement.support_hours_id, "name": str(agreement.support_hours)},
        "target": None
        if target is None
        else {
            "priority": str(target.priority),
            "response_minutes": target.response_minutes,
            "resolution_minutes": target.resolution_minutes,
        },
    }


def answer_json(answer: applies.Answer) -> dict[str, Any]:
    return {
        "at": answer.at,
        "priority": {"id": answer.priority.pk, "name": answer.priority.name},
        "sla": _choice(answer.sla),
        "ola": _choice(answer.ola),
        "uc": _choice(answer.uc),
        "response_due": answer.response_due,
        "resolution_due": answer.resolution_due,
        "errors": answer.errors,
    }


PARAMETERS = [
    OpenApiParameter("customer", int, description="The customer organisation's id (empty: internal caller)."),
    OpenApiParameter("service", str, required=True, description="The service's id or reference (SVC-0001)."),
    OpenApiParameter("priority", int, description="The priority's id; or give impact and urgency."),
    OpenApiParameter("impact", str, enum=["high", "medium", "low"]),
    OpenApiParameter("urgency", str, enum=["high", "medium", "low"]),
    OpenApiParameter("team", int, description="The assigned team's id: its OLA is chosen too."),
    OpenApiParameter("supplier", int, description="An involved supplier's id: its underpinning contract too."),
    OpenApiParameter("at", str, description="When the ticket is opened (ISO 8601; default now)."),
]


class AppliesView(APIView):
    """Which SLA (most specific wins), its target for the priority, the OLA of the team and the UC of the
    supplier; the response and resolution due times of a ticket opened now, in the SLA's support hours. Two
    equally specific agreements in force are reported in `errors` (a configuration error), never chosen by chance."""

    @extend_schema(parameters=PARAMETERS, responses={200: dict}, operation_id="service_levels_applies")
    def get(self, request: Request) -> Response:
        if not (policy.is_system(request.user) or policy.roles_of(request.user) & STAFF):
            raise PermissionDenied("Staff only: agreements are the provider's records.")
        form = AppliesForm(request.query_params)
        if not form.is_valid():
            raise ValidationError({name: [str(e) for e in errors] for name, errors in form.errors.items()})
        data = form.cleaned_data
        answer = applies.applicable(
            customer=data.get("customer"),
            service=data["service"],
            priority=data["priority"],
            team=data.get("team"),
            supplier=data.get("supplier"),
            at=data.get("at"),
        )
        return Response(answer_json(answer))
