"""The models of the SLA clock engine (`service_levels.clocks` is the one place that writes them).

A clock measures one record (any model: a generic owner) against one metric (response, resolution, ...). What it
knows is an append-only list of segments (start, end, the record's status meanwhile) and its current terms (target
in business minutes, calendar, the rule that gave them). Due time, elapsed time and breach are recomputed from those
(`clocks.replay`) and stored on the clock so that queues sort and filter by them in SQL."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from meridian.core.models import Calendar, Record

DEFAULT_THRESHOLDS = [50, 75, 90]
BREACH = 100


def default_thresholds() -> list[int]:
    return list(DEFAULT_THRESHOLDS)


class ClockState(models.TextChoices):
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"  # the record is in a status that neither runs nor stops the clock
    STOPPED = "stopped", "Stopped"  # the record is in a stop status (resolved): leaving it resumes the clock
    FINISHED = "finished", "Finished"  # stopped for good (`clocks.stop`: the response was given)


class ClockEventKind(models.TextChoices):
    WARNING = "warning", "Warning"
    BREACH = "breach", "Breach"


def _status_list_errors(value: Any) -> list[str]:
    if not isinstance(value, list):
        return [f'Give a list of status values, e.g. ["new", "in_progress"], not {type(value).__name__}.']
    errors = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            errors.append(f"Each status must be a non-empty text, not {item!r}.")
    if len(set(map(str, value))) != len(value):
        errors.append("A status is named twice.")
    return errors


def threshold_errors(value: Any) -> list[str]:
    """Why `value` is not a valid list of warning thresholds (whole percentages 1-99, ascending, each once)."""
    if not isinstance(value, list):
        return [f"Give a list of whole percentages, e.g. [50, 75, 90], not {type(value).__name__}."]
    errors = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= 99:
            errors.append(f"{item!r} is not a whole percentage from 1 to 99 (the breach, 100 %, is always there).")
    if not errors and any(b <= a for a, b in pairwise(value)):
        errors.append("List the thresholds in ascending order, each once.")
    return errors


class ClockMetric(Record):
    """What a clock measures (e.g. "resolution"): the statuses in which it runs, those that stop it, and the warning
    thresholds. Every other status pauses it: what pauses a clock is configuration, not code."""

    key = models.SlugField(max_length=50, unique=True, help_text="How process apps name it, e.g. “resolution”.")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    running_statuses = models.JSONField(
        default=list, blank=True, help_text="Status values of the record in which the clock runs."
    )
    stop_statuses = models.JSONField(
        default=list,
        blank=True,
        help_text="Status values that stop the clock (e.g. resolved); leaving one (reopening) resumes it.",
    )
    thresholds = models.JSONField(
        default=default_thresholds,
        blank=True,
        help_text="Warnings at these percentages of the target (whole numbers 1-99, ascending); "
        "the breach at 100 % is always recorded.",
    )

    class Meta:
        ordering = ["name"]
        verbose_name = "clock metric"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        for name in ("running_statuses", "stop_statuses"):
            found = _status_list_errors(getattr(self, name))
            if found:
                errors[name] = found
        if "running_statuses" not in errors and "stop_statuses" not in errors:
            both = sorted(set(self.running_statuses) & set(self.stop_statuses))
            if both:
                errors["stop_statuses"] = [f"{', '.join(both)}: a status either runs or stops the clock, not both."]
        found = threshold_errors(self.thresholds)
        if found:
            errors["thresholds"] = found
        if errors:
            raise ValidationError(errors)


class Clock(models.Model):
    """One record's clock for one metric, with its current terms and the values stored for queues (due time,
    elapsed minutes as of the last change, breach, when the periodic task must look next)."""

    # no index of their own: the unique constraint (content type, object, metric) and the (calendar, state) index
    # lead with them (every index is rewritten when a re-timing moves a clock's due time)
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+", db_index=False)
    object_id = models.PositiveBigIntegerField()
    owner = GenericForeignKey("content_type", "object_id")
    metric = models.ForeignKey(ClockMetric, on_delete=models.PROTECT, related_name="clocks")
    # current terms (their history: ClockTerm)
    target_minutes = models.PositiveIntegerField(help_text="Business minutes of the calendar.")
    calendar = models.ForeignKey(Calendar, on_delete=models.PROTECT, related_name="clocks", db_index=False)
    rule = models.CharField(max_length=300, blank=True, help_text="Which agreement and target gave the terms.")
    started_at = models.DateTimeField()
    state = models.CharField(max_length=10, choices=ClockState.choices, default=ClockState.RUNNING)
    status = models.CharField(max_length=40, blank=True, help_text="The record's status now (the open segment's).")
    finished_at = models.DateTimeField(null=True, blank=True)
    # stored for SQL (recomputed by every change and by a calendar edit)
    due_at = models.DateTimeField(null=True, blank=True, help_text="Only while running.")
    elapsed_minutes = models.FloatField(default=0)
    computed_at = models.DateTimeField(default=timezone.now, help_text="When elapsed_minutes was computed.")
    breached_at = models.DateTimeField(null=True, blank=True)
    next_event_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["content_type", "object_id", "metric"], name="service_levels_clock_once")
        ]
        indexes = [
            models.Index(fields=["state", "due_at"], name="service_levels_clock_queue"),
            models.Index(fields=["calendar", "state"], name="service_levels_clock_cal"),
        ]

    def __str__(self) -> str:
        return f"{self.metric} clock of {self.content_type.model} {self.object_id}"


class ClockSegment(models.Model):
    """A stretch of a clock's life in one status of its record. Append-only: rows are added; the open one (no end)
    gets its end once."""

    clock = models.ForeignKey(Clock, on_delete=models.CASCADE, related_name="segments")
    start = models.DateTimeField()
    end = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=40)

    class Meta:
        ordering = ["clock", "start", "id"]
        indexes = [models.Index(fields=["clock", "start"], name="service_levels_segment_clock")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end__isnull=True) | models.Q(end__gte=models.F("start")),
                name="service_levels_segment_order",
            )
        ]

    def __str__(self) -> str:
        return f"{self.status} {self.start.isoformat()} – {self.end.isoformat() if self.end else '…'}"


class ClockTerm(models.Model):
    """Append-only: the terms a clock was given when started and each time it was re-targeted, and why."""

    clock = models.ForeignKey(Clock, on_delete=models.CASCADE, related_name="terms")
    at = models.DateTimeField()
    target_minutes = models.PositiveIntegerField()
    calendar = models.ForeignKey(Calendar, on_delete=models.PROTECT, related_name="+")
    rule = models.CharField(max_length=300, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["clock", "at", "id"]

    def __str__(self) -> str:
        return f"{self.target_minutes} min from {self.at.isoformat()} ({self.rule})"


class ClockEvent(models.Model):
    """A warning threshold or the breach of a clock, crossed at `occurred_at` (computed, not when the task ran),
    recorded once: the unique constraint is the guarantee."""

    clock = models.ForeignKey(Clock, on_delete=models.CASCADE, related_name="events")
    threshold = models.PositiveSmallIntegerField(help_text="Percent of the target; 100 is the breach.")
    kind = models.CharField(max_length=10, choices=ClockEventKind.choices)
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["clock", "threshold"]
        constraints = [models.UniqueConstraint(fields=["clock", "threshold"], name="service_levels_clock_event_once")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.threshold} % at {self.occurred_at.isoformat()}"
