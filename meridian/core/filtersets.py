"""Filter sets: the generic one every registered type gets (its filter fields, a free-text `q`, and a range
`<name>_min` / `<name>_max` per computed annotation), and the API's natural ordering."""

from __future__ import annotations

import copy
from functools import cache, reduce
from operator import or_
from typing import Any

import django_filters
from django import forms
from django.db import models
from rest_framework.filters import OrderingFilter

from meridian.core import custom_fields, policy, registry
from meridian.core.querysets import order_expressions
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
        record_type = registry.find(self._meta.model)
        self.custom_definitions = custom_fields.definitions(record_type, user) if record_type else []
        for definition in self.custom_definitions:  # this instance's own filters: `custom.<name>` (+ `_min`, `_max`)
            made = custom_filters(definition, user)
            if not self.shows(definition):
                for flt in made.values():
                    flt.extra["widget"] = forms.HiddenInput()
            self.filters.update(made)

    @property
    def form(self) -> Any:
        """The filter form; a filter that decides custom fields' scope (a CI's class) reloads the whole form when
        changed, so that the filters of the fields in scope appear (without JavaScript: on Filter)."""
        form = super().form
        scoping = {d.scope_field for d in self.custom_definitions if d.scope_field in form.fields}
        path = getattr(self.request, "path", "")
        for name in scoping:
            form.fields[name].widget.attrs.update(
                {
                    "hx-get": path,
                    "hx-include": "closest form",
                    "hx-target": "main",
                    "hx-select": "main",
                    "hx-swap": "outerHTML",
                    "hx-push-url": "true",
                    "data-reloads-filters": "",
                }
            )
        return form

    def shows(self, definition: Any) -> bool:
        """Whether the filter form shows a custom field's filters: always, unless the field is scoped by a field that
        is itself one of the list's filters; then once the list is filtered to a value in its scope (choose the CI
        class Server: its CPUs and Hardware's serial number appear). Hidden ones still filter (saved views, API)."""
        field = definition.scope_field
        if not field or field not in self.base_filters:
            return True
        value = (self.data or {}).get(field)
        return bool(value) and str(value) in custom_fields.values_in_scope(definition)

    def search(self, queryset: models.QuerySet[Any], name: str, value: str) -> models.QuerySet[Any]:
        words = value.split()
        if not words or not self.search_fields:
            return queryset
        # every word somewhere: "ada admin" finds first name Ada, last name Admin (as a record picker is typed);
        # a custom field marked searchable counts as a search field
        record_type = registry.find(queryset.model)
        for word in words[:8]:
            conditions = [models.Q(**{f"{f}__icontains": word}) for f in self.search_fields]
            custom = custom_fields.search_condition(record_type, self.request.user, word) if record_type else None
            if custom is not None:
                conditions.append(custom)
            queryset = queryset.filter(reduce(or_, conditions))
        return queryset


def custom_filters(definition: Any, user: Any) -> dict[str, django_filters.Filter]:
    """The filters of one custom field: `custom.<name>` (exact; for a multiple choice, "includes"), and for numbers
    and dates `custom.<name>_min` and `custom.<name>_max` (either may be left empty)."""
    name = custom_fields.key(definition.name)
    field_class, extra = custom_fields.filter_form_field(definition, user)

    def exact(queryset: models.QuerySet[Any], _: str, value: Any) -> models.QuerySet[Any]:
        return custom_fields.filter_exact(queryset, definition, value)

    exact_filter = django_filters.Filter(method=exact, label=definition.label, **extra)
    exact_filter.field_class = field_class
    filters = {name: exact_filter}
    if definition.type in custom_fields.RANGE_TYPES:
        for suffix, lookup, word in (("min", "gte", "from"), ("max", "lte", "to")):

            def bounded(queryset: models.QuerySet[Any], _: str, value: Any, lookup: str = lookup) -> Any:
                return custom_fields.filter_range(queryset, definition, value, lookup)

            range_class, _ = custom_fields.filter_form_field(definition, user)
            flt = django_filters.Filter(method=bounded, label=f"{definition.label} {word}")
            flt.field_class = range_class
            filters[f"{name}_{suffix}"] = flt
    return filters


@cache
def filterset_for(record_type: RecordType) -> type[RecordFilterSet]:
    if record_type.filterset is not None:
        return record_type.filterset
    meta = type("Meta", (), {"model": record_type.model, "fields": record_type.filter_fields})
    attrs: dict[str, Any] = {"Meta": meta, "search_fields": record_type.search_fields}
    for name, computed in record_type.computed_annotations().items():
        # one filter, two inputs: `<name>_min` and `<name>_max` (either may be left empty; both equal: exactly)
        attrs[name] = django_filters.RangeFilter(
            field_name=name, label=computed.label, widget=RangeInputs(computed.label)
        )
    return type(f"{record_type.model.__name__}FilterSet", (RecordFilterSet,), attrs)


class RangeInputs(django_filters.widgets.RangeWidget):
    """A range as two small number inputs, "from" and "to"."""

    template_name = "core/_range_widget.html"

    def __init__(self, label: str) -> None:
        super().__init__(attrs={"step": "any", "class": "filter-number"})
        self.widgets[0].attrs.update({"placeholder": "from", "aria-label": f"{label} from"})
        self.widgets[1].attrs.update({"placeholder": "to", "aria-label": f"{label} to"})
        for widget in self.widgets:
            widget.input_type = "number"


class NaturalOrderingFilter(OrderingFilter):
    """The API's `?ordering=`: text fields sorted as on the pages (naturally, ignoring case), then by id."""

    def filter_queryset(self, request: Any, queryset: models.QuerySet[Any], view: Any) -> models.QuerySet[Any]:
        ordering = self.get_ordering(request, queryset, view)
        if not ordering:
            return queryset
        descending = str(ordering[0]).startswith("-")
        return queryset.order_by(*order_expressions(queryset.model, ordering), "-pk" if descending else "pk")
