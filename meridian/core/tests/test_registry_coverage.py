"""Meta-tests: every registered record type has its generic tests, every lifecycle a walk, every API route a
test-covered viewset."""

from __future__ import annotations

import importlib
import pkgutil

from django.test import SimpleTestCase

import meridian
from meridian.core import registry
from meridian.core.testing import RecordTypeTests


def _all_subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found.add(sub)
        found |= _all_subclasses(sub)
    return found


class RegistryCoverageTests(SimpleTestCase):
    def test_every_registered_type_has_generic_record_tests(self) -> None:
        for module in pkgutil.walk_packages(meridian.__path__, "meridian."):
            if ".tests.test_" in module.name:
                importlib.import_module(module.name)
        covered = {cls.model for cls in _all_subclasses(RecordTypeTests) if "model" in cls.__dict__}
        missing = sorted(rt.label for rt in registry.all_types() if rt.model not in covered)
        self.assertEqual(missing, [], "declare a RecordTypeTests subclass for each of these types")

    def test_every_lifecycle_is_walked(self) -> None:
        import inspect

        source = "".join(
            inspect.getsource(importlib.import_module(m.name))
            for m in pkgutil.walk_packages(meridian.__path__, "meridian.")
            if ".tests.test_" in m.name
        )
        for rt in registry.all_types():
            if rt.lifecycle:
                with self.subTest(type=rt.label):
                    self.assertIn(f"assert_lifecycle_walk(self, {rt.model.__name__},", source)
