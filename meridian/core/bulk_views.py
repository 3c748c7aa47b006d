"""Pages of a bulk action (`core.bulk`) for every registered type, reached from its list:

1. on the list, tick rows (or "all N matching the filters"), choose an action, Go;
2. the action's page: how many records and which, the input (the fields to change, the action's form, a reason),
   Confirm — or, for an export, the file at once;
3. the job's page: progress while it runs in the background (htmx polling), then what changed and every record
   refused with the reason, as a table and a CSV download.

A job is its starter's own (another person's is 404)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone

from meridian.core import actions, bulk, policy
from meridian.core.registry import EXPORT, VIEW, RecordType

EXPORTS = {"export_csv": "csv", "export_xlsx": "xlsx"}
SAMPLE = 8  # records named on the confirmation page


class BulkViews:
    def __init__(self, record_type: RecordType) -> None:
        self.rt = record_type

    def _list_url(self, query: str = "") -> str:
        url = reverse(self.rt.url_name("list"))
        return f"{url}?{query}" if query else url

    def _selection(self, request: HttpRequest) -> bulk.Selection:
        if request.POST.get("all"):
            return bulk.select_matching(self.rt, request, QueryDict(request.POST.get("query", "")))
        chosen = bulk.parse_page_selection(request.POST.getlist("selected"))
        return bulk.select_ids(self.rt, request.user, chosen)

    def start(self, request: HttpRequest) -> HttpResponse:
        """POST from the list (the action's page), then POST `confirm` from that page (the job)."""
        from meridian.core.views import RecordViews

        rt, user = self.rt, request.user
        if not policy.has_role_permission(user, VIEW, rt.model):
            raise PermissionDenied(f"You may not view {rt.verbose_name_plural}.")
        query = request.POST.get("query", "")
        if request.method != "POST":
            return HttpResponseRedirect(self._list_url(query))
        name = request.POST.get("action", "")
        try:
            if not name:
                raise ValidationError({"action": "Choose what to do with the records ticked."})
            action = None if name in EXPORTS else bulk.require(rt, name, user)
            selection = self._selection(request)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return HttpResponseRedirect(self._list_url(query), status=303)
        if action is None:  # an export of the selected rows: the list's own columns and order
            if not policy.has_role_permission(user, EXPORT, rt.model):
                raise PermissionDenied(f"You may not export {rt.verbose_name_plural}.")
            from meridian.core.tables import available_columns, chosen_columns

            given = [c for c in request.POST.get("columns", "").split(",") if c in available_columns(rt)]
            records = RecordViews(rt).queryset(request).filter(pk__in=[pk for pk, _ in selection.rows])
            request.GET = QueryDict(query)  # type: ignore[assignment]  # the list's sort
            return RecordViews(rt).export(request, records, EXPORTS[name], given or chosen_columns(rt, user))
        sample_records = list(
            rt.model._default_manager.filter(pk__in=[pk for pk, _ in selection.rows[:SAMPLE]]).order_by("pk")
        )
        errors: dict[str, list[str]] = {}
        status = 200
        if request.POST.get("confirm"):
            try:
                job = bulk.start(
                    rt, action.name, selection, actor=user, channel=bulk.PAGE, data=request.POST, back=query
                )
            except ValidationError as exc:
                errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
                status = 400
            else:
                return HttpResponseRedirect(reverse(rt.url_name("bulk_job"), args=[job.pk]), status=303)
        form = self._form(action, request, sample_records, bound=status == 400)
        if form is not None and form.is_bound:
            form.is_valid()  # the form says its own fields' errors, as `bulk.start` found them
        top = [e for key, errs in errors.items() if form is None or key not in form.fields for e in errs]
        context = {
            "rt": rt,
            "action": action,
            "form": form,
            "fields": self._edit_rows(form) if action.name == bulk.EDIT else [],
            "selection": selection,
            "sample": [policy.shown(user, obj) for obj in sample_records],
            "more": selection.total - min(len(sample_records), SAMPLE),
            "hidden": self._carried(request),
            "list_url": self._list_url(query),
            "errors": top,
            "inline_limit": bulk.inline_limit(),
        }
        return render(request, "core/bulk_action.html", context, status=status)

    def _carried(self, request: HttpRequest) -> list[tuple[str, str]]:
        """The selection, carried from the list to the confirmation as hidden fields."""
        carried = [("action", request.POST.get("action", "")), ("query", request.POST.get("query", ""))]
        if request.POST.get("all"):
            carried.append(("all", "1"))
        else:
            carried += [("selected", value) for value in request.POST.getlist("selected")]
        return carried

    def _form(self, action: bulk.BulkAction, request: HttpRequest, sample: list[Any], *, bound: bool) -> Any:
        from django import forms

        data = request.POST if bound else None
        if action.name == bulk.EDIT:
            return bulk.EditForm(data, record_type=self.rt, user=request.user)
        if action.record_action is not None and sample:
            form = actions.page_form_class(action.record_action)(data, obj=sample[0], user=request.user)
            del form.fields["version"]
            return form
        reason = forms.Form(data)
        reason.fields["reason"] = forms.CharField(
            label="Reason",
            required=False,
            widget=forms.Textarea(attrs={"rows": 2, "class": "form-control"}),
            help_text="Kept in each record's history." if action.name == bulk.REMOVE else "",
        )
        if self.rt.control is not None:  # `core.control`: the change the deletes cite
            from meridian.core import control

            reason.fields[control.FIELD] = control.form_field()
            reason.fields[control.FIELD].widget.attrs["class"] = "form-control"
        return reason if action.name == bulk.REMOVE else None

    def _edit_rows(self, form: Any) -> list[dict[str, Any]]:
        chosen = set(form.chosen) if form.is_bound else set()
        return [{"field": form[name], "ticked": name in chosen} for name in form.changeable]

    def _job(self, request: HttpRequest, job_id: Any) -> Any:
        job = bulk.job_for(job_id, request.user)
        if job is None or job.record_type != self.rt.label:
            raise Http404("No such bulk action of yours.")
        return job

    def job(self, request: HttpRequest, job_id: Any) -> HttpResponse:
        """The job's page; htmx asks for its progress part alone while it runs; `?format=csv` the refused rows."""
        job = self._job(request, job_id)
        if request.GET.get("format") == "csv":
            response = HttpResponse(bulk.report_csv(job), content_type="text/csv; charset=utf-8")
            stamp = timezone.localtime(job.created_at).strftime("%Y%m%d-%H%M")
            response["Content-Disposition"] = f'attachment; filename="bulk-{self.rt.url_slug}-{stamp}.csv"'
            return response
        context = {
            "rt": self.rt,
            "job": job,
            "refused_count": bulk.refused_count(job),
            "list_url": self._list_url((job.params or {}).get("back", "")),
            "job_url": reverse(self.rt.url_name("bulk_job"), args=[job.pk]),
            "detail_name": self.rt.url_name("detail"),
        }
        if request.headers.get("HX-Request"):
            response = render(request, "core/_bulk_progress.html", context)
            if job.finished:
                response["HX-Refresh"] = "true"  # the finished job's page: counts and refused rows
            return response
        return render(request, "core/bulk_job.html", context)


def patterns_for(rt: RecordType) -> list[Any]:
    """The bulk pages of a type: `<app>:<model>_bulk` and `_bulk_job`."""
    from django.contrib.auth.decorators import login_required

    views = BulkViews(rt)
    name, slug = rt.model_name, rt.url_slug
    return [
        path(f"{slug}/bulk/", login_required(views.start), name=f"{name}_bulk"),
        path(f"{slug}/bulk/<uuid:job_id>/", login_required(views.job), name=f"{name}_bulk_job"),
    ]
