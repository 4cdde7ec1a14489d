"""The practice clock: local time, holidays (actual and observed, plus `closed`), schedules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from frontdesk.plan import Plan, load_plan
from frontdesk.routing.clock import PracticeClock
from tests.conftest import CHICAGO, local

SCHEDULES = ("office", "billing", "triage")


@pytest.fixture(scope="module")
def clock(plan: Plan) -> PracticeClock:
    return PracticeClock(plan)


# --- local time --------------------------------------------------------------------------


def test_zone_is_the_practice_time_zone(clock: PracticeClock) -> None:
    assert clock.zone == ZoneInfo("America/Chicago")


def test_naive_datetime_is_practice_local(clock: PracticeClock) -> None:
    moment = clock.local(datetime(2026, 11, 30, 10, 0))
    assert moment == local("2026-11-30 10:00")
    assert (moment.hour, moment.minute) == (10, 0)
    assert moment.utcoffset() == timedelta(hours=-6)


def test_aware_datetime_is_converted(clock: PracticeClock) -> None:
    moment = clock.local(datetime(2026, 11, 30, 16, 0, tzinfo=UTC))
    assert moment.tzinfo == CHICAGO
    assert (moment.date(), moment.hour) == (date(2026, 11, 30), 10)


def test_aware_datetime_in_another_zone_is_converted(clock: PracticeClock) -> None:
    new_york = datetime(2026, 7, 6, 9, 0, tzinfo=ZoneInfo("America/New_York"))
    assert clock.local(new_york).hour == 8
    assert clock.schedule_open("office", new_york)
    assert not clock.schedule_open("office", new_york - timedelta(seconds=1))


def test_naive_and_aware_agree(clock: PracticeClock) -> None:
    naive = datetime(2026, 11, 30, 7, 59, 59)
    aware = datetime(2026, 11, 30, 13, 59, 59, tzinfo=UTC)
    assert clock.schedule_open("office", naive) is clock.schedule_open("office", aware) is False
    assert clock.schedule_open("triage", naive) is clock.schedule_open("triage", aware) is True


def test_utc_evening_is_still_the_local_day(clock: PracticeClock) -> None:
    # 2026-11-30 22:30 UTC is 16:30 CST on Monday: open, though UTC says 22:30.
    assert clock.schedule_open("office", datetime(2026, 11, 30, 22, 30, tzinfo=UTC))
    # 2026-12-01 01:00 UTC is Monday 19:00 CST: closed, though UTC says Tuesday 01:00.
    assert not clock.schedule_open("triage", datetime(2026, 12, 1, 1, 0, tzinfo=UTC))


# --- ordinary days -------------------------------------------------------------------------


def test_normal_monday_morning_is_open(clock: PracticeClock) -> None:
    now = local("2026-11-30 10:00")
    assert clock.holiday(now) is None
    assert all(clock.schedule_open(name, now) for name in SCHEDULES)


def test_office_is_open_at_08_00_00_and_closed_at_17_00_00(clock: PracticeClock) -> None:
    assert not clock.schedule_open("office", local("2026-11-30 07:59:59"))
    assert clock.schedule_open("office", local("2026-11-30 08:00:00"))
    assert clock.schedule_open("office", local("2026-11-30 16:59:59"))
    assert not clock.schedule_open("office", local("2026-11-30 17:00:00"))


def test_billing_closes_early_on_friday(clock: PracticeClock) -> None:
    assert clock.schedule_open("billing", local("2026-12-03 15:00"))  # Thursday
    assert not clock.schedule_open("billing", local("2026-12-04 12:00"))  # Friday
    assert clock.schedule_open("billing", local("2026-12-04 11:59:59"))


def test_weekend(clock: PracticeClock) -> None:
    saturday = local("2026-12-05 10:00")
    assert not clock.schedule_open("office", saturday)
    assert clock.schedule_open("triage", saturday)
    assert not clock.schedule_open("triage", local("2026-12-06 10:00"))  # Sunday


# --- holidays ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "name"),
    [
        ("2026-07-03", "Independence Day (observed)"),
        ("2026-07-04", "Independence Day"),
        ("2027-12-24", "Christmas Day (observed)"),
        ("2027-12-25", "Christmas Day"),
        ("2027-07-05", "Independence Day (observed)"),
        ("2027-12-31", "New Year's Day (observed)"),
        ("2026-11-26", "Thanksgiving Day"),
        ("2026-01-01", "New Year's Day"),
    ],
)
def test_us_holidays_actual_and_observed(clock: PracticeClock, day: str, name: str) -> None:
    assert clock.holiday_on(date.fromisoformat(day)) == name


@pytest.mark.parametrize("day", ["2026-07-03", "2027-12-24", "2026-11-26", "2027-07-05"])
@pytest.mark.parametrize("hour", ["00:00", "08:00", "10:00", "16:59:59", "23:59:59"])
def test_weekday_holiday_closes_every_schedule_all_day(
    clock: PracticeClock, day: str, hour: str
) -> None:
    moment = local(f"{day} {hour}")
    assert clock.holiday(moment) is not None
    for name in SCHEDULES:
        assert not clock.schedule_open(name, moment), name


def test_saturday_holiday_closes_triage(clock: PracticeClock) -> None:
    # 2026-07-04 is a Saturday: triage keeps Saturday hours on other weeks.
    assert clock.schedule_open("triage", local("2026-07-11 10:00"))
    assert not clock.schedule_open("triage", local("2026-07-04 10:00"))


def test_day_before_and_after_a_holiday_are_ordinary(clock: PracticeClock) -> None:
    assert clock.holiday(local("2026-07-02 10:00")) is None
    assert clock.schedule_open("office", local("2026-07-02 10:00"))
    assert clock.holiday(local("2026-07-06 10:00")) is None
    assert clock.schedule_open("office", local("2026-07-06 10:00"))


@pytest.mark.parametrize("day", ["2026-12-24", "2026-12-31"])
def test_plan_closed_dates_are_named_closed(clock: PracticeClock, day: str) -> None:
    assert clock.holiday_on(date.fromisoformat(day)) == "closed"
    for name in SCHEDULES:
        assert not clock.schedule_open(name, local(f"{day} 10:00"))


def test_closed_dates_only_in_the_listed_year(clock: PracticeClock) -> None:
    assert clock.holiday_on(date(2027, 12, 23)) is None
    assert clock.holiday_on(date(2025, 12, 24)) is None


def test_holiday_uses_the_local_date(clock: PracticeClock) -> None:
    # 04:59:59 UTC on 2026-07-03 is still 2026-07-02 in Chicago (UTC-5).
    assert clock.holiday(datetime(2026, 7, 3, 4, 59, 59, tzinfo=UTC)) is None
    assert clock.holiday(datetime(2026, 7, 3, 5, 0, 0, tzinfo=UTC)) == "Independence Day (observed)"


def test_no_country_means_only_closed_dates(
    edited_plan: Callable[..., Path],
) -> None:
    plan = load_plan(edited_plan(("    country: US ", "    country: ")))
    clock = PracticeClock(plan)
    assert clock.holiday_on(date(2026, 7, 3)) is None
    assert clock.schedule_open("office", local("2026-07-03 10:00"))
    assert clock.holiday_on(date(2026, 12, 24)) == "closed"


# --- externals -----------------------------------------------------------------------------


def test_24_7_external_stays_open_on_holidays(clock: PracticeClock) -> None:
    for moment in ("2026-07-03 10:00", "2026-12-24 03:00", "2027-12-24 23:59:59"):
        assert clock.external_open("urgent_nurse_line", local(moment)), moment


def test_external_without_hours_is_always_reachable(clock: PracticeClock) -> None:
    assert clock.external_open("answering_service", local("2026-07-03 10:00"))
    assert clock.external_open("after_hours_nurse", local("2026-11-30 03:00"))


def test_external_with_a_schedule_follows_it_and_holidays(
    edited_plan: Callable[..., Path],
) -> None:
    path = edited_plan(
        (
            'language_line: {dial: "PJSIP/+18005550123@trunk"}',
            'language_line: {dial: "PJSIP/+18005550123@trunk", hours: office}',
        )
    )
    clock = PracticeClock(load_plan(path))
    assert clock.external_open("language_line", local("2026-11-30 10:00"))
    assert not clock.external_open("language_line", local("2026-11-30 18:00"))
    assert not clock.external_open("language_line", local("2026-07-03 10:00"))
    assert clock.external_open("urgent_nurse_line", local("2026-07-03 10:00"))
