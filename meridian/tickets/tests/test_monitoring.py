"""Incidents from monitoring end to end: Alertmanager's webhook opens an incident per alert group through the tickets
app's handler (`tickets.monitoring`), links the CI its label names, notes changes on it, resolves it, and a replay
changes nothing."""

from __future__ import annotations

from typing import Any

from django.test import TestCase
from django.urls import reverse

from meridian.cmdb.factories import ConfigurationItemFactory
from meridian.core.choices import Role
from meridian.core.factories import OrganisationFactory, PersonFactory, TeamFactory, UserFactory
from meridian.core.models import AuditEvent, Comment
from meridian.core.testing import api_client, make_principals
from meridian.integrations import alerts
from meridian.integrations.alert_models import AlertSource, AlertSourceKind
from meridian.integrations.tests.test_alerts_receiver import alert, body
from meridian.portfolio.factories import ServiceFactory
from meridian.tickets.choices import Channel, ResolutionCode, Status
from meridian.tickets.models import Incident
from meridian.tickets.monitoring import RESOLVED_BY_MONITORING, IncidentAlerts


class MonitoringTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.p = make_principals()
        cls.customer = OrganisationFactory(name="Warehouse Co")
        cls.team = TeamFactory(organisation=cls.p.internal)
        cls.service = ServiceFactory()
        cls.monitor = UserFactory(username="prometheus", roles=[Role.SERVICE_DESK_AGENT])
        PersonFactory(organisation=cls.p.internal, user=cls.monitor, first_name="Prometheus", last_name="Monitoring")
        cls.db1 = ConfigurationItemFactory(name="db1", organisation=cls.customer)
        cls.source = AlertSource.objects.create(
            name="Prometheus",
            slug="prom",
            kind=AlertSourceKind.ALERTMANAGER,
            organisation=cls.customer,
            service=cls.service,
            team=cls.team,
            impact="high",
            urgency="high",
        )

    def setUp(self) -> None:
        replaced = alerts.handler_replaced(IncidentAlerts())  # what TicketsConfig.ready registers
        replaced.__enter__()
        self.addCleanup(replaced.__exit__, None, None, None)

    def post(self, payload: dict[str, Any], user: Any = None) -> Any:
        api = api_client(user or self.monitor)
        return api.post(reverse("api:integrations-alertmanager", args=["prom"]), payload, format="json")

    def test_a_firing_and_resolved_pair_opens_and_resolves_one_incident(self) -> None:
        firing = body(alert("f001"), alert("f002", instance="web9:9100"))
        answer = self.post(firing).json()
        self.assertEqual(answer["result"], "opened")
        incident = Incident.objects.get()
        self.assertEqual(
            (answer["record"]["type"], answer["record"]["reference"], answer["record"]["url"]),
            ("tickets.incident", incident.reference, incident.get_absolute_url()),
        )
        self.assertEqual(
            (incident.channel, incident.status, incident.organisation, incident.service, incident.team),
            (Channel.MONITORING, Status.NEW, self.customer, self.service, self.team),
        )
        self.assertEqual((incident.impact, incident.urgency, incident.created_by), ("high", "high", self.monitor))
        self.assertEqual(list(incident.configuration_items.all()), [self.db1])  # web9 names no CI
        self.assertIn("instance=db1:9100", incident.description)
        self.assertEqual(AuditEvent.objects.filter(record_type="tickets.incident", action="create").count(), 1)
        events = AuditEvent.objects.count()

        self.assertEqual(self.post(firing).json()["result"], "replayed")  # Alertmanager's retry
        self.assertEqual((Incident.objects.count(), AuditEvent.objects.count()), (1, events))

        resolved = body(alert("f001", "resolved"), alert("f002", "resolved", instance="web9:9100"))
        self.assertEqual(self.post(resolved).json()["result"], "resolved")
        incident.refresh_from_db()
        self.assertEqual(
            (incident.status, incident.resolution_code, incident.resolution_notes),
            (Status.RESOLVED, ResolutionCode.FIXED, RESOLVED_BY_MONITORING),
        )
        self.assertIn("Resolved (2):", Comment.objects.get().body)
        self.assertEqual(self.post(resolved).json()["result"], "replayed")
        self.assertEqual(Incident.objects.count(), 1)

        # the group fires again later: a new incident that names the first
        answer = self.post(body(alert("f001") | {"startsAt": "2026-12-01T15:00:00Z"})).json()
        self.assertEqual(answer["result"], "opened")
        second = Incident.objects.get(reference=answer["record"]["reference"])
        self.assertNotEqual(second, incident)
        self.assertIn(f"This group was earlier {incident.reference}.", second.description)

    def test_the_urgency_follows_the_most_severe_firing_alert(self) -> None:
        AlertSource.objects.filter(pk=self.source.pk).update(urgency="low")
        cases = [
            ("g1", [("warning", "firing"), ("info", "firing")], "medium"),
            ("g2", [("info", "firing"), ("critical", "firing")], "high"),
            ("g3", [("page-me", "firing")], "low"),  # a severity not in the table: the source's urgency
            ("g4", [("critical", "resolved"), ("info", "firing")], "low"),  # only firing alerts count
        ]
        for key, alerts_, urgency in cases:
            with self.subTest(key):
                payload = body(
                    *(alert(f"{key}{n}", status, severity=severity) for n, (severity, status) in enumerate(alerts_)),
                    key=key,
                )
                reference = self.post(payload).json()["record"]["reference"]
                self.assertEqual(Incident.objects.get(reference=reference).urgency, urgency)

    def test_a_bad_urgency_table_is_refused_by_line(self) -> None:
        self.client.force_login(self.p.users[Role.ADMINISTRATOR])
        response = api_client(self.p.users[Role.ADMINISTRATOR]).patch(
            f"/api/v1/integrations/alert-sources/{self.source.pk}/",
            {"severity_urgency": "critical: high\nwarning - medium\ninfo: soon", "version": self.source.version},
            format="json",
        )
        self.assertEqual(response.status_code, 400, response.content)
        self.assertEqual(
            response.json()["severity_urgency"],
            [
                "Line 2: write “severity: urgency” with high, medium or low, not “warning - medium”.",
                "Line 3: write “severity: urgency” with high, medium or low, not “info: soon”.",
            ],
        )

    def test_a_new_alert_is_an_internal_work_note_and_links_its_ci(self) -> None:
        self.post(body(alert("n001", instance="web9")))
        db2 = ConfigurationItemFactory(name="db2", organisation=self.customer)
        ConfigurationItemFactory(name="db3", organisation=OrganisationFactory())  # another customer's: never linked
        answer = self.post(
            body(alert("n001", instance="web9"), alert("n002", instance="db2:9100"), alert("n003", instance="db3"))
        ).json()
        self.assertEqual(answer["result"], "updated")
        incident = Incident.objects.get()
        self.assertEqual(list(incident.configuration_items.all()), [db2])
        note = Comment.objects.get()
        self.assertEqual((note.visibility, note.author), ("internal", self.monitor))
        self.assertIn("Firing (2 new):", note.body)
        self.assertIn("fingerprint n002", note.body)

    def test_an_incident_people_resolved_gets_no_more_notes(self) -> None:
        self.post(body(alert("r001")))
        incident = Incident.objects.get()
        agent = self.p.users[Role.SERVICE_DESK_AGENT]
        from meridian.core import services

        services.transition(
            incident,
            "resolve",
            actor=agent,
            expected_version=incident.version,
            values={"resolution_code": ResolutionCode.WORKAROUND, "resolution_notes": "Failed over."},
        )
        self.assertEqual(self.post(body(alert("r001")) | {"receiver": "again"}).json()["result"], "unchanged")
        self.assertEqual(self.post(body(alert("r001", "resolved"))).json()["result"], "unchanged")
        incident.refresh_from_db()
        self.assertEqual((incident.status, incident.resolution_code), (Status.RESOLVED, ResolutionCode.WORKAROUND))
        self.assertFalse(Comment.objects.exists())

    def test_who_may_post(self) -> None:
        for role in (Role.AUDITOR, Role.CUSTOMER_USER, Role.CONFIGURATION_MANAGER):
            with self.subTest(role=role):
                response = self.post(body(alert("x001")), user=self.p.for_role(role))
                self.assertEqual(response.status_code, 403)
        self.assertFalse(Incident.objects.exists())
        self.assertEqual(self.post(body(alert("x001")), user=self.p.users[Role.RESOLVER]).status_code, 200)
