"""Background work of the tickets: resolved tickets close by themselves after MERIDIAN_TICKET_AUTOCLOSE_DAYS."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from meridian.core.tasks import periodic


@periodic("tickets.autoclose", minute="17")
def autoclose(*, actor: Any) -> int:
    """Every hour: close each ticket resolved more than MERIDIAN_TICKET_AUTOCLOSE_DAYS ago that the customer has neither
    confirmed nor reopened (as the system, with the reason said)."""
    from django.conf import settings
    from django.utils import timezone

    from meridian.core import services
    from meridian.tickets.choices import Status
    from meridian.tickets.models import Incident, ServiceRequest

    days = int(settings.MERIDIAN_TICKET_AUTOCLOSE_DAYS)
    before = timezone.now() - timedelta(days=days)
    closed = 0
    for model in (Incident, ServiceRequest):
        for ticket in model.objects.filter(status=Status.RESOLVED, resolved_at__lt=before).order_by("pk")[:500]:
            try:
                services.transition(
                    ticket,
                    "close",
                    actor=actor,
                    expected_version=ticket.version,
                    reason=f"Closed by itself: not confirmed or reopened within {days} days of its resolution.",
                )
            except (services.StaleVersion, services.TransitionNotAllowed):
                continue  # changed meanwhile: the next run looks again
            closed += 1
    return closed
