"""Requests for change (ISO/IEC 20000-1 8.5.1): for now the smallest honest record the CMDB's change control needs
(issue 9) — a reference, what is changed and why, the configuration items it lists and a decision through a declared
lifecycle. The change management issue grows it into the whole process (classification, risk, schedule, change
authority, segregation of duties, review) without changing how `meridian.changes.authority` answers the CMDB."""

from __future__ import annotations

from django.db import models

from meridian.changes.choices import ChangeStatus
from meridian.core.models import ReferencedRecord


class Change(ReferencedRecord):
    """A request for change: while approved, it authorises edits of the controlled configuration items it lists."""

    REFERENCE_PREFIX = "CHG"

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, help_text="What is changed, why, and how it is undone if it fails.")
    status = models.CharField(max_length=20, choices=ChangeStatus.choices, default=ChangeStatus.DRAFT, editable=False)
    configuration_items = models.ManyToManyField(
        "cmdb.ConfigurationItem",
        related_name="changes",
        blank=True,
        verbose_name="configuration items",
        help_text="The CIs it changes: while it is approved, it authorises edits of those under change control.",
    )

    class Meta:
        ordering = ["-id"]
        verbose_name = "change"
        verbose_name_plural = "changes"

    def __str__(self) -> str:
        return self.title
