"""Django admin: user accounts (audited) and read-only views of the audit trail and notification log.
Every other record is managed through Meridian's own pages and API, which go through the services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.db import transaction
from django.http import HttpRequest

from meridian.core import audit
from meridian.core.choices import AuditAction
from meridian.core.models import AuditEvent, NotificationLog, User


@admin.register(User)
class MeridianUserAdmin(UserAdmin):  # type: ignore[type-arg]
    fieldsets = (*UserAdmin.fieldsets, ("Preferences", {"fields": ("time_zone", "language")}))  # type: ignore[misc]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        with transaction.atomic():
            before = audit.snapshot(User.objects.get(pk=obj.pk)) if change else {}
            super().save_model(request, obj, form, change)
            after = audit.snapshot(obj)
            after.pop("password", None), before.pop("password", None)
            audit.record_event(
                action=AuditAction.UPDATE if change else AuditAction.CREATE,
                obj=obj,
                actor=request.user,
                changes=audit.diff(before, after),
                reason="changed in the admin site",
            )

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        with transaction.atomic():
            before = sorted(form.instance.groups.values_list("name", flat=True)) if change else []
            super().save_related(request, form, formsets, change)
            after = sorted(form.instance.groups.values_list("name", flat=True))
            if before != after:
                audit.record_event(
                    action=AuditAction.UPDATE,
                    obj=form.instance,
                    actor=request.user,
                    changes={"roles": {"before": before, "after": after}},
                    reason="changed in the admin site",
                )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        with transaction.atomic():
            audit.record_event(action=AuditAction.DELETE, obj=obj, actor=request.user, changes={})
            super().delete_model(request, obj)


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["seq", "occurred_at", "actor_label", "action", "record_type", "record_label"]
    list_filter = ["action", "record_type"]
    search_fields = ["record_label", "actor_label", "reason"]


@admin.register(NotificationLog)
class NotificationLogAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "event", "recipient", "subject", "status"]
    list_filter = ["status", "event"]
