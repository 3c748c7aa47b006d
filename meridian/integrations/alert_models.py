"""The monitoring intake's models (`integrations.alerts`): an `AlertSource` is a receiver administrators configure (a
registered record type), an `AlertGroup` the intake's state per alert group (a log, not a record type)."""

from __future__ import annotations

import re
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models

from meridian.core.models import Organisation, Record, Team
from meridian.portfolio.models import Service
from meridian.service_levels.choices import Impact, Urgency


class AlertSourceKind(models.TextChoices):
    ALERTMANAGER = "alertmanager", "Prometheus Alertmanager (webhook version 4)"
    GENERIC = "generic", "Generic JSON webhook (through a field mapping)"


class AlertGroupStatus(models.TextChoices):
    FIRING = "firing", "Firing"
    RESOLVED = "resolved", "Resolved"


# --- the generic webhook's field mapping ------------------------------------------------------------------------------

PATH = re.compile(r"^(\$|(\$\.)?[A-Za-z0-9_@\-]+(\.[A-Za-z0-9_@\-]+)*)$")
MAPPING_PATHS = {
    "alerts": "where the list of alerts is (from the body); absent: the body is one alert",
    "group_key": "the group key: one incident per group (from the alert, or the body with “$.”)",
    "status": "the alert's status",
    "fingerprint": "what identifies one alert in its group (absent: a digest of its labels)",
    "title": "the alert's title",
    "description": "its description",
    "labels": "its labels: a JSON object of text values",
    "severity": "its severity",
    "starts_at": "when it started (ISO 8601)",
    "url": "a link to it in the monitoring tool",
}
MAPPING_REQUIRED = ("group_key", "status")
MAPPING_VALUE_LISTS = {
    "firing_values": ["firing"],
    "resolved_values": ["resolved"],
}


def mapping_errors(mapping: Any) -> list[str]:
    """What is wrong with a generic source's field mapping (empty when nothing). A path is dotted keys (list
    positions as numbers), read from each alert; `$.` reads from the body, `$` is the body itself."""
    if not isinstance(mapping, dict):
        return ["Must be a JSON object of field names and paths, e.g. {“group_key”: “$.id”, “status”: “state”}."]
    errors = []
    known = {*MAPPING_PATHS, *MAPPING_VALUE_LISTS}
    for name in sorted(set(mapping) - known):
        errors.append(f"{name}: not a field of the mapping (those are {', '.join(sorted(known))}).")
    for name in MAPPING_REQUIRED:
        if name not in mapping:
            errors.append(f"{name}: required ({MAPPING_PATHS[name]}).")
    for name in MAPPING_PATHS:
        if name in mapping and (not isinstance(mapping[name], str) or not PATH.match(mapping[name])):
            errors.append(f"{name}: {mapping[name]!r} is not a path such as “labels.instance” or “$.groupKey”.")
    lists = {}
    for name, default in MAPPING_VALUE_LISTS.items():
        value = mapping.get(name, default)
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
            errors.append(f"{name}: must be a list of one or more status values (text), e.g. {default}.")
        else:
            lists[name] = {v.strip().lower() for v in value}
    if len(lists) == 2 and lists["firing_values"] & lists["resolved_values"]:
        both = ", ".join(sorted(lists["firing_values"] & lists["resolved_values"]))
        errors.append(f"{both}: a status value means either firing or resolved, not both.")
    return errors


DEFAULT_SEVERITY_URGENCY = "critical: high\nwarning: medium\ninfo: low"
URGENCY_RANK = {Urgency.HIGH: 3, Urgency.MEDIUM: 2, Urgency.LOW: 1}


def parse_severity_urgency(text: str) -> tuple[dict[str, str], list[str]]:
    """`severity: urgency` lines into {severity (lower case): urgency}, and the problems, by line."""
    found: dict[str, str] = {}
    problems: list[str] = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        severity, colon, urgency = line.partition(":")
        severity, urgency = severity.strip().lower(), urgency.strip().lower()
        if not colon or not severity or urgency not in Urgency.values:
            problems.append(f"Line {number}: write “severity: urgency” with high, medium or low, not “{line.strip()}”.")
            continue
        found[severity] = urgency
    return found, problems


class AlertSource(Record):
    """A monitoring system's receiver: where it posts (`/api/v1/integrations/<kind>/<slug>/`), how its alerts are
    read (Alertmanager's documented format, or a generic JSON body through `mapping`), which label names the
    configuration item, and the service, team, customer, impact and urgency of the incidents it opens."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(
        max_length=50, unique=True, help_text="Its address: /api/v1/integrations/alertmanager/<slug>/ (or webhooks/)."
    )
    kind = models.CharField(max_length=20, choices=AlertSourceKind.choices, default=AlertSourceKind.ALERTMANAGER)
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True, help_text="Switched off: its deliveries are refused (403).")
    ci_labels = models.CharField(
        "configuration item labels",
        max_length=200,
        default="instance",
        help_text="The alert labels naming the configuration item, tried in this order, separated by commas "
        "(e.g. instance, service). The value is matched with a CI's reference or name (a port is ignored).",
    )
    service = models.ForeignKey(Service, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="assignment team"
    )
    organisation = models.ForeignKey(
        Organisation,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="customer",
        help_text="Empty: the provider's own systems. Only this organisation's CIs (or shared ones) are linked.",
    )
    impact = models.CharField(max_length=10, choices=Impact.choices, default=Impact.MEDIUM)
    urgency = models.CharField(
        max_length=10,
        choices=Urgency.choices,
        default=Urgency.HIGH,
        help_text="When no alert's severity is named under “urgency by severity”.",
    )
    severity_urgency = models.TextField(
        "urgency by severity",
        blank=True,
        default=DEFAULT_SEVERITY_URGENCY,
        help_text="The urgency of a new incident by its alerts' “severity” label, one per line "
        "(“critical: high”); the most urgent of the firing alerts counts. Empty: always the urgency above.",
    )
    mapping = models.JSONField(
        default=dict,
        blank=True,
        help_text="Generic webhooks only: where each field is in the JSON body, e.g. {“alerts”: “$.alerts”, "
        "“group_key”: “$.groupKey”, “status”: “status”, “title”: “annotations.summary”, “labels”: “labels”}.",
    )

    class Meta:
        ordering = ["name"]
        verbose_name = "alert source"

    def __str__(self) -> str:
        return self.name

    def urgency_for(self, severities: list[str]) -> str:
        """The most urgent of the severities named under `severity_urgency`; the source's urgency when none is."""
        table, _problems = parse_severity_urgency(self.severity_urgency)
        named = [table[s.strip().lower()] for s in severities if s and s.strip().lower() in table]
        return max(named, key=lambda urgency: URGENCY_RANK[Urgency(urgency)]) if named else self.urgency

    @property
    def label_names(self) -> list[str]:
        return [name.strip() for name in self.ci_labels.split(",") if name.strip()]

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        if not self.label_names:
            errors["ci_labels"] = ["Name at least one label, e.g. instance."]
        _table, problems = parse_severity_urgency(self.severity_urgency)
        if problems:
            errors["severity_urgency"] = problems
        if self.kind == AlertSourceKind.GENERIC:
            found = mapping_errors(self.mapping)
            if found:
                errors["mapping"] = found
        elif self.mapping not in ({}, None):
            errors["mapping"] = [
                "Only a generic webhook has a mapping: Alertmanager's format is fixed. Leave it empty."
            ]
        if errors:
            raise ValidationError(errors)


class AlertGroup(models.Model):
    """The intake's state of one alert group of a source (Alertmanager's `groupKey`): the record opened for it, the
    fingerprints firing now, and the digests of the deliveries already applied (a replay changes nothing). Its row
    is locked while a delivery is applied, so concurrent retries of one group are applied one after the other."""

    source = models.ForeignKey(AlertSource, on_delete=models.CASCADE, related_name="groups")
    key_digest = models.CharField(max_length=64, help_text="SHA-256 of the group key (keys can be long).")
    group_key = models.TextField()
    status = models.CharField(max_length=10, choices=AlertGroupStatus.choices, default=AlertGroupStatus.FIRING)
    record_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    record_id = models.PositiveBigIntegerField(null=True, blank=True)
    opened = models.PositiveIntegerField(default=0, help_text="Records opened for this group so far.")
    firing = models.JSONField(default=dict, blank=True, help_text="Fingerprint → title of each alert firing now.")
    digests = models.JSONField(default=list, blank=True, help_text="SHA-256 of the latest deliveries applied.")
    first_received_at = models.DateTimeField(auto_now_add=True)
    last_received_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "key_digest"], name="integrations_alertgroup_unique"),
        ]
        verbose_name = "alert group"

    def __str__(self) -> str:
        return f"{self.source}: {self.group_key[:80]}"
