"""Calendars as people keep them (weekly hours typed as text, holidays, closures, extra days) feeding the
business-time engine that SLA clocks use."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.test import SimpleTestCase, TestCase

from meridian.core.calendars import add_business_minutes, business_minutes_between, is_working_time
from meridian.core.choices import CalendarExceptionKind
from meridian.core.factories import CalendarExceptionFactory, CalendarFactory
from meridian.core.hours import format_hours, normalise_working_hours, parse_hours

AMS = ZoneInfo("Europe/Amsterdam")


class WorkingHoursTextTests(SimpleTestCase):
    def test_round_trip(self) -> None:
        text = "Mon-Fri 08:30-12:30 13:15-17:30\nSat 10:00-14:00\nSun 22:00-24:00"
        hours = parse_hours(text)
        self.assertEqual(hours["0"], [["08:30", "12:30"], ["13:15", "17:30"]])
        self.assertEqual(hours["6"], [["22:00", "00:00"]])
        self.assertNotIn("7", hours)
        self.assertEqual(parse_hours(format_hours(hours)), hours)
        self.assertEqual(format_hours(hours), text)  # consecutive equal days shown as one range

    def test_mistakes_are_explained_per_line(self) -> None:
        cases = {
            "Mon 09:00": "Line 1",
            "Funday 09:00-10:00": "Line 1",
            "Mon 09:00-10:00\nTue 17:00-09:00": "Line 2: in “17:00-09:00” the end is not after the start",
            "Mon 09:00-12:00 11:00-13:00": "overlap",
            "Mon-Fri 09:00-17:00\nWed 18:00-19:00": "Wed is given twice",
            "Fri-Mon 09:00-17:00": "backwards",
            "Mon 25:00-26:00": "not a valid time range",
        }
        for text, message in cases.items():
            with self.subTest(text=text), self.assertRaisesMessage(ValueError, message):
                parse_hours(text)


class StoredHoursTests(SimpleTestCase):
    def test_the_api_shape_is_checked_like_the_typed_text(self) -> None:
        self.assertEqual(
            normalise_working_hours({"0": [["9:00", "17:00"]], "6": [["22:00", "24:00"]], "5": []}),
            {"0": [["09:00", "17:00"]], "6": [["22:00", "00:00"]]},
        )
        for bad, message in [
            ("Mon-Fri 09:00-17:00", "Give an object"),
            ({"9": [["09:00", "10:00"]]}, "not a weekday"),
            ({"0": [["25:00", "banana"]]}, "not a time range"),
            ({"0": ["09:00-17:00"]}, "pairs"),
            ({"0": [["12:00", "13:00"], ["09:00", "10:00"]]}, "Mon: the ranges overlap or are not in order"),
        ]:
            with self.subTest(bad=bad), self.assertRaisesMessage(ValueError, message):
                normalise_working_hours(bad)


class CalendarScheduleTests(TestCase):
    def test_dutch_office_calendar_with_closure_and_extra_day(self) -> None:
        calendar = CalendarFactory(
            working_hours=parse_hours("Mon-Fri 09:00-12:30 13:30-17:30"),
            holiday_country="NL",
            time_zone="Europe/Amsterdam",
        )
        CalendarExceptionFactory(calendar=calendar, date=dt.date(2026, 12, 24), reason="Christmas Eve")
        CalendarExceptionFactory(
            calendar=calendar,
            date=dt.date(2026, 12, 19),
            kind=CalendarExceptionKind.WORKING,
            start=dt.time(9),
            end=dt.time(13),
            reason="Migration Saturday",
        )
        schedule = calendar.schedule()
        # King's Day is a public holiday: nothing is working time
        self.assertFalse(is_working_time(schedule, dt.datetime(2026, 4, 27, 10, tzinfo=AMS)))
        self.assertTrue(is_working_time(schedule, dt.datetime(2026, 4, 28, 10, tzinfo=AMS)))
        self.assertFalse(is_working_time(schedule, dt.datetime(2026, 12, 24, 10, tzinfo=AMS)))
        self.assertTrue(is_working_time(schedule, dt.datetime(2026, 12, 19, 10, tzinfo=AMS)))
        # Wed 23 Dec 16:30 + 4 business hours: 1h on Wednesday; Thu 24 is the calendar's closure, Fri 25 Christmas,
        # then the weekend; the remaining 3h run from Mon 28 Dec 09:00 and end at 12:00
        due = add_business_minutes(schedule, dt.datetime(2026, 12, 23, 16, 30, tzinfo=AMS), 240)
        self.assertEqual(due.astimezone(AMS), dt.datetime(2026, 12, 28, 12, 0, tzinfo=AMS))
        self.assertEqual(business_minutes_between(schedule, dt.datetime(2026, 12, 23, 16, 30, tzinfo=AMS), due), 240)

    def test_24x7_calendar(self) -> None:
        calendar = CalendarFactory(always_open=True, holiday_country="", working_hours={})
        start = dt.datetime(2026, 3, 28, 12, tzinfo=AMS)  # across the spring DST change
        self.assertEqual(add_business_minutes(calendar.schedule(), start, 24 * 60) - start, dt.timedelta(hours=24))

    def test_unknown_country_is_a_field_error(self) -> None:
        calendar = CalendarFactory.build(holiday_country="XX")
        with self.assertRaises(ValidationError) as caught:
            calendar.full_clean()
        self.assertIn("holiday_country", caught.exception.message_dict)

    def test_extra_working_day_needs_hours(self) -> None:
        exception = CalendarExceptionFactory.build(calendar=CalendarFactory(), kind=CalendarExceptionKind.WORKING)
        with self.assertRaises(ValidationError) as caught:
            exception.full_clean()
        self.assertEqual(set(caught.exception.message_dict), {"start", "end"})


class CalendarPageTests(TestCase):
    def test_calendar_page_lists_its_exceptions_and_its_form_edits_them(self) -> None:
        from meridian.core.testing import make_principals

        p = make_principals()
        calendar = CalendarFactory()
        CalendarExceptionFactory(calendar=calendar, date=dt.date(2026, 5, 5), reason="Liberation Day closure")
        self.client.force_login(p.users["administrator"])
        page = self.client.get(calendar.get_absolute_url() + "?tab=hours")  # the Hours tab
        self.assertContains(page, "Liberation Day closure")
        self.assertContains(page, "Next public holidays (NL)")
        edit = self.client.get(f"/core/calendars/{calendar.pk}/edit/")
        self.assertEqual(
            [row.instance.reason for row in edit.context["form"].child_formsets[0].initial_forms],
            ["Liberation Day closure"],
        )
        typed = self.client.post(
            f"/core/calendars/{calendar.pk}/edit/",
            {
                "name": calendar.name,
                "time_zone": "Europe/Amsterdam",
                "holiday_country": "NL",
                "hours_text": "Mon-Thu 08:00-16:00\nFri 08:00-12:00",
                "version": calendar.version,
            },
        )
        self.assertEqual(typed.status_code, 302)
        calendar.refresh_from_db()
        self.assertEqual(calendar.working_hours["4"], [["08:00", "12:00"]])
        self.assertNotIn("5", calendar.working_hours)
        wrong = self.client.post(
            f"/core/calendars/{calendar.pk}/edit/",
            {
                "name": calendar.name,
                "time_zone": "Europe/Amsterdam",
                "hours_text": "Mon 9-5",
                "version": calendar.version,
            },
        )
        self.assertEqual(wrong.status_code, 400)
        self.assertIn("hours_text", wrong.context["form"].errors)
