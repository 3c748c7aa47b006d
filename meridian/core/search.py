"""Global search over every registered type, through the same policy as lists (tenancy included)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce
from operator import or_
from typing import Any

from django.db import models
from django.urls import reverse

from meridian.core import custom_fields, policy, registry
from meridian.core.models import Comment
from meridian.core.registry import VIEW


@dataclass(frozen=True)
class Hit:
    type: str
    type_label: str
    id: int
    display: str
    url: str
    api_url: str


Source = Callable[[Any, str, int], list[Hit]]  # (user, query, per_type) -> hits
_sources: list[Source] = []


def register_source(source: Source) -> None:
    """Hits beside the record types' own, from an app's reading of its records that is not a record type's (the
    service catalogue a customer reads). Called once from an app's `records.py`; the source applies its own policy."""
    _sources.append(source)


def search(user: Any, query: str, *, per_type: int = 10) -> list[Hit]:
    query = query.strip()
    if len(query) < 2:
        return []
    hits: list[Hit] = [hit for source in _sources for hit in source(user, query, per_type)]
    for record_type in registry.all_types():
        fields = list(record_type.search_fields)
        if any(f.name == "reference" for f in record_type.model._meta.get_fields()):
            fields.insert(0, "reference")
        custom = custom_fields.search_condition(record_type, user, query)  # the searchable ones the user may see
        if not fields and custom is None:
            continue
        conditions = [models.Q(**{f"{name}__icontains": query}) for name in fields]
        condition = reduce(or_, [*conditions, *([custom] if custom is not None else [])])
        queryset = policy.restrict(record_type.model.objects.all(), user, VIEW).filter(condition)
        for obj in queryset.select_related(*record_type.select_related)[:per_type]:
            reference = getattr(obj, "reference", "")
            name = policy.name_of(user, obj)  # a linked record it names (a parent) as the user may see it
            hits.append(
                Hit(
                    type=record_type.label,
                    type_label=record_type.verbose_name,
                    id=obj.pk,
                    display=f"{reference} {name}" if reference else name,
                    url=obj.get_absolute_url(),
                    api_url=reverse(f"api:{record_type.app_label}-{record_type.url_slug}-detail", args=[obj.pk]),
                )
            )
        hits.extend(comment_hits(record_type, user, query, per_type=per_type))
    return hits


def comment_hits(record_type: registry.RecordType, user: Any, query: str, *, per_type: int = 10) -> list[Hit]:
    """The records of a type with conversation whose comments hold the text, each hit linking to its record's
    timeline: only comments the reader may read (internal notes: staff), on records they may see (tenancy)."""
    from meridian.core import conversation

    if record_type.conversation is None or not policy.can(user, VIEW, record_type.model):
        return []
    comments = conversation.readable(
        Comment.objects.filter(record_type=record_type.label, deleted_at__isnull=True, body__icontains=query), user
    )
    visible = policy.restrict(record_type.model.objects.all(), user, VIEW).values("pk")
    found = comments.filter(record_id__in=visible).order_by("-created_at", "-id")[: per_type * 5]
    ids = list(dict.fromkeys(c.record_id for c in found))[:per_type]
    records = record_type.model.objects.select_related(*record_type.select_related).in_bulk(ids)
    return [
        Hit(
            type=record_type.label,
            type_label=f"comment on {record_type.verbose_name}",
            id=pk,
            display=f"{getattr(records[pk], 'reference', '')} {policy.name_of(user, records[pk])}".strip(),
            url=f"{records[pk].get_absolute_url()}?tab=timeline&kind=comments",
            api_url=reverse(f"api:{record_type.app_label}-{record_type.url_slug}-comments", args=[pk]),
        )
        for pk in ids
        if pk in records
    ]
