"""The audit trail: one event per write with before/after values, append-only in the database, and every
tampering behind the application's back found by `meridian audit verify`."""

from __future__ import annotations

import random

from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.test import TestCase

from meridian.core import audit, services
from meridian.core.choices import Role
from meridian.core.models import AuditEvent, Organisation
from meridian.core.testing import PrincipalsTestCase, make_principals


def sql(statement: str, params: list[object] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])


def disable_append_only_guard() -> None:
    """What an attacker with database access does first (undone by the test's rollback)."""
    if connection.vendor == "postgresql":
        sql("ALTER TABLE core_auditevent DISABLE TRIGGER core_auditevent_no_change")
    else:
        sql("DROP TRIGGER core_auditevent_no_update")


class AuditTrailTests(PrincipalsTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.orgs = []
        for i in range(8):
            org = services.create_record(
                Organisation, data={"name": f"Audited {i}", "kind": "customer"}, actor=cls.admin, reason="setup"
            )
            org = services.update_record(
                org, data={"email": f"it{i}@audited.example"}, actor=cls.admin, expected_version=1
            )
            cls.orgs.append(org)

    def verify(self) -> audit.ChainReport:
        return audit.verify_chain()

    def test_each_write_is_one_event_with_before_and_after(self) -> None:
        org = self.orgs[0]
        events = list(audit.history(org))
        self.assertEqual([e.action for e in events], ["update", "create"])
        update, create = events
        self.assertEqual(update.changes, {"email": {"before": "", "after": "it0@audited.example"}})
        self.assertEqual(create.changes["name"], {"before": None, "after": "Audited 0"})
        self.assertEqual(create.reason, "setup")
        self.assertEqual(update.actor_id, self.admin.pk)
        self.assertEqual(update.organisation_id, org.pk)
        services.delete_record(org, actor=self.admin, reason="duplicate", expected_version=org.version)
        deleted = audit.history(org).first()
        self.assertEqual(deleted.action, "delete")
        self.assertEqual(deleted.changes["name"], {"before": "Audited 0", "after": None})

    def test_a_refused_write_leaves_no_event(self) -> None:
        before = AuditEvent.objects.count()
        with self.assertRaises(ValidationError):
            services.create_record(Organisation, data={"name": "", "kind": "nonsense"}, actor=self.admin)
        self.assertEqual(AuditEvent.objects.count(), before)

    def test_untouched_chain_verifies(self) -> None:
        report = self.verify()
        self.assertTrue(report.ok, report.problems)
        self.assertEqual(report.checked, AuditEvent.objects.count())
        call_command("audit", "verify")

    def test_the_database_refuses_to_update_an_event(self) -> None:
        with self.assertRaises(DatabaseError), transaction.atomic():
            AuditEvent.objects.filter(seq=1).update(reason="rewritten")

    def test_the_database_refuses_to_delete_an_event_on_postgresql(self) -> None:
        if connection.vendor != "postgresql":
            self.skipTest("SQLite keeps DELETE possible for test flushes; verify catches it (next tests)")
        with self.assertRaises(DatabaseError), transaction.atomic():
            AuditEvent.objects.filter(seq=1).delete()

    def test_an_edited_event_is_reported(self) -> None:
        disable_append_only_guard()
        target = AuditEvent.objects.order_by("seq")[5]
        sql("UPDATE core_auditevent SET reason = %s WHERE seq = %s", ["nothing to see", target.seq])
        report = self.verify()
        self.assertFalse(report.ok)
        self.assertIn((target.seq, "edited"), [(p.seq, p.kind) for p in report.problems])
        with self.assertRaisesMessage(CommandError, "TAMPERED"):
            call_command("audit", "verify")

    def test_a_removed_event_is_reported(self) -> None:
        disable_append_only_guard()
        target = AuditEvent.objects.order_by("seq")[4]
        sql("DELETE FROM core_auditevent WHERE seq = %s", [target.seq])
        kinds = {(p.seq, p.kind) for p in self.verify().problems}
        self.assertIn((target.seq + 1, "removed"), kinds)
        self.assertIn((target.seq + 1, "inserted"), kinds)

    def test_an_event_inserted_out_of_order_is_reported(self) -> None:
        disable_append_only_guard()
        last = AuditEvent.objects.order_by("-seq").first()
        forged = AuditEvent(
            seq=last.seq + 1,
            occurred_at=AuditEvent.objects.order_by("seq").first().occurred_at,
            actor_id=self.admin.pk,
            actor_label="admin",
            action="update",
            record_type="core.organisation",
            record_id="1",
            record_label="forged",
            changes={},
            prev_hash="f" * 64,
        )
        forged.hash = audit.compute_hash(forged)
        forged.save(force_insert=True)
        kinds = {(p.seq, p.kind) for p in self.verify().problems}
        self.assertIn((forged.seq, "inserted"), kinds)
        self.assertIn((forged.seq, "out-of-order"), kinds)

    def test_a_rehashed_rewrite_is_caught_by_the_head_kept_off_host(self) -> None:
        head = self.verify()
        disable_append_only_guard()
        last = AuditEvent.objects.order_by("-seq").first()
        sql("DELETE FROM core_auditevent WHERE seq = %s", [last.seq])
        self.assertTrue(self.verify().ok, "dropping the newest event is invisible to the chain alone")
        report = audit.verify_chain(expected_head=(head.head_seq, head.head_hash))
        self.assertFalse(report.ok)
        with self.assertRaisesMessage(CommandError, "TAMPERED"):
            call_command("audit", "verify", "--expect-head", f"{head.head_seq}:{head.head_hash}")

    def test_random_tampering_is_always_detected(self) -> None:
        """Many random single-row edits and removals: every one is found (the benchmark runs 1,000)."""
        disable_append_only_guard()
        rng = random.Random(20261125)
        columns = ["reason", "actor_label", "record_label", "record_id", "authorised_by", "action"]
        seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
        for trial in range(40):
            seq = rng.choice(seqs[:-1])
            with self.subTest(trial=trial), transaction.atomic():
                sid = transaction.savepoint()
                if rng.random() < 0.3:
                    what = f"delete #{seq}"
                    sql("DELETE FROM core_auditevent WHERE seq = %s", [seq])
                else:
                    column = rng.choice(columns)
                    what = f"set {column} of #{seq}"
                    sql(f"UPDATE core_auditevent SET {column} = %s WHERE seq = %s", [f"x{trial}", seq])  # noqa: S608
                self.assertFalse(self.verify().ok, what)
                transaction.savepoint_rollback(sid)
        self.assertTrue(self.verify().ok)


class HistoryTabTests(TestCase):
    def test_history_names_linked_records_and_choices_the_reader_may_see(self) -> None:
        from meridian.core.factories import LocationFactory, PersonFactory
        from meridian.core.models import Person

        p = make_principals()
        admin = p.users[Role.ADMINISTRATOR]
        site = LocationFactory(organisation=p.org_a, name="Harbour depot")
        person = PersonFactory(organisation=p.org_a)
        services.update_record(person, data={"location": site, "job_title": "Planner"}, actor=admin, expected_version=1)
        services.transition(
            Person.objects.get(pk=person.pk), "leave", actor=admin, reason="retired", expected_version=2
        )
        self.client.force_login(admin)
        page = self.client.get(person.get_absolute_url() + "?tab=history").content.decode()
        self.assertIn("Harbour depot", page)
        self.assertIn("Job title", page)
        self.assertIn("Left", page)
        self.client.force_login(p.customer_b)
        self.assertEqual(self.client.get(person.get_absolute_url() + "?tab=history").status_code, 404)
