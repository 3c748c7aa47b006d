"""Filter sets: the generic one every registered type gets (its filter fields plus a free-text `q`)."""

from __future__ import annotations

import copy
from functools import cache, reduce
from operator import or_
from typing import Any

import django_filters
from django import forms
from django.db import models

from meridian.core import policy, registry
from meridian.core.registry import VIEW, RecordType


class RecordFilterSet(django_filters.FilterSet):
    """The filters of a list page and an API list. The class is set up once, when it is made (labels, widgets);
    an instance only narrows its own copies of the filters to the records its user may see. Nothing a request
    does changes the class or its filters (django-filter deep-copies them for each instance)."""

    q = django_filters.CharFilter(method="search", label="Search")
    search_fields: list[str] = []

    @classmethod
    def get_filters(cls) -> dict[str, django_filters.Filter]:
        """The class's filters, with "Any" as the empty choice: a copy of each filter changed here, as declared
        filters are shared with subclasses."""
        filters = super().get_filters()
        for name, flt in filters.items():
            if isinstance(flt, django_filters.BooleanFilter):
                filters[name] = copy.deepcopy(flt)
                filters[name].extra["widget"] = forms.Select(choices=[("", "Any"), ("true", "Yes"), ("false", "No")])
            elif isinstance(flt, django_filters.ChoiceFilter):
                filters[name] = copy.deepcopy(flt)
                filters[name].extra["empty_label"] = "Any"
        return filters

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        user = getattr(self.request, "user", None)
        for flt in self.filters.values():
            queryset = getattr(flt, "queryset", None)
            if isinstance(queryset, models.QuerySet) and registry.find(queryset.model):
                # choices offered and accepted: only records the user may see (an unknown id and another
                # organisation's id are the same "not a valid choice")
                flt.queryset = policy.restrict(queryset, user, VIEW)

    def search(self, queryset: models.QuerySet[Any], name: str, value: str) -> models.QuerySet[Any]:
        words = value.split()
        if not words or not self.search_fields:
            return queryset
        # every word somewhere: "ada admin" finds first name Ada, last name Admin (as a record picker is typed)
        for word in words[:8]:
            queryset = queryset.filter(reduce(or_, (models.Q(**{f"{f}__icontains": word}) for f in self.search_fields)))
        return queryset


@cache
def filterset_for(record_type: RecordType) -> type[RecordFilterSet]:
    if record_type.filterset is not None:
        return record_type.filterset
    meta = type("Meta", (), {"model": record_type.model, "fields": record_type.filter_fields})
    return type(
        f"{record_type.model.__name__}FilterSet",
        (RecordFilterSet,),
        {"Meta": meta, "search_fields": record_type.search_fields},
    )
