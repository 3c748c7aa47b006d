"""The generic REST viewset every registered type gets, with an endpoint per record action (lifecycle transitions
included, `core.actions`) and per tab with `api=` (`core.tabs`), a history endpoint, and the API-wide search and
"me" endpoints."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache, partial
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from meridian.core import actions, audit, conversation, policy, services, uploads
from meridian.core.api import attachments as attachment_api
from meridian.core.api import bulk as bulk_api
from meridian.core.api import idempotency
from meridian.core.api import imports as import_api
from meridian.core.api.serializers import (
    VERSION_MISSING,
    AuditEventSerializer,
    SearchResultSerializer,
    serializer_for,
    version_field,
)
from meridian.core.custom_fields import redact_changes
from meridian.core.filtersets import NaturalOrderingFilter, filterset_for
from meridian.core.querysets import records_for
from meridian.core.registry import ADD, CHANGE, DELETE, VIEW, RecordType
from meridian.core.search import search
from meridian.core.tabs import Tab, tabs_of
from meridian.utils.numbers import positive_int

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
        name = getattr(view, "action", None)
        if name in view.record_actions:  # before any code of the action runs: its roles, on a record one may see
            record_action = actions.find(view.record_type, str(name))
            if record_action is None or not policy.can(request.user, VIEW, obj):
                return False
            self.message = f"Your roles do not allow “{record_action.title}” on this {obj._meta.verbose_name}."
            return record_action.may(request.user)
        if name in view.record_tabs:
            tab = view.record_tabs[name]
            self.message = f"You may not open the {tab.label} tab of this {obj._meta.verbose_name}."
            return policy.can(request.user, VIEW, obj) and tab.may_open(obj, request.user)
        if name in view.record_type_actions:
            return policy.can(request.user, VIEW, obj)  # history: reading
        return policy.can(request.user, METHOD_ACTIONS.get(request.method or "GET", VIEW), obj)


def requested_version(request: Request) -> int:
    """The version the client based its write on: `version` in the body (it counts when both are sent) or an
    `If-Match: "N"` header (our ETags). Required for every change, delete and action; missing or malformed is a
    400 on `version` (never a guess, never a 409)."""
    data = request.data
    if isinstance(data, Mapping) and "version" in data:
        try:
            return int(version_field().run_validation(data["version"]))
        except ValidationError as exc:
            raise ValidationError({"version": exc.detail}) from exc
    header = request.headers.get("If-Match")
    if header is None:
        raise ValidationError({"version": [VERSION_MISSING]})
    value = header.strip().removeprefix("W/")
    if len(value) > 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    version = positive_int(value)
    if version is None:
        raise ValidationError(
            {"version": [f'If-Match must be one version in quotes, such as "3" (the ETag); got {header}.']}
        )
    return version


class RecordViewSet(viewsets.ModelViewSet):  # type: ignore[type-arg]
    record_type: RecordType
    record_type_actions: tuple[str, ...] = ("history",)  # endpoints beyond CRUD: history, actions, tabs
    record_actions: Mapping[str, actions.RecordAction] = {}
    record_tabs: Mapping[str, Tab] = {}
    permission_classes = [permissions.IsAuthenticated, RecordPermission]

    def get_queryset(self) -> QuerySet[Any]:
        return records_for(self.record_type, self.request.user, VIEW).order_by("pk")

    def perform_create(self, serializer: Any) -> None:
        data = dict(serializer.validated_data)
        cited = data.pop("authorised_by", "")
        with uploads.errors_on_uploads(getattr(serializer, "uploaded", {})):
            serializer.instance = services.create_record(
                self.record_type.model, data=data, actor=self.request.user, authorised_by=cited
            )
        self._etag_instance = serializer.instance

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.once(request, partial(super().create, request, *args, **kwargs))

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        instance = self.get_object()
        version = requested_version(request)
        if instance.version != version:
            raise services.StaleVersion(instance, version)  # 409 with the current state, before any field complaint
        serializer = self.get_serializer(instance, data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        cited = data.pop("authorised_by", "")
        with uploads.errors_on_uploads(getattr(serializer, "uploaded", {})):
            serializer.instance = services.update_record(
                instance, data=data, actor=request.user, expected_version=version, authorised_by=cited
            )
        self._etag_instance = serializer.instance
        return Response(serializer.data)

    def perform_destroy(self, instance: Any) -> None:
        services.delete_record(
            instance,
            actor=self.request.user,
            expected_version=requested_version(self.request),
            reason=self.request.headers.get("X-Reason", "")[:500],
            authorised_by=self.request.headers.get("X-Authorised-By", "")[:200],
        )

    def once(self, request: Request, write: Callable[[], Response]) -> Response:
        """Run a POST's write, at most once per `Idempotency-Key` (see `core.api.idempotency`)."""
        key = idempotency.requested_key(request)
        if key is None:
            return write()
        with transaction.atomic():
            row, first_time = idempotency.claim(request, key)
            if not first_time:
                self._etag_instance = None  # the ETag is the first answer's
                return idempotency.replay(row)
            response = write()
            if not status.is_success(response.status_code):
                transaction.set_rollback(True)  # only successes are kept: a retry runs again
                return response
            instance = getattr(self, "_etag_instance", None)
            idempotency.keep(row, response, f'"{instance.version}"' if instance is not None else "")
        return response

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        instance = getattr(self, "_etag_instance", None)
        if instance is not None and response.status_code < 300:
            response["ETag"] = f'"{instance.version}"'
        return super().finalize_response(request, response, *args, **kwargs)

    def filter_queryset(self, queryset: Any) -> Any:
        if getattr(self, "action", None) in self.record_tabs:  # a tab's query string is its own (the timeline's kind)
            return queryset
        if getattr(self, "action", None) == "list" and self.request.query_params.get("view"):
            self._apply_saved_view()
        return super().filter_queryset(queryset)

    def _apply_saved_view(self) -> None:
        """`?view=<id>`: the saved view's filters and sort (`ordering`), with the query string's own values on
        top; only filters, so the rows stay those the caller may see. A view they may not open is 404."""
        from django.http import Http404, QueryDict

        from meridian.core import saved_views

        view = saved_views.find_view(self.request.user, self.record_type, self.request.query_params["view"])
        if view is None:
            raise Http404("No such saved view.")
        effective = QueryDict(view.query, mutable=True)
        sort = effective.pop(saved_views.SORT, None)
        if sort and "ordering" not in self.request.query_params:
            effective["ordering"] = sort[0]
        for key in self.request.query_params:
            effective.setlist(key, self.request.query_params.getlist(key))
        self.request._request.GET = effective  # type: ignore[assignment]

    def get_object(self) -> Any:
        obj = super().get_object()
        self._etag_instance = obj
        return obj

    @extend_schema(responses=AuditEventSerializer(many=True), description="The record's audit trail, newest first.")
    @action(detail=True, methods=["get"])
    def history(self, request: Request, pk: str | None = None) -> Response:
        obj = self.get_object()
        page = self.paginate_queryset(conversation.visible_events(audit.history(obj), request.user))
        data = AuditEventSerializer(page, many=True, context={"request": request}).data
        for event in data:  # custom fields a customer may not see are left out of their history
            event["changes"] = redact_changes(self.record_type, event["changes"], request.user)
        return self.get_paginated_response(data)


def _action_endpoint(record_type: RecordType, record_action: actions.RecordAction) -> Any:
    """`POST .../{id}/<action>/`: the same for every record action, lifecycle transitions included."""

    name = record_action.name

    def endpoint(self: RecordViewSet, request: Request, pk: str | None = None) -> Response:
        obj = self.get_object()  # 404 outside the caller's records; 403 for a role the action does not name
        declared = actions.find(record_type, name)  # as declared now
        assert declared is not None

        def write() -> Response:
            version = requested_version(request)
            if obj.version != version:
                raise services.StaleVersion(obj)  # 409 with the current state, before any field complaint
            values, reason, cited = actions.api_input(declared, request.data, obj=obj, user=request.user)
            actions.run(
                declared,
                obj,
                actor=request.user,
                expected_version=version,
                reason=reason,
                values=values,
                authorised_by=cited,
            )
            done = self.get_queryset().get(pk=obj.pk)
            self._etag_instance = done
            return Response(self.get_serializer(done).data)

        return self.once(request, write)

    endpoint.__name__ = record_action.name  # DRF routes an action by its function's name: set it before decorating
    routed = action(detail=True, methods=["post"], url_path=record_action.slug, url_name=record_action.name)(endpoint)
    description = (
        f"{record_action.title}. {record_action.help_text} Answers the record as it is afterwards. Refused with 403 "
        "when your roles do not allow it, 409 when the version is stale or the action is not possible now."
    )
    return extend_schema(
        request=actions.request_serializer(record_type, record_action),
        responses=serializer_for(record_type),
        description=description,
        summary=record_action.title,
    )(routed)


def _tab_endpoint(record_type: RecordType, tab: Tab) -> Any:
    """`GET .../{id}/<tab>/`: a tab's data, after the record's own checks and the tab's (403 when refused)."""

    def endpoint(self: RecordViewSet, request: Request, pk: str | None = None) -> Response:
        obj = self.get_object()
        assert tab.api is not None
        return Response(tab.api(obj, request.user, request))

    endpoint.__name__ = tab.name
    routed = action(detail=True, methods=["get"], url_path=tab.slug, url_name=tab.name)(endpoint)
    return extend_schema(
        responses=tab.api_schema or OpenApiTypes.OBJECT,
        description=tab.help_text or f"The {tab.label} tab of the record.",
        summary=tab.label,
    )(routed)


VIEW_PARAMETER = OpenApiParameter(
    "view",
    int,
    description="A saved view's id (`/api/v1/core/saved-views/`): its filters and sort apply, with this query "
    "string's own values on top. Only filters: the rows are still those you may see.",
)


@cache
def viewset_for(record_type: RecordType) -> type[RecordViewSet]:
    attrs: dict[str, Any] = {
        "record_type": record_type,
        "serializer_class": serializer_for(record_type),
        "filterset_class": filterset_for(record_type),
        "ordering_fields": record_type.ordering_fields
        or [
            "id",
            *(name for name in record_type.list_columns if name not in record_type.computed),
            *record_type.computed_annotations(),
            "created_at",
            "updated_at",
        ],
        "filter_backends": [DjangoFilterBackend, NaturalOrderingFilter],
        "queryset": record_type.model.objects.none(),
        "__doc__": record_type.help_text or str(record_type.verbose_name_plural).capitalize(),
    }
    record_actions = {a.name: a for a in actions.actions_of(record_type)}
    record_tabs = {t.name: t for t in tabs_of(record_type) if t.api is not None}
    for name in [*record_actions, *record_tabs]:
        if hasattr(RecordViewSet, name) or name in attrs or (name in record_actions and name in record_tabs):
            raise ValueError(f"{record_type.label}: the name {name!r} of an action or tab is taken")
    attrs["record_type_actions"] = ("history", *record_actions, *record_tabs)
    if record_type.record_links:  # links between records (`core.api.links`)
        from meridian.core.api import links as link_api

        taken = {"links", "unlink"} & {*record_actions, *record_tabs}
        if taken:
            raise ValueError(f"{record_type.label}: the names {sorted(taken)} are taken by links")
        attrs["links"], attrs["unlink"] = link_api.links, link_api.unlink
        attrs["record_type_actions"] = (*attrs["record_type_actions"], "links", "unlink")
    files = attachment_api.endpoints() if record_type.attachments is not None else {}
    for name in files:
        if name in record_actions or name in record_tabs:
            raise ValueError(f"{record_type.label}: the name {name!r} of an action or tab is taken by attachments")
    attrs.update(files)
    if record_type.uploads:  # text fields that may come as a file (`core.uploads`): multipart too
        from meridian.core.api.parsers import JSONParser

        attrs["parser_classes"] = [JSONParser, attachment_api.MultiPartParser]
    attrs["import_records"] = import_api.endpoint()  # `POST .../import/` (core.api.imports)
    many = bulk_api.endpoints(record_type)  # `POST .../bulk/<action>/` (core.api.bulk)
    attrs.update(many)
    attrs["record_type_actions"] = (*attrs["record_type_actions"], *many)
    attrs["record_type_actions"] = (*attrs["record_type_actions"], *files)
    if record_type.conversation is not None:  # comments (`core.api.comments`)
        from meridian.core.api import comments as comment_api

        said = comment_api.endpoints()
        if set(said) & {*record_actions, *record_tabs}:
            raise ValueError(f"{record_type.label}: the names {sorted(said)} are taken by comments")
        attrs.update(said)
        attrs["record_type_actions"] = (*attrs["record_type_actions"], *said)
    if getattr(record_type, "watchers", None) is not None:  # followers (`core.api.watchers`)
        from meridian.core.api import watchers as watcher_api

        following = watcher_api.endpoints()
        taken = set(following) & {*record_actions, *record_tabs}
        if taken:
            raise ValueError(f"{record_type.label}: the names {sorted(taken)} are taken by watchers")
        attrs.update(following)
        attrs["record_type_actions"] = (*attrs["record_type_actions"], *following)
    attrs["record_actions"], attrs["record_tabs"] = record_actions, record_tabs
    for record_action in record_actions.values():
        attrs[record_action.name] = _action_endpoint(record_type, record_action)
    for tab in record_tabs.values():
        attrs[tab.name] = _tab_endpoint(record_type, tab)
    viewset = type(f"{record_type.model.__name__}ViewSet", (RecordViewSet,), attrs)
    return extend_schema_view(list=extend_schema(parameters=[VIEW_PARAMETER]))(viewset)


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
