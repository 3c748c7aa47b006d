"""Alertmanager's retries racing each other: real concurrent transactions (threads with their own connections) on
SQLite and PostgreSQL apply one group's deliveries one after the other, so the group gets one record."""

from __future__ import annotations

import threading
from typing import Any

from django.test import TransactionTestCase

from meridian.core.choices import Role
from meridian.core.factories import UserFactory
from meridian.core.tests.test_services import run_in_threads
from meridian.integrations import alerts, webhooks
from meridian.integrations.alert_models import AlertGroup, AlertSourceKind
from meridian.integrations.tests.test_alerts_receiver import RecordingHandler, alert, body
from meridian.integrations.tests.test_alerts_record_type import AlertSourceFactory


class LockedHandler(RecordingHandler):
    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()

    def open(self, received: alerts.Received) -> Any:
        with self.lock:
            return super().open(received)

    def update(self, record: Any, received: alerts.Received) -> None:
        with self.lock:
            super().update(record, received)


class RetryRaceTests(TransactionTestCase):
    def test_concurrent_deliveries_of_a_new_group_open_one_record(self) -> None:
        actor = UserFactory(roles=[Role.SERVICE_DESK_AGENT])
        source = AlertSourceFactory(kind=AlertSourceKind.ALERTMANAGER)
        same = webhooks.read_alertmanager(body(alert("zz01"), alert("zz02")))
        # the same alerts with another receiver name: another body (digest), nothing new to announce
        other = webhooks.read_alertmanager(body(alert("zz02"), alert("zz01")) | {"receiver": "second"})
        handler = LockedHandler()
        results: list[str] = []
        lock = threading.Lock()

        def deliver(index: int) -> None:
            outcome = alerts.receive(source, same if index % 2 else other, actor=actor)
            with lock:
                results.append(outcome.result)

        with alerts.handler_replaced(handler):
            errors = run_in_threads(6, deliver)
        self.assertEqual(errors, [])
        self.assertEqual([c[0] for c in handler.calls], ["open"])
        self.assertEqual(results.count("opened"), 1)
        self.assertEqual(set(results) - {"opened"}, {"replayed", "unchanged"})
        group = AlertGroup.objects.get()
        self.assertEqual((group.opened, sorted(group.firing), len(group.digests)), (1, ["zz01", "zz02"], 2))
