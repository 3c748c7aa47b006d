"""Service level management (ISO/IEC 20000-1 8.3.3): priorities (the impact × urgency matrix), agreements with
customers (SLA), internal teams (OLA) and suppliers (underpinning contracts), their targets, and the clocks that
measure records against them (`service_levels.clocks`)."""

from __future__ import annotations

from django.db import models

from meridian.core.models import Record
from meridian.service_levels.choices import Impact, Urgency


class Priority(Record):
    """A priority of the matrix (P1 Critical ... P4 Low). Agreements give targets per priority."""

    name = models.CharField(max_length=40, unique=True, help_text="As people say it, e.g. “P1 – Critical”.")
    rank = models.PositiveSmallIntegerField(unique=True, help_text="1 is the most urgent.")
    description = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["rank"]
        verbose_name_plural = "priorities"

    def __str__(self) -> str:
        return self.name


class PriorityRule(Record):
    """One cell of the matrix: this impact with this urgency is this priority."""

    impact = models.CharField(max_length=10, choices=Impact.choices)
    urgency = models.CharField(max_length=10, choices=Urgency.choices)
    priority = models.ForeignKey(Priority, on_delete=models.PROTECT, related_name="rules")

    class Meta:
        ordering = ["impact", "urgency"]
        constraints = [models.UniqueConstraint(fields=["impact", "urgency"], name="service_levels_one_cell")]
        verbose_name = "priority matrix cell"

    def __str__(self) -> str:
        return f"{self.get_impact_display()} × {self.get_urgency_display()} → {self.priority}"


from meridian.service_levels.clock_models import Clock, ClockEvent, ClockMetric, ClockSegment, ClockTerm  # noqa: E402,F401
