from django.apps import AppConfig


class TicketsConfig(AppConfig):
    name = "meridian.tickets"
    label = "tickets"
    verbose_name = "Incidents and requests"

    def ready(self) -> None:
        from meridian.tickets import records  # noqa: F401 - registers incidents, requests and categories
