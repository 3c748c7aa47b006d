"""Generic test mixins: every registered record type is tested for CRUD through pages and API, the permission
matrix of every role on both channels, tenant isolation (page, API, export, search, history), stale updates,
bad input and exports, by declaring a few attributes:

    class TestOrganisation(RecordTypeTests):
        model = Organisation
        factory = OrganisationFactory

        def new_data(self):
            return {"name": "Acme", "kind": "customer"}

        changed_data = {"name": "Acme Corp"}

`meridian/core/tests/test_registry_coverage.py` fails when a registered type has no such test class.
Lifecycles get `assert_lifecycle_walk` (in a test marked `@walks_lifecycle(Model)`), which tries every action from
every state as every role; the meta-test checks that every registered lifecycle was walked completely.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.http import Http404
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape
from rest_framework.test import APIClient

from meridian.core import actions, audit, policy, registry, services, tabs
from meridian.core import forms as core_forms
from meridian.core.actions import RecordAction
from meridian.core.choices import OrganisationKind, Role
from meridian.core.factories import OrganisationFactory, PersonFactory, UserFactory
from meridian.core.lifecycle import Transition
from meridian.core.models import AuditEvent, Organisation, User
from meridian.core.registry import ADD, CHANGE, DELETE, EXPORT, VIEW, RecordType
from meridian.core.testing_attachments import AttachmentTests
from meridian.core.testing_bulk import BulkTests
from meridian.core.testing_control import ControlTests
from meridian.core.testing_conversation import ConversationTests
from meridian.core.testing_imports import ImportTests
from meridian.core.testing_openapi import openapi_schema
from meridian.core.testing_timeline import TimelineTests
from meridian.core.testing_watchers import WatcherTests

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Principals:
    """The people a test acts as: one staff user per role, and customer users of two organisations."""

    internal: Organisation
    org_a: Organisation
    org_b: Organisation
    users: dict[str, User]
    customer_a: User
    customer_b: User

    def for_role(self, role: str) -> User:
        return self.customer_a if role == Role.CUSTOMER_USER else self.users[role]


def make_principals() -> Principals:
    internal = OrganisationFactory(name="Provider (tests)", kind=OrganisationKind.INTERNAL)
    org_a = OrganisationFactory(name="Customer A (tests)")
    org_b = OrganisationFactory(name="Customer B (tests)")
    users = {}
    for role in Role.values:
        if role == Role.CUSTOMER_USER:
            continue
        user = UserFactory(username=f"t-{role}", roles=[role])
        PersonFactory(organisation=internal, user=user, first_name=role, last_name="Tester")
        users[role] = user
    customer_a = UserFactory(username="t-customer-a", roles=[Role.CUSTOMER_USER])
    PersonFactory(organisation=org_a, user=customer_a, first_name="Alice", last_name="Customer-A")
    customer_b = UserFactory(username="t-customer-b", roles=[Role.CUSTOMER_USER])
    PersonFactory(organisation=org_b, user=customer_b, first_name="Bob", last_name="Customer-B")
    return Principals(internal, org_a, org_b, users, customer_a, customer_b)  # type: ignore[arg-type]


def api_client(user: User, **kwargs: Any) -> APIClient:
    """An API client authenticated the way integrations are: with the user's token."""
    client = APIClient(**kwargs)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    return client


def token_for(user: User, *, read_only: bool = False, expires_at: Any = None, name: str = "") -> str:
    """A new API token of `user` (written directly, without the audit event of `api_tokens.create_api_token`, so
    that tests counting events are not disturbed): its secret."""
    from meridian.core import api_tokens
    from meridian.core.models import ApiToken

    secret = api_tokens.new_secret()
    ApiToken.objects.create(
        user=user,
        name=name or f"test {secret[-8:]}",
        prefix=secret[: api_tokens.PREFIX_LENGTH],
        digest=api_tokens.digest_of(secret),
        read_only=read_only,
        expires_at=expires_at,
    )
    return secret


def least_privileged_viewer(p: Principals, record_type: RecordType) -> User:
    """A staff user who may view the type without being its administrator or the auditor: the service desk agent
    where allowed."""
    allowed = record_type.permissions[VIEW] - {Role.ADMINISTRATOR, Role.AUDITOR, Role.CUSTOMER_USER}
    assert allowed, f"no staff role but the administrator or auditor may view {record_type.label}"
    return p.users[Role.SERVICE_DESK_AGENT if Role.SERVICE_DESK_AGENT in allowed else sorted(allowed)[0]]


class PrincipalsTestCase(TestCase):
    """A test case with `self.p` (principals of every role) and `self.admin`, made once per class."""

    p: ClassVar[Principals]
    admin: ClassVar[User]

    @classmethod
    def setUpTestData(cls) -> None:
        cls.p = make_principals()
        cls.admin = cls.p.users[Role.ADMINISTRATOR]


def fresh(user: User) -> User:
    """The user as a new request would load it (roles are cached per instance)."""
    return User.objects.get(pk=user.pk)


def post_data_from_form(form: Any) -> dict[str, Any]:
    """What a browser would post back for an unchanged form (with the rows of its children, if any)."""
    data: dict[str, Any] = {}
    for name in form.fields:
        value = form[name].value()
        key = form[name].html_name
        if isinstance(value, list | tuple | models.QuerySet):
            data[key] = [getattr(v, "pk", v) for v in value]
        elif isinstance(value, bool):
            if value:
                data[key] = "on"
        elif value is None:
            data[key] = ""
        else:
            data[key] = getattr(value, "pk", value)
    for formset in getattr(form, "child_formsets", []):
        data.update(post_data_from_form(formset.management_form))
        for row in formset.forms:
            data.update(post_data_from_form(row))
    return data


def page_value(value: Any) -> Any:
    """A value as a browser posts it."""
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, bool):
        return "on" if value else ""
    if isinstance(value, dt.time):
        return value.strftime("%H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    return "" if value is None else value


def page_rows(child: Any, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The post data of a child's rows on its parent's form: each row's fields, `id` for an existing row and
    `DELETE` to remove one (what the inline formset of `core/_child_rows.html` posts)."""
    prefix = child.name
    existing = [row for row in rows if row.get("id")]
    new = [row for row in rows if not row.get("id")]
    data: dict[str, Any] = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": str(len(existing)),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(existing + new):
        for name, value in row.items():
            if name == "DELETE":
                if value:
                    data[f"{prefix}-{index}-DELETE"] = "on"
            elif page_value(value) != "" or name == "id":
                data[f"{prefix}-{index}-{name}"] = page_value(value)
    return data


@dataclass
class ChildExample:
    """What the generic tests of a child (`core.children.Child`) write: two valid new rows, a change of a row's
    fields, and a row that is invalid in `invalid_field`. Linked records as objects."""

    rows: list[dict[str, Any]]
    change: dict[str, Any]
    invalid: dict[str, Any]
    invalid_field: str


def wrong_json_values(field: Any) -> list[Any]:
    """Values of another JSON type than an API field declares, which the API must refuse rather than coerce."""
    from rest_framework import serializers

    if isinstance(field, serializers.ManyRelatedField):
        return [1, {"1": 1}, ["1"], [1.5], [True]]
    if isinstance(field, serializers.RelatedField):
        return ["1", 1.5, True, [1]]
    if isinstance(field, serializers.BooleanField):
        return ["true", 1, None] if not field.allow_null else ["true", 1]
    if isinstance(field, serializers.IntegerField | serializers.FloatField):
        return ["1", True, [1]] + ([1.5] if isinstance(field, serializers.IntegerField) else [])
    if isinstance(field, serializers.ChoiceField):
        choice = next(iter(field.choices))
        return [True, [choice], 1 if isinstance(choice, str) else str(choice)]
    if isinstance(field, serializers.CharField | serializers.DateField | serializers.TimeField):
        return [7, 1.5, True, ["x"], {"x": 1}]
    return []


class RecordTypeTests(
    AttachmentTests, ConversationTests, TimelineTests, WatcherTests, ImportTests, BulkTests, ControlTests, TestCase
):
    """Declare `model`, `factory`, `new_data()` and `changed_data` in a subclass. The tests of a type's files
    (`testing_attachments.AttachmentTests`) run for a type that declares `attachments=`; those of its timeline
    (`testing_timeline.TimelineTests`) for every type; those of its followers (`testing_watchers.WatcherTests`) for
    a type that declares `watchers=`; those of its change control (`testing_control.ControlTests`) for a type that
    declares `control=`."""

    model: ClassVar[type[Any]]
    factory: ClassVar[Any]
    changed_data: ClassVar[dict[str, Any]] = {}
    deletable: ClassVar[bool] = True
    p: ClassVar[Principals]
    obj_a: ClassVar[Any]
    obj_b: ClassVar[Any]

    __test__ = False  # the mixin itself is not a test; each subclass naming a model is

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.__test__ = "model" in cls.__dict__

    @classmethod
    def setUpTestData(cls) -> None:
        cls.p = make_principals()
        cls.obj_a = cls.make_record(cls.p.org_a)
        cls.obj_b = cls.make_record(cls.p.org_b)

    # -- what a subclass may override ------------------------------------------------------------------------
    @classmethod
    def make_record(cls, organisation: Organisation) -> Any:
        """A record owned by `organisation` (for types without tenancy, just a record)."""
        tenant = cls.model.TENANT_FIELD
        if tenant == "id":
            return organisation
        if tenant:
            return cls.factory(**{tenant: organisation})
        return cls.factory()

    def new_data(self) -> dict[str, Any]:
        raise NotImplementedError

    # -- helpers ---------------------------------------------------------------------------------------------
    @property
    def rt(self) -> RecordType:
        return registry.get(self.model)

    def url(self, action: str, obj: Any = None) -> str:
        args = [obj.pk] if obj is not None else []
        return reverse(self.rt.url_name(action), args=args)

    def api_url(self, obj: Any = None, suffix: str = "") -> str:
        base = f"api:{self.rt.app_label}-{self.rt.url_slug}"
        if obj is None:
            return reverse(f"{base}-list")
        return reverse(f"{base}-{suffix or 'detail'}", args=[obj.pk])

    def actor(self, action: str) -> User:
        """A staff user allowed to do `action` (the administrator when the declaration allows it)."""
        allowed = self.rt.permissions[action]
        role = Role.ADMINISTRATOR if Role.ADMINISTRATOR in allowed else sorted(allowed - {Role.CUSTOMER_USER})[0]
        return self.p.users[role]

    def page_client(self, user: User) -> Any:
        self.client.force_login(user)
        return self.client

    def api(self, user: User) -> APIClient:
        return api_client(user)

    def form_post_data(self, obj: Any, user: User, changes: dict[str, Any]) -> dict[str, Any]:
        form = core_forms.form_for(self.rt)(instance=obj, user=fresh(user))
        data = post_data_from_form(form)
        data.update(changes)
        return data

    def api_value(self, value: Any) -> Any:
        if isinstance(value, models.Model):
            return value.pk
        if isinstance(value, list):
            return [self.api_value(v) for v in value]
        return value

    def events(self, obj: Any, action: str) -> models.QuerySet[AuditEvent]:
        return AuditEvent.objects.filter(record_type=self.rt.label, record_id=str(obj.pk), action=action)

    # -- CRUD through the pages ------------------------------------------------------------------------------
    def test_pages_create_edit_delete_and_history(self) -> None:
        client = self.page_client(self.actor(ADD))
        self.assertEqual(client.get(self.url("list")).status_code, 200)
        self.assertEqual(client.get(self.url("add")).status_code, 200)
        before = self.model.objects.count()
        response = client.post(self.url("add"), self.form_data(self.new_data()))
        self.assertEqual(
            response.status_code, 302, getattr(response, "context", {}) and response.context["form"].errors
        )
        self.assertEqual(self.model.objects.count(), before + 1)
        created = self.model.objects.order_by("-pk").first()
        self.assertTrue(self.events(created, "create").exists())

        client = self.page_client(self.actor(CHANGE))
        self.assertEqual(client.get(self.url("edit", created)).status_code, 200)
        m2m_before, m2m = self.m2m_values(created), self.m2m_changes(created, self.actor(CHANGE))
        response = client.post(
            self.url("edit", created),
            self.form_post_data(created, self.actor(CHANGE), {**self.form_data(self.changed_data), **m2m}),
        )
        self.assertEqual(
            response.status_code, 302, getattr(response, "context", None) and response.context["form"].errors
        )
        self.assert_updated(created, m2m_before, m2m)

        detail = client.get(self.url("detail", created) + "?tab=history")
        self.assertContains(detail, "Updated")
        if self.deletable:
            client = self.page_client(self.actor(DELETE))
            response = client.post(self.url("delete", created), {"version": created.version, "reason": "test"})
            self.assertEqual(response.status_code, 302)
            self.assertFalse(self.model.objects.filter(pk=created.pk).exists())
            self.assertTrue(self.events(created, "delete").exists())

    def form_data(self, data: dict[str, Any]) -> dict[str, Any]:
        return {k: self.api_value(v) for k, v in data.items()}

    def m2m_values(self, obj: Any) -> dict[str, list[Any]]:
        """The ids in each many-to-many field the type writes, sorted."""
        return {
            field.name: sorted(o.pk for o in getattr(obj, field.name).all())
            for field in self.model._meta.many_to_many
            if field.name in self.rt.fields
        }

    def m2m_changes(self, obj: Any, user: User) -> dict[str, list[Any]]:
        """A real change of every many-to-many field the type writes (e.g. a team's members): the first current
        member out, a record the user may choose (from the form's choices) in. Values are lists of ids."""
        form = core_forms.form_for(self.rt)(instance=obj, user=fresh(user))
        changes = {}
        for name, current in self.m2m_values(obj).items():
            field: Any = form.fields[name]  # a ModelMultipleChoiceField: its choices are what the user may link
            choice = field.queryset.exclude(pk__in=current).order_by("pk").first()
            assert choice is not None, f"nothing to add to {name}: make a record it may link to"
            changes[name] = sorted([*current[1:], choice.pk])
        return changes

    def assert_updated(self, obj: Any, m2m_before: dict[str, list[Any]], m2m: dict[str, list[Any]]) -> None:
        """`changed_data` and the many-to-many changes are saved, as version 2, with one update event naming
        exactly those fields (a many-to-many field with its ids before and after)."""
        obj.refresh_from_db()
        for name, value in self.changed_data.items():
            self.assertEqual(self.api_value(getattr(obj, name)), self.api_value(value))
        for name, pks in m2m.items():
            self.assertEqual(sorted(o.pk for o in getattr(obj, name).all()), pks)
        self.assertEqual(obj.version, 2)
        event = self.events(obj, "update").get()
        self.assertEqual(set(event.changes), set(self.changed_data) | set(m2m))
        for name, pks in m2m.items():
            self.assertEqual(event.changes[name], {"before": m2m_before[name], "after": pks})

    def test_page_refuses_bad_input_and_writes_nothing(self) -> None:
        client = self.page_client(self.actor(ADD))
        before, events = self.model.objects.count(), AuditEvent.objects.count()
        response = client.post(self.url("add"), {})
        self.assertEqual(response.status_code, 400)
        self.assertTrue(response.context["form"].errors)
        self.assertContains(response, "Correct the fields marked below", status_code=400)
        self.assertEqual(self.model.objects.count(), before)
        self.assertEqual(AuditEvent.objects.count(), events)

    def test_stale_page_save_is_refused_with_409(self) -> None:
        user = self.actor(CHANGE)
        client = self.page_client(user)
        stale = self.form_post_data(self.obj_a, user, {})
        first = client.post(
            self.url("edit", self.obj_a), self.form_post_data(self.obj_a, user, self.form_data(self.changed_data))
        )
        self.assertEqual(first.status_code, 302)
        second = client.post(self.url("edit", self.obj_a), stale)
        self.assertEqual(second.status_code, 409)
        self.assertContains(second, "Someone else saved", status_code=409)
        current = self.model.objects.get(pk=self.obj_a.pk)
        for name, value in self.changed_data.items():
            self.assertEqual(self.api_value(getattr(current, name)), self.api_value(value))

    def test_page_writes_name_a_well_formed_version(self) -> None:
        """Edit, delete and lifecycle action pages: no version, or one that is not a whole number of at least 1,
        is a 400 on `version` that writes nothing; a stale one is a 409."""
        user = self.actor(CHANGE)
        client = self.page_client(user)
        changes = self.form_post_data(self.obj_a, user, self.form_data(self.changed_data))
        events = AuditEvent.objects.count()
        for version in (None, "", "abc", "-1", "0", "1.5", "1.0", "true"):
            data = {k: v for k, v in changes.items() if k != "version"}
            if version is not None:
                data["version"] = version
            with self.subTest(page="edit", version=version):
                response = client.post(self.url("edit", self.obj_a), data)
                self.assertEqual(response.status_code, 400)
                self.assertIn("version", response.context["form"].errors)
                # the hidden field's message is said at the top; no visible field is marked
                message = core_forms.VersionField.default_error_messages["invalid" if version else "required"]
                self.assertContains(response, escape(message), status_code=400)
                self.assertNotContains(response, "Correct the fields marked below", status_code=400)
        if self.deletable:
            client = self.page_client(self.actor(DELETE))
            for version in (None, "abc", "-1", "1.5"):
                with self.subTest(page="delete", version=version):
                    response = client.post(
                        self.url("delete", self.obj_a), {} if version is None else {"version": version}
                    )
                    self.assertEqual(response.status_code, 400)
            self.assertEqual(client.post(self.url("delete", self.obj_a), {"version": "2"}).status_code, 409)
        lifecycle = self.rt.lifecycle
        if lifecycle is not None:
            client = self.page_client(self.p.users[Role.ADMINISTRATOR])
            action_url = self.url("detail", self.obj_a) + f"actions/{lifecycle.transitions[0].action}/"
            for version in (None, "abc", "1.5"):
                with self.subTest(page="action", version=version):
                    data = {"reason": "test"} if version is None else {"reason": "test", "version": version}
                    self.assertEqual(client.post(action_url, data).status_code, 400)
        self.assertEqual(AuditEvent.objects.count(), events)
        current = self.model.objects.get(pk=self.obj_a.pk)
        self.assertEqual(current.version, self.obj_a.version)

    # -- CRUD through the API --------------------------------------------------------------------------------
    def test_api_create_read_update_delete(self) -> None:
        api = self.api(self.actor(ADD))
        response = api.post(self.api_url(), self.form_data(self.new_data()), format="json")
        self.assertEqual(response.status_code, 201, response.content)
        pk = response.json()["id"]
        created = self.model.objects.get(pk=pk)
        self.assertTrue(self.events(created, "create").exists())

        api = self.api(self.actor(CHANGE))
        self.assertEqual(api.get(self.api_url(created)).status_code, 200)
        changes = self.form_data(self.changed_data)
        missing_version = api.patch(self.api_url(created), changes, format="json")
        self.assertEqual(missing_version.status_code, 400)
        self.assertIn("version", missing_version.json())
        m2m_before, m2m = self.m2m_values(created), self.m2m_changes(created, self.actor(CHANGE))
        response = api.patch(self.api_url(created), {**changes, **m2m, "version": 1}, format="json")
        self.assertEqual(response.status_code, 200, response.content)
        self.assertEqual(response.json()["version"], 2)
        for name, pks in m2m.items():
            self.assertEqual(sorted(response.json()[name]), pks)
        self.assert_updated(created, m2m_before, m2m)
        history = api.get(self.api_url(created, "history"))
        self.assertEqual(history.status_code, 200)
        self.assertEqual([e["action"] for e in history.json()["results"]], ["update", "create"])

        if self.deletable:
            api = self.api(self.actor(DELETE))
            missing_version = api.delete(self.api_url(created))
            self.assertEqual(missing_version.status_code, 400)
            self.assertIn("version", missing_version.json())
            self.assertEqual(api.delete(self.api_url(created), HTTP_IF_MATCH='"1"').status_code, 409)
            self.assertEqual(api.delete(self.api_url(created), HTTP_IF_MATCH='"2"').status_code, 204)
            self.assertFalse(self.model.objects.filter(pk=pk).exists())

    def test_api_refuses_bad_input_and_protected_fields(self) -> None:
        api = self.api(self.actor(ADD))
        before, events = self.model.objects.count(), AuditEvent.objects.count()
        response = api.post(self.api_url(), {}, format="json")
        self.assertEqual(response.status_code, 400)
        self.assertIsInstance(response.json(), dict)
        forged: dict[str, Any] = {"version": 99, "created_at": "2000-01-01T00:00:00Z", "id": 999999}
        if self.rt.lifecycle:
            forged[self.rt.lifecycle.field] = "forged-status"
        valid = self.form_data(self.new_data())
        for name, value in forged.items():
            with self.subTest(forged=name):
                response = api.post(self.api_url(), {**valid, name: value}, format="json")
                self.assertEqual(response.status_code, 400, response.content)
                self.assertEqual(set(response.json()), {name})
        response = api.post(self.api_url(), {**valid, **forged}, format="json")
        self.assertEqual(response.status_code, 400, response.content)
        self.assertEqual(set(response.json()), set(forged))
        self.assertEqual(self.model.objects.count(), before)
        self.assertEqual(AuditEvent.objects.count(), events)

    def test_api_refuses_values_of_the_wrong_json_type(self) -> None:
        """Every writable field takes only its declared JSON type: a wrong one is a 400 naming the field (never
        coerced: "1" or 1.5 for an id, "true" for a boolean, 7 for text) and nothing is written."""
        from meridian.core.api.serializers import serializer_for

        api = self.api(self.actor(ADD))
        fields = serializer_for(self.rt)().fields
        valid = self.form_data(self.new_data())
        before, events = self.model.objects.count(), AuditEvent.objects.count()
        for name in self.rt.fields:
            for value in wrong_json_values(fields[name]):
                with self.subTest(field=name, value=value):
                    response = api.post(self.api_url(), {**valid, name: value}, format="json")
                    self.assertEqual(response.status_code, 400, response.content)
                    self.assertEqual(set(response.json()), {name})
        self.assertEqual(self.model.objects.count(), before)
        self.assertEqual(AuditEvent.objects.count(), events)

    def test_api_stale_update_gets_409_with_current_state(self) -> None:
        api = self.api(self.actor(CHANGE))
        changes = self.form_data(self.changed_data)
        first = api.patch(self.api_url(self.obj_a), {**changes, "version": self.obj_a.version}, format="json")
        self.assertEqual(first.status_code, 200, first.content)
        first_state = self.model.objects.get(pk=self.obj_a.pk)
        second = api.patch(
            self.api_url(self.obj_a),
            {**self.form_data(self.revert_data()), "version": self.obj_a.version},
            format="json",
        )
        self.assertEqual(second.status_code, 409)
        self.assertEqual(second.json()["current"]["version"], first_state.version)
        self.assertEqual({c["field"] for c in second.json()["changed_since"]}, set(self.changed_data))
        after = self.model.objects.get(pk=self.obj_a.pk)
        self.assertEqual(after.version, first_state.version)
        for name in self.changed_data:
            self.assertEqual(self.api_value(getattr(after, name)), self.api_value(getattr(first_state, name)))

    def revert_data(self) -> dict[str, Any]:
        return {name: getattr(self.obj_a, name) for name in self.changed_data}

    # -- permissions: every role, both channels --------------------------------------------------------------
    def test_role_matrix_pages_and_api(self) -> None:
        """Every role on both channels: what it may list, add, see, export, and change (a real change, through the
        edit page and an API PATCH: made exactly when allowed, otherwise refused with nothing written)."""
        for role in Role.values:
            user = self.p.for_role(role)
            own = self.obj_a  # customer A's own record, or any record for staff
            allowed = {action: role in self.rt.permissions[action] for action in (VIEW, ADD, CHANGE, DELETE, EXPORT)}
            visible = allowed[VIEW] and (
                role != Role.CUSTOMER_USER or self.rt.reference_data or own.tenant_id == self.p.org_a.pk
            )
            changes = self.form_data(self.changed_data)
            with self.subTest(role=role, channel="pages"):
                client = self.page_client(user)
                self.assertEqual(client.get(self.url("list")).status_code, 200 if allowed[VIEW] else 403)
                self.assertEqual(client.get(self.url("add")).status_code, 200 if allowed[ADD] else 403)
                detail = client.get(self.url("detail", own)).status_code
                self.assertEqual(detail, 200 if visible else 404)
                edit = client.get(self.url("edit", own)).status_code
                self.assertEqual(edit, (200 if allowed[CHANGE] else 403) if visible else 404)
                export = client.get(self.url("list") + "?export=csv").status_code
                self.assertEqual(export, 200 if allowed[VIEW] and allowed[EXPORT] else 403)
                current = self.model.objects.get(pk=own.pk)
                response = client.post(
                    self.url("edit", own), self.form_post_data(current, self.p.users[Role.ADMINISTRATOR], changes)
                )
                self.assertEqual(response.status_code, (302 if allowed[CHANGE] else 403) if visible else 404)
                self.assert_changed_exactly_when(response.status_code == 302, current)
            with self.subTest(role=role, channel="api"):
                api = self.api(user)
                self.assertEqual(api.get(self.api_url()).status_code, 200 if allowed[VIEW] else 403)
                response = api.post(self.api_url(), self.form_data(self.new_data()), format="json")
                if allowed[ADD]:
                    self.assertEqual(response.status_code, 201, response.content)
                    self.model.objects.filter(pk=response.json()["id"]).delete()
                else:
                    self.assertEqual(response.status_code, 403)
                current = self.model.objects.get(pk=own.pk)
                response = api.patch(self.api_url(own), {**changes, "version": current.version}, format="json")
                expected = (
                    (200 if allowed[CHANGE] else 403) if visible else (404 if allowed[CHANGE] or allowed[VIEW] else 403)
                )
                self.assertEqual(response.status_code, expected, response.content)
                self.assert_changed_exactly_when(response.status_code == 200, current)

    def assert_changed_exactly_when(self, changed: bool, before: Any) -> None:
        """`changed_data` was written (one version more), or nothing was; then the record is put back as it was."""
        after = self.model.objects.get(pk=before.pk)
        for name, value in self.changed_data.items():
            expected = value if changed else getattr(before, name)
            self.assertEqual(self.api_value(getattr(after, name)), self.api_value(expected), name)
        self.assertEqual(after.version, before.version + 1 if changed else before.version)
        if changed:
            original = {name: getattr(before, name) for name in self.changed_data}
            services.update_record(
                after, data=original, actor=self.p.users[Role.ADMINISTRATOR], expected_version=after.version
            )

    # -- tenancy: another organisation's record does not exist for a customer --------------------------------
    def test_customer_of_another_organisation_gets_404_everywhere(self) -> None:
        if self.rt.reference_data:
            self.skipTest("reference data belongs to no organisation: every customer reads it")
        outsider = self.p.customer_b
        target = self.obj_a
        label = str(target)
        client = self.page_client(outsider)
        for action in ("detail", "edit", "delete"):
            status = client.get(self.url(action, target)).status_code
            with self.subTest(page=action):
                self.assertEqual(status, 404)
        with self.subTest(page="action"):
            self.assertEqual(client.post(self.url("detail", target).rstrip("/") + "/actions/x/").status_code, 404)
        api = self.api(outsider)
        for method in ("get", "patch", "put", "delete"):
            with self.subTest(api=method):
                status = getattr(api, method)(
                    self.api_url(target), {"version": target.version}, format="json"
                ).status_code
                self.assertIn(status, (404,) if policy.can(fresh(outsider), VIEW, self.model) else (403,))
        with self.subTest(api="history"):
            status = api.get(self.api_url(target, "history")).status_code
            self.assertIn(status, (404,) if policy.can(fresh(outsider), VIEW, self.model) else (403,))
        listing = client.get(self.url("list"))
        if listing.status_code == 200:
            with self.subTest(channel="list page"):
                self.assertNotContains(listing, label)
            with self.subTest(channel="export"):
                exported = client.get(self.url("list") + "?export=csv")
                if exported.status_code == 200:
                    self.assertNotIn(label, exported.content.decode())
            with self.subTest(channel="api list"):
                ids = [row["id"] for row in api.get(self.api_url() + "?page_size=1000").json()["results"]]
                self.assertNotIn(target.pk, ids)
        search_term = label[:40]
        with self.subTest(channel="search page"):
            self.assertNotContains(client.get(reverse("search"), {"q": search_term}), target.get_absolute_url())
        with self.subTest(channel="search api"):
            hits = api.get(reverse("api:search"), {"q": search_term}).json()
            self.assertNotIn((self.rt.label, target.pk), [(h["type"], h["id"]) for h in hits])

    # -- exports and list performance ------------------------------------------------------------------------
    def test_export_csv_and_xlsx(self) -> None:
        client = self.page_client(self.p.users[Role.AUDITOR])
        response = client.get(self.url("list") + "?export=csv")
        self.assertEqual(response.status_code, 200)
        rows = list(csv.reader(io.StringIO(response.content.decode())))
        self.assertGreaterEqual(len(rows), 3)  # header, obj_a, obj_b
        response = client.get(self.url("list") + "?export=xlsx")
        self.assertEqual(response.status_code, 200)
        from openpyxl import load_workbook

        sheet = load_workbook(io.BytesIO(response.content)).active
        self.assertGreaterEqual(sheet.max_row, 3)

    def test_list_queries_do_not_grow_with_rows(self) -> None:
        """The list page and the API list make as many queries for 7 rows as for 2 (no N+1), as the least privileged
        roles that may list, so that guards and tenancy run: a staff role that may view, and a customer user with the
        extra rows in their own organisation (so that they are really listed). For a type whose record is the
        organisation itself a customer only ever sees one row, so only the staff check applies."""
        viewers: list[tuple[User, Organisation | None]] = [(self.least_privileged_viewer(), None)]
        if Role.CUSTOMER_USER in self.rt.permissions[VIEW] and self.model.TENANT_FIELD not in (None, "id"):
            viewers.append((self.p.customer_a, self.p.org_a))
        for user, organisation in viewers:
            with self.subTest(user=user.username):
                self.assert_list_queries_constant(user, organisation)

    def least_privileged_viewer(self) -> User:
        return least_privileged_viewer(self.p, self.rt)

    def assert_list_queries_constant(self, user: User, organisation: Organisation | None) -> None:
        """Five more rows (in `organisation`, or each in a new one) are listed without a single query more."""
        from django.db import connection

        client, api = self.page_client(user), self.api(user)
        client.get(self.url("list"))
        api.get(self.api_url())
        with CaptureQueriesContext(connection) as few_page:
            self.assertEqual(client.get(self.url("list")).status_code, 200)
        with CaptureQueriesContext(connection) as few_api:
            few = api.get(self.api_url()).json()["count"]
        for _ in range(5):
            self.make_record(organisation or OrganisationFactory())  # type: ignore[arg-type]
        with CaptureQueriesContext(connection) as many_page:
            self.assertEqual(client.get(self.url("list")).status_code, 200)
        with CaptureQueriesContext(connection) as many_api:
            many = api.get(self.api_url()).json()["count"]
        self.assertEqual(many, few + 5, "the extra rows are not listed for this user")
        self.assertEqual(len(many_page), len(few_page), "list page queries grow with rows (N+1)")
        self.assertEqual(len(many_api), len(few_api), "API list queries grow with rows (N+1)")

    # -- record actions (lifecycle transitions included) and tabs ----------------------------------------------
    def action_record(self, record_action: RecordAction) -> Any:
        """A new record, of customer A's organisation where the type has one, to try `record_action` on. Override to
        make one on which the action is possible now (else only its refusals are tried)."""
        return self.make_record(self.p.org_a)

    def action_input(self, record_action: RecordAction, obj: Any, role: str) -> dict[str, Any]:
        """Valid input of the action for `obj` as `role` would send it (the API's JSON body without the version; the
        page posts the same values). Override for an action with a form."""
        return {"reason": "generic test"}

    def action_events(self, obj: Any) -> list[AuditEvent]:
        return list(AuditEvent.objects.filter(record_type=self.rt.label, record_id=str(obj.pk)))

    def assert_action_outcome(self, record_action: RecordAction, obj: Any, done: bool, earlier: list[Any]) -> None:
        """Done: exactly one new audit event about the record, naming the action. Refused: version and trail as
        they were."""
        after = self.model.objects.get(pk=obj.pk)
        new = [e for e in self.action_events(obj) if e.pk not in {x.pk for x in earlier}]
        if done:
            self.assertEqual([e.changes.get("action") for e in new], [record_action.name], "one event naming it")
        else:
            self.assertEqual((after.version, new), (obj.version, []), "a refused action changed the record")

    def test_every_record_action_through_pages_and_api_as_every_role(self) -> None:
        """Every action of the type (transitions included), as every role, on both channels, with the one right
        outcome derived from the declarations: 404 for a record the role may not see, 403 for a role the action
        does not name (always for the auditor), 409 when not possible now (the form page; a button answers on the
        record's page), else done with one audit event naming it; a refusal changes nothing."""
        for record_action in actions.actions_of(self.rt):
            self.assertNotIn(Role.AUDITOR, record_action.roles)
            obj = None  # a record refused on leaves it as it was (asserted): the next role tries the same one
            for role in Role.values:
                for channel in ("page", "api"):
                    obj = self.action_record(record_action) if obj is None else self.model.objects.get(pk=obj.pk)
                    user = fresh(self.p.for_role(role))
                    visible = role in self.rt.permissions[VIEW] and (
                        role != Role.CUSTOMER_USER or obj.tenant_id == self.p.org_a.pk
                    )
                    may = role in record_action.roles
                    possible = record_action.refusal(obj, user) is None
                    body = self.action_input(record_action, obj, role)
                    earlier = self.action_events(obj)
                    with self.subTest(action=record_action.name, role=role, channel=channel):
                        if channel == "api":
                            url = self.api_url(obj, record_action.name)
                            response = self.api(user).post(url, {**body, "version": obj.version}, format="json")
                            if not visible:
                                expected = 404 if role in self.rt.permissions[VIEW] else 403
                            else:
                                expected = 403 if not may else 409 if not possible else 200
                            self.assertEqual(response.status_code, expected, response.content)
                            done = expected == 200
                            if done:
                                self.assertIn("available_actions", response.json())
                        else:
                            url = self.url("detail", obj) + f"actions/{record_action.slug}/"
                            response = self.page_client(user).post(url, {**body, "version": obj.version})
                            refused_now = 409 if record_action.has_form_page else 302
                            expected = 404 if not visible else 403 if not may else refused_now if not possible else 302
                            self.assertEqual(response.status_code, expected)
                            done = possible and may and visible
                        self.assert_action_outcome(record_action, obj, done, earlier)
                    if done:
                        obj = None

    def test_every_record_action_refuses_stale_versions_and_bad_input(self) -> None:
        """A stale version is a 409 (page and API) and a missing one a 400 on `version` (API); nothing changes."""
        from django.db.models import F

        for record_action in actions.actions_of(self.rt):
            roles = sorted(record_action.roles - {Role.CUSTOMER_USER})
            if not roles:
                continue
            user = fresh(self.p.users[Role.ADMINISTRATOR if Role.ADMINISTRATOR in roles else roles[0]])
            for channel in ("page", "api", "api without version"):
                obj = self.action_record(record_action)
                read = obj.version
                if channel != "api without version":
                    self.model.objects.filter(pk=obj.pk).update(version=F("version") + 1)  # someone else saved
                obj = self.model.objects.get(pk=obj.pk)
                earlier = self.action_events(obj)
                body = self.action_input(record_action, obj, Role.ADMINISTRATOR)
                with self.subTest(action=record_action.name, channel=channel):
                    if channel == "page":
                        url = self.url("detail", obj) + f"actions/{record_action.slug}/"
                        response = self.page_client(user).post(url, {**body, "version": read})
                        if record_action.has_form_page:
                            self.assertEqual(response.status_code, 409)
                        else:
                            self.assertEqual(response.status_code, 302)
                    elif channel == "api":
                        url = self.api_url(obj, record_action.name)
                        response = self.api(user).post(url, {**body, "version": read}, format="json")
                        self.assertEqual(response.status_code, 409, response.content)
                        self.assertEqual(response.json()["current"]["version"], read + 1)
                    else:
                        response = self.api(user).post(self.api_url(obj, record_action.name), body, format="json")
                        self.assertEqual(response.status_code, 400, response.content)
                        self.assertIn("version", response.json())
                    self.assert_action_outcome(record_action, obj, False, earlier)

    def test_every_record_action_is_404_for_a_customer_of_another_organisation(self) -> None:
        outsider = self.p.customer_b
        for record_action in actions.actions_of(self.rt):
            obj = self.action_record(record_action)
            if obj.tenant_id == self.p.org_b.pk:
                continue
            earlier = self.action_events(obj)
            body = self.action_input(record_action, obj, Role.ADMINISTRATOR)
            with self.subTest(action=record_action.name, channel="page"):
                url = self.url("detail", obj) + f"actions/{record_action.slug}/"
                self.assertEqual(self.page_client(outsider).get(url).status_code, 404)
                self.assertEqual(
                    self.page_client(outsider).post(url, {**body, "version": obj.version}).status_code, 404
                )
            with self.subTest(action=record_action.name, channel="api"):
                url = self.api_url(obj, record_action.name)
                response = self.api(outsider).post(url, {**body, "version": obj.version}, format="json")
                viewer = Role.CUSTOMER_USER in self.rt.permissions[VIEW]
                self.assertEqual(response.status_code, 404 if viewer else 403, response.content)
            self.assert_action_outcome(record_action, obj, False, earlier)

    def test_openapi_describes_every_action_and_tab(self) -> None:
        """Each action: a POST with its request body; each tab with `api=`: a GET."""
        paths = openapi_schema(self.api(self.p.users[Role.AUDITOR]))["paths"]
        base = f"/api/v1/{self.rt.url_app}/{self.rt.url_slug}/{{id}}/"
        for record_action in actions.actions_of(self.rt):
            with self.subTest(action=record_action.name):
                operation = paths[f"{base}{record_action.slug}/"]["post"]
                self.assertIn("requestBody", operation)
                self.assertIn("409", operation["responses"])
        for tab in tabs.tabs_of(self.rt):
            if tab.api is not None:
                with self.subTest(tab=tab.name):
                    self.assertIn("get", paths[f"{base}{tab.slug}/"])

    def test_every_tab_opens_for_who_may_and_is_refused_otherwise(self) -> None:
        """Every tab (declared and built-in), as every role, on the page (`?tab=`) and in the API (tabs with `api=`):
        open (200, its pane) for a reader the declaration allows; not in the tab bar and 403 for another reader;
        404 for a record the role may not see (a customer of another organisation included)."""
        obj = self.make_record(self.p.org_a)
        for role in [*Role.values, "customer of another organisation"]:
            user = self.p.customer_b if role not in Role.values else self.p.for_role(role)
            own_role = Role.CUSTOMER_USER if user in (self.p.customer_a, self.p.customer_b) else role
            visible = own_role in self.rt.permissions[VIEW] and (
                own_role != Role.CUSTOMER_USER or self.rt.reference_data or obj.tenant_id == fresh(user).organisation_id
            )
            client = self.page_client(user)
            details = client.get(self.url("detail", obj)).content.decode() if visible else ""  # its tab bar
            for tab in tabs.tabs_of(self.rt):
                opens = (tab.roles is None or own_role in tab.roles) and (
                    tab.permission is None or own_role in self.rt.permissions[tab.permission]
                )
                with self.subTest(tab=tab.name, role=role, channel="page"):
                    response = client.get(self.url("detail", obj) + f"?tab={tab.name}")
                    self.assertEqual(response.status_code, (200 if opens else 403) if visible else 404)
                    if visible:
                        self.assertEqual(f'data-tab="{tab.name}"' in details, opens)
                    if response.status_code == 200:
                        self.assertContains(response, f'data-tab-pane="{tab.name}"')
                if tab.api is not None:
                    with self.subTest(tab=tab.name, role=role, channel="api"):
                        response = self.api(user).get(self.api_url(obj, tab.name))
                        if visible:
                            expected = 200 if opens else 403
                        else:
                            expected = 404 if own_role in self.rt.permissions[VIEW] else 403
                        self.assertEqual(response.status_code, expected, response.content)
        with self.subTest(tab="no such tab"):
            self.assertEqual(
                self.page_client(self.p.users[Role.AUDITOR]).get(self.url("detail", obj) + "?tab=nope").status_code, 404
            )

    # -- computed fields, related lists, column choice ----------------------------------------------------------
    def link_rows(self, obj: Any, relation: str, owners: list[Organisation]) -> list[Any]:
        """New rows of the model at the other end of `relation` (a reverse foreign key or a many-to-many of `obj`),
        one owned by each of `owners` where the related model has an organisation, each linked to `obj` (written
        directly: a link across organisations is what tenancy must then hide)."""
        field: Any = self.model._meta.get_field(relation)
        related = field.related_model
        rows = []
        for owner in owners:
            row: Any
            if getattr(related, "TENANT_FIELD", None) == "id":
                row = OrganisationFactory()  # a new organisation, never one of the principals'
            else:
                row = self.record_of(related, owner)
            if field.many_to_many:
                getattr(obj, relation).add(row)
            else:
                related.objects.filter(pk=row.pk).update(**{field.field.name: obj})
            rows.append(related.objects.get(pk=row.pk))
        return rows

    def related_filter(self, relation: str, obj: Any) -> dict[str, Any]:
        field: Any = self.model._meta.get_field(relation)
        if field.auto_created and not field.concrete:
            return {field.field.name: obj.pk}
        return {field.related_query_name(): obj.pk}

    def expected_computed(self, obj: Any, name: str, user: User) -> Any:
        """The value of computed field `name` of `obj` as `user` should read it, found without the machinery under
        test: a callable's own result; for a `Count` over one relation, the linked rows `user` may see. Override for
        other annotations."""
        from django.db.models import Count, F

        computed = self.rt.computed[name]
        if not computed.is_annotation:
            return computed.value(self.model.objects.get(pk=obj.pk))
        expression = computed.value
        source = expression.source_expressions[0] if isinstance(expression, Count) else None
        if not isinstance(source, F) or "__" in source.name:
            raise NotImplementedError(f"override expected_computed for {self.rt.label}.{name}")
        related = self.model._meta.get_field(source.name).related_model
        rows = related.objects.filter(**self.related_filter(source.name, obj))
        if registry.find(related) is None:  # a child's rows: read with their parent
            return rows.count()
        return policy.restrict(rows, user, VIEW).count()

    def computed_readers(self) -> list[User]:
        """Who reads computed values in the generic tests: the least privileged staff viewer, and customer A where
        customers may see `obj_a`."""
        readers = [self.least_privileged_viewer()]
        if Role.CUSTOMER_USER in self.rt.permissions[VIEW] and self.obj_a.tenant_id == self.p.org_a.pk:
            readers.append(self.p.customer_a)
        return readers

    def link_computed_rows(self) -> None:
        """For each counted relation: rows linked to `obj_a` in its own organisation and in another one."""
        from django.db.models import F
        from django.db.models.aggregates import Aggregate

        for computed in self.rt.computed_annotations().values():
            expression = computed.value
            if isinstance(expression, Aggregate) and isinstance(expression.source_expressions[0], F):
                relation = expression.source_expressions[0].name.split("__")[0]
                self.link_rows(self.obj_a, relation, [self.p.org_a, self.p.org_a, self.p.org_b])

    def test_computed_fields_in_detail_list_api_and_export(self) -> None:
        """Every computed field has the same, right value on the detail page, in a list column, in the API and in
        the CSV export; an annotation counts only the rows the reader may see (a customer never learns another
        organisation's count) and is filterable (`<name>_min` / `<name>_max`) on the page and in the API."""
        from meridian.core.querysets import records_for
        from meridian.core.tables import available_columns, chosen_columns, save_columns, table_for

        if not self.rt.computed:
            self.skipTest("no computed fields")
        self.link_computed_rows()
        for user in self.computed_readers():
            client, api = self.page_client(user), self.api(user)
            save_columns(self.rt, user, [*self.rt.list_columns, *self.rt.computed])
            detail = client.get(self.url("detail", self.obj_a))
            listing = client.get(self.url("list"))
            api_row = api.get(self.api_url(self.obj_a)).json()
            may_export = policy.can(fresh(user), EXPORT, self.model)
            exported = client.get(self.url("list") + "?export=csv") if may_export else None
            export = list(csv.reader(io.StringIO(exported.content.decode()))) if exported is not None else []
            for name, computed in self.rt.computed.items():
                expected = self.expected_computed(self.obj_a, name, user)
                with self.subTest(user=user.username, field=name, channel="detail"):
                    shown = {label: value for label, value, _ in detail.context["rows"]}
                    self.assertEqual(shown[computed.label], expected)
                with self.subTest(user=user.username, field=name, channel="list"):
                    rows = [row for row in listing.context["table"].paginated_rows if row.record.pk == self.obj_a.pk]
                    self.assertEqual(rows[0].get_cell_value(name), expected)
                    self.assertContains(listing, computed.label)
                with self.subTest(user=user.username, field=name, channel="api"):
                    self.assertEqual(api_row[name], expected)
                with self.subTest(user=user.username, field=name, channel="export"):
                    if not may_export:
                        continue
                    table = table_for(self.rt)(records_for(self.rt, user).filter(pk=self.obj_a.pk), user=user)
                    hidden = [n for n in available_columns(self.rt) if n not in chosen_columns(self.rt, user)]
                    reference = list(table.as_values(exclude_columns=hidden))
                    row = ["" if value is None else str(value) for value in reference[1]]
                    column = reference[0].index(computed.label)
                    self.assertEqual(export[0][column], computed.label)
                    self.assertEqual(row[column], "" if expected is None else str(expected))
                    self.assertIn(row, export[1:])
                if not computed.is_annotation:
                    continue
                ranges: tuple[tuple[dict[str, Any], bool], ...] = (
                    ({f"{name}_min": expected, f"{name}_max": expected}, True),
                    ({f"{name}_min": expected + 1}, False),
                )
                for params, listed in ranges:
                    with self.subTest(user=user.username, field=name, filter=params):
                        query: Any = {**params, "page_size": 1000}
                        ids = [r["id"] for r in api.get(self.api_url(), query).json()["results"]]
                        self.assertEqual(self.obj_a.pk in ids, listed)
                        page = client.get(self.url("list"), params)
                        pks = [row.record.pk for row in page.context["table"].paginated_rows]
                        self.assertEqual(self.obj_a.pk in pks, listed)

    def test_sorting_by_computed_annotations(self) -> None:
        """Each annotation sorts the list page (`?sort=`) and the API (`?ordering=`), both ways, in SQL."""
        if not self.rt.computed_annotations():
            self.skipTest("no computed annotations")
        self.link_computed_rows()
        user = self.least_privileged_viewer()
        client, api = self.page_client(user), self.api(user)
        from meridian.core.tables import save_columns

        save_columns(self.rt, user, [*self.rt.list_columns, *self.rt.computed])
        for name in self.rt.computed_annotations():
            for descending in (False, True):
                key = ("-" if descending else "") + name
                with self.subTest(field=name, order=key, channel="api"):
                    query: Any = {"ordering": key, "page_size": 1000}
                    results = api.get(self.api_url(), query).json()["results"]
                    values = [row[name] for row in results]
                    self.assertEqual(values, sorted(values, reverse=descending))
                    self.assertGreater(len(set(values)), 1, "the test data should give different values")
                with self.subTest(field=name, order=key, channel="page"):
                    table = client.get(self.url("list"), {"sort": key}).context["table"]
                    values = [row.get_cell_value(name) for row in table.paginated_rows]
                    self.assertEqual(values, sorted(values, reverse=descending))

    def test_related_lists_render_counted_paginated_and_restricted(self) -> None:
        """Every declared related list is on the detail page with its count and rows; the next page comes from its
        own address (htmx); a customer sees only their organisation's rows in it, never another's name; the list's
        address answers 404 for a record the reader may not see."""
        from meridian.core.querysets import RelatedList

        if not self.rt.related:
            self.skipTest("no related lists")
        staff = self.least_privileged_viewer()
        for related in self.rt.related:
            rows = self.link_rows(self.obj_a, related.name, [self.p.org_a] * related.per_page + [self.p.org_b])
            listing = RelatedList(self.rt, related, self.obj_a, staff)
            linked = listing.related_rt.model.objects.filter(**self.related_filter(related.name, self.obj_a))
            url = reverse(self.rt.url_name("related"), args=[self.obj_a.pk, related.name])
            for user in self.computed_readers():
                client = self.page_client(user)
                visible = policy.restrict(linked, user, VIEW).count()
                may_view_type = policy.has_role_permission(user, VIEW, listing.related_rt.model)
                with self.subTest(related=related.name, user=user.username, page="detail"):
                    detail = client.get(self.url("detail", self.obj_a))
                    shown = {rel["name"]: rel for rel in detail.context["related_lists"]}
                    if not may_view_type:
                        self.assertNotIn(related.name, shown)
                        self.assertNotContains(detail, f'id="related-{related.name}"')
                        continue
                    self.assertEqual(shown[related.name]["count"], visible)
                    self.assertContains(detail, f'id="related-{related.name}"')
                    page_rows = list(shown[related.name]["page"].object_list)
                    self.assertEqual(len(page_rows), min(visible, related.per_page))
                    for row in rows:
                        if not policy.can(user, VIEW, row):
                            self.assertNotIn(row, page_rows)
                            self.assertNotContains(detail, escape(str(row)))
                with self.subTest(related=related.name, user=user.username, page="next"):
                    second = client.get(url, {"page": 2}, HTTP_HX_REQUEST="true")
                    self.assertEqual(second.status_code, 200)
                    self.assertEqual(second.context["rel"]["page"].number, 2 if visible > related.per_page else 1)
            with self.subTest(related=related.name, outsider="customer B"):
                outsider_status = self.page_client(self.p.customer_b).get(url).status_code
                self.assertEqual(outsider_status, 200 if self.rt.reference_data else 404)
        self.assertEqual(
            self.page_client(staff)
            .get(reverse(self.rt.url_name("related"), args=[self.obj_a.pk, "no-such-list"]))
            .status_code,
            404,
        )

    def test_column_choice_is_remembered_per_person_and_reset(self) -> None:
        """A person's choice of columns is kept on the server for them and this type only; another person still
        sees the declared columns; an unknown column is refused and nothing is kept; reset forgets the choice."""
        from meridian.core.models import ListPreference
        from meridian.core.tables import available_columns

        user, other = self.least_privileged_viewer(), self.p.users[Role.AUDITOR]
        available = available_columns(self.rt)
        chosen = [self.rt.list_columns[0], available[-1]]
        client = self.page_client(user)
        url = reverse(self.rt.url_name("columns"))
        self.assertEqual(client.post(url, {"columns": chosen}).status_code, 302)

        def shown(who: User) -> list[str]:
            table = self.page_client(who).get(self.url("list")).context["table"]
            return [column.name for column in table.columns if column.name != "select"]  # the visible data columns

        self.assertEqual(shown(user), chosen)
        self.assertEqual(shown(other), list(self.rt.list_columns))
        refused = self.page_client(user).post(url, {"columns": [*chosen, "no_such_column"]})
        self.assertEqual(refused.status_code, 400)
        self.assertEqual(shown(user), chosen)
        self.assertEqual(self.page_client(user).post(url, {"reset": "1"}).status_code, 302)
        self.assertEqual(shown(user), list(self.rt.list_columns))
        self.assertFalse(ListPreference.objects.filter(user=user).exists())

    # -- tenancy of links and hierarchies: every foreign key written, both channels ---------------------------
    def record_of(self, model: type[Any], organisation: Organisation) -> Any:
        """A record of `model` owned by `organisation`, made by the model's factory (override for a type whose
        factory is not found, or whose `TENANT_FIELD` is a path)."""
        tenant = getattr(model, "TENANT_FIELD", None)
        if tenant == "id":
            return organisation
        return factory_for(model)(**({tenant: organisation} if tenant else {}))

    def test_every_link_across_organisations_is_refused(self) -> None:
        """Each foreign key and many-to-many the type writes, set to a record its tenancy rule refuses (another
        organisation's; a customer's where the provider's is required): a field error from the API and from the
        service, on create and on update, and nothing written."""
        writer = {ADD: self.actor(ADD), CHANGE: self.actor(CHANGE)}
        for name, rule in self.rt.link_rules().items():
            if rule == registry.Link.ANY:
                continue
            field = self.model._meta.get_field(name)
            new = self.new_data()
            owner = self.model(**{k: v for k, v in new.items() if not self.model._meta.get_field(k).many_to_many})
            for action, own_tenant in ((ADD, owner.tenant_id), (CHANGE, self.obj_a.tenant_id)):
                if rule == registry.Link.INTERNAL:
                    elsewhere = self.p.org_b  # a customer
                else:
                    elsewhere = self.p.org_b if own_tenant != self.p.org_b.pk else self.p.org_a
                foreign = self.record_of(field.related_model, elsewhere)
                value = [foreign] if field.many_to_many else foreign
                counts = (self.model.objects.count(), AuditEvent.objects.count())
                before = audit.snapshot(self.model.objects.get(pk=self.obj_a.pk))
                with self.subTest(field=name, action=action, channel="api"):
                    api = self.api(writer[action])
                    if action == ADD:
                        response = api.post(self.api_url(), self.form_data({**new, name: value}), format="json")
                    else:
                        body = {name: self.api_value(value), "version": self.obj_a.version}
                        response = api.patch(self.api_url(self.obj_a), body, format="json")
                    self.assertEqual(response.status_code, 400, response.content)
                    self.assertIn(name, response.json())
                with self.subTest(field=name, action=action, channel="service"):
                    with self.assertRaises(ValidationError) as refused:
                        if action == ADD:
                            services.create_record(self.model, data={**new, name: value}, actor=writer[action])
                        else:
                            services.update_record(
                                self.obj_a,
                                data={name: value},
                                actor=writer[action],
                                expected_version=self.obj_a.version,
                            )
                    self.assertIn(name, refused.exception.message_dict)
                with self.subTest(field=name, action=action, written="nothing"):
                    self.assertEqual((self.model.objects.count(), AuditEvent.objects.count()), counts)
                    self.assertEqual(audit.snapshot(self.model.objects.get(pk=self.obj_a.pk)), before)

    def test_every_hierarchy_refuses_itself_and_loops(self) -> None:
        """Each self-referencing foreign key (a parent): the record itself, and a cycle of three (a above b above
        c, then c made a's parent), are refused with a field error on the page and in the API; nothing written."""
        parents = [
            f.name
            for f in self.model._meta.concrete_fields
            if f.name in self.rt.fields and f.is_relation and f.related_model is self.model
        ]
        for name in parents:
            # three records of one organisation (three organisations when the type is the organisation)
            owners = [OrganisationFactory() for _ in "abc"] if self.model is Organisation else [self.p.org_a] * 3
            a, b, c = (self.make_record(owner) for owner in owners)  # type: ignore[arg-type]
            self.model.objects.filter(pk=b.pk).update(**{name: a})
            self.model.objects.filter(pk=c.pk).update(**{name: b})
            a = self.model.objects.get(pk=a.pk)
            user = self.actor(CHANGE)
            for loop, target in (("itself", a), ("cycle of three", c)):
                events = AuditEvent.objects.count()
                with self.subTest(field=name, loop=loop, channel="page"):
                    data = self.form_post_data(a, user, {name: target.pk})
                    response = self.page_client(user).post(self.url("edit", a), data)
                    self.assertEqual(response.status_code, 400)
                    self.assertIn(name, response.context["form"].errors)
                with self.subTest(field=name, loop=loop, channel="api"):
                    body = {name: target.pk, "version": a.version}
                    response = self.api(user).patch(self.api_url(a), body, format="json")
                    self.assertEqual(response.status_code, 400, response.content)
                    self.assertIn(name, response.json())
                with self.subTest(field=name, loop=loop, written="nothing"):
                    self.assertIsNone(getattr(self.model.objects.get(pk=a.pk), f"{name}_id"))
                    self.assertEqual(AuditEvent.objects.count(), events)

    # -- child rows (core.children): written with the parent, validated, audited and versioned with it ----------
    def child_example(self, child: Any, organisation: Organisation | None) -> ChildExample:
        """Rows of `child` for a parent owned by `organisation` (None for a type without one). Override in the test
        class of every type that declares children."""
        raise NotImplementedError(f"{type(self).__name__}: give child_example() for the child {child.name}")

    def child_values(self, child: Any, row: Any) -> dict[str, Any]:
        """An existing row as the generic tests post it back: its id and its fields."""
        return {"id": row.pk, **{name: getattr(row, name) for name in child.fields}}

    def api_row(self, row: dict[str, Any]) -> dict[str, Any]:
        return {
            name: page_value(v) if isinstance(v, dt.date | dt.time) else self.api_value(v) for name, v in row.items()
        }

    def with_rows(self, obj: Any, child: Any) -> list[Any]:
        """Give `obj` the example's first two rows (through the service) and return them."""
        example = self.child_example(child, self.tenant_of(obj))
        obj.refresh_from_db()  # the version an earlier child's writes left
        services.update_record(
            obj, data={child.name: example.rows[:2]}, actor=self.actor(CHANGE), expected_version=obj.version
        )
        obj.refresh_from_db()
        return list(child.rows(obj))

    def tenant_of(self, obj: Any) -> Organisation | None:
        return None if obj.tenant_id is None else Organisation.objects.get(pk=obj.tenant_id)

    def children(self) -> list[Any]:
        """The children the type declares (`core.children.Child`)."""
        return list(self.rt.children)

    def test_children_are_created_with_the_parent_on_page_and_api(self) -> None:
        for child in self.children():
            new = self.new_data()
            owner = self.model(**{k: v for k, v in new.items() if not self.model._meta.get_field(k).many_to_many})
            tenant = None if owner.tenant_id is None else Organisation.objects.get(pk=owner.tenant_id)
            example = self.child_example(child, tenant)
            with self.subTest(child=child.name, channel="page"):
                client = self.page_client(self.actor(ADD))
                data = {**self.form_data(new), **page_rows(child, example.rows)}
                response = client.post(self.url("add"), data)
                self.assertEqual(response.status_code, 302, response.context and response.context["form"].child_errors)
                created = self.model.objects.order_by("-pk").first()
                self.assertEqual(child.rows(created).count(), len(example.rows))
                event = self.events(created, "create").get()
                self.assertEqual(len(event.changes[child.name]["added"]), len(example.rows))
                self.assertEqual(created.version, 1)
                page = client.get(self.url("detail", created))
                self.assertContains(page, escape(child.label))
                services.delete_record(created, actor=self.p.users[Role.ADMINISTRATOR], expected_version=1)
            with self.subTest(child=child.name, channel="api"):
                body = {**self.form_data(new), child.name: [self.api_row(row) for row in example.rows]}
                response = self.api(self.actor(ADD)).post(self.api_url(), body, format="json")
                self.assertEqual(response.status_code, 201, response.content)
                rows = response.json()[child.name]
                self.assertEqual(len(rows), len(example.rows))
                self.assertTrue(all(isinstance(row["id"], int) for row in rows))
                created = self.model.objects.get(pk=response.json()["id"])
                self.assertEqual(sorted(r.pk for r in child.rows(created)), sorted(row["id"] for row in rows))

    def test_child_rows_are_changed_and_removed_with_the_parent(self) -> None:
        """On the page and in the API: one row changed, one removed, one added — one update event naming each, the
        parent's version up by one; an unchanged save and a write without the rows change nothing."""
        user = self.actor(CHANGE)
        for child in self.children():
            example = self.child_example(child, self.tenant_of(self.obj_a))
            first, second = self.with_rows(self.obj_a, child)
            obj = self.model.objects.get(pk=self.obj_a.pk)
            events = AuditEvent.objects.count()
            with self.subTest(child=child.name, channel="page", change="none"):
                response = self.page_client(user).post(self.url("edit", obj), self.form_post_data(obj, user, {}))
                self.assertEqual(response.status_code, 302)
                self.assertEqual(self.model.objects.get(pk=obj.pk).version, obj.version)
                self.assertEqual(AuditEvent.objects.count(), events)
            with self.subTest(child=child.name, channel="page", change="rows"):
                rows = [
                    {**self.child_values(child, first), **example.change},
                    {**self.child_values(child, second), "DELETE": True},
                    example.rows[2],
                ]
                data = {
                    k: v for k, v in self.form_post_data(obj, user, {}).items() if not k.startswith(f"{child.name}-")
                }
                data.update(page_rows(child, rows))
                response = self.page_client(user).post(self.url("edit", obj), data)
                self.assertEqual(response.status_code, 302, response.context and response.context["form"].child_errors)
                after = self.model.objects.get(pk=obj.pk)
                self.assertEqual(after.version, obj.version + 1)
                current = list(child.rows(after))
                self.assertEqual(len(current), 2)
                self.assertNotIn(second.pk, [r.pk for r in current])
                changed = next(r for r in current if r.pk == first.pk)
                for name, value in example.change.items():
                    self.assertEqual(self.api_value(getattr(changed, name)), self.api_value(value))
                event = self.events(after, "update").latest("pk")
                change = event.changes[child.name]
                self.assertEqual([len(change.get(k, [])) for k in ("added", "changed", "removed")], [1, 1, 1])
                self.assertEqual(set(change["changed"][0]["changes"]), set(example.change))
                history = self.page_client(user).get(self.url("detail", after) + "?tab=history")
                self.assertContains(history, f"{escape(child.label)}: row added")
                self.assertContains(history, f"{escape(child.label)}: row removed")
            with self.subTest(child=child.name, channel="api"):
                api = self.api(user)
                obj = self.model.objects.get(pk=obj.pk)
                untouched = api.patch(self.api_url(obj), {"version": obj.version}, format="json")
                self.assertEqual(untouched.status_code, 200, untouched.content)
                self.assertEqual(untouched.json()["version"], obj.version)
                rows = untouched.json()[child.name]
                self.assertEqual(len(rows), 2)
                # the first row kept as it is (only its id), the second left out (removed), a new one (as the row the
                # page removed)
                again = {k: v for k, v in self.child_values(child, second).items() if k != "id"}
                body = {child.name: [{"id": rows[0]["id"]}, self.api_row(again)], "version": obj.version}
                response = api.patch(self.api_url(obj), body, format="json")
                self.assertEqual(response.status_code, 200, response.content)
                self.assertEqual(response.json()["version"], obj.version + 1)
                kept = [row["id"] for row in response.json()[child.name]]
                self.assertIn(rows[0]["id"], kept)
                self.assertNotIn(rows[1]["id"], kept)
                self.assertEqual(len(kept), 2)
                event = self.events(obj, "update").latest("pk")
                self.assertEqual(sorted(event.changes[child.name]), ["added", "removed"])

    def test_an_invalid_child_row_writes_nothing_and_names_row_and_field(self) -> None:
        user = self.actor(CHANGE)
        for child in self.children():
            example = self.child_example(child, self.tenant_of(self.obj_a))
            obj = self.model.objects.get(pk=self.obj_a.pk)
            counts = (child.model.objects.count(), AuditEvent.objects.count())
            label = str(child.model._meta.get_field(example.invalid_field).verbose_name)
            with self.subTest(child=child.name, channel="page"):
                data = self.form_post_data(obj, user, {})
                data = {k: v for k, v in data.items() if not k.startswith(f"{child.name}-")}
                data.update(page_rows(child, [example.rows[0], example.invalid]))
                response = self.page_client(user).post(self.url("edit", obj), data)
                self.assertEqual(response.status_code, 400)
                self.assertTrue(
                    any(
                        line.lower().startswith(f"row 2, {label.lower()}:")
                        for line in response.context["form"].child_errors
                    ),
                    response.context["form"].child_errors,
                )
                self.assertContains(response, "Nothing was saved", status_code=400)
            with self.subTest(child=child.name, channel="api"):
                body = {
                    child.name: [self.api_row(example.rows[0]), self.api_row(example.invalid)],
                    "version": obj.version,
                }
                response = self.api(user).patch(self.api_url(obj), body, format="json")
                self.assertEqual(response.status_code, 400, response.content)
                messages = response.json()[child.name]
                self.assertTrue(
                    any(
                        m.lower().startswith(f"row 2, {example.invalid_field}")
                        or m.lower().startswith(f"row 2, {label.lower()}")
                        for m in messages
                    ),
                    messages,
                )
            with self.subTest(child=child.name, channel="api create"):
                body = {**self.form_data(self.new_data()), child.name: [self.api_row(example.invalid)]}
                before = self.model.objects.count()
                response = self.api(self.actor(ADD)).post(self.api_url(), body, format="json")
                self.assertEqual(response.status_code, 400, response.content)
                self.assertEqual(self.model.objects.count(), before)
            with self.subTest(child=child.name, written="nothing"):
                self.assertEqual((child.model.objects.count(), AuditEvent.objects.count()), counts)
                self.assertEqual(self.model.objects.get(pk=obj.pk).version, obj.version)

    def test_a_concurrent_change_of_child_rows_is_409(self) -> None:
        user = self.actor(CHANGE)
        for child in self.children():
            example = self.child_example(child, self.tenant_of(self.obj_a))
            obj = self.model.objects.get(pk=self.obj_a.pk)
            stale_page = self.form_post_data(obj, user, {})
            stale_page = {k: v for k, v in stale_page.items() if not k.startswith(f"{child.name}-")}
            stale_page.update(page_rows(child, [example.rows[1]]))
            read = obj.version
            self.with_rows(obj, child)  # someone else adds rows: the parent moves on
            obj.refresh_from_db()
            self.assertEqual(obj.version, read + 1)
            rows = list(child.rows(obj))
            with self.subTest(child=child.name, channel="api"):
                body = {child.name: [self.api_row(example.rows[0])], "version": read}
                response = self.api(user).patch(self.api_url(obj), body, format="json")
                self.assertEqual(response.status_code, 409, response.content)
            with self.subTest(child=child.name, channel="page"):
                response = self.page_client(user).post(self.url("edit", obj), stale_page)
                self.assertEqual(response.status_code, 409)
            self.assertEqual(list(child.rows(self.model.objects.get(pk=obj.pk))), rows)

    def test_a_row_of_another_parent_is_refused(self) -> None:
        """A row id of another record (another organisation's, for a type with one) cannot be changed through this
        one, on either channel; a customer of another organisation reaches neither record nor rows."""
        user = self.actor(CHANGE)
        for child in self.children():
            other = self.with_rows(self.model.objects.get(pk=self.obj_b.pk), child)[0]
            before = self.child_values(child, other)
            obj = self.model.objects.get(pk=self.obj_a.pk)
            example = self.child_example(child, self.tenant_of(obj))
            with self.subTest(child=child.name, channel="api"):
                body = {child.name: [{"id": other.pk, **self.api_row(example.rows[0])}], "version": obj.version}
                response = self.api(user).patch(self.api_url(obj), body, format="json")
                self.assertEqual(response.status_code, 400, response.content)
                self.assertTrue(response.json()[child.name][0].startswith("Row 1"))
            with self.subTest(child=child.name, channel="page"):
                data = {
                    k: v for k, v in self.form_post_data(obj, user, {}).items() if not k.startswith(f"{child.name}-")
                }
                data.update(page_rows(child, [{"id": other.pk, **example.rows[0]}]))
                self.assertEqual(self.page_client(user).post(self.url("edit", obj), data).status_code, 400)
            with self.subTest(child=child.name, channel="customer"):
                customer = self.p.customer_b if self.obj_a.tenant_id != self.p.org_b.pk else self.p.customer_a
                body = {child.name: [], "version": obj.version}
                # 404 where customers read the type (another organisation's record is not there), else 403 for all
                expected = 404 if policy.has_role_permission(fresh(customer), VIEW, self.model) else 403
                self.assertEqual(self.api(customer).patch(self.api_url(obj), body, format="json").status_code, expected)
                self.assertEqual(self.api(customer).get(self.api_url(obj)).status_code, expected)
            self.assertEqual(self.child_values(child, child.model.objects.get(pk=other.pk)), before)
            self.assertEqual(self.model.objects.get(pk=obj.pk).version, obj.version)

    def test_every_child_link_across_organisations_is_refused(self) -> None:
        """A row linking a record its tenancy rule refuses (another organisation's): a field error naming row and
        field from the API and the service; nothing written."""
        user = self.actor(CHANGE)
        for child in self.children():
            for name, rule in child.link_rules(self.rt).items():
                if rule == registry.Link.ANY:
                    continue
                obj = self.model.objects.get(pk=self.obj_a.pk)
                elsewhere = self.p.org_b if obj.tenant_id != self.p.org_b.pk else self.p.org_a
                related = child.model._meta.get_field(name).related_model
                foreign = self.record_of(related, elsewhere)
                row = {**self.child_example(child, self.tenant_of(obj)).rows[0], name: foreign}
                counts = (child.model.objects.count(), AuditEvent.objects.count())
                with self.subTest(child=child.name, field=name, channel="api"):
                    body = {child.name: [self.api_row(row)], "version": obj.version}
                    response = self.api(self.p.users[Role.ADMINISTRATOR]).patch(self.api_url(obj), body, format="json")
                    self.assertEqual(response.status_code, 400, response.content)
                    self.assertTrue(response.json()[child.name][0].startswith("Row 1, "), response.content)
                with self.subTest(child=child.name, field=name, channel="service"):
                    with self.assertRaises(ValidationError) as refused:
                        services.update_record(obj, data={child.name: [row]}, actor=user, expected_version=obj.version)
                    self.assertIn(child.name, refused.exception.message_dict)
                self.assertEqual((child.model.objects.count(), AuditEvent.objects.count()), counts)

    # -- history, conflicts and deleting as people read them ----------------------------------------------------
    RAW_VALUE = re.compile(r"^#\d+$|^\[|^\{|^(True|False|None)$")

    def test_history_shows_every_value_readably(self) -> None:
        """After a create and an update through the pages, no value in the history tab is raw: no `#id`, no
        Python list or dict, no True/False; linked records by name."""
        client = self.page_client(self.actor(ADD))
        response = client.post(self.url("add"), self.form_data(self.new_data()))
        self.assertEqual(response.status_code, 302)
        created = self.model.objects.order_by("-pk").first()
        user = self.actor(CHANGE)
        client = self.page_client(user)
        m2m = self.m2m_changes(created, user)
        data = self.form_post_data(created, user, {**self.form_data(self.changed_data), **m2m})
        self.assertEqual(client.post(self.url("edit", created), data).status_code, 302)
        page = client.get(self.url("detail", created) + "?tab=history")
        events = page.context["events"]
        self.assertEqual([e.action for e in events], ["update", "create"])
        for event in events:
            for change in event.display_changes:
                for shown in (change.before, change.after):
                    texts = [text for text, _ in shown.items] if shown.items else [shown.text]
                    for text in texts:
                        with self.subTest(event=event.action, field=change.name, text=text):
                            self.assertNotRegex(text, self.RAW_VALUE)
        for name in m2m:
            change = next(c for c in events[0].display_changes if c.name == name)
            self.assertEqual(change.after.kind, "links")
            names = [text for text, _ in change.after.items]
            related = self.model._meta.get_field(name).related_model
            expected = [policy.shown(user, o) for o in related.objects.filter(pk__in=m2m[name]).order_by("pk")]
            self.assertEqual(names, expected)

    def own_text_field(self) -> str | None:
        """A plain text field of the type that a test may set to any short text."""
        for name in self.rt.fields:
            field = self.model._meta.get_field(name)
            if (
                type(field) in (models.CharField, models.TextField)
                and not field.choices
                and not field.unique
                and name not in self.changed_data
            ):
                return name
        return None

    def test_stale_page_save_shows_their_change_and_yours(self) -> None:
        """A stale save (409) shows, field by field, what the other person changed (who, before, after) and what
        you tried to save; the form comes back on the current version with your value and theirs, and saving it
        keeps both."""
        user = self.actor(CHANGE)
        client = self.page_client(user)
        mine = self.own_text_field()
        stale = self.form_post_data(self.obj_a, user, {mine: "My edit 4711"} if mine else {})
        theirs = self.form_post_data(self.obj_a, user, self.form_data(self.changed_data))
        self.assertEqual(client.post(self.url("edit", self.obj_a), theirs).status_code, 302)
        response = client.post(self.url("edit", self.obj_a), stale)
        self.assertEqual(response.status_code, 409, response.context and response.context["form"].errors)
        rows = {row["label"]: row for row in response.context["conflict_rows"]}
        current = self.model.objects.get(pk=self.obj_a.pk)
        for name, value in self.changed_data.items():
            label = str(self.model._meta.get_field(name).verbose_name).capitalize()
            self.assertEqual(rows[label]["state"], "theirs")
            self.assertEqual(rows[label]["theirs"].by, [user.username])
            self.assertEqual(str(rows[label]["theirs"].after), str(value))
        self.assertContains(response, "Someone else saved", status_code=409)
        form = response.context["form"]
        self.assertEqual(form["version"].value(), current.version)
        if mine:
            label = str(self.model._meta.get_field(mine).verbose_name).capitalize()
            self.assertEqual((rows[label]["state"], str(rows[label]["yours"])), ("yours", "My edit 4711"))
            self.assertContains(response, "My edit 4711", status_code=409)
        again = post_data_from_form(form)
        self.assertEqual(client.post(self.url("edit", self.obj_a), again).status_code, 302)
        current.refresh_from_db()
        for name, value in self.changed_data.items():
            self.assertEqual(self.api_value(getattr(current, name)), self.api_value(value))
        if mine:
            self.assertEqual(getattr(current, mine), "My edit 4711")

    def test_delete_page_names_what_blocks_it_and_the_delete_is_refused(self) -> None:
        """For each protected link to the type from another registered type: the delete page names the record
        that refers to it, its button is disabled, and a delete posted anyway is refused (409), deleting nothing."""
        from django.db.models import PROTECT, RESTRICT

        user = self.actor(DELETE)
        client = self.page_client(user)
        relations = [
            rel
            for rel in self.model._meta.related_objects
            if not rel.many_to_many
            and rel.on_delete in (PROTECT, RESTRICT)
            and registry.find(rel.related_model) is not None
        ]
        if not relations:
            self.skipTest(f"nothing protects a {self.rt.verbose_name} from deletion")
        target = self.factory() if self.model.TENANT_FIELD == "id" else self.make_record(self.p.org_a)
        for rel in relations:
            with self.subTest(referrer=rel.related_model._meta.label, field=rel.field.name):
                referrer = self.record_of(rel.related_model, self.p.org_a)
                rel.related_model.objects.filter(pk=referrer.pk).update(**{rel.field.name: target})
                page = client.get(self.url("delete", target))
                self.assertEqual(page.status_code, 200)
                self.assertTrue(page.context["preview"].blocked)
                self.assertContains(page, escape(policy.shown(user, referrer)))
                self.assertContains(page, 'type="submit" disabled')
                response = client.post(self.url("delete", target), {"version": target.version, "reason": "x"})
                self.assertEqual(response.status_code, 409)
                self.assertTrue(self.model.objects.filter(pk=target.pk).exists())
                if rel.field.null:
                    rel.related_model.objects.filter(pk=referrer.pk).update(**{rel.field.name: None})
                else:
                    rel.related_model.objects.filter(pk=referrer.pk).delete()

    # -- links between records (`core.links`): run for every type with `record_links=True` ------------------
    LINK_TESTS: ClassVar[tuple[str, ...]] = (
        "test_links_are_made_and_removed_on_pages_and_api_and_audited_on_both_records",
        "test_a_link_to_an_invisible_record_is_refused_like_one_to_a_missing_record",
        "test_a_reader_who_may_not_see_the_other_end_sees_the_link_as_hidden",
        "test_links_are_404_for_a_customer_of_another_organisation",
    )

    def link_partner(self, organisation: Organisation) -> Any:
        """Another record to link a record of `organisation` to: by default a new record of the same type."""
        if self.model.TENANT_FIELD == "id":
            return self.factory()
        return self.make_record(organisation)

    def link_user(self) -> User:
        """The least privileged staff role that may change the type (links are made by who may change it)."""
        allowed = self.rt.permissions[CHANGE] - {Role.CUSTOMER_USER}
        roles = sorted(allowed - {Role.ADMINISTRATOR}) or [Role.ADMINISTRATOR]
        return self.p.users[roles[0]]

    def link_urls(self, obj: Any) -> dict[str, str]:
        rt = registry.get(type(obj))
        base = f"api:{rt.app_label}-{rt.url_slug}"
        return {
            "tab": reverse(rt.url_name("detail"), args=[obj.pk]) + "?tab=links",
            "add": reverse(rt.url_name("links"), args=[obj.pk]),
            "candidates": reverse(rt.url_name("link_candidates"), args=[obj.pk]),
            "api": reverse(f"{base}-links", args=[obj.pk]),
        }

    def link_events(self, obj: Any, action: str) -> models.QuerySet[AuditEvent]:
        return AuditEvent.objects.filter(record_type=obj._meta.label_lower, record_id=str(obj.pk), action=action)

    def _links_tested(self, name: str) -> bool:
        if not self.rt.record_links:
            return False
        LINKS_TESTED.add((self.rt.label, name))
        return True

    def test_links_are_made_and_removed_on_pages_and_api_and_audited_on_both_records(self) -> None:
        """A link made from the record's Links tab (found with the tab's search) shows on both records with the
        wording of each side, is audited on both (the History tab names the other record), moves neither version,
        and is removed from the tab (audited on both); the same through the API, read from the other end."""
        if not self._links_tested("test_links_are_made_and_removed_on_pages_and_api_and_audited_on_both_records"):
            return
        from meridian.core.links import RELATES_TO
        from meridian.core.models import RecordLink

        user = self.link_user()
        obj, other = self.make_record(self.p.org_a), self.link_partner(self.p.org_a)
        mine, theirs = self.link_urls(obj), self.link_urls(other)
        versions = (obj.version, other.version)
        choice = f"{RELATES_TO.name}:forward:{other._meta.label_lower}"
        client = self.page_client(user)
        with self.subTest(channel="page: the tab's form and its search"):
            self.assertContains(client.get(mine["tab"]), 'name="link"')
            found = client.get(mine["candidates"], {"link": choice, "q": str(other.pk)})
            self.assertContains(found, f'value="{other.pk}"')
            if type(obj) is type(other):
                self.assertNotContains(found, f'value="{obj.pk}"')  # not itself
        with self.subTest(channel="page: add"):
            response = client.post(mine["add"], {"link": choice, "record": other.pk})
            self.assertEqual(response.status_code, 302, response.content.decode()[-2000:])
            link = RecordLink.objects.get()
            self.assertEqual((link.source_id, link.target_id), (obj.pk, other.pk))
            for end in (obj, other):
                self.assertEqual(self.link_events(end, "link").count(), 1)
            self.assertContains(client.get(mine["tab"]), escape(policy.name_of(user, other)))
            self.assertContains(client.get(theirs["tab"]), escape(policy.name_of(user, obj)))
            history = client.get(theirs["tab"].replace("tab=links", "tab=history")).content.decode()
            self.assertIn(f"relates to {escape(policy.name_of(user, obj))}", history)
            self.assertEqual((fresh_record(obj).version, fresh_record(other).version), versions)
        with self.subTest(channel="page: a linked record is no longer offered"):
            found = client.get(mine["candidates"], {"link": choice, "q": str(other.pk)})
            self.assertNotContains(found, f'value="{other.pk}"')
        with self.subTest(channel="page: twice is refused"):
            response = client.post(mine["add"], {"link": choice, "record": other.pk})
            self.assertContains(response, "already linked", status_code=400)
            self.assertEqual(RecordLink.objects.count(), 1)
        with self.subTest(channel="page: remove"):
            unlink = reverse(self.rt.url_name("unlink"), args=[obj.pk, link.pk])
            self.assertEqual(client.post(unlink).status_code, 302)
            self.assertFalse(RecordLink.objects.exists())
            for end in (obj, other):
                self.assertEqual(self.link_events(end, "unlink").count(), 1)
        api = self.api(user)
        with self.subTest(channel="api: add, read from both ends, remove"):
            body = {"type": RELATES_TO.name, "record_type": other._meta.label_lower, "record": other.pk}
            response = api.post(mine["api"], body, format="json")
            self.assertEqual(response.status_code, 201, response.content)
            self.assertEqual(response.json()["meaning"], "relates to")
            self.assertEqual(response.json()["record"], other.pk)
            seen = api.get(theirs["api"]).json()
            self.assertEqual([(r["record_type"], r["record"]) for r in seen], [(obj._meta.label_lower, obj.pk)])
            for end in (obj, other):
                self.assertEqual(self.link_events(end, "link").count(), 2)
            link_id = response.json()["id"]
            self.assertEqual(api.delete(f"{theirs['api']}{link_id}/").status_code, 204)
            self.assertEqual(api.get(mine["api"]).json(), [])
            for end in (obj, other):
                self.assertEqual(self.link_events(end, "unlink").count(), 2)
            self.assertEqual((fresh_record(obj).version, fresh_record(other).version), versions)

    def test_a_link_to_an_invisible_record_is_refused_like_one_to_a_missing_record(self) -> None:
        """A customer user allowed (for this test) to link records of their organisation: a record of another
        organisation is refused on `record` with exactly the words of a record that does not exist, on the page
        and in the API, and nothing is written; one they may see is linked."""
        if not self._links_tested("test_a_link_to_an_invisible_record_is_refused_like_one_to_a_missing_record"):
            return
        from meridian.core.links import NOT_FOUND, RELATES_TO
        from meridian.core.models import RecordLink

        if self.model.TENANT_FIELD is None or Role.CUSTOMER_USER not in self.rt.permissions[VIEW]:
            return  # only customer users see part of the records: staff see them all
        obj = self.make_record(self.p.org_a)
        invisible = self.link_partner(self.p.org_b)
        missing_id = max(invisible.pk, obj.pk) + 1000
        with customers_may_change(self.model):
            user = fresh(self.p.customer_a)
            urls = self.link_urls(obj)
            answers = []
            for record_id in (invisible.pk, missing_id):
                body = {"type": RELATES_TO.name, "record_type": invisible._meta.label_lower, "record": record_id}
                response = self.api(user).post(urls["api"], body, format="json")
                self.assertEqual(response.status_code, 400, response.content)
                answers.append(response.json())
                page = self.page_client(user).post(
                    urls["add"], {"link": f"relates_to:forward:{invisible._meta.label_lower}", "record": record_id}
                )
                self.assertContains(page, escape(NOT_FOUND), status_code=400)
            self.assertEqual(answers[0], answers[1])
            self.assertEqual(answers[0], {"record": [NOT_FOUND]})
            self.assertFalse(RecordLink.objects.exists())
            self.assertFalse(self.link_events(invisible, "link").exists())
            found = self.page_client(user).get(
                urls["candidates"], {"link": f"relates_to:forward:{invisible._meta.label_lower}", "q": ""}
            )
            self.assertNotContains(found, f'value="{invisible.pk}"')
            visible = self.link_partner(self.p.org_a)
            if visible != obj and policy.can(user, VIEW, visible):  # e.g. a location of their own
                body = {"type": RELATES_TO.name, "record_type": visible._meta.label_lower, "record": visible.pk}
                self.assertEqual(self.api(user).post(urls["api"], body, format="json").status_code, 201)

    def test_a_reader_who_may_not_see_the_other_end_sees_the_link_as_hidden(self) -> None:
        """A record of organisation A linked to one of organisation B: A's customer sees the link with the other
        end as "hidden" (no name, no address, no type or id) on the tab, in the API and in the history."""
        if not self._links_tested("test_a_reader_who_may_not_see_the_other_end_sees_the_link_as_hidden"):
            return
        from meridian.core.links import RELATES_TO

        if self.model.TENANT_FIELD is None or Role.CUSTOMER_USER not in self.rt.permissions[VIEW]:
            return
        obj, other = self.make_record(self.p.org_a), self.link_partner(self.p.org_b)
        services.link_records(
            obj,
            link_type=RELATES_TO.name,
            other_type=other._meta.label_lower,
            other_id=other.pk,
            actor=self.p.users[Role.ADMINISTRATOR],
        )
        reader = self.p.customer_a
        urls = self.link_urls(obj)
        client = self.page_client(reader)
        tab = client.get(urls["tab"])
        self.assertContains(tab, "Relates to")
        self.assertContains(tab, policy.HIDDEN)
        self.assertNotContains(tab, escape(str(other)))
        self.assertNotContains(tab, other.get_absolute_url())
        self.assertEqual(
            [(r["display"], r["record"], r["record_type"]) for r in self.api(reader).get(urls["api"]).json()],
            [(policy.HIDDEN, None, None)],
        )
        history = client.get(urls["tab"].replace("tab=links", "tab=history"))
        self.assertContains(history, f"relates to {policy.HIDDEN}")
        self.assertNotContains(history, escape(str(other)))
        events = self.api(reader).get(self.api_url(obj, "history")).json()["results"]
        (linked,) = [e["changes"]["link"]["after"] for e in events if e["action"] == "link"]
        self.assertEqual((linked["display"], linked["record_type"], linked["record_id"]), (policy.HIDDEN, None, None))

    def test_links_are_404_for_a_customer_of_another_organisation(self) -> None:
        """Organisation B's customer never reaches A's links: tab, form, search, removal, API list, add, remove."""
        if not self._links_tested("test_links_are_404_for_a_customer_of_another_organisation"):
            return
        from meridian.core.links import RELATES_TO

        obj, other = self.make_record(self.p.org_a), self.link_partner(self.p.org_a)
        link = services.link_records(
            obj,
            link_type=RELATES_TO.name,
            other_type=other._meta.label_lower,
            other_id=other.pk,
            actor=self.p.users[Role.ADMINISTRATOR],
        )
        outsider = self.p.customer_b
        urls = self.link_urls(obj)
        client = self.page_client(outsider)
        choice = f"relates_to:forward:{other._meta.label_lower}"
        expected_api = 404 if policy.can(fresh(outsider), VIEW, self.model) else 403
        checks = {
            "tab": client.get(urls["tab"]).status_code,
            "add": client.post(urls["add"], {"link": choice, "record": other.pk}).status_code,
            "search": client.get(urls["candidates"], {"link": choice, "q": ""}).status_code,
            "remove": client.post(reverse(self.rt.url_name("unlink"), args=[obj.pk, link.pk])).status_code,
        }
        api = self.api(outsider)
        body = {"type": RELATES_TO.name, "record_type": other._meta.label_lower, "record": other.pk}
        api_checks = {
            "api list": api.get(urls["api"]).status_code,
            "api add": api.post(urls["api"], body, format="json").status_code,
            "api remove": api.delete(f"{urls['api']}{link.pk}/").status_code,
        }
        self.assertEqual(checks, dict.fromkeys(checks, 404))
        self.assertEqual(api_checks, dict.fromkeys(api_checks, expected_api))
        self.assertEqual(self.link_events(obj, "link").count(), 1)
        self.assertFalse(self.link_events(obj, "unlink").exists())


def fresh_record(obj: Any) -> Any:
    return type(obj)._default_manager.get(pk=obj.pk)


class customers_may_change:
    """For one test: a copy of a type's declaration whose CHANGE permission includes customer users (so that a
    customer may link their own records and meet records they may not see). The registry is restored on exit."""

    def __init__(self, model: type[Any]) -> None:
        self.model = model

    def __enter__(self) -> None:
        import copy

        self.saved = registry.get(self.model)
        changed = copy.copy(self.saved)
        changed.permissions = {**self.saved.permissions, CHANGE: self.saved.permissions[CHANGE] | {Role.CUSTOMER_USER}}
        registry._registry[self.model] = changed

    def __exit__(self, *exc: Any) -> None:
        registry._registry[self.model] = self.saved


# (type label, test name) of every generic link test that ran for a type that opts into links (the meta-test)
LINKS_TESTED: set[tuple[str, str]] = set()


def factory_for(model: type[Any]) -> Any:
    """The factory_boy factory that makes `model` (the first found among the apps' factories, each app's
    `factories` module loaded first: a related list may name a type whose app's tests are not running)."""
    import importlib
    import importlib.util

    from django.apps import apps
    from factory.django import DjangoModelFactory

    for config in apps.get_app_configs():
        if config.name.startswith("meridian.") and importlib.util.find_spec(f"{config.name}.factories"):
            importlib.import_module(f"{config.name}.factories")

    pending = list(DjangoModelFactory.__subclasses__())
    while pending:
        candidate = pending.pop(0)
        if candidate._meta.model is model:
            return candidate
        pending.extend(candidate.__subclasses__())
    raise LookupError(f"no factory for {model.__name__}: override RecordTypeTests.record_of")


LifecycleAttempt = tuple[str, str, str, str]  # (record type label, action, from-state, role)

WALKED: set[LifecycleAttempt] = set()
"""Every (type, action, from-state, role) that `assert_lifecycle_walk` really tried, with its outcome asserted, in
this test process. `test_registry_coverage.py` compares it with every registered lifecycle."""


def lifecycle_attempts(rt: RecordType) -> set[LifecycleAttempt]:
    """What a complete walk of the type's lifecycle tries: every action, from every state, as every role."""
    assert rt.lifecycle is not None
    return {
        (rt.label, t.action, str(state), str(role))
        for t in rt.lifecycle.transitions
        for state in rt.lifecycle.states()
        for role in Role.values
    }


def walks_lifecycle(model: type[models.Model]) -> Callable[[F], F]:
    """Mark the test method that walks `model`'s lifecycle, so that the coverage meta-test can run it itself when it
    has not run yet in this process (the meta-test run alone, or on another xdist worker)."""

    def mark(method: F) -> F:
        method.walks_lifecycle = model  # type: ignore[attr-defined]
        return method

    return mark


def assert_lifecycle_walk(
    test: TestCase,
    model: type[Any],
    make_in_state: Callable[[str], Any],
    principals: Principals,
    *,
    make_allowed: Callable[[str, str, User], Any] | None = None,
    inputs: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Try every action of the type's transition table from every state, as every role, and assert the one right
    outcome of each (`inputs`: the values of each transition that takes input, by action name):

    - a record the role may not see: 404 (`Http404`); a role the transition does not name, or an auditor (who never
      changes anything, whatever a transition declares): `PermissionDenied`; a state that is not a source:
      `TransitionNotAllowed`; a guard that refuses: `TransitionNotAllowed` with the guard's message. Each time the
      record, its version and its audit trail stay as they were.
    - otherwise the action succeeds: the status moves, the version goes up by one and one audit event records the
      move and the reason. Where the transition requires a reason, it is first tried without one: a field error on
      `reason`, and nothing changes.

    `make_in_state(state)` makes the record each attempt starts from. When the guard refuses that record,
    `make_allowed(state, action, actor)` must make one in `state` that the guard allows, so that the action itself
    is walked too. Each attempt is recorded in `WALKED`; decorate the calling test with `@walks_lifecycle(model)`.
    """
    rt = registry.get(model)
    lifecycle = rt.lifecycle
    assert lifecycle is not None, f"{rt.label} has no lifecycle"
    for t in lifecycle.transitions:
        for state in sorted(lifecycle.states()):
            for role in Role.values:
                with test.subTest(action=t.action, state=state, role=role):
                    user = fresh(principals.for_role(role))
                    obj = model.objects.get(pk=make_in_state(state).pk)
                    test.assertEqual(getattr(obj, lifecycle.field), state, "make_in_state: wrong state")
                    given = dict((inputs or {}).get(t.action, {}))
                    _walk_one(test, rt, t, obj, user, role, principals, make_allowed, given)
                    WALKED.add((rt.label, t.action, str(state), str(role)))


def _walk_one(
    test: TestCase,
    rt: RecordType,
    t: Transition,
    obj: Any,
    user: User,
    role: str,
    principals: Principals,
    make_allowed: Callable[[str, str, User], Any] | None,
    given: dict[str, Any] | None = None,
) -> None:
    """One attempt of `assert_lifecycle_walk`: the expected outcome comes from the declarations, not from the
    machinery under test."""
    assert rt.lifecycle is not None
    state = getattr(obj, rt.lifecycle.field)
    visible = role in rt.permissions[VIEW] and (role != Role.CUSTOMER_USER or obj.tenant_id == principals.org_a.pk)
    if not visible:
        _assert_refused(test, rt, t, obj, user, Http404, values=given)
        return
    if role not in t.roles or role == Role.AUDITOR:
        _assert_refused(test, rt, t, obj, user, PermissionDenied, values=given)
        return
    if state not in t.source:
        _assert_refused(test, rt, t, obj, user, services.TransitionNotAllowed, "is not possible while", values=given)
        return
    refusal = t.guard(obj, user) if t.guard else None
    if refusal:
        _assert_refused(test, rt, t, obj, user, services.TransitionNotAllowed, refusal, values=given)
        if make_allowed is None:
            test.fail(f"the guard of “{t.action}” refuses ({refusal}): pass make_allowed to walk the action itself")
        obj = rt.model.objects.get(pk=make_allowed(state, t.action, user).pk)
        test.assertEqual(getattr(obj, rt.lifecycle.field), state, "make_allowed made a record in another state")
        test.assertIsNone(t.guard(obj, user) if t.guard else None, "make_allowed made a record the guard refuses")
    if t.reason_required:
        error = _assert_refused(test, rt, t, obj, user, ValidationError, reason="  ", values=given)
        assert isinstance(error, ValidationError)
        test.assertIn("reason", error.message_dict)
    _assert_moves(test, rt, t, obj, user, given)


def _transition_events(rt: RecordType, obj: Any) -> models.QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(record_type=rt.label, record_id=str(obj.pk))


def _assert_refused(
    test: TestCase,
    rt: RecordType,
    t: Transition,
    obj: Any,
    user: User,
    error: type[Exception],
    message: str = "",
    reason: str = "walk",
    values: dict[str, Any] | None = None,
) -> Exception:
    """The transition raises `error` (with `message` in it) and the record, its version and its trail are unchanged."""
    assert rt.lifecycle is not None
    state, version, events = getattr(obj, rt.lifecycle.field), obj.version, _transition_events(rt, obj).count()
    with test.assertRaises(error) as caught:
        services.transition(obj, t.action, actor=user, reason=reason, expected_version=obj.version, values=values)
    test.assertIn(message, str(caught.exception))
    after = rt.model.objects.get(pk=obj.pk)
    test.assertEqual((getattr(after, rt.lifecycle.field), after.version), (state, version))
    test.assertEqual(_transition_events(rt, obj).count(), events)
    return caught.exception


def _assert_moves(
    test: TestCase, rt: RecordType, t: Transition, obj: Any, user: User, values: dict[str, Any] | None = None
) -> None:
    """The transition succeeds: new status, version + 1, one audit event with the move, the actor and the reason."""
    assert rt.lifecycle is not None
    field, state = rt.lifecycle.field, getattr(obj, rt.lifecycle.field)
    earlier = list(_transition_events(rt, obj).values_list("pk", flat=True))
    result = services.transition(obj, t.action, actor=user, reason="walk", expected_version=obj.version, values=values)
    test.assertEqual(getattr(result, field), t.target)
    after = rt.model.objects.get(pk=obj.pk)
    test.assertEqual((getattr(after, field), after.version), (t.target, obj.version + 1))
    event = _transition_events(rt, obj).exclude(pk__in=earlier).get()
    test.assertEqual(event.action, "transition")
    test.assertEqual(event.changes[field], {"before": state, "after": t.target})
    test.assertEqual((event.actor_id, event.reason), (user.pk, "walk"))


# --- custom fields (`RecordType(custom_fields=True)`, `core.custom_fields`) --------------------------------------


class CustomFieldTests:
    """Generic tests of a type's custom fields, mixed into its `RecordTypeTests` subclass:

        class TestOrganisation(CustomFieldTests, RecordTypeTests): ...

    Every kind of field through page and API, wrong types refused with nothing written, required fields, scope,
    filters, exports, history, a field customers may not see kept from them on every channel, and a customer of
    another organisation. `test_registry_coverage.py` fails when a type opts in without them. Definitions are made
    in each test (never for the whole class, so the other generic tests run without them)."""

    p: ClassVar[Principals]
    obj_a: ClassVar[Any]
    obj_b: ClassVar[Any]
    model: ClassVar[type[Any]]
    rt: RecordType
    make_record: Any
    url: Any
    api_url: Any
    actor: Any
    page_client: Any
    api: Any
    form_post_data: Any
    assertEqual: Any
    assertIn: Any
    assertNotIn: Any
    assertContains: Any
    assertGreaterEqual: Any
    assertNotContains: Any
    subTest: Any

    def define(self, name: str, kind: str, **options: Any) -> Any:
        from meridian.core.models import CustomField

        data = {"applies_to": self.rt.label, "name": name, "label": options.pop("label", name.title()), "type": kind}
        return services.create_record(CustomField, data={**data, **options}, actor=self.p.users[Role.ADMINISTRATOR])

    def custom_scope_field(self) -> str:
        """A field of the record whose value decides a scope in the scope test: the first plain field."""
        for name in self.rt.fields:
            field = self.model._meta.get_field(name)
            if field.concrete and not field.is_relation:
                return name
        raise AssertionError(f"{self.rt.label}: override custom_scope_field()")

    def custom_tenant(self, obj: Any) -> Organisation:
        tenant = getattr(obj, "tenant_id", None)
        return Organisation.objects.get(pk=tenant) if tenant is not None else self.p.internal

    def every_kind(self, obj: Any) -> dict[str, tuple[Any, Any, Any, Any]]:
        """Per kind: (definition, API value, page value, the value as the detail page shows it)."""
        from meridian.core.choices import CustomFieldType as T
        from meridian.core.factories import PersonFactory

        tenant = self.custom_tenant(obj)
        person: Any = PersonFactory(organisation=tenant, first_name="Referenced", last_name="Person")
        d = self.define
        return {
            T.TEXT: (d("rack", T.TEXT, regex=r"R\d+"), "R12", "R12", "R12"),
            T.LONG_TEXT: (d("notes_long", T.LONG_TEXT), "Line one", "Line one", "Line one"),
            T.INTEGER: (d("cpus", T.INTEGER, min_value=1, max_value=64), 8, "8", "8"),
            T.DECIMAL: (d("rate", T.DECIMAL), "12.50", "12.50", "12.50"),
            T.BOOLEAN: (d("critical", T.BOOLEAN), True, "on", "Yes"),
            T.DATE: (d("renewal", T.DATE), "2026-03-01", "2026-03-01", "2026-03-01"),
            T.DATETIME: (
                d("audit_at", T.DATETIME),
                "2026-03-01T09:30:00+00:00",
                "2026-03-01T09:30",
                "2026-03-01 09:30",
            ),
            T.CHOICE: (d("tier", T.CHOICE, choices="gold\nsilver"), "gold", "gold", "gold"),
            T.MULTIPLE_CHOICE: (
                d("services", T.MULTIPLE_CHOICE, choices="backup\nmonitoring\npatching"),
                ["backup", "patching"],
                ["backup", "patching"],
                "backup, patching",
            ),
            T.URL: (d("runbook", T.URL), "https://wiki.example/runbook", "https://wiki.example/runbook", "runbook"),
            T.PERSON: (d("contact", T.PERSON), person.pk, person.pk, "Referenced Person"),
            T.ORGANISATION: (d("billed_to", T.ORGANISATION), tenant.pk, tenant.pk, tenant.name),
        }

    def test_custom_fields_of_every_kind_through_page_and_api(self) -> None:
        obj = self.obj_a
        kinds = self.every_kind(obj)
        user = self.actor(CHANGE)
        client = self.page_client(user)
        form = client.get(self.url("edit", obj))
        for definition, *_ in kinds.values():
            self.assertContains(form, f'name="custom.{definition.name}"')
        post = self.form_post_data(obj, user, {f"custom.{d.name}": page for d, _, page, _ in kinds.values()})
        response = client.post(self.url("edit", obj), post)
        self.assertEqual(
            response.status_code, 302, getattr(response, "context", None) and response.context["form"].errors
        )
        stored = self.model.objects.get(pk=obj.pk).custom
        for kind, (definition, api, _, _) in kinds.items():
            with self.subTest(kind=kind, channel="page"):
                self.assertEqual(stored[definition.name], api)
        detail = client.get(self.url("detail", obj))
        for kind, (definition, _, _, shown) in kinds.items():
            with self.subTest(kind=kind, channel="detail"):
                self.assertContains(detail, definition.label)
                self.assertContains(detail, escape(shown))
        # the API: the same values back, and a change of each
        api = self.api(user)
        body = api.get(self.api_url(obj)).json()
        for kind, (definition, value, _, _) in kinds.items():
            with self.subTest(kind=kind, channel="api read"):
                self.assertEqual(body["custom"][definition.name], value)
        current = self.model.objects.get(pk=obj.pk)
        cleared = {d.name: None for d, *_ in kinds.values()}
        response = api.patch(self.api_url(obj), {"version": current.version, "custom": cleared}, format="json")
        self.assertEqual(response.status_code, 200, response.content)
        self.assertEqual(self.model.objects.get(pk=obj.pk).custom, {})
        values = {d.name: value for d, value, _, _ in kinds.values()}
        response = api.patch(self.api_url(obj), {"version": current.version + 1, "custom": values}, format="json")
        self.assertEqual(response.status_code, 200, response.content)
        self.assertEqual(response.json()["custom"], values)

    def test_custom_values_of_the_wrong_type_are_refused_and_nothing_is_written(self) -> None:
        from meridian.core.choices import CustomFieldType as T

        obj = self.obj_a
        kinds = self.every_kind(obj)
        wrong: dict[str, list[Any]] = {
            T.TEXT: [7, True, "X12"],  # X12 does not match the pattern
            T.LONG_TEXT: [1.5, ["x"]],
            T.INTEGER: ["8", 1.5, True, 65],  # 65: above the maximum
            T.DECIMAL: [True, "twelve", [1]],
            T.BOOLEAN: ["true", 1],
            T.DATE: ["01/03/2026", 20260301, "2026-02-30"],
            T.DATETIME: ["tomorrow", 1],
            T.CHOICE: ["platinum", 1],
            T.MULTIPLE_CHOICE: ["backup", ["backup", "cooking"], [1]],
            T.URL: ["not a url", "javascript:alert(1)"],
            T.PERSON: ["1", 1.5, 999999],
            T.ORGANISATION: [str(self.p.internal.pk), 999999],
        }
        user = self.actor(CHANGE)
        api = self.api(user)
        before = self.model.objects.get(pk=obj.pk)
        events_before = AuditEvent.objects.filter(record_id=str(obj.pk), record_type=self.rt.label).count()
        for kind, values in wrong.items():
            definition = kinds[kind][0]
            for value in values:
                with self.subTest(kind=kind, value=value):
                    response = api.patch(
                        self.api_url(obj),
                        {"version": before.version, "custom": {definition.name: value}},
                        format="json",
                    )
                    self.assertEqual(response.status_code, 400)
                    self.assertIn(f"custom.{definition.name}", response.json())
        with self.subTest(body="not an object"):
            response = api.patch(self.api_url(obj), {"version": before.version, "custom": ["x"]}, format="json")
            self.assertEqual(response.status_code, 400)
            self.assertIn("custom", response.json())
        with self.subTest(body="unknown field"):
            response = api.patch(self.api_url(obj), {"version": before.version, "custom": {"nope": 1}}, format="json")
            self.assertEqual(response.json(), {"custom.nope": ["No such custom field."]})
        client = self.page_client(user)
        integer = kinds[T.INTEGER][0]
        with self.subTest(channel="page"):
            post = self.form_post_data(obj, user, {f"custom.{integer.name}": "eight"})
            response = client.post(self.url("edit", obj), post)
            self.assertEqual(response.status_code, 400)
            self.assertContains(response, "Enter a whole number", status_code=400)
        with self.subTest(channel="service"):
            try:
                services.update_record(
                    before, data={"custom": {integer.name: "8"}}, actor=user, expected_version=before.version
                )
            except ValidationError as exc:
                self.assertIn(f"custom.{integer.name}", exc.message_dict)
            else:
                raise AssertionError("the service accepted text for a whole number")
        after = self.model.objects.get(pk=obj.pk)
        self.assertEqual((after.version, after.custom), (before.version, before.custom))
        self.assertEqual(
            AuditEvent.objects.filter(record_id=str(obj.pk), record_type=self.rt.label).count(), events_before
        )

    def test_required_custom_fields_are_honoured_on_every_write(self) -> None:
        obj = self.obj_a
        definition = self.define("asset_tag", "text", required=True, label="Asset tag")
        user = self.actor(CHANGE)
        api = self.api(user)
        response = api.patch(self.api_url(obj), {"version": obj.version}, format="json")  # an existing record too
        self.assertEqual(response.status_code, 400)
        self.assertEqual(response.json()["custom.asset_tag"], ["This field is required."])
        client = self.page_client(user)
        response = client.post(self.url("edit", obj), self.form_post_data(obj, user, {}))
        self.assertEqual(response.status_code, 400)
        self.assertEqual(self.model.objects.get(pk=obj.pk).version, obj.version)
        response = api.patch(
            self.api_url(obj), {"version": obj.version, "custom": {definition.name: "AT-1"}}, format="json"
        )
        self.assertEqual(response.status_code, 200, response.content)
        self.assertEqual(self.model.objects.get(pk=obj.pk).custom, {"asset_tag": "AT-1"})

    def test_custom_defaults_apply_to_new_records(self) -> None:
        self.define("tier", "choice", choices="gold\nsilver", default="silver")
        obj = services.create_record(self.model, data=self.new_data(), actor=self.actor(ADD))  # type: ignore[attr-defined]
        self.assertEqual(obj.custom, {"tier": "silver"})

    def test_scoped_custom_fields_only_where_in_scope(self) -> None:
        obj = self.obj_a
        field = self.custom_scope_field()
        value = getattr(obj, self.model._meta.get_field(field).attname)
        self.define("inside", "text", scope_field=field, scope_values=str(value).replace(",", ""))
        self.define("outside", "text", scope_field=field, scope_values="no-such-value")
        user = self.actor(CHANGE)
        form = self.page_client(user).get(self.url("edit", obj))
        self.assertContains(form, 'name="custom.inside"')
        self.assertNotContains(form, 'name="custom.outside"')
        api = self.api(user)
        self.assertEqual(set(api.get(self.api_url(obj)).json()["custom"]), {"inside"})
        response = api.patch(self.api_url(obj), {"version": obj.version, "custom": {"outside": "x"}}, format="json")
        self.assertEqual(response.status_code, 400)
        self.assertIn("Not used here", response.json()["custom.outside"][0])
        response = api.patch(self.api_url(obj), {"version": obj.version, "custom": {"inside": "x"}}, format="json")
        self.assertEqual(response.status_code, 200, response.content)

    def custom_pair(self) -> tuple[Any, Any]:
        """Two records of organisation A with different custom values (cpus 8 / 16, tier gold / silver, renewal
        March / June), for the filter and export tests."""
        self.define("cpus", "integer", label="CPU count")
        self.define("tier", "choice", choices="gold\nsilver", label="Service tier")
        self.define("renewal", "date", label="Renewal date")
        admin = self.p.users[Role.ADMINISTRATOR]
        first = self.model.objects.get(pk=self.obj_a.pk)
        first = services.update_record(
            first,
            data={"custom": {"cpus": 8, "tier": "gold", "renewal": "2026-03-01"}},
            actor=admin,
            expected_version=first.version,
        )
        second = (
            self.make_record(self.p.org_a)
            if self.model.TENANT_FIELD != "id"
            else self.make_record(OrganisationFactory(name="Second (tests)"))
        )
        second = services.update_record(
            second,
            data={"custom": {"cpus": 16, "tier": "silver", "renewal": "2026-06-01"}},
            actor=admin,
            expected_version=second.version,
        )
        return first, second

    def test_custom_fields_filter_lists_and_the_api(self) -> None:
        first, second = self.custom_pair()
        viewer = self.p.users[Role.AUDITOR]
        api = self.api(viewer)
        cases = {
            "custom.cpus=8": {first.pk},
            "custom.cpus_min=10": {second.pk},
            "custom.cpus_min=8&custom.cpus_max=16": {first.pk, second.pk},
            "custom.tier=silver": {second.pk},
            "custom.renewal_max=2026-04-01": {first.pk},
            "custom.renewal=2026-06-01": {second.pk},
        }
        client = self.page_client(viewer)
        for query, expected in cases.items():
            with self.subTest(query=query, channel="api"):
                rows = api.get(f"{self.api_url()}?page_size=1000&{query}").json()["results"]
                self.assertEqual({row["id"] for row in rows} & {first.pk, second.pk}, expected)
            with self.subTest(query=query, channel="page"):
                page = client.get(f"{self.url('list')}?per_page=100&{query}")
                self.assertEqual(page.status_code, 200)
                for obj in (first, second):
                    (self.assertContains if obj.pk in expected else self.assertNotContains)(
                        page, obj.get_absolute_url()
                    )

    def test_custom_fields_in_csv_and_xlsx_exports(self) -> None:
        self.custom_pair()
        client = self.page_client(self.p.users[Role.AUDITOR])
        rows = list(csv.reader(io.StringIO(client.get(self.url("list") + "?export=csv").content.decode())))
        header = rows[0]
        self.assertIn("CPU count", header)
        column = header.index("CPU count")
        self.assertEqual(sorted(row[column] for row in rows[1:] if row[column]), ["16", "8"])
        from openpyxl import load_workbook

        sheet = load_workbook(io.BytesIO(client.get(self.url("list") + "?export=xlsx").content)).active
        values = [[cell.value for cell in row] for row in sheet.iter_rows()]
        self.assertIn("Service tier", values[0])
        self.assertIn("gold", [row[values[0].index("Service tier")] for row in values[1:]])

    def test_custom_field_changes_are_in_the_history(self) -> None:
        first, _ = self.custom_pair()
        client = self.page_client(self.p.users[Role.AUDITOR])
        history = client.get(self.url("detail", first) + "?tab=history")
        self.assertContains(history, "CPU count")
        self.assertContains(history, "Service tier")
        events = self.api(self.p.users[Role.AUDITOR]).get(self.api_url(first, "history")).json()["results"]
        self.assertEqual(events[0]["changes"]["custom.cpus"], {"before": None, "after": 8})

    def test_a_field_customers_may_not_see_never_reaches_them(self) -> None:
        obj = self.obj_a
        customer = self.p.customer_a
        if not policy.can(fresh(customer), VIEW, obj):
            return  # customers do not see this type at all: nothing to keep from them
        self.define("margin", "text", label="Internal margin", searchable=True)
        self.define("portal_note", "text", label="Portal note", searchable=True, customer_visible=True)
        admin = self.p.users[Role.ADMINISTRATOR]
        current = self.model.objects.get(pk=obj.pk)
        services.update_record(
            current,
            data={"custom": {"margin": "zq-secret-4711", "portal_note": "zq-public-4712"}},
            actor=admin,
            expected_version=current.version,
        )
        client = self.page_client(customer)
        detail = client.get(self.url("detail", obj))
        self.assertContains(detail, "zq-public-4712")
        for response in (detail, client.get(self.url("list") + "?q=zq-secret")):
            self.assertNotContains(response, "zq-secret-4711")
            self.assertNotContains(response, "Internal margin")
        api = self.api(customer)
        body = api.get(self.api_url(obj)).json()
        self.assertEqual(set(body["custom"]), {"portal_note"})
        history = api.get(self.api_url(obj, "history")).json()["results"]
        self.assertNotIn("zq-secret-4711", str(history))
        self.assertIn("zq-public-4712", str(history))
        for channel in (
            client.get(reverse("search"), {"q": "zq-secret-4711"}),
            api.get(reverse("api:search"), {"q": "zq-secret-4711"}),
        ):
            self.assertNotContains(channel, obj.get_absolute_url())
        self.assertContains(
            self.page_client(admin).get(reverse("search"), {"q": "zq-secret-4711"}), obj.get_absolute_url()
        )
        if policy.can(fresh(customer), EXPORT, obj):
            client = self.page_client(customer)  # the test client was the administrator's for the search just above
            exported = client.get(self.url("list") + "?export=csv").content.decode()
            self.assertNotIn("zq-secret-4711", exported)
            self.assertIn("zq-public-4712", exported)
        if policy.can(fresh(customer), CHANGE, obj):
            response = api.patch(
                self.api_url(obj), {"version": obj.version + 1, "custom": {"margin": "x"}}, format="json"
            )
            self.assertEqual(response.json(), {"custom.margin": ["No such custom field."]})

    def test_custom_values_of_another_organisation_never_reach_a_customer(self) -> None:
        self.define("portal_note", "text", label="Portal note", searchable=True, customer_visible=True)
        admin = self.p.users[Role.ADMINISTRATOR]
        current = self.model.objects.get(pk=self.obj_a.pk)
        services.update_record(
            current, data={"custom": {"portal_note": "zq-other-4713"}}, actor=admin, expected_version=current.version
        )
        outsider = self.p.customer_b
        api = self.api(outsider)
        status = api.get(self.api_url(self.obj_a)).status_code
        self.assertEqual(status, 404 if policy.can(fresh(outsider), VIEW, self.model) else 403)
        self.assertEqual(self.page_client(outsider).get(self.url("detail", self.obj_a)).status_code, 404)
        self.assertEqual(api.get(reverse("api:search"), {"q": "zq-other-4713"}).json(), [])
        if policy.can(fresh(outsider), VIEW, self.model):
            rows = api.get(f"{self.api_url()}?custom.portal_note=zq-other-4713").json()["results"]
            self.assertEqual(rows, [])

    def test_a_reference_to_another_organisations_record_is_refused(self) -> None:
        from meridian.core.factories import PersonFactory

        tenant = getattr(self.obj_a, "tenant_id", None)
        if tenant is None:
            return  # a type without organisation may refer to anything its writer may see
        self.define("contact", "person")
        stranger: Any = PersonFactory(organisation=self.p.org_b)
        api = self.api(self.p.users[Role.ADMINISTRATOR])
        response = api.patch(
            self.api_url(self.obj_a), {"version": self.obj_a.version, "custom": {"contact": stranger.pk}}, format="json"
        )
        self.assertEqual(response.status_code, 400)
        self.assertIn("own organisation", response.json()["custom.contact"][0])

    def test_custom_references_cost_no_query_per_row(self) -> None:
        """An API list and a CSV export of records that each refer to another person make as many queries for seven
        rows as for two (the people are read at once)."""
        from django.db import connection

        from meridian.core.factories import PersonFactory

        self.define("contact", "person", label="Contact")
        admin = self.p.users[Role.ADMINISTRATOR]

        def refer(obj: Any) -> None:
            current = self.model.objects.get(pk=obj.pk)
            person: Any = PersonFactory(organisation=self.custom_tenant(current))
            services.update_record(
                current, data={"custom": {"contact": person.pk}}, actor=admin, expected_version=current.version
            )

        for obj in (self.obj_a, self.obj_b):
            refer(obj)
        api, client = self.api(admin), self.page_client(admin)
        api.get(self.api_url() + "?page_size=100")
        with CaptureQueriesContext(connection) as few_api:
            api.get(self.api_url() + "?page_size=100")
        with CaptureQueriesContext(connection) as few_export:
            client.get(self.url("list") + "?export=csv")
        for _ in range(5):
            refer(self.make_record(self.p.org_a if self.model.TENANT_FIELD != "id" else OrganisationFactory()))
        with CaptureQueriesContext(connection) as many_api:
            rows = api.get(self.api_url() + "?page_size=100").json()["results"]
        with CaptureQueriesContext(connection) as many_export:
            exported = client.get(self.url("list") + "?export=csv").content.decode()
        self.assertGreaterEqual(sum(1 for row in rows if row["custom"].get("contact")), 7)
        self.assertEqual(len(many_api), len(few_api), "API list queries grow with referenced people")
        self.assertEqual(len(many_export), len(few_export), "export queries grow with referenced people")
        self.assertNotIn("(deleted)", exported)
