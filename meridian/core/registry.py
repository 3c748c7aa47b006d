"""The record-type registry: one declaration per record type gives it list, detail, form, history and delete
pages, a REST viewset, OpenAPI, CSV/XLSX export, global search, permissions and tenancy.

An app declares its types in `records.py` (imported by its AppConfig.ready):

    register(RecordType(
        model=Organisation,
        fields=["name", "kind", "email"],
        list_columns=["name", "kind"],
        filter_fields=["kind"],
        search_fields=["name", "email"],
        permissions={VIEW: STAFF | {Role.CUSTOMER_USER}, ADD: ADMINS, CHANGE: ADMINS, DELETE: ADMINS},
    ))

Pass `form=`, `table=`, `filterset=` or `serializer=` to replace a generated class with one of your own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from django.utils.text import slugify

from meridian.core.choices import Role

if TYPE_CHECKING:
    from django import forms

    from meridian.core.lifecycle import Lifecycle
    from meridian.core.models import Record

VIEW, ADD, CHANGE, DELETE, EXPORT = "view", "add", "change", "delete", "export"
ACTIONS = (VIEW, ADD, CHANGE, DELETE, EXPORT)

EVERYONE: frozenset[str] = frozenset(Role.values)
STAFF: frozenset[str] = EVERYONE - {Role.CUSTOMER_USER}
ADMINS: frozenset[str] = frozenset({Role.ADMINISTRATOR})
# roles that read and never write: removed from every add/change/delete permission and every transition's roles
READ_ONLY_ROLES: frozenset[str] = frozenset({Role.AUDITOR})


class Link(StrEnum):
    """The tenancy rule of a foreign key or many-to-many that a record type writes (see `RecordType.links`)."""

    SAME_ORGANISATION = "same_organisation"  # the linked record belongs to the record's own organisation
    INTERNAL = "internal"  # the linked record belongs to an internal organisation of the provider (its staff)
    ANY = "any"  # shared reference data (calendars) or a link that crosses organisations on purpose


# the process areas in navigation order; an area shows once one of its types is registered
AREAS = [
    ("service", "Services"),
    ("operations", "Service desk"),
    ("control", "Change & configuration"),
    ("relationships", "Customers & suppliers"),
    ("assurance", "Assurance"),
    ("administration", "Administration"),
]


@dataclass(eq=False)
class RecordType:
    """Everything the generic machinery needs to know about one record type."""

    model: type[Record]
    fields: list[str]
    list_columns: list[str]
    search_fields: list[str]
    filter_fields: list[str] = field(default_factory=list)
    permissions: dict[str, frozenset[str]] = field(default_factory=dict)
    area: str = "administration"
    lifecycle: Lifecycle | None = None
    detail_fields: list[str] | None = None
    ordering_fields: list[str] | None = None
    form: type[forms.ModelForm[Any]] | None = None
    table: type[Any] | None = None
    filterset: type[Any] | None = None
    serializer: type[Any] | None = None
    # business rules of the type that the generic services apply, in the write's transaction:
    # after_save(obj, actor, changes) once a create or update is saved; delete_refusal(obj) -> reason or None
    after_save: Callable[[Any, Any, dict[str, Any]], None] | None = None
    delete_refusal: Callable[[Any], str | None] | None = None
    # extra context for the type's detail page addition (`<app>/<model>_detail_extra.html`): (obj, user) -> dict
    detail_context: Callable[[Any, Any], dict[str, Any]] | None = None
    select_related: list[str] = field(default_factory=list)
    prefetch_related: list[str] = field(default_factory=list)
    help_text: str = ""
    # the tenancy rule of each foreign key and many-to-many in `fields`, where it is not the default of
    # `link_rules()`; checked by the generic services on every create and update, whatever the channel
    links: dict[str, Link] = field(default_factory=dict)
    # how the stored value of a field reads in history and on the conflict page, where the generic rules
    # (names, labels, Yes/No, times) do not say it well: {"working_hours": format_hours}; value -> text
    display_values: dict[str, Callable[[Any], str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        defaults = {VIEW: STAFF, EXPORT: STAFF, ADD: ADMINS, CHANGE: ADMINS, DELETE: ADMINS}
        self.permissions = {**defaults, **{k: frozenset(v) for k, v in self.permissions.items()}}
        # an auditor reads and exports everything and changes nothing
        self.permissions[VIEW] = self.permissions[VIEW] | {Role.AUDITOR}
        self.permissions[EXPORT] = self.permissions[EXPORT] | {Role.AUDITOR}
        for action in (ADD, CHANGE, DELETE):
            self.permissions[action] = self.permissions[action] - READ_ONLY_ROLES
        relations = {f.name for f in self.model._meta.get_fields() if f.concrete and f.is_relation}
        unknown = set(self.links) - relations
        if unknown:
            raise ValueError(f"{self.label}: links {sorted(unknown)} are not foreign keys or many-to-many fields")
        self.links = {name: Link(rule) for name, rule in self.links.items()}

    @property
    def label(self) -> str:
        """`core.organisation`: the type's name in audit events, search results and permissions."""
        return self.model._meta.label_lower

    @property
    def app_label(self) -> str:
        return self.model._meta.app_label

    @property
    def model_name(self) -> str:
        return str(self.model._meta.model_name)

    @property
    def verbose_name(self) -> str:
        return str(self.model._meta.verbose_name)

    @property
    def verbose_name_plural(self) -> str:
        return str(self.model._meta.verbose_name_plural)

    @property
    def url_slug(self) -> str:
        """`people`, `calendar-exceptions`: the plural, kebab-case path segment of pages and API."""
        return slugify(self.verbose_name_plural)

    @property
    def tenant_field(self) -> str | None:
        return self.model.TENANT_FIELD

    @property
    def tenant_link(self) -> str | None:
        """The field that holds the record's organisation (`organisation`), None when the record is one
        (Organisation) or has none."""
        tenant = self.tenant_field
        return None if tenant in (None, "id") else tenant.split("__")[0]  # type: ignore[union-attr]

    def link_rules(self) -> dict[str, Link]:
        """The tenancy rule of every foreign key and many-to-many the type writes. Default: a link to a record
        that has an organisation (a `TENANT_FIELD`) must stay within the record's own organisation; links to
        records without one (calendars), the field holding the organisation itself, and every link of a type
        without an organisation are free. `links` overrides a default (e.g. an assignee: `Link.INTERNAL`)."""
        rules = {}
        for name in self.fields:
            model_field = self.model._meta.get_field(name)
            if not (model_field.concrete and model_field.is_relation):
                continue
            related = model_field.related_model
            owned = self.tenant_field is not None and getattr(related, "TENANT_FIELD", None) is not None
            default = Link.SAME_ORGANISATION if owned and name != self.tenant_link else Link.ANY
            rules[name] = self.links.get(name, default)
        return rules

    def url_name(self, action: str) -> str:
        return f"{self.app_label}:{self.model_name}_{action}"


_registry: dict[type[Any], RecordType] = {}


def register(record_type: RecordType) -> RecordType:
    if record_type.model in _registry:
        raise ValueError(f"{record_type.label} is registered twice")
    _registry[record_type.model] = record_type
    return record_type


def get(model: type[Any]) -> RecordType:
    try:
        return _registry[model]
    except KeyError:
        raise LookupError(f"{model.__name__} is not a registered record type") from None


def find(model: type[Any]) -> RecordType | None:
    return _registry.get(model)


def all_types() -> list[RecordType]:
    return list(_registry.values())
