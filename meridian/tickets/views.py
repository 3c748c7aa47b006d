"""The tickets app's own pages beside the generated ones: the service reports (`tickets.reports`)."""

from __future__ import annotations

from typing import Any

from meridian.tickets.reports import views as reports_views

urlpatterns: list[Any] = [*reports_views.urlpatterns]
