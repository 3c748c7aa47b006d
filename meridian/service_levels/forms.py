"""The question "what applies", one form for the page and the API (so both accept exactly the same values)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from meridian.core.choices import OrganisationKind
from meridian.core.models import Organisation, Team
from meridian.portfolio.models import Service
from meridian.service_levels.choices import Impact, Urgency
from meridian.service_levels.models import Priority
from meridian.service_levels.priorities import priority_for


class ServiceField(forms.ModelChoiceField):
    """A service by its id or its reference (SVC-0001)."""

    def to_python(self, value: Any) -> Any:
        text = str(value or "").strip()
        if text and not text.isdigit():
            found = Service.objects.filter(reference__iexact=text).first()
            if found is None:
                raise ValidationError(f"No service {text}.", code="invalid_choice")
            return found
        return super().to_python(value)


class AppliesForm(forms.Form):
    customer = forms.ModelChoiceField(
        queryset=Organisation.objects.filter(kind=OrganisationKind.CUSTOMER),
        required=False,
        help_text="The customer organisation of the ticket (empty: an internal caller, only standard SLAs apply).",
    )
    service = ServiceField(queryset=Service.objects.all(), help_text="Its id or reference, e.g. SVC-0001.")
    priority = forms.ModelChoiceField(
        queryset=Priority.objects.all(), required=False, help_text="Or give impact and urgency."
    )
    impact = forms.ChoiceField(choices=[("", "—"), *Impact.choices], required=False)
    urgency = forms.ChoiceField(choices=[("", "—"), *Urgency.choices], required=False)
    team = forms.ModelChoiceField(
        queryset=Team.objects.all(), required=False, help_text="The team assigned: its OLA is shown."
    )
    supplier = forms.ModelChoiceField(
        queryset=Organisation.objects.filter(kind=OrganisationKind.SUPPLIER),
        required=False,
        help_text="A supplier involved: its underpinning contract is shown.",
    )
    at = forms.DateTimeField(
        required=False, label="Opened at", help_text="Empty: now. Agreements in force on that day apply."
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        if data.get("priority") is None:
            impact, urgency = data.get("impact"), data.get("urgency")
            if not (impact and urgency):
                raise ValidationError({"priority": "Choose a priority, or give both impact and urgency."})
            found = priority_for(impact, urgency)
            if found is None:
                raise ValidationError({"priority": "The priority matrix has no cell for this impact and urgency."})
            data["priority"] = found
        return data


class MatrixForm(forms.Form):
    """One select per cell of the matrix (`cell_<impact>_<urgency>`)."""

    def __init__(self, *args: Any, initial_cells: dict[tuple[str, str], int] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cells = initial_cells or {}
        for impact in Impact.values:
            for urgency in Urgency.values:
                self.fields[f"cell_{impact}_{urgency}"] = forms.ModelChoiceField(
                    queryset=Priority.objects.all(),
                    initial=cells.get((impact, urgency)),
                    label=f"{Impact(impact).label} × {Urgency(urgency).label}",
                    empty_label=None,
                )

    def cells(self) -> dict[tuple[str, str], Priority]:
        return {
            (impact, urgency): self.cleaned_data[f"cell_{impact}_{urgency}"]
            for impact in Impact.values
            for urgency in Urgency.values
        }
