"""The portal's forms for raising tickets, in the customer's words: *Report a problem* (an incident about a service
of their catalogue) and *Request* an offering (its own form). Staff use the same pages on behalf of a customer."""

from __future__ import annotations

from typing import Any

from django import forms

from meridian.core.forms import choose_widgets, restrict_choices, style_fields
from meridian.core.models import Organisation, OrganisationKind, Person
from meridian.portfolio import catalogue
from meridian.portfolio.models import Service

WHO = [
    ("low", "Only me"),
    ("medium", "My team or department"),
    ("high", "Many people, or everyone"),
]
HOW_BADLY = [
    ("medium", "I am hindered, but can work"),
    ("high", "I cannot work"),
    ("low", "It is an annoyance: I have a workaround"),
]


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class FilesField(forms.FileField):
    """Several files in one input (screenshots, logs)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def clean(self, data: Any, initial: Any = None) -> Any:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return [single(data, initial)] if data else []


class OnBehalf(forms.Form):
    """Staff raise for a customer: which organisation and who called."""

    def add_on_behalf(self, user: Any) -> None:
        if getattr(user, "is_customer", False):
            return
        self.fields["organisation"] = forms.ModelChoiceField(
            queryset=Organisation.objects.exclude(kind=OrganisationKind.INTERNAL).order_by("name"),
            label="Customer",
        )
        self.fields["caller"] = forms.ModelChoiceField(
            queryset=Person.objects.filter(organisation__kind=OrganisationKind.CUSTOMER).order_by("last_name"),
            required=False,
            help_text="Who called or asked (of the customer).",
        )
        # only what the agent may see; searched as they type when there are many (`core.forms.choose_widgets`)
        restrict_choices(self, user)
        choose_widgets(self, user)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        caller, organisation = data.get("caller"), data.get("organisation")
        if caller and organisation and caller.organisation_id != organisation.pk:
            self.add_error("caller", f"{caller} is not of {organisation}.")
        return data


class ProblemForm(OnBehalf):
    service: forms.ModelChoiceField[Any] = forms.ModelChoiceField(
        queryset=Service.objects.none(),
        required=False,
        empty_label="I do not know",
        label="Which service?",
        help_text="From your service catalogue.",
    )
    title = forms.CharField(max_length=200, label="What is wrong, in a few words?")
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        label="Tell us more",
        help_text="What you were doing, what happened, any error message, since when.",
    )
    who = forms.ChoiceField(choices=WHO, label="Who is affected?", widget=forms.RadioSelect, initial="low")
    how_badly = forms.ChoiceField(choices=HOW_BADLY, label="How badly?", widget=forms.RadioSelect, initial="medium")
    uploads = FilesField(label="Screenshots or files", help_text="Optional; several may be chosen.")

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field: Any = self.fields["service"]
        field.queryset = catalogue.services(user)
        self.add_on_behalf(user)
        style_fields(self)
        for name in ("who", "how_badly"):
            self.fields[name].widget.attrs["class"] = "form-check-input"

    def ticket_data(self, user: Any) -> dict[str, Any]:
        data = self.cleaned_data
        values = {
            "title": data["title"],
            "description": data["description"],
            "service": data.get("service"),
            "impact": data["who"],
            "urgency": data["how_badly"],
            "channel": "portal" if getattr(user, "is_customer", False) else "agent",
        }
        return {**values, **_whose(data, user)}


class RequestDetailsForm(OnBehalf):
    title = forms.CharField(max_length=200, label="Title", help_text="In a few words, as you would say it.")
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, label="Anything else we should know?"
    )
    uploads = FilesField(label="Files", help_text="Optional.")

    def __init__(self, *args: Any, user: Any, offering: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["title"].initial = offering.name
        self.add_on_behalf(user)
        style_fields(self)

    def ticket_data(self, user: Any, offering: Any, answers: dict[str, Any]) -> dict[str, Any]:
        data = self.cleaned_data
        values = {
            "title": data["title"],
            "description": data.get("description") or "",
            "offering": offering,
            "service": offering.service,
            "answers": answers,
            "channel": "portal" if getattr(user, "is_customer", False) else "agent",
        }
        return {**values, **_whose(data, user)}


def _whose(data: dict[str, Any], user: Any) -> dict[str, Any]:
    if getattr(user, "is_customer", False):
        return {"organisation": user.person.organisation, "caller": user.person}
    return {"organisation": data.get("organisation"), "caller": data.get("caller")}
