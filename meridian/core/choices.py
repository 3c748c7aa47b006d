"""Choice sets of the core app: value, label and, where shown as a badge, a colour."""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    """The predefined roles. A user's roles are Django groups of these names; permissions come from code."""

    ADMINISTRATOR = "administrator", "Administrator"
    SERVICE_DESK_AGENT = "service_desk_agent", "Service desk agent"
    RESOLVER = "resolver", "Resolver"
    CHANGE_MANAGER = "change_manager", "Change manager"
    CONFIGURATION_MANAGER = "configuration_manager", "Configuration manager"
    SERVICE_OWNER = "service_owner", "Service owner"
    SERVICE_LEVEL_MANAGER = "service_level_manager", "Service level manager"
    CUSTOMER_USER = "customer_user", "Customer user"
    AUDITOR = "auditor", "Auditor"


class OrganisationKind(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    INTERNAL = "internal", "Internal"
    SUPPLIER = "supplier", "Supplier"


class PersonStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    LEFT = "left", "Left"


STATUS_COLOURS: dict[str, str] = {
    PersonStatus.ACTIVE: "success",
    PersonStatus.SUSPENDED: "warning",
    PersonStatus.LEFT: "secondary",
}


class LocationKind(models.TextChoices):
    SITE = "site", "Site"
    BUILDING = "building", "Building"
    FLOOR = "floor", "Floor"
    ROOM = "room", "Room"


class CalendarExceptionKind(models.TextChoices):
    CLOSED = "closed", "Closed all day"
    WORKING = "working", "Extra working day"


class TeamRole(models.TextChoices):
    """What a member does in a support team (the team's lead is named on the team itself)."""

    MEMBER = "member", "Member"
    DISPATCHER = "dispatcher", "Dispatcher (assigns the queue)"
    DEPUTY_LEAD = "deputy_lead", "Deputy lead"
    TRAINEE = "trainee", "Trainee"


class AuditAction(models.TextChoices):
    CREATE = "create", "Created"
    UPDATE = "update", "Updated"
    DELETE = "delete", "Deleted"
    TRANSITION = "transition", "Status changed"
    LINK = "link", "Linked"  # a link to another record made (`core.links`): an event on both records
    UNLINK = "unlink", "Unlinked"


class CommentVisibility(models.TextChoices):
    """Who reads a comment (`core.conversation`): fixed once it is posted."""

    PUBLIC = "public", "Public reply"  # the record's customer users read it too
    INTERNAL = "internal", "Internal note"  # staff only, on every channel


class NotificationStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


class CustomFieldType(models.TextChoices):
    """The kinds of value an administrator's custom field holds (`core.custom_fields`)."""

    TEXT = "text", "Text"
    LONG_TEXT = "long_text", "Long text"
    INTEGER = "integer", "Whole number"
    DECIMAL = "decimal", "Decimal number"
    BOOLEAN = "boolean", "Yes / no"
    DATE = "date", "Date"
    DATETIME = "datetime", "Date and time"
    CHOICE = "choice", "Choice"
    MULTIPLE_CHOICE = "multiple_choice", "Multiple choice"
    URL = "url", "Web address (URL)"
    PERSON = "person", "Person"
    ORGANISATION = "organisation", "Organisation"


class BulkStatus(models.TextChoices):
    """Where a bulk action (`core.bulk`) stands."""

    QUEUED = "queued", "Waiting to run"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Stopped"
