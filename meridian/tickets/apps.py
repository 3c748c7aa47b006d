from django.apps import AppConfig


class TicketsConfig(AppConfig):
    name = "meridian.tickets"
    label = "tickets"
    verbose_name = "Incidents and requests"

    def ready(self) -> None:
        # the record types (incidents, requests, categories), the handlers of monitoring alerts and inbound mail, the
        # mails to callers
        from meridian.tickets import inbound, monitoring, outbound, records, tasks  # noqa: F401
        from meridian.tickets.reports import tasks as report_tasks  # noqa: F401 - the monthly service reports
