"""Tables: the generic list table every registered type gets."""

from __future__ import annotations

from functools import cache
from typing import Any

import django_tables2 as tables
from django.core.exceptions import FieldDoesNotExist
from django.utils.html import format_html
from django.utils.text import capfirst

from meridian.core import policy
from meridian.core.choices import STATUS_COLOURS
from meridian.core.registry import RecordType


class StatusColumn(tables.Column):
    """A lifecycle status as a coloured badge."""

    def render(self, value: Any, record: Any) -> str:
        colour = STATUS_COLOURS.get(getattr(record, self.accessor or "status", value), "secondary")
        return format_html('<span class="badge text-bg-{}">{}</span>', colour, value)

    def value(self, value: Any, record: Any = None) -> Any:
        """In exports: the plain label, no markup."""
        return value


class LinkedColumn(tables.Column):
    """A foreign key or many-to-many column: linked records named as the reader may see them (`policy.shown`),
    "hidden" otherwise; the same text in CSV/XLSX exports."""

    def render(self, value: Any, table: Any) -> str:
        records = value.all() if hasattr(value, "all") else [value]
        return ", ".join(policy.shown(table.user, record) for record in records)


class RecordTable(tables.Table):
    """Base of every list table: the first column links to the record. `user` is the reader: linked records
    they may not see are shown as hidden."""

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    class Meta:
        template_name = "django_tables2/bootstrap5.html"
        attrs = {"class": "table table-sm table-hover align-middle"}
        empty_text = "Nothing here yet."
        per_page = 50


def _is_link(record_type: RecordType, name: str) -> bool:
    try:
        return bool(record_type.model._meta.get_field(name).is_relation)
    except FieldDoesNotExist:
        return False


@cache
def table_for(record_type: RecordType) -> type[RecordTable]:
    if record_type.table is not None:
        return record_type.table
    columns = record_type.list_columns
    attrs: dict[str, Any] = {}
    for name in columns:
        if record_type.lifecycle and name == record_type.lifecycle.field:
            attrs[name] = StatusColumn()
        elif _is_link(record_type, name):
            attrs[name] = LinkedColumn()
    first = columns[0]
    label = getattr(record_type.model._meta.get_field(first), "verbose_name", first)
    attrs[first] = tables.Column(linkify=True, verbose_name=capfirst(str(label)))
    meta = type("Meta", (RecordTable.Meta,), {"model": record_type.model, "fields": columns, "sequence": columns})
    attrs["Meta"] = meta
    return type(f"{record_type.model.__name__}Table", (RecordTable,), attrs)
