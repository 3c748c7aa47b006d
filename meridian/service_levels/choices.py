"""The vocabularies of service level management."""

from __future__ import annotations

from django.db import models


class Impact(models.TextChoices):
    """How much of the business a disruption touches (one axis of the priority matrix)."""

    HIGH = "high", "High: many users or a whole service"
    MEDIUM = "medium", "Medium: a group or a department"
    LOW = "low", "Low: one user"


class Urgency(models.TextChoices):
    """How soon the business needs it back (the other axis of the priority matrix)."""

    HIGH = "high", "High: work has stopped"
    MEDIUM = "medium", "Medium: work is hindered"
    LOW = "low", "Low: a workaround exists"
