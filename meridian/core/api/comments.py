"""The API of a record's comments (`core.conversation`), added to the viewset of every type that opts in:

- `GET  /api/v1/<app>/<plural>/{id}/comments/`: the comments the caller may read (internal notes: staff only),
  newest first, paginated;
- `POST /api/v1/<app>/<plural>/{id}/comments/`: JSON `{"body", "visibility"}`, or `multipart/form-data` with
  `body`, `visibility` and `file` parts; 201 with the comment, or 400 with field errors and nothing written;
  `Idempotency-Key` honoured;
- `GET/PATCH/DELETE .../comments/{comment_id}/`: one comment; PATCH `{"body", "version"}` (its author within the
  edit window), DELETE with `version` (`If-Match` or `?version=`) and, for a moderator, a reason (`X-Reason`).

The record is looked up in the caller's restricted queryset first (another organisation's record is 404), then the
comment among those the caller may read: an internal note is a 404 to a customer user, never a 403.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from meridian.core import conversation
from meridian.core.api.attachments import MultiPartParser, record_endpoint
from meridian.core.api.parsers import JSONParser
from meridian.utils.numbers import positive_int

COMMENT_ID = OpenApiParameter("comment_id", int, OpenApiParameter.PATH)


class CommentFileSerializer(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.IntegerField()
    name = serializers.CharField()
    size = serializers.IntegerField()
    content_type = serializers.CharField()
    url = serializers.CharField(help_text="The file's download page (the API's: .../attachments/{id}/).")


class CommentSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """A comment as the API gives it (documentation only: `conversation.as_json` builds the data)."""

    id = serializers.IntegerField()
    visibility = serializers.ChoiceField(choices=conversation.CommentVisibility.choices)
    author = serializers.CharField()
    created_at = serializers.DateTimeField()
    edited_at = serializers.DateTimeField(allow_null=True)
    deleted = serializers.BooleanField()
    body = serializers.CharField(help_text="The Markdown source; empty once deleted.")
    body_html = serializers.CharField(help_text="The Markdown rendered and sanitised (no raw HTML, no scripts).")
    version = serializers.IntegerField()
    files = CommentFileSerializer(many=True)


POST_JSON = inline_serializer(
    "CommentPost",
    {
        "body": serializers.CharField(help_text="Markdown; `@username` mentions notify (or are refused)."),
        "visibility": serializers.ChoiceField(choices=conversation.CommentVisibility.choices),
    },
)
POST_MULTIPART = {
    "type": "object",
    "properties": {
        "body": {"type": "string"},
        "visibility": {"type": "string", "enum": ["public", "internal"]},
        "file": {"type": "array", "items": {"type": "string", "format": "binary"}},
    },
    "required": ["body", "visibility"],
}
PATCH = inline_serializer("CommentEdit", {"body": serializers.CharField(), "version": serializers.IntegerField()})


def _prepared(obj: Any, comments: list[Any], user: Any) -> list[dict[str, Any]]:
    return [conversation.as_json(c) for c in conversation.prepare(comments, obj, user)]


def _stale(exc: conversation.StaleComment, obj: Any, user: Any) -> Response:
    (current,) = _prepared(obj, [exc.current], user)
    return Response({"detail": str(exc), "current": current}, status=status.HTTP_409_CONFLICT)


def _list_or_post(self: Any, request: Request, pk: str | None = None) -> Response:
    obj = self.get_object()
    self._etag_instance = None  # the answer is the comments, not the record
    conversation.declaration(self.record_type)
    if request.method == "GET":
        rows = conversation.readable(conversation.of(obj), request.user).select_related("author")
        page = self.paginate_queryset(rows.order_by("-created_at", "-id"))
        return self.get_paginated_response(_prepared(obj, list(page), request.user))

    def write() -> Response:
        data = request.data
        if not hasattr(data, "get"):
            raise ApiValidationError({"non_field_errors": ["Send an object with `body` and `visibility`."]})
        files = request.FILES.getlist("file") if hasattr(request, "FILES") else []
        try:
            made = conversation.post_comment(
                obj, actor=request.user, body=data.get("body"), visibility=data.get("visibility"), files=files
            )
        except ValidationError as exc:
            raise ApiValidationError(exc.message_dict) from exc
        (shown,) = _prepared(obj, [made], request.user)
        return Response(shown, status=status.HTTP_201_CREATED)

    return self.once(request, write)  # type: ignore[no-any-return]


def _requested_version(request: Request) -> Any:
    data = request.data if hasattr(request.data, "get") else {}
    if "version" in data:
        value = data.get("version")
        return value if isinstance(value, int) and not isinstance(value, bool) else positive_int(str(value))
    header = request.headers.get("If-Match") or request.query_params.get("version")
    if header is None:
        raise ApiValidationError({"version": ["Send the version of the comment you read (`version` or If-Match)."]})
    version = positive_int(header.strip().removeprefix("W/").strip('"'))
    if version is None:
        raise ApiValidationError({"version": [f"Give the version as a whole number, not “{header}”."]})
    return version


def _one(self: Any, request: Request, pk: str | None = None, comment_id: str = "") -> Response:
    obj = self.get_object()
    self._etag_instance = None
    conversation.declaration(self.record_type)
    comment = conversation.find(obj, comment_id, request.user)
    try:
        if request.method == "GET":
            pass
        elif request.method == "PATCH":
            data = request.data if hasattr(request.data, "get") else {}
            unknown = sorted(set(data) - {"body", "version"})
            if unknown:
                raise ApiValidationError(
                    {name: ["Only the body of a comment can change (its visibility is fixed)."] for name in unknown}
                )
            if "body" not in data:
                raise ApiValidationError({"body": ["Send the new text."]})
            comment = conversation.edit_comment(
                comment, actor=request.user, body=data.get("body"), expected_version=_requested_version(request)
            )
        else:
            comment = conversation.delete_comment(
                comment,
                actor=request.user,
                expected_version=_requested_version(request),
                reason=request.headers.get("X-Reason", "")[:500],
            )
            return Response(status=status.HTTP_204_NO_CONTENT)
    except ValidationError as exc:
        raise ApiValidationError(exc.message_dict) from exc
    except conversation.StaleComment as exc:
        return _stale(exc, obj, request.user)
    (shown,) = _prepared(obj, [comment], request.user)
    return Response(shown)


def endpoints() -> dict[str, Any]:
    """The two actions added to the viewset of a type with comments: `comments` (list, post) and `comment` (read,
    edit, delete)."""

    listing = record_endpoint(
        _list_or_post,
        "comments",
        methods=["get", "post"],
        url_path="comments",
        parser_classes=[JSONParser, MultiPartParser],
    )
    listing = extend_schema(
        methods=["GET"],
        responses=CommentSerializer(many=True),
        summary="Comments",
        description="The comments you may read (internal notes: staff only), newest first, paginated.",
    )(listing)
    listing = extend_schema(
        methods=["POST"],
        request={"application/json": POST_JSON, "multipart/form-data": POST_MULTIPART},
        responses={201: CommentSerializer},
        summary="Post a comment",
        description=(
            "A public reply (the record's customer users read it) or an internal note (staff only; customer users "
            "may post public replies only). JSON, or multipart with `file` parts to attach files (checked like "
            "attachments). A mention of someone who may not see the record, a refused file or a bad visibility is "
            "a 400 on the field, with nothing written. `Idempotency-Key` honoured."
        ),
    )(listing)
    single = record_endpoint(
        _one, "comment", methods=["get", "patch", "delete"], url_path=r"comments/(?P<comment_id>[0-9]+)"
    )
    single = extend_schema(methods=["GET"], responses=CommentSerializer, parameters=[COMMENT_ID], summary="A comment")(
        single
    )
    single = extend_schema(
        methods=["PATCH"],
        request=PATCH,
        responses={200: CommentSerializer},
        parameters=[COMMENT_ID],
        summary="Edit a comment",
        description="Its author, within the edit window. 409 with the current comment when `version` is stale.",
    )(single)
    single = extend_schema(
        methods=["DELETE"],
        responses={204: None},
        parameters=[COMMENT_ID, OpenApiParameter("version", int, description="Or `If-Match`.")],
        summary="Delete a comment",
        description=(
            "Its author within the edit window, or an administrator at any time with a reason (`X-Reason`). The "
            "comment keeps its place with its text blanked; the record's audit trail keeps the text."
        ),
    )(single)
    return {"comments": listing, "comment": single}
