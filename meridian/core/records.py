"""The core record types, registered with the generic machinery (pages, API, search, export, policy)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count

from meridian.core import services
from meridian.core.actions import RecordAction
from meridian.core.attachments import MB, Attachments
from meridian.core.children import Child
from meridian.core.choices import Role
from meridian.core.conversation import MENTIONED_EVENT, Conversation
from meridian.core.custom_fields import definition_delete_refusal
from meridian.core.forms import CalendarForm, CustomFieldForm, GrantLoginForm
from meridian.core.hours import format_hours
from meridian.core.links import DUPLICATE_OF, RELATES_TO, register_link_type
from meridian.core.models import (
    Calendar,
    CalendarException,
    CustomField,
    Location,
    Organisation,
    Person,
    Team,
    TeamMembership,
)
from meridian.core.notifications import Event, register_event
from meridian.core.registry import (
    ADD,
    ADMINS,
    CHANGE,
    DELETE,
    STAFF,
    VIEW,
    Computed,
    Link,
    RecordType,
    Related,
    register,
)
from meridian.core.tabs import Tab
from meridian.core.watchers import Watchers
from meridian.core.workflows import PERSON_LIFECYCLE

CUSTOMERS_TOO = STAFF | {Role.CUSTOMER_USER}
PEOPLE_KEEPERS = ADMINS | {Role.SERVICE_DESK_AGENT}
CALENDAR_KEEPERS = ADMINS | {Role.SERVICE_OWNER, Role.SERVICE_LEVEL_MANAGER}

GRANT_LOGIN = RecordAction(
    "grant_login",
    "Give a login",
    services.grant_login,
    form=GrantLoginForm,
    roles=ADMINS,
    allowed=services.login_refusal,
    style="success",
    help_text="A login with the roles chosen; without a password they set their own through password reset.",
    initial=lambda person, user: {"username": (person.email or "").split("@")[0]},
    bulk=False,  # a login name is one person's
)


def _login_tab(person: Person, user: Any) -> dict[str, Any]:
    from django.urls import reverse
    from django.utils import timezone

    from meridian.core import api_tokens

    may_grant = GRANT_LOGIN.available(person, user)
    # the login's API tokens: for an administrator (who may revoke them) or the person themselves
    show_tokens = person.user is not None and api_tokens.may_manage_tokens_of(user, person.user)
    return {
        "grant_url": reverse("core:person_action", args=[person.pk, GRANT_LOGIN.slug]) if may_grant else "",
        "show_tokens": show_tokens,
        "tokens": list(api_tokens.active_tokens(person.user)) if show_tokens else [],
        "now": timezone.now(),
    }


def _calendar_hours(calendar: Calendar, user: Any) -> dict[str, Any]:
    from meridian.core.hours import preview

    return {
        "days": preview(calendar),
        "exceptions": list(calendar.exceptions.all()),
        "holidays": calendar.upcoming_holidays(),
    }


def _calendar_hours_api(calendar: Calendar, user: Any, request: Any) -> dict[str, Any]:
    from meridian.core.hours import preview

    return {
        "time_zone": calendar.time_zone,
        "days": [
            {
                "date": day["date"],
                "hours": [[a.strftime("%H:%M"), b.strftime("%H:%M")] for a, b in day["hours"]],
                "note": day["note"],
            }
            for day in preview(calendar)
        ],
        "holidays": [{"date": day, "name": name} for day, name in calendar.upcoming_holidays()],
    }


def _calendar_hours_schema() -> Any:
    from drf_spectacular.utils import inline_serializer
    from rest_framework import serializers

    day = inline_serializer(
        "CalendarHoursDay",
        {
            "date": serializers.DateField(),
            "hours": serializers.ListField(
                child=serializers.ListField(child=serializers.CharField()),
                help_text='Local working intervals, e.g. [["09:00", "17:00"]]; "24:00" is not used: 00:00 ends a day.',
            ),
            "note": serializers.CharField(help_text="A public holiday's name, or a closure's kind and reason."),
        },
        many=True,
    )
    holiday = inline_serializer(
        "CalendarHoliday", {"date": serializers.DateField(), "name": serializers.CharField()}, many=True
    )
    return inline_serializer(
        "CalendarHours",
        {"time_zone": serializers.CharField(), "days": day, "holidays": holiday},
    )


def _upcoming_closures(calendar: Calendar, user: Any) -> int:
    from django.utils import timezone

    return calendar.exceptions.filter(date__gte=timezone.localdate()).count()


register(
    RecordType(
        model=Organisation,
        fields=["name", "kind", "parent", "email", "phone", "website", "calendar", "active", "description"],
        list_columns=["name", "kind", "email", "phone", "people_count", "active"],
        filter_fields=["kind", "active"],
        search_fields=["name", "email", "description"],
        permissions={VIEW: CUSTOMERS_TOO},
        links={"parent": Link.ANY},  # a group of companies: the parent may be another organisation (shown hidden)
        select_related=["parent", "calendar"],
        computed={
            "people_count": Computed(Count("people", distinct=True), "People"),
            "location_count": Computed(Count("locations", distinct=True), "Locations"),
        },
        related=[Related("people"), Related("teams"), Related("locations"), Related("children", "Child organisations")],
        attachments=Attachments(),  # contracts, agreements, letters: whoever may change the organisation adds them
        custom_fields=True,
        help_text="Customers, internal units and suppliers.",
        record_links=True,
        conversation=Conversation(),  # the account's notes and replies: internal ones for staff only
        watchers=Watchers(),
    )
)

register(
    RecordType(
        model=Person,
        fields=[
            "first_name",
            "last_name",
            "email",
            "phone",
            "mobile",
            "job_title",
            "organisation",
            "location",
            "manager",
            "notes",
        ],
        list_columns=["last_name", "first_name", "organisation", "email", "job_title", "status"],
        filter_fields=["organisation", "status"],
        search_fields=["first_name", "last_name", "email", "job_title"],
        permissions={VIEW: CUSTOMERS_TOO, ADD: PEOPLE_KEEPERS, CHANGE: PEOPLE_KEEPERS},
        lifecycle=PERSON_LIFECYCLE,
        after_save=services.sync_login,
        delete_refusal=services.person_delete_refusal,
        actions=[GRANT_LOGIN],
        tabs=[Tab("login", "Login", template="core/tabs/person_login.html", context=_login_tab, roles=STAFF)],
        select_related=["organisation", "location", "user"],
        computed={"has_login": Computed(lambda person: "Yes" if person.user_id else "No", "Login")},
        custom_fields=True,
        conversation=Conversation(),
        help_text="Contacts of customers, staff of the provider and suppliers; some with a login.",
        watchers=Watchers(),
    )
)

register(
    RecordType(
        model=Team,
        fields=["name", "organisation", "email", "lead", "escalation_contact", "calendar", "description"],
        list_columns=["name", "organisation", "email", "lead", "member_count"],
        filter_fields=["organisation"],
        search_fields=["name", "email", "description"],
        links={"organisation": Link.INTERNAL},  # lead, members and escalation contact: of that same organisation
        # many-to-many with attributes: each member with a role and a date, edited as rows of the team
        children=[Child(TeamMembership, fk="team", fields=["person", "role", "since"], label="Members")],
        select_related=["organisation", "lead", "escalation_contact", "calendar"],
        computed={"member_count": Computed(Count("members", distinct=True), "Members")},
        help_text="Support groups that work queues: members, lead, shared mailbox, escalation contact.",
        record_links=True,
        conversation=Conversation(),
        watchers=Watchers(auto=["lead", "escalation_contact"]),  # they follow the team they lead
    )
)

register(
    RecordType(
        model=Location,
        fields=["name", "kind", "parent", "organisation", "address", "time_zone"],
        list_columns=["name", "kind", "organisation", "parent"],
        filter_fields=["kind", "organisation"],
        search_fields=["name", "address"],
        permissions={
            VIEW: CUSTOMERS_TOO,
            ADD: ADMINS | {Role.CONFIGURATION_MANAGER},
            CHANGE: ADMINS | {Role.CONFIGURATION_MANAGER},
        },
        select_related=["organisation", "parent"],
        computed={"people_count": Computed(Count("people", distinct=True), "People")},
        related=[Related("children", "Sub-locations"), Related("people")],
        # floor plans and photos (of a rack, a room): service desk agents add them too, without changing the location
        attachments=Attachments(
            max_file_size=10 * MB, roles=ADMINS | {Role.CONFIGURATION_MANAGER, Role.SERVICE_DESK_AGENT}
        ),
        help_text="Sites, buildings, floors and rooms.",
        record_links=True,
        conversation=Conversation(),
        watchers=Watchers(),
    )
)

register(
    RecordType(
        model=Calendar,
        fields=[
            "name",
            "time_zone",
            "always_open",
            "working_hours",
            "holiday_country",
            "holiday_subdivision",
            "description",
        ],
        list_columns=["name", "time_zone", "always_open", "holiday_country", "holiday_subdivision"],
        filter_fields=["always_open", "holiday_country"],
        search_fields=["name", "description"],
        permissions={ADD: CALENDAR_KEEPERS, CHANGE: CALENDAR_KEEPERS, DELETE: ADMINS},
        form=CalendarForm,
        tabs=[
            Tab(
                "hours",
                "Hours",
                template="core/tabs/calendar_hours.html",
                context=_calendar_hours,
                badge=_upcoming_closures,
                api=_calendar_hours_api,
                api_schema=_calendar_hours_schema(),
                help_text="The working hours of the next 14 days in the calendar's time zone (weekly hours, public "
                "holidays, closures and extra working days applied), and the next public holidays.",
            )
        ],
        computed={"exception_count": Computed(Count("exceptions", distinct=True), "Exceptions")},
        # closures and extra working days exist only as the calendar's rows: one way to edit them, audited and
        # versioned with the calendar (no standalone pages or API of their own)
        children=[
            Child(
                CalendarException,
                fk="calendar",
                fields=["date", "kind", "start", "end", "reason"],
                label="Closures and extra working days",
            )
        ],
        display_values={"working_hours": lambda hours: format_hours(hours or {})},
        help_text="Business hours that SLA clocks run in: time zone, weekly hours, holidays, closures.",
    )
)

register(
    RecordType(
        model=CustomField,
        fields=[
            "applies_to",
            "name",
            "label",
            "type",
            "required",
            "default",
            "help_text",
            "choices",
            "min_value",
            "max_value",
            "regex",
            "customer_visible",
            "searchable",
            "order",
            "scope_field",
            "scope_values",
        ],
        list_columns=["label", "name", "applies_to", "type", "required", "customer_visible", "order"],
        filter_fields=["applies_to", "type", "required", "customer_visible"],
        search_fields=["name", "label", "help_text"],
        ordering_fields=["id", "label", "name", "applies_to", "type", "order", "created_at", "updated_at"],
        form=CustomFieldForm,  # the scope's values chosen by name
        # defaults: staff read them, administrators define them; the auditor reads
        delete_refusal=definition_delete_refusal,  # never while records hold values: nothing destroyed silently
        help_text="Fields administrators add to organisations, people and other record types without code.",
    )
)

register_event(
    Event(
        MENTIONED_EVENT,
        recipients=lambda obj: [],  # the people mentioned, given per message (`conversation.post_comment`)
        description="To a person @mentioned in a comment on a record they may see.",
    )
)

register_event(
    Event(
        "core.person.account_ended",
        recipients=lambda person: [person.email] if person.email else [],
        description="To the person whose account was suspended or closed.",
    )
)

# links between records (`core.links`): any two records of types that opt in may relate; two of one type may be
# duplicates. Process apps declare their own pairs (incident caused by change...) in their `records.py`.
register_link_type(RELATES_TO)
register_link_type(DUPLICATE_OF)
