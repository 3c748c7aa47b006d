"""The service level agreement in a catalogue entry: what a customer reads of the SLA that applies to them for a
service (registered with `portfolio.catalogue.register_agreement_source`). Only the agreement chosen for the
reader's own organisation (`applies.choose_sla`: one naming them, or a standard one) — never another customer's."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from meridian.core.models import Organisation
from meridian.portfolio.models import Service
from meridian.service_levels.applies import Tie, choose_sla
from meridian.service_levels.models import working_time


def agreement_for(whose: Organisation | None, service: Service) -> dict[str, Any] | None:
    try:
        choice = choose_sla(whose, service, None, timezone.localdate())
    except Tie:
        return None  # a configuration error the provider sees on the agreements; the customer reads no guess
    if choice is None:
        return None
    agreement = choice.agreement
    calendar = agreement.support_hours
    return {
        "reference": agreement.reference,
        "name": agreement.name,
        "valid_to": agreement.valid_to,
        "support_hours": calendar.name,
        "availability_target": None
        if agreement.availability_target is None
        else f"{agreement.availability_target.normalize():f}",
        "targets": [
            {
                "priority": str(t.priority),
                "response": working_time(t.response_minutes),
                "resolution": working_time(t.resolution_minutes),
            }
            for t in agreement.targets.select_related("priority")
        ],
        "exceptions": [e.description for e in agreement.exceptions.all()],
        "your_responsibilities": agreement.party_responsibilities,
    }
