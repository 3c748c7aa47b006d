"""Inbound mail, read: one RFC 5322 message (bytes, as an MTA, a Maildir or IMAP hands it over) into an
`InboundMessage` that the rest of Meridian can trust.

`parse(raw)` never raises. It reads the MIME tree with the standard library's compat32 parser (ten times faster than
`policy.default` on a message of thousands of parts) and decodes headers and bodies itself, so that a broken
charset, header or part costs only that piece. Limits (`MAX_*`) bound what one message can cost: the parts looked
at, their nesting, the attachments kept and their size; past them the message is read as far as it goes and
`truncated` says so.

Also here, pure functions with no database: the classification of machine-written mail (`kind`: auto-reply,
bounce, complaint, read receipt), the newly written text of a reply (`new_text`, quoted history stripped by
`mail-parser-reply` with a fallback for bottom-posted and unsupported-language quotes), and
`references_in_subject`. What needs settings or the database (loops, duplicates, the handler) is in
`meridian.integrations.inbound`.
"""

from __future__ import annotations

import contextlib
import email
import email.header
import email.message
import email.parser
import email.policy
import email.utils
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from typing import Any

import nh3

MAX_RAW_SIZE = 50 * 1024 * 1024  # bytes of one message read at all; the rest is cut (truncated)
MAX_PARTS = 500  # MIME parts looked at
MAX_DEPTH = 8  # nesting of multiparts and enclosed messages
MAX_ATTACHMENTS = 50
MAX_ATTACHMENT_SIZE = 25 * 1024 * 1024  # one attachment's decoded bytes; larger ones are left out (truncated)
MAX_TEXT = 1024 * 1024  # characters of body text kept

NORMAL, AUTO_REPLY, BOUNCE, COMPLAINT, RECEIPT = "normal", "auto_reply", "bounce", "complaint", "receipt"
KINDS = (NORMAL, AUTO_REPLY, BOUNCE, COMPLAINT, RECEIPT)


@dataclass(frozen=True)
class Attachment:
    """A file that came with the message: a named part, an inline image, or an enclosed message (.eml)."""

    filename: str
    content_type: str
    content: bytes
    inline: bool = False
    content_id: str = ""  # "<...>" of an inline image, which the HTML refers to as cid:...

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass(frozen=True)
class InboundMessage:
    """One message as Meridian understands it. Addresses are lower-cased; Message-IDs keep their angle brackets."""

    message_id: str = ""
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    subject: str = ""
    sender: str = ""  # the From address
    sender_name: str = ""
    reply_to: str = ""
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    date: datetime | None = None
    kind: str = NORMAL  # one of KINDS
    kind_reason: str = ""  # what gave the kind away, e.g. "Auto-Submitted: auto-replied"
    text: str = ""  # the body as plain text (text/plain preferred, else the HTML as text)
    html: str = ""  # the HTML body sanitised by nh3, or ""
    new_text: str = ""  # what the sender wrote this time: `text` without quoted history and signature
    attachments: tuple[Attachment, ...] = ()
    loop_marker: str = ""  # the X-Meridian-Loop header, set on mail Meridian sent
    size: int = 0  # bytes of the raw message
    truncated: bool = False  # a limit was reached: some parts, attachments or text were left out
    defects: tuple[str, ...] = field(default=(), compare=False)  # what was wrong with the MIME, for the log

    @property
    def is_automatic(self) -> bool:
        return self.kind != NORMAL

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """The Message-IDs this message answers: In-Reply-To first, then References from the newest."""
        seen: list[str] = []
        for mid in (self.in_reply_to, *reversed(self.references)):
            if mid and mid not in seen:
                seen.append(mid)
        return tuple(seen)


# --- headers -------------------------------------------------------------------------------------------------


def _decode_bytes(data: bytes, charset: str | None) -> str:
    for candidate in (charset, "utf-8", "cp1252"):
        if not candidate or candidate.lower() in ("unknown-8bit", "x-unknown", "8bit"):
            continue
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeDecodeError, ValueError):
            continue
    return data.decode("latin-1")


def _decode_header(value: Any) -> str:
    """A header's text, encoded words decoded, folded lines joined; whatever is broken is replaced, never raised."""
    if value is None:
        return ""
    try:
        chunks = email.header.decode_header(value)
        try:
            text = str(email.header.make_header(chunks))
        except (LookupError, UnicodeError, ValueError, TypeError):
            text = "".join(
                _decode_bytes(chunk, charset) if isinstance(chunk, bytes) else chunk for chunk, charset in chunks
            )
    except Exception:  # noqa: BLE001 - a header is never worth a crash
        text = str(value)
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return " ".join(_no_controls(text).split())


CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _no_controls(text: str) -> str:
    """Text without NUL and other control characters (PostgreSQL refuses NUL in text; none is meant in mail)."""
    return CONTROLS.sub("", text)


def _raw_header(msg: email.message.Message, name: str) -> str:
    """The header as sent (encoded words left alone), for address and Message-ID parsing."""
    value = msg.get(name)
    if value is None:
        return ""
    if isinstance(value, email.header.Header):
        return "".join(_decode_bytes(c, s) if isinstance(c, bytes) else c for c, s in email.header.decode_header(value))
    return str(value)


def _addresses(msg: email.message.Message, name: str) -> list[tuple[str, str]]:
    """(name, address) pairs of an address header; names decoded, addresses lower-cased."""
    values = [_raw_header(msg, name)] if msg.get(name) is not None else []
    out = []
    try:
        pairs = email.utils.getaddresses(values)
    except Exception:  # noqa: BLE001
        pairs = []
    for display, address in pairs:
        address = _decode_header(address).strip().strip("<>").lower()
        if address:
            out.append((_decode_header(display), address))
    return out


MESSAGE_ID = re.compile(r"<[^<>\s]+>")


def _message_ids(value: str) -> list[str]:
    found = MESSAGE_ID.findall(value)
    if not found and value.strip() and " " not in value.strip():
        found = [f"<{value.strip().strip('<>')}>"]  # a bare id without its brackets
    return found


def _date(msg: email.message.Message) -> datetime | None:
    value = _raw_header(msg, "Date")
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed if parsed.tzinfo is not None else None


# --- classification ------------------------------------------------------------------------------------------

BOUNCE_SENDERS = re.compile(r"^(mailer-daemon|mail-daemon|mailerdaemon)@", re.I)
AUTO_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response|antwort)|auto:|out of (the )?office|ooo\b|abwesenheit|"
    r"r[ée]ponse automatique|respuesta autom[áa]tica|risposta automatica|automatisch antwoord|"
    r"(on )?vacation|away from (the|my) office|i am (currently )?out of)",
    re.I,
)
BOUNCE_SUBJECT = re.compile(
    r"^\s*(undeliver(able|ed)|delivery (status notification|failure|has failed)|returned mail|"
    r"mail delivery failed|failure notice|delayed mail)",
    re.I,
)
REPORT_KINDS = {
    "delivery-status": BOUNCE,
    "feedback-report": COMPLAINT,
    "disposition-notification": RECEIPT,
}
PART_KINDS = {
    "message/delivery-status": BOUNCE,
    "message/global-delivery-status": BOUNCE,
    "message/feedback-report": COMPLAINT,
    "message/disposition-notification": RECEIPT,
    "message/global-disposition-notification": RECEIPT,
}


def classify(msg: email.message.Message, content_types: Iterable[str], sender: str, subject: str) -> tuple[str, str]:
    """(kind, reason): whether a machine wrote this message, and what gave it away.

    Reports first (RFC 6522 multipart/report: a DSN, RFC 3464, is a bounce; ARF, RFC 5965, a complaint; an MDN,
    RFC 8098, a receipt), then a bounce's sender or subject, then RFC 3834 auto-replies and their older
    markers. `Precedence: list` alone is not automatic: a person may write through a mailing list."""
    main_type = msg.get_content_type()
    if main_type == "multipart/report":
        param = msg.get_param("report-type") or ""
        report_type = (email.utils.collapse_rfc2231_value(param) if isinstance(param, tuple) else str(param)).lower()
        report_type = report_type.strip()
        if report_type in REPORT_KINDS:
            return REPORT_KINDS[report_type], f"multipart/report; report-type={report_type}"
    for content_type in content_types:
        if content_type in PART_KINDS:
            return PART_KINDS[content_type], f"a {content_type} part"
    if BOUNCE_SENDERS.match(sender):
        return BOUNCE, f"sent by {sender.split('@')[0]}"
    if sender.startswith("postmaster@") and BOUNCE_SUBJECT.match(subject):
        return BOUNCE, "sent by postmaster with a bounce's subject"
    if msg.get("X-Failed-Recipients"):
        return BOUNCE, "X-Failed-Recipients"
    auto_submitted = _decode_header(msg.get("Auto-Submitted")).lower()
    if auto_submitted and auto_submitted.split(";")[0].strip() != "no":
        if BOUNCE_SUBJECT.match(subject):
            return BOUNCE, f"Auto-Submitted: {auto_submitted} with a bounce's subject"
        return AUTO_REPLY, f"Auto-Submitted: {auto_submitted}"
    for header in ("X-Autoreply", "X-Autorespond", "X-Autorespond-From", "X-AutoReply-From", "X-Mail-Autoreply"):
        if msg.get(header) is not None:
            return AUTO_REPLY, header
    auto_generated = _decode_header(msg.get("X-Autogenerated")).lower()
    if auto_generated in ("reply", "forward", "group"):
        return AUTO_REPLY, f"X-Autogenerated: {auto_generated}"
    suppress = _decode_header(msg.get("X-Auto-Response-Suppress")).lower()
    if "oof" in suppress and "all" not in suppress and AUTO_SUBJECT.match(subject):
        return AUTO_REPLY, "an out-of-office subject from Exchange"
    precedence = _decode_header(msg.get("Precedence")).lower()
    if precedence in ("bulk", "junk", "auto_reply"):
        return AUTO_REPLY, f"Precedence: {precedence}"
    if AUTO_SUBJECT.match(subject):
        return AUTO_REPLY, "an auto-reply's subject"
    return NORMAL, ""


# --- HTML ---------------------------------------------------------------------------------------------------

BLOCK_TAGS = {
    "p", "div", "br", "tr", "li", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "hr",
    "blockquote", "section", "article", "header", "footer", "dl", "dt", "dd", "address", "center",
}  # fmt: skip
SKIPPED_TAGS = {"script", "style", "head", "title", "template", "noscript", "object", "iframe", "svg", "math"}


class _HTMLText(HTMLParser):
    """HTML as readable text: blocks on lines of their own, blockquotes quoted with "> ", links with their
    address, nothing of scripts, styles and the head. Only text is produced, so nothing in it can run."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.line: list[str] = []
        self.quote = 0
        self.skip = 0
        self.pre = 0
        self.href: list[str] = []

    def _break(self) -> None:
        text = "".join(self.line)
        text = text if self.pre else " ".join(text.split())
        prefix = "> " * self.quote
        self.lines.append((prefix + text).rstrip() if text or self.quote else "")
        self.line = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIPPED_TAGS:
            self.skip += 1
        elif tag in BLOCK_TAGS:
            self._break()
        if tag == "blockquote":
            self.quote += 1
        elif tag == "pre":
            self.pre += 1
        elif tag == "a":
            self.href.append(dict(attrs).get("href") or "")
        elif tag in ("td", "th"):
            self.line.append(" ")
        elif tag == "img" and not self.skip:
            alt = dict(attrs).get("alt")
            if alt:
                self.line.append(f"[{alt}]")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "hr", "p", "div"):
            self._break()
        elif tag == "img":
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIPPED_TAGS:
            self.skip = max(0, self.skip - 1)
        elif tag in BLOCK_TAGS:
            self._break()
        if tag == "blockquote":
            self.quote = max(0, self.quote - 1)
        elif tag == "pre":
            self.pre = max(0, self.pre - 1)
        elif tag == "a" and self.href:
            href = self.href.pop()
            text = "".join(self.line)
            if href.startswith(("http://", "https://")) and href not in text:
                self.line.append(f" <{href}>")

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.pre:
            for i, piece in enumerate(data.split("\n")):
                if i:
                    self._break()
                self.line.append(piece)
        else:
            self.line.append(data)

    def text(self) -> str:
        self._break()
        out: list[str] = []
        for line in self.lines:
            if line or (out and out[-1]):
                out.append(line)
        return "\n".join(out).strip()


def html_to_text(html: str) -> str:
    """Readable plain text of an HTML body (never raises; no markup and no script survive)."""
    parser = _HTMLText()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # noqa: BLE001 - HTMLParser is lenient, but a crash must not lose the message
        return " ".join(nh3.clean(html, tags=set()).split())
    return parser.text()


def sanitise_html(html: str) -> str:
    """The HTML body with nh3's safe defaults: no script, style, event handler or javascript: URL."""
    try:
        return nh3.clean(html)
    except Exception:  # noqa: BLE001
        return ""


# --- the reply's new text ------------------------------------------------------------------------------------

MAX_REPLY_INPUT = 100_000  # characters of a body searched for the newest reply
MAX_REPLY_LINE = 300  # characters of each line the reply parser sees
REPLY_LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "sv", "da", "pl", "cs"]
QUOTE_HEADER_END = re.compile(r"(:|wrote|schrieb|a écrit|написал|escribió)\s*$", re.I)


ATTRIBUTION_START = re.compile(r"^\s*(on|am|le|el|il|op|den|dne|w dniu|\d|\S+@|\"?[^\s@]+ [^\s@]+ <)", re.I)


ON_WROTE = re.compile(r"^[-\s]*(on|am|le|el) .{5,300}(wrote|schrieb|a écrit|escribió):\s*$", re.I)


def _strip_quotes(text: str) -> str:
    """Fallback: drop `>` quoted blocks and the attribution just above each ("On … wrote:" in any language: at
    most three lines ending with a colon, from one that starts like an attribution or a date), wherever they are,
    so bottom-posting too."""
    lines = text.splitlines()
    keep: list[str] = []
    i = 0
    while i < len(lines):
        if not lines[i].lstrip().startswith(">"):
            keep.append(lines[i])
            i += 1
            continue
        end = len(keep)
        while end > 0 and not keep[end - 1].strip():
            end -= 1
        if end and QUOTE_HEADER_END.search(keep[end - 1].strip()):
            start = end - 1
            for k in range(end - 1, max(-1, end - 4), -1):
                if not keep[k].strip():
                    break
                if ATTRIBUTION_START.match(keep[k]):
                    start = k
            del keep[start:]
        while i < len(lines) and (lines[i].lstrip().startswith(">") or not lines[i].strip()):
            i += 1
    # Yahoo's "--- On …, X wrote:" above the unquoted history: cut there, if something was written above it
    for k, line in enumerate(keep):
        if k and ON_WROTE.match(line) and "\n".join(keep[:k]).strip():
            del keep[k:]
            break
    return "\n".join(keep).strip()


def reply_text(text: str) -> str:
    """What the sender wrote this time: `mail-parser-reply` splits the message at the quoted mail client headers
    (many languages, Outlook's separators) and takes the newest part without its signature; `_strip_quotes`
    then removes what it left quoted (bottom-posting, a client header in an unsupported language)."""
    text = text.strip()
    if not text:
        return ""
    lines = text[:MAX_REPLY_INPUT].split("\n")
    # the library's English header pattern takes time growing faster than the square of a line's length: it
    # reads the lines cut short, and its newest reply (a prefix of the text) is mapped back by its line count
    short = [line[:MAX_REPLY_LINE] for line in lines]
    try:
        from mailparser_reply import EmailReplyParser

        reply = EmailReplyParser(languages=REPLY_LANGUAGES).read("\n".join(short))
        newest = reply.replies[0].body if reply.replies else text
        if newest and short != lines:
            newest = "\n".join(lines[: len(newest.split("\n"))])
    except Exception:  # noqa: BLE001 - a library regex failing on odd text must not lose the text
        newest = text
    stripped = _strip_quotes(newest)
    return stripped or newest.strip() or text.strip()


# --- references ----------------------------------------------------------------------------------------------


def references_in_subject(subject: str, prefixes: Iterable[str]) -> list[tuple[str, str]]:
    """The record references in a subject, in order, each once: (prefix, reference), e.g. ("INC", "INC-000123")
    for "Re: [INC-000123] Printer down". Only the given prefixes count, with digits after the hyphen, as a whole
    word ("XINC-1" and "INC-12a" are not references); case-insensitive, returned in capitals."""
    wanted = sorted({p.upper() for p in prefixes if p}, key=len, reverse=True)
    if not wanted or not subject:
        return []
    pattern = re.compile(r"(?<![A-Za-z0-9])(" + "|".join(map(re.escape, wanted)) + r")-(\d+)(?![A-Za-z0-9])", re.I)
    found: list[tuple[str, str]] = []
    for match in pattern.finditer(subject):
        item = (match.group(1).upper(), f"{match.group(1).upper()}-{match.group(2)}")
        if item not in found:
            found.append(item)
    return found


# --- the MIME tree -------------------------------------------------------------------------------------------


@dataclass
class _Walk:
    parts: int = 0
    truncated: bool = False
    content_types: list[str] = field(default_factory=list)
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    text_size: int = 0


def _payload(part: email.message.Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001
        data = None
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    return b""


def _filename(part: email.message.Message) -> str:
    name: Any = None
    with contextlib.suppress(Exception):
        name = part.get_filename()
    if name is None:
        with contextlib.suppress(Exception):
            name = part.get_param("name")
    if isinstance(name, tuple):  # RFC 2231 without decoding
        name = email.utils.collapse_rfc2231_value(name)
    name = _decode_header(name) if name else ""
    name = name.replace("/", "_").replace("\\", "_").replace("\x00", "").strip(". ")
    return name[:255]


def _walk(part: email.message.Message, state: _Walk, depth: int) -> None:
    if state.parts >= MAX_PARTS or depth > MAX_DEPTH:
        state.truncated = True
        return
    state.parts += 1
    try:
        content_type = part.get_content_type()
    except Exception:  # noqa: BLE001
        content_type = "text/plain"
    state.content_types.append(content_type)
    disposition = (part.get_content_disposition() or "") if hasattr(part, "get_content_disposition") else ""

    if content_type.startswith("message/") and content_type not in ("message/rfc822", "message/global"):
        return  # a delivery-status or feedback report's fields, an external body: not text, not a file
    if content_type in ("message/rfc822", "message/global"):
        inner = part.get_payload()
        enclosed = inner[0] if isinstance(inner, list) and inner else None
        if isinstance(enclosed, email.message.Message):
            _keep_enclosed(enclosed, state)
        return
    if part.is_multipart():
        children = part.get_payload()
        if not isinstance(children, list):
            return
        for child in children:
            if isinstance(child, email.message.Message):
                _walk(child, state, depth + 1)
        return

    filename = _filename(part)
    is_body_text = content_type in ("text/plain", "text/html") and disposition != "attachment" and not filename
    if is_body_text:
        data = _payload(part)
        text = _no_controls(_decode_bytes(data, part.get_content_charset()).replace("\r\n", "\n"))
        if state.text_size + len(text) > MAX_TEXT:
            text = text[: max(0, MAX_TEXT - state.text_size)]
            state.truncated = True
        state.text_size += len(text)
        (state.plain if content_type == "text/plain" else state.html).append(text)
        return
    if content_type.startswith("multipart/"):
        # a multipart whose boundary is never found: its body, as it stands, is the best text there is
        if state.plain == [] and state.html == []:
            text = _no_controls(_decode_bytes(_payload(part), part.get_content_charset()))[:MAX_TEXT]
            state.plain.append(text.strip())
        return
    _keep(part, content_type, filename, disposition, state)


def _keep(part: email.message.Message, content_type: str, filename: str, disposition: str, state: _Walk) -> None:
    if len(state.attachments) >= MAX_ATTACHMENTS:
        state.truncated = True
        return
    data = _payload(part)
    if len(data) > MAX_ATTACHMENT_SIZE:
        state.truncated = True
        return
    content_id = _decode_header(part.get("Content-ID"))
    if not filename:
        extension = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "text/calendar": "ics"}
        filename = f"part-{state.parts}.{extension.get(content_type, 'bin')}"
    state.attachments.append(
        Attachment(
            filename=filename,
            content_type=content_type,
            content=data,
            inline=disposition == "inline" or (bool(content_id) and disposition != "attachment"),
            content_id=content_id,
        )
    )


def _keep_enclosed(enclosed: email.message.Message, state: _Walk) -> None:
    if len(state.attachments) >= MAX_ATTACHMENTS:
        state.truncated = True
        return
    try:
        data = enclosed.as_bytes()
    except Exception:  # noqa: BLE001
        try:
            data = enclosed.as_string().encode("utf-8", "replace")
        except Exception:  # noqa: BLE001
            return
    if len(data) > MAX_ATTACHMENT_SIZE:
        state.truncated = True
        return
    subject = _decode_header(enclosed.get("Subject")) or "message"
    name = re.sub(r"[^\w\- .,()]+", "_", subject)[:100].strip(" ._") or "message"
    state.attachments.append(Attachment(filename=f"{name}.eml", content_type="message/rfc822", content=data))


def _parse_tree(raw: bytes) -> tuple[email.message.Message, list[str]]:
    defects: list[str] = []
    try:
        return email.message_from_bytes(raw, policy=email.policy.compat32), defects
    except (RecursionError, Exception) as exc:  # noqa: BLE001 - fall back to the headers and the text
        defects.append(f"{type(exc).__name__} while reading the MIME structure")
    head, _, body = raw.partition(b"\n\n")
    try:
        msg = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(head + b"\n\n")
    except Exception:  # noqa: BLE001
        msg = email.message.Message()
    msg.set_payload(body.decode("utf-8", "replace"))
    del msg["Content-Type"]
    del msg["Content-Transfer-Encoding"]
    return msg, defects


def parse(raw: bytes) -> InboundMessage:
    """Read one message. Never raises: broken MIME gives a best-effort message, anything beyond the limits is
    left out (`truncated`), and an input that is not mail at all gives an empty message with `defects`."""
    try:
        return _parse(raw)
    except Exception as exc:  # noqa: BLE001 - the last resort: the caller still gets a message to log
        return InboundMessage(size=len(raw or b""), defects=(f"{type(exc).__name__}: {exc}"[:300],), truncated=True)


def _parse(raw: bytes) -> InboundMessage:
    size = len(raw)
    truncated = size > MAX_RAW_SIZE
    msg, defects = _parse_tree(raw[:MAX_RAW_SIZE])
    defects += [type(d).__name__ for d in (getattr(msg, "defects", None) or [])][:20]

    senders = _addresses(msg, "From") or _addresses(msg, "Sender")
    sender_name, sender = senders[0] if senders else ("", "")
    reply_to = _addresses(msg, "Reply-To")
    subject = _decode_header(msg.get("Subject"))[:1000]

    state = _Walk()
    try:
        _walk(msg, state, 0)
    except RecursionError:
        state.truncated = True
        defects.append("RecursionError while walking the parts")
    kind, reason = classify(msg, state.content_types, sender, subject)

    html_source = "\n".join(state.html)
    if state.plain:
        text = "\n\n".join(t.strip("\n") for t in state.plain).replace("\r\n", "\n").strip()
    else:
        text = html_to_text(html_source) if html_source else ""
    new_text = reply_text(text) if kind == NORMAL else ""
    references = tuple(_message_ids(_no_controls(_raw_header(msg, "References"))))[-50:]
    in_reply_to = next(iter(_message_ids(_no_controls(_raw_header(msg, "In-Reply-To")))), "")
    message_ids = _message_ids(_no_controls(_raw_header(msg, "Message-ID")))
    return InboundMessage(
        message_id=message_ids[0][:255] if message_ids else "",
        in_reply_to=in_reply_to[:255],
        references=references,
        subject=subject,
        sender=sender[:254],
        sender_name=sender_name[:200],
        reply_to=reply_to[0][1] if reply_to else "",
        to=tuple(a for _, a in _addresses(msg, "To"))[:100],
        cc=tuple(a for _, a in _addresses(msg, "Cc"))[:100],
        date=_date(msg),
        kind=kind,
        kind_reason=reason,
        text=text,
        html=sanitise_html(html_source) if html_source else "",
        new_text=new_text,
        attachments=tuple(state.attachments),
        loop_marker=_decode_header(msg.get("X-Meridian-Loop")),
        size=size,
        truncated=truncated or state.truncated or any("while reading" in d for d in defects),
        defects=tuple(defects),
    )
