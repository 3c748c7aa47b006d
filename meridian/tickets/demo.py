"""A believable month of tickets for `meridian demo` (after the portfolio's, the service levels' and the CMDB's demo
data): about 190 incidents and 80 service requests over the last 30 days, more on weekdays and in office hours,
across the demo customers, their services, CIs and offerings, from every channel, walked through their lifecycles
by the demo agents *at past instants* (`tickets.as_of`): most resolved and closed (by the caller or by the automatic
close), some waiting on the customer or a supplier, some late, a few reopened or cancelled, ratings on a share of
the closed ones; public replies and work notes in a service desk's words. Then the clocks' warnings and breaches
are recorded (as the periodic task would on the first start) and the queues are saved as shared views
(`tickets.queue_views`).

Everything goes through the services (audited, clocks started and moved, timelines written) except nothing: the
randomness is seeded, so every load tells the same story relative to the day it is loaded."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from meridian.core import actions, conversation
from meridian.core import services as core
from meridian.core.models import Organisation, Person, Team
from meridian.tickets.as_of import as_of
from meridian.tickets.choices import Channel, ResolutionCode, TaskStatus
from meridian.tickets.models import Category, Incident, ServiceRequest
from meridian.tickets.workflows import COMPLETE_TASK, GIVE_APPROVAL

SEED = 20261201
DAYS = 30
INCIDENTS = 165
REQUESTS = 65
REASON = "demo data"

# category, subcategories, default team
CATEGORIES: list[tuple[str, list[str], str | None]] = [
    ("Access and accounts", ["Password reset", "Account locked", "Permissions"], "Service Desk"),
    ("E-mail", ["Delivery", "Mailbox", "Outlook and phones"], "Service Desk"),
    ("Hardware", ["Laptop", "Printer", "Scanner"], "Service Desk"),
    ("Network", ["Connectivity", "VPN", "Wi-Fi"], "Network Operations"),
    ("Applications", ["Warehouse Management", "Claims Portal", "ERP", "SMS gateway"], "Platform Engineering"),
    ("Hosting", ["Server", "Database", "Backup"], "Platform Engineering"),
]


@dataclass(frozen=True)
class Story:
    """An incident as it is told: what the caller says, what the agents write, how it ends."""

    title: str
    description: str
    category: str  # "Parent/Child"
    service: str
    cis: tuple[str, ...] = ()
    impact: str = "low"
    urgency: str = "medium"
    channels: tuple[str, ...] = (Channel.EMAIL, Channel.AGENT, Channel.PORTAL)
    customers: tuple[str, ...] = ()  # empty: any customer of the service
    reply: str = "Thank you for letting us know. We are looking into it and will update you shortly."
    note: str = ""
    resolution: str = ResolutionCode.FIXED
    notes: str = "Fixed."
    wait: str = ""  # "customer", "supplier" or "change": what it may wait for
    weight: int = 3


STORIES: list[Story] = [
    Story(
        "Cannot log in: password expired",
        "My password expired over the weekend and the reset page says my account is locked.",
        "Access and accounts/Password reset",
        "Workplace support",
        reply="We have unlocked your account and sent a reset link to your phone. Could you try again?",
        note="Locked after 5 attempts from an old phone still syncing mail. Asked the user to remove the account.",
        resolution=ResolutionCode.USER_ERROR,
        notes="Account unlocked and password reset; the old phone's mail account was removed.",
        channels=(Channel.AGENT, Channel.EMAIL),
        weight=8,
    ),
    Story(
        "Account locked after holiday",
        "I am back from leave and cannot sign in to anything.",
        "Access and accounts/Account locked",
        "Workplace support",
        reply="Your account is unlocked. Please choose a new password at the next sign-in.",
        resolution=ResolutionCode.FIXED,
        notes="Account unlocked; password change forced at the next sign-in.",
        channels=(Channel.AGENT,),
        weight=5,
    ),
    Story(
        "Need access to the finance share",
        "I moved to the finance team and cannot open the month-end folder.",
        "Access and accounts/Permissions",
        "Workplace support",
        reply="We need your manager's approval for this folder. Could you ask them to reply to this message?",
        wait="customer",
        resolution=ResolutionCode.FIXED,
        notes="Added to the finance group after the manager's approval.",
        weight=3,
    ),
    Story(
        "Mail to a customer bounces",
        "Every mail I send to one of our carriers comes back with 'message rejected'.",
        "E-mail/Delivery",
        "E-mail",
        cis=("mail-relay-1",),
        impact="medium",
        reply="The receiving server rejects our relay's address. We are contacting their postmaster.",
        note="Their SPF check fails on mail-relay-1: their record lists only our old range. Mailed postmaster@.",
        wait="customer",
        resolution=ResolutionCode.WORKAROUND,
        notes="The carrier updated their SPF record; mail is delivered again. Queued mail was resent.",
        weight=5,
    ),
    Story(
        "Mail is delayed by an hour",
        "Messages from outside arrive an hour or more after they were sent.",
        "E-mail/Delivery",
        "E-mail",
        cis=("mail-relay-1", "mail-relay-2"),
        impact="high",
        urgency="medium",
        channels=(Channel.MONITORING, Channel.AGENT),
        reply="We see a delay on our mail relays and are working on it. New mail should arrive within 15 minutes.",
        note="Virus scanner definitions update hung on relay 2, queue at 4,000. Restarted the scanner service.",
        resolution=ResolutionCode.FIXED,
        notes="The relay's virus scanner hung; it was restarted and the queue is empty. We added an alert.",
        weight=3,
    ),
    Story(
        "Mailbox full",
        "Outlook says my mailbox is full and I cannot send anything.",
        "E-mail/Mailbox",
        "E-mail",
        reply="We have enabled the online archive for you: older mail moves there by itself tonight.",
        resolution=ResolutionCode.FIXED,
        notes="Online archive enabled; mailbox at 62 % after the first archiving run.",
        weight=6,
    ),
    Story(
        "Calendar does not sync to my phone",
        "Meetings I accept on my phone do not show up in Outlook.",
        "E-mail/Outlook and phones",
        "E-mail",
        reply="Could you remove the account from your phone and add it again? The steps are in the portal's FAQ.",
        wait="customer",
        resolution=ResolutionCode.USER_ERROR,
        notes="Re-adding the account on the phone fixed it.",
        weight=5,
    ),
    Story(
        "Laptop does not start",
        "The laptop shows a black screen after the logo and restarts.",
        "Hardware/Laptop",
        "Workplace support",
        urgency="high",
        reply="We are sending you a replacement laptop today; please bring the old one to reception.",
        note="Disk failure per the BIOS diagnostics. Swap ordered from Datacore under warranty.",
        wait="supplier",
        resolution=ResolutionCode.FIXED,
        notes="Replacement laptop delivered and set up; data restored from the backup.",
        weight=5,
    ),
    Story(
        "Printer on the second floor prints blank pages",
        "The big printer near the kitchen prints empty pages since this morning.",
        "Hardware/Printer",
        "Workplace support",
        impact="medium",
        reply="A technician will come by this afternoon.",
        note="Toner cartridge seal not removed after the last refill.",
        resolution=ResolutionCode.FIXED,
        notes="The new toner cartridge was not fitted correctly; fixed and tested.",
        weight=4,
    ),
    Story(
        "Hand scanner cannot connect",
        "Two scanners in warehouse 3 lost their connection and show 'no server'.",
        "Hardware/Scanner",
        "Warehouse Management",
        cis=("WMS web front end",),
        customers=("Northwind Logistics",),
        impact="medium",
        urgency="high",
        reply="We are checking the Wi-Fi in warehouse 3 and the scanners' certificates.",
        note="Scanner certificates expired yesterday; pushing the renewed profile.",
        resolution=ResolutionCode.FIXED,
        notes="Renewed the scanners' certificate profile; both connect again.",
        weight=4,
    ),
    Story(
        "VPN disconnects every few minutes",
        "Working from home, the VPN drops every five minutes.",
        "Network/VPN",
        "Workplace support",
        cis=("fw-edge-1",),
        reply="Could you tell us your home internet provider and whether this happens on another network?",
        note="Client MTU issue with this provider's routers; known. Lowering MTU in the profile.",
        wait="customer",
        resolution=ResolutionCode.WORKAROUND,
        notes="A lower MTU in the VPN profile keeps the connection stable.",
        weight=5,
    ),
    Story(
        "No network in the meeting room",
        "The network socket in meeting room 2 gives no connection.",
        "Network/Connectivity",
        "Workplace support",
        cis=("core-switch-a",),
        resolution=ResolutionCode.FIXED,
        notes="The switch port was disabled after a loop; re-enabled with loop protection.",
        weight=3,
    ),
    Story(
        "Guest Wi-Fi very slow",
        "Visitors complain the guest Wi-Fi is almost unusable.",
        "Network/Wi-Fi",
        "Workplace support",
        impact="medium",
        urgency="low",
        resolution=ResolutionCode.FIXED,
        notes="Rate limit per guest raised and a faulty access point replaced.",
        wait="supplier",
        weight=2,
    ),
    Story(
        "Warehouse system very slow when picking",
        "Picking lists take a minute to load on every scanner; the morning shift is waiting.",
        "Applications/Warehouse Management",
        "Warehouse Management",
        cis=("WMS application", "wms-db-cluster"),
        customers=("Northwind Logistics",),
        impact="high",
        urgency="high",
        channels=(Channel.AGENT, Channel.MONITORING),
        reply="We know about the slowness and are working on it with priority. Next update within 30 minutes.",
        note="Long-running report query locking the picking table. Killed it; index missing since the upgrade.",
        resolution=ResolutionCode.FIXED,
        notes="A report blocked the picking tables; it was stopped and the missing index was added.",
        weight=4,
    ),
    Story(
        "Dispatch labels print with the wrong carrier",
        "Since this morning the labels show the old carrier for all parcels to Belgium.",
        "Applications/Warehouse Management",
        "Warehouse Management",
        cis=("WMS application",),
        customers=("Northwind Logistics",),
        impact="medium",
        urgency="high",
        resolution=ResolutionCode.FIXED,
        notes="A carrier table change was rolled back; labels are correct again.",
        weight=3,
    ),
    Story(
        "Claims portal: upload of photos fails",
        "Agents cannot attach photos to claims; the upload stops at 99 %.",
        "Applications/Claims Portal",
        "Claims Portal",
        cis=("claims-app",),
        customers=("Bergland Versicherung",),
        impact="medium",
        urgency="high",
        reply="We reproduced the problem and are working on a fix. Until then, photos under 10 MB upload normally.",
        note="Proxy body size limit lowered by last week's hardening. Raising it to 50 MB.",
        resolution=ResolutionCode.FIXED,
        notes="The upload limit was raised back to 50 MB.",
        weight=4,
    ),
    Story(
        "Claims portal is down",
        "Nobody can open the claims portal: error 502.",
        "Applications/Claims Portal",
        "Claims Portal",
        cis=("claims-app", "claims-db"),
        customers=("Bergland Versicherung",),
        impact="high",
        urgency="high",
        channels=(Channel.MONITORING, Channel.AGENT),
        reply="The claims portal is unavailable. We are working on it and will update you every 30 minutes.",
        note="claims-db ran out of connections after the nightly batch. Restarted the pool, raised the limit.",
        resolution=ResolutionCode.FIXED,
        notes="The database ran out of connections; the pool was restarted and the limit raised.",
        weight=2,
    ),
    Story(
        "ERP report shows wrong totals",
        "The month-end purchasing report does not match the ledger.",
        "Applications/ERP",
        "ERP",
        cis=("erp-app",),
        customers=("Bergland Versicherung",),
        reply="Could you send us the report's parameters and one example of a wrong line?",
        wait="customer",
        resolution=ResolutionCode.NO_FAULT,
        notes="The report filtered on the posting date, the ledger on the invoice date; explained to the user.",
        weight=3,
    ),
    Story(
        "SMS messages not delivered",
        "Our appointment reminders by SMS did not arrive this morning.",
        "Applications/SMS gateway",
        "SMS gateway",
        cis=("sms-gateway-app",),
        customers=("Northwind Logistics", "Harbour City Council"),
        impact="medium",
        urgency="high",
        channels=(Channel.MONITORING, Channel.EMAIL),
        note="TextLink reports a routing problem with one mobile network; ticket opened with them.",
        wait="supplier",
        resolution=ResolutionCode.WORKAROUND,
        notes="TextLink rerouted the messages; the 312 reminders were sent again.",
        weight=3,
    ),
    Story(
        "Disk almost full on a database server",
        "Monitoring: disk usage above 90 % on the data volume.",
        "Hosting/Database",
        "Hosting",
        cis=("wms-db-1",),
        impact="medium",
        channels=(Channel.MONITORING,),
        note="WAL archive not cleaned after the upgrade. Cleaned up; the volume is grown under a change.",
        wait="change",
        resolution=ResolutionCode.RESOLVED_BY_CHANGE,
        notes="Old archive files removed and the clean-up job fixed.",
        weight=4,
    ),
    Story(
        "Hypervisor fan failure",
        "Monitoring: fan 3 failed on host-ams-02.",
        "Hosting/Server",
        "Hosting",
        cis=("host-ams-02",),
        impact="low",
        urgency="medium",
        channels=(Channel.MONITORING,),
        note="Virtual machines moved to host-ams-01 and 03. Datacore part ordered.",
        wait="supplier",
        resolution=ResolutionCode.FIXED,
        notes="Datacore replaced the fan; the host is back in the pool.",
        weight=2,
    ),
    Story(
        "Nightly backup failed",
        "Monitoring: backup job of the hosting cluster ended with errors.",
        "Hosting/Backup",
        "Hosting",
        cis=("backup-vault",),
        channels=(Channel.MONITORING,),
        note="Snapshot timed out on one VM; rerun succeeded.",
        resolution=ResolutionCode.NOT_REPRODUCIBLE,
        notes="The backup ran again successfully; the timeout did not come back.",
        weight=4,
    ),
    Story(
        "Strange error in the portal",
        "I got an error page once while opening my requests.",
        "Applications/Claims Portal",
        "Claims Portal",
        customers=("Bergland Versicherung",),
        urgency="low",
        resolution=ResolutionCode.NOT_REPRODUCIBLE,
        notes="We could not reproduce the error; the logs show a short deployment at that moment.",
        weight=2,
    ),
]

GOOD = [
    "Quick and friendly, thank you!",
    "Solved within the hour, great.",
    "Clear explanation, thanks.",
    "",
    "",
    "Thanks to Sanne for the help.",
]
BAD = [
    "It took three days and nobody told me what was happening.",
    "The problem came back the next day.",
    "I had to call twice before anyone picked it up.",
]
# the customers' employees who call the service desk (without a login: they are told by mail), per customer
CONTACTS = {
    "Northwind Logistics": [
        ("Ruud", "Hendriks", "Shift lead, warehouse 3"),
        ("Fatima", "El Amrani", "Planner"),
        ("Bas", "Vermeulen", "Dispatch clerk"),
        ("Anouk", "Peters", "Finance assistant"),
        ("Daan", "Kok", "Customer service"),
    ],
    "Bergland Versicherung": [
        ("Jonas", "Huber", "Claims handler"),
        ("Katrin", "Maier", "Claims handler"),
        ("Stefan", "Schneider", "Controller"),
        ("Aylin", "Yilmaz", "Agent support"),
    ],
    "Harbour City Council": [
        ("Tom", "Brennan", "Communications officer"),
        ("Aisha", "Okoye", "Permits desk"),
        ("Liam", "Walsh", "Facilities"),
    ],
}
FOLLOW_UPS = [
    "Any news? We still see the problem.",
    "Thanks, it works again.",
    "I have sent the details you asked for.",
    "Here is a screenshot of the error.",
]


@dataclass
class Cast:
    """The demo's people, teams and reference data, read once."""

    users: dict[str, Any]
    teams: dict[str, Team]
    customers: dict[str, Organisation]
    callers: dict[str, list[Person]]
    services: dict[str, Any]
    cis: dict[str, Any]
    categories: dict[str, Category]
    offerings: list[Any]
    system: Any
    now: datetime
    counts: dict[str, int] = field(default_factory=dict)


def load(actor: Any) -> None:
    """The month of tickets (nothing when tickets exist already), then the clocks' events and the queues."""
    from meridian.service_levels import clocks
    from meridian.tickets import defaults, queue_views

    defaults.ensure(actor)
    ensure_categories(actor)
    if Incident.objects.exists() or ServiceRequest.objects.exists():
        queue_views.ensure_views(None)
        return
    share = float(settings.MERIDIAN_DEMO_TICKETS)  # the month's size: 1 in a demo, 0 in other apps' tests
    cast = _cast(actor) if share > 0 else None
    if cast is None:
        queue_views.ensure_views(None)
        return  # a trimmed demo (tests) without the customers or agents, or without tickets
    rng = random.Random(SEED)
    plans = [("incident", t) for t in _instants(rng, round(INCIDENTS * share), cast.now)]
    plans += [("request", t) for t in _instants(rng, round(REQUESTS * share), cast.now, office_only=True)]
    plans.sort(key=lambda plan: plan[1])  # references in the order the tickets came in
    for kind, opened in plans:
        if kind == "incident":
            _incident(cast, rng, opened)
        else:
            _request(cast, rng, opened)
    _present(cast)
    _awaiting_approval(cast)
    clocks.record_due_events(cast.now)  # warnings and breaches, each at its instant (the periodic task's work)
    queue_views.ensure_views(None)


def ensure_categories(actor: Any) -> dict[str, Category]:
    """The category tree with its default teams (those missing are created)."""
    teams = {t.name: t for t in Team.objects.all()}
    found: dict[str, Category] = {}
    for name, children, team in CATEGORIES:
        parent = Category.objects.filter(parent=None, name=name).first() or core.create_record(
            Category, data={"name": name, "default_team": teams.get(team or "")}, actor=actor, reason=REASON
        )
        found[name] = parent
        for child in children:
            found[f"{name}/{child}"] = Category.objects.filter(parent=parent, name=child).first() or core.create_record(
                Category,
                data={"name": child, "parent": parent, "default_team": teams.get(team or "")},
                actor=actor,
                reason=REASON,
            )
    return found


def _cast(actor: Any) -> Cast | None:
    from django.contrib.auth import get_user_model

    from meridian.cmdb.models import ConfigurationItem
    from meridian.portfolio.models import Offering, Service

    users = {u.username: u for u in get_user_model().objects.select_related("person").exclude(username="")}
    teams = {t.name: t for t in Team.objects.all()}
    needed = {"sanne", "jonas", "priya", "tomasz"}
    if not needed <= set(users) or not {"Service Desk", "Network Operations", "Platform Engineering"} <= set(teams):
        return None
    customers = {o.name: o for o in Organisation.objects.filter(kind="customer")}
    _ensure_contacts(actor, customers)
    callers: dict[str, list[Person]] = {}
    for person in Person.objects.filter(organisation__in=customers.values()).select_related("user", "organisation"):
        callers.setdefault(person.organisation.name, []).append(person)
    customers = {name: org for name, org in customers.items() if name in callers}
    if not customers:
        return None
    return Cast(
        users=users,
        teams=teams,
        customers=customers,
        callers=callers,
        services={s.name: s for s in Service.objects.prefetch_related("customers")},
        cis={c.name: c for c in ConfigurationItem.objects.all()},
        categories=ensure_categories(actor),
        offerings=list(
            Offering.objects.filter(active=True).select_related("service").prefetch_related("service__customers")
        ),
        system=core.get_system_actor(),
        now=timezone.now(),
    )


def _ensure_contacts(actor: Any, customers: dict[str, Organisation]) -> None:
    """The customers' employees who call (people without a login), where missing."""
    for name, people in CONTACTS.items():
        org = customers.get(name)
        if org is None:
            continue
        domain = org.email.rpartition("@")[2] or "example.org"
        for first, last, title in people:
            email = f"{first.lower()}.{last.lower().replace(' ', '')}@{domain}"
            if not Person.objects.filter(email=email).exists():
                core.create_record(
                    Person,
                    data={
                        "first_name": first,
                        "last_name": last,
                        "organisation": org,
                        "job_title": title,
                        "email": email,
                    },
                    actor=actor,
                    reason=REASON,
                )


def _instants(rng: random.Random, count: int, now: datetime, *, office_only: bool = False) -> list[datetime]:
    """When the tickets came in: over the last DAYS days, weekdays four times as likely as weekend days, mostly in
    office hours (Amsterdam), a few at night."""
    local = timezone.localtime(now, timezone.get_fixed_timezone(60))
    days = []
    for back in range(DAYS):
        day = (local - timedelta(days=back)).date()
        days += [day] * (1 if day.weekday() >= 5 else 4)
    found: list[datetime] = []
    while len(found) < count:
        day = rng.choice(days)
        if not office_only and rng.random() < 0.08:
            hour = rng.choice([0, 1, 2, 3, 4, 5, 6, 19, 20, 21, 22, 23])
        else:
            hour = min(17, max(8, round(rng.gauss(11.5, 2.6))))
        instant = datetime.combine(day, datetime.min.time(), tzinfo=local.tzinfo) + timedelta(
            hours=hour, minutes=rng.randrange(60), seconds=rng.randrange(60)
        )
        if instant < now - timedelta(minutes=20):
            found.append(instant)
    return found


# --- incidents -------------------------------------------------------------------------------------------------------

WAITING = {
    "customer": "Waiting for the customer's answer.",
    "supplier": "Waiting for the supplier.",
    "change": "Waiting for the change that fixes it.",
}
RESOLVE_HOURS = {1: (1, 5), 2: (2, 10), 3: (3, 30), 4: (6, 60)}  # typical wall-clock time to resolve, by rank
TEAM_OF = {"Service Desk": ["sanne", "jonas"], "Network Operations": ["priya"], "Platform Engineering": ["tomasz"]}


class Walk:
    """One ticket moved through the services at instants of the past; stops (and says so) at the present."""

    def __init__(self, cast: Cast, ticket: Any, at: datetime) -> None:
        self.cast, self.ticket, self.at = cast, ticket, at

    def later(self, minutes: float) -> bool:
        """Move the walk's time on; False when that is the future (the ticket stays as it is now)."""
        self.at += timedelta(minutes=max(1.0, minutes))
        return self.at < self.cast.now - timedelta(minutes=1)

    def move(self, action: str, user: Any, reason: str = "", **values: Any) -> None:
        with as_of(self.at):
            self.ticket = core.transition(
                self.ticket,
                action,
                actor=user,
                expected_version=self.ticket.version,
                reason=reason or REASON,
                values=values,
            )

    def say(self, user: Any, body: str, visibility: str = conversation.PUBLIC) -> None:
        with as_of(self.at):
            conversation.post_comment(self.ticket, actor=user, body=body, visibility=visibility)
        self.ticket.refresh_from_db()


def _wall_minutes(ticket: Any, metric: str) -> float:
    """About how many wall-clock minutes the ticket's target of `metric` spans (office hours: 45 of 168 a week)."""
    from meridian.service_levels import clocks

    clock = clocks.clocks_of(ticket).filter(metric__key=metric).first()
    if clock is None:
        return 8 * 60.0
    return clock.target_minutes * (1.0 if clock.calendar.always_open else 168 / 45)


def _rank(ticket: Any) -> int:
    return ticket.priority.rank if ticket.priority_id else 3


def _incident(cast: Cast, rng: random.Random, opened: datetime) -> None:
    stories = [s for s in STORIES if s.service in cast.services]
    story = rng.choices(stories, weights=[s.weight for s in stories])[0]
    service = cast.services[story.service]
    offered = [o.name for o in service.customers.all() if o.name in cast.customers]
    names = [c for c in (story.customers or offered) if c in offered] or offered
    if not names:
        return
    customer = cast.customers[rng.choice(names)]
    everyone = cast.callers[customer.name]
    with_login = [p for p in everyone if p.user is not None]
    channel = rng.choice(story.channels)
    if channel == Channel.PORTAL and with_login:
        caller = rng.choice(with_login)
    else:
        caller = rng.choice([p for p in everyone if p.user is None] or everyone)
    agent = cast.users[rng.choice(["sanne", "jonas"])]
    # a few come in by mail without a category: nobody has picked them up yet (the "unassigned" queue)
    triaged = channel != Channel.EMAIL or rng.random() > 0.15 or opened < cast.now - timedelta(hours=20)
    data: dict[str, Any] = {
        "title": story.title,
        "description": story.description,
        "organisation": customer,
        "caller": None if channel == Channel.MONITORING else caller,
        "service": service,
        "configuration_items": [
            cast.cis[n] for n in story.cis if n in cast.cis and cast.cis[n].organisation_id in (None, customer.pk)
        ],
        "category": cast.categories.get(story.category) if triaged else None,
        "impact": story.impact,
        "urgency": story.urgency,
        "channel": channel,
    }
    if rng.random() < 0.12:  # people judge differently: a tenth one step more or less urgent
        data["urgency"] = rng.choice(["low", "medium", "high"])
    creator = cast.system if channel == Channel.MONITORING else agent
    if channel == Channel.PORTAL and caller.user is not None:
        creator = caller.user  # the customer says what happened; the service desk classifies it
        for name in ("category", "configuration_items"):
            data.pop(name)
    with as_of(opened):
        ticket = core.create_record(Incident, data=data, actor=creator, reason=REASON)
    cast.counts["incidents"] = cast.counts.get("incidents", 0) + 1
    _work(cast, rng, Walk(cast, ticket, opened), story, caller)


def _work(cast: Cast, rng: random.Random, walk: Walk, story: Story, caller: Person) -> None:
    """Assign, respond, work (maybe wait), resolve, close: each at a believable instant, as far as the present."""
    ticket = walk.ticket
    rank = _rank(ticket)
    if ticket.team_id is None:
        if walk.at > cast.now - timedelta(hours=20):
            return  # still unassigned
        ticket.team = cast.teams["Service Desk"]
    team = ticket.team
    members = TEAM_OF.get(team.name, ["sanne"])
    agent = cast.users[rng.choice(members)]
    dispatcher = cast.users["jonas"]
    # first response: quick for the urgent ones; sometimes late
    response = rng.uniform(3, 25) if rank <= 2 else rng.uniform(10, 180)
    if rng.random() < 0.1:
        response *= rng.uniform(3, 6)  # a late pick-up: the response target breached
    if not walk.later(response):
        return
    if team.name != "Service Desk" or rng.random() < 0.3:
        walk.move("assign", dispatcher, team=team, assignee=agent.person)  # dispatched to a resolver
        if rng.random() < 0.06 and walk.at > cast.now - timedelta(days=2):
            return  # assigned, not started yet
        if not walk.later(rng.uniform(2, 30)):
            return
    walk.move("start", agent)  # the first line picks it up themselves
    if rng.random() < 0.04:
        if walk.later(rng.uniform(5, 60)):
            walk.move("cancel", agent, "Duplicate: the same problem was reported earlier by a colleague.")
        return
    if story.reply and rng.random() < 0.7:
        walk.say(agent, story.reply)
    if story.note and rng.random() < 0.8:
        if not walk.later(rng.uniform(10, 90)):
            return
        walk.say(agent, story.note, conversation.INTERNAL)
    low, high = RESOLVE_HOURS.get(rank, (3, 30))
    busy = rng.uniform(low, high) * 60
    if rng.random() < 0.14:  # late: past the resolution target (in wall-clock time on the agreement's hours)
        busy = max(busy, _wall_minutes(ticket, "resolution") * rng.uniform(1.15, 1.6))
    if story.wait and rng.random() < 0.55:
        if not walk.later(busy / 3):
            return
        walk.move(f"wait_{story.wait}", agent, WAITING[story.wait])
        if caller.user is not None and story.wait == "customer" and rng.random() < 0.6:
            if not walk.later(rng.uniform(60, 1500)):
                return
            walk.say(caller.user, rng.choice(FOLLOW_UPS[2:]))
        elif not walk.later(rng.uniform(120, 2800)):
            return
        walk.move("resume", agent)
    if not walk.later(busy * 2 / 3 if story.wait else busy):
        return
    walk.move("resolve", agent, resolution_code=story.resolution, resolution_notes=story.notes)
    _after_resolution(cast, rng, walk, caller, agent, story.notes)


def _after_resolution(
    cast: Cast, rng: random.Random, walk: Walk, caller: Person, agent: Any, notes: str, *, reopen: bool = True
) -> None:
    """Confirmed and rated by the caller, reopened now and then, or closed by itself after the days allowed."""
    user = caller.user
    # now and then, and at least once (the first ticket a caller with a login may reopen)
    if reopen and user is not None and (rng.random() < 0.05 or not cast.counts.get("reopened")):
        if not walk.later(rng.uniform(60, 1800)):
            return
        walk.move("reopen", user, "The problem is back since this morning.")
        cast.counts["reopened"] = cast.counts.get("reopened", 0) + 1
        if not walk.later(rng.uniform(60, 600)):
            return
        walk.move("resolve", agent, resolution_code=ResolutionCode.FIXED, resolution_notes=f"{notes} Checked again.")
    days = int(getattr(settings, "MERIDIAN_TICKET_AUTOCLOSE_DAYS", 5) or 5)
    if rng.random() < 0.55:  # the caller confirms: in the portal, or by replying to the mail
        if not walk.later(rng.uniform(20, 2 * 24 * 60)):
            return
        walk.move("close", user or agent, "Confirmed by the caller." if user else "The caller confirmed by mail.")
    else:
        if not walk.later(days * 24 * 60 + rng.uniform(0, 60)):
            return
        walk.move(
            "close",
            cast.system,
            f"Closed by itself: not confirmed or reopened within {days} days of its resolution.",
        )
    if rng.random() < 0.35:  # rated in the portal, or answered the survey mail (noted by the service desk)
        if not walk.later(rng.uniform(5, 600)):
            return
        good = rng.random() < 0.85
        rating = rng.choice([4, 5, 5]) if good else rng.choice([1, 2, 2, 3])
        comment = rng.choice(GOOD) if good else rng.choice(BAD)
        from meridian.core import actions
        from meridian.tickets.workflows import RATE

        with as_of(walk.at):
            actions.run(
                RATE,
                walk.ticket,
                actor=user or agent,
                expected_version=walk.ticket.version,
                reason=REASON,
                values={"rating": rating, "rating_comment": comment},
            )


def _story(title: str) -> Story:
    return next(s for s in STORIES if s.title == title)


def _raise_request(offering: Any, customer: Any, caller: Any, answers: dict[str, Any], at: datetime, days: int) -> Any:
    """A request of `offering` from the portal at `at`, its date answers `days` after it."""
    for name in offering.request_fields.filter(type="date").values_list("name", flat=True):
        answers[name] = (at + timedelta(days=days)).date().isoformat()
    data = {
        "title": f"{offering.name}: {next(iter(answers.values()), offering.name)}",
        "organisation": customer,
        "caller": caller,
        "offering": offering,
        "answers": answers,
        "channel": Channel.PORTAL,
    }
    with as_of(at):
        return core.create_record(ServiceRequest, data=data, actor=caller.user, reason=REASON)


def _awaiting_approval(cast: Cast) -> None:
    """One request waiting for its approver as the demo starts, whatever the hour (the month's own may all be
    decided): a laptop for a caller whose manager approves (Eva, Pieter's report), else any offering that asks."""
    from meridian.portfolio.models import OfferingApproval

    if ServiceRequest.objects.filter(status="awaiting_approval").exists():
        return
    for offering in sorted(cast.offerings, key=lambda o: o.approval != OfferingApproval.MANAGER):
        if offering.approval == OfferingApproval.NONE:
            continue
        for customer in offering.service.customers.all():
            callers = [p for p in cast.callers.get(customer.name, []) if p.user is not None]
            caller = next((p for p in callers if p.manager_id), callers[0] if callers else None)
            if caller is None:
                continue
            answers = dict(ANSWERS.get(offering.name, [{}])[0])
            _raise_request(offering, customer, caller, answers, cast.now - timedelta(hours=2), days=10)
            return


def _present(cast: Cast) -> None:
    """What the service desk has on its plate as the demo starts, whatever the hour: the queues are never empty. On
    the 24x7 warehouse agreement: one of the demo agent's (sanne) tickets at risk, one breached with Platform
    Engineering; in office hours' terms: a mail nobody has triaged, a new one for the service desk, one waiting for
    the customer."""
    from meridian.service_levels.models import AgreementTarget
    from meridian.service_levels.priorities import priority_for

    northwind = cast.customers.get("Northwind Logistics")
    if northwind is None or "Warehouse Management" not in cast.services:
        return
    caller = next((p for p in cast.callers[northwind.name] if p.user is None), cast.callers[northwind.name][0])
    sanne, tomasz = cast.users["sanne"], cast.users.get("tomasz", cast.users["sanne"])

    def target(story: Story) -> int:
        priority = priority_for(story.impact, story.urgency)
        row = AgreementTarget.objects.filter(
            agreement__name="Northwind warehouse operations", priority=priority
        ).first()
        return row.resolution_minutes if row is not None and row.resolution_minutes else 8 * 60

    def opened(story: Story, minutes_ago: float, channel: str = Channel.AGENT, **extra: Any) -> Walk:
        at = cast.now - timedelta(minutes=minutes_ago)
        data = {
            "title": story.title,
            "description": story.description,
            "organisation": northwind,
            "caller": caller,
            "service": cast.services[story.service],
            "category": cast.categories.get(story.category),
            "impact": story.impact,
            "urgency": story.urgency,
            "channel": channel,
            **extra,
        }
        with as_of(at):
            ticket = core.create_record(Incident, data=data, actor=cast.users["jonas"], reason=REASON)
        return Walk(cast, ticket, at)

    labels = _story("Dispatch labels print with the wrong carrier")
    walk = opened(labels, target(labels) * 0.95)  # 95 % of the target used: past the warnings, not breached
    walk.later(4)
    walk.move("assign", cast.users["jonas"], team=cast.teams["Service Desk"], assignee=sanne.person)
    walk.later(3)
    walk.move("start", sanne)
    walk.say(sanne, labels.reply)
    slow = _story("Warehouse system very slow when picking")
    walk = opened(slow, target(slow) * 1.3)  # late
    walk.later(5)
    walk.move("assign", cast.users["jonas"], team=cast.teams["Platform Engineering"], assignee=tomasz.person)
    walk.later(10)
    walk.move("start", tomasz)
    walk.say(tomasz, slow.reply)
    walk.later(40)
    walk.say(tomasz, slow.note, conversation.INTERNAL)
    full = _story("Mailbox full")
    opened(full, 25, Channel.EMAIL, category=None, service=cast.services.get("E-mail"))  # not triaged yet
    printer = _story("Printer on the second floor prints blank pages")
    opened(printer, 12, Channel.AGENT, service=cast.services.get("Workplace support"))  # the service desk's, new
    access = _story("Need access to the finance share")
    walk = opened(access, 2 * 24 * 60, service=cast.services.get("Workplace support"))
    walk.later(20)
    walk.move("start", sanne)
    walk.say(sanne, access.reply)
    walk.later(5)
    walk.move("wait_customer", sanne, WAITING["customer"])


# --- service requests ------------------------------------------------------------------------------------------------

ANSWERS: dict[str, list[dict[str, Any]]] = {
    "New mailbox": [
        {"employee": "Noah Visser", "size": "50 GB"},
        {"employee": "Mila de Boer", "size": "50 GB"},
        {"employee": "Jan Smit", "size": "100 GB"},
        {"employee": "Sophie Mulder", "size": "50 GB"},
    ],
    "Shared mailbox": [
        {"address": "planning@", "members": "The three planners of the day shift."},
        {"address": "claims-team@", "members": "Everyone in the claims team."},
        {"address": "events@", "members": "The communications team."},
    ],
    "Mass sending account": [
        {"sender": "Harbour", "volume": 20000},
        {"sender": "Northwind", "volume": 5000},
    ],
    "New laptop": [
        {"model": "Standard 14-inch", "delivery": "Reception, ground floor"},
        {"model": "Performance 16-inch", "delivery": "Desk 3.14, third floor"},
        {"model": "Standard 14-inch", "delivery": "Warehouse 3 office"},
    ],
    "More database capacity": [
        {"database": "claims-db", "storage": 200},
        {"database": "wms-db-cluster", "storage": 500},
    ],
}
REQUEST_WEIGHTS = {
    "New mailbox": 6,
    "Shared mailbox": 3,
    "Mass sending account": 1,
    "New laptop": 5,
    "More database capacity": 1,
}


def _request(cast: Cast, rng: random.Random, opened: datetime) -> None:
    from meridian.core import registry

    if "answers" not in registry.get(ServiceRequest).fields:
        return  # a request's form is answered through the services only where its record type takes the answers
    offerings = [o for o in cast.offerings if any(c.name in cast.customers for c in o.service.customers.all())]
    if not offerings:
        return
    offering = rng.choices(offerings, weights=[REQUEST_WEIGHTS.get(o.name, 1) for o in offerings])[0]
    names = [c.name for c in offering.service.customers.all() if c.name in cast.customers]
    customer = cast.customers[rng.choice(names)]
    with_login = [p for p in cast.callers[customer.name] if p.user is not None]
    if not with_login:
        return
    caller = rng.choice(with_login)
    answers = dict(rng.choice(ANSWERS.get(offering.name, [{}])))
    request = _raise_request(offering, customer, caller, answers, opened, days=rng.randrange(5, 20))
    cast.counts["requests"] = cast.counts.get("requests", 0) + 1
    walk = Walk(cast, request, opened)
    approvals = list(request.approvals.select_related("approver__user"))
    if approvals:
        approvers = [approval.approver.user or cast.system for approval in approvals]
        if not walk.later(rng.uniform(30, 26 * 60)):
            return  # awaiting approval
        if rng.random() < 0.07:
            walk.move("reject", approvers[0], "Not in this quarter's budget; please ask again in January.")
            return
        if offering.approval_rule == "all":
            for approver in approvers[:-1]:  # each gives theirs; the last one's moves it on
                with as_of(walk.at):
                    walk.ticket = actions.run(
                        GIVE_APPROVAL, walk.ticket, actor=approver, expected_version=walk.ticket.version, reason=REASON
                    )
                if not walk.later(rng.uniform(30, 8 * 60)):
                    return
        walk.move("approve", approvers[-1])
    agent = cast.users[rng.choice(["sanne", "jonas"])]
    if not walk.later(rng.uniform(10, 120)):
        return
    walk.move("start", agent)
    late = rng.random() < 0.12
    for task in walk.ticket.tasks.order_by("order", "id"):
        if task.status != TaskStatus.OPEN:
            task.refresh_from_db()
        if task.status != TaskStatus.OPEN:
            continue
        doer = cast.users[rng.choice(TEAM_OF.get(task.team.name, ["sanne"]))]
        if not walk.later(rng.uniform(60, 600) * (rng.uniform(3, 6) if late else 1)):
            return
        with as_of(walk.at):
            walk.ticket = actions.run(
                COMPLETE_TASK,
                walk.ticket,
                actor=doer,
                expected_version=walk.ticket.version,
                reason=REASON,
                values={"task": task, "notes": "Done."},
            )
    walk.ticket.refresh_from_db()
    if walk.ticket.status == "resolved":
        _after_resolution(cast, rng, walk, caller, agent, walk.ticket.resolution_notes, reopen=False)
