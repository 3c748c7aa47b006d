"""The generic tests of a record's timeline (`core.timeline`), part of every `RecordTypeTests` subclass: every type
has the Timeline tab and its API, so every type runs them.

The events are written by the real writers (`audit.record_event` for changes, files and links, `NotificationLog`
rows as the notifier queues them), so the timeline reads what the application writes.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, ClassVar

from django.utils.html import escape

from meridian.core import audit, policy, timeline
from meridian.core.choices import AuditAction, Role
from meridian.core.models import AuditEvent, NotificationLog
from meridian.core.registry import VIEW

if TYPE_CHECKING:
    from meridian.core.models import User

HIDDEN_KEY = "custom.timeline_secret"  # a custom field key no customer may read (no such visible definition)


if TYPE_CHECKING:
    from django.test import TestCase as _Base
else:
    _Base = object


class TimelineTests(_Base):
    """Mixed into `RecordTypeTests` (which gives `p`, `rt`, `make_record`, `url`, `api_url`, `page_client`...)."""

    if TYPE_CHECKING:  # given by RecordTypeTests
        rt: Any
        p: ClassVar[Any]
        model: ClassVar[Any]

        def make_record(self, organisation: Any) -> Any: ...
        def url(self, action: str, obj: Any = None) -> str: ...
        def api_url(self, obj: Any = None, suffix: str = "") -> str: ...
        def page_client(self, user: User) -> Any: ...
        def api(self, user: User) -> Any: ...

    # -- helpers --------------------------------------------------------------------------------------------------
    def _timeline_story(self, obj: Any, other: Any) -> dict[str, Any]:
        """Something of every kind happens to `obj`: a change, a file, a link to `other`, a change of a value
        customers may not read, and two notifications (the oldest and the newest entries)."""
        admin = self.p.users[Role.ADMINISTRATOR]
        change = audit.record_event(
            action=AuditAction.UPDATE, obj=obj, actor=admin, changes={"colour": {"before": "blue", "after": "green"}}
        )
        files = audit.record_event(
            action=AuditAction.UPDATE,
            obj=obj,
            actor=admin,
            changes={"attachments": {"added": [{"name": "report.pdf", "size": 2048, "sha256": "ab" * 32}]}},
        )
        link = audit.record_event(
            action=AuditAction.LINK,
            obj=obj,
            actor=admin,
            changes={
                "link": {
                    "before": None,
                    "after": {
                        "type": "relates_to",
                        "direction": "forward",
                        "record_type": other._meta.label_lower,
                        "record_id": other.pk,
                    },
                }
            },
        )
        secret = audit.record_event(
            action=AuditAction.UPDATE, obj=obj, actor=admin, changes={HIDDEN_KEY: {"before": "", "after": "Tuesday pw"}}
        )
        latest = AuditEvent.objects.get(pk=secret.pk).occurred_at
        earliest = AuditEvent.objects.get(pk=change.pk).occurred_at
        notes = [
            NotificationLog.objects.create(
                event="changed",
                record_type=self.rt.label,
                record_id=str(obj.pk),
                recipient=f"{name}@example.com",
                subject=f"Timeline notice {name}",
                body="-",
                created_at=at,
            )
            for name, at in (("first", earliest - dt.timedelta(hours=1)), ("last", latest + dt.timedelta(hours=1)))
        ]
        return {"change": change, "files": files, "link": link, "secret": secret, "notes": notes}

    def _all_entries(self, obj: Any, user: Any, kind: str = timeline.ALL, limit: int = 3) -> list[timeline.Entry]:
        """Every entry, page after page of `limit` (each page starting where the last ended)."""
        entries: list[timeline.Entry] = []
        before = None
        for _ in range(1000):
            shown = timeline.page(obj, user, kind=kind, before=before, limit=limit)
            entries += shown.entries
            if shown.older is None:
                return entries
            before = shown.older
        raise AssertionError("the timeline never ended")

    # -- the tests ------------------------------------------------------------------------------------------------
    def test_timeline_merges_every_kind_newest_first_and_filters_by_kind(self) -> None:
        """Changes, files, links and notifications in one list, newest first (ties by the order they were
        written); each filter shows its kind alone; page and API agree."""
        obj, other = self.make_record(self.p.org_a), self.make_record(self.p.org_b)
        earlier = [e.pk for e in audit.history(obj)]  # what the record's creation wrote, if anything
        story = self._timeline_story(obj, other)
        admin = self.p.users[Role.ADMINISTRATOR]
        first, last = story["notes"]
        expected = [
            ("notifications", last.pk),
            ("changes", story["secret"].pk),
            ("links", story["link"].pk),
            ("files", story["files"].pk),
            ("changes", story["change"].pk),
            *(("changes", pk) for pk in earlier),
            ("notifications", first.pk),
        ]
        got = [(e.kind, e.id) for e in self._all_entries(obj, admin)]
        self.assertEqual(
            [k for k in got if k[0] != "changes" or k[1] not in earlier],
            [k for k in expected if k[0] != "changes" or k[1] not in earlier],
        )
        self.assertEqual(len(got), len(expected))
        for kind in ("changes", "files", "links", "notifications"):
            with self.subTest(kind=kind):
                self.assertEqual(
                    [(e.kind, e.id) for e in self._all_entries(obj, admin, kind=kind)],
                    [(k, i) for k, i in expected if k == kind],
                )
        client = self.page_client(admin)
        page = client.get(self.url("detail", obj) + "?tab=timeline")
        self.assertEqual(page.status_code, 200)
        self.assertContains(page, "<time ")
        self.assertContains(page, "Timeline notice last")
        self.assertContains(page, "green")
        self.assertContains(page, "report.pdf")
        files_only = client.get(self.url("detail", obj) + "?tab=timeline&kind=files")
        self.assertContains(files_only, "report.pdf")
        self.assertNotContains(files_only, "Timeline notice")
        data = self.api(admin).get(self.api_url(obj, "timeline")).json()
        self.assertEqual([e["kind"] for e in data["results"]], [k for k, _ in expected])
        self.assertEqual(data["results"][0]["summary"], "Notification queued")
        (colour,) = [e for e in data["results"] if e["changes"] and e["changes"][0]["label"] == "Colour"]
        self.assertEqual(colour["changes"], [{"label": "Colour", "before": "blue", "after": "green"}])
        self.assertEqual(colour["actor"], admin.get_username())
        links = self.api(admin).get(self.api_url(obj, "timeline"), {"kind": "links"}).json()["results"]
        self.assertEqual([c["after"] for c in links[0]["changes"]], [f"relates to {policy.name_of(admin, other)}"])

    def test_timeline_pages_by_time_and_gives_each_entry_once(self) -> None:
        """Older pages start where the last ended: every entry once, in order, whatever the page size; the API's
        `older` cursor gives the next page; a cursor or kind not given by the timeline is a 400 naming it."""
        obj, other = self.make_record(self.p.org_a), self.make_record(self.p.org_b)
        self._timeline_story(obj, other)
        self._timeline_story(obj, other)  # two of each, many at the same time (one transaction)
        admin = self.p.users[Role.ADMINISTRATOR]
        whole = [(e.kind, e.id) for e in self._all_entries(obj, admin, limit=1000)]
        for limit in (1, 2, 5):
            with self.subTest(limit=limit):
                self.assertEqual([(e.kind, e.id) for e in self._all_entries(obj, admin, limit=limit)], whole)
        api = self.api(admin)
        first = timeline.page(obj, admin, limit=timeline.PAGE_SIZE)
        assert first.older is None  # fewer than a page: the API gives them all and no cursor
        self.assertEqual(api.get(self.api_url(obj, "timeline")).json()["older"], None)
        two = timeline.page(obj, admin, limit=2)
        assert two.older is not None
        rest = api.get(self.api_url(obj, "timeline"), {"before": two.older.encode()}).json()
        self.assertEqual(len(rest["results"]), len(whole) - 2)
        self.assertEqual(rest["results"][0]["kind"], whole[2][0])
        for name, value in (("before", "nonsense"), ("kind", "gossip")):
            with self.subTest(refused=name):
                response = api.get(self.api_url(obj, "timeline"), {name: value})
                self.assertEqual(response.status_code, 400)
                self.assertIn(name, response.json())
        client = self.page_client(admin)
        page = client.get(self.url("detail", obj) + "?tab=timeline")
        self.assertNotContains(page, "Show older")  # one page holds them all
        older = client.get(self.url("detail", obj) + f"?tab=timeline&before={two.older.encode()}")
        self.assertEqual(older.status_code, 200)

    def test_timeline_shows_a_customer_only_what_they_may_see(self) -> None:
        """Another organisation's customer gets a 404 on the tab and the API; the record's own customer sees no
        notification, no value hidden from customers, and a link to a record they may not see as "hidden"."""
        obj, other = self.make_record(self.p.org_a), self.make_record(self.p.org_b)
        self._timeline_story(obj, other)
        outsider = self.p.customer_b
        if self.rt.reference_data:
            return  # reference data belongs to no organisation: every customer reads it, as staff do
        with self.subTest(reader="another organisation"):
            self.assertEqual(self.page_client(outsider).get(self.url("detail", obj) + "?tab=timeline").status_code, 404)
            status = self.api(outsider).get(self.api_url(obj, "timeline")).status_code
            self.assertEqual(status, 404 if policy.can(outsider, VIEW, self.model) else 403)
        if self.model.TENANT_FIELD is None or Role.CUSTOMER_USER not in self.rt.permissions[VIEW]:
            return  # no customer reads this type (or every one reads it all): nothing more to hide
        reader = self.p.customer_a
        entries = self._all_entries(obj, reader)
        self.assertNotIn("notifications", [e.kind for e in entries])
        self.assertNotIn(HIDDEN_KEY, [c.name for e in entries for c in e.changes])
        page = self.page_client(reader).get(self.url("detail", obj) + "?tab=timeline")
        self.assertEqual(page.status_code, 200)
        self.assertNotContains(page, "Timeline notice")
        self.assertNotContains(page, "Tuesday pw")
        self.assertNotContains(page, 'data-kind="notifications"')
        self.assertContains(page, f"relates to {policy.HIDDEN}")
        self.assertNotContains(page, escape(str(other)))
        self.assertNotContains(page, other.get_absolute_url())
        api = self.api(reader)
        data = api.get(self.api_url(obj, "timeline")).json()
        text = str(data)
        self.assertNotIn("Timeline notice", text)
        self.assertNotIn("Tuesday pw", text)
        self.assertNotIn(str(other), text)
        self.assertIn(f"relates to {policy.HIDDEN}", text)
        self.assertEqual(api.get(self.api_url(obj, "timeline"), {"kind": "notifications"}).status_code, 400)
