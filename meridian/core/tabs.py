"""Tabs of a record's page: declared once in the `RecordType`, with the record's own checks run first.

    Tab("hours", "Hours", template="core/tabs/calendar_hours.html", context=hours_context,
        badge=upcoming_closures, api=hours_data)

- The page shows a tab bar: Details (the record's fields, always first), the type's declared tabs, then the
  built-in Timeline, History and Notifications tabs (declared here the same way). A tab opens by URL, `?tab=<name>`
  (bookmarkable), and with htmx without reloading the page.
- Before a tab's code runs, the record is looked up in the reader's restricted queryset (another organisation's
  record is a 404, as everywhere), then the tab's own condition: `roles` (the reader needs one of them) and/or
  `permission` (a permission on this record, e.g. CHANGE: who may change it). A tab the reader may not open is not
  shown, and asked for directly it is a 403.
- `context(obj, user) -> dict` gives the template its values; `badge(obj, user) -> int | str | None` a count
  beside the label (computed on the detail page only, never on lists); `api(obj, user, request) -> data` gives the
  tab `GET /api/v1/<app>/<plural>/{id}/<name>/` with an OpenAPI entry (`api_schema`: its response, a serializer
  or an OpenAPI type; a JSON object when not given).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from meridian.core import attachments, policy, registry
from meridian.core.registry import STAFF

NAME = re.compile(r"[a-z][a-z0-9_]*")
DETAILS = "details"  # the record's fields: the first tab, always there for whoever may read the record


@dataclass(frozen=True, eq=False)
class Tab:
    """One tab of a record's page (see the module's docstring)."""

    name: str
    label: str
    template: str
    context: Callable[[Any, Any], dict[str, Any]] | None = None
    roles: frozenset[str] | None = None  # None: whoever may read the record
    permission: str | None = None  # a permission on the record itself (registry.CHANGE ...), checked with tenancy
    badge: Callable[[Any, Any], int | str | None] | None = None
    api: Callable[[Any, Any, Any], Any] | None = None
    api_schema: Any = None
    help_text: str = ""
    # a context that reads the request's query string (a filter, a page): `request_context(obj, user, request)`
    request_context: Callable[[Any, Any, Any], dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        if not NAME.fullmatch(self.name) or self.name == DETAILS:
            raise ValueError(f"tab name {self.name!r}: lower case letters, digits and underscores, not {DETAILS!r}")
        if self.roles is not None:
            object.__setattr__(self, "roles", frozenset(self.roles))

    @property
    def slug(self) -> str:
        return self.name.replace("_", "-")

    def may_open(self, obj: Any, user: Any) -> bool:
        """Whether this reader may open the tab on this record (which they may already read)."""
        if self.roles is not None and not (policy.is_system(user) or policy.roles_of(user) & self.roles):
            return False
        return self.permission is None or policy.can(user, self.permission, obj)

    def values(self, obj: Any, user: Any, request: Any = None) -> dict[str, Any]:
        values = self.context(obj, user) if self.context is not None else {}
        if self.request_context is not None:
            values = {**values, **self.request_context(obj, user, request)}
        return values


@dataclass(frozen=True, eq=False)
class Banner:
    """A strip under a record's title, on every tab (a ticket's live clock countdowns): `template` rendered with
    `banner` = `context(obj, user)`; nothing shown when that is None or the reader lacks the `roles`. The page
    fetches it alone with `?part=banner` (a countdown that reaches zero, or the working day that ends, asks for it
    again)."""

    template: str
    context: Callable[[Any, Any], dict[str, Any] | None]
    roles: frozenset[str] | None = None

    def values(self, obj: Any, user: Any) -> dict[str, Any] | None:
        if self.roles is not None and not (policy.is_system(user) or policy.roles_of(user) & frozenset(self.roles)):
            return None
        return self.context(obj, user)


# --- the built-in tabs -----------------------------------------------------------------------------------------


def _history_context(obj: Any, user: Any) -> dict[str, Any]:
    from meridian.core import audit
    from meridian.core.conversation import visible_events
    from meridian.core.history import readable_history

    return {"events": readable_history(list(visible_events(audit.history(obj), user)[:200]), type(obj), user)}


def _notifications(obj: Any) -> Any:
    from meridian.core.models import NotificationLog

    label = registry.get(type(obj)).label
    return NotificationLog.objects.filter(record_type=label, record_id=str(obj.pk))[:100]


def _notifications_api(obj: Any, user: Any, request: Any) -> list[dict[str, Any]]:
    return [
        {
            "created_at": n.created_at,
            "event": n.event,
            "recipient": n.recipient,
            "subject": n.subject,
            "status": n.status,
            "error": n.error,
        }
        for n in _notifications(obj)
    ]


def _notifications_schema() -> Any:
    from drf_spectacular.utils import inline_serializer
    from rest_framework import serializers

    return inline_serializer(
        "TabNotification",
        {
            "created_at": serializers.DateTimeField(),
            "event": serializers.CharField(),
            "recipient": serializers.CharField(),
            "subject": serializers.CharField(),
            "status": serializers.CharField(),
            "error": serializers.CharField(),
        },
        many=True,
    )


HISTORY = Tab(
    "history",
    "History",
    template="core/_history.html",
    context=_history_context,
    help_text="Every change of the record: who, when, what, why (the API's history endpoint pages through it).",
)
NOTIFICATIONS = Tab(
    "notifications",
    "Notifications",
    template="core/tabs/notifications.html",
    context=lambda obj, user: {"notifications": _notifications(obj)},
    roles=STAFF,  # who was mailed what is the provider's business
    api=_notifications_api,
    api_schema=_notifications_schema(),
    help_text="The last 100 notifications sent about the record, newest first.",
)


def _timeline_context(obj: Any, user: Any, request: Any) -> dict[str, Any]:
    from meridian.core import conversation, timeline

    values = timeline.tab_context(obj, user, request.GET if request is not None else {})
    return {**values, **conversation.composer_context(obj, user)}


def _timeline_api(obj: Any, user: Any, request: Any) -> dict[str, Any]:
    from meridian.core import timeline

    return timeline.api_data(obj, user, request.query_params)


def _timeline_schema() -> Any:
    from meridian.core import timeline

    return timeline.api_schema()


# what happened to the record, merged and newest first: changes, files, links, notifications (`core.timeline`)
TIMELINE = Tab(
    "timeline",
    "Timeline",
    template="core/tabs/timeline.html",
    request_context=_timeline_context,
    api=_timeline_api,
    api_schema=_timeline_schema(),
    help_text=(
        "What happened to the record, newest first: changes, files, links and (staff only) notifications. "
        "`kind` filters (all, changes, files, links, notifications); `before` takes the `older` cursor of the "
        "previous page."
    ),
)
BUILT_IN = (TIMELINE, HISTORY, NOTIFICATIONS)


def _links_context(obj: Any, user: Any) -> dict[str, Any]:
    from meridian.core import links

    return links.tab_context(obj, user)


def _links_badge(obj: Any, user: Any) -> int:
    from meridian.core import links

    return links.links_of(obj).count()


# the Links tab of every type that opts into links (`RecordType(record_links=True)`, `core.links`); its API is
# `/api/v1/<app>/<plural>/{id}/links/` (list, add, remove)
LINKS = Tab(
    "links",
    "Links",
    template="core/tabs/links.html",
    context=_links_context,
    badge=_links_badge,
    help_text="Links to other records: caused by, relates to, duplicate of...",
)


def _attachments_context(obj: Any, user: Any) -> dict[str, Any]:
    from django.urls import reverse

    rt = registry.get(type(obj))
    declared = attachments.declaration(rt)
    files = list(attachments.of(obj, user))
    for attachment in files:
        attachment.previewable = attachments.may_preview(attachment)  # type: ignore[attr-defined]
    return {
        "attachments": files,
        "attachments_total": sum(a.size for a in files),
        "attachments_limits": declared,
        "may_attach": declared.may_write(user, obj),
        "attach_url": reverse(rt.url_name("attachments"), args=[obj.pk]),
    }


ATTACHMENTS = Tab(
    "attachments",
    "Attachments",
    template="core/tabs/attachments.html",
    context=_attachments_context,
    badge=lambda obj, user: attachments.of(obj, user).count(),
    help_text="Files attached to the record (declared by `attachments=` in its RecordType).",
)


def tabs_of(record_type: registry.RecordType) -> tuple[Tab, ...]:
    """The tabs of a type's page after Details: its declared tabs, Links and Attachments when the type has them, then
    Timeline, History and Notifications."""
    declared = (
        *record_type.tabs,
        *((LINKS,) if record_type.record_links else ()),
        *((ATTACHMENTS,) if record_type.attachments is not None else ()),
    )
    names = [t.name for t in (*declared, *BUILT_IN)]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"{record_type.label}: tabs {twice} are declared twice")
    return (*declared, *BUILT_IN)


def find(record_type: registry.RecordType, name_or_slug: str) -> Tab | None:
    name = name_or_slug.replace("-", "_")
    return next((t for t in tabs_of(record_type) if t.name == name), None)
