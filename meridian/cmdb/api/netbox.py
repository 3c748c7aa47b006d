"""`POST /api/v1/cmdb/netbox/import/`: import a NetBox inventory (`cmdb.netbox`). `multipart/form-data`: `file`
and `dry_run` (default true), or the `token` of a dry run with `dry_run=false` to import the file it checked. The
report counts per kind what was (or would be) created, updated and left unchanged, and lists every problem by kind,
position in the file, NetBox id and field."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from meridian.cmdb import netbox
from meridian.cmdb.api.inventory import InventoryCountsSerializer, post_import, validate_request
from meridian.core.api.attachments import MultiPartParser


class NetboxImportRequestSerializer(serializers.Serializer):  # type: ignore[type-arg]
    file = serializers.FileField(
        required=False, help_text="The NetBox dump: the JSON of `manage.py dumpdata` of NetBox 3.x."
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
        return validate_request(attrs, "NetBox dump")


class NetboxProblemSerializer(serializers.Serializer):  # type: ignore[type-arg]
    kind = serializers.CharField(help_text="tenants, sites, devices, cables… (empty: the file as a whole).")
    row = serializers.IntegerField(allow_null=True, help_text="Its position among the file's objects of the kind.")
    netbox_id = serializers.JSONField(allow_null=True, help_text="Its id in NetBox.")
    field = serializers.CharField(help_text="The NetBox field at fault (empty: the object as a whole).")
    where = serializers.CharField(help_text="“devices[12].site”")
    message = serializers.CharField()


class NetboxReportSerializer(serializers.Serializer):  # type: ignore[type-arg]
    dry_run = serializers.BooleanField()
    committed = serializers.BooleanField(help_text="True once everything is written.")
    objects = serializers.IntegerField(help_text="NetBox objects read, of the kinds imported.")
    counts = serializers.DictField(
        child=InventoryCountsSerializer(),
        help_text="Per kind (tenants, providers, regions, sites, locations, racks, clusters, devices, "
        "virtual_machines, circuits, relationships): created, updated, unchanged (dry run: would be).",
    )
    problem_count = serializers.IntegerField()
    problems = NetboxProblemSerializer(many=True, help_text="The first 1,000 problems.")
    notes = serializers.ListField(child=serializers.CharField(), help_text="What the file holds that is not imported.")
    summary = serializers.CharField()
    token = serializers.CharField(required=False, help_text="Dry run: send it with dry_run=false to import this file.")


class NetboxImportView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="cmdb_netbox_import",
        request={"multipart/form-data": NetboxImportRequestSerializer},
        responses={200: NetboxReportSerializer, 400: NetboxReportSerializer},
        summary="Import a NetBox inventory",
        description=(
            "Import a NetBox inventory (the JSON of `manage.py dumpdata`) into the CMDB: tenants and providers as "
            "organisations, regions, sites, locations and racks as locations, devices, clusters, virtual machines "
            "and circuits as CIs, cables as relationships. A dry run (the default) checks everything by the rules of "
            "the import itself and writes nothing; it answers the report with a `token`: send the token with "
            "`dry_run=false` to import that file, all of it or, when any object has a problem, nothing (400 with "
            "the report). `dry_run=false` with a file checks and imports at once. Importing again updates what "
            "changed (CIs are found by their `netbox_id`) and duplicates nothing. A file that is not a NetBox dump "
            "is a 400 on `file`. Needs the role to add CIs (configuration managers)."
        ),
        tags=["cmdb"],
    )
    def post(self, request: Request) -> Response:
        netbox.require_import(request.user)
        given = NetboxImportRequestSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        return post_import(netbox.SOURCE, request, given.validated_data)
