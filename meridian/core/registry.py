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

Pass `form=`, `table=`, `filterset=` or `serializer=` to replace a generated class with one of your own;
`actions=[RecordAction(...)]` for operations on one record (`core.actions`) and `tabs=[Tab(...)]` for tabs of its
page (`core.tabs`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from django.utils.text import slugify

from meridian.core.choices import Role

if TYPE_CHECKING:
    from django import forms
    from django.db.models import QuerySet

    from meridian.core.actions import RecordAction
    from meridian.core.attachments import Attachments
    from meridian.core.children import Child
    from meridian.core.control import Control
    from meridian.core.conversation import Conversation
    from meridian.core.lifecycle import Lifecycle
    from meridian.core.models import Record
    from meridian.core.tabs import Banner, Tab
    from meridian.core.uploads import TextUpload
    from meridian.core.watchers import Watchers

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


@dataclass(frozen=True)
class Computed:
    """A read-only value of a record that is not a model field (see `RecordType.computed`): either an annotation
    (a Django expression such as `Count("people", distinct=True)`, computed in SQL for a whole list at once,
    sortable and filterable, with every aggregate over tenant-owned rows narrowed to what the reader may see) or
    a callable (obj) -> value (shown only; it must use what the queryset already fetched)."""

    value: Any  # a django.db.models.Expression, or Callable[[Record], Any]
    label: str

    @property
    def is_annotation(self) -> bool:
        return hasattr(self.value, "resolve_expression")


@dataclass(frozen=True)
class Related:
    """A related list on the detail page (see `RecordType.related`): the records of a reverse relation
    (`"people"` of an organisation) or of a many-to-many (`"members"` of a team). Label, columns and ordering
    default to the related type's own (its plural, its list columns without the link back, its ordering)."""

    name: str
    label: str | None = None
    columns: list[str] | None = None
    ordering: list[str] | None = None
    per_page: int = 5


@dataclass(frozen=True)
class Area:
    """A process area: one menu of the navigation and one group of quick links on the home page. An area shows
    to a reader once it holds a record type or page they may see."""

    key: str
    label: str
    icon: str  # a Bootstrap Icons name, without the `bi-` prefix
    description: str = ""


# the process areas in navigation order (DESIGN.md's apps: see docs/developers/foundation.md, "Navigation")
AREAS: list[Area] = [
    Area("service", "Services", "diagram-3", "Service portfolio and catalogue, service levels."),
    Area("operations", "Service desk", "headset", "Incidents, service requests, problems and known errors."),
    Area("control", "Change & configuration", "gear-wide-connected", "Changes, releases, the CMDB."),
    Area("relationships", "Customers & suppliers", "people", "Business relationships, suppliers and contracts."),
    Area("assurance", "Assurance", "shield-check", "Capacity, availability, continuity, security, reports."),
    Area("administration", "Administration", "sliders", "Organisations, people, teams, locations, calendars."),
]


def area(key: str) -> Area:
    for candidate in AREAS:
        if candidate.key == key:
            return candidate
    raise ValueError(f"unknown area {key!r}: one of {', '.join(a.key for a in AREAS)}")


@dataclass(frozen=True)
class Page:
    """A page of an area that is not a record type's list: an inbox, a dashboard, a board. It shows in the area's
    menu and quick links to the given roles; the view itself still checks who may open it."""

    area: str
    label: str
    url_name: str  # reversed without arguments
    roles: frozenset[str]
    icon: str = ""  # a Bootstrap Icons name, without the `bi-` prefix
    help_text: str = ""


_pages: list[Page] = []


def register_page(
    area_key: str, label: str, url_name: str, roles: Iterable[str], *, icon: str = "", help_text: str = ""
) -> Page:
    """Declare a non-record page of an area (called from an app's `records.py`, once at start-up):
    `register_page("control", "Approval inbox", "changes:approval_inbox", {Role.CHANGE_MANAGER}, icon="inbox")`."""
    area(area_key)  # refuses an unknown area
    page = Page(area_key, label, url_name, frozenset(roles), icon, help_text)
    if any((p.area, p.label) == (area_key, label) for p in _pages):
        raise ValueError(f"page {label!r} is registered twice in {area_key}")
    _pages.append(page)
    return page


def pages() -> list[Page]:
    return list(_pages)


@dataclass(frozen=True)
class MyWork:
    """What a person works on among a type's records, for their home page: `queryset(qs, user)` narrows the rows
    they may see to theirs, e.g. `qs.filter(Q(assignee__user=user) | Q(team__members__user=user))`. The home page
    shows the most recently changed of them across all types, and how many each type has."""

    label: str  # "Assigned to you or your teams"
    queryset: Callable[[QuerySet[Any], Any], QuerySet[Any]]


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
    # validate(obj, actor): the type's rules that depend on who writes (an answer naming a record they may read),
    # run with the model's `clean()` on every create and update, page, API and import alike, before the save and the
    # audit event (so what it sets is what is stored and recorded); raises ValidationError with field errors
    validate: Callable[[Any, Any], None] | None = None
    delete_refusal: Callable[[Any], str | None] | None = None
    # after_delete(obj, actor) once a record is deleted, in the delete's transaction (what goes with it)
    after_delete: Callable[[Any, Any], None] | None = None
    # operations on one record beside create/change/delete (`core.actions`): endpoint, button, form page, OpenAPI,
    # `available_actions`; the lifecycle's transitions are actions too
    actions: list[RecordAction] = field(default_factory=list)
    # tabs of the record's page after Details (`core.tabs`); History and Notifications are added by the machinery
    tabs: list[Tab] = field(default_factory=list)
    # a strip under the record's title on every tab (`core.tabs.Banner`): a ticket's live clock countdowns
    banner: Banner | None = None
    select_related: list[str] = field(default_factory=list)
    prefetch_related: list[str] = field(default_factory=list)
    help_text: str = ""
    # the tenancy rule of each foreign key and many-to-many in `fields`, where it is not the default of
    # `link_rules()`; checked by the generic services on every create and update, whatever the channel
    links: dict[str, Link] = field(default_factory=dict)
    # read-only values shown in detail, list columns (when named in `list_columns`), API and exports; annotations
    # are sortable and filterable (`<name>_min`, `<name>_max`)
    computed: dict[str, Computed] = field(default_factory=dict)
    # the type's own narrowing or annotations of every list, detail and API queryset: (queryset, user) -> queryset
    queryset: Callable[[Any, Any], Any] | None = None
    # related lists on the detail page, in this order
    related: list[Related] = field(default_factory=list)
    # rows edited with the record (inline on its form, nested in its API, audited with it): `core.children`
    children: list[Child] = field(default_factory=list)
    # the reader's own records of this type (assigned to them or their teams), shown on their home page
    my_work: MyWork | None = None
    # how the stored value of a field reads in history and on the conflict page, where the generic rules
    # (names, labels, Yes/No, times) do not say it well: {"working_hours": format_hours}; value -> text
    display_values: dict[str, Callable[[Any], str]] = field(default_factory=dict)
    # typed links to other records (`core.links`): a Links tab, `/api/v1/<app>/<plural>/{id}/links/`, audited on
    # both records (not to be confused with `links`, the tenancy rules of foreign keys)
    record_links: bool = False
    # files attached to the records (`core.attachments`): a tab, API endpoints, limits, audited uploads and deletes
    attachments: Attachments | None = None
    # fields administrators add without code (`core.custom_fields`): the model needs a `custom` JSONField
    custom_fields: bool = False
    # comments on the records (`core.conversation`): public replies and internal notes, a composer in the Timeline
    # tab, `/api/v1/<app>/<plural>/{id}/comments/`, mentions, audited posts, edits and deletes
    conversation: Conversation | None = None
    # people following the records (`core.watchers`): a Follow button, API, mails about every event they may read;
    # `Watchers(auto=[...])` names fields holding a person who follows whenever the field is set
    watchers: Watchers | None = None
    # how the scope values of a custom field scoped by one of the type's fields expand (`custom_fields.in_scope`):
    # {"ci_class": lambda ids: ids and their descendant classes' ids}; a field not named here matches exactly
    scope_expansions: dict[str, Callable[[list[str]], Iterable[Any]]] = field(default_factory=dict)
    # change control (`core.control`): a write touching a record under control must cite an approved change that
    # lists it (`authorised_by` on every channel), else it is refused; the audit event keeps the reference
    control: Control | None = None
    # text fields that may also come as a file (`core.uploads`): a file input on the form, multipart in the API
    uploads: list[TextUpload] = field(default_factory=list)
    # links to records the actor may name here without reading them as records: {field: (actor, item) -> bool}; a
    # customer's ticket names a service of their catalogue and an offering they may request (read through the
    # catalogue, never as records). Consulted by the services' reference check only; every other rule still applies
    linkable: dict[str, Callable[[Any, Any], bool]] = field(default_factory=dict)
    # links whose name everyone who reads the record reads, whether or not they may read the linked record (a ticket's
    # priority, assignment team and agreement, read by its customer): shown by name without a link (`policy.named_on`)
    named: frozenset[str] = frozenset()
    # reference data (a CI class, a relationship kind): a type without an organisation that everyone who may log in
    # reads, customer users included (`policy.tenant_filter` does not hide it from them); writes as declared
    reference_data: bool = False

    def __post_init__(self) -> None:
        area(self.area)  # refuses an unknown area
        defaults = {VIEW: STAFF, EXPORT: STAFF, ADD: ADMINS, CHANGE: ADMINS, DELETE: ADMINS}
        self.permissions = {**defaults, **{k: frozenset(v) for k, v in self.permissions.items()}}
        # an auditor reads and exports everything and changes nothing
        self.permissions[VIEW] = self.permissions[VIEW] | {Role.AUDITOR}
        if self.reference_data:
            if self.model.TENANT_FIELD is not None:
                raise ValueError(f"{self.label}: reference data belongs to no organisation (it has a TENANT_FIELD)")
            self.permissions[VIEW] = EVERYONE
        self.permissions[EXPORT] = self.permissions[EXPORT] | {Role.AUDITOR}
        for action in (ADD, CHANGE, DELETE):
            self.permissions[action] = self.permissions[action] - READ_ONLY_ROLES
        relations = {f.name for f in self.model._meta.get_fields() if f.concrete and f.is_relation}
        unknown = set(self.links) - relations
        if unknown:
            raise ValueError(f"{self.label}: links {sorted(unknown)} are not foreign keys or many-to-many fields")
        self.links = {name: Link(rule) for name, rule in self.links.items()}
        clash = set(self.computed) & {f.name for f in self.model._meta.get_fields()}
        if clash:
            raise ValueError(f"{self.label}: computed {sorted(clash)} clash with model fields")
        if self.custom_fields and "custom" not in {f.name for f in self.model._meta.get_fields()}:
            raise ValueError(
                f"{self.label}: custom_fields=True needs a `custom` JSONField (models.custom_values_field)"
            )
        if self.watchers is not None:
            self.watchers.check(self)
        for related in self.related:
            self.model._meta.get_field(related.name)  # FieldDoesNotExist at start-up, not on the first page
        for upload in self.uploads:
            if upload.field not in self.fields:
                raise ValueError(f"{self.label}: upload {upload.name} fills {upload.field}, not a field it writes")
        for child in self.children:
            if child.parent_model is not self.model:
                raise ValueError(f"{self.label}: child {child.name} is not linked to it by {child.fk}")
            self.prefetch_related = [*self.prefetch_related, *child.prefetches()]

    def computed_annotations(self) -> dict[str, Computed]:
        return {name: c for name, c in self.computed.items() if c.is_annotation}

    @property
    def label(self) -> str:
        """`core.organisation`: the type's name in audit events, search results and permissions."""
        return self.model._meta.label_lower

    @property
    def app_label(self) -> str:
        return self.model._meta.app_label

    @property
    def url_app(self) -> str:
        """`service-levels`: the app's path segment of pages and API (the app label, kebab-case)."""
        return self.app_label.replace("_", "-")

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


def find_label(label: str) -> RecordType | None:
    """The registered type of that label (`core.organisation`), as stored in a row that names a type; else None."""
    return next((rt for rt in _registry.values() if rt.label == label), None)


def all_types() -> list[RecordType]:
    return list(_registry.values())
