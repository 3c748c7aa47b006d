"""Configuration audits with planted differences: missing, unrecorded and differing CIs from CSV and JSON discovery
files; unauthorised changes to controlled CIs found in the audit trail, authorised ones not; bad files refused with
row and column and nothing written; findings through their lifecycle; staff only."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from meridian.cmdb.choices import BaselineScope, ConfigurationPolicy, FindingKind, FindingStatus
from meridian.cmdb.factories import ConfigurationAuditFactory, FindingFactory
from meridian.cmdb.models import CIClass, ConfigurationAudit, ConfigurationItem, Finding
from meridian.core import audit, services
from meridian.core.choices import Role
from meridian.core.factories import TeamFactory
from meridian.core.models import AuditEvent
from meridian.core.testing import PrincipalsTestCase, api_client, assert_lifecycle_walk, walks_lifecycle

CSV = "serial_number,name,Version number\nSN-1,host-1,1\nSN-2,host-2,9\nSN-7,ghost,1\n"


class AuditTestCase(PrincipalsTestCase):
    def setUp(self) -> None:
        self.manager = self.p.users[Role.CONFIGURATION_MANAGER]
        self.server = CIClass.objects.get(name="Server")
        self.host1 = self.ci("host-1", "SN-1")
        self.host2 = self.ci("host-2", "SN-2")
        self.host3 = self.ci("host-3", "SN-3")
        self.app = services.create_record(
            ConfigurationItem,
            data={"name": "erp-app", "ci_class": CIClass.objects.get(name="Application")},
            actor=self.manager,
        )

    def ci(self, name: str, serial: str) -> ConfigurationItem:
        data = {"name": name, "ci_class": self.server, "ci_version": "1", "custom": {"serial_number": serial}}
        return services.create_record(ConfigurationItem, data=data, actor=self.manager)

    def run_audit(self, **values: Any) -> ConfigurationAudit:
        data = {
            "name": "Quarterly",
            "scope": BaselineScope.CI_CLASS,
            "scope_class": self.server,
            "key_field": "serial_number",
            **values,
        }
        return services.create_record(ConfigurationAudit, data=data, actor=self.manager)

    def findings(self, configuration_audit: ConfigurationAudit) -> set[tuple[str, Any, str, str, str]]:
        return {
            (f.kind, f.ci.name if f.ci else f.key, f.attribute, f.recorded, f.discovered)
            for f in configuration_audit.findings.select_related("ci")
        }


class DiscoveryTests(AuditTestCase):
    EXPECTED = {
        (FindingKind.MISSING, "host-3", "", "", ""),
        (FindingKind.UNRECORDED, "SN-7", "", "", "name=ghost, ci_version=1"),
        (FindingKind.DIFFERS, "host-2", "Version number", "1", "9"),
    }

    def test_csv_upload_finds_exactly_the_planted_missing_unrecorded_and_differing_cis(self) -> None:
        result = self.run_audit(discovered_data=CSV)
        self.assertEqual(result.reference[:3], "CA-")
        self.assertEqual(self.findings(result), self.EXPECTED)
        self.assertEqual((result.checked_count, result.discovered_count), (3, 3))
        self.assertTrue(all(f.status == FindingStatus.OPEN for f in result.findings.all()))
        for finding in result.findings.all():  # each finding's creation is in the trail
            self.assertTrue(AuditEvent.objects.filter(record_type="cmdb.finding", record_id=str(finding.pk)).exists())

    def test_json_upload_gives_the_same_findings_and_values_compare_as_values(self) -> None:
        rows = [
            {"serial_number": "SN-1", "name": "HOST-1", "ci_version": 1, "status": "Planned"},
            {"serial_number": "SN-2", "name": "host-2", "ci_version": "9"},
            {"serial_number": "SN-7", "name": "ghost", "ci_version": "1"},
        ]
        result = self.run_audit(discovered_data=json.dumps({"items": rows}))
        self.assertEqual(self.findings(result), self.EXPECTED)

    def test_keyed_by_reference(self) -> None:
        data = f"reference;name\n{self.host1.reference};host-1\n{self.host2.reference};host-two\n"
        result = self.run_audit(discovered_data=data, key_field="reference")
        self.assertEqual(
            self.findings(result),
            {
                (FindingKind.MISSING, "host-3", "", "", ""),
                (FindingKind.DIFFERS, "host-2", "Name", "host-2", "host-two"),
            },
        )

    def test_bad_files_are_refused_by_row_and_column_and_nothing_is_written(self) -> None:
        cases = {
            "serial_number,colour\nSN-1,red\n": "Row 1, column “colour”: not an attribute of CIs",
            "name,ci_version\nhost-1,1\n": "Row 1: no column “serial_number”",
            "serial_number,name\n,host-1\n": "Row 2, column “serial_number”: the key is empty.",
            "serial_number,name\nSN-1,a\nsn-1,b\n": "Row 3, column “serial_number”: “sn-1” is also the key of row 2.",
            "serial_number,name\nSN-1,a,extra\n": "Row 2: 3 cells, but the header names 2 columns.",
            '[{"serial_number": "SN-1", "name": ["a"]}]': "Row 1, column “name”: a text, number or boolean",
            '[{"serial_number": "SN-1"': "Not valid JSON",
        }
        events, findings = AuditEvent.objects.count(), Finding.objects.count()
        for data, message in cases.items():
            with self.subTest(data=data):
                with self.assertRaises(ValidationError) as refused:
                    self.run_audit(discovered_data=data)
                self.assertTrue(
                    any(message in m for m in refused.exception.message_dict["discovered_data"]),
                    refused.exception.message_dict,
                )
        api = api_client(self.manager)
        answer = api.post(
            "/api/v1/cmdb/configuration-audits/",
            {"name": "x", "scope": "all", "key_field": "serial_number", "discovered_data": "serial_number,colour\n1,2"},
            format="json",
        )
        self.assertEqual(answer.status_code, 400)
        self.assertIn("Row 1, column “colour”", str(answer.json()["discovered_data"]))
        self.assertEqual(
            api.post(
                "/api/v1/cmdb/configuration-audits/",
                {"name": "x", "scope": "all", "key_field": "colour"},
                format="json",
            )
            .json()
            .keys(),
            {"key_field"},
        )
        self.assertFalse(ConfigurationAudit.objects.exists())
        self.assertEqual((AuditEvent.objects.count(), Finding.objects.count()), (events, findings))

    def test_the_page_shows_findings_grouped_and_inputs_are_fixed_once_run(self) -> None:
        result = self.run_audit(discovered_data=CSV)
        self.client.force_login(self.manager)
        page = self.client.get(f"/cmdb/configuration-audits/{result.pk}/", {"tab": "findings"})
        self.assertContains(page, "Missing (recorded, not discovered)")
        self.assertContains(page, "host-3 is recorded but was not discovered.")
        self.assertContains(page, "“SN-7” was discovered (row 4) but is not in the CMDB.")
        with self.assertRaises(ValidationError) as refused:
            services.update_record(result, data={"key_field": "name"}, actor=self.manager, expected_version=1)
        self.assertIn("key_field", refused.exception.message_dict)
        services.update_record(result, data={"description": "Q3"}, actor=self.manager, expected_version=1)


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


BAD_FILES = {
    "not text": ("inventory.xlsx", b"PK\x03\x04" + b"\0" * 50, "not one of the files accepted"),
    "a workbook called .csv": ("inventory.csv", b"PK\x03\x04" + b"\0" * 50, "an Excel workbook, not text"),
    "UTF-16": ("inventory.csv", "serial_number,name\nSN-1,a\n".encode("utf-16"), "UTF-16"),
    "binary": ("inventory.csv", b"serial_number\x00\x01\x02", "binary data"),
    "empty": ("inventory.csv", b"", "file is empty."),
    "bad column": ("inventory.csv", b"serial_number,colour\nSN-1,red\n", "Row 1, column \u201ccolour\u201d"),
    "repeated key": (
        "inventory.csv",
        b"serial_number,name\nSN-1,a\nsn-1,b\n",
        "Row 3, column \u201cserial_number\u201d",
    ),
    "bad JSON": ("inventory.json", b'[{"serial_number": "SN-1"', "Not valid JSON"),
}


class DiscoveryFileTests(AuditTestCase):
    """The discovered data as a file: on the add page and in a multipart API body, paste kept as the alternative."""

    PAGE = "/cmdb/configuration-audits/add/"
    API = "/api/v1/cmdb/configuration-audits/"

    def form(self, **values: Any) -> dict[str, Any]:
        return {
            "name": "Quarterly",
            "scope": BaselineScope.CI_CLASS,
            "scope_class": self.server.pk,
            "key_field": "serial_number",
            **values,
        }

    def nothing_written(self, before: tuple[int, int]) -> None:
        self.assertFalse(ConfigurationAudit.objects.exists())
        self.assertEqual((AuditEvent.objects.count(), Finding.objects.count()), before)

    def test_the_add_page_takes_a_csv_file_and_a_windows_1252_one(self) -> None:
        self.client.force_login(self.manager)
        page = self.client.get(self.PAGE)
        self.assertContains(page, 'enctype="multipart/form-data"')
        self.assertContains(page, 'type="file" name="discovered_file"')
        answer = self.client.post(self.PAGE, self.form(discovered_file=upload("inventory.csv", CSV.encode())))
        self.assertEqual(answer.status_code, 302, answer.content.decode()[:2000])
        result = ConfigurationAudit.objects.get()
        self.assertEqual(self.findings(result), DiscoveryTests.EXPECTED)
        self.assertEqual(result.discovered_data, CSV)  # the file's text is what the audit keeps
        latin = "serial_number,name,location\nSN-1,host-1,\n".encode("cp1252")
        answer = self.client.post(
            self.PAGE,
            self.form(name="Café", discovered_file=upload("caf\u00e9.csv", latin.replace(b"host-1", b"h\xf4st"))),
        )
        self.assertEqual(answer.status_code, 302)
        second = ConfigurationAudit.objects.get(name="Café")
        self.assertIn("hôst", second.discovered_data)

    def test_pasting_still_works_and_a_file_with_a_paste_is_refused(self) -> None:
        self.client.force_login(self.manager)
        before = (AuditEvent.objects.count(), Finding.objects.count())
        answer = self.client.post(
            self.PAGE, self.form(discovered_data=CSV, discovered_file=upload("inventory.csv", CSV.encode()))
        )
        self.assertEqual(answer.status_code, 400)
        self.assertEqual(
            answer.context["form"].errors["discovered_file"], ["Upload a file or paste the text, not both."]
        )
        self.nothing_written(before)
        self.assertEqual(self.client.post(self.PAGE, self.form(discovered_data=CSV)).status_code, 302)
        self.assertEqual(self.findings(ConfigurationAudit.objects.get()), DiscoveryTests.EXPECTED)

    def test_bad_files_on_the_page_are_refused_on_the_file_input_and_nothing_is_written(self) -> None:
        self.client.force_login(self.manager)
        before = (AuditEvent.objects.count(), Finding.objects.count())
        for case, (name, content, message) in BAD_FILES.items():
            with self.subTest(case):
                answer = self.client.post(self.PAGE, self.form(discovered_file=upload(name, content)))
                self.assertEqual(answer.status_code, 400)
                errors = answer.context["form"].errors
                self.assertEqual(set(errors), {"discovered_file"}, errors)
                self.assertTrue(any(message in e for e in errors["discovered_file"]), errors)
                self.assertContains(answer, "Nothing was saved.", status_code=400)
        self.nothing_written(before)

    def test_the_api_takes_a_multipart_file_with_the_other_fields_as_form_fields(self) -> None:
        api = api_client(self.manager)
        data = self.form(
            discovered_file=upload(
                "inventory.json",
                json.dumps(
                    [
                        {"serial_number": "SN-1", "name": "host-1", "Version number": "1"},
                        {"serial_number": "SN-2", "name": "host-2", "Version number": "9"},
                        {"serial_number": "SN-7", "name": "ghost", "Version number": "1"},
                    ]
                ).encode(),
            )
        )
        answer = api.post(self.API, data, format="multipart")
        self.assertEqual(answer.status_code, 201, answer.content)
        body = answer.json()
        self.assertNotIn("discovered_file", body)
        self.assertEqual(body["scope_class"], self.server.pk)
        result = ConfigurationAudit.objects.get(pk=body["id"])
        self.assertEqual((result.discovered_count, result.checked_count), (3, 3))
        self.assertEqual({f[0] for f in self.findings(result)}, {k for k, *_ in DiscoveryTests.EXPECTED})
        self.assertEqual(
            api.post(self.API, self.form(name="JSON", discovered_data=CSV), format="json").status_code, 201
        )

    def test_bad_files_in_the_api_are_refused_on_the_file_and_nothing_is_written(self) -> None:
        api = api_client(self.manager)
        before = (AuditEvent.objects.count(), Finding.objects.count())
        for case, (name, content, message) in BAD_FILES.items():
            with self.subTest(case):
                answer = api.post(self.API, self.form(discovered_file=upload(name, content)), format="multipart")
                self.assertEqual(answer.status_code, 400)
                self.assertEqual(set(answer.json()), {"discovered_file"}, answer.json())
                self.assertTrue(any(message in e for e in answer.json()["discovered_file"]), answer.json())
        both = api.post(
            self.API, self.form(discovered_data=CSV, discovered_file=upload("a.csv", CSV.encode())), format="multipart"
        )
        self.assertEqual(both.json(), {"discovered_file": ["Upload a file or paste the text, not both."]})
        unknown = api.post(self.API, self.form(colour="red"), format="multipart")
        self.assertEqual(unknown.json(), {"colour": ["Unknown field."]})
        self.nothing_written(before)

    @override_settings(MERIDIAN_IMPORT_MAX_SIZE=100)
    def test_a_file_over_the_import_size_limit_is_refused(self) -> None:
        api = api_client(self.manager)
        big = upload("big.csv", b"serial_number\n" + b"SN-1\n" * 30)
        answer = api.post(self.API, self.form(discovered_file=big), format="multipart")
        self.assertEqual(answer.status_code, 400)
        self.assertIn("at most", answer.json()["discovered_file"][0])
        self.client.force_login(self.manager)
        page = self.client.post(
            self.PAGE, self.form(discovered_file=upload("big.csv", b"serial_number\n" + b"SN-1\n" * 30))
        )
        self.assertIn("at most", page.context["form"].errors["discovered_file"][0])
        self.assertFalse(ConfigurationAudit.objects.exists())

    def test_a_multipart_body_over_the_json_limit_but_within_the_import_limit_is_read(self) -> None:
        rows = "".join(f"SN-{n},host-{n}\n" for n in range(100, 7_000))
        content = ("serial_number,name\n" + rows).encode()
        limit = 64 * 1024  # the JSON body limit made small: the same rule as the default 1 MB, with a smaller file
        self.assertGreater(len(content), limit)
        with override_settings(MERIDIAN_API_MAX_BODY=limit):
            answer = api_client(self.manager).post(
                self.API, self.form(discovered_file=upload("big.csv", content)), format="multipart"
            )
        self.assertEqual(answer.status_code, 201, answer.content[:500])
        self.assertEqual(ConfigurationAudit.objects.get().discovered_count, 6_900)


class TrailTests(AuditTestCase):
    """Changes are planted straight into the audit trail, as a write made behind the services (or before the policy
    was enforced) would leave them: the audit reads the trail, whatever wrote it."""

    def plant(self, ci: ConfigurationItem, changes: dict[str, Any], authorised_by: str = "", action: str = "update"):
        with transaction.atomic():
            return audit.record_event(
                action=action, obj=ci, actor=self.manager, changes=changes, authorised_by=authorised_by
            )

    def test_unauthorised_changes_to_controlled_cis_are_found_authorised_ones_and_open_cis_not(self) -> None:
        services.update_record(
            self.server,
            data={"configuration_policy": ConfigurationPolicy.CONTROLLED},
            actor=self.p.users[Role.ADMINISTRATOR],
            expected_version=self.server.version,
        )
        start = timezone.now() - dt.timedelta(seconds=1)
        unauthorised = self.plant(self.host1, {"ci_version": {"before": "1", "after": "2"}})
        moved = self.plant(self.host2, {"status": {"before": "planned", "after": "live"}}, action="transition")
        self.plant(self.host1, {"ci_version": {"before": "2", "after": "3"}}, authorised_by="CHG-000001")
        self.plant(self.host3, {"comment": {"id": 1, "op": "posted", "body": "hi"}})  # a comment: not configuration
        self.plant(self.app, {"ci_version": {"before": "", "after": "1"}})  # open class, and out of scope
        result = self.run_audit(period_start=start)
        found = {(f.event_id, f.ci_id, f.attribute) for f in result.findings.all()}
        self.assertEqual(
            found, {(unauthorised.pk, self.host1.pk, "version number"), (moved.pk, self.host2.pk, "status")}
        )
        self.assertTrue(all(f.kind == FindingKind.UNAUTHORISED for f in result.findings.all()))
        earlier = self.run_audit(period_start=start - dt.timedelta(days=1), period_end=start)
        self.assertFalse(earlier.findings.exists())

    def test_a_ci_controlled_by_its_own_policy_counts_too(self) -> None:
        start = timezone.now() - dt.timedelta(seconds=1)
        host = ConfigurationItem.objects.get(pk=self.host1.pk)
        services.update_record(
            host,
            data={"configuration_policy": ConfigurationPolicy.CONTROLLED},
            actor=self.manager,
            expected_version=host.version,
        )
        event = self.plant(self.host1, {"name": {"before": "host-1", "after": "h1"}})
        self.plant(self.host2, {"name": {"before": "host-2", "after": "h2"}})  # its class is open
        result = self.run_audit(period_start=start)
        # putting it under control needed no change (the rule of `core.control`): only the later edit counts
        self.assertEqual([f.event_id for f in result.findings.order_by("event_id")], [event.pk])


class FindingLifecycleTests(PrincipalsTestCase):
    @walks_lifecycle(Finding)
    def test_every_action_from_every_state_as_every_role(self) -> None:
        team = TeamFactory(organisation=self.p.internal)
        assert_lifecycle_walk(
            self,
            Finding,
            lambda state: FindingFactory(status=state),
            self.p,
            make_allowed=lambda state, action, actor: FindingFactory(status=state, team=team),
        )

    def test_a_finding_is_assigned_fixed_and_closed_or_accepted_with_a_reason(self) -> None:
        manager = self.p.users[Role.CONFIGURATION_MANAGER]
        finding = FindingFactory()
        with self.assertRaises(services.TransitionNotAllowed) as refused:
            services.transition(finding, "assign", actor=manager, expected_version=1)
        self.assertIn("Choose a person or a team", str(refused.exception))
        team = TeamFactory(organisation=self.p.internal)
        finding = services.update_record(finding, data={"team": team}, actor=manager, expected_version=1)
        for action in ("assign", "fix", "close"):
            finding = services.transition(finding, action, actor=manager, expected_version=finding.version)
        self.assertEqual(finding.status, FindingStatus.CLOSED)
        other = FindingFactory()
        with self.assertRaises(ValidationError):
            services.transition(other, "accept", actor=manager, expected_version=1)
        other = services.transition(other, "false_positive", actor=manager, reason="a lab box", expected_version=1)
        self.assertEqual(other.status, FindingStatus.FALSE_POSITIVE)

    def test_customers_see_no_audit_and_no_finding(self) -> None:
        finding = FindingFactory()
        customer = api_client(self.p.customer_a)
        for url in (
            "/api/v1/cmdb/configuration-audits/",
            "/api/v1/cmdb/findings/",
            f"/api/v1/cmdb/findings/{finding.pk}/",
            f"/api/v1/cmdb/configuration-audits/{finding.audit_id}/",
        ):
            self.assertEqual(customer.get(url).status_code, 403, url)
        self.assertFalse(ConfigurationAuditFactory._meta.model.objects.filter(pk=0).exists())
