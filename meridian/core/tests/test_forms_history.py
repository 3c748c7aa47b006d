"""Form widgets (record pickers, date and time pickers in the reader's time zone) and history values as people
read them (logins, roles, a user's own history)."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

from django import forms
from django.test import TestCase, override_settings
from django.urls import reverse
from django.utils import timezone

from meridian.core import api_tokens, audit, services
from meridian.core.choices import AuditAction, Role
from meridian.core.factories import PersonFactory, TeamFactory
from meridian.core.forms import choose_widgets
from meridian.core.history import readable_history
from meridian.core.models import AuditEvent, Person, Team, User
from meridian.core.testing import make_principals

AMSTERDAM = zoneinfo.ZoneInfo("Europe/Amsterdam")


class WhenForm(forms.Form):
    starts = forms.DateTimeField()
    day = forms.DateField(required=False)
    at = forms.TimeField(required=False)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        choose_widgets(self, None)


class TimeZoneConversionTests(TestCase):
    def test_a_time_typed_in_the_readers_zone_is_stored_in_utc(self) -> None:
        with timezone.override(AMSTERDAM):
            form = WhenForm({"starts": "2026-07-01T10:00", "day": "2026-07-01", "at": "09:30"})
            self.assertTrue(form.is_valid(), form.errors)
        self.assertEqual(form.cleaned_data["starts"], dt.datetime(2026, 7, 1, 8, 0, tzinfo=dt.UTC))
        self.assertEqual(form.cleaned_data["day"], dt.date(2026, 7, 1))
        self.assertEqual(form.cleaned_data["at"], dt.time(9, 30))

    def test_a_stored_utc_time_is_shown_in_the_readers_zone_in_the_pickers_format(self) -> None:
        stored = dt.datetime(2026, 1, 15, 23, 30, tzinfo=dt.UTC)
        with timezone.override(AMSTERDAM):
            html = str(WhenForm(initial={"starts": stored, "day": dt.date(2026, 1, 16)})["starts"])
            day = str(WhenForm(initial={"day": dt.date(2026, 1, 16)})["day"])
        self.assertIn('type="datetime-local"', html)
        self.assertIn('value="2026-01-16T00:30"', html)  # the next day in Amsterdam
        self.assertIn('type="date"', day)
        self.assertIn('value="2026-01-16"', day)

    def test_the_picker_names_the_zone_and_refuses_a_time_that_does_not_exist_there(self) -> None:
        with timezone.override(AMSTERDAM):
            form = WhenForm({"starts": "2026-03-29T02:30"})  # clocks go from 02:00 to 03:00 that night
            self.assertFalse(form.is_valid())
            self.assertIn("starts", form.errors)
            self.assertIn("Europe/Amsterdam", form.fields["starts"].help_text)

    def test_the_same_typed_time_means_another_instant_in_another_zone(self) -> None:
        with timezone.override(zoneinfo.ZoneInfo("America/New_York")):
            form = WhenForm({"starts": "2026-07-01T10:00"})
            self.assertTrue(form.is_valid(), form.errors)
        self.assertEqual(form.cleaned_data["starts"], dt.datetime(2026, 7, 1, 14, 0, tzinfo=dt.UTC))


class RecordPickerTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.p = make_principals()
        cls.admin = cls.p.users[Role.ADMINISTRATOR]
        cls.people = [PersonFactory(organisation=cls.p.internal, last_name=f"Picker {n:02d}") for n in range(5)]
        cls.team = TeamFactory(organisation=cls.p.internal, lead=cls.people[0])

    def select_html(self, response: object, name: str) -> str:
        content = response.content.decode()  # type: ignore[attr-defined]
        match = re.search(rf'<select name="{name}".*?</select>', content, re.S)
        assert match, f"no select {name}"
        return match.group(0)

    def test_a_small_list_renders_every_choice_so_the_form_works_without_javascript(self) -> None:
        self.client.force_login(self.admin)
        response = self.client.get(reverse("core:team_edit", args=[self.team.pk]))
        lead = self.select_html(response, "lead")
        self.assertIn('data-record-select="local"', lead)
        self.assertIn(reverse("api:core-people-list"), lead)
        for person in self.people:
            self.assertIn(str(person), lead)

    @override_settings(MERIDIAN_FULL_CHOICES_LIMIT=2)
    def test_a_long_list_renders_only_the_selected_record_and_still_validates_every_pick(self) -> None:
        self.client.force_login(self.admin)
        response = self.client.get(reverse("core:team_edit", args=[self.team.pk]))
        lead = self.select_html(response, "lead")
        self.assertIn('data-record-select="remote"', lead)
        self.assertEqual(re.findall(r'<option value="(\d*)"', lead), ["", str(self.people[0].pk)])

        form = response.context["form"]
        data = {name: form[name].value() for name in form.fields}
        data = {k: ("" if v is None else getattr(v, "pk", v)) for k, v in data.items()}
        data["lead"] = self.people[4].pk  # never rendered as an option: found by typing
        response = self.client.post(reverse("core:team_edit", args=[self.team.pk]), data)
        self.assertEqual(response.status_code, 302, response.context and response.context["form"].errors)
        self.assertEqual(Team.objects.get(pk=self.team.pk).lead_id, self.people[4].pk)

        data["version"] = Team.objects.get(pk=self.team.pk).version
        data["lead"] = Person.objects.order_by("-pk").first().pk + 1000  # no such person
        response = self.client.post(reverse("core:team_edit", args=[self.team.pk]), data)
        self.assertEqual(response.status_code, 400)
        self.assertIn("lead", response.context["form"].errors)

    def test_the_search_behind_a_picker_finds_only_what_the_reader_may_see(self) -> None:
        own = PersonFactory(organisation=self.p.org_a, last_name="Picker own")
        self.client.force_login(self.p.customer_a)
        found = self.client.get(reverse("api:core-people-list") + "?q=Picker").json()
        self.assertEqual([row["display"] for row in found["results"]], [str(own)])  # internal people hidden
        self.client.force_login(self.admin)
        found = self.client.get(reverse("api:core-people-list") + "?q=Picker").json()
        self.assertEqual(found["count"], 6)
        found = self.client.get(reverse("api:core-people-list"), {"q": f" {own.first_name} picker  OWN "}).json()
        self.assertEqual([row["id"] for row in found["results"]], [own.pk])  # a name typed in full, any case


class ReadableHistoryTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.p = make_principals()
        cls.admin = cls.p.users[Role.ADMINISTRATOR]

    def test_a_login_grant_names_the_login_and_the_roles(self) -> None:
        person = PersonFactory(organisation=self.p.internal)
        services.grant_login(
            person, username="kim", roles=[Role.SERVICE_DESK_AGENT], actor=self.admin, expected_version=person.version
        )
        event = AuditEvent.objects.filter(record_type="core.person", record_id=str(person.pk), action="update").get()
        self.assertEqual(event.changes["user"]["after"], User.objects.get(username="kim").pk)  # an id, as FKs are
        (shown,) = readable_history([event], Person, self.admin)
        rows = {c.label: c for c in shown.display_changes}
        self.assertEqual(str(rows["Login"].after), "kim")
        self.assertEqual(rows["Roles"].after.kind, "chips")
        self.assertEqual(str(rows["Roles"].after), "Service desk agent")

        self.client.force_login(self.admin)
        page = self.client.get(reverse("core:person_detail", args=[person.pk]) + "?tab=history").content.decode()
        self.assertIn("Login</span>:", page)
        self.assertNotIn("#", re.sub(r"<[^>]+>|&#\d+;", "", page.split('id="history"')[1]))

    def test_a_transition_is_named_by_its_action_with_the_statuses_and_reason(self) -> None:
        person = PersonFactory(organisation=self.p.internal)
        services.transition(person, "suspend", actor=self.admin, expected_version=person.version, reason="on leave")
        self.client.force_login(self.admin)
        page = self.client.get(reverse("core:person_detail", args=[person.pk]) + "?tab=history")
        (event,) = page.context["events"]  # the factory made the person without an event
        self.assertEqual(event.summary, "Suspend account")
        (change,) = event.display_changes
        self.assertEqual((change.label, str(change.before), str(change.after)), ("Status", "Active", "Suspended"))
        self.assertContains(page, "on leave")

    def test_a_users_own_history_reads_as_yes_no_and_labels(self) -> None:
        person = PersonFactory(organisation=self.p.internal)
        user = services.grant_login(
            person, username="lee", roles=[Role.RESOLVER], actor=self.admin, expected_version=person.version
        )
        person.refresh_from_db()
        services.set_preferences(user, time_zone="Europe/Amsterdam", language="en", actor=user)
        api_tokens.create_api_token(user, name="backup", actor=user)
        services.transition(person, "suspend", actor=self.admin, expected_version=person.version, reason="x")
        events = list(AuditEvent.objects.filter(record_type="core.user", record_id=str(user.pk)).order_by("id"))
        shown = readable_history(events, User, self.admin)
        texts = [(c.label, str(c.before), str(c.after)) for e in shown for c in e.display_changes]
        self.assertIn(("Active", "Yes", "No"), texts)
        self.assertIn(("API tokens revoked", "", "1"), texts)
        for _, before, after in texts:
            self.assertNotRegex(before + after, r"True|False|\[|#\d")

    def test_a_list_changed_in_place_shows_who_was_taken_out_and_put_in(self) -> None:
        """Teams recorded their members as a list until memberships became rows (migration 0009): those events
        still read as who was taken out and who was put in."""
        stay, leave, join = (
            PersonFactory(organisation=self.p.internal, last_name=n) for n in ("Stay", "Leave", "Join")
        )
        team = TeamFactory(organisation=self.p.internal)
        audit.record_event(
            action=AuditAction.UPDATE,
            obj=team,
            actor=self.admin,
            changes={"members": {"before": [stay.pk, leave.pk], "after": [stay.pk, join.pk]}},
        )
        self.client.force_login(self.admin)
        page = self.client.get(reverse("core:team_detail", args=[team.pk]) + "?tab=history")
        (change,) = page.context["events"][0].display_changes
        self.assertEqual((str(change.removed), str(change.added)), (str(leave), str(join)))
        self.assertContains(page, 'aria-label="removed"')

    def test_a_deleted_linked_record_is_said_deleted_never_by_id(self) -> None:
        lead = PersonFactory(organisation=self.p.internal)
        team = TeamFactory(organisation=self.p.internal)
        team = services.update_record(team, data={"lead": lead}, actor=self.admin, expected_version=team.version)
        services.delete_record(lead, actor=self.admin, expected_version=lead.version)
        event = AuditEvent.objects.filter(record_type="core.team", record_id=str(team.pk), action="update").get()
        (shown,) = readable_history([event], Team, self.admin)
        self.assertEqual(str(shown.display_changes[0].after), "deleted record")


class DeletePreviewTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.p = make_principals()
        cls.admin = cls.p.users[Role.ADMINISTRATOR]

    def test_the_delete_page_says_what_is_deleted_with_it_and_what_loses_its_link(self) -> None:
        from meridian.core.factories import CalendarExceptionFactory, CalendarFactory, LocationFactory

        calendar = CalendarFactory()
        CalendarExceptionFactory(calendar=calendar, date=dt.date(2026, 12, 24))
        CalendarExceptionFactory(calendar=calendar, date=dt.date(2026, 12, 31))
        self.client.force_login(self.admin)
        page = self.client.get(reverse("core:calendar_delete", args=[calendar.pk]))
        preview = page.context["preview"]
        self.assertFalse(preview.blocked)
        self.assertEqual([str(group) for group in preview.cascades], ["2 calendar exceptions"])
        self.assertContains(page, "Deleted with it")
        self.assertNotContains(page, "disabled")

        location = LocationFactory(organisation=self.p.org_a)
        PersonFactory(organisation=self.p.org_a, location=location, first_name="Lou", last_name="Located")
        page = self.client.get(reverse("core:location_delete", args=[location.pk]))
        ((group, link),) = page.context["preview"].unlinked
        self.assertEqual((str(group), link, group.shown[0][0]), ("1 person", "location", "Lou Located"))
        self.assertContains(page, "no longer linked")

    def test_a_reader_is_never_told_the_name_of_a_blocker_they_may_not_see(self) -> None:
        from meridian.core.deletion import delete_preview

        PersonFactory(organisation=self.p.org_a, first_name="Secret", last_name="Customer")
        preview = delete_preview(self.p.org_a, self.p.customer_b)
        people = next(group for group in preview.blockers if group.model is Person)
        self.assertEqual(people.shown, [])  # counted, not named
        self.assertGreaterEqual(people.more, 1)
