"""Request middleware: per-user time zone and language (times are stored in UTC and shown in the user's zone), and
the API's JSON errors and body size limit."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone, translation


class UserPreferencesMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            try:
                timezone.activate(zoneinfo.ZoneInfo(user.time_zone))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                timezone.deactivate()
            translation.activate(user.language)
            request.LANGUAGE_CODE = user.language  # type: ignore[attr-defined]
        else:
            timezone.deactivate()
        return self.get_response(request)


API_PREFIX = "/api/"

# the message of an error answered outside DRF (URL not found, a server error...), as DRF words them
_DETAILS = {
    400: "Bad request.",
    403: "You do not have permission to perform this action.",
    404: "Not found.",
    500: "Server error.",
}


def json_error(status: int, detail: str) -> JsonResponse:
    """An API error answer: `{"detail": ...}`."""
    return JsonResponse({"detail": detail}, status=status)


# the endpoints that take files (core.attachments, core.conversation): their own size limit
UPLOAD_PATHS = ("/attachments/", "/comments/")


def _too_large_upload(request: HttpRequest) -> bool:
    """A POST of files to a record (`.../attachments/`) larger than `MERIDIAN_ATTACHMENT_MAX_UPLOAD`, by its
    Content-Length (core.attachments)."""
    if request.method != "POST" or not request.path_info.endswith(UPLOAD_PATHS):
        return False
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0) > settings.MERIDIAN_ATTACHMENT_MAX_UPLOAD
    except ValueError:
        return False


def _takes_uploads(request: HttpRequest) -> bool:
    """A create or change of a record type whose text fields may come as a file (`core.uploads`)."""
    from django.urls import Resolver404, resolve

    try:
        match = resolve(request.path_info)
    except Resolver404:
        return False
    record_type = getattr(getattr(match.func, "cls", None), "record_type", None)
    routed = (getattr(match.func, "actions", None) or {}).get((request.method or "").lower())
    return bool(getattr(record_type, "uploads", None)) and routed in ("create", "update", "partial_update")


class ApiErrorMiddleware:
    """Keeps the API's promise that every error is JSON, and limits the size of request bodies.

    Under /api/, a body larger than `MERIDIAN_API_MAX_BODY` bytes (by its Content-Length; Django never reads past
    it) is refused with 413 before anything reads it; and an error answered by Django rather than DRF (a URL
    that matches no route, a method a non-DRF view refuses, a server error, a bad Host) is turned into
    `{"detail": ...}` with its status and headers kept. Pages keep their HTML error pages.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(API_PREFIX):
            if _too_large_upload(request):  # a page's upload of files, before the CSRF check reads the body
                limit = settings.MERIDIAN_ATTACHMENT_MAX_UPLOAD
                return HttpResponse(
                    f"The upload is too large: at most {limit} bytes.\n", status=413, content_type="text/plain"
                )
            return self.get_response(request)
        limit = settings.MERIDIAN_API_MAX_BODY
        multipart = request.META.get("CONTENT_TYPE", "").startswith("multipart/")
        if request.method == "POST" and request.path_info.endswith(UPLOAD_PATHS) and multipart:
            limit = settings.MERIDIAN_ATTACHMENT_MAX_UPLOAD  # the multipart endpoints: files, comments with files
        elif multipart and _takes_uploads(request):
            from meridian.core.imports import max_size

            limit = max_size() + 64 * 1024  # a text field's file and the record's other fields (core.uploads)
        elif request.method == "POST" and request.path_info.endswith("/import/"):
            from meridian.core.imports import max_size

            limit = max_size() + 64 * 1024  # the file and the other fields of the import's form (core.api.imports)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit:
            return json_error(413, f"The request body is too large: at most {limit} bytes.")
        response = self.get_response(request)
        if response.status_code < 400 or response.streaming or "json" in response.get("Content-Type", ""):
            return response
        if response.status_code == 405:
            detail = f'Method "{request.method}" not allowed.'
        else:
            detail = _DETAILS.get(response.status_code, f"{response.reason_phrase}.")
        answer = json_error(response.status_code, detail)
        for header, value in response.items():
            if header.lower() not in {"content-type", "content-length"}:
                answer[header] = value
        answer.cookies = response.cookies
        return answer
