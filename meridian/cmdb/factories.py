"""factory_boy factories for the CMDB (tests and benchmarks). They write rows directly, without audit."""

from __future__ import annotations

import datetime as dt

import factory

from meridian.cmdb import choices, models


class CIClassFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.CIClass

    name = factory.Sequence(lambda n: f"Class {n}")


class ConfigurationItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.ConfigurationItem

    name = factory.Sequence(lambda n: f"ci-{n:04d}")
    reference = factory.Sequence(lambda n: f"CI-T{n:06d}")
    ci_class = factory.SubFactory(CIClassFactory)


class RelationshipKindFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.RelationshipKind

    name = factory.Sequence(lambda n: f"kind {n}")
    forward_label = factory.Sequence(lambda n: f"relates {n} to")
    reverse_label = factory.Sequence(lambda n: f"is related {n} by")
    propagates = choices.Propagation.TO_SOURCE


class RelationshipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Relationship

    source = factory.SubFactory(ConfigurationItemFactory)
    target = factory.SubFactory(ConfigurationItemFactory, organisation=factory.SelfAttribute("..source.organisation"))
    kind = factory.SubFactory(RelationshipKindFactory)


class RedundancyGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.RedundancyGroup
        skip_postgeneration_save = True

    ci = factory.SubFactory(ConfigurationItemFactory)
    required_up = 1

    @factory.post_generation
    def members(self, create: bool, extracted: object, **kwargs: object) -> None:
        if not create:
            return
        members = (
            extracted
            if extracted is not None
            else ConfigurationItemFactory.create_batch(
                2,
                organisation=self.ci.organisation,  # type: ignore[attr-defined]
            )
        )
        self.members.set(members)  # type: ignore[attr-defined]


class BaselineScheduleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.BaselineSchedule

    name = factory.Sequence(lambda n: f"Nightly {n}")
    scope = choices.BaselineScope.CI_CLASS
    scope_class = factory.SubFactory(CIClassFactory)
    frequency = choices.ScheduleFrequency.DAILY


class BaselineFactory(factory.django.DjangoModelFactory):
    """A baseline row without its CIs (the service `baselines.take_baseline` records them)."""

    class Meta:
        model = models.Baseline

    name = factory.Sequence(lambda n: f"Baseline {n}")
    reference = factory.Sequence(lambda n: f"BL-T{n:06d}")
    scope = choices.BaselineScope.ALL
    scope_description = "every CI"


class ConfigurationAuditFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.ConfigurationAudit

    name = factory.Sequence(lambda n: f"Audit {n}")
    reference = factory.Sequence(lambda n: f"CA-T{n:06d}")
    scope = choices.BaselineScope.ALL
    period_start = dt.datetime(2026, 1, 1, 8, 0, tzinfo=dt.UTC)
    period_end = dt.datetime(2026, 3, 31, 18, 0, tzinfo=dt.UTC)


class FindingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Finding

    audit = factory.SubFactory(ConfigurationAuditFactory)
    kind = choices.FindingKind.MISSING
    summary = factory.Sequence(lambda n: f"ci-{n:04d} is recorded but was not discovered.")
