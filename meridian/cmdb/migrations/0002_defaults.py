"""The default relationship kinds, CI classes and each class's attributes (custom fields of CIs scoped to the class,
which apply to its subclasses too). Administrators change and extend them afterwards; nothing here is overwritten
when it exists already."""

from django.db import migrations

# name, forward label, reverse label, propagates, description
KINDS = [
    ("Depends on", "depends on", "is used by", "to_source", "The source needs the target: the target's failure impacts it."),
    ("Runs on", "runs on", "hosts", "to_source", "Software on a host, a virtual machine on a hypervisor."),
    ("Connects to", "connects to", "connects", "to_source", "The source reaches the network through the target."),
    ("Part of", "is part of", "contains", "to_target", "A component of a whole: the part's failure impacts the whole."),
    ("Backed up by", "is backed up by", "backs up", "none", "A backup's failure does not stop the source."),
    ("Documented by", "is documented by", "documents", "none", "Manuals, designs, agreements."),
]

# name, parent, services, attributes: (name, label, type, choices)
CLASSES = [
    ("Hardware", None, False, [
        ("serial_number", "Serial number", "text", ""),
        ("manufacturer", "Manufacturer", "text", ""),
        ("model", "Model", "text", ""),
        ("warranty_end", "Warranty ends", "date", ""),
    ]),
    ("Server", "Hardware", False, [
        ("cpu_count", "CPUs", "integer", ""),
        ("memory_gb", "Memory (GB)", "integer", ""),
        ("operating_system", "Operating system", "text", ""),
    ]),
    ("Virtual machine", "Server", False, [("hypervisor", "Hypervisor", "text", "")]),
    ("Network device", "Hardware", False, [
        ("device_role", "Role", "choice", "Router\nSwitch\nFirewall\nLoad balancer\nWireless access point"),
        ("management_ip", "Management address", "text", ""),
    ]),
    ("Software", None, False, [
        ("vendor", "Vendor", "text", ""),
        ("licence_type", "Licence", "choice", "Open source\nSubscription\nPerpetual\nIn-house"),
        ("licence_count", "Licences held", "integer", ""),
    ]),
    ("Application", "Software", False, [
        ("url", "Address", "url", ""),
        ("environment", "Environment", "choice", "Production\nAcceptance\nTest\nDevelopment"),
    ]),
    ("Database", "Software", False, [
        ("engine", "Engine", "choice", "PostgreSQL\nMySQL / MariaDB\nMicrosoft SQL Server\nOracle\nOther"),
        ("size_gb", "Size (GB)", "integer", ""),
    ]),
    ("Document", None, False, [
        ("document_url", "Where it is kept", "url", ""),
        ("review_date", "Next review", "date", ""),
    ]),
    ("Agreement document", "Document", False, [
        ("agreement_type", "Agreement", "choice", "SLA\nOLA\nUnderpinning contract\nCustomer contract"),
        ("valid_until", "Valid until", "date", ""),
    ]),
    ("SMS documentation", "Document", False, []),
    ("Information security asset", None, False, [
        ("asset_type", "Asset type", "choice", "Information\nSystem\nPremises\nPeople"),
        ("retention", "Retention", "text", ""),
    ]),
    ("Service", None, True, [
        ("service_hours", "Service hours", "text", ""),
        ("customer_facing", "Customer facing", "boolean", ""),
    ]),
    ("Service component", None, False, []),
    ("Redundancy group", None, False, [
        ("redundancy_mode", "Mode", "choice", "Active-active\nActive-passive\nN+1"),
    ]),
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
    made = {}
    for order, (name, parent, service, attributes) in enumerate(CLASSES):
        ci_class, _ = class_model.objects.get_or_create(
            name=name, defaults={"parent": made.get(parent), "service": service}
        )
        made[name] = ci_class
        for position, (field, label, kind, choices) in enumerate(attributes):
            field_model.objects.get_or_create(
                applies_to=CI_LABEL,
                name=field,
                defaults={
                    "label": label,
                    "type": kind,
                    "choices": choices,
                    "scope_field": "ci_class",
                    "scope_values": str(ci_class.pk),
                    "order": 100 + order * 10 + position,
                    "searchable": kind == "text",
                },
            )


class Migration(migrations.Migration):
    dependencies = [("cmdb", "0001_initial"), ("core", "0021_bulk_jobs")]

    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
