"""factory_boy factories for the portfolio (tests and benchmarks). They write rows directly, without audit (and so
without the configuration item the services make: `services.keep_ci` gives one where a test needs it)."""

from __future__ import annotations

import factory

from meridian.portfolio import models


class ServiceCategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.ServiceCategory

    name = factory.Sequence(lambda n: f"Category {n}")


class ServiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Service

    name = factory.Sequence(lambda n: f"Service {n}")
    reference = factory.Sequence(lambda n: f"SVC-T{n:04d}")
    summary = "Mail for everyone."


# --- offerings ---


class OfferingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Offering

    service = factory.SubFactory(ServiceFactory)
    name = factory.Sequence(lambda n: f"Offering {n}")
    summary = "A new mailbox for a new colleague."


class ServiceProposalFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.ServiceProposal

    title = factory.Sequence(lambda n: f"Proposal {n}")
    reference = factory.Sequence(lambda n: f"SPR-T{n:04d}")
    proposed_service_name = factory.Sequence(lambda n: f"Proposed service {n}")
    origin = "customer"
    purpose = "Customers ask for it."


class ProposalCriterionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.ProposalCriterion

    name = factory.Sequence(lambda n: f"Criterion {n}")
    kind = "new"
    order = factory.Sequence(lambda n: 100 + n)
