"""Pages: the generic record pages every registered type gets, and the core app's own pages (home, search,
preferences, login, health and metrics)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.text import capfirst, slugify
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django_tables2 import RequestConfig

from meridian.core import (
    actions,
    audit,
    bulk,
    custom_fields,
    policy,
    querysets,
    ratelimit,
    saved_views,
    services,
    tabs,
)
from meridian.core.deletion import delete_preview
from meridian.core.filtersets import filterset_for
from meridian.core.forms import DeleteForm, LoginForm, PreferencesForm, choose_widgets, form_for
from meridian.core.history import ValueReader, changes_since
from meridian.core.home import COUNT_TTL, home_for
from meridian.core.querysets import (
    BoundedPaginator,
    RelatedList,
    bounded_count,
    computed_value,
    natural_order,
    records_for,
)
from meridian.core.registry import ADD, CHANGE, DELETE, EXPORT, VIEW, RecordType, Related
from meridian.core.search import search
from meridian.core.tables import (
    available_columns,
    chosen_columns,
    column_label,
    save_columns,
    table_for,
    table_queryset,
)

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\0")


def neutralise(value: Any) -> Any:
    """CSV/XLSX formula injection: a cell that a spreadsheet would run is prefixed with a quote."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def table_file(rows: Sequence[Sequence[Any]], kind: str, title: str) -> HttpResponse:
    """Rows (the first the header) as a CSV or XLSX download named after `title` and the time, every cell a
    spreadsheet would run neutralised."""
    rows = [[neutralise(cell) for cell in row] for row in rows]
    name = f"{slugify(title)}-{timezone.now().strftime('%Y%m%d-%H%M')}"
    if kind == "csv":
        buffer = io.StringIO()
        csv.writer(buffer).writerows(rows)
        response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return response
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31])
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    response = HttpResponse(
        out.getvalue(), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    response["Content-Disposition"] = f'attachment; filename="{name}.xlsx"'
    return response


def control_notice(rt: RecordType, obj: Any, user: Any) -> dict[str, Any] | None:
    """For a record under change control (`core.control`), shown to those who may change it: the approved changes
    that would authorise an edit now, with their pages."""
    from meridian.core import control

    if rt.control is None or not policy.can(user, CHANGE, obj) or not control.under_control(rt, obj):
        return None
    judge = control.authority()
    records = control.controlled_records(rt.control, obj)
    cited = judge.candidates(records, user) if judge is not None else []
    return {"changes": [(ref, judge.url(ref) if judge else None) for ref in cited]}


class RecordViews:
    """List, detail (with its tabs), create, edit, delete and record-action pages for one record type."""

    def __init__(self, record_type: RecordType) -> None:
        self.rt = record_type

    # -- helpers ---------------------------------------------------------------------------------------------
    def queryset(self, request: HttpRequest, action: str = VIEW) -> QuerySet[Any]:
        return records_for(self.rt, request.user, action)

    def get_object(self, request: HttpRequest, pk: int) -> Any:
        try:
            return self.queryset(request).get(pk=pk)
        except self.rt.model.DoesNotExist:
            raise Http404("No such record.") from None

    def context(self, request: HttpRequest, **extra: Any) -> dict[str, Any]:
        rt = self.rt
        return {
            "rt": rt,
            "can_add": policy.can(request.user, ADD, rt.model),
            "can_export": policy.can(request.user, EXPORT, rt.model),
            "list_url": reverse(rt.url_name("list")),
            **extra,
        }

    def require_type(self, request: HttpRequest, action: str) -> None:
        if not policy.can(request.user, action, self.rt.model):
            raise PermissionDenied(f"You may not {action} {self.rt.verbose_name_plural}.")

    # -- pages -----------------------------------------------------------------------------------------------
    def list(self, request: HttpRequest, *, menu_state: dict[str, Any] | None = None) -> HttpResponse:
        """The list: filters, sort and columns from the URL (`?columns=a,b` too), or from a saved view
        (`?view=<id>`, with the URL's own values on top); the person's default view when the URL has none
        (`?view=none`: the plain list). `menu_state`: a refused form of the Views menu, shown open with its errors."""
        self.require_type(request, VIEW)
        user = request.user
        view_param = request.GET.get("view")
        views_menu = saved_views.menu(user, self.rt)  # the views, the default and the teams: read once here
        opens_default = not request.GET and not request.headers.get("HX-Request") and menu_state is None
        if opens_default and views_menu.default is not None:  # as itself: a bookmarkable URL that names the view
            return HttpResponseRedirect(saved_views.view_url(self.rt, views_menu.default))
        view = None
        if view_param and view_param != saved_views.NO_VIEW:
            view = views_menu.find(view_param)
            if view is None:
                raise Http404("No such saved view.")
            effective = QueryDict(view.query, mutable=True)
            for key in request.GET:  # what the URL says on top of the view (a changed filter, another page)
                effective.setlist(key, request.GET.getlist(key))
            request.GET = effective  # type: ignore[assignment]
        params = request.GET.copy()
        for name in ("export", "sort", "page", "per_page", "count", "view", "columns"):
            params.pop(name, None)
        filterset = filterset_for(self.rt)(params or None, queryset=self.queryset(request), request=request)
        filter_keys = saved_views.filter_keys(self.rt, user, filterset.form) if view is not None else {}
        # a filter on a link is a record picker: searched on the server when there are many (never 10,000 options)
        choose_widgets(filterset.form, request.user)
        if filterset.is_bound and not filterset.is_valid():
            queryset = self.queryset(request).none()  # a filter that makes no sense matches nothing, and says why
        else:
            queryset = filterset.qs if filterset.is_bound else self.queryset(request)
        columns: list[str] | None = None
        unknown_columns: list[str] = []
        if request.GET.get("columns"):
            columns, unknown_columns = saved_views.url_columns(self.rt, request.GET["columns"])
        if columns is None and view is not None and view.columns:
            columns = [name for name in view.columns if name in available_columns(self.rt)] or None
        if columns is None:
            columns = chosen_columns(self.rt, request.user)
        export = request.GET.get("export")
        invalid = filterset.is_bound and bool(filterset.errors)
        if export in ("csv", "xlsx") and not invalid:  # an export of a nonsense filter is refused with the page
            self.require_type(request, EXPORT)
            return self.export(request, queryset, export, columns)
        queryset = natural_order(table_queryset(self.rt, queryset, columns, request.user))
        bulk_actions = bulk.available(self.rt, user)
        can_export = policy.can(user, EXPORT, self.rt.model)
        table = table_for(self.rt)(
            queryset, user=request.user, columns=columns, selectable=bool(bulk_actions) or can_export
        )
        exact = request.GET.get("count") == "exact"  # "more than 10,000": the exact figure once, when asked
        paginate = {"per_page": 50, "paginator_class": BoundedPaginator, "exact": exact}
        RequestConfig(request, paginate=paginate).configure(table)
        slow_sort = self.slow_sort(request, table)
        # the filter form's requests swap the results alone; a filter that reloads the form (a scope field) gets
        # the page
        partial = request.headers.get("HX-Request") and request.headers.get("HX-Target") == "results"
        template = "core/_record_table.html" if partial else "core/record_list.html"
        total, total_exact = bounded_count(self.queryset(request)) if filterset.is_bound else (None, True)
        status = 400 if invalid else 200
        list_url = reverse(self.rt.url_name("list"))
        current = saved_views.filter_params(request.GET)
        context = self.context(
            request,
            table=table,
            filterset=filterset,
            total=total,
            total_exact=total_exact,
            count_limit=f"{querysets.COUNT_LIMIT:,}",
            columns=columns,
            column_choices=[(name, column_label(self.rt, name)) for name in available_columns(self.rt)],
            columns_url=reverse(self.rt.url_name("columns")),
            views_menu=views_menu,
            applied_view=view,
            view_changed=view is not None and current != saved_views.filter_params(QueryDict(view.query)),
            missing_filters=saved_views.missing_filters(self.rt, user, view, filter_keys) if view is not None else [],
            unknown_columns=unknown_columns,
            current_query=current.urlencode(),
            current_columns=",".join(columns),
            plain_url=f"{list_url}?view={saved_views.NO_VIEW}" if views_menu.default_id else list_url,
            views_url=reverse(self.rt.url_name("views")),
            views_groups=[
                ("Your views", views_menu.own),
                ("Shared with your teams", views_menu.teams),
                ("Shared with everyone", views_menu.everyone),
            ],
            share_choices=[
                ("private", "Only me"),
                *(
                    (f"team:{team.pk}", f"Team: {team}")
                    for team in saved_views.shareable_teams(user, views_menu.my_teams)
                ),
                *([("everyone", "Everyone")] if saved_views.is_administrator(user) else []),
            ],
            menu_state=menu_state or {},
            bulk_actions=bulk_actions,
            bulk_url=reverse(self.rt.url_name("bulk")),
            slow_sort=slow_sort,
        )
        if menu_state and menu_state.get("status"):
            status = menu_state["status"]
        return render(request, template, context, status=status)

    def slow_sort(self, request: HttpRequest, table: Any) -> dict[str, str] | None:
        """A sort the person chose that no index serves, on a list so large that every page sorts every row
        (PostgreSQL's estimate): the column and the rows, for a warning above the table."""
        from django.conf import settings

        sort = (request.GET.get("sort") or "").lstrip("-")
        rows = getattr(getattr(table, "data", None), "data", None)
        if not sort or sort not in available_columns(self.rt) or not isinstance(rows, QuerySet):
            return None
        sorted_rows = querysets.rows_sorted_per_page(querysets.sorted_from_matches(rows))
        if sorted_rows is None or sorted_rows < getattr(settings, "MERIDIAN_SORT_FROM_MATCHES_BELOW", 100_000):
            return None
        return {"column": column_label(self.rt, sort), "rows": f"{round(sorted_rows, -3):,.0f}"}

    def columns(self, request: HttpRequest) -> HttpResponse:
        """The column chooser: POST `columns` (one per chosen column) to remember them, `reset` to forget."""
        self.require_type(request, VIEW)
        if request.method != "POST":
            return HttpResponse(status=405)
        try:
            if request.POST.get("reset"):
                save_columns(self.rt, request.user, None)
                messages.success(request, "Columns reset to the default.")
            else:
                save_columns(self.rt, request.user, request.POST.getlist("columns"))
                messages.success(request, "Columns saved.")
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            response = self.list(request)
            response.status_code = 400
            return response
        back = request.POST.get("next", "")
        list_url = reverse(self.rt.url_name("list"))
        return HttpResponseRedirect(back if back.startswith(list_url) and "//" not in back else list_url)

    def export(self, request: HttpRequest, queryset: QuerySet[Any], kind: str, columns: Sequence[str]) -> HttpResponse:
        """`columns`: those the person sees (what they see is what they export)."""
        columns = [*columns]
        queryset = natural_order(table_queryset(self.rt, queryset, columns, request.user))
        table = table_for(self.rt)(queryset, order_by=request.GET.get("sort") or None, user=request.user)
        hidden = [name for name in available_columns(self.rt) if name not in columns]
        rows = [list(row) for row in table.as_values(exclude_columns=hidden)]  # `table_file` neutralises
        extra = custom_fields.export_columns(self.rt, request.user)  # the custom fields the person may see
        if extra and rows:
            records = list(table.data)
            references = custom_fields.load_references(extra, records)  # at once, not per row
            rows[0].extend(d.label for d in extra)
            for row, record in zip(rows[1:], records, strict=True):
                row.extend(custom_fields.export_value(d, record, request.user, references) for d in extra)
        return table_file(rows, kind, str(self.rt.verbose_name_plural))

    def detail(
        self, request: HttpRequest, pk: int, *, open_tab: str | None = None, tab_values: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The record's page: header, action buttons and a tab bar. `?tab=<name>` opens a tab (Details when none);
        the record's own checks run first (404), then the tab's (403); htmx asks for the tabs part alone.
        `open_tab`/`tab_values`: a tab re-shown by a view of its own (a refused form with its errors, an upload),
        with values laid over the tab's own."""
        obj = self.get_object(request, pk)
        rt, user = self.rt, request.user
        if request.GET.get("part") == "banner":  # the banner alone, asked again by the page
            banner = rt.banner.values(obj, user) if rt.banner is not None else None
            if banner is None:
                return HttpResponse(status=204)
            return render(request, rt.banner.template, {"obj": obj, "banner": banner, "rt": rt})  # type: ignore[union-attr]
        name = open_tab or request.GET.get("tab") or tabs.DETAILS
        open_tabs = [t for t in tabs.tabs_of(rt) if t.may_open(obj, user)]
        tab = None
        if name != tabs.DETAILS:
            tab = tabs.find(rt, name)
            if tab is None:
                raise Http404("No such tab.")
            if tab not in open_tabs:
                raise PermissionDenied(f"You may not open the {tab.label} tab of this {rt.verbose_name}.")
        if tab is None:
            names = rt.detail_fields or [*rt.fields, *([rt.lifecycle.field] if rt.lifecycle else [])]
            rows = [_display(obj, field, user, rt) for field in names]
            rows.extend(custom_fields.detail_rows(rt, obj, user))  # under the type's own fields
            for field, computed in rt.computed.items():
                value = computed_value(obj, field, computed)
                if isinstance(value, datetime):  # in the reader's time zone, as the record's own times
                    value = formats.localize(timezone.localtime(value))
                rows.append((computed.label, value, "empty" if value in (None, "") else "text"))
            related_lists = [
                related_page(rt, obj, related, user, request.GET.get(f"{related.name}_page")) for related in rt.related
            ]
            child_tables = [
                (
                    child,
                    [child.label_of(field) for field in child.fields],
                    [[_display(row, field, user) for field in child.fields] for row in child.rows(obj)],
                )
                for child in rt.children
            ]
            values: dict[str, Any] = {
                "rows": rows,
                "child_tables": child_tables,
                "related_lists": [r for r in related_lists if r is not None],
            }
        else:
            values = {**tab.values(obj, user, request), **(tab_values or {})}
        detail_url = obj.get_absolute_url()
        context = self.context(
            request,
            obj=obj,
            obj_label=policy.shown(user, obj),
            tab=tab.name if tab else tabs.DETAILS,
            tab_template=tab.template if tab else None,
            tab_bar=[
                {"name": tabs.DETAILS, "label": "Details", "url": f"{detail_url}?tab={tabs.DETAILS}", "badge": None},
                *(
                    {
                        "name": t.name,
                        "label": t.label,
                        "url": f"{detail_url}?tab={t.name}",
                        "badge": _badge(t, obj, user),
                    }
                    for t in open_tabs
                ),
            ],
            buttons=[
                (a, reverse(rt.url_name("action"), args=[obj.pk, a.slug])) for a in actions.available_actions(obj, user)
            ],
            can_change=policy.can(user, CHANGE, obj),
            can_delete=policy.can(user, DELETE, obj),
            change_control=control_notice(rt, obj, user),
            **values,
        )
        partial = request.headers.get("HX-Request") and request.headers.get("HX-Target") == "record-tabs"
        if not partial and rt.banner is not None:
            banner = rt.banner.values(obj, user)
            context.update(banner=banner, banner_template=rt.banner.template if banner is not None else None)
        return render(request, "core/_record_tabs.html" if partial else "core/record_detail.html", context)

    # -- links between records (`core.links`) ------------------------------------------------------------------
    def links(self, request: HttpRequest, pk: int) -> HttpResponse:
        """POST: add a link from this record (the Links tab's form); refused input is shown in the tab (400)."""
        from meridian.core import links

        if request.method != "POST" or not self.rt.record_links:
            raise Http404("No such page.")
        obj = self.get_object(request, pk)
        if not policy.can(request.user, CHANGE, obj):
            raise PermissionDenied(f"You may not link this {self.rt.verbose_name}.")
        form = links.LinkForm(request.POST, obj=obj, user=request.user)
        if form.is_valid():
            link_type, direction, other_type = links.parse_choice(form.cleaned_data["link"])
            try:
                services.link_records(
                    obj,
                    link_type=link_type,
                    direction=direction,
                    other_type=other_type,
                    other_id=form.cleaned_data["record"],
                    actor=request.user,
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error("record" if field == "record" else "link", errors)
            else:
                messages.success(request, "Link added.")
                return HttpResponseRedirect(f"{obj.get_absolute_url()}?tab=links")
        response = self.detail(
            request, pk, open_tab="links", tab_values=links.tab_context(obj, request.user, form=form)
        )
        response.status_code = 400
        return response

    def link_candidates(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The records this record could be linked to by the chosen kind of link, matching the search (htmx)."""
        from meridian.core import links

        if not self.rt.record_links:
            raise Http404("No such page.")
        obj = self.get_object(request, pk)
        if not policy.can(request.user, CHANGE, obj):
            raise PermissionDenied(f"You may not link this {self.rt.verbose_name}.")
        found = links.candidates(obj, request.user, request.GET.get("link", ""), request.GET.get("q", ""))
        return render(request, "core/_link_candidates.html", {"candidates": found, "q": request.GET.get("q", "")})

    def unlink(self, request: HttpRequest, pk: int, link_id: int) -> HttpResponse:
        """POST: remove a link of this record."""
        if request.method != "POST" or not self.rt.record_links:
            raise Http404("No such page.")
        obj = self.get_object(request, pk)
        services.unlink_records(obj, link_id, actor=request.user)
        messages.success(request, "Link removed.")
        return HttpResponseRedirect(f"{obj.get_absolute_url()}?tab=links")

    def related(self, request: HttpRequest, pk: int, name: str) -> HttpResponse:
        """One page of a related list of the detail page (htmx)."""
        obj = self.get_object(request, pk)
        declared = next((r for r in self.rt.related if r.name == name), None)
        if declared is None:
            raise Http404("No such related list.")
        context = related_page(self.rt, obj, declared, request.user, request.GET.get("page"))
        if context is None:
            raise Http404("No such related list.")
        return render(request, "core/_related_list.html", {"rel": context, "obj": obj, "rt": self.rt})

    def form_page(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        rt = self.rt
        obj = self.get_object(request, pk) if pk is not None else None
        if obj is None:
            self.require_type(request, ADD)
        elif not policy.can(request.user, CHANGE, obj):
            raise PermissionDenied(f"You may not change this {rt.verbose_name}.")
        form_class = form_for(rt)
        initial = {k: v for k, v in request.GET.items() if k in rt.fields} if obj is None else None
        form = form_class(
            request.POST if request.method == "POST" else None,
            request.FILES if request.method == "POST" else None,  # text fields that may come as a file
            instance=obj,
            user=request.user,
            initial=initial,
        )
        status = 200
        if request.method == "POST" and form.is_valid():
            try:
                if obj is None:
                    saved = services.create_record(
                        rt.model, data=form.field_values(), actor=request.user, authorised_by=form.authorised_by
                    )
                    messages.success(request, f"{capfirst(rt.verbose_name)} “{saved}” created.")
                else:
                    saved = services.update_record(
                        obj,
                        data=form.field_values(),
                        actor=request.user,
                        expected_version=form.cleaned_data["version"],
                        authorised_by=form.authorised_by,
                    )
                    messages.success(request, f"{capfirst(rt.verbose_name)} “{saved}” saved.")
                return HttpResponseRedirect(saved.get_absolute_url())
            except services.StaleVersion as exc:
                return self.conflict(request, form, exc.current)
            except ValidationError as exc:
                _add_errors(form, exc)
                status = 400
        elif request.method == "POST":
            status = 400
        return render(request, "core/record_form.html", self.context(request, form=form, obj=obj), status=status)

    def conflict(self, request: HttpRequest, form: Any, current: Any) -> HttpResponse:
        """A stale save (409): field by field, what others changed since the version you read (who, when, before
        and after) and what you tried to save. The form comes back on the current version, holding your changes
        and, where you changed nothing, their values: saving it puts your values on top of theirs."""
        rt = self.rt
        read_version = form.cleaned_data["version"]
        theirs = {change.name: change for change in changes_since(current, read_version, request.user)}
        now = audit.snapshot(current)
        rows_of = {child.name for child in rt.children}  # their row changes come from the trail, line by line
        yours = {name: _raw(value) for name, value in form.field_values().items() if name not in rows_of}
        reader = ValueReader(rt.model, request.user)
        for name, value in yours.items():
            reader.want(name, value)
            reader.want(name, now.get(name))
        base = {name: change.base for name, change in theirs.items()}
        mine = {name: value for name, value in yours.items() if value != base.get(name, now.get(name))}
        rows = []
        for name in [*theirs, *(name for name in mine if name not in theirs)]:
            change = theirs.get(name)
            if name in mine and change is not None:
                state = "same" if mine[name] == change.current else "conflict"
            else:
                state = "yours" if name in mine else "theirs"
            rows.append(
                {
                    "label": change.label if change else reader.label(name),
                    "theirs": change,
                    "yours": reader.show(name, mine[name]) if name in mine else None,
                    "now": reader.show(name, now.get(name)),
                    "state": state,
                }
            )
        model_fields = {f.name for f in rt.model._meta.get_fields()}
        extra = [name for name in form.fields if name not in model_fields and name != "version"]
        initial = {name: form.cleaned_data[name] for name in mine if name in form.fields}
        if any(name not in form.fields for name in mine):  # a form field of its own (a calendar's hours text)
            initial.update({name: form.data.get(name) for name in extra})
        again = form_for(rt)(instance=current, user=request.user, initial=initial)
        context = self.context(
            request,
            form=again,
            obj=current,
            stale=current,
            conflict_rows=rows,
            conflicts=sum(1 for row in rows if row["state"] == "conflict"),
            read_version=read_version,
        )
        return render(request, "core/record_form.html", context, status=409)

    def delete(self, request: HttpRequest, pk: int) -> HttpResponse:
        obj = self.get_object(request, pk)
        if not policy.can(request.user, DELETE, obj):
            raise PermissionDenied(f"You may not delete this {self.rt.verbose_name}.")
        error, status = None, 200
        if request.method == "POST":
            form = DeleteForm(request.POST)
            try:
                if not form.is_valid():
                    raise ValidationError([error for errors in form.errors.values() for error in errors])
                services.delete_record(
                    obj,
                    actor=request.user,
                    expected_version=form.cleaned_data["version"],
                    reason=form.cleaned_data["reason"],
                    authorised_by=form.cleaned_data["authorised_by"],
                )
            except services.StaleVersion as exc:
                error, status = str(exc), 409
            except services.RecordInUse as exc:
                error, status = " ".join(exc.messages), 409
            except ValidationError as exc:
                error, status = " ".join(exc.messages), 400
            else:
                messages.success(request, f"{capfirst(self.rt.verbose_name)} “{obj}” deleted.")
                return HttpResponseRedirect(reverse(self.rt.url_name("list")))
        preview = delete_preview(obj, request.user)
        return render(
            request,
            "core/record_confirm_delete.html",
            self.context(
                request,
                obj=obj,
                obj_label=policy.shown(request.user, obj),
                error=error,
                preview=preview,
                change_control=control_notice(self.rt, obj, request.user),
            ),
            status=status,
        )

    def action(self, request: HttpRequest, pk: int, action: str) -> HttpResponse:
        """A record action from the page (`core.actions`): GET shows its form page (input, reason, a confirmation),
        POST runs it through the one runner. A button without a form page answers on the record's page."""
        obj = self.get_object(request, pk)
        rt, user = self.rt, request.user
        record_action = actions.find(rt, action)
        if record_action is None:
            raise Http404("No such action.")
        if not record_action.may(user):
            raise PermissionDenied(f"Your roles do not allow “{record_action.title}” on this {rt.verbose_name}.")
        form_class = actions.page_form_class(record_action)
        error, status, stale = "", 200, False
        if request.method == "POST":
            form = form_class(request.POST, obj=obj, user=user)
            status = 400
            if form.is_valid():
                try:
                    actions.run(
                        record_action,
                        obj,
                        actor=user,
                        expected_version=form.cleaned_data["version"],
                        reason=form.cleaned_data["reason"],
                        values=actions.input_values(form),
                        authorised_by=str(form.cleaned_data.get("authorised_by") or ""),
                    )
                except (services.StaleVersion, services.TransitionNotAllowed) as exc:
                    error, status, stale = str(exc), 409, isinstance(exc, services.StaleVersion)
                except ValidationError as exc:
                    _add_errors(form, exc)
                else:
                    messages.success(request, f"{policy.shown(user, obj)}: {record_action.title} done.")
                    return HttpResponseRedirect(obj.get_absolute_url())
            if not record_action.has_form_page:  # a button: say what went wrong on the record's page
                problems = [error] if error else [str(e) for errors in form.errors.values() for e in errors]
                messages.error(request, " ".join(problems))
                if "version" in form.errors:  # only a tampered or broken page posts no version: a 400
                    response = self.detail(request, pk)
                    response.status_code = 400
                    return response
                return HttpResponseRedirect(obj.get_absolute_url())
        else:
            initial = record_action.initial(obj, user) if record_action.initial else {}
            form = form_class(initial={**initial, "version": obj.version}, obj=obj, user=user)
            refusal = record_action.refusal(obj, user)
            if refusal:
                error, status = refusal, 409
        return render(
            request,
            "core/record_action.html",
            self.context(
                request,
                obj=obj,
                obj_label=policy.shown(user, obj),
                action=record_action,
                form=form,
                error=error,
                stale=stale,
            ),
            status=status,
        )


def _badge(tab: tabs.Tab, obj: Any, user: Any) -> int | str | None:
    """A tab's count beside its label (the detail page only: a badge never runs for a list)."""
    if tab.badge is None:
        return None
    value = tab.badge(obj, user)
    return None if value in (None, "", 0) else value


def related_page(rt: RecordType, obj: Any, related: Related, user: Any, page: str | None) -> dict[str, Any] | None:
    """One page of a related list as `user` may see it, or None when they may not see the related type at all."""
    from django.core.paginator import Paginator

    rel = RelatedList(rt, related, obj, user)
    if not rel.visible:
        return None
    paginator = Paginator(rel.queryset(), related.per_page)
    current = paginator.get_page(page)
    related_rt = rel.related_rt
    table = table_for(related_rt)(list(current.object_list), user=user, columns=rel.columns, orderable=False)
    list_query, add_query = rel.list_query(), rel.add_query()
    if add_query:
        hint = f"Use “Add {related_rt.verbose_name}” to add one to this {rt.verbose_name}."
    elif rel.back is None and policy.can(user, CHANGE, obj):
        hint = f"Edit this {rt.verbose_name} to add {rel.label.lower()}."
    else:
        hint = ""
    return {
        "hint": hint,
        "name": rel.name,
        "label": rel.label,
        "rt": related_rt,
        "table": table,
        "page": current,
        "count": paginator.count,
        "list_url": f"{reverse(related_rt.url_name('list'))}?{list_query}" if list_query else None,
        "add_url": f"{reverse(related_rt.url_name('add'))}?{add_query}" if add_query else None,
        "url": reverse(rt.url_name("related"), args=[obj.pk, rel.name]),
    }


def _display(obj: Model, name: str, user: Any, rt: Any = None) -> tuple[str, Any, str]:
    """A field of a record as shown on its page: (label, value, kind) with kind empty, links or text; linked
    records as (name, url) pairs, a record the user may not see as "hidden" without a link (or by name without a
    link, where the record type lets them name it in that field: `RecordType.linkable`)."""
    field = obj._meta.get_field(name)
    label = str(getattr(field, "verbose_name", name))
    if field.many_to_many:
        values = [policy.link_of(user, value) for value in getattr(obj, name).all()]
        return label, values, "links" if values else "empty"
    custom = getattr(obj, f"display_{name}", None)
    value = custom() if callable(custom) else getattr(obj, name)
    if getattr(field, "choices", None):
        value = getattr(obj, f"get_{name}_display")()
    if value is None or value == "":
        return label, None, "empty"
    if isinstance(value, bool):
        return label, "Yes" if value else "No", "text"
    if isinstance(value, Model):
        if not policy.can(user, VIEW, value) and policy.named_on(user, rt, name, value):
            return label, [(policy.name_of(user, value), "")], "links"
        return label, [policy.link_of(user, value)], "links"
    if isinstance(value, dict):
        return label, ", ".join(f"{k}: {v}" for k, v in value.items()), "text"
    return label, value, "text"


def _raw(value: Any) -> Any:
    """A form's cleaned value as the audit trail writes it (ids, ISO times, sorted id lists)."""
    if isinstance(value, QuerySet):
        return sorted(obj.pk for obj in value)
    return audit.to_primitive(value)


def _add_errors(form: Any, exc: ValidationError) -> None:
    from meridian.core import uploads

    exc = uploads.on_uploads(exc, getattr(form, "uploaded", {}))
    if hasattr(exc, "error_dict"):
        for name, errors in exc.message_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


# --- core pages -------------------------------------------------------------------------------------------------


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """What the person works on, what they recently changed, their teams, and the areas they may open (see
    `core.home`: the page's number of queries does not grow with the number of record types)."""
    return render(request, "core/home.html", {"home": home_for(request.user), "count_ttl": COUNT_TTL})


@login_required
def search_page(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")
    hits = search(request.user, query)
    return render(request, "core/search.html", {"query": query, "hits": hits})


@login_required
def preferences(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    form = PreferencesForm(
        request.POST if request.method == "POST" else None,
        initial={"time_zone": user.time_zone, "language": user.language},
    )
    if request.method == "POST" and form.is_valid():
        services.set_preferences(user, actor=user, **form.cleaned_data)
        messages.success(request, "Preferences saved.")
        return HttpResponseRedirect(reverse("preferences"))
    return render(request, "core/preferences.html", {"form": form})


class LoginView(auth_views.LoginView):
    """Login with rate limiting per account and per address, and one message for every failure."""

    form_class = LoginForm
    template_name = "core/login.html"
    redirect_authenticated_user = True

    def _keys(self) -> list[str]:
        return [
            ratelimit.identity_key("login-user", self.request.POST.get("username") or ""),
            ratelimit.identity_key("login-ip", ratelimit.client_ip(self.request)),
        ]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        from django.conf import settings

        if ratelimit.exceeded(self._keys(), settings.LOGIN_RATE_LIMIT):
            form = self.get_form()
            form.errors.clear()
            form.add_error(None, LoginForm.error_messages["rate_limited"])
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: Any) -> HttpResponse:
        ratelimit.hit(self._keys())
        return super().form_invalid(form)


class PasswordResetView(auth_views.PasswordResetView):
    """Password reset with a limit per address asked for and per client (no mail flood), answering every
    request the same way (no user enumeration)."""

    template_name = "core/password_form.html"

    def form_valid(self, form: Any) -> HttpResponse:
        from django.conf import settings

        keys = [
            ratelimit.identity_key("reset-email", form.cleaned_data.get("email", "")),
            ratelimit.identity_key("reset-ip", ratelimit.client_ip(self.request)),
        ]
        limited = ratelimit.exceeded(keys, settings.PASSWORD_RESET_RATE_LIMIT)
        ratelimit.hit(keys)
        if limited:
            return HttpResponseRedirect(self.get_success_url())  # same answer, no mail
        return super().form_valid(form)


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any database failure makes the node unhealthy
        return JsonResponse({"status": "error", "database": str(exc)[:200]}, status=503)
    return JsonResponse({"status": "ok", "database": connection.vendor})


@require_GET
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    import hmac

    from django.conf import settings

    from meridian.core.metrics import render_metrics

    if settings.METRICS_TOKEN:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), settings.METRICS_TOKEN.encode()):
            return HttpResponse("A bearer token is required.\n", status=401, content_type="text/plain")

    return HttpResponse(render_metrics(), content_type="text/plain; version=0.0.4; charset=utf-8")


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    from django.contrib.auth import logout

    logout(request)
    return HttpResponseRedirect(reverse("login"))
