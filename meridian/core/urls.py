"""URLs of every registered record type's pages (`<app>:<model>_<action>`), generated from the registry."""

from __future__ import annotations

import importlib
import importlib.util
from collections import defaultdict
from typing import Any

from django.contrib.auth.decorators import login_required
from django.urls import include, path

from meridian.core import registry
from meridian.core.attachment_views import patterns_for
from meridian.core.bulk_views import patterns_for as bulk_patterns
from meridian.core.conversation_views import patterns_for as conversation_patterns
from meridian.core.import_views import patterns_for as import_patterns_for
from meridian.core.saved_view_pages import SavedViewPages
from meridian.core.views import RecordViews
from meridian.core.watch_views import patterns_for as watch_patterns


def record_type_patterns() -> list[Any]:
    per_app: dict[str, list[Any]] = defaultdict(list)
    for rt in registry.all_types():
        views = RecordViews(rt)
        saved = SavedViewPages(rt)  # the Views menu (`core.saved_views`)
        name, slug = rt.model_name, rt.url_slug
        per_app[rt.app_label] += [
            path(f"{slug}/", login_required(views.list), name=f"{name}_list"),
            path(f"{slug}/add/", login_required(views.form_page), name=f"{name}_add"),
            path(f"{slug}/columns/", login_required(views.columns), name=f"{name}_columns"),
            path(f"{slug}/views/", login_required(saved.create), name=f"{name}_views"),
            path(f"{slug}/views/<int:pk>/", login_required(saved.manage), name=f"{name}_view"),
            path(f"{slug}/<int:pk>/", login_required(views.detail), name=f"{name}_detail"),
            path(f"{slug}/<int:pk>/edit/", login_required(views.form_page), name=f"{name}_edit"),
            path(f"{slug}/<int:pk>/delete/", login_required(views.delete), name=f"{name}_delete"),
            path(f"{slug}/<int:pk>/actions/<slug:action>/", login_required(views.action), name=f"{name}_action"),
            path(f"{slug}/<int:pk>/related/<slug:name>/", login_required(views.related), name=f"{name}_related"),
            *patterns_for(rt),
            *conversation_patterns(rt),
            *watch_patterns(rt),  # follow / unfollow (`core.watchers`)
            *import_patterns_for(rt),
            *bulk_patterns(rt),  # bulk actions from the list (`core.bulk`)
        ]
        if rt.record_links:  # links between records (`core.links`)
            per_app[rt.app_label] += [
                path(f"{slug}/<int:pk>/links/", login_required(views.links), name=f"{name}_links"),
                path(
                    f"{slug}/<int:pk>/links/candidates/",
                    login_required(views.link_candidates),
                    name=f"{name}_link_candidates",
                ),
                path(
                    f"{slug}/<int:pk>/links/<int:link_id>/delete/", login_required(views.unlink), name=f"{name}_unlink"
                ),
            ]
    for app in per_app:  # an app's own pages beside the generated ones: `meridian/<app>/views.py` `urlpatterns`
        if importlib.util.find_spec(f"meridian.{app}.views") is not None:
            per_app[app] += getattr(importlib.import_module(f"meridian.{app}.views"), "urlpatterns", [])
    # the path is the app label in kebab case (`/service-levels/`), the namespace the label itself
    return [
        path(f"{app.replace('_', '-')}/", include((patterns, app), namespace=app)) for app, patterns in per_app.items()
    ]
