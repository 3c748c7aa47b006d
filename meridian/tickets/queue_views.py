"""The agents' queues as shared saved views (`core.saved_views`): "My work", "My teams", "Unassigned", "At risk" and
"Breached", of incidents and of service requests, each the list's `queue` filter (`tickets.queues`) sorted by due
time (the next running clock's), shared with everyone (each reader sees the records they may see: a view never
widens access). Saved by an administrator (sharing with everyone needs the role) through `save_view`.

`ensure_views(owner)` writes those missing (by name and type among the views shared with everyone, whoever saved
them): run again, it writes nothing; a view an administrator renamed or deleted is made again only under its name.
The demo calls it; a fresh installation has no administrator at `migrate` time, so it is not a post-migrate step."""

from __future__ import annotations

from typing import Any

from meridian.core import registry, saved_views
from meridian.core.choices import Role
from meridian.core.models import SavedView

# name, queue filter
QUEUES = [
    ("My work", "mine"),
    ("My teams", "my_teams"),
    ("Unassigned", "unassigned"),
    ("At risk", "at_risk"),
    ("Breached", "breached"),
]
TYPES = ["tickets.incident", "tickets.servicerequest"]
COLUMNS = ["reference", "title", "organisation", "priority", "status", "team", "assignee", "due"]


def administrator() -> Any:
    """An active login with the administrator role (the first by id), or None."""
    from django.contrib.auth import get_user_model

    for user in get_user_model().objects.filter(is_active=True).order_by("pk"):
        if Role.ADMINISTRATOR in set(user.roles or []):
            return user
    return None


def ensure_views(owner: Any = None) -> list[SavedView]:
    """Save the queues missing, as `owner` (an administrator; None: the first one there is; nobody: nothing is
    written). Returns the views written."""
    owner = owner or administrator()
    if owner is None or not saved_views.is_administrator(owner):
        return []
    made = []
    for label in TYPES:
        record_type = registry.find_label(label)
        if record_type is None:
            continue
        have = {
            name.lower()
            for name in SavedView.objects.filter(record_type=label, sharing=SavedView.EVERYONE).values_list(
                "name", flat=True
            )
        }
        have |= {
            name.lower()
            for name in SavedView.objects.filter(record_type=label, owner=owner).values_list("name", flat=True)
        }
        for name, queue in QUEUES:
            if name.lower() in have:
                continue
            made.append(
                saved_views.save_view(
                    record_type,
                    owner,
                    name=name,
                    query=f"queue={queue}&sort=due",
                    columns=COLUMNS,
                    sharing=SavedView.EVERYONE,
                )
            )
    return made
