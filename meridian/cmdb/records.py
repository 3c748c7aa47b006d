"""The CMDB's record types, registered with the generic machinery (pages, API, search, export, policy)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count

from meridian.cmdb import audits, baselines, control, graph, impact
from meridian.cmdb.choices import CIStatus, FindingKind
from meridian.cmdb.forms import ScopedForm
from meridian.cmdb.models import (
    Baseline,
    BaselineSchedule,
    CIClass,
    ConfigurationAudit,
    ConfigurationItem,
    Finding,
    RedundancyGroup,
    Relationship,
    RelationshipKind,
    check_group,
    descendant_class_ids,
)
from meridian.cmdb.workflows import CI_LIFECYCLE, FINDING_LIFECYCLE, KEEPERS
from meridian.core.attachments import Attachments
from meridian.core.choices import STATUS_COLOURS, Role
from meridian.core.control import Control
from meridian.core.conversation import Conversation
from meridian.core.registry import (
    ADD,
    ADMINS,
    CHANGE,
    DELETE,
    STAFF,
    VIEW,
    Computed,
    Link,
    RecordType,
    Related,
    register,
    register_page,
)
from meridian.core.tabs import Tab
from meridian.core.uploads import TextUpload
from meridian.core.watchers import Watchers

CUSTOMERS_TOO = STAFF | {Role.CUSTOMER_USER}
# the colours of the status badges in lists
STATUS_COLOURS.update(
    {
        CIStatus.IN_BUILD: "info",
        CIStatus.IN_TEST: "info",
        CIStatus.LIVE: "success",
        CIStatus.UNDER_MAINTENANCE: "warning",
        CIStatus.RETIRED: "secondary",
        CIStatus.DISPOSED: "dark",
    }
)


def _controlled(ci: ConfigurationItem) -> bool:
    return ci.controlled


# change control (`core.control`): an edit of a controlled CI's attributes, status, version or relationships cites
# an approved change that lists it; who owns and supports it and its description are not configuration
CI_CONTROL = Control(
    touched=lambda ci: [ci],
    controlled=_controlled,
    exempt=frozenset({"description", "owner_person", "owner_team", "support_team"}),
)
RELATIONSHIP_CONTROL = Control(
    touched=lambda rel: [getattr(rel, "source", None), getattr(rel, "target", None)], controlled=_controlled
)
GROUP_CONTROL = Control(touched=lambda group: [getattr(group, "ci", None)], controlled=_controlled)
KEPT = {ADD: KEEPERS, CHANGE: KEEPERS, DELETE: KEEPERS}  # configuration managers keep the CMDB


def class_and_descendants(values: list[str]) -> set[int]:
    """A custom field scoped to a CI class applies to the classes below it too (Hardware's to Server)."""
    return descendant_class_ids({int(v) for v in values if v.isdigit()})


def _impact_context(ci: ConfigurationItem, user: Any, request: Any) -> dict[str, Any]:
    query, errors = impact.parse_query(ci, user, request.GET)
    if errors.get("direction"):
        query.direction = impact.IMPACT
    result = impact.analyse(query.down, query.direction)
    return {
        "impact": impact.describe(result, user, query.limit),
        "impact_errors": errors,
        "impact_direction": query.direction,
        "impact_down": request.GET.get("down", ""),
    }


def _impact_api(ci: ConfigurationItem, user: Any, request: Any) -> dict[str, Any]:
    from rest_framework.exceptions import ValidationError

    query, errors = impact.parse_query(ci, user, request.query_params)
    if errors:
        raise ValidationError({name: [message] for name, message in errors.items()})
    return impact.describe(impact.analyse(query.down, query.direction), user, query.limit)


def _impact_schema() -> Any:
    from drf_spectacular.utils import inline_serializer
    from rest_framework import serializers

    named: dict[str, serializers.Field[Any, Any, Any, Any]] = {
        "id": serializers.IntegerField(allow_null=True),
        "name": serializers.CharField(),
    }
    step = inline_serializer(
        "ImpactPathStep",
        {**named, "group": serializers.CharField(allow_null=True, help_text="A redundancy group: “2 of 3 down”.")},
        many=True,
    )
    item = inline_serializer(
        "ImpactedCI",
        {
            "id": serializers.IntegerField(),
            "reference": serializers.CharField(),
            "name": serializers.CharField(),
            "class": serializers.CharField(),
            "status": serializers.CharField(),
            "depth": serializers.IntegerField(help_text="Relationships between it and the nearest CI down."),
            "path": step,
            "path_text": serializers.CharField(help_text="“Payroll ← ERP app ← db-cluster (2 of 3 down) ← host-7”"),
        },
        many=True,
    )
    return inline_serializer(
        "Impact",
        {
            "direction": serializers.CharField(help_text="impact or dependencies"),
            "down": inline_serializer("ImpactDown", named, many=True),
            "count": serializers.IntegerField(help_text="CIs reached that you may see (results holds up to limit)."),
            "results": item,
            "services": inline_serializer(
                "ImpactService",
                {
                    "id": serializers.IntegerField(),
                    "reference": serializers.CharField(),
                    "name": serializers.CharField(),
                },
                many=True,
            ),
            "organisations": inline_serializer(
                "ImpactOrganisation", {"id": serializers.IntegerField(), "name": serializers.CharField()}, many=True
            ),
        },
    )


register(
    RecordType(
        model=CIClass,
        fields=["name", "parent", "description", "configuration_policy", "service", "active"],
        list_columns=["name", "parent", "configuration_policy", "service", "active", "item_count"],
        filter_fields=["parent", "configuration_policy", "service", "active"],
        search_fields=["name", "description"],
        permissions={ADD: KEEPERS, CHANGE: KEEPERS, DELETE: KEEPERS},
        reference_data=True,  # a customer reading their CI reads its class (“Server”)
        area="control",
        select_related=["parent"],
        computed={"item_count": Computed(Count("items", distinct=True), "CIs")},
        related=[Related("children", "Subclasses"), Related("items")],
        help_text="Kinds of configuration items in a hierarchy; their attributes are custom fields scoped to a class.",
    )
)

register(
    RecordType(
        model=ConfigurationItem,
        fields=[
            "name",
            "ci_class",
            "organisation",
            "description",
            "ci_version",
            "location",
            "owner_person",
            "owner_team",
            "support_team",
            "criticality",
            "confidentiality",
            "integrity",
            "availability",
            "configuration_policy",
        ],
        list_columns=["reference", "name", "ci_class", "status", "organisation", "criticality", "support_team"],
        filter_fields=["ci_class", "status", "organisation", "criticality", "support_team", "location"],
        search_fields=["reference", "name", "description"],
        permissions={VIEW: CUSTOMERS_TOO, **KEPT},
        lifecycle=CI_LIFECYCLE,
        control=CI_CONTROL,
        area="control",
        # teams are the provider's; a customer's server may stand in the provider's data centre (any location)
        links={"owner_team": Link.INTERNAL, "support_team": Link.INTERNAL, "location": Link.ANY},
        select_related=["ci_class", "organisation", "location", "owner_person", "owner_team", "support_team"],
        related=[
            Related("relationships_out", "Relationships from this CI", columns=["kind", "target", "note"]),
            Related("relationships_in", "Relationships to this CI", columns=["source", "kind", "note"]),
            Related("member_of", "Redundancy groups it is a member of"),
            Related("changes", "Changes that list it", columns=["reference", "title", "status", "updated_at"]),
        ],
        tabs=[
            Tab(
                "impact",
                "Impact",
                template="cmdb/tabs/impact.html",
                request_context=_impact_context,
                api=_impact_api,
                api_schema=_impact_schema(),
                help_text="What fails when this CI (and the CIs in `down=`, ids or references) is down, with the "
                "path that makes each true, the services and customer organisations reached; `direction="
                "dependencies`: everything it depends on. `limit` (default 500) caps the results; `count` is all.",
            ),
            Tab(
                "control",
                "Change control",
                template="cmdb/tabs/control.html",
                context=control.tab_context,
                roles=STAFF,
                api=control.tab_api,
                api_schema=control.tab_schema(),
                help_text="For each attribute of the CI and each of its relationships: its value, whether changing it "
                "needs an authorising change, and when, by whom and under which change it was last set.",
            ),
            Tab(
                "graph",
                "Graph",
                template="cmdb/tabs/graph.html",
                request_context=graph.tab_context,
                api=graph.tab_api,
                api_schema=graph.tab_schema(),
                help_text="This CI and its neighbours to `depth` relationships (1 to 3, default 1) that you may "
                f"see, at most {graph.MAX_NODES} nodes (`truncated`); `impact_of`: flag the CIs that fail when that "
                "CI is down.",
            ),
        ],
        custom_fields=True,
        scope_expansions={"ci_class": class_and_descendants},
        record_links=True,
        attachments=Attachments(),  # manuals, licences, disposal certificates
        conversation=Conversation(),
        watchers=Watchers(auto=["owner_person"]),
        help_text="Configuration items: servers, applications, databases, documents, services; with their "
        "relationships and the impact of their failure.",
    )
)

register(
    RecordType(
        model=RelationshipKind,
        fields=["name", "forward_label", "reverse_label", "propagates", "description"],
        list_columns=["name", "forward_label", "reverse_label", "propagates", "relationship_count"],
        filter_fields=["propagates"],
        search_fields=["name", "forward_label", "reverse_label"],
        reference_data=True,  # a customer reading their CI's relationships reads their kinds (“runs on”)
        area="control",
        computed={"relationship_count": Computed(Count("relationships", distinct=True), "Relationships")},
        help_text="Kinds of relationship between CIs, and whether a failure propagates along them.",
    )
)

register(
    RecordType(
        model=Relationship,
        fields=["source", "kind", "target", "note"],
        list_columns=["source", "kind", "target", "note"],
        filter_fields=["kind", "source", "target"],
        # not the target's name: a customer's relationship may point at the provider's CI, whose name they may not
        # learn by searching (the source is always of the relationship's own organisation); filter by target instead
        search_fields=["note", "source__name"],
        permissions={VIEW: CUSTOMERS_TOO, **KEPT},
        area="control",
        control=RELATIONSHIP_CONTROL,
        select_related=["source", "kind", "target"],
        help_text="Typed, directed relationships between CIs: “ERP app runs on vm-12”.",
    )
)

register(
    RecordType(
        model=RedundancyGroup,
        fields=["ci", "members", "required_up", "description"],
        list_columns=["ci", "required_up", "member_count", "description"],
        search_fields=["ci__name", "description"],
        permissions={VIEW: CUSTOMERS_TOO, **KEPT},
        area="control",
        after_save=check_group,
        control=GROUP_CONTROL,
        select_related=["ci"],
        prefetch_related=["members"],
        computed={"member_count": Computed(Count("members", distinct=True), "Members")},
        help_text="Redundant CIs of which k of n must be up for what depends on the group's CI to be up.",
    )
)


# --- baselines and configuration audits (`cmdb.baselines`, `cmdb.audits`) ---------------------------------------
# staff-only: a baseline or an audit spans every organisation's CIs, so customer users see none of them


SCOPE_FIELDS = ["scope", "scope_ci", "scope_class", "scope_view"]
CONTENTS_PAGE = 50


def _contents_context(baseline: Baseline, user: Any, request: Any) -> dict[str, Any]:
    from django.core.paginator import Paginator

    items = baseline.items.only("ci_id", "reference", "name", "data").order_by("reference", "ci_id")
    page = Paginator(items, CONTENTS_PAGE).get_page(request.GET.get("page"))
    rows = []
    for item in page.object_list:
        values = item.data.get("f", {})
        ci_class = values.get("ci_class")
        status = baselines._Reader.value("status", values.get("status"))
        rows.append(
            {
                "item": item,
                "class": ci_class[1] if ci_class else "",
                "status": status,
                "relationships": len(item.data.get("r", [])),
            }
        )
    return {"contents_page": page, "contents_rows": rows}


def _compare_context(baseline: Baseline, user: Any, request: Any) -> dict[str, Any]:
    from django.core.exceptions import ValidationError

    from meridian.core import policy

    others = policy.restrict(Baseline.objects.exclude(pk=baseline.pk), user).order_by("-created_at", "-id")[:200]
    chosen = request.GET.get("with", baselines.PRESENT)
    try:
        other = baselines.parse_with(baseline, user, chosen)
    except ValidationError as exc:
        return {"others": others, "chosen": chosen, "compare_error": exc.message_dict["with"][0]}
    comparison = baselines.compare(baseline, other, user)
    chosen = baselines.PRESENT if other == baselines.PRESENT else str(other.pk)  # type: ignore[union-attr]
    return {"others": others, "chosen": chosen, "comparison": comparison}


def _compare_api(baseline: Baseline, user: Any, request: Any) -> dict[str, Any]:
    from django.core.exceptions import ValidationError
    from rest_framework.exceptions import ValidationError as Invalid

    try:
        other = baselines.parse_with(baseline, user, request.query_params.get("with"))
    except ValidationError as exc:
        raise Invalid(exc.message_dict) from exc
    return baselines.compare(baseline, other, user).as_json()


def _compare_schema() -> Any:
    from drf_spectacular.utils import inline_serializer
    from rest_framework import serializers

    def ci(name: str, extra: dict[str, Any] | None = None) -> Any:
        return inline_serializer(
            name,
            {
                "ci_id": serializers.IntegerField(),
                "reference": serializers.CharField(),
                "name": serializers.CharField(),
                "class": serializers.CharField(),
                **(extra or {}),
            },
            many=True,
        )

    change = inline_serializer(
        "BaselineAttributeChange",
        {"label": serializers.CharField(), "before": serializers.CharField(), "after": serializers.CharField()},
        many=True,
    )
    texts = serializers.ListField(child=serializers.CharField())
    return inline_serializer(
        "BaselineComparison",
        {
            "before": serializers.CharField(help_text="The earlier baseline (reference and name)."),
            "after": serializers.CharField(help_text="The later baseline, or “now”."),
            "counts": inline_serializer(
                "BaselineComparisonCounts",
                {n: serializers.IntegerField() for n in ("added", "removed", "changed", "unchanged")},
            ),
            "added": ci("BaselineCIAdded"),
            "removed": ci("BaselineCIRemoved"),
            "changed": ci(
                "BaselineCIChanged",
                {
                    "attributes": change,
                    "relationships_added": texts,
                    "relationships_removed": texts,
                },
            ),
        },
    )


def _findings_context(configuration_audit: ConfigurationAudit, user: Any) -> dict[str, Any]:
    findings = list(
        configuration_audit.findings.select_related("ci", "assignee", "team").order_by("kind", "status", "id")[:2000]
    )
    groups = []
    for kind in FindingKind:
        rows = [f for f in findings if f.kind == kind]
        if rows:
            groups.append({"kind": kind, "label": kind.label, "findings": rows})
    return {"finding_groups": groups, "finding_total": configuration_audit.findings.count()}


def _findings_badge(configuration_audit: ConfigurationAudit, user: Any) -> int:
    return configuration_audit.findings.filter(status__in=["open", "assigned"]).count()


register(
    RecordType(
        model=BaselineSchedule,
        form=ScopedForm,
        fields=["name", *SCOPE_FIELDS, "frequency", "active", "description"],
        list_columns=["name", "scope", "frequency", "active", "baseline_count"],
        filter_fields=["scope", "frequency", "active"],
        search_fields=["name", "description"],
        permissions=KEPT,
        area="control",
        select_related=["scope_ci", "scope_class", "scope_view"],
        computed={"baseline_count": Computed(Count("baselines", distinct=True), "Baselines")},
        after_save=baselines.check_schedule,
        related=[Related("baselines")],
        help_text="Baselines taken daily, weekly or monthly (checked hourly by the task "
        "`cmdb.take_scheduled_baselines`).",
    )
)

register(
    RecordType(
        model=Baseline,
        form=ScopedForm,
        fields=["name", "description", *SCOPE_FIELDS],
        list_columns=["reference", "name", "scope_description", "item_count", "created_at", "created_by"],
        filter_fields=["scope", "schedule"],
        search_fields=["reference", "name", "description"],
        # immutable: nobody changes a baseline (Baseline.save refuses too); administrators may delete one
        permissions={VIEW: STAFF, ADD: KEEPERS, CHANGE: frozenset(), DELETE: ADMINS},
        area="control",
        select_related=["scope_ci", "scope_class", "scope_view", "schedule", "created_by"],
        detail_fields=[
            "reference",
            "name",
            "description",
            "scope_description",
            "item_count",
            "schedule",
            "created_at",
            "created_by",
        ],
        after_save=baselines.store_snapshot,
        tabs=[
            Tab(
                "contents",
                "CIs",
                template="cmdb/tabs/baseline_contents.html",
                request_context=_contents_context,
                badge=lambda baseline, user: baseline.item_count,
            ),
            Tab(
                "compare",
                "Compare",
                template="cmdb/tabs/baseline_compare.html",
                request_context=_compare_context,
                api=_compare_api,
                api_schema=_compare_schema(),
                help_text="The baseline compared `with` another baseline (its id or reference; the earlier of the two "
                "is “before”) or with `present` (the default: its scope as it is now): CIs added, removed and "
                "changed, attribute by attribute with display values, relationships and redundancy-group "
                "memberships added and removed.",
            ),
        ],
        help_text="Immutable snapshots of a set of CIs (a service and what it depends on, a class, a saved view), "
        "to compare with each other or with the present.",
    )
)

register(
    RecordType(
        model=ConfigurationAudit,
        form=ScopedForm,
        fields=["name", "description", *SCOPE_FIELDS, "key_field", "period_start", "period_end", "discovered_data"],
        list_columns=["reference", "name", "checked_count", "discovered_count", "finding_count", "created_at"],
        filter_fields=["scope"],
        search_fields=["reference", "name", "description"],
        permissions={VIEW: STAFF, ADD: KEEPERS, CHANGE: KEEPERS, DELETE: ADMINS},
        area="control",
        select_related=["scope_ci", "scope_class", "scope_view"],
        computed={"finding_count": Computed(Count("findings", distinct=True), "Findings")},
        after_save=audits.run_audit,
        uploads=[
            TextUpload(
                "discovered_file",
                "discovered_data",
                endings=audits.FILE_ENDINGS,
                label="Discovered data file",
                help_text="The discovery tool's export as a file: CSV (UTF-8 or Windows-1252, a header row) or JSON "
                "(a list of objects).",
            )
        ],
        tabs=[
            Tab(
                "findings",
                "Findings",
                template="cmdb/tabs/audit_findings.html",
                context=_findings_context,
                badge=_findings_badge,
            )
        ],
        help_text="The CMDB compared with discovered reality and with its audit trail; findings to assign, fix and "
        "close.",
    )
)

register(
    RecordType(
        model=Finding,
        fields=["audit", "kind", "ci", "summary", "key", "attribute", "recorded", "discovered", "assignee", "team"],
        list_columns=["audit", "kind", "ci", "summary", "status", "assignee", "team"],
        filter_fields=["audit", "kind", "status", "assignee", "team", "ci"],
        search_fields=["summary", "key", "attribute"],
        permissions={VIEW: STAFF, **KEPT},
        lifecycle=FINDING_LIFECYCLE,
        area="control",
        links={"assignee": Link.INTERNAL, "team": Link.INTERNAL},
        select_related=["audit", "ci", "assignee", "team"],
        help_text="What configuration audits found: missing, unrecorded, differing CIs and unauthorised changes.",
    )
)

register_page(
    "control",
    "NetBox import",
    "cmdb:netbox_import",
    KEEPERS,
    icon="upload",
    help_text="Bring a NetBox inventory in: sites, racks, devices, virtual machines, circuits and cables.",
)

register_page(
    "control",
    "iTop import",
    "cmdb:itop_import",
    KEEPERS,
    icon="upload",
    help_text="Bring iTop data in: organisations, locations, people, teams, CIs, services and their links.",
)
