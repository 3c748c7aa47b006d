"""Meta-tests: every registered record type has its generic tests, and every registered lifecycle has really been
walked completely."""

from __future__ import annotations

import importlib
import pkgutil
import unittest
from typing import Any

import pytest
from django.test import SimpleTestCase, TestCase, TransactionTestCase

import meridian
from meridian.core import registry
from meridian.core.testing import LINKS_TESTED, WALKED, CustomFieldTests, RecordTypeTests, lifecycle_attempts
from meridian.core.testing_attachments import ATTACHMENT_TESTS, ATTACHMENTS_TESTED
from meridian.core.testing_bulk import BULK_TESTED, BULK_TESTS
from meridian.core.testing_control import CONTROL_TESTED, CONTROL_TESTS
from meridian.core.testing_conversation import CONVERSATION_TESTED, CONVERSATION_TESTS
from meridian.core.testing_watchers import WATCHER_TESTS, WATCHERS_TESTED


def _all_subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found.add(sub)
        found |= _all_subclasses(sub)
    return found


class RegistryCoverageTests(SimpleTestCase):
    def test_every_registered_type_has_generic_record_tests(self) -> None:
        _import_test_modules()
        covered = {cls.model for cls in _all_subclasses(RecordTypeTests) if "model" in cls.__dict__}
        missing = sorted(rt.label for rt in registry.all_types() if rt.model not in covered)
        self.assertEqual(missing, [], "declare a RecordTypeTests subclass for each of these types")

    def test_every_type_with_custom_fields_has_the_custom_field_tests(self) -> None:
        _import_test_modules()
        covered = {
            cls.model
            for cls in _all_subclasses(RecordTypeTests)
            if "model" in cls.__dict__ and issubclass(cls, CustomFieldTests)
        }
        missing = sorted(rt.label for rt in registry.all_types() if rt.custom_fields and rt.model not in covered)
        self.assertEqual(missing, [], "mix CustomFieldTests into the RecordTypeTests subclass of these types")


@pytest.mark.run_last  # conftest.py moves it after every walk; run alone, it runs the walks itself
class LifecycleCoverageTests(TestCase):
    """Every registered lifecycle has been walked completely (every action, from every state, as every role) in
    this test process: checked against what `assert_lifecycle_walk` recorded, never against source text."""

    def test_every_lifecycle_is_walked_completely(self) -> None:
        _import_test_modules()
        walk_tests: dict[type, list[tuple[type[unittest.TestCase], str]]] = {}
        for cls in _all_subclasses(unittest.TestCase):
            for name in unittest.defaultTestLoader.getTestCaseNames(cls):
                model = getattr(getattr(cls, name), "walks_lifecycle", None)
                if model is not None:
                    walk_tests.setdefault(model, []).append((cls, name))
        for rt in registry.all_types():
            if rt.lifecycle is None:
                continue
            with self.subTest(type=rt.label):
                expected = lifecycle_attempts(rt)
                tests = walk_tests.get(rt.model, [])
                self.assertNotEqual(tests, [], f"no test is marked @walks_lifecycle({rt.model.__name__})")
                if not expected <= WALKED:  # not run yet in this process: run the walk now
                    self.assertEqual(_run(tests), [], f"the walk of {rt.label} fails")
                missing = sorted(expected - WALKED)
                self.assertEqual(missing, [], f"the walk of {rt.label} never tried these (action, state, role)")


@pytest.mark.run_last
class LinkTestsCoverageTests(TransactionTestCase):  # not TestCase: each class it may run closes the connection
    """Every type that opts into links (`record_links=True`) has really run the generic link tests in this test
    process (page and API, audit on both records, an invisible record refused like a missing one, the hidden other
    end, the isolation matrix): checked against what the tests recorded, never against source text."""

    def test_every_linking_type_ran_the_generic_link_tests(self) -> None:
        _import_test_modules()
        classes = {cls.model: cls for cls in _all_subclasses(RecordTypeTests) if "model" in cls.__dict__}
        for rt in registry.all_types():
            if not rt.record_links:
                continue
            with self.subTest(type=rt.label):
                cls = classes.get(rt.model)
                self.assertIsNotNone(cls, f"{rt.label} opts into links: declare its RecordTypeTests subclass")
                assert cls is not None
                expected = {(rt.label, name) for name in RecordTypeTests.LINK_TESTS}
                if not expected <= LINKS_TESTED:  # not run yet in this process: run them now
                    self.assertEqual(_run([(cls, name) for name in RecordTypeTests.LINK_TESTS]), [])
                missing = sorted(name for label, name in expected - LINKS_TESTED)
                self.assertEqual(missing, [], f"{rt.label} opts into links but these link tests did not run")


def assert_every_type_ran(
    test: SimpleTestCase, names: tuple[str, ...], tested: set[tuple[str, str]], what: str, opted_in: Any
) -> None:
    """Every registered type for which `opted_in(rt)` has run each of the generic tests `names` to their end in this
    test process (`tested`, filled by the tests themselves); those not run yet are run now (the file run alone, another
    xdist worker). A type without a `RecordTypeTests` subclass, or whose subclass skips or overrides them, fails."""
    _import_test_modules()
    for rt in registry.all_types():
        if not opted_in(rt):
            continue
        with test.subTest(type=rt.label):
            expected = {(rt.label, name) for name in names}
            if not expected <= tested:
                classes = [c for c in _all_subclasses(RecordTypeTests) if c.__dict__.get("model") is rt.model]
                test.assertNotEqual(classes, [], f"{rt.label} has {what} but no RecordTypeTests subclass")
                test.assertEqual(_run([(c, name) for c in classes for name in names]), [])
            missing = sorted(name for label, name in expected - tested)
            test.assertEqual(missing, [], f"{rt.label} has {what} but did not run these tests")


@pytest.mark.run_last  # after the record type tests; run alone, it runs them itself
class AttachmentCoverageTests(SimpleTestCase):
    """Every type that declares `attachments=` has run all the generic attachment tests. A SimpleTestCase with
    database access and no transaction of its own: the test classes it may run each open (and at their end close)
    their own."""

    databases = {"default"}

    def test_every_type_with_attachments_runs_the_attachment_tests(self) -> None:
        assert_every_type_ran(
            self, ATTACHMENT_TESTS, ATTACHMENTS_TESTED, "attachments", lambda rt: rt.attachments is not None
        )


@pytest.mark.run_last
class ConversationCoverageTests(SimpleTestCase):
    """Every type that declares `conversation=` has run all the generic conversation tests."""

    databases = {"default"}

    def test_every_type_with_conversation_runs_the_conversation_tests(self) -> None:
        assert_every_type_ran(
            self, CONVERSATION_TESTS, CONVERSATION_TESTED, "a conversation", lambda rt: rt.conversation is not None
        )


@pytest.mark.run_last
class ControlCoverageTests(SimpleTestCase):
    """Every type that declares `control=` has run all the generic change-control tests."""

    databases = {"default"}

    def test_every_type_under_control_runs_the_control_tests(self) -> None:
        assert_every_type_ran(self, CONTROL_TESTS, CONTROL_TESTED, "change control", lambda rt: rt.control is not None)


@pytest.mark.run_last
class BulkCoverageTests(SimpleTestCase):
    """Every registered type has run all the generic bulk-action tests."""

    databases = {"default"}

    def test_every_type_runs_the_bulk_tests(self) -> None:
        assert_every_type_ran(self, BULK_TESTS, BULK_TESTED, "a list", lambda rt: True)


@pytest.mark.run_last
class WatcherCoverageTests(SimpleTestCase):
    """Every type that declares `watchers=` has run all the generic watcher tests."""

    databases = {"default"}

    def test_every_type_with_watchers_runs_the_watcher_tests(self) -> None:
        assert_every_type_ran(self, WATCHER_TESTS, WATCHERS_TESTED, "watchers", lambda rt: rt.watchers is not None)


def _import_test_modules() -> None:
    for module in pkgutil.walk_packages(meridian.__path__, "meridian."):
        if ".tests.test_" in module.name:
            importlib.import_module(module.name)


def _run(tests: list[tuple[type[unittest.TestCase], str]]) -> list[str]:
    """Run these test methods here (their class set-up included); the failures and errors, as text."""
    result = unittest.TestResult()
    unittest.TestSuite(cls(name) for cls, name in tests).run(result)
    return [f"{test}: {trace}" for test, trace in result.errors + result.failures]
