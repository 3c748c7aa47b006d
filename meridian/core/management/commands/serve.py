"""`meridian serve`: gunicorn (production-grade, not runserver) plus, on one machine, an in-process Huey consumer.

The command supervises what it starts. On SIGTERM or SIGINT (Ctrl-C) it stops everything gracefully: gunicorn
gets SIGTERM and finishes in-flight requests within its graceful timeout, the task consumer gets SIGINT and
finishes running tasks within the worker timeout; whatever is still running after that is killed. When one
child dies on its own, the other is stopped the same way and the command exits non-zero.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.core.management.base import BaseCommand

KILL_GRACE = 5.0  # seconds a child gets beyond its own timeout before it is killed with SIGKILL


@dataclass
class Child:
    """A process `serve` started: how to ask it to stop, and how long to give it."""

    name: str
    process: subprocess.Popen[bytes]
    stop_signal: signal.Signals
    timeout: int


class Command(BaseCommand):
    help = "Serve Meridian with gunicorn; also runs the task worker unless --no-worker."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--bind", default=os.environ.get("MERIDIAN_BIND", "127.0.0.1:8000"))
        parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")))
        parser.add_argument("--threads", type=int, default=4)
        parser.add_argument("--no-worker", action="store_true", help="Web only: workers run as `meridian worker`.")
        parser.add_argument(
            "--graceful-timeout",
            type=int,
            default=30,
            help="Seconds in-flight requests get to finish on shutdown (default 30).",
        )
        parser.add_argument(
            "--worker-timeout",
            type=int,
            default=30,
            help="Seconds running tasks get to finish on shutdown (default 30).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()
        received: list[int] = []

        def on_signal(signum: int, frame: Any) -> None:
            received.append(signum)
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

        children: list[Child] = []
        died: Child | None = None
        try:
            if not options["no_worker"]:
                worker = self.start([sys.executable, "-m", "meridian.cli", "worker"])
                children.append(Child("task worker", worker, signal.SIGINT, options["worker_timeout"]))
            gunicorn = [
                sys.executable, "-m", "gunicorn", "meridian.wsgi:application",
                "--bind", options["bind"],
                "--workers", str(options["workers"]),
                "--threads", str(options["threads"]),
                "--graceful-timeout", str(options["graceful_timeout"]),
                "--access-logfile", "-",
                "--forwarded-allow-ips", os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
                "--no-control-socket",  # serve supervises gunicorn; no shared socket in the home directory
            ]  # fmt: skip
            web = self.start(gunicorn)
            children.append(Child("web server", web, signal.SIGTERM, options["graceful_timeout"]))
            self.stdout.write(f"Meridian serving on http://{options['bind']}/")
            while died is None and not stop.wait(0.2):
                died = next((c for c in children if c.process.poll() is not None), None)
        finally:
            clean = self.stop_all(children)
        if died is not None:
            self.stderr.write(f"The {died.name} exited on its own (code {died.process.returncode}); stopped the rest.")
            raise SystemExit(max(died.process.returncode, 0) or 1)
        self.stdout.write(f"Stopped on {signal.Signals(received[0]).name}." if received else "Stopped.")
        raise SystemExit(0 if clean else 1)

    def start(self, command: list[str]) -> subprocess.Popen[bytes]:
        """Start a child in a process group of its own: Ctrl-C in a terminal reaches only `serve`, which then
        stops each child the graceful way, and a last-resort SIGKILL reaches the child's own children too."""
        return subprocess.Popen(command, process_group=0)  # noqa: S603

    def stop_all(self, children: list[Child]) -> bool:
        """Ask every running child to stop, wait for each within its timeout, kill the rest. True when every
        child stopped by itself."""
        for child in children:
            if child.process.poll() is None:
                self.stdout.write(f"Stopping the {child.name} (up to {child.timeout} s)...")
                child.process.send_signal(child.stop_signal)
        clean = True
        started = time.monotonic()
        for child in children:
            remaining = max(0.0, started + child.timeout + KILL_GRACE - time.monotonic())
            try:
                child.process.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                self.stderr.write(f"The {child.name} did not stop in time: killing it.")
                clean = False
            # the child's group may outlive the child (a gunicorn worker whose arbiter died): kill what is left
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.process.pid, signal.SIGKILL)
            child.process.wait()
        return clean
