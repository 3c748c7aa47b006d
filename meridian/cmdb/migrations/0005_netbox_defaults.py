"""What the NetBox importer (`cmdb.netbox`) maps into, as data: the CI classes NetBox has and the defaults lacked
(power distribution units, patch panels, circuits, virtualisation clusters), the relationship kind of a power cable,
and the attributes it fills (custom fields of CIs scoped to a class; `netbox_id`, the importer's key, on the classes it
imports into).
Administrators change them afterwards; nothing here is overwritten when it exists already."""

from django.db import migrations

# name, forward label, reverse label, propagates, description
KINDS = [
    ("Powered by", "is powered by", "powers", "to_source", "Power from a PDU or feed: its failure impacts the source."),
]

# name, parent, services, attributes: (name, label, type, choices)
CLASSES = [
    ("Power distribution unit", "Hardware", []),
    ("Patch panel", "Hardware", []),
    (
        "Circuit",
        None,
        [
            ("circuit_provider", "Provider", "text", ""),
            ("circuit_type", "Circuit type", "text", ""),
            ("commit_rate_kbps", "Commit rate (kbit/s)", "integer", ""),
        ],
    ),
    (
        "Virtualisation cluster",
        None,
        [
            ("cluster_type", "Cluster type", "text", ""),
            ("cluster_group", "Cluster group", "text", ""),
        ],
    ),
]

# attributes added to existing classes: class, (name, label, type, choices)
EXTRA = [
    ("Hardware", ("asset_number", "Asset tag", "text", "")),
    ("Hardware", ("platform", "Platform", "text", "")),
]

CI_LABEL = "cmdb.configurationitem"


def create_defaults(apps, schema_editor):
    kind_model = apps.get_model("cmdb", "RelationshipKind")
    for name, forward, reverse, propagates, description in KINDS:
        kind_model.objects.get_or_create(
            name=name,
            defaults={
                "forward_label": forward,
                "reverse_label": reverse,
                "propagates": propagates,
                "description": description,
            },
        )
    class_model = apps.get_model("cmdb", "CIClass")
    field_model = apps.get_model("core", "CustomField")

    def field(ci_class, order, name, label, kind, choices):
        field_model.objects.get_or_create(
            applies_to=CI_LABEL,
            name=name,
            defaults={
                "label": label,
                "type": kind,
                "choices": choices,
                "scope_field": "ci_class",
                "scope_values": str(ci_class.pk),
                "order": order,
                "searchable": kind == "text",
            },
        )

    for order, (name, parent, attributes) in enumerate(CLASSES):
        parent_class = class_model.objects.filter(name=parent).first() if parent else None
        ci_class, _ = class_model.objects.get_or_create(name=name, defaults={"parent": parent_class})
        for position, attribute in enumerate(attributes):
            field(ci_class, 310 + order * 10 + position, *attribute)
    # the importer's key, on the classes it imports into (and their subclasses)
    keyed = list(class_model.objects.filter(name__in=["Hardware", "Circuit", "Virtualisation cluster"]).order_by("pk"))
    field_model.objects.get_or_create(
        applies_to=CI_LABEL,
        name="netbox_id",
        defaults={
            "label": "NetBox object",
            "type": "text",
            "scope_field": "ci_class",
            "scope_values": ",".join(str(c.pk) for c in keyed),
            "order": 300,
            "searchable": True,
            "help_text": "Where it was imported from (“dcim.device:12”): a new import of the NetBox inventory "
            "updates it.",
        },
    )
    for position, (class_name, attribute) in enumerate(EXTRA):
        ci_class = class_model.objects.filter(name=class_name).first()
        if ci_class is not None:
            field(ci_class, 104 + position, *attribute)


class Migration(migrations.Migration):
    dependencies = [("cmdb", "0004_baselines_audits")]

    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
