from django.apps import AppConfig


class ServiceLevelsConfig(AppConfig):
    name = "meridian.service_levels"
    label = "service_levels"
    verbose_name = "Service levels"

    def ready(self) -> None:
        from meridian.service_levels import records  # noqa: F401 - registers the service level record types
