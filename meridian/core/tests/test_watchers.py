"""Watchers beyond the generic tests (`testing_watchers`): every kind of audit event reaches the followers (a
lifecycle transition, a file, a link on both ends, each as its follower may read it), and the declaration is checked
at start-up."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from meridian.core import attachments, registry, services, watchers
from meridian.core.choices import Role
from meridian.core.factories import LocationFactory, PersonFactory
from meridian.core.models import NotificationLog, Organisation, Person, Team
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
