"""The answer of change management to the CMDB's change control (`core.control.Authority`): a change authorises a
write of controlled configuration items while it is approved and lists every one of them."""

from __future__ import annotations

from typing import Any

from meridian.changes.choices import ChangeStatus
from meridian.changes.models import Change
from meridian.cmdb.models import ConfigurationItem

AUTHORISING = (ChangeStatus.APPROVED,)


def _items(records: list[Any]) -> list[ConfigurationItem]:
    return [r for r in records if isinstance(r, ConfigurationItem)]


class ApprovedChanges:
    def refusal(self, reference: str, records: list[Any], actor: Any) -> str | None:
        change = Change.objects.filter(reference=reference).first()
        if change is None:
            return f"There is no change {reference}."
        if change.status not in AUTHORISING:
            return (
                f"{reference} is {change.get_status_display().lower()}, not approved: only an approved change "
                "authorises an edit."
            )
        listed = set(change.configuration_items.values_list("pk", flat=True))
        missing = [ci for ci in _items(records) if ci.pk not in listed]
        if missing:
            names = ", ".join(f"{ci.reference} “{ci}”" for ci in missing)
            return (
                f"{reference} does not list {names}: add {'it' if len(missing) == 1 else 'them'} to the change first."
            )
        return None

    def candidates(self, records: list[Any], actor: Any) -> list[str]:
        changes = Change.objects.filter(status__in=AUTHORISING)
        for ci in _items(records):
            changes = changes.filter(configuration_items=ci)
        return list(changes.order_by("-id").values_list("reference", flat=True)[:5])

    def url(self, reference: str) -> str | None:
        change = Change.objects.filter(reference=reference).only("pk").first()
        return change.get_absolute_url() if change else None
