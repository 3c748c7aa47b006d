from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "meridian.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_migrate

        from meridian.core import records, signals  # noqa: F401 - registers the core record types

        post_migrate.connect(signals.sync_roles, sender=self)
        from meridian.core.querysets import register_sqlite_collation

        connection_created.connect(register_sqlite_collation, dispatch_uid="meridian_natural_collation")
