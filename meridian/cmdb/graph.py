"""The relationship graph of a configuration item (the CI's Graph tab and its API): the CI and its neighbours to
`depth` relationships, in both directions, as a reader may see them.

- **Only what the reader may see.** Every CI of the graph comes from the reader's restricted queryset
  (`core.querysets.records_for`): a CI they may not see is no node, and an edge to it is left out, so not even its
  name or reference reaches the browser. The graph is walked through visible CIs only.
- **Edges.** A relationship `source —kind→ target` is a directed edge labelled with the kind's forward label; a
  redundancy group's member is joined to the group's CI by a “member of” edge. A group's CI is marked “k of n”
  (n counts every member, seen or not, as the impact tab's “2 of 3 down” does).
- **A cap.** At most `MAX_NODES` nodes per answer, nearest first (then by name); `truncated` says the cap cut it.
- **Clusters.** Where at least `CLUSTER_MIN` CIs of one class hang off the same CI by the same kind of relationship
  in the same direction and by nothing else (a host's sixty virtual machines), they are also named as one cluster
  (`clusters`, and `cluster` on each such node): the page shows the cluster as one node until it is opened, so a
  graph of a few hundred CIs stays readable. `nodes` and `edges` still hold every CI and relationship.
- **Impact.** With `impact_of` (a CI the reader may see: the page's CI, when a node of its graph is expanded), each
  node says whether it fails when that CI is down, from `cmdb.impact.analyse`.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.db.models import Count, Q
from django.urls import reverse

from meridian.cmdb import impact
from meridian.cmdb.choices import CIStatus
from meridian.cmdb.models import ConfigurationItem, RedundancyGroup, Relationship
from meridian.core import registry
from meridian.core.querysets import records_for

DEFAULT_DEPTH, MAX_DEPTH = 1, 3
MAX_NODES = 300
MEMBER_OF = "member of"
CLUSTER_MIN = 8  # this many alike CIs hanging off one CI are shown as one node until opened


def visible_cis(user: Any) -> Any:
    """The CIs `user` may see: the queryset of the CI list, detail page and API."""
    return records_for(registry.get(ConfigurationItem), user, annotate=False)


def _adjacent(frontier: list[int]) -> set[int]:
    """The CIs one relationship or one group membership away from the frontier, seen or not."""
    found: set[int] = set()
    for source, target in Relationship.objects.filter(
        Q(source_id__in=frontier) | Q(target_id__in=frontier)
    ).values_list("source_id", "target_id"):
        found.update((source, target))
    memberships = RedundancyGroup.members.through.objects.filter(
        Q(redundancygroup__ci_id__in=frontier) | Q(configurationitem_id__in=frontier)
    ).values_list("redundancygroup__ci_id", "configurationitem_id")
    for group_ci, member in memberships:
        found.update((group_ci, member))
    return found


def neighbourhood(
    ci: ConfigurationItem,
    user: Any,
    depth: int = DEFAULT_DEPTH,
    impact_of: int | None = None,
    max_nodes: int = MAX_NODES,
) -> dict[str, Any]:
    """`{nodes, edges, truncated}`: `ci` and the CIs it reaches in `depth` steps through CIs `user` may see, at most
    `max_nodes` of them."""
    visible = visible_cis(user)
    depths = {ci.pk: 0}
    truncated = False
    frontier = [ci.pk]
    for level in range(1, depth + 1):
        candidates = _adjacent(frontier) - depths.keys()
        if not candidates:
            break
        # the visible ones, the first by name filling the room left
        new = list(visible.filter(pk__in=sorted(candidates)).order_by("name", "pk").values_list("pk", flat=True))
        room = max_nodes - len(depths)
        if len(new) > room:
            new, truncated = new[:room], True
        depths.update((pk, level) for pk in new)
        frontier = new
        if truncated:
            break
    nodes, edges = _nodes(depths, ci.pk, impact_of), _edges(set(depths))
    return {"nodes": nodes, "edges": edges, "clusters": _clusters(nodes, edges), "truncated": truncated}


def _clusters(nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The clusters of the graph (see the module's docstring), each CI in it marked with the cluster's id: a CI
    joined to the graph by one edge only, farther from the centre than the CI at its other end, grouped by that CI,
    the edge's kind and direction and its own class."""
    degree: Counter[int] = Counter()
    for edge in edges:
        degree[edge["source"]] += 1
        degree[edge["target"]] += 1
    by_id = {node["id"]: node for node in nodes}
    buckets: dict[tuple[int, str, str, str], list[int]] = {}
    for edge in edges:
        for leaf, hub, direction in ((edge["source"], edge["target"], "to"), (edge["target"], edge["source"], "from")):
            node = by_id[leaf]
            if not node["centre"] and degree[leaf] == 1 and node["depth"] > by_id[hub]["depth"]:
                buckets.setdefault((hub, edge["label"], direction, node["class"]), []).append(leaf)
    clusters: list[dict[str, Any]] = []
    for (hub, label, direction, class_name), members in sorted(buckets.items(), key=lambda item: item[0]):
        if len(members) < CLUSTER_MIN:
            continue
        cluster_id = f"cluster-{hub}-{len(clusters) + 1}"
        for member in members:
            by_id[member]["cluster"] = cluster_id
        clusters.append(
            {
                "id": cluster_id,
                "hub": hub,
                "label": label,
                "direction": direction,
                "class": class_name,
                "count": len(members),
                "members": members,
                "impacted": sum(1 for m in members if by_id[m]["impacted"]),
            }
        )
    return clusters


def _nodes(depths: dict[int, int], centre: int, impact_of: int | None) -> list[dict[str, Any]]:
    impacted = impact.analyse([impact_of]).ids() if impact_of is not None else None
    groups = {
        ci_id: (k, n)
        for ci_id, k, n in RedundancyGroup.objects.filter(ci_id__in=depths)
        .annotate(n=Count("members"))
        .values_list("ci_id", "required_up", "n")
    }
    statuses = dict(ConfigurationItem._meta.get_field("status").choices)  # type: ignore[arg-type]
    rows = ConfigurationItem.objects.filter(pk__in=depths).values_list(
        "pk", "reference", "name", "ci_class__name", "status"
    )
    nodes = []
    for pk, reference, name, class_name, status in rows:
        group = groups.get(pk)
        nodes.append(
            {
                "id": pk,
                "reference": reference,
                "name": name,
                "class": class_name,
                "status": status,
                "status_label": str(statuses.get(status, status)),
                "depth": depths[pk],
                "centre": pk == centre,
                "group": f"{group[0]} of {group[1]}" if group else None,
                "impacted": None if impacted is None else pk in impacted,
                "cluster": None,
                "url": reverse("cmdb:configurationitem_detail", args=[pk]),
                "api": reverse("api:cmdb-cis-graph", args=[pk]),
            }
        )
    nodes.sort(key=lambda node: (node["depth"], node["name"].lower(), node["id"]))
    return nodes


def _edges(ids: set[int]) -> list[dict[str, Any]]:
    """The relationships and memberships between the CIs `ids` (both ends among them)."""
    edges = [
        {"id": f"r{pk}", "source": source, "target": target, "label": label, "kind": kind}
        for pk, source, target, label, kind in Relationship.objects.filter(source_id__in=ids, target_id__in=ids)
        .order_by("pk")
        .values_list("pk", "source_id", "target_id", "kind__forward_label", "kind__name")
    ]
    memberships = (
        RedundancyGroup.members.through.objects.filter(configurationitem_id__in=ids, redundancygroup__ci_id__in=ids)
        .order_by("pk")
        .values_list("configurationitem_id", "redundancygroup__ci_id")
    )
    edges += [
        {"id": f"m{member}-{group_ci}", "source": member, "target": group_ci, "label": MEMBER_OF, "kind": MEMBER_OF}
        for member, group_ci in memberships
    ]
    return edges


def parse_query(user: Any, params: Any, default_impact_of: int | None = None) -> tuple[int, int | None, dict[str, str]]:
    """`?depth=1&impact_of=12` read: the depth (1 to `MAX_DEPTH`) and the CI whose impact to flag (one the reader
    may see; a CI they may not see is named like a missing one); errors by parameter."""
    errors: dict[str, str] = {}
    depth = DEFAULT_DEPTH
    raw_depth = (params.get("depth") or "").strip()
    if raw_depth:
        if raw_depth.isdigit() and 1 <= int(raw_depth) <= MAX_DEPTH:
            depth = int(raw_depth)
        else:
            errors["depth"] = f"A whole number from 1 to {MAX_DEPTH}."
    impact_of = default_impact_of
    raw_impact = (params.get("impact_of") or "").strip()
    if raw_impact:
        if raw_impact.isdigit() and visible_cis(user).filter(pk=int(raw_impact)).exists():
            impact_of = int(raw_impact)
        else:
            errors["impact_of"] = f"No such configuration item: {raw_impact}."
    return depth, impact_of, errors


# --- the tab and the API --------------------------------------------------------------------------------------------


def tab_context(ci: ConfigurationItem, user: Any, request: Any) -> dict[str, Any]:
    """The page's graph: `?depth=` (a wrong one is said, and the default shown), with the CI's own impact."""
    depth, _impact_of, errors = parse_query(user, {"depth": request.GET.get("depth", "")})
    return {
        "graph": neighbourhood(ci, user, depth, impact_of=ci.pk),
        "graph_errors": errors,
        "graph_depth": depth,
        "graph_depths": range(1, MAX_DEPTH + 1),
        "graph_max_nodes": MAX_NODES,
        "graph_statuses": CIStatus.choices,
    }


def tab_api(ci: ConfigurationItem, user: Any, request: Any) -> dict[str, Any]:
    from rest_framework.exceptions import ValidationError

    depth, impact_of, errors = parse_query(user, request.query_params)
    if errors:
        raise ValidationError({name: [message] for name, message in errors.items()})
    return neighbourhood(ci, user, depth, impact_of)


def tab_schema() -> Any:
    from drf_spectacular.utils import inline_serializer
    from rest_framework import serializers

    node = inline_serializer(
        "GraphNode",
        {
            "id": serializers.IntegerField(),
            "reference": serializers.CharField(),
            "name": serializers.CharField(),
            "class": serializers.CharField(),
            "status": serializers.CharField(help_text="The lifecycle status's value: “live”."),
            "status_label": serializers.CharField(),
            "depth": serializers.IntegerField(help_text="Relationships between it and this CI."),
            "centre": serializers.BooleanField(help_text="This CI."),
            "group": serializers.CharField(allow_null=True, help_text="A redundancy group's CI: “2 of 3” up needed."),
            "impacted": serializers.BooleanField(
                allow_null=True, help_text="Fails when the CI `impact_of` is down; null without `impact_of`."
            ),
            "cluster": serializers.CharField(allow_null=True, help_text="The cluster it is shown in, if any."),
            "url": serializers.CharField(help_text="Its page."),
            "api": serializers.CharField(help_text="Its graph (this endpoint for that CI)."),
        },
        many=True,
    )
    cluster = inline_serializer(
        "GraphCluster",
        {
            "id": serializers.CharField(),
            "hub": serializers.IntegerField(help_text="The CI they hang off."),
            "label": serializers.CharField(help_text="The kind's forward label (or “member of”)."),
            "direction": serializers.CharField(help_text="to: they relate to the hub; from: the hub relates to them."),
            "class": serializers.CharField(),
            "count": serializers.IntegerField(),
            "members": serializers.ListField(child=serializers.IntegerField()),
            "impacted": serializers.IntegerField(help_text="How many of them fail when `impact_of` is down."),
        },
        many=True,
    )
    edge = inline_serializer(
        "GraphEdge",
        {
            "id": serializers.CharField(),
            "source": serializers.IntegerField(),
            "target": serializers.IntegerField(),
            "label": serializers.CharField(help_text="The kind's forward label, or “member of” (a redundancy group)."),
            "kind": serializers.CharField(),
        },
        many=True,
    )
    return inline_serializer(
        "Graph",
        {
            "nodes": node,
            "edges": edge,
            "clusters": cluster,
            "truncated": serializers.BooleanField(help_text=f"The cap of {MAX_NODES} nodes cut the graph."),
        },
    )
