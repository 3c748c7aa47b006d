"""`meridian import TYPE FILE [--dry-run] [--update-on KEY] [--sheet NAME] [--as USERNAME]`: import records of a
registered type from CSV, XLSX or JSON (`core.imports`), with the same checks and report as the page and the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError

from meridian.core import imports
from meridian.core.services import get_system_actor


class Command(BaseCommand):
    help = (
        "Import records of a type (e.g. organisations, people, core.location) from a CSV, XLSX or JSON file. The "
        "whole file is checked first; every problem is printed as row, column and message. Without --dry-run the "
        "records are then written all at once, or not at all when any row has a problem."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("type", help="The record type: its plural (people), name (person) or label (core.person).")
        parser.add_argument("file", help="A .csv, .xlsx or .json file.")
        parser.add_argument("--dry-run", action="store_true", help="Check the file and report; write nothing.")
        parser.add_argument(
            "--update-on",
            metavar="KEY",
            help="Update the records whose KEY (a field such as name or email, or id, reference) matches a row; "
            "rows that match none are created.",
        )
        parser.add_argument("--sheet", metavar="NAME", help="The sheet of an XLSX workbook with several.")
        parser.add_argument(
            "--as",
            dest="username",
            metavar="USERNAME",
            help="Import as this user, with their permissions (default: the system actor).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            record_type = imports.find_type(options["type"])
        except LookupError as exc:
            raise CommandError(str(exc)) from None
        actor: Any = get_system_actor()
        if options.get("username"):
            actor = get_user_model().objects.filter(username=options["username"], is_active=True).first()
            if actor is None:
                raise CommandError(f"No active user “{options['username']}”.")
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"No file {path}.")

        def run(**how: Any) -> imports.Report:
            with path.open("rb") as fileobj:
                source = imports.open_source(fileobj, path.name, sheet=options.get("sheet"))
                return imports.run(record_type, source, actor=actor, update_on=options.get("update_on"), **how)

        try:
            report = run(dry_run=True)
            if report.ok and not options["dry_run"]:
                report = run(dry_run=False, expected_versions=report.versions)
        except imports.ImportRefused as exc:
            raise CommandError(f"{exc.field}: {exc.message}") from None
        except PermissionDenied as exc:
            raise CommandError(str(exc) or "Permission denied.") from None
        for note in report.notes:
            self.stdout.write(note)
        for problem in report.problems:
            where = f"row {problem.row}" + (f", {problem.column}" if problem.column else "")
            self.stderr.write(f"{where}: {problem.message}")
        if report.problem_count > len(report.problems):
            self.stderr.write(f"… and {report.problem_count - len(report.problems)} more problem(s).")
        self.stdout.write(report.summary())
        if not report.ok:
            raise CommandError(f"{report.problem_count} problem(s): nothing was written.")
