"""The tickets app's background work (for the reports branch: Huey finds periodic tasks in an app's `tasks`)."""

from meridian.tickets.reports.tasks import monthly_service_reports  # noqa: F401
