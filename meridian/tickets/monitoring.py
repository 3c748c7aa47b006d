"""Incidents from monitoring (`integrations.alerts`): the tickets app's alert handler, registered when this module is
imported (`TicketsConfig.ready`). An alert group opens an incident (channel *monitoring*) with its source's service,
assignment team, customer, impact and urgency and the CIs its alerts name; a change of its alerts is an internal work
note (and the new alerts' CIs are linked); when its alerts resolve, the incident is resolved. Everything goes through
the generic services as the monitoring system's login: audited, classified, clocks started and following the status
like any incident's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import models

from meridian.core import conversation, policy, registry, services
from meridian.core.registry import ADD
from meridian.integrations.alerts import Received, register_alert_handler
from meridian.tickets.choices import ACTIVE, Channel, ResolutionCode
from meridian.tickets.models import Incident

RESOLVED_BY_MONITORING = (
    "The monitoring reports recovery: every alert of the group is resolved. Reopen the incident if the service is "
    "still impaired."
)


def organisation_of(received: Received) -> Any:
    """The incident's organisation: the source's customer, else the monitoring login's own (the provider's)."""
    if received.source.organisation_id:
        return received.source.organisation
    person = getattr(received.actor, "person", None)
    return person.organisation if person is not None else None


def linkable(organisation: Any, cis: list[Any]) -> list[Any]:
    """The CIs an incident of `organisation` may link: its own, or those of no organisation (the provider's shared
    ones); `integrations.alerts.cis_named` already keeps to these, this keeps the tenancy rule whatever it gives."""
    return [ci for ci in cis if ci.organisation_id in (None, getattr(organisation, "pk", None))]


def _retried(write: Callable[[Incident], object], record: models.Model, attempts: int = 3) -> None:
    """`write(incident)` on the incident as stored now, again when someone saved it in between (`StaleVersion`): the
    alerts' change is not theirs to lose, and Alertmanager does not retry a 409."""
    for attempt in range(attempts):
        try:
            write(Incident.objects.get(pk=record.pk))
            return
        except services.StaleVersion:
            if attempt == attempts - 1:
                raise


class IncidentAlerts:
    """The `integrations.alerts.AlertHandler` of incidents."""

    def may_receive(self, user: Any) -> bool:
        """May open incidents and resolve them (a service desk agent, a resolver, an administrator)."""
        lifecycle = registry.get(Incident).lifecycle
        resolve = lifecycle.get("resolve") if lifecycle is not None else None
        return policy.can(user, ADD, Incident) and resolve is not None and services.may_transition(resolve, user)

    def open(self, received: Received) -> models.Model:
        source, organisation = received.source, organisation_of(received)
        data: dict[str, Any] = {
            "title": received.delivery.title,
            "description": received.description(),
            "organisation": organisation,
            "service": source.service,
            "team": source.team,
            "impact": source.impact,
            "urgency": source.urgency_for([alert.severity for alert in received.delivery.firing]),
            "channel": Channel.MONITORING,
            "configuration_items": linkable(organisation, received.cis),
        }
        return services.create_record(Incident, data=data, actor=received.actor)

    def update(self, record: models.Model, received: Received) -> None:
        incident = Incident.objects.get(pk=record.pk)
        conversation.post_comment(
            incident, actor=received.actor, body=received.changes.summary(), visibility=conversation.INTERNAL
        )

        def link_new_cis(incident: Incident) -> None:
            linked = list(incident.configuration_items.all())
            new = [ci for ci in linkable(incident.organisation, received.cis) if ci not in linked]
            if new:
                services.update_record(
                    incident,
                    data={"configuration_items": [*linked, *new]},
                    actor=received.actor,
                    expected_version=incident.version,
                )

        _retried(link_new_cis, record)

    def resolve(self, record: models.Model, received: Received) -> None:
        incident = Incident.objects.get(pk=record.pk)
        conversation.post_comment(
            incident, actor=received.actor, body=received.changes.summary(), visibility=conversation.INTERNAL
        )
        _retried(
            lambda incident: services.transition(
                incident,
                "resolve",
                actor=received.actor,
                expected_version=incident.version,
                values={"resolution_code": ResolutionCode.FIXED, "resolution_notes": RESOLVED_BY_MONITORING},
            ),
            record,
        )

    def is_open(self, record: models.Model) -> bool:
        """Not yet resolved (new, assigned, in progress, pending): a resolved, closed or cancelled incident takes no
        more updates from its alerts, and a new alert of its group opens another."""
        return getattr(record, "status", None) in ACTIVE


register_alert_handler(IncidentAlerts())
