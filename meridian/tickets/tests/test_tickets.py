"""Tickets against hand-computed service levels: due times in the agreement's support hours, pauses while pending,
the first response, re-targeting on a priority change, breaches; the queues; a request from its offering through
approval and tasks to closure."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

from django.db import connection
from django.test import Client, TestCase
from django.test.utils import CaptureQueriesContext

from meridian.core import conversation
from meridian.core import services as core
from meridian.core.choices import Role
from meridian.core.factories import PersonFactory, TeamFactory
from meridian.core.links import NOT_FOUND
from meridian.core.models import AuditEvent, NotificationLog, TeamMembership
from meridian.core.testing import api_client, make_principals
from meridian.portfolio.factories import ServiceFactory
from meridian.portfolio.models import FulfilmentTask, Offering
from meridian.service_levels import clocks
from meridian.service_levels.clock_models import ClockState
from meridian.service_levels.factories import AgreementFactory, AgreementTargetFactory
from meridian.service_levels.models import Priority
from meridian.service_levels.tests.clock_helpers import office
from meridian.tickets import services as ticket_services
from meridian.tickets.choices import Status, TaskStatus
from meridian.tickets.models import Category, Incident, ServiceRequest
from meridian.tickets.queues import in_queue
from meridian.tickets.tasks import autoclose

AMS = ZoneInfo("Europe/Amsterdam")


def ams(day: int, hour: int, minute: int = 0) -> datetime:
    """A wall-clock time in Amsterdam in December 2026 (Monday 7 December is a working day)."""
    return datetime(2026, 12, day, hour, minute, tzinfo=AMS)


class At:
    """Run the code inside at a fixed instant (what `timezone.now()` answers)."""

    def __init__(self, instant: datetime) -> None:
        self.patch = mock.patch("django.utils.timezone.now", return_value=instant.astimezone(UTC))

    def __enter__(self) -> None:
        self.patch.start()

    def __exit__(self, *exc: Any) -> None:
        self.patch.stop()


class TicketTestCase(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.p = make_principals()
        cls.calendar = office("Office hours (tests)")
        cls.sla = AgreementFactory(
            name="Standard", status="active", support_hours=cls.calendar, valid_from=date(2026, 1, 1)
        )
        cls.p3 = Priority.objects.get(rank=3)
        cls.p1 = Priority.objects.get(rank=1)
        AgreementTargetFactory(agreement=cls.sla, priority=cls.p3, response_minutes=60, resolution_minutes=480)
        AgreementTargetFactory(agreement=cls.sla, priority=cls.p1, response_minutes=15, resolution_minutes=120)
        cls.agent = cls.p.users[Role.SERVICE_DESK_AGENT]
        cls.team = TeamFactory(organisation=cls.p.internal, name="Service desk")
        TeamMembership.objects.create(team=cls.team, person=cls.agent.person)

    def open_incident(self, at: datetime, **data: Any) -> Incident:
        values = {
            "title": "Mail does not arrive",
            "organisation": self.p.org_a,
            "impact": "medium",
            "urgency": "medium",
        }
        with At(at):
            return core.create_record(Incident, data={**values, **data}, actor=self.agent)

    def move(self, ticket: Any, action: str, at: datetime, **values: Any) -> Any:
        ticket.refresh_from_db()
        with At(at):
            return core.transition(
                ticket, action, actor=self.agent, expected_version=ticket.version, reason="test", values=values
            )

    def browser_client(self, user: Any) -> Client:
        client = Client()
        client.force_login(user)
        return client

    def clock(self, ticket: Any, key: str) -> Any:
        return clocks.clocks_of(ticket).get(metric__key=key)


class DeadlineTests(TicketTestCase):
    def test_due_times_pauses_and_breach_match_the_hand_computation(self) -> None:
        # Monday 16:00: a P3 (medium × medium). Response within 60 business minutes: Monday 17:00. Resolution within
        # 480 (one working day of 09:00-17:00): Tuesday 16:00.
        ticket = self.open_incident(ams(7, 16))
        self.assertEqual((ticket.priority, ticket.agreement), (self.p3, self.sla))
        self.assertEqual(self.clock(ticket, "response").due_at, ams(7, 17))
        self.assertEqual(self.clock(ticket, "resolution").due_at, ams(8, 16))
        # Monday 16:30 the agent starts work: responded (30 minutes), the response clock finished and met.
        self.move(ticket, "start", ams(7, 16, 30))
        response = self.clock(ticket, "response")
        self.assertEqual(
            (response.state, response.elapsed_minutes, response.breached_at), (ClockState.FINISHED, 30, None)
        )
        ticket.refresh_from_db()
        self.assertEqual(ticket.responded_at, ams(7, 16, 30))
        # Tuesday 10:00 waiting for the customer: paused with 120 minutes used (Monday 16:00-17:00, Tuesday
        # 09:00-10:00) until Wednesday 11:00, when work resumes: 360 minutes left, due Wednesday 17:00.
        self.move(ticket, "wait_customer", ams(8, 10))
        resolution = self.clock(ticket, "resolution")
        self.assertEqual((resolution.state, resolution.due_at), (ClockState.PAUSED, None))
        self.move(ticket, "resume", ams(9, 11))
        self.assertEqual(self.clock(ticket, "resolution").due_at, ams(9, 17))
        # Thursday 10:00, an hour late: resolved; the breach is recorded at the computed instant, 540 minutes used.
        self.move(ticket, "resolve", ams(10, 10), resolution_code="fixed", resolution_notes="Relay restarted.")
        with At(ams(10, 10, 1)):
            clocks.record_due_events()
        resolution = self.clock(ticket, "resolution")
        self.assertEqual((resolution.state, resolution.breached_at), (ClockState.STOPPED, ams(9, 17)))
        self.assertEqual(resolution.elapsed_minutes, 540)

    def test_the_banner_counts_down_in_working_hours_and_stops_outside_them(self) -> None:
        ticket = self.open_incident(ams(7, 10))  # Monday 10:00, P3: response 60, resolution 480 business minutes

        def countdowns(at: datetime) -> dict[str, dict[str, Any]]:
            with At(at):  # logged in then: a session lasts 12 hours
                page = self.browser_client(self.agent).get(f"{ticket.get_absolute_url()}?part=banner")
            self.assertEqual(page.status_code, 200)
            found = {}
            for key, attrs in re.findall(
                r'data-clock="(\w+)".*?<span class="countdown[^"]*" ([^>]*)>', page.text, re.S
            ):
                values = dict(re.findall(r'data-(\w+)="([^"]*)"', attrs))
                until = datetime.fromisoformat(values["until"]) if "until" in values else None
                found[key] = {"seconds": int(values["countdown"]), "ticking": "ticking" in values, "until": until}
            return found

        # 10:30, inside working hours: both run down until 17:00
        now = countdowns(ams(7, 10, 30))
        self.assertEqual(now["response"], {"seconds": 30 * 60, "ticking": True, "until": ams(7, 17)})
        self.assertEqual(now["resolution"], {"seconds": 450 * 60, "ticking": True, "until": ams(7, 17)})
        # 18:00, after hours: nothing runs until Tuesday 09:00; the response is overdue by the 6 hours it ran late
        later = countdowns(ams(7, 18))
        self.assertEqual(later["response"], {"seconds": -360 * 60, "ticking": False, "until": ams(8, 9)})
        self.assertEqual(later["resolution"], {"seconds": 60 * 60, "ticking": False, "until": ams(8, 9)})
        # the calendar is read once for all the clocks (not once per clock and again per countdown)
        with At(ams(7, 10, 30)), CaptureQueriesContext(connection) as queries:
            self.browser_client(self.agent).get(f"{ticket.get_absolute_url()}?part=banner")
        self.assertEqual(sum('"core_calendarexception"' in q["sql"] for q in queries.captured_queries), 1)
        # the whole page carries it under the title, on every tab
        with At(ams(7, 10, 30)):
            page = self.browser_client(self.agent).get(f"{ticket.get_absolute_url()}?tab=timeline")
        self.assertContains(page, 'id="record-banner"')
        with At(ams(7, 10, 30)):
            details = self.browser_client(self.agent).get(ticket.get_absolute_url())
        # the due time in the reader's zone, not as stored
        self.assertNotRegex(details.text, r"\d\d:\d\d:\d\d(\.\d+)?\+00:00<")
        # a record without clocks has none
        category = Category.objects.create(name="Printing")
        page = self.browser_client(self.agent).get(f"{category.get_absolute_url()}?part=banner")
        self.assertEqual(page.status_code, 204)

    def test_a_pending_status_configured_as_running_does_not_pause(self) -> None:
        metric = clocks.ClockMetric.objects.get(key="resolution")
        metric.running_statuses = [*metric.running_statuses, "pending_supplier"]
        metric.save()
        ticket = self.open_incident(ams(7, 9))
        self.move(ticket, "start", ams(7, 9, 30))
        self.move(ticket, "wait_supplier", ams(7, 10))
        self.assertEqual(self.clock(ticket, "resolution").due_at, ams(7, 17))  # 480 minutes from 09:00, unpaused

    def test_a_raised_priority_retargets_the_clocks_from_the_start(self) -> None:
        ticket = self.open_incident(ams(7, 9))
        ticket.refresh_from_db()
        with At(ams(7, 9, 30)):
            core.update_record(
                ticket, data={"impact": "high", "urgency": "high"}, actor=self.agent, expected_version=ticket.version
            )
        ticket.refresh_from_db()
        self.assertEqual(ticket.priority, self.p1)
        self.assertEqual(self.clock(ticket, "response").due_at, ams(7, 9, 15))  # already late: P1 answers in 15
        self.assertEqual(self.clock(ticket, "resolution").due_at, ams(7, 11))
        self.assertIn("P1", self.clock(ticket, "resolution").rule)

    def test_a_staff_public_reply_is_the_first_response_and_a_work_note_is_not(self) -> None:
        ticket = self.open_incident(ams(7, 9))
        with At(ams(7, 9, 10)):
            conversation.post_comment(ticket, actor=self.agent, body="Looking at it.", visibility="internal")
        self.assertNotEqual(self.clock(ticket, "response").state, ClockState.FINISHED)
        with At(ams(7, 9, 20)):
            conversation.post_comment(ticket, actor=self.agent, body="We are on it.", visibility="public")
        response = self.clock(ticket, "response")
        self.assertEqual((response.state, response.elapsed_minutes), (ClockState.FINISHED, 20))

    def test_no_agreement_no_clock(self) -> None:
        self.sla.status = "terminated"
        self.sla.save()
        ticket = self.open_incident(ams(7, 9))
        self.assertIsNone(ticket.agreement)
        self.assertFalse(clocks.clocks_of(ticket).exists())


class QueueTests(TicketTestCase):
    def test_at_risk_breached_mine_and_unassigned(self) -> None:
        calm = self.open_incident(ams(7, 9), title="Calm")  # resolution due Monday 17:00
        late = self.open_incident(ams(7, 9), title="Late", impact="high", urgency="high")  # P1: due 11:00
        taken = self.open_incident(ams(7, 9), title="Taken", team=self.team, assignee=self.agent.person)
        self.move(calm, "start", ams(7, 9, 5))  # both answered in time: their response clocks are met
        self.move(taken, "start", ams(7, 9, 5))
        with At(ams(7, 13, 30)):  # calm and taken: 270 of 480 used (56 %): a warning; late: breached at 11:00
            clocks.record_due_events()
            qs = Incident.objects.all()
            self.assertEqual({t.title for t in in_queue(qs, "breached", self.agent)}, {"Late"})
            self.assertEqual({t.title for t in in_queue(qs, "at_risk", self.agent)}, {"Calm", "Taken"})
            # starting work on "Calm" made the agent its assignee
            self.assertEqual({t.title for t in in_queue(qs, "mine", self.agent)}, {"Calm", "Taken"})
            self.assertEqual({t.title for t in in_queue(qs, "unassigned", self.agent)}, {"Late"})
            # the list and the API: the queue filter and the due time, sorted
            api = api_client(self.agent)
            rows = api.get("/api/v1/tickets/incidents/", {"queue": "breached"}).json()["results"]
            self.assertEqual([r["reference"] for r in rows], [late.reference])
            rows = api.get("/api/v1/tickets/incidents/", {"ordering": "due"}).json()["results"]
            self.assertEqual(rows[0]["title"], "Late")  # due 11:00; the others 17:00
        self.client.force_login(self.agent)
        page = self.client.get("/tickets/incidents/", {"queue": "at_risk"})
        self.assertEqual({row.record.title for row in page.context["table"].paginated_rows}, {"Calm", "Taken"})


class RequestTests(TicketTestCase):
    def test_a_request_is_approved_its_tasks_done_in_order_and_it_closes(self) -> None:
        owner = self.p.users[Role.SERVICE_OWNER].person
        service = ServiceFactory(owner=owner, status="live")
        service.customers.add(self.p.org_a)
        offering = Offering.objects.create(service=service, name="New mailbox", approval="service_owner")
        other = TeamFactory(organisation=self.p.internal, name="Messaging")
        FulfilmentTask.objects.create(offering=offering, order=10, title="Create the mailbox", team=other)
        FulfilmentTask.objects.create(offering=offering, order=10, title="Add to the address book", team=other)
        FulfilmentTask.objects.create(offering=offering, order=20, title="Tell the requester", team=self.team)
        customer = self.p.customer_a
        with At(ams(7, 9)):
            request = core.create_record(
                ServiceRequest,
                data={
                    "title": "Mailbox for Jan",
                    "organisation": self.p.org_a,
                    "offering": offering,
                    "service": service,
                    "channel": "portal",
                },
                actor=customer,
            )
        self.assertEqual((request.status, request.team), (Status.AWAITING_APPROVAL, other))
        self.assertEqual([t.status for t in request.tasks.all()], [TaskStatus.WAITING] * 3)
        # only the owner asked decides
        with self.assertRaises(core.TransitionNotAllowed):
            core.transition(request, "approve", actor=self.agent, expected_version=request.version)
        request = core.transition(request, "approve", actor=owner.user, expected_version=request.version)
        self.assertEqual(request.status, Status.ASSIGNED)
        self.assertEqual(request.approvals.get().decision, "approved")
        self.assertEqual([t.status for t in request.tasks.all()], ["open", "open", "waiting"])
        # the tasks, through the API as an agent
        api = api_client(self.agent)
        url = f"/api/v1/tickets/requests/{request.pk}/complete-task/"
        for task in request.tasks.all():
            request.refresh_from_db()
            response = api.post(url, {"task": task.pk, "notes": "done", "version": request.version}, format="json")
            self.assertEqual(response.status_code, 200, response.content)
        request.refresh_from_db()
        self.assertEqual((request.status, request.resolution_code), (Status.RESOLVED, "fulfilled"))
        # the customer confirms and closes it
        request = core.transition(request, "close", actor=customer, expected_version=request.version)
        self.assertEqual(request.status, Status.CLOSED)

    def test_the_answers_are_checked_by_the_form_and_stored_and_recorded_as_kept(self) -> None:
        owner = self.p.users[Role.SERVICE_OWNER].person
        service = ServiceFactory(owner=owner, status="live")
        service.customers.add(self.p.org_a)
        offering = Offering.objects.create(service=service, name="Shared mailbox")
        rows = [
            {"order": 1, "name": "mailbox_name", "label": "Name", "type": "text", "required": True},
            {
                "order": 2,
                "name": "kind",
                "label": "Kind",
                "type": "choice",
                "choices": "Personal\nShared",
                "default": "Shared",
            },
            {"order": 3, "name": "size_gb", "label": "Size (GB)", "type": "integer", "max_value": "100"},
        ]
        offering = core.update_record(
            offering, data={"request_fields": rows}, actor=owner.user, expected_version=offering.version
        )
        api = api_client(self.p.customer_a)
        url = "/api/v1/tickets/requests/"
        body = {"title": "Mailbox", "organisation": self.p.org_a.pk, "offering": offering.pk, "service": service.pk}
        before = (ServiceRequest.objects.count(), AuditEvent.objects.count())
        refused = api.post(url, {**body, "answers": {"size_gb": 500}}, format="json")
        self.assertEqual(refused.status_code, 400, refused.content)
        self.assertIn("This field is required.", str(refused.json()["mailbox_name"]))
        self.assertIn("100", str(refused.json()["size_gb"]))
        self.assertEqual((ServiceRequest.objects.count(), AuditEvent.objects.count()), before)
        # a service outside the customer's catalogue reads exactly like one that does not exist
        elsewhere = ServiceFactory(owner=owner, status="live")
        for pk in (elsewhere.pk, 987654):
            response = api.post(url, {**body, "service": pk, "offering": None}, format="json")
            self.assertEqual(response.status_code, 400, response.content)
            self.assertEqual(response.json()["service"], [NOT_FOUND])
        self.assertEqual((ServiceRequest.objects.count(), AuditEvent.objects.count()), before)

        created = api.post(url, {**body, "answers": {"mailbox_name": "sales", "size_gb": 20}}, format="json")
        self.assertEqual(created.status_code, 201, created.content)
        request = ServiceRequest.objects.get(pk=created.json()["id"])
        kept = {"mailbox_name": "sales", "kind": "Shared", "size_gb": 20}  # the default filled in
        self.assertEqual(request.answers, kept)
        event = AuditEvent.objects.filter(
            record_type="tickets.servicerequest", record_id=str(request.pk), action="create"
        ).get()
        self.assertEqual(event.changes["answers"]["after"], kept)  # history shows what is stored
        # the customer reads the service and offering they named: by id in the API, by name on the pages (without a
        # link: they read them in the catalogue, not as records)
        self.assertEqual((created.json()["service"], created.json()["offering"]), (service.pk, offering.pk))
        page = self.browser_client(self.p.customer_a).get(request.get_absolute_url())
        self.assertContains(page, f"<span>{service.name}</span>")
        listing = self.browser_client(self.p.customer_a).get("/tickets/requests/")
        self.assertContains(listing, f'<td class="col-low">{request.priority.name}</td>', html=False)
        self.assertNotContains(listing, ">hidden<")
        # who works on it and under which agreement, by name (not records they read)
        assigned = core.update_record(
            request, data={"team": self.team}, actor=self.agent, expected_version=request.version
        )
        page = self.browser_client(self.p.customer_a).get(request.get_absolute_url())
        self.assertContains(page, f"<span>{self.team.name}</span>")
        self.assertContains(page, f"<span>{self.sla.name}</span>")
        self.assertEqual(api.get(f"{url}{request.pk}/").json()["team"], self.team.pk)
        request = assigned
        # one outside their catalogue (set by an agent) stays hidden
        hidden = core.update_record(
            request,
            data={"service": elsewhere, "offering": None, "answers": {}},
            actor=self.agent,
            expected_version=request.version,
        )
        self.assertEqual(api.get(f"{url}{hidden.pk}/").json()["service"], "hidden")
        self.assertNotContains(self.browser_client(self.p.customer_a).get(request.get_absolute_url()), elsewhere.name)
        request = core.update_record(
            hidden,
            data={"service": service, "offering": offering, "answers": kept},
            actor=self.agent,
            expected_version=hidden.version,
        )

        # an agent's change that leaves the answers alone is not re-checked; one that changes them is
        request = core.update_record(
            request, data={"title": "Mailbox for the sales team"}, actor=self.agent, expected_version=request.version
        )
        with self.assertRaises(core.ValidationError) as refusal:
            core.update_record(
                request, data={"answers": {"mailbox_name": ""}}, actor=self.agent, expected_version=request.version
            )
        self.assertIn("mailbox_name", refusal.exception.message_dict)
        request.refresh_from_db()
        self.assertEqual((request.answers, request.version), (kept, 5))


class ApproverTests(TicketTestCase):
    """Approvers from the offering: the requester's manager (the service owner when they have none), a team's
    members, any one or all of them; one rejection rejects."""

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.owner = cls.p.users[Role.SERVICE_OWNER].person
        cls.service = ServiceFactory(owner=cls.owner, status="live")
        cls.service.customers.add(cls.p.org_a)
        cls.board = TeamFactory(organisation=cls.p.internal, name="Change board")
        cls.members = [cls.p.users[Role.CHANGE_MANAGER].person, cls.p.users[Role.SERVICE_LEVEL_MANAGER].person]
        for person in cls.members:
            TeamMembership.objects.create(team=cls.board, person=person)

    def offering(self, **approval: Any) -> Offering:
        offering = Offering.objects.create(
            service=self.service, name=f"Offering {Offering.objects.count()}", **approval
        )
        FulfilmentTask.objects.create(offering=offering, order=10, title="Do it", team=self.team)
        return offering

    def raise_for(self, offering: Offering, caller: Any = None) -> ServiceRequest:
        data = {"title": "Please", "organisation": self.p.org_a, "offering": offering, "caller": caller}
        return core.create_record(ServiceRequest, data=data, actor=self.agent)

    def decisions(self, request: ServiceRequest) -> dict[str, str]:
        return {str(a.approver): a.decision for a in request.approvals.all()}

    def test_the_requesters_manager_approves_or_else_the_service_owner(self) -> None:
        manager = self.p.customer_a.person
        caller = PersonFactory(organisation=self.p.org_a, manager=manager)
        offering = self.offering(approval="manager")
        request = self.raise_for(offering, caller)
        self.assertEqual(
            (request.status, self.decisions(request)), (Status.AWAITING_APPROVAL, {str(manager): "pending"})
        )
        with self.assertRaises(core.TransitionNotAllowed):
            core.transition(request, "approve", actor=self.owner.user, expected_version=request.version)
        request = core.transition(request, "approve", actor=manager.user, expected_version=request.version)
        self.assertEqual(request.status, Status.ASSIGNED)
        # no manager: the service owner is asked (never unapproved for want of an approver)
        orphan = self.raise_for(offering, PersonFactory(organisation=self.p.org_a))
        self.assertEqual(self.decisions(orphan), {str(self.owner): "pending"})

    def test_any_member_of_the_team_approves_and_the_others_are_not_needed(self) -> None:
        request = self.raise_for(self.offering(approval="team", approver_team=self.board))
        self.assertEqual(set(self.decisions(request).values()), {"pending"})
        first = self.members[0].user
        request = core.transition(request, "approve", actor=first, expected_version=request.version)
        self.assertEqual(request.status, Status.ASSIGNED)
        self.assertEqual(
            self.decisions(request), {str(self.members[0]): "approved", str(self.members[1]): "not_needed"}
        )
        self.assertEqual(request.tasks.get().status, TaskStatus.OPEN)

    def test_all_members_must_approve_and_one_rejection_rejects(self) -> None:
        offering = self.offering(approval="team", approver_team=self.board, approval_rule="all")
        first, second = (person.user for person in self.members)
        request = self.raise_for(offering)
        # the first cannot move it alone: the API says why and writes nothing
        api = api_client(first)
        base = f"/api/v1/tickets/requests/{request.pk}"
        refused = api.post(f"{base}/approve/", {"version": request.version}, format="json")
        self.assertEqual(refused.status_code, 409, refused.content)
        self.assertIn("1 other approver must approve too", refused.json()["detail"])
        given = api.post(f"{base}/give-approval/", {"version": request.version, "comment": "Fine by me"}, format="json")
        self.assertEqual(given.status_code, 200, given.content)
        request.refresh_from_db()
        self.assertEqual(request.status, Status.AWAITING_APPROVAL)
        self.assertEqual(self.decisions(request), {str(self.members[0]): "approved", str(self.members[1]): "pending"})
        self.assertEqual(request.tasks.get().status, TaskStatus.WAITING)
        # the second completes it
        request = core.transition(request, "approve", actor=second, expected_version=request.version)
        self.assertEqual((request.status, request.tasks.get().status), (Status.ASSIGNED, TaskStatus.OPEN))
        # another: the first approves, the second rejects -> rejected
        other = self.raise_for(offering)
        other = ticket_services.give_approval(other, actor=first, expected_version=other.version)
        other = core.transition(other, "reject", actor=second, expected_version=other.version, reason="Not now")
        self.assertEqual(other.status, Status.REJECTED)
        self.assertEqual(self.decisions(other), {str(self.members[0]): "approved", str(self.members[1]): "rejected"})


class OnBehalfTests(TicketTestCase):
    def test_an_agent_reports_a_problem_for_a_customers_caller(self) -> None:
        client = self.browser_client(self.agent)
        caller_a = PersonFactory(organisation=self.p.org_a, first_name="Cora", last_name="Caller")
        caller_b = PersonFactory(organisation=self.p.org_b, first_name="Bert", last_name="Elsewhere")
        with self.settings(MERIDIAN_FULL_CHOICES_LIMIT=1):
            form = client.get("/tickets/report/")
        # many people: the caller is searched as the agent types, not listed whole in the page
        self.assertContains(form, 'name="caller" data-record-select="remote"')
        self.assertNotContains(form, "Elsewhere")
        body = {"title": "Printer jams", "description": "Every page.", "who": "low", "how_badly": "medium"}
        before = (Incident.objects.count(), AuditEvent.objects.count())
        refused = client.post("/tickets/report/", {**body, "organisation": self.p.org_a.pk, "caller": caller_b.pk})
        self.assertContains(refused, f"{caller_b} is not of {self.p.org_a}.", status_code=400)
        self.assertEqual((Incident.objects.count(), AuditEvent.objects.count()), before)
        done = client.post("/tickets/report/", {**body, "organisation": self.p.org_a.pk, "caller": caller_a.pk})
        incident = Incident.objects.get(title="Printer jams")
        self.assertRedirects(done, incident.get_absolute_url())
        self.assertEqual((incident.organisation, incident.caller, incident.channel), (self.p.org_a, caller_a, "agent"))


class EscalationAndClosureTests(TicketTestCase):
    def test_the_last_warning_and_the_breach_escalate_once_each(self) -> None:
        lead = self.p.users[Role.RESOLVER].person
        self.team.lead = lead
        self.team.save()
        ticket = self.open_incident(ams(7, 9), team=self.team, assignee=self.agent.person)
        self.move(ticket, "start", ams(7, 9, 5))
        for instant in (ams(7, 16, 30), ams(7, 17, 1), ams(8, 9, 30)):  # 90 % at 16:12; the breach at 17:00
            with At(instant), self.captureOnCommitCallbacks(execute=True):
                clocks.record_due_events()
        events = AuditEvent.objects.filter(record_type="tickets.incident", record_id=str(ticket.pk)).order_by("pk")
        escalations = [e.changes["escalation"]["after"] for e in events if "escalation" in e.changes]
        self.assertEqual(
            [(e["level"], e["metric"], e["threshold"]) for e in escalations],
            [("functional", "resolution", 90), ("hierarchical", "resolution", 100)],
        )
        mails = NotificationLog.objects.filter(event="tickets.ticket.escalated", record_id=str(ticket.pk))
        self.assertEqual(sorted(m.recipient for m in mails), sorted([self.agent.person.email, lead.email]))

    def test_a_resolved_ticket_closes_by_itself_and_is_rated_by_the_customer(self) -> None:
        ticket = self.open_incident(ams(1, 9))
        self.move(ticket, "resolve", ams(1, 10), resolution_code="fixed", resolution_notes="Done.")
        with At(ams(3, 10)):
            self.assertEqual(autoclose.call_local(), 0)
        with At(ams(7, 11)):
            self.assertEqual(autoclose.call_local(), 1)
        ticket.refresh_from_db()
        self.assertEqual(ticket.status, Status.CLOSED)
        api = api_client(self.p.customer_a)
        url = f"/api/v1/tickets/incidents/{ticket.pk}/rate/"
        bad = api.post(url, {"rating": 6, "version": ticket.version}, format="json")
        self.assertEqual(bad.status_code, 400, bad.content)
        self.assertIn("rating", bad.json())
        done = api.post(url, {"rating": 4, "rating_comment": "Quick.", "version": ticket.version}, format="json")
        self.assertEqual(done.status_code, 200, done.content)
        ticket.refresh_from_db()
        self.assertEqual((ticket.rating, ticket.rating_comment), (4, "Quick."))
        again = api.post(url, {"rating": 1, "version": ticket.version}, format="json")
        self.assertEqual(again.status_code, 409)


class LateEscalationTests(TicketTestCase):
    def test_a_ticket_resolved_before_its_breach_was_recorded_is_not_escalated(self) -> None:
        ticket = self.open_incident(ams(7, 9), team=self.team, assignee=self.agent.person)
        self.move(ticket, "start", ams(7, 9, 5))
        self.move(ticket, "resolve", ams(8, 10), resolution_code="fixed", resolution_notes="Done.")  # breached 17:00
        with At(ams(8, 10, 5)), self.captureOnCommitCallbacks(execute=True):
            clocks.record_due_events()
        self.assertEqual(self.clock(ticket, "resolution").breached_at, ams(7, 17))  # the breach is on record
        events = AuditEvent.objects.filter(record_type="tickets.incident", record_id=str(ticket.pk))
        self.assertFalse([e for e in events if "escalation" in e.changes])  # but nobody is chased about it
