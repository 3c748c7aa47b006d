"""The CMDB's own pages beside the generated ones: the inventory imports (`cmdb.netbox`, `cmdb.itop`, machinery in
`cmdb.inventory`), for configuration managers. For each source:

1. upload the file: it is checked at once (a dry run) and kept as the person's ImportJob;
2. the dry run's report: per kind what would be created, updated or left unchanged, every problem by where it is
   in the source and its field; nothing written;
3. import: by the task queue, with a progress bar (htmx polling), then the result.

Every step needs the role to add configuration items; a job is looked up among the person's own (another's: 404)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse

from meridian.cmdb import inventory, itop, netbox
from meridian.core import imports


@dataclass(frozen=True)
class Page:
    """What the pages say of a source."""

    key: str  # "netbox": url names `cmdb:<key>_import…`, element ids `<key>-…`
    source: inventory.Source
    title: str
    intro: str
    file_label: str
    file_help: str
    accept: str
    missing_file: str
    mapping_template: str
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.source.name


NETBOX = Page(
    key="netbox",
    source=netbox.SOURCE,
    title="Import a NetBox inventory",
    intro="Bring a network in from NetBox.",
    file_label="NetBox dump",
    file_help="The JSON of manage.py dumpdata of NetBox 3.x (a list of objects with “model” and “fields”)",
    accept=".json,application/json",
    missing_file="Choose the NetBox dump (a .json file) to import.",
    mapping_template="cmdb/_netbox_mapping.html",
    labels={
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
    },
)
ITOP = Page(
    key="itop",
    source=itop.SOURCE,
    title="Import iTop data",
    intro="Bring a CMDB in from iTop: organisations, locations, people, teams, CIs, services and their links.",
    file_label="iTop XML files (.zip)",
    file_help="A .zip of the XML files of iTop's data loader (one <Set> of objects per file; directories may stay)",
    accept=".zip,application/zip",
    missing_file="Choose the iTop XML files (a .zip) to import.",
    mapping_template="cmdb/_itop_mapping.html",
    labels={
        "organisations": "Organizations → organisations",
        "locations": "Locations → locations",
        "people": "Persons → people",
        "teams": "Teams → teams",
        **{cls: f"{cls} → CIs ({name})" for cls, (name, _) in itop.CLASS_MAP.items()},
        "redundancy_groups": "Farms → redundancy groups",
        "relationships": "Links → relationships",
    },
)
PAGES = {page.key: page for page in (NETBOX, ITOP)}


def _job(request: HttpRequest, page: Page, job_id: Any) -> Any:
    page.source.require(request.user)
    job = page.source.job_for(job_id, request.user)
    if job is None:
        raise Http404(f"No {page.name} import of yours.")
    return job


def _context(page: Page, **extra: Any) -> dict[str, Any]:
    return {
        "src": page,
        "start_url": reverse(f"cmdb:{page.key}_import"),
        "list_url": reverse("cmdb:configurationitem_list"),
        "max_size": imports.max_size(),
        **extra,
    }


@login_required
def start(request: HttpRequest, page: Page) -> HttpResponse:
    page.source.require(request.user)
    errors: list[str] = []
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            errors.append(page.missing_file)
        else:
            try:
                cited = request.POST.get("authorised_by", "").strip()[:200]
                job, _ = page.source.check_file(
                    upload, upload.name or page.source.default_file, actor=request.user, authorised_by=cited
                )
            except (inventory.Refused, imports.ImportRefused) as exc:
                errors.append(exc.message)
            else:
                return HttpResponseRedirect(reverse(f"cmdb:{page.key}_import_job", args=[job.pk]), status=303)
    return render(request, "cmdb/inventory_import.html", _context(page, errors=errors), status=400 if errors else 200)


def _rows(page: Page, report: inventory.Report) -> list[dict[str, Any]]:
    return [{"kind": kind, "label": page.labels.get(kind, kind), **counts} for kind, counts in report.counts.items()]


@login_required
def job_page(request: HttpRequest, page: Page, job_id: Any) -> HttpResponse:
    job = _job(request, page, job_id)
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
                from meridian.cmdb.tasks import run_inventory_job

                type(job).objects.filter(pk=job.pk).update(status=Status.QUEUED)
                run_inventory_job(page.key, str(job.pk), request.user.pk)
                return HttpResponseRedirect(reverse(f"cmdb:{page.key}_import_job", args=[job.pk]), status=303)
        elif step == "cancel":
            page.source.discard(job)
            return HttpResponseRedirect(reverse(f"cmdb:{page.key}_import"), status=303)
        else:
            errors.append("Choose a step: import the file or cancel.")
        job.refresh_from_db()
    report = page.source.report_class.from_dict(job.report) if job.report else None
    context = _context(
        page,
        job=job,
        report=report,
        rows=_rows(page, report) if report else [],
        errors=errors,
        progress=page.source.job_progress(job),
        progress_url=reverse(f"cmdb:{page.key}_import_progress", args=[job.pk]),
    )
    return render(request, "cmdb/inventory_job.html", context, status=400 if errors else 200)


@login_required
def progress(request: HttpRequest, page: Page, job_id: Any) -> HttpResponse:
    job = _job(request, page, job_id)
    context = _context(
        page,
        job=job,
        progress=page.source.job_progress(job),
        progress_url=reverse(f"cmdb:{page.key}_import_progress", args=[job.pk]),
    )
    response = render(request, "cmdb/_inventory_progress.html", context)
    if job.status in ("done", "failed") and request.headers.get("HX-Request"):
        response["HX-Refresh"] = "true"  # the finished import's page: counts and problems
    return response


urlpatterns = [
    url
    for page in PAGES.values()
    for url in (
        path(f"{page.key}/import/", start, {"page": page}, name=f"{page.key}_import"),
        path(f"{page.key}/import/<uuid:job_id>/", job_page, {"page": page}, name=f"{page.key}_import_job"),
        path(
            f"{page.key}/import/<uuid:job_id>/progress/",
            progress,
            {"page": page},
            name=f"{page.key}_import_progress",
        ),
    )
]
