"""Major incidents: the criteria propose a P1, a declaration tells management once with the time recorded, a customer
update reaches exactly the customers the incident reaches (each about its own services), closing needs the review,
and a customer of another organisation sees nothing. The criteria's record type through the generic tests;
`MajorIncidentActionInput` gives the generic incident tests (`test_record_types.TestIncident`) the actions' input."""

from __future__ import annotations

import itertools
from typing import Any

import factory
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.urls import reverse

from meridian.cmdb.factories import CIClassFactory, ConfigurationItemFactory, RelationshipFactory
from meridian.cmdb.models import CIClass
from meridian.core import actions, services
from meridian.core.choices import Role
from meridian.core.factories import OrganisationFactory, PersonFactory
from meridian.core.models import AuditEvent, Comment, NotificationLog
from meridian.core.testing import PrincipalsTestCase, RecordTypeTests, api_client
from meridian.portfolio.choices import ContactRole
from meridian.portfolio.factories import ServiceFactory
from meridian.portfolio.models import ServiceContact
from meridian.service_levels.models import Priority
from meridian.tickets import major
from meridian.tickets.factories import IncidentFactory
from meridian.tickets.models import Incident, MajorIncidentCriterion, MajorIncidentReview, MajorIncidentUpdate

NAMES = itertools.count(1)
BOARD = ["ceo@provider.example", "cio@provider.example"]


class MajorIncidentCriterionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MajorIncidentCriterion

    name = factory.Sequence(lambda n: f"Criterion {n}")
    customers_reached_at_least = 3


class TestMajorIncidentCriterion(RecordTypeTests):
    model = MajorIncidentCriterion
    factory = MajorIncidentCriterionFactory
    changed_data = {"description": "The continuity policy, section 2: a P1 is major."}

    def new_data(self) -> dict[str, Any]:
        return {"name": f"P1 {next(NAMES)}", "priority_at_least": Priority.objects.get(rank=1), "order": 10}


class MajorIncidentActionInput:
    """For `TestIncident`: a record on which each major incident action is possible, and its input. A customer update
    also posts a public comment, whose event is the conversation's own: it is not the action's event."""

    def action_record(self, record_action: Any) -> Any:
        if record_action.name == "declare_major":
            return IncidentFactory(organisation=self.p.org_a)  # type: ignore[attr-defined]
        if record_action.name in ("send_customer_update", "record_review"):
            return IncidentFactory(organisation=self.p.org_a, major=True, status="in_progress")  # type: ignore[attr-defined]
        return super().action_record(record_action)  # type: ignore[misc]

    def action_input(self, record_action: Any, obj: Any, role: str) -> dict[str, Any]:
        if record_action.name == "declare_major":
            manager = self.p.users[Role.SERVICE_DESK_AGENT].person  # type: ignore[attr-defined]
            return {"manager": manager.pk, "why": "Mail is down for every customer.", "reason": ""}
        if record_action.name == "send_customer_update":
            return {"text": "The mail relay is being replaced; next update at 14:00.", "reason": ""}
        if record_action.name == "record_review":
            return {"what_happened": "The relay's disk filled.", "timeline": "09:00 down\n11:00 up", "reason": ""}
        return super().action_input(record_action, obj, role)  # type: ignore[misc]

    def action_events(self, obj: Any) -> list[AuditEvent]:
        return [e for e in super().action_events(obj) if "comment" not in e.changes]  # type: ignore[misc]


def run(action: Any, incident: Incident, actor: Any, **values: Any) -> Any:
    current = Incident.objects.get(pk=incident.pk)
    return actions.run(action, current, actor=actor, expected_version=current.version, values=values)


class MajorIncidentTests(PrincipalsTestCase):
    def setUp(self) -> None:
        self.agent = self.p.users[Role.SERVICE_DESK_AGENT]
        self.manager = self.p.users[Role.RESOLVER].person

    def test_a_criterion_proposes_a_p1_and_not_a_p3(self) -> None:
        MajorIncidentCriterion.objects.create(name="Every P1", priority_at_least=Priority.objects.get(rank=1))
        data = {"title": "Mail is down", "organisation": self.p.org_a, "channel": "agent"}
        p1 = services.create_record(Incident, data={**data, "impact": "high", "urgency": "high"}, actor=self.agent)
        p3 = services.create_record(Incident, data={**data, "impact": "medium", "urgency": "medium"}, actor=self.agent)
        p1, p3 = Incident.objects.get(pk=p1.pk), Incident.objects.get(pk=p3.pk)
        self.assertIsNotNone(p1.major_proposed_at)
        self.assertFalse(p1.major, "proposed, not declared")
        self.assertIn("Every P1", p1.major_reason)
        self.assertEqual(p1.major_criterion.name, "Every P1")
        proposed = [e for e in AuditEvent.objects.filter(record_id=str(p1.pk)) if "major_proposed" in e.changes]
        self.assertEqual(len(proposed), 1)
        self.assertIsNone(p3.major_proposed_at)
        # a later edit does not propose it twice
        services.update_record(p1, data={"urgency": "high"}, actor=self.agent, expected_version=p1.version)
        services.update_record(
            Incident.objects.get(pk=p1.pk), data={"impact": "high"}, actor=self.agent, expected_version=p1.version
        )
        again = [e for e in AuditEvent.objects.filter(record_id=str(p1.pk)) if "major_proposed" in e.changes]
        self.assertEqual(len(again), 1)

    @override_settings(MERIDIAN_MAJOR_INCIDENT_NOTIFY=BOARD)
    def test_declaring_by_hand_tells_management_once_with_the_time_recorded(self) -> None:
        incident = IncidentFactory(organisation=self.p.org_a, status="in_progress")
        run(major.DECLARE, incident, self.agent, manager=self.manager, why="Every customer's mail is down.")
        incident = Incident.objects.get(pk=incident.pk)
        self.assertTrue(incident.major)
        self.assertEqual(incident.major_manager, self.manager)
        self.assertIsNotNone(incident.management_informed_at)
        self.assertEqual(incident.management_informed_at, incident.major_declared_at)
        told = sorted(NotificationLog.objects.filter(event=major.DECLARED).values_list("recipient", flat=True))
        self.assertEqual(told, sorted([*BOARD, self.manager.email]))
        events = [e for e in AuditEvent.objects.filter(record_id=str(incident.pk)) if e.changes.get("action")]
        self.assertEqual([e.changes["action"] for e in events], ["declare_major"])
        self.assertNotIn("ceo@", str(events[0].changes), "addresses stay out of the history the customer reads")
        with self.assertRaises(actions.ActionNotPossible):
            run(major.DECLARE, incident, self.agent, manager=self.manager, why="Again.")
        self.assertEqual(NotificationLog.objects.filter(event=major.DECLARED).count(), 3)

    def test_without_a_management_address_the_time_is_not_recorded(self) -> None:
        incident = IncidentFactory(organisation=self.p.org_a)
        with override_settings(MERIDIAN_MAJOR_INCIDENT_NOTIFY=[]):
            run(major.DECLARE, incident, self.agent, manager=self.manager, why="Down.")
        self.assertIsNone(Incident.objects.get(pk=incident.pk).management_informed_at)

    def _reached_setup(self) -> tuple[Incident, Any, Any]:
        """Customer A's incident on a database whose failure reaches the Payroll service, offered to customer C only;
        customer B has its own service and contact, untouched."""
        service_class = CIClass.objects.filter(service=True).first() or CIClassFactory(service=True)
        db = ConfigurationItemFactory(organisation=self.p.org_a, name="payroll-db")
        payroll_ci = ConfigurationItemFactory(ci_class=service_class, name="Payroll")
        RelationshipFactory(source=payroll_ci, target=db)  # payroll depends on the db: the db's failure reaches it
        org_c = OrganisationFactory(name="Customer C (tests)", email="desk@customer-c.example")
        payroll = ServiceFactory(name="Payroll", configuration_item=payroll_ci)
        payroll.customers.set([org_c])
        contact_c = PersonFactory(organisation=org_c, email="hr@customer-c.example")
        ServiceContact.objects.create(service=payroll, person=contact_c, role=ContactRole.CUSTOMER_CONTACT)
        other = ServiceFactory(name="Warehouse")
        other.customers.set([self.p.org_b])
        contact_b = PersonFactory(organisation=self.p.org_b, email="ops@customer-b.example")
        ServiceContact.objects.create(service=other, person=contact_b, role=ContactRole.CUSTOMER_CONTACT)
        incident = IncidentFactory(organisation=self.p.org_a, title="Customer A payroll run failed", major=True)
        incident.configuration_items.set([db])
        return incident, org_c, contact_c

    def test_a_customer_update_reaches_exactly_the_customers_reached_each_about_its_own_services(self) -> None:
        incident, org_c, contact_c = self._reached_setup()
        reached = {r.organisation.name: r for r in major.reach(incident)}
        self.assertEqual(set(reached), {self.p.org_a.name, org_c.name})
        self.assertEqual([s.name for s in reached[org_c.name].services], ["Payroll"])
        # the agent reads the same on the ticket's Caller & CIs tab
        self.client.force_login(self.agent)
        tab = self.client.get(f"{incident.get_absolute_url()}?tab=context")
        self.assertContains(tab, f'data-reached="{org_c.pk}"><strong>{org_c.name}</strong>: Payroll</p>', html=False)
        self.assertNotContains(tab, "Warehouse")  # customer B's service is not reached
        text = "Payroll runs are delayed; next update at 14:00."
        run(major.SEND_UPDATE, incident, self.agent, text=text)
        mails = {m.recipient: m for m in NotificationLog.objects.filter(event=major.CUSTOMER_UPDATE)}
        self.assertEqual(set(mails), {self.p.org_a.email, org_c.email, contact_c.email})
        for address in (org_c.email, contact_c.email):
            body = mails[address].subject + mails[address].body
            self.assertIn("Payroll", body)
            self.assertIn(text, body)
            self.assertNotIn("Customer A", body, "never another customer's name (nor the incident's title)")
        self.assertNotIn(org_c.name, mails[self.p.org_a.email].body)
        update = MajorIncidentUpdate.objects.get(incident=incident)
        self.assertEqual((update.customers, update.recipients), (2, 3))
        comment = Comment.objects.get(pk=update.comment_id)
        self.assertEqual(comment.visibility, "public")
        self.assertIn(text, comment.body)

    def test_closing_a_major_incident_needs_its_review(self) -> None:
        incident = IncidentFactory(organisation=self.p.org_a, major=True, status="resolved")
        with self.assertRaisesMessage(services.TransitionNotAllowed, "post-incident review"):
            services.transition(incident, "close", actor=self.agent, expected_version=incident.version)
        self.assertEqual(Incident.objects.get(pk=incident.pk).status, "resolved")
        review = {"what_happened": "The relay's disk filled.", "timeline": "09:00 down\n11:00 up"}
        run(major.RECORD_REVIEW, incident, self.agent, **review, root_cause="No disk alert.")
        self.assertEqual(MajorIncidentReview.objects.get(incident=incident).root_cause, "No disk alert.")
        current = Incident.objects.get(pk=incident.pk)
        services.transition(current, "close", actor=self.agent, expected_version=current.version)
        self.assertEqual(Incident.objects.get(pk=incident.pk).status, "closed")

    def test_customer_users_see_nothing_of_it(self) -> None:
        incident, org_c, _ = self._reached_setup()
        page = incident.get_absolute_url() + "?tab=major"
        api = reverse("api:tickets-incidents-major", args=[incident.pk])
        staff = self.client
        staff.force_login(self.agent)
        self.assertContains(staff.get(page), org_c.name)
        self.assertEqual(api_client(self.agent).get(api).json()["customers"][1]["name"], org_c.name)
        for user, status in ((self.p.customer_b, 404), (self.p.customer_a, 403)):
            with self.subTest(user=user.username):
                self.client.force_login(user)
                self.assertEqual(self.client.get(page).status_code, status)
                self.assertEqual(api_client(user).get(api).status_code, status)
        run(major.SEND_UPDATE, incident, self.agent, text="Delayed.")
        self.assertFalse(NotificationLog.objects.filter(recipient__endswith="customer-b.example").exists())
        self.assertFalse(NotificationLog.objects.filter(recipient=self.p.org_b.email).exists())

    def test_an_update_with_nobody_to_write_to_is_refused_and_writes_nothing(self) -> None:
        silent = OrganisationFactory(email="")
        incident = IncidentFactory(organisation=silent, major=True)
        with self.assertRaises(ValidationError):
            run(major.SEND_UPDATE, incident, self.agent, text="Delayed.")
        self.assertFalse(Comment.objects.filter(record_id=incident.pk).exists())
        self.assertFalse(MajorIncidentUpdate.objects.exists())
