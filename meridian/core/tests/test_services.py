"""Core services: reference numbers under concurrency, optimistic locking, forged references, logins."""

from __future__ import annotations

import threading

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import close_old_connections, connection, transaction
from django.test import TransactionTestCase

from meridian.core import audit, services
from meridian.core.choices import Role
from meridian.core.factories import LocationFactory, OrganisationFactory, PersonFactory
from meridian.core.models import AuditEvent, Organisation, Person, Sequence, User
from meridian.core.testing import PrincipalsTestCase, make_principals


def run_in_threads(count: int, target: object) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def worker(index: int) -> None:
        try:
            barrier.wait()
            target(index)  # type: ignore[operator]
        except BaseException as exc:  # noqa: BLE001 - collected and asserted by the test
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return errors


class ConcurrencyTests(TransactionTestCase):
    """Real concurrent transactions (threads with their own connections) on SQLite and PostgreSQL."""

    def test_reference_numbers_are_unique_and_gapless_under_concurrent_creation(self) -> None:
        numbers: list[str] = []
        lock = threading.Lock()

        def allocate(_: int) -> None:
            for _ in range(10):
                with transaction.atomic():
                    reference = services.next_reference("TST")
                with lock:
                    numbers.append(reference)

        errors = run_in_threads(8, allocate)
        self.assertEqual(errors, [])
        self.assertEqual(len(numbers), 80)
        self.assertEqual(sorted(numbers), [f"TST-{i:06d}" for i in range(1, 81)])
        self.assertEqual(Sequence.objects.get(prefix="TST").last_value, 80)

    def test_a_rolled_back_number_is_never_handed_out_again_nor_reused(self) -> None:
        with transaction.atomic():
            first = services.next_reference("RBK")
        try:
            with transaction.atomic():
                services.next_reference("RBK")
                raise RuntimeError("creation failed")
        except RuntimeError:
            pass
        with transaction.atomic():
            second = services.next_reference("RBK")
        self.assertEqual((first, second), ("RBK-000001", "RBK-000002"))

    def test_concurrent_edits_lose_no_update_and_keep_the_audit_chain_linear(self) -> None:
        p = make_principals()
        admin = p.users[Role.ADMINISTRATOR]
        org = OrganisationFactory(name="Contended")
        outcomes: list[str] = []
        lock = threading.Lock()

        def edit(index: int) -> None:
            for attempt in range(5):
                current = Organisation.objects.get(pk=org.pk)
                try:
                    services.update_record(
                        current,
                        data={"description": f"writer {index} attempt {attempt}"},
                        actor=admin,
                        expected_version=current.version,
                    )
                    result = "ok"
                except services.StaleVersion:
                    result = "stale"
                with lock:
                    outcomes.append(result)

        errors = run_in_threads(6, edit)
        self.assertEqual(errors, [])
        org.refresh_from_db()
        successes = outcomes.count("ok")
        self.assertGreater(successes, 0)
        self.assertEqual(org.version, 1 + successes, "every acknowledged update is counted; none lost")
        self.assertEqual(audit.history(org).filter(action="update").count(), successes)
        report = audit.verify_chain()
        self.assertTrue(report.ok, report.problems)

    def test_concurrent_writes_to_different_records_form_one_chain(self) -> None:
        """No row lock serialises these writers: only the chainer keeps one order (no fork, no duplicate or missing
        seq) and every write has exactly one event, all chained by the time the writes have returned."""
        p = make_principals()
        admin = p.users[Role.ADMINISTRATOR]
        audit.chain_pending()
        first_seq = AuditEvent.objects.filter(seq__isnull=False).count() + 1
        writers, rounds = 8, 6

        def write(index: int) -> None:
            for i in range(rounds):
                org = services.create_record(
                    Organisation, data={"name": f"Writer {index} org {i}", "kind": "customer"}, actor=admin
                )
                services.update_record(org, data={"phone": f"{index}-{i}"}, actor=admin, expected_version=1)

        with self.assertNoLogs("django.db.backends.base", "ERROR"):  # a chainer failing after commit logs there
            errors = run_in_threads(writers, write)
        self.assertEqual(errors, [])
        self.assertEqual(audit.backlog().count, 0, "each writer's events were chained right after its commit")
        written = AuditEvent.objects.filter(record_label__startswith="Writer ")
        self.assertEqual(
            sorted(written.values_list("seq", flat=True)),
            list(range(first_seq, first_seq + writers * rounds * 2)),
            "one contiguous run of sequence numbers",
        )
        for org in Organisation.objects.filter(name__startswith="Writer "):
            self.assertEqual(sorted(e.action for e in audit.history(org)), ["create", "update"], org.name)
        report = audit.verify_chain()
        self.assertTrue(report.ok, report.problems)

    def test_preference_saves_racing_suspensions_never_deadlock(self) -> None:
        """Lock order: a suspension locks the person, then the user row in its effect; a preference save locks
        the user row. Neither waits on the audit trail inside its transaction, so they cannot deadlock."""
        p = make_principals()
        admin = p.users[Role.ADMINISTRATOR]
        target = p.users[Role.SERVICE_DESK_AGENT]
        rounds = 25

        def race(index: int) -> None:
            for i in range(rounds):
                if index == 0:
                    person = Person.objects.get(user=target)
                    person = services.transition(
                        person, "suspend", actor=admin, reason=f"round {i}", expected_version=person.version
                    )
                    services.transition(person, "reactivate", actor=admin, expected_version=person.version)
                else:
                    user = User.objects.get(pk=target.pk)
                    zone = ["Europe/Amsterdam", "Asia/Tokyo", "UTC"][(index + i) % 3]
                    services.set_preferences(user, time_zone=zone, language="en", actor=user)

        errors = run_in_threads(3, race)
        self.assertEqual(errors, [])
        person = Person.objects.get(user=target)
        self.assertEqual(person.status, "active")
        self.assertEqual(audit.history(person).filter(action="transition").count(), 2 * rounds)
        self.assertEqual(audit.backlog().count, 0)
        self.assertTrue(audit.verify_chain().ok)


class RecordServiceTests(PrincipalsTestCase):
    def test_stale_update_raises_with_the_current_state_and_writes_nothing(self) -> None:
        org = OrganisationFactory()
        services.update_record(org, data={"phone": "111"}, actor=self.admin, expected_version=1)
        with self.assertRaises(services.StaleVersion) as caught:
            services.update_record(org, data={"phone": "222"}, actor=self.admin, expected_version=1)
        self.assertEqual(caught.exception.current.phone, "111")
        org.refresh_from_db()
        self.assertEqual((org.phone, org.version), ("111", 2))

    def test_an_unchanged_save_is_not_a_new_version(self) -> None:
        org = OrganisationFactory(phone="1")
        same = services.update_record(org, data={"phone": "1"}, actor=self.admin, expected_version=1)
        self.assertEqual(same.version, 1)
        self.assertFalse(audit.history(org).exists())

    def test_fields_outside_the_declaration_are_refused(self) -> None:
        person = PersonFactory(organisation=self.p.org_a)
        for field in ("status", "user", "version", "created_by"):
            with self.subTest(field=field), self.assertRaises(ValidationError) as caught:
                services.update_record(person, data={field: None}, actor=self.admin, expected_version=1)
            self.assertIn(field, caught.exception.message_dict)

    def test_a_customer_cannot_link_to_or_move_into_another_organisation(self) -> None:
        agent = self.p.users[Role.SERVICE_DESK_AGENT]
        foreign_location = LocationFactory(organisation=self.p.org_b)
        with self.assertRaises(ValidationError) as caught:
            services.create_record(
                Person,
                data={"first_name": "A", "last_name": "B", "organisation": self.p.org_a, "location": foreign_location},
                actor=agent,
            )
        self.assertIn("location", caught.exception.message_dict)  # would show B's site to customer A
        customer = self.p.customer_a
        with self.assertRaises(PermissionDenied):
            services.create_record(
                Person, data={"first_name": "X", "last_name": "Y", "organisation": self.p.org_b}, actor=customer
            )

    def test_protected_records_cannot_be_deleted_and_say_why(self) -> None:
        org = OrganisationFactory()
        PersonFactory(organisation=org)
        with self.assertRaisesMessage(ValidationError, "still referred to by people"):
            services.delete_record(org, actor=self.admin, expected_version=1)
        self.assertTrue(Organisation.objects.filter(pk=org.pk).exists())
        self.assertFalse(audit.history(org).filter(action="delete").exists())

    def test_grant_login_rules(self) -> None:
        staff = PersonFactory(organisation=self.p.internal, email="new.agent@provider.example")
        user = services.grant_login(
            staff, username="newagent", roles=[Role.SERVICE_DESK_AGENT], actor=self.admin, expected_version=1
        )
        self.assertEqual(user.roles, frozenset({Role.SERVICE_DESK_AGENT}))
        from django.contrib.auth.forms import PasswordResetForm

        self.assertEqual(list(PasswordResetForm().get_users("new.agent@provider.example")), [user])
        customer = PersonFactory(organisation=self.p.org_a)
        with self.assertRaises(ValidationError) as caught:
            services.grant_login(
                customer, username="sneaky", roles=[Role.ADMINISTRATOR], actor=self.admin, expected_version=1
            )
        self.assertIn("roles", caught.exception.message_dict)
        with self.assertRaises(ValidationError):
            services.grant_login(
                customer, username="NEWAGENT", roles=[Role.CUSTOMER_USER], actor=self.admin, expected_version=1
            )
        with self.assertRaises(PermissionDenied):
            services.grant_login(
                customer,
                username="c1",
                roles=[Role.CUSTOMER_USER],
                actor=self.p.users[Role.SERVICE_DESK_AGENT],
                expected_version=1,
            )
        weak = PersonFactory(organisation=self.p.org_a)
        with self.assertRaises(ValidationError) as caught:
            services.grant_login(
                weak, username="weak", roles=[Role.CUSTOMER_USER], actor=self.admin, password="1234", expected_version=1
            )
        self.assertIn("password", caught.exception.message_dict)

    def test_preferences_are_the_users_own(self) -> None:
        user = self.p.users[Role.RESOLVER]
        services.set_preferences(user, time_zone="Europe/Berlin", language="de", actor=user)
        user.refresh_from_db()
        self.assertEqual((user.time_zone, user.language), ("Europe/Berlin", "de"))
        with self.assertRaises(PermissionDenied):
            services.set_preferences(user, time_zone="UTC", language="en", actor=self.admin)
        with self.assertRaises(ValidationError):
            services.set_preferences(user, time_zone="Mars/Olympus", language="en", actor=user)

    def test_pages_show_times_in_the_users_time_zone(self) -> None:
        user = self.p.users[Role.AUDITOR]
        org = OrganisationFactory()
        services.set_preferences(user, time_zone="Asia/Tokyo", language="en", actor=user)
        self.client.force_login(user)
        page = self.client.get(org.get_absolute_url())
        import zoneinfo

        from django.utils import timezone
        from django.utils.formats import date_format

        local = timezone.localtime(org.updated_at, zoneinfo.ZoneInfo("Asia/Tokyo"))
        self.assertContains(page, date_format(local, "DATETIME_FORMAT"))
