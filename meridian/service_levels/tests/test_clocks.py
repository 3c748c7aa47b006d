"""The clock engine against answers computed by hand (each case's arithmetic is written beside it): weekends,
public holidays, DST both ways, pauses spanning closures, 24x7 and split-shift calendars, re-targeting and
reopening. Wall-clock times are Amsterdam's; 2026's transitions are 29 March (02:00 CET -> 03:00 CEST, 01:00 UTC)
and 25 October (03:00 CEST -> 02:00 CET, 01:00 UTC)."""

from __future__ import annotations

from datetime import time, timedelta
from unittest.mock import patch

from django.core.exceptions import ValidationError
from django.test import TestCase, TransactionTestCase

from meridian.core.choices import CalendarExceptionKind, Role
from meridian.core.models import AuditEvent, Calendar, CalendarException
from meridian.core.testing import make_principals
from meridian.service_levels import clocks, tasks
from meridian.service_levels.clock_models import Clock, ClockSegment, ClockState, ClockTerm
from meridian.service_levels.tests.clock_helpers import (
    AMS,
    always,
    ams,
    calendar,
    nights,
    office,
    owner,
    resolution_metric,
    split_shift,
    utc,
)


class ClockArithmeticTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.p = make_principals()
        cls.actor = cls.p.users[Role.SERVICE_LEVEL_MANAGER]
        cls.metric = resolution_metric()
        cls.office = office()

    def start(self, calendar=None, target=480, at=None, status="new", rule="SLA-0001 · P3"):  # type: ignore[no-untyped-def]
        return clocks.start(
            owner(),
            self.metric,
            target_minutes=target,
            calendar=calendar or self.office,
            rule=rule,
            status=status,
            actor=self.actor,
            at=at,
        )

    def status(self, clock: Clock, status: str, at):  # type: ignore[no-untyped-def]
        clocks.status_changed(clock.owner, status, at=at)
        clock.refresh_from_db()
        return clock

    def test_a_weekend_is_not_worked(self) -> None:
        # Friday 13 November 15:00: 2 h left that day; Monday 16th 09:00 + 6 h = 15:00 (CET, UTC+1)
        clock = self.start(target=480, at=ams(2026, 11, 13, 15))
        self.assertEqual(clock.state, ClockState.RUNNING)
        self.assertEqual(clock.due_at, utc(2026, 11, 16, 14))
        read = clocks.reading(clock, now=ams(2026, 11, 14, 12))  # Saturday: 120 of 480 minutes used
        self.assertEqual(read.elapsed_minutes, 120)
        self.assertEqual(read.remaining_minutes, 360)
        self.assertEqual(read.percent_used, 25)
        self.assertEqual(read.label, clocks.Label.ON_TRACK)

    def test_public_holidays_and_a_closure_are_not_worked(self) -> None:
        # Thursday 24 December 16:00 + 240: 60 on Thursday; Friday 25th and Saturday 26th are Dutch holidays, then
        # Sunday; Monday 28th 09:00 + 180 = 12:00 CET = 11:00 UTC
        clock = self.start(target=240, at=ams(2026, 12, 24, 16))
        self.assertEqual(clock.due_at, utc(2026, 12, 28, 11))
        # the calendar closes Monday 28th too: Tuesday 29th 12:00 CET; re-timed after commit, in the background
        with self.captureOnCommitCallbacks(execute=True):
            CalendarException.objects.create(
                calendar=self.office, date=ams(2026, 12, 28).date(), kind=CalendarExceptionKind.CLOSED, reason="Shut"
            )
        clock.refresh_from_db()
        self.assertEqual(clock.due_at, utc(2026, 12, 29, 11))
        self.assertEqual(clocks.reading(clock, now=ams(2026, 12, 29, 10)).elapsed_minutes, 60 + 60)

    def test_an_extra_working_saturday_counts(self) -> None:
        # Friday 13 November 15:00 + 480: 120 on Friday, Saturday 14th worked 10:00-14:00 (240), Monday 09:00 + 120
        CalendarException.objects.create(
            calendar=self.office,
            date=ams(2026, 11, 14).date(),
            kind=CalendarExceptionKind.WORKING,
            start=time(10),
            end=time(14),
            reason="Migration weekend",
        )
        clock = self.start(target=480, at=ams(2026, 11, 13, 15))
        self.assertEqual(clock.due_at, utc(2026, 11, 16, 10))

    def test_a_pause_spanning_holidays_and_a_weekend(self) -> None:
        # started Thursday 24 December 16:00 (240 min); pending (waiting for the customer) 16:30 to Tuesday 29th
        # 10:00, across Christmas, the weekend and a whole Monday. 30 used before the pause, 210 left from Tuesday
        # 10:00 = 13:30 CET = 12:30 UTC (without the pause: Monday 12:00)
        clock = self.start(target=240, at=ams(2026, 12, 24, 16))
        clock = self.status(clock, "pending", ams(2026, 12, 24, 16, 30))
        self.assertEqual(clock.state, ClockState.PAUSED)
        self.assertIsNone(clock.due_at)
        self.assertEqual(clock.elapsed_minutes, 30)
        paused = clocks.reading(clock, now=ams(2026, 12, 28, 15))
        self.assertEqual((paused.elapsed_minutes, paused.due_at), (30, None))
        clock = self.status(clock, "in_progress", ams(2026, 12, 29, 10))
        self.assertEqual(clock.state, ClockState.RUNNING)
        self.assertEqual(clock.due_at, utc(2026, 12, 29, 12, 30))
        self.assertEqual(list(clock.segments.values_list("status", flat=True)), ["new", "pending", "in_progress"])

    def test_spring_forward_inside_working_time(self) -> None:
        # nights 00:00-04:00. Saturday 28 March 03:00 CET (02:00 UTC) + 180: 60 to 04:00 CET (03:00 UTC); Sunday 29th
        # opens 00:00 CET = 23:00 UTC Saturday, +120 real minutes = 01:00 UTC = 03:00 CEST (02:00 never happens).
        # Sunday's shift lasts 3 real hours: 23:00 to 02:00 UTC
        clock = self.start(calendar=nights(), target=180, at=ams(2026, 3, 28, 3))
        self.assertEqual(clock.due_at, utc(2026, 3, 29, 1))
        self.assertEqual(clock.due_at.astimezone(AMS).hour, 3)
        self.assertEqual(clocks.reading(clock, now=ams(2026, 3, 29, 12)).elapsed_minutes, 60 + 180)

    def test_fall_back_inside_working_time(self) -> None:
        # Saturday 24 October 03:00 CEST (01:00 UTC) + 240: 60 to 04:00 CEST (02:00 UTC); Sunday 25th opens 00:00
        # CEST = 22:00 UTC Saturday, +180 = 01:00 UTC = 02:00 CET, the second 02:00 of the night. Its shift lasts 5
        # real hours (22:00 to 03:00 UTC)
        clock = self.start(calendar=nights(), target=240, at=ams(2026, 10, 24, 3))
        self.assertEqual(clock.due_at, utc(2026, 10, 25, 1))
        local = clock.due_at.astimezone(AMS)
        self.assertEqual((local.hour, local.utcoffset()), (2, timedelta(hours=1)))  # 02:00 CET, not CEST
        self.assertEqual(clocks.reading(clock, now=ams(2026, 10, 25, 12)).elapsed_minutes, 60 + 300)

    def test_twenty_four_seven_with_a_pause(self) -> None:
        # 24x7: Saturday 28 March 22:00 UTC + 300 real minutes = 03:00 UTC Sunday, DST or not; a pause of one hour
        # (01:00-02:00 UTC) makes it 04:00 UTC
        clock = self.start(calendar=always(), target=300, at=utc(2026, 3, 28, 22))
        self.assertEqual(clock.due_at, utc(2026, 3, 29, 3))
        clock = self.status(clock, "pending", utc(2026, 3, 29, 1))
        clock = self.status(clock, "new", utc(2026, 3, 29, 2))
        self.assertEqual(clock.due_at, utc(2026, 3, 29, 4))

    def test_split_shift(self) -> None:
        # 08:00-12:00 and 13:00-17:00: Monday 16 November 11:00 + 180 = 60 to noon, lunch, 13:00 + 120 = 15:00 CET
        clock = self.start(calendar=split_shift(), target=180, at=ams(2026, 11, 16, 11))
        self.assertEqual(clock.due_at, utc(2026, 11, 16, 14))
        # paused 11:30-13:30: 30 used before, 150 left from 13:30 = 16:00 CET (lunch was not worked anyway)
        clock = self.status(clock, "pending", ams(2026, 11, 16, 11, 30))
        clock = self.status(clock, "in_progress", ams(2026, 11, 16, 13, 30))
        self.assertEqual(clock.due_at, utc(2026, 11, 16, 15))

    def test_retarget_mid_way_puts_the_breach_in_the_past(self) -> None:
        # P3: 960 minutes from Monday 16 November 09:00. At 15:00 (360 used) the priority is raised: P1, 240.
        # The breach was at 09:00 + 240 = 13:00 CET (12:00 UTC), in the past; the clock says so.
        clock = self.start(target=960, at=ams(2026, 11, 16, 9))
        self.assertEqual(clock.due_at, utc(2026, 11, 17, 16))  # Tuesday 17:00 CET
        self.assertIsNone(clock.breached_at)
        clock = clocks.retarget(
            clock,
            target_minutes=240,
            calendar=self.office,
            rule="SLA-0001 · P1 – Critical · resolution 240 business minutes",
            reason="Priority raised to P1",
            actor=self.actor,
            at=ams(2026, 11, 16, 15),
        )
        self.assertEqual(clock.due_at, utc(2026, 11, 16, 12))
        self.assertEqual(clock.breached_at, utc(2026, 11, 16, 12))
        self.assertEqual(clock.next_event_at, utc(2026, 11, 16, 10))  # 50 % at 11:00 CET: the task's next look
        read = clocks.reading(clock, now=ams(2026, 11, 16, 15))
        self.assertEqual((read.elapsed_minutes, read.remaining_minutes, read.label), (360, -120, clocks.Label.BREACHED))
        self.assertEqual(read.percent_used, 150)
        terms = list(ClockTerm.objects.filter(clock=clock).values_list("target_minutes", "reason"))
        self.assertEqual(terms, [(960, "started"), (240, "Priority raised to P1")])
        event = AuditEvent.objects.filter(record_id=str(clock.object_id), reason="Priority raised to P1").get()
        self.assertEqual(event.actor_id, self.actor.pk)
        self.assertIn("240 business minutes on Office NL", event.changes["resolution_clock"]["after"])

    def test_retarget_to_another_calendar_replays_the_whole_life(self) -> None:
        # started Friday 13 November 15:00 on office hours, 600 minutes; moved to 24x7 on Monday at 10:00:
        # the whole life counts in 24x7 now: Friday 15:00 CET (14:00 UTC) + 600 = Saturday 00:00 UTC, in the past
        clock = self.start(target=600, at=ams(2026, 11, 13, 15))
        clock = clocks.retarget(
            clock,
            target_minutes=600,
            calendar=always(),
            rule="",
            reason="24x7",
            actor=self.actor,
            at=ams(2026, 11, 16, 10),
        )
        self.assertEqual(clock.breached_at, utc(2026, 11, 14, 0))

    def test_resolved_then_reopened_resumes_where_it_stopped(self) -> None:
        # Monday 16 November 09:00, 480. Resolved at 13:00 (240 used: stopped, met). Reopened Tuesday 10:00: the
        # night and Tuesday 09:00-10:00 were not counted; 240 left: 14:00 CET = 13:00 UTC
        clock = self.start(target=480, at=ams(2026, 11, 16, 9))
        clock = self.status(clock, "resolved", ams(2026, 11, 16, 13))
        self.assertEqual((clock.state, clock.due_at, clock.elapsed_minutes), (ClockState.STOPPED, None, 240))
        self.assertEqual(clocks.reading(clock, now=ams(2026, 11, 17, 9, 30)).label, clocks.Label.MET)
        clock = self.status(clock, "in_progress", ams(2026, 11, 17, 10))
        self.assertEqual(clock.due_at, utc(2026, 11, 17, 13))
        read = clocks.reading(clock, now=ams(2026, 11, 17, 12))
        self.assertEqual((read.elapsed_minutes, read.label), (360, clocks.Label.AT_RISK))  # 75 %: past 50

    def test_metric_configuration_decides_what_pauses(self) -> None:
        # "pending" pauses until the metric says it runs; then the whole life is replayed with the new rule
        clock = self.start(target=480, at=ams(2026, 11, 16, 9))
        clock = self.status(clock, "pending", ams(2026, 11, 16, 10))
        self.assertEqual(clocks.reading(clock, now=ams(2026, 11, 16, 12)).elapsed_minutes, 60)
        self.metric.running_statuses = ["new", "in_progress", "pending"]
        with self.captureOnCommitCallbacks(execute=True):
            self.metric.save()
        clock.refresh_from_db()
        self.assertEqual(clock.state, ClockState.RUNNING)
        self.assertEqual(clock.due_at, utc(2026, 11, 16, 16))
        self.assertEqual(clocks.reading(clock, now=ams(2026, 11, 16, 12)).elapsed_minutes, 180)

    def test_stop_finishes_for_good(self) -> None:
        clock = self.start(target=60, at=ams(2026, 11, 16, 9))
        clock = clocks.stop(clock, at=ams(2026, 11, 16, 9, 45))
        self.assertEqual((clock.state, clock.due_at, clock.elapsed_minutes), (ClockState.FINISHED, None, 45))
        read = clocks.reading(clock, now=ams(2026, 11, 20, 9))
        self.assertEqual((read.elapsed_minutes, read.label), (45, clocks.Label.MET))
        clocks.status_changed(clock.owner, "in_progress", at=ams(2026, 11, 17, 9))  # a finished clock stays so
        clock.refresh_from_db()
        self.assertEqual((clock.state, clock.segments.count()), (ClockState.FINISHED, 1))
        late = self.start(target=60, at=ams(2026, 11, 16, 9))
        late = clocks.stop(late, at=ams(2026, 11, 16, 11))
        self.assertEqual(late.breached_at, utc(2026, 11, 16, 9))
        self.assertEqual(clocks.reading(late).label, clocks.Label.BREACHED)

    def test_one_clock_per_record_and_metric_and_sane_terms(self) -> None:
        clock = self.start(target=60, at=ams(2026, 11, 16, 9))
        with self.assertRaises(ValidationError) as raised:
            clocks.start(
                clock.owner,
                self.metric,
                target_minutes=60,
                calendar=self.office,
                rule="",
                status="new",
                actor=self.actor,
            )
        self.assertIn("metric", raised.exception.message_dict)
        with self.assertRaises(ValidationError) as raised:
            self.start(target=0)
        self.assertIn("target_minutes", raised.exception.message_dict)
        with self.assertRaises(ValidationError) as raised:
            self.start(calendar=calendar("Nothing"))
        self.assertIn("calendar", raised.exception.message_dict)
        self.assertEqual(Clock.objects.count(), 1)

    def test_clocks_of_a_record_and_its_json(self) -> None:
        clock = self.start(target=480, at=ams(2026, 11, 16, 9))
        response = resolution_metric("response", thresholds=[80])
        other = clocks.start(
            clock.owner,
            response,
            target_minutes=60,
            calendar=self.office,
            rule="",
            status="new",
            actor=self.actor,
            at=ams(2026, 11, 16, 9),
        )
        self.assertEqual(list(clocks.clocks_of(clock.owner)), [clock, other])
        changed = clocks.status_changed(clock.owner, "in_progress", at=ams(2026, 11, 16, 10))
        self.assertEqual(len(changed), 2)
        self.assertEqual(ClockSegment.objects.filter(end__isnull=True).count(), 2)
        data = clocks.clock_json(other, now=ams(2026, 11, 16, 9, 54))
        self.assertEqual(
            {k: data[k] for k in ("metric", "state", "elapsed_minutes", "percent_used", "label", "due_at")},
            {
                "metric": "response",
                "state": "running",
                "elapsed_minutes": 54,
                "percent_used": 90.0,
                "label": "at_risk",
                "due_at": "2026-11-16T09:00:00+00:00",
            },
        )


class ScheduleCacheTests(TestCase):
    def test_an_edit_of_the_calendar_or_its_exceptions_is_never_missed(self) -> None:
        cal = office("Cached")
        first = clocks.schedule_of(cal)
        self.assertIs(clocks.schedule_of(cal), first)  # kept: its day table stays warm
        # an exception written behind the services' back (the calendar's version does not move)
        exception = CalendarException.objects.create(
            calendar=cal, date=ams(2026, 11, 16).date(), kind=CalendarExceptionKind.CLOSED, reason="Flood"
        )
        closed = clocks.schedule_of(cal)
        self.assertIsNot(closed, first)
        self.assertIn(ams(2026, 11, 16).date(), closed.closed_days)
        exception.kind, exception.start, exception.end = CalendarExceptionKind.WORKING, time(10), time(12)
        exception.save()
        self.assertEqual(clocks.schedule_of(cal).extra_days[ams(2026, 11, 16).date()], ((time(10), time(12)),))
        exception.delete()
        cal.working_hours = {"0": [["08:00", "12:00"]]}
        self.assertEqual(clocks.schedule_of(cal).weekly, {0: ((time(8), time(12)),)})
        cal.time_zone = "UTC"
        self.assertEqual(str(clocks.schedule_of(cal).tz), "UTC")


class ClockPanelTests(TestCase):
    def test_the_panel_shows_label_due_remaining_and_terms(self) -> None:
        from django.template.loader import render_to_string
        from django.utils import timezone as tz

        metric, cal = resolution_metric(), office()
        record = owner()
        clocks.start(record, metric, target_minutes=480, calendar=cal, rule="SLA-0001 · P3", status="new", actor=None,
                     at=ams(2026, 11, 16, 9))  # fmt: skip
        with tz.override("Europe/Amsterdam"):
            html = render_to_string(
                "service_levels/clock_panel.html", clocks.panel_context(record, ams(2026, 11, 16, 13))
            )
        self.assertIn('data-label="at_risk"', html)  # 240 of 480: 50 %, the first threshold
        self.assertIn("text-bg-warning", html)
        self.assertIn('value="50"', html)
        self.assertIn("Mon 16 Nov 2026 17:00", html)
        self.assertIn("4 h 00 min", html)
        self.assertIn("SLA-0001 · P3", html)
        empty = render_to_string("service_levels/clock_panel.html", clocks.panel_context(owner()))
        self.assertIn("No service level clock runs on this record.", empty)


class RetimeTests(TestCase):
    def test_new_weekly_hours_retime_open_clocks_and_leave_finished_ones(self) -> None:
        metric, cal = resolution_metric(), office("Retimed")
        running = clocks.start(owner(), metric, target_minutes=480, calendar=cal, rule="", status="new", actor=None,
                               at=ams(2026, 11, 16, 9))  # fmt: skip
        paused = clocks.start(owner(), metric, target_minutes=480, calendar=cal, rule="", status="new", actor=None,
                              at=ams(2026, 11, 16, 9))  # fmt: skip
        clocks.status_changed(paused.owner, "pending", at=ams(2026, 11, 16, 13))  # 240 used by 13:00
        done = clocks.start(owner(), metric, target_minutes=60, calendar=cal, rule="", status="new", actor=None,
                            at=ams(2026, 11, 16, 9))  # fmt: skip
        done = clocks.stop(done, at=ams(2026, 11, 16, 9, 30))
        # from now on 11:00-15:00: Monday 16th counts 4 h, so 480 is reached on Tuesday at 15:00 CET; the paused
        # clock used 2 h by 13:00 (11:00-13:00)
        cal.working_hours = {day: [["11:00", "15:00"]] for day in ["0", "1", "2", "3", "4"]}
        with self.captureOnCommitCallbacks(execute=True):
            cal.save()
        running.refresh_from_db()
        paused.refresh_from_db()
        self.assertEqual(running.due_at, utc(2026, 11, 17, 14))
        self.assertEqual((paused.elapsed_minutes, paused.state, paused.due_at), (120, ClockState.PAUSED, None))
        before = (done.elapsed_minutes, done.due_at, done.updated_at)
        done.refresh_from_db()
        self.assertEqual((done.elapsed_minutes, done.due_at, done.updated_at), before)
        self.assertEqual(clocks.retime(calendar_id=cal.pk), 2)  # the open ones; nothing changes the second time
        running.refresh_from_db()
        self.assertEqual(running.due_at, utc(2026, 11, 17, 14))

    def test_a_clock_changed_while_being_retimed_is_not_overwritten(self) -> None:
        from django.db import connection

        metric, cal = resolution_metric(), office("Raced")
        clock = clocks.start(owner(), metric, target_minutes=480, calendar=cal, rule="", status="new", actor=None,
                             at=ams(2026, 11, 16, 9))  # fmt: skip
        metrics = {metric.pk: (metric, frozenset(metric.running_statuses), frozenset(metric.stop_statuses))}
        cal.working_hours = {day: [["11:00", "15:00"]] for day in ["0", "1", "2", "3", "4"]}
        cal.save()  # (its re-timing task is not run: this test runs the batch itself)
        rows = clocks._fetch(Clock.objects.filter(pk=clock.pk).values_list(*clocks.RETIME_COLUMNS))
        clocks.status_changed(clock.owner, "pending", at=ams(2026, 11, 16, 12))  # meanwhile: paused, 60 used (11-12)
        missed = clocks._retime_batch(rows, metrics, utc(2026, 11, 16, 12))
        clock.refresh_from_db()
        self.assertEqual((clock.state, clock.elapsed_minutes, clock.due_at), (ClockState.PAUSED, 60, None))
        if connection.vendor == "postgresql":
            self.assertEqual(missed, [clock.pk])


class StoredOrderTests(TestCase):
    def test_segments_written_in_any_order_read_the_same(self) -> None:
        metric, cal = resolution_metric(), office("Order")
        clock = clocks.start(owner(), metric, target_minutes=600, calendar=cal, rule="", status="new", actor=None,
                             at=ams(2026, 11, 13, 15))  # fmt: skip
        for status, at in [("pending", ams(2026, 11, 16, 10)), ("in_progress", ams(2026, 11, 16, 14)),
                           ("resolved", ams(2026, 11, 17, 9, 30)), ("in_progress", ams(2026, 11, 17, 11))]:  # fmt: skip
            clocks.status_changed(clock.owner, status, at=at)
        twin = clocks.start(owner(), metric, target_minutes=600, calendar=cal, rule="", status="new", actor=None,
                            at=ams(2026, 11, 13, 15))  # fmt: skip
        ClockSegment.objects.filter(clock=twin).delete()
        rows = list(clock.segments.values_list("start", "end", "status"))
        for batch in (rows[3:], rows[:1], rows[1:3]):  # in three batches, each backwards
            ClockSegment.objects.bulk_create(
                [ClockSegment(clock=twin, start=s, end=e, status=st) for s, e, st in reversed(batch)]
            )
        now = ams(2026, 11, 17, 12)
        a, b = clocks.reading(clock, now), clocks.reading(twin, now)
        self.assertEqual((a.elapsed_minutes, a.due_at), (b.elapsed_minutes, b.due_at))
        # by hand: Friday 15-17 (120), Monday 09-10 (60) and 14-17 (180), Tuesday 09:00-09:30 (30) and 11-12 (60):
        # 450 used, 150 left from 12:00 = 14:30 CET = 13:30 UTC
        self.assertEqual((a.elapsed_minutes, a.due_at), (450, utc(2026, 11, 17, 13, 30)))


class LargeRetimeTests(TransactionTestCase):
    """A re-timing of many clocks as the background task runs it: outside a transaction, in batches (on
    PostgreSQL the next batch replayed while the server writes the last, on a second connection), and above
    `RETIME_PARTS_ABOVE` clocks cut into ranges that worker processes share."""

    def make(self, count: int) -> tuple[Calendar, list[Clock]]:
        metric, cal = resolution_metric(), office("Many")
        made = [
            clocks.start(
                owner(),
                metric,
                target_minutes=480,
                calendar=cal,
                rule="",
                status="new",
                actor=None,
                at=ams(2026, 11, 16, 9),
            )
            for _ in range(count)
        ]
        cal.working_hours = {day: [["11:00", "15:00"]] for day in ["0", "1", "2", "3", "4"]}
        Calendar.objects.filter(pk=cal.pk).update(working_hours=cal.working_hours)  # no task: retimed below
        return cal, made

    def test_every_batch_is_written_and_the_values_are_a_readings(self) -> None:
        cal, made = self.make(7)
        with patch.object(clocks, "RETIME_BATCH", 2):  # four batches
            self.assertEqual(clocks.retime(calendar_id=cal.pk), 7)
        for clock in Clock.objects.filter(pk__in=[c.pk for c in made]).select_related("metric", "calendar"):
            self.assertEqual(clock.due_at, utc(2026, 11, 17, 14))  # Monday 11:00-15:00 CET, Tuesday 11:00-15:00
            self.assertEqual(clocks.reading(clock, clock.computed_at).due_at, clock.due_at)

    def test_a_large_retiming_is_cut_into_ranges_that_together_hold_every_clock(self) -> None:
        cal, made = self.make(5)
        parts = clocks.retime_parts(calendar_id=cal.pk, parts=2)
        self.assertEqual(parts, [(made[0].pk, made[2].pk), (made[3].pk, made[4].pk)])
        with patch.object(tasks, "RETIME_PARTS_ABOVE", 3):
            tasks.retime_clocks(calendar_id=cal.pk)  # immediate in tests: the parts run one after the other
        self.assertEqual(
            set(Clock.objects.filter(calendar=cal).values_list("due_at", flat=True)), {utc(2026, 11, 17, 14)}
        )
        self.assertEqual(clocks.retime(calendar_id=cal.pk, ids=parts[1]), 2)
