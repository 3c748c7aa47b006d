"""`make bench BENCH_ARGS=lists`: list pages and API lists at 10,000 and at 1,000,000 people (issue 8's goal:
the 1M figure is at most 1.5 times the 10k figure). Run it on PostgreSQL (DATABASE_URL); on SQLite it loads 10k
and 100k (MERIDIAN_BENCH_LARGE overrides the large size).

Each figure is the median of several requests through Django's test client as a service desk agent (the policy,
the restricted queryset, the table or serializer, the template): the first page, a later page, a name filter and
the organisation list (with its people count), each with its SQL statement count."""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

URLS = {
    "people page 1": "/core/people/",
    "people page 40": "/core/people/?page=40",
    "people filtered": "/core/people/?q=jansen",
    "people sorted by e-mail": "/core/people/?sort=email",
    "organisations page 1": "/core/organisations/",
    "API people": "/api/v1/core/people/?page_size=50",
    "API people page 40": "/api/v1/core/people/?page_size=50&page=40",
    "API organisations": "/api/v1/core/organisations/?page_size=50",
}


def measure(
    client: Any, headers: dict[str, str], repeat: int = 7, urls: dict[str, str] | None = None
) -> dict[str, dict[str, float]]:
    """The median time and the statement count of each of `urls` (default: the people and organisation lists)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    figures = {}
    for name, url in (urls or URLS).items():
        extra = headers if url.startswith("/api/") else {}
        times = []
        for _ in range(repeat):
            with CaptureQueriesContext(connection) as queries:
                start = time.perf_counter()
                response = client.get(url, **extra)
                times.append(time.perf_counter() - start)
            assert response.status_code == 200, (url, response.status_code)
        figures[name] = {"ms": round(statistics.median(times) * 1000, 1), "statements": len(queries)}
    return figures


def run(p: Any) -> dict[str, Any]:
    from django.db import connection
    from django.test import Client

    from meridian.core import scale, services
    from meridian.core.choices import Role
    from meridian.core.models import Person
    from meridian.core.testing import token_for

    large = int(os.environ.get("MERIDIAN_BENCH_LARGE") or (1_000_000 if connection.vendor == "postgresql" else 100_000))
    agent = p.users[Role.SERVICE_DESK_AGENT]
    client = Client()
    client.force_login(agent)
    headers = {"HTTP_AUTHORIZATION": f"Token {token_for(agent)}"}
    actor = services.get_system_actor()
    results: dict[str, Any] = {}
    for size in (10_000, large):
        start = time.perf_counter()
        scale.load(size - Person.objects.count(), actor=actor)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        loaded = time.perf_counter() - start
        figures = measure(client, headers)
        results[str(size)] = {"load_seconds": round(loaded, 1), **figures}
        print(f"--- {size:,} people (loaded in {loaded:.0f} s)")
        for name, figure in figures.items():
            print(f"  {name:28} {figure['ms']:8.1f} ms  {figure['statements']:3} statements")
    small, big = results["10000"], results[str(large)]
    results["ratios"] = {name: round(big[name]["ms"] / small[name]["ms"], 2) for name in URLS}
    results["goal"] = "each ratio <= 1.5"
    print("ratios (large / 10k):", results["ratios"])
    return results
