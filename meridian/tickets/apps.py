from django.apps import AppConfig


class TicketsConfig(AppConfig):
    name = "meridian.tickets"
    label = "tickets"
    verbose_name = "Incidents and requests"
