"""Offerings (the request catalogue): the record type through the generic tests, its refusals, who may request it,
and its request form built from the offering's field definitions."""

from __future__ import annotations

import itertools
from typing import Any

from django.core.exceptions import ValidationError
from django.test import TestCase
from django.utils.html import escape

from meridian.core import services
from meridian.core.choices import CustomFieldType, OrganisationKind, Role
from meridian.core.factories import OrganisationFactory, PersonFactory, TeamFactory, UserFactory
from meridian.core.models import AuditEvent
from meridian.core.testing import ChildExample, PrincipalsTestCase, RecordTypeTests, api_client, fresh
from meridian.portfolio import offerings
from meridian.portfolio.choices import ServiceStatus
from meridian.portfolio.factories import OfferingFactory, ServiceFactory
from meridian.portfolio.models import Offering, OfferingApproval, RequestField

NAMES = itertools.count(1)


def live_service(*customers: Any, **kwargs: Any) -> Any:
    service = ServiceFactory(status=ServiceStatus.LIVE, **kwargs)
    service.customers.set(customers)
    return service


class TestOffering(RecordTypeTests):
    model = Offering
    factory = OfferingFactory
    changed_data = {"summary": "Ready the next working day, with 50 GB."}

    def new_data(self) -> dict[str, Any]:
        first, second = OrganisationFactory(), OrganisationFactory()
        return {
            "service": live_service(first, second),
            "name": f"New mailbox {next(NAMES)}",
            "summary": "A personal or shared mailbox.",
            "requesters": [first],
            "approval": OfferingApproval.NONE,
            "approval_rule": "any",
            "expected_fulfilment": "2 business days",
        }

    def child_example(self, child: Any, organisation: Any) -> ChildExample:
        if child.name == "request_fields":
            return ChildExample(
                rows=[
                    {"order": 1, "name": "mailbox_name", "label": "Name of the mailbox", "type": CustomFieldType.TEXT},
                    {
                        "order": 2,
                        "name": "kind",
                        "label": "Personal or shared?",
                        "type": CustomFieldType.CHOICE,
                        "choices": "Personal\nShared",
                        "required": True,
                    },
                    {"order": 3, "name": "size_gb", "label": "Size (GB)", "type": CustomFieldType.INTEGER},
                ],
                change={"label": "What should the mailbox be called?", "help_text": "As in the address."},
                invalid={"order": 4, "name": "Size GB", "label": "Size", "type": CustomFieldType.INTEGER},
                invalid_field="name",
            )
        teams = TeamFactory.create_batch(2)
        return ChildExample(
            rows=[
                {"order": 1, "title": "Create the mailbox", "team": teams[0]},
                {"order": 2, "title": "Add it to the address book", "team": teams[1]},
                {"order": 2, "title": "Tell the requester", "team": teams[0], "description": "With the address."},
            ],
            change={"title": "Create the mailbox and its alias"},
            invalid={"order": 3, "title": "", "team": teams[0]},
            invalid_field="title",
        )


class OfferingRefusalTests(PrincipalsTestCase):
    """Every channel refuses a bad offering with field messages and writes nothing."""

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.owner = cls.p.users[Role.SERVICE_OWNER]
        cls.service = live_service(cls.p.org_a)  # offered to customer A only

    def counts(self) -> tuple[int, int]:
        return Offering.objects.count(), AuditEvent.objects.count()

    def data(self, **changes: Any) -> dict[str, Any]:
        return {"service": self.service.pk, "name": "New mailbox", **changes}

    def test_a_requester_not_offered_the_service_is_refused_on_every_channel(self) -> None:
        before = self.counts()
        response = api_client(self.owner).post(
            "/api/v1/portfolio/offerings/", self.data(requesters=[self.p.org_a.pk, self.p.org_b.pk]), format="json"
        )
        self.assertEqual(response.status_code, 400, response.content)
        self.assertEqual(set(response.json()), {"requesters"})
        self.assertIn("is not offered to Customer B (tests)", response.json()["requesters"][0])
        with self.assertRaises(ValidationError) as refused:
            services.create_record(
                Offering,
                data={"service": self.service, "name": "New mailbox", "requesters": [self.p.org_b]},
                actor=self.owner,
            )
        self.assertEqual(set(refused.exception.message_dict), {"requesters"})
        self.client.force_login(self.owner)
        page = self.client.post("/portfolio/offerings/add/", self.data(requesters=[self.p.org_b.pk]))
        self.assertEqual(page.status_code, 400)
        self.assertIn("requesters", page.context["form"].errors)  # not among the choices: the service's customers
        self.assertEqual(self.counts(), before)

    def test_moving_an_offering_to_a_service_its_requesters_are_not_offered_is_refused(self) -> None:
        offering = services.create_record(
            Offering,
            data={"service": self.service, "name": "New mailbox", "requesters": [self.p.org_a]},
            actor=self.owner,
        )
        other = live_service(self.p.org_b)
        before = self.counts()
        response = api_client(self.owner).patch(
            f"/api/v1/portfolio/offerings/{offering.pk}/", {"service": other.pk, "version": 1}, format="json"
        )
        self.assertEqual(response.status_code, 400, response.content)
        self.assertEqual(set(response.json()), {"requesters"})
        self.assertEqual(self.counts(), before)
        offering.refresh_from_db()
        self.assertEqual((offering.service_id, offering.version), (self.service.pk, 1))

    def test_an_approval_without_its_approver_is_refused_with_a_message_on_the_field(self) -> None:
        leaderless = TeamFactory(organisation=self.p.internal)
        no_login = PersonFactory(organisation=self.p.internal)
        cases = [
            ({"approval": OfferingApproval.PERSON}, "approver_person", "Name the person"),
            ({"approval": OfferingApproval.PERSON, "approver_person": no_login.pk}, "approver_person", "no login"),
            ({"approval": OfferingApproval.TEAM_LEAD}, "approver_team", "Choose the team"),
            ({"approval": OfferingApproval.TEAM_LEAD, "approver_team": leaderless.pk}, "approver_team", "has no lead"),
            ({"approval": OfferingApproval.SERVICE_OWNER}, "approval", "has no service owner"),
            ({"approval": OfferingApproval.NONE, "approver_team": leaderless.pk}, "approver_team", "Leave empty"),
            ({"approval": OfferingApproval.TEAM}, "approver_team", "Choose the team whose members"),
            ({"approval": OfferingApproval.TEAM, "approver_team": leaderless.pk}, "approver_team", "no member"),
            ({"approval": OfferingApproval.NONE, "approval_rule": "all"}, "approval_rule", "Only approval by a team"),
        ]
        api = api_client(self.owner)
        self.client.force_login(self.owner)
        before = self.counts()
        for changes, field, message in cases:
            with self.subTest(field=field, message=message, channel="api"):
                response = api.post("/api/v1/portfolio/offerings/", self.data(**changes), format="json")
                self.assertEqual(response.status_code, 400, response.content)
                self.assertEqual(set(response.json()), {field})
                self.assertIn(message, response.json()[field][0])
            with self.subTest(field=field, message=message, channel="page"):
                page = self.client.post(
                    "/portfolio/offerings/add/", {**self.data(**changes), "approval": changes["approval"]}
                )
                self.assertEqual(page.status_code, 400)
                self.assertIn(message, " ".join(page.context["form"].errors[field]))
        self.assertEqual(self.counts(), before)

    def test_an_approval_with_its_approver_is_kept(self) -> None:
        lead = PersonFactory(organisation=self.p.internal, user=UserFactory())
        team = TeamFactory(organisation=self.p.internal, lead=lead)
        response = api_client(self.owner).post(
            "/api/v1/portfolio/offerings/",
            self.data(approval=OfferingApproval.TEAM_LEAD, approver_team=team.pk),
            format="json",
        )
        self.assertEqual(response.status_code, 201, response.content)
        self.assertEqual(offerings.approvers(Offering.objects.get(pk=response.json()["id"])), [lead])

    def test_a_bad_request_form_field_names_its_row_and_field_and_writes_nothing(self) -> None:
        offering = OfferingFactory(service=self.service)
        before = (RequestField.objects.count(), AuditEvent.objects.count())
        rows = [
            {"name": "kind", "label": "Kind", "type": CustomFieldType.CHOICE},
            {"name": "size", "label": "Size", "type": CustomFieldType.TEXT, "min_value": "1"},
            {"name": "code", "label": "Code", "type": CustomFieldType.TEXT, "regex": "(["},
        ]
        response = api_client(self.owner).patch(
            f"/api/v1/portfolio/offerings/{offering.pk}/", {"request_fields": rows, "version": 1}, format="json"
        )
        self.assertEqual(response.status_code, 400, response.content)
        messages = " ".join(response.json()["request_fields"])
        self.assertIn("Row 1, choices: List the choices, one per line.", messages)
        self.assertIn("Row 2, minimum: Only numbers have a minimum and maximum.", messages)
        self.assertIn("Row 3, pattern: Not a valid regular expression", messages)
        self.assertEqual((RequestField.objects.count(), AuditEvent.objects.count()), before)


class MayRequestTests(PrincipalsTestCase):
    """Customers of two organisations, staff and the auditor, against offerings open to all customers of the service
    and to one of them; `offerings_for` lists exactly what `may_request` allows."""

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.org_c = OrganisationFactory(name="Customer C (tests)")
        cls.customer_c = UserFactory(username="t-customer-c", roles=[Role.CUSTOMER_USER])
        PersonFactory(organisation=cls.org_c, user=cls.customer_c)
        cls.service = live_service(cls.p.org_a, cls.p.org_b)
        cls.everyone = OfferingFactory(service=cls.service, name="Shared calendar")
        cls.only_a = OfferingFactory(service=cls.service, name="Mailbox restore")
        cls.only_a.requesters.set([cls.p.org_a])
        cls.customers_only = OfferingFactory(service=cls.service, name="Password reset", staff_may_request=False)
        cls.inactive = OfferingFactory(service=cls.service, name="Old mailbox", active=False)

    def assert_catalogue(self, user: Any, allowed: set[Offering], service: Any = None) -> None:
        """`may_request` allows exactly `allowed` of the service's offerings, and `offerings_for` lists them."""
        service = service or self.service
        user = fresh(user)
        for offering in Offering.objects.filter(service=service):
            with self.subTest(user=user.username, offering=offering.name):
                refusal = offerings.may_request(offering, user)
                if offering in allowed:
                    self.assertIsNone(refusal)
                else:
                    self.assertIsInstance(refusal, str)
        self.assertEqual(set(offerings.offerings_for(user, service)), allowed)

    def test_customers_of_two_organisations(self) -> None:
        self.assert_catalogue(self.p.customer_a, {self.everyone, self.only_a, self.customers_only})
        self.assert_catalogue(self.p.customer_b, {self.everyone, self.customers_only})
        self.assertEqual(
            offerings.may_request(self.only_a, fresh(self.p.customer_b)),
            "Your organisation may not request it: ask the service desk.",
        )

    def test_a_customer_of_an_organisation_not_offered_the_service_may_request_nothing(self) -> None:
        self.assert_catalogue(self.customer_c, set())
        self.assertEqual(
            offerings.may_request(self.everyone, fresh(self.customer_c)),
            f"{self.service} is not offered to your organisation.",
        )

    def test_an_organisation_no_longer_offered_the_service_may_request_nothing_it_was_named_for(self) -> None:
        self.service.customers.remove(self.p.org_a)
        self.assert_catalogue(self.p.customer_a, set())

    def test_staff_request_on_behalf_unless_the_offering_says_not_and_the_auditor_never(self) -> None:
        self.assert_catalogue(self.p.users[Role.SERVICE_DESK_AGENT], {self.everyone, self.only_a})
        self.assert_catalogue(self.p.users[Role.RESOLVER], {self.everyone, self.only_a})
        self.assert_catalogue(self.p.users[Role.AUDITOR], set())

    def test_only_active_offerings_of_live_services(self) -> None:
        self.assertEqual(
            offerings.may_request(self.inactive, fresh(self.p.customer_a)),
            "This offering is not available at the moment.",
        )
        for status in (ServiceStatus.IN_TRANSITION, ServiceStatus.RETIRED):
            with self.subTest(status=status):
                self.service.status = status
                self.service.save(update_fields=["status"])
                self.assert_catalogue(self.p.customer_a, set())
                self.assert_catalogue(self.p.users[Role.SERVICE_DESK_AGENT], set())

    def test_a_suspended_login_may_request_nothing(self) -> None:
        self.p.customer_a.is_active = False
        self.p.customer_a.save(update_fields=["is_active"])
        self.assert_catalogue(self.p.customer_a, set())


class RequestFormTests(PrincipalsTestCase):
    """The request form is built from the offering's field definitions and validates answers as custom fields do."""

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.owner = cls.p.users[Role.SERVICE_OWNER]
        cls.service = live_service(cls.p.org_a, cls.p.org_b)
        offering = OfferingFactory(service=cls.service, name="New mailbox")
        rows = [
            {
                "order": 1,
                "name": "mailbox_name",
                "label": "Name of the mailbox",
                "type": "text",
                "required": True,
                "regex": "[a-z][a-z.]*",
                "help_text": "Lower case, e.g. sales.team",
            },
            {
                "order": 2,
                "name": "kind",
                "label": "Personal or shared?",
                "type": "choice",
                "choices": "Personal\nShared",
                "default": "Personal",
            },
            {
                "order": 3,
                "name": "size_gb",
                "label": "Size (GB)",
                "type": "integer",
                "min_value": "1",
                "max_value": "100",
            },
            {"order": 4, "name": "start", "label": "From", "type": "date"},
            {"order": 5, "name": "delegates", "label": "Who else reads it", "type": "person"},
            {"order": 6, "name": "archive", "label": "Archive", "type": "boolean"},
        ]
        cls.offering = services.update_record(
            offering, data={"request_fields": rows}, actor=cls.owner, expected_version=offering.version
        )
        cls.colleague_a = PersonFactory(organisation=cls.p.org_a)
        cls.person_b = PersonFactory(organisation=cls.p.org_b)

    def test_the_form_has_the_offerings_fields_in_order_and_typed(self) -> None:
        form = self.offering.request_form(fresh(self.p.customer_a))
        self.assertEqual(list(form.fields), ["mailbox_name", "kind", "size_gb", "start", "delegates", "archive"])
        self.assertTrue(form.fields["mailbox_name"].required)
        self.assertEqual(form.fields["mailbox_name"].help_text, "Lower case, e.g. sales.team")
        self.assertEqual(form.fields["kind"].initial, "Personal")
        self.assertEqual(form["start"].field.widget.input_type, "date")
        self.assertEqual(form.fields["size_gb"].max_value, 100)
        # a customer picks people of their own organisation (or the provider's), never another customer's
        people = set(form.fields["delegates"].queryset)
        self.assertIn(self.colleague_a, people)
        self.assertNotIn(self.person_b, people)

    def test_defaults_are_shown_as_the_inputs_take_them(self) -> None:
        services.update_record(
            self.offering,
            data={
                "request_fields": [
                    {"name": "when", "label": "When", "type": "datetime", "default": "2027-01-04 09:30"},
                    {"name": "archive", "label": "Archive", "type": "boolean", "default": "yes"},
                ]
            },
            actor=self.owner,
            expected_version=self.offering.version,
        )
        form = Offering.objects.get(pk=self.offering.pk).request_form(fresh(self.p.customer_a))
        self.assertEqual(form.fields["when"].initial.isoformat(), "2027-01-04T09:30:00+00:00")
        self.assertIs(form.fields["archive"].initial, True)
        self.assertIn('value="2027-01-04T09:30"', str(form["when"]))

    def test_valid_answers_are_given_as_stored(self) -> None:
        form = self.offering.request_form(
            fresh(self.p.customer_a),
            {
                "mailbox_name": "sales.team",
                "kind": "Shared",
                "size_gb": "20",
                "start": "2027-01-04",
                "delegates": str(self.colleague_a.pk),
                "archive": "on",
            },
        )
        self.assertTrue(form.is_valid(), form.errors)
        self.assertEqual(
            form.answers(),
            {
                "mailbox_name": "sales.team",
                "kind": "Shared",
                "size_gb": 20,
                "start": "2027-01-04",
                "delegates": self.colleague_a.pk,
                "archive": True,
            },
        )
        rows = offerings.answer_rows(self.offering, form.answers(), fresh(self.p.customer_a))
        self.assertEqual(rows[0], ("Name of the mailbox", "sales.team"))
        self.assertEqual(rows[4], ("Who else reads it", str(self.colleague_a)))

    def test_bad_answers_are_refused_field_by_field(self) -> None:
        form = self.offering.request_form(
            fresh(self.p.customer_a),
            {
                "mailbox_name": "Sales Team",
                "kind": "Both",
                "size_gb": "500",
                "start": "next week",
                "delegates": str(self.person_b.pk),
            },
        )
        self.assertFalse(form.is_valid())
        self.assertEqual(set(form.errors), {"mailbox_name", "kind", "size_gb", "start", "delegates"})
        self.assertIn("Must match the pattern", form.errors["mailbox_name"][0])
        missing = self.offering.request_form(fresh(self.p.customer_a), {"kind": "Shared"})
        self.assertFalse(missing.is_valid())
        self.assertEqual(set(missing.errors), {"mailbox_name"})

    def test_json_answers_are_checked_strictly_with_defaults(self) -> None:
        customer = fresh(self.p.customer_a)
        answers = offerings.clean_answers(self.offering, {"mailbox_name": "sales", "size_gb": 5}, actor=customer)
        self.assertEqual(answers, {"mailbox_name": "sales", "size_gb": 5, "kind": "Personal"})
        with self.assertRaises(ValidationError) as refused:
            offerings.clean_answers(
                self.offering,
                {"size_gb": "5", "archive": "yes", "colour": "red", "delegates": self.person_b.pk},
                actor=customer,
            )
        self.assertEqual(
            set(refused.exception.message_dict), {"size_gb", "archive", "colour", "delegates", "mailbox_name"}
        )
        self.assertIn("whole number", refused.exception.message_dict["size_gb"][0])
        self.assertEqual(refused.exception.message_dict["colour"], ["No such field on this offering's request form."])
        # staff request on behalf of customer B: B's people are then the ones to choose from
        agent = fresh(self.p.users[Role.SERVICE_DESK_AGENT])
        answers = offerings.clean_answers(
            self.offering,
            {"mailbox_name": "sales", "delegates": self.person_b.pk},
            actor=agent,
            organisation_id=self.p.org_b.pk,
        )
        self.assertEqual(answers["delegates"], self.person_b.pk)

    def test_the_offering_page_previews_and_checks_the_form_and_saves_nothing(self) -> None:
        self.client.force_login(self.p.users[Role.SERVICE_DESK_AGENT])
        url = f"/portfolio/offerings/{self.offering.pk}/"
        page = self.client.get(url + "?tab=request_form")
        self.assertContains(page, "Name of the mailbox")
        self.assertContains(page, 'name="answer-size_gb"')
        self.assertContains(page, "You may request it.")
        before = (AuditEvent.objects.count(), Offering.objects.get(pk=self.offering.pk).version)
        refused = self.client.get(url, {"tab": "request_form", "check": "1", "answer-mailbox_name": "Sales Team"})
        self.assertContains(refused, "A request would be refused.")
        self.assertContains(refused, escape("Must match the pattern [a-z][a-z.]*."))
        accepted = self.client.get(
            url, {"tab": "request_form", "check": "1", "answer-mailbox_name": "sales", "answer-kind": "Shared"}
        )
        self.assertContains(accepted, "These answers would be accepted.")
        self.assertEqual((AuditEvent.objects.count(), Offering.objects.get(pk=self.offering.pk).version), before)

    def test_the_api_describes_the_form(self) -> None:
        response = api_client(self.p.users[Role.SERVICE_DESK_AGENT]).get(
            f"/api/v1/portfolio/offerings/{self.offering.pk}/request-form/"
        )
        self.assertEqual(response.status_code, 200, response.content)
        body = response.json()
        self.assertEqual(
            [f["name"] for f in body["fields"]], ["mailbox_name", "kind", "size_gb", "start", "delegates", "archive"]
        )
        self.assertEqual(body["fields"][1]["choices"], ["Personal", "Shared"])
        self.assertEqual((body["fields"][2]["min_value"], body["fields"][2]["max_value"]), ("1", "100"))
        self.assertTrue(body["may_request"])


class ServicePageTests(TestCase):
    def test_a_services_page_lists_its_offerings(self) -> None:
        admin = UserFactory(roles=[Role.ADMINISTRATOR])
        PersonFactory(user=admin, organisation=OrganisationFactory(kind=OrganisationKind.INTERNAL))
        offering = OfferingFactory(name="Shared calendar")
        self.client.force_login(admin)
        page = self.client.get(f"/portfolio/services/{offering.service.pk}/")
        self.assertContains(page, 'id="related-offerings"')
        self.assertContains(page, "Shared calendar")
