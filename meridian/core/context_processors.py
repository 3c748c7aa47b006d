"""The navigation: the process areas and the record types the user may see in each."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from meridian.core import policy
from meridian.core.choices import Role


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_areas": []}
    areas = [
        {
            "label": label,
            "items": [
                {"label": str(rt.verbose_name_plural).capitalize(), "url": reverse(rt.url_name("list"))} for rt in types
            ],
        }
        for label, types in policy.visible_areas(user)
    ]
    roles = sorted(policy.roles_of(user))
    return {"nav_areas": areas, "user_roles": roles, "user_role_labels": [Role(r).label for r in roles]}
