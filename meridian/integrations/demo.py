"""The demo's monitoring: one Alertmanager source (its address `/api/v1/integrations/alertmanager/prometheus/`), so the
page is not empty on a first start and an operator sees what one looks like. Posting to it needs an API token of a
login that may open incidents ([docs/users/monitoring.md](../../docs/users/monitoring.md))."""

from __future__ import annotations

from typing import Any

from meridian.core import services
from meridian.core.models import Team
from meridian.integrations.alert_models import AlertSource, AlertSourceKind
from meridian.portfolio.models import Service


def load(actor: Any) -> None:
    if AlertSource.objects.exists():
        return
    services.create_record(
        AlertSource,
        data={
            "name": "Prometheus (data centre)",
            "slug": "prometheus",
            "kind": AlertSourceKind.ALERTMANAGER,
            "description": "The provider's Prometheus and Alertmanager: host, database and application alerts.",
            "ci_labels": "instance, service",
            "service": Service.objects.filter(name="Hosting").first(),
            "team": Team.objects.filter(name="Platform Engineering").first(),
            "impact": "medium",
            "urgency": "medium",
        },
        actor=actor,
        reason="Demo data",
    )
