"""A service's place in the CMDB, read from its configuration item's relationships (never a second copy): the
components that are part of it, the services it depends on and the services that depend on it."""

from __future__ import annotations

from typing import Any

from meridian.cmdb import graph, impact
from meridian.cmdb.choices import Propagation
from meridian.cmdb.models import Relationship
from meridian.core import policy
from meridian.core.registry import VIEW


def structure(service: Any, user: Any) -> dict[str, Any]:
    """{"ci": the service's CI or None, "components": [(relationship, CI)], "depends_on": [...], "used_by": [...]},
    each CI one the reader may see. A component: a CI whose relationship to the service's CI carries its failure to
    the service ("is part of"); a dependency: a CI the service's CI relates to with a kind that carries the
    target's failure to it ("depends on", "runs on"); used by: the reverse."""
    ci = service.configuration_item
    empty: dict[str, Any] = {"ci": ci, "components": [], "depends_on": [], "used_by": [], "changes": []}
    if ci is None:
        return empty
    to_whole = (Propagation.TO_TARGET, Propagation.BOTH)
    to_dependant = (Propagation.TO_SOURCE, Propagation.BOTH)
    rows = Relationship.objects.select_related(
        "kind", "source__ci_class", "target__ci_class", "source__service", "target__service"
    )  # a related CI's service (a link on the tab) read with it, not once per row
    incoming = rows.filter(target=ci).order_by("source__name")
    outgoing = rows.filter(source=ci).order_by("target__name")

    def visible(other: Any) -> bool:
        return policy.can(user, VIEW, other)

    empty["components"] = [(r, r.source) for r in incoming if r.kind.propagates in to_whole and visible(r.source)]
    empty["depends_on"] = [(r, r.target) for r in outgoing if r.kind.propagates in to_dependant and visible(r.target)]
    empty["used_by"] = [(r, r.source) for r in incoming if r.kind.propagates in to_dependant and visible(r.source)]
    empty["changes"] = open_changes(ci, user)
    return empty


def open_changes(ci: Any, user: Any) -> list[Any]:
    """The changes not yet ended that list the service's CI or anything it depends on, however far down (its
    components, their hosts, the database cluster ...): what is about to change under the service."""
    from meridian.changes.choices import ChangeStatus
    from meridian.changes.models import Change

    under = impact.analyse([ci.pk], impact.DEPENDENCIES).reached.keys()
    ended = [ChangeStatus.CLOSED, ChangeStatus.WITHDRAWN, ChangeStatus.REJECTED]
    found = Change.objects.filter(configuration_items__in=list(under)).exclude(status__in=ended).distinct()
    return list(policy.restrict(found, user).order_by("-updated_at")[:20])


def tab_context(service: Any, user: Any) -> dict[str, Any]:
    return {"structure": structure(service, user)}


def _pairs(pairs: list[tuple[Any, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "id": ci.pk,
            "reference": ci.reference,
            "name": ci.name,
            "class": str(ci.ci_class),
            "status": ci.status,
            "relationship": relationship.kind.name,
            "service": getattr(getattr(ci, "service", None), "reference", None),
            "url": ci.get_absolute_url(),
        }
        for relationship, ci in pairs
    ]


def tab_api(service: Any, user: Any, request: Any) -> dict[str, Any]:
    found = structure(service, user)
    ci = found["ci"]
    return {
        "configuration_item": None
        if ci is None
        else {"id": ci.pk, "reference": ci.reference, "url": ci.get_absolute_url()},
        "components": _pairs(found["components"]),
        "depends_on": _pairs(found["depends_on"]),
        "used_by": _pairs(found["used_by"]),
        "open_changes": [
            {"id": c.pk, "reference": c.reference, "title": c.title, "status": c.status, "url": c.get_absolute_url()}
            for c in found["changes"]
        ],
    }


def graph_context(service: Any, user: Any, request: Any) -> dict[str, Any]:
    if service.configuration_item is None:
        return {"graph": None}
    return graph.tab_context(service.configuration_item, user, request)


def graph_api(service: Any, user: Any, request: Any) -> dict[str, Any]:
    if service.configuration_item is None:
        return {"nodes": [], "edges": [], "clusters": [], "truncated": False}
    return graph.tab_api(service.configuration_item, user, request)
