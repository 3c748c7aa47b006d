"""Demo agreements: a standard SLA, two customer SLAs, the OLAs of the teams beneath them and a supplier's
underpinning contract, one OLA working fewer hours than its SLA promises (the consistency check flags it)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from meridian.core import services
from meridian.core.models import Calendar, Organisation, Person, Team
from meridian.portfolio.models import Service
from meridian.service_levels import defaults
from meridian.service_levels.models import Agreement, Priority

HOUR = 60

# (kind, name, customers, team, supplier, services, calendar, availability, {rank: (response, resolution)}, extra)
AGREEMENTS: list[tuple[Any, ...]] = [
    (
        "sla",
        "Standard service levels",
        [],
        None,
        None,
        [],
        "Netherlands office hours",
        None,
        {1: (30, 8 * HOUR), 2: (1 * HOUR, 16 * HOUR), 3: (4 * HOUR, 40 * HOUR), 4: (8 * HOUR, 80 * HOUR)},
        {"description": "What every customer gets for every service unless a more specific agreement says more."},
    ),
    (
        "sla",
        "Northwind warehouse operations",
        ["Northwind Logistics"],
        None,
        None,
        ["Warehouse Management", "Hosting"],
        "24x7",
        "99.900",
        {1: (15, 4 * HOUR), 2: (30, 8 * HOUR), 3: (2 * HOUR, 24 * HOUR), 4: (8 * HOUR, 72 * HOUR)},
        {
            "description": "Round-the-clock support of the warehouse management system and its hosting: the "
            "warehouses ship at night.",
            "provider_responsibilities": "Monitor the service 24x7; answer P1 calls within 15 minutes; report monthly.",
            "party_responsibilities": "Name two contacts reachable at night; announce peak seasons a month ahead.",
            "workload": [("requests", 200, "month", ""), ("users", 350, "month", "named warehouse users")],
            "exceptions": [
                ("suspended", "Planned maintenance announced five working days ahead (Sundays 02:00-04:00)."),
                ("excluded", "Scanners and printers owned by Northwind."),
            ],
        },
    ),
    (
        "sla",
        "Bergland claims portal",
        ["Bergland Versicherung"],
        None,
        None,
        ["Claims Portal"],
        "Bavaria office hours",
        "99.500",
        {1: (30, 6 * HOUR), 2: (1 * HOUR, 12 * HOUR), 3: (4 * HOUR, 32 * HOUR)},
        {
            "description": "Support of the claims portal in Bavarian office hours.",
            "workload": [("recipients", 5000, "each", "customers per mass mailing from the portal")],
            "review_overdue": True,
        },
    ),
    (
        "ola",
        "Platform Engineering for the warehouse",
        [],
        "Platform Engineering",
        None,
        ["Warehouse Management", "Hosting"],
        "Netherlands office hours",
        None,
        {1: (15, 3 * HOUR), 2: (30, 6 * HOUR), 3: (2 * HOUR, 16 * HOUR), 4: (4 * HOUR, 40 * HOUR)},
        {"description": "Second-line support of the platforms; office hours (the on-call rota is not agreed yet)."},
    ),
    (
        "ola",
        "Network Operations",
        [],
        "Network Operations",
        None,
        [],
        "24x7",
        None,
        {1: (10, 2 * HOUR), 2: (30, 6 * HOUR), 3: (2 * HOUR, 16 * HOUR), 4: (4 * HOUR, 40 * HOUR)},
        {"description": "Networks for every service, round the clock."},
    ),
    (
        "uc",
        "Datacore hardware support",
        [],
        None,
        "Datacore Hardware",
        ["Hosting", "Warehouse Management"],
        "24x7",
        None,
        {1: (10, 3 * HOUR), 2: (15, 6 * HOUR), 3: (1 * HOUR, 16 * HOUR), 4: (4 * HOUR, 40 * HOUR)},
        {"description": "Next-part-in-3-hours replacement of servers and storage, 24x7."},
    ),
]


def load(actor: Any) -> None:
    defaults.ensure(actor)  # seeded by the migration; gone from a database a test has emptied
    today = timezone.localdate()
    calendars = {c.name: c for c in Calendar.objects.all()}
    orgs = {o.name: o for o in Organisation.objects.all()}
    teams = {t.name: t for t in Team.objects.all()}
    by_name = {s.name: s for s in Service.objects.all()}
    priorities = {p.rank: p for p in Priority.objects.all()}
    owner = Person.objects.filter(first_name="Samir").first()
    for kind, name, customers, team, supplier, covered, calendar, availability, targets, extra in AGREEMENTS:
        if calendar not in calendars or any(s not in by_name for s in covered):
            continue  # a trimmed demo (tests) without these calendars or services
        data: dict[str, Any] = {
            "kind": kind,
            "name": name,
            "description": extra.get("description", ""),
            "owner": owner,
            "customers": [orgs[c] for c in customers if c in orgs],
            "team": teams.get(team) if team else None,
            "supplier": orgs.get(supplier) if supplier else None,
            "services": [by_name[s] for s in covered],
            "valid_from": today - timedelta(days=90),
            "valid_to": today + timedelta(days=640),
            "support_hours": calendars[calendar],
            "availability_target": availability,
            "provider_responsibilities": extra.get("provider_responsibilities", ""),
            "party_responsibilities": extra.get("party_responsibilities", ""),
            "next_review": today - timedelta(days=3) if extra.get("review_overdue") else today + timedelta(days=180),
            "targets": [
                {"priority": priorities[rank], "response_minutes": response, "resolution_minutes": resolution}
                for rank, (response, resolution) in targets.items()
                if rank in priorities
            ],
            "workload_limits": [
                {"measure": m, "limit": n, "period": p, "description": d} for m, n, p, d in extra.get("workload", [])
            ],
            "exceptions": [{"kind": k, "description": d} for k, d in extra.get("exceptions", [])],
        }
        agreement = services.create_record(Agreement, data=data, actor=actor, reason="demo data")
        for action in ("agree", "activate"):
            agreement = services.transition(
                agreement, action, actor=actor, expected_version=agreement.version, reason="demo data"
            )
