"""Child records (core.children) as the core types use them: a calendar's exceptions and a team's members."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.urls import reverse

from meridian.core import registry, services
from meridian.core.children import Child
from meridian.core.choices import Role, TeamRole
from meridian.core.factories import CalendarFactory, PersonFactory, TeamFactory
from meridian.core.models import AuditEvent, Calendar, CalendarException, Team, TeamMembership
from meridian.core.registry import RecordType
from meridian.core.testing import PrincipalsTestCase, api_client


class CalendarExceptionRowsTests(PrincipalsTestCase):
    def test_a_closure_added_on_the_calendar_closes_that_day(self) -> None:
        calendar = CalendarFactory()
        services.update_record(
            calendar,
            data={"exceptions": [{"date": dt.date(2026, 12, 24), "kind": "closed", "reason": "Christmas Eve"}]},
            actor=self.admin,
            expected_version=1,
        )
        calendar.refresh_from_db()
        self.assertIn(dt.date(2026, 12, 24), calendar.schedule().closed_days)
        self.assertEqual(calendar.version, 2)

    def test_exceptions_have_no_pages_or_api_of_their_own(self) -> None:
        self.assertIsNone(registry.find(CalendarException))
        self.client.force_login(self.admin)
        self.assertEqual(self.client.get("/core/calendar-exceptions/").status_code, 404)

    def test_a_put_without_the_rows_leaves_them(self) -> None:
        calendar = CalendarFactory()
        services.update_record(
            calendar,
            data={"exceptions": [{"date": dt.date(2026, 5, 5), "kind": "closed", "reason": "Liberation Day"}]},
            actor=self.admin,
            expected_version=1,
        )
        api = api_client(self.admin)
        url = reverse("api:core-calendars-detail", args=[calendar.pk])
        body = {k: v for k, v in api.get(url).json().items() if k != "exceptions"}
        response = api.put(url, {**body, "description": "Office hours"}, format="json")
        self.assertEqual(response.status_code, 200, response.content)
        self.assertEqual([row["reason"] for row in response.json()["exceptions"]], ["Liberation Day"])

    def test_two_rows_trading_their_dates_are_refused_clearly(self) -> None:
        calendar = CalendarFactory()
        services.update_record(
            calendar,
            data={
                "exceptions": [
                    {"date": dt.date(2026, 12, 24), "kind": "closed", "reason": "A"},
                    {"date": dt.date(2026, 12, 31), "kind": "closed", "reason": "B"},
                ]
            },
            actor=self.admin,
            expected_version=1,
        )
        a, b = calendar.exceptions.order_by("date")
        with self.assertRaises(ValidationError) as refused:
            services.update_record(
                calendar,
                data={"exceptions": [{"id": a.pk, "date": b.date}, {"id": b.pk, "date": a.date}]},
                actor=self.admin,
                expected_version=2,
            )
        self.assertIn("change one of them first", refused.exception.message_dict["exceptions"][0])
        self.assertEqual(
            [(e.date, e.reason) for e in calendar.exceptions.order_by("date")], [(a.date, "A"), (b.date, "B")]
        )

    def test_the_conflict_page_shows_the_other_persons_rows(self) -> None:
        calendar = CalendarFactory()
        self.client.force_login(self.admin)
        edit = reverse("core:calendar_edit", args=[calendar.pk])
        from meridian.core.testing import post_data_from_form

        stale = post_data_from_form(self.client.get(edit).context["form"])
        services.update_record(
            calendar,
            data={"exceptions": [{"date": dt.date(2026, 12, 24), "kind": "closed", "reason": "Christmas Eve"}]},
            actor=self.admin,
            expected_version=1,
        )
        response = self.client.post(edit, stale)
        self.assertContains(response, "Christmas Eve", status_code=409)
        theirs = [(row["label"], str(row["theirs"].after)) for row in response.context["conflict_rows"]]
        self.assertEqual(len(theirs), 1)  # their one change: a row added, said in the diff (not only in the form)
        label, after = theirs[0]
        self.assertIn("row added", label)
        self.assertIn("Christmas Eve", after)

    def test_a_page_posting_a_row_removed_meanwhile_is_a_409(self) -> None:
        calendar = CalendarFactory()
        services.update_record(
            calendar,
            data={"exceptions": [{"date": dt.date(2026, 12, 24), "kind": "closed", "reason": "Christmas Eve"}]},
            actor=self.admin,
            expected_version=1,
        )
        self.client.force_login(self.admin)
        edit = reverse("core:calendar_edit", args=[calendar.pk])
        from meridian.core.testing import post_data_from_form

        stale = post_data_from_form(self.client.get(edit).context["form"])
        services.update_record(calendar, data={"exceptions": []}, actor=self.admin, expected_version=2)
        response = self.client.post(edit, stale)
        self.assertContains(response, "Someone else saved", status_code=409)
        self.assertFalse(calendar.exceptions.exists())


class TeamMembershipRowsTests(PrincipalsTestCase):
    def setUp(self) -> None:
        self.team = TeamFactory(organisation=self.p.internal)
        self.sanne, self.jonas = PersonFactory.create_batch(2, organisation=self.p.internal)

    def test_members_read_the_people_of_the_memberships(self) -> None:
        services.update_record(
            self.team,
            data={"memberships": [{"person": self.sanne, "role": TeamRole.DEPUTY_LEAD}, {"person": self.jonas}]},
            actor=self.admin,
            expected_version=1,
        )
        self.assertEqual(set(self.team.members.all()), {self.sanne, self.jonas})
        self.assertEqual(set(self.sanne.teams.all()), {self.team})
        roles = dict(TeamMembership.objects.values_list("person_id", "role"))
        self.assertEqual(roles, {self.sanne.pk: TeamRole.DEPUTY_LEAD, self.jonas.pk: TeamRole.MEMBER})

    def test_a_person_is_a_member_once(self) -> None:
        with self.assertRaises(ValidationError) as refused:
            services.update_record(
                self.team,
                data={"memberships": [{"person": self.sanne}, {"person": self.jonas}, {"person": self.sanne}]},
                actor=self.admin,
                expected_version=1,
            )
        self.assertEqual(
            refused.exception.message_dict["memberships"], ["Row 3, person: the same person as row 1; each only once."]
        )
        self.assertFalse(TeamMembership.objects.exists())

    def test_a_role_change_reads_in_the_history(self) -> None:
        services.update_record(
            self.team, data={"memberships": [{"person": self.sanne}]}, actor=self.admin, expected_version=1
        )
        row = TeamMembership.objects.get()
        services.update_record(
            self.team,
            data={"memberships": [{"id": row.pk, "role": TeamRole.DEPUTY_LEAD}]},
            actor=self.admin,
            expected_version=2,
        )
        event = AuditEvent.objects.filter(record_type="core.team").latest("pk")
        self.assertEqual(
            event.changes["memberships"]["changed"][0]["changes"],
            {"role": {"before": "member", "after": "deputy_lead"}},
        )
        self.client.force_login(self.admin)
        page = self.client.get(self.team.get_absolute_url() + "?tab=history")
        self.assertContains(page, f"Members ({self.sanne} · Deputy lead): role")
        self.assertContains(page, "Member")

    def test_moving_the_team_to_another_organisation_checks_its_members(self) -> None:
        services.update_record(
            self.team, data={"memberships": [{"person": self.sanne}]}, actor=self.admin, expected_version=1
        )
        other = type(self.p.internal).objects.create(name="Second provider unit", kind="internal")
        with self.assertRaises(ValidationError) as refused:
            services.update_record(self.team, data={"organisation": other}, actor=self.admin, expected_version=2)
        self.assertTrue(refused.exception.message_dict["memberships"][0].startswith("Row 1, person:"))
        self.assertEqual(Team.objects.get(pk=self.team.pk).organisation, self.p.internal)

    def test_the_form_offers_the_people_of_the_teams_organisation(self) -> None:
        outsider = PersonFactory(organisation=self.p.org_a)
        self.client.force_login(self.admin)
        form = self.client.get(reverse("core:team_edit", args=[self.team.pk])).context["form"]
        choices = set(form.child_formsets[0].empty_form.fields["person"].queryset)
        self.assertIn(self.sanne, choices)
        self.assertNotIn(outsider, choices)

    def test_an_agent_may_not_change_members(self) -> None:
        api = api_client(self.p.users[Role.SERVICE_DESK_AGENT])
        url = reverse("api:core-teams-detail", args=[self.team.pk])
        response = api.patch(url, {"version": 1, "memberships": [{"person": self.sanne.pk}]}, format="json")
        self.assertEqual(response.status_code, 403)
        self.assertFalse(TeamMembership.objects.exists())


class DeclarationTests(PrincipalsTestCase):
    def test_a_child_needs_a_foreign_key_to_its_parent(self) -> None:
        with self.assertRaisesMessage(ValueError, "is not a foreign key"):
            Child(TeamMembership, fk="role", fields=["person"])
        with self.assertRaisesMessage(ValueError, "is not linked to it by team"):
            RecordType(
                model=Calendar,
                fields=["name"],
                list_columns=["name"],
                search_fields=["name"],
                children=[Child(TeamMembership, fk="team", fields=["person"])],
            )
