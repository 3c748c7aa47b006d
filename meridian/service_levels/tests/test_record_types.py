"""The service level record types through the generic mixins (pages, API, roles, exports, stale saves, imports)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from meridian.core.choices import OrganisationKind
from meridian.core.factories import CalendarFactory, OrganisationFactory, PersonFactory
from meridian.core.testing import (
    ChildExample,
    PrincipalsTestCase,
    RecordTypeTests,
    assert_lifecycle_walk,
    walks_lifecycle,
)
from meridian.portfolio.factories import ServiceFactory
from meridian.service_levels.choices import AgreementKind, ExceptionKind, WorkloadMeasure, WorkloadPeriod
from meridian.service_levels.factories import AgreementFactory, AgreementTargetFactory, PriorityFactory
from meridian.service_levels.models import Agreement, Priority


class TestPriority(RecordTypeTests):
    model = Priority
    factory = PriorityFactory
    changed_data = {"description": "Whole service down."}

    def new_data(self) -> dict[str, Any]:
        return {"name": "P0 – Disaster", "rank": 99}


class TestAgreement(RecordTypeTests):
    model = Agreement
    factory = AgreementFactory
    changed_data = {"description": "Round the clock for the warehouses."}

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        ServiceFactory.create_batch(2)  # for the generic tests to link
        OrganisationFactory.create_batch(2, kind=OrganisationKind.CUSTOMER)

    def new_data(self) -> dict[str, Any]:
        return {
            "kind": AgreementKind.SLA,
            "name": "Warehouse operations",
            "valid_from": date(2026, 1, 1),
            "support_hours": CalendarFactory(),
            "customers": [OrganisationFactory(kind=OrganisationKind.CUSTOMER)],
            "services": [ServiceFactory()],
            "availability_target": Decimal("99.9"),
            "review_interval": 12,
        }

    def child_example(self, child: Any, organisation: Any) -> ChildExample:
        if child.name == "targets":
            p1, p2, p3 = Priority.objects.order_by("rank")[:3]
            return ChildExample(
                rows=[
                    {"priority": p1, "response_minutes": 15, "resolution_minutes": 240},
                    {"priority": p2, "response_minutes": 30, "resolution_minutes": 480},
                    {"priority": p3, "resolution_minutes": 1440},
                ],
                change={"resolution_minutes": 2880},
                invalid={"priority": p1, "response_minutes": 600, "resolution_minutes": 60},
                invalid_field="response_minutes",
            )
        if child.name == "measured_targets":
            return ChildExample(
                rows=[
                    {
                        "measure": "First-call resolution",
                        "direction": "at_least",
                        "target": Decimal("70"),
                        "unit": "%",
                        "source": "Monthly",
                    },
                    {
                        "measure": "Satisfaction",
                        "direction": "at_least",
                        "target": Decimal("4.2"),
                        "unit": "of 5",
                        "source": "Survey",
                    },
                    {
                        "measure": "Portal response",
                        "direction": "at_most",
                        "target": Decimal("800"),
                        "unit": "ms",
                        "source": "Monitoring",
                    },
                ],
                change={"source": "Quarterly survey"},
                invalid={"measure": "Speed", "target": Decimal("1"), "unit": "ms", "source": "x", "direction": "up"},
                invalid_field="direction",
            )
        if child.name == "workload_limits":
            return ChildExample(
                rows=[
                    {"measure": WorkloadMeasure.REQUESTS, "limit": 200, "period": WorkloadPeriod.MONTH},
                    {"measure": WorkloadMeasure.RECIPIENTS, "limit": 5000, "period": WorkloadPeriod.EACH},
                    {"measure": WorkloadMeasure.INCIDENTS, "limit": 40, "period": WorkloadPeriod.WEEK},
                ],
                change={"limit": 250},
                invalid={"measure": WorkloadMeasure.OTHER, "limit": 5, "period": WorkloadPeriod.DAY},
                invalid_field="description",
            )
        return ChildExample(
            rows=[
                {"kind": ExceptionKind.EXCLUDED, "description": "Printers owned by the customer."},
                {"kind": ExceptionKind.SUSPENDED, "description": "Announced maintenance, Sundays 02:00-04:00."},
                {"kind": ExceptionKind.CUSTOMER, "description": "Keeping the list of named users up to date."},
            ],
            change={"description": "Scanners and printers owned by the customer."},
            invalid={"kind": "acts_of_god", "description": "Storms"},
            invalid_field="kind",
        )


def in_state(state: str, **extra: Any) -> Agreement:
    agreement = AgreementFactory(status=state, owner=PersonFactory(), **extra)
    AgreementTargetFactory(agreement=agreement)
    return agreement


def allowed(state: str, action: str, actor: Any) -> Agreement:
    if action == "expire":
        return in_state(state, valid_from=date(2020, 1, 1), valid_to=date(2021, 1, 1))
    return in_state(state)


class AgreementLifecycleTests(PrincipalsTestCase):
    @walks_lifecycle(Agreement)
    def test_every_action_from_every_state_as_every_role(self) -> None:
        assert_lifecycle_walk(self, Agreement, in_state, self.p, make_allowed=allowed)
