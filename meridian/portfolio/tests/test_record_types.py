"""The portfolio's record types through the generic mixins (pages, API, roles, exports, stale saves, children, links,
attachments, comments, watchers), and the service lifecycle walked from every state as every role."""

from __future__ import annotations

import itertools
from typing import Any

from django.db import transaction

from meridian.cmdb.choices import Level
from meridian.cmdb.tests.test_record_types import approved_change, control
from meridian.core.choices import Role
from meridian.core.factories import CalendarFactory, OrganisationFactory, PersonFactory
from meridian.core.testing import (
    ChildExample,
    CustomFieldTests,
    PrincipalsTestCase,
    RecordTypeTests,
    assert_lifecycle_walk,
    walks_lifecycle,
)
from meridian.portfolio import services
from meridian.portfolio.choices import ContactRole, DependencyKind
from meridian.portfolio.factories import ServiceCategoryFactory, ServiceFactory
from meridian.portfolio.models import Service, ServiceCategory

NAMES = itertools.count(1)


class TestServiceCategory(RecordTypeTests):
    model = ServiceCategory
    factory = ServiceCategoryFactory
    changed_data = {"description": "Mail, chat and telephony."}

    def new_data(self) -> dict[str, Any]:
        return {"name": "Communication", "order": 10}


class TestService(CustomFieldTests, RecordTypeTests):
    model = Service
    factory = ServiceFactory
    changed_data = {"summary": "Mail on every device, 50 GB per mailbox."}  # kept on its CI: under control with it

    def put_under_control(self, obj: Service) -> None:
        with transaction.atomic():
            services.keep_ci(obj, self.p.users[Role.ADMINISTRATOR])
        control(Service.objects.get(pk=obj.pk).configuration_item)

    def authorising(self, obj: Service) -> str:
        return approved_change(Service.objects.get(pk=obj.pk).configuration_item)

    def new_data(self) -> dict[str, Any]:
        return {
            "name": f"E-mail {next(NAMES)}",
            **dict.fromkeys(("confidentiality", "integrity", "availability"), Level.HIGH),
            "summary": "Mail, calendars and contacts for every employee.",
            "category": ServiceCategoryFactory(),
            "customers": [OrganisationFactory()],
            "service_hours": CalendarFactory(),
        }

    def child_example(self, child: Any, organisation: Any) -> ChildExample:
        if child.name == "targets":
            return ChildExample(
                rows=[
                    {"measure": "Availability", "target": "99.9 %"},
                    {"measure": "First response", "target": "30 min"},
                    {"measure": "Resolution of a P1", "target": "4 hours"},
                ],
                change={"period": "per calendar month"},
                invalid={"measure": "", "target": "1 h"},
                invalid_field="measure",
            )
        people = PersonFactory.create_batch(3, **({"organisation": organisation} if organisation else {}))
        if child.name == "contacts":
            return ChildExample(
                rows=[
                    {"person": people[0], "role": ContactRole.SERVICE_MANAGER},
                    {"person": people[1], "role": ContactRole.ESCALATION},
                    {"person": people[2], "role": ContactRole.TECHNICAL_LEAD},
                ],
                change={"customer_visible": False},
                invalid={"person": people[0], "role": "boss"},
                invalid_field="role",
            )
        return ChildExample(
            rows=[
                {
                    "kind": DependencyKind.SUPPLIER,
                    "party": OrganisationFactory(),
                    "responsibility": "Runs the SMS gateway.",
                },
                {"kind": DependencyKind.CUSTOMER, "responsibility": "Keeps its user list up to date."},
                {"kind": DependencyKind.INTERNAL_GROUP, "responsibility": "Network team: the mail relays' firewall."},
            ],
            change={"responsibility": "Answers within 4 hours."},
            invalid={"kind": "gods", "responsibility": "Weather"},
            invalid_field="kind",
        )


class ServiceLifecycleTests(PrincipalsTestCase):
    @walks_lifecycle(Service)
    def test_every_action_from_every_state_as_every_role(self) -> None:
        assert_lifecycle_walk(self, Service, lambda state: ServiceFactory(status=state, owner=PersonFactory()), self.p)
