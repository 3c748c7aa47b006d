"""Saved views: a person's named list of one record type (its filters, sort and columns), their default per type,
and views shared with a team or everyone. Generic: every registered type gets them on its list page
(`?view=<id>`, the "Views" menu), in its API list (`GET /api/v1/<app>/<plural>/?view=<id>`), in the saved-views
endpoint (`/api/v1/core/saved-views/`) and on the home page (a person's default views and those marked
"show on home", with bounded counts).

A view stores only filters, never records: the records shown are always those the reader may see
(`records_for`), so a view shared with everyone never widens anyone's access. Every write goes through
`save_view` / `update_view` / `delete_view` / `set_default` here, which validate the whole of it (name unique per
owner and type, the query against the type's filters, the columns against its available columns, the sharing
against the writer's roles and teams) and refuse with field-level messages, writing nothing of what they refuse.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from django.core.cache import cache
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from meridian.core import policy, registry
from meridian.core.choices import Role
from meridian.core.filtersets import filterset_for
from meridian.core.models import DefaultView, SavedView, Team
from meridian.core.querysets import bounded_count, records_for
from meridian.core.registry import VIEW, RecordType
from meridian.core.tables import available_columns, column_label

# query-string names that belong to a list's page, never to its filters
NOT_FILTERS = ("page", "per_page", "count", "export", "view", "columns", "cursor", "page_size", "format")
SORT = "sort"
NAME_MAX = 100
QUERY_MAX = 4000
HOME_MAX = 10  # views shown on a person's home page
COUNT_TTL = 60  # seconds a home-page count may be old (as `core.home`)
NO_VIEW = "none"  # `?view=none`: the plain list, whatever the default


class StaleView(Exception):
    """The view changed since the caller read it (HTTP 409)."""

    def __init__(self, view: SavedView) -> None:
        self.current = view
        super().__init__(
            f"The view “{view.name}” was changed since you opened it (now version {view.version}); reload and try "
            "again."
        )


def type_of(label: str) -> RecordType:
    found = registry.find_label(label)
    if found is None:
        raise ValidationError({"record_type": f"Not a record type: {label}."})
    return found


# --- reading ----------------------------------------------------------------------------------------------------


def team_ids(user: Any) -> list[int]:
    """The teams `user`'s person is a member of."""
    if getattr(user, "pk", None) is None:
        return []
    return list(Team.objects.filter(members__user_id=user.pk).values_list("pk", flat=True).distinct())


def is_administrator(user: Any) -> bool:
    return Role.ADMINISTRATOR in policy.roles_of(user)


def visible_views(
    user: Any, record_type: RecordType | None = None, *, teams: list[int] | None = None
) -> QuerySet[SavedView]:
    """The views `user` may open: their own, those shared with a team of theirs, those shared with everyone; only
    of types they may read. `teams`: the ids of `user`'s teams when the caller has them (else one query)."""
    if getattr(user, "pk", None) is None:
        return SavedView.objects.none()
    types = [record_type] if record_type is not None else registry.all_types()
    labels = [rt.label for rt in types if policy.has_role_permission(user, VIEW, rt.model)]
    shared = Q(sharing=SavedView.EVERYONE) | Q(
        sharing=SavedView.TEAM, team_id__in=team_ids(user) if teams is None else teams
    )
    return (
        SavedView.objects.filter(record_type__in=labels)
        .filter(Q(owner_id=user.pk) | shared)
        .select_related("owner", "team")
    )


def find_view(user: Any, record_type: RecordType, view_id: Any) -> SavedView | None:
    """The view of that id of the type that `user` may open, or None (another person's unshared view is the same
    as no view)."""
    try:
        pk = int(view_id)
    except (TypeError, ValueError):
        return None
    return visible_views(user, record_type).filter(pk=pk).first()


@dataclass
class Menu:
    """The "Views" menu of a list page, grouped; with the reader's teams (`my_teams`, by name), which the page
    needs again for "Share with"."""

    own: list[SavedView] = field(default_factory=list)
    teams: list[SavedView] = field(default_factory=list)
    everyone: list[SavedView] = field(default_factory=list)
    default_id: int | None = None
    my_teams: list[Team] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.own or self.teams or self.everyone)

    @property
    def default(self) -> SavedView | None:
        """The view the reader chose as the default of the list, while they may still open it."""
        return self.find(self.default_id)

    def find(self, view_id: Any) -> SavedView | None:
        """The view of that id in the menu (as `find_view`, without asking the database again)."""
        try:
            pk = int(view_id)
        except (TypeError, ValueError):
            return None
        return next((view for view in (*self.own, *self.teams, *self.everyone) if view.pk == pk), None)


def menu(user: Any, record_type: RecordType) -> Menu:
    """The views `user` may open of the type, grouped, with their default marked (three queries: the default, the
    reader's teams, the views)."""
    result = Menu()
    if getattr(user, "pk", None) is None:
        return result
    wanted = (
        DefaultView.objects.filter(user_id=user.pk, record_type=record_type.label)
        .values_list("view_id", flat=True)
        .first()
    )
    result.my_teams = list(Team.objects.filter(members__user_id=user.pk).distinct().order_by("name"))
    teams = [team.pk for team in result.my_teams]
    for view in visible_views(user, record_type, teams=teams).order_by("name", "id"):
        if view.pk == wanted:
            result.default_id = view.pk  # only while they may still open it
        if view.owner_id == user.pk:
            result.own.append(view)
        elif view.sharing == SavedView.TEAM:
            result.teams.append(view)
        else:
            result.everyone.append(view)
    return result


# --- the query and the columns ----------------------------------------------------------------------------------


def _filterset(record_type: RecordType, user: Any, data: QueryDict | None) -> Any:
    return filterset_for(record_type)(
        data, queryset=records_for(record_type, user, VIEW), request=SimpleNamespace(user=user)
    )


def filter_keys(record_type: RecordType, user: Any, form: Any = None) -> dict[str, str]:
    """`{query-string name: label}` of every filter the type's list offers `user` now (a range's two ends, the
    custom fields they may see). `form`: the list's filter form when the caller has built it already."""
    if form is None:
        form = _filterset(record_type, user, None).form
    keys: dict[str, str] = {}
    for name, form_field in form.fields.items():
        suffixes = getattr(form_field.widget, "suffixes", None)
        if suffixes:
            for suffix in suffixes:
                keys[f"{name}_{suffix}" if suffix else name] = str(form_field.label or name)
        else:
            keys[name] = str(form_field.label or name)
    return keys


def sortable_columns(record_type: RecordType) -> list[str]:
    """The columns a list of the type can be sorted by."""
    names = []
    for name in available_columns(record_type):
        if name in record_type.computed:
            if record_type.computed[name].is_annotation:
                names.append(name)
            continue
        try:
            model_field = record_type.model._meta.get_field(name)
        except FieldDoesNotExist:  # not a model field: not sortable
            model_field = None
        if model_field is not None and not model_field.many_to_many:
            names.append(name)
    return names


def filter_params(params: QueryDict) -> QueryDict:
    """The filters and sort of a list's query string (its page, count, export, view and columns left out), empty
    values dropped."""
    kept = QueryDict(mutable=True)
    for key in params:
        if key in NOT_FILTERS:
            continue
        values = [value for value in params.getlist(key) if value != ""]
        if values:
            kept.setlist(key, values)
    return kept


def clean_query(record_type: RecordType, user: Any, query: str) -> str:
    """The query string of a view, validated against the type's filters as `user` has them: unknown filters, a
    sort by something that is not a sortable column and values the filters refuse are a ValidationError on
    `query`. Answers the query normalised (page-only names and empty values left out)."""
    if len(query or "") > QUERY_MAX:
        raise ValidationError({"query": f"At most {QUERY_MAX} characters."})
    params = filter_params(QueryDict(query or ""))
    keys = filter_keys(record_type, user)
    problems = []
    unknown = [key for key in params if key != SORT and key not in keys]
    if unknown:
        problems.append(f"Not a filter of this list: {', '.join(sorted(unknown))}.")
    if SORT in params:
        sort = params.getlist(SORT)
        if len(sort) > 1 or sort[0].removeprefix("-") not in sortable_columns(record_type):
            problems.append(f"Not a column this list can be sorted by: {', '.join(sort)}.")
    filterset = _filterset(record_type, user, params)
    if params and not filterset.is_valid():
        for name, errors in filterset.form.errors.items():
            label = keys.get(name, name)
            problems.extend(f"{label}: {error}" for error in errors)
    if problems:
        raise ValidationError({"query": problems})
    return params.urlencode()


def clean_columns(record_type: RecordType, columns: Any) -> list[str]:
    """Columns of a view: a list of the type's available column names (empty: the reader's own choice), the
    first list column always first."""
    if columns in (None, ""):
        return []
    if isinstance(columns, str):
        columns = [name for name in columns.split(",") if name]
    if not isinstance(columns, list | tuple) or not all(isinstance(name, str) for name in columns):
        raise ValidationError({"columns": "A list of column names."})
    available = available_columns(record_type)
    unknown = [name for name in columns if name not in available]
    if unknown:
        raise ValidationError({"columns": f"Not a column of this list: {', '.join(unknown)}."})
    if not columns:
        return []
    first = record_type.list_columns[0]
    return [first, *[name for name in available if name in columns and name != first]]


def url_columns(record_type: RecordType, value: str) -> tuple[list[str] | None, list[str]]:
    """`?columns=a,b` of a list's URL: (the known columns in order, first column first, or None; the unknown
    names, reported on the page)."""
    names = [name.strip() for name in value.split(",") if name.strip()]
    available = available_columns(record_type)
    unknown = [name for name in names if name not in available]
    known = [name for name in names if name in available]
    if not known:
        return None, unknown
    first = record_type.list_columns[0]
    return [first, *dict.fromkeys(name for name in known if name != first)], unknown


def missing_filters(
    record_type: RecordType, user: Any, view: SavedView, keys: dict[str, str] | None = None
) -> list[str]:
    """The filters (and sort) a view names that the list no longer has for `user` (a removed custom field, a
    column gone): reported when the view is opened, never silently dropped. `keys`: `filter_keys` of the type
    for `user`, when the caller has them."""
    params = QueryDict(view.query or "")
    if keys is None:
        keys = filter_keys(record_type, user)
    missing = [key for key in params if key not in NOT_FILTERS and key != SORT and key not in keys]
    sort = params.get(SORT)
    if sort and sort.removeprefix("-") not in sortable_columns(record_type):
        missing.append(f"sort by {sort.removeprefix('-')}")
    return missing


def view_url(record_type: RecordType, view: SavedView) -> str:
    return f"{reverse(record_type.url_name('list'))}?view={view.pk}"


# --- writing ----------------------------------------------------------------------------------------------------


def _clean_name(record_type: RecordType, owner: Any, name: Any, exclude: int | None = None) -> str:
    name = str(name or "").strip()
    if not name:
        raise ValidationError({"name": "Give the view a name."})
    if len(name) > NAME_MAX:
        raise ValidationError({"name": f"At most {NAME_MAX} characters."})
    taken = SavedView.objects.filter(owner_id=owner.pk, record_type=record_type.label, name__iexact=name)
    if exclude is not None:
        taken = taken.exclude(pk=exclude)
    if taken.exists():
        raise ValidationError({"name": f"You already have a view named “{name}” of this list."})
    return name


def _clean_sharing(user: Any, sharing: Any, team: Any) -> tuple[str, Team | None]:
    sharing = sharing or SavedView.PRIVATE
    if sharing not in dict(SavedView.SHARING_CHOICES):
        raise ValidationError({"sharing": "Choose only me, a team or everyone."})
    if sharing == SavedView.PRIVATE:
        return sharing, None
    if sharing == SavedView.EVERYONE:
        if not is_administrator(user):
            raise ValidationError({"sharing": "Only administrators may share a view with everyone."})
        return sharing, None
    team_id = getattr(team, "pk", team)
    if team_id in (None, ""):
        raise ValidationError({"team": "Choose the team to share the view with."})
    try:
        team_obj = Team.objects.get(pk=int(team_id))
    except (Team.DoesNotExist, TypeError, ValueError):
        raise ValidationError({"team": "No such team."}) from None
    if not is_administrator(user) and team_obj.pk not in team_ids(user):
        raise ValidationError({"team": "You may share a view only with a team you are a member of."})
    return sharing, team_obj


def shareable_teams(user: Any, own: list[Team] | None = None) -> list[Team]:
    """The teams `user` may share a view with: their own (every team for an administrator). `own`: their teams by
    name, when the caller has them (`Menu.my_teams`)."""
    if is_administrator(user):
        return list(Team.objects.order_by("name"))
    if own is not None:
        return own
    return list(Team.objects.filter(pk__in=team_ids(user)).order_by("name"))


def save_view(
    record_type: RecordType,
    user: Any,
    *,
    name: Any,
    query: str = "",
    columns: Any = None,
    sharing: Any = SavedView.PRIVATE,
    team: Any = None,
    default: bool = False,
    show_on_home: bool = False,
) -> SavedView:
    """A new view of the type owned by `user`; every problem of its input is a field-level ValidationError."""
    errors: dict[str, list[str]] = {}
    clean_name = _attempt(errors, lambda: _clean_name(record_type, user, name))
    clean = _attempt(errors, lambda: clean_query(record_type, user, query))
    chosen = _attempt(errors, lambda: clean_columns(record_type, columns))
    shared = _attempt(errors, lambda: _clean_sharing(user, sharing, team))
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        view = SavedView.objects.create(
            record_type=record_type.label,
            owner=user,
            name=clean_name,
            query=clean,
            columns=chosen,
            sharing=shared[0],
            team=shared[1],
            show_on_home=bool(show_on_home),
        )
        if default:
            set_default(record_type, user, view)
    return view


def _attempt(errors: dict[str, list[str]], check: Callable[[], Any]) -> Any:
    """`check()`; or None, its field-level messages added to `errors` (so that every field's problem is told)."""
    try:
        return check()
    except ValidationError as exc:
        for field_name, messages in exc.message_dict.items():
            errors.setdefault(field_name, []).extend(messages)
        return None


def _owned(view: SavedView, user: Any) -> None:
    if view.owner_id != getattr(user, "pk", None):
        raise PermissionDenied("Only the person who saved a view may change or delete it.")


def update_view(view: SavedView, user: Any, *, expected_version: int, **changes: Any) -> SavedView:
    """Change a view of `user`'s own (any of name, query, columns, sharing, team, show_on_home), after the version
    check; field-level ValidationError for what is refused, and nothing is written then."""
    record_type = type_of(view.record_type)
    _owned(view, user)
    with transaction.atomic():
        current = SavedView.objects.select_for_update().get(pk=view.pk)
        if current.version != expected_version:
            raise StaleView(current)
        errors: dict[str, list[str]] = {}
        if "name" in changes:
            current.name = _attempt(errors, lambda: _clean_name(record_type, user, changes["name"], exclude=current.pk))
        if "query" in changes:
            current.query = _attempt(errors, lambda: clean_query(record_type, user, changes["query"]))
        if "columns" in changes:
            current.columns = _attempt(errors, lambda: clean_columns(record_type, changes["columns"]))
        if "sharing" in changes or "team" in changes:
            sharing = changes.get("sharing", current.sharing)
            team = changes.get("team", current.team_id if sharing == SavedView.TEAM else None)
            shared = _attempt(errors, lambda: _clean_sharing(user, sharing, team))
            if shared:
                current.sharing, current.team = shared
        if "show_on_home" in changes:
            current.show_on_home = bool(changes["show_on_home"])
        if errors:
            raise ValidationError(errors)
        current.version += 1
        current.updated_at = timezone.now()
        current.save()
    return current


def delete_view(view: SavedView, user: Any, *, expected_version: int) -> None:
    """Delete a view of `user`'s own (and everyone's default of it), after the version check."""
    _owned(view, user)
    with transaction.atomic():
        current = SavedView.objects.select_for_update().get(pk=view.pk)
        if current.version != expected_version:
            raise StaleView(current)
        current.delete()


def set_default(record_type: RecordType, user: Any, view: SavedView | None) -> None:
    """Make `view` (one `user` may open, of the type) the default of their list of the type; None: no default."""
    if view is None:
        DefaultView.objects.filter(user_id=user.pk, record_type=record_type.label).delete()
        return
    if view.record_type != record_type.label or not visible_views(user, record_type).filter(pk=view.pk).exists():
        raise ValidationError({"view": "No such saved view of this list."})
    DefaultView.objects.update_or_create(user_id=user.pk, record_type=record_type.label, defaults={"view": view})


# --- the home page ----------------------------------------------------------------------------------------------


@dataclass
class HomeView:
    view: SavedView
    rt: RecordType
    url: str
    count: int
    exact: bool
    default: bool


def home_views(user: Any) -> list[HomeView]:
    """The person's default views and the views they marked "show on home" (their own), with the number of
    records each shows them: bounded like a list's count (`bounded_count`) and cached for a minute per person and
    set of views (their versions in the key: a changed view is counted again)."""
    if getattr(user, "pk", None) is None:
        return []
    default_ids = set(DefaultView.objects.filter(user_id=user.pk).values_list("view_id", flat=True))
    views = [
        view
        for view in visible_views(user).filter(Q(pk__in=default_ids) | Q(owner_id=user.pk, show_on_home=True))
        if registry.find_label(view.record_type) is not None
    ][:HOME_MAX]
    if not views:
        return []
    digest = hashlib.sha256(",".join(f"{v.pk}.{v.version}" for v in views).encode()).hexdigest()[:16]
    key = f"meridian:home-view-counts:{user.pk}:{digest}"
    counts: dict[int, tuple[int, bool]] | None = cache.get(key)
    if counts is None:
        counts = {}
        for view in views:
            rt = type_of(view.record_type)
            filterset = _filterset(rt, user, filter_params(QueryDict(view.query)))
            queryset = filterset.qs if filterset.is_valid() else filterset.queryset.none()
            counts[view.pk] = bounded_count(queryset)
        cache.set(key, counts, COUNT_TTL)
    result = []
    for view in views:
        rt = type_of(view.record_type)
        count, exact = counts.get(view.pk, (0, True))
        result.append(HomeView(view, rt, view_url(rt, view), count, exact, view.pk in default_ids))
    return result


def columns_label(record_type: RecordType, columns: list[str]) -> str:
    return ", ".join(column_label(record_type, name) for name in columns)
