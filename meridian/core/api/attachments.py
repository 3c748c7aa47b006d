"""The API of a record's files (`core.attachments`), added to the viewset of every type that opts in:

- `GET  /api/v1/<app>/<plural>/{id}/attachments/`: the files (name, size, SHA-256, content type, who, when);
- `POST /api/v1/<app>/<plural>/{id}/attachments/`: `multipart/form-data` with one or more `file` parts (the only
  endpoint of the API that is not JSON; its own size limit, `MERIDIAN_ATTACHMENT_MAX_UPLOAD`); 201 with the files
  made, or 400 naming each refused file with nothing written; `Idempotency-Key` honoured;
- `GET  .../attachments/{attachment_id}/`: the file itself (a download, with the same headers as the pages);
- `DELETE .../attachments/{attachment_id}/`: removes it (204), audited on the record.

The record is looked up in the caller's restricted queryset first: another organisation's record is 404 on every
route. Uploading and deleting need the declaration's roles (403 otherwise; the auditor never).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import parsers, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from meridian.core import attachments

ENDPOINTS = ("attachments", "attachment")  # the viewset's action names


class AttachmentSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """A file of a record, as the API lists it (documentation only: `attachments.listing` builds the data)."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    size = serializers.IntegerField(help_text="Bytes.")
    sha256 = serializers.CharField()
    content_type = serializers.CharField(help_text="Detected from the bytes.")
    uploaded_by = serializers.CharField()
    uploaded_at = serializers.DateTimeField()
    comment = serializers.IntegerField(allow_null=True, help_text="The comment carrying the file, if any.")


UPLOAD_SCHEMA = {
    "multipart/form-data": {
        "type": "object",
        "properties": {"file": {"type": "array", "items": {"type": "string", "format": "binary"}}},
        "required": ["file"],
    }
}
ATTACHMENT_ID = OpenApiParameter("attachment_id", int, OpenApiParameter.PATH)


class MultiPartParser(parsers.MultiPartParser):
    """Multipart bodies, on the attachment endpoint only (the rest of the API is JSON only)."""


def record_endpoint(handler: Callable[..., Any], name: str, **options: Any) -> Any:
    """`handler(self, request, pk, ...)` as an action named `name` on the viewset of one record type: a new function
    for each viewset (DRF routes an action by its function's name, set before decorating), on one record
    (`detail`), where the record list's filters do not apply; `options` go to `action` (methods, url_path, ...)."""

    def endpoint(self: Any, request: Request, *args: Any, **kwargs: Any) -> Any:
        return handler(self, request, *args, **kwargs)

    endpoint.__name__ = name
    return action(detail=True, url_name=name, filter_backends=[], **options)(endpoint)


def _list_or_upload(self: Any, request: Request, pk: str | None = None) -> Response:
    obj = self.get_object()
    self._etag_instance = None  # the answer is the files, not the record
    if request.method == "GET":
        return Response(attachments.listing(attachments.of(obj, request.user)))
    attachments.require_write(self.record_type, obj, request.user)

    def write() -> Response:
        try:
            made = attachments.attach_files(obj, files=request.FILES.getlist(attachments.FIELD), actor=request.user)
        except ValidationError as exc:
            raise ApiValidationError(exc.message_dict) from exc
        return Response(attachments.listing(made), status=status.HTTP_201_CREATED)

    return self.once(request, write)  # type: ignore[no-any-return]


def _download_or_delete(self: Any, request: Request, pk: str | None = None, attachment_id: str = "") -> Any:
    obj = self.get_object()
    self._etag_instance = None
    attachment = attachments.find(obj, attachment_id, request.user)
    if request.method == "GET":
        return attachments.serve(attachment)
    attachments.require_write(self.record_type, obj, request.user)
    attachments.delete_attachment(obj, attachment, actor=request.user, reason=request.headers.get("X-Reason", "")[:500])
    return Response(status=status.HTTP_204_NO_CONTENT)


def endpoints() -> dict[str, Any]:
    """The two actions added to the viewset of a type with attachments: `attachments` (list, upload) and
    `attachment` (download, delete)."""

    listing = record_endpoint(
        _list_or_upload,
        "attachments",
        methods=["get", "post"],
        url_path="attachments",
        parser_classes=[MultiPartParser],
        pagination_class=None,  # all the record's files at once (a record holds a bounded number)
    )
    listing = extend_schema(
        methods=["GET"],
        responses=AttachmentSerializer(many=True),
        summary="Attachments",
        description="The record's files, newest first.",
    )(listing)
    listing = extend_schema(
        methods=["POST"],
        request=UPLOAD_SCHEMA,
        responses={201: AttachmentSerializer(many=True)},
        summary="Attach files",
        description=(
            "Upload one or more files as `multipart/form-data` parts named `file`. Each is checked (size, type "
            "detected from its bytes, refused types, a name its bytes contradict); when one is refused, none is "
            "attached and the 400 names each refused file under `file`. Not JSON: the one multipart endpoint."
        ),
    )(listing)
    one = record_endpoint(
        _download_or_delete, "attachment", methods=["get", "delete"], url_path=r"attachments/(?P<attachment_id>[0-9]+)"
    )
    one = extend_schema(
        methods=["GET"],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
        parameters=[ATTACHMENT_ID],
        summary="Download an attachment",
        description="The file itself, as a download (`Content-Disposition: attachment`).",
    )(one)
    one = extend_schema(
        methods=["DELETE"],
        responses={204: None},
        parameters=[ATTACHMENT_ID],
        summary="Remove an attachment",
        description="Removes the file; the record's audit trail keeps its name, size and SHA-256. Reason: `X-Reason`.",
    )(one)
    return {"attachments": listing, "attachment": one}
