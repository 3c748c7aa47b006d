"""`make bench BENCH_ARGS=cmdb`: impact analysis on a CMDB of 100,000 CIs and 300,000 relationships (issue 9's goal:
for a CI whose impact reaches about 28,000 CIs, well under 100 ms on PostgreSQL and at most 3 times the raw recursive
query over the same relationships, measured in the same run). `BENCH_CMDB_CIS` scales the graph down (SQLite runs).

The graph is layered like a data centre: core switches, access switches, hosts, virtual machines, database nodes in
2-of-3 clusters, applications, services; each layer relates to nearby CIs of the layer below (a window around its
own position), so a failure's reach depends on where it starts. Loaded with `bulk_create` in batches, no audit.

Measured in the same run, alternated: `impact.analyse` from the worker's snapshot (`impact_ms`, the goal's figure),
the walk in the database that answers while a snapshot is rebuilt (`impact_database_walk_ms`), and the raw recursive
query; the snapshot's cold build time and memory (tracemalloc), and the first call after a write."""

from __future__ import annotations

import random
import statistics
import time
from typing import Any

# layer: (share of the CIs, class) from the bottom up
LAYERS = [
    ("core", 0.0001, "Network device"),
    ("access", 0.004, "Network device"),
    ("host", 0.08, "Server"),
    ("vm", 0.40, "Virtual machine"),
    ("db", 0.075, "Database"),
    ("cluster", 0.025, "Redundancy group"),
    ("app", 0.30, "Application"),
    ("service", 0.1159, "Service"),
]


def build(total: int, seed: int = 9) -> dict[str, list[int]]:
    """The CIs and relationships, written in bulk; the ids of each layer."""
    from django.db import connection

    from meridian.cmdb.models import CIClass, ConfigurationItem, RedundancyGroup, Relationship, RelationshipKind

    rng = random.Random(seed)
    classes = {c.name: c for c in CIClass.objects.all()}
    kinds = {k.name: k for k in RelationshipKind.objects.all()}
    layers: dict[str, list[int]] = {}
    number = 0
    for name, share, class_name in LAYERS:
        count = max(2, round(total * share))
        made = ConfigurationItem.objects.bulk_create(
            (
                ConfigurationItem(
                    name=f"{name}-{i:06d}", reference=f"CI-B{number + i:07d}", ci_class=classes[class_name]
                )
                for i in range(count)
            ),
            batch_size=5000,
        )
        number += count
        layers[name] = [ci.pk for ci in made]

    edges: set[tuple[int, int, int]] = set()

    def near(lower: list[int], position: float, spread: int) -> int:
        centre = int(position * len(lower))
        return lower[min(len(lower) - 1, max(0, centre + rng.randint(-spread, spread)))]

    def relate(upper: str, lower: str, kind: str, per: int, spread: int) -> None:
        ids, below, kind_id = layers[upper], layers[lower], kinds[kind].pk
        for i, source in enumerate(ids):
            for _ in range(per):
                edges.add((source, near(below, i / len(ids), spread), kind_id))

    relate("access", "core", "Connects to", 2, 1)
    relate("host", "access", "Connects to", 2, 3)
    relate("vm", "host", "Runs on", 1, 40)
    relate("db", "vm", "Runs on", 1, 200)
    relate("app", "vm", "Runs on", 2, 300)
    relate("app", "cluster", "Depends on", 2, 40)
    relate("app", "db", "Depends on", 1, 200)
    # services: their applications are part of them (the part's failure impacts the whole)
    apps, services, part_of = layers["app"], layers["service"], kinds["Part of"].pk
    for i, service in enumerate(services):
        for _ in range(3):
            edges.add((near(apps, i / len(services), 200), service, part_of))
    target_total = total * 3
    backed_up, documented = kinds["Backed up by"].pk, kinds["Documented by"].pk
    everything = [pk for ids in layers.values() for pk in ids]
    while len(edges) < target_total:  # relationships that carry no failure: backups, documents
        a, b = rng.choice(everything), rng.choice(everything)
        if a != b:
            edges.add((a, b, rng.choice([backed_up, documented])))
    Relationship.objects.bulk_create(
        (Relationship(source_id=s, target_id=t, kind_id=k) for s, t, k in edges), batch_size=10_000
    )
    # 2-of-3 database clusters: each cluster CI with three database nodes
    dbs = layers["db"]
    groups = RedundancyGroup.objects.bulk_create(RedundancyGroup(ci_id=ci, required_up=2) for ci in layers["cluster"])
    through = RedundancyGroup.members.through
    rows = []
    for i, group in enumerate(groups):
        for j in range(3):
            rows.append(through(redundancygroup_id=group.pk, configurationitem_id=dbs[(i * 3 + j) % len(dbs)]))
    through.objects.bulk_create(rows, batch_size=10_000)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # as autovacuum leaves tables that have been written: statistics, and the visibility map that lets the
            # walk read the relationships' indexes alone (index-only scans)
            cursor.execute("VACUUM ANALYZE")
    return layers


RAW = """
WITH RECURSIVE edge(a, b) AS (
    SELECT target_id, source_id FROM cmdb_relationship WHERE kind_id IN {up}
    UNION ALL
    SELECT source_id, target_id FROM cmdb_relationship WHERE kind_id IN {down}
    UNION ALL
    SELECT m.configurationitem_id, g.ci_id FROM cmdb_redundancygroup_members m
        JOIN cmdb_redundancygroup g ON g.id = m.redundancygroup_id
), walk(id) AS (
    SELECT CAST(%s AS bigint)
    UNION
    SELECT edge.b FROM edge JOIN walk ON edge.a = walk.id
)
SELECT count(*) FROM walk
"""


def raw_closure(ci: int) -> int:
    """The raw recursive query: the plain closure over the relationships that carry a failure (and member → group,
    every member counted as enough: no k-of-n, no path), as the baseline."""
    from django.db import connection

    from meridian.cmdb import impact

    up = "(" + ",".join(str(k) for k in impact._kinds(impact.UP_KINDS)) + ")"
    down = "(" + ",".join(str(k) for k in impact._kinds(impact.DOWN_KINDS)) + ")"
    with connection.cursor() as cursor:
        cursor.execute(RAW.format(up=up, down=down), [ci])  # constant SQL and integers
        return int(cursor.fetchone()[0]) - 1


def times_ms(func: Any, repeat: int = 7) -> tuple[float, float]:
    """The median and the best of `repeat` runs, in ms."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1000, 1), round(min(times) * 1000, 1)


def median_ms(func: Any, repeat: int = 7) -> float:
    return times_ms(func, repeat)[0]


def snapshot_figures() -> dict[str, Any]:
    """The snapshot of the graph (`impact_cache`): a cold build's time (best of 3), and its memory (tracemalloc: what
    the snapshot holds once built, and the peak while building)."""
    import gc
    import tracemalloc

    from meridian.cmdb import impact_cache

    build_ms = times_ms(impact_cache.build, repeat=3)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    graph = impact_cache.build()
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert graph is not None
    return {
        "snapshot_build_ms": build_ms[1],
        "snapshot_build_median_ms": build_ms[0],
        "snapshot_relationships": graph.relationships,
        "snapshot_mb": round((held - before) / 2**20, 1),
        "snapshot_build_peak_mb": round((peak - before) / 2**20, 1),
        "snapshot_bytes_per_relationship": round((held - before) / max(graph.relationships, 1)),
    }


def run(p: Any) -> dict[str, Any]:
    import os

    from django.db import connection
    from django.test import override_settings

    from meridian.cmdb import impact, impact_cache
    from meridian.core.choices import Role

    total = int(os.environ.get("BENCH_CMDB_CIS") or 100_000)
    start = time.perf_counter()
    layers = build(total)
    loaded = time.perf_counter() - start
    from meridian.cmdb.models import ConfigurationItem, Relationship

    cis, relationships = ConfigurationItem.objects.count(), Relationship.objects.count()
    print(f"--- {cis:,} CIs, {relationships:,} relationships on {connection.vendor} (loaded in {loaded:.0f} s)")
    # the CI whose impact comes nearest 28,000 CIs (scaled with the graph), among a sample of the lower layers
    goal = round(28_000 * total / 100_000)
    rng = random.Random(1)
    sample = [
        ci for layer in ("core", "access", "host") for ci in rng.sample(layers[layer], min(8, len(layers[layer])))
    ]
    sizes = {ci: len(impact.analyse_in_database([ci]).ids()) for ci in sample}
    chosen = min(sizes, key=lambda ci: abs(sizes[ci] - goal))
    print("  reach of the sampled CIs:", sorted(sizes.values()))
    reached = sizes[chosen]
    raw_reached = raw_closure(chosen)
    # the walk in the database (what answers a call after a write, while the snapshot is rebuilt), the raw query and
    # the walk over the snapshot, alternated so that the machine's state weighs on all three alike
    with override_settings(MERIDIAN_IMPACT_CACHE="on"):
        impact_cache.clear()
        snapshot = snapshot_figures()
        impact_cache.clear()
        first = impact.analyse([chosen])  # a miss: from the database, a rebuild started in the background
        impact_cache.wait()
        cached = impact.analyse([chosen])
        assert cached.reached == first.reached, "the snapshot's answer differs from the database's"
        builds = impact_cache.builds()
        rounds: dict[str, list[float]] = {"database": [], "raw": [], "cached": []}
        for _ in range(5):
            for name, func in (
                ("database", lambda: impact.analyse_in_database([chosen])),
                ("raw", lambda: raw_closure(chosen)),
                ("cached", lambda: impact.analyse([chosen])),
            ):
                times = []
                for _ in range(3):
                    began = time.perf_counter()
                    func()
                    times.append(time.perf_counter() - began)
                rounds[name].extend(times)
        assert impact_cache.builds() == builds, "the snapshot was rebuilt while measured"

        def figures(name: str) -> tuple[float, float]:
            return round(statistics.median(rounds[name]) * 1000, 1), round(min(rounds[name]) * 1000, 1)

        (analyse_ms, analyse_best), (raw_ms, raw_best), (db_ms, db_best) = (
            figures("cached"),
            figures("raw"),
            figures("database"),
        )
        viewer = p.users[Role.SERVICE_DESK_AGENT]
        tab_ms = median_ms(lambda: impact.describe(impact.analyse([chosen]), viewer), repeat=3)
        two = [chosen, rng.choice(layers["host"])]
        what_if_ms = median_ms(lambda: impact.analyse(two))
        depends_ms = median_ms(lambda: impact.analyse([layers["service"][0]], impact.DEPENDENCIES))
        # a write: the next call answers from the database and starts the rebuild; the one after uses it
        some = Relationship.objects.filter(kind__propagates="to_source").order_by("pk").first()
        assert some is not None
        Relationship.objects.filter(pk=some.pk).update(note="touched")  # a write of the graph: a new token
        began = time.perf_counter()
        impact.analyse([chosen])
        after_write_ms = round((time.perf_counter() - began) * 1000, 1)
        began = time.perf_counter()
        impact_cache.wait()
        rebuilt_after_ms = round((time.perf_counter() - began) * 1000, 1)
        hit = impact.analyse([chosen])
        assert hit.reached == first.reached
    results = {
        "cis": cis,
        "relationships": relationships,
        "load_seconds": round(loaded, 1),
        "ci": chosen,
        "impacted": reached,
        "raw_closure": raw_reached,
        "impact_ms": analyse_ms,
        "impact_best_ms": analyse_best,
        "raw_recursive_ms": raw_ms,
        "raw_recursive_best_ms": raw_best,
        "ratio": round(analyse_ms / raw_ms, 2),
        "impact_database_walk_ms": db_ms,
        "impact_database_walk_best_ms": db_best,
        "database_walk_ratio": round(db_ms / raw_ms, 2),
        **snapshot,
        "first_call_after_a_write_ms": after_write_ms,
        "background_rebuild_left_after_it_ms": rebuilt_after_ms,
        "impact_with_paths_services_organisations_ms": tab_ms,
        "what_if_two_down_ms": what_if_ms,
        "dependencies_of_a_service_ms": depends_ms,
        "goal": "impact_ms well under 100 on PostgreSQL; ratio <= 3",
    }
    for name, value in results.items():
        print(f"  {name:45} {value}")
    return results
