"""What the inventory importers (`cmdb.netbox`, `cmdb.itop`) share: the report, the dry run as a rolled-back
transaction, the writes of CIs and relationships through `core.services` (a CI walks its lifecycle to the status its
source says), and the jobs of the page and the API (upload, dry run, commit in the background, progress).

An importer reads its source into a "dump", then `run(dump, actor=..., dry_run=...)` returns a `Report`:

    report = Report(dry_run)                          # counts per kind, problems, notes
    rolled_back_unless_clean(report, importer.apply)  # all of it in one transaction, or nothing

`Source` holds what the jobs need of an importer (how to read a file, how to run, its job type) and gives the
steps of the page and the API: `save_upload`, `check_job`, `check_file`, `commit_job`, `job_for`, `job_progress`."""

from __future__ import annotations

import contextlib
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any, ClassVar

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from meridian.cmdb.choices import CIStatus
from meridian.cmdb.models import ConfigurationItem, Relationship, RelationshipKind
from meridian.cmdb.workflows import CI_LIFECYCLE
from meridian.core import imports, policy, services
from meridian.core.registry import ADD

MAX_PROBLEMS = 1000


class Refused(Exception):
    """The file is not one the importer can read at all: nothing was checked or written."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = "file"


@dataclass
class Problem:
    """One problem of the file: the report's kind, the object's position (or None), its id in the source, the
    source's field at fault and the message; `file` where the source is several files."""

    kind: str
    row: int | None
    ident: Any
    field: str
    message: str
    file: str = ""

    SOURCE: ClassVar[str] = "source"  # "NetBox": "(NetBox id 13)"
    ID_KEY: ClassVar[str] = "id"  # the key of the id in `as_dict`

    @property
    def where(self) -> str:
        if not self.kind:
            return self.field or "file"
        text = self.kind if self.row is None else f"{self.kind}[{self.row}]"
        return f"{text}.{self.field}" if self.field else text

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "row": self.row,
            self.ID_KEY: self.ident,
            "field": self.field,
            "where": self.where,
            "message": self.message,
            **({"file": self.file} if self.file else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Problem:
        return cls(
            data["kind"], data["row"], data.get(cls.ID_KEY), data["field"], data["message"], data.get("file", "")
        )

    def __str__(self) -> str:
        ident = f" ({self.SOURCE} id {self.ident})" if self.ident is not None else ""
        return f"{self.where}{ident}: {self.message}"


def zeros() -> dict[str, int]:
    return {"created": 0, "updated": 0, "unchanged": 0}


@dataclass
class Report:
    """What an import did or would do, per kind: created, updated, unchanged; every problem (the first
    MAX_PROBLEMS listed, all counted); notes on what the file holds that is not mapped. A subclass names its source
    (`NOUN`), its kinds in order (`KINDS`, more may be counted) and its problems (`PROBLEM`)."""

    dry_run: bool
    committed: bool = False
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    problem_count: int = 0
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    objects: int = 0  # source objects read (of the kinds mapped)

    KINDS: ClassVar[tuple[str, ...]] = ()
    NOUN: ClassVar[str] = "object"  # "NetBox object"
    PROBLEM: ClassVar[type[Problem]] = Problem

    def __post_init__(self) -> None:
        self.counts = {**{kind: zeros() for kind in self.KINDS}, **self.counts}

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def add(self, kind: str, row: int | None, ident: Any, field_name: str, message: str, file: str = "") -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(self.PROBLEM(kind, row, ident, field_name, message, file))

    def count(self, kind: str, what: str) -> None:
        self.counts.setdefault(kind, zeros())[what] += 1

    def total(self, what: str) -> int:
        return sum(c[what] for c in self.counts.values())

    def summary(self) -> str:
        if self.dry_run:
            verbs = ("would create", "would update")
        elif self.committed:
            verbs = ("created", "updated")
        else:
            verbs = ("would have created", "would have updated")
        text = (
            f"{self.objects} {self.NOUN}(s): {verbs[0]} {self.total('created')}, {verbs[1]} "
            f"{self.total('updated')}, unchanged {self.total('unchanged')}; {self.problem_count} problem(s)."
        )
        if not self.committed:
            text += " Nothing was written."
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "committed": self.committed,
            "objects": self.objects,
            "counts": self.counts,
            "problem_count": self.problem_count,
            "problems": [p.as_dict() for p in self.problems],
            "notes": self.notes,
            "summary": self.summary(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        report = cls(bool(data.get("dry_run")), bool(data.get("committed")), counts=dict(data.get("counts", {})))
        report.problem_count = int(data.get("problem_count", 0))
        report.problems = [cls.PROBLEM.from_dict(p) for p in data.get("problems", [])]
        report.notes = list(data.get("notes", []))
        report.objects = int(data.get("objects", 0))
        return report


class _RollBack(Exception):
    """Ends the transaction of a dry run, or of an import with problems: nothing it wrote is kept."""


def rolled_back_unless_clean(report: Report, apply: Callable[[], None]) -> Report:
    """Run `apply` (every write of the import) in one transaction, kept only when the report is not a dry run and
    has no problem: a dry run is the real import, rolled back, so it checks by exactly the rules of the commit."""
    try:
        with transaction.atomic():
            apply()
            if report.dry_run or not report.ok:
                raise _RollBack
    except _RollBack:
        return report
    report.committed = True
    return report


def may_import(actor: Any) -> bool:
    """Importing an inventory needs the role to add configuration items (configuration managers, administrators)."""
    return policy.can(actor, ADD, ConfigurationItem)


def require_import(actor: Any, source: str) -> None:
    if not may_import(actor):
        raise PermissionDenied(f"Your roles do not allow adding configuration items, so no {source} import either.")


def lifecycle_path(current: str, target: str) -> list[str] | None:
    """The shortest list of lifecycle actions from one CI status to another (None: the lifecycle has none)."""
    seen = {current}
    queue: deque[tuple[str, list[str]]] = deque([(current, [])])
    while queue:
        state, path = queue.popleft()
        if state == target:
            return path
        for t in CI_LIFECYCLE.transitions:
            if state in t.source and t.target not in seen:
                seen.add(t.target)
                queue.append((t.target, [*path, t.action]))
    return None


def refusal_messages(exc: Exception, fields: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """A service's refusal as (source field, message) pairs: each model field named as the source field it came
    from (`fields`: model field -> source field), "" for the object as a whole."""
    fields = fields or {}
    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
        return [
            (fields.get(name, name if name != "__all__" else ""), " ".join(messages))
            for name, messages in exc.message_dict.items()
        ]
    if isinstance(exc, ValidationError):
        return [("", " ".join(exc.messages))]
    return [("", str(exc) or exc.__class__.__name__)]


class Writer:
    """The writes an importer makes of CIs and relationships, all through `core.services` as `actor`, with `reason`
    and, for CIs under change control, the change `authorised_by` (`core.control`)."""

    def __init__(
        self,
        report: Report,
        *,
        actor: Any,
        reason: str,
        progress: Callable[[int], None] | None,
        authorised_by: str,
        key_field: str,
    ) -> None:
        self.report = report
        self.actor = actor
        self.reason = reason
        self.progress = progress
        self.authorised_by = authorised_by
        self.key_field = key_field  # the CI attribute that finds a CI again ("netbox_id")
        self.done = 0

    def tick(self) -> None:
        self.done += 1
        if self.progress and self.done % 25 == 0:
            self.progress(self.done)

    def existing_cis(self) -> dict[str, ConfigurationItem]:
        """The CIs imported before, by their key attribute."""
        return {
            str(ci.custom.get(self.key_field)): ci
            for ci in ConfigurationItem.objects.select_related("ci_class").filter(custom__has_key=self.key_field)
        }

    def save_ci(
        self,
        key: str,
        wanted: dict[str, Any],
        attrs: dict[str, Any],
        status: str,
        current: ConfigurationItem | None,
    ) -> tuple[ConfigurationItem, str]:
        """Create the CI (planned, then through its lifecycle to `status`) or update the fields and attributes the
        importer maps of the `current` one: (the CI, "created" / "updated" / "unchanged"). Raises the services'
        ValidationError, PermissionDenied, TransitionNotAllowed, StaleVersion."""
        attrs = {k: v for k, v in attrs.items() if v not in (None, "")}
        if current is None:
            data = {**wanted, "custom": {self.key_field: key, **attrs}}
            ci = services.create_record(ConfigurationItem, data=data, actor=self.actor, reason=self.reason)
            return self.move(ci, status), "created"
        changes = {k: v for k, v in wanted.items() if getattr(current, k) != v}
        custom = {k: v for k, v in attrs.items() if current.custom.get(k) != v}
        if custom:
            changes["custom"] = custom
        ci = current
        if changes:
            ci = services.update_record(
                current,
                data=changes,
                actor=self.actor,
                expected_version=current.version,
                reason=self.reason,
                authorised_by=self.authorised_by,
            )
        changed = bool(changes) or ci.status != status
        return self.move(ci, status), "updated" if changed else "unchanged"

    def move(self, ci: ConfigurationItem, status: str) -> ConfigurationItem:
        """The CI through the lifecycle's actions to `status` (each one audited)."""
        if ci.status == status:
            return ci
        path = lifecycle_path(ci.status, status)
        if path is None:
            raise ValidationError(
                {"status": f"A CI cannot go from “{ci.get_status_display()}” to “{CIStatus(status).label}”."}
            )
        for action in path:
            ci = services.transition(
                ci,
                action,
                actor=self.actor,
                expected_version=ci.version,
                reason=f"{self.reason}: source status",
                authorised_by=self.authorised_by,
            )
        return ci

    def existing_relationships(self, cis: list[ConfigurationItem]) -> set[tuple[int, int, int]]:
        ids = [ci.pk for ci in cis]
        return set(Relationship.objects.filter(source_id__in=ids).values_list("source_id", "kind_id", "target_id"))

    def relate(
        self,
        source: ConfigurationItem,
        kind: RelationshipKind,
        target: ConfigurationItem,
        note: str,
        existing: set[tuple[int, int, int]],
        seen: set[tuple[int, int, int]],
    ) -> str | None:
        """`source <kind> target` unless it is there: "created", "unchanged", None (a duplicate of this run), or
        the refusal's message (a str starting with the two CIs)."""
        triple = (source.pk, kind.pk, target.pk)
        if triple in seen:
            return None
        seen.add(triple)
        if triple in existing:
            return "unchanged"
        data = {"source": source, "kind": kind, "target": target, "note": note}
        try:
            services.create_record(
                Relationship, data=data, actor=self.actor, reason=self.reason, authorised_by=self.authorised_by
            )
        except (ValidationError, PermissionDenied) as exc:
            messages = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
            return f"{source} {kind.forward_label} {target}: {' '.join(messages)}"
        return "created"


# --- jobs: the page's and the API's two steps (dry run, then commit), and the background task -------------------


@dataclass(frozen=True)
class Source:
    """An importer as its jobs see it. `read(fileobj)` -> dump (raises `Refused`); `run(dump, actor=, dry_run=,
    reason=, progress=, authorised_by=)` -> Report; `total(dump)` -> about how many steps an import takes."""

    name: str  # "NetBox"
    job_type: str  # ImportJob.record_type: "cmdb.netbox"
    default_file: str  # "netbox.json"
    read: Callable[[IO[bytes]], Any]
    run: Callable[..., Report]
    total: Callable[[Any], int]
    report_class: type[Report]

    def require(self, actor: Any) -> None:
        require_import(actor, self.name)

    def save_upload(self, fileobj: IO[bytes], file_name: str, *, actor: Any) -> Any:
        """Keep an uploaded file as a new ImportJob (its id is the token of the later steps) in the attachments
        storage, like `core.imports.save_upload`. Refuses an importer without the role, an empty or too large
        file (`core.imports.ImportRefused`)."""
        from django.core.files import File

        from meridian.core.models import ImportJob

        self.require(actor)
        imports.check_size(fileobj)
        job = ImportJob(
            record_type=self.job_type,
            created_by=actor,
            file_name=(file_name or self.default_file)[:255],
            sha256=imports._hash(fileobj),
            status=ImportJob.Status.UPLOADED,
        )
        job.file = imports._storage().save(f"imports/{job.pk}", File(fileobj, name=str(job.pk)))
        job.save()
        return job

    def check_job(self, job: Any, *, actor: Any, authorised_by: str = "") -> Report:
        """The dry run of a job's file; its report is kept on the job, which is then ready to commit. `Refused`
        (not a file of the source) leaves the job as uploaded."""
        from meridian.core.models import ImportJob

        with imports._storage().open(job.file, "rb") as fileobj:
            dump = self.read(fileobj)
        report = self.run(
            dump,
            actor=actor,
            dry_run=True,
            reason=f"{self.name} import of {job.file_name}",
            authorised_by=authorised_by,
        )
        job.options = {**(job.options or {}), "authorised_by": authorised_by}  # the commit cites the same change
        job.status = ImportJob.Status.CHECKED
        job.total_rows = self.total(dump)
        job.report = report.as_dict()
        job.save(update_fields=["options", "status", "total_rows", "report"])
        return report

    def check_file(
        self, fileobj: IO[bytes], file_name: str, *, actor: Any, authorised_by: str = ""
    ) -> tuple[Any, Report]:
        """`save_upload` and `check_job` at once. A file that cannot be read is not kept."""
        job = self.save_upload(fileobj, file_name, actor=actor)
        try:
            return job, self.check_job(job, actor=actor, authorised_by=authorised_by)
        except BaseException:
            self.discard(job)
            raise

    def discard(self, job: Any) -> None:
        """Forget a job and its file (a refused upload, a cancelled dry run)."""
        imports.discard_file(job)
        job.delete()

    def job_for(self, token: Any, actor: Any) -> Any:
        """The import job of a token, if it is the actor's own and of this source."""
        from meridian.core.models import ImportJob

        try:
            pk = uuid.UUID(str(token))
        except ValueError:
            return None
        return ImportJob.objects.filter(pk=pk, created_by=actor, record_type=self.job_type).first()

    def progress_key(self, job: Any) -> str:
        return f"meridian:{self.job_type}-import:{job.pk}"

    def commit_job(self, job: Any, *, actor: Any) -> Report:
        """Import the file of a checked job, recording progress (in the cache, outside the transaction) and the
        report on the job; the file is removed once the import is done or refused."""
        from django.core.cache import cache
        from django.utils import timezone

        from meridian.core.models import ImportJob

        ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.RUNNING, done_rows=0)
        key = self.progress_key(job)

        def progress(done: int) -> None:
            with contextlib.suppress(Exception):  # progress is a courtesy; the import goes on without it
                cache.set(key, done, 3600)

        try:
            with imports._local_copy(job.file) as fileobj:
                dump = self.read(fileobj)
            report = self.run(
                dump,
                actor=actor,
                dry_run=False,
                reason=f"{self.name} import of {job.file_name}",
                progress=progress,
                authorised_by=(job.options or {}).get("authorised_by") or "",
            )
        except Refused as exc:
            report = self.report_class(dry_run=False)
            report.add("", None, None, "file", exc.message)
        except PermissionDenied as exc:
            report = self.report_class(dry_run=False)
            report.add("", None, None, "", str(exc))
        job.status = ImportJob.Status.DONE if report.committed else ImportJob.Status.FAILED
        job.report = report.as_dict()
        job.done_rows = job.total_rows
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "report", "done_rows", "finished_at"])
        imports.discard_file(job)
        cache.delete(key)
        return report

    def job_progress(self, job: Any) -> int:
        """Steps done of a running job (see `total`)."""
        from django.core.cache import cache

        if job.status == job.Status.RUNNING:
            try:
                return min(int(cache.get(self.progress_key(job)) or 0), job.total_rows)
            except Exception:  # noqa: BLE001
                return 0
        return job.done_rows


def needed_defaults(
    report: Report, classes_needed: Any, kinds_needed: Any, key_field: str, migration: str
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The CI classes and relationship kinds an importer writes with, by name, once it has checked that they and its
    key attribute are there; else None, with one problem saying what is missing and which migration makes it."""
    from meridian.cmdb.models import CIClass
    from meridian.core.models import CustomField

    classes = {c.name: c for c in CIClass.objects.filter(name__in=classes_needed)}
    kinds = {k.name: k for k in RelationshipKind.objects.filter(name__in=kinds_needed)}
    has_key = CustomField.objects.filter(applies_to="cmdb.configurationitem", name=key_field).exists()
    missing = [f"CI class “{n}”" for n in classes_needed if n not in classes]
    missing += [f"relationship kind “{n}”" for n in kinds_needed if n not in kinds]
    missing += [] if has_key else [f"CI attribute “{key_field}”"]
    if missing:
        report.add(
            "", None, None, "file", f"Missing in this CMDB: {', '.join(missing)} (migration {migration} makes them)."
        )
        return None
    return classes, kinds
