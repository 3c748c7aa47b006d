"""Tickets by mail, inbound: the handler of `meridian mail ingest` (`integrations.inbound.register_handler`), run in
the ingest's transaction for every message that is not machine mail, a duplicate or a loop.

- **A reply**: the ticket is the one its In-Reply-To / References name (`thread_of`: our Message-IDs and thread
  ids), else the first INC-/REQ- reference of an existing ticket in its subject. The sender must be allowed on it:
  a login who may read it, or an active person of the ticket's organisation. Their new text (quoted history and
  signature left out) becomes a comment through `core.conversation.post_comment`, with the mail's files: public
  for a customer; an **internal note** for staff (a mail cannot say which, and staff answer notifications about
  internal notes too: nothing of theirs is shown to the customer by mistake). A contact without a login writes
  through the system actor, and the comment names them. A file the attachment rules refuse is left out and the
  comment says which and why; the text is never lost for a file.
  - on a **resolved** ticket the reply reopens it (the customer answers "still broken" to the resolution mail);
    once the reopen window is over, or on a closed, cancelled or rejected ticket, it opens a **new incident**
    that "relates to" the old one instead.
  - a sender not allowed on the ticket adds nothing to it: the mail is refused (logged with the reason), never
    turned into a ticket of theirs (it would carry another customer's reference and thread).
- **A new message** opens an incident (channel "email") for a known sender: an active person with that address
  (case-insensitive); organisation and caller from that person, title from the subject (without Re:/Fwd:), the
  description the message's text, the files attached. Created through `core.services.create_record` (priority,
  agreement, clocks, audit, watchers), by the sender's login when it may add tickets, else by the system actor.
- **Unknown senders** follow `MERIDIAN_MAIL_UNKNOWN_SENDERS`: "refuse" (the default) logs them as refused;
  "create" makes them a contact of the one active customer organisation whose email address has the sender's
  domain, and goes on as for a known sender; with no such organisation, or more than one, they are refused.
"""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile

from meridian.core import attachments, conversation, policy, registry
from meridian.core import services as core_services
from meridian.core.choices import OrganisationKind, PersonStatus
from meridian.core.models import Organisation, Person, User
from meridian.core.registry import ADD, VIEW
from meridian.integrations.choices import InboundMailOutcome
from meridian.integrations.inbound import Outcome, register_handler, thread_of
from meridian.integrations.mail import InboundMessage, references_in_subject
from meridian.integrations.models import InboundMail
from meridian.tickets.choices import FINAL, Channel, Status
from meridian.tickets.models import Incident, ServiceRequest

TICKET_MODELS: dict[str, Any] = {"tickets.incident": Incident, "tickets.servicerequest": ServiceRequest}
PREFIXES = {"INC": Incident, "REQ": ServiceRequest}
# "Re:", "Fwd:", "AW:", "SV:", "[EXTERNAL]" ... at the start of a subject, repeated
SUBJECT_PREFIX = re.compile(r"^\s*((re|fwd?|aw|wg|sv|vs|tr|antw|rif|r)\s*(\[\d+\])?\s*:|\[external\])\s*", re.I)
BRACKETED_REFERENCE = re.compile(r"\[\s*(INC|REQ)-\d+\s*\]", re.I)
NO_SUBJECT = "(no subject)"
TITLE_MAX = 200


@dataclass(frozen=True)
class Sender:
    """Who wrote, as Meridian knows them: their person and the login that writes for them (theirs, or the system
    actor for a contact without one)."""

    person: Person
    actor: Any
    by_system: bool  # written by the system actor on the person's behalf


# --- who wrote ---------------------------------------------------------------------------------------------------


def people_of(address: str) -> list[Person]:
    """The active people with this address (case-insensitive), those with a login first."""
    if not address:
        return []
    found = Person.objects.filter(email__iexact=address, status=PersonStatus.ACTIVE).select_related("user")
    return sorted(found, key=lambda p: (p.user_id is None, p.pk))


def _login(person: Person) -> User | None:
    user = person.user
    return user if user is not None and user.is_active else None


def organisation_for_domain(address: str) -> Organisation | None:
    """The one active customer organisation whose email address has the sender's domain (None: none, or several)."""
    domain = address.rpartition("@")[2].lower()
    if not domain:
        return None
    found = list(
        Organisation.objects.filter(
            kind=OrganisationKind.CUSTOMER, active=True, email__iendswith=f"@{domain}"
        ).values_list("pk", flat=True)[:2]
    )
    return Organisation.objects.get(pk=found[0]) if len(found) == 1 else None


def _unknown_sender_contact(message: InboundMessage, organisation: Organisation | None = None) -> Person | None:
    """Under the "create" policy, a new contact for an unknown sender in the organisation of their domain (which
    must be `organisation` when one is given); None when the policy refuses them."""
    if str(settings.MERIDIAN_MAIL_UNKNOWN_SENDERS).lower() != "create":
        return None
    found = organisation_for_domain(message.sender)
    if found is None or (organisation is not None and found.pk != organisation.pk):
        return None
    local = message.sender.partition("@")[0]
    words = (message.sender_name or "").split()
    first, last = (" ".join(words[:-1]), words[-1]) if len(words) > 1 else (words[0] if words else local, "(by mail)")
    return core_services.create_record(
        Person,
        data={
            "first_name": first[:100],
            "last_name": last[:100],
            "email": message.sender,
            "organisation": found,
            "notes": f"Made from an inbound mail ({message.message_id or 'no Message-ID'}): the sender's domain "
            f"is {found}'s. Check the name.",
        },
        actor=core_services.get_system_actor(),
        reason="inbound mail from an unknown sender (MERIDIAN_MAIL_UNKNOWN_SENDERS=create)",
    )


def sender_on(ticket: Any, people: list[Person]) -> tuple[Sender | None, str]:
    """Who among these people may write on the ticket, and how; else (None, why not)."""
    reason = "no person with this address may see it"
    for person in people:
        user = _login(person)
        if user is not None and policy.can(user, VIEW, ticket):
            if conversation.PUBLIC in _visibilities(ticket, user):
                return Sender(person, user, by_system=False), ""
            reason = f"{user.get_username()} may read it but not reply to it"
            continue
        if person.organisation_id == ticket.organisation_id:
            return Sender(person, core_services.get_system_actor(), by_system=True), ""
    return None, reason


def _visibilities(ticket: Any, user: Any) -> list[str]:
    return conversation.declaration(registry.get(type(ticket))).visibilities(user, ticket)


def sender_for_new(people: list[Person]) -> tuple[Sender | None, str]:
    """Who opens a new ticket: the one organisation of these people (several organisations: ambiguous, refused)."""
    organisations = {p.organisation_id for p in people}
    if len(organisations) > 1:
        return None, "several people of different organisations have this address"
    person = people[0]
    user = _login(person)
    if user is not None and policy.can(user, ADD, Incident):
        return Sender(person, user, by_system=False), ""
    return Sender(person, core_services.get_system_actor(), by_system=True), ""


# --- files ---------------------------------------------------------------------------------------------------------


def _uploads(message: InboundMessage) -> list[UploadedFile]:
    files: list[UploadedFile] = []
    for number, item in enumerate(message.attachments, start=1):
        name = item.filename
        if not name:
            extension = mimetypes.guess_extension(item.content_type or "") or ".bin"
            name = f"attachment-{number}{extension}"
        files.append(
            SimpleUploadedFile(name, item.content, content_type=item.content_type or "application/octet-stream")
        )
    return files


def accepted_files(ticket_model: Any, message: InboundMessage) -> tuple[list[UploadedFile], list[str]]:
    """The mail's files the ticket's attachment rules accept, each checked on its own, and why each other one was
    left out."""
    declared = attachments.declaration(registry.get(ticket_model))
    accepted, refused = [], []
    for upload in _uploads(message):
        try:
            attachments.check(declared, [upload])
        except ValidationError as exc:
            refused.extend(exc.message_dict.get(attachments.FIELD, [str(exc)]))
            continue
        upload.seek(0)
        accepted.append(upload)
    if message.truncated:
        refused.append("Some parts of the mail were left out: it was larger than Meridian reads (too many parts).")
    return accepted, refused


def _refused_note(refused: list[str]) -> str:
    if not refused:
        return ""
    lines = "\n".join(f"- {reason}" for reason in refused)
    return f"\n\n---\nNot attached from the mail:\n{lines}"


# --- text -------------------------------------------------------------------------------------------------------


def clean_subject(subject: str) -> str:
    """The subject without Re:/Fwd: (repeated, any case, localised) and ticket references in brackets."""
    text = " ".join(BRACKETED_REFERENCE.sub(" ", subject or "").split())
    while True:
        stripped = SUBJECT_PREFIX.sub("", text, count=1)
        if stripped == text:
            break
        text = stripped
    return text.strip()


def _attribution(sender: Sender, message: InboundMessage) -> str:
    """What a comment written by the system for a contact says first: who wrote it."""
    if not sender.by_system:
        return ""
    return f"**{sender.person}** <{message.sender}> wrote by mail:\n\n"


def _reply_text(message: InboundMessage) -> str:
    text = (message.new_text or message.text or "").strip()
    return text or "(The mail had no text.)"


# --- finding the ticket -------------------------------------------------------------------------------------------


def _by_reference(reference: str) -> Any:
    prefix, _, number = reference.partition("-")
    model = PREFIXES.get(prefix.upper())
    if model is None:
        return None
    found = model.objects.filter(reference__iexact=reference).first()
    if found is None and number.isdigit():
        found = model.objects.filter(reference=f"{prefix.upper()}-{int(number):0{model.REFERENCE_WIDTH}d}").first()
    return found


def ticket_of(message: InboundMessage) -> tuple[Any, str]:
    """The ticket a message answers, or None; and, when it answers a Meridian mail about something that is not a
    ticket, why it is not taken."""
    thread = thread_of(message)
    if thread is not None:
        record_type, record_id = thread
        model = TICKET_MODELS.get(record_type)
        if model is None:
            return None, f"it answers a mail about {record_type} {record_id}, which takes no mail"
        found = model.objects.filter(pk=record_id).first() if record_id.isdigit() else None
        if found is not None:
            return found, ""
    for _prefix, reference in references_in_subject(message.subject, PREFIXES):
        found = _by_reference(reference)
        if found is not None:
            return found, ""
    return None, ""


# --- what is done -------------------------------------------------------------------------------------------------


def _post(ticket: Any, sender: Sender, message: InboundMessage, text: str, *, internal: bool) -> Any:
    """The reply as a comment with the files the rules accept; the text is kept whatever becomes of the files."""
    files, refused = accepted_files(type(ticket), message)
    visibility = conversation.INTERNAL if internal else conversation.PUBLIC
    body = f"{_attribution(sender, message)}{text}"[: conversation.MAX_BODY - 2000]
    try:
        return conversation.post_comment(
            ticket, actor=sender.actor, body=body + _refused_note(refused), visibility=visibility, files=files
        )
    except ValidationError as exc:
        problems = exc.message_dict
        if set(problems) != {attachments.FIELD}:
            raise
        # the files had no room on the ticket (its total size): the text goes in without them
        refused += problems[attachments.FIELD]
        return conversation.post_comment(
            ticket, actor=sender.actor, body=body + _refused_note(refused), visibility=visibility
        )


def open_incident(sender: Sender, message: InboundMessage, *, follows: Any = None) -> Incident:
    """A new incident from the mail, for the sender's person; `follows`: the ticket it follows up (linked)."""
    title = clean_subject(message.subject) or _first_line(message.text) or NO_SUBJECT
    text = (message.text or "").strip()
    if follows is not None:
        text = f"{_reply_text(message)}\n\n(A reply to {follows.reference}, which was {follows.get_status_display()}.)"
    files, refused = accepted_files(Incident, message)
    incident = core_services.create_record(
        Incident,
        data={
            "title": title[:TITLE_MAX],
            "description": f"{_attribution(sender, message)}{text}{_refused_note(refused)}",
            "organisation": sender.person.organisation,
            "caller": sender.person,
            "channel": Channel.EMAIL,
        },
        actor=sender.actor,
        reason=f"mail {message.message_id}"[:500] if message.message_id else "mail",
    )
    system = core_services.get_system_actor()
    if files:
        try:
            attachments.attach_files(incident, files=files, actor=system, reason="the files of the mail")
        except ValidationError as exc:
            note = _refused_note(exc.message_dict.get(attachments.FIELD, [str(exc)]))
            conversation.post_comment(incident, actor=system, body=note.strip(), visibility=conversation.INTERNAL)
    if follows is not None:
        core_services.link_records(
            incident,
            link_type="relates_to",
            other_type=follows._meta.label_lower,
            other_id=follows.pk,
            actor=system,
        )
    return incident


def _first_line(text: str) -> str:
    return next((line.strip() for line in (text or "").splitlines() if line.strip()), "")


def _may_reopen(ticket: Any) -> Any:
    """The ticket's reopen transition when it may be taken now (within the reopen window), else None."""
    lifecycle = registry.get(type(ticket)).lifecycle
    transition = lifecycle.get("reopen") if lifecycle else None
    if transition is None or ticket.status not in transition.source:
        return None
    if transition.guard is not None and transition.guard(ticket, None):
        return None
    return transition


def _reopen(ticket: Any, transition: Any, sender: Sender, message: InboundMessage) -> None:
    """Reopen a resolved ticket for its customer's reply (by their login when it may, else by the system)."""
    actor = sender.actor if core_services.may_transition(transition, sender.actor) else core_services.get_system_actor()
    current = type(ticket).objects.get(pk=ticket.pk)
    core_services.transition(
        current,
        "reopen",
        actor=actor,
        expected_version=current.version,
        reason=f"{sender.person} <{message.sender}> replied by mail to the resolution.",
    )


def handle(message: InboundMessage, mail: InboundMail) -> Outcome:
    """The tickets' mail handler (see the module's docstring)."""
    ticket, why_not = ticket_of(message)
    if why_not:
        return Outcome(InboundMailOutcome.IGNORED, reason=why_not)
    people = people_of(message.sender)
    if ticket is not None:
        return _reply(ticket, people, message)
    if not people:
        contact = _unknown_sender_contact(message)
        if contact is None:
            return Outcome(InboundMailOutcome.REFUSED_UNKNOWN_SENDER, reason=_unknown_reason(message))
        people = [contact]
    sender, refusal = sender_for_new(people)
    if sender is None:
        return Outcome(InboundMailOutcome.IGNORED, reason=refusal)
    incident = open_incident(sender, message)
    return Outcome(InboundMailOutcome.CREATED, record=incident, reason=f"opened {incident.reference}")


def _unknown_reason(message: InboundMessage) -> str:
    policy_name = str(settings.MERIDIAN_MAIL_UNKNOWN_SENDERS).lower()
    if policy_name == "create":
        return f"no person has the address {message.sender}, and no one customer organisation has its domain"
    return f"no person has the address {message.sender} (MERIDIAN_MAIL_UNKNOWN_SENDERS={policy_name})"


def _reply(ticket: Any, people: list[Person], message: InboundMessage) -> Outcome:
    if not people:
        contact = _unknown_sender_contact(message, organisation=ticket.organisation)
        if contact is None:
            return Outcome(
                InboundMailOutcome.REFUSED_UNKNOWN_SENDER,
                reason=f"{_unknown_reason(message)}; it names {ticket.reference}",
            )
        people = [contact]
    sender, refusal = sender_on(ticket, people)
    if sender is None:
        return Outcome(InboundMailOutcome.IGNORED, reason=f"not added to {ticket.reference}: {refusal}")
    staff = not sender.by_system and conversation.INTERNAL in _visibilities(ticket, sender.actor)
    reopen = _may_reopen(ticket) if ticket.status == Status.RESOLVED else None
    if not staff and (ticket.status in FINAL or (ticket.status == Status.RESOLVED and reopen is None)):
        opener, _ = sender_for_new([sender.person])
        assert opener is not None
        incident = open_incident(opener, message, follows=ticket)
        return Outcome(
            InboundMailOutcome.CREATED,
            record=incident,
            reason=f"a reply to {ticket.reference} ({ticket.get_status_display().lower()}): opened "
            f"{incident.reference}, related to it",
        )
    comment = _post(ticket, sender, message, _reply_text(message), internal=staff)
    if not staff and reopen is not None:
        _reopen(ticket, reopen, sender, message)
    kind = "internal note" if staff else "public reply"
    return Outcome(
        InboundMailOutcome.REPLIED,
        record=ticket,
        reason=f"{kind} {comment.pk} on {ticket.reference}" + (", reopened it" if not staff and reopen else ""),
    )


register_handler(handle)
