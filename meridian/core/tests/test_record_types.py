"""Every core record type through the generic mixins: pages, API, roles, tenancy, exports, stale saves."""

from __future__ import annotations

import datetime as dt
from typing import Any

from meridian.core.actions import RecordAction
from meridian.core.choices import CalendarExceptionKind, LocationKind, OrganisationKind, Role, TeamRole
from meridian.core.factories import (
    CalendarFactory,
    LocationFactory,
    OrganisationFactory,
    PersonFactory,
    TeamFactory,
)
from meridian.core.models import Calendar, Location, Organisation, Person, Team
from meridian.core.testing import ChildExample, CustomFieldTests, RecordTypeTests


class TestOrganisation(CustomFieldTests, RecordTypeTests):
    model = Organisation
    factory = OrganisationFactory
    changed_data = {"email": "desk@renamed.example", "phone": "+31 20 555 0000"}

    def new_data(self) -> dict[str, Any]:
        return {"name": "Zuidas Finance", "kind": OrganisationKind.CUSTOMER, "active": True}


class TestPerson(CustomFieldTests, RecordTypeTests):
    model = Person
    factory = PersonFactory
    changed_data = {"job_title": "Head of operations", "phone": "+31 6 1234 5678"}

    def new_data(self) -> dict[str, Any]:
        return {"first_name": "Noor", "last_name": "Visser", "email": "noor@a.example", "organisation": self.p.org_a}

    def action_input(self, record_action: RecordAction, obj: Any, role: str) -> dict[str, Any]:
        if record_action.name == "grant_login":  # a customer's person: a customer user's login
            return {"username": f"login-{obj.pk}-{role}", "roles": [Role.CUSTOMER_USER], "reason": "generic test"}
        return super().action_input(record_action, obj, role)


class TestTeam(RecordTypeTests):
    model = Team
    factory = TeamFactory
    changed_data = {"email": "noc@provider.example"}

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.member = PersonFactory(organisation=cls.p.internal)

    def new_data(self) -> dict[str, Any]:
        return {"name": "Database Team", "organisation": self.p.internal}

    def child_example(self, child: Any, organisation: Organisation | None) -> ChildExample:
        people = PersonFactory.create_batch(3, organisation=organisation)
        return ChildExample(
            rows=[
                {"person": people[0], "role": TeamRole.MEMBER, "since": dt.date(2025, 1, 6)},
                {"person": people[1], "role": TeamRole.DISPATCHER, "since": None},
                {"person": people[2], "role": TeamRole.TRAINEE, "since": dt.date(2026, 9, 1)},
            ],
            change={"role": TeamRole.DEPUTY_LEAD, "since": dt.date(2025, 2, 3)},
            invalid={"person": people[2], "role": TeamRole.MEMBER, "since": "not a date"},
            invalid_field="since",
        )


class TestLocation(RecordTypeTests):
    model = Location
    factory = LocationFactory
    changed_data = {"address": "Keizersgracht 1, Amsterdam"}

    def new_data(self) -> dict[str, Any]:
        return {"name": "Utrecht office", "kind": LocationKind.SITE, "organisation": self.p.org_a}


class TestCalendar(RecordTypeTests):
    model = Calendar
    factory = CalendarFactory
    changed_data = {"holiday_country": "DE", "holiday_subdivision": "BY"}

    def new_data(self) -> dict[str, Any]:
        return {"name": "Belgian hours", "time_zone": "Europe/Brussels", "holiday_country": "BE"}

    def child_example(self, child: Any, organisation: Organisation | None) -> ChildExample:
        return ChildExample(
            rows=[
                {"date": dt.date(2026, 12, 24), "kind": CalendarExceptionKind.CLOSED, "reason": "Christmas Eve"},
                {
                    "date": dt.date(2026, 12, 19),
                    "kind": CalendarExceptionKind.WORKING,
                    "start": dt.time(9),
                    "end": dt.time(13),
                    "reason": "Migration weekend",
                },
                {"date": dt.date(2026, 12, 31), "kind": CalendarExceptionKind.CLOSED, "reason": "Year-end closure"},
            ],
            change={"reason": "Office closed on Christmas Eve"},
            invalid={"date": dt.date(2026, 12, 27), "kind": CalendarExceptionKind.WORKING, "reason": "Stocktake"},
            invalid_field="start",
        )
