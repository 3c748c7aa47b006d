"""`POST /api/v1/cmdb/itop/import/`: import iTop data (`cmdb.itop`). `multipart/form-data`: `file` (a .zip of iTop's
XML files) and `dry_run` (default true), or the `token` of a dry run with `dry_run=false` to import the file it
checked. The report counts per kind what was (or would be) created, updated and left unchanged, and lists every
problem by file, iTop class, id and field."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from meridian.cmdb import itop
from meridian.cmdb.api.inventory import InventoryCountsSerializer, post_import, validate_request
from meridian.core.api.attachments import MultiPartParser


class ItopImportRequestSerializer(serializers.Serializer):  # type: ignore[type-arg]
    file = serializers.FileField(
        required=False, help_text="A .zip of the XML files of iTop's data loader (one <Set> of objects per file)."
    )
    token = serializers.UUIDField(
        required=False, help_text="The `token` of a dry run: with dry_run=false, imports the file that dry run checked."
    )
    dry_run = serializers.BooleanField(default=True, help_text="Check and report only (the default).")
    authorised_by = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="An approved change that lists the CIs under change control that the import changes (CHG-000123).",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return validate_request(attrs, "iTop XML files (a .zip)")


class ItopProblemSerializer(serializers.Serializer):  # type: ignore[type-arg]
    file = serializers.CharField(required=False, help_text="The XML file of the object (path in the .zip).")
    kind = serializers.CharField(help_text="The iTop class: Server, Location, lnkPersonToTeam… (empty: the upload).")
    row = serializers.IntegerField(allow_null=True, help_text="Always null: iTop objects are named by their id.")
    itop_id = serializers.JSONField(allow_null=True, help_text="The object's id in iTop.")
    field = serializers.CharField(help_text="The iTop field at fault (empty: the object as a whole).")
    where = serializers.CharField(help_text="“Server 2.location_id”")
    message = serializers.CharField()


class ItopReportSerializer(serializers.Serializer):  # type: ignore[type-arg]
    dry_run = serializers.BooleanField()
    committed = serializers.BooleanField(help_text="True once everything is written.")
    objects = serializers.IntegerField(help_text="iTop objects read, of the classes imported.")
    counts = serializers.DictField(
        child=InventoryCountsSerializer(),
        help_text="Per kind (organisations, locations, people, teams, each iTop CI class such as Server or "
        "VirtualMachine, redundancy_groups, relationships): created, updated, unchanged (dry run: would be).",
    )
    problem_count = serializers.IntegerField()
    problems = ItopProblemSerializer(many=True, help_text="The first 1,000 problems.")
    notes = serializers.ListField(
        child=serializers.CharField(), help_text="What the files hold that is not imported (contracts, SLAs…)."
    )
    summary = serializers.CharField()
    token = serializers.CharField(required=False, help_text="Dry run: send it with dry_run=false to import this file.")


class ItopImportView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="cmdb_itop_import",
        request={"multipart/form-data": ItopImportRequestSerializer},
        responses={200: ItopReportSerializer, 400: ItopReportSerializer},
        summary="Import iTop data",
        description=(
            "Import iTop data (a .zip of the XML files of iTop's data loader) into the CMDB: organisations (the "
            "provider is the internal organisation, the others customers), locations, persons and teams, functional "
            "CIs and services as CIs, their links as relationships, farms as redundancy groups. A dry run (the "
            "default) checks everything by the rules of the import itself and writes nothing; it answers the report "
            "with a `token`: send the token with `dry_run=false` to import that file, all of it or, when any object "
            "has a problem, nothing (400 with the report). `dry_run=false` with a file checks and imports at once. "
            "Importing again updates what changed (CIs are found by their `itop_id`, “Server:2”) and duplicates "
            "nothing. A file that is not a .zip of iTop XML is a 400 on `file`. Needs the role to add CIs "
            "(configuration managers)."
        ),
        tags=["cmdb"],
    )
    def post(self, request: Request) -> Response:
        itop.SOURCE.require(request.user)
        given = ItopImportRequestSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        return post_import(itop.SOURCE, request, given.validated_data)
