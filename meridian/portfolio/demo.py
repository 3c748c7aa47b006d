"""A believable service catalogue for `meridian demo` (after the CMDB's demo, whose two customer services it adopts):
e-mail, an SMS gateway with mass sending, ERP, workplace support and hosting, each with its components and
dependencies in the CMDB, targets, hours, contacts and outside dependencies; a proposed service still in the
pipeline. Created through the services (audited), moved along the lifecycle like a service owner would."""

from __future__ import annotations

from typing import Any

from meridian.cmdb.models import CIClass, ConfigurationItem, RedundancyGroup, Relationship, RelationshipKind
from meridian.core import services
from meridian.core.models import Calendar, Organisation, Person
from meridian.portfolio.models import Service, ServiceCategory

CATEGORIES = [
    ("Communication", 10, "Mail, messaging and text messages."),
    ("Business applications", 20, "The applications your business runs on."),
    ("Workplace", 30, "Laptops, accounts and help for every employee."),
    ("Hosting", 40, "Servers, databases and applications run for you in our data centre."),
]

ALL = ["Northwind Logistics", "Bergland Versicherung", "Harbour City Council"]

# name, category, summary, business description, customers, service hours, support hours, C/I/A,
# targets [(measure, target, period)], contacts [(first name, role, customer visible)],
# outside dependencies [(kind, party or None, responsibility)], status, adopts (an existing service CI) or None
SERVICES: list[dict[str, Any]] = [
    {
        "name": "E-mail",
        "category": "Communication",
        "summary": "Mail, calendars and contacts for every employee, on every device.",
        "business_description": "Each employee gets a 50 GB mailbox with calendar and contacts, reachable from "
        "Outlook, any phone and the web. Shared mailboxes and distribution lists on request. Mail is scanned for "
        "viruses and phishing before it reaches you.\n\nNot included: archiving beyond 10 years, mail merges of more "
        "than 500 messages (use the SMS and mass mailing service).",
        "internal_description": "Two Postfix relays in DC1 in front of the hosted Exchange tenant; runbook in the "
        "wiki, page MAIL-OPS. Relay certificates renew in March.",
        "customers": ALL,
        "service_hours": "24x7",
        "support_hours": "Netherlands office hours",
        "cia": ("high", "high", "high"),
        "security_requirements": "Mail is stored in the EU only, encrypted at rest and in transit (TLS 1.2+). "
        "Multi-factor sign-in for every account.",
        "targets": [
            ("Availability", "99.9 %", "per calendar month"),
            ("First response to a disruption", "30 minutes", "within support hours"),
            ("New mailbox ready", "1 business day", ""),
        ],
        "contacts": [
            ("Maria", "service_owner", True),
            ("Sanne", "customer_contact", True),
            ("Tomasz", "technical_lead", False),
        ],
        "outside": [
            ("supplier", "Datacore Hardware", "Replaces failed relay hardware within 4 hours."),
            ("customer", None, "Tell the service desk when people join or leave, at least 2 days ahead."),
        ],
        "status": "live",
        "components": [("mail-relay-1", "Server"), ("mail-relay-2", "Server"), ("Exchange tenant", "Application")],
    },
    {
        "name": "SMS gateway",
        "category": "Communication",
        "summary": "Send text messages from your applications, one at a time or to thousands at once.",
        "business_description": "Your applications send text messages through a simple web interface or by mail. "
        "Mass sending: upload a list of up to 100,000 numbers and a message, schedule it, and follow delivery per "
        "number. Replies come back to a mailbox of your choice.",
        "internal_description": "Our gateway application on the Hosting platform; delivery through TextLink's "
        "aggregator API (contract TL-2025-114). Throughput is capped at 200 messages per second by TextLink.",
        "customers": ["Northwind Logistics", "Harbour City Council"],
        "service_hours": "24x7",
        "support_hours": "Netherlands office hours",
        "cia": ("medium", "high", "high"),
        "security_requirements": "Phone numbers and message texts are kept 90 days, then deleted. Only named "
        "senders may start a mass sending.",
        "targets": [
            ("Availability", "99.5 %", "per calendar month"),
            ("Messages handed to the network", "95 % within 60 seconds", "per day"),
        ],
        "contacts": [("Maria", "service_owner", True), ("Priya", "escalation", False)],
        "outside": [
            ("supplier", "TextLink Messaging", "Delivers the messages to the mobile networks (99.9 % availability)."),
            ("customer", None, "Has the consent of everyone it sends messages to."),
        ],
        "status": "live",
        "components": [("sms-gateway-app", "Application"), ("sms-queue", "Application")],
        "depends_on": ["E-mail", "Hosting"],
    },
    {
        "name": "ERP",
        "category": "Business applications",
        "summary": "Finance, purchasing and stock in one application.",
        "business_description": "Bookkeeping, invoices, purchasing and stock levels, with month-end reports. "
        "Training for new users twice a year.",
        "internal_description": "ERP 2026 on the Hosting platform; database on the shared cluster.",
        "customers": ["Bergland Versicherung"],
        "service_hours": "Bavaria office hours",
        "support_hours": "Bavaria office hours",
        "cia": ("high", "high", "medium"),
        "security_requirements": "Segregation of duties between purchasing and payment approval.",
        "targets": [
            ("Availability", "99.5 %", "within service hours, per month"),
            ("Month-end close support", "Same day", ""),
        ],
        "contacts": [("Maria", "service_owner", True), ("Lars", "service_manager", True)],
        "outside": [("customer", "Bergland Versicherung", "Approves user access requests within 2 business days.")],
        "status": "live",
        "components": [("erp-app", "Application")],
        "depends_on": ["Hosting"],
    },
    {
        "name": "Workplace support",
        "category": "Workplace",
        "summary": "Help with laptops, accounts, printers and everyday IT questions.",
        "business_description": "Call, mail or use the portal: the service desk answers questions, fixes "
        "problems with your laptop, phone, account or printer, and delivers new equipment.",
        "internal_description": "First line: Service Desk team; hardware swaps through Datacore.",
        "customers": ALL,
        "service_hours": "Netherlands office hours",
        "support_hours": "Netherlands office hours",
        "cia": ("medium", "medium", "medium"),
        "security_requirements": "Remote sessions only with your consent, ended by you.",
        "targets": [
            ("Calls answered", "80 % within 30 seconds", "per month"),
            ("Incidents resolved at first contact", "70 %", "per month"),
            ("New laptop delivered", "3 business days", ""),
        ],
        "contacts": [("Sanne", "customer_contact", True), ("Maria", "service_owner", True)],
        "outside": [
            ("supplier", "Datacore Hardware", "Delivers replacement laptops the next business day."),
            ("customer", None, "Gives the service desk a named contact per site."),
        ],
        "status": "live",
        "components": [],
    },
    {
        "name": "Hosting",
        "category": "Hosting",
        "summary": "Your applications and databases run in our data centre, monitored day and night.",
        "business_description": "Virtual servers and managed PostgreSQL databases in our Amsterdam data centre, "
        "backed up every night and monitored around the clock. Capacity grows with you on request.",
        "internal_description": "The hypervisor hosts host-ams-01..03 behind core-switch-a; backups to the "
        "immutable vault.",
        "customers": ALL,
        "service_hours": "24x7",
        "support_hours": "24x7",
        "cia": ("high", "high", "high"),
        "security_requirements": "ISO/IEC 27001 certified data centre; backups kept 30 days, immutable.",
        "targets": [("Availability", "99.95 %", "per calendar month"), ("Restore from backup started", "1 hour", "")],
        "contacts": [("Maria", "service_owner", True), ("Priya", "escalation", True)],
        "outside": [("supplier", "Datacore Hardware", "Replaces failed server parts within 4 hours.")],
        "status": "live",
        "components": [("hosting-cluster", "Redundancy group")],  # the hypervisors, 2 of 3 needed
    },
    {
        "name": "Warehouse Management",
        "category": "Business applications",
        "summary": "Stock, picking and dispatch for Northwind's warehouses.",
        "business_description": "The warehouse management system your staff use on the scanners and in the "
        "office: receiving, stock, picking and dispatch.",
        "internal_description": "See the CMDB: application pool of two VMs, 2-of-3 database cluster (controlled).",
        "customers": ["Northwind Logistics"],
        "service_hours": "24x7",
        "support_hours": "24x7",
        "cia": ("medium", "high", "high"),
        "security_requirements": "",
        "targets": [("Availability", "99.5 %", "per calendar month")],
        "contacts": [("Maria", "service_owner", True), ("Eva", "customer_contact", True)],
        "outside": [],
        "status": "live",
        "adopts": "Warehouse Management",  # its application and databases run on the hosts themselves
    },
    {
        "name": "Claims Portal",
        "category": "Business applications",
        "summary": "Where Bergland's agents file and follow claims.",
        "business_description": "A web portal for your agents to file claims, upload photos and follow them.",
        "internal_description": "claims-app and claims-db on host-ams-03.",
        "customers": ["Bergland Versicherung"],
        "service_hours": "Bavaria office hours",
        "support_hours": "Bavaria office hours",
        "cia": ("high", "high", "medium"),
        "security_requirements": "Claim documents are personal data: kept in the EU, deleted 7 years after closure.",
        "targets": [("Availability", "99.5 %", "within service hours, per month")],
        "contacts": [("Maria", "service_owner", True), ("Lena", "customer_contact", True)],
        "outside": [],
        "status": "live",
        "adopts": "Claims Portal",
    },
    {
        "name": "Video meetings",
        "category": "Communication",
        "summary": "Meetings with video and screen sharing, inside and outside your organisation.",
        "business_description": "Proposed for 2027: meeting rooms with video, recording and transcripts.",
        "internal_description": "Being assessed: build on the E-mail tenant or buy a separate product.",
        "customers": [],
        "service_hours": "24x7",
        "support_hours": "Netherlands office hours",
        "cia": ("medium", "medium", "medium"),
        "security_requirements": "",
        "targets": [],
        "contacts": [("Maria", "service_owner", False)],
        "outside": [],
        "status": "in_design",
        "components": [],
    },
]

PATH = {
    "proposed": [],
    "in_design": ["design"],
    "in_transition": ["design", "transition"],
    "live": ["design", "transition", "go_live"],
}


def load(actor: Any) -> None:
    load_services(actor)
    load_offerings(actor)
    load_proposals(actor)


def load_services(actor: Any) -> None:
    create = services.create_record
    categories = {
        name: create(ServiceCategory, data={"name": name, "order": order, "description": text}, actor=actor)
        for name, order, text in CATEGORIES
    }
    if not Organisation.objects.filter(name="TextLink Messaging").exists():
        create(
            Organisation,
            data={"name": "TextLink Messaging", "kind": "supplier", "email": "noc@textlink.example"},
            actor=actor,
            reason="demo data",
        )
    orgs = {o.name: o for o in Organisation.objects.all()}
    people = {
        p.first_name: p for p in Person.objects.filter(organisation__name__in=[*ALL, "Meridian Managed Services"])
    }
    calendars = {c.name: c for c in Calendar.objects.all()}
    classes = {c.name: c for c in CIClass.objects.all()}
    kinds = {k.name: k for k in RelationshipKind.objects.all()}
    made: dict[str, Service] = {}
    for spec in SERVICES:
        adopted = (
            ConfigurationItem.objects.filter(name=spec["adopts"], ci_class__name="Service").first()
            if spec.get("adopts")
            else None
        )
        confidentiality, integrity, availability = spec["cia"]
        data = {
            "name": spec["name"],
            "category": categories[spec["category"]],
            "summary": spec["summary"],
            "business_description": spec["business_description"],
            "internal_description": spec["internal_description"],
            "owner": people["Maria"],
            "customers": [orgs[name] for name in spec["customers"]],
            "configuration_item": adopted,
            "service_hours": calendars.get(spec["service_hours"]),
            "support_hours": calendars.get(spec["support_hours"]),
            "confidentiality": confidentiality,
            "integrity": integrity,
            "availability": availability,
            "security_requirements": spec["security_requirements"],
            "targets": [{"measure": m, "target": t, "period": p} for m, t, p in spec["targets"]],
            "contacts": [{"person": people[f], "role": r, "customer_visible": v} for f, r, v in spec["contacts"]],
            "external_dependencies": [
                {"kind": kind, "party": orgs[party] if party else None, "responsibility": text}
                for kind, party, text in spec["outside"]
            ],
        }
        service = create(Service, data=data, actor=actor, reason="demo data")
        for action in PATH[spec["status"]]:
            service = services.transition(
                service, action, actor=actor, expected_version=service.version, reason="demo data"
            )
        made[spec["name"]] = service
        ci = service.configuration_item
        for name, class_name in spec.get("components", []):
            part = ConfigurationItem.objects.filter(name=name).first()
            if part is None:
                part = create(
                    ConfigurationItem,
                    data={"name": name, "ci_class": classes[class_name]},
                    actor=actor,
                    reason="demo data",
                )
                for action in ("build", "go_live"):
                    part = services.transition(
                        part, action, actor=actor, expected_version=part.version, reason="demo data"
                    )
            create(
                Relationship,
                data={"source": part, "kind": kinds["Part of"], "target": ci},
                actor=actor,
                reason="demo data",
            )
            if name == "hosting-cluster":
                hosts = list(ConfigurationItem.objects.filter(name__in=["host-ams-01", "host-ams-02", "host-ams-03"]))
                create(
                    RedundancyGroup,
                    data={"ci": part, "members": hosts, "required_up": 2},
                    actor=actor,
                    reason="demo data",
                )
    for spec in SERVICES:
        for other in spec.get("depends_on", []):
            create(
                Relationship,
                data={
                    "source": made[spec["name"]].configuration_item,
                    "kind": kinds["Depends on"],
                    "target": made[other].configuration_item,
                },
                actor=actor,
                reason="demo data",
            )


# service, name, summary, approval (kind, person's first name or team name), expected time,
# request fields [(name, label, type, required, choices)], tasks [(title, team)]
OFFERINGS: list[
    tuple[str, str, str, tuple[str, str], str, list[tuple[str, str, str, bool, str]], list[tuple[str, str]]]
] = [
    (
        "E-mail",
        "New mailbox",
        "A mailbox with calendar for a new colleague, ready on their first day.",
        ("service_owner", ""),
        "1 business day",
        [
            ("employee", "Name of the new colleague", "text", True, ""),
            ("first_day", "First working day", "date", True, ""),
            ("size", "Mailbox size", "choice", True, "50 GB\n100 GB"),
        ],
        [
            ("Create the account and mailbox", "Service Desk"),
            ("Send the welcome mail with sign-in steps", "Service Desk"),
        ],
    ),
    (
        "E-mail",
        "Shared mailbox",
        "A mailbox a team shares, such as sales@ or support@.",
        ("none", ""),
        "2 business days",
        [
            ("address", "Address you would like", "text", True, ""),
            ("members", "Who gets access", "long_text", True, ""),
        ],
        [("Create the shared mailbox and give access", "Service Desk")],
    ),
    (
        "SMS gateway",
        "Mass sending account",
        "Send one message to up to 100,000 numbers at once, scheduled and followed per number.",
        ("person", "Maria"),
        "3 business days",
        [
            ("sender", "Sender name shown on phones (max. 11 letters)", "text", True, ""),
            ("volume", "Messages a month, about", "integer", True, ""),
        ],
        [("Register the sender name with TextLink", "Platform Engineering"), ("Open the account", "Service Desk")],
    ),
    (
        "Workplace support",
        "New laptop",
        "A laptop set up with your applications, delivered to your desk.",
        ("manager", ""),
        "3 business days",
        [
            ("model", "Model", "choice", True, "Standard 14-inch\nPerformance 16-inch"),
            ("delivery", "Where should we deliver it?", "text", True, ""),
        ],
        [("Order from Datacore", "Service Desk"), ("Install and hand over", "Service Desk")],
    ),
    (
        "Hosting",
        "More database capacity",
        "More storage or memory for one of your databases.",
        ("team", "Platform Engineering"),
        "5 business days",
        [("database", "Which database?", "text", True, ""), ("storage", "Extra storage (GB)", "integer", False, "")],
        [("Check capacity and plan the change", "Platform Engineering")],
    ),
]


def load_offerings(actor: Any) -> None:
    from meridian.core.models import Team
    from meridian.portfolio.models import Offering

    services_by_name = {s.name: s for s in Service.objects.all()}
    teams = {t.name: t for t in Team.objects.all()}
    people = {p.first_name: p for p in Person.objects.filter(organisation__name="Meridian Managed Services")}
    for service, name, summary, (approval, who), expected, fields, tasks in OFFERINGS:
        services.create_record(
            Offering,
            data={
                "service": services_by_name[service],
                "name": name,
                "summary": summary,
                "approval": approval,
                "approver_person": people[who] if approval == "person" else None,
                "approver_team": teams[who] if approval in ("team_lead", "team") else None,
                "approval_rule": "all" if approval == "team" else "any",
                "expected_fulfilment": expected,
                "request_fields": [
                    {
                        "order": 10 * (i + 1),
                        "name": n,
                        "label": label,
                        "type": kind,
                        "required": req,
                        "choices": choices,
                    }
                    for i, (n, label, kind, req, choices) in enumerate(fields)
                ],
                "tasks": [
                    {"order": 10 * (i + 1), "title": t, "team": teams[team]} for i, (t, team) in enumerate(tasks)
                ],
            },
            actor=actor,
            reason="demo data",
        )


def load_proposals(actor: Any) -> None:
    """The criteria, a new service approved with its request for change raised, a change to the SMS gateway under
    assessment and a draft."""
    from meridian.core import actions
    from meridian.portfolio.models import ProposalCriterion, ServiceProposal
    from meridian.portfolio.proposals import RAISE_RFC

    create = services.create_record
    create(
        ProposalCriterion,
        data={
            "name": "Every new service",
            "kind": "new",
            "order": 10,
            "description": "A new service goes through service design and transition.",
        },
        actor=actor,
    )
    create(
        ProposalCriterion,
        data={
            "name": "High risk or cost",
            "risk_at_least": "high",
            "order": 20,
            "description": "A high-risk change to a service is designed and tested as a new one would be.",
        },
        actor=actor,
    )
    orgs = {o.name: o for o in Organisation.objects.all()}
    assessed = {
        "financial_impact": "Licences about EUR 4,000 a year; charged per user to the customers who take it.",
        "organisational_impact": "The service desk handles requests; no new team.",
        "technical_impact": "Runs on the Hosting platform; needs 2 TB of storage and a public certificate.",
        "sms_impact": "A new catalogue entry and an SLA addendum; no change to the processes.",
    }
    approved = create(
        ServiceProposal,
        data={
            "title": "Secure file transfer for customers",
            "proposed_service_name": "Secure file transfer",
            "category": ServiceCategory.objects.get(name="Communication"),
            "origin": "customer",
            "originating_organisation": orgs["Northwind Logistics"],
            "purpose": "Northwind sends delivery documents of several GB to carriers; mail cannot carry them.",
            "customers_affected": 2,
            "financial_impact_level": "low",
            "risk": "medium",
            **assessed,
        },
        actor=actor,
        reason="demo data",
    )
    for action in ("submit", "start_assessment", "approve"):
        approved = services.transition(
            approved, action, actor=actor, expected_version=approved.version, reason="demo data"
        )
    actions.run(RAISE_RFC, approved, actor=actor, expected_version=approved.version, reason="demo data", values={})
    sms = create(
        ServiceProposal,
        data={
            "title": "Emergency alerts for Harbour City",
            "service": Service.objects.get(name="SMS gateway"),
            "origin": "customer",
            "originating_organisation": orgs["Harbour City Council"],
            "purpose": "The council wants to alert all residents of a district within 5 minutes in an emergency.",
            "customers_affected": 1,
            "financial_impact_level": "medium",
            "risk": "high",
            **assessed,
            "technical_impact": "Throughput must rise from 200 to 2,000 messages a second: TextLink's premium route.",
        },
        actor=actor,
        reason="demo data",
    )
    for action in ("submit", "start_assessment"):
        sms = services.transition(sms, action, actor=actor, expected_version=sms.version, reason="demo data")
    create(
        ServiceProposal,
        data={
            "title": "Managed Kubernetes",
            "proposed_service_name": "Container platform",
            "category": ServiceCategory.objects.get(name="Hosting"),
            "origin": "provider",
            "purpose": "Customers' development teams ask to run containers without running a cluster themselves.",
            "customers_affected": 0,
        },
        actor=actor,
        reason="demo data",
    )
