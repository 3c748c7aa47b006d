"""Reading inbound mail (`integrations.mail.parse`), against real messages from many mail clients, bounces and broken
MIME (`shared/datasets/emails`, beside the repository; these tests are skipped, saying so, where it is missing),
and against small messages written here.

The talon standard replies: the new text of every one is "Hello" (or its `*_reply_text` file's content)."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest

from meridian.integrations.mail import (
    AUTO_REPLY,
    BOUNCE,
    COMPLAINT,
    MAX_ATTACHMENTS,
    NORMAL,
    RECEIPT,
    html_to_text,
    parse,
    references_in_subject,
)

REPO = Path(__file__).resolve().parents[3]
CANDIDATES = [REPO.parent / "shared" / "datasets", REPO.parent.parent / "shared" / "datasets"]
EMAILS = next((d / "emails" for d in CANDIDATES if (d / "emails" / "MANIFEST.csv").is_file()), None)
SKIP_REASON = f"the e-mail data set is not beside the repository (looked in {', '.join(map(str, CANDIDATES))})"
needs_emails = pytest.mark.skipif(EMAILS is None, reason=SKIP_REASON)


def manifest() -> list[str]:
    if EMAILS is None:
        return []
    with (EMAILS / "MANIFEST.csv").open(encoding="utf-8", errors="replace") as f:
        return [row["path"] for row in csv.DictReader(f)]


def expected_kind(path: str) -> str:
    """What the data set's README says each message is."""
    if path.startswith("flanker/bounce/"):
        return BOUNCE
    if path.startswith("flanker/complaints/"):
        return COMPLAINT
    if path == "flanker/disposition-notification.eml":
        return RECEIPT
    return NORMAL


def read(path: str) -> bytes:
    assert EMAILS is not None
    return (EMAILS / path).read_bytes()


@needs_emails
@pytest.mark.parametrize("path", manifest())
def test_every_message_parses_and_machine_mail_is_recognised(path: str) -> None:
    message = parse(read(path))
    assert message.size == len(read(path))
    kind = expected_kind(path)
    if kind == NORMAL:
        # people's mail is never taken for a report (some old list mail is "Precedence: bulk": an auto-reply)
        assert message.kind in (NORMAL, AUTO_REPLY), message.kind_reason
    else:
        assert message.kind == kind, f"{path}: {message.kind} ({message.kind_reason})"
        assert message.new_text == ""


@needs_emails
def test_the_manifest_lists_every_bounce_complaint_and_receipt() -> None:
    kinds = [expected_kind(p) for p in manifest()]
    assert (kinds.count(BOUNCE), kinds.count(COMPLAINT), kinds.count(RECEIPT)) == (9, 2, 1)
    assert len(kinds) == 67


TALON_CLIENTS = [
    "android", "aol", "apple_mail", "apple_mail_2", "comcast", "gmail", "hotmail", "iphone", "outlook", "sparrow",
    "thunderbird", "yahoo",
]  # fmt: skip


@needs_emails
@pytest.mark.parametrize("client", TALON_CLIENTS)
def test_the_new_text_of_a_reply_leaves_the_quoted_history_out(client: str) -> None:
    assert EMAILS is not None
    message = parse(read(f"talon/standard_replies/{client}.eml"))
    expected_file = EMAILS / "talon" / "standard_replies" / f"{client}_reply_text"
    accepted = {"Hello"}
    if expected_file.is_file():  # talon keeps the signature ("Sent from my iPhone"); stripping it is right too
        accepted.add("\n".join(line.rstrip() for line in expected_file.read_text().strip().splitlines()))
    assert message.new_text in accepted
    assert message.kind == NORMAL
    assert message.subject.lower().startswith(("re:", "test"))


@needs_emails
def test_a_yahoo_reply_above_unquoted_history_keeps_only_the_reply() -> None:
    message = parse(read("talon/reply-quotations-share-block.eml"))
    assert message.new_text.startswith("Hi Katharine.")
    assert message.new_text.endswith("Joe XXX")
    assert "booking inquiry" in message.text and "booking inquiry" not in message.new_text


@needs_emails
def test_the_parser_bomb_is_read_within_limits() -> None:
    started = time.process_time()
    message = parse(read("flanker/enclosed-endless.eml"))
    assert message.sender == "example@example.net"
    assert len(message.attachments) <= MAX_ATTACHMENTS
    assert time.process_time() - started < 30  # not a timing assertion: a generous bound against a hang


def test_long_lines_that_look_like_quote_headers_do_not_stall_the_reply_parser() -> None:
    body = ("On " + "and on " * 1500 + "\r\n") * 200  # ~2 MB of lines a header pattern tries hard to match
    started = time.process_time()
    message = parse(b"From: a@example.com\r\nSubject: x\r\n\r\n" + body.encode())
    assert message.new_text.startswith("On and on")
    assert time.process_time() - started < 60  # a generous bound against minutes of backtracking


def test_a_message_nested_beyond_the_parser_is_still_read() -> None:
    raw = b"From: a@example.com\r\nSubject: deep\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n"
    raw += b"".join(f"--b{i}\r\nContent-Type: multipart/mixed; boundary=b{i + 1}\r\n\r\n".encode() for i in range(5000))
    message = parse(raw)
    assert (message.subject, message.sender, message.truncated) == ("deep", "a@example.com", True)


@needs_emails
def test_attachments_are_kept_with_name_type_and_bytes() -> None:
    pdf = parse(read("flanker/attached-pdf.eml"))
    (attachment,) = pdf.attachments
    assert attachment.content_type == "application/pdf"
    assert attachment.content.startswith(b"%PDF")
    assert attachment.filename.endswith(".pdf")

    picture = parse(read("flanker/mailgun-pic.eml"))
    (image,) = picture.attachments
    assert image.content_type.startswith("image/")
    assert image.size > 1000

    forwarded = parse(read("flanker/enclosed.eml"))
    (enclosed,) = forwarded.attachments
    assert enclosed.content_type == "message/rfc822"
    assert enclosed.filename.endswith(".eml")
    assert parse(enclosed.content).subject  # the enclosed message is whole, readable again

    long_name = parse(read("django-helpdesk/blank-body-with-attachment.eml"))
    (file,) = long_name.attachments
    assert file.filename and "/" not in file.filename


@needs_emails
def test_html_only_mail_gives_readable_text_and_no_markup() -> None:
    message = parse(read("flanker/long-links.eml"))
    assert message.text
    assert "<a " not in message.text and "<div" not in message.text
    assert "THis is very long url" in message.text


@needs_emails
def test_charsets_and_encoded_headers_are_decoded() -> None:
    czech = parse(read("django-helpdesk/quoted_printable.eml"))
    assert czech.subject == "Český test"
    assert "českých" in czech.text
    russian = parse(read("flanker/bilingual-simple.eml"))
    assert "Как ты поживаешь?" in russian.subject
    quoted_name = parse(read("flanker/encoded-header.eml"))
    assert quoted_name.sender_name == "Foo, Bar"
    assert quoted_name.sender == "foo.bar@example.com"


def test_html_is_text_without_script_or_style() -> None:
    html = (
        "<html><head><title>T</title><style>p{color:red}</style><script>alert('x')</script></head><body>"
        '<p>Printer on floor 3 is <b>down</b>.</p><p onclick="evil()">Since 9:00<br>Thanks</p>'
        "<blockquote>On Monday Bob wrote:<p>old text</p></blockquote></body></html>"
    )
    raw = (
        "From: Ann <ann@example.com>\r\nTo: help@example.com\r\nSubject: down\r\nMessage-ID: <h1@example.com>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html
    ).encode()
    message = parse(raw)
    assert "alert" not in message.text and "color" not in message.text and "evil" not in message.text
    assert message.text.startswith("Printer on floor 3 is down.\n\nSince 9:00\nThanks")
    assert "> old text" in message.text
    assert "old text" not in message.new_text
    assert "<script" not in message.html and "onclick" not in message.html
    assert "<b>down</b>" in message.html
    assert html_to_text("<p>a &amp; b</p>") == "a & b"


def test_auto_replies_are_recognised_by_their_headers_and_subjects() -> None:
    def kind(headers: str, subject: str = "Hello") -> str:
        raw = f"From: a@example.com\r\nSubject: {subject}\r\n{headers}\r\nbody\r\n".encode()
        return parse(raw).kind

    assert kind("Auto-Submitted: auto-replied\r\n") == AUTO_REPLY
    assert kind("Auto-Submitted: no\r\n") == NORMAL
    assert kind("X-Autoreply: yes\r\n") == AUTO_REPLY
    assert kind("X-Autorespond: yes\r\n") == AUTO_REPLY
    assert kind("Precedence: bulk\r\n") == AUTO_REPLY
    assert kind("Precedence: list\r\n") == NORMAL
    assert kind("", subject="Out of Office: back Monday") == AUTO_REPLY
    assert kind("", subject="Automatic reply: INC-000123") == AUTO_REPLY
    assert kind("", subject="Abwesenheitsnotiz") == AUTO_REPLY
    assert kind("", subject="Re: printer") == NORMAL


def test_broken_input_never_raises() -> None:
    for raw in [
        b"",
        b"\x00\xff\xfe garbage",
        b"Subject: =?bogus-charset?Q?caf=E9?=\r\nFrom: <<<>>>\r\nDate: not a date\r\n\r\nx",
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain; charset=nope\r\n\r\n\xe9",
        b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64",
        b"Content-Type: multipart/mixed; boundary=a\r\n\r\n"
        + b"--a\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n" * 3000,
    ]:
        message = parse(raw)
        assert isinstance(message.text, str)
    assert parse(b"Subject: =?bogus-charset?Q?caf=E9?=\r\n\r\nx").subject.startswith("caf")


def test_threading_headers_are_read_in_order() -> None:
    raw = (
        b"From: a@example.com\r\nMessage-ID: <3@x>\r\nIn-Reply-To: <2@x>\r\n"
        b"References: <1@x>\r\n <2@x>\r\nSubject: Re: [INC-000123] Printer\r\n\r\nok\r\n"
    )
    message = parse(raw)
    assert (message.message_id, message.in_reply_to, message.references) == ("<3@x>", "<2@x>", ("<1@x>", "<2@x>"))
    assert message.thread_ids == ("<2@x>", "<1@x>")


def test_references_in_subject() -> None:
    prefixes = ["INC", "REQ"]
    assert references_in_subject("Re: [INC-000123] Printer down", prefixes) == [("INC", "INC-000123")]
    assert references_in_subject("RE: req-45 and INC-7, again REQ-45", prefixes) == [
        ("REQ", "REQ-45"),
        ("INC", "INC-7"),
    ]
    assert references_in_subject("XINC-1 INC-12a PRB-000001", prefixes) == []
    assert references_in_subject("INC-1", []) == []
