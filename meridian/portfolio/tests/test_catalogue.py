"""The service catalogue as people read it: a customer user reads exactly the live services offered to their
organisation — on the page, in the API, in search and in the exports — and never the internal parts of an entry;
staff read every live service and may preview one organisation's catalogue."""

from __future__ import annotations

import csv
import io

from django.db import transaction
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook

from meridian.core.choices import Role
from meridian.core.factories import OrganisationFactory, PersonFactory, UserFactory
from meridian.core.testing import PrincipalsTestCase, api_client
from meridian.portfolio import catalogue, services
from meridian.portfolio.choices import ContactRole, DependencyKind, ServiceStatus
from meridian.portfolio.factories import ServiceFactory
from meridian.portfolio.models import ExternalDependency, Service, ServiceContact, ServiceTarget

SECRET = "runbook on wiki page MAIL-OPS"


class CatalogueIsolationTests(PrincipalsTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        p = cls.p
        cls.shared = cls.live("Mailbox hosting", p.org_a, p.org_b)  # offered to both
        cls.only_a = cls.live("Warehouse scanners", p.org_a)
        cls.only_b = cls.live("Claims portal", p.org_b)
        cls.draft_a = ServiceFactory(name="Video rooms", summary="Meet", status=ServiceStatus.IN_DESIGN)
        cls.draft_a.customers.set([p.org_a])
        cls.retired_a = ServiceFactory(name="Fax gateway", summary="Faxes", status=ServiceStatus.RETIRED)
        cls.retired_a.customers.set([p.org_a])
        cls.nobody = cls.live("Internal tooling")  # live, offered to no customer
        ServiceTarget.objects.create(service=cls.shared, measure="Availability", target="99.9 %", period="monthly")
        visible = PersonFactory(organisation=p.internal, first_name="Visible", last_name="Contact")  # the provider's
        hidden = PersonFactory(organisation=p.internal, first_name="Hidden")
        ServiceContact.objects.create(service=cls.shared, person=visible, role=ContactRole.SERVICE_MANAGER)
        ServiceContact.objects.create(
            service=cls.shared, person=hidden, role=ContactRole.ESCALATION, customer_visible=False
        )
        ExternalDependency.objects.create(
            service=cls.shared, kind=DependencyKind.CUSTOMER, responsibility="Everyone: keep the user list"
        )
        ExternalDependency.objects.create(
            service=cls.shared, kind=DependencyKind.CUSTOMER, party=p.org_a, responsibility="A only: approve mailboxes"
        )
        ExternalDependency.objects.create(
            service=cls.shared,
            kind=DependencyKind.SUPPLIER,
            party=OrganisationFactory(),
            responsibility="Supplier runs relays",
        )

    @classmethod
    def live(cls, name: str, *customers: object) -> Service:
        service = ServiceFactory(
            name=name, summary=f"{name} for you", internal_description=SECRET, status=ServiceStatus.LIVE
        )
        service.customers.set(customers)
        return service

    def page(self, user: object) -> Client:
        client = Client()
        client.force_login(user)
        return client

    def names_on_page(self, user: object, query: str = "") -> set[str]:
        response = self.page(user).get(reverse("portfolio:catalogue"), {"q": query} if query else {})
        self.assertEqual(response.status_code, 200)
        return {e.service.name for _c, items in response.context["groups"] for e in items}

    def test_a_customer_reads_exactly_the_live_services_offered_to_their_organisation(self) -> None:
        expected = {
            self.p.customer_a: {"Mailbox hosting", "Warehouse scanners"},
            self.p.customer_b: {"Mailbox hosting", "Claims portal"},
        }
        for user, names in expected.items():
            with self.subTest(user=user.username, channel="page"):
                self.assertEqual(self.names_on_page(user), names)
            with self.subTest(user=user.username, channel="api"):
                answer = api_client(user).get("/api/v1/portfolio/catalogue/")
                self.assertEqual(answer.status_code, 200)
                self.assertEqual({r["name"] for r in answer.json()["results"]}, names)
                self.assertEqual(answer.json()["count"], len(names))
            for kind in ("csv", "xlsx"):
                with self.subTest(user=user.username, channel=kind):
                    response = self.page(user).get(reverse("portfolio:catalogue"), {"format": kind})
                    self.assertEqual(response.status_code, 200)
                    content = b"".join(response) if kind == "xlsx" else response.content
                    if kind == "csv":
                        rows = list(csv.reader(io.StringIO(content.decode())))
                    else:
                        rows = [list(r) for r in load_workbook(io.BytesIO(content)).active.iter_rows(values_only=True)]
                    self.assertEqual(rows[0][:2], ["Reference", "Service"])
                    self.assertEqual({r[1] for r in rows[1:]}, names)
                    self.assertNotIn(SECRET, str(rows))

    def test_the_printable_catalogue_holds_the_reader_s_entries_in_full(self) -> None:
        response = self.page(self.p.customer_b).get(reverse("portfolio:catalogue"), {"view": "full"})
        self.assertEqual([e.service.name for e in response.context["entries"]], ["Claims portal", "Mailbox hosting"])
        self.assertContains(response, "Visible Contact")  # the entry's contacts, in full
        self.assertNotContains(response, "Warehouse scanners")
        self.assertNotContains(response, SECRET)

    def test_another_organisation_s_entry_is_not_there_on_any_channel(self) -> None:
        user = self.p.customer_a
        for service in (self.only_b, self.draft_a, self.retired_a, self.nobody):
            with self.subTest(service=service.name):
                page = self.page(user).get(reverse("portfolio:catalogue_entry", args=[service.reference]))
                self.assertEqual(page.status_code, 404)
                api = api_client(user).get(f"/api/v1/portfolio/catalogue/{service.reference}/")
                self.assertEqual(api.status_code, 404)
        # the service records themselves are the provider's: a customer reads none of them
        self.assertEqual(api_client(user).get("/api/v1/portfolio/services/").status_code, 403)
        self.assertEqual(self.page(user).get(reverse("portfolio:service_list")).status_code, 403)
        self.assertEqual(api_client(user).get(f"/api/v1/portfolio/services/{self.shared.pk}/").status_code, 403)

    def test_a_customer_cannot_preview_another_organisation(self) -> None:
        """`?organisation=` is a staff preview; a customer's catalogue is always their own."""
        user = self.p.customer_a
        response = self.page(user).get(reverse("portfolio:catalogue"), {"organisation": self.p.org_b.pk})
        names = {e.service.name for _c, items in response.context["groups"] for e in items}
        self.assertEqual(names, {"Mailbox hosting", "Warehouse scanners"})
        answer = api_client(user).get("/api/v1/portfolio/catalogue/", {"organisation": self.p.org_b.pk})
        self.assertEqual({r["name"] for r in answer.json()["results"]}, names)

    def test_search_finds_a_customer_s_own_entries_and_nothing_else(self) -> None:
        user = self.p.customer_a
        for query, expected in (
            ("scanners", {"Warehouse scanners"}),
            ("portal", set()),
            ("Video", set()),
            ("for you", {"Mailbox hosting", "Warehouse scanners"}),
        ):
            with self.subTest(query=query):
                self.assertEqual(self.names_on_page(user, query), expected)
                hits = api_client(user).get("/api/v1/search/", {"q": query}).json()
                self.assertEqual(
                    {h["display"].split(" ", 1)[1] for h in hits if h["type"] == "portfolio.catalogue"}, expected
                )
                self.assertFalse([h for h in hits if h["type"] == "portfolio.service"])
        # the internal description is never searched for a customer
        self.assertEqual(self.names_on_page(user, "MAIL-OPS"), set())
        self.assertEqual(api_client(user).get("/api/v1/search/", {"q": "MAIL-OPS"}).json(), [])

    def test_an_entry_holds_what_a_customer_may_read_and_nothing_internal(self) -> None:
        answer = api_client(self.p.customer_a).get(f"/api/v1/portfolio/catalogue/{self.shared.reference}/").json()
        self.assertEqual(answer["targets"], [{"measure": "Availability", "target": "99.9 %", "period": "monthly"}])
        self.assertEqual([c["name"] for c in answer["contacts"]], ["Visible Contact"])
        self.assertEqual(
            answer["customer_responsibilities"], ["Everyone: keep the user list", "A only: approve mailboxes"]
        )
        self.assertNotIn(SECRET, str(answer))
        self.assertNotIn("configuration_item", answer)
        other = api_client(self.p.customer_b).get(f"/api/v1/portfolio/catalogue/{self.shared.reference}/").json()
        self.assertEqual(other["customer_responsibilities"], ["Everyone: keep the user list"])
        page = self.page(self.p.customer_a).get(reverse("portfolio:catalogue_entry", args=[self.shared.reference]))
        self.assertContains(page, "Visible Contact")
        self.assertNotContains(page, "Hidden")
        self.assertNotContains(page, SECRET)
        self.assertNotContains(page, "Supplier runs relays")

    def test_a_contact_of_another_customer_is_never_shown(self) -> None:
        """A person of customer B marked for customers on a service offered to A and B: B's users read them, A's
        do not (another customer's person); the provider's own people are read by both."""
        theirs = PersonFactory(organisation=self.p.org_b, first_name="Bea", last_name="Customer-B")
        ServiceContact.objects.create(service=self.shared, person=theirs, role=ContactRole.CUSTOMER_CONTACT)
        provider = PersonFactory(organisation=self.p.internal, first_name="Pia", last_name="Provider")
        ServiceContact.objects.create(service=self.shared, person=provider, role=ContactRole.SERVICE_OWNER)
        url = f"/api/v1/portfolio/catalogue/{self.shared.reference}/"
        for user, expected in (
            (self.p.customer_a, {"Pia Provider"}),
            (self.p.customer_b, {"Pia Provider", "Bea Customer-B"}),
        ):
            with self.subTest(user=user.username):
                names = {c["name"] for c in api_client(user).get(url).json()["contacts"]} - {"Visible Contact"}
                self.assertEqual(names, expected)
        page = self.page(self.p.customer_a).get(reverse("portfolio:catalogue_entry", args=[self.shared.reference]))
        self.assertNotContains(page, "Bea")

    def test_staff_read_every_live_service_and_preview_one_organisation(self) -> None:
        agent = self.p.users[Role.SERVICE_DESK_AGENT]
        every = {"Mailbox hosting", "Warehouse scanners", "Claims portal", "Internal tooling"}
        self.assertEqual(self.names_on_page(agent), every)
        response = self.page(agent).get(reverse("portfolio:catalogue"), {"organisation": self.p.org_b.pk})
        self.assertEqual(
            {e.service.name for _c, items in response.context["groups"] for e in items},
            {"Mailbox hosting", "Claims portal"},
        )
        answer = api_client(agent).get("/api/v1/portfolio/catalogue/", {"organisation": "nope"})
        self.assertEqual(answer.status_code, 400)
        self.assertIn("organisation", answer.json())

    def test_an_empty_catalogue_says_what_to_do(self) -> None:
        lonely = OrganisationFactory(name="New customer")
        user = UserFactory(username="t-new", roles=[Role.CUSTOMER_USER])
        PersonFactory(organisation=lonely, user=user)
        response = self.page(user).get(reverse("portfolio:catalogue"))
        self.assertContains(response, "No service is offered to New customer yet")


class KeptInStepTests(PrincipalsTestCase):
    def test_a_service_gets_its_ci_and_the_ci_follows_it(self) -> None:
        from meridian.cmdb.models import ConfigurationItem
        from meridian.core import services as core
        from meridian.core.models import AuditEvent

        owner = self.p.users[Role.SERVICE_OWNER]
        person = PersonFactory(organisation=self.p.internal)
        service = core.create_record(
            Service,
            data={"name": "SMS gateway", "summary": "Texts", "owner": person, "confidentiality": "high"},
            actor=owner,
        )
        ci = ConfigurationItem.objects.get(pk=service.configuration_item_id)
        self.assertEqual(
            (ci.name, ci.description, ci.owner_person, ci.confidentiality, ci.status),
            ("SMS gateway", "Texts", person, "high", "planned"),
        )
        self.assertTrue(ci.ci_class.service)
        service = core.update_record(
            service, data={"name": "SMS and mass sending"}, actor=owner, expected_version=service.version
        )
        for action, status in (("design", "in_build"), ("transition", "in_test"), ("go_live", "live")):
            service = core.transition(service, action, actor=owner, expected_version=service.version)
            ci.refresh_from_db()
            self.assertEqual(ci.status, status)
        self.assertEqual(ci.name, "SMS and mass sending")
        reasons = AuditEvent.objects.filter(record_type="cmdb.configurationitem", record_id=str(ci.pk)).values_list(
            "reason", flat=True
        )
        self.assertEqual(set(reasons), {f"Kept in step with service {service.reference}."})
        self.assertEqual(len(reasons), 5)  # made, renamed, three statuses

    def test_going_live_needs_an_owner_and_words_for_customers(self) -> None:
        from meridian.core import services as core
        from meridian.core.services import TransitionNotAllowed

        owner = self.p.users[Role.SERVICE_OWNER]
        service = ServiceFactory(status=ServiceStatus.IN_TRANSITION, summary="", business_description="")
        with self.assertRaisesMessage(
            TransitionNotAllowed, "give it a service owner and a summary or business description"
        ):
            core.transition(service, "go_live", actor=owner, expected_version=service.version)
        service.refresh_from_db()
        self.assertEqual(service.status, ServiceStatus.IN_TRANSITION)

    def test_adopting_an_existing_service_ci_and_refusing_one_that_is_not(self) -> None:
        from django.core.exceptions import ValidationError

        from meridian.cmdb.factories import ConfigurationItemFactory
        from meridian.cmdb.models import CIClass
        from meridian.core import services as core

        owner = self.p.users[Role.SERVICE_OWNER]
        imported = ConfigurationItemFactory(name="Claims (from iTop)", ci_class=CIClass.objects.get(name="Service"))
        server = ConfigurationItemFactory(name="host-1", ci_class=CIClass.objects.get(name="Server"))
        with self.assertRaises(ValidationError) as refused:
            core.create_record(Service, data={"name": "Claims", "configuration_item": server}, actor=owner)
        self.assertIn("configuration_item", refused.exception.message_dict)
        self.assertFalse(Service.objects.filter(name="Claims").exists())
        service = core.create_record(Service, data={"name": "Claims", "configuration_item": imported}, actor=owner)
        imported.refresh_from_db()
        self.assertEqual((service.configuration_item_id, imported.name), (imported.pk, "Claims"))

    def test_deleting_a_proposed_service_takes_its_new_ci_along(self) -> None:
        from meridian.cmdb.models import ConfigurationItem
        from meridian.core import services as core

        admin = self.p.users[Role.ADMINISTRATOR]
        service = core.create_record(Service, data={"name": "Short-lived"}, actor=admin)
        ci_id = service.configuration_item_id
        core.delete_record(service, actor=admin, expected_version=service.version)
        self.assertFalse(ConfigurationItem.objects.filter(pk=ci_id).exists())

    def test_a_controlled_service_ci_needs_a_change_for_what_the_ci_keeps(self) -> None:
        from django.core.exceptions import ValidationError

        from meridian.cmdb.tests.test_record_types import approved_change, control
        from meridian.core import services as core

        owner = self.p.users[Role.SERVICE_OWNER]
        service = core.create_record(Service, data={"name": "Payroll"}, actor=owner)
        control(service.configuration_item)
        service.refresh_from_db()
        # the catalogue's words are the owner's to keep
        service = core.update_record(
            service, data={"business_description": "Pay slips monthly."}, actor=owner, expected_version=service.version
        )
        with self.assertRaises(ValidationError) as refused:
            core.update_record(service, data={"name": "Payroll 2"}, actor=owner, expected_version=service.version)
        self.assertIn("authorised_by", refused.exception.message_dict)
        change = approved_change(service.configuration_item)
        service = core.update_record(
            service, data={"name": "Payroll 2"}, actor=owner, expected_version=service.version, authorised_by=change
        )
        from meridian.core.models import AuditEvent

        ci_event = AuditEvent.objects.filter(
            record_type="cmdb.configurationitem", record_id=str(service.configuration_item_id)
        ).latest("id")
        self.assertEqual((ci_event.authorised_by, ci_event.changes["name"]["after"]), (change, "Payroll 2"))
        with transaction.atomic():
            services.keep_ci(service, owner)  # in step already: nothing more is written
        self.assertEqual(
            AuditEvent.objects.filter(
                record_type="cmdb.configurationitem", record_id=str(service.configuration_item_id)
            )
            .latest("id")
            .pk,
            ci_event.pk,
        )


class CatalogueQueriesTests(PrincipalsTestCase):
    def test_the_catalogue_costs_the_same_queries_for_3_or_12_services(self) -> None:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from meridian.core.factories import CalendarFactory
        from meridian.portfolio.factories import OfferingFactory

        calendar = CalendarFactory()

        def add(count: int) -> None:
            for _ in range(count):
                service = ServiceFactory(status=ServiceStatus.LIVE, service_hours=calendar)
                service.customers.set([self.p.org_a])
                ServiceTarget.objects.create(service=service, measure="Availability", target="99 %")
                OfferingFactory(service=service)

        def cost() -> int:
            with CaptureQueriesContext(connection) as queries:
                found = catalogue.entries(self.p.customer_a)
            self.assertTrue(all(e.offerings for e in found))
            return len(queries)

        add(3)
        cost()  # the reader's roles and organisation, read once per request
        few = cost()
        add(9)
        self.assertEqual(cost(), few)
