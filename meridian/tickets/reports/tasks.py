"""The periodic task of service reports (imported by the tickets app's `ready()`, as the other apps' tasks are)."""

from __future__ import annotations

from typing import Any

from meridian.core.tasks import periodic


@periodic("tickets.monthly_service_reports", minute="0", hour="12", day="1")
def monthly_service_reports(*, actor: Any) -> int:
    """On the 1st of each month (12:00 UTC: the 1st in every time zone): mail last month's service report of every
    agreed or active SLA and OLA to its owner, an OLA's team and each customer an SLA names (their own tickets
    only), once per agreement, period and recipient."""
    from meridian.tickets.reports.mail import send_monthly_reports

    return send_monthly_reports()
