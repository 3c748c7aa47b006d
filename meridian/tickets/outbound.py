"""Tickets by mail, outbound: what the caller is told, and when.

Three events (`core.notifications`), each subject carrying the reference in brackets (`[INC-000123] …`) so that a
reply finds its ticket by the subject as well as by the threading headers every notification has:

- `tickets.ticket.opened`: "We have your request INC-000123", what happens next, the link.
- `tickets.ticket.replied`: a public reply by staff (never an internal note, never the caller's own reply).
- `tickets.ticket.resolved`: the resolution notes, and how to confirm or reopen (reply to the mail, or the link).

**Who gets them, without double mails.** A caller with a login follows the ticket (`Watchers(auto=["caller",
...])`) and is told of every change by the watchers' mail (`core.record.watched`), which never goes to the one
who acted. So these events go to the caller who hears nothing from the watchers:

- a contact without a login (no follower can be made of them): opened, replied, resolved;
- a caller with a login only for `opened` when they opened the ticket themselves (the watchers skip the actor:
  the confirmation "we have your request" would be missing).

A caller with a login who stopped following chose to get no mails: they get none of these either. `notify` itself
refuses a recipient who may not read the ticket.

The functions below are the hooks the lifecycle and the services call; each takes what the hook is given:

- `opened(ticket, actor)`: from `services.after_save` when the ticket is created (`ticket.version == 1`); it sends
  once per ticket, whoever calls it again;
- `replied(ticket, comment, actor)`: from `services.comment_posted` (the conversation's `on_post`);
- `resolved(ticket, actor)`: in the resolve transition's `after_commit` (or `effects`).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from meridian.core import conversation, policy
from meridian.core.models import NotificationLog, Person
from meridian.core.notifications import Event, notify, register_event

OPENED = "tickets.ticket.opened"
REPLIED = "tickets.ticket.replied"
RESOLVED = "tickets.ticket.resolved"


def _caller(ticket: Any) -> Person | None:
    caller = getattr(ticket, "caller", None)
    return caller if caller is not None and caller.email else None


def _contact(ticket: Any) -> list[Person]:
    """The caller when the watchers cannot tell them: a contact without a login."""
    caller = _caller(ticket)
    return [caller] if caller is not None and caller.user_id is None else []


def _context(ticket: Any, **extra: Any) -> dict[str, Any]:
    caller = _caller(ticket)
    return {
        "ticket": ticket,
        "reference": ticket.reference,
        "kind": ticket._meta.verbose_name,
        "caller": caller,
        "has_login": caller is not None and caller.user_id is not None,
        "record_url": f"{settings.MERIDIAN_BASE_URL}{ticket.get_absolute_url()}",
        "reply_to": settings.MERIDIAN_MAIL_REPLY_TO,
        "reopen_days": int(settings.MERIDIAN_TICKET_REOPEN_DAYS),
        "autoclose_days": int(getattr(settings, "MERIDIAN_TICKET_AUTOCLOSE_DAYS", 0) or 0),
        **extra,
    }


def opened(ticket: Any, actor: Any) -> list[NotificationLog]:
    """Tell the caller their ticket is registered: a contact without a login, or the login who opened it. Once
    per ticket: a second call (another hook, a retry) sends nothing."""
    caller = _caller(ticket)
    if caller is None:
        return []
    by_themselves = caller.user_id is not None and caller.user_id == getattr(actor, "pk", None)
    if caller.user_id is not None and not by_themselves:
        return []  # a follower: the watchers' mail of the creation tells them
    already = NotificationLog.objects.filter(
        event=OPENED, record_type=ticket._meta.label_lower, record_id=str(ticket.pk)
    ).exists()
    if already:
        return []
    return notify(OPENED, ticket, context=_context(ticket), recipients=[caller])


def replied(ticket: Any, comment: Any, actor: Any) -> list[NotificationLog]:
    """Send a public reply written by staff to a caller without a login. Never an internal note; never a reply
    written by the system (a contact's own reply by mail, an automatic update) or by a customer."""
    if comment.visibility != conversation.PUBLIC or comment.is_deleted:
        return []
    if policy.is_system(actor) or not conversation.is_staff(actor) or getattr(actor, "is_customer", False):
        return []
    recipients = [p for p in _contact(ticket) if p.user_id != getattr(actor, "pk", None)]
    if not recipients:
        return []
    return notify(
        REPLIED, ticket, context=_context(ticket, comment=comment, author=_author(actor)), recipients=recipients
    )


def resolved(ticket: Any, actor: Any) -> list[NotificationLog]:
    """Tell a caller without a login that their ticket is resolved, with the notes and how to confirm or reopen."""
    recipients = _contact(ticket)
    if not recipients:
        return []
    return notify(RESOLVED, ticket, context=_context(ticket), recipients=recipients)


def _author(actor: Any) -> str:
    person = Person.objects.filter(user_id=getattr(actor, "pk", None)).first()
    return f"{person.first_name} of the service desk" if person is not None else "The service desk"


def _callers(ticket: Any) -> list[Person]:
    return _contact(ticket)


register_event(Event(OPENED, recipients=_callers, description="To the caller: their ticket is registered."))
register_event(Event(REPLIED, recipients=_callers, description="To the caller: a public reply by the service desk."))
register_event(
    Event(RESOLVED, recipients=_callers, description="To the caller: resolved, the notes, how to confirm or reopen.")
)
