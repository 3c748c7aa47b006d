"""Core records shared by every process: organisations, people, teams, locations, calendars, plus the
generic record base, reference numbering, the audit trail and the notification log."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
import zoneinfo
from collections.abc import Callable
from datetime import date, time, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Now
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.text import capfirst

from meridian.core.choices import (
    AuditAction,
    BulkStatus,
    CalendarExceptionKind,
    CommentVisibility,
    CustomFieldType,
    LocationKind,
    NotificationStatus,
    OrganisationKind,
    PersonStatus,
    Role,
    TeamRole,
)

if TYPE_CHECKING:
    from meridian.core.calendars import Schedule

TIME_ZONE_CHOICES = sorted((name, name) for name in zoneinfo.available_timezones() if "/" in name or name == "UTC")


class User(AbstractUser):
    """A login. The person it belongs to (contact details, organisation) is `user.person`."""

    time_zone = models.CharField(max_length=64, choices=TIME_ZONE_CHOICES, default="UTC")
    language = models.CharField(max_length=10, choices=settings.LANGUAGES, default="en")
    security_stamp = models.CharField(max_length=64, default=secrets.token_hex, editable=False)

    def get_session_auth_hash(self) -> str:
        """Sessions stay valid while password and security stamp are unchanged; rotating the stamp ends them all."""
        key = f"{self.password}:{self.security_stamp}".encode()
        return hmac.new(settings.SECRET_KEY.encode(), key, hashlib.sha256).hexdigest()

    @cached_property
    def roles(self) -> frozenset[str]:
        if not self.is_active:
            return frozenset()
        names = frozenset(group.name for group in self.groups.all())  # prefetched groups serve (`core.watchers`)
        if self.is_superuser:
            names |= {Role.ADMINISTRATOR}
        return names & frozenset(Role.values)

    @property
    def role_labels(self) -> list[str]:
        """The roles given to this login (also while it is suspended), by name."""
        names = sorted(self.groups.values_list("name", flat=True))
        return [Role(name).label for name in names if name in Role.values]

    @cached_property
    def organisation_id(self) -> int | None:
        person = Person.objects.filter(user=self).only("organisation_id").first()
        return person.organisation_id if person else None

    @property
    def is_customer(self) -> bool:
        """A customer user with no staff role: sees only their own organisation's records."""
        return Role.CUSTOMER_USER in self.roles and not (self.roles - {Role.CUSTOMER_USER})


class Record(models.Model):
    """Base of every Meridian record: who created and last changed it, when, and a version for optimistic
    locking. Writes go through the services (`meridian.core.services`), which keep these fields and the audit
    trail; a subclass sets `REFERENCE_PREFIX` to get a human reference number (INC-000123)."""

    REFERENCE_PREFIX: ClassVar[str | None] = None
    REFERENCE_WIDTH: ClassVar[int] = 6  # digits of the number: INC-000123; a service's SVC-0001 has 4
    # path from this model to the owning organisation's id, for tenancy ("organisation" or "id" for Organisation)
    TENANT_FIELD: ClassVar[str | None] = None

    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    version = models.PositiveIntegerField(default=1, editable=False)

    objects: ClassVar[models.Manager[Any]] = models.Manager()

    class Meta:
        abstract = True

    def get_absolute_url(self) -> str:
        meta = self._meta
        try:
            return reverse(f"{meta.app_label}:{meta.model_name}_detail", args=[self.pk])
        except NoReverseMatch:
            return ""

    def clean_fields(self, exclude: Any = None) -> None:
        """Field validation, plus the one rule of every hierarchy: each self-referencing foreign key (a parent)
        may not point to the record itself or to one of its descendants. Organisations, locations and every
        future type with a parent get it by being records; forms and services both run it."""
        errors: dict[str, Any] = {}
        try:
            super().clean_fields(exclude=exclude)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        for name, message in self.hierarchy_errors().items():
            if name not in errors and name not in (exclude or ()):
                errors[name] = [message]
        if errors:
            raise ValidationError(errors)

    def reference_prefix(self) -> str | None:
        """The prefix of this record's new reference: the class's, unless one type numbers kinds apart (an
        agreement is SLA-, OLA- or UC- by its kind)."""
        return self.REFERENCE_PREFIX

    def hierarchy_errors(self) -> dict[str, str]:
        """Per self-referencing foreign key, why it would make a loop (one query per level walked up)."""
        model = type(self)
        errors: dict[str, str] = {}
        if self.pk is None:
            return errors  # a new record has no descendants yet: no loop possible
        for field in model._meta.concrete_fields:
            if not (field.many_to_one or field.one_to_one) or field.related_model is not model:
                continue
            ancestor, seen = getattr(self, field.attname), set()
            while ancestor is not None and ancestor not in seen:
                if ancestor == self.pk:
                    errors[field.name] = (
                        f"This {model._meta.verbose_name} cannot be its own {field.verbose_name}, directly or "
                        "further up: choose another."
                    )
                    break
                seen.add(ancestor)
                ancestor = model._default_manager.filter(pk=ancestor).values_list(field.attname, flat=True).first()
        return errors

    @property
    def tenant_id(self) -> int | None:
        if self.TENANT_FIELD is None:
            return None
        if self.TENANT_FIELD == "id":
            return self.pk
        *path, last = self.TENANT_FIELD.split("__")
        value: Any = self
        for part in path:
            value = getattr(value, part, None)
            if value is None:
                return None
        # the last hop by its column (`organisation_id`): no query for the organisation itself
        tenant = getattr(value, value._meta.get_field(last).attname, None)
        return None if tenant is None else int(tenant)


class ReferencedRecord(Record):
    """A record with a human reference number, unique and never reused (see `core.services.next_reference`)."""

    reference = models.CharField(max_length=24, unique=True, editable=False)

    class Meta:
        abstract = True


class Sequence(models.Model):
    """The last number handed out per reference prefix. Rows are only ever incremented, never reset."""

    prefix = models.CharField(max_length=16, primary_key=True)
    last_value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.prefix} {self.last_value}"


class Calendar(Record):
    """Business hours: a time zone, weekly working intervals, a country's public holidays and the calendar's own
    closures and extra working days. SLA clocks of later apps run in the calendar of the applicable agreement."""

    name = models.CharField(max_length=100, unique=True)
    time_zone = models.CharField(max_length=64, choices=TIME_ZONE_CHOICES, default="UTC")
    always_open = models.BooleanField(default=False, help_text="24x7: every minute is working time.")
    working_hours = models.JSONField(
        default=dict,
        blank=True,
        help_text="Weekday (0=Monday) to a list of [start, end] local times.",
    )
    holiday_country = models.CharField(max_length=8, blank=True, help_text="ISO country code, e.g. NL, DE, US.")
    holiday_subdivision = models.CharField(max_length=16, blank=True, help_text="Region code, e.g. BY or CA.")
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def upcoming_holidays(self, count: int = 6) -> list[tuple[date, str]]:
        """The next public holidays of the calendar's country, by name, for people to check the set-up."""
        import holidays as holidays_package

        if not self.holiday_country:
            return []
        today = timezone.localdate()
        try:
            found = holidays_package.country_holidays(
                self.holiday_country, subdiv=self.holiday_subdivision or None, years=[today.year, today.year + 1]
            )
        except NotImplementedError:
            return []
        return sorted((day, name) for day, name in found.items() if day >= today)[:count]

    def display_working_hours(self) -> str:
        from meridian.core.hours import format_hours

        return "24x7" if self.always_open else (format_hours(self.working_hours or {}) or "none")

    def clean(self) -> None:
        from meridian.core.calendars import holiday_dates
        from meridian.core.hours import normalise_working_hours

        try:
            self.working_hours = normalise_working_hours(self.working_hours)
        except ValueError as exc:
            raise ValidationError({"working_hours": str(exc)}) from exc

        if self.holiday_country:
            try:
                holiday_dates(self.holiday_country, self.holiday_subdivision or None, [2026])
            except ValueError as exc:
                raise ValidationError({"holiday_country": str(exc)}) from exc
        elif self.holiday_subdivision:
            raise ValidationError({"holiday_subdivision": "A subdivision needs a country."})

    def schedule(self, years: range | None = None) -> Schedule:
        """The pure calendar used by the business-time operations, with holidays of the given years."""
        from meridian.core.calendars import Schedule, holiday_dates

        this_year = timezone.now().year
        years = years or range(this_year - 2, this_year + 4)
        closed: set[date] = set()
        if self.holiday_country:
            closed |= holiday_dates(self.holiday_country, self.holiday_subdivision or None, years)
        extra: dict[date, list[tuple[time, time]]] = {}
        for exc in self.exceptions.all():
            if exc.kind == CalendarExceptionKind.CLOSED:
                closed.add(exc.date)
            else:
                extra[exc.date] = [(exc.start or time(0), exc.end or time(0))]
        weekly = {
            int(day): [(time.fromisoformat(a), time.fromisoformat(b)) for a, b in spans]
            for day, spans in (self.working_hours or {}).items()
        }
        return Schedule(
            tz=zoneinfo.ZoneInfo(self.time_zone),
            weekly=weekly,
            closed_days=frozenset(closed),
            extra_days=extra,
            always_open=self.always_open,
        )


class CalendarException(Record):
    """A day on which a calendar differs from its weekly hours: closed, or an extra working day."""

    calendar = models.ForeignKey(Calendar, on_delete=models.CASCADE, related_name="exceptions")
    date = models.DateField()
    kind = models.CharField(max_length=10, choices=CalendarExceptionKind.choices, default=CalendarExceptionKind.CLOSED)
    start = models.TimeField(null=True, blank=True, help_text="Extra working day only: from (local time).")
    end = models.TimeField(null=True, blank=True, help_text="Extra working day only: until (local time).")
    reason = models.CharField(max_length=200)

    class Meta:
        ordering = ["calendar", "date"]
        constraints = [models.UniqueConstraint(fields=["calendar", "date"], name="core_calendarexception_unique_day")]

    def __str__(self) -> str:
        return f"{self.calendar}: {self.date} {self.get_kind_display()}"

    def clean(self) -> None:
        if self.kind == CalendarExceptionKind.WORKING:
            errors = {}
            if self.start is None:
                errors["start"] = "An extra working day needs a start time."
            if self.end is None:
                errors["end"] = "An extra working day needs an end time."
            if self.start and self.end and self.end != time(0) and self.end <= self.start:
                errors["end"] = "The end must be after the start."
            if errors:
                raise ValidationError(errors)
        elif self.start or self.end:
            raise ValidationError({"start": "A closed day has no working hours; leave start and end empty."})


def custom_values_field() -> models.JSONField[Any]:
    """The values of the custom fields an administrator defined for the type (`core.custom_fields`), by field
    name: JSONB on PostgreSQL (with a GIN index, see the migration), JSON text on SQLite. Written only through the
    services, which validate it against the definitions."""
    return models.JSONField(default=dict, blank=True, editable=False, verbose_name="custom fields")


class Organisation(Record):
    """A customer, an internal unit of the provider, or a supplier. Customer-owned records point to one."""

    TENANT_FIELD = "id"

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=10, choices=OrganisationKind.choices, default=OrganisationKind.CUSTOMER)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    website = models.URLField(blank=True)
    calendar = models.ForeignKey(
        Calendar, null=True, blank=True, on_delete=models.PROTECT, help_text="Business hours of this organisation."
    )
    active = models.BooleanField(default=True)
    description = models.TextField(blank=True)
    custom = custom_values_field()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Location(Record):
    """A site, building, floor or room; the CMDB places configuration items in locations."""

    TENANT_FIELD = "organisation"

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=LocationKind.choices, default=LocationKind.SITE)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="locations")
    address = models.TextField(blank=True)
    time_zone = models.CharField(max_length=64, choices=TIME_ZONE_CHOICES, blank=True)

    class Meta:
        ordering = ["organisation__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "parent", "name"], name="core_location_unique_name")
        ]

    def __str__(self) -> str:
        return self.labelled(str)

    def labelled(self, name: Callable[[Any], str]) -> str:
        """The location's name after its parent's, the parent named by `name` (`policy.shown` hides a parent
        that the reader may not see)."""
        return f"{name(self.parent)} / {self.name}" if self.parent_id else self.name


class Person(Record):
    """A contact: a customer's user, a provider's staff member or a supplier's contact; optionally with a login.

    The account lifecycle (active, suspended, left) is declared in `core.workflows.PERSON_LIFECYCLE`."""

    TENANT_FIELD = "organisation"

    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    mobile = models.CharField(max_length=40, blank=True)
    job_title = models.CharField(max_length=100, blank=True)
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="people")
    location = models.ForeignKey(Location, null=True, blank=True, on_delete=models.SET_NULL, related_name="people")
    manager = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reports",
        help_text="Who they report to, in their organisation: approves their requests where an offering asks the "
        "requester's manager.",
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="person"
    )
    status = models.CharField(max_length=10, choices=PersonStatus.choices, default=PersonStatus.ACTIVE, editable=False)
    notes = models.TextField(blank=True)
    custom = custom_values_field()

    class Meta:
        ordering = ["last_name", "first_name"]
        verbose_name_plural = "people"

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}"


class Team(Record):
    """A support group of the provider: members, lead, shared mailbox and an escalation contact."""

    TENANT_FIELD = "organisation"

    name = models.CharField(max_length=100, unique=True)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="teams", help_text="Usually an internal organisation."
    )
    email = models.EmailField(blank=True)
    lead = models.ForeignKey(Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="teams_led")
    # read-only for code: written as the team's `memberships` rows (a child list with a role and a date)
    members = models.ManyToManyField(Person, through="TeamMembership", blank=True, related_name="teams")
    escalation_contact = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="teams_escalated_to"
    )
    calendar = models.ForeignKey(Calendar, null=True, blank=True, on_delete=models.PROTECT)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TeamMembership(models.Model):
    """A person's place in a team: their role there and since when. Edited as rows of the team (its form and its
    API's `memberships`); `team.members` reads the people."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="team_memberships")
    role = models.CharField(max_length=20, choices=TeamRole.choices, default=TeamRole.MEMBER)
    since = models.DateField(null=True, blank=True, help_text="When they joined the team; empty if not known.")

    class Meta:
        ordering = ["team", "person__last_name", "person__first_name", "pk"]
        constraints = [models.UniqueConstraint(fields=["team", "person"], name="core_teammembership_unique_person")]

    def __str__(self) -> str:
        return f"{self.person} in {self.team} ({self.get_role_display()})"


def custom_field_types() -> list[tuple[str, str]]:
    """The record types that take custom fields (`RecordType(custom_fields=True)`), as choices."""
    from meridian.core import registry

    return sorted(
        ((rt.label, capfirst(rt.verbose_name_plural)) for rt in registry.all_types() if rt.custom_fields),
        key=lambda choice: choice[1],
    )


class CustomField(Record):
    """A field an administrator adds to a record type without code: its name and label, the kind of value, whether
    it is required, its default, help text and validation, whether customers see it, whether the global search looks
    into it, its place among the others, and an optional scope (only records whose `scope_field` has one of
    `scope_values`). Values live in the records' `custom` JSON (`core.custom_fields` validates them)."""

    applies_to = models.CharField(
        "applies to", max_length=100, choices=custom_field_types, help_text="The kind of record that gets the field."
    )
    name = models.CharField(
        max_length=50,
        help_text="Lower-case letters, digits and underscores, starting with a letter (e.g. “cpu_count”): the key in "
        "the API and in filters. Unique per record type; fixed once records have a value.",
    )
    label = models.CharField(max_length=100, help_text="What people read beside the value.")
    type = models.CharField(
        max_length=20,
        choices=CustomFieldType.choices,
        default=CustomFieldType.TEXT,
        help_text="Fixed once records have a value.",
    )
    required = models.BooleanField(default=False, help_text="Every record in scope must have a value.")
    default = models.CharField(
        max_length=200, blank=True, help_text="Given to new records that leave the field empty (as you would type it)."
    )
    help_text = models.CharField("help text", max_length=300, blank=True)
    choices = models.TextField(blank=True, help_text="For a choice or multiple choice: one choice per line.")
    min_value = models.DecimalField(
        "minimum", max_digits=20, decimal_places=6, null=True, blank=True, help_text="For numbers: the smallest value."
    )
    max_value = models.DecimalField(
        "maximum", max_digits=20, decimal_places=6, null=True, blank=True, help_text="For numbers: the largest value."
    )
    regex = models.CharField(
        "pattern",
        max_length=200,
        blank=True,
        help_text="For text and web addresses: a regular expression the whole value must match, e.g. ^[A-Z]{2}\\d{4}$.",
    )
    customer_visible = models.BooleanField(
        "visible to customers", default=False, help_text="Customer users see (and, where they may edit, fill) it."
    )
    searchable = models.BooleanField(default=False, help_text="The global search looks into its values.")
    order = models.PositiveIntegerField(default=100, help_text="Fields are shown in this order (then by label).")
    scope_field = models.CharField(
        "only when field",
        max_length=50,
        blank=True,
        help_text="Leave empty for every record; else a field of the record (e.g. “kind”)…",
    )
    scope_values = models.CharField(
        "has one of",
        max_length=200,
        blank=True,
        help_text="…that has one of these values, separated by commas (e.g. “customer”).",
    )

    class Meta:
        ordering = ["applies_to", "order", "label"]
        constraints = [models.UniqueConstraint(fields=["applies_to", "name"], name="core_customfield_unique_name")]

    def __str__(self) -> str:
        return self.label

    def clean(self) -> None:
        from meridian.core.custom_fields import definition_errors

        errors = definition_errors(self)
        if errors:
            raise ValidationError(errors)


class AuditEvent(models.Model):
    """One append-only, hash-chained entry of the audit trail. Written by `core.audit.record_event` inside the
    transaction of the change it describes, first unchained (`seq`, `prev_hash` and `hash` NULL; the auto id
    keeps the insertion order); `core.audit.chain_pending` then links it: the next `seq`, the previous event's
    hash and its own. `occurred_at` comes from the database's clock. `meridian audit verify` recomputes the
    chain."""

    seq = models.BigIntegerField(unique=True, null=True)
    occurred_at = models.DateTimeField(db_default=Now())
    actor_id = models.BigIntegerField(null=True)
    actor_label = models.CharField(max_length=200)
    action = models.CharField(max_length=12, choices=AuditAction.choices)
    record_type = models.CharField(max_length=100, db_index=True)
    record_id = models.CharField(max_length=64)
    record_label = models.CharField(max_length=300)
    organisation_id = models.BigIntegerField(null=True, db_index=True)
    changes = models.JSONField(default=dict)
    reason = models.TextField(blank=True)
    authorised_by = models.CharField(max_length=200, blank=True)
    prev_hash = models.CharField(max_length=64, null=True)
    hash = models.CharField(max_length=64, null=True)

    class Meta:
        # the chain's order; events still waiting for the chainer are the newest, in insertion order
        ordering = [models.F("seq").desc(nulls_first=True), "-id"]
        indexes = [
            models.Index(fields=["record_type", "record_id", "seq"], name="core_audit_record_idx"),
            models.Index(fields=["id"], condition=models.Q(seq__isnull=True), name="core_audit_pending_idx"),
            # a person's own latest events (the home page's "recently created or changed by you")
            models.Index(fields=["actor_id", "-id"], name="core_audit_actor_idx"),
            # the writes made under a change (its "Configuration changes" tab): the few events that cite one
            models.Index(
                fields=["authorised_by", "-id"],
                condition=~models.Q(authorised_by=""),
                name="core_audit_authorised_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.seq if self.seq is not None else '(pending)'} {self.action} {self.record_label}"


class NotificationLog(models.Model):
    """An outbound message about a record: queued in the transaction of the event, sent by the task queue."""

    created_at = models.DateTimeField(default=timezone.now)
    event = models.CharField(max_length=100)
    record_type = models.CharField(max_length=100)
    record_id = models.CharField(max_length=64)
    organisation_id = models.BigIntegerField(null=True)
    recipient = models.EmailField()
    subject = models.CharField(max_length=300)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=NotificationStatus.choices, default=NotificationStatus.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True)  # when a worker last took it to send (status "sending")
    error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True)
    # the sent message's Message-ID ("<uuid.random@MERIDIAN_MAIL_DOMAIN>"), so that a reply to it finds the record
    message_id = models.CharField(max_length=255, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["record_type", "record_id"], name="core_notif_record_idx")]

    def __str__(self) -> str:
        return f"{self.event} to {self.recipient} ({self.status})"


class IdempotencyKey(models.Model):
    """The first answer to an API POST (a create or a lifecycle action) sent with an `Idempotency-Key` header, so
    that a retry of it (same user, key, path and body) gets that answer again instead of writing twice.

    Written in the transaction of the write it guards (both or neither are committed); unique per user and key,
    so that of two concurrent requests with one key only one writes. Only successful answers are kept. Not a
    record: no audit event, no version; purged after `KEEP` by the `core.purge_idempotency_keys` task."""

    KEEP: ClassVar[timedelta] = timedelta(hours=24)

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the request's method, path, If-Match, body.")
    status_code = models.PositiveSmallIntegerField()
    body = models.TextField(help_text="The answer's JSON, as sent.")
    etag = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="core_idempotencykey_unique_key")]

    def __str__(self) -> str:
        return f"{self.key} ({self.status_code})"


class ListPreference(models.Model):
    """A person's choice of columns for one record type's list page (the column chooser), kept on the server so
    that it follows them from machine to machine. No row: the type's declared `list_columns`."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="list_preferences")
    record_type = models.CharField(max_length=100)  # `core.organisation`
    columns = models.JSONField(default=list)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "record_type"], name="one_list_preference_per_type")]

    def __str__(self) -> str:
        return f"{self.record_type} columns of user {self.user_id}"


class ApiToken(models.Model):
    """A named API token of one login, for one script (`core.api_tokens`). Only a SHA-256 digest of the secret is
    stored, with its first characters (`prefix`) to recognise it by: a copy of the database holds nothing that
    authenticates. Optionally read-only (GET, HEAD, OPTIONS) and with an expiry; revoked tokens stay on record
    (`revoked_at`) so that a script using one is told so. Written only by `core.api_tokens`."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)  # the secret's first characters, shown in lists ("mrd_3fQ9…")
    digest = models.CharField(max_length=64, unique=True)  # hex SHA-256 of the whole secret
    read_only = models.BooleanField(default=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)  # to the minute: updated at most once a minute
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # a name names one working token of a person; a revoked token's name may be used again
            models.UniqueConstraint(
                fields=["user", "name"], condition=models.Q(revoked_at__isnull=True), name="core_apitoken_name"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def is_expired(self, now: Any = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())


class RecordLink(models.Model):
    """A typed link between two records of any registered types that opt in (`RecordType(record_links=True)`),
    e.g. incident *caused by* change: the link type (`core.links.LinkType`, declared in code by the app owning the
    types), its source and its target (type label and id). Made and removed only by `services.link_records` /
    `unlink_records` (audited on both records); read as a relation through `core.links.linked` (indexed both
    ways, for problem detection, impact analysis and reports)."""

    link_type = models.CharField(max_length=50)  # `caused_by`
    source_type = models.CharField(max_length=100)  # `tickets.incident`
    source_id = models.PositiveBigIntegerField()
    target_type = models.CharField(max_length=100)
    target_id = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["link_type", "source_type", "source_id", "target_type", "target_id"],
                name="core_recordlink_unique",
            ),
            models.CheckConstraint(
                condition=~models.Q(source_type=models.F("target_type"), source_id=models.F("target_id")),
                name="core_recordlink_not_to_itself",
            ),
        ]
        indexes = [
            # the links of a record from either end, and joins from one end to the other by type
            models.Index(fields=["source_type", "source_id", "link_type"], name="core_link_source_idx"),
            models.Index(fields=["target_type", "target_id", "link_type"], name="core_link_target_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.source_type}#{self.source_id} {self.link_type} {self.target_type}#{self.target_id}"


def attachment_storage() -> Any:
    """Where attachment files live: the `attachments` storage of settings.STORAGES (the file system under var/ by
    default, an S3-compatible bucket when the operator configures one). Read through the storage API only."""
    from django.core.files.storage import storages

    return storages["attachments"]


class Attachment(models.Model):
    """A file attached to a record of any registered type that opts in (`RecordType(attachments=Attachments())`),
    and later optionally to one of its comments. Written only by `core.attachments` (upload and delete, audited on
    the parent record); read only through views that look the parent record up for the reader first (tenancy).
    Immutable once written: a new version of a document is a new attachment."""

    record_type = models.CharField(max_length=100)  # the parent's registry label, `core.organisation`
    record_id = models.BigIntegerField()
    # the comment that carries the file, once conversations exist (NULL: attached to the record itself)
    comment_id = models.BigIntegerField(null=True, blank=True)
    file = models.FileField(storage=attachment_storage, max_length=300)
    name = models.CharField(max_length=255)  # as uploaded (cleaned of any path); never used as the stored name
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    content_type = models.CharField(max_length=127)  # detected from the bytes, never taken from the client
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    uploaded_by_label = models.CharField(max_length=200)
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-uploaded_at", "-id"]
        indexes = [models.Index(fields=["record_type", "record_id", "uploaded_at"], name="core_attachment_record_idx")]

    def __str__(self) -> str:
        return self.name


class Comment(models.Model):
    """A comment on a record of any registered type that opts in (`RecordType(conversation=Conversation())`): a
    public reply (the record's customer users read it) or an internal note (staff only, on every channel). Written
    only by `core.conversation` (post, edit, delete: each audited on the parent record, with the text before);
    read only through views that look the parent record up for the reader first (tenancy) and then narrow the
    comments to what the reader may read (`conversation.readable`). A deleted comment keeps its row (the thread
    keeps its place) with its text blanked; the audit trail keeps the text."""

    record_type = models.CharField(max_length=100)  # the parent's registry label, `core.organisation`
    record_id = models.BigIntegerField()
    # the parent's organisation, copied when posted: search and reports narrow comments without a join per type
    organisation_id = models.BigIntegerField(null=True, blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    author_label = models.CharField(max_length=200)  # kept when the login is gone
    body = models.TextField()  # Markdown source; rendered and sanitised when shown (`conversation.render`)
    visibility = models.CharField(max_length=10, choices=CommentVisibility.choices)
    created_at = models.DateTimeField(default=timezone.now)
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["record_type", "record_id", "created_at"], name="core_comment_record_idx")]

    def __str__(self) -> str:
        return f"{self.get_visibility_display()} by {self.author_label}"

    @property
    def is_internal(self) -> bool:
        return self.visibility == CommentVisibility.INTERNAL

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class Watch(models.Model):
    """A person following a record of any registered type that opts in (`RecordType(watchers=Watchers())`): they
    get a mail about every event of it they may read (`core.watchers`). Written only by `core.watchers` (the
    Follow button and API, auto-follow of the people a record names, the unfollow link of the mails). Not a change
    of the record (no version, no audit event): the row itself keeps who follows, why (`manual`, or the field that
    named them: `lead`), since when and who made it."""

    record_type = models.CharField(max_length=100)  # the record's registry label, `core.team`
    record_id = models.BigIntegerField()
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="watches", db_index=False)
    reason = models.CharField(max_length=100, default="manual")
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # one watch per person and record; its index also serves record -> followers
            models.UniqueConstraint(fields=["record_type", "record_id", "person"], name="core_watch_unique_person")
        ]
        indexes = [models.Index(fields=["person", "record_type", "record_id"], name="core_watch_person_idx")]

    def __str__(self) -> str:
        return f"{self.person_id} follows {self.record_type}#{self.record_id} ({self.reason})"


class ImportJob(models.Model):
    """One import of a file (`core.imports`): who started it, for which type, with which options, the file (kept in
    the attachments storage until the import is done, for the commit and the background task), the report of its
    dry run (with the version of every record it would update) and then of its commit, and its progress."""

    class Status(models.TextChoices):
        UPLOADED = "uploaded", "Uploaded"
        CHECKED = "checked", "Checked (dry run)"
        QUEUED = "queued", "Waiting to run"
        RUNNING = "running", "Importing"
        DONE = "done", "Imported"
        FAILED = "failed", "Not imported"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)  # the dry run's token
    record_type = models.CharField(max_length=100)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    file_name = models.CharField(max_length=255)
    file = models.CharField(max_length=300, blank=True)  # its name in the attachments storage, "" once removed
    sha256 = models.CharField(max_length=64)
    options = models.JSONField(default=dict)  # update_on, sheet, mapping
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.UPLOADED)
    total_rows = models.PositiveIntegerField(default=0)
    done_rows = models.PositiveIntegerField(default=0)
    report = models.JSONField(default=dict)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"import of {self.file_name} ({self.get_status_display()})"

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.done_rows / self.total_rows)) if self.total_rows else 0


class BulkJob(models.Model):
    """One bulk action (`core.bulk`): who started it on which records of which type (the ids and the versions they
    had when selected), with which input, its progress and its result (each refused record with the reason). Runs
    in the request when small, else as a background task; each record is written by the single-record service."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    record_type = models.CharField(max_length=100)
    action = models.CharField(max_length=60)
    title = models.CharField(max_length=200)  # "Edit fields: Team, Status"
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=BulkStatus.choices, default=BulkStatus.QUEUED)
    params = models.JSONField(default=dict)  # channel (page/api), input, reason
    rows = models.JSONField(default=list)  # [[id, version or null], ...]: the selection, fixed when it started
    total = models.PositiveIntegerField(default=0)
    done_rows = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    refused = models.JSONField(default=list)  # [{id, label, field, message}, ...]

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.title} ({self.get_status_display()})"

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.done_rows / self.total)) if self.total else 100

    @property
    def finished(self) -> bool:
        return self.status in (BulkStatus.DONE, BulkStatus.FAILED)


class SavedView(models.Model):
    """A named list of one record type as its owner left it: the filters and sort (`query`, the list's query
    string), the columns, and who else sees it (`sharing`: only the owner, the members of `team`, or everyone who
    may read the type). Only filters are stored: a reader of a shared view sees the records they may see.
    Written only by `core.saved_views` (validated, version-checked)."""

    PRIVATE, TEAM, EVERYONE = "private", "team", "everyone"
    SHARING_CHOICES = [(PRIVATE, "Only me"), (TEAM, "A team"), (EVERYONE, "Everyone")]

    record_type = models.CharField(max_length=100)  # `core.organisation`
    name = models.CharField(max_length=100)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views")
    query = models.TextField(blank=True)  # `organisation=3&sort=-name`
    columns = models.JSONField(default=list)
    sharing = models.CharField(max_length=10, choices=SHARING_CHOICES, default=PRIVATE)
    team = models.ForeignKey("Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="saved_views")
    show_on_home = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "record_type", "name"], name="saved_view_name_unique_per_owner")
        ]
        indexes = [models.Index(fields=["record_type", "sharing"], name="saved_view_type_sharing")]

    def __str__(self) -> str:
        return self.name


class DefaultView(models.Model):
    """The saved view a person's list of one type opens with (their own or one shared with them)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="default_views")
    record_type = models.CharField(max_length=100)
    view = models.ForeignKey(SavedView, on_delete=models.CASCADE, related_name="defaults")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "record_type"], name="one_default_view_per_type")]

    def __str__(self) -> str:
        return f"{self.record_type} default of user {self.user_id}"
