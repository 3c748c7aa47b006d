"""The tickets app's own pages (for the reports branch only: the lead's file adds this line)."""

from meridian.tickets.reports import views as reports_views

urlpatterns: list = []
urlpatterns += reports_views.urlpatterns
