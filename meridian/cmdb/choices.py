"""Choice sets of the CMDB: value and label."""

from __future__ import annotations

from django.db import models


class ConfigurationPolicy(models.TextChoices):
    OPEN = "open", "Open (any authorised edit, audited)"
    CONTROLLED = "controlled", "Controlled (edits cite an authorising change)"


class CIPolicy(models.TextChoices):
    """A configuration item's own policy: as its class, or open / controlled whatever its class says (a service)."""

    AS_CLASS = "", "As its class"
    OPEN = "open", "Open (any authorised edit, audited)"
    CONTROLLED = "controlled", "Controlled (edits cite an authorising change)"


class CIStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    IN_BUILD = "in_build", "In build"
    IN_TEST = "in_test", "In test"
    LIVE = "live", "Live"
    UNDER_MAINTENANCE = "under_maintenance", "Under maintenance"
    RETIRED = "retired", "Retired"
    DISPOSED = "disposed", "Disposed"


class Criticality(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class Level(models.TextChoices):
    """A confidentiality, integrity or availability classification (ISO/IEC 27002 5.12)."""

    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


class Propagation(models.TextChoices):
    """Along which direction of a relationship `source —kind→ target` a failure travels."""

    NONE = "none", "Does not propagate"
    TO_SOURCE = "to_source", "To the source (the target's failure impacts the source)"
    TO_TARGET = "to_target", "To the target (the source's failure impacts the target)"
    BOTH = "both", "Both ways"
