"""What the home page shows a person: their work, what they recently created or changed, their teams, and the
process areas with counts. Its number of queries does not grow with the number of registered record types:
counts of all types come from one query (cached for a minute per tenancy and set of visible types, and estimated
from PostgreSQL's statistics for large tables a staff reader sees whole), the records of `my_work` from one
query across all types that declare it, and records are then read once per type among the few shown."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Count, IntegerField, Model, QuerySet, Value
from django.urls import NoReverseMatch, reverse
from django.utils.text import capfirst

from meridian.core import policy, registry
from meridian.core.choices import AuditAction
from meridian.core.models import AuditEvent, Organisation, Person, Team
from meridian.core.registry import ADD, VIEW, RecordType
from meridian.core.saved_views import HomeView, home_views

COUNT_TTL = 60  # seconds a count may be old
RECENT = 8  # records recently created or changed by the reader
MY_WORK = 10  # records the reader works on, most recently changed first
AUDIT_WINDOW = 100  # the reader's latest audit events looked at for RECENT distinct records


@dataclass
class TypeLink:
    rt: RecordType
    url: str
    add_url: str | None
    count: int | None = None
    estimated: bool = False


@dataclass
class AreaLinks:
    area: registry.Area
    pages: list[dict[str, str]]
    types: list[TypeLink]


@dataclass
class Item:
    """A record on the home page, named as the reader may see it."""

    obj: Model
    name: str
    url: str
    type_label: str
    when: datetime | None
    what: str = ""


@dataclass
class WorkType:
    rt: RecordType
    label: str
    count: int


@dataclass
class Home:
    areas: list[AreaLinks]
    my_work: list[Item] = field(default_factory=list)
    my_work_types: list[WorkType] = field(default_factory=list)
    recent: list[Item] = field(default_factory=list)
    teams: list[Team] = field(default_factory=list)
    person: Person | None = None
    organisation: Organisation | None = None
    views: list[HomeView] = field(default_factory=list)  # saved views: defaults and "show on home"


def home_for(user: Any) -> Home:
    visible = policy.visible_areas(user)
    types = [rt for va in visible for rt in va.types]
    counts = type_counts(user, types)
    areas = []
    for va in visible:
        pages = []
        for page in va.pages:
            try:
                pages.append({"label": page.label, "url": reverse(page.url_name), "icon": page.icon})
            except NoReverseMatch:  # a page of an app that is not installed here
                continue
        links = [
            TypeLink(
                rt=rt,
                url=reverse(rt.url_name("list")),
                add_url=reverse(rt.url_name("add")) if policy.can(user, ADD, rt.model) else None,
                count=counts.get(rt.label, (None, False))[0],
                estimated=counts.get(rt.label, (None, False))[1],
            )
            for rt in va.types
        ]
        areas.append(AreaLinks(va.area, pages, links))
    home = Home(areas=areas)
    home.person = Person.objects.filter(user_id=user.pk).select_related("organisation").first()
    if home.person is not None and policy.can(user, VIEW, home.person.organisation):
        home.organisation = home.person.organisation
    if home.person is not None:
        home.teams = list(policy.restrict(Team.objects.filter(members=home.person), user, VIEW))
    home.my_work, home.my_work_types = my_work(user, types)
    home.recent = recent_records(user)
    home.views = home_views(user)
    return home


def _union(parts: list[QuerySet[Any]], *, all: bool = True) -> QuerySet[Any] | None:
    if not parts:
        return None
    return parts[0].union(*parts[1:], all=all) if len(parts) > 1 else parts[0]


def type_counts(user: Any, types: list[RecordType]) -> dict[str, tuple[int, bool]]:
    """`{label: (rows the user may see, estimated?)}` for the given types, from the cache or one query (two on
    PostgreSQL: the estimates first). The cache key holds the reader's tenancy (their organisation, for a customer)
    and the set of types they see, so a customer's count never includes another organisation's rows."""
    if not types:
        return {}
    customer_org = user.organisation_id if getattr(user, "is_customer", False) else None
    scope = f"org-{customer_org}" if getattr(user, "is_customer", False) else "all"
    digest = hashlib.sha256(",".join(sorted(rt.label for rt in types)).encode()).hexdigest()[:16]
    key = f"meridian:home-counts:{scope}:{digest}"
    cached = cache.get(key)
    if cached is not None:
        return dict(cached)
    result: dict[str, tuple[int, bool]] = {}
    whole = [rt for rt in types if policy.tenant_filter(user, rt.model) is None]
    for rt, estimate in estimates(whole).items():
        if estimate >= settings.MERIDIAN_COUNT_ESTIMATE_FROM:
            result[rt.label] = (estimate, True)
    exact = [rt for rt in types if rt.label not in result]
    parts = [
        policy.restrict(rt.model.objects.all(), user, VIEW)
        .order_by()
        .annotate(type_index=Value(index, output_field=IntegerField()))
        .values("type_index")
        .annotate(rows=Count("pk"))
        .values_list("type_index", "rows")
        for index, rt in enumerate(exact)
    ]
    for rt in exact:
        result[rt.label] = (0, False)  # a type whose rows the reader may not see at all is not in the union
    combined = _union(parts)
    if combined is not None:
        for index, rows in combined:
            result[exact[index].label] = (rows, False)
    cache.set(key, result, COUNT_TTL)
    return result


def estimates(types: list[RecordType]) -> dict[RecordType, int]:
    """PostgreSQL's row estimates (`pg_class.reltuples`, kept by autovacuum's ANALYZE) of the types' tables, in
    one query; nothing on other databases or for tables never analysed."""
    if connection.vendor != "postgresql" or not types:
        return {}
    by_table = {rt.model._meta.db_table: rt for rt in types}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reltuples FROM pg_class WHERE relkind = 'r' AND relname = ANY(%s) "
            "AND pg_table_is_visible(oid)",
            [list(by_table)],
        )
        return {by_table[name]: int(rows) for name, rows in cursor.fetchall() if rows >= 0}


def my_work(user: Any, types: list[RecordType]) -> tuple[list[Item], list[WorkType]]:
    """The records the reader works on (declared by each type's `my_work`), most recently changed first, and how
    many each type has: one query for the counts, one for the newest rows across all types, then one per type
    among the newest `MY_WORK` to name them."""
    declared = [rt for rt in types if rt.my_work is not None]
    if not declared:
        return [], []
    mine = {rt.label: rt.my_work.queryset(policy.restrict(rt.model.objects.all(), user, VIEW), user) for rt in declared}  # type: ignore[union-attr]
    # the counts, like the areas', are cached a minute (per person and set of types: "up to 60 seconds old")
    digest = hashlib.sha256(",".join(rt.label for rt in declared).encode()).hexdigest()[:16]
    key = f"meridian:home-my-work:{getattr(user, 'pk', None)}:{digest}"
    counts = cache.get(key)
    if counts is None:
        count_parts = [
            mine[rt.label]
            .order_by()
            .annotate(type_index=Value(index, output_field=IntegerField()))
            .values("type_index")
            .annotate(rows=Count("pk", distinct=True))
            .values_list("type_index", "rows")
            for index, rt in enumerate(declared)
        ]
        counts = dict(_union(count_parts) or [])  # type: ignore[arg-type]
        cache.set(key, counts, COUNT_TTL)
    kinds = [
        WorkType(rt, rt.my_work.label, counts.get(index, 0))  # type: ignore[union-attr]
        for index, rt in enumerate(declared)
    ]
    row_parts = [
        mine[rt.label]
        .order_by()
        .annotate(type_index=Value(index, output_field=IntegerField()))
        .values_list("type_index", "pk", "updated_at")
        for index, rt in enumerate(declared)
        if counts.get(index)
    ]
    combined = _union(row_parts, all=False)  # UNION drops the duplicates a join through teams makes
    rows = list(combined.order_by("-updated_at")[:MY_WORK]) if combined is not None else []
    objects = _load(user, [(declared[index], pk) for index, pk, _ in rows])
    items = []
    for index, pk, _ in rows:
        rt = declared[index]
        obj = objects.get((rt.label, pk))
        if obj is not None:
            items.append(_item(user, rt, obj, getattr(obj, "updated_at", None)))
    return items, [k for k in kinds if k.count]


def recent_records(user: Any) -> list[Item]:
    """The records the reader most recently created, changed or moved (from the audit trail), each once, that
    they may still see; deleted records and records now out of their sight are left out."""
    labels = {rt.label: rt for rt in registry.all_types()}
    events = list(
        AuditEvent.objects.filter(actor_id=user.pk, record_type__in=list(labels))
        .exclude(action=AuditAction.DELETE)
        .order_by("-id")
        .values_list("record_type", "record_id", "action", "occurred_at")[:AUDIT_WINDOW]
    )
    latest: dict[tuple[str, str], tuple[str, datetime]] = {}
    for record_type, record_id, action, occurred_at in events:
        if (record_type, record_id) not in latest:
            latest[(record_type, record_id)] = (action, occurred_at)
        if len(latest) == RECENT:
            break
    wanted = []
    for record_type, record_id in latest:
        rt = labels[record_type]
        try:
            wanted.append((rt, rt.model._meta.pk.to_python(record_id)))
        except ValidationError:  # an id that is not one of this type's keys names nothing to show
            continue
    objects = _load(user, wanted)
    items = []
    for rt, pk in wanted:
        obj = objects.get((rt.label, pk))
        if obj is None:
            continue
        action, occurred_at = latest[(rt.label, str(pk))]
        items.append(_item(user, rt, obj, occurred_at, AuditAction(action).label))
    return items


def _load(user: Any, wanted: list[tuple[RecordType, Any]]) -> dict[tuple[str, Any], Model]:
    """The records wanted that the user may see, one query per model among them."""
    per_model: dict[type[Model], tuple[set[str], list[Any]]] = {}
    for rt, pk in wanted:
        related, pks = per_model.setdefault(rt.model, (set(), []))
        related.update(rt.select_related)
        pks.append(pk)
    found: dict[tuple[str, Any], Model] = {}
    for model, (related, pks) in per_model.items():
        queryset = model.objects.select_related(*sorted(related))  # type: ignore[attr-defined]
        for pk, obj in policy.restrict(queryset, user, VIEW).in_bulk(pks).items():
            found[(model._meta.label_lower, pk)] = obj
    return found


def _item(user: Any, rt: RecordType, obj: Model, when: datetime | None, what: str = "") -> Item:
    return Item(
        obj=obj,
        name=policy.name_of(user, obj),
        url=reverse(rt.url_name("detail"), args=[obj.pk]),
        type_label=capfirst(rt.verbose_name),
        when=when,
        what=what,
    )
