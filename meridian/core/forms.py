"""Forms: the generic record form every registered type gets, and the core app's own forms."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.db import models
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.text import capfirst

from meridian.core import policy, registry
from meridian.core.actions import ActionForm
from meridian.core.choices import Role
from meridian.core.hours import format_hours, parse_hours
from meridian.core.models import TIME_ZONE_CHOICES, Calendar, User
from meridian.core.registry import VIEW, RecordType
from meridian.utils.numbers import positive_int

if TYPE_CHECKING:
    from meridian.core.children import Child


def style_fields(form: forms.BaseForm) -> None:
    """Bootstrap classes on every widget, so templates render fields uniformly."""
    for field in form.fields.values():
        widget = field.widget
        if isinstance(widget, forms.CheckboxInput):
            css = "form-check-input"
        elif isinstance(widget, forms.Select | forms.SelectMultiple):
            css = "form-select"
        else:
            css = "form-control"
        widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()


def restrict_choices(form: forms.BaseForm, user: Any) -> None:
    """Offer only records the user may see: no picking, or guessing, another organisation's records."""
    for field in form.fields.values():
        queryset = getattr(field, "queryset", None)
        if queryset is not None and registry.find(queryset.model) is not None:
            field.queryset = policy.restrict(queryset, user, VIEW)  # type: ignore[attr-defined]


# --- widgets: chosen per field by `choose_widgets` ---------------------------------------------------------------


def full_choices_limit() -> int:
    """A link to a type with at most this many records the reader may see renders them all as <option>s (the form
    works without JavaScript); above it only the selected ones are rendered and the widget searches the API as you
    type. The setting `MERIDIAN_FULL_CHOICES_LIMIT` (default 100)."""
    from django.conf import settings

    return int(getattr(settings, "MERIDIAN_FULL_CHOICES_LIMIT", 100))


class RecordSelectMixin:
    """A select of linked records (a foreign key or many-to-many to a registered type). With `remote` set it renders
    only the selected records' options: meridian.js turns it into a Tom Select that searches the related type's
    API list (`?q=`), which offers only what the reader may see. The form field still validates against the
    policy-restricted queryset, so a forged id is refused whatever the browser sends."""

    remote = False

    def optgroups(self, name: str, value: list[Any], attrs: dict[str, Any] | None = None) -> Any:
        if not self.remote:
            return super().optgroups(name, value, attrs)  # type: ignore[misc]
        iterator: Any = getattr(self, "choices")  # noqa: B009
        field = iterator.field
        ids = [v for v in value if str(v).isdigit()]
        options: list[Any] = []
        if field.empty_label is not None and not getattr(self, "allow_multiple_selected", False):
            options.append(("", field.empty_label))
        options += [iterator.choice(obj) for obj in field.queryset.filter(pk__in=ids)] if ids else []
        setattr(self, "choices", options)  # noqa: B010  # this form's own copy of the widget
        try:
            return super().optgroups(name, value, attrs)  # type: ignore[misc]
        finally:
            setattr(self, "choices", iterator)  # noqa: B010


class RecordSelect(RecordSelectMixin, forms.Select):
    pass


class RecordSelectMultiple(RecordSelectMixin, forms.SelectMultiple):
    pass


def _api_list_url(model: type[models.Model]) -> str:
    rt = registry.find(model)
    if rt is None:
        return ""
    try:
        return reverse(f"api:{rt.app_label}-{rt.url_slug}-list")
    except NoReverseMatch:
        return ""


def choose_widgets(form: forms.BaseForm, user: Any) -> None:
    """The widget of each field of a record form, by the field's kind:

    - a link to a registered type (foreign key, many-to-many): a searchable select; the records named as the reader
      may see them (`policy.name_of`); more than `full_choices_limit()` choices: searched on the server as you type;
    - a date, a time, a date and time: the browser's own pickers (`type=date`, `time`, `datetime-local`); a date and
      time is shown and read in the reader's time zone (the active one: `user.time_zone`) and stored in UTC.
    Each form gets its own widget instances: nothing here changes a class or another request's form."""
    zone = timezone.get_current_timezone_name()
    for field in form.fields.values():
        if isinstance(field.widget, forms.HiddenInput):
            continue  # hidden stays hidden (a filter out of its scope: `RecordFilterSet.shows`)
        queryset = getattr(field, "queryset", None)
        if isinstance(field, forms.ModelChoiceField) and queryset is not None and registry.find(queryset.model):
            multiple = isinstance(field, forms.ModelMultipleChoiceField)
            widget: Any = RecordSelectMultiple() if multiple else RecordSelect()
            widget.attrs.update(field.widget.attrs)
            widget.is_required = field.required
            field.widget = widget
            field.label_from_instance = lambda obj: policy.name_of(user, obj)  # type: ignore[method-assign]
            widget.choices = field.choices
            limit = full_choices_limit()
            widget.remote = queryset[: limit + 1].count() > limit
            widget.attrs["data-record-select"] = "remote" if widget.remote else "local"
            if not field.required:
                widget.attrs["data-optional"] = "1"
            url = _api_list_url(queryset.model)
            if url:
                widget.attrs["data-search-url"] = url
            if widget.remote:
                widget.attrs["data-placeholder"] = "Type to search…"
        elif isinstance(field, forms.SplitDateTimeField):
            continue
        elif isinstance(field, forms.DateTimeField):
            _set_widget(field, forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"))
            note = f"In your time zone ({zone})."
            field.help_text = f"{field.help_text} {note}".strip() if field.help_text else note
        elif isinstance(field, forms.DateField):
            _set_widget(field, forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
        elif isinstance(field, forms.TimeField):
            _set_widget(field, forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))


def _set_widget(field: forms.Field, widget: forms.Widget) -> None:
    widget.attrs = {**field.widget.attrs, **widget.attrs}
    widget.is_required = field.required
    field.widget = widget


class VersionField(forms.IntegerField):
    """The version of the record a page was showing (a hidden field): every change, delete and action posts it,
    so that a stale one is refused (409). Digits only, at least 1: anything else is a 400 on `version`."""

    widget = forms.HiddenInput
    default_error_messages = {
        "required": "The version you read is missing: reload the page and make your change again.",
        "invalid": "The version must be a whole number (the record's version as shown on its page).",
    }

    def to_python(self, value: Any) -> int | None:
        if value in self.empty_values:
            return None
        version = positive_int(str(value))
        if version is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return version


class RecordForm(forms.ModelForm):  # type: ignore[type-arg]
    """Base of every record form: an edit carries the version that was read, so a stale save is refused (409)
    and a save without it is refused (400)."""

    version = VersionField()

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        if not self.instance.pk:
            del self.fields["version"]  # a new record has no version yet
        elif not self.is_bound:
            self.fields["version"].initial = self.instance.version
        declared = registry.find(self._meta.model)  # type: ignore[arg-type]
        self.custom_names: list[str] = []
        if declared is not None and declared.custom_fields:  # `custom.<name>`, after the type's own fields
            from meridian.core.custom_fields import add_form_fields

            self.custom_names = add_form_fields(self, declared, self.instance, user)
        if declared is not None and declared.control is not None:  # `core.control`: the change a write cites
            from meridian.core import control

            self.fields[control.FIELD] = control.form_field(declared.control, self.instance, user)
        self.record_uploads = [u for u in (declared.uploads if declared else []) if u.field in self.fields]
        self.uploaded: dict[str, str] = {}  # the fields filled from a file (`core.uploads`), to the upload's name
        if self.record_uploads:
            self._add_uploads()
        restrict_choices(self, user)
        choose_widgets(self, user)
        style_fields(self)
        record_type = registry.find(self._meta.model)  # type: ignore[arg-type]
        data = args[0] if args else kwargs.get("data")
        self.child_formsets = [
            formset_for(child)(
                # a post without the rows' management form (a script, an old page) leaves the rows as they are
                data if data is not None and f"{child.name}-TOTAL_FORMS" in data else None,
                instance=self.instance,
                prefix=child.name,
                form_kwargs={"user": user, "rules": child.link_rules(record_type), "tenant": self.instance.tenant_id},
            )
            for child in (record_type.children if record_type else [])
            if record_type is not None
        ]

    def _add_uploads(self) -> None:
        """A file input before each text field that may come as a file (`core.uploads`)."""
        fields: dict[str, forms.Field] = {}
        for name, field in self.fields.items():
            for upload in self.record_uploads:
                if upload.field == name:
                    fields[upload.name] = forms.FileField(
                        required=False,
                        label=upload.label,
                        help_text=f"{upload.help_text} Or paste the text in “{field.label}”.".strip(),
                        widget=forms.FileInput(attrs={"accept": upload.accept()} if upload.endings else {}),
                    )
            fields[name] = field
        self.fields = fields

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean()
        if self.record_uploads and cleaned is not None:
            from meridian.core import uploads

            try:
                self.uploaded = uploads.take(self.record_uploads, cleaned, self.files)
            except forms.ValidationError as exc:
                for name, errors in exc.error_dict.items():
                    self.add_error(name, errors)
        return cleaned

    def _update_errors(self, errors: forms.ValidationError) -> None:
        """The model's complaints about a field filled from a file are said on the file's input."""
        from meridian.core import uploads

        super()._update_errors(uploads.on_uploads(errors, self.uploaded))  # type: ignore[misc]

    def is_valid(self) -> bool:
        """The record's fields and every row of its children, validated together."""
        valid = super().is_valid()
        checked = [formset.is_valid() for formset in self.child_formsets if formset.is_bound]  # each says its errors
        if valid and self.instance.pk and self.cleaned_data.get("version") != self.instance.version:
            return True  # stale: the services refuse it with 409 and the current state, whatever its rows say
        return all(checked) and valid

    @property
    def has_field_errors(self) -> bool:
        """Whether a field the person can see is marked with an error (hidden ones are named at the top)."""
        own = any(self[name].errors for name in self.errors if name in self.fields and not self[name].is_hidden)
        return own or any(formset.row_errors() for formset in self.child_formsets if formset.is_bound)

    @property
    def child_errors(self) -> list[str]:
        """Every error of a child row, as "Row 2, date: Enter a valid date." (said above the form)."""
        return [line for formset in self.child_formsets if formset.is_bound for line in formset.row_errors()]

    @property
    def authorised_by(self) -> str:
        """The change the write cites (`core.control`), '' when none."""
        return str(self.cleaned_data.get("authorised_by") or "")

    def field_values(self) -> dict[str, Any]:
        """The cleaned values of the record's own fields, and the rows of its children, as the services take them."""
        custom = set(getattr(self, "custom_names", []))
        # the version read, the change cited and the files read into their fields are not field values
        skipped = {"version", "authorised_by", *(u.name for u in getattr(self, "record_uploads", []))}
        values = {
            name: value for name, value in self.cleaned_data.items() if name not in skipped and name not in custom
        }
        if custom:  # the custom fields shown, as the API sends them (`core.custom_fields.clean_values` checks them)
            from meridian.core.custom_fields import PREFIX, json_value

            values["custom"] = {name.removeprefix(PREFIX): json_value(self.cleaned_data.get(name)) for name in custom}
        for formset in self.child_formsets:
            if formset.is_bound:
                values[formset.child.name] = formset.rows()
        return values


class ChildRowForm(forms.ModelForm):  # type: ignore[type-arg]
    """One row of a child list on its parent's form: choices limited to what the person may see."""

    def __init__(
        self, *args: Any, user: Any, rules: dict[str, registry.Link], tenant: int | None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        for name, rule in rules.items():  # offer only what the link rule allows: the parent's organisation's records
            field = self.fields.get(name)
            queryset = getattr(field, "queryset", None)
            if rule == registry.Link.SAME_ORGANISATION and tenant is not None and queryset is not None:
                field.queryset = queryset.filter(**{queryset.model.TENANT_FIELD: tenant})  # type: ignore[union-attr]
        for field in self.fields.values():  # the browser's own date and time pickers (dates of a row have no zone)
            if isinstance(field, forms.DateField) and type(field.widget) is forms.DateInput:
                field.widget = forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"})
            elif isinstance(field, forms.TimeField) and type(field.widget) is forms.TimeInput:
                field.widget = forms.TimeInput(format="%H:%M", attrs={"type": "time"})
        restrict_choices(self, user)
        style_fields(self)
        for field in self.fields.values():
            field.widget.attrs.setdefault("aria-label", field.label)
        if "DELETE" in self.fields:
            self.fields["DELETE"].label = "Remove"
            self.fields["DELETE"].widget.attrs["class"] = "form-check-input child-remove"


class ChildFormSet(forms.BaseInlineFormSet):  # type: ignore[type-arg]
    """The rows of one child (`core.children.Child`) on the parent's form: Django's inline formset, with every
    error said as "Row 2, date: ..." and the rows handed to the services as the API hands them."""

    child: Child

    def row_errors(self) -> list[str]:
        from meridian.core.children import row_error

        lines = [str(error) for error in self.non_form_errors()]
        for number, form in enumerate(self.forms, 1):
            for name, errors in form.errors.items():
                label = str(form.fields[name].label) if name in form.fields and name != "__all__" else None
                lines.extend(row_error(number, label, str(error)) for error in errors)
        return lines

    def clean(self) -> None:
        """A posted row id that is not one of this record's rows (another record's, or one removed meanwhile) is
        refused, never taken as a new row."""
        super().clean()
        from meridian.core.children import row_error

        for number, form in enumerate(self.forms[: self.initial_form_count()], 1):
            if form.instance.pk is None:
                raise forms.ValidationError(
                    row_error(
                        number,
                        None,
                        f"this is not a row of this {self.instance._meta.verbose_name} (any more): reload the page.",
                    )
                )

    def rows(self) -> list[dict[str, Any]]:
        """Each row kept (not removed, not a blank new one): its field values, and `id` for an existing row."""
        rows = []
        for form in self.forms:
            if self.can_delete and self._should_delete_form(form):  # type: ignore[attr-defined]
                continue
            if form.instance.pk is None and not form.has_changed():
                continue
            row = {name: form.cleaned_data.get(name) for name in self.child.fields}
            if form.instance.pk is not None:
                row["id"] = form.instance.pk
            rows.append(row)
        return rows


@cache
def formset_for(child: Child) -> type[ChildFormSet]:
    formset = forms.inlineformset_factory(
        child.parent_model,
        child.model,
        form=ChildRowForm,
        formset=ChildFormSet,
        fk_name=child.fk,
        fields=[*child.fields, child.fk],  # a list of its own: Django's inline formset appends the key to it
        extra=child.extra,
        can_delete=True,
    )
    formset.child = child  # type: ignore[attr-defined]
    return formset  # type: ignore[return-value]


@cache
def form_for(record_type: RecordType) -> type[RecordForm]:
    base = record_type.form or RecordForm
    return forms.modelform_factory(record_type.model, form=base, fields=record_type.fields)  # type: ignore[return-value]


# --- calendars: weekly hours typed the way people say them ----------------------------------------------------


class CalendarForm(RecordForm):
    hours_text = forms.CharField(
        label="Working hours",
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        help_text="One line per day or day range, e.g. “Mon-Fri 09:00-12:30 13:30-17:30”. Ignored when 24x7.",
    )

    class Meta:
        model = Calendar
        fields = ["name", "time_zone", "always_open", "holiday_country", "holiday_subdivision", "description"]

    field_order = ["name", "time_zone", "always_open", "hours_text", "holiday_country", "holiday_subdivision"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.fields["hours_text"].initial = format_hours(self.instance.working_hours or {})
        if "working_hours" in self.fields:
            del self.fields["working_hours"]

    def clean_hours_text(self) -> dict[str, list[list[str]]]:
        try:
            return parse_hours(self.cleaned_data.get("hours_text") or "")
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc

    def field_values(self) -> dict[str, Any]:
        values = super().field_values()
        values["working_hours"] = values.pop("hours_text")
        return values


class CustomFieldForm(RecordForm):
    """A custom field's definition. Its scope's values are chosen by name (`scope_choices`: the CI classes when the
    scope field is a CI's class, the labels of a choice field, yes/no), grouped by record type and field, and stored
    in `scope_values` as today (ids and values, separated by commas); a field without such a list (a text) keeps the
    typed values."""

    SEPARATOR = "|"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from meridian.core.custom_fields import scope_options, scope_values

        groups: list[tuple[str, list[tuple[str, str]]]] = []
        self.scope_fields: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for rt in sorted((rt for rt in registry.all_types() if rt.custom_fields), key=lambda rt: rt.verbose_name):
            # the fields people set on the type (and its status), not its bookkeeping (created by, updated by ...)
            names = [*rt.fields, *([rt.lifecycle.field] if rt.lifecycle else [])]
            for name in names:
                options = scope_options(rt, name)
                if not options:
                    continue
                self.scope_fields[(rt.label, name)] = options
                verbose = getattr(rt.model._meta.get_field(name), "verbose_name", name)
                label = f"{capfirst(rt.verbose_name_plural)} · {verbose} ({name})"
                groups.append((label, [(self._encode(rt.label, name, v), text) for v, text in options]))
        initial: list[str] = []
        definition = self.instance
        if (definition.applies_to, definition.scope_field) in self.scope_fields:
            initial = [self._encode(definition.applies_to, definition.scope_field, v) for v in scope_values(definition)]
            self.initial["scope_values"] = ""
        field = forms.MultipleChoiceField(
            label="has one of (choose)",
            required=False,
            choices=groups,
            initial=initial,
            help_text="…whose value is one of these: choose them among the values of the field named above (CI classes "
            "by name, a choice by its label). Or type the values in “has one of” for a field without a list.",
            widget=forms.SelectMultiple(attrs={"class": "form-select", "size": 8}),
        )
        fields: dict[str, forms.Field] = {}
        for name, existing in self.fields.items():
            if name == "scope_values":
                fields["scope_choices"] = field
            fields[name] = existing
        self.fields = fields

    def _encode(self, applies_to: str, field: str, value: str) -> str:
        return self.SEPARATOR.join((applies_to, field, value))

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean()
        if cleaned is None:
            return cleaned
        chosen = [c.split(self.SEPARATOR, 2) for c in cleaned.get("scope_choices") or []]
        key = (cleaned.get("applies_to") or "", cleaned.get("scope_field") or "")
        if not chosen:
            return cleaned
        if key not in self.scope_fields:
            self.add_error(
                "scope_choices",
                "The field named in “only when field” has no list of values: type them in “has one of”."
                if key[1]
                else "Name the field whose values decide the scope in “only when field”.",
            )
            return cleaned
        others = [c for c in chosen if (c[0], c[1]) != key]
        if others:
            labels = dict(self.scope_fields.get((others[0][0], others[0][1]), []))
            self.add_error(
                "scope_choices",
                f"“{labels.get(others[0][2], others[0][2])}” is a value of {others[0][1]}, not of {key[1]}: choose "
                f"among the values of {key[1]}.",
            )
            return cleaned
        typed = (cleaned.get("scope_values") or "").strip()
        values = ",".join(c[2] for c in chosen)
        if typed and typed != values:
            self.add_error("scope_values", "Choose the values in the list or type them, not both.")
            return cleaned
        cleaned["scope_values"] = values
        return cleaned

    def field_values(self) -> dict[str, Any]:
        values = super().field_values()
        values.pop("scope_choices", None)
        return values


# --- accounts ---------------------------------------------------------------------------------------------------


class LoginForm(AuthenticationForm):
    """Django's login form; the same message whether the username exists or not (no user enumeration)."""

    error_messages = {
        "invalid_login": "That username and password do not match an active account.",
        "inactive": "That username and password do not match an active account.",
        "rate_limited": "Too many failed attempts. Wait a few minutes and try again.",
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style_fields(self)


class PreferencesForm(forms.Form):
    time_zone = forms.ChoiceField(choices=TIME_ZONE_CHOICES)
    language = forms.ChoiceField(choices=User._meta.get_field("language").choices)  # type: ignore[arg-type]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style_fields(self)


class ApiTokenForm(forms.Form):
    """A new API token (`core.api_tokens.create_api_token` checks the name's uniqueness and the expiry day)."""

    name = forms.CharField(
        max_length=100,
        help_text="What uses it, e.g. “nightly CMDB sync”. Unique among your tokens.",
        error_messages={"required": "Give the token a name, e.g. the script that will use it."},
    )
    expires_on = forms.DateField(
        required=False,
        label="Expires on",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="Optional. The token stops working when this day begins (your time zone).",
        error_messages={"invalid": "Enter a date such as 2027-01-31."},
    )
    read_only = forms.BooleanField(
        required=False,
        label="Read-only: may only read (GET), never change anything",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style_fields(self)


class GrantLoginForm(ActionForm):
    """The input of a person's "Give a login" action (page and API alike)."""

    username = forms.CharField(max_length=150)
    roles = forms.MultipleChoiceField(choices=Role.choices, widget=forms.CheckboxSelectMultiple)
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        required=False,
        help_text="Leave empty to let them set one by password reset.",
    )


class DeleteForm(forms.Form):
    """The delete page: why (kept in the audit trail), and the version of the record that was shown."""

    reason = forms.CharField(required=False)
    authorised_by = forms.CharField(required=False, max_length=200)
    version = VersionField()
