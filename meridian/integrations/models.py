"""The integrations app's models, one module per channel."""

from meridian.integrations.alert_models import AlertGroup, AlertSource  # noqa: F401
