"""Django admin: a read-only view of the inbound mail log, beside core's notification log."""

from __future__ import annotations

from django.contrib import admin

from meridian.core.admin import ReadOnlyAdmin
from meridian.integrations.models import InboundMail


@admin.register(InboundMail)
class InboundMailAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "source", "sender", "subject", "outcome", "record_type", "record_id"]
    list_filter = ["outcome", "source"]
    search_fields = ["message_id", "sender", "subject", "reason"]
