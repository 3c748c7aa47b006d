"""Template tags of watchers (`core.watchers`): the Follow button of a record's page and the list of the records a
person follows (their preferences page)."""

from __future__ import annotations

from typing import Any

from django import template

from meridian.core import policy, registry, watchers

register = template.Library()


@register.inclusion_tag("core/_watch.html", takes_context=True)
def watch_button(context: template.Context, obj: Any) -> dict[str, Any]:
    """The Follow / Following button of `obj` for the page's reader (nothing for a type without watchers)."""
    from meridian.core.watch_views import panel

    record_type = registry.find(type(obj))
    if record_type is None or getattr(record_type, "watchers", None) is None:
        return {"watch": None}
    request = context["request"]
    return {"obj": obj, "rt": record_type, "watch": panel(obj, record_type, request.user), "request": request}


@register.inclusion_tag("core/_followed.html", takes_context=True)
def followed_records(context: template.Context) -> dict[str, Any]:
    """The records the page's reader follows, each with an unfollow button."""
    request = context["request"]
    rows = [
        {
            "watch": watch,
            "record": record,
            "name": policy.name_of(request.user, record),
            "kind": rt.verbose_name,
            "reason": watchers.reason_label(rt, watch.reason),
            "unfollow_url": _unfollow_url(rt, record),
        }
        for watch, record, rt in watchers.followed_by(request.user)
    ]
    return {"rows": rows, "request": request, "csrf_token": context.get("csrf_token")}


def _unfollow_url(rt: registry.RecordType, record: Any) -> str:
    from django.urls import reverse

    return reverse(rt.url_name("unfollow"), args=[record.pk])
