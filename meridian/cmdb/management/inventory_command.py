"""What the inventory import commands (`cmdb_import_netbox`, `cmdb_import_itop`) share: the actor (`--as`), the
authorising change (`--authorised-by`), the dry run then the import, and the report printed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError

from meridian.cmdb import inventory
from meridian.core.services import get_system_actor


class InventoryCommand(BaseCommand):
    """A subclass says what it reads: `read(path)` (the importer's dump, or `inventory.Refused`), `run` (the
    importer's `run`), `noun` for the audit reason ("NetBox import") and its path argument's help."""

    noun = "Inventory import"
    path_help = "The file to import."

    def read(self, path: Path) -> Any:
        raise NotImplementedError

    def run(self, dump: Any, **options: Any) -> inventory.Report:
        raise NotImplementedError

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("path", help=self.path_help)
        parser.add_argument("--dry-run", action="store_true", help="Check and report; write nothing.")
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
            raise CommandError(f"No file or directory {path}.")
        given = {"actor": actor, "reason": f"{self.noun} of {path.name}", "authorised_by": options["authorised_by"]}
        try:
            dump = self.read(path)
            report = self.run(dump, dry_run=True, **given)
            if report.ok and not options["dry_run"]:
                report = self.run(dump, dry_run=False, **given)
        except inventory.Refused as exc:
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
