"""factory_boy factories for incidents and requests (tests and benchmarks). They write rows directly, without audit
and without clocks; tests that need clocks open tickets through the services."""

from __future__ import annotations

import factory

from meridian.core.factories import OrganisationFactory
from meridian.service_levels.priorities import priority_for
from meridian.tickets import models


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Category

    name = factory.Sequence(lambda n: f"Category {n}")


class IncidentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Incident

    title = factory.Sequence(lambda n: f"Incident {n}")
    impact = "low"
    urgency = "medium"
    reference = factory.Sequence(lambda n: f"INC-T{n:06d}")
    organisation = factory.SubFactory(OrganisationFactory)
    priority = factory.LazyAttribute(lambda ticket: priority_for(ticket.impact, ticket.urgency))


class ServiceRequestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.ServiceRequest

    title = factory.Sequence(lambda n: f"Request {n}")
    impact = "low"
    urgency = "medium"
    reference = factory.Sequence(lambda n: f"REQ-T{n:06d}")
    organisation = factory.SubFactory(OrganisationFactory)
    priority = factory.LazyAttribute(lambda ticket: priority_for(ticket.impact, ticket.urgency))
