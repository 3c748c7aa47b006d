"""The demo's catalogue is believable and wired into the CMDB: live services offered to the demo customers, each
with its configuration item, components and dependencies as relationships, so that a host's failure reaches the
services and customers that stand on it."""

from __future__ import annotations

from django.core.management import call_command
from django.test import TestCase

from meridian.cmdb import impact
from meridian.cmdb.models import ConfigurationItem
from meridian.core.models import AuditEvent, User
from meridian.portfolio import catalogue
from meridian.portfolio.choices import ServiceStatus
from meridian.portfolio.configuration import structure
from meridian.portfolio.models import Service


class DemoCatalogueTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        call_command("demo", password="demo pass phrase")

    def test_the_catalogue_each_demo_customer_reads(self) -> None:
        for username, expected in (
            ("eva", {"E-mail", "SMS gateway", "Warehouse Management", "Workplace support", "Hosting"}),
            ("lena", {"E-mail", "ERP", "Claims Portal", "Workplace support", "Hosting"}),
        ):
            with self.subTest(username=username):
                user = User.objects.get(username=username)
                self.assertEqual({s.name for s in catalogue.services(user)}, expected)

    def test_every_service_has_its_ci_in_step_and_its_place_in_the_cmdb(self) -> None:
        for service in Service.objects.select_related("configuration_item"):
            with self.subTest(service=service.name):
                self.assertIsNotNone(service.configuration_item)
                self.assertEqual(service.configuration_item.name, service.name)
        maria = User.objects.get(username="maria")
        sms = structure(Service.objects.get(name="SMS gateway"), maria)
        self.assertEqual({ci.name for _r, ci in sms["depends_on"]}, {"E-mail", "Hosting"})
        self.assertEqual({ci.name for _r, ci in sms["components"]}, {"sms-gateway-app", "sms-queue"})
        # the two customer services the CMDB demo made were adopted, not copied
        self.assertEqual(ConfigurationItem.objects.filter(name="Warehouse Management").count(), 1)
        self.assertEqual(Service.objects.filter(status=ServiceStatus.IN_DESIGN).count(), 1)
        self.assertTrue(AuditEvent.objects.filter(record_type="portfolio.service", action="transition").exists())

    def test_a_host_failure_reaches_the_services_and_customers_on_it(self) -> None:
        """host-ams-03 alone: the claims portal runs on it, the hosting platform needs 2 of its 3 hosts and
        survives; with host-ams-02 down too the platform fails, and every service standing on it."""
        one = [ConfigurationItem.objects.get(name="host-ams-03").pk]
        reached = {ci.name for ci in impact.services_reached(impact.analyse(one))}
        self.assertIn("Claims Portal", reached)
        self.assertNotIn("Hosting", reached)
        two = [*one, ConfigurationItem.objects.get(name="host-ams-02").pk]
        reached = {ci.name for ci in impact.services_reached(impact.analyse(two))}
        self.assertTrue({"Hosting", "Claims Portal", "SMS gateway", "ERP", "Warehouse Management"} <= reached, reached)

    def test_offerings_and_proposals_of_the_demo(self) -> None:
        eva, lena = User.objects.get(username="eva"), User.objects.get(username="lena")
        sms = catalogue.entry(eva, Service.objects.get(name="SMS gateway").reference)
        assert sms is not None
        self.assertEqual([o["name"] for o in sms.as_dict()["offerings"]], ["Mass sending account"])
        self.assertIsNone(catalogue.entry(lena, Service.objects.get(name="SMS gateway").reference))
        mail = catalogue.entry(lena, Service.objects.get(name="E-mail").reference)
        assert mail is not None
        self.assertEqual({o.name for o in mail.offerings}, {"New mailbox", "Shared mailbox"})
        from meridian.portfolio.models import ServiceProposal

        approved = ServiceProposal.objects.get(title="Secure file transfer for customers")
        self.assertEqual((approved.status, approved.service.name), ("approved", "Secure file transfer"))
        self.assertEqual(approved.service.status, ServiceStatus.PROPOSED)
        self.assertIsNotNone(approved.request_for_change)
        self.assertTrue(approved.major)  # a new service: the demo's first criterion
