"""The generic tests of a record type under change control (`core.control`), part of every `RecordTypeTests`
subclass: a type that declares `control=` gets them (they are skipped for the others), and the meta-test
(`test_registry_coverage.ControlCoverageTests`) fails when such a type has not run all of them (`CONTROL_TESTED`).

A subclass of such a type says how one of its records is put under control (`put_under_control`) and gives a
reference that authorises a write of it (`authorising`, e.g. an approved change that lists the records it touches).
The writes run as the least privileged staff role that may change the type, on the page and through the API.
"""

from __future__ import annotations

from typing import Any

from meridian.core.models import AuditEvent

# (record type label, test name) of every control test that ran to its end in this process
CONTROL_TESTED: set[tuple[str, str]] = set()
CONTROL_TESTS = (
    "test_control_refuses_an_unauthorised_write_on_every_channel",
    "test_control_keeps_the_authorising_change",
)


class ControlTests:
    """Mixed into `RecordTypeTests`."""

    def put_under_control(self, obj: Any) -> None:
        """Make what a write of `obj` touches controlled (its class's policy, the policy of an end ...)."""
        raise NotImplementedError(f"{type(self).__name__}: say how a record is put under change control")

    def authorising(self, obj: Any) -> str:
        """A reference that authorises a write of `obj` now (an approved change that lists what it touches)."""
        raise NotImplementedError(f"{type(self).__name__}: give a reference that authorises a write")

    def _controlled(self: Any) -> tuple[Any, Any]:
        if self.rt.control is None:
            self.skipTest(f"{self.rt.label} is not under change control")
        obj = self.model._default_manager.get(pk=self.obj_a.pk)
        self.put_under_control(obj)
        return self.model._default_manager.get(pk=obj.pk), self.bulk_editor()

    def _trail(self: Any, obj: Any) -> list[int]:
        events = AuditEvent.objects.filter(record_type=self.rt.label, record_id=str(obj.pk))
        return list(events.values_list("pk", flat=True))

    def _api_changes(self: Any) -> dict[str, Any]:
        return {name: self.api_value(value) for name, value in self.changed_data.items()}

    def test_control_refuses_an_unauthorised_write_on_every_channel(self: Any) -> None:
        obj, user = self._controlled()
        trail = self._trail(obj)
        page = self.page_client(user).post(
            self.url("edit", obj), self.form_post_data(obj, user, self.form_data(self.changed_data))
        )
        self.assertEqual(page.status_code, 400)
        self.assertIn("authorised_by", page.context["form"].errors)
        api, url = self.api(user), self.api_url(obj)
        for cited in ("", "CHG-999999"):
            with self.subTest(authorised_by=cited):
                body = {**self._api_changes(), "version": obj.version, "authorised_by": cited}
                answer = api.patch(url, body, format="json")
                self.assertEqual(answer.status_code, 400, answer.content)
                self.assertIn("authorised_by", answer.json())
        if self.deletable and self.rt.permissions.get("delete", frozenset()) & frozenset(user.roles):
            answer = api.delete(url, HTTP_IF_MATCH=f'"{obj.version}"')
            self.assertEqual(answer.status_code, 400, answer.content)
        self.assertTrue(self.model._default_manager.filter(pk=obj.pk, version=obj.version).exists())
        self.assertEqual(self._trail(obj), trail, "a refused write leaves no audit event")
        CONTROL_TESTED.add((self.rt.label, "test_control_refuses_an_unauthorised_write_on_every_channel"))

    def test_control_keeps_the_authorising_change(self: Any) -> None:
        obj, user = self._controlled()
        reference = self.authorising(obj)
        data = self.form_post_data(obj, user, self.form_data(self.changed_data))
        page = self.page_client(user).post(self.url("edit", obj), {**data, "authorised_by": reference})
        self.assertEqual(page.status_code, 302, getattr(page, "context", None) and page.context["form"].errors)
        event = AuditEvent.objects.filter(record_type=self.rt.label, record_id=str(obj.pk)).order_by("id").last()
        assert event is not None
        self.assertEqual((event.action, event.authorised_by), ("update", reference))
        obj = self.model._default_manager.get(pk=obj.pk)
        answer = self.api(user).get(f"{self.api_url(obj, 'history')}")
        self.assertEqual(answer.json()["results"][0]["authorised_by"], reference)
        CONTROL_TESTED.add((self.rt.label, "test_control_keeps_the_authorising_change"))
