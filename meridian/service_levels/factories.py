"""factory_boy factories for service levels (tests and benchmarks): rows written directly, without audit."""

from __future__ import annotations

import factory

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
