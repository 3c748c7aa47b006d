"""Record actions: the business operations a record type offers beside create, change and delete (give a person a
login, assign a ticket, assess a change). Declared once in the `RecordType`:

    RecordAction(
        "grant_login", "Give a login", services.grant_login,
        form=GrantLoginForm, roles=ADMINS, allowed=login_refusal, style="success",
    )

and the machinery gives each one, with no code of the type's own:

- the API endpoint `POST /api/v1/<app>/<plural>/{id}/<name-with-hyphens>/` (`version` in the body or `If-Match`,
  `Idempotency-Key`, 400 field errors, 403 for a role the action does not name, 404 for a record the caller may not
  see, 409 when stale or not possible now) with its OpenAPI entry and request schema;
- the button on the record's page and, when the action takes input, its form page (`core/record_action.html`);
- its name in `available_actions` of the API representation when the caller may run it now.

A lifecycle `Transition` is one kind of record action (`actions_of` makes one from each row of the transition
table): one URL scheme, one endpoint generator, one `available_actions`, one button, one runner (`run`).

The input is declared once, as a Django form class (a subclass of `ActionForm`): the page renders and validates it,
and the API validates the JSON body with the same form after checking each value's JSON type (`api_input`), so both
channels accept exactly the same values. The OpenAPI request schema is derived from the form (`request_serializer`).

The service is the business operation: `service(obj, *, actor, expected_version, reason, **cleaned_input)`. It runs
inside the runner's transaction, after the runner has locked the record's row, checked that the actor may see it,
the action's roles (never the auditor's: `READ_ONLY_ROLES`), the version and `allowed(obj, actor)` (None when
possible now, else the reason it is not: 409). It writes, re-checks what it must under the lock, and records ONE
audit event about the record naming the action (`changes["action"] = name`), as `services.transition` does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from typing import TYPE_CHECKING, Any

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from meridian.core import policy, registry, services
from meridian.core.registry import ADMINS, READ_ONLY_ROLES, VIEW

if TYPE_CHECKING:
    from meridian.core.lifecycle import Transition
    from meridian.core.models import Record

Service = Callable[..., Any]  # (obj, *, actor, expected_version, reason, **input) -> the record after the action
Allowed = Callable[[Any, Any], str | None]  # (obj, actor) -> None when possible now, else why not

NAME = re.compile(r"[a-z][a-z0-9_]*")


class ActionNotPossible(services.TransitionNotAllowed):
    """The action is not possible on the record now (its `allowed` says why): HTTP 409, a message on the page."""


@dataclass(frozen=True, eq=False)
class RecordAction:
    """One operation on one record, declared in `RecordType(actions=[...])` (see the module's docstring)."""

    name: str
    label: str
    service: Service
    form: type[ActionForm] | None = None  # the input beyond a reason; None: a button (with a reason when required)
    roles: frozenset[str] = ADMINS  # who may run it; the auditor never, whatever is declared
    allowed: Allowed | None = None  # whether it is possible on this record now
    confirm: str = ""  # asked before a button without a form runs it
    style: str = "primary"  # the button's colour: primary, success, warning, danger ...
    reason_required: bool = False
    help_text: str = ""  # said on the form page and in the OpenAPI entry
    initial: Callable[[Any, Any], dict[str, Any]] | None = None  # (obj, user) -> the form's initial values
    transition: Transition | None = field(default=None, repr=False)  # the lifecycle row this action was made from
    bulk: bool = True  # offered on many records at once (`core.bulk`); False for one that only makes sense on one
    # of a type under change control (`core.control`, set by `actions_of`): its form and API body take the change
    # it cites, `authorised_by`, which its service receives as a keyword
    controlled: bool = False

    def __post_init__(self) -> None:
        if not NAME.fullmatch(self.name):
            raise ValueError(f"action name {self.name!r}: lower case letters, digits and underscores")
        if self.form is not None and not issubclass(self.form, ActionForm):
            raise TypeError(f"action {self.name}: the form must be a subclass of meridian.core.actions.ActionForm")
        # an auditor changes nothing, whatever an action declares (`roles=STAFF` includes the auditor)
        object.__setattr__(self, "roles", frozenset(self.roles) - READ_ONLY_ROLES)

    @property
    def title(self) -> str:
        return self.label

    @property
    def slug(self) -> str:
        """`grant-login`: the action's path segment on pages and in the API."""
        return self.name.replace("_", "-")

    @property
    def has_form_page(self) -> bool:
        """Whether the button leads to a form page (input beyond a reason) rather than running at once."""
        return self.form is not None

    def may(self, actor: Any) -> bool:
        """The role check: whether the actor's roles allow this action at all (on any record they may see)."""
        return policy.is_system(actor) or bool(policy.roles_of(actor) & self.roles)

    def refusal(self, obj: Any, actor: Any) -> str | None:
        """Why the action is not possible on this record now, or None."""
        return self.allowed(obj, actor) if self.allowed is not None else None

    def available(self, obj: Any, actor: Any) -> bool:
        return self.may(actor) and self.refusal(obj, actor) is None


# --- input ---------------------------------------------------------------------------------------------------


class ActionForm(forms.Form):
    """Base of an action's input form: knows the record and the user (choices limited to what the user may see),
    styled like every form. Declare only the action's own fields; reason and version are added by the machinery."""

    def __init__(self, *args: Any, obj: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from meridian.core.forms import restrict_choices, style_fields

        self.obj, self.user = obj, user
        restrict_choices(self, user)
        style_fields(self)
        for bound in self.fields.values():
            if isinstance(bound.widget, forms.CheckboxSelectMultiple | forms.RadioSelect):
                bound.widget.attrs["class"] = "form-check-input"


class _Blank(ActionForm):
    """The input of an action without a form of its own: nothing but reason and version."""


def page_form_class(action: RecordAction) -> type[ActionForm]:
    """The form the action's page posts: its input, a reason (required when the action says so) and the version of
    the record the page showed. Made once per kind of input (nothing a request does changes it)."""
    return _page_form_class(action.form or _Blank, action.reason_required, action.title, action.controlled)


@cache
def _page_form_class(
    form: type[ActionForm], reason_required: bool, title: str, controlled: bool = False
) -> type[ActionForm]:
    from meridian.core.forms import VersionField

    reason = forms.CharField(
        label="Reason",
        required=reason_required,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required; kept in the record's history." if reason_required else "Kept in the record's history.",
        error_messages={"required": f"Say why: a reason is required to {title.lower()}."},
    )
    attrs: dict[str, Any] = {"reason": reason, "version": VersionField()}
    if controlled:  # `core.control`: the change the action cites
        from meridian.core import control

        attrs[control.FIELD] = control.form_field()
    return type(f"{form.__name__}{'Controlled' if controlled else ''}Page", (form,), attrs)


def input_values(form: forms.Form) -> dict[str, Any]:
    """The cleaned input a service takes: the form's fields without reason, version and the change cited."""
    skipped = ("reason", "version", "authorised_by")
    return {name: value for name, value in form.cleaned_data.items() if name not in skipped}


def _json_type_error(field: forms.Field, value: Any) -> str | None:
    """The API takes each value in its declared JSON type, never converted (as `STRICT_FIELDS` for records)."""
    if value is None:
        return None
    if isinstance(field, forms.MultipleChoiceField | forms.ModelMultipleChoiceField):
        if not isinstance(value, list):
            return "Must be a JSON list."
        if isinstance(field, forms.ModelMultipleChoiceField):
            return None if all(isinstance(v, int) and not isinstance(v, bool) for v in value) else "Give ids."
        return None if all(isinstance(v, str) for v in value) else "Give the choices as JSON strings."
    if isinstance(field, forms.BooleanField):
        return None if isinstance(value, bool) else "Must be true or false (JSON booleans)."
    if isinstance(field, forms.ModelChoiceField | forms.IntegerField):
        return None if isinstance(value, int) and not isinstance(value, bool) else "Must be a whole number."
    if isinstance(field, forms.FloatField | forms.DecimalField):
        return None if isinstance(value, int | float) and not isinstance(value, bool) else "Must be a number."
    return None if isinstance(value, str) else "Must be text: a JSON string."


def api_input(action: RecordAction, data: Any, *, obj: Any, user: Any) -> tuple[dict[str, Any], str, str]:
    """Validate an API body with the action's form: (cleaned input, reason, the change cited), or a ValidationError
    naming each field (unknown fields, values of the wrong JSON type, what the form refuses)."""
    if not isinstance(data, Mapping):
        raise ValidationError({"non_field_errors": "Send a JSON object."})
    form_class = page_form_class(action)
    probe = form_class(obj=obj, user=user)
    errors: dict[str, list[str]] = {}
    for name, value in data.items():
        if name == "version":
            continue  # read by `requested_version`
        if name not in probe.fields:
            errors[name] = ["Unknown field."]
            continue
        wrong = _json_type_error(probe.fields[name], value)
        if wrong:
            errors[name] = [wrong]
    if errors:
        raise ValidationError(errors)
    body = {name: value for name, value in data.items() if name != "version"}
    body["version"] = obj.version  # compared by the runner, from what the client sent
    form = form_class(data=body, obj=obj, user=user)
    if not form.is_valid():
        raise ValidationError({name: list(messages) for name, messages in form.errors.items()})
    return input_values(form), form.cleaned_data.get("reason") or "", form.cleaned_data.get("authorised_by") or ""


# --- the actions of a type -------------------------------------------------------------------------------------


def _transition_action(t: Transition) -> RecordAction:
    """A lifecycle transition as a record action: `services.transition` is its service."""

    def service(
        obj: Record, *, actor: Any, expected_version: int, reason: str = "", authorised_by: str = "", **values: Any
    ) -> Record:
        return services.transition(
            obj,
            t.action,
            actor=actor,
            expected_version=expected_version,
            reason=reason,
            authorised_by=authorised_by,
            values=values,
        )

    def allowed(obj: Record, actor: Any) -> str | None:
        lifecycle = registry.get(type(obj)).lifecycle
        assert lifecycle is not None
        return services.transition_refusal(t, obj, actor, getattr(obj, lifecycle.field))

    return RecordAction(
        t.action,
        t.title,
        service,
        roles=t.roles,
        allowed=allowed,
        confirm=t.confirm,
        style=t.style,
        reason_required=t.reason_required,
        form=t.form,
        help_text=f"Moves the status to “{t.target}”.",
        transition=t,
    )


def actions_of(record_type: registry.RecordType) -> tuple[RecordAction, ...]:
    """Every action of a type: its lifecycle's transitions first (in the table's order), then its declared actions.
    Read from the declarations at each call (a few small objects), so that what runs is what is declared now."""
    found = [_transition_action(t) for t in record_type.lifecycle.transitions] if record_type.lifecycle else []
    found += record_type.actions
    if record_type.control is not None:  # each asks for the change it cites (`core.control`)
        found = [replace(a, controlled=True) for a in found]
    names = [a.name for a in found]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"{record_type.label}: actions {twice} are declared twice (as transitions or actions)")
    return tuple(found)


def find(record_type: registry.RecordType, name_or_slug: str) -> RecordAction | None:
    name = name_or_slug.replace("-", "_")
    return next((a for a in actions_of(record_type) if a.name == name), None)


def available_actions(obj: Any, actor: Any) -> list[RecordAction]:
    """The actions this actor may run on this record now: the buttons and the API's `available_actions`."""
    record_type = registry.find(type(obj))
    if record_type is None or not policy.can(actor, VIEW, obj):
        return []
    return [a for a in actions_of(record_type) if a.available(obj, actor)]


# --- the one runner --------------------------------------------------------------------------------------------


def run(
    action: RecordAction,
    obj: Record,
    *,
    actor: Any,
    expected_version: int,
    reason: str = "",
    values: Mapping[str, Any] | None = None,
    authorised_by: str = "",
) -> Any:
    """Run a record action, whatever the channel: lock the record's row, check that the actor may see it (404), the
    action's roles (403), the version (409 `StaleVersion`), whether it is possible now (409 `ActionNotPossible`) and
    the reason, then call the service in the same transaction (which audits it)."""
    model = type(obj)
    with transaction.atomic():
        current = model.objects.select_for_update().get(pk=obj.pk)
        policy.require(actor, VIEW, current)
        if not action.may(actor):
            raise PermissionDenied(f"Your roles do not allow “{action.title}” on this {model._meta.verbose_name}.")
        services.check_version(current, expected_version)
        refusal = action.refusal(current, actor)
        if refusal:
            raise ActionNotPossible(refusal)
        if action.reason_required and not reason.strip():
            raise ValidationError({"reason": f"Say why: a reason is required to {action.title.lower()}."})
        cited = {"authorised_by": authorised_by} if action.controlled else {}
        return action.service(
            current, actor=actor, expected_version=expected_version, reason=reason, **cited, **dict(values or {})
        )


# --- OpenAPI ---------------------------------------------------------------------------------------------------


@cache
def request_serializer(record_type: registry.RecordType, action: RecordAction) -> type[Any]:
    """The OpenAPI description of the action's body, derived from its form (never used to validate: the form is)."""
    from rest_framework import serializers

    from meridian.core.api.serializers import version_field

    attrs: dict[str, Any] = {}
    form_fields = action.form.base_fields if action.form else {}
    for name, form_field in form_fields.items():
        common: dict[str, Any] = {"required": form_field.required, "help_text": str(form_field.help_text or "") or None}
        if isinstance(form_field, forms.ModelMultipleChoiceField):
            attrs[name] = serializers.ListField(child=serializers.IntegerField(), **common)
        elif isinstance(form_field, forms.ModelChoiceField):
            attrs[name] = serializers.IntegerField(**common)
        elif isinstance(form_field, forms.MultipleChoiceField):
            attrs[name] = serializers.MultipleChoiceField(choices=list(form_field.choices), **common)  # type: ignore[arg-type]
        elif isinstance(form_field, forms.ChoiceField):
            attrs[name] = serializers.ChoiceField(choices=list(form_field.choices), **common)  # type: ignore[arg-type]
        elif isinstance(form_field, forms.BooleanField):
            attrs[name] = serializers.BooleanField(**common)
        elif isinstance(form_field, forms.IntegerField):
            attrs[name] = serializers.IntegerField(**common)
        elif isinstance(form_field, forms.DateField):
            attrs[name] = serializers.DateField(**common)
        else:
            attrs[name] = serializers.CharField(**common, allow_blank=not form_field.required)
    attrs["reason"] = serializers.CharField(
        required=action.reason_required,
        allow_blank=not action.reason_required,
        help_text="Why: kept in the record's history." + (" Required." if action.reason_required else ""),
    )
    if action.controlled:
        attrs["authorised_by"] = serializers.CharField(
            required=False,
            allow_blank=True,
            help_text="For a record under change control: the reference of an approved change that lists it.",
        )
    attrs["version"] = version_field(required=False, help_text="The version you read; or an `If-Match` header.")
    name = "".join(part.title() for part in action.name.split("_"))
    return type(f"{record_type.model.__name__}{name}Request", (serializers.Serializer,), attrs)
