"""The "Views" menu's forms on every list page (`core.saved_views`): save the current view, and update, rename,
delete or choose as default a saved one. A refused form comes back on the list page, in the open menu, with its
field errors (400; 409 for a view changed meanwhile); nothing of it is written."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.urls import reverse

from meridian.core import saved_views
from meridian.core.models import SavedView
from meridian.core.registry import VIEW, RecordType
from meridian.core.views import RecordViews
from meridian.utils.numbers import positive_int

ACTIONS = ("update", "rename", "delete", "default", "undefault")


def _sharing(value: str) -> tuple[str, Any]:
    """The menu's one "Share with" select: `private`, `everyone` or `team:<id>`."""
    if value.startswith("team:"):
        return SavedView.TEAM, value.removeprefix("team:")
    return value or SavedView.PRIVATE, None


class SavedViewPages:
    def __init__(self, record_type: RecordType) -> None:
        self.rt = record_type
        self.records = RecordViews(record_type)

    def _back(self, request: HttpRequest, menu_state: dict[str, Any], view: SavedView | None = None) -> HttpResponse:
        """The list page as the person left it (the query they posted from; else the view concerned), the menu
        open with the refusal."""
        request.GET = QueryDict(request.POST.get("next", ""), mutable=True)  # type: ignore[assignment]
        if view is not None and request.GET.get("view") != str(view.pk):
            request.GET = QueryDict(f"view={view.pk}", mutable=True)  # type: ignore[assignment]
        if not request.GET:
            request.GET = QueryDict(f"view={saved_views.NO_VIEW}", mutable=True)  # type: ignore[assignment]
        return self.records.list(request, menu_state={"open": True, **menu_state})

    def create(self, request: HttpRequest) -> HttpResponse:
        """POST: save the current filters, sort and columns as a new view."""
        self.records.require_type(request, VIEW)
        if request.method != "POST":
            return HttpResponse(status=405)
        sharing, team = _sharing(request.POST.get("sharing", ""))
        try:
            view = saved_views.save_view(
                self.rt,
                request.user,
                name=request.POST.get("name", ""),
                query=request.POST.get("query", ""),
                columns=request.POST.get("columns", ""),
                sharing=sharing,
                team=team,
                default=bool(request.POST.get("default")),
                show_on_home=bool(request.POST.get("show_on_home")),
            )
        except ValidationError as exc:
            return self._back(
                request,
                {"form": "save", "errors": exc.message_dict, "values": request.POST, "status": 400},
            )
        messages.success(request, f"View “{view.name}” saved.")
        return HttpResponseRedirect(saved_views.view_url(self.rt, view))

    def manage(self, request: HttpRequest, pk: int) -> HttpResponse:
        """POST `action`: update (with the posted query and columns), rename, delete, default or undefault."""
        self.records.require_type(request, VIEW)
        if request.method != "POST":
            return HttpResponse(status=405)
        view = saved_views.find_view(request.user, self.rt, pk)
        if view is None:
            raise Http404("No such saved view.")
        action = request.POST.get("action", "")
        if action not in ACTIONS:
            return self._back(request, {"form": view.pk, "errors": {"action": ["Not an action."]}, "status": 400}, view)
        if action in ("default", "undefault"):  # the person's own choice, of any view they may open
            saved_views.set_default(self.rt, request.user, view if action == "default" else None)
            messages.success(
                request,
                f"“{view.name}” now opens first." if action == "default" else "The list opens with all records again.",
            )
            return HttpResponseRedirect(saved_views.view_url(self.rt, view))
        version = positive_int(request.POST.get("version", ""))
        try:
            if version is None:
                raise ValidationError({"version": "The page sent no version of the view; reload it."})
            if action == "delete":
                saved_views.delete_view(view, request.user, expected_version=version)
                messages.success(request, f"View “{view.name}” deleted.")
                return HttpResponseRedirect(f"{reverse(self.rt.url_name('list'))}?view={saved_views.NO_VIEW}")
            if action == "rename":
                changes: dict[str, Any] = {"name": request.POST.get("name", "")}
            else:
                changes = {"query": request.POST.get("query", ""), "columns": request.POST.get("columns", "")}
            view = saved_views.update_view(view, request.user, expected_version=version, **changes)
        except saved_views.StaleView as exc:
            return self._back(request, {"form": view.pk, "errors": {"version": [str(exc)]}, "status": 409}, view)
        except ValidationError as exc:
            return self._back(
                request, {"form": view.pk, "errors": exc.message_dict, "values": request.POST, "status": 400}, view
            )
        messages.success(request, f"View “{view.name}” {'renamed' if action == 'rename' else 'updated'}.")
        return HttpResponseRedirect(saved_views.view_url(self.rt, view))
