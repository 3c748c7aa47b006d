"""What a delete would do, said before it is tried: the delete page's dry run.

`delete_preview(obj, user)` runs Django's deletion `Collector` without deleting anything (as the admin's
`NestedObjects` does) and returns what blocks the delete (the type's `delete_refusal`, and the records that
still refer to it through a protected or restricted link) and what would be deleted with it (cascades). Records
are named only when the reader may see them; the rest are counted."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import router
from django.db.models import Model, ProtectedError, QuerySet, RestrictedError
from django.db.models.deletion import Collector

from meridian.core import policy, registry
from meridian.core.registry import VIEW

SHOWN_PER_TYPE = 5  # records named (with a link) per type; the others are counted


@dataclass
class RecordGroup:
    """Records of one type: how many, the first few the reader may see (name, url), and how many are left."""

    model: type[Model]
    count: int
    shown: list[tuple[str, str]] = field(default_factory=list)

    @property
    def noun(self) -> str:
        meta = self.model._meta
        return str(meta.verbose_name if self.count == 1 else meta.verbose_name_plural)

    @property
    def more(self) -> int:
        return self.count - len(self.shown)

    def __str__(self) -> str:
        return f"{self.count} {self.noun}"


@dataclass
class DeletePreview:
    refusal: str | None
    blockers: list[RecordGroup]
    cascades: list[RecordGroup]
    # records that keep existing but lose their link to it (a SET_NULL link): (the records, the link's label)
    unlinked: list[tuple[RecordGroup, str]] = field(default_factory=list)

    @property
    def blocked(self) -> bool:
        return bool(self.refusal or self.blockers)

    @property
    def blocked_by(self) -> str:
        """ "3 people, 1 team"."""
        return ", ".join(str(group) for group in self.blockers)


def _groups(records: Any, user: Any) -> list[RecordGroup]:
    by_model: dict[type[Model], list[Model]] = {}
    for record in records:
        by_model.setdefault(type(record), []).append(record)
    groups = []
    for model, items in by_model.items():
        group = RecordGroup(model, len(items))
        if registry.find(model) is not None:
            for record in sorted(items, key=lambda r: r.pk):
                if len(group.shown) == SHOWN_PER_TYPE:
                    break
                if policy.can(user, VIEW, record):
                    url = getattr(record, "get_absolute_url", lambda: "")()
                    group.shown.append((policy.name_of(user, record), str(url)))
        groups.append(group)
    return sorted(groups, key=lambda g: str(g.model._meta.verbose_name_plural))


def delete_preview(obj: Model, user: Any) -> DeletePreview:
    """A dry run of deleting `obj`: nothing is deleted."""
    rt = registry.find(type(obj))
    refusal = rt.delete_refusal(obj) if rt is not None and rt.delete_refusal is not None else None
    collector = Collector(using=router.db_for_write(type(obj)), origin=obj)
    blockers: list[RecordGroup] = []
    try:
        collector.collect([obj])
    except ProtectedError as exc:
        blockers = _groups(exc.protected_objects, user)
    except RestrictedError as exc:
        blockers = _groups(exc.restricted_objects, user)
    cascades: list[RecordGroup] = []
    if not blockers:
        doomed = [
            record
            for model, records in collector.data.items()
            if not model._meta.auto_created  # the rows of a many-to-many table: links, not records
            for record in records
            if record != obj
        ]
        cascades = _groups(doomed, user)
        for queryset in collector.fast_deletes:
            model = queryset.model
            if model._meta.auto_created:
                continue
            count = queryset.count()
            if count:
                cascades += _groups(list(queryset[:200]), user) if count <= 200 else [RecordGroup(model, count)]
    unlinked = []
    if not blockers:
        for (link, _value), batches in collector.field_updates.items():
            records: list[Model] = []
            for batch in batches:
                batch_any: Any = batch
                records += list(batch_any[:200] if isinstance(batch_any, QuerySet) else batch_any)
            if records and not link.model._meta.auto_created:
                unlinked += [(group, str(link.verbose_name)) for group in _groups(records, user)]
    return DeletePreview(refusal=refusal, blockers=blockers, cascades=cascades, unlinked=unlinked)
