"""The portfolio's business rules: a service's configuration item is created with it and kept in step.

The CI (class "Service", the provider's own) carries the service's name, summary, owner, security levels and a
status that follows the service's (`CI_STATUS`). Its writes are audited on the CI, citing the service and, when the
service's write cited one, its authorising change: a service whose CI is under change control is controlled too
(`records.SERVICE_CONTROL`), so the service's write was checked before its CI is touched."""

from __future__ import annotations

from typing import Any

from django.db.models import F
from django.utils import timezone

from meridian.cmdb.choices import CIStatus
from meridian.cmdb.models import CIClass, ConfigurationItem
from meridian.core import audit
from meridian.core.choices import AuditAction
from meridian.core.models import AuditEvent
from meridian.portfolio.choices import ServiceStatus

CI_CLASS = "Service"
CI_STATUS = {
    ServiceStatus.PROPOSED: CIStatus.PLANNED,
    ServiceStatus.IN_DESIGN: CIStatus.IN_BUILD,
    ServiceStatus.IN_TRANSITION: CIStatus.IN_TEST,
    ServiceStatus.LIVE: CIStatus.LIVE,
    ServiceStatus.RETIRED: CIStatus.RETIRED,
}
# the service's field: the CI's field it is kept in
SYNCED = {
    "name": "name",
    "summary": "description",
    "owner": "owner_person",
    "confidentiality": "confidentiality",
    "integrity": "integrity",
    "availability": "availability",
}


# what a write of a service must cite an approved change for when its CI is controlled: what the CI keeps (its owner
# is not configuration, as on the CI itself) and which CI it is
CONTROLLED_FIELDS = frozenset({*SYNCED, "configuration_item"} - {"owner"})


def _ci_values(service: Any) -> dict[str, Any]:
    values = {
        ci_field: getattr(service, f"{field}_id" if field == "owner" else field) for field, ci_field in SYNCED.items()
    }
    values["owner_person_id"] = values.pop("owner_person")
    values["status"] = CI_STATUS[service.status]
    return values


def _service_class() -> CIClass:
    found = CIClass.objects.filter(name=CI_CLASS).first() or CIClass.objects.filter(service=True).order_by("pk").first()
    if found is None:
        raise RuntimeError("The CMDB has no service class: run the migrations (cmdb 0002 makes “Service”).")
    return found


def _authority(service: Any) -> str:
    """The change the service's write just cited (its event, written in this transaction), if any."""
    event = (
        AuditEvent.objects.filter(record_type=service._meta.label_lower, record_id=str(service.pk))
        .order_by("-id")
        .values_list("authorised_by", flat=True)
        .first()
    )
    return event or ""


def keep_ci(service: Any, actor: Any, changes: dict[str, Any] | None = None) -> None:
    """After a service is saved (in its transaction): create its CI, or bring the CI's kept fields in step, with an
    audit event on the CI naming the service."""
    values = _ci_values(service)
    reason = f"Kept in step with service {service.reference}."
    if changes and "configuration_item" in changes and service.configuration_item_id is None:
        return  # the service let its CI go (the CI stays in the CMDB as it was)
    if service.configuration_item_id is None:
        ci = ConfigurationItem(ci_class=_service_class(), created_by=actor, updated_by=actor, reference="")
        for name, value in values.items():
            setattr(ci, name, value)
        from meridian.core.services import next_reference

        ci.reference = next_reference(ConfigurationItem.REFERENCE_PREFIX, ConfigurationItem.REFERENCE_WIDTH)
        ci.save(force_insert=True)
        type(service).objects.filter(pk=service.pk).update(configuration_item=ci)
        service.configuration_item = ci
        audit.record_event(
            action=AuditAction.CREATE, obj=ci, actor=actor, changes=audit.diff({}, audit.snapshot(ci)), reason=reason
        )
        return
    ci = ConfigurationItem.objects.select_for_update().get(pk=service.configuration_item_id)
    before = audit.snapshot(ci)
    for name, value in values.items():
        setattr(ci, name, value)
    diff = audit.diff(before, audit.snapshot(ci))
    if not diff:
        return
    ci.version = F("version") + 1
    ci.updated_by, ci.updated_at = actor, timezone.now()
    ci.save()
    ci.refresh_from_db(fields=["version"])
    audit.record_event(
        action=AuditAction.UPDATE, obj=ci, actor=actor, changes=diff, reason=reason, authorised_by=_authority(service)
    )


def keep_ci_status(service: Any, actor: Any) -> None:
    """A transition's effect: the CI's status follows the service's."""
    keep_ci(service, actor)
