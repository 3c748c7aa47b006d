"""Pages of a record's files (`core.attachments`): upload (picker, drag and drop, several at once; the page's script
shows the progress), download and preview through the record's checks, delete. The list is the record's
Attachments tab (`tabs.ATTACHMENTS`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.template.defaultfilters import filesizeformat
from django.views.decorators.http import require_GET, require_POST

from meridian.core import attachments
from meridian.core.models import Record
from meridian.core.registry import RecordType
from meridian.core.views import RecordViews


def too_large(request: HttpRequest) -> bool:
    """An upload request larger than `MERIDIAN_ATTACHMENT_MAX_UPLOAD` (by its Content-Length, before it is read)."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    return length > settings.MERIDIAN_ATTACHMENT_MAX_UPLOAD


class AttachmentViews:
    """The attachment pages of one record type that opted in."""

    def __init__(self, record_type: RecordType) -> None:
        self.rt = record_type
        self.records = RecordViews(record_type)

    def _record(self, request: HttpRequest, pk: int) -> Record:
        attachments.declaration(self.rt)
        return self.records.get_object(request, pk)  # 404 for a record the reader may not see

    def _tab_url(self, obj: Record) -> str:
        return f"{obj.get_absolute_url()}?tab=attachments"

    def _tab(self, request: HttpRequest, pk: int, status: int, **extra: Any) -> HttpResponse:
        response = self.records.detail(request, pk, open_tab="attachments", tab_values=extra)
        response.status_code = status
        return response

    def upload(self, request: HttpRequest, pk: int) -> HttpResponse:
        """POST files (`file`, repeated): all are attached or, when one is refused, none, with a message per file."""
        if request.method != "POST":
            return HttpResponse(status=405, headers={"Allow": "POST"})
        obj = self._record(request, pk)
        attachments.require_write(self.rt, obj, request.user)  # 403 before the body is read
        if too_large(request):
            limit = filesizeformat(settings.MERIDIAN_ATTACHMENT_MAX_UPLOAD)
            return self._tab(request, pk, 413, attachment_errors=[f"The upload is too large: at most {limit}."])
        files = request.FILES.getlist(attachments.FIELD)
        try:
            made = attachments.attach_files(obj, files=files, actor=request.user)
        except ValidationError as exc:
            return self._tab(request, pk, 400, attachment_errors=exc.message_dict.get(attachments.FIELD, exc.messages))
        done = f"{len(made)} file{'s' if len(made) != 1 else ''} attached: {', '.join(a.name for a in made)}."
        if request.headers.get("HX-Request"):
            return self._tab(request, pk, 200, attachment_done=done)
        messages.success(request, done)
        return HttpResponseRedirect(self._tab_url(obj), status=303)

    def download(self, request: HttpRequest, pk: int, attachment_id: int) -> HttpResponseBase:
        """The file, as a download; `?preview=1` shows a raster image inline (other files are still downloads)."""
        obj = self._record(request, pk)
        return attachments.serve(
            attachments.find(obj, attachment_id, request.user), inline=request.GET.get("preview") == "1"
        )

    def delete(self, request: HttpRequest, pk: int, attachment_id: int) -> HttpResponse:
        obj = self._record(request, pk)
        attachment = attachments.find(obj, attachment_id, request.user)
        attachments.require_write(self.rt, obj, request.user)
        attachments.delete_attachment(obj, attachment, actor=request.user, reason=request.POST.get("reason", "")[:500])
        messages.success(request, f"“{attachment.name}” removed.")
        return HttpResponseRedirect(self._tab_url(obj), status=303)


def patterns_for(record_type: RecordType) -> list[Any]:
    """The attachment routes of a type that opted in (none for the others)."""
    from django.contrib.auth.decorators import login_required
    from django.urls import path

    if record_type.attachments is None:
        return []
    views = AttachmentViews(record_type)
    name, slug = record_type.model_name, record_type.url_slug
    return [
        path(f"{slug}/<int:pk>/attachments/", login_required(views.upload), name=f"{name}_attachments"),
        path(
            f"{slug}/<int:pk>/attachments/<int:attachment_id>/",
            login_required(require_GET(views.download)),
            name=f"{name}_attachment",
        ),
        path(
            f"{slug}/<int:pk>/attachments/<int:attachment_id>/delete/",
            login_required(require_POST(views.delete)),
            name=f"{name}_attachment_delete",
        ),
    ]
