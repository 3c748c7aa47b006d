"""`meridian mail ingest [--stdin | --maildir PATH | --imap]`: inbound mail into Meridian (`integrations.inbound`).

One line per message on standard output: "<outcome> <Message-ID> from <sender> [→ record] [: reason]".

Exit codes (sysexits.h), which an MTA's pipe transport understands:
  0   the message (or every message of the run) was taken: logged with whatever outcome, "failed" included
  65  EX_DATAERR: standard input held no message at all (empty)
  74  EX_IOERR: standard input or the Maildir could not be read
  75  EX_TEMPFAIL: the database could not record the message: the MTA keeps it and retries, the Maildir or IMAP
      message stays where it was for the next run
  78  EX_CONFIG: --imap without MERIDIAN_IMAP_HOST
"""

from __future__ import annotations

import contextlib
import imaplib
import os
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from meridian.integrations.choices import InboundMailOutcome, InboundMailSource
from meridian.integrations.inbound import ingest
from meridian.integrations.models import InboundMail

EX_OK, EX_DATAERR, EX_IOERR, EX_TEMPFAIL, EX_CONFIG = 0, 65, 74, 75, 78


def stop(message: str, code: int) -> CommandError:
    """An error that ends the command with the exit code `code` (Django prints "CommandError: message")."""
    return CommandError(message, returncode=code)


class Command(BaseCommand):
    help = (
        "Inbound mail: `ingest` reads RFC 5322 messages from standard input (an MTA's pipe, the default), a Maildir "
        "(--maildir PATH) or an IMAP mailbox (--imap, settings MERIDIAN_IMAP_*) and hands each to Meridian."
    )

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True)
        ingest_parser = sub.add_parser("ingest", help="Ingest messages; one summary line per message.")
        source = ingest_parser.add_mutually_exclusive_group()
        source.add_argument("--stdin", action="store_true", help="One message on standard input (the default).")
        source.add_argument("--maildir", metavar="PATH", help="Every message in PATH/new and unread in PATH/cur.")
        source.add_argument("--imap", action="store_true", help="Poll the IMAP mailbox of MERIDIAN_IMAP_*.")
        ingest_parser.add_argument(
            "--done",
            metavar="PATH",
            help="Maildir: move taken messages into this Maildir's cur/ instead of marking them seen in place.",
        )
        ingest_parser.add_argument(
            "--retry-failed",
            action="store_true",
            help="Maildir and IMAP: also take messages flagged after an earlier failure.",
        )
        ingest_parser.add_argument("--once", action="store_true", help="IMAP: poll once and stop.")
        ingest_parser.add_argument(
            "--interval", type=int, help="IMAP: seconds between polls (default MERIDIAN_IMAP_INTERVAL)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["maildir"]:
            self._maildir(Path(options["maildir"]), options)
        elif options["imap"]:
            self._imap(options)
        else:
            self._stdin()

    def _report(self, mail: InboundMail) -> None:
        line = f"{mail.outcome} {mail.message_id} from {mail.sender or '(no sender)'}"
        if mail.record_type:
            line += f" → {mail.record_type} {mail.record_id}"
        if mail.reason:
            line += f": {mail.reason}"
        self.stdout.write(" ".join(line.split())[:500])

    def _ingest(self, raw: bytes, source: str) -> InboundMail:
        try:
            mail = ingest(raw, source=source)
        except DatabaseError as exc:
            raise stop(f"the database could not record the message, try again later: {exc}", EX_TEMPFAIL) from exc
        self._report(mail)
        return mail

    # --- a pipe ------------------------------------------------------------------------------------------------

    def _stdin(self) -> None:
        try:
            raw = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode()
        except OSError as exc:
            raise stop(f"standard input could not be read: {exc}", EX_IOERR) from exc
        if not raw.strip():
            raise stop("standard input held no message", EX_DATAERR)
        self._ingest(raw, InboundMailSource.PIPE)

    # --- a Maildir ---------------------------------------------------------------------------------------------

    def _maildir(self, root: Path, options: dict[str, Any]) -> None:
        """new/ and the unseen messages of cur/, oldest first. A message is moved only after its outcome was
        recorded: to cur/ with the S (seen) flag, or into the --done Maildir; a failed one gets the F (flagged)
        flag instead and is left for `--retry-failed`. A database error stops the run, the message untouched."""
        if not (root / "new").is_dir() or not (root / "cur").is_dir():
            raise stop(f"{root} is not a Maildir (it needs new/ and cur/)", EX_IOERR)
        done = Path(options["done"]) if options.get("done") else None
        if done is not None:
            for sub in ("new", "cur", "tmp"):
                (done / sub).mkdir(parents=True, exist_ok=True)
        candidates = []
        for sub in ("new", "cur"):
            for path in (root / sub).iterdir():
                if path.name.startswith(".") or not path.is_file():
                    continue
                flags = _maildir_flags(path.name)
                if "S" in flags or "T" in flags or ("F" in flags and not options["retry_failed"]):
                    continue
                candidates.append(path)
        candidates.sort(key=lambda p: (p.stat().st_mtime, p.name))
        counts: dict[str, int] = {}
        for path in candidates:
            try:
                raw = path.read_bytes()
            except OSError as exc:
                self.stderr.write(f"skipped {path.name}: {exc}")
                continue
            mail = self._ingest(raw, InboundMailSource.MAILDIR)
            counts[mail.outcome] = counts.get(mail.outcome, 0) + 1
            failed = mail.outcome == InboundMailOutcome.FAILED
            base = path.name.split(":2,")[0]
            new_flags = "".join(sorted((_maildir_flags(path.name) - {"F"}) | ({"F"} if failed else {"S"})))
            target_dir = root / "cur" if failed or done is None else done / "cur"
            with contextlib.suppress(FileNotFoundError):  # another run took it meanwhile: logged by both
                os.replace(path, target_dir / f"{base}:2,{new_flags}")
        summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())) or "no new messages"
        self.stderr.write(f"{root}: {summary}")

    # --- IMAP --------------------------------------------------------------------------------------------------

    def _imap(self, options: dict[str, Any]) -> None:
        """Unseen (and unflagged) messages of the folder, read with BODY.PEEK so that reading does not mark them;
        \\Seen is set only after the outcome was recorded, \\Flagged instead for a failed one."""
        if not settings.MERIDIAN_IMAP_HOST:
            raise stop("--imap needs MERIDIAN_IMAP_HOST (and _USER, _PASSWORD)", EX_CONFIG)
        interval = options.get("interval") or settings.MERIDIAN_IMAP_INTERVAL
        while True:
            try:
                self._imap_poll(retry_failed=options["retry_failed"])
            except (OSError, imaplib.IMAP4.error) as exc:
                if options["once"]:
                    raise stop(f"IMAP: {exc}", EX_TEMPFAIL) from exc
                self.stderr.write(f"IMAP: {exc}; trying again in {interval} s")
            if options["once"]:
                return
            time.sleep(interval)

    def _imap_poll(self, *, retry_failed: bool) -> None:
        connect = imaplib.IMAP4_SSL if settings.MERIDIAN_IMAP_SSL else imaplib.IMAP4
        with connect(settings.MERIDIAN_IMAP_HOST, settings.MERIDIAN_IMAP_PORT, timeout=60) as imap:
            if not settings.MERIDIAN_IMAP_SSL and "STARTTLS" in imap.capabilities:
                imap.starttls()
            imap.login(settings.MERIDIAN_IMAP_USER, settings.MERIDIAN_IMAP_PASSWORD)
            status, _ = imap.select(_imap_quote(settings.MERIDIAN_IMAP_FOLDER))
            if status != "OK":
                raise imaplib.IMAP4.error(f"cannot open folder {settings.MERIDIAN_IMAP_FOLDER!r}")
            criteria = "UNSEEN" if retry_failed else "UNSEEN UNFLAGGED"
            status, data = imap.uid("SEARCH", None, criteria)  # type: ignore[arg-type]
            uids = data[0].split() if status == "OK" and data and data[0] else []
            for uid in uids:
                status, fetched = imap.uid("FETCH", uid, "(BODY.PEEK[])")
                raw = next((item[1] for item in fetched if isinstance(item, tuple)), None)
                if status != "OK" or not isinstance(raw, bytes):
                    self.stderr.write(f"IMAP: could not fetch message {uid.decode()}")
                    continue
                mail = self._ingest(raw, InboundMailSource.IMAP)
                flag = "\\Flagged" if mail.outcome == InboundMailOutcome.FAILED else "\\Seen"
                imap.uid("STORE", uid, "+FLAGS", f"({flag})")
            imap.logout()


def _maildir_flags(name: str) -> set[str]:
    return set(name.split(":2,", 1)[1]) if ":2," in name else set()


def _imap_quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'
