"""The querysets of the generic pages and API: what a reader may see of a record type, with its joins, its
prefetches restricted by the reader's policy (as NetBox's RestrictedPrefetch), its computed annotations (every
aggregate over tenant-owned rows narrowed to what the reader may see) and natural, case-insensitive sorting of
text ("de Vries" before "Wagner", "Room 2" before "Room 10") on SQLite and PostgreSQL alike.

Natural sorting is one collation, `meridian_natural`: on PostgreSQL an ICU collation with numeric ordering
(created by migration 0006), on SQLite a Python function registered on every new connection
(`register_sqlite_collation`, connected in `CoreConfig.ready`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.core.paginator import Paginator
from django.db import connections, models
from django.db.models import Count, F, Func, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.aggregates import Aggregate
from django.db.models.expressions import OrderBy
from django.db.models.functions import Collate
from django.utils.functional import cached_property

from meridian.core import policy, registry
from meridian.core.registry import VIEW, Computed, RecordType, Related

COLLATION = "meridian_natural"
TEXT_FIELDS = (models.CharField, models.TextField)  # EmailField, SlugField, URLField are CharFields

_CHUNKS = re.compile(r"(\d+)")


def natural_key(value: str) -> tuple[Any, ...]:
    """The sort key of the SQLite collation: case and accents ignored, runs of digits compared as numbers,
    digits before letters (as ICU does)."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", value) if not unicodedata.combining(c)).casefold()
    key: list[tuple[int, int, str]] = []
    for chunk in _CHUNKS.split(plain):
        if not chunk:
            continue
        key.append((0, int(chunk), "") if chunk.isdigit() else (1, 0, chunk))
    return tuple(key)


def _collate(a: str, b: str) -> int:
    ka, kb = natural_key(a), natural_key(b)
    if ka == kb:  # equal but for case or accents: a stable order all the same
        return (a > b) - (a < b)
    return -1 if ka < kb else 1


def register_sqlite_collation(sender: Any, connection: Any, **kwargs: Any) -> None:
    """`connection_created` receiver: SQLite connections get the natural collation."""
    if connection.vendor == "sqlite":
        connection.connection.create_collation(COLLATION, _collate)


# --- natural ordering ---------------------------------------------------------------------------------------------


def _final_field(model: type[models.Model], path: str) -> Any:
    """The model field at the end of a `a__b__c` path, or None when the path is not made of fields."""
    field = None
    current: Any = model
    for part in path.split("__"):
        if current is None:
            return None
        try:
            field = current._meta.get_field(part)
        except FieldDoesNotExist:
            return None
        current = field.related_model if field.is_relation else None
    return field


def order_expressions(model: type[models.Model], names: Sequence[Any], depth: int = 0) -> list[Any]:
    """Order-by expressions for field paths (`-name`, `organisation__name`): text fields collated naturally; a
    foreign key by its model's own ordering; anything else (annotations, numbers, dates) as it is."""
    result: list[Any] = []
    for name in names:
        if not isinstance(name, str):
            result.append(name)  # already an expression (e.g. an F().desc() in Meta.ordering)
            continue
        descending = name.startswith("-")
        path = name.lstrip("-")
        field = _final_field(model, path)
        if field is not None and field.is_relation and field.many_to_one and depth < 2:
            related_ordering = list(field.related_model._meta.ordering or ["pk"])
            prefixed = []
            for other in related_ordering:
                if not isinstance(other, str):
                    continue
                flipped = other.startswith("-") != descending
                prefixed.append(("-" if flipped else "") + f"{path}__{other.lstrip('-')}")
            result.extend(order_expressions(model, prefixed, depth + 1))
            continue
        expression: Any = F(path)
        if isinstance(field, TEXT_FIELDS) and not field.choices:
            expression = Collate(F(path), COLLATION)
        # empty values last, said only where a column may hold NULL: a column that may not is sorted plainly, so
        # that PostgreSQL can read it from an index in either direction (NULLS LAST on a descending sort would
        # not match the index)
        nullable = field is None or field.null or path != field.name
        result.append(OrderBy(expression, descending=descending, nulls_last=True if nullable else None))
    return result


def natural_order(queryset: QuerySet[Any], names: list[str] | tuple[str, ...] | None = None) -> QuerySet[Any]:
    """The queryset ordered by `names` (by default its model's ordering), naturally, then by pk."""
    model = queryset.model
    names = list(names if names is not None else (model._meta.ordering or []))
    return queryset.order_by(*order_expressions(model, names), "pk")


# --- policy-restricted prefetches and annotations ---------------------------------------------------------------


def _related_model(model: type[models.Model], path: str) -> type[models.Model] | None:
    field = _final_field(model, path)
    return field.related_model if field is not None and field.is_relation else None


def restricted_prefetches(model: type[models.Model], lookups: list[str], user: Any) -> list[Prefetch]:
    """Each prefetch (and each step of a nested one) as a `Prefetch` whose queryset holds only rows `user` may see:
    a prefetch of a tenant-owned model never carries another organisation's rows."""
    prefetches: list[Prefetch] = []
    seen: set[str] = set()
    for lookup in lookups:
        parts = lookup.split("__")
        for end in range(1, len(parts) + 1):
            path = "__".join(parts[:end])
            if path in seen:
                continue
            seen.add(path)
            related = _related_model(model, path)
            if related is None:
                prefetches.append(Prefetch(path))
                continue
            queryset = related._default_manager.all()
            if registry.find(related) is not None:
                queryset = policy.restrict(queryset, user, VIEW)
            prefetches.append(Prefetch(path, queryset=queryset))
    return prefetches


def _visibility(related: type[models.Model], prefix: str, user: Any) -> Q | None:
    """The condition, seen from the annotated model through `prefix`, that a related row is one `user` may see;
    None when every row is."""
    if registry.find(related) is None:
        return None
    if not policy.has_role_permission(user, VIEW, related):
        return Q(**{f"{prefix}__pk__in": []})
    condition = policy.tenant_filter(user, related)
    if condition is None:
        return None
    tenant = getattr(related, "TENANT_FIELD", None)
    org_id = getattr(user, "organisation_id", None)
    if tenant is None or org_id is None:
        return Q(**{f"{prefix}__pk__in": []})
    return Q(**{f"{prefix}__{tenant}": org_id})


def _f_name(expression: Any) -> str | None:
    """The field path of an `F("people")`, None for any other expression."""
    return str(getattr(expression, "name")) if isinstance(expression, F) else None  # noqa: B009 - not in the stubs


def _count_subquery(expression: Any, model: type[models.Model], user: Any) -> Any | None:
    """`Count("people")` over one relation, as a correlated subquery of the rows `user` may see
    (`policy.restrict`): no GROUP BY over the record's columns, and no rows multiplied when a type counts over
    two relations. None when the count is of another shape (a path, a filter)."""
    sources: list[Any] = expression.source_expressions
    name = _f_name(sources[0]) if len(sources) == 1 else None
    if name is None or "__" in name or expression.filter is not None:
        return None
    try:
        field: Any = model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    if not field.is_relation or not (field.one_to_many or field.many_to_many):
        return None
    related = field.related_model
    back = field.related_query_name() if field.concrete else field.field.name
    inner = related._default_manager.filter(**{back: OuterRef("pk")})
    if registry.find(related) is not None:
        inner = policy.restrict(inner, user, VIEW)
    counted = inner.order_by().annotate(
        _count=Func(F("pk"), function="COUNT", template="COUNT(DISTINCT %(expressions)s)")
    )
    return Subquery(counted.values("_count"), output_field=models.IntegerField())


def restricted_expression(expression: Any, model: type[models.Model], user: Any) -> Any:
    """A copy of `expression` in which every aggregate over related rows counts only the rows `user` may see."""
    if isinstance(expression, Count):
        subquery = _count_subquery(expression, model, user)
        if subquery is not None:
            return subquery
    expression = expression.copy()
    if isinstance(expression, Aggregate):
        condition = None
        sources: list[Any] = expression.get_source_expressions()[: len(expression.source_expressions)]
        for source in sources:
            path = _f_name(source)
            if path is not None:
                # the relation the aggregate runs over: the longest prefix of the path that is a relation
                parts = path.split("__")
                for end in range(len(parts), 0, -1):
                    prefix = "__".join(parts[:end])
                    related = _related_model(model, prefix)
                    if related is not None:
                        visible = _visibility(related, prefix, user)
                        if visible is not None:
                            condition = visible if condition is None else condition & visible
                        break
        if condition is not None:
            expression.filter = condition if expression.filter is None else expression.filter & condition
        return expression
    sources = expression.get_source_expressions()
    if sources:
        expression.set_source_expressions(
            [restricted_expression(s, model, user) if s is not None and hasattr(s, "copy") else s for s in sources]
        )
    return expression


def computed_annotations(rt: RecordType, user: Any) -> dict[str, Any]:
    return {name: restricted_expression(c.value, rt.model, user) for name, c in rt.computed_annotations().items()}


def records_for(
    rt: RecordType, user: Any, action: str = VIEW, *, prefetch: list[str] | None = None, annotate: bool = True
) -> QuerySet[Any]:
    """The type's records `user` may `action`, with joins, restricted prefetches, computed annotations and the
    type's own `queryset` hook: the one queryset of lists, detail pages, related lists and the API."""
    queryset = rt.model._default_manager.select_related(*rt.select_related)
    lookups = [*rt.prefetch_related, *(prefetch or [])]
    if lookups:
        queryset = queryset.prefetch_related(*restricted_prefetches(rt.model, lookups, user))
    if annotate:
        computed = computed_annotations(rt, user)
        if computed:
            queryset = queryset.annotate(**computed)
        if rt.queryset is not None:
            queryset = rt.queryset(queryset, user)
    return policy.restrict(queryset, user, action)


def computed_value(obj: Any, name: str, computed: Computed) -> Any:
    """A computed value of a record that came from `records_for` (annotations) or any record (callables)."""
    if computed.is_annotation:
        return getattr(obj, name, None)
    return computed.value(obj)


# --- related lists --------------------------------------------------------------------------------------------


class RelatedList:
    """One declared related list of a record, as `reader` may see it: the related type, the queryset of its rows
    linked to the record, and how to link to its list and add page."""

    def __init__(self, rt: RecordType, related: Related, obj: Any, user: Any) -> None:
        self.declaration = related
        field: Any = rt.model._meta.get_field(related.name)
        self.field = field
        self.related_rt = registry.get(field.related_model)
        if field.auto_created and not field.concrete:  # a reverse relation: people of an organisation
            self.back = field.field.name  # the foreign key (or many-to-many) on the related model
            self.filter = {self.back: obj.pk}
            default_label = self.related_rt.verbose_name_plural
        else:  # a many-to-many of the record itself: members of a team
            self.back = None
            self.filter = {field.related_query_name(): obj.pk}
            default_label = str(field.verbose_name)
        self.name = related.name
        self.label = related.label or default_label
        self.obj = obj
        self.user = user
        self.visible = policy.has_role_permission(user, VIEW, self.related_rt.model)

    @property
    def columns(self) -> list[str]:
        if self.declaration.columns is not None:
            return list(self.declaration.columns)
        return [name for name in self.related_rt.list_columns if name != self.back]

    def queryset(self) -> QuerySet[Any]:
        rt = self.related_rt
        prefetch = [c for c in self.columns if (f := _final_field(rt.model, c)) is not None and f.many_to_many]
        queryset = records_for(rt, self.user, VIEW, prefetch=prefetch).filter(**self.filter)
        joins = [c for c in self.columns if (f := _final_field(rt.model, c)) is not None and f.many_to_one]
        if joins:
            queryset = queryset.select_related(*joins)
        return natural_order(queryset, self.declaration.ordering)

    def list_query(self) -> str | None:
        """`organisation=3`: the related type's list filtered to this record, when its filters allow it."""
        from meridian.core.filtersets import filterset_for

        if self.back is None or self.back not in filterset_for(self.related_rt).base_filters:
            return None
        return f"{self.back}={self.obj.pk}"

    def add_query(self) -> str | None:
        """`organisation=3`: the related type's add page prefilled with this record, when the reader may add."""
        if self.back is None or self.back not in self.related_rt.fields or not self.field.one_to_many:
            return None  # only a foreign key is prefilled (a many-to-many is chosen on the form itself)
        if not policy.has_role_permission(self.user, registry.ADD, self.related_rt.model):
            return None
        return f"{self.back}={self.obj.pk}"


# --- counting at scale ------------------------------------------------------------------------------------------

# lists count exactly up to this many rows; beyond it they say "more than 10,000" (an exact COUNT(*) of a million
# rows costs more than the page itself) and page through the first COUNT_LIMIT rows only
COUNT_LIMIT = 10_000


def bounded_count(queryset: QuerySet[Any], limit: int | None = None) -> tuple[int, bool]:
    """(rows, exact): the number of rows up to `limit`, and whether that is all of them. One statement,
    `SELECT COUNT(*) FROM (SELECT id ... LIMIT limit + 1)`: it reads at most `limit + 1` rows however large the
    table, and computes none of the list's annotations (a ticket's due time) for them — only those its filters use."""
    limit = COUNT_LIMIT if limit is None else limit
    counted = queryset.order_by().values("pk")[: limit + 1].count()
    return (limit, False) if counted > limit else (counted, True)


def planned_rows(queryset: QuerySet[Any]) -> float | None:
    """PostgreSQL's estimate of the rows a queryset matches (its planner's, from the statistics: no rows are read),
    or None elsewhere."""
    import json

    if connections[queryset.db].vendor != "postgresql" or queryset.query.is_empty():
        return None
    plan = json.loads(queryset.values("pk").order_by().explain(format="json"))
    return float(plan[0]["Plan"]["Plan Rows"])


def rows_sorted_per_page(queryset: QuerySet[Any], per_page: int = 50) -> float | None:
    """On PostgreSQL, how many rows the database sorts to show one page of the queryset, by its planner's estimate
    (None when it reads them in order from an index, or elsewhere): a sort with no index to serve it reads every
    matching row for every page."""
    import json

    if connections[queryset.db].vendor != "postgresql" or queryset.query.is_empty():
        return None
    plan = json.loads(queryset[:per_page].explain(format="json"))[0]["Plan"]
    stack = [plan]
    while stack:
        node = stack.pop()
        if node.get("Node Type") == "Sort":  # its own estimate is per worker in a parallel plan: ask for all of them
            return planned_rows(queryset)
        stack.extend(node.get("Plans", []))
    return None


class _Unindexed(Func):
    """`(text || '')`: the same text, collation and order, which no index serves (see `sorted_from_matches`)."""

    template = "(%(expressions)s || '')"
    output_field = models.TextField()


def sorted_from_matches(queryset: QuerySet[Any]) -> QuerySet[Any]:
    """A filtered list on PostgreSQL whose matches are few (fewer than MERIDIAN_SORT_FROM_MATCHES_BELOW, 100,000, by
    the planner's estimate) is sorted from its matches, found by their own indexes (a search's trigram indexes, a
    filter's), rather than by walking the sort's index and filtering every row on the way: when the matches lie late
    in the sort order ("jansen" among a million people sorted by last name) that walk reads most of the table for one
    page. The first sort key is made one no index serves; the order stays the same. Anything else is left as it is:
    an unfiltered list, a list matching many rows (the walk meets matches soon), SQLite."""
    from django.conf import settings

    order = list(queryset.query.order_by)
    if not order or not queryset.query.where or not isinstance(order[0], OrderBy):
        return queryset
    first = order[0]
    if not isinstance(first.expression, Collate):  # only text sorts are rewritten (the natural indexes)
        return queryset
    estimate = planned_rows(queryset)
    if estimate is None or estimate >= getattr(settings, "MERIDIAN_SORT_FROM_MATCHES_BELOW", 100_000):
        return queryset
    unindexed = OrderBy(_Unindexed(first.expression), descending=first.descending, nulls_last=first.nulls_last)
    return queryset.order_by(unindexed, *order[1:])


class BoundedPaginator(Paginator):
    """A page-number paginator that counts at most `COUNT_LIMIT` rows (`bounded_count`): past that, `exact` is False,
    the pages reach the first `COUNT_LIMIT` rows, and the page says so ("narrow the filters or sort the other way").
    `?count=exact` on a list asks for the exact figure once (the view passes `exact=True`)."""

    def __init__(self, object_list: Any, per_page: int, *args: Any, exact: bool = False, **kwargs: Any) -> None:
        super().__init__(object_list, per_page, *args, **kwargs)
        self.force_exact = exact
        self.exact = True

    def page(self, number: Any) -> Any:
        rows: Any = self.object_list  # a queryset (the API), or a table's rows holding its data holding one
        if isinstance(rows, QuerySet):
            self.object_list = sorted_from_matches(rows)
        else:
            holder = getattr(rows, "data", None)
            if isinstance(getattr(holder, "data", None), QuerySet):
                holder.data = sorted_from_matches(holder.data)  # type: ignore[union-attr]
        return super().page(number)

    @cached_property
    def count(self) -> int:
        rows = self.object_list
        queryset = getattr(getattr(rows, "data", None), "data", rows)  # a table's rows: count its queryset
        if not isinstance(queryset, QuerySet):
            return len(rows)
        if self.force_exact:
            return queryset.count()
        counted, self.exact = bounded_count(queryset)
        return counted
