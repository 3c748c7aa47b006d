"""Conversation: comments on any registered record whose type opts in, declared once in its `RecordType`:

    register(RecordType(model=Organisation, ..., conversation=Conversation()))
    register(RecordType(model=Team, ..., conversation=Conversation(edit_minutes=10)))

One declaration gives the record's composer and comments in its **Timeline** tab (Write/Preview, a public/internal
switch, files, htmx posting), `GET/POST /api/v1/<app>/<plural>/{id}/comments/` and
`GET/PATCH/DELETE .../comments/{comment_id}/`, a "Comments" kind in the timeline, comment text in global search,
and an audit event on the record for every comment posted, edited or deleted.

- **Who**: `roles` (default: staff who may read the record, the auditor never) write public replies and internal
  notes; `public_roles` (default: customer users who may read the record) write public replies only. An internal
  note is staff-only on every channel: page, API, timeline, history, search, notification, files (a 404 to a
  customer, never a 403).
- **What**: the body is Markdown (markdown-it-py, CommonMark without raw HTML), sanitised by nh3 against an
  allow-list (`ALLOWED_TAGS`): links only http(s)/mailto or relative, with rel="noopener nofollow ugc"; images only
  when their source is a download or preview URL of one of the record's own files. Rendered when shown, never
  stored as HTML.
- **Mentions**: `@username` in the body notifies that login (`core.comment.mentioned`) when they may read the
  record (and, in an internal note, are staff); any other mention refuses the comment with an error on `body`
  naming it.
- **Edits**: the author edits or deletes within `edit_minutes` (setting `MERIDIAN_COMMENT_EDIT_MINUTES`); an
  administrator deletes any comment at any time, with a reason (moderation). A deleted comment keeps its place,
  its text blanked; the audit trail keeps every text.
- **Audit contract** (watchers, history, timeline): every post, edit and delete is one `AuditAction.UPDATE` event
  on the record whose `changes["comment"]` is {"id", "op" (posted, edited, deleted), "visibility", "body" (the
  text now, "" on delete), "before" (the text before, on edit and delete), "mentions" (user ids newly mentioned)}.
  `history.readable_history` shows it as a "Public reply"/"Internal note" row and leaves internal ones out for
  customer users; `mentioned_user_ids(event)` names the people a mention already notified.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import models, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from meridian.core import attachments, audit, policy, registry
from meridian.core.choices import AuditAction, CommentVisibility, Role
from meridian.core.models import Attachment, Comment, Person, Record, User
from meridian.core.registry import READ_ONLY_ROLES, STAFF, VIEW

CHANGES_KEY = "comment"  # under this key an audit event of the record describes the comment posted/edited/deleted
MENTIONED_EVENT = "core.comment.mentioned"
MAX_BODY = 20_000  # characters of Markdown
PUBLIC, INTERNAL = CommentVisibility.PUBLIC.value, CommentVisibility.INTERNAL.value
# what the Markdown of a comment may become; everything else is removed (its text kept), scripts with their content
ALLOWED_TAGS = frozenset(
    {
        "p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "blockquote", "ul", "ol", "li", "a", "img",
        "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td",
    }
)  # fmt: skip
LINK_REL = "noopener nofollow ugc"
MENTION = re.compile(r"(?<![\w.+@-])@([\w][\w.+-]*)")


@dataclass(frozen=True)
class Conversation:
    """A record type's comments (`RecordType.conversation`). `roles` write public replies and internal notes (None:
    staff who may read the record); `public_roles` write public replies only (None: customer users who may read
    it); the auditor writes neither. `edit_minutes`: how long the author may edit or delete (None: the setting
    `MERIDIAN_COMMENT_EDIT_MINUTES`). `on_post(record, comment, actor)`: the type's own rule about a new comment,
    run in the posting's transaction after its audit event (a ticket's first public reply stops its response
    clock); what it raises refuses the comment."""

    roles: frozenset[str] | None = None
    public_roles: frozenset[str] | None = None
    edit_minutes: int | None = None
    on_post: Callable[[Any, Any, Any], None] | None = None

    def __post_init__(self) -> None:
        for name in ("roles", "public_roles"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, frozenset(value) - READ_ONLY_ROLES)

    @property
    def staff_roles(self) -> frozenset[str]:
        return self.roles if self.roles is not None else STAFF - READ_ONLY_ROLES

    @property
    def customer_roles(self) -> frozenset[str]:
        return self.public_roles if self.public_roles is not None else frozenset({Role.CUSTOMER_USER})

    @property
    def edit_window(self) -> dt.timedelta:
        minutes = self.edit_minutes if self.edit_minutes is not None else int(settings.MERIDIAN_COMMENT_EDIT_MINUTES)
        return dt.timedelta(minutes=minutes)

    def visibilities(self, user: Any, obj: Record) -> list[str]:
        """What `user` may post on this record (which they may read): [public, internal], [public] or []."""
        if not policy.can(user, VIEW, obj):
            return []
        if policy.is_system(user):
            return [PUBLIC, INTERNAL]
        roles = policy.roles_of(user)
        if roles & self.staff_roles and is_staff(user):
            return [PUBLIC, INTERNAL]
        if roles & (self.customer_roles | self.staff_roles):
            return [PUBLIC]
        return []


def is_staff(user: Any) -> bool:
    """Whether `user` reads internal notes: the system, or anyone with a staff role (the auditor too); never a
    customer user, nor an anonymous one."""
    return policy.is_system(user) or bool(policy.roles_of(user) & STAFF)


def declaration(record_type: registry.RecordType) -> Conversation:
    """The type's declaration; a type that did not opt in has no conversation (404 on every route)."""
    declared = getattr(record_type, "conversation", None)
    if declared is None:
        raise Http404("This kind of record has no comments.")
    return declared  # type: ignore[no-any-return]


def of(obj: Record) -> models.QuerySet[Comment]:
    """Every comment of a record, newest first (whoever reads it: narrow with `readable`)."""
    return Comment.objects.filter(record_type=obj._meta.label_lower, record_id=obj.pk)


def readable(comments: models.QuerySet[Comment], user: Any) -> models.QuerySet[Comment]:
    """The comments `user` may read among these (of records they may read): internal notes only for staff."""
    return comments if is_staff(user) else comments.filter(visibility=PUBLIC)


def find(obj: Record, comment_id: Any, user: Any) -> Comment:
    """One comment of this record that `user` may read, or 404 (an internal note is a 404 to a customer)."""
    try:
        return readable(of(obj), user).get(pk=int(comment_id))
    except (Comment.DoesNotExist, TypeError, ValueError):
        raise Http404("No such comment.") from None


def hidden_file_ids(obj: Record, user: Any) -> Any:
    """The comments whose files `user` may not see (internal notes, for a customer): for `attachments.of`."""
    if is_staff(user):
        return None
    return of(obj).filter(visibility=INTERNAL).values("pk")


def files_of(comments: Iterable[Comment]) -> dict[int, list[Attachment]]:
    """The files of these comments (one query), by comment id."""
    ids = [c.pk for c in comments]
    found: dict[int, list[Attachment]] = {}
    if ids:
        for attachment in Attachment.objects.filter(comment_id__in=ids).order_by("uploaded_at", "id"):
            found.setdefault(int(attachment.comment_id or 0), []).append(attachment)
    return found


# --- Markdown ---------------------------------------------------------------------------------------------------


def _image_sources(obj: Record) -> set[str]:
    """The image URLs a comment of this record may show: download and preview URLs of its own files."""
    base = obj.get_absolute_url()
    sources = set()
    for pk in Attachment.objects.filter(record_type=obj._meta.label_lower, record_id=obj.pk).values_list(
        "pk", flat=True
    ):
        sources |= {f"{base}attachments/{pk}/", f"{base}attachments/{pk}/?preview=1"}
    return sources


def render(body: str, obj: Record, *, image_sources: set[str] | None = None) -> SafeString:
    """The comment's Markdown as safe HTML: markdown-it-py (no raw HTML), images only from the record's own files
    (others become their text), then nh3 against the allow-list (the second line of defence)."""
    import nh3
    from markdown_it import MarkdownIt

    allowed = _image_sources(obj) if image_sources is None else image_sources
    md = MarkdownIt("commonmark", {"html": False, "breaks": True}).enable(["table", "strikethrough"])
    tokens = md.parse(body or "")
    for token in tokens:
        for index, child in enumerate(token.children or []):
            if child.type == "image" and str(child.attrGet("src") or "") not in allowed:
                replacement = type(child)("text", "", 0)
                replacement.content = child.content or ""
                token.children[index] = replacement  # type: ignore[index]
    html = md.renderer.render(tokens, md.options, {})
    # the one HTML of the product that is not escaped: nh3's output, against the allow-list above
    return mark_safe(  # noqa: S308
        nh3.clean(
            html,
            tags=set(ALLOWED_TAGS),
            clean_content_tags={"script", "style"},
            attributes={"a": {"href", "title"}, "img": {"alt", "title"}, "th": {"align"}, "td": {"align"}},
            tag_attribute_values={"img": {"src": set(allowed)}},
            url_schemes={"http", "https", "mailto"},
            link_rel=LINK_REL,
        )
    )


# --- mentions ---------------------------------------------------------------------------------------------------


def mentioned_usernames(body: str) -> list[str]:
    """The usernames `@mentioned` in a body, in order, each once (a trailing full stop is not part of one)."""
    names: list[str] = []
    for match in MENTION.finditer(body or ""):
        name = match.group(1).rstrip(".-")
        if name and name not in names:
            names.append(name)
    return names


def check_mentions(body: str, obj: Record, visibility: str) -> list[User]:
    """The logins a body mentions, each allowed to read the comment; a `ValidationError` on `body` naming every
    mention that is not (no such login, a login who may not see the record, a customer in an internal note)."""
    names = mentioned_usernames(body)
    if not names:
        return []
    found = {u.username: u for u in User.objects.filter(username__in=names, is_active=True)}
    errors, users = [], []
    noun = obj._meta.verbose_name
    for name in names:
        user = found.get(name)
        if user is None or not policy.can(user, VIEW, obj):
            errors.append(f"@{name} cannot be mentioned: there is no one of that username who may see this {noun}.")
        elif visibility == INTERNAL and not is_staff(user):
            errors.append(f"@{name} cannot be mentioned in an internal note: they are a customer, and it is for staff.")
        else:
            users.append(user)
    if errors:
        raise ValidationError({"body": errors})
    return users


def _notify_mentions(comment: Comment, obj: Record, users: Sequence[User]) -> None:
    """One `core.comment.mentioned` message per newly mentioned login (queued in the comment's transaction)."""
    from meridian.core import notifications

    if not users:
        return
    people = {p.user_id: p for p in Person.objects.filter(user__in=users)}
    for user in users:
        recipient = people.get(user.pk) or user.email
        if not recipient:
            continue
        notifications.notify(
            MENTIONED_EVENT,
            obj,
            context={"comment": comment, "mentioned": user, "record_label": str(obj)},
            recipients=[recipient],
        )


def mentioned_user_ids(event: Any) -> set[int]:
    """The logins a comment event (`changes["comment"]`) notified by mentioning them: a follower among them need
    not be told again."""
    change = (getattr(event, "changes", None) or {}).get(CHANGES_KEY)
    if not isinstance(change, dict):
        return set()
    return {int(pk) for pk in change.get("mentions") or [] if isinstance(pk, int) and not isinstance(pk, bool)}


# --- services ---------------------------------------------------------------------------------------------------


class StaleComment(Exception):
    """The comment changed since the caller read it (edited or deleted by someone else)."""

    def __init__(self, current: Comment) -> None:
        self.current = current
        super().__init__(f"The comment was changed since (now version {current.version}): reload it and try again.")


def _clean_body(body: Any) -> str:
    if not isinstance(body, str):
        raise ValidationError({"body": ["Write the comment as text."]})
    text = body.replace("\r\n", "\n").strip()
    if not text:
        raise ValidationError({"body": ["Write something: a comment cannot be empty."]})
    if len(text) > MAX_BODY:
        raise ValidationError({"body": [f"At most {MAX_BODY:,} characters (this is {len(text):,})."]})
    if "\x00" in text:
        raise ValidationError({"body": ["The text contains a NUL character."]})
    return text


def _event(obj: Record, actor: Any, comment: Comment, op: str, *, before: str = "", mentions: Sequence[User] = (),
           files: dict[str, Any] | None = None, reason: str = "") -> None:  # fmt: skip
    changes: dict[str, Any] = {
        CHANGES_KEY: {
            "id": comment.pk,
            "op": op,
            "visibility": comment.visibility,
            "body": comment.body,
            "before": before,
            "mentions": [u.pk for u in mentions],
        }
    }
    if files:
        changes[attachments.CHANGES_KEY] = files
    audit.record_event(action=AuditAction.UPDATE, obj=obj, actor=actor, changes=changes, reason=reason)


def _locked_record(obj: Record) -> Record:
    return type(obj).objects.select_for_update().get(pk=obj.pk)  # the lock order: the record's own row first


def post_comment(obj: Record, *, actor: Any, body: Any, visibility: Any, files: Sequence[UploadedFile] = ()) -> Comment:
    """Post a comment on a record (which the actor may read): checked first (who may write what, the body, each
    mention, each file), then written with its files and one audit event on the record; mentioned logins are
    notified. Nothing is written when anything is refused."""
    record_type = registry.get(type(obj))
    declared = declaration(record_type)
    policy.require(actor, VIEW, obj)  # 404 for a record the actor may not see
    allowed = declared.visibilities(actor, obj)
    if not allowed:
        raise PermissionDenied(f"You may not comment on this {obj._meta.verbose_name}.")
    errors: dict[str, list[str]] = {}
    if visibility not in (PUBLIC, INTERNAL):
        errors["visibility"] = ["Choose public (the customer reads it) or internal (staff only)."]
    elif visibility not in allowed:
        errors["visibility"] = ["You may write public replies only."]
    text = ""
    try:
        text = _clean_body(body)
        check_mentions(text, obj, visibility if visibility in allowed else PUBLIC)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    files = list(files)
    if files and record_type.attachments is None:
        errors["file"] = [f"Files cannot be attached to comments on {record_type.verbose_name_plural}."]
    if errors:
        raise ValidationError(errors)
    with attachments.uploaded(obj, files) as upload, transaction.atomic():
        current = _locked_record(obj)
        policy.require(actor, VIEW, current)
        mentions = check_mentions(text, current, visibility)
        comment = Comment.objects.create(
            record_type=record_type.label,
            record_id=current.pk,
            organisation_id=getattr(current, "tenant_id", None),
            author=actor if getattr(actor, "pk", None) else None,
            author_label=actor.get_username() if getattr(actor, "pk", None) else "anonymous",
            body=text,
            visibility=visibility,
        )
        made = upload.attach(current, actor=actor, comment_id=comment.pk)
        added = {"added": [attachments.summary(a) for a in made]} if made else None
        _event(current, actor, comment, "posted", mentions=mentions, files=added)
        if declared.on_post is not None:
            declared.on_post(current, comment, actor)
        _notify_mentions(comment, current, mentions)
    return comment


def may_edit(comment: Comment, user: Any, *, now: dt.datetime | None = None) -> bool:
    """The author, within the edit window; never a deleted comment. (That the author may still read the record and
    the comment is the services' check, `edit_comment`/`delete_comment`; their roles now are not looked at.)"""
    if comment.is_deleted or not getattr(user, "pk", None) or comment.author_id != user.pk:
        return False
    declared = declaration(registry.get(_record_model(comment)))
    return (now or timezone.now()) - comment.created_at <= declared.edit_window


def may_moderate(user: Any) -> bool:
    """Administrators delete any comment at any time (with a reason)."""
    return policy.is_system(user) or Role.ADMINISTRATOR in policy.roles_of(user)


def may_delete(comment: Comment, user: Any) -> bool:
    return not comment.is_deleted and (may_edit(comment, user) or may_moderate(user))


def _record_model(comment: Comment) -> type[Record]:
    from django.apps import apps

    return apps.get_model(comment.record_type)  # type: ignore[return-value]


def _record_of(comment: Comment) -> Record:
    return _record_model(comment).objects.get(pk=comment.record_id)  # type: ignore[no-any-return]


def _check_version(comment: Comment, expected_version: Any) -> None:
    if isinstance(expected_version, bool) or not isinstance(expected_version, int):
        raise ValidationError({"version": ["Send the version of the comment you read (an integer)."]})
    if comment.version != expected_version:
        raise StaleComment(comment)


def _locked(obj: Record, comment: Comment, actor: Any, expected_version: Any) -> tuple[Record, Comment]:
    """The record and its comment, locked in that order (the lock order: the record first) inside the caller's
    transaction, as they are now: a 404 when the actor may no longer read the comment, `StaleComment` when it
    changed since the version the actor read."""
    current_obj = _locked_record(obj)
    current = Comment.objects.select_for_update().get(pk=comment.pk)
    if current.visibility != PUBLIC and not is_staff(actor):  # as `readable`, on the row in hand
        raise Http404("No such comment.")
    _check_version(current, expected_version)
    return current_obj, current


def edit_comment(comment: Comment, *, actor: Any, body: Any, expected_version: Any) -> Comment:
    """Change a comment's text (its author, within the edit window); its visibility stays. Audited on the record
    with the text before; mentions new to this text are checked and notified."""
    obj = _record_of(comment)
    policy.require(actor, VIEW, obj)
    text = _clean_body(body)
    with transaction.atomic():
        current_obj, current = _locked(obj, comment, actor, expected_version)
        if current.is_deleted:
            raise ValidationError({"body": ["This comment was deleted: it cannot be edited."]})
        if not may_edit(current, actor):
            raise PermissionDenied(edit_refusal(current, actor))
        mentions = check_mentions(text, current_obj, current.visibility)
        already = set(mentioned_usernames(current.body))
        new_mentions = [u for u in mentions if u.username not in already]
        before = current.body
        current.body, current.edited_at, current.version = text, timezone.now(), current.version + 1
        current.save(update_fields=["body", "edited_at", "version"])
        _event(current_obj, actor, current, "edited", before=before, mentions=new_mentions)
        _notify_mentions(current, current_obj, new_mentions)
    return current


def edit_refusal(comment: Comment, user: Any) -> str:
    """Why `user` may not edit (or delete) this comment: not its author, or the edit window is over."""
    if comment.author_id != getattr(user, "pk", None):
        return "Only its author may edit a comment."
    minutes = int(declaration(registry.get(_record_model(comment))).edit_window.total_seconds() // 60)
    return f"A comment may be edited or deleted for {minutes} minutes after it is posted; that time is over."


def delete_comment(comment: Comment, *, actor: Any, expected_version: Any, reason: str = "") -> Comment:
    """Delete a comment: its row stays (the thread keeps its place) with its text blanked, and its files are
    removed; the audit event keeps the text and the files' names. Its author within the edit window, or an
    administrator at any time with a reason."""
    obj = _record_of(comment)
    policy.require(actor, VIEW, obj)
    reason = (reason or "").strip()[:500]
    with transaction.atomic():
        current_obj, current = _locked(obj, comment, actor, expected_version)
        if current.is_deleted:
            raise ValidationError({"non_field_errors": ["This comment is already deleted."]})
        if not may_edit(current, actor):
            if not may_moderate(actor):
                raise PermissionDenied(edit_refusal(current, actor))
            if not reason:
                raise ValidationError({"reason": ["Say why you delete someone else's comment (it is audited)."]})
        before = current.body
        files = list(Attachment.objects.select_for_update().filter(comment_id=current.pk))
        current.body, current.deleted_at, current.version = "", timezone.now(), current.version + 1
        current.deleted_by = actor if getattr(actor, "pk", None) else None
        current.save(update_fields=["body", "deleted_at", "deleted_by", "version"])
        removed = {"removed": attachments.remove(files)} if files else None
        _event(current_obj, actor, current, "deleted", before=before, files=removed, reason=reason)
    return current


def removed_with(record_type: registry.RecordType, obj: Record) -> None:
    """The comments of a record being deleted go with it (their text stays in the audit trail)."""
    if getattr(record_type, "conversation", None) is not None:
        of(obj).delete()


# --- history ----------------------------------------------------------------------------------------------------


def event_visibility(event: Any) -> str | None:
    change = (getattr(event, "changes", None) or {}).get(CHANGES_KEY)
    return str(change.get("visibility")) if isinstance(change, dict) else None


def hides(event: Any, user: Any) -> bool:
    """Whether `user` may not read this audit event at all: an internal note's event, for anyone but staff."""
    return event_visibility(event) == INTERNAL and not is_staff(user)


def visible_events(events: models.QuerySet[Any], user: Any) -> models.QuerySet[Any]:
    """An audit trail without the internal notes' events, for a reader who is not staff (History tab, API)."""
    if is_staff(user):
        return events
    internal = events.filter(**{f"changes__{CHANGES_KEY}__visibility": INTERNAL}).values("pk")
    return events.exclude(pk__in=internal)


def history_row(event: Any) -> tuple[str, str, str] | None:
    """The History row of a comment event: (label, text before, text after), or None for other events.
    "Public reply" / "Internal note", with "edited" or "deleted"."""
    change = (getattr(event, "changes", None) or {}).get(CHANGES_KEY)
    if not isinstance(change, dict):
        return None
    label = "Internal note" if change.get("visibility") == INTERNAL else "Public reply"
    op = change.get("op") or ("deleted" if not change.get("body") else "edited" if change.get("before") else "")
    if op in ("edited", "deleted"):
        label = f"{label} {op}"
    return label, str(change.get("before") or ""), str(change.get("body") or "")


# --- reading: timeline, pages, API ------------------------------------------------------------------------------


def prepare(comments: Sequence[Comment], obj: Record, user: Any) -> list[Comment]:
    """Give each comment what a page or the API shows: `html` (sanitised; "" once deleted), `files` (none once
    deleted), `may_edit` and `may_delete` for this reader. Two queries, whatever the number of comments."""
    sources = _image_sources(obj)
    files = files_of(comments)
    for comment in comments:
        comment.html = "" if comment.is_deleted else render(comment.body, obj, image_sources=sources)  # type: ignore[attr-defined]
        comment.files = [] if comment.is_deleted else files.get(comment.pk, [])  # type: ignore[attr-defined]
        comment.may_edit = may_edit(comment, user)  # type: ignore[attr-defined]
        comment.may_delete = may_delete(comment, user)  # type: ignore[attr-defined]
        comment.record_url = obj.get_absolute_url()  # type: ignore[attr-defined]
    return list(comments)


def timeline_entries(obj: Record, user: Any, before: Any, limit: int, rank: int) -> list[Any]:
    """The timeline's "comments" source (of a type with conversation: `Source.applies`): at most `limit` comments
    the reader may read, older than the cursor."""
    from meridian.core.timeline import Entry

    rows = readable(of(obj), user)
    if before is not None:
        rows = before.older(rows, rank, "created_at")
    comments = prepare(list(rows.select_related("author").order_by("-created_at", "-id")[:limit]), obj, user)
    return [
        Entry(
            kind="comments",
            at=c.created_at,
            id=c.pk,
            actor=c.author_label,
            summary=c.get_visibility_display(),
            rank=rank,
            comment=c,
        )
        for c in comments
    ]


def as_json(comment: Comment) -> dict[str, Any]:
    """A comment as the API gives it (after `prepare`): never the text of a deleted one."""
    base = getattr(comment, "record_url", "")
    return {
        "id": comment.pk,
        "visibility": comment.visibility,
        "author": comment.author_label,
        "created_at": timezone.localtime(comment.created_at).isoformat(),
        "edited_at": timezone.localtime(comment.edited_at).isoformat() if comment.edited_at else None,
        "deleted": comment.is_deleted,
        "body": "" if comment.is_deleted else comment.body,
        "body_html": getattr(comment, "html", ""),
        "version": comment.version,
        "files": [
            {
                "id": a.pk,
                "name": a.name,
                "size": a.size,
                "content_type": a.content_type,
                "url": f"{base}attachments/{a.pk}/",
            }
            for a in getattr(comment, "files", [])
        ],
    }


def composer_context(obj: Record, user: Any) -> dict[str, Any]:
    """What the Timeline tab's composer needs: nothing for a type without conversation or a reader who may not
    write; otherwise the choices (a customer user gets no internal option), the URLs and the limits."""
    from django.urls import reverse

    rt = registry.find(type(obj))
    declared = getattr(rt, "conversation", None) if rt is not None else None
    if rt is None or declared is None:
        return {"conversation": None}
    choices = declared.visibilities(user, obj)
    return {
        "conversation": declared,
        "comment_choices": choices,
        "comment_post_url": reverse(rt.url_name("comments"), args=[obj.pk]) if choices else "",
        "comment_preview_url": reverse(rt.url_name("comment_preview"), args=[obj.pk]) if choices else "",
        "comment_files": rt.attachments is not None,
        "comment_edit_minutes": int(declared.edit_window.total_seconds() // 60),
        "comment_count": readable(of(obj), user).count(),
        # staff start with an internal note (a slip keeps a note internal rather than showing it to the customer)
        "comment_visibility": INTERNAL if INTERNAL in choices else PUBLIC,
        "comment_body": "",
        "comment_errors": {},
    }
