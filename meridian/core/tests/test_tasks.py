"""Background work: notifications sent after commit and retried, periodic tasks acting as the system actor,
and the task queue on Redis."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, ClassVar

import pytest
from django.core import mail
from django.core.mail.backends import locmem
from django.db import connection
from django.test import TestCase, override_settings
from django.utils import timezone

from meridian.core import audit, policy, services
from meridian.core.choices import NotificationStatus, Role
from meridian.core.factories import PersonFactory
from meridian.core.models import NotificationLog, Organisation
from meridian.core.notifications import SENDING_TIMEOUT, deliver, notify
from meridian.core.tasks import PERIODIC_TASKS, periodic, retry_failed_notifications
from meridian.core.testing import PrincipalsTestCase, make_principals


class FailingBackend:
    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def send_messages(self, messages: object) -> int:
        raise ConnectionRefusedError("smtp down")


@periodic("tests.create_marker", minute="0", hour="3")
def create_marker(*, actor: object) -> int:
    """Creates an organisation (idempotent): proves periodic writes are attributed to the system actor."""
    if Organisation.objects.filter(name="Made by a periodic task").exists():
        return 0
    services.create_record(Organisation, data={"name": "Made by a periodic task", "kind": "internal"}, actor=actor)
    return 1


class NotificationTests(PrincipalsTestCase):
    def test_nothing_is_sent_before_commit_and_nothing_if_rolled_back(self) -> None:
        person = PersonFactory(organisation=self.p.org_a, email="x@a.example", status="suspended")
        with self.captureOnCommitCallbacks(execute=False) as callbacks:
            notify("core.person.account_ended", person)
        self.assertEqual(len(mail.outbox), 0)
        self.assertEqual(len(callbacks), 1)
        log = NotificationLog.objects.get(record_id=str(person.pk))
        self.assertEqual(log.status, NotificationStatus.QUEUED)

    def test_failed_mail_is_logged_and_retried_once_the_server_is_back(self) -> None:
        person = PersonFactory(organisation=self.p.org_a, email="y@a.example", status="suspended")
        with (
            override_settings(EMAIL_BACKEND="meridian.core.tests.test_tasks.FailingBackend"),
            self.captureOnCommitCallbacks(execute=True),
        ):
            notify("core.person.account_ended", person)
        log = NotificationLog.objects.get(record_id=str(person.pk))
        self.assertEqual(log.status, NotificationStatus.FAILED)
        self.assertIn("smtp down", log.error)
        retry_failed_notifications.call_local()
        log.refresh_from_db()
        self.assertEqual(log.status, NotificationStatus.SENT)
        self.assertEqual(len(mail.outbox), 1)
        retry_failed_notifications.call_local()
        self.assertEqual(len(mail.outbox), 1, "a sent message is never sent again")

    def test_nobody_is_told_about_a_record_they_may_not_see(self) -> None:
        from meridian.core.notifications import _allowed

        target = PersonFactory(organisation=self.p.org_a)
        insider, outsider = self.p.customer_a.person, self.p.customer_b.person
        for person, address in ((insider, "alice@a.example"), (outsider, "bob@b.example")):
            person.email = address
            person.save()
        self.assertEqual(_allowed(insider, target), "alice@a.example")
        self.assertIsNone(_allowed(outsider, target))
        self.assertIsNone(_allowed(PersonFactory(organisation=self.p.org_b, email="c@b.example"), target))
        self.assertEqual(_allowed(PersonFactory(organisation=self.p.org_a, email="d@a.example"), target), "d@a.example")


class PeriodicTaskTests(TestCase):
    def test_registry_lists_core_tasks_with_schedules(self) -> None:
        self.assertIn("core.retry_failed_notifications", PERIODIC_TASKS)
        self.assertEqual(PERIODIC_TASKS["core.verify_audit_chain"].schedule, "17 2 * * *")

    def test_periodic_writes_are_attributed_to_the_system_actor_and_idempotent(self) -> None:
        self.assertEqual(create_marker.call_local(), 1)
        self.assertEqual(create_marker.call_local(), 0)
        org = Organisation.objects.get(name="Made by a periodic task")
        event = audit.history(org).get()
        self.assertEqual(event.actor_label, policy.SYSTEM_USERNAME)
        self.assertTrue(policy.is_system(services.get_system_actor()))

    def test_nightly_chain_check_reports_the_chain_state(self) -> None:
        from meridian.core.tasks import verify_audit_chain

        p = make_principals()
        services.create_record(
            Organisation, data={"name": "Checked", "kind": "customer"}, actor=p.users[Role.ADMINISTRATOR]
        )
        self.assertTrue(verify_audit_chain.call_local())


@pytest.mark.django_db(transaction=True)
def test_tasks_round_trip_through_redis(redis_url: str) -> None:
    """The queue on Redis (several machines): a notification task enqueued, taken by a consumer, delivered."""
    from huey import RedisHuey

    from meridian.core.notifications import deliver

    huey = RedisHuey("meridian-test", url=redis_url)
    huey.flush()
    send = huey.task()(deliver)
    p = make_principals()
    person = PersonFactory(organisation=p.org_a, email="redis@a.example", status="left")
    log = NotificationLog.objects.create(
        event="core.person.account_ended",
        record_type="core.person",
        record_id=str(person.pk),
        recipient=person.email,
        subject="s",
        body="b",
    )
    send(log.pk)
    assert huey.pending_count() == 1
    task = huey.dequeue()
    huey.execute(task)
    log.refresh_from_db()
    assert log.status == NotificationStatus.SENT
    assert huey.pending_count() == 0
    huey.flush()


class HoldingBackend(locmem.EmailBackend):
    """The mail server as `deliver` meets it: records whether a database transaction was open while it sent,
    and can hold a send until released (a slow server, while another worker tries the same message)."""

    transaction_open: ClassVar[list[bool]] = []
    sending = threading.Event()
    release = threading.Event()

    def send_messages(self, messages: Any) -> int:
        HoldingBackend.transaction_open.append(connection.in_atomic_block or not connection.get_autocommit())
        self.sending.set()
        self.release.wait(timeout=10)
        return super().send_messages(messages)


def queued_message(address: str) -> NotificationLog:
    person = PersonFactory(email=address, status="left")
    return NotificationLog.objects.create(
        event="core.person.account_ended",
        record_type="core.person",
        record_id=str(person.pk),
        recipient=address,
        subject="Your account has ended",
        body="b",
    )


@pytest.fixture
def holding_backend(settings: Any) -> Iterator[type[HoldingBackend]]:
    settings.EMAIL_BACKEND = "meridian.core.tests.test_tasks.HoldingBackend"
    HoldingBackend.transaction_open.clear()
    HoldingBackend.sending.clear()
    HoldingBackend.release.set()
    yield HoldingBackend
    HoldingBackend.release.set()


@pytest.mark.django_db(transaction=True)
def test_no_transaction_is_open_while_the_mail_server_is_talked_to(holding_backend: type[HoldingBackend]) -> None:
    log = queued_message("open@a.example")
    delivered = deliver(log.pk)
    assert holding_backend.transaction_open == [False]
    log.refresh_from_db()
    assert (delivered.status, log.status, log.attempts, len(mail.outbox)) == ("sent", "sent", 1, 1)
    assert log.sent_at is not None


@pytest.mark.django_db(transaction=True)
def test_a_second_deliver_while_the_first_is_sending_does_not_send_again(
    holding_backend: type[HoldingBackend],
) -> None:
    """Two workers on one message: the second neither waits for the first's mail server nor sends again."""
    log = queued_message("twice@a.example")
    holding_backend.release.clear()
    first_result: list[NotificationLog] = []

    def first_worker() -> None:
        try:
            first_result.append(deliver(log.pk))
        finally:
            connection.close()

    first = threading.Thread(target=first_worker)
    first.start()
    assert holding_backend.sending.wait(timeout=10), "the first worker never reached the mail server"
    second = deliver(log.pk)  # the first is still talking to the mail server
    assert (second.status, second.attempts, len(mail.outbox)) == (NotificationStatus.SENDING, 1, 0)
    holding_backend.release.set()
    first.join(timeout=30)
    log.refresh_from_db()
    assert (first_result[0].status, log.status, log.attempts, len(mail.outbox)) == ("sent", "sent", 1, 1)
    assert deliver(log.pk).status == NotificationStatus.SENT
    assert len(mail.outbox) == 1, "a sent message is never sent again"


class AbandonedSendingTests(TestCase):
    def test_a_message_left_sending_by_a_dead_worker_is_retried_and_a_fresh_one_is_not(self) -> None:
        now = timezone.now()
        abandoned, in_progress = queued_message("dead@a.example"), queued_message("busy@a.example")
        NotificationLog.objects.filter(pk=abandoned.pk).update(
            status=NotificationStatus.SENDING, attempts=1, claimed_at=now - SENDING_TIMEOUT - timedelta(minutes=1)
        )
        NotificationLog.objects.filter(pk=in_progress.pk).update(
            status=NotificationStatus.SENDING, attempts=1, claimed_at=now
        )
        self.assertEqual(retry_failed_notifications.call_local(), 1)
        abandoned.refresh_from_db()
        in_progress.refresh_from_db()
        self.assertEqual((abandoned.status, abandoned.attempts), (NotificationStatus.SENT, 2))
        self.assertEqual((in_progress.status, in_progress.attempts), (NotificationStatus.SENDING, 1))
        self.assertEqual([m.to for m in mail.outbox], [["dead@a.example"]])
        self.assertEqual(deliver(in_progress.pk).status, NotificationStatus.SENDING)  # a worker has it: not sent
        self.assertEqual(len(mail.outbox), 1)
