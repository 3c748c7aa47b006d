"""Planning new or changed services: service proposals and the criteria that make one major, through the generic
mixins (pages, API, roles, exports, actions, attachments, comments, watchers, links), the lifecycle walked from every
state as every role, a service owner taking a proposal from draft to its request for change on both channels (with
every step in the audit trail), the criteria, and refusals that name the field and write nothing."""

from __future__ import annotations

import itertools
from typing import Any

from django.urls import reverse

from meridian.changes.choices import ChangeStatus
from meridian.changes.factories import ChangeFactory
from meridian.changes.models import Change
from meridian.cmdb.choices import Level
from meridian.core import services
from meridian.core.actions import RecordAction
from meridian.core.choices import Role
from meridian.core.models import AuditEvent
from meridian.core.testing import (
    PrincipalsTestCase,
    RecordTypeTests,
    api_client,
    assert_lifecycle_walk,
    walks_lifecycle,
)
from meridian.portfolio import criteria
from meridian.portfolio.choices import ProposalOrigin, ProposalStatus, ServiceStatus
from meridian.portfolio.factories import (
    ProposalCriterionFactory,
    ServiceCategoryFactory,
    ServiceFactory,
    ServiceProposalFactory,
)
from meridian.portfolio.models import ProposalCriterion, Service, ServiceProposal
from meridian.portfolio.proposals import ASSESSMENTS

NAMES = itertools.count(1)
ASSESSED = {name: f"Assessed: {label}." for name, label in ASSESSMENTS.items()}
STATE_OF = {
    "submit": ProposalStatus.DRAFT,
    "start_assessment": ProposalStatus.SUBMITTED,
    "approve": ProposalStatus.UNDER_ASSESSMENT,
    "reject": ProposalStatus.UNDER_ASSESSMENT,
    "withdraw": ProposalStatus.SUBMITTED,
    "raise_rfc": ProposalStatus.APPROVED,
    "record_rfc": ProposalStatus.APPROVED,
}


def proposal_in(state: str, **values: Any) -> ServiceProposal:
    """A proposal for a new service in `state`, assessed (an approved one with its service, as approval makes)."""
    proposal = ServiceProposalFactory(status=state, **{**ASSESSED, **values})
    if state == ProposalStatus.APPROVED and proposal.service_id is None:
        proposal.service = ServiceFactory(name=proposal.proposed_service_name)
        proposal.save(update_fields=["service"])
    return proposal


class TestServiceProposal(RecordTypeTests):
    model = ServiceProposal
    factory = ServiceProposalFactory
    changed_data = {"purpose": "Customers want to sign documents without paper."}

    def new_data(self) -> dict[str, Any]:
        return {
            "title": "Electronic signatures",
            "proposed_service_name": f"E-signature {next(NAMES)}",
            "category": ServiceCategoryFactory(),
            "origin": ProposalOrigin.CUSTOMER,
            "originating_organisation": self.p.org_a,
            "purpose": "Sign contracts online.",
            "customers_affected": 4,
            "financial_impact_level": Level.MEDIUM,
            "risk": Level.LOW,
            **ASSESSED,
        }

    def action_record(self, record_action: RecordAction) -> Any:
        return proposal_in(STATE_OF[record_action.name])

    def action_input(self, record_action: RecordAction, obj: Any, role: str) -> dict[str, Any]:
        if record_action.name == "record_rfc":
            return {"change": ChangeFactory().pk, "reason": "generic test"}
        return {"reason": "generic test"}


class TestProposalCriterion(RecordTypeTests):
    model = ProposalCriterion
    factory = ProposalCriterionFactory
    changed_data = {"description": "The change policy, section 3: new services are major."}

    def new_data(self) -> dict[str, Any]:
        return {
            "name": f"High risk {next(NAMES)}",
            "risk_at_least": Level.HIGH,
            "category": ServiceCategoryFactory(),
            "order": 10,
        }


class ProposalLifecycleTests(PrincipalsTestCase):
    @walks_lifecycle(ServiceProposal)
    def test_every_action_from_every_state_as_every_role(self) -> None:
        assert_lifecycle_walk(self, ServiceProposal, proposal_in, self.p)

    def test_the_assessments_guard_names_what_is_missing_and_writes_nothing(self) -> None:
        owner = self.p.users[Role.SERVICE_OWNER]
        proposal = proposal_in(ProposalStatus.SUBMITTED, technical_impact="", sms_impact=" ")
        events = AuditEvent.objects.count()
        with self.assertRaisesMessage(
            services.TransitionNotAllowed,
            "Assess the technical impact and the impact on the service management system first",
        ):
            services.transition(proposal, "start_assessment", actor=owner, expected_version=proposal.version)
        response = api_client(owner).post(
            reverse("api:portfolio-service-proposals-start_assessment", args=[proposal.pk]),
            {"version": proposal.version},
            format="json",
        )
        self.assertEqual(response.status_code, 409, response.content)
        self.assertIn("the technical impact", str(response.content))
        after = ServiceProposal.objects.get(pk=proposal.pk)
        self.assertEqual((after.status, after.version), (ProposalStatus.SUBMITTED, proposal.version))
        self.assertEqual(AuditEvent.objects.count(), events)


def _events(obj: Any) -> list[tuple[str, str]]:
    """(action, the record action it names or "") of each event of the record, oldest first."""
    found = AuditEvent.objects.filter(record_type=obj._meta.label_lower, record_id=str(obj.pk)).order_by("id")
    return [(e.action, e.changes.get("action", "")) for e in found]


class EndToEndTests(PrincipalsTestCase):
    """A service owner takes a proposal for a new service from draft to approval: the service is made, the request
    for change raised; every step is in the audit trail. Once through the pages, once through the API."""

    def setUp(self) -> None:
        self.owner = self.p.users[Role.SERVICE_OWNER]
        self.category = ServiceCategoryFactory(name="Business applications")
        self.rule = ProposalCriterion.objects.create(name="New services", kind="new", order=1)

    def _data(self, name: str) -> dict[str, Any]:
        return {
            "title": f"{name} for our customers",
            "proposed_service_name": name,
            "category": self.category.pk,
            "origin": ProposalOrigin.CUSTOMER,
            "originating_organisation": self.p.org_a.pk,
            "purpose": "Customers sign contracts online.",
            "customers_affected": 3,
            "financial_impact_level": Level.MEDIUM,
            "risk": Level.LOW,
        }

    def _assert_done(self, proposal: ServiceProposal, name: str) -> None:
        proposal = ServiceProposal.objects.select_related("service", "request_for_change").get(pk=proposal.pk)
        self.assertEqual(proposal.status, ProposalStatus.APPROVED)
        self.assertEqual((proposal.decision, proposal.decided_by), ("approved", self.owner))
        self.assertIsNotNone(proposal.decided_at)
        self.assertEqual(proposal.decision_note, "Worth it.")
        self.assertTrue(proposal.major)
        self.assertEqual(proposal.major_criterion, self.rule)
        self.assertIn("“New services”", proposal.major_reason)
        self.assertEqual(criteria.route(proposal), "design_and_transition")

        service = proposal.service
        self.assertEqual(
            (service.name, service.status, service.category), (name, ServiceStatus.PROPOSED, self.category)
        )
        self.assertEqual(service.owner, self.owner.person)
        self.assertIsNotNone(service.configuration_item)
        self.assertEqual(_events(service), [("create", "")])
        service_event = AuditEvent.objects.get(record_type="portfolio.service", record_id=str(service.pk))
        self.assertEqual(service_event.actor_id, self.owner.pk)
        self.assertIn(proposal.reference, service_event.reason)

        change = proposal.request_for_change
        self.assertEqual(change.status, ChangeStatus.DRAFT)
        self.assertIn(proposal.reference, change.title)
        self.assertIn(proposal.reference, change.description)
        self.assertIn("Customers sign contracts online.", change.description)
        self.assertEqual(list(change.configuration_items.all()), [service.configuration_item])
        self.assertEqual([a for a, _ in _events(change)], ["create"])

        self.assertEqual(
            _events(proposal),
            [
                ("create", ""),
                ("update", ""),
                ("transition", "submit"),
                ("transition", "start_assessment"),
                ("transition", "approve"),
                ("update", "raise_rfc"),
            ],
        )
        events = AuditEvent.objects.filter(record_type="portfolio.serviceproposal", record_id=str(proposal.pk))
        self.assertTrue(all(e.actor_id == self.owner.pk for e in events))
        submit = events.get(changes__action="submit")
        self.assertEqual(submit.changes["major"], {"before": None, "after": True})
        approve = events.get(changes__action="approve")
        self.assertEqual(approve.changes["service"], {"before": None, "after": service.pk})
        self.assertEqual(approve.changes["decided_by"], {"before": None, "after": self.owner.pk})
        self.assertEqual(approve.changes["decision"], {"before": "", "after": "approved"})
        self.assertEqual(approve.reason, "Worth it.")
        raised = events.get(changes__action="raise_rfc")
        self.assertEqual(raised.changes["request_for_change"], {"before": None, "after": change.pk})

    def test_through_the_pages(self) -> None:
        client = self.client
        client.force_login(self.owner)
        response = client.post(reverse("portfolio:serviceproposal_add"), self._data("E-signature"))
        self.assertEqual(
            response.status_code, 302, getattr(response, "context", None) and response.context["form"].errors
        )
        proposal = ServiceProposal.objects.get(proposed_service_name="E-signature")
        edit = reverse("portfolio:serviceproposal_edit", args=[proposal.pk])
        response = client.post(edit, {**self._data("E-signature"), **ASSESSED, "version": 1})
        self.assertEqual(
            response.status_code, 302, getattr(response, "context", None) and response.context["form"].errors
        )

        detail = reverse("portfolio:serviceproposal_detail", args=[proposal.pk])
        for version, action, reason in ((2, "submit", ""), (3, "start-assessment", ""), (4, "approve", "Worth it.")):
            response = client.post(f"{detail}actions/{action}/", {"version": version, "reason": reason})
            self.assertEqual(response.status_code, 302, action)
        page = client.get(detail)
        self.assertContains(page, "design_and_transition")
        self.assertContains(page, "Raise the request for change")
        response = client.post(f"{detail}actions/raise-rfc/", {"version": 5, "reason": ""})
        self.assertEqual(response.status_code, 302)
        self._assert_done(proposal, "E-signature")
        page = client.get(detail)
        service = Service.objects.get(name="E-signature")
        self.assertContains(page, f"created {service.reference}")
        self.assertContains(page, f"{self.owner.person} ({self.owner.username})")  # decided by
        self.assertContains(page, ServiceProposal.objects.get(pk=proposal.pk).request_for_change.reference)

    def test_through_the_api(self) -> None:
        api = api_client(self.owner)
        base = "api:portfolio-service-proposals"
        response = api.post(reverse(f"{base}-list"), self._data("Archive"), format="json")
        self.assertEqual(response.status_code, 201, response.content)
        proposal = ServiceProposal.objects.get(pk=response.json()["id"])
        self.assertIsNone(response.json()["route"])
        response = api.patch(reverse(f"{base}-detail", args=[proposal.pk]), {**ASSESSED, "version": 1}, format="json")
        self.assertEqual(response.status_code, 200, response.content)
        for version, action, reason in ((2, "submit", ""), (3, "start_assessment", ""), (4, "approve", "Worth it.")):
            response = api.post(
                reverse(f"{base}-{action}", args=[proposal.pk]), {"version": version, "reason": reason}, format="json"
            )
            self.assertEqual(response.status_code, 200, response.content)
        body = response.json()
        self.assertEqual(body["route"], "design_and_transition")
        self.assertIn("raise_rfc", body["available_actions"])
        response = api.post(reverse(f"{base}-raise_rfc", args=[proposal.pk]), {"version": 5}, format="json")
        self.assertEqual(response.status_code, 200, response.content)
        self.assertIn(f"created {Service.objects.get(name='Archive').reference}", response.json()["outcome"])
        self._assert_done(proposal, "Archive")

        # ... and on to a live service in its customer's catalogue, still through the API, every step audited
        service = Service.objects.get(name="Archive")
        customer = self.p.customer_a
        self.assertEqual(api_client(customer).get(f"/api/v1/portfolio/catalogue/{service.reference}/").status_code, 404)
        url = reverse("api:portfolio-services-detail", args=[service.pk])
        body = {
            "summary": "Keep mail and files for 10 years.",
            "customers": [self.p.org_a.pk],
            "version": service.version,
        }
        response = api.patch(url, body, format="json")
        self.assertEqual(response.status_code, 200, response.content)
        version = response.json()["version"]
        for action in ("design", "transition", "go_live"):
            response = api.post(
                reverse(f"api:portfolio-services-{action}", args=[service.pk]), {"version": version}, format="json"
            )
            self.assertEqual(response.status_code, 200, response.content)
            version = response.json()["version"]
        entry = api_client(customer).get(f"/api/v1/portfolio/catalogue/{service.reference}/")
        self.assertEqual(entry.status_code, 200)
        self.assertEqual(entry.json()["summary"], "Keep mail and files for 10 years.")
        trail = AuditEvent.objects.filter(record_type="portfolio.service", record_id=str(service.pk)).order_by("id")
        self.assertEqual(
            [(e.action, e.changes.get("action")) for e in trail],
            [
                ("create", None),
                ("update", None),
                ("transition", "design"),
                ("transition", "transition"),
                ("transition", "go_live"),
            ],
        )
        self.assertTrue(all(e.actor_id == self.owner.pk for e in trail))


class CriteriaTests(PrincipalsTestCase):
    """The administrators' criteria make a proposal major or minor when it is submitted (kept, with why, in the
    submission's audit event) and again when it is decided; the route follows."""

    def submit(self, proposal: ServiceProposal) -> ServiceProposal:
        return services.transition(
            proposal, "submit", actor=self.p.users[Role.SERVICE_DESK_AGENT], expected_version=proposal.version
        )

    def test_no_criteria_minor_straight_to_change_management(self) -> None:
        proposal = self.submit(ServiceProposalFactory())
        self.assertIs(proposal.major, False)
        self.assertIsNone(proposal.major_criterion)
        self.assertIn("Minor", proposal.major_reason)
        self.assertEqual(criteria.route(proposal), "change_management")
        self.assertIsNone(criteria.route(ServiceProposalFactory()), "a draft is not classified")

    def test_each_kind_of_condition(self) -> None:
        category = ServiceCategoryFactory()
        service = ServiceFactory(category=category)
        cases = [
            ({"kind": "new"}, {}, True),
            ({"kind": "new"}, {"service": service, "proposed_service_name": ""}, False),
            ({"kind": "changed"}, {"service": service, "proposed_service_name": ""}, True),
            ({"origin": ProposalOrigin.SUPPLIER}, {"origin": ProposalOrigin.SUPPLIER}, True),
            ({"origin": ProposalOrigin.SUPPLIER}, {"origin": ProposalOrigin.CUSTOMER}, False),
            ({"customers_affected_at_least": 5}, {"customers_affected": 5}, True),
            ({"customers_affected_at_least": 5}, {"customers_affected": 4}, False),
            ({"financial_impact_at_least": Level.MEDIUM}, {"financial_impact_level": Level.HIGH}, True),
            ({"financial_impact_at_least": Level.MEDIUM}, {"financial_impact_level": Level.LOW}, False),
            ({"financial_impact_at_least": Level.MEDIUM}, {"financial_impact_level": ""}, False),
            ({"risk_at_least": Level.HIGH}, {"risk": Level.HIGH}, True),
            ({"risk_at_least": Level.HIGH}, {"risk": Level.MEDIUM}, False),
            ({"category": category}, {"category": category}, True),
            ({"category": category}, {"service": service, "proposed_service_name": ""}, True),  # its service's
            ({"category": category}, {}, False),
            ({"kind": "new", "risk_at_least": Level.HIGH}, {"risk": Level.LOW}, False),  # every condition must hold
        ]
        for rule, values, major in cases:
            with self.subTest(rule=rule, values=values):
                ProposalCriterion.objects.all().delete()
                criterion = ProposalCriterionFactory(**{"kind": "", **rule})
                proposal = self.submit(ServiceProposalFactory(**values))
                self.assertIs(proposal.major, major)
                self.assertEqual(proposal.major_criterion, criterion if major else None)
                self.assertEqual(criteria.route(proposal), "design_and_transition" if major else "change_management")
                ServiceProposal.objects.filter(pk=proposal.pk).delete()

    def test_the_first_active_rule_is_named_and_inactive_rules_do_not_count(self) -> None:
        ProposalCriterionFactory(name="Switched off", kind="new", order=1, active=False)
        ProposalCriterionFactory(name="Big ones", kind="", customers_affected_at_least=10, order=5)
        ProposalCriterionFactory(name="New services", kind="new", order=7)
        proposal = self.submit(ServiceProposalFactory(customers_affected=12))
        self.assertEqual(proposal.major_criterion.name, "Big ones")
        self.assertEqual(
            proposal.major_reason, "Major by the criterion “Big ones”: 12 customers affected (at least 10)."
        )
        event = AuditEvent.objects.get(record_id=str(proposal.pk), record_type="portfolio.serviceproposal")
        self.assertEqual(event.changes["major_reason"]["after"], proposal.major_reason)
        self.assertEqual(event.changes["major_criterion"]["after"], proposal.major_criterion_id)

    def test_the_decision_classifies_again_with_the_assessed_levels(self) -> None:
        ProposalCriterionFactory(name="Risky", kind="", risk_at_least=Level.HIGH)
        owner = self.p.users[Role.SERVICE_OWNER]
        proposal = self.submit(proposal_in(ProposalStatus.DRAFT, risk=Level.LOW))
        self.assertIs(proposal.major, False)
        proposal = services.transition(proposal, "start_assessment", actor=owner, expected_version=proposal.version)
        proposal = services.update_record(
            proposal, data={"risk": Level.HIGH}, actor=owner, expected_version=proposal.version
        )
        proposal = services.transition(proposal, "approve", actor=owner, expected_version=proposal.version)
        self.assertIs(proposal.major, True)
        self.assertEqual(criteria.route(proposal), "design_and_transition")

    def test_a_rule_without_conditions_is_refused_on_the_page_and_in_the_api(self) -> None:
        admin = self.p.users[Role.ADMINISTRATOR]
        self.client.force_login(admin)
        response = self.client.post(reverse("portfolio:proposalcriterion_add"), {"name": "Everything", "order": 1})
        self.assertEqual(response.status_code, 400)
        self.assertIn("Set at least one condition", str(response.context["form"].errors))
        response = api_client(admin).post(
            reverse("api:portfolio-proposal-criteria-list"), {"name": "Everything"}, format="json"
        )
        self.assertEqual(response.status_code, 400)
        self.assertIn("Set at least one condition", response.json()["kind"][0])
        self.assertFalse(ProposalCriterion.objects.exists())

    def test_a_criterion_cited_by_a_proposal_is_kept(self) -> None:
        criterion = ProposalCriterionFactory(kind="new")
        self.submit(ServiceProposalFactory())
        with self.assertRaises(services.RecordInUse):
            services.delete_record(criterion, actor=self.p.users[Role.ADMINISTRATOR], expected_version=1)
        self.assertTrue(ProposalCriterion.objects.filter(pk=criterion.pk).exists())


class RefusalTests(PrincipalsTestCase):
    """Every refusal names the field and writes nothing."""

    def setUp(self) -> None:
        self.owner = self.p.users[Role.SERVICE_OWNER]
        self.api = api_client(self.owner)

    def _count(self) -> tuple[int, int, int, int]:
        return (
            ServiceProposal.objects.count(),
            Service.objects.count(),
            Change.objects.count(),
            AuditEvent.objects.count(),
        )

    def test_a_new_service_needs_a_free_name_and_not_a_service_too(self) -> None:
        existing = ServiceFactory(name="E-mail")
        base = {"title": "Mail", "origin": ProposalOrigin.PROVIDER, "purpose": "Mail."}
        cases = [
            ({"proposed_service_name": "e-mail"}, "exists already"),
            ({"proposed_service_name": "Mail 2", "service": existing.pk}, "Leave this empty"),
            ({}, "Name the new service"),
        ]
        self.client.force_login(self.owner)
        for values, message in cases:
            with self.subTest(values=values):
                before = self._count()
                response = self.api.post(
                    reverse("api:portfolio-service-proposals-list"), {**base, **values}, format="json"
                )
                self.assertEqual(response.status_code, 400)
                self.assertIn(message, response.json()["proposed_service_name"][0])
                response = self.client.post(reverse("portfolio:serviceproposal_add"), {**base, **values})
                self.assertEqual(response.status_code, 400)
                self.assertIn(message, str(response.context["form"].errors["proposed_service_name"]))
                self.assertEqual(self._count(), before)

    def test_approval_refuses_a_name_taken_meanwhile_on_both_channels(self) -> None:
        first = proposal_in(ProposalStatus.UNDER_ASSESSMENT, proposed_service_name="Portal")
        second = proposal_in(ProposalStatus.UNDER_ASSESSMENT, proposed_service_name="Portal")
        services.transition(first, "approve", actor=self.owner, expected_version=first.version)
        before = self._count()
        response = self.api.post(
            reverse("api:portfolio-service-proposals-approve", args=[second.pk]), {"version": 1}, format="json"
        )
        self.assertEqual(response.status_code, 400, response.content)
        self.assertIn("A service “Portal” exists already", response.json()["proposed_service_name"][0])
        self.client.force_login(self.owner)
        detail = reverse("portfolio:serviceproposal_detail", args=[second.pk])
        response = self.client.post(f"{detail}actions/approve/", {"version": 1}, follow=True)
        self.assertContains(response, "exists already")
        self.assertEqual(self._count(), before)
        after = ServiceProposal.objects.get(pk=second.pk)
        self.assertEqual((after.status, after.version, after.service_id), (ProposalStatus.UNDER_ASSESSMENT, 1, None))

    def test_reject_needs_a_reason_and_keeps_it_as_the_note(self) -> None:
        proposal = proposal_in(ProposalStatus.UNDER_ASSESSMENT)
        url = reverse("api:portfolio-service-proposals-reject", args=[proposal.pk])
        before = self._count()
        response = self.api.post(url, {"version": 1, "reason": " "}, format="json")
        self.assertEqual(response.status_code, 400)
        self.assertIn("reason", response.json())
        self.assertEqual(self._count(), before)
        response = self.api.post(url, {"version": 1, "reason": "Duplicates the archive service."}, format="json")
        self.assertEqual(response.status_code, 200, response.content)
        after = ServiceProposal.objects.get(pk=proposal.pk)
        self.assertEqual(
            (after.status, after.decision, after.decided_by, after.decision_note),
            (ProposalStatus.REJECTED, "rejected", self.owner, "Duplicates the archive service."),
        )
        self.assertEqual(Service.objects.count(), before[1], "a rejected proposal makes no service")

    def test_a_decided_proposal_is_not_edited(self) -> None:
        proposal = proposal_in(ProposalStatus.REJECTED)
        before = self._count()
        response = self.api.patch(
            reverse("api:portfolio-service-proposals-detail", args=[proposal.pk]),
            {"purpose": "Again.", "version": 1},
            format="json",
        )
        self.assertEqual(response.status_code, 400)
        self.assertIn("kept as decided", response.json()["purpose"][0])
        self.assertEqual(self._count(), before)

    def test_decision_fields_cannot_be_forged(self) -> None:
        proposal = proposal_in(ProposalStatus.UNDER_ASSESSMENT)
        before = self._count()
        for name, value in (("decided_by", self.owner.pk), ("decision", "approved"), ("major", True)):
            with self.subTest(field=name):
                response = self.api.patch(
                    reverse("api:portfolio-service-proposals-detail", args=[proposal.pk]),
                    {name: value, "version": 1},
                    format="json",
                )
                self.assertEqual(response.status_code, 400)
                self.assertIn(name, response.json())
        self.assertEqual(self._count(), before)

    def test_recording_a_closed_change_is_refused_on_the_change(self) -> None:
        proposal = proposal_in(ProposalStatus.APPROVED)
        withdrawn = ChangeFactory(status=ChangeStatus.WITHDRAWN)
        before = self._count()
        url = reverse("api:portfolio-service-proposals-record_rfc", args=[proposal.pk])
        response = self.api.post(url, {"version": 1, "change": withdrawn.pk}, format="json")
        self.assertEqual(response.status_code, 400)
        self.assertIn("is withdrawn", response.json()["change"][0])
        self.client.force_login(self.owner)
        page = reverse("portfolio:serviceproposal_detail", args=[proposal.pk]) + "actions/record-rfc/"
        response = self.client.post(page, {"version": 1, "change": withdrawn.pk})
        self.assertEqual(response.status_code, 400)
        self.assertIn("is withdrawn", str(response.context["form"].errors["change"]))
        self.assertEqual(self._count(), before)

        open_change = ChangeFactory()
        response = self.api.post(url, {"version": 1, "change": open_change.pk}, format="json")
        self.assertEqual(response.status_code, 200, response.content)
        self.assertEqual(ServiceProposal.objects.get(pk=proposal.pk).request_for_change, open_change)
        again = self.api.post(url, {"version": 2, "change": open_change.pk}, format="json")
        self.assertEqual(again.status_code, 409)
        self.assertIn("recorded already", str(again.content))

    def test_an_rfc_for_a_change_to_an_existing_service_lists_its_ci(self) -> None:
        from django.db import transaction

        from meridian.portfolio import services as portfolio_services

        service = ServiceFactory()
        with transaction.atomic():
            portfolio_services.keep_ci(service, self.p.users[Role.ADMINISTRATOR])
        service.refresh_from_db()
        proposal = proposal_in(ProposalStatus.UNDER_ASSESSMENT, service=service, proposed_service_name="")
        proposal = services.transition(proposal, "approve", actor=self.owner, expected_version=1)
        self.assertEqual(Service.objects.filter(name__startswith="Proposed service").count(), 0)
        manager = self.p.users[Role.CHANGE_MANAGER]
        response = api_client(manager).post(
            reverse("api:portfolio-service-proposals-raise_rfc", args=[proposal.pk]), {"version": 2}, format="json"
        )
        self.assertEqual(response.status_code, 200, response.content)
        change = ServiceProposal.objects.get(pk=proposal.pk).request_for_change
        self.assertEqual(list(change.configuration_items.all()), [service.configuration_item])
        self.assertIn(service.reference, change.description)
        self.assertEqual(change.created_by, manager)
