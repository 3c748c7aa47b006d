"""`meridian cmdb_import_itop DIR_OR_ZIP [--dry-run] [--as USERNAME] [--authorised-by CHANGE]`: import iTop data (the
XML files of iTop's data loader, in a directory or a .zip) into the CMDB (`cmdb.itop`), with the same checks and
report as the page and the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError

from meridian.cmdb import itop
from meridian.core.services import get_system_actor


class Command(BaseCommand):
    help = (
        "Import iTop data (the XML files of iTop's data loader: a directory, read with its sub-directories, or a "
        ".zip) into the CMDB: organisations, locations, persons and teams, functional CIs and services as CIs, "
        "their links as relationships, farms as redundancy groups. Everything is checked first; every problem is "
        "printed as file: Class id.field. Without --dry-run it is then written all at once, or not at all when any "
        "object has a problem. Importing the same data again updates what changed and creates no duplicates."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("path", help="A directory of iTop XML files, or a .zip of them.")
        parser.add_argument("--dry-run", action="store_true", help="Check the files and report; write nothing.")
        parser.add_argument(
            "--authorised-by",
            default="",
            metavar="CHANGE",
            help="An approved change that lists the CIs under change control that the import changes (CHG-000123).",
        )
        parser.add_argument(
            "--as",
            dest="username",
            metavar="USERNAME",
            help="Import as this user, with their permissions (default: the system actor).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        actor: Any = get_system_actor()
        if options.get("username"):
            actor = get_user_model().objects.filter(username=options["username"], is_active=True).first()
            if actor is None:
                raise CommandError(f"No active user “{options['username']}”.")
        path = Path(options["path"])
        if not path.exists():
            raise CommandError(f"No directory or file {path}.")
        reason = f"iTop import of {path.name}"
        try:
            if path.is_dir():
                data = itop.read_directory(path)
            else:
                with path.open("rb") as fileobj:
                    data = itop.read_zip(fileobj)
            cited = options["authorised_by"]
            report = itop.run(data, actor=actor, dry_run=True, reason=reason, authorised_by=cited)
            if report.ok and not options["dry_run"]:
                report = itop.run(data, actor=actor, dry_run=False, reason=reason, authorised_by=cited)
        except itop.ItopRefused as exc:
            raise CommandError(f"file: {exc.message}") from None
        except PermissionDenied as exc:
            raise CommandError(str(exc) or "Permission denied.") from None
        for note in report.notes:
            self.stdout.write(note)
        for kind, counts in report.counts.items():
            if any(counts.values()):
                self.stdout.write(
                    f"{kind.replace('_', ' ')}: {counts['created']} new, {counts['updated']} updated, "
                    f"{counts['unchanged']} unchanged"
                )
        for problem in report.problems:
            self.stderr.write(str(problem))
        if report.problem_count > len(report.problems):
            self.stderr.write(f"… and {report.problem_count - len(report.problems)} more problem(s).")
        self.stdout.write(report.summary())
        if not report.ok:
            raise CommandError(f"{report.problem_count} problem(s): nothing was written.")
