"""What the inventory import endpoints (`api/v1/cmdb/netbox/import/`, `api/v1/cmdb/itop/import/`) share: the dry run
with a token, the commit by token or at once, the report as the answer (`cmdb.inventory`)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from meridian.cmdb import inventory
from meridian.core import imports


class InventoryCountsSerializer(serializers.Serializer):  # type: ignore[type-arg]
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()


def validate_request(attrs: dict[str, Any], what: str) -> dict[str, Any]:
    if not attrs.get("file") and not attrs.get("token"):
        raise serializers.ValidationError({"file": [f"Send the {what} to import (or the token of a dry run)."]})
    if attrs.get("token") and attrs.get("dry_run"):
        raise serializers.ValidationError({"token": ["A token is for the commit: send dry_run=false with it."]})
    return attrs


def post_import(source: inventory.Source, request: Request, data: dict[str, Any]) -> Response:
    """A dry run of the file (200 with a `token`), or the commit of a token's file or of the file at once (200
    committed, 400 with the report and nothing written)."""
    try:
        if data.get("token"):
            job = source.job_for(data["token"], request.user)
            if job is None or job.status != job.Status.CHECKED or not job.file:
                raise ValidationError({"token": ["No dry run of yours with this token is waiting to be imported."]})
            report = source.commit_job(job, actor=request.user)
        else:
            upload = data["file"]
            job, report = source.check_file(
                upload,
                upload.name or source.default_file,
                actor=request.user,
                authorised_by=data.get("authorised_by") or "",
            )
            if not data["dry_run"]:
                if report.ok:
                    report = source.commit_job(job, actor=request.user)
                else:
                    report.dry_run = False
                    imports.discard_file(job)
    except (inventory.Refused, imports.ImportRefused) as exc:
        raise ValidationError({"file": [exc.message]}) from None
    body = report.as_dict()
    if report.dry_run:
        body["token"] = str(job.pk)
        return Response(body)
    return Response(body, status=status.HTTP_200_OK if report.committed else status.HTTP_400_BAD_REQUEST)
