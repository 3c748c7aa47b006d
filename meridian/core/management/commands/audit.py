"""`meridian audit verify [--expect-head SEQ:HASH]`: chain what is waiting, check the audit trail's hash chain
against the last witness, and witness the new head."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from meridian.core.audit import Head, check_trail


class Command(BaseCommand):
    help = (
        "Audit trail tools. `verify` links events still waiting to be chained, recomputes the hash chain, compares "
        "it with the head last witnessed outside the database (AUDIT_WITNESS_FILE) and reports every problem."
    )

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True)
        verify = sub.add_parser("verify", help="Verify the hash chain of the audit trail.")
        verify.add_argument(
            "--expect-head",
            metavar="SEQ:HASH",
            help="A head printed by an earlier run and kept off this host: it must still be in the chain unchanged.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        expected = None
        if options.get("expect_head"):
            try:
                expected = Head.parse(options["expect_head"])
            except ValueError as exc:
                raise CommandError(
                    "--expect-head takes SEQ:HASH as printed by an earlier `meridian audit verify`."
                ) from exc
        report = check_trail(expected)
        waiting = report.backlog
        if waiting.count:
            age = waiting.oldest_age.total_seconds() if waiting.oldest_age else 0
            self.stdout.write(f"{waiting.count} event(s) were waiting to be chained (the oldest for {age:.0f} s).")
        for problem in report.problems:
            self.stderr.write(self.style.ERROR(str(problem)))
        if report.ok:
            self.stdout.write(self.style.SUCCESS(f"audit trail intact: {report.checked} events verified."))
        self.stdout.write(f"head {report.head}")
        if any(problem.tampering for problem in report.problems):
            raise CommandError(f"audit trail TAMPERED: {len(report.problems)} problem(s) in {report.checked} events.")
        if not report.ok:
            raise CommandError(f"audit trail check FAILED: {len(report.problems)} problem(s).")
