"""OpenAPI post-processing: every operation documents the errors it can answer, so that clients (and
contract tests) know them: 400 field errors, 401, 403, 404 for what you may not see, 409 conflicts, 413. Also the
schema and docs views (their errors are JSON) and the description of filters from a copy (building the schema
changes nothing a request sees)."""

from __future__ import annotations

import copy
from typing import Any

from django.http import HttpResponseBase
from drf_spectacular.contrib.django_filters import DjangoFilterExtension
from drf_spectacular.plumbing import get_manager, get_view_model
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request

ERROR = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
FIELD_ERRORS = {
    "type": "object",
    "description": "Field name (or non_field_errors) to its messages.",
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
}
CONFLICT = {
    "type": "object",
    "properties": {
        "detail": {"type": "string"},
        "current": {"type": "object", "description": "The record as it is now (stale version)."},
        "changed_since": {
            "type": "array",
            "description": "Stale version: the fields changed since the version sent, who changed them and when.",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "changed_by": {"type": "array", "items": {"type": "string"}},
                    "changed_at": {"type": "string", "format": "date-time"},
                },
                "required": ["field", "changed_by", "changed_at"],
            },
        },
    },
    "required": ["detail"],
}


def _response(description: str, *schemas: str) -> dict[str, Any]:
    refs = [{"$ref": f"#/components/schemas/{name}"} for name in schemas]
    return {
        "description": description,
        "content": {"application/json": {"schema": refs[0] if len(refs) == 1 else {"anyOf": refs}}},
    }


def _local_times(node: Any) -> None:
    """Times of day in Meridian are local wall-clock times (a calendar's hours), which OpenAPI's `time` format
    (RFC 3339, with an offset) does not describe: say what they are instead."""
    if isinstance(node, dict):
        if node.get("format") == "time":
            node.pop("format")
            node["pattern"] = r"^\d{2}:\d{2}(:\d{2}(\.\d+)?)?$"
            node.setdefault("example", "09:00")
        for value in node.values():
            _local_times(value)
    elif isinstance(node, list):
        for value in node:
            _local_times(value)


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Any 1 to 255 printable ASCII characters, new for each request (e.g. a UUID). A retry by you with "
    "the same key, path, body and If-Match within 24 hours gets the first (successful) answer again, with "
    "`Idempotent-Replayed: true`, and writes nothing; the same key with another request is a 422.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x20-\\x7e]+$"},
}
IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": 'The version you read, as its ETag (`"3"`). Required unless the body has `version` (which counts '
    "when both are sent). A stale version is a 409 with the current state.",
    "schema": {"type": "string", "pattern": '^"[0-9]+"$'},
}
VERSION_BODY = {
    "type": "object",
    "properties": {
        "version": {
            "type": "integer",
            "minimum": 1,
            "description": "The version you read; required unless sent as an If-Match header.",
        }
    },
}


# a record's files are added and removed without naming the record's version (core.attachments)
UNVERSIONED = "/attachments/"


def _document_writes(path: str, method: str, operation: dict[str, Any]) -> None:
    """Headers and body fields of writes that the serializers do not show: the version a change, delete or action
    is based on (If-Match or `version`), and Idempotency-Key on every POST."""
    parameters = operation.setdefault("parameters", [])
    if method == "post":
        parameters.append(copy.deepcopy(IDEMPOTENCY_KEY))
        operation["responses"].setdefault(
            "422", _response("The Idempotency-Key was already used for another request.", "Error")
        )
    versioned = UNVERSIONED not in path
    if versioned and (method in {"put", "patch", "delete"} or (method == "post" and "{" in path)):
        parameters.append(copy.deepcopy(IF_MATCH))
    if method in {"put", "patch"}:
        for media in operation.get("requestBody", {}).get("content", {}).values():
            media["schema"] = {"allOf": [media["schema"], copy.deepcopy(VERSION_BODY)]}
    if method in {"post", "put", "patch"}:
        operation["responses"].setdefault("415", _response("The body is not JSON (Content-Type).", "Error"))


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    _local_times(result.get("components", {}))
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.update({"Error": ERROR, "FieldErrors": FIELD_ERRORS, "Conflict": CONFLICT})
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            responses.setdefault(
                "400",
                _response(
                    "Invalid input: field-level messages (or `detail` for a malformed body).", "FieldErrors", "Error"
                ),
            )
            responses.setdefault("401", _response("Not authenticated, or the token is not valid.", "Error"))
            responses.setdefault("403", _response("Your roles do not allow this.", "Error"))
            if "{" in path:
                responses.setdefault("404", _response("No such record, or not one you may see.", "Error"))
            if method != "get" and "{" in path and UNVERSIONED not in path:
                responses.setdefault("409", _response("Stale version, not possible now, or in use.", "Conflict"))
            if method == "get" and "{" not in path:
                responses.setdefault("404", _response("Page out of range.", "Error"))
            responses.setdefault("405", _response("Method not allowed.", "Error"))
            _document_writes(path, method, operation)
            if method in {"post", "put", "patch"}:
                responses.setdefault("413", _response("The request body is too large.", "Error"))
    return result


class JsonErrors:
    """For an API view whose answer is not JSON (the schema's YAML, the docs page's HTML): its errors are JSON,
    like every API error."""

    def finalize_response(self, request: Request, response: HttpResponseBase, *args: Any, **kwargs: Any) -> Any:
        if getattr(response, "exception", False):
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]


class SchemaView(JsonErrors, SpectacularAPIView):
    """The OpenAPI schema: YAML, or JSON with `?format=json` or by Accept."""


class DocsView(JsonErrors, SpectacularSwaggerSplitView):
    """The interactive API docs (Swagger UI, served locally)."""


class IsolatedFilterExtension(DjangoFilterExtension):
    """Describes a view's filters from a copy of its filter set's filters.

    drf-spectacular reads `base_filters`, the filters of the class every request copies, and builds (and caches)
    their form fields while describing them: a field cached that way, with the empty label and choices of the
    moment, would then be copied into every later request's filter set. Describing a deep copy leaves the class
    as it was built."""

    priority = 1

    def get_schema_operation_parameters(self, auto_schema: Any, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        model = get_view_model(auto_schema.view)
        if not model:
            return []
        filterset_class = self.target.get_filterset_class(auto_schema.view, get_manager(model).none())
        if not filterset_class:
            return []
        result: list[dict[str, Any]] = []
        for name, filter_field in copy.deepcopy(filterset_class.base_filters).items():
            result += self.resolve_filter_field(auto_schema, model, filterset_class, name, filter_field)
        return result
