"""The configuration management database (ISO/IEC 20000-1 8.2.6): CI classes, configuration items, the typed and
directed relationships between them, and redundancy groups (k of n members must be up).

Impact analysis over these tables lives in `cmdb.impact`."""

from __future__ import annotations

from typing import Any, ClassVar

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import MinValueValidator
from django.db import models

from meridian.cmdb.choices import (
    BaselineScope,
    CIPolicy,
    CIStatus,
    ConfigurationPolicy,
    Criticality,
    FindingKind,
    FindingStatus,
    Level,
    Propagation,
    ScheduleFrequency,
)
from meridian.core.models import (
    Location,
    Organisation,
    Person,
    Record,
    ReferencedRecord,
    SavedView,
    Team,
    custom_values_field,
)


class CIClass(Record):
    """A kind of configuration item (Server, Application, Service ...), in a hierarchy (Hardware > Server > Virtual
    machine) that administrators extend without code. Its attributes are custom fields of configuration items scoped
    to the class: a field scoped to a class applies to its descendants too (`records.class_and_descendants`)."""

    name = models.CharField(max_length=100, unique=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children", verbose_name="parent class"
    )
    description = models.TextField(blank=True)
    configuration_policy = models.CharField(
        max_length=12,
        choices=ConfigurationPolicy.choices,
        default=ConfigurationPolicy.OPEN,
        help_text="Controlled: an edit of its items' attributes, status, version or relationships must cite an "
        "approved change that lists the item.",
    )
    service = models.BooleanField(
        "services",
        default=False,
        help_text="Its items are services: impact analysis names them as the services reached.",
    )
    active = models.BooleanField(default=True, help_text="Inactive classes are kept for the items that have them.")

    class Meta:
        ordering = ["name"]
        verbose_name = "CI class"
        verbose_name_plural = "CI classes"

    def __str__(self) -> str:
        return self.name


def descendant_class_ids(class_ids: set[int]) -> set[int]:
    """The classes given and every class below them (one query: the class table is small)."""
    children: dict[int | None, list[int]] = {}
    for pk, parent in CIClass.objects.values_list("pk", "parent_id"):
        children.setdefault(parent, []).append(pk)
    found, pending = set(class_ids), list(class_ids)
    while pending:
        for child in children.get(pending.pop(), []):
            if child not in found:
                found.add(child)
                pending.append(child)
    return found


class ConfigurationItem(ReferencedRecord):
    """A configuration item: anything that is managed to deliver a service (a server, an application, a database, a
    document, the service itself). Without an organisation it is the provider's (shared); with one it is dedicated
    to that customer, whose users see it. Its status moves only by `cmdb.workflows.CI_LIFECYCLE`."""

    REFERENCE_PREFIX = "CI"
    TENANT_FIELD = "organisation"

    name = models.CharField(max_length=200)
    ci_class = models.ForeignKey(CIClass, on_delete=models.PROTECT, related_name="items", verbose_name="class")
    description = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=CIStatus.choices, default=CIStatus.PLANNED, editable=False)
    ci_version = models.CharField(
        "version number", max_length=50, blank=True, help_text="Its release or model version."
    )
    organisation = models.ForeignKey(
        Organisation,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="configuration_items",
        verbose_name="customer",
        help_text="The customer it is dedicated to; empty: the provider's own (shared).",
    )
    location = models.ForeignKey(Location, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    owner_person = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name="owner"
    )
    owner_team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name="owning team"
    )
    support_team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name="support team"
    )
    configuration_policy = models.CharField(
        max_length=12,
        choices=CIPolicy.choices,
        default=CIPolicy.AS_CLASS,
        blank=True,
        help_text="Empty: its class's policy. A service (or any item) may be controlled whatever its class says.",
    )
    criticality = models.CharField(max_length=10, choices=Criticality.choices, default=Criticality.MEDIUM)
    confidentiality = models.CharField(max_length=10, choices=Level.choices, default=Level.MEDIUM)
    integrity = models.CharField(max_length=10, choices=Level.choices, default=Level.MEDIUM)
    availability = models.CharField(max_length=10, choices=Level.choices, default=Level.MEDIUM)
    custom = custom_values_field()

    class Meta:
        ordering = ["name", "id"]
        verbose_name = "CI"
        verbose_name_plural = "CIs"

    def __str__(self) -> str:
        return self.name

    @property
    def controlled(self) -> bool:
        """Whether an edit of its attributes, status, version or relationships must cite an authorising change:
        its own policy, else its class's."""
        policy = self.configuration_policy or self.ci_class.configuration_policy
        return policy == ConfigurationPolicy.CONTROLLED


class RelationshipKind(Record):
    """A kind of relationship, read from the source: `source <forward label> target` ("app runs on host"), and from
    the target: `target <reverse label> source` ("host hosts app"). `propagates` says along which direction a failure
    travels: for "depends on" (to the source) the target's failure impacts the source, the dependant."""

    name = models.CharField(max_length=60, unique=True)
    forward_label = models.CharField(max_length=60, help_text="Read from the source: “depends on”.")
    reverse_label = models.CharField(max_length=60, help_text="Read from the target: “is used by”.")
    propagates = models.CharField(max_length=10, choices=Propagation.choices, default=Propagation.TO_SOURCE)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Relationship(Record):
    """`source <kind> target`, e.g. “ERP app runs on vm-12”. A registered type of its own rather than rows of the
    CI: relationships are many (a host has hundreds), come in by import, have their own API and filters, and a
    relationship change must not make every open edit of both CIs stale. Its organisation is its source's; the
    target is of that organisation or the provider's (the `Link.SAME_ORGANISATION` rule)."""

    TENANT_FIELD = "source__organisation"

    source = models.ForeignKey(ConfigurationItem, on_delete=models.CASCADE, related_name="relationships_out")
    kind = models.ForeignKey(RelationshipKind, on_delete=models.PROTECT, related_name="relationships")
    target = models.ForeignKey(ConfigurationItem, on_delete=models.CASCADE, related_name="relationships_in")
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["source__name", "kind__name", "target__name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "target", "kind"], name="cmdb_relationship_unique"),
            models.CheckConstraint(condition=~models.Q(source=models.F("target")), name="cmdb_relationship_not_self"),
        ]
        indexes = [
            # impact analysis walks a level of failures in each direction (`cmdb.impact`): the sources of these
            # targets by the kinds that carry a failure up, the targets of these sources by those that carry it down
            models.Index(fields=["target", "kind", "source"], name="cmdb_relationship_target_idx"),
            models.Index(fields=["kind", "source", "target"], name="cmdb_relationship_kind_idx"),
        ]

    def __str__(self) -> str:
        return self.labelled(str)

    def labelled(self, name: Any) -> str:
        """“erp-app → vm-12”, each end named by `name` (`policy.shown` hides an end the reader may not see); the
        kind is a column of its own."""
        return f"{name(self.source)} → {name(self.target)}"

    def clean(self) -> None:
        if self.source_id is not None and self.source_id == self.target_id:
            raise ValidationError({"target": "A configuration item cannot relate to itself."})


class RedundancyGroup(Record):
    """A redundant set of configuration items of which at least `required_up` (k) of the n members must be up.

    The group stands in the graph as a configuration item of its own (`ci`, e.g. “db-cluster”, class Redundancy
    group): dependants relate to that CI with ordinary relationships (“ERP app depends on db-cluster”), so the graph
    stays one kind of node and one kind of edge, and the group shows in lists, links and the graph like any CI. The
    group's CI is down when it is itself down or failed through its own relationships, or when fewer than k of its
    members are up. Its organisation is its CI's; members are of that organisation or the provider's."""

    TENANT_FIELD = "ci__organisation"

    ci = models.OneToOneField(
        ConfigurationItem,
        on_delete=models.CASCADE,
        related_name="redundancy",
        verbose_name="group CI",
        help_text="The configuration item that stands for the group: dependants relate to it.",
    )
    members = models.ManyToManyField(ConfigurationItem, related_name="member_of", blank=False)
    required_up = models.PositiveSmallIntegerField(
        "members required up",
        validators=[MinValueValidator(1)],
        help_text="k: the group is up while at least this many of its members are up.",
    )
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["ci__name", "id"]
        constraints = [models.CheckConstraint(condition=models.Q(required_up__gte=1), name="cmdb_group_k_positive")]

    def __str__(self) -> str:
        return str(self.ci) if self.ci_id else "Redundancy group"

    def labelled(self, name: Any) -> str:
        return name(self.ci)


def check_group(group: RedundancyGroup, actor: Any, changes: dict[str, Any]) -> None:
    """After a group is written (its members set): k ≤ n, and the group's own CI is not one of its members. Raised
    inside the write's transaction, so a refused group writes nothing. (Pages and API require members; an import,
    which carries no many-to-many columns, makes a group whose members are added afterwards: until then it has
    none and no member can take it down.)"""
    member_ids = set(group.members.values_list("pk", flat=True))
    errors: dict[str, str] = {}
    if member_ids and group.required_up > len(member_ids):
        errors["required_up"] = f"At most the number of members ({len(member_ids)})."
    if group.ci_id in member_ids:
        errors["members"] = "The group's own configuration item cannot be one of its members."
    if errors:
        raise ValidationError(errors)


# --- baselines and configuration audits (logic: `cmdb.baselines`, `cmdb.audits`) ---------------------------------

IMMUTABLE = "A baseline is a snapshot: it cannot be changed. Take a new one."


class Scoped(models.Model):
    """Which CIs a baseline, a baseline schedule or a configuration audit covers: a CI and everything it depends on
    (`cmdb.impact`, dependencies direction), a class with its subclasses, a saved view of the CI list, or every CI.
    Exactly the field of the chosen scope is filled."""

    scope = models.CharField(max_length=12, choices=BaselineScope.choices, default=BaselineScope.DEPENDENCIES)
    scope_ci = models.ForeignKey(
        ConfigurationItem,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name="CI",
        help_text="For “a CI and everything it depends on”: a service, say.",
    )
    scope_class = models.ForeignKey(
        CIClass, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name="CI class"
    )
    scope_view = models.ForeignKey(
        SavedView,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name="saved view",
        help_text="A saved view of the CI list that you may open: its filters choose the CIs.",
    )

    SCOPE_FIELDS: ClassVar[dict[str, str]] = {
        BaselineScope.DEPENDENCIES: "scope_ci",
        BaselineScope.CI_CLASS: "scope_class",
        BaselineScope.VIEW: "scope_view",
    }

    class Meta:
        abstract = True

    def clean(self) -> None:
        super().clean()
        wanted = self.SCOPE_FIELDS.get(self.scope)
        errors = {}
        for scope, name in self.SCOPE_FIELDS.items():
            filled = getattr(self, f"{name}_id") is not None
            label = BaselineScope(scope).label
            if name == wanted and not filled:
                errors[name] = f"Required for the scope “{BaselineScope(self.scope).label}”."
            elif name != wanted and filled:
                errors[name] = f"Only for the scope “{label}”: leave it empty."
        if errors:
            raise ValidationError(errors)

    def scope_text(self) -> str:
        """“Payroll (CI-000003) and everything it depends on”, “class Server and its subclasses” ..."""
        if self.scope == BaselineScope.DEPENDENCIES:
            ci = self.scope_ci
            return f"{ci} ({ci.reference}) and everything it depends on" if ci else "a CI since deleted"
        if self.scope == BaselineScope.CI_CLASS:
            return f"class {self.scope_class} and its subclasses" if self.scope_class else "a class since deleted"
        if self.scope == BaselineScope.VIEW:
            return f"saved view “{self.scope_view.name}”" if self.scope_view else "a saved view since deleted"
        return "every CI"


class BaselineSchedule(Scoped, Record):
    """Take a baseline of its scope daily, weekly or monthly (the periodic task `cmdb.take_scheduled_baselines`,
    hourly: a schedule is due when its last baseline is older than its period)."""

    name = models.CharField(max_length=200, unique=True)
    frequency = models.CharField(max_length=10, choices=ScheduleFrequency.choices, default=ScheduleFrequency.WEEKLY)
    active = models.BooleanField(default=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Baseline(Scoped, ReferencedRecord):
    """A configuration baseline: a named, immutable snapshot of a set of CIs with their fields, attributes,
    relationships and redundancy-group membership at the moment it was taken (`cmdb.baselines.take_baseline`; one
    `BaselineItem` per CI). Nobody may change it (no role holds the change permission and `save` refuses an update
    whoever asks); administrators may delete it, audited."""

    REFERENCE_PREFIX = "BL"

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    schedule = models.ForeignKey(
        BaselineSchedule, null=True, blank=True, on_delete=models.SET_NULL, related_name="baselines", editable=False
    )
    scope_description = models.CharField("scope taken", max_length=300, blank=True, editable=False)
    item_count = models.PositiveIntegerField("CIs", default=0, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise PermissionDenied(IMMUTABLE)
        super().save(*args, **kwargs)


class BaselineItem(models.Model):
    """One CI as a baseline recorded it: its values as one JSON object (`cmdb.baselines.capture` says what is in
    it). The CI is kept by id and reference, not by a foreign key: a baseline outlives the CIs it recorded."""

    baseline = models.ForeignKey(Baseline, on_delete=models.CASCADE, related_name="items")
    ci_id = models.BigIntegerField()
    reference = models.CharField(max_length=24)
    name = models.CharField(max_length=200)
    data = models.JSONField(default=dict)

    class Meta:
        ordering = ["baseline", "name", "ci_id"]
        constraints = [models.UniqueConstraint(fields=["baseline", "ci_id"], name="cmdb_baselineitem_unique")]

    def __str__(self) -> str:
        return f"{self.reference} {self.name}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise PermissionDenied(IMMUTABLE)
        super().save(*args, **kwargs)


class ConfigurationAudit(Scoped, ReferencedRecord):
    """A configuration audit: the CMDB in scope compared with discovered reality (`discovered_data`, the CSV or JSON
    export of a discovery tool, matched on `key_field`) and with the audit trail (changes to controlled CIs without
    an authorising change in the period). Run once, when it is created (`cmdb.audits.run_audit`); its findings then
    follow their own lifecycle. Its inputs are fixed once it has run: only its name and description change."""

    REFERENCE_PREFIX = "CA"

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    key_field = models.CharField(
        "key",
        max_length=60,
        default="reference",
        help_text="The column that identifies a CI in the discovered data: reference, name, or an attribute's name "
        "(serial_number, netbox_id ...).",
    )
    period_start = models.DateTimeField(
        null=True, blank=True, help_text="Changes to controlled CIs are checked from then (empty: from the start)."
    )
    period_end = models.DateTimeField(null=True, blank=True, help_text="… until then (empty: until the audit runs).")
    discovered_data = models.TextField(
        "discovered data",
        blank=True,
        help_text="The discovery tool's export, CSV (a header row) or JSON (a list of objects): a column named as "
        "the key and columns named as CI attributes. Empty: only the audit trail is checked.",
    )
    discovered_count = models.PositiveIntegerField("CIs discovered", default=0, editable=False)
    checked_count = models.PositiveIntegerField("CIs in scope", default=0, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "configuration audit"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, Any] = {}
        try:
            super().clean()
        except ValidationError as exc:
            errors.update(exc.message_dict)
        if self.period_start and self.period_end and self.period_end <= self.period_start:
            errors["period_end"] = "After the start of the period."
        from meridian.cmdb import audits

        key_error = audits.key_field_error(self.key_field)
        if key_error:
            errors["key_field"] = key_error
        elif self.discovered_data.strip():
            try:
                self._discovered = audits.parse_discovered(self.discovered_data, self.key_field)
            except ValidationError as exc:
                errors["discovered_data"] = exc.messages
        if errors:
            raise ValidationError(errors)


class Finding(Record):
    """One finding of a configuration audit: a CI missing from discovery, a discovered CI not recorded, an
    attribute that differs, a change to a controlled CI without an authorising change. Assigned to a person or a
    team, fixed and closed, or accepted / a false positive with a reason (`cmdb.workflows.FINDING_LIFECYCLE`)."""

    audit = models.ForeignKey(ConfigurationAudit, on_delete=models.CASCADE, related_name="findings")
    kind = models.CharField(max_length=12, choices=FindingKind.choices, default=FindingKind.OTHER)
    ci = models.ForeignKey(
        ConfigurationItem, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name="CI"
    )
    summary = models.CharField(max_length=300)
    key = models.CharField("discovered key", max_length=200, blank=True)
    attribute = models.CharField(max_length=200, blank=True)
    recorded = models.TextField("recorded value", blank=True)
    discovered = models.TextField("discovered value", blank=True)
    event_id = models.BigIntegerField("audit event", null=True, blank=True, editable=False)
    assignee = models.ForeignKey(Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=16, choices=FindingStatus.choices, default=FindingStatus.OPEN, editable=False)

    class Meta:
        ordering = ["audit", "kind", "id"]

    def __str__(self) -> str:
        return self.summary
