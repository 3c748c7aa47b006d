"""What was changed under a change (ISO/IEC 20000-1 8.5.1.3: traceability from the request for change to the
configuration it changed): the audit events that cite it as their authorising change, read from the audit trail
(`core.control`: every controlled write keeps the change it cites). The change's "Configuration changes" tab."""

from __future__ import annotations

from typing import Any

from django.urls import NoReverseMatch, reverse

from meridian.changes.models import Change
from meridian.core import policy, registry
from meridian.core.history import ValueReader
from meridian.core.models import AuditEvent
from meridian.core.registry import VIEW

LIMIT = 500


def writes_under(change: Change, user: Any) -> dict[str, Any]:
    """The writes made under the change, newest first (at most `LIMIT`): when, who, what (the record, as the reader
    may see it) and which of its fields; and how many there are in all."""
    events = AuditEvent.objects.filter(authorised_by=change.reference).exclude(authorised_by="").order_by("-id")
    total = events.count()
    readers: dict[str, ValueReader] = {}
    shown = list(events[:LIMIT])
    types = {rt.label: rt for rt in registry.all_types()}
    records: dict[str, dict[Any, Any]] = {}  # the records written, one query per type
    for label in {event.record_type for event in shown}:
        ids = [event.record_id for event in shown if event.record_type == label]
        records[label] = types[label].model._default_manager.in_bulk(ids) if label in types else {}
    rows = []
    for event in shown:
        record_type = types.get(event.record_type)
        found = records.get(event.record_type, {})
        record = found.get(int(event.record_id)) if str(event.record_id).isdigit() else None
        visible = record is not None and policy.can(user, VIEW, record)
        url = None
        if visible and record_type is not None:
            try:
                url = reverse(record_type.url_name("detail"), args=[record.pk])  # type: ignore[union-attr]
            except NoReverseMatch:
                url = None
        fields = sorted(name for name in (event.changes or {}) if name != "action")
        reader = readers.setdefault(event.record_type, ValueReader(record_type.model, user)) if record_type else None
        labels = [reader.label(name) for name in fields if not reader.hidden(name)] if reader else fields
        rows.append(
            {
                "at": event.occurred_at,
                "by": event.actor_label,
                "action": event.action,
                "record": event.record_label if visible or record is None else policy.HIDDEN,
                "type": str(record_type.verbose_name) if record_type else event.record_type,
                "url": url,
                "fields": fields,
                "field_labels": labels,
            }
        )
    return {"total": total, "writes": rows, "limit": LIMIT}


def tab_context(change: Change, user: Any) -> dict[str, Any]:
    return {"evidence": writes_under(change, user)}


def tab_api(change: Change, user: Any, request: Any) -> dict[str, Any]:
    return writes_under(change, user)


def badge(change: Change, user: Any) -> int:
    return AuditEvent.objects.filter(authorised_by=change.reference).exclude(authorised_by="").count()


def tab_schema() -> Any:
    from drf_spectacular.utils import inline_serializer
    from rest_framework import serializers

    write = inline_serializer(
        "ChangeWrite",
        {
            "at": serializers.DateTimeField(),
            "by": serializers.CharField(),
            "action": serializers.CharField(help_text="create, update, delete or transition"),
            "record": serializers.CharField(help_text="The record written, as you may see it (“hidden” if not)."),
            "type": serializers.CharField(),
            "url": serializers.CharField(allow_null=True),
            "fields": serializers.ListField(child=serializers.CharField(), help_text="As the API names them."),
            "field_labels": serializers.ListField(child=serializers.CharField(), help_text="As the pages name them."),
        },
        many=True,
    )
    return inline_serializer(
        "ChangeWrites",
        {"total": serializers.IntegerField(), "writes": write, "limit": serializers.IntegerField()},
    )
