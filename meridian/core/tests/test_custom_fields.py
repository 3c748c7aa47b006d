"""Custom field definitions: a registered type of their own (generic tests), and the rules that keep values safe
(deleting a definition with values, changing its type, validating the definition itself). The values themselves
are tested on every opting-in type by `testing.CustomFieldTests`."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from meridian.core import services
from meridian.core.choices import CustomFieldType, Role
from meridian.core.factories import CustomFieldFactory, OrganisationFactory
from meridian.core.models import CustomField, Organisation
from meridian.core.testing import PrincipalsTestCase, RecordTypeTests, api_client


class TestCustomField(RecordTypeTests):
    model = CustomField
    factory = CustomFieldFactory
    changed_data = {"label": "Processor count"}

    def own_text_field(self) -> str | None:
        return "help_text"  # free text (the name is a slug, checked by the definition's own rules)

    def new_data(self) -> dict[str, Any]:
        return {
            "applies_to": "core.organisation",
            "name": "cpu_count",
            "label": "CPU count",
            "type": CustomFieldType.INTEGER,
            "min_value": 1,
            "order": 10,
        }


class DefinitionRulesTest(PrincipalsTestCase):
    def define(self, **data: Any) -> CustomField:
        base = {"applies_to": "core.organisation", "name": "tier", "label": "Tier", "type": "text"}
        return services.create_record(CustomField, data={**base, **data}, actor=self.admin)

    def test_a_definition_with_values_is_not_deleted_and_says_how_many(self) -> None:
        definition = self.define()
        for org in (self.p.org_a, self.p.org_b):
            services.update_record(
                org, data={"custom": {"tier": "gold"}}, actor=self.admin, expected_version=org.version
            )
        api = api_client(self.admin)
        response = api.delete(f"/api/v1/core/custom-fields/{definition.pk}/", {"version": 1}, format="json")
        self.assertEqual(response.status_code, 409)
        self.assertIn("2 records still hold a value of “Tier”", response.json()["detail"])
        self.assertTrue(CustomField.objects.filter(pk=definition.pk).exists())
        for org in (self.p.org_a, self.p.org_b):
            org.refresh_from_db()
            services.update_record(org, data={"custom": {"tier": None}}, actor=self.admin, expected_version=org.version)
        response = api.delete(f"/api/v1/core/custom-fields/{definition.pk}/", {"version": 1}, format="json")
        self.assertEqual(response.status_code, 204)

    def test_type_and_name_are_fixed_once_values_exist(self) -> None:
        definition = self.define()
        services.update_record(
            definition, data={"type": "choice", "choices": "gold\nsilver"}, actor=self.admin, expected_version=1
        )  # no values yet: fine
        definition.refresh_from_db()
        org = self.p.org_a
        services.update_record(org, data={"custom": {"tier": "gold"}}, actor=self.admin, expected_version=org.version)
        for change in ({"type": "text", "choices": ""}, {"name": "level"}):
            with self.subTest(change=change), self.assertRaises(ValidationError) as caught:
                services.update_record(definition, data=change, actor=self.admin, expected_version=definition.version)
            self.assertIn("1 record hold a value", str(caught.exception))
        definition.refresh_from_db()
        self.assertEqual((definition.type, definition.name), ("choice", "tier"))

    def test_a_definition_is_validated_when_defined(self) -> None:
        cases = {
            "name": {"name": "Bad Name"},
            "regex": {"regex": "([a-z"},
            "default": {"type": "integer", "default": "many"},
            "choices": {"type": "choice"},
            "max_value": {"type": "integer", "min_value": 10, "max_value": 1},
            "scope_field": {"scope_field": "nonsense", "scope_values": "x"},
            "applies_to": {"applies_to": "core.calendar"},
        }
        defined = CustomField.objects.count()  # apps' default definitions (the CMDB's class attributes)
        for field, data in cases.items():
            with self.subTest(field=field), self.assertRaises(ValidationError) as caught:
                self.define(**data)
            self.assertIn(field, caught.exception.message_dict)
        self.assertEqual(CustomField.objects.count(), defined)
        api = api_client(self.admin)
        response = api.post(
            "/api/v1/core/custom-fields/",
            {"applies_to": "core.organisation", "name": "x", "label": "X", "type": "text", "regex": "("},
            format="json",
        )
        self.assertEqual(response.status_code, 400)
        self.assertIn("regex", response.json())

    def test_only_administrators_define_fields(self) -> None:
        api = api_client(self.p.users[Role.SERVICE_DESK_AGENT])
        response = api.post(
            "/api/v1/core/custom-fields/",
            {"applies_to": "core.organisation", "name": "x", "label": "X", "type": "text"},
            format="json",
        )
        self.assertEqual(response.status_code, 403)

    def test_filtering_uses_the_same_values_on_both_databases(self) -> None:
        self.define(name="rate", type="decimal")
        org = OrganisationFactory(name="Rated (tests)")
        services.update_record(org, data={"custom": {"rate": 12.5}}, actor=self.admin, expected_version=1)
        org.refresh_from_db()
        self.assertEqual(org.custom, {"rate": "12.5"})
        api = api_client(self.admin)
        for query in ("custom.rate=12.50", "custom.rate_min=12", "custom.rate_max=12.5"):
            with self.subTest(query=query):
                ids = [row["id"] for row in api.get(f"/api/v1/core/organisations/?{query}").json()["results"]]
                self.assertEqual(ids, [org.pk])
        self.assertEqual(Organisation.objects.filter(custom__has_key="rate").count(), 1)


class ScopeByNameTests(PrincipalsTestCase):
    """The form offers a scope's values by name (a choice field's labels), stores the values as before; the API
    takes the values as stored and refuses others with a clear message."""

    PAGE = "/core/custom-fields/add/"

    def post(self, **values: Any) -> Any:
        data = {"applies_to": "core.organisation", "name": "tier", "label": "Tier", "type": "text", "order": 100}
        self.client.force_login(self.admin)
        return self.client.post(self.PAGE, {**data, **values})

    def test_the_form_offers_a_choice_fields_labels_and_stores_the_values(self) -> None:
        self.client.force_login(self.admin)
        page = self.client.get(self.PAGE)
        self.assertContains(page, 'name="scope_choices"')
        self.assertContains(page, "Organisations · kind (kind)")
        self.assertContains(page, '<option value="core.organisation|kind|customer">Customer</option>', html=True)
        answer = self.post(scope_field="kind", scope_choices=["core.organisation|kind|customer"])
        self.assertEqual(answer.status_code, 302, answer.content.decode()[-3000:])
        definition = CustomField.objects.get(name="tier")
        self.assertEqual(definition.scope_values, "customer")
        edit = self.client.get(f"/core/custom-fields/{definition.pk}/edit/")
        self.assertEqual(edit.context["form"]["scope_choices"].initial, ["core.organisation|kind|customer"])

    def test_a_choice_of_another_field_or_a_field_without_a_list_is_refused_and_nothing_written(self) -> None:
        defined = CustomField.objects.count()
        wrong_field = self.post(scope_field="kind", scope_choices=["core.organisation|active|true"])
        self.assertEqual(wrong_field.status_code, 400)
        self.assertIn("choose among the values of kind", str(wrong_field.context["form"].errors["scope_choices"]))
        free = self.post(scope_field="name", scope_choices=["core.organisation|kind|customer"])
        self.assertEqual(free.status_code, 400)
        self.assertIn("has no list of values", str(free.context["form"].errors["scope_choices"]))
        both = self.post(scope_field="kind", scope_values="supplier", scope_choices=["core.organisation|kind|customer"])
        self.assertIn("not both", str(both.context["form"].errors["scope_values"]))
        typed_wrong = self.post(scope_field="kind", scope_values="gold")
        self.assertIn("Not a value of kind: gold.", str(typed_wrong.context["form"].errors["scope_values"]))
        self.assertEqual(CustomField.objects.count(), defined)

    def test_the_api_takes_the_values_as_stored_and_refuses_others(self) -> None:
        api = api_client(self.admin)
        data = {"applies_to": "core.organisation", "name": "tier", "label": "Tier", "type": "text"}
        refused = api.post(
            "/api/v1/core/custom-fields/", {**data, "scope_field": "kind", "scope_values": "Customer"}, format="json"
        )
        self.assertEqual(refused.status_code, 400)
        self.assertTrue(refused.json()["scope_values"][0].startswith("Not a value of kind: Customer. One of: customer"))
        made = api.post(
            "/api/v1/core/custom-fields/", {**data, "scope_field": "kind", "scope_values": "customer"}, format="json"
        )
        self.assertEqual(made.status_code, 201, made.content)
        self.assertEqual(made.json()["scope_values"], "customer")
