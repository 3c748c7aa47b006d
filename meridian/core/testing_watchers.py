"""The generic tests of a record type's followers (`core.watchers`), part of every `RecordTypeTests` subclass: a type
that declares `watchers=` gets them by opting in (they are skipped for the others), and the meta-test
(`test_registry_coverage.WatcherCoverageTests`) fails when a type that opted in has not run all of them
(`WATCHERS_TESTED`, filled as each one completes).

They follow as the least privileged staff role that may read the record and as a customer user of the record's
organisation (where customers may read the type), act as a role that may change it, and check the refusals as a
customer user of another organisation.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar

from django.core import mail, signing
from django.db import transaction
from django.http import Http404
from django.urls import reverse
from django.utils.text import capfirst

from meridian.core import audit, policy, registry, services, watchers
from meridian.core.choices import AuditAction, Role
from meridian.core.models import AuditEvent, NotificationLog, Organisation, Person, Watch
from meridian.core.registry import CHANGE, VIEW

if TYPE_CHECKING:
    from meridian.core.models import User

# (record type label, test name) of every watcher test that ran to its end in this process
WATCHERS_TESTED: set[tuple[str, str]] = set()
WATCHER_TESTS = (
    "test_watchers_follow_and_unfollow_on_page_and_api",
    "test_watchers_are_told_of_changes_but_not_the_actor",
    "test_watchers_customers_hear_only_what_they_may_read",
    "test_watchers_are_404_to_other_organisations",
    "test_watchers_unfollow_link_of_the_mail",
    "test_watchers_auto_follow_the_people_a_record_names",
)
UNFOLLOW_LINK = re.compile(r"https?://\S+/watching/(\S+)/")


class WatcherTests:
    """Mixed into `RecordTypeTests` (which gives `rt`, `p`, `obj_a`, `obj_b`, `page_client`, `api`, `actor`)."""

    if TYPE_CHECKING:  # given by RecordTypeTests
        rt: Any
        p: ClassVar[Any]
        obj_a: ClassVar[Any]
        obj_b: ClassVar[Any]
        model: ClassVar[Any]

    # -- helpers ---------------------------------------------------------------------------------------------
    def _watchers_declared(self) -> watchers.Watchers:
        declared = getattr(self.rt, "watchers", None)
        if declared is None:
            self.skipTest(f"{self.rt.label} has no watchers")  # type: ignore[attr-defined]
        return declared  # type: ignore[return-value]

    def watch_follower(self) -> User:
        """The least privileged staff user who may read the record: not the administrator when another role may."""
        roles = self.rt.permissions[VIEW] - {Role.CUSTOMER_USER, Role.ADMINISTRATOR, Role.AUDITOR}
        allowed = sorted(r for r in roles if r in self.p.users) or [Role.ADMINISTRATOR]
        return self.p.users[allowed[0]]  # type: ignore[no-any-return]

    def watch_actor(self) -> User:
        """Someone who may change the record, other than the follower."""
        return self.actor(CHANGE)  # type: ignore[attr-defined, no-any-return]

    def customer_follower(self) -> User | None:
        """The customer user of obj_a's organisation, when customers may read the type (None otherwise)."""
        if Role.CUSTOMER_USER in self.rt.permissions[VIEW] and policy.can(self.p.customer_a, VIEW, self.obj_a):
            return self.p.customer_a  # type: ignore[no-any-return]
        return None

    def follow_urls(self, obj: Any) -> dict[str, str]:
        base = f"api:{self.rt.app_label}-{self.rt.url_slug}"
        return {
            "page follow": reverse(self.rt.url_name("follow"), args=[obj.pk]),
            "page unfollow": reverse(self.rt.url_name("unfollow"), args=[obj.pk]),
            "api follow": reverse(f"{base}-follow", kwargs={"pk": obj.pk}),
            "api watchers": reverse(f"{base}-watchers", kwargs={"pk": obj.pk}),
        }

    def followers(self, obj: Any) -> dict[str, str]:
        """username -> reason of each follower of `obj`."""
        return {
            str(getattr(w.person.user, "username", "")): w.reason
            for w in watchers.of(obj).select_related("person__user")
        }

    def mails(self, obj: Any) -> dict[str, NotificationLog]:
        """recipient -> the watcher mail queued about `obj`."""
        rows = NotificationLog.objects.filter(event=watchers.EVENT, record_type=self.rt.label, record_id=str(obj.pk))
        return {row.recipient: row for row in rows.order_by("id")}

    def change(self, obj: Any, actor: Any, data: dict[str, Any] | None = None) -> Any:
        """Change the record as `actor` (its type's own changed data by default), through the service every
        channel uses; returns it as it is afterwards."""
        current = self.model.objects.get(pk=obj.pk)
        values = self.changed_data if data is None else data  # type: ignore[attr-defined]
        return services.update_record(current, data=values, actor=actor, expected_version=current.version)

    def comment_event(self, obj: Any, *, visibility: str, mentions: list[int]) -> None:
        """An audit event of a comment, as the conversation writes it (the contract of `core.watchers`)."""
        with transaction.atomic():
            audit.record_event(
                action=AuditAction.UPDATE,
                obj=obj,
                actor=self.p.users[Role.ADMINISTRATOR],
                changes={
                    "comment": {"id": 1, "visibility": visibility, "body": "secret", "before": "", "mentions": mentions}
                },
            )

    def email_of(self, user: User) -> str:
        return str(Person.objects.get(user=user).email)

    # -- the tests -------------------------------------------------------------------------------------------
    def test_watchers_follow_and_unfollow_on_page_and_api(self) -> None:
        self._watchers_declared()
        test: Any = self
        obj, user = self.obj_a, self.watch_follower()
        urls = self.follow_urls(obj)
        client = test.page_client(user)
        version, events = obj.version, AuditEvent.objects.count()
        with test.subTest(channel="page: the button, then following without htmx"):
            page = client.get(obj.get_absolute_url())
            test.assertContains(page, 'data-watch="follow"')
            test.assertContains(page, "Nobody follows this")  # the empty list says what to do
            response = client.post(urls["page follow"])
            test.assertEqual(response.status_code, 303)
            test.assertEqual(response["Location"], obj.get_absolute_url())
            test.assertEqual(self.followers(obj), {user.username: watchers.MANUAL})
            page = client.get(obj.get_absolute_url())
            test.assertContains(page, "Following")
            test.assertContains(page, 'data-watch="unfollow"')
            test.assertContains(page, 'aria-label="Followers: 1"')  # staff see how many follow
        with test.subTest(channel="page: htmx toggles the button in place"):
            response = client.post(urls["page unfollow"], headers={"HX-Request": "true"})
            test.assertEqual(response.status_code, 200)
            test.assertContains(response, 'data-watch="follow"')
            test.assertNotContains(response, "<html")
            test.assertEqual(self.followers(obj), {})
            response = client.post(urls["page follow"], headers={"HX-Request": "true"})
            test.assertContains(response, 'data-watch="unfollow"')
            test.assertEqual(self.followers(obj), {user.username: watchers.MANUAL})
        with test.subTest(channel="page: following is not a change of the record"):
            current = self.model.objects.get(pk=obj.pk)
            test.assertEqual(current.version, version)
            test.assertEqual(AuditEvent.objects.count(), events)
        with test.subTest(channel="preferences list the record, with an unfollow button"):
            prefs = client.get(reverse("preferences"))
            test.assertContains(prefs, obj.get_absolute_url())
            test.assertContains(prefs, urls["page unfollow"])
            response = client.post(urls["page unfollow"], {"next": reverse("preferences")})
            test.assertEqual(response.status_code, 303)
            test.assertEqual(response["Location"], reverse("preferences"))
            test.assertEqual(self.followers(obj), {})
            test.assertContains(client.get(reverse("preferences")), "You follow no records")
            response = client.post(urls["page follow"], {"next": "https://evil.example/"})
            test.assertEqual(response["Location"], obj.get_absolute_url())  # never off the site
            client.post(urls["page unfollow"])
        with test.subTest(channel="page: GET changes nothing"):
            test.assertEqual(client.get(urls["page follow"]).status_code, 405)
            test.assertEqual(self.followers(obj), {})
        api = test.api(user)
        with test.subTest(channel="api follow"):
            response = api.post(urls["api follow"], {}, format="json")
            test.assertEqual(response.status_code, 201, response.content)
            test.assertEqual(response.json()["reason"], watchers.MANUAL)
            test.assertEqual(api.post(urls["api follow"], format="json").status_code, 200)  # once is enough
            test.assertEqual(self.followers(obj), {user.username: watchers.MANUAL})
        with test.subTest(channel="api refuses input by field, writes nothing"):
            client.post(urls["page unfollow"])
            response = api.post(urls["api follow"], {"person": 1}, format="json")
            test.assertEqual(response.status_code, 400)
            test.assertIn("person", response.json())
            test.assertEqual(self.followers(obj), {})
            api.post(urls["api follow"], format="json")
        with test.subTest(channel="api watchers"):
            rows = api.get(urls["api watchers"]).json()
            test.assertEqual([(r["name"], r["reason"], r["you"]) for r in rows], [(str(user.person), "manual", True)])
        with test.subTest(channel="api unfollow"):
            test.assertEqual(api.delete(urls["api follow"]).status_code, 204)
            test.assertEqual(self.followers(obj), {})
            test.assertEqual(api.get(urls["api watchers"]).json(), [])
            test.assertEqual(api.delete(urls["api follow"]).status_code, 204)  # no error: nothing to undo
        customer = self.customer_follower()
        if customer is not None:
            with test.subTest(channel="a customer follows their own organisation's record, sees only themself"):
                api.post(urls["api follow"], format="json")
                customer_api = test.api(customer)
                test.assertEqual(customer_api.post(urls["api follow"], format="json").status_code, 201)
                rows = customer_api.get(urls["api watchers"]).json()
                test.assertEqual([r["you"] for r in rows], [True])
                page = test.page_client(customer).get(obj.get_absolute_url())
                test.assertContains(page, 'data-watch="unfollow"')
                test.assertNotContains(page, "Followers:")  # who else follows is for staff
                test.assertEqual(len(api.get(urls["api watchers"]).json()), 2)
            with test.subTest(channel="a customer unfollows and follows on the page, unfollows by the API"):
                customer_page = test.page_client(customer)
                test.assertContains(customer_page.get(reverse("preferences")), urls["page unfollow"])
                response = customer_page.post(urls["page unfollow"])
                test.assertEqual(response.status_code, 303)
                test.assertEqual(self.followers(obj), {user.username: watchers.MANUAL})
                response = customer_page.post(urls["page follow"], headers={"HX-Request": "true"})
                test.assertContains(response, 'data-watch="unfollow"')
                test.assertNotContains(response, "Followers:")
                test.assertEqual(self.followers(obj)[customer.username], watchers.MANUAL)
                test.assertEqual(customer_api.delete(urls["api follow"]).status_code, 204)
                test.assertEqual(self.followers(obj), {user.username: watchers.MANUAL})
        WATCHERS_TESTED.add((self.rt.label, "test_watchers_follow_and_unfollow_on_page_and_api"))

    def test_watchers_are_told_of_changes_but_not_the_actor(self) -> None:
        self._watchers_declared()
        test: Any = self
        obj, follower, actor = self.obj_a, self.watch_follower(), self.watch_actor()
        test.assertNotEqual(follower, actor)
        watchers.follow(obj, actor=follower)
        watchers.follow(obj, actor=actor)
        mail.outbox.clear()
        with test.captureOnCommitCallbacks(execute=True), transaction.atomic():
            self.change(obj, actor)
        sent = self.mails(obj)
        test.assertEqual(list(sent), [self.email_of(follower)])  # the actor is not told of their own change
        body = sent[self.email_of(follower)].body
        field = next(iter(self.changed_data))  # type: ignore[attr-defined]
        label = str(self.model._meta.get_field(field).verbose_name)
        test.assertIn(capfirst(label), body)  # what changed, by its label
        test.assertIn(actor.username, body)  # who
        test.assertIn(policy.name_of(follower, obj), sent[self.email_of(follower)].subject)
        test.assertRegex(body, UNFOLLOW_LINK)
        test.assertEqual([m.to for m in mail.outbox], [[self.email_of(follower)]])  # sent after commit
        with test.subTest("a follower whose login is suspended gets nothing"):
            type(follower).objects.filter(pk=follower.pk).update(is_active=False)
            NotificationLog.objects.all().delete()
            self.change(obj, actor, self.revert())
            test.assertEqual(self.mails(obj), {})
        with test.subTest("the record deleted: followers told, watches gone"):
            type(follower).objects.filter(pk=follower.pk).update(is_active=True)
            from meridian.core.factories import OrganisationFactory

            record = self.make_record(OrganisationFactory(name="Deleted soon"))  # type: ignore[attr-defined]
            watchers.follow(record, actor=follower)
            admin = self.p.users[Role.ADMINISTRATOR]
            try:
                services.delete_record(record, actor=admin, expected_version=record.version)
            except services.RecordInUse:  # a type whose records are always referred to: nothing was sent
                test.assertNotIn(self.email_of(follower), self.mails(record))
            else:
                test.assertIn("Deleted", self.mails(record)[self.email_of(follower)].subject)
                test.assertFalse(Watch.objects.filter(record_type=self.rt.label, record_id=record.pk).exists())
        WATCHERS_TESTED.add((self.rt.label, "test_watchers_are_told_of_changes_but_not_the_actor"))

    def revert(self) -> dict[str, Any]:
        return {name: getattr(self.obj_a, name) for name in self.changed_data}  # type: ignore[attr-defined]

    def test_watchers_customers_hear_only_what_they_may_read(self) -> None:
        self._watchers_declared()
        test: Any = self
        obj, staff = self.obj_a, self.watch_follower()
        customer = self.customer_follower()
        if customer is None:  # customers may not read the type: not even of their own organisation do they follow
            own_customer = self.p.customer_a
            test.assertEqual(test.page_client(own_customer).post(self.follow_urls(obj)["page follow"]).status_code, 404)
            test.assertEqual(self.followers(obj), {})
            with test.assertRaises(Http404):
                watchers.follow(obj, actor=own_customer)
            watchers.follow(obj, actor=staff)
            self.comment_event(obj, visibility="internal", mentions=[])
            test.assertEqual(set(self.mails(obj)), {self.email_of(staff)})  # staff read internal comments
            WATCHERS_TESTED.add((self.rt.label, "test_watchers_customers_hear_only_what_they_may_read"))
            return
        watchers.follow(obj, actor=staff)
        watchers.follow(obj, actor=customer)
        staff_mail, customer_mail = self.email_of(staff), self.email_of(customer)
        admin = self.p.users[Role.ADMINISTRATOR]
        if self.rt.custom_fields:
            with test.subTest("a custom field hidden from customers: staff told, the customer not"):
                from meridian.core.choices import CustomFieldType
                from meridian.core.models import CustomField

                services.create_record(
                    CustomField,
                    data={
                        "applies_to": self.rt.label,
                        "name": "cost_centre",
                        "label": "Cost centre",
                        "type": CustomFieldType.TEXT,
                        "customer_visible": False,
                    },
                    actor=admin,
                )
                self.change(obj, admin, {"custom": {"cost_centre": "CC-42"}})
                sent = self.mails(obj)
                test.assertEqual(set(sent), {staff_mail})
                test.assertIn("CC-42", sent[staff_mail].body)
                NotificationLog.objects.all().delete()
        with test.subTest("a change the customer may read: both told"):
            self.change(obj, admin)
            test.assertEqual(set(self.mails(obj)), {staff_mail, customer_mail})
            NotificationLog.objects.all().delete()
        with test.subTest("an internal comment: never to the customer"):
            self.comment_event(obj, visibility="internal", mentions=[])
            test.assertEqual(set(self.mails(obj)), {staff_mail})
            test.assertNotIn("secret", "".join(m.body for m in NotificationLog.objects.filter(recipient=customer_mail)))
            NotificationLog.objects.all().delete()
        with test.subTest("a public comment: the people it mentions are not told twice"):
            self.comment_event(obj, visibility="public", mentions=[staff.pk])
            test.assertEqual(set(self.mails(obj)), {customer_mail})
            NotificationLog.objects.all().delete()
        with test.subTest("a follower moved to another organisation gets nothing"):
            Person.objects.filter(user=customer).update(organisation=self.p.org_b)
            moved = type(customer).objects.get(pk=customer.pk)
            test.assertFalse(policy.can(moved, VIEW, self.model.objects.get(pk=obj.pk)))
            self.change(obj, admin, self.revert())
            test.assertEqual(set(self.mails(obj)), {staff_mail})
        WATCHERS_TESTED.add((self.rt.label, "test_watchers_customers_hear_only_what_they_may_read"))

    def test_watchers_are_404_to_other_organisations(self) -> None:
        self._watchers_declared()
        test: Any = self
        obj, outsider = self.obj_a, self.p.customer_b
        test.assertFalse(policy.can(outsider, VIEW, obj))
        urls = self.follow_urls(obj)
        client, api = test.page_client(outsider), test.api(outsider)
        api_status = 404 if policy.can(outsider, VIEW, self.rt.model) else 403  # as for the record's own routes
        test.assertEqual(client.post(urls["page follow"]).status_code, 404)
        test.assertEqual(client.post(urls["page unfollow"]).status_code, 404)
        test.assertEqual(client.post(urls["page follow"], headers={"HX-Request": "true"}).status_code, 404)
        test.assertEqual(api.post(urls["api follow"], format="json").status_code, api_status)
        test.assertEqual(api.delete(urls["api follow"]).status_code, api_status)
        test.assertEqual(api.get(urls["api watchers"]).status_code, api_status)
        test.assertEqual(self.followers(obj), {})
        with test.subTest("a watch made behind the application's back still sends nothing to an outsider"):
            Watch.objects.create(record_type=self.rt.label, record_id=obj.pk, person=Person.objects.get(user=outsider))
            self.change(obj, self.watch_actor())
            test.assertNotIn(self.email_of(outsider), self.mails(obj))
        with test.subTest("their own organisation's record, where customers may read the type"):
            own = self.obj_b
            if policy.can(outsider, VIEW, own):
                test.assertEqual(api.post(self.follow_urls(own)["api follow"], format="json").status_code, 201)
        WATCHERS_TESTED.add((self.rt.label, "test_watchers_are_404_to_other_organisations"))

    def test_watchers_unfollow_link_of_the_mail(self) -> None:
        self._watchers_declared()
        test: Any = self
        obj, follower = self.obj_a, self.watch_follower()
        watch, _ = watchers.follow(obj, actor=follower)
        self.change(obj, self.watch_actor())
        body = self.mails(obj)[self.email_of(follower)].body
        found = UNFOLLOW_LINK.search(body)
        test.assertIsNotNone(found, body)
        assert found is not None
        token = found.group(1)
        link = reverse("watch_unfollow", args=[token])
        test.client.logout()  # the link works without logging in
        with test.subTest("GET asks and never unfollows (mail scanners fetch links)"):
            page = test.client.get(link)
            test.assertEqual(page.status_code, 200)
            test.assertContains(page, f"Stop following {policy.name_of(follower, obj)}?")
            test.assertEqual(self.followers(obj), {follower.username: watchers.MANUAL})
        with test.subTest("a tampered or foreign token is a clear 400 page"):
            tampered = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")
            foreign = signing.dumps({"w": watch.pk, "p": watch.person_id, "t": watch.record_type, "r": obj.pk})
            other_watch = signing.dumps(
                {"w": watch.pk, "p": watch.person_id, "t": watch.record_type, "r": obj.pk + 1000},
                salt=watchers.TOKEN_SALT,
            )
            for bad in (tampered, foreign, "nonsense"):
                response = test.client.post(reverse("watch_unfollow", args=[bad]))
                test.assertContains(response, "This link does not work", status_code=400)
            response = test.client.post(reverse("watch_unfollow", args=[other_watch]))  # signed, names no watch
            test.assertContains(response, "You do not follow this record")
            test.assertEqual(self.followers(obj), {follower.username: watchers.MANUAL})
        with test.subTest("POST unfollows and confirms"):
            response = test.client.post(link)
            test.assertContains(response, "You no longer follow")
            test.assertEqual(self.followers(obj), {})
            test.assertContains(test.client.post(link), "You do not follow this record")
        WATCHERS_TESTED.add((self.rt.label, "test_watchers_unfollow_link_of_the_mail"))

    def test_watchers_auto_follow_the_people_a_record_names(self) -> None:
        declared = self._watchers_declared()
        test: Any = self
        if not declared.auto:
            WATCHERS_TESTED.add((self.rt.label, "test_watchers_auto_follow_the_people_a_record_names"))
            return  # nothing follows by itself: nothing more to check
        from meridian.core.factories import PersonFactory, UserFactory

        obj = self.obj_a
        organisation = Organisation.objects.get(pk=obj.tenant_id) if obj.tenant_id else self.p.internal
        actor = self.watch_actor()

        def staff_person(name: str, where: Organisation = organisation) -> Person:
            user = UserFactory(username=f"auto-{name}", roles=[Role.SERVICE_DESK_AGENT])
            person: Any = PersonFactory(organisation=where, user=user, first_name=name, last_name="Auto")
            return person  # type: ignore[no-any-return]

        rules = self.rt.link_rules()
        for field in declared.auto:
            # a field whose rule is "internal" (an incident's assignee) names the provider's people
            where = self.p.internal if rules.get(field) == registry.Link.INTERNAL else organisation
            with test.subTest(field=field, channel="page"):
                person = staff_person(f"page-{field}", where)
                current = self.model.objects.get(pk=obj.pk)
                client = test.page_client(actor)
                data = test.form_post_data(current, actor, {field: person.pk})
                response = client.post(test.url("edit", current), data)
                test.assertEqual(response.status_code, 302)
                test.assertEqual(self.followers(obj).get(str(getattr(person.user, "username", ""))), field)
                test.assertIn(person.email, self.mails(obj))  # told that they now lead it
            with test.subTest(field=field, channel="api"):
                person = staff_person(f"api-{field}", where)
                current = self.model.objects.get(pk=obj.pk)
                response = test.api(actor).patch(
                    test.api_url(current), {field: person.pk, "version": current.version}, format="json"
                )
                test.assertEqual(response.status_code, 200, response.content)
                test.assertEqual(self.followers(obj).get(str(getattr(person.user, "username", ""))), field)
            with test.subTest(field=field, channel="a contact without a login is not made a follower"):
                contact: Any = PersonFactory(organisation=where, first_name="No", last_name="Login")
                self.change(obj, actor, {field: contact})
                test.assertNotIn(contact.pk, set(watchers.of(obj).values_list("person_id", flat=True)))
        data = test.new_data()
        tenant = data.get(self.rt.tenant_link or "", None) if self.rt.tenant_link else None
        where = tenant if isinstance(tenant, Organisation) else organisation
        with test.subTest(channel="page create"):
            person = staff_person("page-create", where)
            client = test.page_client(test.actor("add"))
            response = client.post(test.url("add"), test.form_data({**data, declared.auto[0]: person}))
            test.assertEqual(response.status_code, 302)
            made = self.model.objects.order_by("-pk").first()
            test.assertEqual(self.followers(made), {str(getattr(person.user, "username", "")): declared.auto[0]})
            services.delete_record(made, actor=self.p.users[Role.ADMINISTRATOR], expected_version=made.version)
        with test.subTest(channel="api create"):
            person = staff_person("create", where)
            data = {**data, declared.auto[0]: person.pk}
            body = {k: test.api_value(v) for k, v in data.items()}
            response = test.api(test.actor("add")).post(test.api_url(), body, format="json")
            test.assertEqual(response.status_code, 201, response.content)
            made = self.model.objects.get(pk=response.json()["id"])
            test.assertEqual(self.followers(made), {str(getattr(person.user, "username", "")): declared.auto[0]})
        WATCHERS_TESTED.add((self.rt.label, "test_watchers_auto_follow_the_people_a_record_names"))
