"""Background work of the CMDB."""

from __future__ import annotations

from typing import Any

from meridian.core.tasks import periodic


@periodic("cmdb.take_scheduled_baselines", minute="15")
def take_scheduled_baselines(*, actor: Any) -> int:
    """Hourly: take a baseline of every active baseline schedule that is due (its last baseline older than its
    period). Idempotent: a schedule just served is not due again until its period has passed."""
    from meridian.cmdb.baselines import take_scheduled

    return len(take_scheduled(actor=actor))
