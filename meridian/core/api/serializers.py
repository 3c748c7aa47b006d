"""Serializers: the generic one every registered type gets. Writable fields are exactly the type's declared
`fields`; status, reference, version and timestamps are read-only; related records must be visible to the
requester."""

from __future__ import annotations

from functools import cache
from typing import Any

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from meridian.core import policy, registry
from meridian.core.models import AuditEvent
from meridian.core.registry import VIEW, RecordType

STATUS_READ_ONLY = "The status changes only through its actions."


class VisibleRelatedField(serializers.PrimaryKeyRelatedField):  # type: ignore[type-arg]
    """A foreign key (or one item of a many-to-many) by id; "hidden" instead of the id when the requester may not
    see the linked record (`policy.shown`), so that neither its name nor its link is disclosed."""

    def use_pk_only_optimization(self) -> bool:
        return False  # the linked record itself is needed to know whether the requester may see it

    def to_representation(self, value: Any) -> Any:
        user = getattr(self.context.get("request"), "user", None)
        if not policy.can(user, VIEW, value):
            return policy.HIDDEN
        return super().to_representation(value)


class VisibleRelatedFieldSchema(OpenApiSerializerFieldExtension):
    """OpenAPI: in responses a link is its id or "hidden"; in requests always an id."""

    target_class = VisibleRelatedField

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> Any:
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        if direction != "response":
            return schema
        return {"oneOf": [schema, {"type": "string", "enum": [policy.HIDDEN]}]}


class RecordSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    serializer_related_field = VisibleRelatedField
    display = serializers.SerializerMethodField(help_text="How the record is named on pages.")
    web_url = serializers.SerializerMethodField(help_text="The record's page in the web interface.")
    version = serializers.IntegerField(
        required=False,
        help_text="On update: the version you read. If the record has changed since, the update is refused (409).",
    )
    record_type: RecordType

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        request = self.context.get("request")
        user = getattr(request, "user", None)
        for field in fields.values():
            target = getattr(field, "child_relation", field)
            queryset = getattr(target, "queryset", None)
            if queryset is not None and registry.find(queryset.model) is not None:
                setattr(target, "queryset", policy.restrict(queryset, user, VIEW))  # noqa: B010
        return fields

    def get_display(self, obj: Any) -> str:
        return policy.shown(getattr(self.context.get("request"), "user", None), obj)

    def get_web_url(self, obj: Any) -> str:
        return str(obj.get_absolute_url())

    def to_internal_value(self, data: Any) -> Any:
        """Refuse, field by field, what a client may not write: unknown fields, and read-only ones sent with a
        value other than the record's own (a representation sent back unchanged is fine)."""
        if isinstance(data, dict) and self.instance is not None and "version" in data:
            from meridian.core.services import StaleVersion

            if str(data["version"]) != str(self.instance.version):
                raise StaleVersion(self.instance)  # 409 with the current state, before any field complaint
        if isinstance(data, dict):
            writable = {name for name, f in self.fields.items() if not f.read_only}
            current: dict[str, Any] | None = None
            errors = {}
            for name, value in data.items():
                if name in writable:
                    continue
                if name not in self.fields:
                    errors[name] = ["Unknown field."]
                    continue
                if self.instance is not None and current is None:
                    current = self.to_representation(self.instance)
                if current is None or current.get(name) != value:
                    lifecycle = self.record_type.lifecycle
                    is_status = lifecycle is not None and lifecycle.field == name
                    errors[name] = [STATUS_READ_ONLY if is_status else "This field is read-only."]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)

    def to_representation(self, instance: Any) -> Any:
        data = super().to_representation(instance)
        data["version"] = instance.version
        return data


class AvailableActionsMixin(serializers.Serializer):  # type: ignore[type-arg]
    available_actions = serializers.SerializerMethodField(help_text="Lifecycle actions you may take now.")

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_available_actions(self, obj: Any) -> list[str]:
        from meridian.core.services import available_transitions

        request = self.context.get("request")
        return [t.action for t in available_transitions(obj, getattr(request, "user", None))]


@cache
def serializer_for(record_type: RecordType) -> type[RecordSerializer]:
    if record_type.serializer is not None:
        return record_type.serializer
    model = record_type.model
    names = [f.name for f in model._meta.get_fields()]
    extra = ["reference"] if "reference" in names else []
    status = [record_type.lifecycle.field] if record_type.lifecycle else []
    fields = ["id", *extra, "display", *record_type.fields, *status, "version", "created_at", "updated_at", "web_url"]
    bases: tuple[type, ...] = (RecordSerializer,)
    if record_type.lifecycle:
        bases = (AvailableActionsMixin, RecordSerializer)
        fields.append("available_actions")
    meta = type(
        "Meta",
        (),
        {"model": model, "fields": fields, "read_only_fields": [*extra, *status, "created_at", "updated_at"]},
    )
    return type(f"{model.__name__}Serializer", bases, {"Meta": meta, "record_type": record_type})


class AuditEventSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = AuditEvent
        fields = [
            "seq",
            "occurred_at",
            "actor_label",
            "action",
            "record_type",
            "record_id",
            "record_label",
            "changes",
            "reason",
            "authorised_by",
            "hash",
        ]
        read_only_fields = fields


class TransitionSerializer(serializers.Serializer):  # type: ignore[type-arg]
    reason = serializers.CharField(required=False, allow_blank=True, default="")
    version = serializers.IntegerField(required=False, help_text="The version you read (recommended).")


class SearchResultSerializer(serializers.Serializer):  # type: ignore[type-arg]
    type = serializers.CharField()
    type_label = serializers.CharField()
    id = serializers.IntegerField()
    display = serializers.CharField()
    web_url = serializers.CharField(source="url")
    api_url = serializers.CharField()
