from django.apps import AppConfig


class PortfolioConfig(AppConfig):
    name = "meridian.portfolio"
    label = "portfolio"
    verbose_name = "Service portfolio"

    def ready(self) -> None:
        from meridian.portfolio import records  # noqa: F401 - registers the portfolio record types
