"""The CMDB's own pages beside the generated ones: the NetBox import (`cmdb.netbox`), for configuration managers.

1. upload the NetBox dump: it is checked at once (a dry run) and kept as the person's ImportJob;
2. the dry run's report: per kind what would be created, updated or left unchanged, every problem by kind, position,
   NetBox id and field; nothing written;
3. import: by the task queue, with a progress bar (htmx polling), then the result.

Every step needs the role to add configuration items; a job is looked up among the person's own (another's: 404)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse

from meridian.cmdb import netbox
from meridian.core import imports

KIND_LABELS = {
    "tenants": "Tenants → organisations (customers)",
    "providers": "Providers → organisations (suppliers)",
    "regions": "Regions → locations",
    "sites": "Sites → locations",
    "locations": "Locations → locations",
    "racks": "Racks → locations",
    "clusters": "Clusters → CIs",
    "devices": "Devices → CIs",
    "virtual_machines": "Virtual machines → CIs",
    "circuits": "Circuits → CIs",
    "relationships": "Cables, VM hosts → relationships",
}


def _job(request: HttpRequest, job_id: Any) -> Any:
    netbox.require_import(request.user)
    job = netbox.job_for(job_id, request.user)
    if job is None:
        raise Http404("No such NetBox import of yours.")
    return job


def _context(**extra: Any) -> dict[str, Any]:
    return {
        "start_url": reverse("cmdb:netbox_import"),
        "list_url": reverse("cmdb:configurationitem_list"),
        "max_size": imports.max_size(),
        **extra,
    }


@login_required
def start(request: HttpRequest) -> HttpResponse:
    netbox.require_import(request.user)
    errors: list[str] = []
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            errors.append("Choose the NetBox dump (a .json file) to import.")
        else:
            try:
                cited = request.POST.get("authorised_by", "").strip()[:200]
                job, _ = netbox.check_file(
                    upload, upload.name or "netbox.json", actor=request.user, authorised_by=cited
                )
            except (netbox.NetboxRefused, imports.ImportRefused) as exc:
                errors.append(exc.message)
            else:
                return HttpResponseRedirect(reverse("cmdb:netbox_import_job", args=[job.pk]), status=303)
    return render(request, "cmdb/netbox_import.html", _context(errors=errors), status=400 if errors else 200)


def _rows(report: netbox.Report) -> list[dict[str, Any]]:
    return [{"kind": kind, "label": KIND_LABELS.get(kind, kind), **counts} for kind, counts in report.counts.items()]


@login_required
def job_page(request: HttpRequest, job_id: Any) -> HttpResponse:
    job = _job(request, job_id)
    Status = type(job).Status
    errors: list[str] = []
    if request.method == "POST":
        step = request.POST.get("step")
        if job.status != Status.CHECKED or not job.file:
            errors.append("This import has already run: upload the file again to import it again.")
        elif step == "commit":
            if (job.report or {}).get("problem_count"):
                errors.append("Correct the problems of the file first: nothing is imported while any remains.")
            else:
                from meridian.cmdb.tasks import run_netbox_job

                type(job).objects.filter(pk=job.pk).update(status=Status.QUEUED)
                run_netbox_job(str(job.pk), request.user.pk)
                return HttpResponseRedirect(reverse("cmdb:netbox_import_job", args=[job.pk]), status=303)
        elif step == "cancel":
            netbox.discard(job)
            return HttpResponseRedirect(reverse("cmdb:netbox_import"), status=303)
        else:
            errors.append("Choose a step: import the file or cancel.")
        job.refresh_from_db()
    report = netbox.Report.from_dict(job.report) if job.report else None
    context = _context(
        job=job,
        report=report,
        rows=_rows(report) if report else [],
        errors=errors,
        progress=netbox.job_progress(job),
        progress_url=reverse("cmdb:netbox_import_progress", args=[job.pk]),
    )
    return render(request, "cmdb/netbox_job.html", context, status=400 if errors else 200)


@login_required
def progress(request: HttpRequest, job_id: Any) -> HttpResponse:
    job = _job(request, job_id)
    context = _context(
        job=job,
        progress=netbox.job_progress(job),
        progress_url=reverse("cmdb:netbox_import_progress", args=[job.pk]),
    )
    response = render(request, "cmdb/_netbox_progress.html", context)
    if job.status in ("done", "failed") and request.headers.get("HX-Request"):
        response["HX-Refresh"] = "true"  # the finished import's page: counts and problems
    return response


urlpatterns = [
    path("netbox/import/", start, name="netbox_import"),
    path("netbox/import/<uuid:job_id>/", job_page, name="netbox_import_job"),
    path("netbox/import/<uuid:job_id>/progress/", progress, name="netbox_import_progress"),
]
