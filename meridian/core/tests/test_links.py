"""Links between records (`core.links`): declarations, the service's refusals, the relation's queries, links of a
deleted record, and the API's strict input. The generic tests every opting-in type runs are in `core.testing`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from meridian.core import links, services
from meridian.core.choices import AuditAction, Role
from meridian.core.factories import LocationFactory, OrganisationFactory, TeamFactory
from meridian.core.links import DUPLICATE_OF, RELATES_TO, LinkType
from meridian.core.models import AuditEvent, Location, Organisation, RecordLink, Team
from meridian.core.testing import PrincipalsTestCase, api_client


@contextmanager
def declared(link_type: LinkType) -> Iterator[LinkType]:
    """A link type an app would declare, for one test (the declarations are restored afterwards)."""
    links.register_link_type(link_type)
    try:
        yield link_type
    finally:
        links._link_types.pop(link_type.name)


SUPPORTED_BY = LinkType("supported_by", "supported by", "supports", source=Location, target=Team)


def link(obj: Any, other: Any, actor: Any, link_type: str = RELATES_TO.name, direction: str = "forward") -> Any:
    return services.link_records(
        obj,
        link_type=link_type,
        other_type=other._meta.label_lower,
        other_id=other.pk,
        direction=direction,
        actor=actor,
    )


def events(obj: Any, action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(record_type=obj._meta.label_lower, record_id=str(obj.pk), action=action))


class LinkTypeDeclarationTests(PrincipalsTestCase):
    def test_core_declares_relates_to_and_duplicate_of(self) -> None:
        self.assertIs(links.find_link_type("relates_to"), RELATES_TO)
        self.assertIs(links.find_link_type("duplicate_of"), DUPLICATE_OF)
        self.assertTrue(RELATES_TO.symmetric)
        self.assertEqual((DUPLICATE_OF.forward, DUPLICATE_OF.reverse), ("duplicate of", "duplicated by"))

    def test_a_link_type_is_declared_once_with_a_usable_name(self) -> None:
        with self.assertRaisesMessage(ValueError, "registered twice"):
            links.register_link_type(LinkType("relates_to", "relates to", "relates to"))
        with self.assertRaisesMessage(ValueError, "letters, digits and underscores"):
            links.register_link_type(LinkType("caused-by", "caused by", "caused"))

    def test_the_add_form_offers_each_declared_pair_in_both_directions(self) -> None:
        location = LocationFactory(organisation=self.p.org_a)
        admin = self.admin
        with declared(SUPPORTED_BY):
            on_location = {c.label for c in links.choices_for(links.type_by_label("core.location"), admin)}  # type: ignore[arg-type]
            on_team = {c.label for c in links.choices_for(links.type_by_label("core.team"), admin)}  # type: ignore[arg-type]
        self.assertIn("supported by — team", on_location)
        self.assertNotIn("supports — team", on_location)
        self.assertIn("supports — location", on_team)
        self.assertIn("relates to — team", on_location)
        self.assertIn("duplicate of — location", on_location)
        self.assertNotIn("duplicate of — team", on_location)  # two records of one type only
        self.assertTrue(location.pk)


class LinkServiceTests(PrincipalsTestCase):
    def setUp(self) -> None:
        self.location = LocationFactory(organisation=self.p.org_a)
        self.team = TeamFactory(organisation=self.p.internal)

    def assert_refused(self, field: str, message: str, call: Any) -> None:
        before = AuditEvent.objects.count()
        with self.assertRaises(ValidationError) as caught:
            call()
        self.assertIn(message, " ".join(caught.exception.message_dict[field]))
        self.assertFalse(RecordLink.objects.exists())
        self.assertEqual(AuditEvent.objects.count(), before)

    def test_a_declared_pair_reads_in_both_directions_and_is_a_relation(self) -> None:
        other_team = TeamFactory(organisation=self.p.internal)
        with declared(SUPPORTED_BY):
            made = link(self.location, self.team, self.admin, SUPPORTED_BY.name)
            link(other_team, self.location, self.admin, SUPPORTED_BY.name, direction="reverse")  # from the team
            self.assertEqual((made.source_type, made.target_type), ("core.location", "core.team"))
            self.assertEqual(
                sorted(links.linked(self.location, SUPPORTED_BY.name, model=Team), key=lambda t: t.pk),
                [self.team, other_team],
            )
            self.assertEqual(list(links.linked(self.team, SUPPORTED_BY.name, model=Location)), [self.location])
            self.assertEqual(list(links.linked(self.team, model=Location, direction="forward")), [])
            rows = {r.name: r.wording for r in links.rows_for(self.team, self.admin)}
            self.assertEqual(rows, {str(self.location): "supports"})
            rows = {r.name: r.wording for r in links.rows_for(self.location, self.admin)}
            self.assertEqual(rows, {str(self.team): "supported by", str(other_team): "supported by"})
        # a join for later reports: the locations supported by any team of the provider
        self.assertEqual(RecordLink.objects.filter(link_type="supported_by", target_type="core.team").count(), 2)

    def test_undeclared_pairs_self_links_and_unknown_names_are_field_errors(self) -> None:
        other_org = OrganisationFactory()
        self.assert_refused(
            "type",
            "cannot be “duplicate of”",
            lambda: link(self.location, self.team, self.admin, DUPLICATE_OF.name),
        )
        self.assert_refused(
            "type", "Choose one of the link types", lambda: link(self.location, self.team, self.admin, "x")
        )
        self.assert_refused(
            "record", "cannot be linked to itself", lambda: link(self.location, self.location, self.admin)
        )
        self.assert_refused(
            "record_type",
            "Choose a type of record that can be linked",
            lambda: services.link_records(
                self.location, link_type="relates_to", other_type="core.person", other_id=1, actor=self.admin
            ),
        )
        self.assert_refused(
            "direction",
            "forward or reverse",
            lambda: link(self.location, other_org, self.admin, direction="sideways"),
        )

    def test_relates_to_is_one_link_whichever_end_it_is_made_from(self) -> None:
        link(self.location, self.team, self.admin)
        with self.assertRaises(ValidationError) as caught:
            link(self.team, self.location, self.admin)
        self.assertIn("already linked", caught.exception.message_dict["record"][0])
        self.assertEqual(RecordLink.objects.count(), 1)

    def test_who_may_not_change_the_record_may_not_link_it(self) -> None:
        for role in (Role.AUDITOR, Role.SERVICE_DESK_AGENT):
            with self.subTest(role=role), self.assertRaises(PermissionDenied):
                link(self.location, self.team, self.p.users[role])
        self.assertFalse(RecordLink.objects.exists())

    def test_the_database_refuses_self_links_and_doubles(self) -> None:
        ends = {"source_type": "core.location", "source_id": 1, "target_type": "core.team", "target_id": 1}
        RecordLink.objects.create(link_type="relates_to", **ends)
        with self.assertRaises(IntegrityError), transaction.atomic():
            RecordLink.objects.create(link_type="relates_to", **ends)
        with self.assertRaises(IntegrityError), transaction.atomic():
            RecordLink.objects.create(
                link_type="relates_to", source_type="core.team", source_id=3, target_type="core.team", target_id=3
            )

    def test_a_deleted_record_takes_its_links_along_audited_on_the_other_end(self) -> None:
        doomed = OrganisationFactory()
        link(self.location, doomed, self.admin)
        services.delete_record(doomed, actor=self.admin, expected_version=doomed.version)
        self.assertFalse(RecordLink.objects.exists())
        (event,) = events(self.location, AuditAction.UNLINK)
        self.assertEqual(event.changes["link"]["before"]["record_type"], "core.organisation")
        self.assertEqual(links.rows_for(self.location, self.admin), [])

    def test_unlinking_needs_a_link_of_this_record(self) -> None:
        made = link(self.location, self.team, self.admin)
        stranger = LocationFactory(organisation=self.p.org_a)
        from django.http import Http404

        with self.assertRaises(Http404):
            services.unlink_records(stranger, made.pk, actor=self.admin)
        services.unlink_records(self.team, made.pk, actor=self.admin)  # from either end
        self.assertFalse(RecordLink.objects.exists())
        self.assertEqual(len(events(self.location, AuditAction.UNLINK)), 1)
        self.assertEqual(len(events(self.team, AuditAction.UNLINK)), 1)


class LinkApiTests(PrincipalsTestCase):
    def setUp(self) -> None:
        self.org = OrganisationFactory()
        self.other = OrganisationFactory()
        self.url = reverse("api:core-organisations-links", args=[self.org.pk])

    def test_the_api_refuses_values_of_the_wrong_json_type_and_unknown_fields(self) -> None:
        api = api_client(self.admin)
        good = {"type": "relates_to", "record_type": "core.organisation", "record": self.other.pk}
        for body, field in (
            ({**good, "record": str(self.other.pk)}, "record"),
            ({**good, "record": True}, "record"),
            ({**good, "type": 3}, "type"),
            ({**good, "direction": "up"}, "direction"),
            ({**good, "colour": "red"}, "colour"),
            ({k: v for k, v in good.items() if k != "record_type"}, "record_type"),
        ):
            with self.subTest(body=body):
                response = api.post(self.url, body, format="json")
                self.assertEqual(response.status_code, 400, response.content)
                self.assertIn(field, response.json())
        self.assertFalse(RecordLink.objects.exists())
        self.assertEqual(api.post(self.url, good, format="json").status_code, 201)

    def test_an_auditor_reads_links_and_changes_none(self) -> None:
        made = link(self.org, self.other, self.admin)
        api = api_client(self.p.users[Role.AUDITOR])
        self.assertEqual(len(api.get(self.url).json()), 1)
        body = {"type": "duplicate_of", "record_type": "core.organisation", "record": self.other.pk}
        self.assertEqual(api.post(self.url, body, format="json").status_code, 403)
        self.assertEqual(api.delete(f"{self.url}{made.pk}/").status_code, 403)
        self.assertEqual(RecordLink.objects.count(), 1)

    def test_duplicate_of_reads_duplicated_by_from_the_other_end(self) -> None:
        api = api_client(self.admin)
        body = {"type": "duplicate_of", "record_type": "core.organisation", "record": self.other.pk}
        self.assertEqual(api.post(self.url, body, format="json").json()["meaning"], "duplicate of")
        theirs = api.get(reverse("api:core-organisations-links", args=[self.other.pk])).json()
        self.assertEqual([(r["meaning"], r["record"]) for r in theirs], [("duplicated by", self.org.pk)])
        self.assertEqual(
            list(links.linked(self.other, "duplicate_of", model=Organisation, direction="reverse")), [self.org]
        )

    def test_openapi_describes_the_links_endpoints(self) -> None:
        schema = api_client(self.admin).get(reverse("schema"), {"format": "json"}).json()
        paths = schema["paths"]
        self.assertIn("post", paths["/api/v1/core/organisations/{id}/links/"])
        self.assertIn("delete", paths["/api/v1/core/organisations/{id}/links/{link_id}/"])


class LinkHistoryQueryTests(PrincipalsTestCase):
    def test_the_history_names_the_other_ends_of_many_links_without_a_query_each(self) -> None:
        """The History tab loads the other records of all its link events at once (one query per type), so its
        cost does not grow with the number of links."""
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        org = OrganisationFactory()
        self.client.force_login(self.admin)
        url = reverse("core:organisation_detail", args=[org.pk]) + "?tab=history"

        def queries() -> int:
            with CaptureQueriesContext(connection) as captured:
                page = self.client.get(url)
            self.assertEqual(page.status_code, 200)
            return len(captured)

        first = OrganisationFactory(name="Linked first")
        link(org, first, self.admin)
        few = queries()
        for n in range(5):
            link(org, OrganisationFactory(name=f"Linked {n}"), self.admin)
        self.assertEqual(queries(), few)
        self.assertContains(self.client.get(url), "relates to Linked 4")
