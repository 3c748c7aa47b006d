"""The clock metric record type through the generic mixins, and its field-level validation."""

from __future__ import annotations

from typing import Any

import factory
from django.core.exceptions import ValidationError
from django.test import SimpleTestCase

from meridian.core.testing import RecordTypeTests
from meridian.service_levels.clock_models import ClockMetric


class ClockMetricFactory(factory.django.DjangoModelFactory):
    """Rows written directly, without audit (the lead may move it to `service_levels.factories`)."""

    class Meta:
        model = ClockMetric

    key = factory.Sequence(lambda n: f"metric-{n}")
    name = factory.Sequence(lambda n: f"Metric {n}")
    running_statuses = factory.LazyFunction(lambda: ["new", "in_progress"])
    stop_statuses = factory.LazyFunction(lambda: ["resolved"])


class TestClockMetric(RecordTypeTests):
    model = ClockMetric
    factory = ClockMetricFactory
    changed_data = {"description": "Until the customer has a working answer."}

    def new_data(self) -> dict[str, Any]:
        return {
            "key": "first-reply",
            "name": "First reply",
            "running_statuses": ["new", "in_progress"],
            "stop_statuses": ["resolved", "closed"],
            "thresholds": [50, 80],
        }


class ClockMetricValidationTests(SimpleTestCase):
    def errors(self, **values: Any) -> dict[str, list[str]]:
        metric = ClockMetric(key="k", name="K", **values)
        try:
            metric.clean()
        except ValidationError as exc:
            return exc.message_dict
        return {}

    def test_a_good_configuration_passes(self) -> None:
        self.assertEqual(self.errors(running_statuses=["new"], stop_statuses=["resolved"], thresholds=[25]), {})
        self.assertEqual(self.errors(running_statuses=["new"], stop_statuses=[], thresholds=[]), {})

    def test_thresholds_are_whole_percentages_ascending_each_once(self) -> None:
        for bad in ([0], [100], [50, 50], [90, 50], [50.5], ["50"], [True], "50", {"a": 1}):
            with self.subTest(thresholds=bad):
                self.assertEqual(list(self.errors(thresholds=bad)), ["thresholds"])

    def test_a_status_either_runs_or_stops(self) -> None:
        errors = self.errors(running_statuses=["new", "resolved"], stop_statuses=["resolved"])
        self.assertEqual(errors, {"stop_statuses": ["resolved: a status either runs or stops the clock, not both."]})
        for bad in ("new", [""], [3], ["new", "new"]):
            with self.subTest(running_statuses=bad):
                self.assertEqual(list(self.errors(running_statuses=bad)), ["running_statuses"])
