"""Root URLs: pages, the generated record-type pages, the REST API and its documentation."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from rest_framework.routers import DefaultRouter

from meridian.cmdb.api.itop import ItopImportView
from meridian.cmdb.api.netbox import NetboxImportView
from meridian.core import api_token_views, registry, views, watch_views
from meridian.core.api.bulk import BulkJobView
from meridian.core.api.saved_views import SavedViewViewSet
from meridian.core.api.schema import DocsView, SchemaView
from meridian.core.api.tokens import ApiTokenDetailView, ApiTokenListView
from meridian.core.api.views import MeView, SearchView, viewset_for
from meridian.core.urls import record_type_patterns
from meridian.integrations.api import AlertmanagerView, GenericWebhookView
from meridian.portfolio.api import CatalogueEntryView, CatalogueView
from meridian.service_levels.api import AppliesView
from meridian.tickets.reports.api import ReportListView, ReportView

router = DefaultRouter()
router.register("core/saved-views", SavedViewViewSet, basename="core-saved-views")  # `core.saved_views`
for record_type in registry.all_types():
    router.register(
        f"{record_type.url_app}/{record_type.url_slug}",
        viewset_for(record_type),
        basename=f"{record_type.app_label}-{record_type.url_slug}",
    )

api_patterns = [
    path("search/", SearchView.as_view(), name="search"),
    path("me/", MeView.as_view(), name="me"),
    path("me/api-tokens/", ApiTokenListView.as_view(), name="api_tokens"),
    path("me/api-tokens/<int:pk>/", ApiTokenDetailView.as_view(), name="api_token"),
    path("core/bulk-jobs/<uuid:job_id>/", BulkJobView.as_view(), name="core-bulk-job"),  # `core.bulk`
    path("cmdb/netbox/import/", NetboxImportView.as_view(), name="cmdb-netbox-import"),  # `cmdb.netbox`
    path("cmdb/itop/import/", ItopImportView.as_view(), name="cmdb-itop-import"),  # `cmdb.itop`
    path("portfolio/catalogue/", CatalogueView.as_view(), name="portfolio-catalogue"),  # `portfolio.catalogue`
    path("portfolio/catalogue/<str:reference>/", CatalogueEntryView.as_view(), name="portfolio-catalogue-entry"),
    path("service-levels/applies/", AppliesView.as_view(), name="service-levels-applies"),  # `service_levels.applies`
    path("tickets/reports/", ReportListView.as_view(), name="tickets-reports"),  # `tickets.reports`
    path("tickets/reports/<int:pk>/", ReportView.as_view(), name="tickets-report"),
    # `integrations.alerts`: monitoring systems post here
    path("integrations/alertmanager/<slug:slug>/", AlertmanagerView.as_view(), name="integrations-alertmanager"),
    path("integrations/webhooks/<slug:slug>/", GenericWebhookView.as_view(), name="integrations-webhook"),
    *router.urls,
]

urlpatterns = [
    path("", views.home, name="home"),
    path("search/", views.search_page, name="search"),
    path("preferences/", views.preferences, name="preferences"),
    path("preferences/api-tokens/", api_token_views.api_tokens_page, name="api_tokens"),
    path("preferences/api-tokens/<int:pk>/revoke/", api_token_views.api_token_revoke, name="api_token_revoke"),
    path("watching/<str:token>/", watch_views.unfollow_link, name="watch_unfollow"),  # a mail's link: no login
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.logout_view, name="logout"),
    path(
        "password/change/",
        auth_views.PasswordChangeView.as_view(template_name="core/password_form.html"),
        name="password_change",
    ),
    path(
        "password/change/done/",
        auth_views.PasswordChangeDoneView.as_view(template_name="core/message.html"),
        name="password_change_done",
    ),
    path(
        "password/reset/",
        views.PasswordResetView.as_view(),
        name="password_reset",
    ),
    path(
        "password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="core/message.html"),
        name="password_reset_done",
    ),
    path(
        "password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(template_name="core/password_form.html"),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(template_name="core/message.html"),
        name="password_reset_complete",
    ),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", views.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/v1/", include((api_patterns, "api"), namespace="api")),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", login_required(DocsView.as_view(url_name="schema")), name="api-docs"),
    *record_type_patterns(),
]
