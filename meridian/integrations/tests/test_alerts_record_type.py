"""The alert source record type through the generic mixins (pages, API, roles, exports, stale saves, imports), and
the validation of its field mapping."""

from __future__ import annotations

import json
from typing import Any

import factory
from django.core.exceptions import ValidationError
from django.test import SimpleTestCase

from meridian.core.choices import Role
from meridian.core.testing import RecordTypeTests, api_client
from meridian.integrations.alert_models import AlertSource, AlertSourceKind
from meridian.portfolio.factories import ServiceFactory


class AlertSourceFactory(factory.django.DjangoModelFactory):
    """Rows written directly, without audit."""

    class Meta:
        model = AlertSource

    name = factory.Sequence(lambda n: f"Prometheus {n}")
    slug = factory.Sequence(lambda n: f"prometheus-{n}")


GENERIC_MAPPING = {"group_key": "$.id", "status": "state", "title": "title"}


class TestAlertSource(RecordTypeTests):
    model = AlertSource
    factory = AlertSourceFactory
    changed_data = {"description": "The production Prometheus pair."}

    def new_data(self) -> dict[str, Any]:
        return {
            "name": "Prometheus (production)",
            "slug": "prometheus-production",
            "kind": AlertSourceKind.ALERTMANAGER,
            "ci_labels": "instance, service",
            "service": ServiceFactory(),
            "impact": "high",
            "urgency": "medium",
        }

    def test_a_generic_source_and_its_mapping_through_page_and_api(self) -> None:
        admin = self.p.users[Role.ADMINISTRATOR]
        self.client.force_login(admin)
        data = {
            "name": "Grafana",
            "slug": "grafana",
            "kind": "generic",
            "ci_labels": "instance",
            "impact": "medium",
            "urgency": "high",
            "active": "on",
            "mapping": json.dumps(GENERIC_MAPPING),
        }
        response = self.client.post(self.url("add"), data)
        self.assertEqual(response.status_code, 302)
        self.assertEqual(AlertSource.objects.get(slug="grafana").mapping, GENERIC_MAPPING)
        response = self.client.post(self.url("add"), {**data, "slug": "grafana-2", "name": "G2", "mapping": "{}"})
        self.assertEqual(response.status_code, 400)
        self.assertIn("group_key: required", response.content.decode())
        body = {"name": "Alerta", "slug": "alerta", "kind": "generic", "mapping": GENERIC_MAPPING}
        response = api_client(admin).post(self.api_url(), body, format="json")
        self.assertEqual(response.status_code, 201, response.content)
        self.assertEqual(response.json()["mapping"], GENERIC_MAPPING)

    def test_a_generic_source_without_a_mapping_is_refused_by_field(self) -> None:
        admin = self.p.users[Role.ADMINISTRATOR]
        response = api_client(admin).post(
            self.api_url(),
            {"name": "Zabbix", "slug": "zabbix", "kind": "generic", "mapping": {"title": 3}},
            format="json",
        )
        self.assertEqual(response.status_code, 400)
        self.assertEqual(list(response.json()), ["mapping"])
        self.assertFalse(AlertSource.objects.filter(slug="zabbix").exists())


class MappingValidationTests(SimpleTestCase):
    def errors(self, **values: Any) -> dict[str, list[str]]:
        source = AlertSource(name="S", slug="s", **values)
        try:
            source.clean()
        except ValidationError as exc:
            return exc.message_dict
        return {}

    def test_a_good_mapping_passes(self) -> None:
        self.assertEqual(self.errors(kind="generic", mapping=GENERIC_MAPPING), {})
        full = {
            **GENERIC_MAPPING,
            "alerts": "$.alerts",
            "fingerprint": "id",
            "labels": "labels",
            "severity": "labels.severity",
            "description": "text",
            "starts_at": "$.at",
            "url": "links.0",
            "firing_values": ["open", "triggered"],
            "resolved_values": ["closed", "ok"],
        }
        self.assertEqual(self.errors(kind="generic", mapping=full), {})

    def test_each_fault_is_named_on_the_mapping(self) -> None:
        cases = {
            "not an object": ["group_key", "status"],
            "missing status": {"group_key": "$.id"},
            "unknown field": {**GENERIC_MAPPING, "priority": "p"},
            "bad path": {**GENERIC_MAPPING, "title": "a..b"},
            "path not text": {**GENERIC_MAPPING, "title": 3},
            "empty values": {**GENERIC_MAPPING, "firing_values": []},
            "values not text": {**GENERIC_MAPPING, "resolved_values": [1]},
            "overlap": {**GENERIC_MAPPING, "firing_values": ["open"], "resolved_values": ["OPEN"]},
        }
        for name, mapping in cases.items():
            with self.subTest(name):
                errors = self.errors(kind="generic", mapping=mapping)
                self.assertEqual(list(errors), ["mapping"])
                self.assertEqual(len(errors["mapping"]), 1, errors)

    def test_alertmanager_sources_have_no_mapping_and_every_source_a_label(self) -> None:
        self.assertEqual(list(self.errors(kind="alertmanager", mapping=GENERIC_MAPPING)), ["mapping"])
        self.assertEqual(self.errors(kind="alertmanager", mapping={}), {})
        self.assertEqual(list(self.errors(kind="alertmanager", ci_labels=" , ")), ["ci_labels"])
