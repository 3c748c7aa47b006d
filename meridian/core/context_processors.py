"""The navigation: a menu per process area with the record types and pages the user may see in it, the current
area and page marked, and the Django admin for those the admin site lets in."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.text import capfirst

from meridian.core import policy
from meridian.core.choices import Role


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_areas": []}
    match = getattr(request, "resolver_match", None)
    namespace, url_name = (match.namespace, match.url_name or "") if match else ("", "")
    view_name = match.view_name if match else ""
    areas = []
    for visible in policy.visible_areas(user):
        items = []
        for page in visible.pages:
            try:
                url = reverse(page.url_name)
            except NoReverseMatch:  # a page whose app is not installed in this deployment
                continue
            items.append(
                {
                    "label": page.label,
                    "url": url,
                    "icon": page.icon,
                    "current": view_name == page.url_name,
                    "aria_current": "page" if view_name == page.url_name else "",
                }
            )
        for index, rt in enumerate(visible.types):
            current = namespace == rt.app_label and url_name.startswith(f"{rt.model_name}_")
            items.append(
                {
                    "label": capfirst(rt.verbose_name_plural),
                    "url": reverse(rt.url_name("list")),
                    "current": current,
                    # the list itself is the page; on a record of the type, the item marks where the reader is
                    "aria_current": ("page" if url_name == f"{rt.model_name}_list" else "true") if current else "",
                    "divider_before": index == 0 and bool(items),
                }
            )
        if items:
            area = visible.area
            current_area = any(item["current"] for item in items)
            areas.append(
                {"key": area.key, "label": area.label, "icon": area.icon, "items": items, "current": current_area}
            )
    roles = sorted(policy.roles_of(user))
    return {
        "nav_areas": areas,
        "user_roles": roles,
        "user_role_labels": [Role(r).label for r in roles],
        "admin_url": reverse("admin:index") if may_use_admin(request) else None,
    }


def may_use_admin(request: HttpRequest) -> bool:
    """Whether the Django admin lets this user in and shows them anything: an active staff account (what
    `admin.site.has_permission` asks) that is a superuser or holds at least one model permission."""
    if not admin.site.has_permission(request):
        return False
    user: Any = request.user
    return bool(user.is_superuser or user.get_all_permissions())
