"""Configuration baselines: immutable snapshots of a set of CIs, taken on demand, on a schedule or by another app,
and their comparison with each other or with the present.

**What a baseline records.** For every CI in scope one `BaselineItem` row holds a JSON object:

    {"f": {"name": "erp-app", "ci_class": [4, "Application"], "status": "live", "location": null, ...},
     "c": {"serial_number": "SN-1", ...},                       # custom attributes, as stored
     "r": [[kind_id, target_id, "depends on db-01 (CI-000012)"], ...],   # its relationships to other CIs
     "g": [[group_ci_id, "db-cluster (CI-000020)"], ...],        # the redundancy groups it is a member of
     "k": 2}                                                     # for a group's CI: members required up

A linked record is kept as `[id, name at that moment]`: the comparison judges ids (a renamed location is not a
change of the CI) and shows names, those of the baseline for "before", those of the other side for "after".
Relationships are kept with their source (a CI's outgoing relationships; an incoming one is recorded with the CI it
comes from, when that CI is in scope). One row per CI, written by `bulk_create` in batches of `BATCH` CIs, each
batch read with a handful of queries whatever its size: 10,000 CIs are 10 batches.

**Scope** (`Scoped`): a CI and everything it depends on (`impact.analyse(..., DEPENDENCIES)`), a class and its
subclasses, a saved view of the CI list (its filters, as the person taking the baseline may use them), or every CI.

**Immutable**: no role has the change permission of a baseline, and `Baseline.save` / `BaselineItem.save` refuse an
update whoever calls (the system actor too). Administrators may delete one (the generic delete, audited).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import QueryDict
from django.utils import timezone
from django.utils.text import capfirst

from meridian.cmdb import impact
from meridian.cmdb.choices import BaselineScope, ScheduleFrequency
from meridian.cmdb.models import (
    Baseline,
    BaselineItem,
    BaselineSchedule,
    ConfigurationItem,
    RedundancyGroup,
    Relationship,
    Scoped,
    descendant_class_ids,
)
from meridian.core import custom_fields, policy, registry
from meridian.core.models import SavedView
from meridian.core.registry import VIEW

BATCH = 1000


def field_of(name: str) -> Any:
    """A model field of a CI (typed loosely: `get_field` may also answer a reverse relation)."""
    return ConfigurationItem._meta.get_field(name)


# the CI's own fields a baseline records, in the order a comparison lists them
FIELDS = [
    "name",
    "ci_class",
    "status",
    "organisation",
    "description",
    "ci_version",
    "location",
    "owner_person",
    "owner_team",
    "support_team",
    "criticality",
    "confidentiality",
    "integrity",
    "availability",
    "configuration_policy",
]
LINKED = [
    name for name in FIELDS if field_of(name).is_relation
]  # ci_class, organisation, location, owners, support team
PRESENT = "present"


# --- scope -------------------------------------------------------------------------------------------------------


def _view_of(scoped: Scoped, actor: Any) -> SavedView:
    from meridian.core import saved_views

    rt = registry.get(ConfigurationItem)
    view = (
        SavedView.objects.filter(pk=scoped.scope_view_id or 0, record_type=rt.label).first()
        if policy.is_system(actor)  # a scheduled baseline: the view as its owner saved it
        else saved_views.find_view(actor, rt, scoped.scope_view_id)
    )
    if view is None:
        raise ValidationError({"scope_view": "Choose a saved view of the CI list that you may open."})
    return view


def ids_in_scope(scoped: Scoped, actor: Any) -> list[int]:
    """The ids of the CIs `scoped` covers now, among those `actor` may see (ValidationError on the scope's field
    when it cannot be used: a saved view the actor may not open, filters that no longer apply)."""
    from meridian.core.filtersets import filterset_for
    from meridian.core.querysets import records_for

    visible = policy.restrict(ConfigurationItem.objects.all(), actor)
    if scoped.scope == BaselineScope.DEPENDENCIES:
        if scoped.scope_ci_id is None:
            raise ValidationError({"scope_ci": "Choose a CI."})
        reached = impact.analyse([scoped.scope_ci_id], impact.DEPENDENCIES).reached
        return sorted(visible.filter(pk__in=list(reached)).values_list("pk", flat=True))
    if scoped.scope == BaselineScope.CI_CLASS:
        if scoped.scope_class_id is None:
            raise ValidationError({"scope_class": "Choose a CI class."})
        classes = descendant_class_ids({scoped.scope_class_id})
        return sorted(visible.filter(ci_class_id__in=classes).values_list("pk", flat=True))
    if scoped.scope == BaselineScope.VIEW:
        view = _view_of(scoped, actor)
        rt = registry.get(ConfigurationItem)
        filters = filterset_for(rt)(
            QueryDict(view.query), queryset=records_for(rt, actor, VIEW), request=SimpleNamespace(user=actor)
        )
        if not filters.is_valid():
            raise ValidationError({"scope_view": f"The view's filters no longer apply: {filters.errors.as_text()}"})
        return sorted(filters.qs.values_list("pk", flat=True))
    return sorted(visible.values_list("pk", flat=True))


def check_schedule(schedule: BaselineSchedule, actor: Any, changes: dict[str, Any]) -> None:
    """`after_save` of a baseline schedule: its saved view is one the person who sets it may open (the schedule
    runs as the system actor, which would otherwise open anybody's)."""
    if schedule.scope == BaselineScope.VIEW and {"scope", "scope_view"} & set(changes):
        _view_of(schedule, actor)


# --- capture -----------------------------------------------------------------------------------------------------


@dataclass
class Captured:
    ci_id: int
    reference: str
    name: str
    data: dict[str, Any]


def _named(obj: Any) -> list[Any] | None:
    return None if obj is None else [obj.pk, str(obj)]


def capture(ids: Iterable[int]) -> Iterator[Captured]:
    """The CIs of these ids as a baseline records them (see the module's docstring), in batches of `BATCH`: per
    batch one query for the CIs with their linked records, one for their relationships, one for their groups'
    memberships and one for the groups they stand for."""
    ids = list(ids)
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        relations: dict[int, list[list[Any]]] = {}
        for source, kind, label, target, name, reference in (
            Relationship.objects.filter(source_id__in=chunk)
            .order_by("kind_id", "target_id")
            .values_list(
                "source_id", "kind_id", "kind__forward_label", "target_id", "target__name", "target__reference"
            )
        ):
            relations.setdefault(source, []).append([kind, target, f"{label} {name} ({reference})"])
        groups: dict[int, list[list[Any]]] = {}
        for member, group_ci, name, reference in (
            RedundancyGroup.members.through.objects.filter(configurationitem_id__in=chunk)
            .order_by("redundancygroup__ci_id")
            .values_list(
                "configurationitem_id",
                "redundancygroup__ci_id",
                "redundancygroup__ci__name",
                "redundancygroup__ci__reference",
            )
        ):
            groups.setdefault(member, []).append([group_ci, f"{name} ({reference})"])
        required = dict(RedundancyGroup.objects.filter(ci_id__in=chunk).values_list("ci_id", "required_up"))
        for ci in ConfigurationItem.objects.filter(pk__in=chunk).select_related(*LINKED).order_by("pk"):
            values: dict[str, Any] = {}
            for name in FIELDS:
                values[name] = _named(getattr(ci, name)) if name in LINKED else getattr(ci, name)
            data: dict[str, Any] = {"f": values, "c": dict(ci.custom or {})}
            data["r"] = relations.get(ci.pk, [])
            data["g"] = groups.get(ci.pk, [])
            if ci.pk in required:
                data["k"] = required[ci.pk]
            yield Captured(ci.pk, ci.reference, ci.name, data)


def store_snapshot(baseline: Baseline, actor: Any, changes: dict[str, Any]) -> None:
    """`after_save` of a baseline: on its creation (the one write a baseline gets), record its CIs. Inside the
    creating transaction: a scope that cannot be used refuses the baseline and nothing is written."""
    if baseline.version != 1 or baseline.items.exists():
        return
    ids = ids_in_scope(baseline, actor)
    rows = (
        BaselineItem(baseline=baseline, ci_id=c.ci_id, reference=c.reference, name=c.name, data=c.data)
        for c in capture(ids)
    )
    batch: list[BaselineItem] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            BaselineItem.objects.bulk_create(batch)
            batch = []
    BaselineItem.objects.bulk_create(batch)
    # the counters of the record itself, set once by its creation (a queryset update: `save` refuses updates)
    Baseline.objects.filter(pk=baseline.pk).update(item_count=len(ids), scope_description=baseline.scope_text())
    baseline.item_count, baseline.scope_description = len(ids), baseline.scope_text()


def take_baseline(
    name: str,
    *,
    scope: str,
    actor: Any,
    ci: ConfigurationItem | None = None,
    ci_class: Any = None,
    view: SavedView | None = None,
    description: str = "",
    reason: str = "",
    schedule: BaselineSchedule | None = None,
) -> Baseline:
    """Take a baseline now, for any caller (the release app before a deployment, a schedule, a script):
    `take_baseline("Before REL-000012", scope=BaselineScope.DEPENDENCIES, ci=payroll, actor=user, reason=...)`.
    Through `services.create_record` (permission, validation, reference, audit event with the reason), whose
    `after_save` records the CIs in the same transaction."""
    from meridian.core import services

    data = {
        "name": name,
        "description": description,
        "scope": scope,
        "scope_ci": ci,
        "scope_class": ci_class,
        "scope_view": view,
    }
    with transaction.atomic():
        baseline = services.create_record(Baseline, data=data, actor=actor, reason=reason)
        if schedule is not None:
            Baseline.objects.filter(pk=baseline.pk).update(schedule=schedule)
            baseline.schedule = schedule
    return baseline


# --- schedules ---------------------------------------------------------------------------------------------------

PERIODS = {
    ScheduleFrequency.DAILY: dt.timedelta(days=1),
    ScheduleFrequency.WEEKLY: dt.timedelta(days=7),
    ScheduleFrequency.MONTHLY: dt.timedelta(days=30),
}
SLACK = dt.timedelta(hours=1)  # the task runs hourly: a daily schedule does not slip an hour a day


def due_schedules(now: dt.datetime | None = None) -> list[BaselineSchedule]:
    """The active schedules whose last baseline is older than their period (or that have none)."""
    now = now or timezone.now()
    due = []
    for schedule in BaselineSchedule.objects.filter(active=True).order_by("pk"):
        last = schedule.baselines.order_by("-created_at").values_list("created_at", flat=True).first()
        if last is None or now - last >= PERIODS[ScheduleFrequency(schedule.frequency)] - SLACK:
            due.append(schedule)
    return due


def take_scheduled(*, actor: Any, now: dt.datetime | None = None) -> list[Baseline]:
    """Take a baseline of every schedule that is due, as `actor` (the system actor in the periodic task). A
    schedule whose scope no longer works (its CI or view deleted) is skipped and logged, the others go on."""
    import logging

    now = now or timezone.now()
    taken = []
    for schedule in due_schedules(now):
        try:
            taken.append(
                take_baseline(
                    f"{schedule.name} {timezone.localtime(now):%Y-%m-%d %H:%M}",
                    scope=schedule.scope,
                    ci=schedule.scope_ci,
                    ci_class=schedule.scope_class,
                    view=schedule.scope_view,
                    actor=actor,
                    reason=f"scheduled ({schedule.get_frequency_display().lower()}): {schedule.name}",
                    schedule=schedule,
                )
            )
        except ValidationError as exc:
            logging.getLogger(__name__).error("baseline schedule %s: %s", schedule.pk, exc.messages)
    return taken


# --- comparison --------------------------------------------------------------------------------------------------


@dataclass
class Item:
    """A CI on one side of a comparison."""

    ci_id: int
    reference: str
    name: str
    ci_class: str = ""
    url: str = ""


@dataclass
class AttributeChange:
    label: str
    before: str
    after: str


@dataclass
class ChangedItem:
    item: Item
    attributes: list[AttributeChange] = field(default_factory=list)
    relationships_added: list[str] = field(default_factory=list)
    relationships_removed: list[str] = field(default_factory=list)


@dataclass
class Comparison:
    before: str
    after: str
    added: list[Item] = field(default_factory=list)
    removed: list[Item] = field(default_factory=list)
    changed: list[ChangedItem] = field(default_factory=list)
    unchanged: int = 0

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def as_json(self) -> dict[str, Any]:
        def item(i: Item) -> dict[str, Any]:
            return {"ci_id": i.ci_id, "reference": i.reference, "name": i.name, "class": i.ci_class}

        return {
            "before": self.before,
            "after": self.after,
            "counts": {
                "added": len(self.added),
                "removed": len(self.removed),
                "changed": len(self.changed),
                "unchanged": self.unchanged,
            },
            "added": [item(i) for i in self.added],
            "removed": [item(i) for i in self.removed],
            "changed": [
                {
                    **item(c.item),
                    "attributes": [{"label": a.label, "before": a.before, "after": a.after} for a in c.attributes],
                    "relationships_added": c.relationships_added,
                    "relationships_removed": c.relationships_removed,
                }
                for c in self.changed
            ],
        }


Side = dict[int, Captured]


def baseline_side(baseline: Baseline) -> Side:
    rows = BaselineItem.objects.filter(baseline=baseline).values_list("ci_id", "reference", "name", "data")
    return {ci_id: Captured(ci_id, reference, name, data) for ci_id, reference, name, data in rows.iterator(2000)}


def present_side(baseline: Baseline, actor: Any) -> Side:
    """The CIs of the baseline's scope as they are now. When the scope's CI, class or view has been deleted since,
    the baseline's own CIs that still exist stand for it."""
    anchor = Scoped.SCOPE_FIELDS.get(baseline.scope)
    ids: list[int] | None = None
    if not (anchor and getattr(baseline, f"{anchor}_id") is None):
        try:
            ids = ids_in_scope(baseline, actor)
        except ValidationError:  # a saved view this reader may not open: the baseline's own CIs stand for it
            ids = None
    if ids is None:
        ids = list(
            policy.restrict(ConfigurationItem.objects.all(), actor)
            .filter(pk__in=baseline.items.values("ci_id"))
            .values_list("pk", flat=True)
        )
    return {c.ci_id: c for c in capture(ids)}


class _Reader:
    """Labels and display values of what a baseline records, for one reader."""

    def __init__(self, user: Any) -> None:
        self.user = user
        rt = registry.get(ConfigurationItem)
        self.custom = {d.name: d for d in custom_fields.definitions(rt, user)}

    @staticmethod
    def label(name: str) -> str:
        return str(capfirst(field_of(name).verbose_name))

    @staticmethod
    def value(name: str, value: Any) -> str:
        if value is None or value == "":
            return ""
        if isinstance(value, list):  # a linked record: [id, name]
            return str(value[1])
        choices = dict(field_of(name).choices or [])
        return str(choices.get(value, value))

    def custom_value(self, name: str, value: Any) -> str:
        definition = self.custom.get(name)
        if definition is None:
            return "" if value is None else str(value)
        shown = custom_fields.shown_value(definition, value, self.user)
        return "" if shown is None else str(shown)


def _class_of(captured: Captured) -> str:
    ci_class = captured.data.get("f", {}).get("ci_class")
    return str(ci_class[1]) if ci_class else ""


def _item(captured: Captured, existing: set[int]) -> Item:
    url = f"/cmdb/cis/{captured.ci_id}/" if captured.ci_id in existing else ""
    return Item(captured.ci_id, captured.reference, captured.name, _class_of(captured), url)


def _diff(reader: _Reader, before: dict[str, Any], after: dict[str, Any]) -> ChangedItem | None:
    changed = ChangedItem(Item(0, "", ""))
    old, new = before.get("f", {}), after.get("f", {})
    for name in FIELDS:
        a, b = old.get(name), new.get(name)
        if name in LINKED:  # judged by id, shown by name
            a_id, b_id = (a[0] if a else None), (b[0] if b else None)
            if a_id == b_id:
                continue
        elif a == b:
            continue
        changed.attributes.append(AttributeChange(reader.label(name), reader.value(name, a), reader.value(name, b)))
    old_custom, new_custom = before.get("c", {}), after.get("c", {})
    names = sorted(set(old_custom) | set(new_custom), key=lambda n: (n not in reader.custom, n))
    for name in names:
        a, b = old_custom.get(name), new_custom.get(name)
        if a == b or (a in (None, "", []) and b in (None, "", [])):
            continue
        definition = reader.custom.get(name)
        label = str(definition.label) if definition is not None else name
        changed.attributes.append(AttributeChange(label, reader.custom_value(name, a), reader.custom_value(name, b)))
    if before.get("k") != after.get("k"):
        changed.attributes.append(
            AttributeChange("Members required up", str(before.get("k") or ""), str(after.get("k") or ""))
        )
    old_rel = {(k, t): text for k, t, text in before.get("r", [])}
    new_rel = {(k, t): text for k, t, text in after.get("r", [])}
    changed.relationships_added = [new_rel[key] for key in sorted(set(new_rel) - set(old_rel))]
    changed.relationships_removed = [old_rel[key] for key in sorted(set(old_rel) - set(new_rel))]
    old_groups = {g: f"member of {text}" for g, text in before.get("g", [])}
    new_groups = {g: f"member of {text}" for g, text in after.get("g", [])}
    changed.relationships_added += [new_groups[g] for g in sorted(set(new_groups) - set(old_groups))]
    changed.relationships_removed += [old_groups[g] for g in sorted(set(old_groups) - set(new_groups))]
    if changed.attributes or changed.relationships_added or changed.relationships_removed:
        return changed
    return None


def compare_sides(before: Side, after: Side, user: Any, *, before_label: str, after_label: str) -> Comparison:
    """CIs added (only after), removed (only before) and changed (attribute by attribute, relationships and group
    memberships added and removed), in order of reference."""
    reader = _Reader(user)
    ids = set(before) | set(after)
    existing = set(
        policy.restrict(ConfigurationItem.objects.all(), user).filter(pk__in=list(ids)).values_list("pk", flat=True)
    )
    result = Comparison(before_label, after_label)

    def order(side: Side) -> list[Captured]:
        return sorted(side.values(), key=lambda c: (c.reference, c.ci_id))

    result.added = [_item(c, existing) for c in order(after) if c.ci_id not in before]
    result.removed = [_item(c, existing) for c in order(before) if c.ci_id not in after]
    for captured in order(after):
        old = before.get(captured.ci_id)
        if old is None:
            continue
        diff = _diff(reader, old.data, captured.data)
        if diff is None:
            result.unchanged += 1
        else:
            diff.item = _item(captured, existing)
            result.changed.append(diff)
    return result


def _label(baseline: Baseline) -> str:
    return f"{baseline.reference} {baseline.name}"


def compare(baseline: Baseline, other: Baseline | str, user: Any) -> Comparison:
    """The baseline against another baseline (the earlier of the two is "before") or against the present
    (`PRESENT`: the baseline's scope as it is now)."""
    if other == PRESENT:
        return compare_sides(
            baseline_side(baseline),
            present_side(baseline, user),
            user,
            before_label=_label(baseline),
            after_label="now",
        )
    assert isinstance(other, Baseline)
    first, second = sorted([baseline, other], key=lambda b: (b.created_at, b.pk))
    return compare_sides(
        baseline_side(first), baseline_side(second), user, before_label=_label(first), after_label=_label(second)
    )


def parse_with(baseline: Baseline, user: Any, value: Any) -> Baseline | str:
    """`?with=` of the comparison: "present" (the default) or the id or reference of a baseline the user may see
    (ValidationError on `with` otherwise)."""
    text = str(value or PRESENT).strip()
    if text == PRESENT:
        return PRESENT
    found = policy.restrict(Baseline.objects.all(), user)
    other = found.filter(reference__iexact=text).first() if not text.isdigit() else found.filter(pk=int(text)).first()
    if other is None:
        raise ValidationError({"with": "“present”, or the id or reference of a baseline."})
    return other
