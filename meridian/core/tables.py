"""Tables: the generic list table every registered type gets, and the person's choice of its columns.

A type's table has a column for every field it declares, its status and its computed values (`available_columns`);
a list page shows the reader's chosen ones (`ListPreference`), by default the type's `list_columns`, and its exports
carry the same ones. Text sorts naturally and case-insensitively (`core.querysets`), linked records are links (those the
reader may see; "hidden" otherwise), long values are shortened with the full value on hover, and on a small
screen only the first two columns and the status stay (the others are low priority)."""

from __future__ import annotations

from functools import cache
from typing import Any

import django_tables2 as tables
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models, transaction
from django.db.models import QuerySet
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst

from meridian.core import policy
from meridian.core.choices import STATUS_COLOURS
from meridian.core.querysets import computed_value, order_expressions
from meridian.core.registry import VIEW, Computed, RecordType

TABLE_TEMPLATE = "core/_table.html"
LOW_PRIORITY = "col-low"  # hidden on small screens


class NaturalOrderMixin:
    """Sorting by the column's field path, text naturally and case-insensitively, then by id (a stable page)."""

    sort_path: str = ""

    def order(self, queryset: QuerySet[Any], is_descending: bool) -> tuple[QuerySet[Any], bool]:
        path = self.sort_path or str(getattr(self, "accessor", ""))
        if not path:
            return queryset, False
        ordering = order_expressions(queryset.model, [("-" if is_descending else "") + path])
        return queryset.order_by(*ordering, "-pk" if is_descending else "pk"), True


class TextColumn(NaturalOrderMixin, tables.Column):
    """Text: shortened by the page's style when long, with the full value on hover."""

    def render(self, value: Any) -> str:
        return format_html('<span class="cell-text" title="{}">{}</span>', value, value)

    def value(self, value: Any, record: Any = None) -> Any:
        return value


class DateColumn(tables.DateColumn):
    """A date: the short date on the page; ISO 8601 in exports, and an empty cell (not “—”) when there is none, so
    an export imports back as it was."""

    def value(self, value: Any, **kwargs: Any) -> Any:
        return "" if value is None else super().value(value=value, **kwargs)


class DateTimeColumn(tables.DateTimeColumn):
    """A date and time, exported as DateColumn is."""

    def value(self, value: Any, **kwargs: Any) -> Any:
        return "" if value is None else super().value(value=value, **kwargs)


class StatusColumn(NaturalOrderMixin, tables.Column):
    """A lifecycle status as a coloured badge."""

    def render(self, value: Any, record: Any) -> str:
        colour = STATUS_COLOURS.get(getattr(record, self.accessor or "status", value), "secondary")
        return format_html('<span class="badge text-bg-{}">{}</span>', colour, value)

    def value(self, value: Any, record: Any = None) -> Any:
        """In exports: the plain label, no markup."""
        return value


def _records(value: Any) -> list[Any]:
    return list(value.all()) if hasattr(value, "all") else [value]


class LinkedColumn(NaturalOrderMixin, tables.Column):
    """A foreign key or many-to-many column: linked records as links to their pages, named as the reader may see
    them (`policy.shown`); "hidden" as plain text otherwise; the same names, as text, in CSV/XLSX exports."""

    def render(self, value: Any, table: Any, bound_column: Any) -> str:
        parts = []
        for record in _records(value):
            if policy.can(table.user, VIEW, record) and hasattr(record, "get_absolute_url"):
                name = policy.name_of(table.user, record)
                parts.append(format_html('<a href="{}" title="{}">{}</a>', record.get_absolute_url(), name, name))
            elif policy.named_on(table.user, table.record_type, bound_column.name, record):
                parts.append(format_html("{}", policy.name_of(table.user, record)))  # `RecordType.linkable`
            else:
                parts.append(format_html('<span class="text-muted">{}</span>', policy.HIDDEN))
        return format_html_join(", ", "{}", ((part,) for part in parts))

    def value(self, value: Any, record: Any = None, table: Any = None, bound_column: Any = None, **kwargs: Any) -> Any:
        user = table.user if table is not None else None
        name = bound_column.name if bound_column is not None else ""
        record_type = getattr(table, "record_type", None)
        return ", ".join(
            policy.name_of(user, linked) if policy.named_on(user, record_type, name, linked) else policy.HIDDEN
            for linked in _records(value)
        )


class ComputedColumn(NaturalOrderMixin, tables.Column):
    """A computed value: an annotation (sortable) or a callable of the record."""

    def __init__(self, name: str, computed: Computed, **kwargs: Any) -> None:
        self.computed_name, self.computed = name, computed
        super().__init__(
            verbose_name=computed.label,
            accessor=tables.A(name) if computed.is_annotation else tables.A("pk"),
            orderable=computed.is_annotation,
            empty_values=(),
            attrs={"th": {"class": "text-end"}, "td": {"class": "text-end"}},
            **kwargs,
        )
        self.sort_path = name

    def render(self, record: Any) -> Any:
        value = computed_value(record, self.computed_name, self.computed)
        return "—" if value is None else value

    def value(self, record: Any, **kwargs: Any) -> Any:
        return computed_value(record, self.computed_name, self.computed)


class SelectColumn(tables.Column):
    """The row's checkbox for bulk actions (`core.bulk`): `<id>:<version>` (the version the person saw: a record
    changed since is refused, not overwritten), in the list's bulk form; the header ticks the whole page."""

    def __init__(self) -> None:
        header = format_html(
            '<input type="checkbox" class="form-check-input" data-bulk-page aria-label="{}">',
            "Select every row of this page",
        )
        attrs = {"th": {"class": "bulk-select"}, "td": {"class": "bulk-select"}}
        super().__init__(accessor="pk", orderable=False, verbose_name=header, exclude_from_export=True, attrs=attrs)

    def render(self, record: Any, table: Any) -> str:
        return format_html(
            '<input type="checkbox" class="form-check-input" name="selected" value="{}:{}" form="bulk-form" '
            'data-bulk-row aria-label="Select {}">',
            record.pk,
            record.version,
            policy.shown(table.user, record),
        )


class RecordTable(tables.Table):
    """Base of every list table: the first column links to the record. `user` is the reader (linked records they
    may not see are shown as hidden); `columns` the names shown (the others are hidden; an export leaves them out
    with `as_values(exclude_columns=...)`); all but the first two and the status are low priority (hidden on small
    screens)."""

    record_type: RecordType | None = None

    def __init__(
        self, *args: Any, user: Any, columns: list[str] | None = None, selectable: bool = False, **kwargs: Any
    ) -> None:
        if selectable:  # a checkbox per row, first, for the bulk actions
            kwargs["extra_columns"] = [*kwargs.get("extra_columns", []), ("select", SelectColumn())]
            kwargs["sequence"] = ("select", *(type(self)._meta.sequence or ("...",)))  # the others in their order
        super().__init__(*args, **kwargs)
        self.user = user
        if columns is None:
            return
        status = self.record_type.lifecycle.field if self.record_type and self.record_type.lifecycle else None
        for bound in self.columns.iterall():
            if bound.name not in columns and bound.name != "select":
                self.columns.hide(bound.name)
        for position, name in enumerate(columns):
            if position >= 2 and name != status and name in self.columns:
                column = self.columns[name].column  # the table's own copy of the column
                column.attrs = {
                    part: {
                        **column.attrs.get(part, {}),
                        "class": f"{column.attrs.get(part, {}).get('class', '')} {LOW_PRIORITY}".strip(),
                    }
                    for part in ("th", "td")
                }

    class Meta:
        template_name = TABLE_TEMPLATE
        attrs = {"class": "table table-sm table-hover align-middle mb-0"}
        empty_text = "Nothing here yet."
        per_page = 50


def _field(record_type: RecordType, name: str) -> Any:
    try:
        return record_type.model._meta.get_field(name)
    except FieldDoesNotExist:
        return None


def available_columns(record_type: RecordType) -> list[str]:
    """Every column a list of the type can show: its list columns, then its other fields, its status and its
    computed values, in that order."""
    names = [*record_type.list_columns, *record_type.fields]
    if record_type.lifecycle:
        names.append(record_type.lifecycle.field)
    names.extend(record_type.computed)
    return list(dict.fromkeys(names))


def column_label(record_type: RecordType, name: str) -> str:
    if name in record_type.computed:
        return record_type.computed[name].label
    field = _field(record_type, name)
    return capfirst(str(getattr(field, "verbose_name", name.replace("_", " "))))


@cache
def table_for(record_type: RecordType) -> type[RecordTable]:
    if record_type.table is not None:
        return record_type.table
    columns = available_columns(record_type)
    fields = [name for name in columns if name not in record_type.computed]
    attrs: dict[str, Any] = {"record_type": record_type}
    for name in columns:
        field = _field(record_type, name)
        label = column_label(record_type, name)
        if name in record_type.computed:
            attrs[name] = ComputedColumn(name, record_type.computed[name])
        elif record_type.lifecycle and name == record_type.lifecycle.field:
            attrs[name] = StatusColumn(verbose_name=label)
        elif field is not None and field.is_relation:
            attrs[name] = LinkedColumn(verbose_name=label, orderable=not field.many_to_many)
        elif isinstance(field, models.CharField | models.TextField) and not field.choices:
            attrs[name] = TextColumn(verbose_name=label)
        elif isinstance(field, models.DateTimeField):
            attrs[name] = DateTimeColumn(verbose_name=label)
        elif isinstance(field, models.DateField):
            attrs[name] = DateColumn(verbose_name=label)
    first = record_type.list_columns[0]
    attrs[first] = TextColumn(linkify=True, verbose_name=column_label(record_type, first))
    meta = type("Meta", (RecordTable.Meta,), {"model": record_type.model, "fields": fields, "sequence": columns})
    attrs["Meta"] = meta
    return type(f"{record_type.model.__name__}Table", (RecordTable,), attrs)


def table_queryset(record_type: RecordType, queryset: QuerySet[Any], columns: list[str], user: Any) -> QuerySet[Any]:
    """The queryset a table of these columns needs: linked records joined or prefetched (restricted to what the
    reader may see), so that the number of queries does not grow with the rows."""
    from meridian.core.querysets import restricted_prefetches

    joins: list[str] = []
    many: list[str] = []
    for name in columns:
        field = _field(record_type, name)
        if field is not None and field.is_relation:
            (many if field.many_to_many else joins).append(name)
    if joins:
        queryset = queryset.select_related(*joins)
    many = [name for name in many if name not in record_type.prefetch_related]
    if many:
        queryset = queryset.prefetch_related(*restricted_prefetches(record_type.model, many, user))
    return queryset


# --- the column chooser -----------------------------------------------------------------------------------------


def chosen_columns(record_type: RecordType, user: Any) -> list[str]:
    """The columns `user` chose for the type's list (those still available), or its declared list columns."""
    from meridian.core.models import ListPreference

    available = available_columns(record_type)
    if getattr(user, "pk", None) is not None:
        row = ListPreference.objects.filter(user_id=user.pk, record_type=record_type.label).first()
        if row is not None:
            chosen = [name for name in available if name in row.columns]
            if chosen:
                return _with_first(record_type, chosen)
    return list(record_type.list_columns)


def _with_first(record_type: RecordType, columns: list[str]) -> list[str]:
    """The first list column (the link to the record) always comes first."""
    first = record_type.list_columns[0]
    return [first, *[name for name in columns if name != first]]


def save_columns(record_type: RecordType, user: Any, columns: list[str] | None) -> list[str]:
    """Remember `user`'s choice of columns for the type's list; None forgets it (back to the declared ones).
    Unknown column names are refused (ValidationError on `columns`), and nothing is written then."""
    from meridian.core.models import ListPreference

    with transaction.atomic():
        if columns is None:
            ListPreference.objects.filter(user_id=user.pk, record_type=record_type.label).delete()
            return list(record_type.list_columns)
        available = available_columns(record_type)
        unknown = [name for name in columns if name not in available]
        if unknown:
            raise ValidationError({"columns": f"Not a column of this list: {', '.join(unknown)}."})
        if not columns:
            raise ValidationError({"columns": "Choose at least one column."})
        chosen = _with_first(record_type, [name for name in available if name in columns])
        ListPreference.objects.update_or_create(
            user_id=user.pk, record_type=record_type.label, defaults={"columns": chosen}
        )
    return chosen
