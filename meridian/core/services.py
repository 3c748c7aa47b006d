"""Business operations of the core app, and the generic ones every record type uses.

Each is a typed function with a keyword-only `actor`: it checks the policy, validates, writes inside
`transaction.atomic`, records the audit event in the same transaction and defers side effects (mail, tasks)
to `transaction.on_commit`. Pages, API, mail ingest, webhooks and commands call these; none writes models.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, TypeVar

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import F, ProtectedError, RestrictedError
from django.utils import timezone

from meridian.core import attachments, audit, children, control, conversation, links, policy, registry
from meridian.core.choices import AuditAction, OrganisationKind, Role
from meridian.core.lifecycle import Transition
from meridian.core.models import Organisation, Person, Record, Sequence, User
from meridian.core.registry import ADD, CHANGE, DELETE, VIEW

R = TypeVar("R", bound=Record)

# set by the services themselves, not by the caller: no need to validate (saves a query per foreign key)
NOT_VALIDATED = ["reference", "created_by", "updated_by"]


class StaleVersion(Exception):
    """The record changed since the caller read it: the caller must look at `current` and try again."""

    def __init__(self, current: Record, expected_version: int | None = None) -> None:
        self.current = current
        self.expected_version = expected_version  # the version the caller read, when known
        super().__init__(
            f"{current} was changed by someone else (now version {current.version}); reload it and apply your "
            "change again."
        )


def _check_version(current: Record, expected_version: int) -> None:
    """Optimistic locking: every write names the version it was based on; a stale one writes nothing."""
    if isinstance(expected_version, bool) or not isinstance(expected_version, int):
        raise TypeError(f"expected_version must be an int, not {type(expected_version).__name__}")
    if current.version != expected_version:
        raise StaleVersion(current, expected_version)


def check_version(current: Record, expected_version: int) -> None:
    """The optimistic-locking check of every write, for services of other modules (record actions)."""
    _check_version(current, expected_version)


def record_action_done(
    current: Record,
    *,
    actor: Any,
    action: str,
    changes: Mapping[str, Any],
    reason: str = "",
    fields: Iterable[str] = (),
) -> Any:
    """The write a record action ends with (the runner locked `current` and its service checked the version): the
    version moves, `fields` are saved with who and when, and one audit event names the action and its changes."""
    current.version += 1
    current.updated_by, current.updated_at = actor, timezone.now()
    current.save(update_fields=[*fields, "version", "updated_by", "updated_at"])
    return audit.record_event(
        action=AuditAction.UPDATE, obj=current, actor=actor, changes={**changes, "action": action}, reason=reason
    )


class RecordInUse(ValidationError):
    """The record cannot be deleted now (other records refer to it, or a rule of its type): HTTP 409."""


class TransitionNotAllowed(Exception):
    """The action is not possible from the record's current state, or its guard refuses it (HTTP 409)."""


# --- actors -----------------------------------------------------------------------------------------------------


def get_system_actor() -> User:
    """The named actor of background work, so that its writes are attributed in the audit trail."""
    user, _ = get_user_model().objects.get_or_create(
        username=policy.SYSTEM_USERNAME,
        defaults={"first_name": "Meridian", "last_name": "system", "is_active": True},
    )
    return user  # type: ignore[return-value]


# --- numbering --------------------------------------------------------------------------------------------------


def next_reference(prefix: str, width: int = 6) -> str:
    """The next human reference for a prefix, e.g. INC-000124. Called inside the creating transaction: the
    sequence row stays locked until commit, so concurrent creations queue; a number is never handed out twice."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("references are allocated inside the creating transaction")
    updated = Sequence.objects.filter(prefix=prefix).update(last_value=F("last_value") + 1)
    if not updated:
        try:
            with transaction.atomic():
                Sequence.objects.create(prefix=prefix, last_value=0)
        except IntegrityError:
            pass  # created concurrently
        Sequence.objects.filter(prefix=prefix).update(last_value=F("last_value") + 1)
    value = Sequence.objects.get(prefix=prefix).last_value
    return f"{prefix}-{value:0{width}d}"


# --- generic record operations ----------------------------------------------------------------------------------


def _split(model: type[models.Model], data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    m2m_names = {f.name for f in model._meta.many_to_many}
    plain = {k: v for k, v in data.items() if k not in m2m_names}
    m2m = {k: v for k, v in data.items() if k in m2m_names}
    return plain, m2m


def _split_children(record_type: registry.RecordType, data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The record's own field values, and the rows of its children (child name -> list of rows)."""
    names = {child.name for child in record_type.children}
    return {k: v for k, v in data.items() if k not in names}, {k: v for k, v in data.items() if k in names}


def _check_writable(record_type: registry.RecordType, data: Mapping[str, Any]) -> None:
    allowed = set(record_type.fields) | {child.name for child in record_type.children}
    if record_type.custom_fields:
        allowed.add("custom")  # validated by `core.custom_fields.clean_values`
    refused = {name: "This field cannot be set here." for name in data if name not in allowed}
    if record_type.lifecycle and record_type.lifecycle.field in data:
        refused[record_type.lifecycle.field] = "The status changes only through its actions."
    if refused:
        raise ValidationError(refused)


def _check_references(actor: Any, data: Mapping[str, Any], record_type: registry.RecordType | None = None) -> None:
    """Every record referred to must be one the actor may see (or, for a field the type declares `linkable`, may
    name there): no forged links to other tenants' records."""
    errors = {}
    linkable = record_type.linkable if record_type is not None else {}
    for name, value in data.items():
        values = value if isinstance(value, list | tuple | set | models.QuerySet) else [value]
        may_name = linkable.get(name)
        for item in values:
            if may_name is not None and isinstance(item, Record) and may_name(actor, item):
                continue
            if isinstance(item, Record) and not policy.can(actor, VIEW, item):
                errors[name] = links.NOT_FOUND
    if errors:
        raise ValidationError(errors)


def links_to_check(record_type: registry.RecordType, changed: Collection[str] | None) -> dict[str, registry.Link]:
    """The link rules a write must check (`RecordType.link_rules`): every one on a create (`changed` None) and when
    the record moves to another organisation, else those of the links the write changes."""
    rules: dict[str, registry.Link] = {n: r for n, r in record_type.link_rules().items() if r != registry.Link.ANY}
    if changed is not None and record_type.tenant_link not in changed:
        rules = {name: rule for name, rule in rules.items() if name in changed}
    return rules


def internal_organisations() -> set[int]:
    return set(Organisation.objects.filter(kind=OrganisationKind.INTERNAL).values_list("pk", flat=True))


def link_refusal(
    rule: registry.Link, obj: Record, name: str, linked_tenant: int | None, internal: Callable[[], set[int]]
) -> str | None:
    """Why the link `name` of `obj` to a record of the organisation `linked_tenant` breaks `rule` (None: it does
    not); `internal` gives the internal organisations (called only for an INTERNAL rule). The one wording of every
    channel: forms, API, import.

    A record of a type whose organisation may be empty (a configuration item) without one is the provider's: its
    same-organisation links go to the provider's records (none, or an internal organisation), and a record without
    organisation may be linked from any organisation's (a customer's application runs on the provider's host)."""
    plural = obj._meta.get_field(name).related_model._meta.verbose_name_plural  # type: ignore[union-attr]
    own = obj.tenant_id  # type: ignore[attr-defined]
    if rule == registry.Link.SAME_ORGANISATION and linked_tenant is not None and linked_tenant != own:
        if own is None:
            if linked_tenant in internal():
                return None
            return f"Choose from the provider's own {plural}: this {obj._meta.verbose_name} has no customer."
        return f"Choose from the {plural} of this {obj._meta.verbose_name}'s own organisation."
    if rule == registry.Link.INTERNAL and linked_tenant not in internal():
        return f"Choose from the provider's own {plural} (of an internal organisation)."
    return None


def _check_links(
    record_type: registry.RecordType, obj: Record, m2m: Mapping[str, Any], changed: Collection[str] | None
) -> None:
    """The tenancy rule of every link written (`RecordType.link_rules`), whatever the channel: a link into
    another organisation is refused as a field error and nothing is written. `changed` names the fields a write
    changes (None on a create: all of them); when the record's own organisation changes, every link it keeps is
    checked against the new one."""
    internal = functools.cache(internal_organisations)
    errors = {}
    for name, rule in links_to_check(record_type, changed).items():
        field = obj._meta.get_field(name)
        if name in m2m:
            linked = list(m2m[name])
        elif field.many_to_many:
            linked = list(getattr(obj, name).all()) if obj.pk else []
        else:
            value = getattr(obj, name)
            linked = [] if value is None else [value]
        for item in linked:
            refusal = link_refusal(rule, obj, name, item.tenant_id, internal)
            if refusal:
                errors[name] = refusal
    if errors:
        raise ValidationError(errors)


def _protected_message(exc: ProtectedError | RestrictedError) -> str:
    used_by = sorted({str(o._meta.verbose_name_plural) for o in list(exc.args[1])[:50]})
    return f"It is still referred to by {', '.join(used_by)}; change or remove those first."


def _split_custom(data: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
    """The record's own fields, and the custom field values written (None when the write names none)."""
    rest = dict(data)
    return rest, rest.pop("custom", None)


def _full_clean(
    record_type: registry.RecordType, obj: Record, custom: Any, actor: Any, *, existing: dict[str, Any] | None
) -> None:
    """The model's validation, the type's own (`RecordType.validate`) and, for a type with custom fields, the one
    validator of their values (`core.custom_fields.clean_values`), reported together as field errors."""
    errors: dict[str, Any] = {}
    if record_type.custom_fields:
        from meridian.core import custom_fields

        try:
            obj.custom = custom_fields.clean_values(  # type: ignore[attr-defined]
                record_type, obj, custom, actor=actor, existing=existing if obj.pk else None
            )
        except ValidationError as exc:
            errors.update(exc.message_dict)
    try:
        obj.full_clean(exclude=NOT_VALIDATED)
        if record_type.validate is not None:
            record_type.validate(obj, actor)
    except ValidationError as exc:
        errors = {**exc.message_dict, **errors}
    if errors:
        raise ValidationError(errors)


def create_record(
    model: type[R], *, data: Mapping[str, Any], actor: Any, reason: str = "", authorised_by: str = ""
) -> R:
    """Create a record of a registered type from validated field values."""
    record_type = registry.get(model)
    _check_writable(record_type, data)
    data, custom = _split_custom(data)
    data, rows = _split_children(record_type, data)
    plain, m2m = _split(model, data)
    with transaction.atomic():
        policy.require(actor, ADD, model)
        _check_references(actor, data, record_type)
        obj = model(**plain)
        if not policy.in_tenancy(actor, obj):
            raise ValidationError({record_type.tenant_field or "organisation": "Not an organisation of yours."})
        _check_links(record_type, obj, m2m, changed=None)
        obj.created_by = obj.updated_by = actor
        _full_clean(record_type, obj, custom, actor, existing=None)
        authorised_by = control.authorise(record_type, obj, None, authorised_by, actor)
        if model.REFERENCE_PREFIX:
            obj.reference = next_reference(obj.reference_prefix() or model.REFERENCE_PREFIX, model.REFERENCE_WIDTH)  # type: ignore[attr-defined]
        obj.save(force_insert=True)
        for name, values in m2m.items():
            getattr(obj, name).set(values)
        changes = audit.diff({}, audit.snapshot(obj))
        changes.update(children.write_children(record_type, obj, rows, actor))  # rows validated first, with obj's
        audit.record_event(
            action=AuditAction.CREATE,
            obj=obj,
            actor=actor,
            changes=changes,
            reason=reason,
            authorised_by=authorised_by,
        )
        if record_type.after_save:
            record_type.after_save(obj, actor, changes)
    return obj


def update_record(
    obj: R,
    *,
    data: Mapping[str, Any],
    actor: Any,
    expected_version: int,
    reason: str = "",
    authorised_by: str = "",
) -> R:
    """Change fields of a record. `expected_version` (required) is the version the caller read; if the record has
    moved on since, nothing is written and `StaleVersion` carries the current state (HTTP 409)."""
    model = type(obj)
    record_type = registry.get(model)
    _check_writable(record_type, data)
    data, custom = _split_custom(data)
    data, rows = _split_children(record_type, data)
    plain, m2m = _split(model, data)
    with transaction.atomic():
        current = model.objects.select_for_update().get(pk=obj.pk)
        policy.require(actor, CHANGE, current)
        _check_version(current, expected_version)
        _check_references(actor, data, record_type)
        before = audit.snapshot(current)
        stored_controlled = control.controlled_records(record_type.control, current) if record_type.control else []
        for name, value in plain.items():
            setattr(current, name, value)
        if not policy.in_tenancy(actor, current):
            raise ValidationError({record_type.tenant_field or "organisation": "Not an organisation of yours."})
        _full_clean(record_type, current, custom, actor, existing=current.custom if record_type.custom_fields else None)
        after = {**audit.snapshot(current), **{k: sorted(o.pk for o in v) for k, v in m2m.items()}}
        changes = audit.diff(before, after)
        if changes:
            _check_links(record_type, current, m2m, changed=set(changes))
        # the rows after the record's own row (the lock order); when the record moves to another organisation, the
        # rows it keeps are checked against the new one like its own links
        if record_type.tenant_link is not None and record_type.tenant_link in changes:
            for child in record_type.children:
                rows.setdefault(child.name, [{"id": row.pk} for row in child.rows(current)])
        row_changes = children.write_children(record_type, current, rows, actor)
        changes.update(row_changes)
        if not changes:
            return current
        authorised_by = control.authorise(record_type, current, changes, authorised_by, actor, before=stored_controlled)
        current.version += 1
        current.updated_by = actor
        current.updated_at = timezone.now()
        current.save()
        for name, values in m2m.items():
            getattr(current, name).set(values)
        audit.record_event(
            action=AuditAction.UPDATE,
            obj=current,
            actor=actor,
            changes=changes,
            reason=reason,
            authorised_by=authorised_by,
        )
        if record_type.after_save:
            record_type.after_save(current, actor, changes)
    return current


def delete_record(obj: Record, *, actor: Any, expected_version: int, reason: str = "", authorised_by: str = "") -> None:
    """Delete a record that is still at `expected_version` (the version the caller read; else `StaleVersion`);
    refused with a clear message while other records still refer to it."""
    model = type(obj)
    with transaction.atomic():
        current = model.objects.select_for_update().get(pk=obj.pk)
        policy.require(actor, DELETE, current)
        _check_version(current, expected_version)
        refusal = registry.get(model).delete_refusal
        reason_not = refusal(current) if refusal else None
        if reason_not:
            raise RecordInUse(reason_not)
        authorised_by = control.authorise(registry.get(model), current, None, authorised_by, actor)
        before = audit.snapshot(current)
        changes = {**audit.diff(before, {}), **children.removed_with(registry.get(model), current)}
        changes.update(attachments.removed_with(registry.get(model), current))  # its files go with it
        conversation.removed_with(registry.get(model), current)  # and its comments (their texts stay audited)
        audit.record_event(
            action=AuditAction.DELETE,
            obj=current,
            actor=actor,
            changes=changes,
            reason=reason,
            authorised_by=authorised_by,
        )
        remove_links_of(current, actor=actor, reason=reason)  # its links go with it, unlinked on the other ends
        try:
            with transaction.atomic():
                current.delete()
        except (ProtectedError, RestrictedError) as exc:
            raise RecordInUse(_protected_message(exc)) from exc
        after_delete = registry.get(model).after_delete
        if after_delete:
            after_delete(current, actor)


# --- lifecycles -------------------------------------------------------------------------------------------------


def _refusal(t: Transition, obj: Record, actor: Any, state: str) -> str | None:
    if state not in t.source:
        lifecycle = registry.get(type(obj)).lifecycle
        label = getattr(obj, f"get_{lifecycle.field}_display", lambda: state)() if lifecycle else state
        return f"“{t.title}” is not possible while the {obj._meta.verbose_name} is “{label}”."
    if t.guard is not None:
        return t.guard(obj, actor)
    return None


def transition_refusal(t: Transition, obj: Record, actor: Any, state: str) -> str | None:
    """Why a transition is not possible on the record now (its state, its guard), or None."""
    return _refusal(t, obj, actor, state)


def may_transition(t: Transition, actor: Any) -> bool:
    return policy.is_system(actor) or bool(policy.roles_of(actor) & t.roles)


def available_transitions(obj: Record, actor: Any) -> list[Transition]:
    """The lifecycle actions this actor may take on this record now (of `core.actions.available_actions`, the one
    list of buttons and API actions)."""
    from meridian.core.actions import available_actions

    return [a.transition for a in available_actions(obj, actor) if a.transition is not None]


def _transition_input(t: Transition, current: Record, values: Mapping[str, Any]) -> dict[str, Any]:
    """The input of a move, checked: only its form's fields, each valid for the model's field (a field error
    otherwise; nothing is written)."""
    allowed = set(t.form.base_fields) if t.form is not None else set()
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ValidationError({name: f"“{t.title}” takes no {name}." for name in unknown})
    errors: dict[str, Any] = {}
    for name, value in values.items():
        field = current._meta.get_field(name)
        raw = value.pk if isinstance(value, models.Model) else value  # a link is validated by its id
        try:
            field.clean(raw, current)  # type: ignore[union-attr]
        except ValidationError as exc:
            errors[name] = exc.messages
    if errors:
        raise ValidationError(errors)
    return dict(values)


def transition(
    obj: R,
    action: str,
    *,
    actor: Any,
    expected_version: int,
    reason: str = "",
    authorised_by: str = "",
    values: Mapping[str, Any] | None = None,
) -> R:
    """Move a record along its declared lifecycle: the only way a status changes. `expected_version` (required)
    is the version the caller read: an action on a record that has changed since is refused (`StaleVersion`).
    `values` are the transition's input (its `form`'s fields: fields of the record set with the move), checked by
    the model's own field validation."""
    model = type(obj)
    lifecycle = registry.get(model).lifecycle
    t = lifecycle.get(action) if lifecycle else None
    if lifecycle is None or t is None:
        raise TransitionNotAllowed(f"{str(model._meta.verbose_name).capitalize()} has no action “{action}”.")
    with transaction.atomic():
        current = model.objects.select_for_update().get(pk=obj.pk)
        policy.require(actor, VIEW, current)
        if not may_transition(t, actor):
            raise PermissionDenied(f"Your roles do not allow “{t.title}” on this {model._meta.verbose_name}.")
        _check_version(current, expected_version)
        state = getattr(current, lifecycle.field)
        refusal = _refusal(t, current, actor, state)
        if refusal:
            raise TransitionNotAllowed(refusal)
        if t.reason_required and not reason.strip():
            raise ValidationError({"reason": f"Say why: a reason is required to {t.title.lower()}."})
        given = _transition_input(t, current, values or {})
        before = audit.snapshot(current) if given or t.sets is not None else {}
        for name, value in given.items():  # the input first: `sets` reads it on the record (and may refuse)
            setattr(current, name, value)
        values = {**given, **(t.sets(current, actor, reason) if t.sets is not None else {})}
        authorised_by = control.authorise(
            registry.get(model), current, {lifecycle.field: t.target, **values}, authorised_by, actor
        )
        for name, value in values.items():
            setattr(current, name, value)
        set_too = {
            name: change for name, change in audit.diff(before, audit.snapshot(current)).items() if name in values
        }
        setattr(current, lifecycle.field, t.target)
        current.version += 1
        current.updated_by = actor
        current.updated_at = timezone.now()
        current.save(update_fields=[lifecycle.field, *values, "version", "updated_by", "updated_at"])
        audit.record_event(
            action=AuditAction.TRANSITION,
            obj=current,
            actor=actor,
            changes={**set_too, lifecycle.field: {"before": state, "after": t.target}, "action": t.action},
            reason=reason,
            authorised_by=authorised_by,
        )
        for effect in t.effects:
            effect(current, actor)
        for callback in t.after_commit:
            transaction.on_commit(lambda cb=callback, o=current: cb(o, actor))  # type: ignore[misc]
    return current


# --- people and their accounts ----------------------------------------------------------------------------------


def end_sessions_and_tokens(person: Person, actor: Any) -> None:
    """Lifecycle effect: the person's login stops working at once, everywhere (sessions and API tokens)."""
    user = person.user
    if user is None:
        return
    before = {"is_active": user.is_active}
    user.is_active = False
    user.security_stamp = User._meta.get_field("security_stamp").get_default()
    user.save(update_fields=["is_active", "security_stamp"])
    from meridian.core.api_tokens import revoke_all_api_tokens

    revoked = revoke_all_api_tokens(user)
    audit.record_event(
        action=AuditAction.UPDATE,
        obj=user,
        actor=actor,
        changes={"is_active": {"before": before["is_active"], "after": False}, "api_tokens_revoked": revoked},
        reason=f"account of {person} ended",
    )


def sync_login(person: Person, actor: Any, changes: dict[str, Any]) -> None:
    """After a person is saved: their login carries the same name and email (password reset mails go there)."""
    user = person.user
    if user is None or not ({"email", "first_name", "last_name"} & set(changes)):
        return
    user.email, user.first_name, user.last_name = person.email, person.first_name, person.last_name
    user.save(update_fields=["email", "first_name", "last_name"])


def person_delete_refusal(person: Person) -> str | None:
    """A person with a login is not deleted (that would orphan a working login): they leave instead."""
    if person.user_id and person.status == "left":
        return "This person had a login: they stay on record as left, so that the audit trail keeps naming them."
    if person.user_id:
        return "This person has a login: use “Mark as left”, which ends the login and keeps their history."
    return None


def reactivate_login(person: Person, actor: Any) -> None:
    """Lifecycle effect: a reactivated person's login works again (old sessions and tokens stay ended)."""
    user = person.user
    if user is None or user.is_active:
        return
    user.is_active = True
    user.save(update_fields=["is_active"])
    audit.record_event(
        action=AuditAction.UPDATE,
        obj=user,
        actor=actor,
        changes={"is_active": {"before": False, "after": True}},
        reason=f"account of {person} reactivated",
    )


def login_refusal(person: Person, actor: Any) -> str | None:
    """Whether "give a login" is possible now: only to active people who have none (the roles are the action's)."""
    if person.user_id is not None:
        return f"{person} already has a login."
    if person.status != "active":
        return f"{person} is {person.get_status_display().lower()}: no login."
    return None


def grant_login(
    person: Person,
    *,
    username: str,
    roles: Iterable[str],
    actor: Any,
    expected_version: int,
    password: str | None = None,
    reason: str = "",
) -> User:
    """Give a person a login with the given roles (the person's record action "grant_login"); `expected_version` is
    the version of the person the caller read. A customer user's roles are limited to `customer_user`.
    The person's row is locked first and the login is linked only where none exists, so of two grants racing
    for one person exactly one wins; the other is refused and leaves no login behind."""
    roles = set(roles)
    with transaction.atomic():
        current = Person.objects.select_for_update().select_related("organisation").get(pk=person.pk)
        policy.require(actor, CHANGE, current)
        if not policy.is_system(actor) and Role.ADMINISTRATOR not in policy.roles_of(actor):
            raise PermissionDenied("Only an administrator grants logins.")
        _check_version(current, expected_version)
        unknown = roles - set(Role.values)
        if unknown:
            raise ValidationError({"roles": f"Unknown role(s): {', '.join(sorted(unknown))}."})
        if current.status != "active":
            raise ValidationError({"username": f"{current} is {current.get_status_display().lower()}: no login."})
        if current.organisation.kind != OrganisationKind.INTERNAL and roles - {Role.CUSTOMER_USER}:
            raise ValidationError({"roles": "People outside the provider can only be customer users."})
        if current.user_id:
            raise ValidationError({"username": f"{current} already has a login."})
        user_model = get_user_model()
        if user_model.objects.filter(username__iexact=username).exists():
            raise ValidationError({"username": "That username is taken."})
        user = user_model(
            username=username, email=current.email, first_name=current.first_name, last_name=current.last_name
        )
        if password:
            from django.contrib.auth.password_validation import validate_password

            try:
                validate_password(password, user)
            except ValidationError as exc:
                raise ValidationError({"password": exc.messages}) from exc
            user.set_password(password)
        else:
            # a random secret nobody knows: the person sets their own through password reset
            user.set_password(secrets.token_urlsafe(32))
        try:
            with transaction.atomic():
                user.save()
        except IntegrityError as exc:  # the same username granted concurrently
            raise ValidationError({"username": "That username is taken."}) from exc
        user.groups.set(Group.objects.filter(name__in=roles))
        linked = Person.objects.filter(pk=current.pk, user__isnull=True).update(user=user, version=F("version") + 1)
        if linked != 1:  # only where the row lock cannot hold (it always does on PostgreSQL and SQLite)
            raise ValidationError({"username": f"{current} already has a login."})
        current.user = user
        current.refresh_from_db(fields=["version"])
        person.user, person.version = user, current.version
        audit.record_event(
            action=AuditAction.UPDATE,
            obj=current,
            actor=actor,
            changes={
                "user": {"before": None, "after": user.pk},
                "roles": {"before": [], "after": sorted(roles)},
                "action": "grant_login",
            },
            reason=reason,
        )
    return user  # type: ignore[return-value]


def set_preferences(user: User, *, time_zone: str, language: str, actor: Any) -> User:
    """A user's own display preferences."""
    if actor.pk != user.pk:
        raise PermissionDenied("You can change only your own preferences.")
    with transaction.atomic():
        before = {"time_zone": user.time_zone, "language": user.language}
        user.time_zone, user.language = time_zone, language
        user.full_clean(exclude=["password", "username"])
        user.save(update_fields=["time_zone", "language"])
        changes = audit.diff(before, {"time_zone": time_zone, "language": language})
        if changes:
            audit.record_event(action=AuditAction.UPDATE, obj=user, actor=actor, changes=changes)
    return user


# --- links between records (`core.links`) -----------------------------------------------------------------------


def link_records(
    obj: Record,
    *,
    link_type: str,
    other_type: str,
    other_id: Any,
    actor: Any,
    direction: str = "forward",
) -> Any:
    """Link `obj` to another record (`other_type`'s label and `other_id`) by a declared link type: `obj` is the
    source (`direction="forward"`, "caused by") or the target ("reverse", "caused"). The actor needs to change
    `obj` and to see the other record: one they may not see is refused exactly like one that does not exist (a
    field error on `record`). One audit event on each record; neither record's version moves (a link is not a
    field of either: linking never makes someone's open edit stale)."""
    from meridian.core.models import RecordLink

    model = type(obj)
    record_type = registry.get(model)
    with transaction.atomic():
        current = model.objects.select_for_update().get(pk=obj.pk)  # the record's own row first (the lock order)
        policy.require(actor, CHANGE, current)
        if not record_type.record_links:
            raise ValidationError({"type": f"{record_type.verbose_name_plural.capitalize()} cannot be linked."})
        declared = links.find_link_type(link_type) if isinstance(link_type, str) else None
        errors: dict[str, str] = {}
        if declared is None:
            names = ", ".join(t.name for t in links.link_types())
            errors["type"] = f"Choose one of the link types: {names}."
        if direction not in links.DIRECTIONS:
            errors["direction"] = "Choose forward or reverse."
        other_rt = links.type_by_label(other_type) if isinstance(other_type, str) else None
        if other_rt is None:
            errors["record_type"] = "Choose a type of record that can be linked."
        if errors:
            raise ValidationError(errors)
        assert declared is not None and other_rt is not None
        other = None
        if isinstance(other_id, int) and not isinstance(other_id, bool):
            other = other_rt.model._default_manager.filter(pk=other_id).first()
        if other is None or not policy.can(actor, VIEW, other):
            raise ValidationError({"record": links.NOT_FOUND})  # missing and invisible alike: no hint it exists
        if direction == links.REVERSE and declared.symmetric:
            direction = links.FORWARD  # "relates to" is one link whichever end it was made from
        source, target = (current, other) if direction == links.FORWARD else (other, current)
        if not declared.allows(type(source), type(target)):
            raise ValidationError(
                {"type": f"A {source._meta.verbose_name} cannot be “{declared.forward}” a {target._meta.verbose_name}."}
            )
        if source == target:
            raise ValidationError({"record": "A record cannot be linked to itself."})
        ends = {
            "source_type": source._meta.label_lower,
            "source_id": source.pk,
            "target_type": target._meta.label_lower,
            "target_id": target.pk,
        }
        existing = RecordLink.objects.filter(link_type=declared.name, **ends)
        if declared.symmetric:
            swapped = {
                "source_type": ends["target_type"],
                "source_id": ends["target_id"],
                "target_type": ends["source_type"],
                "target_id": ends["source_id"],
            }
            existing = existing | RecordLink.objects.filter(link_type=declared.name, **swapped)
        if existing.exists():
            raise ValidationError({"record": f"These records are already linked (“{declared.forward}”)."})
        try:
            with transaction.atomic():
                link = RecordLink.objects.create(link_type=declared.name, created_by=actor, **ends)
        except IntegrityError:  # made concurrently
            raise ValidationError({"record": f"These records are already linked (“{declared.forward}”)."}) from None
        for end, end_direction in ((source, links.FORWARD), (target, links.REVERSE)):
            audit.record_event(
                action=AuditAction.LINK,
                obj=end,
                actor=actor,
                changes={"link": {"before": None, "after": links.audit_value(link, end_direction)}},
            )
    return link


def unlink_records(obj: Record, link_id: Any, *, actor: Any, reason: str = "") -> None:
    """Remove a link of `obj` (from either end): the actor needs to change `obj`; a link that is not one of
    `obj`'s is a 404. One audit event on each record (the other may be one the actor does not see)."""
    from django.http import Http404

    from meridian.core import links

    model = type(obj)
    with transaction.atomic():
        current = model.objects.select_for_update().get(pk=obj.pk)
        policy.require(actor, CHANGE, current)
        link = None
        if isinstance(link_id, int) and not isinstance(link_id, bool):
            link = links.links_of(current).select_for_update().filter(pk=link_id).first()
        if link is None:
            raise Http404("No such link of this record.")
        _remove_link(link, actor, reason)


def _remove_link(link: Any, actor: Any, reason: str, *, skip: Record | None = None) -> None:
    """Delete a link and audit it on each end that still exists (`skip`: an end being deleted itself)."""
    from meridian.core import links

    for label, pk, direction in (
        (link.source_type, link.source_id, links.FORWARD),
        (link.target_type, link.target_id, links.REVERSE),
    ):
        rt = next((t for t in registry.all_types() if t.label == label), None)
        end = rt.model._default_manager.filter(pk=pk).first() if rt else None
        if end is None or (skip is not None and end == skip):
            continue
        audit.record_event(
            action=AuditAction.UNLINK,
            obj=end,
            actor=actor,
            changes={"link": {"before": links.audit_value(link, direction), "after": None}},
            reason=reason,
        )
    link.delete()


def remove_links_of(obj: Record, *, actor: Any, reason: str = "") -> list[dict[str, Any]]:
    """The links of a record being deleted go with it (inside the delete's transaction): an unlink event on each
    other end; what they were, for the deleted record's own event."""
    from meridian.core import links

    label, pk = obj._meta.label_lower, obj.pk
    removed = []
    for link in links.links_of(obj).select_for_update():
        direction = links.FORWARD if (link.source_type, link.source_id) == (label, pk) else links.REVERSE
        removed.append(links.audit_value(link, direction))
        _remove_link(link, actor, reason, skip=obj)
    return removed
