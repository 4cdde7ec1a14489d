"""Durations, intervals, day specs and weekly schedules, with property tests for is_open."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frontdesk.plan import Plan, load_plan, load_plan_text
from frontdesk.plan.schedule import (
    DAYS,
    Interval,
    PlanValueError,
    WeeklySchedule,
    parse_days,
    parse_duration,
    parse_interval,
)
from frontdesk.routing.clock import PracticeClock
from tests.conftest import REFERENCE_PLAN, reference_text

CHICAGO = ZoneInfo("America/Chicago")
MONDAY = datetime(2026, 1, 5)  # a Monday; is_open itself knows nothing of holidays
FAST = settings(max_examples=200, deadline=None)


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _text(start: int, end: int) -> str:
    return f"{_clock(start)}-{_clock(end)}"


def _at(weekday: int, second: int) -> datetime:
    """The moment `second` seconds after midnight of `weekday` (may run into the next day)."""
    return MONDAY + timedelta(days=weekday, seconds=second)


# --- parse_duration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("4m", timedelta(minutes=4)),
        ("1h", timedelta(hours=1)),
        ("1m30s", timedelta(seconds=90)),
        ("1h30m", timedelta(minutes=90)),
        ("1h0m5s", timedelta(hours=1, seconds=5)),
        (" 5s ", timedelta(seconds=5)),
        ("0s", timedelta(0)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


def test_parse_duration_passes_timedeltas_through() -> None:
    assert parse_duration(timedelta(minutes=3)) == timedelta(minutes=3)


def test_bare_number_is_refused_with_a_unit_hint() -> None:
    with pytest.raises(PlanValueError) as caught:
        parse_duration("3")
    assert (
        str(caught.value) == "'3' is not a duration like 90s, 4m or 1h; add a unit, e.g. 3s or 3m"
    )


@pytest.mark.parametrize(
    "text", ["3x", "", "m", "1.5m", "-1m", "4M", "30s1m", "1h1h", "4 m", "4min"]
)
def test_malformed_durations_are_refused(text: str) -> None:
    with pytest.raises(PlanValueError) as caught:
        parse_duration(text)
    assert str(caught.value) == f"'{text.strip()}' is not a duration like 90s, 4m or 1h"


# --- parse_interval ------------------------------------------------------------------------


def test_parse_interval_minutes_after_midnight() -> None:
    assert parse_interval("08:00-17:00") == Interval(480, 1020)
    assert parse_interval("7:30-18:00") == Interval(450, 1080)
    assert parse_interval(" 09:00 - 12:00 ") == Interval(540, 720)


def test_interval_may_end_at_24_00() -> None:
    assert parse_interval("22:00-24:00") == Interval(1320, 1440)
    assert parse_interval("00:00-24:00") == Interval(0, 1440)


def test_interval_is_start_inclusive_end_exclusive() -> None:
    schedule = WeeklySchedule.parse({"mon": "08:00-17:00"})
    assert schedule.is_open(datetime(2026, 1, 5, 8, 0, 0))
    assert schedule.is_open(datetime(2026, 1, 5, 16, 59, 59))
    assert not schedule.is_open(datetime(2026, 1, 5, 17, 0, 0))
    assert not schedule.is_open(datetime(2026, 1, 5, 7, 59, 59))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("08:00-08:00", "interval '08:00-08:00' is empty"),
        (
            "22:00-06:00",
            "interval '22:00-06:00' is reversed; an overnight shift is two intervals on two days",
        ),
        ("24:00-24:00", "'24:00' is not a time of day"),
        ("08:00-24:01", "'24:01' is not a time of day"),
        ("08:60-09:00", "'08:60' is not a time of day"),
        ("25:00-26:00", "'25:00' is not a time of day"),
        ("08:00", "'08:00' is not an interval like 08:00-17:00"),
        ("8-17", "'8' is not a time like 08:30"),
        ("08h00-17h00", "'08h00' is not a time like 08:30"),
    ],
)
def test_bad_intervals_are_refused(text: str, message: str) -> None:
    with pytest.raises(PlanValueError) as caught:
        parse_interval(text)
    assert str(caught.value) == message


# --- parse_days ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "days"),
    [
        ("mon-fri", [0, 1, 2, 3, 4]),
        ("sat,sun", [5, 6]),
        ("mon", [0]),
        ("Sun", [6]),
        ("mon, wed", [0, 2]),
        ("mon-wed,fri", [0, 1, 2, 4]),
        ("mon-sun", [0, 1, 2, 3, 4, 5, 6]),
        ("sun-sun", [6]),
    ],
)
def test_parse_days(spec: str, days: list[int]) -> None:
    assert parse_days(spec) == days


def test_unknown_day_gets_a_suggestion() -> None:
    with pytest.raises(PlanValueError) as caught:
        parse_days("monday-fri")
    assert str(caught.value) == "unknown day 'monday' (did you mean 'mon'?)"


def test_unknown_day_without_near_match() -> None:
    with pytest.raises(PlanValueError) as caught:
        parse_days("xyz")
    assert str(caught.value) == "unknown day 'xyz'"


def test_backwards_day_range_is_refused() -> None:
    with pytest.raises(PlanValueError) as caught:
        parse_days("fri-mon")
    assert str(caught.value).startswith("day range 'fri-mon' runs backwards")


# --- WeeklySchedule.parse -------------------------------------------------------------------


def test_always_open() -> None:
    schedule = WeeklySchedule.parse("24/7")
    assert schedule.is_always_open
    assert schedule.weekly_hours() == 168
    assert schedule.describe() == "24/7"
    assert schedule.is_open(datetime(2026, 1, 11, 23, 59, 59))
    assert schedule.is_open(datetime(2026, 1, 5, 0, 0, 0))


def test_parse_reference_office_schedule() -> None:
    schedule = WeeklySchedule.parse({"mon-fri": "08:00-17:00"})
    assert schedule.days == (*([(Interval(480, 1020),)] * 5), (), ())
    assert not schedule.is_always_open
    assert schedule.describe() == (
        "mon 08:00-17:00; tue 08:00-17:00; wed 08:00-17:00; thu 08:00-17:00; fri 08:00-17:00"
    )


def test_overlap_across_day_range_and_single_day_is_refused() -> None:
    with pytest.raises(PlanValueError) as caught:
        WeeklySchedule.parse({"mon-fri": "08:00-17:00", "mon": "16:00-18:00"})
    assert str(caught.value) == "mon: 16:00-18:00 overlaps 08:00-17:00 (from 'mon-fri')"
    assert caught.value.subpath == ("mon",)


def test_overlap_within_one_day_is_refused() -> None:
    with pytest.raises(PlanValueError) as caught:
        WeeklySchedule.parse({"tue": ["08:00-12:00", "11:00-13:00"]})
    assert str(caught.value) == "tue: 11:00-13:00 overlaps 08:00-12:00 (from 'tue')"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("08:00-12:00", "11:59-13:00"),
        ("08:00-12:00", "07:00-08:01"),
        ("00:00-24:00", "23:59-24:00"),
    ],
)
def test_one_minute_overlap_is_refused(first: str, second: str) -> None:
    with pytest.raises(PlanValueError, match="overlaps"):
        WeeklySchedule.parse({"fri": [first, second]})


def test_contained_interval_is_an_overlap() -> None:
    with pytest.raises(PlanValueError, match="overlaps"):
        WeeklySchedule.parse({"wed": "08:00-17:00, 09:00-10:00"})


def test_day_listed_twice_is_an_overlap() -> None:
    with pytest.raises(PlanValueError, match="overlaps"):
        WeeklySchedule.parse({"mon-wed": "08:00-12:00", "wed,thu": "09:00-10:00"})


def test_touching_intervals_are_merged() -> None:
    schedule = WeeklySchedule.parse({"mon-fri": "08:00-12:00", "mon": "12:00-13:00"})
    assert schedule.days[0] == (Interval(480, 780),)
    assert schedule.days[1] == (Interval(480, 720),)
    assert schedule.is_open(datetime(2026, 1, 5, 12, 0, 0))


def test_intervals_are_sorted_whatever_the_order_written() -> None:
    schedule = WeeklySchedule.parse({"mon": ["13:00-17:00", "08:00-12:00"]})
    assert schedule.days[0] == (Interval(480, 720), Interval(780, 1020))
    assert not schedule.is_open(datetime(2026, 1, 5, 12, 30))


def test_comma_separated_intervals_equal_a_list() -> None:
    written = WeeklySchedule.parse({"mon": "08:00-12:00, 13:00-17:00"})
    listed = WeeklySchedule.parse({"mon": ["08:00-12:00", "13:00-17:00"]})
    assert written == listed


@pytest.mark.parametrize("closed", ["closed", "Closed", None])
def test_closed_day(closed: str | None) -> None:
    schedule = WeeklySchedule.parse({"mon-fri": "08:00-17:00", "sat": closed})
    assert schedule.days[5] == ()
    assert schedule.weekly_hours() == 45


def test_all_closed_schedule_is_never_open() -> None:
    schedule = WeeklySchedule.parse({"mon-sun": "closed"})
    assert schedule.weekly_hours() == 0
    assert list(schedule.boundaries()) == []
    assert schedule.describe() == "never open"


def test_bad_interval_in_schedule_names_its_day_spec() -> None:
    with pytest.raises(PlanValueError) as caught:
        WeeklySchedule.parse({"mon-fri": "08:00-17:00", "sat": "12:00-09:00"})
    assert caught.value.subpath == ("sat",)
    assert str(caught.value).startswith("interval '12:00-09:00' is reversed")


def test_unknown_day_in_schedule_names_its_day_spec() -> None:
    with pytest.raises(PlanValueError) as caught:
        WeeklySchedule.parse({"mno": "08:00-17:00"})
    assert caught.value.subpath == ("mno",)
    assert str(caught.value) == "unknown day 'mno' (did you mean 'mon'?)"


@pytest.mark.parametrize("value", ["always", ["08:00-17:00"], "08:00-17:00"])
def test_schedule_must_be_24_7_or_a_mapping(value: object) -> None:
    with pytest.raises(PlanValueError) as caught:
        WeeklySchedule.parse(value)
    assert str(caught.value) == "a schedule is '24/7' or a mapping like mon-fri: 08:00-17:00"


# --- weekly_hours and boundaries -------------------------------------------------------------


def test_weekly_hours_of_the_reference_schedules(plan: Plan) -> None:
    assert plan.schedules["office"].weekly_hours() == 45
    assert plan.schedules["billing"].weekly_hours() == 31
    assert plan.schedules["triage"].weekly_hours() == 55.5


def test_boundaries_of_the_billing_schedule(plan: Plan) -> None:
    assert list(plan.schedules["billing"].boundaries()) == [
        (0, 540),
        (0, 960),
        (1, 540),
        (1, 960),
        (2, 540),
        (2, 960),
        (3, 540),
        (3, 960),
        (4, 540),
        (4, 720),
    ]


def test_boundaries_after_merging() -> None:
    schedule = WeeklySchedule.parse({"sat": "08:00-12:00, 12:00-14:00", "sun": "22:00-24:00"})
    assert list(schedule.boundaries()) == [(5, 480), (5, 840), (6, 1320), (6, 1440)]


# --- property: is_open against a brute-force reference ---------------------------------------

MINUTES = 24 * 60


@st.composite
def disjoint_days(draw: st.DrawFn) -> list[list[tuple[int, int]]]:
    """Per weekday, intervals cut from sorted points; neighbouring pieces may touch."""
    days = []
    for _ in DAYS:
        points = draw(st.lists(st.integers(0, MINUTES), min_size=0, max_size=8, unique=True))
        points.sort()
        pieces = list(itertools.pairwise(points))
        kept = [p for p in pieces if draw(st.booleans())]
        days.append(kept)
    return days


def _schedule(days: list[list[tuple[int, int]]]) -> WeeklySchedule:
    return WeeklySchedule.parse(
        {DAYS[d]: [_text(s, e) for s, e in intervals] for d, intervals in enumerate(days)}
    )


def _covered(days: list[list[tuple[int, int]]]) -> list[list[int]]:
    """How many listed intervals cover each minute of each weekday."""
    table = [[0] * MINUTES for _ in DAYS]
    for weekday, intervals in enumerate(days):
        for start, end in intervals:
            for minute in range(start, end):
                table[weekday][minute] += 1
    return table


week_moments = st.datetimes(
    min_value=MONDAY, max_value=MONDAY + timedelta(days=7) - timedelta(microseconds=1)
)


@FAST
@given(days=disjoint_days(), moments=st.lists(week_moments, min_size=1, max_size=20))
def test_is_open_agrees_with_brute_force(
    days: list[list[tuple[int, int]]], moments: list[datetime]
) -> None:
    schedule = _schedule(days)
    covered = _covered(days)
    for moment in moments:
        expected = covered[moment.weekday()][moment.hour * 60 + moment.minute] > 0
        assert schedule.is_open(moment) == expected, moment


# Random minutes rarely collide; near-coinciding points find off-by-one overlaps.
minute_points = st.one_of(
    st.integers(0, MINUTES), st.sampled_from([0, 1, 479, 480, 481, 719, 720, 721, 1439, 1440])
)


@FAST
@given(
    intervals=st.lists(
        st.tuples(minute_points, minute_points).filter(lambda iv: iv[0] < iv[1]),
        min_size=1,
        max_size=4,
    ),
    weekday=st.integers(0, 6),
)
def test_parse_refuses_exactly_the_overlapping_interval_sets(
    intervals: list[tuple[int, int]], weekday: int
) -> None:
    days: list[list[tuple[int, int]]] = [[] for _ in DAYS]
    days[weekday] = intervals
    overlapping = any(count > 1 for count in _covered(days)[weekday])
    if overlapping:
        with pytest.raises(PlanValueError, match="overlaps"):
            _schedule(days)
    else:
        schedule = _schedule(days)
        assert schedule.weekly_hours() == pytest.approx(sum(e - s for s, e in intervals) / 60)
        open_minutes = {m for m in range(MINUTES) if schedule.is_open(_at(weekday, m * 60))}
        assert open_minutes == {m for s, e in intervals for m in range(s, e)}


@FAST
@given(days=disjoint_days())
def test_open_at_start_and_last_second_closed_at_end(days: list[list[tuple[int, int]]]) -> None:
    schedule = _schedule(days)
    for weekday, intervals in enumerate(schedule.days):
        for iv in intervals:
            assert schedule.is_open(_at(weekday, iv.start * 60)), (weekday, iv)
            assert schedule.is_open(_at(weekday, iv.end * 60 - 1)), (weekday, iv)
            next_day = schedule.days[(weekday + 1) % 7]
            continues = iv.end == MINUTES and bool(next_day) and next_day[0].start == 0
            if not continues:
                assert not schedule.is_open(_at(weekday, iv.end * 60)), (weekday, iv)
            previous_day = schedule.days[(weekday - 1) % 7]
            preceded = iv.start == 0 and bool(previous_day) and previous_day[-1].end == MINUTES
            if iv.start > 0 or not preceded:
                assert not schedule.is_open(_at(weekday, iv.start * 60 - 1)), (weekday, iv)


def _normalised(point: tuple[int, int]) -> tuple[int, int]:
    """`(weekday, 24:00)` is the same instant as `(next weekday, 00:00)`."""
    weekday, minute = point
    return ((weekday + 1) % 7, 0) if minute == MINUTES else point


@settings(max_examples=50, deadline=None)
@given(days=disjoint_days())
def test_boundaries_are_where_the_state_changes(days: list[list[tuple[int, int]]]) -> None:
    schedule = _schedule(days)
    week = [schedule.is_open(_at(0, second)) for second in range(0, 7 * MINUTES * 60, 60)]
    changes = {
        divmod(minute, MINUTES) for minute in range(len(week)) if week[minute] != week[minute - 1]
    }
    bounds = {_normalised(point) for point in schedule.boundaries()}
    assert changes <= bounds
    # A boundary without a change can only be midnight between two touching days.
    assert all(minute == 0 for _, minute in bounds - changes)


# --- property: the practice clock across DST, holidays and midnight --------------------------

EXTRA_SCHEDULES = """schedules:
  always: "24/7"
  nights:
    mon-sun: ["00:00-06:00", "22:00-24:00"]
  lunch:
    tue,thu: "11:30-13:30"
"""

# The same hours written out by hand: (weekdays, start, end) in local wall-clock time.
EXPECTED_HOURS: dict[str, list[tuple[range, time, time | None]]] = {
    "office": [(range(0, 5), time(8), time(17))],
    "billing": [(range(0, 4), time(9), time(16)), (range(4, 5), time(9), time(12))],
    "triage": [(range(0, 5), time(7, 30), time(18)), (range(5, 6), time(9), time(12))],
    "always": [(range(0, 7), time(0), None)],
    "nights": [(range(0, 7), time(0), time(6)), (range(0, 7), time(22), None)],
    "lunch": [(range(1, 2), time(11, 30), time(13, 30)), (range(3, 4), time(11, 30), time(13, 30))],
}
US_HOLIDAYS = holidays.country_holidays("US", years=range(2025, 2030))
PLAN_CLOSED = {date(2026, 12, 24), date(2026, 12, 31)}
DST_DAYS = [date(2026, 3, 8), date(2026, 11, 1), date(2027, 3, 14), date(2027, 11, 7)]


@cache
def _extended_clock() -> PracticeClock:
    text = reference_text().replace("schedules:", EXTRA_SCHEDULES.rstrip("\n"), 1)
    return PracticeClock(load_plan_text(text, "extended.yaml"))


def _expected_open(name: str, local: datetime) -> bool:
    if local.date() in US_HOLIDAYS or local.date() in PLAN_CLOSED:
        return False
    wall = local.time().replace(tzinfo=None)
    return any(
        local.weekday() in days and start <= wall and (end is None or wall < end)
        for days, start, end in EXPECTED_HOURS[name]
    )


def _from_local(day: date, seconds: int) -> datetime:
    """UTC moment of `seconds` after local midnight of `day` (wall-clock arithmetic)."""
    wall = datetime.combine(day, time()) + timedelta(seconds=seconds)
    return wall.replace(tzinfo=CHICAGO).astimezone(UTC)


near_dst_days = st.builds(
    lambda day, shift: day + timedelta(days=shift),
    st.sampled_from(DST_DAYS),
    st.integers(-2, 2),
)
any_utc = st.datetimes(
    min_value=datetime(2026, 1, 1),
    max_value=datetime(2028, 12, 31, 23, 59, 59),
    timezones=st.just(UTC),
)
around_dst = st.builds(
    lambda day, seconds: datetime.combine(day, time(), UTC) + timedelta(seconds=seconds),
    near_dst_days,
    st.integers(0, 86_399),
)
around_midnight = st.builds(
    _from_local,
    st.one_of(
        st.dates(date(2026, 1, 2), date(2028, 12, 30)),
        near_dst_days,
        st.sampled_from(
            sorted(
                d + timedelta(days=k)
                for d in US_HOLIDAYS
                if 2026 <= d.year <= 2028
                for k in (-1, 0, 1)
            )
        ),
    ),
    st.integers(-120, 120),
)
around_openings = st.builds(
    _from_local,
    near_dst_days,
    st.sampled_from([7 * 3600 + 1800, 8 * 3600, 9 * 3600, 12 * 3600, 17 * 3600, 18 * 3600]),
).flatmap(lambda moment: st.integers(-2, 2).map(lambda s: moment + timedelta(seconds=s)))
utc_moments = st.one_of(any_utc, around_dst, around_midnight, around_openings)


@FAST
@given(moment=utc_moments, name=st.sampled_from(sorted(EXPECTED_HOURS)))
def test_schedule_open_follows_local_wall_clock(moment: datetime, name: str) -> None:
    assert moment.tzinfo is UTC
    local = moment.astimezone(CHICAGO)
    assert _extended_clock().schedule_open(name, moment) == _expected_open(name, local)


@cache
def _reference_plan() -> Plan:
    return load_plan(REFERENCE_PLAN)


@FAST
@given(moment=utc_moments)
def test_reference_plan_schedules_follow_local_wall_clock(moment: datetime) -> None:
    plan = _reference_plan()
    clock = PracticeClock(plan)
    local = moment.astimezone(CHICAGO)
    for name in ("office", "billing", "triage"):
        expected = _expected_open(name, local)
        assert clock.schedule_open(name, moment) == expected, (name, local)
        if clock.holiday(moment) is not None:
            assert not clock.schedule_open(name, moment)
        else:
            assert clock.schedule_open(name, moment) == plan.schedules[name].is_open(local)


@pytest.mark.parametrize(
    ("utc", "office_open"),
    [
        ("2026-03-06 13:59:59", False),  # Friday before DST: 07:59:59 CST
        ("2026-03-06 14:00:00", True),  # 08:00 CST
        ("2026-03-09 12:59:59", False),  # Monday after DST: 07:59:59 CDT
        ("2026-03-09 13:00:00", True),  # 08:00 CDT
        ("2026-03-09 21:59:59", True),  # 16:59:59 CDT
        ("2026-03-09 22:00:00", False),  # 17:00 CDT
        ("2026-10-30 13:00:00", True),  # Friday before DST ends: 08:00 CDT
        ("2026-11-02 13:00:00", False),  # Monday after: 07:00 CST
        ("2026-11-02 14:00:00", True),  # 08:00 CST
        ("2026-11-02 22:59:59", True),  # 16:59:59 CST
        ("2026-11-02 23:00:00", False),  # 17:00 CST
    ],
)
def test_office_hours_shift_in_utc_with_dst(plan: Plan, utc: str, office_open: bool) -> None:
    moment = datetime.fromisoformat(utc).replace(tzinfo=UTC)
    assert PracticeClock(plan).schedule_open("office", moment) is office_open


def test_holiday_starts_at_local_midnight_not_utc_midnight() -> None:
    clock = _extended_clock()
    # 2026-07-03 is the observed Independence Day; Chicago is UTC-5 in July.
    assert clock.schedule_open("always", datetime(2026, 7, 3, 4, 59, 59, tzinfo=UTC))
    assert not clock.schedule_open("always", datetime(2026, 7, 3, 5, 0, 0, tzinfo=UTC))
    assert not clock.schedule_open("always", datetime(2026, 7, 5, 4, 59, 59, tzinfo=UTC))
    assert clock.schedule_open("always", datetime(2026, 7, 5, 5, 0, 0, tzinfo=UTC))


def test_night_shift_runs_through_midnight() -> None:
    clock = _extended_clock()
    # Tuesday 2026-01-06 23:59:59 -> Wednesday 00:00:00 CST (UTC-6)
    assert clock.schedule_open("nights", datetime(2026, 1, 7, 5, 59, 59, tzinfo=UTC))
    assert clock.schedule_open("nights", datetime(2026, 1, 7, 6, 0, 0, tzinfo=UTC))
    assert not clock.schedule_open("nights", datetime(2026, 1, 7, 12, 0, 0, tzinfo=UTC))
