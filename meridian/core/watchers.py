"""Watchers: people who follow a record and are told by mail what happens to it, declared once in its `RecordType`:

    register(RecordType(model=Organisation, ..., watchers=Watchers()))
    register(RecordType(model=Team, ..., watchers=Watchers(auto=["lead", "escalation_contact"])))

One declaration gives a **Follow / Following** button on the record's page (with the number of followers and, for
staff, who follows and why), `POST/DELETE /api/v1/<app>/<plural>/{id}/follow/` and `GET .../watchers/`, the list of
followed records on the person's preferences page, and a mail to each follower about every audit event of the
record, with a signed link that unfollows without logging in.

- **Who may follow**: whoever may read the record (its policy and tenancy; a record the reader may not see is 404
  on every route) and has a person with a login. Following is not a change of the record: no version, no audit
  event (it would itself be mailed to every follower); the `Watch` row keeps who follows, why, since when and who
  made it.
- **Auto-follow**: `auto` names fields of the record holding a `Person` (a team's `lead`): whenever an audit event
  of the record sets such a field (a create, an update, a lifecycle or record action, on any channel), that person
  follows with the field's name as the reason, if they have a login and may read the record (a contact without a
  login is not made a follower: they could neither read the record nor unfollow it). They keep following when the
  field changes again, until they unfollow.
- **Notifications**: `event_recorded` runs for every audit event (`audit.record_event` calls it, so no write path
  can forget it), in the event's transaction. Each follower except the event's actor gets one mail
  (`core.record.watched`, queued in `NotificationLog`, sent after commit), written for them: the event is read
  through `history.readable_history` as that follower, and a follower for whom nothing of it is readable (a custom
  field hidden from customers) gets nothing. A customer user never gets an event carrying an internal comment
  (`changes["comment"]["visibility"] == "internal"`), whatever the history says; the people a comment mentions
  (`changes["comment"]["mentions"]`, user ids) are told by the mention and not again here; a follower who may no
  longer read the record (moved to another organisation, login suspended) gets nothing. When the record is
  deleted, its followers are told and their watches removed.
- **Unfollow from the mail**: the mail carries `unfollow_url(watch)`, a link signed with `django.core.signing`
  (salt `TOKEN_SALT`) that names the watch, its person and its record; it has no expiry (an old mail must still
  let one stop the mails; the link can do nothing else, and it dies with the watch: following again makes a new
  one). The page it opens asks first (GET never unfollows: mail scanners fetch links) and unfollows on POST.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.core import signing
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import IntegrityError, models, transaction
from django.http import Http404
from django.urls import reverse

from meridian.core import conversation, policy, querysets, registry
from meridian.core.choices import AuditAction
from meridian.core.models import Person, Watch
from meridian.core.notifications import Event, notify, register_event
from meridian.core.registry import VIEW

if TYPE_CHECKING:
    from meridian.core.models import AuditEvent, Record

EVENT = "core.record.watched"  # the notification event of every mail to a follower
MANUAL = "manual"  # the reason of a follow by the button or the API
TOKEN_SALT = "meridian.watchers.unfollow"  # noqa: S105 - a signing salt, not a secret


@dataclass(frozen=True)
class Watchers:
    """A record type's followers (`RecordType.watchers`). `auto`: fields of the record holding a `Person` whose
    person follows automatically whenever the field is set."""

    auto: Sequence[str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        object.__setattr__(self, "auto", tuple(self.auto))

    def check(self, record_type: registry.RecordType) -> None:
        """Refuse at start-up an `auto` that is not a foreign key to a person."""
        for name in self.auto:
            model_field = record_type.model._meta.get_field(name)
            if not (model_field.many_to_one and model_field.related_model is Person):
                raise ValueError(f"{record_type.label}: watchers auto {name!r} is not a foreign key to a person")


def declaration(record_type: registry.RecordType) -> Watchers:
    """The type's declaration; a type that did not opt in has no watchers (404 on every route)."""
    declared = getattr(record_type, "watchers", None)
    if declared is None:
        raise Http404("This kind of record has no followers.")
    return declared  # type: ignore[no-any-return]


def reason_label(record_type: registry.RecordType, reason: str) -> str:
    """How a page names why someone follows: "Follows" (by choice) or the auto field's label ("Lead")."""
    if reason == MANUAL:
        return "By choice"
    try:
        return str(getattr(record_type.model._meta.get_field(reason), "verbose_name", reason)).capitalize()
    except FieldDoesNotExist:  # a field since removed: its name
        return reason.replace("_", " ").capitalize()


# --- reading ----------------------------------------------------------------------------------------------------


def of(obj: models.Model) -> models.QuerySet[Watch]:
    """The watches of a record (one the caller has already looked up for the reader), oldest first."""
    return Watch.objects.filter(record_type=obj._meta.label_lower, record_id=obj.pk).order_by("created_at", "id")


def person_of(user: Any) -> Person | None:
    """The person of a login, or None (an anonymous visitor, the system actor)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return Person.objects.filter(user_id=user.pk).first()


def watch_of(obj: models.Model, user: Any) -> Watch | None:
    """The reader's own watch of a record, if they follow it."""
    if not getattr(user, "is_authenticated", False):
        return None
    return of(obj).filter(person__user_id=user.pk).first()


def may_see_followers(user: Any) -> bool:
    """Staff see who follows a record and why; a customer user sees only whether they follow it themselves."""
    return bool(policy.roles_of(user)) and not getattr(user, "is_customer", False)


def watchers_for(obj: models.Model, user: Any) -> list[Watch]:
    """The watches a reader may see: all of them for staff, their own for a customer user."""
    if not getattr(user, "is_authenticated", False):
        return []
    rows = of(obj).select_related("person__user")
    return list(rows if may_see_followers(user) else rows.filter(person__user_id=user.pk))


def followed_by(user: Any) -> list[tuple[Watch, Any, registry.RecordType]]:
    """The records a person follows and may still read, newest follow first: (watch, record, type). One query for
    the watches and one per record type."""
    person = person_of(user)
    if person is None:
        return []
    watches = list(Watch.objects.filter(person=person).order_by("-created_at", "-id"))
    by_type: dict[str, list[int]] = {}
    for watch in watches:
        by_type.setdefault(watch.record_type, []).append(watch.record_id)
    types = _types()
    found: dict[str, dict[Any, Any]] = {}
    for label, ids in by_type.items():
        rt = types.get(label)
        if rt is not None:
            found[label] = querysets.records_for(rt, user, annotate=False).in_bulk(ids)  # with their joins
    rows = []
    for watch in watches:
        record = found.get(watch.record_type, {}).get(watch.record_id)
        if record is not None:
            rows.append((watch, record, types[watch.record_type]))
    return rows


# --- following ----------------------------------------------------------------------------------------------------


def _require_view(obj: models.Model, user: Any) -> registry.RecordType:
    record_type = registry.get(type(obj))
    declaration(record_type)
    if not policy.can(user, VIEW, obj):
        raise Http404("No such record.")  # never a hint that the record exists
    return record_type


def follow(obj: Record, *, actor: Any) -> tuple[Watch, bool]:
    """The actor follows the record (which they must be able to read: 404 otherwise): (their watch, whether it is
    new). Following twice is no error: the first watch (and its reason) stays. Refused with a message on `person`
    when the login has no person (nobody to write to)."""
    _require_view(obj, actor)
    person = person_of(actor)
    if person is None:
        raise ValidationError({"person": "Your login has no person with an address: nobody to send the mails to."})
    existing = watch_of(obj, actor)
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            watch = Watch.objects.create(
                record_type=obj._meta.label_lower, record_id=obj.pk, person=person, reason=MANUAL, created_by=actor
            )
    except IntegrityError:  # a second click at the same moment: the first one's watch
        existing = watch_of(obj, actor)
        if existing is None:
            raise
        return existing, False
    return watch, True


def unfollow(obj: Record, *, actor: Any) -> bool:
    """The actor stops following the record (404 for a record they may not read); whether they followed it."""
    _require_view(obj, actor)
    deleted, _ = of(obj).filter(person__user_id=actor.pk).delete()
    return bool(deleted)


# --- the mail's link ----------------------------------------------------------------------------------------------


def token_for(watch: Watch) -> str:
    """A signed token naming the watch, its person and its record (no expiry: see the module's docstring)."""
    return signing.dumps(
        {"w": watch.pk, "p": watch.person_id, "t": watch.record_type, "r": watch.record_id}, salt=TOKEN_SALT
    )


def unfollow_url(watch: Watch) -> str:
    from django.conf import settings

    return f"{settings.MERIDIAN_BASE_URL}{reverse('watch_unfollow', args=[token_for(watch)])}"


@dataclass
class Unfollow:
    """What a valid unfollow link names: the watch (None once it is gone) and the record's name for its person."""

    watch: Watch | None
    record_name: str


def read_token(token: str) -> Unfollow:
    """The watch a link names. `signing.BadSignature` for a token that is not ours (tampered, truncated, of
    another purpose); a valid token whose watch is gone (unfollowed already) gives `watch=None`."""
    data = signing.loads(token, salt=TOKEN_SALT)
    if not isinstance(data, dict) or not {"w", "p", "t", "r"} <= set(data):
        raise signing.BadSignature("not an unfollow token")
    watch = (
        Watch.objects.select_related("person", "person__user")
        .filter(pk=data["w"], person_id=data["p"], record_type=data["t"], record_id=data["r"])
        .first()
    )
    name = "this record"
    if watch is not None:
        record = _record(watch)
        user = watch.person.user
        if record is not None and user is not None and policy.can(user, VIEW, record):
            name = policy.name_of(user, record)
    return Unfollow(watch, name)


def unfollow_by_token(token: str) -> Unfollow:
    """Remove the watch a valid link names (`signing.BadSignature` otherwise); nothing to do once it is gone."""
    found = read_token(token)
    if found.watch is not None:
        Watch.objects.filter(pk=found.watch.pk).delete()
    return found


def _types() -> dict[str, registry.RecordType]:
    """The types that opted in, by label (a watch's `record_type`)."""
    return {rt.label: rt for rt in registry.all_types() if getattr(rt, "watchers", None) is not None}


def _record(watch: Watch) -> Any:
    rt = next((rt for rt in registry.all_types() if rt.label == watch.record_type), None)
    return None if rt is None else rt.model._default_manager.filter(pk=watch.record_id).first()


# --- the audit hook: auto-follow and notifications ---------------------------------------------------------------


def _set_people(declared: Watchers, event: AuditEvent) -> dict[int, str]:
    """The people an event sets in the auto fields: person id -> the field's name."""
    people: dict[int, str] = {}
    for name in declared.auto:
        change = event.changes.get(name)
        if isinstance(change, dict) and "after" in change:
            after = change.get("after")
            if isinstance(after, int) and not isinstance(after, bool) and after != change.get("before"):
                people.setdefault(after, name)
    return people


def _auto_follow(obj: models.Model, people: dict[int, str], actor: Any) -> None:
    if not people:
        return
    already = set(of(obj).filter(person_id__in=list(people)).values_list("person_id", flat=True))
    named = Person.objects.filter(pk__in=[p for p in people if p not in already], user__isnull=False)
    new = [
        Watch(
            record_type=obj._meta.label_lower,
            record_id=obj.pk,
            person=person,
            reason=people[person.pk],
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        for person in named.select_related("user")
        if person.user is not None and policy.can(person.user, VIEW, obj)  # never of a record they may not read
    ]
    # a follow of the same person at the same moment keeps its watch (a conflict must not fail the record's write)
    Watch.objects.bulk_create(new, ignore_conflicts=True)


def _mentioned(event: AuditEvent) -> set[int]:
    """The logins a comment's event mentions (`conversation`'s audit contract): told by the mention already."""
    comment = (event.changes or {}).get(conversation.CHANGES_KEY)
    mentions = comment.get("mentions") if isinstance(comment, dict) else None
    return {m for m in mentions if isinstance(m, int)} if isinstance(mentions, list) else set()


def readable_for(event: AuditEvent, model: type[models.Model], user: Any) -> AuditEvent | None:
    """The event as `user` may read it (`display_changes`, `summary`), or None when nothing of it is for them: an
    internal comment for a customer user, an event whose every value they may not read (a custom field hidden from
    customers; a comment the conversation hides from them)."""
    from meridian.core.history import readable_history

    if getattr(user, "is_customer", False) and conversation.event_visibility(event) == conversation.INTERNAL:
        return None  # never to a customer, whatever the history says (the contract with the conversation)
    found = readable_history([copy.copy(event)], model, user)
    if not found:
        return None  # an event they may not read at all (`conversation.hides`)
    (read,) = found
    if event.action in (AuditAction.CREATE, AuditAction.DELETE):
        return read
    if not read.display_changes and not read.summary:  # type: ignore[attr-defined]
        return None
    return read


def _followers(obj: models.Model) -> list[Watch]:
    """The watches of a record with each follower's person, login and roles: two queries however many follow (the
    roles prefetched for `User.roles`, the organisation taken from the person already loaded)."""
    watches = list(of(obj).select_related("person__user").prefetch_related("person__user__groups"))
    for watch in watches:
        user = watch.person.user
        if user is not None:
            user.__dict__.setdefault("organisation_id", watch.person.organisation_id)  # `User.organisation_id`
    return watches


def _reader(user: Any) -> tuple[Any, ...]:
    """All that reading an event depends on (`policy`: the system, the roles, the organisation): followers alike
    read an event alike, so it is read once for them all (`history.readable_history` queries per reading)."""
    return (policy.is_system(user), policy.roles_of(user), user.organisation_id)


def event_recorded(event: AuditEvent, obj: models.Model, actor: Any) -> None:
    """Called by `audit.record_event` for every event, in its transaction: people set in the type's auto fields
    follow; every follower but the actor is told what they may read of it; a deleted record's watches go."""
    record_type = registry.find(type(obj))
    if record_type is None or record_type.watchers is None or obj.pk is None:
        return  # a type that did not opt in: not even a query
    _auto_follow(obj, _set_people(record_type.watchers, event), actor)
    mentioned = _mentioned(event)
    read_as: dict[tuple[Any, ...], AuditEvent | None] = {}  # the event as each kind of reader reads it
    for watch in _followers(obj):
        user = watch.person.user
        if user is None or user.pk == event.actor_id or user.pk in mentioned or not watch.person.email:
            continue
        if not policy.can(user, VIEW, obj):
            continue  # moved to another organisation, login suspended: nothing about it any more
        reader = _reader(user)
        if reader not in read_as:  # read once per kind of reader, not once per follower
            read_as[reader] = readable_for(event, type(obj), user)
        read = read_as[reader]
        if read is not None:
            _notify(obj, record_type, watch, read, user, deleted=event.action == AuditAction.DELETE)
    if event.action == AuditAction.DELETE:
        of(obj).delete()  # the record goes: so do its watches (in its transaction)


def _notify(
    obj: models.Model, record_type: registry.RecordType, watch: Watch, event: Any, user: Any, *, deleted: bool
) -> None:
    from django.utils import timezone

    with timezone.override(user.time_zone or "UTC"):
        notify(
            EVENT,
            obj,
            recipients=[watch.person],
            context={
                "event": event,
                "changes": event.display_changes,
                "summary": event.summary or event.get_action_display(),
                "record_name": policy.name_of(user, obj),
                "record_kind": obj._meta.verbose_name,
                "record_url": "" if deleted else obj.get_absolute_url(),  # type: ignore[attr-defined]
                "deleted": deleted,
                "watch": watch,
                "reason": reason_label(record_type, watch.reason),
                "unfollow_url": "" if deleted else unfollow_url(watch),
            },
        )


def _no_recipients(obj: Any) -> Iterable[Person]:
    return []  # every message names its one follower (`notify(..., recipients=[person])`)


register_event(
    Event(
        EVENT,
        recipients=_no_recipients,
        description="To each follower of a record but the person who acted: what happened, as they may read it.",
    )
)
