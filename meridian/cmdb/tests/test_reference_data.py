"""CI classes and relationship kinds are reference data (`RecordType(reference_data=True)`): a customer user reading
their organisation's CI reads its class and its relationships' kinds by name, while the provider's CIs and other
organisations' CIs stay out of their sight on every channel (page, API, search, export), both ways."""

from __future__ import annotations

from meridian.cmdb.models import CIClass, ConfigurationItem, Relationship, RelationshipKind
from meridian.core import policy, services
from meridian.core.choices import Role
from meridian.core.registry import ADD, EXPORT, VIEW
from meridian.core.testing import PrincipalsTestCase, api_client


class ReferenceDataTests(PrincipalsTestCase):
    def setUp(self) -> None:
        manager = self.p.users[Role.CONFIGURATION_MANAGER]
        self.server = CIClass.objects.get(name="Server")
        self.application = CIClass.objects.get(name="Application")
        self.kind = RelationshipKind.objects.create(
            name="hosted by", forward_label="is hosted by", reverse_label="hosts"
        )

        def ci(name: str, ci_class: CIClass, organisation: object) -> ConfigurationItem:
            data = {"name": name, "ci_class": ci_class, "organisation": organisation}
            return services.create_record(ConfigurationItem, data=data, actor=manager)

        self.own = ci("alpha-payroll-app", self.application, self.p.org_a)
        self.own_host = ci("alpha-private-host", self.server, self.p.org_a)
        self.shared = ci("provider-shared-host", self.server, None)
        self.other = ci("beta-secret-app", self.application, self.p.org_b)
        for source, target in ((self.own, self.own_host), (self.own, self.shared), (self.other, self.shared)):
            services.create_record(
                Relationship, data={"source": source, "kind": self.kind, "target": target}, actor=manager
            )

    def test_a_customer_reads_the_class_and_the_relationship_kinds_of_their_ci(self) -> None:
        self.client.force_login(self.p.customer_a)
        page = self.client.get(f"/cmdb/cis/{self.own.pk}/")
        self.assertEqual(page.status_code, 200)
        text = page.content.decode()
        self.assertIn(f'href="/cmdb/ci-classes/{self.application.pk}/"', text)
        self.assertIn(">Application<", text)
        self.assertIn(">hosted by<", text)  # the kind of each of its relationships, by name
        self.assertIn("alpha-private-host", text)
        self.assertNotIn("provider-shared-host", text)  # the provider's end of a relationship stays hidden
        self.assertNotIn("beta-secret-app", text)
        api = api_client(self.p.customer_a)
        body = api.get(f"/api/v1/cmdb/cis/{self.own.pk}/").json()
        self.assertEqual(body["ci_class"], self.application.pk)
        kind = api.get(f"/api/v1/cmdb/relationship-kinds/{self.kind.pk}/").json()
        self.assertEqual((kind["forward_label"], kind["reverse_label"]), ("is hosted by", "hosts"))
        self.assertEqual(api.get(f"/api/v1/cmdb/ci-classes/{self.application.pk}/").json()["name"], "Application")
        rows = api.get("/api/v1/cmdb/relationships/").json()["results"]
        self.assertEqual(
            sorted((r["source"], r["kind"], str(r["target"])) for r in rows),
            sorted([(self.own.pk, self.kind.pk, str(self.own_host.pk)), (self.own.pk, self.kind.pk, policy.HIDDEN)]),
        )

    def test_reference_data_is_read_by_everyone_and_written_only_as_declared(self) -> None:
        for model in (CIClass, RelationshipKind):
            with self.subTest(model.__name__):
                self.assertTrue(policy.can(self.p.customer_a, VIEW, model))
                self.assertFalse(policy.can(self.p.customer_a, ADD, model))
                self.assertFalse(policy.can(self.p.customer_a, EXPORT, model))
                self.assertIsNone(policy.tenant_filter(self.p.customer_a, model))
        api = api_client(self.p.customer_a)
        refused = api.post("/api/v1/cmdb/ci-classes/", {"name": "Customer class"}, format="json")
        self.assertEqual(refused.status_code, 403)
        self.assertFalse(CIClass.objects.filter(name="Customer class").exists())
        # the count of CIs per class counts only the reader's CIs
        listed = {r["name"]: r["item_count"] for r in api.get("/api/v1/cmdb/ci-classes/?limit=200").json()["results"]}
        self.assertEqual((listed["Server"], listed["Application"]), (1, 1))

    def test_customers_never_see_the_providers_cis_nor_another_organisations_both_ways(self) -> None:
        for customer, own, foreign in (
            (self.p.customer_a, self.own, [self.shared, self.other]),
            (self.p.customer_b, self.other, [self.shared, self.own, self.own_host]),
        ):
            with self.subTest(customer=customer.username):
                self.client.force_login(customer)
                api = api_client(customer)
                self.assertEqual(self.client.get(f"/cmdb/cis/{own.pk}/").status_code, 200)
                listed = self.client.get("/cmdb/cis/").content.decode()
                api_listed = {r["id"] for r in api.get("/api/v1/cmdb/cis/").json()["results"]}
                self.assertIn(own.pk, api_listed)
                self.assertIn(own.name, listed)
                for ci in foreign:
                    self.assertEqual(self.client.get(f"/cmdb/cis/{ci.pk}/").status_code, 404)
                    self.assertEqual(api.get(f"/api/v1/cmdb/cis/{ci.pk}/").status_code, 404)
                    self.assertNotIn(ci.name, listed)
                    self.assertNotIn(ci.pk, api_listed)
                    search = self.client.get("/search/", {"q": ci.name}).content.decode()
                    self.assertNotIn(f'href="/cmdb/cis/{ci.pk}/"', search)
                    self.assertNotIn(f"{ci.name}<", search)  # named nowhere but in the search box
                    hits = api.get("/api/v1/search/", {"q": ci.name}).json()
                    self.assertNotIn(("cmdb.configurationitem", ci.pk), [(h["type"], h["id"]) for h in hits])
                    # nor through a relationship of their own that points at it (its name would be confirmed)
                    self.assertNotIn("cmdb.relationship", [h["type"] for h in hits])
                    found = api.get("/api/v1/cmdb/relationships/", {"q": ci.name}).json()["results"]
                    self.assertEqual(found, [])
                    # the class's page lists only the reader's CIs of the class
                    class_page = self.client.get(f"/cmdb/ci-classes/{ci.ci_class_id}/").content.decode()
                    self.assertNotIn(ci.name, class_page)
                self.assertIn(own.name, self.client.get("/search/", {"q": own.name}).content.decode())
                # customers do not export CIs (staff and auditors do): refused, nothing of anybody's
                self.assertEqual(self.client.get("/cmdb/cis/?export=csv").status_code, 403)
                self.assertEqual(self.client.get("/cmdb/ci-classes/?export=csv").status_code, 403)
