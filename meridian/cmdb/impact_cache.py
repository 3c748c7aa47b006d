"""The adjacency cache of impact analysis: the failure-carrying graph held in each worker's memory, keyed by a
freshness token that database triggers change on every write of the graph.

**The token.** One row, `cmdb_graphstate(id = 1, token)`, is rewritten with a new *random* token by triggers on every
insert, update and delete (and, on PostgreSQL, truncate) of relationships, relationship kinds (their `propagates`),
redundancy groups and their members (migration `0008_graph_state`: statement-level triggers on PostgreSQL,
row-level ones on SQLite, which has no other kind). Triggers catch every write path: the services, imports'
`bulk_create`, a CI's deletion cascading to its relationships, a query written by hand. The token is random rather
than a counter so that a token written by a transaction that rolls back is never written again: a cache built inside
that transaction (from its uncommitted writes) carries a token nobody will read again, and so is never used.

**The cache** (`Graph`) is read in one transaction, the token first, then the relationships of the kinds that carry
a failure and the redundancy groups: for each CI, the CIs its failure reaches directly (`impacts`) and the CIs it
depends on directly (`depends`), as tuples of ids; the groups as `impact._groups` gives them. Readers take the
snapshot that matches the token they read (`current`), so a snapshot is used only while the database, as the reader
sees it, holds exactly the graph it was built from (or, for a snapshot built outside a transaction, a graph at
least as new as its token).

**A miss** (the token changed, or no snapshot yet): `current` answers None, the caller answers from the database
and then (`rebuild_if_stale`) starts a rebuild in a background thread with its own database connection (closed
after), one at a time per process, so that a CMDB being imported continuously never makes a reader wait for a
rebuild. (The rebuild shares the worker's interpreter lock for about a second: calls that arrive meanwhile are
slower, never wrong.)
`MERIDIAN_IMPACT_CACHE` chooses: `on` (that), `inline` (rebuild in the caller's thread and transaction, then answer
from it: tests and one-off scripts), `off` (always the database). Above `MERIDIAN_IMPACT_CACHE_MAX_RELATIONSHIPS`
relationships carrying a failure no snapshot is kept (the memory would grow past what a worker should hold; about
90 bytes a relationship: see `benchmarks/cmdb.py`).

The snapshot is process-wide state, but only ever a copy of committed data (or of the reader's own transaction)
named by the token: two requests read the same answers with it as without it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, connections

from meridian.cmdb.choices import Propagation

log = logging.getLogger(__name__)

ON, INLINE, OFF = "on", "inline", "off"
MODES = (ON, INLINE, OFF)
DEFAULT_MAX_RELATIONSHIPS = 2_000_000

FRESHNESS_SQL = "SELECT token FROM cmdb_graphstate WHERE id = 1"
KINDS_JOIN = "FROM cmdb_relationship r JOIN cmdb_relationshipkind k ON k.id = r.kind_id "
COUNT_SQL = "SELECT count(*) " + KINDS_JOIN + "WHERE k.propagates <> %s"
EDGES_SQL = "SELECT r.source_id, r.target_id " + KINDS_JOIN + "WHERE k.propagates IN (%s, %s)"
UP = (Propagation.TO_SOURCE, Propagation.BOTH)  # the target's failure reaches the source
DOWN = (Propagation.TO_TARGET, Propagation.BOTH)  # the source's failure reaches the target


@dataclass
class Graph:
    """The failure-carrying graph at `token`: per CI, the CIs its failure reaches directly (`impacts`) and those it
    depends on directly (`depends`: a group's CI, on its members too); the redundancy groups (group: (its CI,
    members down that take it down, n)), the groups of each member, the members of each group, the group of each
    group CI; the relationships counted."""

    token: str
    impacts: dict[int, tuple[int, ...]]
    depends: dict[int, tuple[int, ...]]
    groups: dict[int, tuple[int, int, int]]
    groups_of_member: dict[int, tuple[int, ...]]
    members_of_group: dict[int, tuple[int, ...]]
    group_of_ci: dict[int, int]
    relationships: int


@dataclass
class _State:
    graph: Graph | None = None
    too_big: str | None = None  # the token at which the graph was found too big to keep
    building: threading.Thread | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    builds: int = 0  # snapshots built in this process (tests read it)


_state = _State()


def mode() -> str:
    value = str(getattr(settings, "MERIDIAN_IMPACT_CACHE", ON)).lower()
    return value if value in MODES else ON


def max_relationships() -> int:
    return int(getattr(settings, "MERIDIAN_IMPACT_CACHE_MAX_RELATIONSHIPS", DEFAULT_MAX_RELATIONSHIPS))


def read_token() -> str | None:
    """The token as the caller's connection sees it (None before the first write of the graph, or without the
    table)."""
    with connection.cursor() as cursor:
        cursor.execute(FRESHNESS_SQL)
        row = cursor.fetchone()
    return None if row is None else str(row[0])


def current(rebuild: bool = True) -> Graph | None:
    """The snapshot for the token the caller reads, or None (answer from the database): the cache off, no token,
    a snapshot of another token (a rebuild is started: in the background, or here when `inline`; with `rebuild`
    false, the caller starts the background one after answering, by `rebuild_if_stale`)."""
    chosen = mode()
    if chosen == OFF:
        return None
    token = read_token()
    if token is None:
        return None
    graph = _state.graph
    if graph is not None and graph.token == token:
        return graph
    if _state.too_big == token:
        return None
    if chosen == INLINE:
        return _keep(build(max_relationships()))
    if rebuild:
        _start_rebuild()
    return None


def rebuild_if_stale() -> None:
    """Start the background rebuild when the snapshot is not the token's (`on` only): called after a reader has been
    answered from the database, so that the rebuild does not share the processor with that answer."""
    if mode() != ON:
        return
    token = read_token()
    graph = _state.graph
    if token is not None and (graph is None or graph.token != token) and _state.too_big != token:
        _start_rebuild()


def _keep(graph: Graph | None) -> Graph | None:
    if graph is not None:
        _state.graph = graph
    return graph


def build(limit: int | None = None) -> Graph | None:
    """A snapshot read through the caller's connection: within its transaction when it is in one, else in a
    read-only transaction of its own (a single snapshot: REPEATABLE READ on PostgreSQL, a deferred read transaction
    on SQLite). None, remembered for that token, when more than `limit` relationships carry a failure."""
    if connection.in_atomic_block:
        return _read(limit)
    if connection.vendor == "postgresql":
        from django.db import transaction

        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            return _read(limit)
    # SQLite: Django's atomic blocks begin IMMEDIATE (the write lock); a read needs only a deferred transaction
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("BEGIN DEFERRED")
        try:
            return _read(limit)
        finally:
            cursor.execute("COMMIT")


def _read(limit: int | None) -> Graph | None:
    from meridian.cmdb import impact

    with connection.cursor() as cursor:
        cursor.execute(FRESHNESS_SQL)
        row = cursor.fetchone()
        if row is None:
            return None
        token = str(row[0])
        kept = _state.graph
        if kept is not None and kept.token == token:  # a reader in a transaction that wrote the graph missed
            return kept
        if limit is not None:
            cursor.execute(COUNT_SQL, [Propagation.NONE])
            if int(cursor.fetchone()[0]) > limit:
                _state.too_big = token
                log.info("impact cache: more than %s relationships carry a failure; not kept", limit)
                return None
        impacts: dict[int, list[int]] = {}
        depends: dict[int, list[int]] = {}
        same: dict[int, int] = {}  # one int object per id (the rows bring a new one per occurrence)
        count = 0
        for ways, reverse in ((UP, False), (DOWN, True)):
            cursor.execute(EDGES_SQL, list(ways))
            for source, target in cursor.fetchall():
                source, target = same.setdefault(source, source), same.setdefault(target, target)
                # to the source: the target's failure reaches the source; to the target: the other way
                cause, effect = (source, target) if reverse else (target, source)
                impacts.setdefault(cause, []).append(effect)
                depends.setdefault(effect, []).append(cause)
                count += 1
    groups, memberships = impact._groups()
    groups_of_member: dict[int, list[int]] = {}
    members_of_group: dict[int, list[int]] = {}
    for group_id, member_id in memberships:
        groups_of_member.setdefault(member_id, []).append(group_id)
        members_of_group.setdefault(group_id, []).append(member_id)
    for group_id, (ci_id, _needed, _size) in groups.items():  # a group's CI depends on each of its members
        depends.setdefault(ci_id, []).extend(members_of_group.get(group_id, ()))
    _state.builds += 1
    return Graph(
        token=token,
        impacts={ci: tuple(sorted(set(ids))) for ci, ids in impacts.items()},
        depends={ci: tuple(sorted(set(ids))) for ci, ids in depends.items()},
        groups=groups,
        groups_of_member={ci: tuple(ids) for ci, ids in groups_of_member.items()},
        members_of_group={g: tuple(ids) for g, ids in members_of_group.items()},
        group_of_ci={ci_id: group_id for group_id, (ci_id, _needed, _size) in groups.items()},
        relationships=count,
    )


def _start_rebuild() -> None:
    """One background rebuild at a time in this process; a reader never waits for it."""
    with _state.lock:
        if _state.building is not None and _state.building.is_alive():
            return
        thread = threading.Thread(target=_rebuild, name="impact-cache-rebuild", daemon=True)
        _state.building = thread
    thread.start()


def _rebuild() -> None:
    try:
        _keep(build(max_relationships()))
    except Exception:  # the readers answer from the database meanwhile; the next miss tries again
        log.exception("impact cache: rebuild failed")
    finally:
        connections.close_all()  # this thread's own connections


def wait(timeout: float | None = None) -> None:
    """Wait for a background rebuild to finish (tests and benchmarks)."""
    thread = _state.building
    if thread is not None:
        thread.join(timeout)


def clear() -> None:
    """Forget the snapshot (tests and benchmarks)."""
    wait()
    _state.graph = None
    _state.too_big = None


def builds() -> int:
    return _state.builds
