"""Pages of an import (`core.imports`), for every registered type, reached by the "Import" button of its list:

1. upload a file (and, optionally, the field to match existing records on);
2. when the file needs it: choose the sheet of a workbook, map the columns whose headers are not field names;
3. the dry run's report: what would be created and updated, every problem by row, column and message;
4. commit: at once, or for a long file (more than `MERIDIAN_IMPORT_BACKGROUND_ROWS` rows) by the task queue with a
   progress bar (htmx polling); the result report can be downloaded as CSV.

Every step is the importer's own job (`ImportJob`, looked up among theirs: another person's is 404) and needs the
permission to add records of the type."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone

from meridian.core import custom_fields, imports
from meridian.core.registry import RecordType

NO_KEY = ""


def _key_choices(rt: RecordType) -> list[tuple[str, str]]:
    return [(NO_KEY, "Do not update: create a record per row"), *imports.key_fields(rt)]


class ImportViews:
    def __init__(self, record_type: RecordType) -> None:
        self.rt = record_type

    def _context(self, request: HttpRequest, **extra: Any) -> dict[str, Any]:
        return {
            "rt": self.rt,
            "list_url": reverse(self.rt.url_name("list")),
            "start_url": reverse(self.rt.url_name("import")),
            "key_choices": _key_choices(self.rt),
            "background_rows": imports.background_threshold(),
            "max_size": imports.max_size(),
            **extra,
        }

    def _require(self, request: HttpRequest) -> None:
        imports.require_import(self.rt, request.user)

    def _job(self, request: HttpRequest, job_id: Any) -> Any:
        self._require(request)
        job = imports.job_for(job_id, self.rt, request.user)
        if job is None:
            raise Http404("No such import of yours.")
        return job

    def _job_url(self, job: Any) -> str:
        return reverse(self.rt.url_name("import_job"), args=[job.pk])

    def start(self, request: HttpRequest) -> HttpResponse:
        self._require(request)
        errors: list[str] = []
        update_on = request.POST.get("update_on", NO_KEY) if request.method == "POST" else NO_KEY
        cited = request.POST.get("authorised_by", "").strip()[:200] if self.rt.control is not None else ""
        if request.method == "POST":
            upload = request.FILES.get("file")
            if upload is None:
                errors.append("Choose a file to import.")
            elif update_on not in dict(_key_choices(self.rt)):
                errors.append("Choose a field to match records on from the list.")
            else:
                try:
                    job = imports.save_upload(self.rt, upload, upload.name or "upload", actor=request.user)
                except imports.ImportRefused as exc:
                    errors.append(exc.message)
                else:
                    try:
                        imports.check_job(job, actor=request.user, update_on=update_on or None, authorised_by=cited)
                    except imports.ImportRefused as exc:
                        if exc.field != "sheet":
                            imports.discard_file(job)
                            job.delete()
                            errors.append(exc.message)
                        else:
                            job.options = {"update_on": update_on, "sheet": "", "mapping": {}, "authorised_by": cited}
                            job.save(update_fields=["options"])
                    if not errors:
                        return HttpResponseRedirect(self._job_url(job), status=303)
        context = self._context(request, errors=errors, update_on=update_on, authorised_by=cited)
        return render(request, "core/import_start.html", context, status=400 if errors else 200)

    def _options_form(self, job: Any, report: imports.Report | None) -> dict[str, Any]:
        """The sheet question and the mapping step: the file's headers, each with the field it goes to."""
        options = job.options or {}
        sheet = options.get("sheet") or None
        found: dict[str, Any] = {"sheets": [], "headers": [], "sheet": sheet or "", "refusal": ""}
        try:
            with imports._storage().open(job.file, "rb") as fileobj:
                source = imports.open_source(fileobj, job.file_name, sheet=sheet)
                found["headers"] = source.headers
                found["sheets"] = source.sheets if len(source.sheets) > 1 else []
        except imports.ImportRefused as exc:
            found["refusal"] = exc.message
            found["sheets"] = exc.choices
        mapping = options.get("mapping") or {}
        matched = report.columns if report else {}
        definitions = custom_fields.definitions(self.rt, job.created_by)
        found["targets"] = imports.available_targets(self.rt, definitions)
        found["rows"] = [
            {
                "header": header,
                "index": index,
                "chosen": mapping.get(header, matched.get(header, "?"))
                if header in mapping or header in matched
                else "?",
            }
            for index, header in enumerate(found["headers"])
        ]
        found["needs_mapping"] = bool(report and any(p.row == imports.HEADER_ROW for p in report.problems))
        return found

    def job(self, request: HttpRequest, job_id: Any) -> HttpResponse:
        job = self._job(request, job_id)
        Status = type(job).Status
        errors: list[str] = []
        if request.method == "POST":
            step = request.POST.get("step")
            if job.status not in (Status.UPLOADED, Status.CHECKED) or not job.file:
                errors.append("This import has already run: start a new one to import the file again.")
            elif step == "check":
                update_on = request.POST.get("update_on", NO_KEY)
                cited = request.POST.get("authorised_by", "").strip()[:200] if self.rt.control is not None else ""
                sheet = request.POST.get("sheet") or None
                mapping = {}
                for index, header in enumerate(request.POST.getlist("header")):
                    chosen = request.POST.get(f"map-{index}", "?")
                    if chosen != "?":
                        mapping[header] = chosen
                try:
                    imports.check_job(
                        job,
                        actor=request.user,
                        update_on=update_on or None,
                        sheet=sheet,
                        mapping=mapping,
                        authorised_by=cited,
                    )
                except imports.ImportRefused as exc:
                    errors.append(exc.message)
                    job.options = {
                        "update_on": update_on,
                        "sheet": sheet or "",
                        "mapping": mapping,
                        "authorised_by": cited,
                    }
                    job.save(update_fields=["options"])
                else:
                    return HttpResponseRedirect(self._job_url(job), status=303)
            elif step == "commit":
                if job.status != Status.CHECKED or (job.report or {}).get("problem_count"):
                    errors.append("Correct the problems of the file first: nothing is imported while any remains.")
                elif job.total_rows > imports.background_threshold():
                    from meridian.core.tasks import run_import_job

                    type(job).objects.filter(pk=job.pk).update(status=Status.QUEUED)
                    run_import_job(str(job.pk), request.user.pk)
                    return HttpResponseRedirect(self._job_url(job), status=303)
                else:
                    imports.commit_job(job, actor=request.user)
                    return HttpResponseRedirect(self._job_url(job), status=303)
            elif step == "cancel":
                imports.discard_file(job)
                job.delete()
                return HttpResponseRedirect(reverse(self.rt.url_name("list")), status=303)
            else:
                errors.append("Choose a step: check the file or import it.")
            job.refresh_from_db()
        report = imports.Report.from_dict(job.report) if job.report else None
        options = (
            self._options_form(job, report) if job.status in (Status.UPLOADED, Status.CHECKED) and job.file else {}
        )
        context = self._context(
            request,
            job=job,
            report=report,
            errors=errors,
            options=options,
            update_on=(job.options or {}).get("update_on", NO_KEY),
            authorised_by=(job.options or {}).get("authorised_by", ""),
            progress=imports.job_progress(job),
            progress_url=reverse(self.rt.url_name("import_progress"), args=[job.pk]),
            report_url=reverse(self.rt.url_name("import_report"), args=[job.pk]),
        )
        return render(request, "core/import_job.html", context, status=400 if errors else 200)

    def progress(self, request: HttpRequest, job_id: Any) -> HttpResponse:
        job = self._job(request, job_id)
        report = imports.Report.from_dict(job.report) if job.report and job.status in ("done", "failed") else None
        context = self._context(
            request,
            job=job,
            report=report,
            progress=imports.job_progress(job),
            progress_url=reverse(self.rt.url_name("import_progress"), args=[job.pk]),
            report_url=reverse(self.rt.url_name("import_report"), args=[job.pk]),
        )
        response = render(request, "core/import_progress.html", context)
        if job.status in ("done", "failed") and request.headers.get("HX-Request"):
            response["HX-Refresh"] = "true"  # the finished import's page: counts, problems, download
        return response

    def report_csv(self, request: HttpRequest, job_id: Any) -> HttpResponse:
        job = self._job(request, job_id)
        if not job.report:
            raise Http404("This import has no report yet.")
        report = imports.Report.from_dict(job.report)
        response = HttpResponse(report.csv_text(), content_type="text/csv; charset=utf-8")
        stamp = timezone.localtime(job.created_at).strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="import-{self.rt.url_slug}-{stamp}.csv"'
        return response


def patterns_for(rt: RecordType) -> list[Any]:
    """The import pages of a type: `<app>:<model>_import`, `_import_job`, `_import_progress`, `_import_report`."""
    from django.contrib.auth.decorators import login_required

    views = ImportViews(rt)
    name, slug = rt.model_name, rt.url_slug
    return [
        path(f"{slug}/import/", login_required(views.start), name=f"{name}_import"),
        path(f"{slug}/import/<uuid:job_id>/", login_required(views.job), name=f"{name}_import_job"),
        path(f"{slug}/import/<uuid:job_id>/progress/", login_required(views.progress), name=f"{name}_import_progress"),
        path(f"{slug}/import/<uuid:job_id>/report.csv", login_required(views.report_csv), name=f"{name}_import_report"),
    ]
