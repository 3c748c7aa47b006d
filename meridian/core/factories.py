"""factory_boy factories for the core records (tests and benchmarks). They write rows directly, without
audit: use the services when the audit trail matters to what you test."""

from __future__ import annotations

import datetime as dt
from typing import Any

import factory
from django.contrib.auth.models import Group

from meridian.core import models
from meridian.core.choices import OrganisationKind


class CalendarFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Calendar

    name = factory.Sequence(lambda n: f"Calendar {n}")
    time_zone = "Europe/Amsterdam"
    working_hours = factory.LazyFunction(lambda: {str(d): [["09:00", "17:00"]] for d in range(5)})
    holiday_country = "NL"


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Organisation

    name = factory.Sequence(lambda n: f"Organisation {n}")
    kind = OrganisationKind.CUSTOMER
    email = factory.Sequence(lambda n: f"contact{n}@org{n}.example")


class LocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Location

    name = factory.Sequence(lambda n: f"Site {n}")
    organisation = factory.SubFactory(OrganisationFactory)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery")

    @factory.post_generation
    def roles(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create and extracted:
            groups = [Group.objects.get_or_create(name=r)[0] for r in extracted]
            self.groups.set(groups)  # type: ignore[attr-defined]
        if create:
            self.save()  # type: ignore[attr-defined]


class PersonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Person

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda p: f"{p.first_name}.{p.last_name}@example.com".lower())
    organisation = factory.SubFactory(OrganisationFactory)


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Team

    name = factory.Sequence(lambda n: f"Team {n}")
    organisation = factory.SubFactory(OrganisationFactory, kind=OrganisationKind.INTERNAL)


class CalendarExceptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.CalendarException

    calendar = factory.SubFactory(CalendarFactory)
    date = factory.Sequence(lambda n: dt.date(2026, 1, 1) + dt.timedelta(days=n))
    reason = "Closed"


class CustomFieldFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.CustomField

    applies_to = "core.organisation"
    name = factory.Sequence(lambda n: f"field_{n}")
    label = factory.Sequence(lambda n: f"Field {n}")
    type = "text"
