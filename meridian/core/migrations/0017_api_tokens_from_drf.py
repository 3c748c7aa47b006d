"""Existing DRF tokens (`rest_framework.authtoken`, plaintext) become hashed API tokens named "Token from before the
upgrade" and keep working; DRF's table, its migration records and its permissions are removed. Not reversible in
substance: the plaintext keys are gone (reversing leaves the hashed tokens in place)."""

from typing import Any

from django.db import migrations


def forwards(apps: Any, schema_editor: Any) -> None:
    from meridian.core.api_tokens import adopt_drf_tokens

    connection = schema_editor.connection
    adopt_drf_tokens(apps.get_model("core", "ApiToken"), connection)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_migrations WHERE app = %s", ["authtoken"])
    content_type = apps.get_model("contenttypes", "ContentType")
    permission = apps.get_model("auth", "Permission")
    permission.objects.filter(content_type__app_label="authtoken").delete()
    content_type.objects.filter(app_label="authtoken").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0016_api_tokens"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
