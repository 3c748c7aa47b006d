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


class BaselineScope(models.TextChoices):
    """Which configuration items a baseline (or a configuration audit) covers."""

    DEPENDENCIES = "dependencies", "A CI and everything it depends on"
    CI_CLASS = "class", "A CI class (with its subclasses)"
    VIEW = "view", "A saved view of the CI list"
    ALL = "all", "Every CI"


class ScheduleFrequency(models.TextChoices):
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"
    MONTHLY = "monthly", "Monthly"


class FindingKind(models.TextChoices):
    MISSING = "missing", "Missing (recorded, not discovered)"
    UNRECORDED = "unrecorded", "Not recorded (discovered, not in the CMDB)"
    DIFFERS = "differs", "Attribute differs"
    UNAUTHORISED = "unauthorised", "Change without an authorising change"
    OTHER = "other", "Other"


class FindingStatus(models.TextChoices):
    OPEN = "open", "Open"
    ASSIGNED = "assigned", "Assigned"
    FIXED = "fixed", "Fixed"
    CLOSED = "closed", "Closed"
    ACCEPTED = "accepted", "Accepted"
    FALSE_POSITIVE = "false_positive", "False positive"
