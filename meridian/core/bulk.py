"""Bulk actions: one action on many records of a registered type, from a list page or the API.

The actions of a type are those a person could take one record at a time: **edit** chosen fields (the values
checked once by the fields of the type's own form), **delete**, **follow** / **unfollow** (a type with watchers),
and every record action declared with `bulk=True` (lifecycle transitions included). Export is the list's own
(`core.views.RecordViews.export`) on the selected rows.

    job = bulk.start(record_type, "edit", selection, actor=user, channel="page", data=request.POST)
    # small selections have run by now (job.finished); larger ones run as the `core.run_bulk_job` task

The selection (`select`): ids chosen on a page (each with the version the page showed), ids or {id, version}
pairs sent to the API, or every record matching a list's filters. It is fixed when the action starts: the ids
and the versions they had, among the records the person may see (others are refused as not found).

Each record is written by the single-record service in its own transaction (`services.update_record`,
`services.delete_record`, `actions.run`, `watchers.follow`), so policy, tenancy, guards, reasons, the version and
the audit event are exactly those of a single write, and nothing is half-written within a record. A record that
changed since it was selected is refused (its version), never overwritten. The result counts the records changed
and unchanged and names every refused one with the reason.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db import transaction
from django.http import QueryDict
from django.utils import timezone
from django.utils.datastructures import MultiValueDict

from meridian.core import actions, policy, registry, services
from meridian.core.choices import BulkStatus
from meridian.core.registry import CHANGE, DELETE, VIEW, RecordType

EDIT, REMOVE, FOLLOW, UNFOLLOW = "edit", "delete", "follow", "unfollow"
BUILT_IN = (EDIT, REMOVE, FOLLOW, UNFOLLOW)
PAGE, API = "page", "api"
PROGRESS_EVERY = 20  # rows between two progress updates of a running job
REFUSED_KEPT = 1000  # refused rows named in the result (the counts are always whole)


def inline_limit() -> int:
    """Selections up to this size run in the request; larger ones in the background with progress."""
    return int(getattr(settings, "MERIDIAN_BULK_INLINE_ROWS", 50))


def max_rows() -> int:
    """The largest selection one bulk action takes (narrow the filters for more)."""
    return int(getattr(settings, "MERIDIAN_BULK_MAX_ROWS", 10_000))


@dataclass(frozen=True)
class BulkAction:
    """One thing that can be done to many records of a type at once."""

    name: str  # edit, delete, follow, unfollow or a record action's name
    title: str
    style: str = "secondary"
    icon: str = "bi-lightning"
    record_action: actions.RecordAction | None = field(default=None, repr=False)
    needs_version: bool = True  # whether the record's version is compared (following is no change of the record)

    @property
    def slug(self) -> str:
        return self.name.replace("_", "-")

    @property
    def reason_required(self) -> bool:
        return self.record_action is not None and self.record_action.reason_required

    def may(self, record_type: RecordType, user: Any) -> bool:
        """The role check, as for one record: who may not do it to one may not do it to many."""
        if self.record_action is not None:
            return policy.has_role_permission(user, VIEW, record_type.model) and self.record_action.may(user)
        if self.name == EDIT:
            return policy.has_role_permission(user, CHANGE, record_type.model)
        if self.name == REMOVE:
            return policy.has_role_permission(user, DELETE, record_type.model)
        return policy.has_role_permission(user, VIEW, record_type.model)  # following: whoever may read them


def actions_of(record_type: RecordType) -> list[BulkAction]:
    """Every bulk action of the type, whoever asks: edit, the record actions that allow it, follow/unfollow, delete."""
    found = [BulkAction(EDIT, "Edit fields", "primary", "bi-pencil")]
    for record_action in actions.actions_of(record_type):
        if record_action.name in (*BUILT_IN, "export"):
            raise ValueError(f"{record_type.label}: the action name {record_action.name!r} is taken by bulk actions")
        if record_action.bulk:
            found.append(
                BulkAction(record_action.name, record_action.title, record_action.style, "bi-lightning", record_action)
            )
    if record_type.watchers is not None:
        found.append(BulkAction(FOLLOW, "Follow", "secondary", "bi-bell", needs_version=False))
        found.append(BulkAction(UNFOLLOW, "Stop following", "secondary", "bi-bell-slash", needs_version=False))
    found.append(BulkAction(REMOVE, "Delete", "danger", "bi-trash"))
    return found


def available(record_type: RecordType, user: Any) -> list[BulkAction]:
    """The bulk actions this person may start on the type's list."""
    return [a for a in actions_of(record_type) if a.may(record_type, user)]


def find(record_type: RecordType, name_or_slug: str) -> BulkAction | None:
    name = name_or_slug.replace("-", "_")
    return next((a for a in actions_of(record_type) if a.name == name), None)


def require(record_type: RecordType, name: str, user: Any) -> BulkAction:
    """The bulk action, if the person may start it: unknown is a ValidationError on `action`, a role that does not
    allow it PermissionDenied (403)."""
    found = find(record_type, name)
    if found is None:
        raise ValidationError({"action": f"Not an action on {record_type.verbose_name_plural}: {name}."})
    if not found.may(record_type, user):
        raise PermissionDenied(f"Your roles do not allow “{found.title}” on {record_type.verbose_name_plural}.")
    return found


# --- the selection ----------------------------------------------------------------------------------------------


@dataclass
class Selection:
    """The records chosen: (id, version or None) in order, and the ids asked for that the person may not see."""

    rows: list[tuple[int, int | None]]
    missing: list[int] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.rows) + len(self.missing)


def _too_many(record_type: RecordType, count: int, key: str) -> ValidationError:
    return ValidationError(
        {
            key: f"{count:,} {record_type.verbose_name_plural} is more than one bulk action takes "
            f"({max_rows():,}): narrow the filters."
        }
    )


def select_ids(record_type: RecordType, user: Any, chosen: Iterable[tuple[int, int | None]]) -> Selection:
    """Records chosen by id (with the version the caller read, or None: the current one), looked up among those the
    person may see; the others are kept as missing (refused as not found, never a hint that they exist)."""
    from meridian.core.querysets import records_for

    chosen = list(dict(chosen).items())  # each id once, in the order given
    if not chosen:
        raise ValidationError({"selected": "Choose at least one record."})
    if len(chosen) > max_rows():
        raise _too_many(record_type, len(chosen), "selected")
    current = dict(
        records_for(record_type, user, VIEW, annotate=False)
        .filter(pk__in=[pk for pk, _ in chosen])
        .values_list("pk", "version")
    )
    rows = [(pk, version if version is not None else current[pk]) for pk, version in chosen if pk in current]
    return Selection(rows, [pk for pk, _ in chosen if pk not in current])


def select_matching(
    record_type: RecordType, request: Any, query: Mapping[str, Any] | QueryDict, *, strict: bool = False
) -> Selection:
    """Every record of the list's filters (a query string's values) that the person may see, at its version now.
    A filter that makes no sense is a ValidationError on `filter`, naming it; so is, with `strict` (the API), a name
    that is no filter of the list (a list ignores it: a misspelt filter would otherwise select every record)."""
    from meridian.core.filtersets import filterset_for
    from meridian.core.querysets import natural_order, records_for

    params = query.copy() if isinstance(query, QueryDict) else _query_dict(query)
    for name in ("export", "sort", "page", "per_page", "count", "view", "columns", "cursor", "ordering", "page_size"):
        params.pop(name, None)
    queryset = records_for(record_type, request.user, VIEW, annotate=True)
    filterset = filterset_for(record_type)(params or None, queryset=queryset, request=request)
    if strict:
        known = set()
        for name, form_field in filterset.form.fields.items():
            known.add(name)
            known.update(f"{name}_{suffix}" for suffix in getattr(form_field.widget, "suffixes", []))
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValidationError({"filter": f"Not a filter of this list: {', '.join(unknown)}."})
    if filterset.is_bound and not filterset.is_valid():
        problems = "; ".join(
            f"{filterset.form[name].label if name in filterset.form.fields else name}: {' '.join(errors)}"
            for name, errors in filterset.errors.items()
        )
        raise ValidationError({"filter": f"These filters are not valid: {problems}"})
    matching = filterset.qs if filterset.is_bound else queryset
    rows = list(natural_order(matching).values_list("pk", "version")[: max_rows() + 1])
    if len(rows) > max_rows():
        raise _too_many(record_type, matching.count(), "filter")
    if not rows:
        raise ValidationError({"filter": f"No {record_type.verbose_name_plural} match these filters."})
    return Selection(rows)


def _query_dict(values: Mapping[str, Any]) -> QueryDict:
    params = QueryDict(mutable=True)
    for key, value in values.items():
        params.setlist(key, [str(v) for v in value] if isinstance(value, list) else [str(value)])
    return params


def parse_page_selection(values: list[str]) -> list[tuple[int, int | None]]:
    """The list page's checkboxes: `<id>:<version>`; anything else is refused on `selected`."""
    chosen = []
    for value in values:
        pk, _, version = value.partition(":")
        if not pk.isdigit() or (version and not version.isdigit()):
            raise ValidationError({"selected": f"Not a record of this list: {value[:40]}."})
        chosen.append((int(pk), int(version) if version else None))
    return chosen


# --- the input ------------------------------------------------------------------------------------------------


class EditForm(forms.Form):
    """The fields a bulk edit may set (`change`: the names ticked), with the widgets, choices and checks of the
    type's own form. Only the ticked fields are validated and written; a unique field (a name, an address) is not
    offered, nor a field the type's form computes from text of its own."""

    def __init__(self, data: Any = None, *, record_type: RecordType, user: Any) -> None:
        super().__init__(data)
        from meridian.core.custom_fields import PREFIX
        from meridian.core.forms import form_for

        self.record_type, self.user = record_type, user
        model_form = form_for(record_type)(user=user)  # a new record's form: every field blank
        model_fields = {f.name: f for f in record_type.model._meta.get_fields() if f.concrete}
        children = {child.name for child in record_type.children}
        self.required_names: set[str] = set()
        for name, form_field in model_form.fields.items():
            model_field = model_fields.get(name)
            custom = name.startswith(PREFIX)
            if name == "version" or name in children or not (custom or model_field is not None):
                continue
            if model_field is not None and (model_field.unique or model_field.primary_key):
                continue
            if form_field.required:
                self.required_names.add(name)
            form_field.required = False  # required only when ticked (full_clean)
            self.fields[name] = form_field
        self.changeable = list(self.fields)
        self.fields["change"] = forms.MultipleChoiceField(
            label="Fields to change",
            choices=[(name, self.fields[name].label or name) for name in self.changeable],
            required=True,
            error_messages={"required": "Tick at least one field to change."},
        )
        self.fields["reason"] = forms.CharField(
            label="Reason", required=False, widget=forms.Textarea(attrs={"rows": 2, "class": "form-control"})
        )
        if record_type.control is not None:  # `core.control`: the change the edits cite
            from meridian.core import control

            self.fields[control.FIELD] = control.form_field()
            self.fields[control.FIELD].widget.attrs["class"] = "form-control"

    @property
    def chosen(self) -> list[str]:
        return [
            name
            for name in (
                self.data.getlist("change") if hasattr(self.data, "getlist") else self.data.get("change") or []
            )
            if name in self.changeable
        ]

    def full_clean(self) -> None:
        super().full_clean()
        chosen = set(self.chosen)
        for name in list(self.errors):
            if name in self.changeable and name not in chosen:  # what is not ticked is not written, nor judged
                del self.errors[name]
        for name in chosen:
            if name in self.required_names and self.cleaned_data.get(name) in (None, "", [], ()):
                self.add_error(name, "Required: it cannot be emptied.")

    def values(self) -> dict[str, Any]:
        """The ticked fields' values as the services take them (custom fields under `custom`)."""
        from meridian.core.custom_fields import PREFIX, json_value

        values: dict[str, Any] = {}
        for name in self.chosen:
            value = self.cleaned_data.get(name)
            if name.startswith(PREFIX):
                values.setdefault("custom", {})[name.removeprefix(PREFIX)] = json_value(value)
            else:
                values[name] = value
        return values

    def summary(self) -> str:
        return ", ".join(str(self.fields[name].label or name) for name in self.chosen)


def edit_data_from_api(form: EditForm, values: Any) -> dict[str, Any]:
    """An API body's `values` ({field: JSON value, "custom": {name: value}}) as the edit form's data, each value of
    its declared JSON type (never converted), unknown fields refused by name."""
    from meridian.core.custom_fields import PREFIX

    if not isinstance(values, Mapping) or not values:
        raise ValidationError({"values": 'Send the fields to change as a JSON object, e.g. {"team": 3}.'})
    flat: dict[str, Any] = {}
    for name, value in values.items():
        if name == "custom" and isinstance(value, Mapping):
            flat.update({f"{PREFIX}{key}": item for key, item in value.items()})
        else:
            flat[name] = value
    errors: dict[str, list[str]] = {}
    for name, value in flat.items():
        if name not in form.changeable:
            errors[name] = ["Not a field a bulk edit can change."]
            continue
        wrong = actions._json_type_error(form.fields[name], value)
        if wrong:
            errors[name] = [wrong]
    if errors:
        raise ValidationError(errors)
    return {**flat, "change": list(flat)}


def _action_form(action: BulkAction, obj: Any, user: Any, data: Any) -> forms.Form:
    assert action.record_action is not None
    form_class = actions.page_form_class(action.record_action)
    body = data.copy() if hasattr(data, "copy") else dict(data)
    body["version"] = str(obj.version)  # compared by the runner with the version selected
    return form_class(data=body, obj=obj, user=user)


def check_input(
    record_type: RecordType, action: BulkAction, user: Any, *, channel: str, data: Any, sample: Any
) -> dict[str, Any]:
    """The action's input, checked once before anything runs (field-level ValidationError, nothing written):
    the job's `params`. `sample`: a selected record (an action's form is made for a record)."""
    reason = ""
    if action.name == EDIT:
        given = (
            edit_data_from_api(EditForm(record_type=record_type, user=user), data.get("values"))
            if (channel == API)
            else data
        )
        form = EditForm(given, record_type=record_type, user=user)
        if not form.is_valid():
            raise ValidationError({name: list(messages) for name, messages in form.errors.items()})
        stored = _storable(given)
        reason = form.cleaned_data.get("reason") or (data.get("reason") if channel == API else "") or ""
        cited = form.cleaned_data.get("authorised_by") or (data.get("authorised_by") if channel == API else "") or ""
        return {
            "channel": channel,
            "input": stored,
            "reason": str(reason),
            "authorised_by": str(cited),
            "summary": form.summary(),
        }
    if action.record_action is not None:
        if channel == API:
            values = data.get("values") or {}
            if not isinstance(values, Mapping):
                raise ValidationError({"values": "Send the action's input as a JSON object."})
            body = {**values, "reason": data.get("reason") or ""}
            if action.record_action.controlled and data.get("authorised_by"):
                body["authorised_by"] = data["authorised_by"]
            actions.api_input(action.record_action, body, obj=sample, user=user)  # types, unknown fields, the form
            return {"channel": channel, "input": body, "reason": str(body["reason"]), "summary": ""}
        action_form = _action_form(action, sample, user, data)
        if not action_form.is_valid():
            raise ValidationError({name: list(messages) for name, messages in action_form.errors.items()})
        return {
            "channel": channel,
            "input": _storable(data),
            "reason": action_form.cleaned_data.get("reason") or "",
            "summary": "",
        }
    reason = str(data.get("reason") or "")
    cited = str(data.get("authorised_by") or "") if record_type.control is not None else ""
    return {"channel": channel, "input": {}, "reason": reason, "authorised_by": cited, "summary": ""}


KEPT_OUT = {"csrfmiddlewaretoken", "selected", "all", "query", "confirm", "action", "columns", "version"}


def _storable(data: Any) -> dict[str, Any]:
    """Form data as JSON: a page's (each key's list of values) or an API's (as sent)."""
    if hasattr(data, "lists"):
        return {"__lists__": {key: values for key, values in data.lists() if key not in KEPT_OUT}}
    return {key: value for key, value in dict(data).items() if key not in KEPT_OUT}


def _restored(stored: Mapping[str, Any]) -> Any:
    if "__lists__" in stored:
        return MultiValueDict(stored["__lists__"])
    return dict(stored)


# --- running -------------------------------------------------------------------------------------------------


def start(
    record_type: RecordType,
    action_name: str,
    selection: Selection,
    *,
    actor: Any,
    channel: str,
    data: Any,
    back: str = "",
) -> Any:
    """Check the input, keep the job and run it: here when the selection is small, else as a background task (the
    job then shows its progress). Field-level ValidationError before anything is written."""
    from meridian.core.models import BulkJob

    action = require(record_type, action_name, actor)
    if not selection.rows and not selection.missing:
        raise ValidationError({"selected": "Choose at least one record."})
    sample = None
    if selection.rows and action.record_action is not None:
        sample = record_type.model._default_manager.get(pk=selection.rows[0][0])
    params: dict[str, Any]
    if action.record_action is not None and sample is None:
        params = {"channel": channel, "input": {}, "reason": "", "summary": ""}
    else:
        params = check_input(record_type, action, actor, channel=channel, data=data, sample=sample)
    if action.reason_required and not params["reason"].strip():
        raise ValidationError({"reason": f"Say why: a reason is required to {action.title.lower()}."})
    params["back"] = back  # the list's query string the selection was made on (the result page links back to it)
    title = action.title + (f": {params['summary']}" if params.get("summary") else "")
    job = BulkJob.objects.create(
        record_type=record_type.label,
        action=action.name,
        title=title[:200],
        created_by=actor,
        params=params,
        rows=[[pk, version] for pk, version in selection.rows],
        total=selection.total,
        refused=[
            {"id": pk, "label": f"#{pk}", "field": "", "message": NOT_FOUND} for pk in selection.missing[:REFUSED_KEPT]
        ],
    )
    if selection.total <= inline_limit():
        run_job(job, actor=actor)
    else:
        from meridian.core.tasks import run_bulk_job

        transaction.on_commit(lambda: run_bulk_job(str(job.pk), actor.pk))
    job.refresh_from_db()
    return job


NOT_FOUND = "Not found: deleted, or not a record you may see."


def _label(record_type: RecordType, name: str) -> str:
    from meridian.core.tables import column_label

    if name in ("", "__all__", "non_field_errors"):
        return ""
    return column_label(record_type, name) if name in {f.name for f in record_type.model._meta.get_fields()} else name


def _message(exc: BaseException, record_type: RecordType) -> tuple[str, str]:
    """(field label, message) of why one record was refused."""
    if isinstance(exc, services.StaleVersion):
        return "", (
            f"Changed since it was selected (now version {exc.current.version}, by "
            f"{getattr(exc.current.updated_by, 'username', 'someone')}): not overwritten; open it and try again."
        )
    if isinstance(exc, services.RecordInUse | ValidationError):
        if hasattr(exc, "error_dict"):
            named = exc.message_dict
            if len(named) == 1:
                name, messages = next(iter(named.items()))
                return _label(record_type, name), " ".join(messages)
            text = "; ".join(
                f"{_label(record_type, name) or 'Record'}: {' '.join(messages)}" for name, messages in named.items()
            )
            return "", text
        return "", " ".join(exc.messages)
    if isinstance(exc, PermissionDenied):
        return "", str(exc) or "Your roles do not allow it on this record."
    return "", str(exc)


def edit_values(record_type: RecordType, actor: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """A bulk edit's values as the services take them, checked once for the whole job (valid when the job started;
    a chosen record may have gone since: a ValidationError then)."""
    form = EditForm(_restored(params.get("input") or {}), record_type=record_type, user=actor)
    if not form.is_valid():
        raise ValidationError({name: list(messages) for name, messages in form.errors.items()})
    return form.values()


def apply(
    record_type: RecordType,
    action: BulkAction,
    obj: Any,
    version: int | None,
    *,
    actor: Any,
    params: Mapping[str, Any],
    values: Mapping[str, Any] | None = None,
) -> bool:
    """Do the action to one record through its single-record service; whether it changed anything. Raises what the
    service raises (refused: the record is as it was). `values`: a bulk edit's, from `edit_values` (once per job)."""
    from meridian.core import watchers

    reason = params.get("reason") or ""
    cited = params.get("authorised_by") or ""
    expected = version if version is not None else obj.version
    stored = _restored(params.get("input") or {})
    if action.name == EDIT:
        data = values if values is not None else edit_values(record_type, actor, params)
        saved = services.update_record(
            obj, data=data, actor=actor, expected_version=expected, reason=reason, authorised_by=cited
        )
        return bool(saved.version != obj.version)
    if action.name == REMOVE:
        services.delete_record(obj, actor=actor, expected_version=expected, reason=reason, authorised_by=cited)
        return True
    if action.name == FOLLOW:
        return watchers.follow(obj, actor=actor)[1]
    if action.name == UNFOLLOW:
        return watchers.unfollow(obj, actor=actor)
    assert action.record_action is not None
    if params.get("channel") == API:
        values, reason, cited = actions.api_input(action.record_action, stored, obj=obj, user=actor)
    else:
        action_form = _action_form(action, obj, actor, stored)
        if not action_form.is_valid():
            raise ValidationError({name: list(messages) for name, messages in action_form.errors.items()})
        values = actions.input_values(action_form)
        cited = str(action_form.cleaned_data.get("authorised_by") or "")
    actions.run(
        action.record_action,
        obj,
        actor=actor,
        expected_version=expected,
        reason=reason,
        values=values,
        authorised_by=cited,
    )
    return True


def run_job(job: Any, *, actor: Any) -> Any:
    """Run a job's action on each of its records in order, each in its own transaction, recording progress; the
    result names every refused record. A job already started is left alone (a task delivered twice)."""
    from meridian.core.models import BulkJob
    from meridian.core.querysets import records_for

    started = BulkJob.objects.filter(pk=job.pk, status=BulkStatus.QUEUED).update(status=BulkStatus.RUNNING)
    if not started:
        return job
    record_type = registry.find_label(job.record_type)
    action = find(record_type, job.action) if record_type is not None else None
    refused = list(job.refused)
    changed = unchanged = 0
    done = len(refused)
    if record_type is None or action is None or not action.may(record_type, actor):
        refused.append({"id": None, "label": "", "field": "", "message": "This action is no longer yours to take."})
        BulkJob.objects.filter(pk=job.pk).update(
            status=BulkStatus.FAILED, refused=refused[:REFUSED_KEPT], finished_at=timezone.now()
        )
        return job
    values = None
    if action.name == EDIT:
        try:
            values = edit_values(record_type, actor, job.params)
        except ValidationError as exc:
            refused.append({"id": None, "label": "", "field": "", "message": _message(exc, record_type)[1]})
            BulkJob.objects.filter(pk=job.pk).update(
                status=BulkStatus.FAILED, refused=refused[:REFUSED_KEPT], finished_at=timezone.now()
            )
            return job
    rows = [(int(pk), version) for pk, version in job.rows]
    for start_at in range(0, len(rows), PROGRESS_EVERY):
        batch = rows[start_at : start_at + PROGRESS_EVERY]
        found = records_for(record_type, actor, VIEW, annotate=False).in_bulk([pk for pk, _ in batch])
        for pk, version in batch:
            obj = found.get(pk)
            if obj is None:
                refused.append({"id": pk, "label": f"#{pk}", "field": "", "message": NOT_FOUND})
                continue
            try:
                did = apply(
                    record_type,
                    action,
                    obj,
                    version if action.needs_version else None,
                    actor=actor,
                    params=job.params,
                    values=values,
                )
            except ObjectDoesNotExist:  # gone between the batch's read and its lock
                refused.append({"id": pk, "label": policy.shown(actor, obj), "field": "", "message": NOT_FOUND})
            except (ValidationError, PermissionDenied, services.StaleVersion, services.TransitionNotAllowed) as exc:
                field_name, message = _message(exc, record_type)
                refused.append({"id": pk, "label": policy.shown(actor, obj), "field": field_name, "message": message})
            except Exception as exc:
                import logging

                logging.getLogger(__name__).exception("bulk %s of %s %s", job.action, job.record_type, pk)
                refused.append(
                    {"id": pk, "label": policy.shown(actor, obj), "field": "", "message": f"Failed: {exc}"[:300]}
                )
            else:
                changed, unchanged = (changed + 1, unchanged) if did else (changed, unchanged + 1)
        done += len(batch)
        BulkJob.objects.filter(pk=job.pk).update(
            done_rows=done, changed=changed, unchanged=unchanged, refused=refused[:REFUSED_KEPT]
        )
    BulkJob.objects.filter(pk=job.pk).update(
        status=BulkStatus.DONE,
        done_rows=job.total,
        changed=changed,
        unchanged=unchanged,
        refused=refused[:REFUSED_KEPT],
        finished_at=timezone.now(),
    )
    job.refresh_from_db()
    return job


def refused_count(job: Any) -> int:
    return max(0, job.done_rows - job.changed - job.unchanged)


def job_for(pk: Any, user: Any) -> Any:
    """A bulk job of the person's own (None for another's, or no such job)."""
    import uuid

    from meridian.core.models import BulkJob

    try:
        key = uuid.UUID(str(pk))
    except ValueError:
        return None
    return BulkJob.objects.filter(pk=key, created_by_id=getattr(user, "pk", None)).first()


def as_dict(job: Any) -> dict[str, Any]:
    """A job as the API answers it."""
    return {
        "id": str(job.pk),
        "record_type": job.record_type,
        "action": job.action,
        "title": job.title,
        "status": job.status,
        "total": job.total,
        "done": job.done_rows,
        "changed": job.changed,
        "unchanged": job.unchanged,
        "refused_count": refused_count(job),
        "refused": job.refused,
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


def report_csv(job: Any) -> str:
    """The refused records of a job as CSV (id, record, field, reason)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "record", "field", "reason"])
    from meridian.core.views import neutralise

    for row in job.refused:
        writer.writerow(
            [
                row.get("id") or "",
                neutralise(row.get("label", "")),
                row.get("field", ""),
                neutralise(row.get("message", "")),
            ]
        )
    return buffer.getvalue()
