"""Service reports against hand-computed figures: a small December 2026 of tickets with real clocks in the
agreement's office hours (Amsterdam, Monday to Friday 09:00-17:00), the period's edges, what a customer sees (page,
CSV, mail), the CSV and XLSX, and the monthly mail sent once."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.core import mail
from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from meridian.core.choices import Role
from meridian.core.models import NotificationLog
from meridian.core.testing import api_client
from meridian.service_levels import clocks
from meridian.service_levels.factories import AgreementFactory
from meridian.tickets.factories import CategoryFactory
from meridian.tickets.models import Incident
from meridian.tickets.reports import compute
from meridian.tickets.reports import mail as report_mail
from meridian.tickets.reports.tab import tab_context
from meridian.tickets.tests.test_tickets import At, TicketTestCase, ams

AMS = ZoneInfo("Europe/Amsterdam")


def december() -> compute.Period:
    return compute.Period.month(2026, 12, AMS)


class ReportTestCase(TicketTestCase):
    """Incidents of the Standard SLA (P3: response 60, resolution 480; P1: 15 and 120 business minutes):

    | ticket | customer | opened | priority | response | resolution | rating |
    | D | A | Mon 30 Nov 10:00 | P3 | (November) | still open | |
    | A | A | Mon 7 Dec 16:00 | P3 | 16:30: 30 met | Tue 10:00: 60 + 60 = 120 met | 5 |
    | B | A | Mon 7 Dec 09:00 | P3 | 11:00: 120, breached 10:00 | Wed 15:00: 480 + 480 + 360 = 1320, breached | 2 |
    | C | B | Tue 8 Dec 09:00 | P1 | 09:10: 10 met | 12:00: 180, breached 11:00 | 4 |
    | E | A | Thu 10 Dec 09:00 | P3 | running | running | |
    """

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.sla.customers.set([cls.p.org_a, cls.p.org_b])
        cls.sla.owner = cls.agent.person
        cls.sla.save()

    def setUp(self) -> None:
        self.email = CategoryFactory(name="Email")
        self.d = self.open_incident(datetime(2026, 11, 30, 10, tzinfo=AMS), title="D")
        self.a = self.open_incident(ams(7, 16), title="A", category=self.email)
        self.move(self.a, "start", ams(7, 16, 30))
        self.move(self.a, "resolve", ams(8, 10), resolution_code="fixed", resolution_notes="Restarted.")
        self.b = self.open_incident(ams(7, 9), title="B")
        self.move(self.b, "start", ams(7, 11))
        self.move(self.b, "resolve", ams(9, 15), resolution_code="fixed", resolution_notes="Disk replaced.")
        self.c = self.open_incident(ams(8, 9), title="C", organisation=self.p.org_b, impact="high", urgency="high")
        self.move(self.c, "start", ams(8, 9, 10))
        self.move(self.c, "resolve", ams(8, 12), resolution_code="fixed", resolution_notes="Other customer's fix.")
        with At(ams(9, 15, 1)):
            clocks.record_due_events()
        self.e = self.open_incident(ams(10, 9), title="E")
        for ticket, rating in ((self.a, 5), (self.b, 2), (self.c, 4)):
            Incident.objects.filter(pk=ticket.pk).update(rating=rating)
        for ticket in (self.a, self.b, self.c, self.d, self.e):
            ticket.refresh_from_db()

    def open_incident(self, at: datetime, **data: Any) -> Incident:
        ticket = super().open_incident(at, **data)
        # `created_at`'s default is the real clock (a model default is not patched): the instant it was opened
        Incident.objects.filter(pk=ticket.pk).update(created_at=at)
        return ticket

    def build(self, **kwargs: Any) -> compute.Report:
        return compute.build(self.sla, december(), **kwargs)


class FigureTests(ReportTestCase):
    def test_the_figures_match_the_hand_computation(self) -> None:
        with CaptureQueriesContext(connection) as queries:
            report = self.build()
        self.assertLess(len(queries), 40)  # a fixed number, whatever the tickets
        incidents, requests = report.kinds
        self.assertEqual(dict(incidents.by_priority)[self.p3.name], 3)
        self.assertEqual(dict(incidents.by_priority)[self.p1.name], 1)
        self.assertEqual(dict(incidents.by_category), {"Email": 1, compute.NONE_LABEL: 3})
        self.assertEqual(requests.opened, 0)
        # backlog: 4 opened in December, A B C resolved, D (November) and E open at the end
        self.assertEqual((incidents.opened, incidents.resolved, incidents.open_at_end), (4, 3, 2))
        response = incidents.compliance["response"][0][1]
        self.assertEqual((response.met, response.breached, response.running, response.percent), (2, 1, 1, 66.7))
        resolution = incidents.compliance["resolution"][0][1]
        self.assertEqual((resolution.met, resolution.breached, resolution.running, resolution.percent), (1, 2, 1, 33.3))
        p3_response = dict(incidents.compliance["response"])[self.p3.name]
        self.assertEqual((p3_response.met, p3_response.breached, p3_response.target), (1, 1, 60))
        # business minutes of the ended clocks: response 30, 120, 10; resolution 120, 1320, 180
        times = dict(incidents.times["response"])["All"]
        self.assertEqual((times.count, times.mean, times.p90), (3, 53.3, 120))
        times = dict(incidents.times["resolution"])["All"]
        self.assertEqual((times.count, times.mean, times.p90), (3, 540, 1320))
        self.assertEqual(report.ratings, {5: 1, 2: 1, 4: 1})
        self.assertEqual(report.rating_mean, 3.67)
        self.assertEqual(
            [(b.reference, b.metric, b.reason) for b in report.breaches],
            [
                (self.b.reference, "Response", "Fixed: Disk replaced."),  # 10:00
                (self.b.reference, "Resolution", "Fixed: Disk replaced."),  # 17:00
                (self.c.reference, "Resolution", "Fixed: Other customer's fix."),  # Tuesday 11:00
            ],
        )
        trend = {row["key"]: row for row in report.trend}
        self.assertEqual(len(report.trend), 6)
        self.assertEqual((trend["2026-11"]["incidents"], trend["2026-12"]["incidents"]), (1, 4))
        self.assertEqual((trend["2026-12"]["response"], trend["2026-11"]["response"]), (66.7, 0.0))  # D breached

    def test_more_tickets_cost_no_more_queries(self) -> None:
        with CaptureQueriesContext(connection) as before:
            self.build()
        for hour in (9, 10, 11):
            ticket = self.open_incident(ams(14, hour), title=f"More {hour}", category=self.email)
            self.move(ticket, "start", ams(14, hour, 20))
            self.move(ticket, "wait_customer", ams(14, hour, 40))
        with CaptureQueriesContext(connection) as after:
            report = self.build()
        self.assertEqual(report.kinds[0].opened, 7)
        self.assertEqual(len(after), len(before))

    def test_a_cancelled_ticket_counts_in_the_volumes_not_in_compliance(self) -> None:
        Incident.objects.filter(pk=self.e.pk).update(status="cancelled")
        incidents = self.build().kinds[0]
        self.assertEqual(incidents.opened, 4)
        self.assertEqual(incidents.compliance["response"][0][1].running, 0)  # E's clock no longer counts

    def test_an_olas_report_counts_its_teams_tickets(self) -> None:
        ola = AgreementFactory(
            kind="ola",
            name="Desk",
            team=self.team,
            status="active",
            support_hours=self.calendar,
            valid_from=date(2026, 1, 1),
        )
        Incident.objects.filter(pk__in=[self.a.pk, self.b.pk]).update(team=self.team)
        report = compute.build(ola, december())
        self.assertEqual(report.kinds[0].opened, 2)
        self.assertEqual(report.totals("response").breached, 1)

    def test_the_agreement_tab_links_to_last_month_quarter_and_half_year(self) -> None:
        with At(datetime(2027, 2, 10, 12, tzinfo=AMS)):
            links = tab_context(self.sla, self.p.users[Role.SERVICE_LEVEL_MANAGER])["links"]
        self.assertEqual([label for label, _ in links], ["January 2027", "2026 Q4", "01 Aug 2026 – 31 Jan 2027"])
        self.assertTrue(links[1][1].endswith("?quarter=2026-Q4"))
        html = render_to_string("tickets/reports/tab.html", {"agreement": self.sla, "links": links})
        self.assertIn("January 2027</a>", html)

    def test_p90_is_the_nearest_rank(self) -> None:
        self.assertEqual(compute.p90(list(range(1, 11))), 9)
        self.assertEqual(compute.p90([5.0]), 5.0)
        self.assertIsNone(compute.p90([]))

    def test_period_edges_are_midnight_in_the_agreements_time_zone(self) -> None:
        # 31 December 23:30 in Amsterdam is December (22:30 UTC); 1 January 00:00 in Amsterdam is January
        self.open_incident(datetime(2026, 12, 31, 23, 30, tzinfo=AMS), title="Last")
        self.open_incident(datetime(2027, 1, 1, 0, 0, tzinfo=AMS), title="First")
        self.assertEqual(self.build().kinds[0].opened, 5)
        january = compute.build(self.sla, compute.Period.month(2027, 1, AMS))
        self.assertEqual(january.kinds[0].opened, 1)
        quarter = compute.build(self.sla, compute.Period.quarter(2026, 4, AMS))
        self.assertEqual((quarter.kinds[0].opened, quarter.period.key), (6, "2026-Q4"))  # with D
        ranged = compute.build(self.sla, compute.Period(date(2026, 12, 7), date(2026, 12, 7), AMS))
        self.assertEqual(ranged.kinds[0].opened, 2)  # A and B

    def test_a_customer_report_holds_only_its_own_tickets(self) -> None:
        report = self.build(organisation=self.p.org_a)
        incidents = report.kinds[0]
        self.assertEqual(incidents.opened, 3)  # A, B, E: not C
        self.assertEqual(dict(incidents.by_priority)[self.p1.name], 0)
        response = incidents.compliance["response"][0][1]
        self.assertEqual((response.met, response.breached), (1, 1))
        self.assertEqual(report.ratings, {5: 1, 2: 1})
        self.assertIsNone(report.workload)  # the agreement's limits count both customers' work


class PageTests(ReportTestCase):
    def url(self, name: str = "tickets:service_report", **query: str) -> str:
        return reverse(name, args=[self.sla.pk]) + "?" + "&".join(f"{k}={v}" for k, v in query.items())

    def test_a_service_level_manager_reads_the_page_with_its_charts_data(self) -> None:
        self.client.force_login(self.p.users[Role.SERVICE_LEVEL_MANAGER])
        response = self.client.get(self.url(month="2026-12"))
        self.assertContains(response, "December 2026")
        self.assertContains(response, 'id="service-report-data"')
        self.assertContains(response, "vendor/chartjs/chart.umd.min.js")
        self.assertContains(response, "Disk replaced.")
        self.assertContains(response, self.c.reference)
        self.assertEqual(self.client.get(self.url("tickets:service_report_print", month="2026-12")).status_code, 200)
        self.assertContains(self.client.get(reverse("tickets:service_reports")), self.sla.reference)

    def test_the_csv_and_xlsx_hold_the_figures(self) -> None:
        from openpyxl import load_workbook

        self.client.force_login(self.p.users[Role.AUDITOR])
        response = self.client.get(self.url("tickets:service_report_csv", month="2026-12"))
        self.assertIn("2026-12.csv", response["Content-Disposition"])
        rows = list(csv.reader(io.StringIO(response.content.decode())))
        self.assertIn(["Incidents", "Response", "All", "", "2", "1", "1", "66.7"], rows)
        self.assertIn(["Incidents", "Resolution", "All", "3", "540.0", "1320.0"], rows)
        self.assertIn(["Incidents", "4", "3", "0", "2"], rows)  # backlog: opened, resolved, closed, open at end
        response = self.client.get(self.url("tickets:service_report_xlsx", month="2026-12"))
        book = load_workbook(io.BytesIO(response.content))
        self.assertIn("Breaches", book.sheetnames)
        breaches = [[c.value for c in row] for row in book["Breaches"].iter_rows()]
        self.assertEqual([r[0] for r in breaches[1:]], [self.b.reference, self.b.reference, self.c.reference])

    def test_a_customer_sees_only_its_organisations_tickets(self) -> None:
        self.client.force_login(self.p.customer_a)
        response = self.client.get(self.url(month="2026-12"))
        self.assertContains(response, "Customer A (tests)")
        self.assertNotContains(response, self.c.reference)
        self.assertNotContains(response, "Other customer")
        text = self.client.get(self.url("tickets:service_report_csv", month="2026-12")).content.decode()
        self.assertNotIn(self.c.reference, text)
        self.assertIn(self.b.reference, text)

    def test_who_may_not_read_a_report(self) -> None:
        self.sla.customers.set([self.p.org_b])
        self.client.force_login(self.p.customer_a)  # the agreement no longer names A
        self.assertEqual(self.client.get(self.url(month="2026-12")).status_code, 404)
        self.client.force_login(self.p.users[Role.SERVICE_DESK_AGENT])
        self.assertEqual(self.client.get(self.url(month="2026-12")).status_code, 404)

    def test_the_list_of_reports(self) -> None:
        self.client.force_login(self.p.customer_a)
        self.assertContains(self.client.get(reverse("tickets:service_reports")), self.sla.reference)
        self.client.force_login(self.p.users[Role.RESOLVER])
        self.assertEqual(self.client.get(reverse("tickets:service_reports")).status_code, 403)

    def test_a_bad_period_says_so(self) -> None:
        self.client.force_login(self.p.users[Role.SERVICE_LEVEL_MANAGER])
        response = self.client.get(self.url(first="2026-12-10", last="2026-12-01"))
        self.assertContains(response, "The range ends before it starts.")


class ApiTests(ReportTestCase):
    def url(self, **query: str) -> str:
        return f"/api/v1/tickets/reports/{self.sla.pk}/?" + "&".join(f"{k}={v}" for k, v in query.items())

    def test_the_report_as_json_with_the_pages_figures(self) -> None:
        api = api_client(self.p.users[Role.SERVICE_LEVEL_MANAGER])
        listing = api.get("/api/v1/tickets/reports/")
        self.assertEqual(listing.status_code, 200, listing.content)
        self.assertIn(self.sla.reference, [row["reference"] for row in listing.json()["results"]])
        body = api.get(self.url(month="2026-12")).json()
        self.assertEqual((body["agreement"]["reference"], body["period"]["first"]), (self.sla.reference, "2026-12-01"))
        self.assertEqual(body["totals"]["response"], {"met": 2, "breached": 1, "running": 1, "percent": 66.7})
        breaches = next(s for s in body["sections"] if s["title"] == "Breaches")
        self.assertEqual([row[0] for row in breaches["rows"]], [self.b.reference, self.b.reference, self.c.reference])
        self.assertEqual(body["satisfaction"], {"ratings": 3, "mean": 3.67})

    def test_a_customer_reads_its_own_share_and_nothing_else(self) -> None:
        api = api_client(self.p.customer_a)
        body = api.get(self.url(month="2026-12")).json()
        self.assertEqual(body["organisation"], "Customer A (tests)")
        self.assertNotIn(self.c.reference, json.dumps(body))
        self.sla.customers.set([self.p.org_b])
        self.assertEqual(api.get(self.url(month="2026-12")).status_code, 404)
        self.assertEqual(api_client(self.p.users[Role.RESOLVER]).get(self.url()).status_code, 403)
        self.assertIn(APIClient().get(self.url()).status_code, (401, 403))

    def test_a_bad_period_is_refused_by_field(self) -> None:
        api = api_client(self.p.users[Role.AUDITOR])
        response = api.get(self.url(first="2026-12-10", last="2026-12-01"))
        self.assertEqual(response.status_code, 400, response.content)
        self.assertIn("The range ends before it starts.", str(response.json()))
        self.assertEqual(api.get(self.url(month="December")).status_code, 400)


class MailTests(ReportTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.p.org_a.email = "a@example.com"
        self.p.org_a.save()
        self.p.org_b.email = "b@example.com"
        self.p.org_b.save()
        self.agent.person.email = "owner@example.com"
        self.agent.person.save()

    def test_last_months_report_is_mailed_once_to_the_owner_and_each_customer(self) -> None:
        sent = report_mail.send_monthly_reports(today=date(2027, 1, 1))
        self.assertEqual(sent, 3)
        by_recipient = {m.to[0]: m for m in mail.outbox}
        self.assertEqual(set(by_recipient), {"owner@example.com", "a@example.com", "b@example.com"})
        to_a = by_recipient["a@example.com"]
        self.assertIn("December 2026", to_a.subject)
        name, content, _type = to_a.attachments[0]
        self.assertTrue(name.endswith("2026-12.csv"))
        self.assertIn(self.b.reference, content)
        self.assertNotIn(self.c.reference, content + to_a.body)  # customer B's ticket
        self.assertIn(self.c.reference, by_recipient["owner@example.com"].attachments[0][1])
        # a re-run, later the same day or month, mails nothing again
        self.assertEqual(report_mail.send_monthly_reports(today=date(2027, 1, 1)), 0)
        self.assertEqual(len(mail.outbox), 3)
        self.assertEqual(
            NotificationLog.objects.filter(event="tickets.service_report:2026-12", status="sent").count(), 3
        )
        # next month is another period
        self.assertEqual(report_mail.send_monthly_reports(today=date(2027, 2, 1)), 3)

    def test_the_periodic_task_mails_last_month_on_the_first(self) -> None:
        from meridian.core.tasks import PERIODIC_TASKS
        from meridian.tickets.reports import tasks  # noqa: F401 - the tickets app's ready() imports it

        task = PERIODIC_TASKS["tickets.monthly_service_reports"]
        self.assertEqual(task.schedule, "0 12 1 * *")
        with At(datetime(2027, 1, 1, 12, tzinfo=AMS)):
            self.assertEqual(task.func(actor=None), 3)
            self.assertEqual(task.func(actor=None), 0)
        self.assertEqual(
            {m.subject for m in mail.outbox if "a@" in m.to[0]},
            {f"Service report {self.sla.reference} December 2026 – Customer A (tests)"},
        )
