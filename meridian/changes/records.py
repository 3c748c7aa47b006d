"""Change management's record types, registered with the generic machinery (pages, API, search, export, policy)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from meridian.changes import evidence
from meridian.changes.choices import ChangeStatus
from meridian.changes.models import Change
from meridian.changes.workflows import CHANGE_LIFECYCLE, RAISERS
from meridian.core.attachments import Attachments
from meridian.core.choices import STATUS_COLOURS
from meridian.core.conversation import Conversation
from meridian.core.registry import ADD, ADMINS, CHANGE, DELETE, STAFF, Link, RecordType, register
from meridian.core.tabs import Tab
from meridian.core.watchers import Watchers

# the colours of the status badges in lists
STATUS_COLOURS.update(
    {
        ChangeStatus.SUBMITTED: "info",
        ChangeStatus.APPROVED: "success",
        ChangeStatus.REJECTED: "danger",
        ChangeStatus.IMPLEMENTED: "primary",
    }
)


def fixed_once_submitted(change: Change, actor: Any, changes: dict[str, Any]) -> None:
    """What a change is and which CIs it lists are fixed once it is submitted: an approval is of what was
    submitted. (Raised inside the write's transaction: the edit writes nothing.)"""
    if change.status != ChangeStatus.DRAFT and {"title", "configuration_items"} & set(changes):
        state = change.get_status_display().lower()
        message = f"A {state} change's title and configuration items are fixed: withdraw it and raise a new one."
        raise ValidationError({"configuration_items": message})


register(
    RecordType(
        model=Change,
        fields=["title", "description", "configuration_items"],
        list_columns=["reference", "title", "status", "updated_at"],
        filter_fields=["status"],
        search_fields=["reference", "title", "description"],
        permissions={ADD: RAISERS, CHANGE: RAISERS, DELETE: ADMINS},
        lifecycle=CHANGE_LIFECYCLE,
        area="control",
        links={"configuration_items": Link.ANY},  # a change may touch any customer's CIs and the provider's
        prefetch_related=["configuration_items"],
        after_save=fixed_once_submitted,
        tabs=[
            Tab(
                "configuration",
                "Configuration changes",
                template="changes/tabs/configuration.html",
                context=evidence.tab_context,
                roles=STAFF,
                badge=evidence.badge,
                api=evidence.tab_api,
                api_schema=evidence.tab_schema(),
                help_text="The writes that cite this change as their authority (from the audit trail): when, by "
                "whom, which record and which of its fields; `total` counts them all.",
            )
        ],
        record_links=True,
        attachments=Attachments(),  # plans, test evidence
        conversation=Conversation(),
        watchers=Watchers(),
        help_text="Requests for change. An approved change authorises edits of the controlled CIs it lists.",
    )
)
