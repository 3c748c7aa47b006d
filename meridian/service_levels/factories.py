"""factory_boy factories for service levels (tests and benchmarks): rows written directly, without audit."""

from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone

from meridian.core.factories import CalendarFactory
from meridian.service_levels import models
from meridian.service_levels.choices import Impact, Urgency

CELLS = [(impact, urgency) for impact in Impact.values for urgency in Urgency.values]


class PriorityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Priority

    name = factory.Sequence(lambda n: f"P{n + 10} – Test")
    rank = factory.Sequence(lambda n: n + 10)  # the seeded matrix holds ranks 1-4


class PriorityRuleFactory(factory.django.DjangoModelFactory):
    """A cell of the matrix; the seeded cells must be removed first (each impact × urgency is one cell)."""

    class Meta:
        model = models.PriorityRule

    impact = factory.Sequence(lambda n: CELLS[n % len(CELLS)][0])
    urgency = factory.Sequence(lambda n: CELLS[n % len(CELLS)][1])
    priority = factory.SubFactory(PriorityFactory)


class AgreementFactory(factory.django.DjangoModelFactory):
    """A draft SLA valid from last month, counting in a 24x7 calendar (pass `support_hours=` for another)."""

    class Meta:
        model = models.Agreement

    kind = "sla"
    name = factory.Sequence(lambda n: f"Agreement {n}")
    reference = factory.Sequence(lambda n: f"SLA-T{n:04d}")
    valid_from = factory.LazyFunction(lambda: timezone.localdate() - timedelta(days=30))
    support_hours = factory.SubFactory(CalendarFactory, always_open=True)


class AgreementTargetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.AgreementTarget

    agreement = factory.SubFactory(AgreementFactory)
    priority = factory.LazyFunction(lambda: models.Priority.objects.order_by("rank").first())
    response_minutes = 30
    resolution_minutes = 240
