"""`POST /api/v1/<app>/<plural>/import/`: import records of the type from a CSV, XLSX or JSON file (`core.imports`),
added to the viewset of every registered type. `multipart/form-data`: `file`, `dry_run` (default true), `update_on`,
`sheet`, `mapping` (a JSON object header -> field), or `token` (a dry run's) with `dry_run=false` to import the file
that dry run checked, comparing the versions it read. A file that cannot be read is a field-level 400; the report
lists every problem as row, column and message."""

from __future__ import annotations

import json
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from meridian.core import imports
from meridian.core.api.attachments import MultiPartParser


class ImportRequestSerializer(serializers.Serializer):  # type: ignore[type-arg]
    file = serializers.FileField(
        required=False, help_text="A .csv (UTF-8 or Windows-1252), .xlsx or .json (a list of objects) file."
    )
    token = serializers.UUIDField(
        required=False, help_text="The `token` of a dry run: with dry_run=false, imports the file that dry run checked."
    )
    dry_run = serializers.BooleanField(default=True, help_text="Check and report only (the default).")
    update_on = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="Update the records whose field (name, email, id, reference…) "
        "matches a row's; rows that match none are created.",
    )
    sheet = serializers.CharField(required=False, allow_blank=True, help_text="The sheet of a workbook with several.")
    authorised_by = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="For records under change control (CIs): the reference of an approved change that lists every one "
        "the file changes. Rows that need one and do not have it are refused.",
    )
    mapping = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text='A JSON object from the file\'s headers to fields, e.g. {"Company": "name", "Notes": ""} ("" leaves '
        "a column out).",
    )

    def validate_mapping(self, value: str) -> dict[str, str]:
        if not value:
            return {}
        try:
            data = json.loads(value)
        except ValueError:
            raise serializers.ValidationError("Must be a JSON object of header to field name.") from None
        if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            raise serializers.ValidationError("Must be a JSON object of header to field name (strings).")
        return data

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("file") and not attrs.get("token"):
            raise serializers.ValidationError({"file": ["Send a file to import (or the token of a dry run)."]})
        if attrs.get("token") and attrs.get("dry_run"):
            raise serializers.ValidationError({"token": ["A token is for the commit: send dry_run=false with it."]})
        return attrs


class ImportProblemSerializer(serializers.Serializer):  # type: ignore[type-arg]
    row = serializers.IntegerField(help_text="The row as a spreadsheet numbers it (1 is the header).")
    column = serializers.CharField(help_text="The column's header; empty for the whole row.")
    message = serializers.CharField()


class ImportReportSerializer(serializers.Serializer):  # type: ignore[type-arg]
    record_type = serializers.CharField()
    dry_run = serializers.BooleanField()
    committed = serializers.BooleanField(help_text="True once the records are written (all of them).")
    rows = serializers.IntegerField()
    created = serializers.IntegerField(help_text="Created (dry run: would be).")
    updated = serializers.IntegerField(help_text="Updated (dry run: would be).")
    unchanged = serializers.IntegerField()
    problem_count = serializers.IntegerField()
    problems = ImportProblemSerializer(many=True, help_text="The first 1,000 problems.")
    notes = serializers.ListField(child=serializers.CharField(), help_text="How the file was read.")
    encoding = serializers.CharField()
    columns = serializers.DictField(child=serializers.CharField(), help_text="Header -> field (empty: left out).")
    token = serializers.CharField(required=False, help_text="Dry run: send it with dry_run=false to import this file.")


def _import(self: Any, request: Request) -> Response:
    record_type = self.record_type
    imports.require_import(record_type, request.user)
    given = ImportRequestSerializer(data=request.data)
    given.is_valid(raise_exception=True)
    data = given.validated_data
    try:
        if data.get("token"):
            job = imports.job_for(data["token"], record_type, request.user)
            if job is None or job.status != job.Status.CHECKED or not job.file:
                raise ValidationError({"token": ["No dry run of yours with this token is waiting to be imported."]})
            report = imports.commit_job(job, actor=request.user)
        else:
            upload = data["file"]
            job, report = imports.check_file(
                record_type,
                upload,
                upload.name,
                actor=request.user,
                mapping=data.get("mapping"),
                update_on=data.get("update_on") or None,
                sheet=data.get("sheet") or None,
                authorised_by=data.get("authorised_by") or "",
            )
            if not data["dry_run"]:
                if report.ok:
                    report = imports.commit_job(job, actor=request.user)
                else:
                    report.dry_run = False
                    imports.discard_file(job)
    except imports.ImportRefused as exc:
        detail: dict[str, Any] = {exc.field: [exc.message]}
        if exc.choices:
            detail["choices"] = exc.choices
        raise ValidationError(detail) from None
    body = report.as_dict()
    if report.dry_run:
        body["token"] = str(job.pk)
        return Response(body)
    return Response(body, status=status.HTTP_200_OK if report.committed else status.HTTP_400_BAD_REQUEST)


def endpoint() -> Any:
    """The `import` action of a record type's viewset (a new function for each viewset)."""

    def import_records(self: Any, request: Request) -> Response:
        return _import(self, request)

    view = action(
        detail=False,
        methods=["post"],
        url_path="import",
        url_name="import",
        parser_classes=[MultiPartParser],
        pagination_class=None,
        filter_backends=[],
    )(import_records)
    return extend_schema(
        request={"multipart/form-data": ImportRequestSerializer},
        responses={200: ImportReportSerializer, 400: ImportReportSerializer},
        summary="Import from a file",
        description=(
            "Import records from a CSV, XLSX or JSON file (`multipart/form-data`). A dry run (the default) checks "
            "every row by the rules of a single create or change and answers the report with a `token`; send the "
            "token with `dry_run=false` to import that file: all rows or, when any has a problem (or a record "
            "changed since the dry run), none (400 with the report). `dry_run=false` with a file checks and imports "
            "at once. A file that cannot be read (encoding, format, size, a workbook's sheet not named) is a 400 on "
            "`file`, `sheet`, `mapping` or `update_on`. Needs the role to add records of the type."
        ),
    )(view)
