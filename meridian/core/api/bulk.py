"""Bulk actions in the API (`core.bulk`), added to the viewset of every registered type:

- `POST /api/v1/<app>/<plural>/bulk/<action>/` for each bulk action of the type (`edit`, `delete`, `follow`,
  `unfollow`, each record action allowed in bulk): the selection (`ids`, `records` with versions, or `filter`), the
  input (`values`) and `reason`. A small selection answers the finished job (200); a larger one runs in the
  background and answers 202 with the job and its address (`Location`) to poll.
- `POST .../bulk/export/`: the selected records as a CSV or XLSX file (the list's columns).
- `GET /api/v1/core/bulk-jobs/{id}/`: a job of the caller's: progress, counts and the refused records.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from meridian.core import bulk, policy
from meridian.core.registry import EXPORT, RecordType


class RecordVersionSerializer(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.IntegerField(min_value=1)
    version = serializers.IntegerField(
        min_value=1, help_text="The version you read: a record changed since is refused."
    )


class BulkRequestSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """The selection (exactly one of `ids`, `records`, `filter`), the input and the reason."""

    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, help_text="Records by id, at their version now."
    )
    records = RecordVersionSerializer(
        many=True, required=False, help_text="Records by id with the version you read (stale ones are refused)."
    )
    filter = serializers.DictField(
        required=False,
        help_text='Every record matching the list\'s filters, e.g. {"status": "active", "q": "jansen"} (the same '
        "names as the list's query string).",
    )
    values = serializers.JSONField(
        required=False,
        help_text='edit: the fields to change, e.g. {"job_title": "Agent", "custom": {"floor": 3}}; a record '
        "action: its input.",
    )
    reason = serializers.CharField(required=False, allow_blank=True, help_text="Kept in each record's history.")
    authorised_by = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="For records under change control: the reference of an approved change that lists them.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        given = [name for name in ("ids", "records", "filter") if name in attrs]
        if len(given) != 1:
            raise serializers.ValidationError({"ids": ["Send exactly one of ids, records (id and version) or filter."]})
        return attrs


class ExportRequestSerializer(BulkRequestSerializer):
    format = serializers.ChoiceField(choices=["csv", "xlsx"], default="csv")
    columns = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Columns of the list; by default yours."
    )


class RefusedSerializer(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.IntegerField(allow_null=True)
    label = serializers.CharField(help_text="The record's name as you may see it.")  # type: ignore[assignment]
    field = serializers.CharField(help_text="The field refused, when one is.")
    message = serializers.CharField()


class BulkJobSerializer(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.UUIDField()
    record_type = serializers.CharField()
    action = serializers.CharField()
    title = serializers.CharField()
    status = serializers.ChoiceField(choices=["queued", "running", "done", "failed"])
    total = serializers.IntegerField()
    done = serializers.IntegerField(help_text="Records done so far (the progress).")
    changed = serializers.IntegerField()
    unchanged = serializers.IntegerField(help_text="Already so: nothing written.")
    refused_count = serializers.IntegerField()
    refused = RefusedSerializer(many=True, help_text="The first 1,000 refused records, each as it was.")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


def _selection(record_type: RecordType, request: Request, data: dict[str, Any]) -> bulk.Selection:
    if "filter" in data:
        return bulk.select_matching(record_type, request, data["filter"], strict=True)
    if "records" in data:
        return bulk.select_ids(record_type, request.user, [(r["id"], r["version"]) for r in data["records"]])
    return bulk.select_ids(record_type, request.user, [(pk, None) for pk in data["ids"]])


def _job_url(job: Any) -> str:
    return reverse("api:core-bulk-job", args=[job.pk])


def _run(self: Any, request: Request, name: str) -> Response:
    record_type = self.record_type
    bulk.require(record_type, name, request.user)  # 403 before anything is read
    given = BulkRequestSerializer(data=request.data)
    given.is_valid(raise_exception=True)
    data = given.validated_data
    selection = _selection(record_type, request, data)
    raw = request.data if isinstance(request.data, dict) else {}
    job = bulk.start(record_type, name, selection, actor=request.user, channel=bulk.API, data=raw)
    body = bulk.as_dict(job)
    headers = {"Location": _job_url(job)}
    code = status.HTTP_200_OK if job.finished else status.HTTP_202_ACCEPTED
    return Response(body, status=code, headers=headers)


def _export(self: Any, request: Request) -> Any:
    from django.http import QueryDict

    from meridian.core.tables import available_columns, chosen_columns
    from meridian.core.views import RecordViews

    record_type = self.record_type
    if not policy.has_role_permission(request.user, EXPORT, record_type.model):
        raise PermissionDenied(f"You may not export {record_type.verbose_name_plural}.")
    given = ExportRequestSerializer(data=request.data)
    given.is_valid(raise_exception=True)
    data = given.validated_data
    unknown = [name for name in data.get("columns", []) if name not in available_columns(record_type)]
    if unknown:
        raise DjangoValidationError({"columns": f"Not a column of this list: {', '.join(unknown)}."})
    selection = _selection(record_type, request, data)
    views = RecordViews(record_type)
    records = views.queryset(request).filter(pk__in=[pk for pk, _ in selection.rows])
    request._request.GET = QueryDict()  # the export's order: the list's default
    return views.export(
        request._request, records, data["format"], data.get("columns") or chosen_columns(record_type, request.user)
    )


def endpoints(record_type: RecordType) -> dict[str, Any]:
    """The `bulk_<name>` actions of a type's viewset (a new function for each)."""
    found: dict[str, Any] = {}
    for bulk_action in bulk.actions_of(record_type):

        def endpoint(self: Any, request: Request, _name: str = bulk_action.name) -> Response:
            return _run(self, request, _name)

        endpoint.__name__ = f"bulk_{bulk_action.name}"
        routed = action(
            detail=False,
            methods=["post"],
            url_path=f"bulk/{bulk_action.slug}",
            url_name=f"bulk-{bulk_action.slug}",
            pagination_class=None,
            filter_backends=[],
        )(endpoint)
        found[endpoint.__name__] = extend_schema(
            request=BulkRequestSerializer,
            responses={
                200: BulkJobSerializer,
                202: OpenApiResponse(BulkJobSerializer, description="Started in the background: poll `Location`."),
            },
            summary=f"{bulk_action.title} (many records)",
            description=(
                f"{bulk_action.title} on many {record_type.verbose_name_plural} at once: each record through the "
                "same service as a single write (roles, tenancy, guards, reason, version, audit). The records "
                "refused are named with the reason and left as they were; the others are written. Up to "
                f"{bulk.inline_limit()} records are done before the answer (200); more run in the background "
                "(202, poll the job at `Location`). 403 when your roles do not allow the action at all; a "
                "selection or input that makes no sense is a field-level 400 and nothing is done."
            ),
        )(routed)

    def export(self: Any, request: Request) -> Any:
        return _export(self, request)

    export.__name__ = "bulk_export"
    exported = action(
        detail=False,
        methods=["post"],
        url_path="bulk/export",
        url_name="bulk-export",
        pagination_class=None,
        filter_backends=[],
    )(export)
    found["bulk_export"] = extend_schema(
        request=ExportRequestSerializer,
        responses={200: OpenApiResponse(description="The file: CSV (`text/csv`) or an Excel workbook (XLSX).")},
        summary="Export the selected records",
        description="The selected records as a CSV or XLSX file, with the list's columns (yours by default); "
        "cells a spreadsheet would run as a formula are neutralised.",
    )(exported)
    return found


class BulkJobView(APIView):
    """A bulk action you started: its progress, counts and refused records."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses=BulkJobSerializer)
    def get(self, request: Request, job_id: str) -> Response:
        job = bulk.job_for(job_id, request.user)
        if job is None:
            raise Http404("No such bulk action of yours.")
        return Response(bulk.as_dict(job))
