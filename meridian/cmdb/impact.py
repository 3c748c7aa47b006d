"""Impact analysis: which configuration items fail when some are down, and what a CI depends on.

**Semantics.** A relationship `source —kind→ target` carries a failure as its kind's `propagates` says:
`to_source` (“app depends on db”: the db's failure impacts the app), `to_target` (“component is part of service”:
the component's failure impacts the service), `both`, or `none` (“is backed up by”). A redundancy group's CI
(`RedundancyGroup.ci`) fails when fewer than k (`required_up`) of its n members are up, i.e. when n − k + 1 of
them are down; it also fails like any CI through its own relationships. The CIs given as down are down.

**Method: breadth-first by level in Python, each level one statement of indexed lookups.** Failures only ever
add (a monotone propagation), so one pass with a counter per group reaches the fixed point: a member's failure
counts once against each of its groups, and a group's CI is queued the moment its count reaches n − k + 1. Every
CI is visited once (cycles neither hang nor count twice) and keeps the CI whose failure reached it first (the
smallest id among those of the nearest level: the same answer every time), so each result carries one shortest path
that makes it true. A recursive query (`WITH RECURSIVE`) cannot count a group's failed members (no aggregates in a
recursive term) nor keep one cause per CI without revisiting, and on PostgreSQL it is slower than this walk even for
the plain closure: `benchmarks/cmdb.py` measures both on 100,000 CIs and 300,000 relationships in the same run. Each
level is one statement (both directions, one round trip) joining the frontier, one array parameter bound by the
server (`unnest(%s::bigint[])`; `json_each` on SQLite), to the relationships' indexes on (target, kind, source) and
(kind, source, target): index-only lookups (the second makes a probe for a kind that carries a failure down, “part
of”, from a CI that has none an empty range rather than a scan of all its relationships). Redundancy groups and
their members are read whole once, as plain rows (a small part of a CMDB).

**Faster: the same walk over each worker's snapshot of the graph** (`impact_cache`). Even so, on a 2-core machine the
walk above takes 130-270 ms for a CI reaching 28,000 CIs (8 level statements: ~62 % waiting on PostgreSQL, the rest
Python), and the raw recursive closure alone 320-560 ms (as busy as the machine is): no walk that asks the database
level by level comes near “well under 100 ms”; the snapshot's walk takes 25-35 ms. The failure-carrying graph is small
beside what a worker holds anyway (about 90 bytes a relationship: ~22 MB at 250,000), and changes far less often than it
is read. So each worker keeps a snapshot of it, named by a token that database triggers replace with a random one on
every write of relationships, kinds, groups and members (every write path: services, imports' `bulk_create`, cascades,
hand-written SQL). `analyse` reads the token (one primary-key lookup) and, when the snapshot is that token's, walks it
in Python: the same levels, the same smallest-cause rule, the same group counting (`_walk`), dict lookups instead of
statements. Otherwise it answers from the database (`_analyse`, kept as the fallback and the reference:
`analyse_in_database`) and the snapshot is rebuilt in the background, so a reader never waits for a rebuild, however
often the CMDB is written. The answers are identical (`tests/test_impact_cache.py` compares the two walks on hypothesis
graphs); a transaction that writes the graph sees a token of its own and so its own writes, from the database.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.db import connection

from meridian.cmdb import impact_cache
from meridian.cmdb.choices import Propagation
from meridian.cmdb.models import CIClass, ConfigurationItem, RelationshipKind, descendant_class_ids

IMPACT, DEPENDENCIES = "impact", "dependencies"
DIRECTIONS = (IMPACT, DEPENDENCIES)
UP_KINDS = (Propagation.TO_SOURCE, Propagation.BOTH)  # the target's failure reaches the source
DOWN_KINDS = (Propagation.TO_TARGET, Propagation.BOTH)  # the source's failure reaches the target


class Reached(NamedTuple):
    """One CI of a result: the CI through which it was reached (None for a CI given), its distance, and for a group's
    CI that failed by its members, (members down, members) when it tipped."""

    ci_id: int
    cause: int | None
    depth: int
    group: tuple[int, int] | None = None


@dataclass
class Result:
    """The CIs reached from `start` (given ones included, at depth 0), in `direction`."""

    start: list[int]
    direction: str
    reached: dict[int, Reached] = field(default_factory=dict)

    def ids(self) -> set[int]:
        """The CIs reached, without the ones given."""
        return {pk for pk, r in self.reached.items() if r.cause is not None}

    def path(self, ci_id: int) -> list[Reached]:
        """From the CI back to a CI given: [Payroll, ERP app, db-cluster, host-7]."""
        steps, current = [], self.reached.get(ci_id)
        while current is not None:
            steps.append(current)
            current = self.reached.get(current.cause) if current.cause is not None else None
        return steps


# (reached, cause) per level, joined to the frontier {ids} (a table `f(id)`), through the kinds {kinds}
RELATED = "FROM {ids} JOIN cmdb_relationship r ON r.%s = f.id WHERE r.kind_id IN {kinds}"
SOURCES_OF = "SELECT r.source_id, r.target_id " + RELATED % "target_id"  # the sources of these targets
TARGETS_OF = "SELECT r.target_id, r.source_id " + RELATED % "source_id"  # the targets of these sources


def _ids_table(ids: Sequence[int]) -> tuple[str, str]:
    """A table `f(id)` of the ids, read from one parameter (an array on PostgreSQL, JSON on SQLite), and that
    parameter. Joined to the relationships it is an index lookup per id; a list of placeholders or `= ANY` of a
    literal costs more to plan than to run at 10,000 ids."""
    listed = ",".join(map(str, ids))
    if connection.vendor == "postgresql":
        return "unnest(%s::bigint[]) AS f(id)", "{" + listed + "}"
    return "(SELECT value AS id FROM json_each(%s)) AS f", "[" + listed + "]"


def _execute(query: str, params: list[str]) -> list[tuple[Any, ...]]:
    if connection.vendor == "postgresql":
        # the array as a bound parameter of the server (Django's cursors bind on the client: they would quote and
        # send a 100 KB literal per level) and the rows in binary
        connection.ensure_connection()
        import psycopg

        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(query, params, binary=True)
            return cursor.fetchall()
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall()


def _kinds_sql(kinds: Sequence[int]) -> str:
    return "(" + ",".join(str(int(k)) for k in kinds) + ")"


def _rows(sql: str, ids: Sequence[int], kinds: Sequence[int] = ()) -> list[tuple[Any, ...]]:
    """The rows of `sql` for these ids (its `{ids}`: a table `f(id)`) and kinds (given in the text: a handful of
    integers)."""
    table, param = _ids_table(ids)
    return _execute(sql.format(ids=table, kinds=_kinds_sql(kinds)), [param])  # constant SQL and integers only


def _level(queries: Sequence[tuple[str, Sequence[int]]], ids: Sequence[int]) -> list[tuple[Any, ...]]:
    """One level of the walk, both directions in one statement (one round trip): (CI reached, the CI it was reached
    from) for each relationship of the queries' kinds from the frontier `ids`."""
    table, param = _ids_table(ids)
    parts = [sql.format(ids=table, kinds=_kinds_sql(kinds)) for sql, kinds in queries if kinds]
    return _execute(" UNION ALL ".join(parts), [param] * len(parts)) if parts else []


CI_ROWS = (
    "SELECT c.id, c.reference, c.name, k.name, c.status, c.organisation_id, c.ci_class_id FROM {ids} "
    "JOIN cmdb_configurationitem c ON c.id = f.id JOIN cmdb_ciclass k ON k.id = c.ci_class_id"
)


def _kinds(propagates: Iterable[str]) -> list[int]:
    return list(RelationshipKind.objects.filter(propagates__in=list(propagates)).values_list("pk", flat=True))


def analyse(start: Iterable[int], direction: str = IMPACT) -> Result:
    """See `_analyse`: from the worker's snapshot of the graph when it matches the database's token
    (`impact_cache.current`), else from the database. The cyclic garbage collector is held off meanwhile (tens of
    thousands of small tuples are made and none is garbage: its passes cost a quarter of the time)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction: one of {', '.join(DIRECTIONS)}")
    enabled = gc.isenabled()
    gc.disable()
    try:
        graph = impact_cache.current(rebuild=False)
        if graph is not None:
            return _walk(graph, start, direction)
        result = _analyse(start, direction)
        impact_cache.rebuild_if_stale()  # after the answer: the rebuild never slows the call that missed
        return result
    finally:
        if enabled:
            gc.enable()


def analyse_in_database(start: Iterable[int], direction: str = IMPACT) -> Result:
    """`analyse` always from the database (the level walk): the reference the snapshot's walk is tested against."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _analyse(start, direction)
    finally:
        if enabled:
            gc.enable()


def _walk(graph: impact_cache.Graph, start: Iterable[int], direction: str = IMPACT) -> Result:
    """`_analyse` over the snapshot: the same walk, level by level, dict lookups for the level statements. Groups tip
    on their members in ascending order before the level's relationships are read, as there. The level's
    relationships are read from its largest CI to its smallest, each overwriting what it reaches (one dict
    comprehension a level), so each CI reached keeps its smallest cause, as the level walk's sort gives it. (For
    dependencies, the snapshot lists a group's members among what its CI depends on.)"""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction: one of {', '.join(DIRECTIONS)}")
    given = sorted(set(start))
    result = Result(given, direction, {pk: Reached(pk, None, 0) for pk in given})
    reached = result.reached
    impact = direction == IMPACT
    neighbours = (graph.impacts if impact else graph.depends).get
    groups, groups_of_member = graph.groups, graph.groups_of_member
    failed_members: dict[int, int] = {}
    make = tuple.__new__  # a Reached without its Python-level constructor (a quarter of the walk's time)
    frontier, depth = given, 0
    while frontier:
        depth += 1
        queued: list[int] = []
        if impact and groups_of_member:
            for ci in sorted(groups_of_member.keys() & frontier):
                for group_id in groups_of_member[ci]:
                    group_ci, needed, size = groups[group_id]
                    failed_members[group_id] = failed_members.get(group_id, 0) + 1
                    if failed_members[group_id] == needed and group_ci not in reached:
                        # tipped now: fewer than k members up (n - k + 1 down); reached through this member
                        reached[group_ci] = Reached(group_ci, ci, depth, (needed, size))
                        queued.append(group_ci)
        # CI reached at this level: its smallest cause (the frontier read from its largest CI, the last write wins)
        found = {other: ci for ci in reversed(frontier) for other in neighbours(ci, ())}
        new = sorted(found.keys() - reached.keys())
        reached.update({pk: make(Reached, (pk, found[pk], depth, None)) for pk in new})
        queued.extend(new)
        frontier = sorted(queued)
    return result


def _analyse(start: Iterable[int], direction: str = IMPACT) -> Result:
    """Everything the CIs `start` reach in `direction`: IMPACT, what fails when they are all down (redundancy
    groups respected); DEPENDENCIES, everything they depend on (whose failure could impact them; a group's CI
    depends on all its members)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction: one of {', '.join(DIRECTIONS)}")
    given = sorted(set(start))
    result = Result(given, direction, {pk: Reached(pk, None, 0) for pk in given})
    up, down = _kinds(UP_KINDS), _kinds(DOWN_KINDS)
    # impact walks a failure the way it travels; dependencies walk the same edges backwards
    queries = [(SOURCES_OF, up), (TARGETS_OF, down)] if direction == IMPACT else [(TARGETS_OF, up), (SOURCES_OF, down)]
    groups, memberships = _groups()
    group_of_ci = {ci_id: group_id for group_id, (ci_id, _needed, _size) in groups.items()}
    groups_of_member: dict[int, list[int]] = {}
    members_of_group: dict[int, list[int]] = {}
    for group_id, member_id in memberships:
        groups_of_member.setdefault(member_id, []).append(group_id)
        members_of_group.setdefault(group_id, []).append(member_id)
    failed_members: dict[int, int] = {}
    reached = result.reached
    frontier, depth = given, 0
    while frontier:
        depth += 1
        found: list[tuple[int, int]] = _level(queries, frontier)
        queued = []
        for ci in frontier:
            if direction == IMPACT:
                for group_id in groups_of_member.get(ci, ()):
                    group_ci, needed, size = groups[group_id]
                    failed_members[group_id] = failed_members.get(group_id, 0) + 1
                    if failed_members[group_id] == needed and group_ci not in reached:
                        # tipped now: fewer than k members up (n - k + 1 down); reached through this member
                        reached[group_ci] = Reached(group_ci, ci, depth, (needed, size))
                        queued.append(group_ci)
            elif ci in group_of_ci:  # dependencies: a group's CI depends on each of its members
                found.extend((member_id, ci) for member_id in members_of_group.get(group_of_ci[ci], ()))
        found.sort()  # by CI, then cause: each CI keeps its smallest cause (the same answer every time)
        for ci_id, cause in found:
            if ci_id not in reached:
                reached[ci_id] = Reached(ci_id, cause, depth)
                queued.append(ci_id)
        frontier = sorted(queued)
    return result


def _groups() -> tuple[dict[int, tuple[int, int, int]], list[tuple[int, int]]]:
    """Each redundancy group: (its CI, members down that take it down = n - k + 1, n); and the (group, member) rows.
    Two queries: groups are a small part of a CMDB, read whole."""
    with connection.cursor() as cursor:  # plain rows of integers: the ORM's per-row work costs more than the query
        cursor.execute("SELECT redundancygroup_id, configurationitem_id FROM cmdb_redundancygroup_members")
        memberships = sorted(cursor.fetchall())
        cursor.execute("SELECT id, ci_id, required_up FROM cmdb_redundancygroup")
        rows = cursor.fetchall()
    sizes: dict[int, int] = {}
    for group_id, _member in memberships:
        sizes[group_id] = sizes.get(group_id, 0) + 1
    return {pk: (ci_id, max(sizes.get(pk, 0) - k + 1, 1), sizes.get(pk, 0)) for pk, ci_id, k in rows}, memberships


# --- what people read ---------------------------------------------------------------------------------------------


def service_class_ids() -> set[int]:
    """The classes whose items are services (`CIClass.service`) and their descendants."""
    return descendant_class_ids(set(CIClass.objects.filter(service=True).values_list("pk", flat=True)))


def services_reached(result: Result, user: Any = None, rows: Any = None) -> list[ConfigurationItem]:
    """The services among the CIs reached (the interface for service level management: a service CI leads to the
    agreements that cover it and their customers). Only what `user` may see when one is given. `rows`: the CIs'
    `CI_ROWS` when the caller has read them already."""
    from meridian.core import policy

    classes = service_class_ids()
    reached = result.ids()
    rows = _rows(CI_ROWS, sorted(reached)) if rows is None else rows
    ids = [row[0] for row in rows if row[6] in classes and row[0] in reached]
    services = ConfigurationItem.objects.filter(pk__in=ids)
    if user is not None:
        services = policy.restrict(services, user)
    return list(services.only("pk", "reference", "name", "ci_class_id", "organisation_id").order_by("name", "pk"))


def organisations_reached(result: Result, user: Any = None, rows: Any = None) -> list[Any]:
    """The customer organisations whose CIs are reached (a CI's organisation is the customer it is dedicated to)."""
    from meridian.core import policy
    from meridian.core.models import Organisation

    reached = result.ids()
    rows = _rows(CI_ROWS, sorted(reached)) if rows is None else rows
    ids = {row[5] for row in rows if row[5] is not None and row[0] in reached}
    found = Organisation.objects.filter(pk__in=ids)
    if user is not None:
        found = policy.restrict(found, user)
    return list(found.order_by("name"))


# --- the tab and the API --------------------------------------------------------------------------------------------

DEFAULT_LIMIT, MAX_LIMIT = 500, 10_000


@dataclass
class Query:
    """What a reader asked: the CIs down (the record's own first), the direction and how many rows to show."""

    down: list[int]
    direction: str = IMPACT
    limit: int = DEFAULT_LIMIT


def parse_query(obj: ConfigurationItem, user: Any, params: Any) -> tuple[Query, dict[str, str]]:
    """`?down=12,CI-000013&direction=impact&limit=500` read for `obj`: the CIs down are the record and those named
    (by id or reference) that the reader may see; errors by parameter (a CI the reader may not see is named like a
    missing one)."""
    from meridian.core import policy

    errors: dict[str, str] = {}
    direction = (params.get("direction") or IMPACT).strip()
    if direction not in DIRECTIONS:
        errors["direction"] = f"One of {', '.join(DIRECTIONS)}."
    limit = DEFAULT_LIMIT
    raw_limit = (params.get("limit") or "").strip()
    if raw_limit:
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
            errors["limit"] = f"A whole number from 1 to {MAX_LIMIT:,}."
        else:
            limit = int(raw_limit)
    down = [obj.pk]
    tokens = [t.strip() for t in (params.get("down") or "").replace(" ", ",").split(",") if t.strip()]
    if len(tokens) > 100:
        errors["down"] = "At most 100 configuration items at once."
        tokens = []
    visible = policy.restrict(ConfigurationItem.objects.all(), user)
    missing = []
    for token in tokens:
        found = (
            visible.filter(pk=int(token)) if token.isdigit() else visible.filter(reference__iexact=token)
        ).values_list("pk", flat=True)
        pk = next(iter(found), None)
        if pk is None:
            missing.append(token)
        elif pk not in down:
            down.append(pk)
    if missing:
        errors["down"] = f"No such configuration item: {', '.join(missing)}."
    return Query(down, direction, limit), errors


def describe(result: Result, user: Any, limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
    """The result as a reader may read it: the CIs reached that they may see (nearest first, then by name; at most
    `limit`), each with its path back to a CI down (CIs they may not see named “hidden”), the services and the
    customer organisations reached."""
    from meridian.core import policy

    read = _rows(CI_ROWS, sorted(result.reached))
    rows = {row[0]: row for row in read}
    tenant = policy.tenant_filter(user, ConfigurationItem)
    own = getattr(user, "organisation_id", None)

    def visible(pk: int) -> bool:
        return tenant is None or rows[pk][5] == own

    def named(pk: int) -> str:
        return rows[pk][2] if visible(pk) else policy.HIDDEN

    statuses = dict(ConfigurationItem._meta.get_field("status").choices)  # type: ignore[arg-type]
    reached = sorted(
        (r for r in result.reached.values() if r.cause is not None and visible(r.ci_id)),
        key=lambda r: (r.depth, rows[r.ci_id][2].lower(), r.ci_id),
    )
    items = []
    for r in reached[:limit]:
        pk, reference, name, class_name, status, _org, _class = rows[r.ci_id]
        path = [
            {
                "id": step.ci_id if visible(step.ci_id) else None,
                "name": named(step.ci_id),
                "group": f"{step.group[0]} of {step.group[1]} down" if step.group else None,
            }
            for step in (result.path(r.ci_id) if result.direction == IMPACT else result.path(r.ci_id)[::-1])
        ]
        items.append(
            {
                "id": pk,
                "reference": reference,
                "name": name,
                "class": class_name,
                "status": str(statuses.get(status, status)),
                "depth": r.depth,
                "path": path,
                "path_text": path_text(path, result.direction),
            }
        )
    # the services reached, from the rows read (as `services_reached` says them, without a model per service)
    classes = service_class_ids()
    services = sorted(
        (rows[r.ci_id] for r in reached if rows[r.ci_id][6] in classes), key=lambda row: (row[2].lower(), row[0])
    )
    return {
        "direction": result.direction,
        "down": [{"id": pk if visible(pk) else None, "name": named(pk)} for pk in result.start],
        "count": len(reached),
        "results": items,
        "services": [{"id": row[0], "reference": row[1], "name": row[2]} for row in services],
        "organisations": [{"id": o.pk, "name": o.name} for o in organisations_reached(result, user, read)],
    }


def path_text(path: list[dict[str, Any]], direction: str) -> str:
    """“Payroll ← ERP app ← db-cluster (2 of 3 down) ← host-7”: each CI fails because of the next one (impact), or
    depends on the next one (→, dependencies)."""
    arrow = " ← " if direction == IMPACT else " → "
    return arrow.join(f"{step['name']} ({step['group']})" if step["group"] else step["name"] for step in path)
