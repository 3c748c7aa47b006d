"""A small believable CMDB for `meridian demo` (called by the core command with its other demo data): Northwind's
warehouse service with its components, an application on a pool of two virtual machines on the provider's hosts, a
2-of-3 database cluster, network devices; Bergland's claims portal on a shared host."""

from __future__ import annotations

from typing import Any

from meridian.cmdb.models import CIClass, ConfigurationItem, RedundancyGroup, Relationship, RelationshipKind
from meridian.core import services
from meridian.core.models import Location, Organisation, Person, Team

# name, class, customer (None: the provider's), description
CIS = [
    ("Warehouse Management", "Service", "Northwind Logistics", "Stock, picking and dispatch for the warehouses."),
    ("WMS web front end", "Service component", "Northwind Logistics", "What warehouse staff use on the scanners."),
    ("WMS application", "Application", "Northwind Logistics", "Manhattan-style WMS, release 2026.2."),
    ("wms-app-pool", "Redundancy group", "Northwind Logistics", "The application's two virtual machines."),
    ("vm-wms-01", "Virtual machine", "Northwind Logistics", ""),
    ("vm-wms-02", "Virtual machine", "Northwind Logistics", ""),
    ("wms-db-cluster", "Redundancy group", None, "PostgreSQL with two synchronous replicas."),
    ("wms-db-1", "Database", None, ""),
    ("wms-db-2", "Database", None, ""),
    ("wms-db-3", "Database", None, ""),
    ("host-ams-01", "Server", None, "Hypervisor, hall A rack 4."),
    ("host-ams-02", "Server", None, "Hypervisor, hall A rack 5."),
    ("host-ams-03", "Server", None, "Hypervisor, hall A rack 6."),
    ("core-switch-a", "Network device", None, "Top of the data centre's network."),
    ("fw-edge-1", "Network device", None, "Internet edge firewall."),
    ("backup-vault", "Hardware", None, "Nightly backups, immutable for 30 days."),
    ("Claims Portal", "Service", "Bergland Versicherung", "Where Bergland's agents file claims."),
    ("claims-app", "Application", "Bergland Versicherung", ""),
    ("claims-db", "Database", "Bergland Versicherung", ""),
    ("Warehouse SLA", "Agreement document", "Northwind Logistics", "Service level agreement, 99.5 % in hours."),
]

# source, kind, target
RELATIONSHIPS = [
    ("WMS web front end", "Part of", "Warehouse Management"),
    ("WMS application", "Part of", "Warehouse Management"),
    ("WMS web front end", "Depends on", "WMS application"),
    ("WMS web front end", "Connects to", "fw-edge-1"),
    ("WMS application", "Runs on", "wms-app-pool"),
    ("WMS application", "Depends on", "wms-db-cluster"),
    ("vm-wms-01", "Runs on", "host-ams-01"),
    ("vm-wms-02", "Runs on", "host-ams-02"),
    ("wms-db-1", "Runs on", "host-ams-01"),
    ("wms-db-2", "Runs on", "host-ams-02"),
    ("wms-db-3", "Runs on", "host-ams-03"),
    ("wms-db-1", "Backed up by", "backup-vault"),
    ("host-ams-01", "Connects to", "core-switch-a"),
    ("host-ams-02", "Connects to", "core-switch-a"),
    ("host-ams-03", "Connects to", "core-switch-a"),
    ("fw-edge-1", "Connects to", "core-switch-a"),
    ("claims-app", "Part of", "Claims Portal"),
    ("claims-app", "Depends on", "claims-db"),
    ("claims-app", "Runs on", "host-ams-03"),
    ("claims-db", "Runs on", "host-ams-03"),
    ("Warehouse Management", "Documented by", "Warehouse SLA"),
]

GROUPS = [("wms-app-pool", ["vm-wms-01", "vm-wms-02"], 1), ("wms-db-cluster", ["wms-db-1", "wms-db-2", "wms-db-3"], 2)]


def load(actor: Any) -> None:
    """Create the demo CMDB through the services (audited as the demo's other records are)."""
    import importlib

    from django.apps import apps

    # the default classes and kinds as migrations 0002, 0005 and 0006 make them (again, where they are gone: a flushed
    # test database, or an administrator who removed one); it never overwrites what exists
    importlib.import_module("meridian.cmdb.migrations.0002_defaults").create_defaults(apps, None)
    importlib.import_module("meridian.cmdb.migrations.0005_netbox_defaults").create_defaults(apps, None)
    importlib.import_module("meridian.cmdb.migrations.0006_itop_defaults").create_defaults(apps, None)
    classes = {c.name: c for c in CIClass.objects.all()}
    kinds = {k.name: k for k in RelationshipKind.objects.all()}
    dc = Location.objects.filter(name="Amsterdam DC1").first()
    platform = Team.objects.filter(name="Platform Engineering").first()
    network = Team.objects.filter(name="Network Operations").first()
    # a customer's service is owned on their side by their IT lead, on ours by a team
    owners = {p.organisation.name: p for p in Person.objects.filter(first_name__in=["Eva", "Lena"])}
    cis: dict[str, ConfigurationItem] = {}
    for name, class_name, customer, description in CIS:
        hardware = class_name in ("Server", "Network device", "Hardware")
        data = {
            "name": name,
            "ci_class": classes[class_name],
            "organisation": Organisation.objects.get(name=customer) if customer else None,
            "description": description,
            "location": dc if hardware else None,
            "support_team": network if class_name == "Network device" else platform,
            "owner_person": owners.get(customer or "") if class_name == "Service" else None,
            "owner_team": platform if class_name == "Service" else None,
            "criticality": "high" if class_name in ("Service", "Redundancy group") else "medium",
            "ci_version": "PostgreSQL 16.4" if class_name == "Database" and customer is None else "",
        }
        ci = services.create_record(ConfigurationItem, data=data, actor=actor, reason="demo data")
        for action in ("build", "go_live"):
            ci = services.transition(ci, action, actor=actor, reason="demo data", expected_version=ci.version)
        cis[name] = ci
    for source, kind, target in RELATIONSHIPS:
        services.create_record(
            Relationship,
            data={"source": cis[source], "kind": kinds[kind], "target": cis[target]},
            actor=actor,
            reason="demo data",
        )
    for name, members, required in GROUPS:
        services.create_record(
            RedundancyGroup,
            data={"ci": cis[name], "members": [cis[m] for m in members], "required_up": required},
            actor=actor,
            reason="demo data",
        )
    _changes(actor, cis)


def _changes(actor: Any, cis: dict[str, ConfigurationItem]) -> None:
    """The database cluster under change control, an approved change that upgraded it (its version set under that
    change, shown on the CIs' Change control tab) and a change waiting for approval."""
    from meridian.changes.models import Change
    from meridian.cmdb.choices import CIPolicy

    cluster = [cis[name] for name in ("wms-db-cluster", "wms-db-1", "wms-db-2", "wms-db-3")]
    for ci in cluster:
        services.update_record(
            ci, data={"configuration_policy": CIPolicy.CONTROLLED}, actor=actor, expected_version=ci.version
        )
    upgrade = services.create_record(
        Change,
        data={
            "title": "Upgrade the WMS database cluster to PostgreSQL 17.2",
            "description": "Rolling upgrade, one replica at a time; roll back by failing over to the old primary.",
            "configuration_items": cluster[1:],
        },
        actor=actor,
        reason="demo data",
    )
    for action in ("submit", "approve"):
        upgrade = services.transition(upgrade, action, actor=actor, expected_version=upgrade.version)
    # the baseline taken before the work: its comparison with the present shows what the change did
    from meridian.cmdb.baselines import take_baseline
    from meridian.cmdb.choices import BaselineScope

    take_baseline(
        f"Warehouse Management before {upgrade.reference}",
        scope=BaselineScope.DEPENDENCIES,
        ci=cis["Warehouse Management"],
        actor=actor,
        description="The service and everything it depends on, before the database upgrade.",
        reason="demo data",
    )
    for ci in cluster[1:]:
        ci.refresh_from_db()
        services.update_record(
            ci,
            data={"ci_version": "PostgreSQL 17.2"},
            actor=actor,
            expected_version=ci.version,
            reason="rolling upgrade",
            authorised_by=upgrade.reference,
        )
    services.transition(upgrade, "implemented", actor=actor, expected_version=upgrade.version)
    pending = services.create_record(
        Change,
        data={
            "title": "Add a fourth replica to the WMS database cluster",
            "description": "Grow the cluster to 3 of 4 for the peak season.",
            "configuration_items": [cluster[0]],
        },
        actor=actor,
        reason="demo data",
    )
    services.transition(pending, "submit", actor=actor, expected_version=pending.version)
