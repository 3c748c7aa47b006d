"""Operator commands: demo data, audit verify, health and metrics endpoints."""

from __future__ import annotations

import io

from django.core.management import call_command
from django.test import TestCase

from meridian.core import audit
from meridian.core.choices import Role
from meridian.core.models import AuditEvent, Calendar, Organisation, Person, Team, User


class DemoTests(TestCase):
    def test_demo_loads_a_believable_provider_once_and_everything_is_audited(self) -> None:
        out = io.StringIO()
        call_command("demo", "--password", "demo-pass-123", stdout=out)
        self.assertIn("admin / demo-pass-123", out.getvalue())
        kinds = set(Organisation.objects.values_list("kind", flat=True))
        self.assertEqual(kinds, {"internal", "customer", "supplier"})
        self.assertGreaterEqual(Organisation.objects.filter(kind="customer").count(), 3)
        self.assertEqual({c.holiday_country for c in Calendar.objects.exclude(holiday_country="")}, {"NL", "DE"})
        roles = {name for user in User.objects.all() for name in user.roles}
        self.assertEqual(roles, set(Role.values))
        self.assertGreaterEqual(Team.objects.count(), 3)
        self.assertTrue(self.client.login(username="admin", password="demo-pass-123"))
        self.assertTrue(self.client.login(username="eva", password="demo-pass-123"))
        self.assertEqual(AuditEvent.objects.filter(record_type="core.person").count() >= Person.objects.count(), True)
        self.assertTrue(audit.verify_chain().ok)
        again = io.StringIO()
        call_command("demo", "--if-empty", stdout=again)
        self.assertIn("already loaded", again.getvalue())


class OperatorEndpointTests(TestCase):
    def test_healthz(self) -> None:
        response = self.client.get("/healthz")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()["status"], "ok")

    def test_metrics_in_prometheus_format(self) -> None:
        from meridian.core.factories import OrganisationFactory

        OrganisationFactory.create_batch(3)
        body = self.client.get("/metrics").content.decode()
        self.assertIn('meridian_records{type="core.organisation"} 3.0', body)
        self.assertIn("# TYPE meridian_audit_events gauge", body)

    def test_metrics_can_require_a_bearer_token(self) -> None:
        from django.test import override_settings

        with override_settings(METRICS_TOKEN="s3cret-scrape-token"):
            self.assertEqual(self.client.get("/metrics").status_code, 401)
            self.assertEqual(self.client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code, 401)
            ok = self.client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token")
            self.assertEqual(ok.status_code, 200)
