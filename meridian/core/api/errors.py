"""API errors: field-level 400s, 404 for what the caller may not see, 409 for stale versions and illegal
transitions (with the record's current state). Errors Django answers before DRF is reached (no such route, a
body too large, a server error) are made JSON by `meridian.core.middleware.ApiErrorMiddleware`."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from meridian.core.services import RecordInUse, StaleVersion, TransitionNotAllowed


def validation_detail(exc: DjangoValidationError) -> Any:
    if hasattr(exc, "error_dict"):
        return {
            ("non_field_errors" if name == "__all__" else name): messages for name, messages in exc.message_dict.items()
        }
    return {"non_field_errors": exc.messages}


def changed_since(exc: StaleVersion, context: dict[str, Any]) -> list[dict[str, Any]]:
    """The fields changed since the version the client sent: name, who changed them and when (the values are
    in `current`)."""
    from meridian.core.history import changes_since

    user = getattr(context.get("request"), "user", None)
    changes = changes_since(exc.current, exc.expected_version or exc.current.version, user)
    return [{"field": c.name, "changed_by": c.by, "changed_at": c.at} for c in changes]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, StaleVersion):
        from meridian.core import registry
        from meridian.core.api.serializers import serializer_for

        serializer_class = serializer_for(registry.get(type(exc.current)))
        current = serializer_class(exc.current, context=context).data
        body = {"detail": str(exc), "current": current}
        if exc.expected_version is not None:
            body["changed_since"] = changed_since(exc, context)
        return Response(body, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, RecordInUse):
        return Response({"detail": " ".join(exc.messages)}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, TransitionNotAllowed):
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(validation_detail(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    return drf_exception_handler(exc, context)
