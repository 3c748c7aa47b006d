"""The integrations record types, registered with the generic machinery (pages, API, search, export, policy): the
alert sources monitoring systems post to (`integrations.alerts`)."""

from __future__ import annotations

from typing import Any

from django import forms

from meridian.core.forms import RecordForm
from meridian.core.registry import Link, RecordType, register
from meridian.core.tabs import Tab
from meridian.integrations import alerts
from meridian.integrations.alert_models import AlertSource

FIELDS = [
    "name",
    "slug",
    "kind",
    "description",
    "active",
    "ci_labels",
    "service",
    "team",
    "organisation",
    "impact",
    "urgency",
    "severity_urgency",
    "mapping",
]


class AlertSourceForm(RecordForm):
    mapping = forms.JSONField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "class": "font-monospace"}),
        help_text=AlertSource._meta.get_field("mapping").help_text,
    )

    class Meta:
        model = AlertSource
        fields = FIELDS

    def clean_mapping(self) -> Any:
        value = self.cleaned_data.get("mapping")
        return {} if value in (None, "") else value


register(
    RecordType(
        model=AlertSource,
        form=AlertSourceForm,
        fields=FIELDS,
        list_columns=["name", "slug", "kind", "service", "team", "organisation", "active"],
        filter_fields=["kind", "active", "service", "team", "organisation"],
        search_fields=["name", "slug", "description"],
        links={"team": Link.INTERNAL},
        select_related=["service", "team", "organisation"],
        tabs=[
            Tab(
                "groups",
                "Alert groups",
                template="integrations/tabs/alert_groups.html",
                context=alerts.tab_context,
                badge=alerts.tab_badge,
                api=alerts.tab_api,
                api_schema=alerts.tab_schema(),
                help_text="The source's latest 50 alert groups, the last delivery first: status, alerts firing and "
                "the incident last opened for each.",
            )
        ],
        area="administration",
        help_text="Monitoring systems that open incidents: Prometheus Alertmanager, or any tool posting JSON through "
        "a field mapping. Each posts to its own address with an API token.",
    )
)
