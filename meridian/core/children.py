"""Child records: rows that belong to one parent record and are created, edited and removed with it.

A record type declares them:

    RecordType(model=Calendar, ..., children=[
        Child(CalendarException, fk="calendar", fields=["date", "kind", "start", "end", "reason"],
              label="Closures and extra working days"),
    ])

and gets, with no code of its own:

- an inline table of rows on its form (a Django inline formset; "Add a row" and "Remove" per row),
- a nested list in its API representation and writes (`"exceptions": [{"id": 3, ...}, {...}]`: a row with an
  `id` is updated, one without is created, an existing row left out is removed; a write without the key leaves
  the rows as they are),
- validation of parent and rows together (one error anywhere writes nothing; messages name row and field:
  "Row 2, date: Enter a valid date."), the parent's tenancy and link rules for every link a row writes,
- audit as part of the parent's events and a version bump of the parent for every real change of a row, so a
  concurrent edit of the parent or of its rows is a 409 like any other.

Rows are written only through `write_children`, called by `services.create_record` and `services.update_record`
inside their transaction, after the parent's row is locked (the one lock order: the parent, then its rows).

The audit shape, under the child's `name` in the parent's event `changes`:

    "exceptions": {
        "added":   [{"id": 7, "values": {"date": "2026-12-24", "kind": "closed", ...}}],
        "changed": [{"id": 5, "values": {...after...}, "changes": {"reason": {"before": "X", "after": "Y"}}}],
        "removed": [{"id": 3, "values": {...before...}}],
    }

(only the non-empty lists; values as `audit.snapshot` stores them: linked records by id, dates in ISO format).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.text import capfirst

from meridian.core.registry import VIEW, Link

if TYPE_CHECKING:
    from meridian.core.registry import RecordType

ID = "id"


@dataclass(eq=False)
class Child:
    """Rows of `model` that belong to a parent record through the foreign key `fk`, edited with the parent.

    `fields` are the row's editable fields; `label` names the rows on pages and in the history ("Members");
    `name` is the key in the API and the audit trail (default: the foreign key's related name, e.g.
    `exceptions`); `links` overrides the tenancy rule of a link a row writes (default as for the parent's own
    links: a link to a record with an organisation stays within the parent's organisation); `extra` is the
    number of blank rows a form offers."""

    model: type[models.Model]
    fk: str
    fields: list[str]
    label: str = ""
    name: str = ""
    links: dict[str, Link] = field(default_factory=dict)
    extra: int = 1

    def __post_init__(self) -> None:
        fk = self.model._meta.get_field(self.fk)
        if not fk.many_to_one:
            raise ValueError(f"{self.model.__name__}.{self.fk} is not a foreign key")
        self.name = self.name or str(fk.remote_field.get_accessor_name())  # type: ignore[union-attr]
        self.label = self.label or capfirst(str(self.model._meta.verbose_name_plural))
        unknown = [name for name in self.fields if name == self.fk or not _is_field(self.model, name)]
        if unknown:
            raise ValueError(f"{self.model.__name__}: {unknown} are not editable fields of a row")
        self.links = {name: Link(rule) for name, rule in self.links.items()}

    @property
    def parent_model(self) -> type[models.Model]:
        return self.model._meta.get_field(self.fk).related_model  # type: ignore[return-value]

    def rows(self, parent: models.Model) -> models.QuerySet[Any]:
        """The parent's rows, in the model's ordering."""
        if parent.pk is None:
            return self.model._default_manager.none()
        return getattr(parent, self.name).all()  # type: ignore[no-any-return]

    def label_of(self, name: str) -> str:
        return str(self.model._meta.get_field(name).verbose_name)  # type: ignore[union-attr]

    def link_rules(self, parent_type: RecordType) -> dict[str, Link]:
        """The tenancy rule of every link a row writes: as `RecordType.link_rules` for the parent's own fields."""
        rules = {}
        for name in self.fields:
            model_field = self.model._meta.get_field(name)
            if not (model_field.concrete and model_field.is_relation):
                continue
            related_tenant = getattr(model_field.related_model, "TENANT_FIELD", None)
            owned = parent_type.tenant_field is not None and related_tenant is not None
            rules[name] = self.links.get(name, Link.SAME_ORGANISATION if owned else Link.ANY)
        return rules

    def prefetches(self) -> list[str]:
        """What a list of parents prefetches so that its rows and their links cost no query per row."""
        links = [name for name in self.fields if self.model._meta.get_field(name).many_to_one]
        return [self.name, *(f"{self.name}__{name}" for name in links)]


def _is_field(model: type[models.Model], name: str) -> bool:
    try:
        model_field = model._meta.get_field(name)
    except Exception:  # noqa: BLE001 - FieldDoesNotExist
        return False
    return bool(model_field.concrete and not model_field.many_to_many and not model_field.auto_created)


def values_of(child: Child, row: models.Model) -> dict[str, Any]:
    """A row's audited values (as `audit.snapshot` stores a record's)."""
    from meridian.core.audit import to_primitive

    return {name: to_primitive(getattr(row, row._meta.get_field(name).attname)) for name in child.fields}  # type: ignore[union-attr]


def row_error(number: int, label: str | None, message: str) -> str:
    """ "Row 2, date: Enter a valid date." — the one way an error of a row is said, on pages and in the API."""
    return f"Row {number}, {label}: {message}" if label else f"Row {number}: {message}"


def _error_lines(child: Child, number: int, exc: ValidationError) -> list[str]:
    lines: list[str] = []
    for name, messages in exc.message_dict.items():
        label = None if name == NON_FIELD_ERRORS or name not in child.fields else child.label_of(name)
        lines.extend(row_error(number, label, message) for message in messages)
    return lines


@dataclass
class _Plan:
    """What a write does to one child's rows, worked out and validated before anything is written."""

    child: Child
    removed: list[models.Model]
    saved: list[tuple[models.Model, dict[str, Any] | None, dict[str, Any]]]  # (row, values before or None, after)


def _plan(
    child: Child, parent_type: RecordType, parent: models.Model, rows: Any, actor: Any
) -> tuple[_Plan | None, list[str]]:
    from meridian.core import policy, registry

    if not isinstance(rows, list | tuple):
        return None, [f"A list of rows is expected, each an object with the fields {', '.join(child.fields)}."]
    existing = {row.pk: row for row in child.model._default_manager.select_for_update().filter(**{child.fk: parent.pk})}
    rules = {name: rule for name, rule in child.link_rules(parent_type).items() if rule != Link.ANY}
    parent_tenant = getattr(parent, "tenant_id", None)
    internal: set[int] | None = None
    errors: list[str] = []
    saved: list[tuple[models.Model, dict[str, Any] | None, dict[str, Any]]] = []
    numbered: list[tuple[int, models.Model]] = []
    kept: dict[Any, int] = {}
    for number, data in enumerate(rows, 1):
        if not isinstance(data, Mapping):
            errors.append(row_error(number, None, "a row is an object of fields."))
            continue
        unknown = [key for key in data if key != ID and key not in child.fields]
        errors.extend(row_error(number, key, "unknown field.") for key in unknown)
        pk = data.get(ID)
        if pk is not None:
            if pk not in existing:
                noun = parent._meta.verbose_name
                errors.append(row_error(number, None, f"there is no row {pk!r} in this {noun} to change."))
                continue
            if pk in kept:
                errors.append(row_error(number, None, f"row {pk} is given twice (also as row {kept[pk]})."))
                continue
            kept[pk] = number
            row = existing[pk]
            before: dict[str, Any] | None = values_of(child, row)
        else:
            row = child.model(**{child.fk: parent})
            before = None
        for name in child.fields:
            if name in data:
                setattr(row, name, data[name])
        for name in child.fields:
            value = getattr(row, name) if child.model._meta.get_field(name).is_relation else None
            if value is None:
                continue
            label = child.label_of(name)
            if registry.find(type(value)) is not None and not policy.can(actor, VIEW, value):
                errors.append(row_error(number, label, "Select a valid choice. That choice is not one of the choices."))
                continue
            rule = rules.get(name)
            if rule == Link.SAME_ORGANISATION and value.tenant_id != parent_tenant:
                plural = value._meta.verbose_name_plural
                errors.append(
                    row_error(
                        number,
                        label,
                        f"choose from the {plural} of this {parent._meta.verbose_name}'s own organisation.",
                    )
                )
            elif rule == Link.INTERNAL:
                if internal is None:
                    from meridian.core.choices import OrganisationKind
                    from meridian.core.models import Organisation

                    internal = set(
                        Organisation.objects.filter(kind=OrganisationKind.INTERNAL).values_list("pk", flat=True)
                    )
                if value.tenant_id not in internal:
                    errors.append(row_error(number, label, "choose from the provider's own (internal) records."))
        try:
            row.full_clean(
                exclude=[child.fk, "created_by", "updated_by", "reference"],
                validate_unique=False,
                validate_constraints=False,
            )
        except ValidationError as exc:
            errors.extend(_error_lines(child, number, exc))
        saved.append((row, before, values_of(child, row)))
        numbered.append((number, row))
    errors.extend(_duplicates(child, numbered))
    removed = [row for pk, row in existing.items() if pk not in kept]
    return _Plan(child, removed, saved), errors


def _duplicates(child: Child, rows: list[tuple[int, models.Model]]) -> list[str]:
    """Rows that would break a unique constraint of the child among themselves (two closures on one day, one
    person twice in a team), said on the later row and its first field of the constraint."""
    meta = child.model._meta
    groups = [list(c.fields) for c in meta.constraints if isinstance(c, models.UniqueConstraint) and c.fields]
    groups += [list(names) for names in meta.unique_together]
    errors = []
    for names in groups:
        if child.fk not in names:
            continue
        others = [name for name in names if name != child.fk]
        if not others or not set(others) <= set(child.fields):
            continue
        seen: dict[tuple[Any, ...], int] = {}
        for number, row in rows:
            key = tuple(getattr(row, meta.get_field(name).attname) for name in others)  # type: ignore[union-attr]
            if any(value is None for value in key):
                continue
            if key in seen:
                label = child.label_of(others[0])
                errors.append(row_error(number, label, f"the same {label} as row {seen[key]}; each only once."))
            else:
                seen[key] = number
    return errors


def write_children(
    parent_type: RecordType, parent: models.Model, data: Mapping[str, Any], actor: Any
) -> dict[str, Any]:
    """Create, change and remove the rows of every child named in `data` (name -> list of row dicts: field values,
    and `id` for an existing row), all validated first: any error raises one `ValidationError` naming row and
    field under the child's name, and nothing is written. Returns the audit changes (see the module's doc), only
    for children whose rows really changed. Called inside the parent's transaction, the parent's row locked."""
    plans, errors = [], {}
    for child in parent_type.children:
        if child.name not in data:
            continue
        plan, messages = _plan(child, parent_type, parent, data[child.name], actor)
        if messages:
            errors[child.name] = messages
        elif plan is not None:
            plans.append(plan)
    if errors:
        raise ValidationError(errors)
    changes: dict[str, Any] = {}
    for plan in plans:
        try:
            with transaction.atomic():  # a savepoint: a refused write leaves the transaction usable, to roll back
                change = _write(plan, actor)
        except IntegrityError as exc:
            # rows that trade a unique value (two exceptions swapping their dates) collide while being saved
            raise ValidationError(
                {
                    plan.child.name: [
                        f"{plan.child.label}: two rows would share a value that must be unique while "
                        "saving; change one of them first, save, then the other."
                    ]
                }
            ) from exc
        if change:
            changes[plan.child.name] = change
    return changes


def _write(plan: _Plan, actor: Any) -> dict[str, list[dict[str, Any]]]:
    from meridian.core.audit import diff

    removed = [{"id": row.pk, "values": values_of(plan.child, row)} for row in plan.removed]
    for row in plan.removed:
        row.delete()
    added, changed = [], []
    now = timezone.now()
    tracked = {f.name for f in plan.child.model._meta.concrete_fields}
    for row, before, after in plan.saved:
        if before is not None and before == after:
            continue
        if "updated_by" in tracked:
            row.updated_by, row.updated_at = actor, now  # type: ignore[attr-defined]
        if before is None:
            if "created_by" in tracked:
                row.created_by = actor  # type: ignore[attr-defined]
            row.save(force_insert=True)
            added.append({"id": row.pk, "values": after})
        else:
            if "version" in tracked:
                row.version += 1  # type: ignore[attr-defined]
            row.save()
            changed.append({"id": row.pk, "values": after, "changes": diff(before, after)})
    change = {"added": added, "changed": changed, "removed": removed}
    return {key: value for key, value in change.items() if value}


def removed_with(parent_type: RecordType, parent: models.Model) -> dict[str, Any]:
    """The rows that go with a deleted parent, as its delete event records them."""
    changes = {}
    for child in parent_type.children:
        rows = [{"id": row.pk, "values": values_of(child, row)} for row in child.rows(parent)]
        if rows:
            changes[child.name] = {"removed": rows}
    return changes


# --- history: the rows' changes as people read them ------------------------------------------------------------


def readable(parent_type: RecordType, events: Iterable[Any], user: Any) -> dict[int, list[tuple[str, Any, Any]]]:
    """Per event id, the rows of its children's changes as the History tab shows them: (label, before, after),
    with linked records named as `policy.shown` names them and choices by label. One query per linked type."""
    from meridian.core import policy, registry

    children = {child.name: child for child in parent_type.children}
    wanted: dict[type[models.Model], set[Any]] = {}
    entries = []
    for event in events:
        for name, change in event.changes.items():
            child = children.get(name)
            if child is None or not isinstance(change, dict):
                continue
            entries.append((event, child, change))
            for kind in ("added", "changed", "removed"):
                for item in change.get(kind, []):
                    for value_name, value in (item.get("values") or {}).items():
                        related = _related(child, value_name)
                        if related is not None and value is not None:
                            wanted.setdefault(related, set()).add(value)
                    for value_name, pair in (item.get("changes") or {}).items():
                        related = _related(child, value_name)
                        if related is not None:
                            wanted.setdefault(related, set()).update(
                                v for v in (pair.get("before"), pair.get("after")) if v is not None
                            )
    found = {
        related: related._default_manager.in_bulk(list(ids)) if registry.find(related) else {}
        for related, ids in wanted.items()
    }

    def show(child: Child, name: str, value: Any) -> Any:
        if value is None or value == "":
            return None
        try:
            model_field = child.model._meta.get_field(name)
        except Exception:  # noqa: BLE001 - a field since removed
            return value
        related = _related(child, name)
        if related is not None:
            record = found.get(related, {}).get(value)
            return f"#{value}" if record is None else policy.shown(user, record)
        if model_field.choices:  # type: ignore[union-attr]
            return dict(model_field.flatchoices).get(value, value)  # type: ignore[union-attr]
        if isinstance(value, bool):
            return "yes" if value else "no"
        return value

    def summary(child: Child, values: Mapping[str, Any]) -> str:
        shown = (show(child, name, values.get(name)) for name in child.fields)
        return " · ".join(str(value) for value in shown if value not in (None, ""))

    result: dict[int, list[tuple[str, Any, Any]]] = {}
    for event, child, change in entries:
        rows = result.setdefault(event.pk, [])
        for item in change.get("added", []):
            rows.append((f"{child.label}: row added", None, summary(child, item.get("values") or {})))
        for item in change.get("changed", []):
            row = summary(child, item.get("values") or {})
            for name, pair in (item.get("changes") or {}).items():
                label = f"{child.label} ({row}): {child.label_of(name) if _is_field(child.model, name) else name}"
                rows.append((label, show(child, name, pair.get("before")), show(child, name, pair.get("after"))))
        for item in change.get("removed", []):
            rows.append((f"{child.label}: row removed", summary(child, item.get("values") or {}), None))
    return result


def _related(child: Child, name: str) -> type[models.Model] | None:
    try:
        model_field = child.model._meta.get_field(name)
    except Exception:  # noqa: BLE001 - a field since removed
        return None
    return model_field.related_model if model_field.is_relation else None  # type: ignore[return-value]
