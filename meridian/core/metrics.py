"""`/metrics` in Prometheus text format: records per type, audit events, notifications by status."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from meridian.core import audit, registry
from meridian.core.models import AuditEvent, NotificationLog


def render_metrics() -> bytes:
    reg = CollectorRegistry()
    records = Gauge("meridian_records", "Records stored, by type.", ["type"], registry=reg)
    for record_type in registry.all_types():
        records.labels(type=record_type.label).set(record_type.model.objects.count())
    last = AuditEvent.objects.filter(seq__isnull=False).order_by("-seq").values_list("seq", flat=True).first()
    waiting = audit.backlog()
    Gauge("meridian_audit_events", "Events in the audit trail.", registry=reg).set((last or 0) + waiting.count)
    Gauge("meridian_audit_unchained", "Audit events waiting to be chained.", registry=reg).set(waiting.count)
    notifications = Gauge("meridian_notifications", "Outbound notifications, by status.", ["status"], registry=reg)
    for status in ("queued", "sent", "failed"):
        notifications.labels(status=status).set(NotificationLog.objects.filter(status=status).count())
    return generate_latest(reg)
