"""The monitoring intake: a delivery (`webhooks.Delivery`, read from Alertmanager's webhook or a generic JSON body)
applied to its alert group, independently of the kind of record it opens. A process app registers the one
`AlertHandler` that opens, updates and resolves its records (the tickets app: incidents, `tickets.monitoring`).

The rules, per alert group (the group key) of a source, under the group's row lock, in one transaction:

- the first firing delivery opens a record (`handler.open`); one record per group while it is open;
- a delivery whose alerts changed (new fingerprints firing, firing ones resolved or gone) adds an update to it
  (`handler.update`); an alert already firing is not announced again (dedupe by fingerprint);
- when no alert of the group fires any more (Alertmanager's `"status": "resolved"`) the record is resolved
  (`handler.resolve`);
- a firing after that opens a new record (Alertmanager starts a new group once a resolved one is flushed; the
  handler gets the previous record to link it); so does a new alert of a group whose record people closed;
- a delivery already applied (the same body: Alertmanager's retries) changes nothing.

Nothing is written when the handler refuses (its exception rolls the whole delivery back)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from meridian.core import policy
from meridian.core.choices import OrganisationKind
from meridian.integrations.alert_models import AlertGroup, AlertGroupStatus, AlertSource
from meridian.integrations.webhooks import RESOLVED, Alert, Delivery

KEPT_DIGESTS = 20  # deliveries remembered per group: a retry of any of them is recognised


@dataclass(frozen=True)
class Changes:
    """What a delivery changes in its group: alerts that started firing, and alerts that stopped (resolved, or no
    longer sent while the list is complete)."""

    new: list[Alert] = field(default_factory=list)
    resolved: list[Alert] = field(default_factory=list)
    firing: int = 0  # alerts firing after the delivery

    def __bool__(self) -> bool:
        return bool(self.new or self.resolved)

    def summary(self) -> str:
        """A work note listing the changes, one alert a line."""
        lines = []
        if self.new:
            lines.append(f"Firing ({len(self.new)} new):")
            lines += [f"- {_line(a)}" for a in self.new]
        if self.resolved:
            lines.append(f"Resolved ({len(self.resolved)}):")
            lines += [f"- {_line(a)}" for a in self.resolved]
        lines.append(f"{self.firing} alert{'s' if self.firing != 1 else ''} of the group firing now.")
        return "\n".join(lines)


def _line(alert: Alert) -> str:
    extra = f" [{alert.severity}]" if alert.severity else ""
    return f"{alert.title}{extra} (fingerprint {alert.fingerprint})"


@dataclass(frozen=True)
class Received:
    """What a handler is told: the source, the group's row (locked), the delivery, what it changes, the CIs the
    new alerts name (`source.ci_labels`), who posted it, and (to `open`) the group's previous record, if any."""

    source: AlertSource
    group: AlertGroup
    delivery: Delivery
    changes: Changes
    cis: list[Any]
    actor: Any
    previous: models.Model | None = None

    def description(self) -> str:
        """The text of a new record: the delivery's description, each firing alert with its labels and link, and
        where the alerts come from."""
        parts = [self.delivery.description] if self.delivery.description else []
        for alert in self.delivery.firing:
            lines = [f"{alert.title}" + (f" [{alert.severity}]" if alert.severity else "")]
            if alert.description and alert.description != self.delivery.description:
                lines.append(alert.description)
            if alert.labels:
                lines.append(", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items())))
            if alert.starts_at:
                lines.append(f"since {alert.starts_at.isoformat()}")
            if alert.url:
                lines.append(alert.url)
            parts.append("\n".join(lines))
        origin = f"From {self.source.name}" + (f" ({self.delivery.external_url})" if self.delivery.external_url else "")
        parts.append(f"{origin}, alert group {self.delivery.group_key}.")
        if self.previous is not None:
            parts.append(f"This group was earlier {getattr(self.previous, 'reference', None) or self.previous}.")
        return "\n\n".join(parts)


class AlertHandler(Protocol):
    """What a process app gives the intake (`register_alert_handler`). `open`, `update` and `resolve` run in the
    delivery's transaction with the group's row locked; they write through the app's services, as `actor`."""

    def may_receive(self, user: Any) -> bool:
        """Whether this login may post alerts (else 403): e.g. whether its roles may add the records it opens."""

    def open(self, received: Received) -> models.Model:
        """Open a record for the group's firing alerts (`received.delivery.firing`); return it."""

    def update(self, record: models.Model, received: Received) -> None:
        """Add an update to the group's open record: `received.changes` (new and resolved alerts)."""

    def resolve(self, record: models.Model, received: Received) -> None:
        """Resolve the group's record: none of its alerts fires any more."""

    def is_open(self, record: models.Model) -> bool:
        """Whether the record still takes updates (not resolved, closed or cancelled)."""


_handler: AlertHandler | None = None


def register_alert_handler(handler: AlertHandler) -> None:
    """Make `handler` the one that receives alerts (called once, by a process app's `AppConfig.ready`)."""
    global _handler
    _handler = handler


def alert_handler() -> AlertHandler | None:
    return _handler


@contextmanager
def handler_replaced(handler: AlertHandler | None) -> Iterator[None]:
    """For tests: `handler` receives alerts inside the block, the registered one again after it."""
    global _handler
    before, _handler = _handler, handler
    try:
        yield
    finally:
        _handler = before


class NoHandler(Exception):
    """No process app receives alerts (none registered a handler)."""


class SourceInactive(Exception):
    """The source is switched off."""


@dataclass(frozen=True)
class Outcome:
    """What a delivery did: `opened`, `updated`, `resolved`, `unchanged` (nothing new: a repeat notification, or a
    change to a group whose record is no longer open) or `replayed` (this very delivery was applied before)."""

    result: str
    group: AlertGroup
    record: models.Model | None

    def as_json(self) -> dict[str, Any]:
        record = self.record
        return {
            "result": self.result,
            "group": {"id": self.group.pk, "status": self.group.status, "firing": len(self.group.firing)},
            "record": None
            if record is None
            else {
                "type": record._meta.label_lower,
                "id": record.pk,
                "reference": getattr(record, "reference", None),
                "url": record.get_absolute_url() if hasattr(record, "get_absolute_url") else "",
            },
        }


def require_receiver(source: AlertSource, user: Any) -> AlertHandler:
    """The handler, when `user` may post to `source` (`NoHandler`, `SourceInactive`, `PermissionDenied`)."""
    handler = _handler
    if handler is None:
        raise NoHandler("No process receives alerts here: the tickets app registers the handler.")
    if not source.active:
        raise SourceInactive(f"The alert source “{source.name}” is switched off.")
    if not handler.may_receive(user):
        raise PermissionDenied(
            "This login may not open incidents from alerts: give it a role that may (a service desk agent)."
        )
    return handler


def key_digest(group_key: str) -> str:
    return hashlib.sha256(group_key.encode()).hexdigest()


def receive(source: AlertSource, delivery: Delivery, *, actor: Any) -> Outcome:
    """Apply one delivery to its group (the rules are in the module's docstring). Safe under concurrent retries:
    the group's row is created or locked first (`select_for_update().get_or_create`: on PostgreSQL a second insert
    of the same key waits for the first and then finds its row; SQLite writes one transaction at a time), then
    the handler locks the record it writes."""
    handler = require_receiver(source, actor)
    now = timezone.now()
    with transaction.atomic():
        group, _ = AlertGroup.objects.select_for_update().get_or_create(
            source=source,
            key_digest=key_digest(delivery.group_key),
            defaults={"group_key": delivery.group_key, "status": AlertGroupStatus.RESOLVED, "last_received_at": now},
        )
        record = record_of(group)
        if delivery.digest in group.digests:
            return Outcome("replayed", group, record)
        before: dict[str, str] = dict(group.firing)
        firing = {a.fingerprint: a.title for a in delivery.firing}
        resolved_now = {a.fingerprint for a in delivery.resolved}
        if not delivery.complete:  # an alert not sent may still fire (truncated, or a generic tool's one event)
            firing = {**{fp: t for fp, t in before.items() if fp not in resolved_now}, **firing}
        new = [a for a in delivery.firing if a.fingerprint not in before]
        resolved = [a for a in delivery.resolved if a.fingerprint in before]
        resolved += [
            Alert(fingerprint=fp, status=RESOLVED, labels={}, annotations={}, title=title)
            for fp, title in before.items()
            if fp not in firing and fp not in resolved_now
        ]
        is_open = record is not None and handler.is_open(record)
        changes = Changes(new=new, resolved=resolved, firing=len(firing))

        def told(changes: Changes, previous: models.Model | None = None) -> Received:
            cis = cis_named(source, [a for a in delivery.firing if a in changes.new], actor)
            return Received(source, group, delivery, changes, cis, actor, previous)

        if firing and not is_open and (record is None or new):
            changes = Changes(new=delivery.firing, firing=len(firing))
            record = handler.open(told(changes, previous=record))
            group.record_type = ContentType.objects.get_for_model(record)
            group.record_id = record.pk
            group.opened += 1
            result = "opened"
        elif is_open and not firing:
            assert record is not None
            handler.resolve(record, told(changes))
            result = "resolved"
        elif is_open and changes:
            assert record is not None
            handler.update(record, told(changes))
            result = "updated"
        else:
            result = "unchanged"
        group.firing = firing
        group.status = AlertGroupStatus.FIRING if firing else AlertGroupStatus.RESOLVED
        group.digests = [*group.digests, delivery.digest][-KEPT_DIGESTS:]
        group.last_received_at = now
        group.save()
    return Outcome(result, group, record)


def record_of(group: AlertGroup) -> models.Model | None:
    """The record last opened for the group (None when none was, or it is gone)."""
    if group.record_type_id is None or group.record_id is None:
        return None
    model = group.record_type.model_class()  # type: ignore[union-attr]
    if model is None:
        return None
    return model._default_manager.filter(pk=group.record_id).first()  # type: ignore[no-any-return]


_PORT = re.compile(r":\d+$")


def names_in(value: str) -> list[str]:
    """What a label value may name a CI by: the value, without a port (`db1:9100`), the host of a URL."""
    value = value.strip()
    names = [value]
    host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", value, flags=re.IGNORECASE).split("/")[0]
    for name in (_PORT.sub("", value), host, _PORT.sub("", host)):
        if name and name not in names:
            names.append(name)
    return names


def cis_named(source: AlertSource, alerts: list[Alert], actor: Any) -> list[Any]:
    """The CIs the alerts name, each once, in order: for each alert the first of `source.ci_labels` it has, matched
    with a CI's reference or name (case aside) among the CIs the actor may see of the source's customer (or shared
    ones; without a customer: the provider's own). A value naming no CI, or several, links none."""
    from meridian.cmdb.models import ConfigurationItem

    if source.organisation_id:
        owners = Q(organisation=source.organisation_id) | Q(organisation__isnull=True)
    else:
        owners = Q(organisation__isnull=True) | Q(organisation__kind=OrganisationKind.INTERNAL)
    visible = policy.restrict(ConfigurationItem.objects.filter(owners), actor)
    found: list[Any] = []
    for alert in alerts:
        value = next((alert.labels[n] for n in source.label_names if alert.labels.get(n, "").strip()), None)
        if value is None:
            continue
        for name in names_in(value):
            matches = list(visible.filter(Q(reference__iexact=name) | Q(name__iexact=name))[:2])
            if len(matches) == 1:
                if matches[0] not in found:
                    found.append(matches[0])
                break
            if matches:  # ambiguous: link none rather than a guess
                break
    return found


# --- the source's "Alert groups" tab --------------------------------------------------------------------------------

TAB_GROUPS = 50


def groups_of(source: AlertSource, user: Any) -> list[dict[str, Any]]:
    """The source's latest alert groups (most recent delivery first): key, status, alerts firing, the record last
    opened for it as `user` may read it ("hidden" when they may not see it), how many were opened, when."""
    rows = []
    for group in source.groups.select_related("record_type").order_by("-last_received_at", "-pk")[:TAB_GROUPS]:
        record = record_of(group)
        name, url = policy.link_of(user, record) if record is not None else ("", "")
        rows.append(
            {
                "id": group.pk,
                "group_key": group.group_key,
                "status": group.status,
                "firing": len(group.firing),
                "record": name,
                "record_url": url,
                "opened": group.opened,
                "first_received_at": group.first_received_at,
                "last_received_at": group.last_received_at,
            }
        )
    return rows


def tab_context(source: AlertSource, user: Any) -> dict[str, Any]:
    return {"groups": groups_of(source, user), "limit": TAB_GROUPS}


def tab_api(source: AlertSource, user: Any, request: Any) -> dict[str, Any]:
    return {"groups": groups_of(source, user)}


def tab_badge(source: AlertSource, user: Any) -> int | None:
    return source.groups.filter(status=AlertGroupStatus.FIRING).count() or None


def tab_schema() -> Any:
    from drf_spectacular.utils import inline_serializer
    from rest_framework import serializers

    row = inline_serializer(
        "AlertGroupRow",
        {
            "id": serializers.IntegerField(),
            "group_key": serializers.CharField(),
            "status": serializers.ChoiceField(choices=AlertGroupStatus.choices),
            "firing": serializers.IntegerField(help_text="Alerts of the group firing now."),
            "record": serializers.CharField(
                help_text="The record last opened for it; “hidden” when you may not see it; empty when none was."
            ),
            "record_url": serializers.CharField(),
            "opened": serializers.IntegerField(help_text="Records opened for the group so far."),
            "first_received_at": serializers.DateTimeField(),
            "last_received_at": serializers.DateTimeField(),
        },
        many=True,
    )
    return inline_serializer("AlertSourceGroups", {"groups": row})
