"""Links between records: typed, declared per pair of types with their meaning in both directions, in code, by the
app that owns the types (like lifecycles).

    register_link_type(LinkType("caused_by", source=Incident, target=Change, forward="caused by", reverse="caused"))

- A type opts in with `RecordType(record_links=True)`: its page gets a Links tab (list, add, remove), its API
  `GET/POST /api/v1/<app>/<plural>/{id}/links/` and `DELETE .../links/{link_id}/`.
- `source=None` / `target=None`: any type that opts in; `same_type=True`: both ends of one type. Core declares
  `relates_to` (any two records, the same wording both ways) and `duplicate_of` (two records of one type).
- Links are made and removed by `services.link_records` / `services.unlink_records` only (both ends visible to
  the person linking, an audit event on both records, neither record's version bumped).
- They are a relation: `linked(obj, "caused_by", model=Change)` is a queryset of the records linked to `obj`,
  `links_of(obj)` the `RecordLink` rows of a record from either end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django import forms
from django.db.models import Model, Q, QuerySet
from django.urls import reverse

from meridian.core import policy, registry
from meridian.core.registry import CHANGE, VIEW

if TYPE_CHECKING:
    from meridian.core.models import RecordLink

FORWARD, REVERSE = "forward", "reverse"
DIRECTIONS = (FORWARD, REVERSE)
NOT_FOUND = "Select a valid choice. That choice is not one of the available choices."  # missing or invisible alike


@dataclass(frozen=True)
class LinkType:
    """One kind of link: `forward` is how the source names it ("caused by"), `reverse` how the target does
    ("caused"). `source`/`target` None: any type that opts into links; `same_type`: both ends of one type."""

    name: str
    forward: str
    reverse: str
    source: type[Model] | None = None
    target: type[Model] | None = None
    same_type: bool = False
    help_text: str = ""

    @property
    def symmetric(self) -> bool:
        """The same meaning both ways (relates to): one link whichever end it was made from."""
        return self.forward == self.reverse and self.source is self.target

    def allows(self, source: type[Model], target: type[Model]) -> bool:
        if self.source is not None and source is not self.source:
            return False
        if self.target is not None and target is not self.target:
            return False
        return not self.same_type or source is target

    def wording(self, direction: str) -> str:
        return self.forward if direction == FORWARD else self.reverse


RELATES_TO = LinkType("relates_to", "relates to", "relates to", help_text="Any two records that belong together.")
DUPLICATE_OF = LinkType(
    "duplicate_of", "duplicate of", "duplicated by", same_type=True, help_text="The same thing recorded twice."
)

_link_types: dict[str, LinkType] = {}


def register_link_type(link_type: LinkType) -> LinkType:
    """Declare a link type (from an app's `records.py`, once at start-up)."""
    if link_type.name in _link_types:
        raise ValueError(f"link type {link_type.name!r} is registered twice")
    if not link_type.name.isidentifier() or len(link_type.name) > 50:
        raise ValueError(f"link type name {link_type.name!r}: letters, digits and underscores, at most 50")
    _link_types[link_type.name] = link_type
    return link_type


def link_types() -> list[LinkType]:
    return list(_link_types.values())


def find_link_type(name: str) -> LinkType | None:
    return _link_types.get(name)


def linking_types() -> list[registry.RecordType]:
    """The record types that opt into links."""
    return [rt for rt in registry.all_types() if rt.record_links]


def type_by_label(label: str) -> registry.RecordType | None:
    return next((rt for rt in linking_types() if rt.label == label), None)


@dataclass(frozen=True)
class LinkChoice:
    """One way to link a record of a type: a link type, a direction, the type at the other end."""

    link_type: LinkType
    direction: str
    other: registry.RecordType

    @property
    def value(self) -> str:
        return f"{self.link_type.name}:{self.direction}:{self.other.label}"

    @property
    def label(self) -> str:
        return f"{self.link_type.wording(self.direction)} — {self.other.verbose_name}"


def choices_for(record_type: registry.RecordType, user: Any) -> list[LinkChoice]:
    """Every (link type, direction, other type) a record of this type may be linked by, to types `user` may see."""
    found = []
    others = [rt for rt in linking_types() if policy.has_role_permission(user, VIEW, rt.model)]
    for link_type in link_types():
        for direction in DIRECTIONS:
            if direction == REVERSE and link_type.symmetric:
                continue
            for other in others:
                source, target = (
                    (record_type.model, other.model) if direction == FORWARD else (other.model, record_type.model)
                )
                if link_type.allows(source, target):
                    found.append(LinkChoice(link_type, direction, other))
    return found


def parse_choice(value: str) -> tuple[str, str, str]:
    """`caused_by:forward:core.change` -> (type, direction, other type's label); missing parts are ''."""
    parts = [*(value or "").split(":", 2), "", "", ""]
    return parts[0], parts[1], parts[2]


# --- the relation ------------------------------------------------------------------------------------------------


def _end(obj: Model) -> tuple[str, int]:
    return obj._meta.label_lower, int(obj.pk)


def links_of(obj: Model) -> QuerySet[RecordLink]:
    """The links of a record, from either end, newest first."""
    from meridian.core.models import RecordLink

    label, pk = _end(obj)
    return RecordLink.objects.filter(Q(source_type=label, source_id=pk) | Q(target_type=label, target_id=pk))


def linked(obj: Model, link_type: str | None = None, *, model: type[Model], direction: str | None = None) -> QuerySet:
    """The records of `model` linked to `obj` (by `link_type`, or any): a queryset to join, filter and restrict
    further (`policy.restrict(linked(...), user)`). `direction` FORWARD: the targets of the links `obj` is the
    source of ("caused by" these); REVERSE: the sources of the links pointing at `obj`; None: both."""
    from meridian.core.models import RecordLink

    label, pk = _end(obj)
    other = model._meta.label_lower
    rows = RecordLink.objects.all() if link_type is None else RecordLink.objects.filter(link_type=link_type)
    condition = Q()
    if direction in (None, FORWARD):
        condition |= Q(pk__in=rows.filter(source_type=label, source_id=pk, target_type=other).values("target_id"))
    if direction in (None, REVERSE):
        condition |= Q(pk__in=rows.filter(target_type=label, target_id=pk, source_type=other).values("source_id"))
    return model._default_manager.filter(condition)


@dataclass
class LinkRow:
    """A link as one reader sees it from one of its records: the wording of its direction, the other record (or
    "hidden": no name, no type, no address)."""

    link: RecordLink
    direction: str
    wording: str
    other_type: str | None  # the other type's label, None when hidden
    other_type_name: str
    other_id: int | None
    name: str
    url: str
    visible: bool

    def as_api(self) -> dict[str, Any]:
        return {
            "id": self.link.pk,
            "type": self.link.link_type,
            "direction": self.direction,
            "meaning": self.wording,
            "record_type": self.other_type,
            "record": self.other_id,
            "display": self.name,
            "created_at": self.link.created_at,
            "created_by": self.link.created_by.get_username() if self.link.created_by else None,
        }


def rows_for(obj: Model, user: Any, links: list[RecordLink] | None = None) -> list[LinkRow]:
    """The links of `obj` as `user` sees them: one query for the links, one per type at the other ends."""
    label, pk = _end(obj)
    links = list(links_of(obj).select_related("created_by")) if links is None else links
    wanted: dict[str, set[int]] = {}
    for link in links:
        other_type, other_id = _other(link, label, pk)
        wanted.setdefault(other_type, set()).add(other_id)
    found: dict[str, dict[Any, Any]] = {}
    for other_type, ids in wanted.items():
        rt = next((t for t in registry.all_types() if t.label == other_type), None)
        found[other_type] = rt.model._default_manager.in_bulk(list(ids)) if rt else {}
    rows = []
    for link in links:
        other_type, other_id = _other(link, label, pk)
        direction = FORWARD if (link.source_type, link.source_id) == (label, pk) else REVERSE
        declared = find_link_type(link.link_type)
        wording = declared.wording(direction) if declared else link.link_type.replace("_", " ")
        other = found.get(other_type, {}).get(other_id)
        if other is None:
            continue  # the other record is gone (its links go with it) or its type is no longer registered
        visible = policy.can(user, VIEW, other)
        rows.append(
            LinkRow(
                link=link,
                direction=direction,
                wording=wording,
                other_type=other_type if visible else None,
                other_type_name=str(other._meta.verbose_name) if visible else "",
                other_id=other_id if visible else None,
                name=policy.name_of(user, other) if visible else policy.HIDDEN,
                url=getattr(other, "get_absolute_url", lambda: "")() if visible else "",
                visible=visible,
            )
        )
    return rows


def _other(link: RecordLink, label: str, pk: int) -> tuple[str, int]:
    if (link.source_type, link.source_id) == (label, pk):
        return link.target_type, int(link.target_id)
    return link.source_type, int(link.source_id)


def audit_value(link: RecordLink, direction: str) -> dict[str, Any]:
    """What an audit event of one end records about a link: ids only (names are resolved for each reader)."""
    forward = direction == FORWARD
    return {
        "id": link.pk,
        "type": link.link_type,
        "direction": direction,
        "record_type": link.target_type if forward else link.source_type,
        "record_id": int(link.target_id if forward else link.source_id),
    }


def _other_record(value: dict[str, Any], found: Others | None = None) -> Model | None:
    key = (str(value.get("record_type")), value.get("record_id"))
    if found is not None:
        return found.get(key)
    rt = next((t for t in registry.all_types() if t.label == key[0]), None)
    return rt.model._default_manager.filter(pk=key[1]).first() if rt else None


Others = dict[tuple[str, Any], Model]


def load_others(values: list[Any]) -> Others:
    """The other records named by audit link values, one query per type (a history page names each once)."""
    wanted: dict[str, set[Any]] = {}
    for value in values:
        if isinstance(value, dict):
            wanted.setdefault(str(value.get("record_type")), set()).add(value.get("record_id"))
    found: Others = {}
    for rt in registry.all_types():
        if rt.label in wanted:
            for pk, record in rt.model._default_manager.in_bulk(list(wanted[rt.label])).items():
                found[(rt.label, pk)] = record
    return found


def shown_value(value: Any, user: Any) -> Any:
    """An audit event's link value for the history API: with the other record's `display`; when the reader may
    not see it (or it is gone), "hidden" and no type or id."""
    if not isinstance(value, dict):
        return value
    other = _other_record(value)
    if other is None or not policy.can(user, VIEW, other):
        return {**value, "record_type": None, "record_id": None, "display": policy.HIDDEN}
    return {**value, "display": policy.name_of(user, other)}


def describe(value: Any, user: Any, found: Others | None = None) -> str | None:
    """An audit event's link value as `user` may read it: "caused by INC-000012", or "caused by hidden". `found`:
    the other records already loaded (`load_others`), else one query."""
    if not isinstance(value, dict):
        return None
    declared = find_link_type(str(value.get("type")))
    wording = declared.wording(str(value.get("direction"))) if declared else str(value.get("type"))
    other = _other_record(value, found)
    return f"{wording} {policy.shown(user, other) if other is not None else 'a deleted record'}"


# --- the page ------------------------------------------------------------------------------------------------------


class LinkForm(forms.Form):
    """Add a link from a record's page: the kind of link (type, direction and the other record's type in one
    choice), then the other record, found by a search among the records of that type the person may see."""

    link = forms.ChoiceField(label="Link")
    q = forms.CharField(label="Find the record", required=False, max_length=200)
    record = forms.IntegerField(label="Record", min_value=1, error_messages={"required": "Choose the record to link."})

    def __init__(self, *args: Any, obj: Model, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = choices_for(registry.get(type(obj)), user)
        link_field: Any = self.fields["link"]
        link_field.choices = [(c.value, c.label) for c in choices]
        for field in self.fields.values():
            field.widget.attrs.setdefault(
                "class", "form-select" if isinstance(field, forms.ChoiceField) else "form-control"
            )


def tab_context(obj: Model, user: Any, form: LinkForm | None = None) -> dict[str, Any]:
    rt = registry.get(type(obj))
    may_link = policy.can(user, CHANGE, obj)
    if may_link and form is None:
        form = LinkForm(obj=obj, user=user)
    bound = form is not None and form.is_bound
    return {
        "link_candidates": candidates(obj, user, str(form["link"].value()), str(form["q"].value() or ""))
        if bound and form is not None
        else None,
        "link_chosen": str(form["record"].value()) if bound and form is not None else "",
        "link_rows": rows_for(obj, user),
        "may_link": may_link,
        "link_form": form if may_link else None,
        "links_url": reverse(rt.url_name("links"), args=[obj.pk]),
        "link_candidates_url": reverse(rt.url_name("link_candidates"), args=[obj.pk]),
    }


def candidates(obj: Model, user: Any, choice: str, query: str, limit: int = 20) -> list[tuple[int, str]]:
    """Records the person may see and could link `obj` to by `choice`, matching `query` (in the other type's
    search fields, its reference, or its id): (id, name) pairs, at most `limit`."""
    from meridian.core.querysets import natural_order, records_for

    _name, _direction, other_label = parse_choice(choice)
    other_rt = type_by_label(other_label)
    if other_rt is None or not policy.has_role_permission(user, VIEW, other_rt.model):
        return []
    queryset = records_for(other_rt, user, VIEW)
    if type(obj) is other_rt.model:
        queryset = queryset.exclude(pk=obj.pk)
    link_type = find_link_type(_name)
    if link_type is not None:  # not the records it is already linked to by this type
        queryset = queryset.exclude(pk__in=linked(obj, link_type.name, model=other_rt.model).values("pk"))
    query = query.strip()
    if query:
        condition = Q()
        for name in other_rt.search_fields:
            condition |= Q(**{f"{name}__icontains": query})
        if any(f.name == "reference" for f in other_rt.model._meta.get_fields()):
            condition |= Q(reference__iexact=query)
        if query.isdigit():
            condition |= Q(pk=int(query))
        queryset = queryset.filter(condition)
    return [(record.pk, policy.name_of(user, record)) for record in natural_order(queryset)[:limit]]
