"""`meridian demo`: load a believable service provider (customers, teams, people with every role, calendars
for two countries), through the services so that everything is audited like real work."""

from __future__ import annotations

import secrets
from datetime import date, time
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from meridian.core import services
from meridian.core.choices import Role
from meridian.core.models import Calendar, Location, Organisation, Person, Team

WEEKDAYS_9_TO_5 = {str(d): [["08:30", "12:30"], ["13:15", "17:30"]] for d in range(5)}

PEOPLE: list[tuple[str, str, str, str, str, list[str]]] = [
    # first, last, organisation, job title, username, roles
    ("Ada", "Admin", "Meridian Managed Services", "Platform administrator", "admin", [Role.ADMINISTRATOR]),
    ("Sanne", "de Vries", "Meridian Managed Services", "Service desk agent", "sanne", [Role.SERVICE_DESK_AGENT]),
    ("Jonas", "Becker", "Meridian Managed Services", "Service desk agent", "jonas", [Role.SERVICE_DESK_AGENT]),
    ("Priya", "Raman", "Meridian Managed Services", "Network engineer", "priya", [Role.RESOLVER]),
    ("Tomasz", "Nowak", "Meridian Managed Services", "Platform engineer", "tomasz", [Role.RESOLVER]),
    ("Claire", "Dubois", "Meridian Managed Services", "Change manager", "claire", [Role.CHANGE_MANAGER]),
    ("Lars", "Eriksen", "Meridian Managed Services", "Configuration manager", "lars", [Role.CONFIGURATION_MANAGER]),
    ("Maria", "Rossi", "Meridian Managed Services", "Service owner, hosting", "maria", [Role.SERVICE_OWNER]),
    (
        "Samir",
        "Haddad",
        "Meridian Managed Services",
        "Service level manager",
        "samir",
        [Role.SERVICE_LEVEL_MANAGER],
    ),
    ("Ken", "Okafor", "Meridian Managed Services", "Internal auditor", "ken", [Role.AUDITOR]),
    ("Eva", "Jansen", "Northwind Logistics", "IT coordinator", "eva", [Role.CUSTOMER_USER]),
    ("Pieter", "Bakker", "Northwind Logistics", "Warehouse manager", "pieter", [Role.CUSTOMER_USER]),
    ("Lena", "Hofmann", "Bergland Versicherung", "Head of IT", "lena", [Role.CUSTOMER_USER]),
    ("Felix", "Wagner", "Bergland Versicherung", "Claims team lead", "felix", [Role.CUSTOMER_USER]),
    ("Grace", "Lim", "Harbour City Council", "Digital services lead", "grace", [Role.CUSTOMER_USER]),
    ("Rob", "Steel", "Datacore Hardware", "Account manager", "", []),
]


def login_list() -> list[str]:
    """Every demo login but admin, with its role (and organisation for customer users), as printed."""
    logins = []
    for _first, _last, org, _title, username, roles in PEOPLE:
        if username and username != "admin":
            role = ", ".join(str(Role(r).label).lower() for r in roles)
            logins.append(f"{username} ({role}, {org})" if Role.CUSTOMER_USER in roles else f"{username} ({role})")
    return logins


class Command(BaseCommand):
    help = "Load demo data: customers, teams, people with every role, calendars for the Netherlands and Germany."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when organisations exist already.")
        parser.add_argument("--password", help="Password of every demo login (default: a new random one).")
        parser.add_argument(
            "--scale",
            type=int,
            metavar="N",
            help="Also add N generated people in N/100 customer organisations, to try lists at scale "
            "(written in batches, one audit event per batch; see docs/operators/cli.md).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        scale = options.get("scale")
        if scale is not None and scale < 1:
            raise CommandError("--scale: give a whole number of people of at least 1.")
        if options["if_empty"] and Organisation.objects.exists():
            self.stdout.write("Demo data already loaded; nothing to do.")
            if scale:
                self.load_scale(scale)
            return
        password = options["password"] or secrets.token_urlsafe(12)
        with transaction.atomic():
            self.load(password)
        self.stdout.write(self.style.SUCCESS("Demo data loaded."))
        self.stdout.write(f"Log in as admin / {password} (every demo login has this password).")
        self.stdout.write("Other logins: " + ", ".join(login_list()) + ".")
        if scale:
            self.load_scale(scale)

    def load_scale(self, people: int) -> None:
        from meridian.core import scale

        def progress(done: int, total: int) -> None:
            self.stdout.write(f"  {done:,} of {total:,} people")

        organisations, made = scale.load(people, actor=services.get_system_actor(), progress=progress)
        self.stdout.write(self.style.SUCCESS(f"Generated {organisations:,} organisations and {made:,} people."))

    def load(self, password: str) -> None:
        actor = services.get_system_actor()

        def create(model: Any, **data: Any) -> Any:
            return services.create_record(model, data=data, actor=actor, reason="demo data")

        nl = create(
            Calendar,
            name="Netherlands office hours",
            time_zone="Europe/Amsterdam",
            working_hours=WEEKDAYS_9_TO_5,
            holiday_country="NL",
            description="Mon–Fri 08:30–17:30 with lunch, Dutch public holidays.",
            exceptions=[
                {
                    "date": date(2026, 12, 19),
                    "kind": "working",
                    "start": time(9),
                    "end": time(13),
                    "reason": "Saturday migration window staffed",
                },
                {"date": date(2026, 12, 24), "kind": "closed", "reason": "Office closed on Christmas Eve"},
            ],
        )
        de = create(
            Calendar,
            name="Bavaria office hours",
            time_zone="Europe/Berlin",
            working_hours={str(d): [["08:00", "12:00"], ["13:00", "17:00"]] for d in range(5)},
            holiday_country="DE",
            holiday_subdivision="BY",
            description="Mon–Fri 08:00–17:00, German and Bavarian public holidays.",
            exceptions=[{"date": date(2026, 12, 31), "kind": "closed", "reason": "Year-end closure"}],
        )
        always = create(
            Calendar,
            name="24x7",
            time_zone="UTC",
            always_open=True,
            description="Round the clock, every day of the year.",
        )

        orgs = {
            "Meridian Managed Services": create(
                Organisation,
                name="Meridian Managed Services",
                kind="internal",
                email="servicedesk@meridian.example",
                calendar=always,
                description="The service provider.",
            ),
            "Northwind Logistics": create(
                Organisation,
                name="Northwind Logistics",
                kind="customer",
                email="it@northwind.example",
                phone="+31 10 555 0100",
                website="https://northwind.example",
                calendar=nl,
            ),
            "Bergland Versicherung": create(
                Organisation,
                name="Bergland Versicherung",
                kind="customer",
                email="it@bergland.example",
                phone="+49 89 555 0199",
                calendar=de,
            ),
            "Harbour City Council": create(
                Organisation,
                name="Harbour City Council",
                kind="customer",
                email="digital@harbourcity.example",
                calendar=nl,
            ),
            "Datacore Hardware": create(
                Organisation, name="Datacore Hardware", kind="supplier", email="support@datacore.example"
            ),
        }
        rotterdam = create(
            Location,
            name="Rotterdam HQ",
            kind="site",
            organisation=orgs["Northwind Logistics"],
            address="Waalhaven Zuidzijde 1, Rotterdam",
            time_zone="Europe/Amsterdam",
        )
        create(
            Location, name="Warehouse 3", kind="building", parent=rotterdam, organisation=orgs["Northwind Logistics"]
        )
        create(
            Location,
            name="Munich office",
            kind="site",
            organisation=orgs["Bergland Versicherung"],
            address="Leopoldstraße 10, München",
            time_zone="Europe/Berlin",
        )
        dc = create(
            Location,
            name="Amsterdam DC1",
            kind="site",
            organisation=orgs["Meridian Managed Services"],
            address="Science Park 120, Amsterdam",
            time_zone="Europe/Amsterdam",
        )
        create(Location, name="Hall A", kind="room", parent=dc, organisation=orgs["Meridian Managed Services"])

        people: dict[str, Person] = {}
        user_model = get_user_model()
        for first, last, org, title, username, roles in PEOPLE:
            domain = orgs[org].email.split("@")[1]
            person = create(
                Person,
                first_name=first,
                last_name=last,
                organisation=orgs[org],
                job_title=title,
                email=f"{first.lower()}.{last.lower().replace(' ', '')}@{domain}",
            )
            people[first] = person
            if username:
                user = services.grant_login(
                    person, username=username, roles=roles, actor=actor, expected_version=person.version
                )
                user.set_password(password)
                if username == "admin":
                    user.is_staff = user.is_superuser = True
                user.save()
        assert user_model.objects.filter(username="admin").exists()
        for first, manager in (("Eva", "Pieter"), ("Felix", "Lena")):  # who approves their requests
            person = people[first]
            people[first] = services.update_record(
                person, data={"manager": people[manager]}, actor=actor, expected_version=person.version
            )

        create(
            Team,
            name="Service Desk",
            organisation=orgs["Meridian Managed Services"],
            email="servicedesk@meridian.example",
            lead=people["Sanne"],
            memberships=[
                {"person": people["Sanne"], "role": "member", "since": date(2025, 3, 1)},
                {"person": people["Jonas"], "role": "dispatcher", "since": date(2025, 4, 1)},
            ],
            escalation_contact=people["Maria"],
            calendar=nl,
            description="First line: every incident and request starts here.",
        )
        create(
            Team,
            name="Network Operations",
            organisation=orgs["Meridian Managed Services"],
            email="noc@meridian.example",
            lead=people["Priya"],
            memberships=[{"person": people["Priya"], "role": "member", "since": date(2025, 3, 1)}],
            escalation_contact=people["Maria"],
            calendar=always,
        )
        create(
            Team,
            name="Platform Engineering",
            organisation=orgs["Meridian Managed Services"],
            email="platform@meridian.example",
            lead=people["Tomasz"],
            memberships=[
                {"person": people["Tomasz"], "role": "member", "since": date(2025, 3, 1)},
                {"person": people["Lars"], "role": "member", "since": date(2025, 4, 1)},
            ],
            escalation_contact=people["Maria"],
            calendar=de,
        )
        create(
            Team,
            name="Change Advisory Board",
            organisation=orgs["Meridian Managed Services"],
            email="cab@meridian.example",
            lead=people["Claire"],
            memberships=[
                {"person": people["Claire"], "role": "member", "since": date(2025, 3, 1)},
                {"person": people["Lars"], "role": "member", "since": date(2025, 4, 1)},
                {"person": people["Maria"], "role": "deputy_lead", "since": date(2025, 5, 1)},
            ],
        )
        load_apps_demo(actor)


def load_apps_demo(actor: Any) -> None:
    """Each installed Meridian app's own demo data: its `demo.load(actor)`, after the core's (the CMDB's CIs refer to
    the organisations, locations, people and teams above). Core names no app."""
    from importlib import import_module
    from importlib.util import find_spec

    from django.apps import apps

    for config in apps.get_app_configs():
        if config.name.startswith("meridian.") and config.label != "core" and find_spec(f"{config.name}.demo"):
            import_module(f"{config.name}.demo").load(actor)
