"""Baselines with planted differences: taken, compared with the present and with each other, immutable on every
channel, scheduled, scoped by a saved view; staff only."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from meridian.cmdb import baselines
from meridian.cmdb.baselines import take_baseline
from meridian.cmdb.choices import BaselineScope, ScheduleFrequency
from meridian.cmdb.factories import BaselineScheduleFactory
from meridian.cmdb.models import Baseline, BaselineItem, CIClass, ConfigurationItem, Relationship, RelationshipKind
from meridian.core import registry, saved_views, services
from meridian.core.choices import Role
from meridian.core.models import AuditEvent
from meridian.core.testing import PrincipalsTestCase, api_client


class PlantedCMDB(PrincipalsTestCase):
    """payroll (service) → payroll-app → host-1, host-2, cache-1; payroll → host-1 too. All made through services."""

    def setUp(self) -> None:
        self.manager = self.p.users[Role.CONFIGURATION_MANAGER]
        self.depends = RelationshipKind.objects.get(name="Depends on")
        self.server = CIClass.objects.get(name="Server")
        self.svc = self.ci("payroll", "Service")
        self.app = self.ci("payroll-app", "Application", ci_version="1.0")
        self.host1 = self.ci("host-1", "Server", custom={"serial_number": "SN-1"})
        self.host2 = self.ci("host-2", "Server")
        self.cache = self.ci("cache-1", "Server")
        self.unrelated = self.ci("mail-host", "Server")
        self.rel(self.svc, self.app)
        self.svc_host = self.rel(self.svc, self.host1)
        for target in (self.host1, self.host2, self.cache):
            self.rel(self.app, target)

    def ci(self, name: str, class_name: str, **values: Any) -> ConfigurationItem:
        data = {"name": name, "ci_class": CIClass.objects.get(name=class_name), **values}
        return services.create_record(ConfigurationItem, data=data, actor=self.manager)

    def rel(self, source: ConfigurationItem, target: ConfigurationItem) -> Relationship:
        return services.create_record(
            Relationship, data={"source": source, "target": target, "kind": self.depends}, actor=self.manager
        )

    def fresh(self, ci: ConfigurationItem) -> ConfigurationItem:
        return ConfigurationItem.objects.get(pk=ci.pk)

    def plant_changes(self) -> ConfigurationItem:
        """An attribute, a custom attribute, a status, a relationship added (to a new CI) and one removed, a CI
        deleted (with its relationship). Returns the new CI."""
        app = self.fresh(self.app)
        services.update_record(app, data={"ci_version": "2.0"}, actor=self.manager, expected_version=app.version)
        host1 = self.fresh(self.host1)
        services.update_record(
            host1, data={"custom": {"serial_number": "SN-9"}}, actor=self.manager, expected_version=host1.version
        )
        host2 = self.fresh(self.host2)
        services.transition(host2, "build", actor=self.manager, expected_version=host2.version)
        host3 = self.ci("host-3", "Server")
        self.rel(self.app, host3)
        services.delete_record(self.svc_host, actor=self.manager, expected_version=1)
        cache = self.fresh(self.cache)
        services.delete_record(cache, actor=self.manager, expected_version=cache.version)
        return host3

    def take(self, name: str = "Payroll before release", **extra: Any) -> Baseline:
        return take_baseline(name, scope=BaselineScope.DEPENDENCIES, ci=self.svc, actor=self.manager, **extra)


class TakingTests(PlantedCMDB):
    def test_a_baseline_records_the_service_and_everything_it_depends_on_with_their_values(self) -> None:
        baseline = self.take(reason="before REL-000001")
        self.assertEqual(baseline.reference[:3], "BL-")
        self.assertEqual(baseline.item_count, 5)  # not mail-host
        self.assertEqual(
            set(baseline.items.values_list("name", flat=True)),
            {"payroll", "payroll-app", "host-1", "host-2", "cache-1"},
        )
        app = baseline.items.get(ci_id=self.app.pk).data
        self.assertEqual(app["f"]["ci_version"], "1.0")
        self.assertEqual(app["f"]["ci_class"], [self.app.ci_class_id, "Application"])
        self.assertEqual(app["f"]["status"], "planned")
        self.assertEqual(len(app["r"]), 3)
        self.assertEqual(baseline.items.get(ci_id=self.host1.pk).data["c"], {"serial_number": "SN-1"})
        event = AuditEvent.objects.get(record_type="cmdb.baseline", record_id=str(baseline.pk))
        self.assertEqual((event.action, event.reason, event.actor_id), ("create", "before REL-000001", self.manager.pk))
        self.assertEqual(
            Baseline.objects.get(pk=baseline.pk).scope_description,
            f"payroll ({self.svc.reference}) and everything it depends on",
        )

    def test_scope_of_a_class_takes_its_subclasses(self) -> None:
        vm = self.ci("vm-1", "Virtual machine")
        baseline = take_baseline(
            "Hardware", scope=BaselineScope.CI_CLASS, ci_class=CIClass.objects.get(name="Hardware"), actor=self.manager
        )
        names = set(baseline.items.values_list("name", flat=True))
        self.assertIn(vm.name, names)
        self.assertIn("mail-host", names)
        self.assertNotIn("payroll", names)

    def test_scope_of_a_saved_view_uses_its_filters_and_must_be_one_the_taker_may_open(self) -> None:
        rt = registry.get(ConfigurationItem)
        view = saved_views.save_view(
            rt,
            self.manager,
            name="Servers",
            query=f"ci_class={self.server.pk}",
            columns=[],
            sharing="private",
            team=None,
        )
        baseline = take_baseline("Servers", scope=BaselineScope.VIEW, view=view, actor=self.manager)
        self.assertEqual(
            set(baseline.items.values_list("name", flat=True)), {"host-1", "host-2", "cache-1", "mail-host"}
        )
        other = self.p.users[Role.ADMINISTRATOR]
        before = Baseline.objects.count()
        with self.assertRaises(ValidationError) as refused:
            take_baseline("Not mine", scope=BaselineScope.VIEW, view=view, actor=other)
        self.assertIn("scope_view", refused.exception.message_dict)
        self.assertEqual(Baseline.objects.count(), before)

    def test_a_scope_needs_its_own_field_and_only_that(self) -> None:
        events = AuditEvent.objects.count()
        with self.assertRaises(ValidationError) as refused:
            take_baseline("x", scope=BaselineScope.DEPENDENCIES, ci_class=self.server, actor=self.manager)
        self.assertEqual(set(refused.exception.message_dict), {"scope_ci", "scope_class"})
        self.assertFalse(Baseline.objects.exists())
        self.assertEqual(AuditEvent.objects.count(), events)


class CompareTests(PlantedCMDB):
    def expected(self, host3: ConfigurationItem) -> dict[str, Any]:
        depends = self.depends.forward_label
        ref = {c.name: c.reference for c in ConfigurationItem.objects.all()}
        ref["cache-1"] = self.cache.reference
        return {
            "added": [host3.reference],
            "removed": [self.cache.reference],
            "changed": {
                self.svc.reference: ([], [], [f"{depends} host-1 ({ref['host-1']})"]),
                self.app.reference: (
                    [("Version number", "1.0", "2.0")],
                    [f"{depends} host-3 ({host3.reference})"],
                    [f"{depends} cache-1 ({self.cache.reference})"],
                ),
                self.host1.reference: ([("Serial number", "SN-1", "SN-9")], [], []),
                self.host2.reference: ([("Status", "Planned", "In build")], [], []),
            },
        }

    def summary(self, comparison: baselines.Comparison) -> dict[str, Any]:
        return {
            "added": [i.reference for i in comparison.added],
            "removed": [i.reference for i in comparison.removed],
            "changed": {
                c.item.reference: (
                    [(a.label, a.before, a.after) for a in c.attributes],
                    c.relationships_added,
                    c.relationships_removed,
                )
                for c in comparison.changed
            },
        }

    def test_compared_with_the_present_exactly_the_planted_differences(self) -> None:
        baseline = self.take()
        self.assertTrue(baselines.compare(baseline, baselines.PRESENT, self.manager).empty)
        host3 = self.plant_changes()
        comparison = baselines.compare(baseline, baselines.PRESENT, self.manager)
        self.assertEqual(self.summary(comparison), self.expected(host3))
        self.assertEqual(comparison.unchanged, 0)
        self.assertEqual(comparison.removed[0].url, "")  # deleted: no link

    def test_two_baselines_compared_whichever_is_asked_first(self) -> None:
        before = self.take("before")
        host3 = self.plant_changes()
        after = self.take("after")
        for first, second in ((before, after), (after, before)):
            comparison = baselines.compare(first, second, self.manager)
            self.assertEqual(self.summary(comparison), self.expected(host3))
            self.assertEqual(
                (comparison.before, comparison.after), (f"{before.reference} before", f"{after.reference} after")
            )

    def test_redundancy_group_membership_and_k_are_compared(self) -> None:
        from meridian.cmdb.models import RedundancyGroup

        cluster = self.ci("db-cluster", "Server")
        self.rel(self.app, cluster)
        group = services.create_record(
            RedundancyGroup,
            data={"ci": cluster, "members": [self.host1, self.host2], "required_up": 1},
            actor=self.manager,
        )
        baseline = self.take()
        services.update_record(
            group, data={"members": [self.host1], "required_up": 1}, actor=self.manager, expected_version=1
        )
        changed = {c.item.name: c for c in baselines.compare(baseline, baselines.PRESENT, self.manager).changed}
        self.assertEqual(list(changed), ["host-2"])
        self.assertEqual(changed["host-2"].relationships_removed, [f"member of db-cluster ({cluster.reference})"])

    def test_api_compare_with_present_and_refusals(self) -> None:
        baseline = self.take()
        self.plant_changes()
        api = api_client(self.p.users[Role.AUDITOR])
        url = f"/api/v1/cmdb/baselines/{baseline.pk}/compare/"
        answer = api.get(url, {"with": "present"})
        self.assertEqual(answer.status_code, 200, answer.content)
        body = answer.json()
        self.assertEqual(body["counts"], {"added": 1, "removed": 1, "changed": 4, "unchanged": 0})
        app = next(c for c in body["changed"] if c["reference"] == self.app.reference)
        self.assertEqual(app["attributes"], [{"label": "Version number", "before": "1.0", "after": "2.0"}])
        other = self.take("later")
        self.assertEqual(api.get(url, {"with": other.reference}).json()["counts"]["changed"], 4)
        self.assertEqual(api.get(url, {"with": str(other.pk)}).json()["after"], f"{other.reference} later")
        refused = api.get(url, {"with": "yesterday"})
        self.assertEqual(refused.status_code, 400)
        self.assertIn("with", refused.json())
        schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
        self.assertIn("/api/v1/cmdb/baselines/{id}/compare/", schema["paths"])

    def test_the_page_groups_differences_with_counts_or_says_there_are_none(self) -> None:
        baseline = self.take()
        self.client.force_login(self.manager)
        page = self.client.get(f"/cmdb/baselines/{baseline.pk}/", {"tab": "compare"})
        self.assertContains(page, "No differences")
        self.plant_changes()
        page = self.client.get(f"/cmdb/baselines/{baseline.pk}/", {"tab": "compare", "with": "present"})
        self.assertContains(page, "1 added")
        self.assertContains(page, "4 changed")
        self.assertContains(page, "In build")
        self.assertNotContains(page, "No differences")


class ImmutabilityTests(PlantedCMDB):
    def test_nobody_changes_a_baseline_on_any_channel_and_only_administrators_delete_it(self) -> None:
        baseline = self.take()
        for role in (Role.CONFIGURATION_MANAGER, Role.ADMINISTRATOR):
            api = api_client(self.p.users[role])
            answer = api.patch(f"/api/v1/cmdb/baselines/{baseline.pk}/", {"name": "x", "version": 1}, format="json")
            self.assertEqual(answer.status_code, 403, role)
            self.client.force_login(self.p.users[role])
            self.assertEqual(self.client.get(f"/cmdb/baselines/{baseline.pk}/edit/").status_code, 403)
        with self.assertRaises(PermissionDenied):
            services.update_record(baseline, data={"name": "x"}, actor=self.manager, expected_version=1)
        with self.assertRaises(PermissionDenied), transaction.atomic():  # whoever asks, the system actor too
            services.update_record(baseline, data={"name": "x"}, actor=services.get_system_actor(), expected_version=1)
        item = baseline.items.first()
        assert item is not None
        item.name = "forged"
        with self.assertRaises(PermissionDenied):
            item.save()
        self.assertEqual(Baseline.objects.get(pk=baseline.pk).name, "Payroll before release")
        self.assertEqual(
            api_client(self.manager).delete(f"/api/v1/cmdb/baselines/{baseline.pk}/", HTTP_IF_MATCH='"1"').status_code,
            403,
        )
        admin = api_client(self.p.users[Role.ADMINISTRATOR])
        self.assertEqual(admin.delete(f"/api/v1/cmdb/baselines/{baseline.pk}/", HTTP_IF_MATCH='"1"').status_code, 204)
        self.assertFalse(BaselineItem.objects.filter(baseline_id=baseline.pk).exists())
        self.assertTrue(
            AuditEvent.objects.filter(record_type="cmdb.baseline", record_id=str(baseline.pk), action="delete").exists()
        )

    def test_customer_users_see_no_baseline(self) -> None:
        baseline = self.take()
        customer = self.p.customer_a
        self.assertEqual(api_client(customer).get("/api/v1/cmdb/baselines/").status_code, 403)
        self.assertEqual(api_client(customer).get(f"/api/v1/cmdb/baselines/{baseline.pk}/compare/").status_code, 403)
        self.client.force_login(customer)
        self.assertEqual(self.client.get(f"/cmdb/baselines/{baseline.pk}/").status_code, 404)
        self.assertEqual(self.client.get("/cmdb/baselines/").status_code, 403)


class ScheduleTests(PlantedCMDB):
    def test_a_schedule_takes_a_baseline_when_due_and_not_twice(self) -> None:
        schedule = BaselineScheduleFactory(scope_class=self.server, frequency=ScheduleFrequency.DAILY)
        BaselineScheduleFactory(scope_class=self.server, active=False)
        system = services.get_system_actor()
        now = timezone.now()
        first = baselines.take_scheduled(actor=system, now=now)
        self.assertEqual([b.schedule_id for b in first], [schedule.pk])
        self.assertEqual(first[0].item_count, 4)
        self.assertEqual(baselines.take_scheduled(actor=system, now=now + dt.timedelta(hours=2)), [])
        Baseline.objects.filter(pk=first[0].pk).update(created_at=now - dt.timedelta(days=1))
        self.assertEqual(len(baselines.take_scheduled(actor=system, now=now)), 1)

    def test_the_periodic_task_is_registered(self) -> None:
        from meridian.core.tasks import PERIODIC_TASKS

        self.assertIn("cmdb.take_scheduled_baselines", PERIODIC_TASKS)
