"""The core record types, registered with the generic machinery (pages, API, search, export, policy)."""

from __future__ import annotations

from meridian.core import services
from meridian.core.choices import Role
from meridian.core.forms import CalendarForm
from meridian.core.hours import format_hours
from meridian.core.models import Calendar, CalendarException, Location, Organisation, Person, Team
from meridian.core.notifications import Event, register_event
from meridian.core.registry import ADD, ADMINS, CHANGE, DELETE, STAFF, VIEW, Link, RecordType, register
from meridian.core.workflows import PERSON_LIFECYCLE

CUSTOMERS_TOO = STAFF | {Role.CUSTOMER_USER}
PEOPLE_KEEPERS = ADMINS | {Role.SERVICE_DESK_AGENT}

register(
    RecordType(
        model=Organisation,
        fields=["name", "kind", "parent", "email", "phone", "website", "calendar", "active", "description"],
        list_columns=["name", "kind", "email", "phone", "active"],
        filter_fields=["kind", "active"],
        search_fields=["name", "email", "description"],
        permissions={VIEW: CUSTOMERS_TOO},
        links={"parent": Link.ANY},  # a group of companies: the parent may be another organisation (shown hidden)
        select_related=["parent", "calendar"],
        help_text="Customers, internal units and suppliers.",
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
            "notes",
        ],
        list_columns=["last_name", "first_name", "organisation", "email", "job_title", "status"],
        filter_fields=["organisation", "status"],
        search_fields=["first_name", "last_name", "email", "job_title"],
        permissions={VIEW: CUSTOMERS_TOO, ADD: PEOPLE_KEEPERS, CHANGE: PEOPLE_KEEPERS},
        lifecycle=PERSON_LIFECYCLE,
        after_save=services.sync_login,
        delete_refusal=services.person_delete_refusal,
        detail_context=lambda person, user: {"can_grant_login": services.may_grant_login(person, user)},
        select_related=["organisation", "location", "user"],
        help_text="Contacts of customers, staff of the provider and suppliers; some with a login.",
    )
)

register(
    RecordType(
        model=Team,
        fields=["name", "organisation", "email", "lead", "members", "escalation_contact", "calendar", "description"],
        list_columns=["name", "organisation", "email", "lead"],
        filter_fields=["organisation"],
        search_fields=["name", "email", "description"],
        links={"organisation": Link.INTERNAL},  # lead, members and escalation contact: of that same organisation
        select_related=["organisation", "lead", "escalation_contact", "calendar"],
        prefetch_related=["members"],
        help_text="Support groups that work queues: members, lead, shared mailbox, escalation contact.",
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
        help_text="Sites, buildings, floors and rooms.",
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
        permissions={ADD: ADMINS | {Role.SERVICE_OWNER}, CHANGE: ADMINS | {Role.SERVICE_OWNER}, DELETE: ADMINS},
        form=CalendarForm,
        display_values={"working_hours": lambda hours: format_hours(hours or {})},
        help_text="Business hours that SLA clocks run in: time zone, weekly hours, holidays, closures.",
    )
)

register(
    RecordType(
        model=CalendarException,
        fields=["calendar", "date", "kind", "start", "end", "reason"],
        list_columns=["date", "calendar", "kind", "start", "end", "reason"],
        filter_fields=["calendar", "kind"],
        search_fields=["reason"],
        permissions={
            ADD: ADMINS | {Role.SERVICE_OWNER},
            CHANGE: ADMINS | {Role.SERVICE_OWNER},
            DELETE: ADMINS | {Role.SERVICE_OWNER},
        },
        select_related=["calendar"],
        help_text="Closures and extra working days of a calendar.",
    )
)

register_event(
    Event(
        "core.person.account_ended",
        recipients=lambda person: [person.email] if person.email else [],
        description="To the person whose account was suspended or closed.",
    )
)
