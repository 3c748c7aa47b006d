"""`meridian serve`: gunicorn (production-grade, not runserver) plus, on one machine, an in-process Huey consumer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve Meridian with gunicorn; also runs the task worker unless --no-worker."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--bind", default=os.environ.get("MERIDIAN_BIND", "127.0.0.1:8000"))
        parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")))
        parser.add_argument("--threads", type=int, default=4)
        parser.add_argument("--no-worker", action="store_true", help="Web only: workers run as `meridian worker`.")

    def handle(self, *args: Any, **options: Any) -> None:
        worker = None
        if not options["no_worker"]:
            worker = subprocess.Popen([sys.executable, "-m", "meridian.cli", "worker"])
        gunicorn = [
            sys.executable, "-m", "gunicorn", "meridian.wsgi:application",
            "--bind", options["bind"],
            "--workers", str(options["workers"]),
            "--threads", str(options["threads"]),
            "--access-logfile", "-",
            "--forwarded-allow-ips", os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        ]  # fmt: skip
        self.stdout.write(f"Meridian serving on http://{options['bind']}/")
        web = subprocess.Popen(gunicorn)  # noqa: S603
        try:
            code = web.wait()
        except KeyboardInterrupt:
            web.send_signal(signal.SIGTERM)
            code = web.wait()
        finally:
            if worker is not None:
                worker.send_signal(signal.SIGINT)
                worker.wait(timeout=30)
        raise SystemExit(code)
