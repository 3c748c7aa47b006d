from django.apps import AppConfig


class ChangesConfig(AppConfig):
    name = "meridian.changes"
    label = "changes"
    verbose_name = "Change management"

    def ready(self) -> None:
        from meridian.changes import records  # noqa: F401 - registers the change record type
        from meridian.changes.authority import ApprovedChanges
        from meridian.core import control

        control.set_authority(ApprovedChanges())
