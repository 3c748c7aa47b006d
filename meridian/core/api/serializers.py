"""Serializers: the generic one every registered type gets. Writable fields are exactly the type's declared
`fields`; status, reference, version and timestamps are read-only; related records must be visible to the
requester. Input is taken only in its declared JSON type (the strict fields below): no silent coercion."""

from __future__ import annotations

from functools import cache
from typing import Any

from django.db import models
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.relations import MANY_RELATION_KWARGS

from meridian.core import policy, registry
from meridian.core.links import NOT_FOUND as INVALID_CHOICE
from meridian.core.models import AuditEvent
from meridian.core.registry import VIEW, Computed, RecordType

STATUS_READ_ONLY = "The status changes only through its actions."


# --- strict input types -----------------------------------------------------------------------------------------
# DRF converts what it can: "1", 1.0 and 1.5 become the integer 1 (or are refused only sometimes), 7 becomes the
# string "7", "yes" becomes true. An API client that sends the wrong type has a bug; say so on the field instead.


class StrictTypeMixin:
    """Refuse a JSON value that is not of the field's declared type, before the field's own parsing."""

    json_types: tuple[type, ...] = ()
    wrong_type: str = ""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, self.json_types) or (isinstance(data, bool) and bool not in self.json_types):
            raise serializers.ValidationError(self.wrong_type, code="invalid")
        return super().to_internal_value(data)  # type: ignore[misc]


INTEGER = "Must be a whole number: a JSON integer such as 3, not text, a fraction or true/false."
STRING = "Must be text: a JSON string."


class StrictIntegerField(StrictTypeMixin, serializers.IntegerField):
    json_types, wrong_type = (int,), INTEGER


class StrictCharField(StrictTypeMixin, serializers.CharField):
    json_types, wrong_type = (str,), STRING


def _strict(base: type, json_types: tuple[type, ...], wrong_type: str) -> type:
    """DRF's field class `base`, taking only `json_types`."""
    return type(f"Strict{base.__name__}", (StrictTypeMixin, base), {"json_types": json_types, "wrong_type": wrong_type})


# what the generic serializer uses instead of DRF's field classes (see RecordSerializer.serializer_field_mapping)
STRICT_FIELDS: dict[type, type] = {
    serializers.IntegerField: StrictIntegerField,
    serializers.CharField: StrictCharField,
    serializers.BigIntegerField: _strict(serializers.BigIntegerField, (int,), INTEGER),
    serializers.FloatField: _strict(serializers.FloatField, (int, float), "Must be a number: a JSON number."),
    serializers.BooleanField: _strict(
        serializers.BooleanField, (bool,), "Must be true or false (JSON booleans), not text or a number."
    ),
    **{
        base: _strict(base, (str,), STRING)
        for base in (
            serializers.EmailField,
            serializers.URLField,
            serializers.SlugField,
            serializers.UUIDField,
            serializers.IPAddressField,
        )
    },
}


VERSION_MISSING = (
    'Send the version you read: “version”: N in the JSON body, or an If-Match: "N" header (the record\'s ETag).'
)


def version_field(**kwargs: Any) -> StrictIntegerField:
    """The `version` a write is based on, as a request sends it: a JSON integer, at least 1."""
    return StrictIntegerField(min_value=1, error_messages={"null": VERSION_MISSING}, **kwargs)


class StrictChoiceField(serializers.ChoiceField):
    """A choice given exactly as listed: "1" is not the choice 1, nor true the choice 1."""

    def to_internal_value(self, data: Any) -> Any:
        value = super().to_internal_value(data)
        if value != data or isinstance(data, bool) != isinstance(value, bool):
            self.fail("invalid_choice", input=data)
        return value


class StrictManyRelatedField(serializers.ManyRelatedField):
    """A many-to-many link: a JSON list of ids, nothing else (DRF would iterate the keys of an object)."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, list):
            self.fail("not_a_list", input_type=type(data).__name__)
        return super().to_internal_value(data)


class StrictPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):  # type: ignore[type-arg]
    """A link to another record by its id, of the id's own type: 2, not "2", 2.0 or 2.5 (which the database
    would round to 2)."""

    def to_internal_value(self, data: Any) -> Any:
        queryset = self.get_queryset()
        pk = queryset.model._meta.pk if queryset is not None else None
        json_type = str if pk is not None and not isinstance(pk, models.IntegerField) else int
        if not isinstance(data, json_type) or isinstance(data, bool):
            self.fail("incorrect_type", data_type=type(data).__name__)
        return super().to_internal_value(data)

    @classmethod
    def many_init(cls, *args: Any, **kwargs: Any) -> StrictManyRelatedField:
        shared = {key: value for key, value in kwargs.items() if key in MANY_RELATION_KWARGS}
        return StrictManyRelatedField(child_relation=cls(*args, **kwargs), **shared)


class VisibleRelatedField(StrictPrimaryKeyRelatedField):
    """A foreign key (or one item of a many-to-many) by id, strict on input; "hidden" instead of the id when the
    requester may not see the linked record (`policy.shown`), so that neither its name nor its link is disclosed."""

    def use_pk_only_optimization(self) -> bool:
        return False  # the linked record itself is needed to know whether the requester may see it

    def to_representation(self, value: Any) -> Any:
        user = getattr(self.context.get("request"), "user", None)
        record_type = getattr(self.parent, "record_type", None)
        if not policy.named_on(user, record_type, self.field_name or "", value):
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
    display = serializers.SerializerMethodField(help_text="How the record is named on pages.")
    web_url = serializers.SerializerMethodField(help_text="The record's page in the web interface.")
    version = serializers.IntegerField(
        read_only=True,
        help_text="Goes up by one with every change. On a change, delete or action send the version you read "
        "(`version` in the body or an `If-Match` header); if the record has changed since, it is refused (409).",
    )
    record_type: RecordType

    serializer_field_mapping = {
        model_field: STRICT_FIELDS.get(field, field)
        for model_field, field in serializers.ModelSerializer.serializer_field_mapping.items()
    }
    serializer_related_field = VisibleRelatedField
    serializer_choice_field = StrictChoiceField

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        request = self.context.get("request")
        user = getattr(request, "user", None)
        linkable = self.record_type.linkable if getattr(self, "record_type", None) is not None else {}
        for name, field in fields.items():
            target = getattr(field, "child_relation", field)
            queryset = getattr(target, "queryset", None)
            if queryset is None or registry.find(queryset.model) is None:
                continue
            if name in linkable:
                # named here without being read as a record (a customer's service of their catalogue): the services
                # decide (`RecordType.linkable`), with the same words for one that is not there and one refused
                target.error_messages["does_not_exist"] = INVALID_CHOICE
                continue
            setattr(target, "queryset", policy.restrict(queryset, user, VIEW))  # noqa: B010
        return fields

    def get_display(self, obj: Any) -> str:
        return policy.shown(getattr(self.context.get("request"), "user", None), obj)

    def get_web_url(self, obj: Any) -> str:
        return str(obj.get_absolute_url())

    def to_internal_value(self, data: Any) -> Any:
        """Refuse, field by field, what a client may not write: unknown fields, and read-only ones sent with a
        value other than the record's own (a representation sent back unchanged is fine). A `version` is never
        written: on a create it is refused; on a change the view has already compared it (`requested_version`)."""
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


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": True,
        "description": "Custom field values by field name (see the Custom fields administration): strings for text, "
        'choices, web addresses, decimals ("12.50"), dates ("YYYY-MM-DD") and date-times (ISO 8601), integers, '
        "booleans, lists of strings for multiple choices, ids for people and organisations. On a write, name only the "
        "fields you change (the others keep their values); null clears one. Errors are keyed `custom.<name>`.",
    }
)
class CustomValuesField(serializers.Field):  # type: ignore[type-arg]
    """`custom`: the record's custom field values the requester may see (`core.custom_fields`); written as a JSON
    object by field name, validated by the services' one validator (errors keyed `custom.<name>`)."""

    def __init__(self, record_type: RecordType, **kwargs: Any) -> None:
        self.record_type = record_type
        super().__init__(required=False, **kwargs)

    def get_attribute(self, instance: Any) -> Any:
        return instance

    def to_representation(self, value: Any) -> Any:
        from meridian.core.custom_fields import api_values, definitions, load_references

        user = getattr(self.context.get("request"), "user", None)
        cache = self.context.setdefault("_custom_fields", {})  # type: ignore[attr-defined]  # once per response
        if self.record_type.label not in cache:
            found = definitions(self.record_type, user)
            page = self.root.instance  # a list's page: every row's people and organisations read at once
            rows = page if isinstance(page, list | tuple) else [value]
            cache[self.record_type.label] = (found, load_references(found, rows))
        found, references = cache[self.record_type.label]  # a record not among them is read on its own
        return api_values(self.record_type, value, user, found, references)

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            raise serializers.ValidationError("Must be a JSON object of custom field values by name.")
        return data


class ComputedField(serializers.Field):  # type: ignore[type-arg]
    """A computed value of the type (`RecordType.computed`): read-only, as the list and detail pages show it
    (an annotation counts only what the requester may see)."""

    def __init__(self, name: str, computed: Computed, **kwargs: Any) -> None:
        self.computed_name, self.computed = name, computed
        super().__init__(read_only=True, source="*", help_text=f"{computed.label} (computed, read-only).", **kwargs)

    def to_representation(self, value: Any) -> Any:
        from meridian.core.querysets import computed_value

        return computed_value(value, self.computed_name, self.computed)


def _computed_schema(computed: Computed) -> Any:
    """The OpenAPI type of a computed value: the annotation's output field where it has one."""
    try:
        output = computed.value.output_field if computed.is_annotation else None
    except Exception:  # noqa: BLE001 - an expression whose type is known only once resolved
        output = None
    if isinstance(output, models.IntegerField):
        return serializers.IntegerField(read_only=True)
    if isinstance(output, models.DecimalField | models.FloatField):
        return serializers.FloatField(read_only=True)
    if isinstance(output, models.BooleanField):
        return serializers.BooleanField(read_only=True)
    return serializers.CharField(read_only=True)


class AvailableActionsMixin(serializers.Serializer):  # type: ignore[type-arg]
    available_actions = serializers.SerializerMethodField(
        help_text="The actions (lifecycle transitions and other record actions) you may run on the record now: "
        "POST to the record's URL + the action's name with hyphens (`grant_login`: `.../grant-login/`)."
    )

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_available_actions(self, obj: Any) -> list[str]:
        from meridian.core.actions import available_actions

        request = self.context.get("request")
        return [a.name for a in available_actions(obj, getattr(request, "user", None))]


# --- child rows (core.children): a nested list, written with the parent ---------------------------------------


class ChildRowSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    """One row of a child list: its `id` (to change an existing row; leave it out for a new one) and its fields,
    strict on input like the record's own fields."""

    id = StrictIntegerField(
        required=False, help_text="The row's id: give it to change that row, leave it out to add one."
    )
    child: Any

    serializer_field_mapping = RecordSerializer.serializer_field_mapping
    serializer_related_field = VisibleRelatedField
    serializer_choice_field = StrictChoiceField

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        user = getattr(self.context.get("request"), "user", None)
        for field in fields.values():
            queryset = getattr(field, "queryset", None)
            if queryset is not None and registry.find(queryset.model) is not None:
                setattr(field, "queryset", policy.restrict(queryset, user, VIEW))  # noqa: B010
        return fields

    def get_validators(self) -> list[Any]:
        return []  # uniqueness among a record's rows is the service's (core.children), over the whole list

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = {name: ["Unknown field."] for name in data if name not in self.fields}
            if unknown:
                raise serializers.ValidationError(unknown)
        return super().to_internal_value(data)


class ChildRowsSerializer(serializers.ListSerializer):  # type: ignore[type-arg]
    """A record's rows of one child: the whole list on every write that names it (rows with `id` changed, rows
    without created, rows left out removed); a write without it leaves the rows alone. Errors are said per row
    and field: "Row 2, date: Date has wrong format. ..."."""

    def to_internal_value(self, data: Any) -> list[dict[str, Any]]:
        if not isinstance(data, list):
            raise serializers.ValidationError(["Must be a list of rows (JSON objects)."])
        from meridian.core.children import row_error

        rows, errors = [], []
        for number, item in enumerate(data, 1):
            if not isinstance(item, dict):
                errors.append(row_error(number, None, "a row is a JSON object of fields."))
                continue
            try:
                rows.append(dict(self.child.run_validation(item)))  # type: ignore[union-attr]
            except serializers.ValidationError as exc:
                detail = exc.detail if isinstance(exc.detail, dict) else {"": exc.detail}
                for name, messages in detail.items():
                    label = None if name in ("", "non_field_errors") else str(name)
                    for message in messages if isinstance(messages, list) else [messages]:
                        errors.append(row_error(number, label, str(message)))
        if errors:
            raise serializers.ValidationError(errors)
        return rows


@cache
def child_serializer_for(child: Any) -> type[ChildRowSerializer]:
    meta = type(
        "Meta",
        (),
        {"model": child.model, "fields": ["id", *child.fields], "list_serializer_class": ChildRowsSerializer},
    )
    return type(f"{child.model.__name__}RowSerializer", (ChildRowSerializer,), {"Meta": meta, "child": child})


class UploadsMixin(serializers.Serializer):  # type: ignore[type-arg]
    """A type with text fields that may come as a file (`core.uploads`): a `multipart/form-data` body's fields are
    read as a form's (ids and numbers as digits, booleans as true/false, a many-to-many's ids repeated), and each
    file given is read into its text field (`uploads.take`: refused on the upload's name)."""

    uploaded: dict[str, str]

    def to_internal_value(self, data: Any) -> Any:
        from django.http import QueryDict

        if isinstance(data, QueryDict):
            data = {name: _form_value(self.fields.get(name), data.getlist(name)) for name in data}
        return super().to_internal_value(data)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        from django.core.exceptions import ValidationError as DjangoValidationError

        from meridian.core import uploads

        declared = self.record_type.uploads  # type: ignore[attr-defined]
        files = {u.name: attrs.pop(u.name) for u in declared if u.name in attrs}
        try:
            self.uploaded = uploads.take(declared, attrs, files)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None
        return super().validate(attrs)  # type: ignore[no-any-return]


def _form_value(field: Any, values: list[Any]) -> Any:
    """A multipart form field's value as a JSON body would give it, for the field that takes it."""
    import re

    def typed(value: Any) -> Any:
        if not isinstance(value, str):
            return value  # a file
        target = getattr(field, "child_relation", field)
        if isinstance(target, serializers.RelatedField | serializers.IntegerField) and re.fullmatch(r"-?\d+", value):
            return int(value)
        if isinstance(target, serializers.BooleanField) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        return value

    if isinstance(field, serializers.ManyRelatedField | serializers.ListField):
        return [typed(v) for v in values]
    return typed(values[-1]) if values else None


@cache
def serializer_for(record_type: RecordType) -> type[RecordSerializer]:
    if record_type.serializer is not None:
        return record_type.serializer
    model = record_type.model
    names = [f.name for f in model._meta.get_fields()]
    extra = ["reference"] if "reference" in names else []
    status = [record_type.lifecycle.field] if record_type.lifecycle else []
    fields = ["id", *extra, "display", *record_type.fields, *status, "version", "created_at", "updated_at", "web_url"]
    computed = {
        # a subclass per field: the OpenAPI type is set on the class
        name: extend_schema_field(_computed_schema(c))(type("ComputedField", (ComputedField,), {}))(name, c)
        for name, c in record_type.computed.items()
    }
    fields.extend(computed)
    if record_type.custom_fields:
        fields.insert(fields.index("version"), "custom")
        computed["custom"] = CustomValuesField(record_type)
    bases: tuple[type, ...] = (RecordSerializer,)
    if record_type.lifecycle or record_type.actions:
        bases = (AvailableActionsMixin, RecordSerializer)
        fields.append("available_actions")
    meta = type(
        "Meta",
        (),
        {"model": model, "fields": fields, "read_only_fields": [*extra, *status, "created_at", "updated_at"]},
    )
    attrs: dict[str, Any] = {"Meta": meta, "record_type": record_type, **computed}
    if record_type.control is not None:  # `core.control`: the change a write cites, kept in the audit event
        fields.insert(fields.index("version"), "authorised_by")
        attrs["authorised_by"] = serializers.CharField(
            write_only=True,
            required=False,
            allow_blank=True,
            max_length=200,
            help_text="For a record under change control: the reference of an approved change that lists it "
            "(CHG-000123). Required to change such a record; kept in its history. On DELETE: the `X-Authorised-By` "
            "header.",
        )
    for upload in record_type.uploads:  # `core.uploads`: a file instead of the text, in a multipart body
        fields.insert(fields.index(upload.field), upload.name)
        attrs[upload.name] = serializers.FileField(
            write_only=True,
            required=False,
            help_text=f"{upload.help_text} In a `multipart/form-data` body, instead of `{upload.field}`.".strip(),
        )
        bases = (UploadsMixin, *bases)
    for child in record_type.children:
        fields.insert(fields.index("version"), child.name)
        attrs[child.name] = child_serializer_for(child)(
            many=True,
            required=False,
            help_text=f"{child.label}: the whole list of rows. A row with `id` is changed (fields left out stay), one "
            "without is added, a row left out is removed; leave the key out to keep the rows as they are.",
        )
    made = type(f"{model.__name__}Serializer", bases, attrs)
    if model.__name__.endswith("Request"):
        # drf-spectacular names a write component "<Name>Request": a service request's own would be "ServiceRequest",
        # the name of a service's write component; the request's is named apart
        from drf_spectacular.utils import extend_schema_serializer

        made = extend_schema_serializer(component_name=f"{model.__name__}Record")(made)
    return made


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

    def to_representation(self, instance: Any) -> Any:
        data = super().to_representation(instance)
        link = data["changes"].get("link") if instance.action in ("link", "unlink") else None
        request = self.context.get("request")
        if isinstance(link, dict) and request is not None:  # the other record as the reader may see it
            from meridian.core.links import shown_value

            data["changes"] = {
                **data["changes"],
                "link": {side: shown_value(value, request.user) for side, value in link.items()},
            }
        return data


class SearchResultSerializer(serializers.Serializer):  # type: ignore[type-arg]
    type = serializers.CharField()
    type_label = serializers.CharField()
    id = serializers.IntegerField()
    display = serializers.CharField()
    web_url = serializers.CharField(source="url")
    api_url = serializers.CharField()
