"""factory_boy factories for change management (tests and benchmarks). They write rows directly, without audit."""

from __future__ import annotations

import factory

from meridian.changes import models


class ChangeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Change

    title = factory.Sequence(lambda n: f"Change {n}")
    reference = factory.Sequence(lambda n: f"CHG-T{n:06d}")
