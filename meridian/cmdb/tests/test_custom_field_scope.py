"""An administrator scopes a CI attribute to CI classes by choosing them by name; the ids are stored as before and the
API, which keeps ids, refuses an id that is no CI class with a clear message."""

from __future__ import annotations

from meridian.cmdb.models import CIClass
from meridian.core.models import CustomField
from meridian.core.testing import PrincipalsTestCase, api_client

CI = "cmdb.configurationitem"


class ScopeToClassesByNameTests(PrincipalsTestCase):
    def setUp(self) -> None:
        self.server = CIClass.objects.get(name="Server")
        self.database = CIClass.objects.get(name="Database")
        self.client.force_login(self.admin)

    def data(self, **values: object) -> dict[str, object]:
        return {"applies_to": CI, "name": "rack_unit", "label": "Rack unit", "type": "text", "order": 100, **values}

    def test_the_form_offers_the_classes_by_name_and_stores_their_ids(self) -> None:
        page = self.client.get("/core/custom-fields/add/")
        self.assertContains(page, "CIs · class (ci_class)")
        self.assertContains(page, f'<option value="{CI}|ci_class|{self.server.pk}">Server</option>', html=True)
        chosen = [f"{CI}|ci_class|{self.server.pk}", f"{CI}|ci_class|{self.database.pk}"]
        answer = self.client.post("/core/custom-fields/add/", self.data(scope_field="ci_class", scope_choices=chosen))
        self.assertEqual(answer.status_code, 302, answer.content.decode()[-3000:])
        definition = CustomField.objects.get(name="rack_unit")
        self.assertEqual(definition.scope_values, f"{self.server.pk},{self.database.pk}")
        detail = self.client.get(f"/core/custom-fields/{definition.pk}/edit/")
        self.assertEqual(detail.context["form"]["scope_choices"].initial, chosen)
        self.assertEqual(detail.context["form"]["scope_values"].value(), "")

    def test_an_id_that_is_no_class_is_refused_on_page_and_api_and_nothing_is_written(self) -> None:
        defined = CustomField.objects.count()
        missing = CIClass.objects.order_by("-pk").first().pk + 100  # type: ignore[union-attr]
        page = self.client.post(
            "/core/custom-fields/add/", self.data(scope_field="ci_class", scope_values=f"{missing}")
        )
        self.assertEqual(page.status_code, 400)
        message = f"No CI class has the id {missing}: give the ids of CI classes, separated by commas"
        self.assertIn(message, str(page.context["form"].errors["scope_values"]))
        api = api_client(self.admin)
        answer = api.post(
            "/api/v1/core/custom-fields/",
            self.data(scope_field="ci_class", scope_values=f"{self.server.pk},Server"),
            format="json",
        )
        self.assertEqual(answer.status_code, 400)
        self.assertIn("No CI class has the id Server", answer.json()["scope_values"][0])
        self.assertEqual(CustomField.objects.count(), defined)
        made = api.post(
            "/api/v1/core/custom-fields/",
            self.data(scope_field="ci_class", scope_values=str(self.server.pk)),
            format="json",
        )
        self.assertEqual(made.status_code, 201, made.content)
