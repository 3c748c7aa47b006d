"""The generic REST viewset every registered type gets, with lifecycle action endpoints derived from its
transition table, a history endpoint, and the API-wide search and "me" endpoints."""

from __future__ import annotations

from functools import cache
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from meridian.core import audit, policy, services
from meridian.core.api.serializers import (
    AuditEventSerializer,
    SearchResultSerializer,
    TransitionSerializer,
    serializer_for,
)
from meridian.core.filtersets import filterset_for
from meridian.core.registry import ADD, CHANGE, DELETE, VIEW, RecordType
from meridian.core.search import search

METHOD_ACTIONS = {
    "GET": VIEW,
    "HEAD": VIEW,
    "OPTIONS": VIEW,
    "POST": ADD,
    "PUT": CHANGE,
    "PATCH": CHANGE,
    "DELETE": DELETE,
}


class RecordPermission(permissions.BasePermission):
    """The role check per HTTP method. On a single record, a user who may read the type is checked after the
    record is looked up in their restricted queryset: another organisation's record is 404, never 403."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        model = view.record_type.model
        if getattr(view, "action", None) in view.record_type_actions:
            return policy.has_role_permission(request.user, VIEW, model)
        action = METHOD_ACTIONS.get(request.method or "GET", VIEW)
        if view.kwargs.get(view.lookup_url_kwarg or view.lookup_field) is not None:
            return policy.has_role_permission(request.user, VIEW, model) or policy.has_role_permission(
                request.user, action, model
            )
        return policy.has_role_permission(request.user, action, model)

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        if getattr(view, "action", None) in view.record_type_actions:
            return True  # transitions check their own table; history is reading
        return policy.can(request.user, METHOD_ACTIONS.get(request.method or "GET", VIEW), obj)


def if_match(request: Request) -> int | None:
    """The version named by an `If-Match: "3"` header (our ETags), if any."""
    header = request.headers.get("If-Match", "").strip('W/"')
    return int(header) if header.isdigit() else None


def expected_version(request: Request, data: dict[str, Any]) -> int:
    """The version the client read: `version` in the body or an `If-Match` header. Required for writes."""
    version = data.pop("version", None)
    if version is None:
        version = if_match(request)
    if version is None:
        raise ValidationError({"version": ["Send the version you read (field “version” or If-Match header)."]})
    return int(version)


class RecordViewSet(viewsets.ModelViewSet):  # type: ignore[type-arg]
    record_type: RecordType
    record_type_actions: tuple[str, ...] = ("history",)
    permission_classes = [permissions.IsAuthenticated, RecordPermission]

    def get_queryset(self) -> QuerySet[Any]:
        rt = self.record_type
        queryset = rt.model.objects.select_related(*rt.select_related).prefetch_related(*rt.prefetch_related)
        return policy.restrict(queryset.order_by("pk"), self.request.user, VIEW)

    def perform_create(self, serializer: Any) -> None:
        data = dict(serializer.validated_data)
        data.pop("version", None)
        serializer.instance = services.create_record(self.record_type.model, data=data, actor=self.request.user)
        self._etag_instance = serializer.instance

    def perform_update(self, serializer: Any) -> None:
        data = dict(serializer.validated_data)
        version = expected_version(self.request, data)
        serializer.instance = services.update_record(
            serializer.instance, data=data, actor=self.request.user, expected_version=version
        )
        self._etag_instance = serializer.instance

    def perform_destroy(self, instance: Any) -> None:
        services.delete_record(instance, actor=self.request.user, expected_version=if_match(self.request))

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        instance = getattr(self, "_etag_instance", None)
        if instance is not None and response.status_code < 300:
            response["ETag"] = f'"{instance.version}"'
        return super().finalize_response(request, response, *args, **kwargs)

    def get_object(self) -> Any:
        obj = super().get_object()
        self._etag_instance = obj
        return obj

    @extend_schema(responses=AuditEventSerializer(many=True), description="The record's audit trail, newest first.")
    @action(detail=True, methods=["get"])
    def history(self, request: Request, pk: str | None = None) -> Response:
        obj = self.get_object()
        page = self.paginate_queryset(audit.history(obj))
        return self.get_paginated_response(AuditEventSerializer(page, many=True).data)


def _transition_endpoint(name: str, title: str) -> Any:
    def endpoint(self: RecordViewSet, request: Request, pk: str | None = None) -> Response:
        obj = self.get_object()
        body = TransitionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version = body.validated_data.get("version")
        if version is None:
            version = if_match(request)
        obj = services.transition(
            obj, name, actor=request.user, reason=body.validated_data["reason"], expected_version=version
        )
        self._etag_instance = obj
        return Response(self.get_serializer(obj).data)

    endpoint.__name__ = name  # DRF routes an action by its function's name: set it before decorating
    routed = action(detail=True, methods=["post"], url_path=name.replace("_", "-"), url_name=name)(endpoint)
    return extend_schema(request=TransitionSerializer, description=f"{title}. Refused with 409 when not possible now.")(
        routed
    )


@cache
def viewset_for(record_type: RecordType) -> type[RecordViewSet]:
    attrs: dict[str, Any] = {
        "record_type": record_type,
        "serializer_class": serializer_for(record_type),
        "filterset_class": filterset_for(record_type),
        "ordering_fields": record_type.ordering_fields or ["id", *record_type.list_columns, "created_at", "updated_at"],
        "queryset": record_type.model.objects.none(),
        "__doc__": record_type.help_text or str(record_type.verbose_name_plural).capitalize(),
    }
    if record_type.lifecycle:
        actions = tuple(t.action for t in record_type.lifecycle.transitions)
        attrs["record_type_actions"] = ("history", *actions)
        for t in record_type.lifecycle.transitions:
            attrs[t.action] = _transition_endpoint(t.action, t.title)
    return type(f"{record_type.model.__name__}ViewSet", (RecordViewSet,), attrs)


class SearchView(APIView):
    """Search every record type you may see."""

    @extend_schema(
        parameters=[OpenApiParameter("q", str, required=True, description="At least two characters.")],
        responses=SearchResultSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        hits = search(request.user, request.query_params.get("q", ""))
        return Response(SearchResultSerializer(hits, many=True).data)


class MeView(APIView):
    """Who you are: username, roles, organisation, preferences."""

    @extend_schema(responses={200: dict})
    def get(self, request: Request) -> Response:
        user = request.user
        return Response(
            {
                "username": user.get_username(),
                "roles": sorted(policy.roles_of(user)),
                "organisation_id": getattr(user, "organisation_id", None),
                "time_zone": getattr(user, "time_zone", "UTC"),
                "language": getattr(user, "language", "en"),
            }
        )
