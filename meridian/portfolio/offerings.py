"""Offerings: what a customer can ask for under a service — the request catalogue that service requests (the tickets
app) are raised from. Registered here, with the rules the catalogue and the tickets app share:

- `may_request(offering, user)`: None when the user may request it, else why not (one sentence to show them);
- `offerings_for(user, service)`: the active offerings of a service the user may request (one query), for the
  catalogue pages;
- `request_form(offering, user, data)` (also `offering.request_form(user, data)`): the form the requester fills, a
  Django form built from the offering's request form fields, and `clean_answers(offering, given, actor=...)`, the
  same checks for JSON answers (an API). Both give the answers as stored: a JSON object by field name, each value
  in the form a custom field keeps it (`core.custom_fields`);
- `approvers(offering, requester)`: who approves a request now (empty: no approval); the service owner stands in
  for a missing one.

**Why the request form is the offering's own rows (`RequestField`), not custom fields of the request type scoped by
offering.** The custom field machinery could hold them — a `CustomField` of the future request type with the scope
"offering is 12" — and `CustomField`'s scope was written with that in mind. We keep its kinds and its rules, and
reuse its code (`RequestField.definition()` is an unsaved `CustomField`: `definition_errors` checks a row,
`form_field` builds the input, `parse_value` checks an answer), but not its table, because:

1. *Names.* A custom field's name is unique per record type. Every offering of the catalogue would share one name
   space: “start_date” could exist once, with one label, one set of choices, required or not, for all of them. An
   offering's questions are its own ("Which mailbox?", "Shared or personal?"); a catalogue of hundreds of offerings
   would need names like `new_mailbox_size`.
2. *Who keeps them.* Custom field definitions are written by administrators only (a change to the data model of a
   type); an offering's form is kept by the service owner with the rest of the offering.
3. *One record.* The form is part of what is offered: edited on the offering's page, versioned with it (a
   concurrent edit is a 409), audited in its history ("Request form fields: row added …") and deleted with it. A
   hundred offerings do not add a thousand rows to *Administration → Custom fields*.
4. *The request type does not exist yet.* A definition must name the record type it applies to.

Fields that every request has, whatever the offering (a cost centre), remain custom fields of the request type when
the tickets app registers it (`custom_fields=True`); the offering's answers are kept beside them in the request (a
JSON column of its own, e.g. `answers`, written through `clean_answers`), read with `answer_rows`.

**Who may request.** Customer users of the organisations named in `requesters` (every customer the service is
offered to when empty), and only while the organisation is still offered the service (its customers may change
after the offering named them); staff (any role that may write) when `staff_may_request`; never the auditor. Only
active offerings of live services. The offering record itself is the provider's: staff read it, service owners and
administrators keep it; customers read offerings through the catalogue only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from meridian.core import custom_fields, policy
from meridian.core.children import Child
from meridian.core.choices import CustomFieldType, OrganisationKind, Role
from meridian.core.forms import RecordForm, choose_widgets, restrict_choices, style_fields
from meridian.core.models import Organisation, Person
from meridian.core.registry import ADD, CHANGE, DELETE, READ_ONLY_ROLES, VIEW, Link, RecordType, Related, register
from meridian.core.registry import get as registered
from meridian.core.tabs import Tab
from meridian.core.watchers import Watchers
from meridian.portfolio.choices import ServiceStatus
from meridian.portfolio.models import ApprovalRule, FulfilmentTask, Offering, OfferingApproval, RequestField, Service
from meridian.portfolio.workflows import OWNERS

PREFIX = "answer"  # the request form's prefix on the offering's page (its preview is a GET: `tab=` stays free)


# --- validation of an offering -----------------------------------------------------------------------------------


def approval_errors(offering: Offering) -> dict[str, str]:
    """Field errors of the approval: the approver the choice needs is set (and can approve), the other is empty."""
    errors: dict[str, str] = {}
    approval = offering.approval
    if approval == OfferingApproval.PERSON:
        if offering.approver_person_id is None:
            errors["approver_person"] = "Name the person who approves requests for it."
        elif offering.approver_person.user_id is None:  # type: ignore[union-attr]
            errors["approver_person"] = f"{offering.approver_person} has no login: they could not approve anything."
    elif offering.approver_person_id is not None:
        errors["approver_person"] = "Leave empty: only approval by a named person names one."
    if approval == OfferingApproval.TEAM_LEAD:
        if offering.approver_team_id is None:
            errors["approver_team"] = "Choose the team whose lead approves requests for it."
        elif offering.approver_team.lead_id is None:  # type: ignore[union-attr]
            errors["approver_team"] = f"{offering.approver_team} has no lead: give it one, or choose another approver."
    elif approval == OfferingApproval.TEAM:
        if offering.approver_team_id is None:
            errors["approver_team"] = "Choose the team whose members approve requests for it."
        elif not _team_approvers(offering.approver_team):
            errors["approver_team"] = f"{offering.approver_team} has no member with a login: nobody could approve."
    elif offering.approver_team_id is not None:
        errors["approver_team"] = "Leave empty: only approval by a team's lead or members names a team."
    if offering.approval_rule == ApprovalRule.ALL and approval != OfferingApproval.TEAM:
        errors["approval_rule"] = "Only approval by a team's members has several approvers: choose “Any one of them”."
    if approval == OfferingApproval.SERVICE_OWNER and offering.service_id and offering.service.owner_id is None:
        errors["approval"] = (
            f"{offering.service} has no service owner: name one on the service, or choose another approver."
        )
    return errors


def check_requesters(offering: Offering, actor: Any, changes: dict[str, Any]) -> None:
    """After a write (in its transaction, so a refusal writes nothing): every organisation that may request must be
    one the service is offered to. Checked when the service or the requesters change."""
    if not {"service", "requesters"} & set(changes):
        return
    outside = offering.requesters.exclude(pk__in=offering.service.customers.values("pk")).order_by("name")
    names = [policy.shown(actor, organisation) for organisation in outside]
    if names:
        raise ValidationError(
            {
                "requesters": f"{offering.service} is not offered to {', '.join(names)}: choose among the "
                "organisations it is offered to, or offer it to them first (on the service)."
            }
        )


class OfferingForm(RecordForm):
    """An offering's form: the requesters offered are the customers of its service (of the service chosen in the
    form being posted), approvers the provider's own people and teams."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        requesters: Any = self.fields.get("requesters")
        if requesters is not None:
            service = self.data.get("service") if self.is_bound else self.instance.service_id
            if service and str(service).isdigit():
                requesters.queryset = requesters.queryset.filter(services=int(service))
            else:
                requesters.queryset = requesters.queryset.filter(services__isnull=False).distinct()
        internal = Organisation.objects.filter(kind=OrganisationKind.INTERNAL).values("pk")
        for name, path in (("approver_person", "organisation__in"), ("approver_team", "organisation__in")):
            field: Any = self.fields.get(name)
            if field is not None:
                field.queryset = field.queryset.filter(**{path: internal})


# --- who may request --------------------------------------------------------------------------------------------


def _may_write(user: Any) -> bool:
    """A staff login that may act (any role but the auditor's and a customer's)."""
    return bool(policy.roles_of(user) - READ_ONLY_ROLES - {Role.CUSTOMER_USER})


def may_request(offering: Offering, user: Any) -> str | None:
    """None when `user` may request the offering now, else why not (a sentence for them)."""
    if not offering.active:
        return "This offering is not available at the moment."
    service = offering.service
    if service.status != ServiceStatus.LIVE:
        return f"{service} is not live: nothing can be requested under it."
    if not policy.roles_of(user):
        return "Log in with an active account to request it."
    if getattr(user, "is_customer", False):
        organisation = user.organisation_id
        if organisation is None:
            return "Your login belongs to no organisation: ask the service desk."
        if not service.customers.filter(pk=organisation).exists():
            return f"{service} is not offered to your organisation."
        named = offering.requesters.all()
        if named.exists() and not named.filter(pk=organisation).exists():
            return "Your organisation may not request it: ask the service desk."
        return None
    if not _may_write(user):
        return "Your role may read requests but not raise them."
    if not offering.staff_may_request:
        return "Only the customers' own users may request it: staff may not request it on their behalf."
    return None


def offerings_for(user: Any, service: Service) -> QuerySet[Offering]:
    """The active offerings of `service` that `user` may request (exactly those `may_request` allows), by name."""
    return requestable(user, [service.pk])


def requestable(user: Any, services: Any, organisation: Any = None) -> QuerySet[Offering]:
    """The active offerings of these services (ids or a queryset) that `user` may request, in one query whatever
    their number (the catalogue's). `organisation`: a staff preview of what that customer's users may request."""
    found = Offering.objects.filter(service__in=services, active=True, service__status=ServiceStatus.LIVE)
    if not policy.roles_of(user):
        return found.none()
    customer = getattr(user, "is_customer", False)
    whose = user.organisation_id if customer else getattr(organisation, "pk", None)
    if customer or whose is not None:
        if whose is None:
            return found.none()
        named = Offering.requesters.through.objects.filter(offering=OuterRef("pk"))
        return found.filter(service__customers=whose).filter(~Exists(named) | Exists(named.filter(organisation=whose)))
    if not _may_write(user):
        return found.none()
    return found.filter(staff_may_request=True)


def _team_approvers(team: Any) -> list[Person]:
    return list(team.members.filter(user__isnull=False, user__is_active=True).order_by("last_name", "first_name"))


def approvers(offering: Offering, requester: Person | None = None) -> list[Person]:
    """Who approves a request for the offering now (empty: no approval): the service's owner, the requester's
    manager, the named person, the team's current lead, or the team's members with a login. Where the one the
    choice names is missing (the requester has no manager, the service lost its owner, the team its lead), the
    service owner approves: a request that needs approval never goes ahead unapproved for want of an approver."""
    approval = offering.approval
    if approval == OfferingApproval.NONE:
        return []
    found: list[Person] = []
    if approval == OfferingApproval.MANAGER and requester is not None and requester.manager_id:
        found = [requester.manager]  # type: ignore[list-item]
    elif approval == OfferingApproval.PERSON and offering.approver_person_id:
        found = [offering.approver_person]  # type: ignore[list-item]
    elif approval == OfferingApproval.TEAM_LEAD and offering.approver_team_id and offering.approver_team.lead_id:  # type: ignore[union-attr]
        found = [offering.approver_team.lead]  # type: ignore[union-attr,list-item]
    elif approval == OfferingApproval.TEAM and offering.approver_team_id:
        found = _team_approvers(offering.approver_team)
    if not found and offering.service.owner_id:
        found = [offering.service.owner]  # type: ignore[list-item]
    return found


# --- the request form -------------------------------------------------------------------------------------------


class _Requester:
    """What a request form's person and organisation fields are judged by: the requesting organisation (people and
    organisations offered are that organisation's or the provider's, as for a customer's record)."""

    def __init__(self, organisation_id: int | None) -> None:
        self.tenant_id = organisation_id


def _definitions(offering: Offering) -> list[Any]:
    return [row.definition() for row in offering.request_fields.all()]


def _check_reference(definition: Any, pk: int, actor: Any, organisation_id: int | None) -> None:
    """A person or organisation answer: one the actor may see, of the requesting organisation or the provider."""
    model = custom_fields.reference_model(definition)
    target = model._default_manager.filter(pk=pk).first()
    if target is None or not policy.can(actor, VIEW, target):
        raise ValidationError("Select a valid choice. That choice is not one of the available choices.")
    tenant = target.tenant_id  # type: ignore[attr-defined]
    if organisation_id is None or tenant == organisation_id:
        return
    if not Organisation.objects.filter(pk=tenant, kind=OrganisationKind.INTERNAL).exists():
        raise ValidationError(f"Choose from the {model._meta.verbose_name_plural} of the requester's organisation.")


def _requesting(user: Any, organisation_id: int | None) -> int | None:
    """The organisation a request is for: the customer's own, or the one staff request on behalf of."""
    if getattr(user, "is_customer", False):
        return user.organisation_id  # type: ignore[no-any-return]
    return organisation_id


def clean_answers(
    offering: Offering, given: Any, *, actor: Any, organisation_id: int | None = None, definitions: Any = None
) -> dict[str, Any]:
    """The answers to the offering's request form as stored, from their JSON (an API body's `answers`): strict as
    the custom fields' API (no text for a number), each checked against its field; fields left out get their default;
    a required field left empty is refused. Errors are field errors by field name; nothing is returned then."""
    if given is None:
        given = {}
    if not isinstance(given, Mapping):
        raise ValidationError("Must be a JSON object of answers by field name.")
    found = {d.name: d for d in (definitions if definitions is not None else _definitions(offering))}
    organisation = _requesting(actor, organisation_id)
    answers: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, value in given.items():
        definition = found.get(name)
        if definition is None:
            errors[str(name)] = "No such field on this offering's request form."
            continue
        if value is None or value == "" or value == []:
            continue
        try:
            answers[name] = custom_fields.parse_value(definition, value)
            if definition.type in custom_fields.REFERENCE_TYPES:
                _check_reference(definition, answers[name], actor, organisation)
        except ValidationError as exc:
            errors[name] = " ".join(exc.messages)
    for name, definition in found.items():
        if name not in given and definition.default:
            answers[name] = custom_fields.parse_value(definition, custom_fields.default_value(definition))
        if definition.required and name not in answers and name not in errors:
            errors[name] = "This field is required."
    if errors:
        raise ValidationError(errors)
    return answers


def _initial(definition: Any) -> Any:
    """A field's default as its input shows it (a date and time in the reader's zone)."""
    stored = custom_fields.parse_value(definition, custom_fields.default_value(definition))
    if definition.type == CustomFieldType.DATETIME:
        return timezone.localtime(parse_datetime(stored))  # type: ignore[arg-type]
    return stored


class RequestForm(forms.Form):
    """The form a requester fills for an offering: one field per request form field, in their order, typed as a
    custom field's (the browser's date pickers, selects, check boxes; people and organisations of the requesting
    organisation or the provider). `is_valid()` runs the same checks as `clean_answers` (patterns, ranges ...);
    `answers()` gives the answers as stored."""

    def __init__(
        self,
        data: Any = None,
        *,
        offering: Offering,
        user: Any,
        organisation_id: int | None = None,
        prefix: str | None = None,
    ) -> None:
        super().__init__(data, prefix=prefix)
        self.offering, self.user = offering, user
        self.organisation_id = _requesting(user, organisation_id)
        self.definitions = _definitions(offering)
        requester = _Requester(self.organisation_id)
        for definition in self.definitions:
            field = custom_fields.form_field(definition, requester, user)
            if definition.default and definition.type not in custom_fields.REFERENCE_TYPES:
                field.initial = _initial(definition)
            self.fields[definition.name] = field
        restrict_choices(self, user)
        choose_widgets(self, user)
        style_fields(self)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        given = {
            d.name: custom_fields.json_value(cleaned[d.name])
            for d in self.definitions
            if d.name in cleaned and d.name not in self.errors
        }
        checked = [d for d in self.definitions if d.name in given]
        try:
            self._answers = clean_answers(
                self.offering, given, actor=self.user, organisation_id=self.organisation_id, definitions=checked
            )
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                self.add_error(name if name in self.fields else None, messages)
        return cleaned

    def answers(self) -> dict[str, Any]:
        """The answers as stored (after `is_valid()`): a JSON object by field name, empty answers left out."""
        if not self.is_valid():
            raise ValueError("The request form is not valid: ask is_valid() first.")
        return dict(self._answers)


def request_form(
    offering: Offering, user: Any, data: Any = None, *, organisation_id: int | None = None, prefix: str | None = None
) -> RequestForm:
    """The request form of the offering for `user` (bound when `data` is given). `organisation_id`: the customer
    staff request on behalf of (a customer user always requests for their own organisation)."""
    return RequestForm(data, offering=offering, user=user, organisation_id=organisation_id, prefix=prefix)


def answer_rows(offering: Offering, answers: Mapping[str, Any], user: Any) -> list[tuple[str, Any]]:
    """(label, value as people read it) of each answer, in the form's order; an answer to a field the offering no
    longer has is shown by its name."""
    rows = []
    definitions = _definitions(offering)
    known = {d.name for d in definitions}
    for definition in definitions:
        if definition.name in answers:
            rows.append((definition.label, custom_fields.shown_value(definition, answers[definition.name], user)))
    rows.extend((name, value) for name, value in answers.items() if name not in known)
    return rows


# --- the offering's page: the request form tab ------------------------------------------------------------------


def describe_field(row: RequestField) -> dict[str, Any]:
    """A request form field as the API describes it."""
    return {
        "name": row.name,
        "label": row.label,
        "type": row.type,
        "required": row.required,
        "help_text": row.help_text,
        "choices": custom_fields.choice_list(row.definition()),
        "default": row.default,
        "min_value": None if row.min_value is None else f"{row.min_value.normalize():f}",
        "max_value": None if row.max_value is None else f"{row.max_value.normalize():f}",
        "pattern": row.regex,
    }


def who_may_request(offering: Offering, user: Any) -> str:
    """Who may request the offering, in a sentence for its page."""
    named = [policy.shown(user, o) for o in offering.requesters.all()]
    if len(named) > 1:
        named = [", ".join(named[:-1]) + " and " + named[-1]]
    customers = f"Users of {named[0]}" if named else "Users of every customer the service is offered to"
    staff = ", and staff on their behalf." if offering.staff_may_request else "; not staff on their behalf."
    return customers + staff


def request_form_context(offering: Offering, user: Any, request: Any) -> dict[str, Any]:
    """The tab: the form as the requester sees it; submitted (`check`), it is validated and nothing is saved."""
    checked = request is not None and "check" in request.GET
    form = request_form(offering, user, request.GET if checked else None, prefix=PREFIX)
    valid = form.is_valid() if checked else False
    return {
        "request_form": form,
        "request_checked": checked,
        "request_valid": valid,
        "request_answers": answer_rows(offering, form.answers(), user) if valid else [],
        "request_refusal": may_request(offering, user),
        "request_who": who_may_request(offering, user),
        "request_fields_count": len(form.definitions),
    }


def request_form_api(offering: Offering, user: Any, request: Any) -> dict[str, Any]:
    return {
        "fields": [describe_field(row) for row in offering.request_fields.all()],
        "may_request": may_request(offering, user) is None,
        "refusal": may_request(offering, user),
    }


def request_form_schema() -> Any:
    """The OpenAPI answer of `GET /api/v1/portfolio/offerings/{id}/request-form/`."""
    from drf_spectacular.utils import inline_serializer
    from rest_framework import serializers

    field = inline_serializer(
        "OfferingRequestField",
        {
            "name": serializers.CharField(help_text="The answer's key."),
            "label": serializers.CharField(),
            "type": serializers.ChoiceField(choices=CustomFieldType.choices),
            "required": serializers.BooleanField(),
            "help_text": serializers.CharField(),
            "choices": serializers.ListField(child=serializers.CharField()),
            "default": serializers.CharField(help_text="As a person would type it; empty: none."),
            "min_value": serializers.CharField(allow_null=True, help_text="For numbers, as a decimal in a string."),
            "max_value": serializers.CharField(allow_null=True),
            "pattern": serializers.CharField(help_text="For text: a regular expression the whole answer must match."),
        },
        many=True,
    )
    return inline_serializer(
        "OfferingRequestForm",
        {
            "fields": field,
            "may_request": serializers.BooleanField(help_text="Whether you may request the offering now."),
            "refusal": serializers.CharField(allow_null=True, help_text="Why not, when you may not."),
        },
    )


register(
    RecordType(
        model=Offering,
        fields=[
            "service",
            "name",
            "summary",
            "description",
            "active",
            "requesters",
            "staff_may_request",
            "approval",
            "approver_person",
            "approver_team",
            "approval_rule",
            "expected_fulfilment",
        ],
        list_columns=["name", "service", "active", "approval", "expected_fulfilment"],
        filter_fields=["service", "active", "approval", "requesters"],
        search_fields=["name", "summary", "description"],
        permissions={ADD: OWNERS, CHANGE: OWNERS, DELETE: OWNERS},
        area="service",
        form=OfferingForm,
        links={"approver_person": Link.INTERNAL, "approver_team": Link.INTERNAL},
        select_related=["service", "approver_person", "approver_team"],
        prefetch_related=["requesters"],
        after_save=check_requesters,
        children=[
            Child(
                RequestField,
                fk="offering",
                fields=[
                    "order",
                    "name",
                    "label",
                    "type",
                    "required",
                    "choices",
                    "help_text",
                    "default",
                    "min_value",
                    "max_value",
                    "regex",
                ],
                label="Request form fields",
            ),
            Child(
                FulfilmentTask,
                fk="offering",
                fields=["order", "title", "team", "description"],
                label="Fulfilment tasks",
                links={"team": Link.INTERNAL},
            ),
        ],
        tabs=[
            Tab(
                "request_form",
                "Request form",
                template="portfolio/tabs/request_form.html",
                request_context=request_form_context,
                badge=lambda offering, user: offering.request_fields.count() or None,
                api=request_form_api,
                api_schema=request_form_schema(),
                help_text="The offering's request form as the requester sees it (its fields, in order), and whether "
                "you may request it.",
            )
        ],
        record_links=True,
        watchers=Watchers(),
        help_text="The request catalogue: what customers can ask for under each service, who may ask, who approves, "
        "the form they fill and the tasks a request starts.",
    )
)

# the offerings of a service on its page (declared here, beside the type, rather than in the service's declaration)
registered(Service).related.append(
    Related("offerings", "Offerings", columns=["name", "active", "approval", "expected_fulfilment"])
)

__all__ = [
    "RequestForm",
    "answer_rows",
    "approvers",
    "clean_answers",
    "may_request",
    "offerings_for",
    "request_form",
]
