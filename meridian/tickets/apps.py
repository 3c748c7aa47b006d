from django.apps import AppConfig


class TicketsConfig(AppConfig):
    name = "meridian.tickets"
    label = "tickets"
    verbose_name = "Incidents and requests"

    def ready(self) -> None:
        # the record types (incidents, requests, categories), then the handler of monitoring alerts
        from meridian.tickets import monitoring, records  # noqa: F401
