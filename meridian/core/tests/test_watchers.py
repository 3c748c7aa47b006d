"""Watchers beyond the generic tests (`testing_watchers`): every kind of audit event reaches the followers (a
lifecycle transition, a file, a link on both ends, each as its follower may read it), and the declaration is checked
at start-up."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from meridian.core import attachments, audit, registry, services, watchers
from meridian.core.choices import AuditAction, Role
from meridian.core.factories import CalendarFactory, LocationFactory, PersonFactory, UserFactory
from meridian.core.models import Location, NotificationLog, Organisation, Person, Team
from meridian.core.testing import PrincipalsTestCase
from meridian.core.testing_attachments import use_own_attachment_storage


def mails_to(user: Any) -> list[NotificationLog]:
    email = Person.objects.get(user=user).email
    return list(NotificationLog.objects.filter(event=watchers.EVENT, recipient=email).order_by("id"))


class WatcherEventTests(PrincipalsTestCase):
    def setUp(self) -> None:
        self.agent = self.p.users[Role.SERVICE_DESK_AGENT]

    def test_a_lifecycle_transition_is_told_with_its_title(self) -> None:
        other: Any = PersonFactory(organisation=self.p.org_a)
        watchers.follow(other, actor=self.agent)
        services.transition(other, "leave", actor=self.admin, expected_version=other.version, reason="Retired")
        (sent,) = mails_to(self.agent)
        self.assertIn("Mark as left", sent.subject)
        self.assertIn("Reason: Retired", sent.body)
        self.assertIn("Left", sent.body)  # the status by its label

    def test_a_file_added_is_told_to_the_followers_of_the_record(self) -> None:
        use_own_attachment_storage(self)
        location: Any = LocationFactory(organisation=self.p.org_a, name="Basement")
        watchers.follow(location, actor=self.p.customer_a)
        attachments.attach_files(location, files=[SimpleUploadedFile("plan.txt", b"floor plan\n")], actor=self.agent)
        (sent,) = mails_to(self.p.customer_a)
        self.assertIn("Attachment added", sent.body)
        self.assertIn("plan.txt", sent.body)

    def test_a_link_is_told_on_both_ends_as_each_follower_may_read_it(self) -> None:
        team = Team.objects.create(name="Network", organisation=self.p.internal)
        watchers.follow(self.p.org_a, actor=self.p.customer_a)
        watchers.follow(team, actor=self.agent)
        services.link_records(
            self.p.org_a, link_type="relates_to", other_type="core.team", other_id=team.pk, actor=self.admin
        )
        (to_agent,) = mails_to(self.agent)
        self.assertIn("Customer A (tests)", to_agent.body)
        (to_customer,) = mails_to(self.p.customer_a)
        self.assertNotIn("Network", to_customer.body)  # a team is not the customer's to read: "hidden"
        self.assertIn("hidden", to_customer.body)

    def test_the_mail_names_the_value_before_and_after(self) -> None:
        location: Any = LocationFactory(organisation=self.p.org_a, name="Hall")
        watchers.follow(location, actor=self.agent)
        current = type(location).objects.get(pk=location.pk)
        services.update_record(current, data={"name": "Great hall"}, actor=self.admin, expected_version=1)
        (sent,) = mails_to(self.agent)
        self.assertIn("Hall → Great hall", sent.body)


class WatcherDeclarationTests(PrincipalsTestCase):
    def test_auto_names_only_foreign_keys_to_a_person(self) -> None:
        rt = registry.get(Team)
        with self.assertRaisesMessage(ValueError, "'calendar' is not a foreign key to a person"):
            watchers.Watchers(auto=["calendar"]).check(rt)
        watchers.Watchers(auto=["lead"]).check(rt)

    def test_a_login_without_a_person_cannot_follow(self) -> None:
        from django.core.exceptions import ValidationError

        with self.assertRaises(ValidationError) as refused:
            watchers.follow(self.p.org_a, actor=services.get_system_actor())
        self.assertIn("person", refused.exception.message_dict)
        self.assertFalse(watchers.of(Organisation.objects.get(pk=self.p.org_a.pk)).exists())


class WatcherQueryTests(PrincipalsTestCase):
    """The hook runs on every audit event: nothing for a type without watchers, one query for a record nobody
    follows, and per follower only the mail's own row (the followers, their logins and roles are read at once; the
    event is read once per kind of reader, not per follower)."""

    def record(self, obj: Any, changes: dict[str, Any]) -> list[str]:
        with transaction.atomic(), CaptureQueriesContext(connection) as queries:
            audit.record_event(action=AuditAction.UPDATE, obj=obj, actor=self.admin, changes=changes)
        return [query["sql"] for query in queries.captured_queries]

    def test_the_hook_adds_no_query_per_follower_but_the_mail(self) -> None:
        calendar: Any = CalendarFactory()
        without_watchers = self.record(calendar, {"name": {"before": "a", "after": "b"}})
        self.assertEqual([q for q in without_watchers if "core_watch" in q], [])

        site: Any = LocationFactory(organisation=self.p.org_a, name="Site")
        hall: Any = LocationFactory(organisation=self.p.org_a, name="Hall")
        changes = {"name": {"before": "Hall", "after": "Great hall"}, "parent": {"before": None, "after": site.pk}}
        nobody = self.record(hall, changes)
        self.assertEqual(len(nobody), len(without_watchers) + 1)  # whether anyone follows it

        counts: dict[int, int] = {}
        for n in range(1, 5):
            user = UserFactory(username=f"follower-{n}", roles=[Role.SERVICE_DESK_AGENT], time_zone="Europe/Paris")
            PersonFactory(organisation=self.p.internal, user=user)
            watchers.follow(hall, actor=user)
            NotificationLog.objects.all().delete()
            queries = self.record(hall, changes)
            bodies = list(NotificationLog.objects.filter(event=watchers.EVENT).values_list("body", flat=True))
            self.assertEqual(len(bodies), n)
            self.assertTrue(all("Great hall" in body and "Site" in body for body in bodies), bodies)
            counts[n] = len([q for q in queries if not q.startswith('INSERT INTO "core_notificationlog"')])
        self.assertEqual(counts, dict.fromkeys(counts, counts[1]))  # constant, however many follow

    def test_the_records_followed_are_listed_in_queries_that_do_not_grow_with_them(self) -> None:
        from django.urls import reverse

        agent = self.p.users[Role.SERVICE_DESK_AGENT]
        client = self.client
        client.force_login(agent)
        site: Any = LocationFactory(organisation=self.p.org_a, name="Campus")

        def follow_and_count(n: int) -> int:
            for _ in range(n):
                room: Any = LocationFactory(
                    organisation=self.p.org_a, parent=site, name=f"Room {Location.objects.count()}"
                )
                person: Any = PersonFactory(organisation=self.p.org_a)
                watchers.follow(room, actor=agent)
                watchers.follow(person, actor=agent)
            with CaptureQueriesContext(connection) as queries:
                page = client.get(reverse("preferences"))
            self.assertContains(page, "Campus")
            return len(queries)

        one = follow_and_count(1)
        self.assertEqual(follow_and_count(4), one)  # five rooms of the campus and five people: as many as one each
