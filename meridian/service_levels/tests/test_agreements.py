"""Agreements as a service level manager uses them: who an agreement may be with, references by kind, which
agreement applies (hand-computed due times), ties as configuration errors, the consistency of the OLAs and
contracts beneath an SLA, the daily dates work, reviews and the priority matrix."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from meridian.core import services
from meridian.core.choices import OrganisationKind, Role
from meridian.core.factories import CalendarFactory, OrganisationFactory, PersonFactory, TeamFactory
from meridian.core.models import AuditEvent, NotificationLog
from meridian.core.testing import PrincipalsTestCase, api_client
from meridian.portfolio.factories import ServiceFactory
from meridian.service_levels import agreements, applies, consistency, priorities
from meridian.service_levels.choices import AgreementKind, AgreementStatus
from meridian.service_levels.models import Agreement, Priority, PriorityRule

FRIDAY_1600_AMSTERDAM = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)  # 16:00 CET


def office_hours() -> Any:
    """Monday to Friday 09:00-17:00 Europe/Amsterdam with Dutch public holidays."""
    return CalendarFactory(working_hours={str(d): [["09:00", "17:00"]] for d in range(5)})


def round_the_clock() -> Any:
    return CalendarFactory(always_open=True, time_zone="UTC", holiday_country="")


class AgreementTestCase(PrincipalsTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.slm = cls.p.users[Role.SERVICE_LEVEL_MANAGER]
        cls.p1, cls.p2 = Priority.objects.order_by("rank")[:2]
        cls.customer = OrganisationFactory(name="Northwind", kind=OrganisationKind.CUSTOMER)
        cls.other_customer = OrganisationFactory(name="Bergland", kind=OrganisationKind.CUSTOMER)
        cls.supplier = OrganisationFactory(name="Datacore", kind=OrganisationKind.SUPPLIER)
        cls.service = ServiceFactory(name="Warehouse Management", reference="SVC-0101")
        cls.other_service = ServiceFactory(name="E-mail", reference="SVC-0102")
        cls.team = TeamFactory(name="Platform Engineering")
        cls.owner = PersonFactory(organisation=cls.p.internal)

    def make(
        self,
        *,
        kind: str = AgreementKind.SLA,
        targets: dict[Any, tuple[int | None, int | None]] | None = None,
        status: str = AgreementStatus.ACTIVE,
        **data: Any,
    ) -> Agreement:
        """An agreement made through the services as the service level manager, moved to `status`."""
        values = {
            "kind": kind,
            "name": data.pop("name", f"{kind} agreement"),
            "valid_from": date(2026, 1, 1),
            "support_hours": data.pop("support_hours", None) or round_the_clock(),
            "owner": self.owner,
            "targets": [
                {"priority": priority, "response_minutes": response, "resolution_minutes": resolution}
                for priority, (response, resolution) in (targets or {self.p1: (30, 240)}).items()
            ],
            **data,
        }
        agreement = services.create_record(Agreement, data=values, actor=self.slm)
        for action in {"draft": [], "agreed": ["agree"], "active": ["agree", "activate"]}[status]:
            agreement = services.transition(agreement, action, actor=self.slm, expected_version=agreement.version)
        return agreement


class PartiesAndReferencesTests(AgreementTestCase):
    def test_each_kind_is_numbered_on_its_own(self) -> None:
        sla = self.make(customers=[self.customer])
        ola = self.make(kind=AgreementKind.OLA, team=self.team)
        uc = self.make(kind=AgreementKind.UC, supplier=self.supplier)
        second_sla = self.make()
        self.assertEqual(
            [sla.reference, ola.reference, uc.reference, second_sla.reference],
            ["SLA-0001", "OLA-0001", "UC-0001", "SLA-0002"],
        )

    def test_the_party_follows_the_kind_and_a_refused_write_writes_nothing(self) -> None:
        client = api_client(self.slm)
        url = reverse("api:service_levels-agreements-list")
        base = {"name": "x", "valid_from": "2026-01-01", "support_hours": round_the_clock().pk}
        cases = [
            ({"kind": "ola"}, "team"),
            ({"kind": "uc"}, "supplier"),
            ({"kind": "sla", "team": self.team.pk}, "team"),
            ({"kind": "ola", "team": self.team.pk, "customers": [self.customer.pk]}, "customers"),
            ({"kind": "uc", "supplier": self.customer.pk}, "supplier"),  # a customer is not a supplier
            ({"kind": "sla", "customers": [self.supplier.pk]}, "customers"),  # nor a supplier a customer
            ({"kind": "sla", "valid_to": "2025-12-31"}, "valid_to"),
        ]
        for extra, field in cases:
            with self.subTest(extra=extra):
                events = AuditEvent.objects.count()
                response = client.post(url, {**base, **extra}, format="json")
                self.assertEqual(response.status_code, 400, response.content)
                self.assertIn(field, response.json())
                self.assertFalse(Agreement.objects.exists())
                self.assertEqual(AuditEvent.objects.count(), events)

    def test_the_kind_cannot_change_once_made(self) -> None:
        sla = self.make(status=AgreementStatus.DRAFT)
        with self.assertRaises(ValidationError) as raised:
            services.update_record(
                sla, data={"kind": AgreementKind.OLA, "team": self.team}, actor=self.slm, expected_version=sla.version
            )
        self.assertIn("kind", raised.exception.message_dict)
        self.assertEqual(Agreement.objects.get(pk=sla.pk).kind, AgreementKind.SLA)

    def test_a_response_is_not_due_after_the_resolution(self) -> None:
        with self.assertRaises(ValidationError) as raised:
            self.make(targets={self.p1: (600, 60)})
        self.assertIn("targets", str(raised.exception.message_dict))
        self.assertFalse(Agreement.objects.exists())

    def test_an_agreement_needs_an_owner_and_targets_to_be_agreed(self) -> None:
        bare = services.create_record(
            Agreement,
            data={"kind": "sla", "name": "Bare", "valid_from": date(2026, 1, 1), "support_hours": round_the_clock()},
            actor=self.slm,
        )
        with self.assertRaisesMessage(services.TransitionNotAllowed, "an agreement owner and at least one target"):
            services.transition(bare, "agree", actor=self.slm, expected_version=bare.version)


class WhichAppliesTests(AgreementTestCase):
    def test_due_times_are_counted_in_the_agreements_support_hours(self) -> None:
        # Friday 16:00: one working hour left that day; a weekend; Monday from 09:00
        self.make(support_hours=office_hours(), targets={self.p1: (120, 600)})
        answer = applies.applicable(
            customer=self.customer, service=self.service, priority=self.p1, at=FRIDAY_1600_AMSTERDAM
        )
        assert answer.sla is not None
        self.assertEqual(answer.response_due, datetime(2026, 12, 7, 9, 0, tzinfo=UTC))  # Mon 10:00 CET
        self.assertEqual(answer.resolution_due, datetime(2026, 12, 8, 9, 0, tzinfo=UTC))  # Tue 10:00 CET
        self.assertEqual(answer.errors, [])

    def test_the_most_specific_agreement_in_force_wins(self) -> None:
        standard = self.make(name="standard")
        for_service = self.make(name="service", services=[self.service])
        for_customer = self.make(name="customer", customers=[self.customer])
        for_both = self.make(name="both", customers=[self.customer], services=[self.service])
        expected = {
            (self.customer, self.service): for_both,
            (self.customer, self.other_service): for_customer,
            (self.other_customer, self.service): for_service,
            (self.other_customer, self.other_service): standard,
            (None, self.service): for_service,  # an internal caller: no customer-specific agreement applies
        }
        for (customer, service), winner in expected.items():
            with self.subTest(customer=customer, service=service):
                answer = applies.applicable(customer=customer, service=service, priority=self.p1)
                assert answer.sla is not None
                self.assertEqual(answer.sla.agreement, winner)
                self.assertEqual(answer.errors, [])

    def test_only_an_active_agreement_within_its_validity_applies(self) -> None:
        self.make(name="draft", customers=[self.customer], status=AgreementStatus.DRAFT)
        self.make(name="agreed", customers=[self.customer], status=AgreementStatus.AGREED)
        ended = self.make(name="ended", customers=[self.customer])
        Agreement.objects.filter(pk=ended.pk).update(valid_to=timezone.localdate() - timedelta(days=1))
        standard = self.make(name="standard")
        answer = applies.applicable(customer=self.customer, service=self.service, priority=self.p1)
        assert answer.sla is not None
        self.assertEqual(answer.sla.agreement, standard)

    def test_two_equally_specific_agreements_are_an_error_not_a_coin_toss(self) -> None:
        first = self.make(name="first", customers=[self.customer])
        second = self.make(name="second", customers=[self.customer, self.other_customer])
        self.make(name="for another", customers=[self.other_customer], services=[self.service])
        answer = applies.applicable(customer=self.customer, service=self.service, priority=self.p1)
        self.assertIsNone(answer.sla)
        self.assertEqual(len(answer.errors), 1)
        self.assertIn(f"{first.reference} and {second.reference}", answer.errors[0])
        # shown on both agreements' pages, with where they collide
        self.assertEqual([(a, w) for a, w in applies.ties(first)], [(second, "every service / Northwind")])
        self.assertEqual([a for a, _ in applies.ties(second)], [first])
        self.client.force_login(self.slm)
        page = self.client.get(first.get_absolute_url(), {"tab": "coverage"})
        self.assertContains(page, "Configuration error: equally specific agreements")
        self.assertContains(page, second.reference)

    def test_the_winner_without_a_target_for_the_priority_gives_none(self) -> None:
        self.make(name="standard", targets={self.p1: (30, 240), self.p2: (60, 480)})
        specific = self.make(name="P1 only", customers=[self.customer], targets={self.p1: (15, 120)})
        answer = applies.applicable(customer=self.customer, service=self.service, priority=self.p2)
        assert answer.sla is not None
        self.assertEqual(answer.sla.agreement, specific)
        self.assertIsNone(answer.sla.target)
        self.assertIsNone(answer.resolution_due)

    def test_the_teams_ola_and_the_suppliers_contract_are_chosen_beneath(self) -> None:
        self.make()
        general = self.make(kind=AgreementKind.OLA, team=self.team, name="all services")
        specific = self.make(kind=AgreementKind.OLA, team=self.team, name="warehouse", services=[self.service])
        self.make(kind=AgreementKind.OLA, team=TeamFactory(), name="another team's", services=[self.service])
        contract = self.make(kind=AgreementKind.UC, supplier=self.supplier)
        answer = applies.applicable(
            customer=self.customer, service=self.service, priority=self.p1, team=self.team, supplier=self.supplier
        )
        assert answer.ola is not None and answer.uc is not None
        self.assertEqual((answer.ola.agreement, answer.uc.agreement), (specific, contract))
        other = applies.applicable(customer=self.customer, service=self.other_service, priority=self.p1, team=self.team)
        assert other.ola is not None
        self.assertEqual(other.ola.agreement, general)
        self.assertIn(specific.reference, answer.ola.rule("resolution"))

    def test_the_api_answers_with_the_matrix_priority_and_refuses_bad_questions(self) -> None:
        sla = self.make(support_hours=office_hours(), targets={self.p1: (120, 600)})
        client = api_client(self.p.users[Role.SERVICE_DESK_AGENT])
        url = reverse("api:service-levels-applies")
        response = client.get(url, {"service": self.service.reference, "impact": "high", "urgency": "high"})
        self.assertEqual(response.status_code, 200, response.content)
        body = response.json()
        self.assertEqual(body["sla"]["reference"], sla.reference)
        self.assertEqual(
            body["priority"]["name"], PriorityRule.objects.get(impact="high", urgency="high").priority.name
        )
        self.assertEqual(body["sla"]["target"]["resolution_minutes"], 600)
        self.assertIsNotNone(body["resolution_due"])
        opened = client.get(
            url, {"service": self.service.pk, "priority": self.p1.pk, "at": "2026-12-04T16:00:00+01:00"}
        ).json()  # Friday 16:00 CET: 1 h that day, the rest on Monday
        self.assertEqual(opened["response_due"], "2026-12-07T09:00:00Z")  # 10:00 CET
        self.assertEqual(opened["resolution_due"], "2026-12-08T09:00:00Z")
        for query, field in (
            ({"impact": "high", "urgency": "high"}, "service"),
            ({"service": "SVC-9999", "priority": self.p1.pk}, "service"),
            ({"service": self.service.pk}, "priority"),
            ({"service": self.service.pk, "priority": self.p1.pk, "customer": self.supplier.pk}, "customer"),
        ):
            with self.subTest(query=query):
                refused = client.get(url, query)
                self.assertEqual(refused.status_code, 400)
                self.assertIn(field, refused.json())
        customer = api_client(self.p.customer_a)
        self.assertEqual(customer.get(url, {"service": self.service.pk, "priority": self.p1.pk}).status_code, 403)

    def test_the_page_answers_the_same_question(self) -> None:
        sla = self.make(customers=[self.customer], targets={self.p1: (30, 240)})
        self.client.force_login(self.p.users[Role.RESOLVER])
        page = self.client.get(
            reverse("service_levels:applies"),
            {"customer": self.customer.pk, "service": self.service.pk, "priority": self.p1.pk},
        )
        self.assertContains(page, sla.reference)
        self.assertContains(page, "names the customer (every service)")
        self.assertContains(page, 'class="resolution-due"')
        refused = self.client.get(reverse("service_levels:applies"), {"service": self.service.pk})
        self.assertContains(refused, "Choose a priority, or give both impact and urgency.")


class ConsistencyTests(AgreementTestCase):
    def test_an_ola_working_fewer_hours_cannot_support_a_round_the_clock_sla(self) -> None:
        sla = self.make(services=[self.service], targets={self.p1: (None, 240)})
        ola = self.make(
            kind=AgreementKind.OLA,
            team=self.team,
            services=[self.service],
            support_hours=office_hours(),
            targets={self.p1: (None, 180)},
        )
        findings = consistency.check(sla, now=FRIDAY_1600_AMSTERDAM)
        self.assertEqual([(f.beneath, f.measure) for f in findings], [(ola, "resolution")])
        finding = findings[0]
        # a ticket opened Monday 00:00 (the first hour of the sampled week) is due at 04:00 under the SLA, but the
        # office-hours team only starts at 09:00 CET and needs 3 hours: 12:00 CET, 11:00 UTC
        self.assertEqual(finding.example_start, datetime(2026, 12, 7, 0, 0, tzinfo=UTC))
        self.assertEqual(finding.sla_due, datetime(2026, 12, 7, 4, 0, tzinfo=UTC))
        self.assertEqual(finding.beneath_due, datetime(2026, 12, 7, 11, 0, tzinfo=UTC))
        self.assertEqual(consistency.findings_for(ola, now=FRIDAY_1600_AMSTERDAM), findings)  # shown on both

    def test_a_faster_ola_in_the_same_hours_supports_it_and_a_slower_one_does_not(self) -> None:
        sla = self.make(targets={self.p1: (30, 240)})
        fast = self.make(kind=AgreementKind.OLA, team=self.team, targets={self.p1: (20, 180)})
        self.assertEqual(consistency.check(sla), [])
        slow = self.make(kind=AgreementKind.UC, supplier=self.supplier, targets={self.p1: (20, 300)})
        self.assertEqual([(f.beneath, f.measure) for f in consistency.check(sla)], [(slow, "resolution")])
        self.assertNotIn(fast, [f.beneath for f in consistency.check(sla)])

    def test_a_missing_target_of_the_priority_is_not_underpinned(self) -> None:
        sla = self.make(targets={self.p1: (30, 240), self.p2: (60, 480)})
        ola = self.make(kind=AgreementKind.OLA, team=self.team, targets={self.p1: (20, 180)})
        findings = consistency.check(sla)
        self.assertEqual(
            {(f.beneath, f.priority, f.measure) for f in findings},
            {
                (ola, str(self.p2), "response"),
                (ola, str(self.p2), "resolution"),
            },
        )
        self.assertIn("is not underpinned", findings[0].message)

    def test_only_agreements_covering_a_common_service_are_beneath(self) -> None:
        sla = self.make(services=[self.service], targets={self.p1: (30, 240)})
        self.make(kind=AgreementKind.OLA, team=self.team, services=[self.other_service], targets={self.p1: (60, 900)})
        self.make(kind=AgreementKind.OLA, team=self.team, status=AgreementStatus.DRAFT, targets={self.p1: (60, 900)})
        self.assertEqual(list(consistency.beneath(sla)), [])
        self.assertEqual(consistency.check(sla), [])

    def test_the_coverage_tab_shows_the_findings_on_the_page_and_in_the_api(self) -> None:
        sla = self.make(services=[self.service], targets={self.p1: (None, 240)})
        ola = self.make(
            kind=AgreementKind.OLA, team=self.team, support_hours=office_hours(), targets={self.p1: (None, 180)}
        )
        self.client.force_login(self.slm)
        page = self.client.get(sla.get_absolute_url(), {"tab": "coverage"})
        self.assertContains(page, "Consistency (1 finding)")
        self.assertContains(page, f"{ola.reference} (Platform Engineering) promises resolution")
        data = api_client(self.slm).get(f"/api/v1/service-levels/agreements/{sla.pk}/coverage/").json()
        self.assertEqual([(f["beneath"], f["measure"]) for f in data["findings"]], [(ola.reference, "resolution")])
        self.assertEqual([r["reference"] for r in data["related"]], [ola.reference])


class DatesAndReviewsTests(AgreementTestCase):
    def test_the_daily_run_starts_and_ends_agreements_and_tells_of_an_overdue_review_once(self) -> None:
        today = timezone.localdate()
        starting = self.make(status=AgreementStatus.AGREED, valid_from=today)
        future = self.make(status=AgreementStatus.AGREED, valid_from=today + timedelta(days=5))
        ending = self.make()
        Agreement.objects.filter(pk=ending.pk).update(valid_to=today - timedelta(days=1))
        overdue = self.make()
        Agreement.objects.filter(pk=overdue.pk).update(next_review=today - timedelta(days=2))
        system = services.get_system_actor()
        self.assertEqual(agreements.run_dates(system), {"activated": 1, "expired": 1, "reviews_overdue": 1})
        statuses = dict(Agreement.objects.values_list("pk", "status"))
        self.assertEqual(statuses[starting.pk], AgreementStatus.ACTIVE)
        self.assertEqual(statuses[future.pk], AgreementStatus.AGREED)
        self.assertEqual(statuses[ending.pk], AgreementStatus.EXPIRED)
        told = NotificationLog.objects.filter(event="service_levels.agreement.review_overdue")
        self.assertEqual([log.recipient for log in told], [self.owner.email])
        self.assertEqual(agreements.run_dates(system), {"activated": 0, "expired": 0, "reviews_overdue": 0})
        self.assertEqual(told.count(), 1)

    def test_a_review_is_recorded_with_its_outcome_and_plans_the_next(self) -> None:
        sla = self.make()
        client = api_client(self.slm)
        url = f"/api/v1/service-levels/agreements/{sla.pk}/record-review/"
        refused = client.post(url, {"version": sla.version}, format="json")
        self.assertEqual(refused.status_code, 400)
        self.assertIn("reason", refused.json())
        done = client.post(
            url, {"version": sla.version, "reason": "Targets kept; P3 tightened next year."}, format="json"
        )
        self.assertEqual(done.status_code, 200, done.content)
        sla.refresh_from_db()
        today = timezone.localdate()
        self.assertEqual(sla.last_reviewed, today)
        self.assertEqual(sla.next_review, agreements.add_months(today, 12))
        event = AuditEvent.objects.filter(
            record_type="service_levels.agreement", record_id=str(sla.pk), action="update"
        ).get()
        self.assertEqual(event.reason, "Targets kept; P3 tightened next year.")
        self.assertEqual(agreements.add_months(date(2027, 1, 31), 1), date(2027, 2, 28))


class PriorityMatrixTests(AgreementTestCase):
    def test_a_service_level_manager_changes_a_cell_and_it_is_audited(self) -> None:
        self.client.force_login(self.slm)
        page = self.client.get(reverse("service_levels:matrix"))
        self.assertContains(page, "Save the matrix")
        data = {f"cell_{r.impact}_{r.urgency}": r.priority_id for r in PriorityRule.objects.all()}
        data["cell_medium_high"] = self.p1.pk
        response = self.client.post(reverse("service_levels:matrix"), data)
        self.assertRedirects(response, reverse("service_levels:matrix"))
        self.assertEqual(priorities.priority_for("medium", "high"), self.p1)
        cell = PriorityRule.objects.get(impact="medium", urgency="high")
        self.assertEqual((cell.updated_by, cell.version), (self.slm, 2))
        self.assertGreater(cell.updated_at, cell.created_at)
        event = AuditEvent.objects.filter(record_type="service_levels.priorityrule", record_id=str(cell.pk)).get()
        self.assertEqual(event.changes["priority"]["after"], self.p1.pk)

    def test_others_read_it_and_may_not_change_it(self) -> None:
        self.client.force_login(self.p.users[Role.RESOLVER])
        page = self.client.get(reverse("service_levels:matrix"))
        self.assertContains(page, "P1 – Critical")
        self.assertNotContains(page, "Save the matrix")
        before = dict(PriorityRule.objects.values_list("pk", "priority_id"))
        data = {f"cell_{r.impact}_{r.urgency}": self.p1.pk for r in PriorityRule.objects.all()}
        self.assertEqual(self.client.post(reverse("service_levels:matrix"), data).status_code, 403)
        self.assertEqual(dict(PriorityRule.objects.values_list("pk", "priority_id")), before)
        self.client.force_login(self.p.customer_a)
        self.assertEqual(self.client.get(reverse("service_levels:matrix")).status_code, 403)


class CatalogueTests(AgreementTestCase):
    def test_a_customer_reads_the_agreement_that_applies_to_them_and_never_anothers(self) -> None:
        service = ServiceFactory(name="Claims", reference="SVC-0201", status="live")
        service.customers.set([self.p.org_a, self.p.org_b])
        standard = self.make(name="Standard", targets={self.p1: (60, 480)})
        theirs = self.make(
            name="Customer A's claims",
            customers=[self.p.org_a],
            services=[service],
            targets={self.p1: (15, 240)},
            availability_target="99.900",
        )
        url = reverse("api:portfolio-catalogue-entry", args=[service.reference])
        seen_by_a = api_client(self.p.customer_a).get(url).json()["agreement"]
        self.assertEqual(seen_by_a["reference"], theirs.reference)
        self.assertEqual(seen_by_a["targets"], [{"priority": str(self.p1), "response": "15 min", "resolution": "4 h"}])
        self.assertEqual(seen_by_a["availability_target"], "99.9")
        seen_by_b = api_client(self.p.customer_b).get(url).json()["agreement"]
        self.assertEqual(seen_by_b["reference"], standard.reference)  # B's catalogue: only the standard SLA
        self.client.force_login(self.p.customer_b)
        page = self.client.get(reverse("portfolio:catalogue_entry", args=[service.reference]))
        self.assertContains(page, standard.reference)
        self.assertNotContains(page, theirs.reference)
        self.assertNotContains(page, "Customer A&#x27;s claims")
