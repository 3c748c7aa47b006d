"""Change control of the CMDB (ISO/IEC 20000-1 8.2.6): which change last set each attribute of a configuration
item, and of each of its relationships — the "Change control" tab of a CI and its API.

The rule itself (a controlled CI's attributes, status, version and relationships change only under an approved
change that lists it) is `core.control`, declared for the CMDB's types in `cmdb.records`; the audit trail is the
record of what was set under which change, so this reads it rather than keeping a second copy."""

from __future__ import annotations

from typing import Any

from meridian.cmdb.models import ConfigurationItem, Relationship
from meridian.core import audit, control, custom_fields, policy, registry
from meridian.core.history import ValueReader
from meridian.core.models import AuditEvent
from meridian.core.registry import VIEW


def _event(event: Any, judge: Any) -> dict[str, Any] | None:
    if event is None:
        return None
    reference = event.authorised_by or ""
    return {
        "at": event.occurred_at,
        "by": event.actor_label,
        "action": event.action,
        "change": reference,
        "change_url": (judge.url(reference) if judge and reference else None),
    }


def provenance(ci: ConfigurationItem, user: Any) -> dict[str, Any]:
    """For each attribute of the CI (its fields, status and the custom attributes the reader may see): its value
    now, whether a change must authorise changing it, and the audit event that last set it with the change it
    cited; the same for each relationship from or to the CI that the reader may see."""
    rt = registry.get(ConfigurationItem)
    rule = rt.control
    assert rule is not None
    judge = control.authority()
    names = [*rt.fields, "status"]
    custom = custom_fields.history_rows(rt, user) if rt.custom_fields else {}
    keys = [*names, *(name for name in custom if name.removeprefix(custom_fields.PREFIX) in (ci.custom or {}))]
    last = control.last_set(ci, keys)
    now = audit.snapshot(ci)
    reader = ValueReader(ConfigurationItem, user)
    for name in keys:
        reader.want(name, now.get(name))
    attributes = [
        {
            "name": name,
            "label": reader.label(name),
            "value": str(reader.show(name, now.get(name))),
            "controlled": name.split(".")[0] not in rule.exempt,
            "last_set": _event(last.get(name), judge),
        }
        for name in keys
    ]
    rels = list(
        (Relationship.objects.filter(source=ci) | Relationship.objects.filter(target=ci))
        .select_related("source", "target", "kind")
        .order_by("kind__name", "id")[:200]
    )
    # the newest event of each relationship, in one query
    newest: dict[str, Any] = {}
    events = AuditEvent.objects.filter(
        record_type=Relationship._meta.label_lower, record_id__in=[str(r.pk) for r in rels]
    )
    for event in events.order_by("-id").iterator():
        newest.setdefault(event.record_id, event)
    relationships = []
    for rel in rels:
        other = rel.target if rel.source_id == ci.pk else rel.source
        if not policy.can(user, VIEW, other):
            continue
        label = rel.kind.forward_label if rel.source_id == ci.pk else rel.kind.reverse_label
        relationships.append(
            {
                "id": rel.pk,
                "text": f"{label} {policy.name_of(user, other)}",
                "url": rel.get_absolute_url(),
                "last_set": _event(newest.get(str(rel.pk)), judge),
            }
        )
    return {"controlled": ci.controlled, "attributes": attributes, "relationships": relationships}


def tab_context(ci: ConfigurationItem, user: Any) -> dict[str, Any]:
    return {"control": provenance(ci, user)}


def tab_api(ci: ConfigurationItem, user: Any, request: Any) -> dict[str, Any]:
    return provenance(ci, user)


def tab_schema() -> Any:
    from drf_spectacular.utils import inline_serializer
    from rest_framework import serializers

    last = inline_serializer(
        "ControlLastSet",
        {
            "at": serializers.DateTimeField(),
            "by": serializers.CharField(),
            "action": serializers.CharField(help_text="create, update or transition"),
            "change": serializers.CharField(help_text="The authorising change cited, '' when none."),
            "change_url": serializers.CharField(allow_null=True),
        },
        allow_null=True,
    )
    return inline_serializer(
        "ChangeControl",
        {
            "controlled": serializers.BooleanField(help_text="Whether the CI is under change control now."),
            "attributes": inline_serializer(
                "ControlAttribute",
                {
                    "name": serializers.CharField(),
                    "label": serializers.CharField(),
                    "value": serializers.CharField(),
                    "controlled": serializers.BooleanField(help_text="Whether changing it needs a change."),
                    "last_set": last,
                },
                many=True,
            ),
            "relationships": inline_serializer(
                "ControlRelationship",
                {
                    "id": serializers.IntegerField(),
                    "text": serializers.CharField(),
                    "url": serializers.CharField(),
                    "last_set": last,
                },
                many=True,
            ),
        },
    )
