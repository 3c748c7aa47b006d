"""What the iTop importer (`cmdb.itop`) maps into, as data: the CI classes iTop has and the defaults lacked
(hypervisors, PCs, printers, racks, enclosures, database and web servers, middleware, application solutions), the
relationship kind of a device in its rack or enclosure, the attributes it fills (`product` of software, a service's
`service_family`; the operating system, CPUs and memory of PCs, the management address of servers) and `itop_id`, the
importer's key ("Server:2"), on the classes it imports into.
Administrators change them afterwards; nothing here is overwritten when it exists already (a field's scope is only
widened to the new classes)."""

from django.db import migrations

# name, forward label, reverse label, propagates, description
KINDS = [
    (
        "Mounted in",
        "is mounted in",
        "holds",
        "to_source",
        "A device in its rack or enclosure: the enclosure's failure impacts what is mounted in it.",
    ),
]

# name, parent, attributes: (name, label, type, choices)
CLASSES = [
    ("Hypervisor", "Software", []),
    ("PC", "Hardware", []),
    ("Printer", "Hardware", []),
    ("Rack", "Hardware", []),
    ("Enclosure", "Hardware", []),
    ("Database server", "Software", []),
    ("Web server", "Software", []),
    ("Middleware", "Software", []),
    ("Application solution", "Application", []),
]

# attributes added to existing classes: class, (name, label, type, choices)
EXTRA = [
    ("Software", ("product", "Product", "text", "")),
    ("Service", ("service_family", "Service family", "text", "")),
]

# existing attributes that apply to more classes: attribute -> classes added to its scope
WIDEN = {
    "operating_system": ["PC"],
    "cpu_count": ["PC"],
    "memory_gb": ["PC"],
    "management_ip": ["Server", "PC", "Printer"],
}

KEYED = ["Hardware", "Software", "Service", "Virtualisation cluster"]
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
            field(ci_class, 410 + order * 10 + position, *attribute)
    for position, (class_name, attribute) in enumerate(EXTRA):
        ci_class = class_model.objects.filter(name=class_name).first()
        if ci_class is not None:
            field(ci_class, 400 + position, *attribute)
    for name, class_names in WIDEN.items():
        existing = field_model.objects.filter(applies_to=CI_LABEL, name=name, scope_field="ci_class").first()
        if existing is None or not existing.scope_values:
            continue
        scope = [v for v in existing.scope_values.split(",") if v]
        for ci_class in class_model.objects.filter(name__in=class_names):
            if str(ci_class.pk) not in scope:
                scope.append(str(ci_class.pk))
        existing.scope_values = ",".join(scope)
        existing.save(update_fields=["scope_values"])
    keyed = list(class_model.objects.filter(name__in=KEYED).order_by("pk"))
    field_model.objects.get_or_create(
        applies_to=CI_LABEL,
        name="itop_id",
        defaults={
            "label": "iTop object",
            "type": "text",
            "scope_field": "ci_class",
            "scope_values": ",".join(str(c.pk) for c in keyed),
            "order": 301,
            "searchable": True,
            "help_text": "Where it was imported from (“Server:2”: iTop class and id): a new import of the iTop data "
            "updates it.",
        },
    )


class Migration(migrations.Migration):
    dependencies = [("cmdb", "0005_netbox_defaults")]

    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
