"""Background work of the core app, and the registry of periodic tasks every app uses.

    @periodic("core.retry_failed_notifications", minute="*/10")
    def retry_failed_notifications(*, actor: Any) -> int: ...

A periodic task runs as the named system actor (its writes are attributed in the audit trail) and must be
idempotent: running it twice does no more than running it once.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodicTask:
    name: str
    schedule: str
    description: str
    func: Callable[..., Any]


PERIODIC_TASKS: dict[str, PeriodicTask] = {}


def periodic(
    name: str, *, minute: str = "*", hour: str = "*", day: str = "*", month: str = "*", day_of_week: str = "*"
) -> Callable[[Callable[..., Any]], Any]:
    """Register an idempotent periodic task (cron-style schedule, in UTC) that runs as the system actor."""
    schedule = crontab(minute=minute, hour=hour, day=day, month=month, day_of_week=day_of_week)
    spec = f"{minute} {hour} {day} {month} {day_of_week}"

    def decorator(func: Callable[..., Any]) -> Any:
        @functools.wraps(func)
        def run() -> Any:
            from meridian.core.services import get_system_actor

            return func(actor=get_system_actor())

        task = db_periodic_task(schedule, name=name)(run)
        PERIODIC_TASKS[name] = PeriodicTask(name, spec, (func.__doc__ or "").strip(), func)
        return task

    return decorator


@db_task(retries=3, retry_delay=60)
def send_notification(log_id: int) -> str:
    from meridian.core.notifications import deliver

    return deliver(log_id).status


@periodic("core.retry_failed_notifications", minute="*/10")
def retry_failed_notifications(*, actor: Any) -> int:
    """Send again notifications that failed, or whose sending worker died (at most five attempts each)."""
    from meridian.core.notifications import deliver, due_for_retry

    ids = list(due_for_retry().values_list("pk", flat=True))
    for log_id in ids:
        deliver(log_id)
    return len(ids)


@periodic("core.chain_audit_events", minute="*")
def chain_audit_events(*, actor: Any) -> bool:
    """Every minute: link audit events left unchained (a process that died between its commit and chaining),
    verify the events written since the last witness and witness the new head; problems are logged as errors."""
    from meridian.core.audit import check_trail

    return check_trail(incremental=True).ok


@periodic("core.verify_audit_chain", minute="17", hour="2")
def verify_audit_chain(*, actor: Any) -> bool:
    """Every night: check the whole audit trail's hash chain against the last witness; problems are logged as
    errors."""
    from meridian.core.audit import check_trail

    return check_trail().ok


@periodic("core.purge_idempotency_keys", minute="41")
def purge_idempotency_keys(*, actor: Any) -> int:
    """Forget API Idempotency-Keys older than 24 hours (a retry within a day gets the first answer again)."""
    from django.utils import timezone

    from meridian.core.models import IdempotencyKey

    return IdempotencyKey.objects.filter(created_at__lt=timezone.now() - IdempotencyKey.KEEP).delete()[0]


@db_task()
def run_import_job(job_id: str, actor_id: int) -> str:
    """Import the checked file of an ImportJob (`core.imports.commit_job`) as the user who started it."""
    from django.contrib.auth import get_user_model

    from meridian.core.imports import commit_job
    from meridian.core.models import ImportJob

    job = ImportJob.objects.get(pk=job_id)
    actor = get_user_model().objects.get(pk=actor_id)
    return "committed" if commit_job(job, actor=actor).committed else "refused"


@db_task()
def run_bulk_job(job_id: str, actor_id: int) -> str:
    """Run a bulk action (`core.bulk.run_job`) as the user who started it."""
    from django.contrib.auth import get_user_model

    from meridian.core.bulk import run_job
    from meridian.core.models import BulkJob

    job = BulkJob.objects.get(pk=job_id)
    actor = get_user_model().objects.get(pk=actor_id)
    return run_job(job, actor=actor).status


@periodic("core.purge_import_jobs", minute="23")
def purge_import_jobs(*, actor: Any) -> int:
    """Remove the files of imports checked but never committed, after a day."""
    from meridian.core.imports import purge_jobs

    return purge_jobs()
