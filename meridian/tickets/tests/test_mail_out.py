"""Tickets by mail, outbound (`tickets.outbound`): what the caller is told (opened, a public reply, resolved), never
an internal note, no double mails with the watchers, and a reply to any of these mails landing on the ticket.

The hooks are called here as the lifecycle and the services call them (`after_save`, `comment_posted`, the resolve
transition's `after_commit`), unless they ran already (`hook`): these tests hold whether or not they are wired in."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from django.test import override_settings

from meridian.core import conversation
from meridian.core import services as core_services
from meridian.core.choices import Role
from meridian.core.factories import PersonFactory
from meridian.core.models import NotificationLog, Person, User
from meridian.core.testing import PrincipalsTestCase
from meridian.integrations.choices import InboundMailOutcome as O
from meridian.integrations.inbound import ingest, register_handler, registered_handler
from meridian.tickets import inbound, outbound
from meridian.tickets.models import Incident
from meridian.tickets.tests.test_mail_in import MAIL_SETTINGS, new_mail

SECRET = "The customer's admin password is hunter2"


@override_settings(**MAIL_SETTINGS)
class MailOutTests(PrincipalsTestCase):
    agent: ClassVar[User]
    alice: ClassVar[Person]
    megan: ClassVar[Any]  # made by a factory

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.agent = cls.p.users[Role.SERVICE_DESK_AGENT]
        cls.alice = Person.objects.get(user=cls.p.customer_a)
        cls.alice.email = "alice@customer-a.example"
        cls.alice.save()
        cls.megan = PersonFactory(organisation=cls.p.org_a, email="megan@customer-a.example", first_name="Megan")

    def open(self, caller: Person, actor: Any = None) -> Incident:
        actor = actor or self.agent
        ticket = core_services.create_record(
            Incident, data={"title": "Printer down", "organisation": self.p.org_a, "caller": caller}, actor=actor
        )
        outbound.opened(ticket, actor)  # services.after_save, on creation (once per ticket, whoever calls it)
        return ticket

    def reply(self, ticket: Incident, body: str, visibility: str, actor: Any = None) -> Any:
        actor = actor or self.agent
        with self.hook(ticket, outbound.REPLIED) as ran:
            comment = conversation.post_comment(ticket, actor=actor, body=body, visibility=visibility)
        if not ran():
            outbound.replied(ticket, comment, actor)  # services.comment_posted
        return comment

    def resolve(self, ticket: Incident) -> Incident:
        with self.hook(ticket, outbound.RESOLVED) as ran:
            done = core_services.transition(
                ticket,
                "resolve",
                actor=self.agent,
                expected_version=ticket.version,
                values={"resolution_code": "fixed", "resolution_notes": "Replaced the fuser unit."},
            )
        if not ran():
            outbound.resolved(done, self.agent)  # the resolve transition's after_commit (not run in a TestCase)
        return done

    @contextmanager
    def hook(self, ticket: Incident, event: str) -> Iterator[Callable[[], bool]]:
        """Whether the write in the block sent the event itself (the hook is wired in), for the caller to ask."""
        rows = NotificationLog.objects.filter(event=event, record_type="tickets.incident", record_id=str(ticket.pk))
        before = rows.count()
        yield lambda: rows.count() > before

    def mails(self, ticket: Incident, to: str, event: str | None = None) -> list[NotificationLog]:
        rows = NotificationLog.objects.filter(record_type="tickets.incident", record_id=str(ticket.pk), recipient=to)
        return list(rows.filter(event=event) if event else rows)

    def test_a_contact_is_told_it_is_opened_once_with_the_reference_in_the_subject(self) -> None:
        ticket = self.open(self.megan)
        outbound.opened(ticket, self.agent)  # called again (a second hook, a retry): nothing more
        (mail,) = self.mails(ticket, "megan@customer-a.example")
        self.assertEqual(mail.event, outbound.OPENED)
        self.assertTrue(mail.subject.startswith(f"[{ticket.reference}] We have your incident"), mail.subject)
        self.assertIn(f"We have your incident {ticket.reference}", mail.body)
        self.assertIn("reply to this mail", mail.body)
        self.assertNotIn(ticket.get_absolute_url(), mail.body)  # a contact cannot log in: no link to follow

    def test_a_customer_user_who_opens_a_ticket_gets_the_confirmation_with_the_link(self) -> None:
        ticket = self.open(self.alice, actor=self.p.customer_a)
        (mail,) = self.mails(ticket, "alice@customer-a.example", outbound.OPENED)
        self.assertIn(ticket.get_absolute_url(), mail.body)

    def test_a_customer_user_opened_for_by_the_desk_hears_it_from_the_watchers_only(self) -> None:
        ticket = self.open(self.alice)
        events = [m.event for m in self.mails(ticket, "alice@customer-a.example")]
        self.assertEqual(events, ["core.record.watched"])

    def test_an_internal_note_never_reaches_a_customer_and_a_public_reply_does(self) -> None:
        for caller in (self.megan, self.alice):
            with self.subTest(str(caller)):
                ticket = self.open(caller)
                self.reply(ticket, SECRET, "internal")
                self.reply(ticket, "Please restart the printer and tell us.", "public")
                mails = self.mails(ticket, caller.email)
                for mail in mails:
                    self.assertNotIn("hunter2", f"{mail.subject} {mail.body}")
                told = [m for m in mails if "Please restart the printer" in m.body]
                self.assertEqual(len(told), 1, [m.event for m in mails])  # one mail for it, not two
                self.assertIn(f"[{ticket.reference}]" if caller == self.megan else ticket.reference, told[0].subject)

    def test_the_callers_own_reply_by_mail_is_not_sent_back_to_them(self) -> None:
        ticket = self.open(self.megan)
        self.reply(ticket, "Still broken", "public", actor=core_services.get_system_actor())  # how a contact writes
        self.reply(ticket, "Also broken", "public", actor=self.p.customer_a)  # a colleague with a login
        self.assertEqual(self.mails(ticket, "megan@customer-a.example", outbound.REPLIED), [])

    def test_the_resolved_mail_has_the_notes_and_how_to_confirm_or_reopen(self) -> None:
        ticket = self.resolve(self.open(self.megan))
        (mail,) = self.mails(ticket, "megan@customer-a.example", outbound.RESOLVED)
        self.assertEqual(mail.subject, f"[{ticket.reference}] Resolved: Printer down")
        self.assertIn("Replaced the fuser unit.", mail.body)
        self.assertIn("reply to this mail", mail.body)
        self.assertIn("reopened", mail.body)

    def test_a_reply_to_any_of_these_mails_lands_on_the_ticket(self) -> None:
        previous = registered_handler()
        self.addCleanup(register_handler, previous)
        register_handler(inbound.handle)
        ticket = self.open(self.megan)
        (sent,) = self.mails(ticket, "megan@customer-a.example", outbound.OPENED)
        by_header = ingest(new_mail("megan@customer-a.example", "Re: hello", "One more thing.", message_id="<a@c>",
                                    In_Reply_To=sent.message_id))  # fmt: skip
        by_subject = ingest(new_mail("megan@customer-a.example", f"Re: {sent.subject}", "And another.",
                                     message_id="<b@c>"))  # fmt: skip
        for mail in (by_header, by_subject):
            self.assertEqual((mail.outcome, mail.record_id), (O.REPLIED, str(ticket.pk)), mail.reason)
        self.assertEqual(conversation.of(ticket).count(), 2)
