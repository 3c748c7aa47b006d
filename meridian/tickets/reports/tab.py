"""The "Service report" tab of an agreement's page (declared in `service_levels.records`): links to its report of
last month, the last quarter and the last six months."""

from __future__ import annotations

from typing import Any

from meridian.service_levels.choices import AgreementKind
from meridian.service_levels.models import Agreement
from meridian.tickets.reports import compute
from meridian.tickets.reports.views import READERS, report_url

TAB_ROLES = READERS  # customer users open their report from the menu (narrowed to their organisation)


def tab_context(agreement: Agreement, user: Any) -> dict[str, Any]:
    if agreement.kind not in (AgreementKind.SLA, AgreementKind.OLA):
        return {"agreement": agreement, "links": []}
    month = compute.previous_month(agreement)
    tz = month.tz
    quarter_index = (month.last.month - 1) // 3 + 1
    quarter = compute.Period.quarter(month.last.year, quarter_index, tz)
    if quarter.last > month.last:  # the quarter holding last month is not over: the one before
        year, first_month = compute.add_months(quarter.first.year, quarter.first.month, -3)
        quarter = compute.Period.quarter(year, (first_month - 1) // 3 + 1, tz)
    six = month.trend_months()
    half = compute.Period(six[0].first, six[-1].last, tz)
    links = [(p.label, report_url(agreement, p)) for p in (month, quarter, half)]
    return {"agreement": agreement, "links": links}
