"""`meridian audit verify [--expect-head SEQ:HASH]`: check the audit trail's hash chain."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from meridian.core.audit import verify_chain


class Command(BaseCommand):
    help = "Audit trail tools. `verify` recomputes the hash chain and reports every tampered event."

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True)
        verify = sub.add_parser("verify", help="Verify the hash chain of the audit trail.")
        verify.add_argument(
            "--expect-head",
            metavar="SEQ:HASH",
            help="The head printed by an earlier run and kept off this host; catches removal of the newest events.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        expected = None
        if options.get("expect_head"):
            seq, _, digest = options["expect_head"].partition(":")
            if not seq.isdigit() or len(digest) != 64:
                raise CommandError("--expect-head takes SEQ:HASH as printed by an earlier `meridian audit verify`.")
            expected = (int(seq), digest)
        report = verify_chain(expected)
        for problem in report.problems:
            self.stderr.write(self.style.ERROR(str(problem)))
        if report.ok:
            self.stdout.write(self.style.SUCCESS(f"audit trail intact: {report.checked} events verified."))
        self.stdout.write(f"head {report.head_seq}:{report.head_hash}")
        if not report.ok:
            raise CommandError(f"audit trail TAMPERED: {len(report.problems)} problem(s) in {report.checked} events.")
