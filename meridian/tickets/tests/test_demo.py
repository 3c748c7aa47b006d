"""The demo's month of tickets, loaded by `meridian demo` on an empty database: spread over the last 30 days, in every
status, the agents' queues filled for the demo agent, clocks met and breached, a service report with figures, the
timelines at the instants the tickets moved; loaded once; and nothing left patched after it."""

from __future__ import annotations

import io
from collections import Counter
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models.signals import pre_save
from django.test import TestCase, override_settings
from django.utils import timezone

from meridian.core import audit, saved_views
from meridian.core.models import AuditEvent, Comment, SavedView
from meridian.core.services import get_system_actor
from meridian.service_levels import clocks
from meridian.service_levels.clock_models import Clock, ClockState
from meridian.service_levels.models import Agreement
from meridian.tickets import as_of, demo, queue_views
from meridian.tickets.choices import Status
from meridian.tickets.models import Category, Incident, ServiceRequest
from meridian.tickets.queues import in_queue
from meridian.tickets.reports import compute


@override_settings(MERIDIAN_DEMO_TICKETS=1.0)  # the whole month, as `make run` loads it (tests default to none)
class TicketDemoTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.started = timezone.now()
        call_command("demo", password="demo-pass-123", stdout=io.StringIO())
        cls.sanne = get_user_model().objects.get(username="sanne")

    def test_a_month_of_incidents_and_requests_from_every_channel(self) -> None:
        incidents, requests = Incident.objects.all(), ServiceRequest.objects.all()
        self.assertTrue(150 <= incidents.count() <= 250, incidents.count())
        self.assertTrue(60 <= requests.count() <= 120, requests.count())
        opened = [t.created_at for t in [*incidents, *requests]]
        self.assertGreaterEqual(min(opened), self.started - timedelta(days=31))
        self.assertLessEqual(max(opened), self.started)
        self.assertGreater(len({o.date() for o in opened}), 20)  # spread over the month, not one day
        weekdays = Counter(timezone.localtime(o).weekday() < 5 for o in opened)
        self.assertGreater(weekdays[True], 2 * weekdays[False])
        self.assertEqual(set(incidents.values_list("channel", flat=True)), {"agent", "email", "portal", "monitoring"})
        self.assertEqual(incidents.values("organisation").distinct().count(), 3)
        self.assertGreater(incidents.values("service").distinct().count(), 4)
        self.assertGreater(incidents.values("priority").distinct().count(), 2)
        self.assertTrue(incidents.filter(configuration_items__isnull=False).exists())
        # every category has its default team; the tickets are classified into subcategories
        self.assertFalse(Category.objects.filter(default_team__isnull=True).exists())
        self.assertTrue(incidents.filter(category__parent__isnull=False).exists())
        # requests from the catalogue, with their answers, approvals and done tasks
        request = requests.filter(status=Status.CLOSED, approvals__decision="approved").first()
        self.assertIsNotNone(request)
        self.assertTrue(request.answers)
        self.assertFalse(request.tasks.exclude(status="done").exists())

    def test_tickets_in_every_status(self) -> None:
        statuses = set(Incident.objects.values_list("status", flat=True))
        for status in (Status.NEW, Status.IN_PROGRESS, Status.RESOLVED, Status.CLOSED, Status.CANCELLED):
            self.assertIn(status, statuses)
        self.assertTrue(statuses & {Status.PENDING_CUSTOMER, Status.PENDING_SUPPLIER, Status.PENDING_CHANGE})
        requested = set(ServiceRequest.objects.values_list("status", flat=True))
        for status in (Status.AWAITING_APPROVAL, Status.REJECTED, Status.CLOSED):
            self.assertIn(status, requested)
        closed = Incident.objects.filter(status=Status.CLOSED)
        # closed by the callers and by the automatic close; rated mostly well, a few poorly with a comment
        reasons = set(
            AuditEvent.objects.filter(record_type="tickets.incident", changes__action="close").values_list(
                "reason", flat=True
            )
        )
        self.assertTrue(any(r.startswith("Closed by itself") for r in reasons))
        self.assertTrue(any(r.startswith("Confirmed") or "confirmed" in r for r in reasons))
        ratings = Counter(closed.exclude(rating=None).values_list("rating", flat=True))
        self.assertGreater(ratings[4] + ratings[5], ratings[1] + ratings[2] + ratings[3])
        self.assertTrue(closed.filter(rating__lte=2).exclude(rating_comment="").exists())
        self.assertTrue(AuditEvent.objects.filter(record_type="tickets.incident", changes__action="reopen").exists())
        visibility = set(Comment.objects.filter(record_type="tickets.incident").values_list("visibility", flat=True))
        self.assertEqual(visibility, {"public", "internal"})

    def test_clocks_met_and_breached_and_the_queues_of_the_demo_agent_filled(self) -> None:
        measured = Clock.objects.filter(content_type__app_label="tickets")
        self.assertTrue(measured.filter(breached_at__isnull=False).exists())
        self.assertTrue(measured.filter(state=ClockState.FINISHED, breached_at__isnull=True).exists())
        for queue in ("mine", "unassigned", "at_risk", "breached"):
            found = in_queue(Incident.objects.all(), queue, self.sanne).count()
            found += in_queue(ServiceRequest.objects.all(), queue, self.sanne).count()
            self.assertGreater(found, 0, queue)

    def test_the_service_report_of_the_month_has_figures(self) -> None:
        agreement = Agreement.objects.get(name="Standard service levels")
        today = timezone.localdate()
        period = compute.Period(today - timedelta(days=30), today, compute.agreement_tz(agreement))
        report = compute.build(agreement, period)
        incidents = next(kind for kind in report.kinds if kind.key == "incidents")
        self.assertGreater(incidents.opened, 50)
        self.assertGreater(incidents.resolved, 30)
        compliance = dict(incidents.compliance["resolution"])["All"]
        self.assertGreater(compliance.met, 0)
        self.assertGreater(compliance.breached, 0)
        self.assertTrue(report.breaches)
        self.assertTrue(sum(report.ratings.values()))

    def test_the_timeline_is_at_the_instants_the_ticket_moved(self) -> None:
        ticket = Incident.objects.filter(status=Status.CLOSED, rating__isnull=False).order_by("pk").first()
        events = list(audit.history(ticket).order_by("id"))
        self.assertEqual(events[0].occurred_at, ticket.created_at)
        self.assertLess(ticket.created_at, ticket.resolved_at)
        self.assertLess(ticket.resolved_at, ticket.closed_at)
        times = [e.occurred_at for e in events]
        self.assertEqual(times, sorted(times))  # written in the order they happened, each at its instant
        self.assertLess(max(times), self.started)
        for comment in Comment.objects.filter(record_type="tickets.incident", record_id=ticket.pk):
            self.assertTrue(ticket.created_at <= comment.created_at <= ticket.closed_at)
        resolution = clocks.clocks_of(ticket).get(metric__key="resolution")
        self.assertEqual(resolution.started_at, ticket.created_at)
        audit.chain_pending()  # PostgreSQL links after commit, which a test's transaction never reaches
        tampered = [problem for problem in audit.verify_chain().problems if problem.tampering]
        self.assertEqual(tampered, [])  # back-dated events keep the chain whole

    def test_the_queues_are_saved_views_shared_with_everyone_by_due_time(self) -> None:
        views = SavedView.objects.filter(sharing=SavedView.EVERYONE, record_type__startswith="tickets.")
        self.assertEqual(
            {(v.record_type, v.name) for v in views},
            {(label, name) for label in queue_views.TYPES for name, _ in queue_views.QUEUES},
        )
        self.assertTrue(all(v.query.endswith("sort=due") for v in views))
        self.assertEqual(
            saved_views.visible_views(self.sanne).filter(pk__in=views).count(), len(queue_views.QUEUES) * 2
        )

    def test_loaded_once_and_nothing_left_patched(self) -> None:
        counts = (Incident.objects.count(), ServiceRequest.objects.count(), SavedView.objects.count())
        demo.load(get_system_actor())
        call_command("demo", "--if-empty", stdout=io.StringIO())
        self.assertEqual((Incident.objects.count(), ServiceRequest.objects.count(), SavedView.objects.count()), counts)
        self.assertEqual(queue_views.ensure_views(), [])
        self.assertFalse(as_of.is_open())
        self.assertIs(timezone.now, as_of._REAL_NOW)
        self.assertFalse([r for r in pre_save.receivers if r[0][0] == "meridian.tickets.as_of"])


class AsOfTests(TestCase):
    def test_now_is_the_instant_inside_for_this_thread_only_and_the_real_time_after(self) -> None:
        import threading

        past = timezone.now() - timedelta(days=3)
        seen: list[object] = []
        with as_of.as_of(past):
            self.assertEqual(timezone.now(), past)
            other = threading.Thread(target=lambda: seen.append(timezone.now()))
            other.start()
            other.join()
            with as_of.as_of(past + timedelta(hours=1)):
                self.assertEqual(timezone.now(), past + timedelta(hours=1))
            self.assertEqual(timezone.now(), past)
        self.assertGreater(seen[0], past + timedelta(days=2))
        self.assertGreater(timezone.now(), past + timedelta(days=2))
        self.assertIs(timezone.now, as_of._REAL_NOW)
