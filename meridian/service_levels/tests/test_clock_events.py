"""Warnings and breaches: recorded once, at the instant each threshold was crossed, by the periodic task, whether it
runs on time, late, twice or on two workers at once (PostgreSQL); escalation hooks called once, after commit."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any
from unittest import skipUnless

from django.db import connection, connections, transaction
from django.test import TestCase, TransactionTestCase

from meridian.core.choices import Role
from meridian.core.testing import make_principals
from meridian.service_levels import clocks
from meridian.service_levels.clock_models import Clock, ClockEvent, ClockEventKind
from meridian.service_levels.tasks import clock_events
from meridian.service_levels.tests.clock_helpers import ams, office, owner, resolution_metric, utc


def events_of(clock: Clock) -> list[tuple[int, str, datetime]]:
    return list(clock.events.order_by("threshold").values_list("threshold", "kind", "occurred_at"))


# Monday 16 November 2026 09:00 CET, 240 business minutes: 50 % at 11:00, 75 % at 12:00, 90 % at 12:36, breach at
# 13:00 (CET = UTC+1)
EXPECTED = [
    (50, ClockEventKind.WARNING, utc(2026, 11, 16, 10)),
    (75, ClockEventKind.WARNING, utc(2026, 11, 16, 11)),
    (90, ClockEventKind.WARNING, utc(2026, 11, 16, 11, 36)),
    (100, ClockEventKind.BREACH, utc(2026, 11, 16, 12)),
]


class Escalations:
    """A hook that counts what it is told (registered for one test)."""

    def __init__(self, test: Any, metric_key: str | None = None) -> None:
        self.seen: list[tuple[int, int]] = []
        self.lock = threading.Lock()
        clocks.on_event(metric_key, self)
        test.addCleanup(clocks._CALLBACKS.remove, (metric_key, self))

    def __call__(self, clock: Clock, event: ClockEvent) -> None:
        with self.lock:
            self.seen.append((clock.pk, event.threshold))


class ClockEventTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.p = make_principals()
        cls.actor = cls.p.users[Role.SERVICE_LEVEL_MANAGER]
        cls.metric = resolution_metric()
        cls.office = office()

    def start(self, target: int = 240) -> Clock:
        return clocks.start(
            owner(), self.metric, target_minutes=target, calendar=self.office, rule="", status="new",
            actor=self.actor, at=ams(2026, 11, 16, 9),
        )  # fmt: skip

    def test_on_time_runs_record_each_threshold_as_it_comes(self) -> None:
        clock = self.start()
        self.assertEqual(clock.next_event_at, utc(2026, 11, 16, 10))
        self.assertEqual(clocks.record_due_events(ams(2026, 11, 16, 10, 59)), 0)
        self.assertEqual(clocks.record_due_events(ams(2026, 11, 16, 11, 0)), 1)
        clock.refresh_from_db()
        self.assertEqual(clock.next_event_at, utc(2026, 11, 16, 11))
        self.assertEqual(clocks.record_due_events(ams(2026, 11, 16, 12, 1)), 1)
        self.assertEqual(clocks.record_due_events(ams(2026, 11, 16, 12, 40)), 1)
        self.assertEqual(clocks.record_due_events(ams(2026, 11, 16, 13, 0)), 1)
        clock.refresh_from_db()
        self.assertEqual(events_of(clock), EXPECTED)
        self.assertEqual((clock.next_event_at, clock.breached_at), (None, utc(2026, 11, 16, 12)))
        self.assertEqual(clocks.record_due_events(ams(2026, 11, 18, 9)), 0)

    def test_a_late_run_records_every_threshold_at_its_true_instant(self) -> None:
        clock = self.start()
        escalations = Escalations(self, "resolution")
        with self.captureOnCommitCallbacks(execute=True):
            self.assertEqual(clocks.record_due_events(ams(2026, 11, 17, 12)), 4)  # a day late
        self.assertEqual(events_of(clock), EXPECTED)
        self.assertEqual(escalations.seen, [(clock.pk, 50), (clock.pk, 75), (clock.pk, 90), (clock.pk, 100)])

    def test_repeated_runs_record_nothing_twice_and_tell_nobody_twice(self) -> None:
        clock = self.start()
        escalations = Escalations(self)
        other_metric = Escalations(self, "response")  # hooks of another metric hear nothing
        for _ in range(3):
            with self.captureOnCommitCallbacks(execute=True):
                clocks.record_due_events(ams(2026, 11, 16, 12, 30))
        self.assertEqual(events_of(clock), EXPECTED[:2])
        self.assertEqual(escalations.seen, [(clock.pk, 50), (clock.pk, 75)])
        self.assertEqual(other_metric.seen, [])
        # a clock whose events are all recorded is not looked at again
        with self.captureOnCommitCallbacks(execute=True):
            clocks.record_due_events(ams(2026, 11, 20, 9))
            clocks.record_due_events(ams(2026, 11, 20, 9))
        self.assertEqual(len(escalations.seen), 4)

    def test_callbacks_wait_for_the_commit(self) -> None:
        self.start()
        escalations = Escalations(self)
        with self.captureOnCommitCallbacks(execute=False) as pending:
            clocks.record_due_events(ams(2026, 11, 16, 11))
        self.assertEqual(escalations.seen, [])
        self.assertEqual(len(pending), 1)

    def test_a_pause_moves_the_next_thresholds(self) -> None:
        # pending 10:00-14:00 (60 used): 50 % (120) at 15:00 CET, breach (240) at 17:00 CET, the end of the day
        clock = self.start()
        clocks.status_changed(clock.owner, "pending", at=ams(2026, 11, 16, 10))
        clock.refresh_from_db()
        self.assertIsNone(clock.next_event_at)  # paused, nothing crossed: nothing to look at
        clocks.status_changed(clock.owner, "in_progress", at=ams(2026, 11, 16, 14))
        self.assertEqual(clocks.record_due_events(ams(2026, 11, 17, 11)), 4)
        self.assertEqual(
            [occurred for _, _, occurred in events_of(clock)],
            [utc(2026, 11, 16, 14), utc(2026, 11, 16, 15), utc(2026, 11, 16, 15, 36), utc(2026, 11, 16, 16)],
        )

    def test_retarget_records_a_breach_in_the_past_at_its_instant(self) -> None:
        # P3 (960) from Monday 09:00; nothing to record at 14:00 (300 used = 31 %). Raised to P1 (240) at 15:00: the
        # task then records 50 % at 11:00, 75 % at 12:00, 90 % at 12:36 and the breach at 13:00 CET
        clock = self.start(target=960)
        self.assertEqual(clocks.record_due_events(ams(2026, 11, 16, 14)), 0)
        clocks.retarget(
            clock, target_minutes=240, calendar=self.office, rule="P1", reason="Priority raised", actor=self.actor,
            at=ams(2026, 11, 16, 15),
        )  # fmt: skip
        self.assertEqual(clocks.record_due_events(ams(2026, 11, 16, 15)), 4)
        self.assertEqual(events_of(clock), EXPECTED)

    def test_a_paused_clock_past_a_new_target_gets_its_breach_recorded(self) -> None:
        clock = self.start(target=960)
        clocks.status_changed(clock.owner, "pending", at=ams(2026, 11, 16, 15))  # 360 used, paused
        clocks.retarget(
            clock, target_minutes=240, calendar=self.office, rule="P1", reason="Priority raised", actor=self.actor,
            at=ams(2026, 11, 16, 16),
        )  # fmt: skip
        self.assertEqual(clocks.record_due_events(ams(2026, 11, 16, 16)), 4)
        self.assertEqual(events_of(clock), EXPECTED)
        clock.refresh_from_db()
        self.assertIsNone(clock.next_event_at)

    def test_the_periodic_task_is_registered_and_runs_as_the_system_actor(self) -> None:
        from meridian.core.tasks import PERIODIC_TASKS

        self.assertEqual(PERIODIC_TASKS["service_levels.clock_events"].schedule, "* * * * *")
        clock = self.start()
        clock.next_event_at = utc(2000, 1, 1)  # due: the task replays it with the real now (2026-11-16 is past)
        clock.save(update_fields=["next_event_at"])
        clock_events.call_local()
        self.assertEqual(events_of(clock), EXPECTED)


@skipUnless(connection.vendor == "postgresql", "two workers at once need PostgreSQL's row locks")
class ConcurrentWorkersTests(TransactionTestCase):
    """Two consumers, each with its own connection, at the same moment."""

    def setUp(self) -> None:
        self.metric = resolution_metric()
        self.office = office()
        self.clocks = []
        for _ in range(40):
            self.clocks.append(
                clocks.start(
                    owner(),
                    self.metric,
                    target_minutes=240,
                    calendar=self.office,
                    rule="",
                    status="new",
                    actor=None,
                    at=ams(2026, 11, 16, 9),
                )
            )

    def race(self, work: Any, workers: int = 2) -> list[Any]:
        barrier = threading.Barrier(workers)
        results: list[Any] = []
        errors: list[BaseException] = []

        def run() -> None:
            try:
                barrier.wait()
                results.append(work())
            except Exception as exc:  # noqa: BLE001 - reported in the test's thread
                errors.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=run) for _ in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        self.assertEqual(errors, [])
        return results

    def test_two_workers_record_each_event_once(self) -> None:
        escalations = Escalations(self)
        results = self.race(lambda: clocks.record_due_events(ams(2026, 11, 17, 12), batch=7))
        self.assertEqual(sum(results), 160)
        self.assertEqual(ClockEvent.objects.count(), 160)
        for clock in self.clocks:
            self.assertEqual(events_of(clock), EXPECTED)
        self.assertEqual(sorted(escalations.seen), sorted((c.pk, p) for c in self.clocks for p in (50, 75, 90, 100)))

    def test_the_unique_constraint_decides_when_both_hold_the_same_clock(self) -> None:
        # no row lock at all: both workers read "nothing recorded" and insert; the constraint lets one through
        escalations = Escalations(self)
        clock_id = self.clocks[0].pk

        def unlocked() -> int:
            with transaction.atomic():
                clock = Clock.objects.select_related("metric", "calendar").get(pk=clock_id)
                return len(clocks.record_events(clock, now=ams(2026, 11, 17, 12)))

        results = self.race(unlocked)
        self.assertEqual(sum(results), 4)
        self.assertEqual(events_of(self.clocks[0]), EXPECTED)
        self.assertEqual(sorted(escalations.seen), [(clock_id, p) for p in (50, 75, 90, 100)])
