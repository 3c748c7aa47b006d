from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "meridian.integrations"
    label = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        from meridian.integrations import records  # noqa: F401 - registers the alert sources
