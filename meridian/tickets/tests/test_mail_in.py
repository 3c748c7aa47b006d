"""Tickets by mail, inbound (`tickets.inbound`, through `integrations.inbound.ingest`): real replies from many mail
clients (`shared/datasets/emails`, skipped where it is missing) threaded onto a ticket by their headers or the
reference in the subject; new mail opening incidents; bounces, unknown senders, replays and other customers' people
adding nothing."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, ClassVar

import pytest
from django.test import override_settings

from meridian.core import conversation
from meridian.core import services as core_services
from meridian.core.choices import OrganisationKind, Role
from meridian.core.factories import OrganisationFactory, PersonFactory
from meridian.core.links import linked
from meridian.core.models import Attachment, Comment, Person, User
from meridian.core.notifications import record_thread_id
from meridian.core.testing import PrincipalsTestCase
from meridian.integrations.choices import InboundMailOutcome as O
from meridian.integrations.inbound import ingest, register_handler, registered_handler
from meridian.integrations.tests.test_mail_parse import EMAILS, SKIP_REASON
from meridian.tickets import inbound
from meridian.tickets.choices import Channel, Status
from meridian.tickets.models import Incident, ServiceRequest

DOMAIN = "itsm.example.com"
needs_emails = pytest.mark.skipif(EMAILS is None, reason=SKIP_REASON)
MAIL_SETTINGS = {
    "MERIDIAN_MAIL_DOMAIN": DOMAIN,
    "DEFAULT_FROM_EMAIL": f"meridian@{DOMAIN}",
    "MERIDIAN_MAIL_ADDRESSES": [f"help@{DOMAIN}"],
    "MERIDIAN_MAIL_REPLY_TO": f"help@{DOMAIN}",
    "MERIDIAN_MAIL_FAILED_DIR": "",
    "MERIDIAN_MAIL_RATE_LIMIT": 100,
    "MERIDIAN_MAIL_UNKNOWN_SENDERS": "refuse",
}


def read(path: str) -> bytes:
    assert EMAILS is not None
    return (EMAILS / path).read_bytes()


def rewrite(raw: bytes, **headers: str) -> bytes:
    """The message with some headers replaced (`in_reply_to="<...>"` sets In-Reply-To)."""
    msg = email.message_from_bytes(raw)
    for name, value in headers.items():
        header = "-".join(part.capitalize() for part in name.rstrip("_").split("_")).replace("Message-Id", "Message-ID")
        del msg[header]
        msg[header] = value
    return msg.as_bytes()


def new_mail(sender: str, subject: str, body: str, *, message_id: str, files: dict[str, bytes] | None = None,
             **headers: str) -> bytes:  # fmt: skip
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"], msg["To"], msg["Subject"], msg["Message-ID"] = sender, f"help@{DOMAIN}", subject, message_id
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    for name, content in (files or {}).items():
        msg.add_attachment(content, maintype="application", subtype="octet-stream", filename=name)
    return msg.as_bytes()


@override_settings(**MAIL_SETTINGS)
class MailInTests(PrincipalsTestCase):
    agent: ClassVar[User]
    alice: ClassVar[Person]
    bob: ClassVar[Person]
    megan: ClassVar[Any]  # made by a factory
    bea: ClassVar[Any]

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.agent = cls.p.users[Role.SERVICE_DESK_AGENT]
        cls.alice = Person.objects.get(user=cls.p.customer_a)  # a customer user of organisation A
        cls.alice.email = "Alice@Customer-A.example"
        cls.alice.save()
        cls.megan = PersonFactory(organisation=cls.p.org_a, email="megan@customer-a.example", first_name="Megan")
        cls.bob = Person.objects.get(user=cls.p.customer_b)  # a customer user of organisation B
        cls.bob.email = "bob@customer-b.example"
        cls.bob.save()
        cls.bea = PersonFactory(organisation=cls.p.org_b, email="bea@customer-b.example")  # B's, without a login

    def setUp(self) -> None:
        previous = registered_handler()
        self.addCleanup(register_handler, previous)
        register_handler(inbound.handle)
        self.ticket = core_services.create_record(
            Incident,
            data={"title": "Printer down", "organisation": self.p.org_a, "caller": self.megan},
            actor=self.agent,
        )

    def comments(self, ticket: Any = None) -> list[Comment]:
        return list(conversation.of(ticket or self.ticket).order_by("id"))

    def thread(self, ticket: Any = None) -> str:
        ticket = ticket or self.ticket
        return record_thread_id(ticket._meta.label_lower, str(ticket.pk))

    # --- replies ---------------------------------------------------------------------------------------------

    @needs_emails
    def test_a_gmail_reply_threaded_by_in_reply_to_lands_as_only_its_new_text(self) -> None:
        raw = rewrite(read("talon/standard_replies/gmail.eml"), from_="Alice <alice@customer-a.example>",
                      in_reply_to=self.thread())  # fmt: skip
        mail = ingest(raw)
        self.assertEqual((mail.outcome, mail.record_type, mail.record_id), (O.REPLIED, "tickets.incident",
                         str(self.ticket.pk)))  # fmt: skip
        (comment,) = self.comments()
        self.assertEqual((comment.body, comment.visibility, comment.author), ("Hello", "public", self.p.customer_a))

    @needs_emails
    def test_every_talon_standard_reply_adds_only_what_was_written_this_time(self) -> None:
        folder = EMAILS / "talon" / "standard_replies"  # type: ignore[operator]
        for number, path in enumerate(sorted(folder.glob("*.eml"))):
            raw = rewrite(path.read_bytes(), from_="alice@customer-a.example", in_reply_to=self.thread(),
                          message_id=f"<talon-{number}@client.example>")  # fmt: skip
            with self.subTest(path.name):
                mail = ingest(raw)
                self.assertEqual(mail.outcome, O.REPLIED, mail.reason)
                self.assertEqual(self.comments()[-1].body, "Hello")  # no quoted history, no signature

    @needs_emails
    def test_a_contact_without_login_replies_by_the_reference_in_the_subject(self) -> None:
        raw = rewrite(read("talon/standard_replies/gmail.eml"), from_="Megan <MEGAN@customer-a.example>",
                      subject=f"Re: [{self.ticket.reference}] Printer down")  # fmt: skip
        mail = ingest(raw)
        self.assertEqual(mail.outcome, O.REPLIED, mail.reason)
        (comment,) = self.comments()
        self.assertEqual(comment.visibility, "public")
        self.assertEqual(comment.author, core_services.get_system_actor())
        self.assertTrue(comment.body.endswith("\n\nHello"), comment.body)
        self.assertIn(str(self.megan), comment.body)  # the agents see who wrote
        self.assertNotIn("wrote:\n\n> Hi", comment.body)

    def test_a_reference_written_without_its_zeros_finds_the_ticket(self) -> None:
        number = int(self.ticket.reference.split("-")[1])
        raw = new_mail("megan@customer-a.example", f"About INC-{number}", "It works again.", message_id="<z@c>")
        self.assertEqual(ingest(raw).outcome, O.REPLIED)
        self.assertIn("It works again.", self.comments()[0].body)

    def test_a_service_request_is_answered_by_its_reference_too(self) -> None:
        request = core_services.create_record(
            ServiceRequest, data={"title": "New laptop", "organisation": self.p.org_a, "caller": self.alice},
            actor=self.p.customer_a,
        )  # fmt: skip
        raw = new_mail("alice@customer-a.example", f"Re: [{request.reference}] New laptop", "A 14-inch one, please.",
                       message_id="<q@x>")  # fmt: skip
        mail = ingest(raw)
        self.assertEqual((mail.outcome, mail.record_type, mail.record_id), (O.REPLIED, "tickets.servicerequest",
                         str(request.pk)))  # fmt: skip
        self.assertEqual([c.body for c in self.comments(request)], ["A 14-inch one, please."])

    @needs_emails
    def test_someone_of_another_organisation_never_lands_on_the_ticket(self) -> None:
        base = read("talon/standard_replies/gmail.eml")
        cases = {
            "a customer user of B, by the thread": {"from_": "bob@customer-b.example", "in_reply_to": self.thread()},
            "a contact of B, by the thread": {"from_": "bea@customer-b.example", "in_reply_to": self.thread()},
            "a contact of B, by the subject": {"from_": "bea@customer-b.example", "subject": self.ticket.reference},
        }
        for number, (label, headers) in enumerate(cases.items()):
            with self.subTest(label):
                mail = ingest(rewrite(base, message_id=f"<other-{number}@b.example>", **headers))
                self.assertEqual(mail.outcome, O.IGNORED)
                self.assertIn(self.ticket.reference, mail.reason)
        self.assertEqual(self.comments(), [])
        self.assertEqual(Incident.objects.count(), 1)  # and nothing opened for them

    def test_an_unknown_sender_replying_adds_nothing(self) -> None:
        raw = new_mail("mallory@evil.example", f"Re: [{self.ticket.reference}]", "Hi", message_id="<m@evil>",
                       In_Reply_To=self.thread())  # fmt: skip
        mail = ingest(raw)
        self.assertEqual(mail.outcome, O.REFUSED_UNKNOWN_SENDER)
        self.assertEqual(self.comments(), [])

    def test_staff_replying_by_mail_write_an_internal_note(self) -> None:
        agent_person = Person.objects.get(user=self.agent)
        raw = new_mail(agent_person.email, "Re: x", "Checked with the DBA.", message_id="<s@x>",
                       In_Reply_To=self.thread())  # fmt: skip
        self.assertEqual(ingest(raw).outcome, O.REPLIED)
        (comment,) = self.comments()
        self.assertEqual((comment.visibility, comment.author, comment.body), ("internal", self.agent,
                         "Checked with the DBA."))  # fmt: skip

    def test_a_refused_file_does_not_lose_the_reply(self) -> None:
        raw = new_mail(
            "megan@customer-a.example",
            "Re: x",
            "Here is the log.",
            message_id="<f@x>",
            files={"tool.exe": b"MZ\x90\x00" + b"\x00" * 200, "log.txt": b"error 42\n"},
            In_Reply_To=self.thread(),
        )
        self.assertEqual(ingest(raw).outcome, O.REPLIED)
        (comment,) = self.comments()
        self.assertIn("Here is the log.", comment.body)
        self.assertIn("tool.exe", comment.body)  # says which file was left out, and why
        self.assertEqual(list(Attachment.objects.filter(comment_id=comment.pk).values_list("name", flat=True)),
                         ["log.txt"])  # fmt: skip

    def test_a_reply_to_a_resolved_ticket_reopens_it(self) -> None:
        resolved = self._resolve(self.ticket)
        raw = new_mail("megan@customer-a.example", "Re: x", "Still broken.", message_id="<r@x>",
                       In_Reply_To=self.thread())  # fmt: skip
        mail = ingest(raw)
        self.assertEqual(mail.outcome, O.REPLIED)
        self.assertIn("reopened", mail.reason)
        resolved.refresh_from_db()
        self.assertEqual(resolved.status, Status.IN_PROGRESS)
        self.assertIn("Still broken.", self.comments()[-1].body)

    def test_a_reply_to_a_closed_ticket_opens_a_new_one_related_to_it(self) -> None:
        closed = self._resolve(self.ticket)
        closed = core_services.transition(closed, "close", actor=self.agent, expected_version=closed.version)
        raw = new_mail("megan@customer-a.example", f"Re: [{closed.reference}] Printer down", "It is down again.",
                       message_id="<c@x>", In_Reply_To=self.thread())  # fmt: skip
        mail = ingest(raw)
        self.assertEqual(mail.outcome, O.CREATED, mail.reason)
        new = Incident.objects.get(pk=mail.record_id)
        self.assertEqual((new.caller, new.organisation, new.channel, new.title), (self.megan, self.p.org_a,
                         Channel.EMAIL, "Printer down"))  # fmt: skip
        self.assertIn("It is down again.", new.description)
        self.assertEqual(list(linked(new, "relates_to", model=Incident)), [closed])
        self.assertEqual(self.comments(closed), [])  # the closed ticket is left as it was

    def _resolve(self, ticket: Any) -> Any:
        return core_services.transition(
            ticket,
            "resolve",
            actor=self.agent,
            expected_version=ticket.version,
            values={"resolution_code": "fixed", "resolution_notes": "Replaced the toner."},
        )

    # --- new messages ---------------------------------------------------------------------------------------------

    @needs_emails
    def test_a_new_mail_from_a_known_contact_opens_an_incident_with_the_caller_set(self) -> None:
        raw = rewrite(read("flanker/text-only.eml"), from_="Megan <megan@customer-a.example>")
        mail = ingest(raw)
        self.assertEqual(mail.outcome, O.CREATED, mail.reason)
        incident = Incident.objects.get(pk=mail.record_id)
        self.assertEqual(
            (incident.caller, incident.organisation, incident.channel, incident.title, incident.status),
            (self.megan, self.p.org_a, Channel.EMAIL, "Testing message parsing", Status.NEW),
        )
        self.assertEqual(incident.created_by, core_services.get_system_actor())  # a contact has no login
        self.assertTrue(incident.reference.startswith("INC-"))

    @needs_emails
    def test_a_customer_user_opens_it_as_themselves_and_its_files_are_kept(self) -> None:
        raw = rewrite(read("flanker/mailgun-pic.eml"), from_="alice@customer-a.example", subject="Fwd: RE: Screen")
        mail = ingest(raw)
        self.assertEqual(mail.outcome, O.CREATED, mail.reason)
        incident = Incident.objects.get(pk=mail.record_id)
        self.assertEqual((incident.created_by, incident.caller, incident.title), (self.p.customer_a, self.alice,
                         "Screen"))  # fmt: skip
        files = Attachment.objects.filter(record_type="tickets.incident", record_id=incident.pk)
        self.assertEqual(files.count(), 1)

    @needs_emails
    def test_bounces_and_complaints_open_nothing_and_add_nothing(self) -> None:
        paths = sorted((EMAILS / "flanker" / "bounce").glob("*.eml")) + sorted(  # type: ignore[operator]
            (EMAILS / "flanker" / "complaints").glob("*.eml")  # type: ignore[operator]
        )
        self.assertGreater(len(paths), 5)
        for path in paths:
            with self.subTest(path.name):
                mail = ingest(path.read_bytes())
                self.assertTrue(mail.outcome.startswith("ignored-"), (mail.outcome, mail.reason))
                threaded = ingest(rewrite(path.read_bytes(), in_reply_to=self.thread(), message_id=f"<b-{path.name}>"))
                self.assertTrue(threaded.outcome.startswith("ignored-"), (threaded.outcome, threaded.reason))
        self.assertEqual(Incident.objects.count(), 1)
        self.assertEqual(self.comments(), [])

    def test_an_unknown_sender_is_refused_by_default(self) -> None:
        mail = ingest(new_mail("stranger@nowhere.example", "Help", "My mouse.", message_id="<u@x>"))
        self.assertEqual(mail.outcome, O.REFUSED_UNKNOWN_SENDER)
        self.assertEqual(Incident.objects.count(), 1)
        self.assertFalse(Person.objects.filter(email__iexact="stranger@nowhere.example").exists())

    def test_create_makes_a_contact_only_in_the_one_organisation_of_the_senders_domain(self) -> None:
        org = OrganisationFactory(name="Acme", email="it@acme.example", kind=OrganisationKind.CUSTOMER)
        with self.settings(MERIDIAN_MAIL_UNKNOWN_SENDERS="create"):
            mail = ingest(new_mail("Carl Jones <carl@ACME.example>", "VPN", "VPN down.", message_id="<k@acme>"))
            self.assertEqual(mail.outcome, O.CREATED, mail.reason)
            incident = Incident.objects.get(pk=mail.record_id)
            self.assertEqual((incident.organisation, str(incident.caller), incident.caller.email), (org, "Carl Jones",
                             "carl@acme.example"))  # fmt: skip
            stranger = ingest(new_mail("eve@elsewhere.example", "Hi", "x", message_id="<e@else>"))
            self.assertEqual(stranger.outcome, O.REFUSED_UNKNOWN_SENDER)
            # nor may a new contact of Acme write on organisation A's ticket
            other = ingest(new_mail("dan@acme.example", "Re", "x", message_id="<d@acme>", In_Reply_To=self.thread()))
            self.assertEqual(other.outcome, O.REFUSED_UNKNOWN_SENDER)
        self.assertFalse(Person.objects.filter(email__in=["eve@elsewhere.example", "dan@acme.example"]).exists())
        self.assertEqual(self.comments(), [])

    def test_the_same_message_again_changes_nothing(self) -> None:
        raw = new_mail("megan@customer-a.example", "Wifi", "No wifi on floor 3.", message_id="<same@x>")
        first = ingest(raw)
        reply = new_mail("megan@customer-a.example", "Re", "More.", message_id="<same2@x>", In_Reply_To=self.thread())
        ingest(reply)
        counts = (Incident.objects.count(), Comment.objects.count(), Attachment.objects.count())
        self.assertEqual((ingest(raw).outcome, ingest(reply).outcome), (O.DUPLICATE, O.DUPLICATE))
        self.assertEqual((Incident.objects.count(), Comment.objects.count(), Attachment.objects.count()), counts)
        self.assertEqual(first.outcome, O.CREATED)

    def test_clean_subject(self) -> None:
        self.assertEqual(inbound.clean_subject("Re: AW: Fwd:  Printer   down"), "Printer down")
        self.assertEqual(inbound.clean_subject("RE[2]: [EXTERNAL] Re: VPN"), "VPN")
        self.assertEqual(inbound.clean_subject("Regarding the VPN"), "Regarding the VPN")
        self.assertEqual(inbound.clean_subject("Re: [INC-000012] Printer [REQ-3]"), "Printer")


def test_the_data_set_is_where_the_tests_look() -> None:
    if EMAILS is None:
        pytest.skip(SKIP_REASON)
    assert isinstance(EMAILS, Path) and (EMAILS / "talon" / "standard_replies" / "gmail.eml").is_file()
