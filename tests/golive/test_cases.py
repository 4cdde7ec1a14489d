"""The paths matrix as go-live cases: callers, numbers, keys with timing, expectations."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from frontdesk.golive.cases import CasesError, CaseSet, Step, Timing, build_cases
from frontdesk.plan import Plan, load_plan
from frontdesk.routing.paths import build_matrix
from tests.golive.conftest import TEST_CALLERS, with_test_callers

WEEK_OF = date(2026, 12, 1)


def test_every_route_in_every_regime_but_unstaffed_is_a_case(golive_plan: Plan) -> None:
    cases = build_cases(golive_plan, WEEK_OF)
    matrix = build_matrix(golive_plan, WEEK_OF)
    regimes = [r.id for r in matrix.regimes if r.id != "unstaffed"]
    assert [c.id for c in cases.cases] == [
        f"{route.id}@{regime}" for route in matrix.routes for regime in regimes
    ]
    assert [c.number for c in cases.cases] == list(range(1, len(cases.cases) + 1))
    assert cases.skipped == []


def test_the_expectation_is_the_matrix_cell(golive_plan: Plan) -> None:
    cases = build_cases(golive_plan, WEEK_OF)
    by_id = {c.id: c for c in cases.cases}
    refill_at_night = by_id["+13125550000/unknown/4,1@closed"].expected
    assert (refill_at_night.route, refill_at_night.destination["target"]) == (
        "transfer",
        "after_hours_nurse",
    )
    assert (refill_at_night.after_hours, refill_at_night.holiday) == (True, False)
    billing_holiday = by_id["+13125550000/unknown/2@holiday"]
    assert billing_holiday.expected.destination == {
        "kind": "voicemail",
        "box": "billing",
        "callback": "next business day",
    }
    assert billing_holiday.expected.holiday is True
    assert billing_holiday.route_time.isoformat() == "2026-12-24T09:00:00-06:00"
    spanish = by_id["+13125550000/unknown/9,1,1@office+triage"].expected
    assert (spanish.language, spanish.destination["skills"]) == ("es", ["spanish"])


def test_the_unknown_caller_is_the_first_and_known_profiles_take_the_next(
    golive_plan: Plan,
) -> None:
    cases = build_cases(golive_plan, WEEK_OF)
    assert cases.unknown_caller == TEST_CALLERS[0]
    callers = {c.route_id: c.caller for c in cases.cases}
    assert callers["+13125550000/unknown/1,1"] == TEST_CALLERS[0]
    known = {p.specialty: p.phone for p in cases.test_patients}
    assert known == {
        "primary_care": TEST_CALLERS[1],
        "cardiology": TEST_CALLERS[2],
        "orthopedics": TEST_CALLERS[3],
    }
    assert callers["+13125550000/known:specialty=cardiology/1"] == TEST_CALLERS[2]
    assert {p.patient_id for p in cases.test_patients} == {"GOLIVE-1", "GOLIVE-2", "GOLIVE-3"}
    assert all(c.expected.known == ("known:" in c.route_id) for c in cases.cases)


def test_routes_without_a_test_caller_left_are_skipped_and_named(
    write_plan: Callable[[str], Path],
) -> None:
    plan = load_plan(write_plan(with_test_callers(TEST_CALLERS[:2])))
    cases = build_cases(plan, WEEK_OF)
    assert cases.skipped == [
        "+13125550000/known:specialty=cardiology/1",
        "+13125550000/known:specialty=orthopedics/1",
    ]
    assert not any(c.route_id in cases.skipped for c in cases.cases)


def test_a_plan_without_test_callers_is_refused(plan: Plan) -> None:
    with pytest.raises(CasesError, match="no test callers"):
        build_cases(plan, WEEK_OF)


def test_regimes_can_be_narrowed_and_unknown_ones_are_named(golive_plan: Plan) -> None:
    cases = build_cases(golive_plan, WEEK_OF, regimes=["holiday"])
    assert {c.regime_id for c in cases.cases} == {"holiday"}
    with pytest.raises(CasesError, match=r"unknown regime.*unstaffed"):
        build_cases(golive_plan, WEEK_OF, regimes=["unstaffed"])


def test_keys_barge_in_and_silence_waits_out_the_menu_and_its_timeout(
    golive_plan: Plan,
) -> None:
    timing = Timing(key_gap=2.0, first_key=3.0, prompt_seconds=1.0, margin=0.5, hold=4.0)
    cases = {c.id: c for c in build_cases(golive_plan, WEEK_OF, timing=timing).cases}
    leaf = cases["+13125550000/unknown/1,2@closed"]
    assert leaf.steps == (Step(3.0, "1"), Step(2.0, "2"))
    assert leaf.hold == 1.0 + 4.0  # the voicemail greeting, then the hold
    silent = cases["+13125550000/unknown/-,-,-@closed"]
    # notice + 4 options + operator + Spanish = 7 prompts, then 5 s; replays: 6 prompts
    assert silent.steps == (Step(12.5, None), Step(11.5, None), Step(11.5, None))
    assert silent.hold == 4.0  # answering service: no announcement
    direct = cases["+13125550010/unknown/@closed"]
    assert direct.steps == ()
    assert direct.hold == 1.0 + 4.0


def test_prompt_lengths_come_from_the_rendered_files_when_given(golive_plan: Plan) -> None:
    def length(language: str, name: str) -> float:
        return 10.0 if name == "emergency-notice" else 0.5

    cases = build_cases(golive_plan, WEEK_OF, regimes=["closed"], prompt_length=length)
    silent = next(c for c in cases.cases if c.route_id == "+13125550000/unknown/-,-,-")
    assert silent.steps[0].pause == 10.0 + 6 * 0.5 + 5.0 + Timing().margin


def test_the_case_set_round_trips_through_json(golive_plan: Plan) -> None:
    cases = build_cases(golive_plan, WEEK_OF, regimes=["closed", "holiday"])
    again = CaseSet.from_json(cases.as_json())
    assert again == cases
