"""The monitoring intake end to end through its two webhooks, with a handler of the test's own that opens a plain
record (a location) per alert group and notes every call: grouping, updates, dedupe by fingerprint, resolution, a
new cycle, replays, refusals, authentication, and the third-party payloads of the shared data set."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, ClassVar
from unittest import skipIf

from django.core.exceptions import ValidationError
from django.test import TestCase
from django.urls import reverse
from rest_framework.test import APIClient

from meridian.cmdb.factories import ConfigurationItemFactory
from meridian.core.choices import Role
from meridian.core.factories import LocationFactory, OrganisationFactory
from meridian.core.models import Location
from meridian.core.testing import api_client, make_principals, token_for
from meridian.integrations import alerts, webhooks
from meridian.integrations.alert_models import AlertGroup, AlertSource, AlertSourceKind
from meridian.integrations.tests.test_alerts_record_type import AlertSourceFactory

REPO = Path(__file__).resolve().parents[3]
CANDIDATES = [REPO.parent / "shared" / "datasets", REPO.parent.parent / "shared" / "datasets"]
DATASET = next((d / "alertmanager-thirdparty" for d in CANDIDATES if (d / "alertmanager-thirdparty").is_dir()), None)
SKIP_REASON = f"the alertmanager-thirdparty data set is not beside the repository (looked in {CANDIDATES})"


class RecordingHandler:
    """Opens a location per group (any record would do) and notes each call with what it was told."""

    def __init__(self, *, may: bool = True, refuse: str = "") -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.closed: set[int] = set()
        self.may = may
        self.refuse = refuse

    def may_receive(self, user: Any) -> bool:
        return self.may

    def _check(self, what: str) -> None:
        if self.refuse == what:
            raise ValidationError({"title": "Refused by the handler."})

    def open(self, received: alerts.Received) -> Location:
        self._check("open")
        record = LocationFactory(name=received.delivery.title[:100])
        fingerprints = [a.fingerprint for a in received.changes.new]
        cis = [ci.name for ci in received.cis]
        self.calls.append(("open", record.pk, fingerprints, cis, received.previous, received.description()))
        return record  # type: ignore[no-any-return]

    def update(self, record: Any, received: alerts.Received) -> None:
        self._check("update")
        changes = received.changes
        self.calls.append(
            (
                "update",
                record.pk,
                [a.fingerprint for a in changes.new],
                [a.fingerprint for a in changes.resolved],
                [ci.name for ci in received.cis],
                changes.summary(),
            )
        )

    def resolve(self, record: Any, received: alerts.Received) -> None:
        self._check("resolve")
        self.calls.append(("resolve", record.pk, [a.fingerprint for a in received.changes.resolved]))
        self.closed.add(record.pk)

    def is_open(self, record: Any) -> bool:
        return record.pk not in self.closed


def alert(fingerprint: str, status: str = "firing", instance: str = "db1:9100", **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "HostDown", "instance": instance, "severity": "critical", **labels},
        "annotations": {"summary": f"{instance} is down", "description": "No scrape for 5 minutes."},
        "startsAt": "2026-12-01T09:30:00.123456789Z",
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-12-01T10:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up+%3D%3D+0",
        "fingerprint": fingerprint,
    }


def body(*alerts_: dict[str, Any], key: str = '{}:{alertname="HostDown"}', truncated: int = 0) -> dict[str, Any]:
    firing = any(a["status"] == "firing" for a in alerts_)
    return {
        "version": "4",
        "groupKey": key,
        "truncatedAlerts": truncated,
        "status": "firing" if firing else "resolved",
        "receiver": "meridian",
        "groupLabels": {"alertname": "HostDown"},
        "commonLabels": {"alertname": "HostDown"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts_),
    }


class ReceiverTestCase(TestCase):
    source: ClassVar[AlertSource]

    @classmethod
    def setUpTestData(cls) -> None:
        cls.p = make_principals()
        cls.agent = cls.p.users[Role.SERVICE_DESK_AGENT]
        cls.source = AlertSourceFactory(slug="prod", kind=AlertSourceKind.ALERTMANAGER)
        cls.db1 = ConfigurationItemFactory(name="db1")
        cls.db2 = ConfigurationItemFactory(name="DB2.example.org")

    def setUp(self) -> None:
        self.handler = RecordingHandler()
        replaced = alerts.handler_replaced(self.handler)
        replaced.__enter__()
        self.addCleanup(replaced.__exit__, None, None, None)
        self.api = api_client(self.agent)

    def post(self, payload: Any, slug: str = "prod", api: APIClient | None = None, kind: str = "alertmanager") -> Any:
        name = "api:integrations-alertmanager" if kind == "alertmanager" else "api:integrations-webhook"
        return (api or self.api).post(reverse(name, args=[slug]), payload, format="json")

    def group_state(self) -> list[tuple[str, dict[str, str], int]]:
        return [(g.status, g.firing, g.opened) for g in AlertGroup.objects.order_by("pk")]


class GroupLifecycleTests(ReceiverTestCase):
    def test_one_record_per_group_updated_deduplicated_resolved_and_a_new_one_after(self) -> None:
        response = self.post(body(alert("aa01"), alert("aa02", instance="db2.example.org:9100")))
        self.assertEqual(response.status_code, 200, response.content)
        answer = response.json()
        self.assertEqual(
            (answer["result"], answer["group"]["status"], answer["group"]["firing"]), ("opened", "firing", 2)
        )
        self.assertEqual(answer["record"]["type"], "core.location")
        first = answer["record"]["id"]
        kind, pk, fingerprints, cis, previous, description = self.handler.calls[0]
        self.assertEqual(
            (kind, pk, fingerprints, cis, previous), ("open", first, ["aa01", "aa02"], ["db1", "DB2.example.org"], None)
        )
        self.assertIn("instance=db1:9100", description)
        self.assertIn('alert group {}:{alertname="HostDown"}', description)

        # the same alerts again (Alertmanager's repeat, with another end time): nothing to announce
        repeat = body(alert("aa02", instance="db2.example.org:9100"), alert("aa01"))
        repeat["alerts"][0]["endsAt"] = "2026-12-01T09:40:00Z"
        self.assertEqual(self.post(repeat).json()["result"], "unchanged")
        self.assertEqual(len(self.handler.calls), 1)

        # a third alert joins and the first one resolves: one update naming both
        answer = self.post(
            body(
                alert("aa01", "resolved"),
                alert("aa02", instance="db2.example.org:9100"),
                alert("aa03", instance="web1"),
            )
        ).json()
        self.assertEqual((answer["result"], answer["record"]["id"], answer["group"]["firing"]), ("updated", first, 2))
        kind, pk, new, resolved, cis, summary = self.handler.calls[1]
        self.assertEqual((kind, pk, new, resolved, cis), ("update", first, ["aa03"], ["aa01"], []))
        self.assertIn("Firing (1 new):\n- web1 is down [critical] (fingerprint aa03)", summary)
        self.assertIn("Resolved (1):\n- db1:9100 is down [critical] (fingerprint aa01)", summary)
        self.assertIn("2 alerts of the group firing now.", summary)

        # everything resolved: the record is resolved
        answer = self.post(
            body(alert("aa02", "resolved", instance="db2.example.org:9100"), alert("aa03", "resolved", instance="web1"))
        ).json()
        self.assertEqual(
            (answer["result"], answer["group"]["status"], answer["group"]["firing"]), ("resolved", "resolved", 0)
        )
        self.assertEqual(self.handler.calls[2], ("resolve", first, ["aa02", "aa03"]))

        # firing again later: a new record, told the previous one
        answer = self.post(body(alert("aa01") | {"startsAt": "2026-12-01T12:00:00Z"})).json()
        self.assertEqual(answer["result"], "opened")
        self.assertNotEqual(answer["record"]["id"], first)
        self.assertEqual(self.handler.calls[3][4].pk, first)
        self.assertEqual(self.group_state(), [("firing", {"aa01": "db1:9100 is down"}, 2)])

    def test_an_identical_delivery_changes_nothing(self) -> None:
        payload = body(alert("bb01"))
        self.assertEqual(self.post(payload).json()["result"], "opened")
        group = AlertGroup.objects.get()
        for _ in range(3):  # Alertmanager's retries, key order aside
            replay = json.loads(json.dumps(payload, sort_keys=True))
            answer = self.post(replay).json()
            self.assertEqual(answer["result"], "replayed")
            self.assertEqual(answer["record"]["id"], self.handler.calls[0][1])
        self.assertEqual(len(self.handler.calls), 1)
        after = AlertGroup.objects.get()
        self.assertEqual((after.digests, after.last_received_at), (group.digests, group.last_received_at))
        # a late retry of the firing delivery after the resolution changes nothing either
        self.assertEqual(self.post(body(alert("bb01", "resolved"))).json()["result"], "resolved")
        self.assertEqual(self.post(payload).json()["result"], "replayed")
        self.assertEqual([c[0] for c in self.handler.calls], ["open", "resolve"])

    def test_groups_are_apart_and_long_keys_are_kept(self) -> None:
        long_key = '{}/{alertname=~"^(?:(' + "|".join(f"Alert{i}" for i in range(400)) + '))$"}:{}'
        self.post(body(alert("cc01")))
        self.post(body(alert("cc01"), key=long_key))
        self.assertEqual(len([c for c in self.handler.calls if c[0] == "open"]), 2)
        self.assertEqual(AlertGroup.objects.get(key_digest=alerts.key_digest(long_key)).group_key, long_key)

    def test_a_truncated_list_does_not_resolve_the_alerts_it_leaves_out(self) -> None:
        self.post(body(alert("dd01"), alert("dd02"), alert("dd03")))
        answer = self.post(body(alert("dd01"), truncated=2)).json()
        self.assertEqual((answer["result"], answer["group"]["firing"]), ("unchanged", 3))
        answer = self.post(body(alert("dd01")) | {"commonAnnotations": {"x": "complete again"}}).json()
        self.assertEqual((answer["result"], answer["group"]["firing"]), ("updated", 1))
        self.assertEqual(self.handler.calls[1][3], ["dd02", "dd03"])

    def test_a_record_people_closed_gets_no_updates_and_a_new_alert_opens_another(self) -> None:
        first = self.post(body(alert("ee01"))).json()["record"]["id"]
        self.handler.closed.add(first)
        self.assertEqual(self.post(body(alert("ee01")) | {"receiver": "x"}).json()["result"], "unchanged")
        answer = self.post(body(alert("ee01"), alert("ee02"))).json()
        self.assertEqual(answer["result"], "opened")
        self.assertEqual(self.handler.calls[-1][2], ["ee01", "ee02"])

    def test_a_first_delivery_that_is_resolved_opens_nothing(self) -> None:
        answer = self.post(body(alert("ff01", "resolved"))).json()
        self.assertEqual((answer["result"], answer["record"]), ("unchanged", None))
        self.assertEqual(self.handler.calls, [])

    def test_a_handler_refusal_writes_nothing(self) -> None:
        self.handler.refuse = "open"
        response = self.post(body(alert("gg01")))
        self.assertEqual(response.status_code, 400)
        self.assertEqual(response.json(), {"title": ["Refused by the handler."]})
        self.assertFalse(AlertGroup.objects.exists())
        self.handler.refuse = ""
        self.post(body(alert("gg01")))
        self.handler.refuse = "update"
        before = self.group_state()
        self.assertEqual(self.post(body(alert("gg01"), alert("gg02"))).status_code, 400)
        self.assertEqual(self.group_state(), before)


class GroupsTabTests(ReceiverTestCase):
    def test_the_sources_page_lists_its_groups_and_their_records(self) -> None:
        self.post(body(alert("tab1")))
        self.post(body(alert("tab2"), key="second"))
        self.post(body(alert("tab2", "resolved"), key="second"))
        record = Location.objects.get(pk=self.handler.calls[0][1])
        admin = self.p.users[Role.ADMINISTRATOR]
        answer = api_client(admin).get(reverse("api:integrations-alert-sources-groups", args=[self.source.pk])).json()
        rows = [(g["group_key"], g["status"], g["firing"], g["opened"]) for g in answer["groups"]]
        self.assertEqual(rows, [("second", "resolved", 0, 1), ('{}:{alertname="HostDown"}', "firing", 1, 1)])
        self.assertEqual(answer["groups"][1]["record"], str(record))
        self.client.force_login(admin)
        page = self.client.get(reverse("integrations:alertsource_detail", args=[self.source.pk]) + "?tab=groups")
        self.assertContains(page, f'href="{record.get_absolute_url()}"')
        self.assertContains(page, "Firing")


class CiLinkTests(ReceiverTestCase):
    def test_the_ci_is_found_by_the_configured_labels_reference_or_name(self) -> None:
        customer = OrganisationFactory()
        theirs = ConfigurationItemFactory(name="app1", organisation=customer)
        ConfigurationItemFactory(name="app1", organisation=OrganisationFactory())  # another customer's namesake
        ConfigurationItemFactory(name="twin")
        ConfigurationItemFactory(name="TWIN")
        self.source.ci_labels = "host, service"
        self.source.organisation = customer
        self.source.save()
        cases = [
            ({"host": "app1:8080"}, ["app1"]),
            ({"service": "https://app1/health"}, ["app1"]),
            ({"host": self.db1.reference}, ["db1"]),  # the provider's shared CI
            ({"host": "", "service": "db1"}, ["db1"]),
            ({"host": "twin"}, []),  # ambiguous: none rather than a guess
            ({"instance": "db1"}, []),  # not a configured label
        ]
        for number, (labels, expected) in enumerate(cases):
            with self.subTest(labels=labels):
                payload = body(alert(f"ci{number}"), key=f"ci-{number}")
                payload["alerts"][0]["labels"] = {"alertname": "HostDown", **labels}
                self.assertEqual(self.post(payload).json()["result"], "opened")
                self.assertEqual(self.handler.calls[-1][3], expected)
        self.assertTrue(theirs.pk)


class RefusalTests(ReceiverTestCase):
    def assert_refused(self, payload: Any, errors: dict[str, list[str]] | list[str]) -> None:
        response = self.post(payload)
        self.assertEqual(response.status_code, 400, response.content)
        if isinstance(errors, dict):
            self.assertEqual(response.json(), errors)
        else:
            self.assertEqual(sorted(response.json()), sorted(errors))
        self.assertFalse(AlertGroup.objects.exists())
        self.assertEqual(self.handler.calls, [])

    def test_every_documented_field_is_required(self) -> None:
        good = body(alert("hh01"))
        for name in good:
            with self.subTest(name):
                payload = copy.deepcopy(good)
                del payload[name]
                self.assert_refused(payload, {name: ["This field is required."]})
        for name in good["alerts"][0]:
            with self.subTest(name):
                payload = copy.deepcopy(good)
                del payload["alerts"][0][name]
                self.assert_refused(payload, {f"alerts[0].{name}": ["This field is required."]})

    def test_wrong_values_are_named_by_their_path(self) -> None:
        cases: list[tuple[str, Any, str]] = [
            ("version", "3", "version"),
            ("version", 4, "version"),
            ("groupKey", "", "groupKey"),
            ("groupKey", 5615590933959184469, "groupKey"),
            ("truncatedAlerts", -1, "truncatedAlerts"),
            ("truncatedAlerts", "0", "truncatedAlerts"),
            ("truncatedAlerts", True, "truncatedAlerts"),
            ("status", "pending", "status"),
            ("receiver", None, "receiver"),
            ("groupLabels", ["alertname"], "groupLabels"),
            ("commonLabels", {"timeout": 600}, "commonLabels"),
            ("alerts", [], "alerts"),
            ("alerts", {"0": {}}, "alerts"),
            ("alerts", ["x"], "alerts[0]"),
        ]
        for name, value, path in cases:
            with self.subTest(name=name, value=value):
                self.assert_refused(body(alert("ii01")) | {name: value}, [path])
        alert_cases: list[tuple[str, Any]] = [
            ("status", "ok"),
            ("labels", {"a": 1}),
            ("annotations", "text"),
            ("startsAt", "yesterday"),
            ("startsAt", "2026-12-01 09:30"),
            ("endsAt", "2026-12-01T09:30:00"),  # no offset
            ("generatorURL", None),
            ("fingerprint", ""),
            ("fingerprint", 12),
        ]
        for name, value in alert_cases:
            with self.subTest(name=name, value=value):
                payload = body(alert("ii01"))
                payload["alerts"][0][name] = value
                self.assert_refused(payload, [f"alerts[0].{name}"])

    def test_the_group_must_agree_with_its_alerts_and_fingerprints_come_once(self) -> None:
        self.assert_refused(body(alert("jj01")) | {"status": "resolved"}, ["status"])
        self.assert_refused(body(alert("jj01", "resolved")) | {"status": "firing"}, ["status"])
        self.assert_refused(
            body(alert("jj01"), alert("jj01")), {"alerts[1].fingerprint": ["The same as alerts[0]'s: each once."]}
        )

    def test_bodies_that_are_not_a_json_object(self) -> None:
        for payload in (["x"], "text", 3):
            with self.subTest(payload=payload):
                self.assert_refused(payload, ["body"])
        response = self.api.post(
            reverse("api:integrations-alertmanager", args=["prod"]), "{not json", content_type="application/json"
        )
        self.assertEqual(response.status_code, 400)
        self.assertFalse(AlertGroup.objects.exists())

    def test_fields_the_format_does_not_define_are_ignored(self) -> None:
        payload = body(alert("kk01")) | {"orgId": 1, "title": "extra"}
        payload["alerts"][0]["silenceURL"] = "http://x"
        self.assertEqual(self.post(payload).json()["result"], "opened")


class AccessTests(ReceiverTestCase):
    def test_who_may_post(self) -> None:
        url = reverse("api:integrations-alertmanager", args=["prod"])
        payload = body(alert("ll01"))
        self.assertEqual(APIClient().post(url, payload, format="json").status_code, 401)
        wrong = APIClient()
        wrong.credentials(HTTP_AUTHORIZATION="Bearer mrd_not-a-token")
        self.assertEqual(wrong.post(url, payload, format="json").status_code, 401)
        read_only = APIClient()
        read_only.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(self.agent, read_only=True)}")
        self.assertEqual(read_only.post(url, payload, format="json").status_code, 403)
        session = APIClient()
        session.force_login(self.agent)  # only tokens: a browser session is not a monitoring system
        self.assertEqual(session.post(url, payload, format="json").status_code, 401)
        self.handler.may = False
        bearer = APIClient()
        bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(self.agent)}")
        response = bearer.post(url, payload, format="json")
        self.assertEqual(response.status_code, 403)
        self.assertIn("may not open incidents", response.json()["detail"])
        self.assertFalse(AlertGroup.objects.exists())
        self.handler.may = True
        self.assertEqual(bearer.post(url, payload, format="json").status_code, 200)

    def test_the_openapi_schema_describes_both_webhooks(self) -> None:
        schema = self.api.get(reverse("schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
        for path, operation_id in [
            ("/api/v1/integrations/alertmanager/{slug}/", "integrations_alertmanager_receive"),
            ("/api/v1/integrations/webhooks/{slug}/", "integrations_webhook_receive"),
        ]:
            with self.subTest(path):
                operation = schema["paths"][path]["post"]
                self.assertEqual(operation["operationId"], operation_id)
                self.assertLessEqual({"200", "400", "401", "403", "404", "503"}, set(operation["responses"]))
                self.assertIn("requestBody", operation)
        body_schema = schema["components"]["schemas"]["AlertmanagerBodyRequest"]
        self.assertEqual(sorted(body_schema["required"]), sorted(webhooks.TOP_FIELDS))

    def test_unknown_inactive_and_unhandled(self) -> None:
        self.assertEqual(self.post(body(alert("mm01")), slug="nope").status_code, 404)
        AlertSourceFactory(slug="generic", kind=AlertSourceKind.GENERIC, mapping={"group_key": "$.k", "status": "s"})
        self.assertEqual(self.post(body(alert("mm01")), slug="generic").status_code, 404)  # another kind's address
        self.source.active = False
        self.source.save()
        response = self.post(body(alert("mm01")))
        self.assertEqual(
            (response.status_code, response.json()["detail"]),
            (403, f"The alert source “{self.source.name}” is switched off."),
        )
        self.source.active = True
        self.source.save()
        with alerts.handler_replaced(None):
            self.assertEqual(self.post(body(alert("mm01"))).status_code, 503)
        self.assertFalse(AlertGroup.objects.exists())


ALERTA_V4_MAPPING = {
    "alerts": "alerts",
    "group_key": "$.groupKey",
    "status": "status",
    "title": "annotations.summary",
    "description": "annotations.description",
    "labels": "labels",
    "starts_at": "startsAt",
    "url": "generatorURL",
}


class GenericWebhookTests(ReceiverTestCase):
    def generic(self, mapping: dict[str, Any], slug: str = "generic") -> AlertSource:
        source = AlertSource(name=slug, slug=slug, kind=AlertSourceKind.GENERIC, mapping=mapping)
        source.full_clean()
        source.save()
        return source

    def test_one_alert_per_body_with_its_own_words_for_status(self) -> None:
        self.generic(
            {
                "group_key": "$.resource",
                "status": "state",
                "title": "text",
                "fingerprint": "id",
                "labels": "tags",
                "firing_values": ["open", "ack"],
                "resolved_values": ["closed"],
            }
        )
        event = {"resource": "db1", "state": "OPEN", "text": "Disk full", "id": 7, "tags": {"instance": "db1", "n": 3}}
        answer = self.post(event, slug="generic", kind="generic").json()
        self.assertEqual(answer["result"], "opened")
        self.assertEqual(self.handler.calls[-1][2:4], (["7"], ["db1"]))
        self.assertEqual(self.post(event, slug="generic", kind="generic").json()["result"], "replayed")
        # another event of the group: one more alert firing, the first one still firing (only “closed” ends one)
        second = event | {"id": 8, "text": "Inodes full", "tags": {"instance": "DB2.example.org"}}
        answer = self.post(second, slug="generic", kind="generic").json()
        self.assertEqual((answer["result"], answer["group"]["firing"]), ("updated", 2))
        self.assertEqual(self.handler.calls[-1][2:5], (["8"], [], ["DB2.example.org"]))
        answer = self.post(event | {"state": "closed"}, slug="generic", kind="generic").json()
        self.assertEqual((answer["result"], answer["group"]["firing"]), ("updated", 1))
        self.assertEqual(self.handler.calls[-1][2:4], ([], ["7"]))
        answer = self.post(second | {"state": "Closed"}, slug="generic", kind="generic").json()
        self.assertEqual(answer["result"], "resolved")
        self.assertEqual(self.handler.calls[-1][2], ["8"])

    def test_a_body_the_mapping_cannot_read_is_refused_by_path(self) -> None:
        self.generic(ALERTA_V4_MAPPING)
        cases = [
            (
                {"groupKey": "g", "alerts": []},
                {"alerts": ["Must be a list of one or more alerts (the mapping's “alerts”)."]},
            ),
            ({"alerts": [{"status": "firing"}]}, {"groupKey": ["Missing: the mapping's “group_key” is read here."]}),
            (
                {"groupKey": "g", "alerts": [{"labels": {}}]},
                {"alerts[0].status": ["Missing: the mapping's “status” is read here."]},
            ),
            (
                {"groupKey": "g", "alerts": [{"status": "pending"}]},
                {"alerts[0].status": ["“pending” is neither a firing value (firing) nor a resolved one (resolved)."]},
            ),
            (
                {"groupKey": {"a": 1}, "alerts": [{"status": "firing"}]},
                {"groupKey": ["Must be text or a number (the mapping's “group_key”)."]},
            ),
            (
                {"groupKey": "g", "alerts": [{"status": "firing", "labels": "x"}]},
                {"alerts[0].labels": ["Must be a JSON object (the mapping's “labels”)."]},
            ),
            (
                {"groupKey": "g", "alerts": [{"status": "firing", "startsAt": "soon"}]},
                {"alerts[0].startsAt": ["Must be an ISO 8601 time with its offset, e.g. 2026-12-01T09:30Z."]},
            ),
        ]
        for payload, errors in cases:
            with self.subTest(payload=payload):
                response = self.post(payload, slug="generic", kind="generic")
                self.assertEqual((response.status_code, response.json()), (400, errors))
        self.assertFalse(AlertGroup.objects.exists())


@skipIf(DATASET is None, SKIP_REASON)
class ThirdPartyPayloadTests(ReceiverTestCase):
    """`alertmanager-thirdparty`: none of its bodies has every field of today's version 4, so the Alertmanager
    webhook refuses each, naming the fields; a generic source reads the same shapes through a mapping."""

    def payloads(self) -> dict[str, Any]:
        assert DATASET is not None
        files = sorted(DATASET.rglob("*.json"))
        self.assertEqual(len(files), 11)
        return {f.relative_to(DATASET).as_posix(): json.loads(f.read_text()) for f in files}

    def test_the_alertmanager_webhook_refuses_each_naming_what_is_missing(self) -> None:
        for name, payload in self.payloads().items():
            with self.subTest(name):
                response = self.post(payload)
                self.assertEqual(response.status_code, 400)
                errors = response.json()
                self.assertEqual(errors.get("truncatedAlerts"), ["This field is required."])
                if payload["version"] == "4":
                    self.assertEqual(errors["alerts[0].fingerprint"], ["This field is required."])
                else:
                    self.assertIn("groupKey", errors)  # an integer in version 3
                if "status" not in payload["alerts"][0]:
                    self.assertEqual(errors["alerts[0].status"], ["This field is required."])
        self.assertFalse(AlertGroup.objects.exists())

    def test_a_generic_source_reads_the_older_shapes(self) -> None:
        # no per-alert status (the group's is read), no fingerprint (the labels give one)
        AlertSource.objects.create(
            name="msteams",
            slug="msteams",
            kind=AlertSourceKind.GENERIC,
            mapping={**ALERTA_V4_MAPPING, "status": "$.status"},
        )
        results = []
        for name, payload in self.payloads().items():
            with self.subTest(name):
                response = self.post(payload, slug="msteams", kind="generic")
                self.assertEqual(response.status_code, 200, response.content)
                answer = response.json()
                results.append(answer["result"])
                group = AlertGroup.objects.get(pk=answer["group"]["id"])
                sent = {webhooks.labels_fingerprint(a["labels"]) for a in payload["alerts"]}
                self.assertLessEqual(sent, set(group.firing))  # each alert of the body fires in its group
                self.assertEqual(group.group_key, str(payload["groupKey"]))
        # one record per group key: the eleven files have four (alerta's two, and two of prometheus-msteams)
        self.assertEqual(AlertGroup.objects.count(), 4)
        self.assertEqual(results.count("opened"), 4)
        self.assertEqual(results.count("opened") + results.count("updated") + results.count("unchanged"), 11)
