"""Ingesting inbound mail (`integrations.inbound.ingest`, `meridian mail ingest`): what reaches the handler and
what is only logged, duplicates, loops, a handler that fails, the command on standard input and on a Maildir, and
the outbound threading headers that let a reply find its record."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

from django.core import mail as django_mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import TestCase, override_settings

from meridian.core.models import NotificationLog, Organisation
from meridian.core.notifications import deliver, new_message_id, record_thread_id
from meridian.integrations.choices import InboundMailOutcome as O
from meridian.integrations.inbound import Outcome, ingest, register_handler, registered_handler, thread_of
from meridian.integrations.mail import InboundMessage, parse
from meridian.integrations.models import InboundMail
from meridian.integrations.tests.test_mail_parse import EMAILS, SKIP_REASON, expected_kind, manifest

DOMAIN = "itsm.example.com"


def message(
    *, message_id: str = "<m1@client.example>", sender: str = "ann@customer.example", extra: str = "", body: str = "Hi"
) -> bytes:
    return (
        f"From: Ann Smith <{sender}>\r\nTo: help@{DOMAIN}\r\nSubject: Printer down\r\n"
        f"Message-ID: {message_id}\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\n{extra}\r\n{body}\r\n"
    ).encode()


@override_settings(
    MERIDIAN_MAIL_DOMAIN=DOMAIN,
    DEFAULT_FROM_EMAIL=f"meridian@{DOMAIN}",
    MERIDIAN_MAIL_ADDRESSES=[f"help@{DOMAIN}"],
    MERIDIAN_MAIL_REPLY_TO=f"help@{DOMAIN}",
    MERIDIAN_MAIL_FAILED_DIR="",
    MERIDIAN_MAIL_RATE_LIMIT=30,
)
class IngestTests(TestCase):
    def setUp(self) -> None:
        self.calls: list[InboundMessage] = []
        self.org = Organisation.objects.create(name="Customer (mail tests)")
        previous = registered_handler()
        self.addCleanup(register_handler, previous)
        register_handler(self.handler)

    def handler(self, message: InboundMessage, mail: InboundMail) -> Outcome:
        """Writes nothing; says it replied on the test organisation."""
        self.calls.append(message)
        return Outcome(O.REPLIED, record=self.org, reason="test handler")

    def test_a_message_reaches_the_handler_and_is_logged_with_its_record(self) -> None:
        mail = ingest(message(), source="pipe")
        self.assertEqual(len(self.calls), 1)
        self.assertEqual(self.calls[0].new_text, "Hi")
        mail.refresh_from_db()
        self.assertEqual(
            (mail.outcome, mail.record_type, mail.record_id, mail.sender, mail.subject, mail.source),
            (O.REPLIED, "core.organisation", str(self.org.pk), "ann@customer.example", "Printer down", "pipe"),
        )

    def test_control_characters_never_reach_the_database(self) -> None:
        raw = b"From: ann@customer.example\r\nSubject: nul\x00 here\r\nMessage-ID: <n\x00ul@x>\r\n\r\nbo\x00dy\r\n"
        mail = ingest(raw)
        self.assertEqual((mail.outcome, mail.subject, mail.message_id), (O.REPLIED, "nul here", "<nul@x>"))
        self.assertEqual(self.calls[0].text, "body")

    def test_the_same_message_twice_is_a_duplicate_and_reaches_the_handler_once(self) -> None:
        ingest(message(), source="pipe")
        again = ingest(message(), source="maildir")
        self.assertEqual(again.outcome, O.DUPLICATE)
        self.assertEqual(len(self.calls), 1)
        self.assertEqual(InboundMail.objects.filter(outcome=O.REPLIED).count(), 1)

    def test_a_message_without_message_id_is_known_again_by_its_bytes(self) -> None:
        raw = b"From: ann@customer.example\r\nSubject: no id\r\n\r\nhello\r\n"
        self.assertEqual(ingest(raw).outcome, O.REPLIED)
        self.assertEqual(ingest(raw).outcome, O.DUPLICATE)
        self.assertEqual(ingest(raw + b"more\r\n").outcome, O.REPLIED)

    def test_machine_written_mail_is_logged_and_never_handled(self) -> None:
        cases = {
            O.IGNORED_AUTO_REPLY: "Auto-Submitted: auto-replied\r\n",
            O.IGNORED_BOUNCE: "",  # by its sender below
        }
        auto = ingest(message(message_id="<a@x>", extra=cases[O.IGNORED_AUTO_REPLY]))
        bounce = ingest(message(message_id="<b@x>", sender="MAILER-DAEMON@mx.example"))
        self.assertEqual((auto.outcome, bounce.outcome), (O.IGNORED_AUTO_REPLY, O.IGNORED_BOUNCE))
        self.assertIn("Auto-Submitted", auto.reason)
        self.assertEqual(self.calls, [])

    def test_mail_from_meridian_itself_is_a_loop(self) -> None:
        own = ingest(message(message_id="<l1@x>", sender=f"help@{DOMAIN}"))
        marked = ingest(message(message_id="<l2@x>", extra=f"X-Meridian-Loop: {DOMAIN}\r\n"))
        other_meridian = ingest(message(message_id="<l3@x>", extra="X-Meridian-Loop: other.example\r\n"))
        self.assertEqual((own.outcome, marked.outcome), (O.IGNORED_LOOP, O.IGNORED_LOOP))
        self.assertEqual(other_meridian.outcome, O.REPLIED)
        self.assertEqual(len(self.calls), 1)

    @override_settings(MERIDIAN_MAIL_RATE_LIMIT=3, MERIDIAN_MAIL_RATE_WINDOW=60)
    def test_too_many_messages_from_one_sender_are_a_loop(self) -> None:
        outcomes = [ingest(message(message_id=f"<r{i}@x>")).outcome for i in range(5)]
        self.assertEqual(outcomes, [O.REPLIED] * 3 + [O.IGNORED_LOOP] * 2)
        self.assertEqual(ingest(message(message_id="<r9@x>", sender="bob@customer.example")).outcome, O.REPLIED)

    def test_a_failing_handler_leaves_nothing_behind_and_the_message_can_come_again(self) -> None:
        def failing(message: InboundMessage, mail: InboundMail) -> Outcome:
            Organisation.objects.create(name="half-written")
            raise RuntimeError("the ticket could not be saved")

        register_handler(failing)
        mail = ingest(message(message_id="<f@x>"))
        self.assertEqual(mail.outcome, O.FAILED)
        self.assertIn("RuntimeError: the ticket could not be saved", mail.reason)
        self.assertFalse(Organisation.objects.filter(name="half-written").exists())
        self.assertEqual(InboundMail.objects.filter(message_id="<f@x>").count(), 1)
        register_handler(self.handler)
        self.assertEqual(ingest(message(message_id="<f@x>")).outcome, O.REPLIED)  # a retry is not a duplicate

    def test_a_failed_message_is_kept_in_the_failed_folder(self) -> None:
        def failing(message: InboundMessage, mail: InboundMail) -> Outcome:
            raise ValueError("no")

        register_handler(failing)
        folder = Path(self.enterContext(_tempdir()))
        with override_settings(MERIDIAN_MAIL_FAILED_DIR=str(folder)):
            mail = ingest(message(message_id="<kept@x>"))
        (kept,) = folder.iterdir()
        self.assertEqual(kept.read_bytes(), message(message_id="<kept@x>"))
        self.assertTrue(kept.name.endswith(f"-{mail.pk}.eml"))

    def test_a_handler_answer_that_is_not_an_outcome_fails(self) -> None:
        register_handler(lambda message, mail: Outcome("duplicate"))
        self.assertEqual(ingest(message()).outcome, O.FAILED)

    def test_without_a_handler_the_message_is_logged_as_failed(self) -> None:
        register_handler(None)
        mail = ingest(message())
        self.assertEqual((mail.outcome, mail.reason), (O.FAILED, "no mail handler is registered"))

    def test_a_reply_to_a_notification_finds_its_record(self) -> None:
        log = NotificationLog.objects.create(
            event="core.test",
            record_type="core.organisation",
            record_id=str(self.org.pk),
            recipient="ann@customer.example",
            subject="Your ticket",
            body="Body",
            message_id=new_message_id(),
        )
        deliver(log.pk)
        (sent,) = django_mail.outbox
        thread = f"<core.organisation.{self.org.pk}@{DOMAIN}>"
        self.assertEqual(record_thread_id("core.organisation", str(self.org.pk)), thread)
        self.assertEqual(sent.extra_headers["Message-ID"], log.message_id)
        self.assertTrue(log.message_id.endswith(f"@{DOMAIN}>"))
        self.assertEqual((sent.extra_headers["In-Reply-To"], sent.extra_headers["References"]), (thread, thread))
        self.assertEqual(sent.extra_headers["X-Meridian-Loop"], DOMAIN)
        self.assertEqual(sent.extra_headers["Auto-Submitted"], "auto-generated")
        self.assertEqual(sent.reply_to, [f"help@{DOMAIN}"])
        self.assertIn(f"Message-ID: {log.message_id}", sent.message().as_string())

        # a client that keeps only In-Reply-To, one that keeps the References, one that answers the thread id
        by_message = parse(message(message_id="<r1@x>", extra=f"In-Reply-To: {log.message_id}\r\n"))
        by_references = parse(message(message_id="<r2@x>", extra=f"References: <a@b> {log.message_id}\r\n"))
        by_thread = parse(message(message_id="<r3@x>", extra=f"References: {thread}\r\n"))
        foreign = parse(message(message_id="<r4@x>", extra="In-Reply-To: <core.organisation.1@elsewhere.example>\r\n"))
        for reply in (by_message, by_references, by_thread):
            self.assertEqual(thread_of(reply), ("core.organisation", str(self.org.pk)))
        self.assertIsNone(thread_of(foreign))
        self.assertIsNone(thread_of(parse(message())))


class _tempdir:
    def __enter__(self) -> str:
        import tempfile

        self.dir = tempfile.TemporaryDirectory()
        return self.dir.name

    def __exit__(self, *exc: Any) -> None:
        self.dir.cleanup()


@override_settings(MERIDIAN_MAIL_DOMAIN=DOMAIN, DEFAULT_FROM_EMAIL=f"meridian@{DOMAIN}", MERIDIAN_MAIL_FAILED_DIR="")
class DatasetIngestTests(TestCase):
    def test_no_message_of_the_data_set_fails_and_no_report_reaches_the_handler(self) -> None:
        if EMAILS is None:
            self.skipTest(SKIP_REASON)
        handled: list[str] = []

        def handler(message: InboundMessage, mail: InboundMail) -> Outcome:
            handled.append(message.subject)
            return Outcome(O.CREATED, reason="test")

        previous = registered_handler()
        self.addCleanup(register_handler, previous)
        register_handler(handler)
        outcomes: dict[str, str] = {}
        with override_settings(MERIDIAN_MAIL_RATE_LIMIT=0):
            for path in manifest():
                outcomes[path] = ingest((EMAILS / path).read_bytes(), source="maildir").outcome
        self.assertNotIn(O.FAILED, outcomes.values())
        reports = {p: o for p, o in outcomes.items() if expected_kind(p) != "normal"}
        self.assertEqual(len(reports), 12)
        self.assertEqual(set(reports.values()), {O.IGNORED_BOUNCE, O.IGNORED_COMPLAINT, O.IGNORED_RECEIPT})
        # the rest were handled, or were list mail marked Precedence: bulk, or repeat a Message-ID of the set
        self.assertEqual(len(handled), sum(1 for o in outcomes.values() if o == O.CREATED))
        self.assertGreaterEqual(len(handled), 45)


@override_settings(
    MERIDIAN_MAIL_DOMAIN=DOMAIN,
    DEFAULT_FROM_EMAIL=f"meridian@{DOMAIN}",
    MERIDIAN_MAIL_FAILED_DIR="",
    MERIDIAN_MAIL_RATE_LIMIT=30,
)
class CommandTests(TestCase):
    def setUp(self) -> None:
        previous = registered_handler()
        self.addCleanup(register_handler, previous)
        register_handler(lambda message, mail: Outcome(O.CREATED, reason="test"))

    def run_command(self, *args: str, stdin: bytes | None = None) -> tuple[str, str]:
        out, err = io.StringIO(), io.StringIO()
        if stdin is not None:
            fake = io.TextIOWrapper(io.BytesIO(stdin))
            self.addCleanup(setattr, sys, "stdin", sys.stdin)
            sys.stdin = fake
        call_command("mail", "ingest", *args, stdout=out, stderr=err)
        return out.getvalue(), err.getvalue()

    def test_stdin_takes_one_message_and_prints_its_outcome(self) -> None:
        out, _ = self.run_command("--stdin", stdin=message())
        self.assertEqual(out.strip(), "created <m1@client.example> from ann@customer.example: test")
        out, _ = self.run_command(stdin=message())  # --stdin is the default
        self.assertTrue(out.startswith("duplicate <m1@client.example>"))

    def test_stdin_without_a_message_is_a_data_error(self) -> None:
        with self.assertRaises(CommandError) as raised:
            self.run_command("--stdin", stdin=b"  \n")
        self.assertEqual(raised.exception.returncode, 65)

    def test_a_maildir_is_taken_whole_and_each_message_marked_seen(self) -> None:
        root = Path(self.enterContext(_tempdir()))
        for sub in ("new", "cur", "tmp"):
            (root / sub).mkdir()
        (root / "new" / "1.host").write_bytes(message(message_id="<d1@x>"))
        (root / "new" / "2.host").write_bytes(message(message_id="<d2@x>", sender="MAILER-DAEMON@mx.example"))
        (root / "cur" / "3.host:2,").write_bytes(message(message_id="<d3@x>"))
        (root / "cur" / "4.host:2,S").write_bytes(message(message_id="<d4@x>"))  # read before: left alone
        out, err = self.run_command("--maildir", str(root))
        self.assertEqual(len(out.splitlines()), 3)
        self.assertIn("2 created, 1 ignored-bounce", err)
        self.assertEqual(list((root / "new").iterdir()), [])
        self.assertEqual(
            sorted(p.name for p in (root / "cur").iterdir()), ["1.host:2,S", "2.host:2,S", "3.host:2,S", "4.host:2,S"]
        )
        self.assertFalse(InboundMail.objects.filter(message_id="<d4@x>").exists())
        out, err = self.run_command("--maildir", str(root))
        self.assertEqual(out, "")
        self.assertIn("no new messages", err)

    def test_a_maildir_message_that_fails_is_flagged_and_kept_for_a_retry(self) -> None:
        root = Path(self.enterContext(_tempdir()))
        done = root / "done"
        for sub in ("new", "cur", "tmp"):
            (root / sub).mkdir(parents=True)
        (root / "new" / "1.host").write_bytes(message(message_id="<x1@x>"))
        (root / "new" / "2.host").write_bytes(message(message_id="<x2@x>", body="boom"))

        def handler(message: InboundMessage, mail: InboundMail) -> Outcome:
            if message.new_text == "boom":
                raise RuntimeError("boom")
            return Outcome(O.CREATED)

        register_handler(handler)
        self.run_command("--maildir", str(root), "--done", str(done))
        self.assertEqual([p.name for p in (done / "cur").iterdir()], ["1.host:2,S"])
        self.assertEqual([p.name for p in (root / "cur").iterdir()], ["2.host:2,F"])
        out, _ = self.run_command("--maildir", str(root))
        self.assertEqual(out, "")  # a flagged message waits for --retry-failed
        register_handler(lambda message, mail: Outcome(O.CREATED))
        out, _ = self.run_command("--maildir", str(root), "--done", str(done), "--retry-failed")
        self.assertTrue(out.startswith("created <x2@x>"))
        self.assertEqual(sorted(p.name for p in (done / "cur").iterdir()), ["1.host:2,S", "2.host:2,S"])

    def test_imap_takes_the_unseen_messages_and_marks_each_seen_or_flagged(self) -> None:
        from meridian.integrations.tests.imap_server import ImapServer, Mailbox

        box = Mailbox()
        box.add(message(message_id="<i1@x>"))
        box.add(message(message_id="<i2@x>", body="boom"))
        box.add(message(message_id="<i3@x>"), "\\Seen")  # read by someone before: left alone

        def handler(message: InboundMessage, mail: InboundMail) -> Outcome:
            if message.new_text == "boom":
                raise RuntimeError("boom")
            return Outcome(O.CREATED)

        register_handler(handler)
        with ImapServer(box) as port:
            imap = {"MERIDIAN_IMAP_HOST": "127.0.0.1", "MERIDIAN_IMAP_PORT": port, "MERIDIAN_IMAP_SSL": False}
            with override_settings(**imap, MERIDIAN_IMAP_USER="desk", MERIDIAN_IMAP_PASSWORD="secret"):
                out, _ = self.run_command("--imap", "--once")
                self.assertEqual([line.split()[0] for line in out.splitlines()], ["created", "failed"])
                self.assertEqual([m.flags for m in box.messages], [{"\\Seen"}, {"\\Flagged"}, {"\\Seen"}])
                self.assertIn('SELECT "INBOX"', box.commands)
                # the failed one waits for --retry-failed, then goes through
                out, _ = self.run_command("--imap", "--once")
                self.assertEqual(out, "")
                register_handler(lambda message, mail: Outcome(O.CREATED))
                out, _ = self.run_command("--imap", "--once", "--retry-failed")
                self.assertTrue(out.startswith("created <i2@x>"))
                self.assertIn("\\Seen", box.messages[1].flags)
            # a wrong password is a temporary failure the scheduler retries, with the server's words
            wrong = override_settings(**imap, MERIDIAN_IMAP_USER="desk", MERIDIAN_IMAP_PASSWORD="wrong")
            with wrong, self.assertRaises(CommandError) as raised:
                self.run_command("--imap", "--once")
            self.assertEqual(raised.exception.returncode, 75)
            self.assertIn("invalid credentials", str(raised.exception))
        self.assertEqual(set(InboundMail.objects.values_list("message_id", flat=True)), {"<i1@x>", "<i2@x>"})

    def test_imap_without_a_host_is_a_configuration_error(self) -> None:
        with override_settings(MERIDIAN_IMAP_HOST=""), self.assertRaises(CommandError) as raised:
            self.run_command("--imap", "--once")
        self.assertEqual(raised.exception.returncode, 78)
