"""The clock metric record type (pages, API, search, export, policy); clocks themselves are kept by `clocks`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django import forms
from django.db import connection, transaction
from django.db.models.signals import post_delete, post_save

from meridian.core.forms import RecordForm
from meridian.core.models import Calendar, CalendarException
from meridian.core.registry import ADD, ADMINS, CHANGE, DELETE, RecordType, register
from meridian.service_levels.clock_models import ClockMetric
from meridian.service_levels.records import SERVICE_LEVEL_KEEPERS


class ListInput(forms.TextInput):
    """A list typed as “new, in_progress” (or posted as repeated values)."""

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        values = data.getlist(name) if hasattr(data, "getlist") else data.get(name)
        return values[0] if isinstance(values, list) and len(values) == 1 else values

    def format_value(self, value: Any) -> str | None:
        if isinstance(value, str) and value.startswith("["):
            try:
                value = json.loads(value)
            except ValueError:
                return value
        if isinstance(value, list):
            return ", ".join(str(item) for item in value)
        return super().format_value(value)


class ListField(forms.Field):
    """A list of status values or of whole numbers, typed separated by commas."""

    widget = ListInput

    def __init__(self, *, numbers: bool = False, **kwargs: Any) -> None:
        self.numbers = numbers
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> list[Any]:
        if value in (None, ""):
            return []
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    value = json.loads(text)
                except ValueError as exc:
                    raise forms.ValidationError("Separate the values with commas.") from exc
            else:
                value = [item.strip() for item in text.replace("\n", ",").split(",") if item.strip()]
        if not isinstance(value, list):
            raise forms.ValidationError("Separate the values with commas.")
        if not self.numbers:
            return [str(item).strip() for item in value]
        numbers = []
        for item in value:
            try:
                numbers.append(int(str(item).strip()))
            except ValueError:
                raise forms.ValidationError(f"“{item}” is not a whole number.") from None
        return numbers


class ClockMetricForm(RecordForm):
    running_statuses = ListField(
        required=False, help_text="Status values in which the clock runs, separated by commas: new, in_progress."
    )
    stop_statuses = ListField(required=False, help_text="Status values that stop it (e.g. resolved, closed).")
    thresholds = ListField(
        numbers=True, required=False, help_text="Warnings at these percentages of the target, e.g. 50, 75, 90."
    )

    class Meta:
        model = ClockMetric
        fields = ["key", "name", "description", "running_statuses", "stop_statuses", "thresholds"]


register(
    RecordType(
        model=ClockMetric,
        form=ClockMetricForm,
        fields=["key", "name", "description", "running_statuses", "stop_statuses", "thresholds"],
        list_columns=["name", "key", "running_statuses", "stop_statuses", "thresholds"],
        search_fields=["key", "name", "description"],
        permissions={ADD: SERVICE_LEVEL_KEEPERS, CHANGE: SERVICE_LEVEL_KEEPERS, DELETE: ADMINS},
        area="administration",
        help_text="What an SLA clock measures: the statuses in which it runs, those that stop it (every other status "
        "pauses it) and the warning thresholds.",
    )
)


# --- a calendar or metric edit re-times the open clocks on it, in the background, after commit ----------------------


@dataclass(frozen=True)
class _Retime:
    """The after-commit enqueue of a re-timing; equal ones are queued once per transaction (a calendar saved with
    five exception rows sends six signals)."""

    calendar_id: int | None = None
    metric_id: int | None = None

    def __call__(self) -> None:
        from meridian.service_levels.tasks import retime_clocks

        retime_clocks(calendar_id=self.calendar_id, metric_id=self.metric_id)


def _retime_after_commit(job: _Retime) -> None:
    if any(entry[1] == job for entry in connection.run_on_commit):
        return
    transaction.on_commit(job)


def _calendar_saved(sender: Any, instance: Calendar, created: bool = False, **kwargs: Any) -> None:
    if not created and not kwargs.get("raw"):  # a new calendar has no clocks yet
        _retime_after_commit(_Retime(calendar_id=instance.pk))


def _exception_changed(sender: Any, instance: CalendarException, **kwargs: Any) -> None:
    if not kwargs.get("raw") and Calendar.objects.filter(pk=instance.calendar_id).exists():
        _retime_after_commit(_Retime(calendar_id=instance.calendar_id))


def _metric_saved(sender: Any, instance: ClockMetric, created: bool = False, **kwargs: Any) -> None:
    if not created and not kwargs.get("raw"):
        _retime_after_commit(_Retime(metric_id=instance.pk))


post_save.connect(_calendar_saved, sender=Calendar, dispatch_uid="service_levels.clocks.calendar_saved")
post_save.connect(_exception_changed, sender=CalendarException, dispatch_uid="service_levels.clocks.exception_saved")
post_delete.connect(
    _exception_changed, sender=CalendarException, dispatch_uid="service_levels.clocks.exception_deleted"
)
post_save.connect(_metric_saved, sender=ClockMetric, dispatch_uid="service_levels.clocks.metric_saved")
