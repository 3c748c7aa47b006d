"""Background work of the CMDB: scheduled baselines, and an inventory import (NetBox, iTop) committed from its page
(`cmdb.inventory.Source.commit_job`)."""

from __future__ import annotations

from typing import Any

from huey.contrib.djhuey import db_task

from meridian.core.tasks import periodic


@periodic("cmdb.take_scheduled_baselines", minute="15")
def take_scheduled_baselines(*, actor: Any) -> int:
    """Hourly: take a baseline of every active baseline schedule that is due (its last baseline older than its
    period). Idempotent: a schedule just served is not due again until its period has passed."""
    from meridian.cmdb.baselines import take_scheduled

    return len(take_scheduled(actor=actor))


@db_task()
def run_inventory_job(source: str, job_id: str, actor_id: int) -> str:
    """Import the checked file of an ImportJob of an inventory import (`source`: "netbox", "itop") as the user who
    started it."""
    from django.contrib.auth import get_user_model

    from meridian.cmdb.views import PAGES
    from meridian.core.models import ImportJob

    job = ImportJob.objects.get(pk=job_id)
    actor = get_user_model().objects.get(pk=actor_id)
    return "committed" if PAGES[source].source.commit_job(job, actor=actor).committed else "refused"
