"""Incidents, requests and categories through the generic mixins (pages, API, roles, exports, stale saves, links,
attachments, comments, watchers, imports, bulk), and the ticket lifecycles walked from every state as every role."""

from __future__ import annotations

from typing import Any

from meridian.cmdb.factories import ConfigurationItemFactory
from meridian.core.factories import TeamFactory
from meridian.core.testing import (
    CustomFieldTests,
    PrincipalsTestCase,
    RecordTypeTests,
    assert_lifecycle_walk,
    walks_lifecycle,
)
from meridian.tickets.factories import CategoryFactory, IncidentFactory, ServiceRequestFactory
from meridian.tickets.models import Approval, Category, Incident, ServiceRequest, Task
from meridian.tickets.tests.test_major import MajorIncidentActionInput


class TestCategory(RecordTypeTests):
    model = Category
    factory = CategoryFactory
    changed_data = {"name": "Email and calendar"}

    def new_data(self) -> dict[str, Any]:
        return {"name": "Email"}


class TicketActionInput:
    """Valid input of the ticket actions that take some, on a ticket where each is possible."""

    def action_record(self, record_action: Any) -> Any:
        team = TeamFactory(organisation=self.p.internal)  # type: ignore[attr-defined]
        if record_action.name == "rate":
            return self.factory(organisation=self.p.org_a, status="resolved")  # type: ignore[attr-defined]
        if record_action.name == "escalate":
            return self.factory(organisation=self.p.org_a, team=team)  # type: ignore[attr-defined]
        if record_action.name == "complete_task":
            request = self.factory(organisation=self.p.org_a, status="in_progress")  # type: ignore[attr-defined]
            Task.objects.create(request=request, title="Order the laptop", team=team, status="open")
            Task.objects.create(request=request, order=20, title="Hand it over", team=team)  # left: not yet fulfilled
            return request
        return super().action_record(record_action)  # type: ignore[misc]

    def action_input(self, record_action: Any, obj: Any, role: str) -> dict[str, Any]:
        if record_action.name == "rate":
            return {"rating": 5, "rating_comment": "Quick and friendly.", "reason": ""}
        if record_action.name == "escalate":
            return {"why": "Three customers called about it.", "reason": ""}
        if record_action.name == "complete_task":
            task = Task.objects.filter(request=obj).first()
            return {"task": task.pk if task else 0, "notes": "Ordered.", "reason": ""}
        if record_action.name == "assign":
            team = TeamFactory(organisation=self.p.internal)  # type: ignore[attr-defined]
            return {"team": team.pk, "reason": "generic test"}
        if record_action.name == "resolve":
            return {"resolution_code": "fixed", "resolution_notes": "Restarted the mail relay.", "reason": "test"}
        return super().action_input(record_action, obj, role)  # type: ignore[misc]


class DueIsATime:
    """`due` is a time from the clocks, not a count: the generic computed-field tests (counts, `+ 1` ranges) do not
    apply; `test_tickets.QueueTests` checks the sorting by it (API) and the queues."""

    def test_computed_fields_in_detail_list_api_and_export(self) -> None:
        self.skipTest("due is checked by test_tickets.QueueTests")  # type: ignore[attr-defined]

    def test_sorting_by_computed_annotations(self) -> None:
        self.skipTest("due is checked by test_tickets.QueueTests")  # type: ignore[attr-defined]


class TestIncident(CustomFieldTests, MajorIncidentActionInput, TicketActionInput, DueIsATime, RecordTypeTests):
    model = Incident
    factory = IncidentFactory
    changed_data = {"description": "Mail is slow for everybody since 9:00."}

    def new_data(self) -> dict[str, Any]:
        listed, _spare = ConfigurationItemFactory.create_batch(2, organisation=self.p.org_a)  # the spare: to add
        return {
            "title": "Cannot open the payroll application",
            "organisation": self.p.org_a,
            "impact": "medium",
            "urgency": "medium",
            "channel": "agent",
            "configuration_items": [listed],
        }


class TestServiceRequest(CustomFieldTests, TicketActionInput, DueIsATime, RecordTypeTests):
    model = ServiceRequest
    factory = ServiceRequestFactory
    changed_data = {"description": "A shared mailbox for the sales team."}

    def new_data(self) -> dict[str, Any]:
        listed, _spare = ConfigurationItemFactory.create_batch(2, organisation=self.p.org_a)
        return {
            "title": "New laptop for a starter",
            "organisation": self.p.org_a,
            "impact": "low",
            "urgency": "low",
            "channel": "portal",
            "configuration_items": [listed],
        }


class TicketLifecycleTests(PrincipalsTestCase):
    def inputs(self) -> dict[str, dict[str, Any]]:
        team = TeamFactory(organisation=self.p.internal)
        return {
            "assign": {"team": team},
            "resolve": {"resolution_code": "fixed", "resolution_notes": "Replaced the failed disk."},
        }

    @walks_lifecycle(Incident)
    def test_every_incident_action_from_every_state_as_every_role(self) -> None:
        make = lambda state: IncidentFactory(status=state)  # noqa: E731
        assert_lifecycle_walk(self, Incident, make, self.p, inputs=self.inputs())

    @walks_lifecycle(ServiceRequest)
    def test_every_request_action_from_every_state_as_every_role(self) -> None:
        make = lambda state: ServiceRequestFactory(status=state)  # noqa: E731

        def asked(state: str, action: str, user: Any) -> ServiceRequest:
            """A request on which `user` is the approver asked (only they may approve or reject)."""
            request = ServiceRequestFactory(status=state, organisation=self.p.org_a)
            Approval.objects.create(request=request, approver=user.person)
            return request

        assert_lifecycle_walk(self, ServiceRequest, make, self.p, make_allowed=asked, inputs=self.inputs())
