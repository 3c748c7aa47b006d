from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "meridian.integrations"
    label = "integrations"
    verbose_name = "Integrations"
