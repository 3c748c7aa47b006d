"""Pages: the generic record pages every registered type gets, and the core app's own pages (home, search,
preferences, login, health and metrics)."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django_tables2 import RequestConfig

from meridian.core import audit, policy, ratelimit, registry, services
from meridian.core.deletion import delete_preview
from meridian.core.filtersets import filterset_for
from meridian.core.forms import DeleteForm, GrantLoginForm, LoginForm, PreferencesForm, TransitionForm, form_for
from meridian.core.history import ValueReader, changes_since, readable_history
from meridian.core.models import AuditEvent, NotificationLog, Person
from meridian.core.registry import ADD, CHANGE, DELETE, EXPORT, VIEW, RecordType
from meridian.core.search import search
from meridian.core.tables import table_for

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\0")


def neutralise(value: Any) -> Any:
    """CSV/XLSX formula injection: a cell that a spreadsheet would run is prefixed with a quote."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


class RecordViews:
    """List, detail, create, edit, delete and lifecycle-action pages for one record type."""

    def __init__(self, record_type: RecordType) -> None:
        self.rt = record_type

    # -- helpers ---------------------------------------------------------------------------------------------
    def queryset(self, request: HttpRequest, action: str = VIEW) -> QuerySet[Any]:
        rt = self.rt
        qs = rt.model.objects.select_related(*rt.select_related).prefetch_related(*rt.prefetch_related)
        return policy.restrict(qs, request.user, action)

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
    def list(self, request: HttpRequest) -> HttpResponse:
        self.require_type(request, VIEW)
        params = request.GET.copy()
        for name in ("export", "sort", "page", "per_page"):
            params.pop(name, None)
        filterset = filterset_for(self.rt)(params or None, queryset=self.queryset(request), request=request)
        if filterset.is_bound and not filterset.is_valid():
            queryset = self.queryset(request).none()  # a filter that makes no sense matches nothing, and says why
        else:
            queryset = filterset.qs if filterset.is_bound else self.queryset(request)
        export = request.GET.get("export")
        invalid = filterset.is_bound and bool(filterset.errors)
        if export in ("csv", "xlsx") and not invalid:  # an export of a nonsense filter is refused with the page
            self.require_type(request, EXPORT)
            return self.export(request, queryset, export)
        table = table_for(self.rt)(queryset, user=request.user)
        RequestConfig(request, paginate={"per_page": 50}).configure(table)
        template = "core/_record_table.html" if request.headers.get("HX-Request") else "core/record_list.html"
        total = self.queryset(request).count() if filterset.is_bound else None
        status = 400 if invalid else 200
        context = self.context(request, table=table, filterset=filterset, total=total)
        return render(request, template, context, status=status)

    def export(self, request: HttpRequest, queryset: QuerySet[Any], kind: str) -> HttpResponse:
        table = table_for(self.rt)(queryset, order_by=request.GET.get("sort") or None, user=request.user)
        rows = [[neutralise(cell) for cell in row] for row in table.as_values()]
        stamp = timezone.now().strftime("%Y%m%d-%H%M")
        name = f"{slugify(self.rt.verbose_name_plural)}-{stamp}"
        if kind == "csv":
            buffer = io.StringIO()
            csv.writer(buffer).writerows(rows)
            response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
            return response
        from openpyxl import Workbook

        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet(str(self.rt.verbose_name_plural)[:31])
        for row in rows:
            sheet.append(row)
        out = io.BytesIO()
        workbook.save(out)
        response = HttpResponse(
            out.getvalue(), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        response["Content-Disposition"] = f'attachment; filename="{name}.xlsx"'
        return response

    def detail(self, request: HttpRequest, pk: int) -> HttpResponse:
        obj = self.get_object(request, pk)
        rt = self.rt
        names = rt.detail_fields or [*rt.fields, *([rt.lifecycle.field] if rt.lifecycle else [])]
        rows = [_display(obj, name, request.user) for name in names]
        tab = request.GET.get("tab", "details")
        events = readable_history(list(audit.history(obj)[:200]), rt.model, request.user) if tab == "history" else None
        notifications = (
            NotificationLog.objects.filter(record_type=rt.label, record_id=str(obj.pk))[:100]
            if tab == "notifications"
            else None
        )
        return render(
            request,
            "core/record_detail.html",
            self.context(
                request,
                obj=obj,
                obj_label=policy.shown(request.user, obj),
                rows=rows,
                tab=tab,
                events=events,
                notifications=notifications,
                transitions=services.available_transitions(obj, request.user),
                transition_form=TransitionForm(initial={"version": obj.version}),
                can_change=policy.can(request.user, CHANGE, obj),
                can_delete=policy.can(request.user, DELETE, obj),
                extra_template=_optional_template(f"{rt.app_label}/{rt.model_name}_detail_extra.html"),
                **(rt.detail_context(obj, request.user) if rt.detail_context else {}),
            ),
        )

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
            request.POST if request.method == "POST" else None, instance=obj, user=request.user, initial=initial
        )
        status = 200
        if request.method == "POST" and form.is_valid():
            try:
                if obj is None:
                    saved = services.create_record(rt.model, data=form.field_values(), actor=request.user)
                    messages.success(request, f"{rt.verbose_name.capitalize()} “{saved}” created.")
                else:
                    saved = services.update_record(
                        obj,
                        data=form.field_values(),
                        actor=request.user,
                        expected_version=form.cleaned_data["version"],
                    )
                    messages.success(request, f"{rt.verbose_name.capitalize()} “{saved}” saved.")
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
        yours = {name: _raw(value) for name, value in form.field_values().items()}
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
                )
            except services.StaleVersion as exc:
                error, status = str(exc), 409
            except services.RecordInUse as exc:
                error, status = " ".join(exc.messages), 409
            except ValidationError as exc:
                error, status = " ".join(exc.messages), 400
            else:
                messages.success(request, f"{self.rt.verbose_name.capitalize()} “{obj}” deleted.")
                return HttpResponseRedirect(reverse(self.rt.url_name("list")))
        preview = delete_preview(obj, request.user)
        return render(
            request,
            "core/record_confirm_delete.html",
            self.context(request, obj=obj, obj_label=policy.shown(request.user, obj), error=error, preview=preview),
            status=status,
        )

    def transition(self, request: HttpRequest, pk: int, action: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponse(status=405)
        obj = self.get_object(request, pk)
        form = TransitionForm(request.POST)
        if not form.is_valid():  # only a tampered or broken page posts no version: say so, change nothing
            messages.error(request, " ".join(str(error) for errors in form.errors.values() for error in errors))
            response = self.detail(request, pk)
            response.status_code = 400
            return response
        try:
            services.transition(
                obj,
                action,
                actor=request.user,
                reason=form.cleaned_data["reason"],
                expected_version=form.cleaned_data["version"],
            )
        except (services.TransitionNotAllowed, services.StaleVersion) as exc:
            messages.error(request, str(exc))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            lifecycle = self.rt.lifecycle
            done = lifecycle.get(action) if lifecycle else None
            messages.success(request, f"{obj}: {done.title if done else action} done.")
        return HttpResponseRedirect(obj.get_absolute_url())


def _optional_template(name: str) -> str | None:
    """A per-type addition to a generic page, when the app provides one."""
    from django.template import TemplateDoesNotExist
    from django.template.loader import get_template

    try:
        get_template(name)
    except TemplateDoesNotExist:
        return None
    return name


def _display(obj: Model, name: str, user: Any) -> tuple[str, Any, str]:
    """A field of a record as shown on its page: (label, value, kind) with kind empty, links or text; linked
    records as (name, url) pairs, a record the user may not see as "hidden" without a link."""
    field = obj._meta.get_field(name)
    label = str(getattr(field, "verbose_name", name))
    if field.many_to_many:
        values = [linked(user, value) for value in getattr(obj, name).all()]
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
        return label, [linked(user, value)], "links"
    if isinstance(value, dict):
        return label, ", ".join(f"{k}: {v}" for k, v in value.items()), "text"
    return label, value, "text"


def linked(user: Any, record: Model) -> tuple[str, str]:
    """A linked record as a page shows it: (name, url); ("hidden", "") when the user may not see it."""
    if not policy.can(user, VIEW, record):
        return policy.HIDDEN, ""
    return policy.name_of(user, record), getattr(record, "get_absolute_url", lambda: "")()


def _raw(value: Any) -> Any:
    """A form's cleaned value as the audit trail writes it (ids, ISO times, sorted id lists)."""
    if isinstance(value, QuerySet):
        return sorted(obj.pk for obj in value)
    return audit.to_primitive(value)


def _add_errors(form: Any, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for name, errors in exc.message_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


# --- core pages -------------------------------------------------------------------------------------------------


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    areas = [
        {
            "label": label,
            "types": [{"rt": rt, "count": policy.restrict(rt.model.objects.all(), user, VIEW).count()} for rt in types],
        }
        for label, types in policy.visible_areas(user)
    ]
    recent = AuditEvent.objects.filter(actor_id=user.pk)[:10]
    person = Person.objects.filter(user_id=user.pk).select_related("organisation").first()
    return render(
        request,
        "core/home.html",
        {"areas": areas, "recent": recent, "person": person, "teams": person.teams.all() if person else []},
    )


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
    from rest_framework.authtoken.models import Token

    return render(
        request,
        "core/preferences.html",
        {"form": form, "has_token": Token.objects.filter(user_id=user.pk).exists()},
    )


@login_required
@require_POST
def api_token(request: HttpRequest) -> HttpResponse:
    """Issue (shown once) or revoke the user's own API token."""
    user: Any = request.user
    if request.POST.get("action") == "revoke":
        services.revoke_api_token(user, actor=user)
        messages.success(request, "Your API token is revoked: scripts using it no longer work.")
        return HttpResponseRedirect(reverse("preferences"))
    key = services.issue_api_token(user, actor=user)
    response = render(request, "core/api_token.html", {"key": key})
    response["Cache-Control"] = "no-store"
    return response


@login_required
def grant_login(request: HttpRequest, pk: int) -> HttpResponse:
    person = RecordViews(registry.get(Person)).get_object(request, pk)
    if not services.may_grant_login(person, request.user):
        raise PermissionDenied("Only an administrator gives logins, to active people without one.")
    form = GrantLoginForm(
        request.POST if request.method == "POST" else None, initial={"username": (person.email or "").split("@")[0]}
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.grant_login(person, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, f"{person} can now log in.")
            return HttpResponseRedirect(person.get_absolute_url())
    return render(request, "core/grant_login.html", {"form": form, "person": person})


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
