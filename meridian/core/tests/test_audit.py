"""The audit trail: one event per write with before/after values, append-only in the database, linked to the
hash chain by the chainer, and every tampering behind the application's back found by `meridian audit verify`
(the removal of the newest events through the witness kept outside the database)."""

from __future__ import annotations

import datetime as dt
import random
import tempfile
from io import StringIO
from pathlib import Path
from unittest import mock

from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.test import TestCase, override_settings
from django.utils import timezone

from meridian.core import audit, services
from meridian.core.choices import Role
from meridian.core.models import AuditEvent, Organisation
from meridian.core.testing import PrincipalsTestCase, make_principals


def sql(statement: str, params: list[object] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])


def unchained_event(**fields: object) -> AuditEvent:
    """An event as `record_event` leaves it until the chainer runs (on PostgreSQL, between commit and chaining)."""
    values: dict[str, object] = {
        "actor_label": "admin",
        "action": "update",
        "record_type": "core.organisation",
        "record_id": "1",
        "record_label": "waiting",
        "changes": {"phone": {"before": "", "after": "1"}},
        **fields,
    }
    return AuditEvent.objects.create(**values)


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
        audit.chain_pending()  # on PostgreSQL the test's transaction never commits: chain as after a commit

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

    def test_an_event_inserted_into_the_chain_is_reported(self) -> None:
        disable_append_only_guard()
        last = AuditEvent.objects.order_by("-seq").first()
        forged = AuditEvent(
            seq=last.seq + 1,
            occurred_at=last.occurred_at,
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
        self.assertEqual(kinds, {(forged.seq, "inserted")})

    def test_events_dated_out_of_order_are_not_tampering(self) -> None:
        """Several web nodes, clocks a few ms apart, transactions committing in another order than they began:
        the chain's order is the database's sequence and only the hash links are checked."""
        earlier = AuditEvent.objects.order_by("seq").first().occurred_at - dt.timedelta(milliseconds=5)
        unchained_event(occurred_at=earlier)
        audit.chain_pending()
        self.assertTrue(self.verify().ok, self.verify().problems)

    def test_events_are_dated_by_the_database_clock_not_the_application_node(self) -> None:
        node_clock = dt.datetime(2001, 1, 1, tzinfo=dt.UTC)
        with mock.patch("django.utils.timezone.now", return_value=node_clock):
            org = services.create_record(Organisation, data={"name": "Skewed", "kind": "customer"}, actor=self.admin)
        occurred_at = audit.history(org).get().occurred_at
        self.assertLess(abs(occurred_at - timezone.now()), dt.timedelta(minutes=5))

    def test_a_removed_tail_is_caught_by_the_head_kept_off_host(self) -> None:
        head = self.verify()
        disable_append_only_guard()
        last = AuditEvent.objects.order_by("-seq").first()
        sql("DELETE FROM core_auditevent WHERE seq = %s", [last.seq])
        self.assertTrue(self.verify().ok, "dropping the newest event is invisible to the chain alone")
        call_command("audit", "verify", stdout=StringIO())  # no witness file configured in tests: passes
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


class ChainingTests(PrincipalsTestCase):
    """Writers insert events unchained; the chainer links them (after commit on PostgreSQL, at once on SQLite)."""

    def create(self, name: str) -> Organisation:
        return services.create_record(Organisation, data={"name": name, "kind": "customer"}, actor=self.admin)

    def test_an_event_is_chained_by_the_time_its_write_has_committed(self) -> None:
        with self.captureOnCommitCallbacks(execute=True) as callbacks:
            orgs = [self.create(f"Chained {i}") for i in range(3)]
        # one chainer per transaction on PostgreSQL, however many events it wrote; none needed on SQLite
        self.assertEqual(len(callbacks), 1 if connection.vendor == "postgresql" else 0)
        self.assertEqual(audit.backlog().count, 0)
        events = [audit.history(org).get() for org in orgs]
        seqs = [e.seq for e in events]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + 3)), "linked in the order they were written")
        self.assertTrue(audit.verify_chain().ok)

    def test_a_rolled_back_write_leaves_neither_event_nor_chainer(self) -> None:
        with self.captureOnCommitCallbacks(execute=False) as callbacks:
            try:
                with transaction.atomic():
                    self.create("Rolled back")
                    raise RuntimeError("the change failed")
            except RuntimeError:
                pass
        self.assertEqual(callbacks, [])
        self.assertFalse(AuditEvent.objects.filter(record_label="Rolled back").exists())

    def test_waiting_events_are_shown_newest_first_with_the_chained_ones(self) -> None:
        org = self.create("Shown")
        audit.chain_pending()
        waiting = unchained_event(record_id=str(org.pk), record_label="Shown", actor_id=self.admin.pk)
        history = list(audit.history(org))
        self.assertEqual([e.pk for e in history], [waiting.pk, history[1].pk])
        self.assertEqual((history[0].seq, history[1].action), (None, "create"))
        self.assertEqual(AuditEvent.objects.filter(actor_id=self.admin.pk).first(), waiting)  # home: recent changes
        self.client.force_login(self.admin)
        page = self.client.get(org.get_absolute_url() + "?tab=history").content.decode()
        self.assertIn("Phone", page)  # the waiting event's change, on the history tab

    def test_the_chainer_links_waiting_events_in_insertion_order_from_the_stored_values(self) -> None:
        audit.chain_pending()
        first = unchained_event(changes={"n": 1.0, "text": "ünïcode"})
        second = unchained_event(reason="second")
        self.assertEqual(audit.chain_pending(), 2)
        first.refresh_from_db()
        second.refresh_from_db()
        self.assertEqual(second.seq, first.seq + 1)
        self.assertEqual(second.prev_hash, first.hash)
        self.assertEqual(audit.compute_hash(first), first.hash)
        self.assertEqual(audit.chain_pending(), 0, "returns at once when nothing waits")
        self.assertTrue(audit.verify_chain().ok)

    def test_the_database_allows_only_the_chaining_update(self) -> None:
        audit.chain_pending()
        event = unchained_event()
        link = {"seq": 10_000, "prev_hash": "a" * 64, "hash": "b" * 64}
        refused = {
            "content of a waiting event": {"reason": "rewritten"},
            "linking and editing at once": {**link, "reason": "rewritten"},
            "half a link": {"seq": 10_000},
            "a link without its hash": {"seq": 10_000, "prev_hash": "a" * 64},
        }
        for what, values in refused.items():
            with self.subTest(what), self.assertRaises(DatabaseError), transaction.atomic():
                AuditEvent.objects.filter(pk=event.pk).update(**values)
        AuditEvent.objects.filter(pk=event.pk).update(**link)
        with self.assertRaises(DatabaseError), transaction.atomic():
            AuditEvent.objects.filter(pk=event.pk).update(seq=10_001, prev_hash="c" * 64, hash="d" * 64)
        with self.assertRaises(DatabaseError), transaction.atomic():
            AuditEvent.objects.filter(pk=event.pk).update(seq=None, prev_hash=None, hash=None)

    def test_verify_chains_what_waits_and_says_so(self) -> None:
        self.create("Before")
        audit.chain_pending()
        unchained_event()
        out = StringIO()
        call_command("audit", "verify", stdout=out)
        self.assertIn("1 event(s) were waiting to be chained", out.getvalue())
        self.assertEqual(audit.backlog().count, 0)

    def test_a_young_waiting_event_is_counted_not_reported(self) -> None:
        audit.chain_pending()
        unchained_event()
        report = audit.verify_chain()
        self.assertTrue(report.ok, report.problems)
        self.assertEqual(report.backlog.count, 1)

    def test_an_event_left_unchained_for_minutes_means_the_chainer_is_not_running(self) -> None:
        audit.chain_pending()
        stale = unchained_event(occurred_at=timezone.now() - dt.timedelta(minutes=10))
        unchained_event()
        report = audit.verify_chain()
        self.assertEqual((report.backlog.count, report.backlog.oldest_id), (2, stale.pk))
        self.assertEqual([p.kind for p in report.problems], ["unchained"])
        self.assertIn(f"event id {stale.pk} waited", str(report.problems[0]))
        with self.assertRaisesMessage(CommandError, "check FAILED"):
            call_command("audit", "verify", stdout=StringIO(), stderr=StringIO())
        call_command("audit", "verify", stdout=StringIO())  # the failed check chained them: all is well now


class WitnessTests(PrincipalsTestCase):
    """The head is written outside the database after each good check; the next check compares against it."""

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        for i in range(4):
            services.create_record(Organisation, data={"name": f"Witnessed {i}", "kind": "customer"}, actor=cls.admin)
        audit.chain_pending()

    def setUp(self) -> None:
        folder = tempfile.TemporaryDirectory()
        self.addCleanup(folder.cleanup)
        self.path = Path(folder.name) / "var" / "audit-witness"
        override = override_settings(AUDIT_WITNESS_FILE=str(self.path))
        override.enable()
        self.addCleanup(override.disable)

    def verify(self) -> str:
        out = StringIO()
        call_command("audit", "verify", stdout=out, stderr=StringIO())
        return out.getvalue()

    def problems(self) -> set[tuple[int | None, str]]:
        return {(p.seq, p.kind) for p in audit.check_trail().problems}

    def remove_newest(self, count: int) -> None:
        disable_append_only_guard()
        newest = list(AuditEvent.objects.order_by("-seq").values_list("seq", flat=True)[:count])
        sql("DELETE FROM core_auditevent WHERE seq >= %s", [min(newest)])

    def test_verify_witnesses_the_head_in_a_file_and_the_log(self) -> None:
        with self.assertLogs("meridian.audit", "INFO") as logs:
            output = self.verify()
        witness = audit.read_witness()
        last = AuditEvent.objects.order_by("-seq").first()
        self.assertEqual((witness.seq, witness.hash), (last.seq, last.hash))
        self.assertIn(f"head {witness}", output)
        self.assertIn(f"audit trail head {witness} witnessed at {witness.at}", logs.output[0])
        self.assertEqual(self.path.read_text(), f"{witness} {witness.at}\n")

    def test_a_removed_tail_is_caught_by_a_plain_verify(self) -> None:
        self.verify()
        witnessed = audit.read_witness()
        self.remove_newest(2)
        self.assertEqual(self.problems(), {(witnessed.seq, "removed")})
        with self.assertRaisesMessage(CommandError, "TAMPERED"):
            self.verify()
        self.assertEqual(audit.read_witness(), witnessed, "a failed check never replaces the witness")

    def test_a_removed_tail_written_over_by_new_events_is_caught(self) -> None:
        self.verify()
        witnessed = audit.read_witness()
        self.remove_newest(2)
        for name in ("After 1", "After 2", "After 3"):
            services.create_record(Organisation, data={"name": name, "kind": "customer"}, actor=self.admin)
        audit.chain_pending()
        self.assertTrue(audit.verify_chain().ok, "the links alone cannot show it")
        self.assertEqual(self.problems(), {(witnessed.seq, "edited")})

    def test_the_periodic_check_witnesses_each_new_head_and_only_a_sound_one(self) -> None:
        from meridian.core.tasks import chain_audit_events

        self.assertTrue(chain_audit_events.call_local())
        first = audit.read_witness()
        services.create_record(Organisation, data={"name": "Later", "kind": "customer"}, actor=self.admin)
        self.assertTrue(chain_audit_events.call_local())
        second = audit.read_witness()
        self.assertEqual(second.seq, first.seq + 1)
        self.remove_newest(1)
        self.assertFalse(chain_audit_events.call_local())
        self.assertEqual(audit.read_witness(), second)

    def test_an_unreadable_witness_is_reported(self) -> None:
        self.path.parent.mkdir(parents=True)
        self.path.write_text("not a head")
        self.assertEqual(self.problems(), {(None, "witness")})
        with self.assertRaisesMessage(CommandError, "check FAILED"):
            self.verify()


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
