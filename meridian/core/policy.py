"""The one policy layer: who may do what to which records. Pages, API, exports, search, notifications and
services all ask here, so no channel can forget a check.

- `can(user, action, model_or_obj)`: the role check, plus tenancy when an object is given.
- `restrict(queryset, user, action)`: the rows of a queryset the user may see or act on. A customer user sees
  only their own organisation's records (exact foreign-key match); a record outside is simply not there (404).
  Reference data (`RecordType(reference_data=True)`: CI classes, relationship kinds) belongs to no organisation
  and is read by everyone who may log in.
- `shown(user, obj)`: how a linked record is named to a reader: its name, or "hidden" when they may not see it.
  Detail pages, list columns, exports, history and the API all name linked records through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from django.contrib.auth.models import AnonymousUser
from django.db import models
from django.http import Http404

from meridian.core import registry
from meridian.core.registry import VIEW

M = TypeVar("M", bound=models.Model)

SYSTEM_USERNAME = "meridian-system"
HIDDEN = "hidden"  # what a reader sees of a linked record they may not see: not its name, not its link

AnyUser = Any  # User | AnonymousUser


def is_system(user: AnyUser) -> bool:
    return bool(getattr(user, "username", None) == SYSTEM_USERNAME and getattr(user, "pk", None))


def roles_of(user: AnyUser) -> frozenset[str]:
    if user is None or isinstance(user, AnonymousUser) or not user.is_authenticated:
        return frozenset()
    return frozenset(user.roles)


def _model_of(target: Any) -> type[models.Model]:
    return target if isinstance(target, type) else type(target)


def has_role_permission(user: AnyUser, action: str, model: type[models.Model]) -> bool:
    if is_system(user):
        return True
    record_type = registry.find(model)
    if record_type is None:
        return False
    return bool(roles_of(user) & record_type.permissions.get(action, frozenset()))


def tenant_filter(user: AnyUser, model: type[models.Model]) -> models.Q | None:
    """The filter a customer user's querysets get; None for staff (no restriction) and for reference data
    (`RecordType.reference_data`: a type without an organisation that everyone reads). A customer sees nothing else
    of a type without an organisation."""
    if is_system(user) or not getattr(user, "is_customer", False):
        return None
    tenant_field = getattr(model, "TENANT_FIELD", None)
    record_type = registry.find(model)
    if tenant_field is None and record_type is not None and record_type.reference_data:
        return None
    org_id = user.organisation_id
    if tenant_field is None or org_id is None:
        return models.Q(pk__in=[])
    return models.Q(**{tenant_field: org_id})


def restrict(queryset: models.QuerySet[M], user: AnyUser, action: str = VIEW) -> models.QuerySet[M]:
    """The part of `queryset` that `user` may perform `action` on."""
    model = queryset.model
    if not has_role_permission(user, action, model):
        return queryset.none()
    condition = tenant_filter(user, model)
    return queryset if condition is None else queryset.filter(condition)


def in_tenancy(user: AnyUser, obj: models.Model) -> bool:
    if tenant_filter(user, type(obj)) is None:
        return True
    tenant_id = getattr(obj, "tenant_id", None)
    return tenant_id is not None and tenant_id == user.organisation_id


def can(user: AnyUser, action: str, target: Any) -> bool:
    """May `user` do `action` on this model (class) or this record (instance)?"""
    model = _model_of(target)
    if not has_role_permission(user, action, model):
        return False
    if isinstance(target, models.Model):
        return in_tenancy(user, target)
    return True


def shown(user: AnyUser, obj: models.Model) -> str:
    """The name of a linked record as `user` may read it: `str(obj)`, or "hidden" when they may not see the
    record. A record whose name includes other records' names (a location's parent) names them through
    `labelled(name)`, so a hidden parent stays hidden inside a visible child's name too."""
    return name_of(user, obj) if can(user, VIEW, obj) else HIDDEN


def name_of(user: AnyUser, obj: models.Model) -> str:
    """The name of a record `user` may see; the other records its name includes (a location's parent) are
    named through `shown`."""
    labelled = getattr(obj, "labelled", None)
    return str(labelled(lambda other: shown(user, other))) if callable(labelled) else str(obj)


def named_on(user: AnyUser, record_type: Any, name: str, linked: models.Model) -> bool:
    """Whether `user` reads the name of `linked` in the field `name` of a record of `record_type` they see: when
    they may see it, the type declares the field `named`, or declares it `linkable` and lets them name it there (a
    customer's ticket shows the service of their catalogue it names, without a link to a record they do not read)."""
    if can(user, VIEW, linked) or (record_type is not None and name in record_type.named):
        return True
    may_name = record_type.linkable.get(name) if record_type is not None else None
    return may_name is not None and bool(may_name(user, linked))


@dataclass(frozen=True)
class VisibleArea:
    """A process area as one reader sees it: the record types they may view and the pages their roles open."""

    area: registry.Area
    types: list[registry.RecordType]
    pages: list[registry.Page]


def link_of(user: AnyUser, record: models.Model) -> tuple[str, str]:
    """A linked record as a page shows it: (name, url) as `user` may read it; ("hidden", "") when they may not
    see it (detail pages, child rows, custom field references)."""
    if not can(user, VIEW, record):
        return HIDDEN, ""
    return name_of(user, record), str(getattr(record, "get_absolute_url", lambda: "")())


def visible_areas(user: AnyUser) -> list[VisibleArea]:
    """The process areas, in navigation order, with the record types the user may see and the pages declared for
    their roles; areas with neither are left out. No query (roles are read once per request)."""
    roles = roles_of(user)
    all_types, all_pages = registry.all_types(), registry.pages()
    areas = []
    for area in registry.AREAS:
        types = [rt for rt in all_types if rt.area == area.key and has_role_permission(user, VIEW, rt.model)]
        pages = [p for p in all_pages if p.area == area.key and (is_system(user) or roles & p.roles)]
        if types or pages:
            areas.append(VisibleArea(area, types, pages))
    return areas


def require(user: AnyUser, action: str, target: Any) -> None:
    """Raise unless allowed. A record the user may not even see is answered as missing (404), never 403, so its
    existence is not disclosed; a visible record the user may not change is refused (403)."""
    from django.core.exceptions import PermissionDenied

    if can(user, action, target):
        return
    if isinstance(target, models.Model) and not can(user, VIEW, target):
        raise Http404("No such record.")
    raise PermissionDenied(f"You may not {action} {_model_of(target)._meta.verbose_name_plural}.")
