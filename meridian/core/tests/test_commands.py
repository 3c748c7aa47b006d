"""Operator commands: demo data, audit verify, health and metrics endpoints, `meridian serve` and its shutdown."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from django.core.management import call_command
from django.test import SimpleTestCase, TestCase

from meridian.core import audit
from meridian.core.choices import Role
from meridian.core.models import AuditEvent, Calendar, Organisation, Person, Team, User
from meridian.core.policy import SYSTEM_USERNAME


class DemoTests(TestCase):
    def test_demo_loads_a_believable_provider_once_and_everything_is_audited(self) -> None:
        out = io.StringIO()
        call_command("demo", "--password", "demo-pass-123", stdout=out)
        self.assertIn("admin / demo-pass-123", out.getvalue())
        kinds = set(Organisation.objects.values_list("kind", flat=True))
        self.assertEqual(kinds, {"internal", "customer", "supplier"})
        self.assertGreaterEqual(Organisation.objects.filter(kind="customer").count(), 3)
        self.assertEqual({c.holiday_country for c in Calendar.objects.exclude(holiday_country="")}, {"NL", "DE"})
        roles = {name for user in User.objects.all() for name in user.roles}
        self.assertEqual(roles, set(Role.values))
        self.assertGreaterEqual(Team.objects.count(), 3)
        logins = sorted(User.objects.exclude(username=SYSTEM_USERNAME).values_list("username", flat=True))
        self.assertEqual(len(logins), 15)
        for username in logins:  # every login exists, works with the password and is printed
            self.assertTrue(self.client.login(username=username, password="demo-pass-123"), username)
            self.assertRegex(out.getvalue(), rf"\b{username} [(/]")
        self.assertEqual(AuditEvent.objects.filter(record_type="core.person").count() >= Person.objects.count(), True)
        self.assertTrue(audit.verify_chain().ok)
        again = io.StringIO()
        call_command("demo", "--if-empty", stdout=again)
        self.assertIn("already loaded", again.getvalue())


class OperatorEndpointTests(TestCase):
    def test_healthz(self) -> None:
        response = self.client.get("/healthz")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json()["status"], "ok")

    def test_metrics_in_prometheus_format(self) -> None:
        from meridian.core.factories import OrganisationFactory

        OrganisationFactory.create_batch(3)
        body = self.client.get("/metrics").content.decode()
        self.assertIn('meridian_records{type="core.organisation"} 3.0', body)
        self.assertIn("# TYPE meridian_audit_events gauge", body)

    def test_metrics_can_require_a_bearer_token(self) -> None:
        from django.test import override_settings

        with override_settings(METRICS_TOKEN="s3cret-scrape-token"):
            self.assertEqual(self.client.get("/metrics").status_code, 401)
            self.assertEqual(self.client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code, 401)
            ok = self.client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token")
            self.assertEqual(ok.status_code, 200)


def _processes_with(marker: bytes) -> dict[int, str]:
    """Every live process whose environment carries `marker` (NAME=VALUE), with its command line, from /proc."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
            if marker in environ.split(b"\0"):
                found[int(entry)] = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:  # gone meanwhile, or not ours
            continue
    return found


def _catches(pid: int, signum: int) -> bool:
    """Has process `pid` installed a handler for `signum`? (the SigCgt mask in /proc/PID/status)"""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(mask, 16) & (1 << (signum - 1)))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServeShutdownTests(SimpleTestCase):
    """`meridian serve` for real: a subprocess running gunicorn and the task consumer on a free port with a temporary
    SQLite database, stopped the way an operator (Ctrl-C) or an init system (SIGTERM) stops it."""

    def setUp(self) -> None:
        tmp = Path(self.enterContext(tempfile.TemporaryDirectory()))
        self.port = _free_port()
        self.log = tmp / "serve.log"
        token = uuid.uuid4().hex
        self.marker = f"MERIDIAN_SERVE_TEST={token}".encode()
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "MERIDIAN_TESTING")}
        env.update(
            DATABASE_URL=f"sqlite:///{tmp}/db.sqlite3",
            MERIDIAN_VAR_DIR=str(tmp),
            MERIDIAN_HTTPS="false",
            HUEY_IMMEDIATE="false",
            SECRET_KEY=f"serve-test-{token}{token}",
            MERIDIAN_SERVE_TEST=token,
        )
        command = [sys.executable, "-m", "meridian.cli", "serve", "--bind", f"127.0.0.1:{self.port}", "--workers", "1"]
        command += ["--graceful-timeout", "10", "--worker-timeout", "10"]
        with self.log.open("wb") as log:
            self.serve = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
        self.addCleanup(self.kill_leftovers)
        self.wait_until_healthy()
        self.children = self.started_children()

    def output(self) -> str:
        return self.log.read_text()

    def kill_leftovers(self) -> None:
        """Whatever the test's outcome, nothing it started outlives it."""
        for pid in _processes_with(self.marker):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.serve.wait(timeout=10)

    def wait_until_healthy(self) -> None:
        deadline = time.monotonic() + 120
        while True:
            if self.serve.poll() is not None:
                self.fail(f"meridian serve exited early:\n{self.output()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as response:
                    self.assertEqual(json.load(response)["status"], "ok")
                    return
            except OSError:
                if time.monotonic() > deadline:
                    self.fail(f"/healthz never answered:\n{self.output()}")
                time.sleep(0.2)

    def started_children(self) -> dict[int, str]:
        """The processes serve started, once they are all up: gunicorn's arbiter and its worker, and the task
        consumer with its signal handlers installed (SIGHUP, the last one huey installs, is caught)."""
        deadline = time.monotonic() + 120
        while True:
            children = {pid: cmd for pid, cmd in _processes_with(self.marker).items() if pid != self.serve.pid}
            web = [cmd for cmd in children.values() if "gunicorn" in cmd]
            consumer = [pid for pid, cmd in children.items() if "meridian.cli worker" in cmd]
            if len(web) >= 2 and consumer and all(_catches(pid, signal.SIGHUP) for pid in consumer):
                return children
            if time.monotonic() > deadline:
                self.fail(f"serve did not start gunicorn with a worker and the task consumer: {children}")
            time.sleep(0.2)

    def assert_stopped_gracefully(self, signal_name: str) -> None:
        self.assertEqual(self.assert_everything_stopped(), 0, self.output())
        output = self.output()
        self.assertIn("Handling signal: term", output)  # gunicorn: graceful stop, in-flight requests finish
        self.assertIn("Shutting down gracefully", output)  # the consumer: running tasks finish
        self.assertNotIn("did not stop in time", output)
        self.assertIn(f"Stopped on {signal_name}.", output)

    def assert_everything_stopped(self) -> int:
        """serve has exited, nothing answers on its port and none of its processes remains; its exit code."""
        try:
            code = self.serve.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.fail(f"meridian serve is still running:\n{self.output()}")
        with self.assertRaises(ConnectionRefusedError, msg="something still answers on the port"):
            socket.create_connection(("127.0.0.1", self.port), timeout=2).close()
        self.assertEqual(_processes_with(self.marker), {}, "processes started by serve are still running")
        return code

    def test_sigterm_stops_the_web_server_and_the_task_consumer(self) -> None:
        self.serve.send_signal(signal.SIGTERM)
        self.assert_stopped_gracefully("SIGTERM")

    def test_sigint_stops_the_web_server_and_the_task_consumer(self) -> None:
        self.serve.send_signal(signal.SIGINT)
        self.assert_stopped_gracefully("SIGINT")

    def test_a_child_that_dies_stops_the_rest_and_serve_exits_non_zero(self) -> None:
        consumer = next(pid for pid, cmd in self.children.items() if "meridian.cli worker" in cmd)
        os.kill(consumer, signal.SIGKILL)
        self.assertEqual(self.assert_everything_stopped(), 1, self.output())
        self.assertIn("The task worker exited on its own", self.output())
        self.assertIn("Handling signal: term", self.output())
