"""Custom fields: fields an administrator adds to a record type without code (`CustomField` definitions), for the
types that opt in with `RecordType(custom_fields=True)` and a `custom` JSONField on their model.

One validator, `clean_values`, is used by the generic services (`create_record`, `update_record`), so forms, API,
imports and commands all get the same checks: a value of the wrong type, out of range, not matching the pattern,
not one of the choices, a reference the actor may not see or of another organisation, or a required field left
empty is a field error named `custom.<name>`, and nothing is written. The rest of this module gives the other
channels their part: generated form fields, detail rows, API values, filters (exact, and ranges for numbers and
dates), export columns, search conditions and readable history, each leaving out what a customer may not see.

Values are stored as JSON: text, choices and web addresses as strings, whole numbers as integers, decimals as
strings ("12.50", exact), yes/no as booleans, dates as "YYYY-MM-DD", date-times as ISO 8601 in UTC, multiple
choices as lists of strings, and people and organisations by id.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import connection, models
from django.db.models.functions import Cast, Collate
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from meridian.core import policy
from meridian.core.choices import CustomFieldType as T
from meridian.core.choices import OrganisationKind
from meridian.core.registry import VIEW

if TYPE_CHECKING:
    from meridian.core.models import CustomField
    from meridian.core.registry import RecordType

PREFIX = "custom."
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
TEXT_TYPES = {T.TEXT, T.LONG_TEXT, T.URL}
NUMBER_TYPES = {T.INTEGER, T.DECIMAL}
RANGE_TYPES = {T.INTEGER, T.DECIMAL, T.DATE, T.DATETIME}
CHOICE_TYPES = {T.CHOICE, T.MULTIPLE_CHOICE}
REFERENCE_TYPES = {T.PERSON, T.ORGANISATION}
TEXT_MAX = {T.TEXT: 255, T.LONG_TEXT: 10000, T.URL: 500}


def key(name: str) -> str:
    """The key of a custom field in errors, form fields and filters: `custom.<name>`."""
    return f"{PREFIX}{name}"


def reference_model(definition: CustomField) -> type[models.Model]:
    from meridian.core.models import Organisation, Person

    return Person if definition.type == T.PERSON else Organisation


# --- definitions ------------------------------------------------------------------------------------------------


def definitions(record_type: RecordType, user: Any = None) -> list[CustomField]:
    """The type's custom fields in their order; for a customer user only those visible to customers. One query,
    never cached across requests (an administrator's change shows at once, on every node)."""
    from meridian.core.models import CustomField

    if not record_type.custom_fields:
        return []
    found = CustomField.objects.filter(applies_to=record_type.label)
    if user is not None and is_customer(user):
        found = found.filter(customer_visible=True)
    return list(found.order_by("order", "label", "pk"))


def is_customer(user: Any) -> bool:
    return bool(getattr(user, "is_customer", False))


def choice_list(definition: CustomField) -> list[str]:
    return [line.strip() for line in (definition.choices or "").splitlines() if line.strip()]


def scope_values(definition: CustomField) -> list[str]:
    return [v.strip() for v in (definition.scope_values or "").split(",") if v.strip()]


def values_in_scope(definition: CustomField) -> frozenset[str]:
    """The values of the scope field that put a record in the field's scope: the definition's own, expanded by the
    type's `RecordType.scope_expansions` for that field when it declares one (a CI class stands for its descendant
    classes too). Computed once per definition instance, i.e. once per request (definitions are read per request)."""
    from meridian.core import registry

    cached = definition.__dict__.get("_values_in_scope")
    if cached is None:
        values = scope_values(definition)
        record_type = registry.find_label(definition.applies_to)
        expand = record_type.scope_expansions.get(definition.scope_field) if record_type else None
        cached = frozenset(str(v) for v in expand(values)) if expand else frozenset(values)
        definition.__dict__["_values_in_scope"] = cached
    return cached


def in_scope(definition: CustomField, obj: Any) -> bool:
    """Whether the field applies to the record: no scope, or the scope field holds one of the values in scope."""
    if not definition.scope_field:
        return True
    field = obj._meta.get_field(definition.scope_field)
    value = getattr(obj, getattr(field, "attname", definition.scope_field), None)
    if isinstance(value, bool):
        value = "true" if value else "false"
    return str(value) in values_in_scope(definition) if value is not None else False


def scope_text(definition: CustomField, record_type: RecordType) -> str:
    """ "only for configuration items whose class is Hardware (or one under it)": the scope's values named — a choice
    by its label, a linked record by its name where the linked type belongs to no organisation (a CI class; a
    customer's record stays an id, never a name in someone else's message)."""
    field: Any = record_type.model._meta.get_field(definition.scope_field)
    values = scope_values(definition)
    related = field.related_model if field.is_relation else None
    if related is not None and not getattr(related, "TENANT_FIELD", None):
        names = {str(o.pk): str(o) for o in related._default_manager.filter(pk__in=[v for v in values if v.isdigit()])}
        values = [names.get(v, v) for v in values]
    elif field.choices:
        labels = {str(value): str(label) for value, label in field.flatchoices}
        values = [labels.get(v, v) for v in values]
    below = " (or one under it)" if definition.scope_field in record_type.scope_expansions else ""
    return f"only for {record_type.verbose_name_plural} whose {field.verbose_name} is {' or '.join(values)}{below}"


SCOPE_OPTIONS_LIMIT = 1000  # a scope field with more records than this is given by ids


def scope_options(record_type: RecordType, name: str) -> list[tuple[str, str]] | None:
    """The values a custom field's scope may name for the field `name` of the type, as (value stored, label): the
    records of a linked type that belongs to no organisation (CI classes: id, name), a field's choices (value,
    label), yes/no (true, false); None when the field has no such list (text, a link to an organisation's records)."""
    try:
        field: Any = record_type.model._meta.get_field(name)
    except Exception:  # noqa: BLE001 - FieldDoesNotExist and friends
        return None
    if not field.concrete or field.many_to_many or field.name == "custom":
        return None
    related = field.related_model if field.is_relation else None
    if related is not None:
        from django.contrib.auth import get_user_model

        if getattr(related, "TENANT_FIELD", None) or related is get_user_model():
            return None  # an organisation's records, or logins: never listed here
        records = related._default_manager.all()
        if records.count() > SCOPE_OPTIONS_LIMIT:
            return None
        return [(str(o.pk), str(o)) for o in records]
    if field.choices:
        return [(str(value), str(label)) for value, label in field.flatchoices]
    if isinstance(field, models.BooleanField):
        return [("true", "Yes"), ("false", "No")]
    return None


def _scope_value_errors(definition: CustomField, record_type: RecordType, field: Any) -> str | None:
    """Why the scope's values are not values of the scope field: an id no record has, a value not among its
    choices (the API gives the ids and values as stored; the form offers them by name)."""
    values = scope_values(definition)
    related = field.related_model if field.is_relation else None
    if related is not None:
        digits = [v for v in values if v.isdigit()]
        found = {str(pk) for pk in related._default_manager.filter(pk__in=digits).values_list("pk", flat=True)}
        wrong = [v for v in values if v not in found]
        if wrong:
            noun = related._meta.verbose_name
            return (
                f"No {noun} has the id {', '.join(wrong)}: give the ids of {related._meta.verbose_name_plural}, "
                "separated by commas (the form offers them by name)."
            )
        return None
    options = scope_options(record_type, field.name)
    if options is None:
        return None
    allowed = {value for value, _label in options}
    wrong = [v for v in values if v not in allowed]
    if wrong:
        listed = ", ".join(f"{value} ({label})" for value, label in options[:20])
        return f"Not a value of {field.verbose_name}: {', '.join(wrong)}. One of: {listed}."
    return None


def values_in_use(definition: CustomField, applies_to: str | None = None, name: str | None = None) -> int:
    """How many records hold a value of the field (as stored: `applies_to` and `name` before an edit)."""
    from meridian.core import registry

    label = applies_to or definition.applies_to
    model = next((rt.model for rt in registry.all_types() if rt.label == label and rt.custom_fields), None)
    if model is None:
        return 0
    return int(model._default_manager.filter(**{"custom__has_key": name or definition.name}).count())


def definition_delete_refusal(definition: CustomField) -> str | None:
    """A definition is not deleted while records hold a value of it: nothing is destroyed silently."""
    count = values_in_use(definition)
    if count:
        return (
            f"{count} record{'s' if count != 1 else ''} still hold{'s' if count == 1 else ''} a value of “"
            f"{definition.label}”: clear those values first (filter the list by the field), then delete it."
        )
    return None


def definition_errors(definition: CustomField) -> dict[str, str]:
    """Why a definition is not valid: its name, the type it applies to, its choices, range, pattern, default and
    scope; and, once records hold values, a change of its type, name or record type (which would strand them)."""
    from meridian.core import registry
    from meridian.core.models import CustomField

    errors: dict[str, str] = {}
    if not NAME_PATTERN.match(definition.name or ""):
        errors["name"] = "Use lower-case letters, digits and underscores, starting with a letter (e.g. cpu_count)."
    record_type = next((rt for rt in registry.all_types() if rt.label == definition.applies_to), None)
    if record_type is not None and not record_type.custom_fields:
        record_type = None  # not among the field's choices: said by the field's own validation
    kind = definition.type
    if kind in CHOICE_TYPES:
        options = choice_list(definition)
        if not options:
            errors["choices"] = "List the choices, one per line."
        elif len(set(options)) != len(options):
            errors["choices"] = "Each choice once."
    elif definition.choices.strip():
        errors["choices"] = "Only a choice or multiple choice field has choices."
    if kind not in NUMBER_TYPES and (definition.min_value is not None or definition.max_value is not None):
        errors["min_value"] = "Only numbers have a minimum and maximum."
    elif (
        definition.min_value is not None
        and definition.max_value is not None
        and definition.min_value > definition.max_value
    ):
        errors["max_value"] = "The maximum is smaller than the minimum."
    if definition.regex:
        if kind not in TEXT_TYPES:
            errors["regex"] = "Only text and web addresses have a pattern."
        else:
            try:
                re.compile(definition.regex)
            except re.error as exc:
                errors["regex"] = f"Not a valid regular expression: {exc}."
    if definition.default and "regex" not in errors and "choices" not in errors:
        if kind in REFERENCE_TYPES:
            errors["default"] = "A person or organisation field has no default."
        else:
            try:
                _parse(definition, default_value(definition))
            except ValidationError as exc:
                errors["default"] = f"Not a valid value of this field: {' '.join(exc.messages)}"
    if definition.scope_field and record_type is not None:
        try:
            field = record_type.model._meta.get_field(definition.scope_field)
        except Exception:  # noqa: BLE001 - FieldDoesNotExist and friends
            field = None
        if field is None or not field.concrete or field.many_to_many or field.name == "custom":
            errors["scope_field"] = f"Not a field of {record_type.verbose_name_plural}."
        elif not scope_values(definition):
            errors["scope_values"] = "Give the values, separated by commas."
        else:
            wrong = _scope_value_errors(definition, record_type, field)
            if wrong:
                errors["scope_values"] = wrong
    elif definition.scope_values.strip() and not definition.scope_field:
        errors["scope_field"] = "Name the field whose values decide the scope."
    if definition.pk:
        stored = CustomField.objects.filter(pk=definition.pk).values("applies_to", "name", "type").first()
        if stored:
            changed = [part for part in ("applies_to", "name", "type") if stored[part] != getattr(definition, part)]
            if changed:
                count = values_in_use(definition, stored["applies_to"], stored["name"])
                if count:
                    for part in changed:
                        errors[part] = (
                            f"{count} record{'s' if count != 1 else ''} hold a value of this field: its "
                            f"{CustomField._meta.get_field(part).verbose_name} cannot change. "  # type: ignore[union-attr]
                            "Add a new field instead."
                        )
    return errors


def default_value(definition: CustomField) -> Any:
    """The definition's default (typed as a person would type it) as a JSON value to validate."""
    text = definition.default.strip()
    if definition.type == T.BOOLEAN:
        return {"yes": True, "true": True, "no": False, "false": False}.get(text.lower(), text)
    if definition.type == T.INTEGER:
        return int(text) if re.fullmatch(r"-?\d+", text) else text
    if definition.type == T.MULTIPLE_CHOICE:
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


# --- the one validator ------------------------------------------------------------------------------------------


def _parse(definition: CustomField, value: Any) -> Any:
    """One value as stored, from its JSON form (strict: no text for numbers, no numbers for text); raises a
    ValidationError saying what is expected."""
    kind = definition.type
    if kind in TEXT_TYPES or kind == T.CHOICE:
        if not isinstance(value, str):
            raise ValidationError("Must be text: a JSON string.")
        value = value.strip()
        limit = TEXT_MAX.get(kind)  # type: ignore[call-overload]
        if limit and len(value) > limit:
            raise ValidationError(f"At most {limit} characters.")
        if kind == T.URL:
            URLValidator(schemes=["http", "https"], message="Enter a web address starting with http:// or https://.")(
                value
            )
        if kind == T.CHOICE and value not in choice_list(definition):
            raise ValidationError(f"“{value}” is not one of the choices: {', '.join(choice_list(definition))}.")
        if definition.regex and not re.fullmatch(definition.regex, value):
            raise ValidationError(f"Must match the pattern {definition.regex}.")
        return value
    if kind == T.INTEGER:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValidationError("Must be a whole number: a JSON integer such as 3, not text or a fraction.")
        _check_range(definition, decimal.Decimal(value))
        return value
    if kind == T.DECIMAL:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValidationError('Must be a number: a JSON number or a decimal in a string, such as "12.50".')
        try:
            number = decimal.Decimal(str(value).strip())
        except decimal.InvalidOperation:
            raise ValidationError("Must be a number, such as 12.50.") from None
        if not number.is_finite():
            raise ValidationError("Must be a number, such as 12.50.")
        _check_range(definition, number)
        return str(number)
    if kind == T.BOOLEAN:
        if not isinstance(value, bool):
            raise ValidationError("Must be true or false (JSON booleans), not text or a number.")
        return value
    if kind == T.DATE:
        if not isinstance(value, str):
            raise ValidationError('Must be a date as text: "YYYY-MM-DD".')
        try:
            return dt.date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            raise ValidationError('Must be a date as text: "YYYY-MM-DD".') from None
    if kind == T.DATETIME:
        moment = parse_datetime(value.strip()) if isinstance(value, str) else None
        if moment is None:
            raise ValidationError('Must be a date and time as ISO 8601 text, e.g. "2026-03-01T09:30:00+01:00".')
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment)
        return moment.astimezone(dt.UTC).isoformat()
    if kind == T.MULTIPLE_CHOICE:
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ValidationError("Must be a JSON list of choices (strings).")
        unknown = [item for item in value if item not in choice_list(definition)]
        if unknown:
            raise ValidationError(f"Not among the choices: {', '.join(unknown)}.")
        return [item for item in choice_list(definition) if item in value]  # in the choices' order, each once
    if kind in REFERENCE_TYPES:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValidationError("Must be the id of a record: a JSON integer.")
        return value
    raise ValidationError("Unknown kind of field.")


def parse_value(definition: CustomField, value: Any) -> Any:
    """One value as stored, from its JSON form, checked as `clean_values` checks it (kind, length, range, pattern,
    choices; a person or organisation only by the form of its id): for definitions that belong to no record type's
    `custom` column, such as the fields of an offering's request form (`portfolio.offerings`)."""
    return _parse(definition, value)


def _check_range(definition: CustomField, number: decimal.Decimal) -> None:
    if definition.min_value is not None and number < definition.min_value:
        raise ValidationError(f"At least {definition.min_value.normalize():f}.")
    if definition.max_value is not None and number > definition.max_value:
        raise ValidationError(f"At most {definition.max_value.normalize():f}.")


def _check_reference(definition: CustomField, obj: Any, pk: int, actor: Any) -> None:
    """A referenced person or organisation exists, the actor may see it, and it belongs to the record's own
    organisation or to the provider (the same rule for every channel, like `Link.SAME_ORGANISATION`)."""
    from meridian.core.models import Organisation

    model = reference_model(definition)
    target = model._default_manager.filter(pk=pk).first()
    if target is None or not policy.can(actor, VIEW, target):
        raise ValidationError("Select a valid choice. That choice is not one of the available choices.")
    tenant = getattr(obj, "tenant_id", None)
    if tenant is None or target.tenant_id == tenant:  # type: ignore[attr-defined]
        return
    internal = Organisation.objects.filter(pk=target.tenant_id, kind=OrganisationKind.INTERNAL).exists()  # type: ignore[attr-defined]
    if not internal:
        plural = model._meta.verbose_name_plural
        raise ValidationError(
            f"Choose from the {plural} of this {obj._meta.verbose_name}'s own organisation or the provider's."
        )


def clean_values(
    record_type: RecordType, obj: Any, given: Any, *, actor: Any, existing: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The record's custom values after a write: `existing` (None for a new record) with `given` applied (a JSON
    object by field name; null or "" clears a value; fields left out keep theirs, or get their default on a new
    record). Every error is a field error `custom.<name>` (or `custom` for a body that is not an object); nothing
    is returned then, so nothing is written. Required fields in scope are checked on every write, also of records
    that existed before the field did."""
    if given is None:
        given = {}
    if not isinstance(given, Mapping):
        raise ValidationError({"custom": "Must be a JSON object of custom field values by name."})
    mine = {d.name: d for d in definitions(record_type, actor)}
    every = {d.name: d for d in definitions(record_type)}
    values = dict(existing or {})
    errors: dict[str, str] = {}
    for name, value in given.items():
        definition = mine.get(name)
        if definition is None:  # also a customer-invisible field sent by a customer: it does not exist for them
            errors[key(str(name))] = "No such custom field."
            continue
        if value is None or value == "" or value == []:
            values.pop(name, None)
            continue
        if not in_scope(definition, obj):
            errors[key(name)] = f"Not used here: this field is {scope_text(definition, record_type)}."
            continue
        try:
            values[name] = _parse(definition, value)
            if definition.type in REFERENCE_TYPES:
                _check_reference(definition, obj, values[name], actor)
        except ValidationError as exc:
            errors[key(name)] = " ".join(exc.messages)
    if existing is None:
        for name, definition in every.items():
            if name not in given and definition.default and in_scope(definition, obj):
                values[name] = _parse(definition, default_value(definition))
    for name, definition in every.items():
        if definition.required and in_scope(definition, obj) and name not in values and key(name) not in errors:
            errors[key(name)] = "This field is required."
    if errors:
        raise ValidationError(errors)
    return values


# --- forms ------------------------------------------------------------------------------------------------------


def form_field(definition: CustomField, obj: Any, user: Any) -> forms.Field:
    """The form field of a definition, typed (the browser's own date pickers), its choices restricted to what the
    user may see and the record may refer to."""
    common: dict[str, Any] = {
        "label": definition.label,
        "required": definition.required and definition.type != T.BOOLEAN,
        "help_text": definition.help_text,
    }
    kind = definition.type
    number_limits: dict[str, Any] = {
        "min_value": definition.min_value,
        "max_value": definition.max_value,
    }
    if kind == T.TEXT:
        return forms.CharField(max_length=TEXT_MAX[T.TEXT], **common)
    if kind == T.LONG_TEXT:
        return forms.CharField(max_length=TEXT_MAX[T.LONG_TEXT], widget=forms.Textarea(attrs={"rows": 3}), **common)
    if kind == T.URL:
        return forms.URLField(max_length=TEXT_MAX[T.URL], assume_scheme="https", **common)
    if kind == T.INTEGER:
        limits: dict[str, Any] = {k: int(v) for k, v in number_limits.items() if v is not None}
        return forms.IntegerField(**limits, **common)
    if kind == T.DECIMAL:
        return forms.DecimalField(**{k: v for k, v in number_limits.items() if v is not None}, **common)
    if kind == T.BOOLEAN:
        return forms.BooleanField(**common)
    if kind == T.DATE:
        return forms.DateField(widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}), **common)
    if kind == T.DATETIME:
        return forms.DateTimeField(
            widget=forms.DateTimeInput(format="%Y-%m-%dT%H:%M", attrs={"type": "datetime-local"}), **common
        )
    if kind == T.CHOICE:
        return forms.ChoiceField(choices=[("", "—"), *((c, c) for c in choice_list(definition))], **common)
    if kind == T.MULTIPLE_CHOICE:
        return forms.MultipleChoiceField(
            choices=[(c, c) for c in choice_list(definition)], widget=forms.CheckboxSelectMultiple, **common
        )
    model = reference_model(definition)
    queryset = policy.restrict(model._default_manager.all(), user, VIEW)
    tenant = getattr(obj, "tenant_id", None)
    if tenant is not None:
        from meridian.core.models import Organisation

        internal = Organisation.objects.filter(kind=OrganisationKind.INTERNAL).values("pk")
        condition = "pk" if model is Organisation else "organisation"
        queryset = queryset.filter(models.Q(**{condition: tenant}) | models.Q(**{f"{condition}__in": internal}))
    return forms.ModelChoiceField(queryset=queryset, **common)


def add_form_fields(form: forms.BaseForm, record_type: RecordType, obj: Any, user: Any) -> list[str]:
    """Add a field `custom.<name>` per custom field the user may see and the record is in scope of, in the
    definitions' order, after the type's own fields; their initial values from the record. Returns their names."""
    names = []
    for definition in definitions(record_type, user):
        if not in_scope(definition, obj):
            continue
        name = key(definition.name)
        field = form_field(definition, obj, user)
        stored = (obj.custom or {}).get(definition.name) if obj.pk else None
        if stored is None and not obj.pk and definition.default:
            stored = _parse(definition, default_value(definition))
        field.initial = _form_initial(definition, stored)
        form.fields[name] = field
        names.append(name)
    return names


def _form_initial(definition: CustomField, stored: Any) -> Any:
    if stored is None:
        return None
    if definition.type == T.DATETIME:
        moment = parse_datetime(stored)
        return timezone.localtime(moment) if moment else None
    if definition.type == T.DECIMAL:
        return decimal.Decimal(stored)
    return stored


def json_value(value: Any) -> Any:
    """A form's cleaned value as the validator takes it (the JSON an API client would send)."""
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bool):
        return value
    return value


# --- showing values: pages, API, exports, history ---------------------------------------------------------------


References = dict[tuple[type[models.Model], Any], Any]


def load_references(found: Iterable[CustomField], records: Iterable[Any]) -> References:
    """The people and organisations that the records' person and organisation fields refer to, read at once (one
    query per referenced type, whatever the number of records): for lists, API pages and exports."""
    wanted: dict[type[models.Model], set[Any]] = {}
    reference_fields = [d for d in found if d.type in REFERENCE_TYPES]
    if not reference_fields:
        return {}
    for record in records:
        stored = getattr(record, "custom", None) or {}
        for definition in reference_fields:
            value = stored.get(definition.name)
            if isinstance(value, int) and not isinstance(value, bool):
                wanted.setdefault(reference_model(definition), set()).add(value)
    loaded: References = {}
    for model, ids in wanted.items():
        manager = model._default_manager
        if hasattr(model, "organisation"):
            manager = manager.select_related("organisation")  # type: ignore[assignment]
        for pk, target in manager.in_bulk(list(ids)).items():
            loaded[(model, pk)] = target
        for pk in ids:
            loaded.setdefault((model, pk), None)  # deleted since
    return loaded


def _target(definition: CustomField, value: Any, references: References | None) -> Any:
    model = reference_model(definition)
    if references is not None and (model, value) in references:
        return references[(model, value)]
    return model._default_manager.filter(pk=value).first()


def shown_value(
    definition: CustomField, value: Any, user: Any, *, with_links: bool = False, references: References | None = None
) -> Any:
    """A stored value as people read it: choices and text as they are, yes/no, dates in the reader's zone,
    a person or organisation by name ("hidden" when the reader may not see it, "#12 (deleted)" once deleted)."""
    if value is None or value == "" or value == []:
        return None
    kind = definition.type
    if kind == T.BOOLEAN:
        return "Yes" if value else "No"
    if kind == T.MULTIPLE_CHOICE:
        return ", ".join(value)
    if kind == T.DATETIME:
        moment = parse_datetime(str(value))
        return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else value
    if kind in REFERENCE_TYPES:
        target = _target(definition, value, references)
        if target is None:
            return f"#{value} (deleted)"
        if with_links:
            return [policy.link_of(user, target)]
        return policy.shown(user, target)
    return value


def detail_rows(record_type: RecordType, obj: Any, user: Any) -> list[tuple[str, Any, str]]:
    """(label, value, kind) of each custom field the reader may see and the record is in scope of, for the
    detail page (kind as `views._display`: empty, links or text)."""
    rows = []
    for definition in definitions(record_type, user):
        if not in_scope(definition, obj):
            continue
        value = shown_value(definition, (obj.custom or {}).get(definition.name), user, with_links=True)
        kind = "empty" if value is None else "links" if isinstance(value, list) else "text"
        rows.append((definition.label, value, kind))
    return rows


def api_values(
    record_type: RecordType,
    obj: Any,
    user: Any,
    found: list[CustomField] | None = None,
    references: References | None = None,
) -> dict[str, Any]:
    """The record's custom values for the API: every field the reader may see (null when empty), as stored; a
    person or organisation the reader may not see is "hidden"."""
    result: dict[str, Any] = {}
    stored = obj.custom or {}
    for definition in definitions(record_type, user) if found is None else found:
        if not in_scope(definition, obj):
            continue
        value = stored.get(definition.name)
        if value is not None and definition.type in REFERENCE_TYPES:
            target = _target(definition, value, references)
            if target is not None and not policy.can(user, VIEW, target):
                value = policy.HIDDEN
        result[definition.name] = value
    return result


def export_columns(record_type: RecordType, user: Any) -> list[CustomField]:
    return definitions(record_type, user)


def export_value(definition: CustomField, obj: Any, user: Any, references: References | None = None) -> Any:
    if not in_scope(definition, obj):
        return ""
    value = shown_value(definition, (obj.custom or {}).get(definition.name), user, references=references)
    return "" if value is None else value


def history_rows(record_type: RecordType, user: Any) -> dict[str, CustomField]:
    """The definitions named in audit changes (`custom.<name>`) the reader may see, by change key."""
    return {key(d.name): d for d in definitions(record_type, user)}


def redact_changes(record_type: RecordType, changes: Mapping[str, Any], user: Any) -> dict[str, Any]:
    """An audit event's changes without the custom fields the reader may not see (a customer: the fields not
    visible to customers)."""
    if not record_type.custom_fields or not is_customer(user):
        return dict(changes)
    visible = history_rows(record_type, user)
    return {name: change for name, change in changes.items() if not name.startswith(PREFIX) or name in visible}


# --- filters and search -----------------------------------------------------------------------------------------


def _text(name: str) -> Any:
    """The value as text, compared byte by byte (ISO dates and times sort as they read)."""
    text = Cast(models.fields.json.KeyTextTransform(name, "custom"), models.TextField())
    return Collate(text, "C") if connection.vendor == "postgresql" else text


def filter_exact(queryset: models.QuerySet[Any], definition: CustomField, value: Any) -> models.QuerySet[Any]:
    """Records whose value is `value` (for a multiple choice: that include it). On PostgreSQL a containment
    (`custom @> {...}`), which the GIN index answers; on SQLite the JSON key."""
    if value in (None, ""):
        return queryset
    try:
        stored = _parse(definition, json_value(value)) if definition.type != T.MULTIPLE_CHOICE else value
    except ValidationError:  # e.g. a number beyond the field's maximum: no record holds it
        return queryset.none()
    if definition.type == T.DECIMAL:  # the same number written otherwise ("12.5" and "12.50")
        return queryset.annotate(**{f"_cf_{definition.name}": _number(definition.name)}).filter(
            **{f"_cf_{definition.name}": decimal.Decimal(stored)}
        )
    if definition.type == T.MULTIPLE_CHOICE:
        if connection.vendor == "postgresql":
            return queryset.filter(custom__contains={definition.name: [stored]})
        return queryset.filter(**{f"custom__{definition.name}__contains": f'"{stored}"'})
    if connection.vendor == "postgresql":
        return queryset.filter(custom__contains={definition.name: stored})
    return queryset.filter(**{f"custom__{definition.name}": stored})


def _number(name: str) -> Any:
    return Cast(
        models.fields.json.KeyTextTransform(name, "custom"), models.DecimalField(max_digits=30, decimal_places=10)
    )


def filter_range(
    queryset: models.QuerySet[Any], definition: CustomField, bound: Any, lookup: str
) -> models.QuerySet[Any]:
    """Records whose number or date is at least (`gte`) or at most (`lte`) `bound`."""
    if bound in (None, ""):
        return queryset
    alias = f"_cf_{definition.name}_{lookup}"
    if definition.type in NUMBER_TYPES:
        return queryset.alias(**{alias: _number(definition.name)}).filter(
            **{f"{alias}__{lookup}": decimal.Decimal(bound)}
        )
    text = bound.astimezone(dt.UTC).isoformat() if definition.type == T.DATETIME else bound.isoformat()
    return queryset.alias(**{alias: _text(definition.name)}).filter(**{f"{alias}__{lookup}": text})


def filter_form_field(definition: CustomField, user: Any) -> tuple[type[forms.Field], dict[str, Any]]:
    """The input of a filter on the field (exact): a select for choices, yes/no and references, else the type's."""
    kind = definition.type
    if kind in CHOICE_TYPES:
        return forms.ChoiceField, {"choices": [("", "Any"), *((c, c) for c in choice_list(definition))]}
    if kind == T.BOOLEAN:
        return forms.NullBooleanField, {"widget": forms.Select(choices=[("", "Any"), ("true", "Yes"), ("false", "No")])}
    if kind in REFERENCE_TYPES:
        model = reference_model(definition)
        return forms.ModelChoiceField, {"queryset": policy.restrict(model._default_manager.all(), user, VIEW)}
    return {
        T.INTEGER: forms.IntegerField,
        T.DECIMAL: forms.DecimalField,
        T.DATE: forms.DateField,
        T.DATETIME: forms.DateTimeField,
    }.get(kind, forms.CharField), {}  # type: ignore[call-overload]


def search_condition(record_type: RecordType, user: Any, query: str) -> models.Q | None:
    """Matches of `query` in the searchable custom fields the user may see (text, choices, web addresses)."""
    fields = [
        d.name
        for d in definitions(record_type, user)
        if d.searchable and (d.type in TEXT_TYPES or d.type in CHOICE_TYPES)
    ]
    if not fields:
        return None
    condition = models.Q()
    for name in fields:
        condition |= models.Q(**{f"custom__{name}__icontains": query})
    return condition


def flatten(snapshot: dict[str, Any]) -> dict[str, Any]:
    """An audit snapshot with `custom` spread into one entry per field (`custom.<name>`), so that the audit
    trail and the history say which custom field changed, from what, to what."""
    custom = snapshot.pop("custom", None)
    if isinstance(custom, Mapping):
        for name, value in custom.items():
            snapshot[key(name)] = value
    return snapshot


def values_of(items: Iterable[CustomField]) -> dict[str, CustomField]:
    return {d.name: d for d in items}


def gin_index(table: str) -> Any:
    """The migration operation an app adds with its `custom` field: a GIN index (`jsonb_path_ops`) on PostgreSQL,
    which containment filters (`custom @> {"name": value}`) use; nothing on SQLite.
    `operations = [migrations.AddField(...custom...), gin_index("tickets_incident")]`."""
    from django.db import migrations

    name = f"{table}_custom_gin"[:63]

    def create(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f'CREATE INDEX "{name}" ON "{table}" USING gin ("custom" jsonb_path_ops)')

    def drop(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')

    return migrations.RunPython(create, drop, elidable=False)
