"""Pages of watchers (`core.watchers`): the Follow / Following button of a record's page (htmx swaps it in place;
without script the form posts and the page comes back), the unfollow buttons of the preferences page, and the page
a mail's unfollow link opens (no login: it asks on GET and unfollows on POST)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core import signing
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from meridian.core import policy, watchers
from meridian.core.models import Record
from meridian.core.registry import VIEW, RecordType
from meridian.core.views import RecordViews


def panel(obj: Record, record_type: RecordType, user: Any) -> dict[str, Any]:
    """What the button shows to this reader: whether they follow, the follow and unfollow addresses, and for staff
    how many follow and who (with why)."""
    visible = watchers.watchers_for(obj, user)  # every follower for staff, their own watch for a customer user
    own = next((w for w in visible if w.person.user_id == user.pk), None)
    staff = watchers.may_see_followers(user)
    rows = visible if staff else []
    return {
        "following": own is not None,
        "own_reason": watchers.reason_label(record_type, own.reason) if own else "",
        "may_follow": own is not None or watchers.person_of(user) is not None,
        "staff": staff,
        "count": len(rows),
        "rows": [
            {
                "name": policy.shown(user, w.person),
                "url": w.person.get_absolute_url() if policy.can(user, VIEW, w.person) else "",
                "reason": watchers.reason_label(record_type, w.reason),
                "since": w.created_at,
                "you": w.person.user_id == getattr(user, "pk", None),
            }
            for w in rows
        ],
        "follow_url": reverse(record_type.url_name("follow"), args=[obj.pk]),
        "unfollow_url": reverse(record_type.url_name("unfollow"), args=[obj.pk]),
        "verbose_name": record_type.verbose_name,
    }


def _next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return default


class WatchViews:
    """Follow and unfollow one record of a type that opted in."""

    def __init__(self, record_type: RecordType) -> None:
        self.rt = record_type
        self.records = RecordViews(record_type)

    def _record(self, request: HttpRequest, pk: int) -> Record:
        watchers.declaration(self.rt)
        return self.records.get_object(request, pk)  # type: ignore[no-any-return]  # 404 when not visible

    def _answer(self, request: HttpRequest, obj: Record, done: str, status: int = 200) -> HttpResponse:
        if request.headers.get("HX-Request"):
            context = {"obj": obj, "rt": self.rt, "watch": panel(obj, self.rt, request.user), "watch_done": done}
            return render(request, "core/_watch.html", context, status=status)
        if status < 400:
            messages.success(request, done)
        else:
            messages.error(request, done)
        return HttpResponseRedirect(_next(request, obj.get_absolute_url()), status=303)

    def follow(self, request: HttpRequest, pk: int) -> HttpResponse:
        obj = self._record(request, pk)
        try:
            watchers.follow(obj, actor=request.user)
        except ValidationError as exc:
            return self._answer(request, obj, " ".join(exc.messages), status=400)
        return self._answer(request, obj, f"You follow this {self.rt.verbose_name}: you get a mail about each change.")

    def unfollow(self, request: HttpRequest, pk: int) -> HttpResponse:
        obj = self._record(request, pk)
        watchers.unfollow(obj, actor=request.user)
        return self._answer(request, obj, f"You no longer follow “{policy.name_of(request.user, obj)}”.")


def patterns_for(record_type: RecordType) -> list[Any]:
    """The follow routes of a type that opted in (none for the others)."""
    from django.contrib.auth.decorators import login_required
    from django.urls import path

    if getattr(record_type, "watchers", None) is None:
        return []
    views = WatchViews(record_type)
    name, slug = record_type.model_name, record_type.url_slug
    return [
        path(f"{slug}/<int:pk>/follow/", login_required(require_POST(views.follow)), name=f"{name}_follow"),
        path(f"{slug}/<int:pk>/unfollow/", login_required(require_POST(views.unfollow)), name=f"{name}_unfollow"),
    ]


@require_http_methods(["GET", "POST"])
def unfollow_link(request: HttpRequest, token: str) -> HttpResponse:
    """The page of a mail's unfollow link, for whoever holds it, logged in or not: GET asks ("Stop following …?"),
    POST unfollows. A link that is not ours (tampered, cut short) is a 400 page saying so."""
    try:
        found = watchers.read_token(token) if request.method == "GET" else watchers.unfollow_by_token(token)
    except signing.BadSignature:
        return render(request, "core/watch_unfollow.html", {"bad": True}, status=400)
    gone = found.watch is None
    context = {"found": found, "done": request.method == "POST" and not gone, "gone": gone}
    return render(request, "core/watch_unfollow.html", context)
