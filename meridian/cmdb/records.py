"""The CMDB's record types, registered with the generic machinery (pages, API, search, export, policy)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count

from meridian.cmdb import graph, impact
from meridian.cmdb.models import (
    CIClass,
    ConfigurationItem,
    RedundancyGroup,
    Relationship,
    RelationshipKind,
    check_group,
    descendant_class_ids,
)
from meridian.cmdb.workflows import CI_LIFECYCLE, KEEPERS
from meridian.core.attachments import Attachments
from meridian.core.choices import Role
from meridian.core.conversation import Conversation
from meridian.core.registry import (
    ADD,
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
from meridian.core.watchers import Watchers

CUSTOMERS_TOO = STAFF | {Role.CUSTOMER_USER}
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
        area="control",
        # teams are the provider's; a customer's server may stand in the provider's data centre (any location)
        links={"owner_team": Link.INTERNAL, "support_team": Link.INTERNAL, "location": Link.ANY},
        select_related=["ci_class", "organisation", "location", "owner_person", "owner_team", "support_team"],
        related=[
            Related("relationships_out", "Relationships from this CI", columns=["kind", "target", "note"]),
            Related("relationships_in", "Relationships to this CI", columns=["source", "kind", "note"]),
            Related("member_of", "Redundancy groups it is a member of"),
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
        search_fields=["note", "source__name", "target__name"],
        permissions={VIEW: CUSTOMERS_TOO, **KEPT},
        area="control",
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
        select_related=["ci"],
        prefetch_related=["members"],
        computed={"member_count": Computed(Count("members", distinct=True), "Members")},
        help_text="Redundant CIs of which k of n must be up for what depends on the group's CI to be up.",
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
