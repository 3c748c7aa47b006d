from django.apps import AppConfig


class CmdbConfig(AppConfig):
    name = "meridian.cmdb"
    label = "cmdb"
    verbose_name = "Configuration management"

    def ready(self) -> None:
        from meridian.cmdb import records, tasks  # noqa: F401 - registers the CMDB record types and periodic tasks
