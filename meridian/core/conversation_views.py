"""Pages of a record's comments (`core.conversation`): post (with files), preview, edit and delete. The composer
and the comments are in the record's Timeline tab; each view answers with that tab (htmx swaps it in without a
reload) or, without htmx, a redirect to it. A refused comment comes back in the composer with its text and the
field errors (400); nothing is written."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.defaultfilters import filesizeformat
from django.views.decorators.http import require_POST

from meridian.core import conversation
from meridian.core.attachment_views import too_large
from meridian.core.models import Record
from meridian.core.registry import RecordType
from meridian.core.views import RecordViews
from meridian.utils.numbers import positive_int


class ConversationViews:
    """The comment pages of one record type that opted in."""

    def __init__(self, record_type: RecordType) -> None:
        self.rt = record_type
        self.records = RecordViews(record_type)

    def _record(self, request: HttpRequest, pk: int) -> Record:
        conversation.declaration(self.rt)
        return self.records.get_object(request, pk)  # 404 for a record the reader may not see

    def _tab(self, request: HttpRequest, pk: int, status: int = 200, **values: Any) -> HttpResponse:
        response = self.records.detail(request, pk, open_tab="timeline", tab_values=values)
        response.status_code = status
        return response

    def _done(self, request: HttpRequest, obj: Record, pk: int, text: str) -> HttpResponse:
        if request.headers.get("HX-Request"):
            return self._tab(request, pk, 200, comment_done=text)
        messages.success(request, text)
        return HttpResponseRedirect(f"{obj.get_absolute_url()}?tab=timeline", status=303)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        """POST body, visibility and files (`file`, repeated): the comment is posted, or refused in place."""
        obj = self._record(request, pk)
        body, visibility = request.POST.get("body", ""), request.POST.get("visibility", "")
        if too_large(request):
            limit = filesizeformat(settings.MERIDIAN_ATTACHMENT_MAX_UPLOAD)
            errors = {"file": [f"The files are too large together: at most {limit} at once."]}
            return self._tab(request, pk, 413, comment_errors=errors, comment_body=body, comment_visibility=visibility)
        try:
            conversation.post_comment(
                obj, actor=request.user, body=body, visibility=visibility, files=request.FILES.getlist("file")
            )
        except ValidationError as exc:
            return self._tab(
                request, pk, 400, comment_errors=exc.message_dict, comment_body=body, comment_visibility=visibility
            )
        label = "Internal note" if visibility == conversation.INTERNAL else "Public reply"
        return self._done(request, obj, pk, f"{label} posted.")

    def preview(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The Markdown of `body` rendered by the same sanitiser as a posted comment (a fragment for htmx)."""
        obj = self._record(request, pk)
        if not conversation.declaration(self.rt).visibilities(request.user, obj):
            return HttpResponse(status=403)
        body = request.POST.get("body", "")[: conversation.MAX_BODY]
        if not body.strip():
            return HttpResponse('<p class="text-muted mb-0">Nothing to preview yet.</p>')
        return HttpResponse(conversation.render(body, obj))  # the sanitiser's output

    def _comment(self, request: HttpRequest, pk: int, comment_id: int) -> tuple[Record, Any]:
        obj = self._record(request, pk)
        return obj, conversation.find(obj, comment_id, request.user)

    def edit(self, request: HttpRequest, pk: int, comment_id: int) -> HttpResponse:
        """GET: the timeline with this comment's text in an edit box; POST body + version: saved, or refused in
        place with the text kept."""
        obj, comment = self._comment(request, pk, comment_id)
        if request.method != "POST":
            if not conversation.may_edit(comment, request.user):
                return self._tab(
                    request, pk, 403, comment_errors={"body": [conversation.edit_refusal(comment, request.user)]}
                )
            return self._tab(request, pk, 200, editing=comment.pk, editing_body=comment.body)
        body = request.POST.get("body", "")
        try:
            conversation.edit_comment(
                comment, actor=request.user, body=body, expected_version=positive_int(request.POST.get("version", ""))
            )
        except ValidationError as exc:
            return self._tab(request, pk, 400, editing=comment.pk, editing_body=body, editing_errors=exc.message_dict)
        except conversation.StaleComment as exc:
            return self._tab(
                request, pk, 409, editing=comment.pk, editing_body=body, editing_errors={"body": [str(exc)]}
            )
        return self._done(request, obj, pk, "Comment saved.")

    def delete(self, request: HttpRequest, pk: int, comment_id: int) -> HttpResponse:
        obj, comment = self._comment(request, pk, comment_id)
        try:
            conversation.delete_comment(
                comment,
                actor=request.user,
                expected_version=positive_int(request.POST.get("version", "")),
                reason=request.POST.get("reason", ""),
            )
        except (ValidationError, conversation.StaleComment) as exc:
            text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            return self._tab(request, pk, 400 if isinstance(exc, ValidationError) else 409, comment_problem=text)
        return self._done(request, obj, pk, "Comment deleted.")


def patterns_for(record_type: RecordType) -> list[Any]:
    """The comment routes of a type that opted in (none for the others)."""
    from django.contrib.auth.decorators import login_required
    from django.urls import path

    if record_type.conversation is None:
        return []
    views = ConversationViews(record_type)
    name, slug = record_type.model_name, record_type.url_slug
    return [
        path(f"{slug}/<int:pk>/comments/", login_required(require_POST(views.post)), name=f"{name}_comments"),
        path(
            f"{slug}/<int:pk>/comments/preview/",
            login_required(require_POST(views.preview)),
            name=f"{name}_comment_preview",
        ),
        path(
            f"{slug}/<int:pk>/comments/<int:comment_id>/edit/", login_required(views.edit), name=f"{name}_comment_edit"
        ),
        path(
            f"{slug}/<int:pk>/comments/<int:comment_id>/delete/",
            login_required(require_POST(views.delete)),
            name=f"{name}_comment_delete",
        ),
    ]
