"""The API of links between records (`core.links`) on every type that opts in:
`GET/POST /api/v1/<app>/<plural>/{id}/links/` and `DELETE /api/v1/<app>/<plural>/{id}/links/{link_id}/`."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from meridian.core import links as record_links
from meridian.core import services
from meridian.core.api.serializers import StrictCharField, StrictIntegerField


class LinkInputSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """A link to make from the record in the address."""

    type = StrictCharField(help_text="The link type's name: relates_to, duplicate_of, or one an app declares.")
    direction = serializers.ChoiceField(
        choices=record_links.DIRECTIONS,
        default=record_links.FORWARD,
        help_text="forward: this record is the link's source (“duplicate of” the other); reverse: its target.",
    )
    record_type = StrictCharField(help_text="The other record's type, e.g. core.organisation.")
    record = StrictIntegerField(help_text="The other record's id.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(self.initial_data) - set(self.fields)) if isinstance(self.initial_data, dict) else []
        if unknown:
            raise ValidationError(dict.fromkeys(unknown, "Unknown field."))
        return attrs


class LinkSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """A link as the reader sees it from this record; the other record is "hidden" (no type, no id) when they may
    not see it."""

    id = serializers.IntegerField()
    type = serializers.CharField()
    direction = serializers.ChoiceField(choices=record_links.DIRECTIONS)
    meaning = serializers.CharField(help_text="The link's meaning from this record: “caused by”, “duplicated by”.")
    record_type = serializers.CharField(allow_null=True)
    record = serializers.IntegerField(allow_null=True)
    display = serializers.CharField(help_text="The other record's name, or “hidden”.")
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField(allow_null=True)


def _rows(obj: Any, user: Any) -> list[dict[str, Any]]:
    return [row.as_api() for row in record_links.rows_for(obj, user)]


@extend_schema(
    methods=["GET"],
    responses=LinkSerializer(many=True),
    summary="Links",
    description="The record's links to other records, newest first.",
)
@extend_schema(
    methods=["POST"],
    request=LinkInputSerializer,
    responses={201: LinkSerializer},
    summary="Add a link",
    description="Link this record to another one. Both must be records you may see (another is refused like a "
    "missing one, on `record`), and you must be allowed to change this one (403). Neither record's version changes.",
)
@action(detail=True, methods=["get", "post"], url_path="links", url_name="links")
def links(self: Any, request: Request, pk: str | None = None) -> Response:
    obj = self.get_object()  # 404 outside the caller's records
    self._etag_instance = None  # links are not versioned: no ETag of the record's version
    if request.method == "GET":
        return Response(LinkSerializer(_rows(obj, request.user), many=True).data)

    def write() -> Response:
        data = LinkInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        link = services.link_records(
            obj,
            link_type=values["type"],
            direction=values["direction"],
            other_type=values["record_type"],
            other_id=values["record"],
            actor=request.user,
        )
        row = next(r for r in _rows(obj, request.user) if r["id"] == link.pk)
        return Response(LinkSerializer(row).data, status=status.HTTP_201_CREATED)

    return self.once(request, write)  # type: ignore[no-any-return]


@extend_schema(
    responses={204: None},
    summary="Remove a link",
    description="Remove one of the record's links (403 when you may not change the record).",
)
@action(detail=True, methods=["delete"], url_path=r"links/(?P<link_id>[0-9]+)", url_name="unlink")
def unlink(self: Any, request: Request, pk: str | None = None, link_id: str = "") -> Response:
    obj = self.get_object()
    self._etag_instance = None
    services.unlink_records(obj, int(link_id), actor=request.user)
    return Response(status=status.HTTP_204_NO_CONTENT)
