"""Every CMDB record type through the generic mixins (pages, API, roles, tenancy, exports, stale saves, links,
custom fields), and the CI lifecycle walked from every state as every role."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.test import TestCase

from meridian.changes.choices import ChangeStatus
from meridian.changes.factories import ChangeFactory
from meridian.cmdb.choices import CIPolicy, CIStatus, Level, Propagation
from meridian.cmdb.factories import (
    CIClassFactory,
    ConfigurationItemFactory,
    RedundancyGroupFactory,
    RelationshipFactory,
    RelationshipKindFactory,
)
from meridian.cmdb.models import CIClass, ConfigurationItem, RedundancyGroup, Relationship, RelationshipKind
from meridian.core import services
from meridian.core.choices import Role
from meridian.core.factories import LocationFactory, OrganisationFactory
from meridian.core.models import Organisation
from meridian.core.testing import (
    CustomFieldTests,
    PrincipalsTestCase,
    RecordTypeTests,
    assert_lifecycle_walk,
    walks_lifecycle,
)


class TestCIClass(RecordTypeTests):
    model = CIClass
    factory = CIClassFactory
    changed_data = {"description": "Physical machines in our racks"}

    def new_data(self) -> dict[str, Any]:
        return {"name": "Storage array", "description": "SAN and NAS", "configuration_policy": "open"}


def approved_change(*cis: ConfigurationItem) -> str:
    """The reference of an approved change that lists these CIs (what authorises a write of controlled ones)."""
    change = ChangeFactory(title="Authorised work", status=ChangeStatus.APPROVED)
    change.configuration_items.set(cis)
    return str(change.reference)


def control(*cis: ConfigurationItem) -> None:
    ConfigurationItem.objects.filter(pk__in=[ci.pk for ci in cis]).update(configuration_policy=CIPolicy.CONTROLLED)


class TestConfigurationItem(CustomFieldTests, RecordTypeTests):
    model = ConfigurationItem
    factory = ConfigurationItemFactory
    changed_data = {"ci_version": "2.4.1", "description": "Runs the month-end close"}

    def put_under_control(self, obj: ConfigurationItem) -> None:
        control(obj)

    def authorising(self, obj: ConfigurationItem) -> str:
        return approved_change(obj)

    def new_data(self) -> dict[str, Any]:
        return {
            "name": "erp-app",
            "ci_class": CIClassFactory(),
            "organisation": self.p.org_a,
            **dict.fromkeys(("criticality", "confidentiality", "integrity", "availability"), Level.MEDIUM),
        }


class TestRelationshipKind(RecordTypeTests):
    model = RelationshipKind
    factory = RelationshipKindFactory
    changed_data = {"description": "Power feeds", "reverse_label": "feeds"}

    def new_data(self) -> dict[str, Any]:
        return {
            "name": "Cooled by",
            "forward_label": "is cooled by",
            "reverse_label": "cools",
            "propagates": Propagation.TO_SOURCE,
        }


class LinksToCIs(RecordTypeTests):
    """A type whose links are CIs: a CI of an organisation is made by its factory (whose tenant is a path)."""

    def record_of(self, model: type[Any], organisation: Organisation) -> Any:
        if model is ConfigurationItem:
            return ConfigurationItemFactory(organisation=organisation)
        return super().record_of(model, organisation)


class TestRelationship(LinksToCIs):
    model = Relationship
    factory = RelationshipFactory
    changed_data = {"note": "through the secondary path"}

    def put_under_control(self, obj: Relationship) -> None:
        control(obj.target)

    def authorising(self, obj: Relationship) -> str:
        return approved_change(obj.source, obj.target)

    def new_data(self) -> dict[str, Any]:
        source = ConfigurationItemFactory(organisation=self.p.org_a)
        target = ConfigurationItemFactory(organisation=self.p.org_a)
        return {"source": source, "target": target, "kind": RelationshipKindFactory()}


class TestRedundancyGroup(LinksToCIs):
    model = RedundancyGroup
    factory = RedundancyGroupFactory
    changed_data = {"description": "Patroni cluster, synchronous replica"}

    def put_under_control(self, obj: RedundancyGroup) -> None:
        control(obj.ci)

    def authorising(self, obj: RedundancyGroup) -> str:
        return approved_change(obj.ci)

    def new_data(self) -> dict[str, Any]:
        members = ConfigurationItemFactory.create_batch(3, organisation=self.p.org_a)
        return {"ci": ConfigurationItemFactory(organisation=self.p.org_a), "members": members, "required_up": 2}


def ci_in_state(state: str, organisation: Organisation | None) -> ConfigurationItem:
    return ConfigurationItemFactory(status=state, organisation=organisation)


class CILifecycleTests(PrincipalsTestCase):
    @walks_lifecycle(ConfigurationItem)
    def test_every_action_from_every_state_as_every_role(self) -> None:
        assert_lifecycle_walk(self, ConfigurationItem, lambda state: ci_in_state(state, self.p.org_a), self.p)

    def test_a_new_ci_is_planned_and_walks_to_disposed(self) -> None:
        manager = self.p.users[Role.CONFIGURATION_MANAGER]
        ci = services.create_record(
            ConfigurationItem, data={"name": "host-7", "ci_class": CIClassFactory()}, actor=manager
        )
        self.assertEqual((ci.status, ci.reference[:3]), (CIStatus.PLANNED, "CI-"))
        for action in ("build", "test", "go_live", "maintain", "resume"):
            ci = services.transition(ci, action, actor=manager, expected_version=ci.version)
        self.assertEqual(ci.status, CIStatus.LIVE)
        ci = services.transition(ci, "retire", actor=manager, reason="replaced", expected_version=ci.version)
        ci = services.transition(ci, "dispose", actor=manager, reason="disk wiped", expected_version=ci.version)
        self.assertEqual(ci.status, CIStatus.DISPOSED)


class CMDBRulesTests(PrincipalsTestCase):
    """The CMDB's own rules on every channel's service: k of n, no self relation, tenancy of a shared CI."""

    def setUp(self) -> None:
        self.manager = self.p.users[Role.CONFIGURATION_MANAGER]

    def test_a_group_needs_one_to_n_members_up_and_writes_nothing_otherwise(self) -> None:
        members = ConfigurationItemFactory.create_batch(3)
        ci = ConfigurationItemFactory()
        for k, field in ((4, "required_up"), (0, "required_up")):
            with self.subTest(k=k), self.assertRaises(ValidationError) as refused:
                services.create_record(
                    RedundancyGroup, data={"ci": ci, "members": members, "required_up": k}, actor=self.manager
                )
            self.assertIn(field, refused.exception.message_dict)
        with self.assertRaises(ValidationError) as refused:
            services.create_record(
                RedundancyGroup, data={"ci": ci, "members": [*members, ci], "required_up": 2}, actor=self.manager
            )
        self.assertIn("members", refused.exception.message_dict)
        self.assertFalse(RedundancyGroup.objects.exists())
        group = services.create_record(
            RedundancyGroup, data={"ci": ci, "members": members, "required_up": 3}, actor=self.manager
        )
        with self.assertRaises(ValidationError) as refused:  # dropping a member below k is refused too
            services.update_record(group, data={"members": members[:2]}, actor=self.manager, expected_version=1)
        self.assertIn("required_up", refused.exception.message_dict)
        self.assertEqual(RedundancyGroup.objects.get().members.count(), 3)

    def test_a_ci_cannot_relate_to_itself(self) -> None:
        ci = ConfigurationItemFactory()
        with self.assertRaises(ValidationError) as refused:
            services.create_record(
                Relationship, data={"source": ci, "target": ci, "kind": RelationshipKindFactory()}, actor=self.manager
            )
        self.assertIn("target", refused.exception.message_dict)

    def test_a_customer_ci_may_depend_on_the_providers_but_the_providers_not_on_a_customers(self) -> None:
        kind = RelationshipKindFactory()
        shared_host = ConfigurationItemFactory(organisation=None)
        customer_app = ConfigurationItemFactory(organisation=self.p.org_a)
        services.create_record(
            Relationship, data={"source": customer_app, "target": shared_host, "kind": kind}, actor=self.manager
        )
        with self.assertRaises(ValidationError) as refused:
            services.create_record(
                Relationship, data={"source": shared_host, "target": customer_app, "kind": kind}, actor=self.manager
            )
        self.assertIn("no customer", str(refused.exception.message_dict["target"]))

    def test_a_providers_ci_stands_in_the_providers_locations(self) -> None:
        ci_class = CIClassFactory()
        own = LocationFactory(organisation=self.p.internal)
        customers = LocationFactory(organisation=self.p.org_b)
        data = {"name": "core-switch", "ci_class": ci_class, "owner_person": None}
        ci = services.create_record(ConfigurationItem, data={**data, "location": own}, actor=self.manager)
        self.assertIsNone(ci.organisation_id)
        # a customer's location is allowed for a location (a server of the provider at a customer's site), but an
        # owner must be the provider's when the CI has no customer
        services.update_record(ci, data={"location": customers}, actor=self.manager, expected_version=ci.version)
        from meridian.core.factories import PersonFactory

        with self.assertRaises(ValidationError) as refused:
            services.update_record(
                ci,
                data={"owner_person": PersonFactory(organisation=self.p.org_b)},
                actor=self.manager,
                expected_version=ci.version + 1,
            )
        self.assertIn("owner_person", refused.exception.message_dict)

    def test_customers_see_only_their_own_cis_never_the_providers(self) -> None:
        own = ConfigurationItemFactory(organisation=self.p.org_a)
        ConfigurationItemFactory(organisation=None)
        ConfigurationItemFactory(organisation=self.p.org_b)
        from meridian.core import policy

        seen = policy.restrict(ConfigurationItem.objects.all(), self.p.customer_a)
        self.assertEqual(list(seen), [own])


class ScopedAttributesTests(PrincipalsTestCase):
    """A custom field scoped to a CI class applies to the classes below it (the `scope_expansions` hook)."""

    def test_hardware_attributes_apply_to_servers_and_virtual_machines_not_to_software(self) -> None:
        from meridian.core import custom_fields, registry

        hardware = CIClass.objects.get(name="Hardware")
        vm = CIClass.objects.get(name="Virtual machine")
        rt = registry.get(ConfigurationItem)
        fields = {d.name: d for d in custom_fields.definitions(rt)}
        serial, hypervisor = fields["serial_number"], fields["hypervisor"]
        self.assertEqual(serial.scope_values, str(hardware.pk))
        on_vm = ConfigurationItemFactory(ci_class=vm)
        on_app = ConfigurationItemFactory(ci_class=CIClass.objects.get(name="Application"))
        self.assertTrue(custom_fields.in_scope(serial, on_vm))
        self.assertTrue(custom_fields.in_scope(hypervisor, on_vm))
        self.assertFalse(custom_fields.in_scope(serial, on_app))
        manager = self.p.users[Role.CONFIGURATION_MANAGER]
        ci = services.update_record(
            on_vm, data={"custom": {"serial_number": "SN-1", "cpu_count": 4}}, actor=manager, expected_version=1
        )
        self.assertEqual(ci.custom, {"serial_number": "SN-1", "cpu_count": 4})
        with self.assertRaises(ValidationError) as refused:
            services.update_record(
                on_app, data={"custom": {"serial_number": "SN-2"}}, actor=manager, expected_version=1
            )
        self.assertEqual(
            refused.exception.message_dict["custom.serial_number"],
            ["Not used here: this field is only for CIs whose class is Hardware (or one under it)."],
        )


class DefaultsTests(TestCase):
    def test_default_kinds_and_classes_are_there(self) -> None:
        self.assertEqual(RelationshipKind.objects.get(name="Depends on").propagates, Propagation.TO_SOURCE)
        self.assertEqual(RelationshipKind.objects.get(name="Backed up by").propagates, Propagation.NONE)
        self.assertEqual(CIClass.objects.get(name="Virtual machine").parent.parent.name, "Hardware")
        self.assertTrue(CIClass.objects.get(name="Service").service)
        self.assertFalse(OrganisationFactory._meta.model.objects.filter(configuration_items__isnull=False).exists())


class ClassAwareFiltersTests(PrincipalsTestCase):
    """The CI list shows a class's attribute filters once it is filtered to that class (or one below the class the
    attribute is scoped to); a hidden attribute filter still filters (saved views, the API)."""

    def test_attribute_filters_follow_the_class_filter(self) -> None:
        server = CIClass.objects.get(name="Server")
        big = ConfigurationItemFactory(ci_class=server, custom={"cpu_count": 64})
        ConfigurationItemFactory(ci_class=server, custom={"cpu_count": 2})
        self.client.force_login(self.p.users[Role.SERVICE_DESK_AGENT])
        plain = self.client.get("/cmdb/cis/")
        self.assertNotContains(plain, 'for="id_custom.cpu_count_min"')
        self.assertContains(plain, 'data-reloads-filters=""')  # the class filter reloads the form
        chosen = self.client.get("/cmdb/cis/", {"ci_class": server.pk})
        self.assertContains(chosen, 'for="id_custom.cpu_count_min"')
        self.assertContains(chosen, 'for="id_custom.serial_number"')  # Hardware's, above Server
        self.assertNotContains(chosen, 'for="id_custom.hypervisor"')  # Virtual machine's, below it
        self.assertNotContains(chosen, 'for="id_custom.review_date"')  # a document's date: hidden too
        self.assertNotContains(chosen, 'type="date" name="custom.review_date"')
        found = self.client.get("/cmdb/cis/", {"custom.cpu_count_min": 32})
        self.assertEqual([row.record for row in found.context["table"].page.object_list], [big])
        partial = self.client.get(
            "/cmdb/cis/", {"ci_class": server.pk}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results"
        )
        self.assertTemplateUsed(partial, "core/_record_table.html")
