"""`make bench BENCH_ARGS=tickets`: the agents' queues at scale (issue 12). Incidents are written in bulk with their
response and resolution clocks (some breached, some warned), for 10,000 and then `BENCH_TICKETS` (default 100,000
on PostgreSQL, 50,000 on SQLite) tickets; each figure is the median of several requests through Django's test client
as a service desk agent who is a member of the busiest team. The queues (`?queue=`) and the sort by due time read the
clock engine's columns in SQL (`tickets.queues`): the baseline is the same list page without a queue and sorted by
reference. Goal: every queue page within 2x the baseline at the large size, and the large size within 1.5x the
10,000 figure (no per-row work)."""

from __future__ import annotations

import os
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

BATCH = 5000
URLS = {
    "baseline: incidents page 1": "/tickets/incidents/",
    "queue: my teams by due": "/tickets/incidents/?queue=my_teams&sort=due",
    "queue: unassigned": "/tickets/incidents/?queue=unassigned",
    "queue: at risk": "/tickets/incidents/?queue=at_risk",
    "queue: breached by due": "/tickets/incidents/?queue=breached&sort=due",
    "API: breached": "/api/v1/tickets/incidents/?queue=breached&page_size=50",
    "API: my teams by due": "/api/v1/tickets/incidents/?queue=my_teams&ordering=due&page_size=50",
}


def load(count: int, first: int, p: Any, teams: list[Any], rng: random.Random) -> None:
    """`count` incidents numbered from `first`, each with a response clock (finished) and a resolution clock (running
    for the open ones: a fifth breached, a tenth warned), written in bulk: no services, no audit."""
    from django.contrib.contenttypes.models import ContentType

    from meridian.core.models import Calendar
    from meridian.service_levels.clock_models import Clock, ClockEvent, ClockEventKind, ClockMetric, ClockState
    from meridian.service_levels.models import Priority
    from meridian.tickets.models import Incident

    content_type = ContentType.objects.get_for_model(Incident)
    calendar = Calendar.objects.order_by("pk").first() or Calendar.objects.create(name="Bench 24x7", time_zone="UTC")
    response, resolution = ClockMetric.objects.get(key="response"), ClockMetric.objects.get(key="resolution")
    priorities = list(Priority.objects.all())
    now = datetime.now(UTC)
    made = 0
    while made < count:
        size = min(BATCH, count - made)
        incidents = []
        for number in range(first + made, first + made + size):
            status = rng.choices(["new", "assigned", "in_progress", "resolved", "closed"], [1, 2, 3, 2, 8])[0]
            assigned = status != "new"
            incidents.append(
                Incident(
                    reference=f"INC-{number:07d}",
                    title=f"Bench incident {number}",
                    organisation=p.org_a,
                    priority=rng.choice(priorities),
                    impact="medium",
                    urgency="medium",
                    status=status,
                    team=rng.choice(teams) if assigned or rng.random() < 0.5 else None,
                    assignee=p.users["resolver"].person if assigned and rng.random() < 0.3 else None,
                    created_at=now - timedelta(minutes=rng.randrange(10, 90 * 24 * 60)),
                )
            )
        Incident.objects.bulk_create(incidents, batch_size=BATCH)
        clocks, warned = [], []
        for incident in incidents:
            started = incident.created_at
            clocks.append(
                Clock(
                    content_type=content_type,
                    object_id=incident.pk,
                    metric=response,
                    target_minutes=60,
                    calendar=calendar,
                    started_at=started,
                    state=ClockState.FINISHED,
                    finished_at=started + timedelta(minutes=20),
                )
            )
            open_ = incident.status in ("new", "assigned", "in_progress")
            breached = open_ and rng.random() < 0.2
            due = now + timedelta(minutes=rng.randrange(-600, 2000) if not breached else -rng.randrange(1, 600))
            clock = Clock(
                content_type=content_type,
                object_id=incident.pk,
                metric=resolution,
                target_minutes=480,
                calendar=calendar,
                started_at=started,
                state=ClockState.RUNNING if open_ else ClockState.STOPPED,
                status=incident.status,
                due_at=due if open_ else None,
                breached_at=due if breached else None,
            )
            clocks.append(clock)
            if open_ and not breached and rng.random() < 0.1:
                warned.append(clock)
        Clock.objects.bulk_create(clocks, batch_size=BATCH)
        ClockEvent.objects.bulk_create(
            [ClockEvent(clock=c, threshold=75, kind=ClockEventKind.WARNING, occurred_at=now) for c in warned],
            batch_size=BATCH,
        )
        made += size


def run(p: Any) -> dict[str, Any]:
    from django.db import connection
    from django.test import Client

    from benchmarks import lists
    from meridian.core.choices import Role
    from meridian.core.factories import TeamFactory
    from meridian.core.models import TeamMembership
    from meridian.core.services import get_system_actor
    from meridian.core.testing import token_for
    from meridian.tickets import defaults

    defaults.ensure(get_system_actor())
    large = int(os.environ.get("BENCH_TICKETS") or (100_000 if connection.vendor == "postgresql" else 50_000))
    agent = p.users[Role.SERVICE_DESK_AGENT]
    teams = [TeamFactory(organisation=p.internal, name=f"Bench team {n}") for n in range(8)]
    TeamMembership.objects.create(team=teams[0], person=agent.person)
    client = Client()
    client.force_login(agent)
    headers = {"HTTP_AUTHORIZATION": f"Token {token_for(agent)}"}
    rng = random.Random(12)
    results: dict[str, Any] = {}
    loaded_count = 0
    for size in (10_000, large):
        start = time.perf_counter()
        load(size - loaded_count, loaded_count + 1, p, teams, rng)
        loaded_count = size
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        loaded = time.perf_counter() - start
        figures = lists.measure(client, headers, urls=URLS)
        results[str(size)] = {"load_seconds": round(loaded, 1), **figures}
        print(f"--- {size:,} incidents (loaded in {loaded:.0f} s)")
        for name, figure in figures.items():
            print(f"  {name:30} {figure['ms']:8.1f} ms  {figure['statements']:3} statements")
    small, big = results["10000"], results[str(large)]
    baseline = big["baseline: incidents page 1"]["ms"]
    results["queue_vs_baseline"] = {name: round(big[name]["ms"] / baseline, 2) for name in URLS if "queue" in name}
    results["large_vs_10k"] = {name: round(big[name]["ms"] / small[name]["ms"], 2) for name in URLS}
    results["goal"] = "queue pages <= 2x the baseline at the large size; large / 10k <= 1.5"
    results["goal_met"] = all(v <= 2 for v in results["queue_vs_baseline"].values()) and all(
        v <= 1.5 for v in results["large_vs_10k"].values()
    )
    print("queue / baseline at the large size:", results["queue_vs_baseline"])
    print("large / 10k:", results["large_vs_10k"])
    return results
