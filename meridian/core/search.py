"""Global search over every registered type, through the same policy as lists (tenancy included)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from operator import or_
from typing import Any

from django.db import models
from django.urls import reverse

from meridian.core import custom_fields, policy, registry
from meridian.core.registry import VIEW


@dataclass(frozen=True)
class Hit:
    type: str
    type_label: str
    id: int
    display: str
    url: str
    api_url: str


def search(user: Any, query: str, *, per_type: int = 10) -> list[Hit]:
    query = query.strip()
    if len(query) < 2:
        return []
    hits: list[Hit] = []
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
    return hits
