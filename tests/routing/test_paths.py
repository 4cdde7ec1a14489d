"""`frontdesk paths`: every route through the reference plan crossed with every regime."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from frontdesk.plan import Plan, load_plan
from frontdesk.routing.paths import Outcome, PathMatrix, build_matrix
from tests.conftest import local

WEEK_OF = date(2026, 11, 30)
MAIN = "+13125550000"
REFILL_LINE = "+13125550010"
REGIME_IDS = ["closed", "triage", "office+triage", "office+billing+triage", "holiday", "unstaffed"]

LEAVES = ["1,1", "1,2", "1,3", "1,4", "2", "3,1", "3,2", "4,1", "4,2", "4,3", "4,4"]
# operator key, three timeouts, three invalid keys: at the main menu and in each submenu
FALLBACKS = [
    *["0", "-,-,-", "5,5,5"],
    *["1,0", "1,-,-,-", "1,5,5,5"],
    *["3,0", "3,-,-,-", "3,3,3,3"],
    *["4,0", "4,-,-,-", "4,5,5,5"],
]
SKIPS = ["primary_care", "cardiology", "orthopedics"]


def menu_route(keys: str) -> str:
    return f"{MAIN}/unknown/{keys}"


EXPECTED_ROUTE_IDS = {
    *(menu_route(k) for k in LEAVES + FALLBACKS),
    *(menu_route(f"9,{k}") for k in LEAVES + FALLBACKS),
    *(f"{MAIN}/known:specialty={s}/1" for s in SKIPS),
    f"{REFILL_LINE}/unknown/",
}


@pytest.fixture(scope="module")
def matrix(plan: Plan) -> PathMatrix:
    return build_matrix(plan, WEEK_OF)


def cell(matrix: PathMatrix, keys: str, regime: str) -> Outcome:
    return matrix.outcomes[menu_route(keys), regime]


def destination(outcome: Outcome) -> dict[str, Any]:
    result: dict[str, Any] = outcome.result.decision.destination.as_json()
    return result


# -- regimes ----------------------------------------------------------------------------
def test_regime_ids(matrix: PathMatrix) -> None:
    assert [r.id for r in matrix.regimes] == REGIME_IDS


def test_regime_sample_times(matrix: PathMatrix) -> None:
    assert {r.id: r.at for r in matrix.regimes} == {
        "closed": local("2026-11-30 00:00"),
        "triage": local("2026-11-30 07:30"),
        "office+triage": local("2026-11-30 08:00"),
        "office+billing+triage": local("2026-11-30 09:00"),
        "holiday": local("2026-12-24 09:00"),
        "unstaffed": local("2026-11-30 09:00"),
    }
    assert {str(r.at.tzinfo) for r in matrix.regimes} == {"America/Chicago"}


def test_regime_open_schedules_and_staffing(matrix: PathMatrix) -> None:
    by_id = {r.id: r for r in matrix.regimes}
    assert by_id["closed"].open == {"office": False, "billing": False, "triage": False}
    assert by_id["triage"].open == {"office": False, "billing": False, "triage": True}
    assert by_id["office+triage"].open == {"office": True, "billing": False, "triage": True}
    assert by_id["holiday"].open == {"office": False, "billing": False, "triage": False}
    assert by_id["unstaffed"].open == {"office": True, "billing": True, "triage": True}
    assert [r.id for r in matrix.regimes if not r.staffed] == ["unstaffed"]


def test_regimes_describe_when_they_hold(matrix: PathMatrix) -> None:
    by_id = {r.id: r for r in matrix.regimes}
    assert by_id["triage"].spans == (
        "mon-fri 07:30-08:00",
        "mon-fri 17:00-18:00",
        "sat 09:00-12:00",
    )
    assert by_id["office+billing+triage"].spans == ("mon-thu 09:00-16:00", "fri 09:00-12:00")
    assert "sun 00:00-24:00" in by_id["closed"].spans
    assert by_id["holiday"].description == "practice closure (2026-12-24): every schedule closed"


def test_week_with_holidays_is_skipped_for_a_quiet_one(plan: Plan) -> None:
    # Christmas week and New Year week both hold closures: the sampled week is Jan 4, 2027.
    matrix = build_matrix(plan, date(2026, 12, 20))
    by_id = {r.id: r for r in matrix.regimes}
    assert by_id["closed"].at == local("2027-01-04 00:00")
    assert by_id["holiday"].at == local("2026-12-24 09:00")


# -- routes --------------------------------------------------------------------------------
def test_route_ids_are_unique_strings(matrix: PathMatrix) -> None:
    ids = [r.id for r in matrix.routes]
    assert all(isinstance(i, str) for i in ids)
    assert len(ids) == len(set(ids)) == 50


def test_route_ids_are_stable_across_builds(plan: Plan, matrix: PathMatrix) -> None:
    again = build_matrix(plan, date(2027, 3, 1))
    assert [r.id for r in again.routes] == [r.id for r in matrix.routes]


def test_every_expected_route_exists(matrix: PathMatrix) -> None:
    assert {r.id for r in matrix.routes} == EXPECTED_ROUTE_IDS


def test_every_menu_leaf_is_a_leaf_route(matrix: PathMatrix) -> None:
    leaves = {r.id for r in matrix.routes if r.kind == "leaf"}
    assert leaves == {menu_route(k) for k in LEAVES} | {menu_route(f"9,{k}") for k in LEAVES}


@pytest.mark.parametrize("level", ["", "1,", "3,", "4,", "9,", "9,1,", "9,3,", "9,4,"])
def test_operator_silence_and_invalid_key_at_each_level(matrix: PathMatrix, level: str) -> None:
    kinds = {r.id: r.kind for r in matrix.routes}
    invalid = "3" if level.endswith("3,") else "5"
    assert kinds[menu_route(f"{level}0")] == "operator"
    assert kinds[menu_route(f"{level}-,-,-")] == "silence"
    assert kinds[menu_route(f"{level}{invalid},{invalid},{invalid}")] == "invalid"


def test_language_switch_routes_are_described(matrix: PathMatrix) -> None:
    described = {r.id: r.description for r in matrix.routes}
    assert described[menu_route("9,4,2")] == "menu 4 > 2 (para una referencia) [es by key 9]"
    assert described[menu_route("9,-,-,-")] == "main menu: no input [es by key 9]"


def test_known_patient_skip_routes(matrix: PathMatrix) -> None:
    skips = {r.id: r.description for r in matrix.routes if r.kind == "skip"}
    assert skips == {
        f"{MAIN}/known:specialty=primary_care/1": "menu 1: known primary_care patient skips to 1 > 2",
        f"{MAIN}/known:specialty=cardiology/1": "menu 1: known cardiology patient skips to 1 > 3",
        f"{MAIN}/known:specialty=orthopedics/1": "menu 1: known orthopedics patient skips to 1 > 4",
    }


def test_refill_number_entry_route(matrix: PathMatrix) -> None:
    (route,) = [r for r in matrix.routes if r.kind == "did"]
    assert route.id == f"{REFILL_LINE}/unknown/"
    assert route.did == REFILL_LINE
    assert route.keys == ()
    assert route.description == f"number {REFILL_LINE}: refill -> nurse_triage"


def test_every_route_has_an_outcome_in_every_regime(matrix: PathMatrix) -> None:
    assert set(matrix.outcomes) == {(r.id, g) for r in matrix.routes for g in REGIME_IDS}


# -- cells ------------------------------------------------------------------------------------
def test_chest_pain_when_closed_goes_to_the_urgent_nurse_line(matrix: PathMatrix) -> None:
    outcome = cell(matrix, "3,1", "closed")
    assert destination(outcome) == {
        "kind": "transfer",
        "target": "urgent_nurse_line",
        "announce": "urgent-connect",
    }
    assert outcome.result.decision.request.urgent
    assert outcome.result.decision.after_hours
    assert outcome.clinical
    assert outcome.result.prompts[-1] == "urgent-connect"


def test_chest_pain_unstaffed_is_transferred_without_setting_after_hours(
    matrix: PathMatrix,
) -> None:
    outcome = cell(matrix, "3,1", "unstaffed")
    assert destination(outcome)["target"] == "urgent_nurse_line"
    assert not outcome.result.decision.after_hours


def test_spanish_chest_pain_goes_to_the_front_with_no_skill(matrix: PathMatrix) -> None:
    outcome = cell(matrix, "9,3,1", "office+billing+triage")
    assert destination(outcome) == {
        "kind": "queue",
        "queue": "nurse_triage",
        "skills": [],
        "priority": "front",
    }


def test_clinical_question_in_business_hours_reaches_nurse_triage(matrix: PathMatrix) -> None:
    outcome = cell(matrix, "3,2", "office+billing+triage")
    assert destination(outcome) == {
        "kind": "queue",
        "queue": "nurse_triage",
        "skills": ["clinical"],
        "priority": "normal",
    }
    assert outcome.result.decision.request.category == "clinical"


def test_spanish_referral_goes_to_the_language_line(matrix: PathMatrix) -> None:
    # Fay Chen (2006) is the only referrals member and has no spanish skill.
    spanish = cell(matrix, "9,4,2", "office+billing+triage")
    assert destination(spanish) == {"kind": "transfer", "target": "language_line", "announce": None}
    assert spanish.result.language == "es"
    english = cell(matrix, "4,2", "office+billing+triage")
    assert destination(english) == {
        "kind": "queue",
        "queue": "referrals",
        "skills": [],
        "priority": "normal",
    }


def test_billing_opens_an_hour_after_the_office(matrix: PathMatrix) -> None:
    assert destination(cell(matrix, "2", "office+triage")) == {
        "kind": "voicemail",
        "box": "billing",
        "callback": "next business day",
    }
    assert destination(cell(matrix, "2", "office+billing+triage"))["queue"] == "billing"


def test_silence_in_the_clinical_submenu_keeps_its_category(matrix: PathMatrix) -> None:
    outcome = cell(matrix, "3,-,-,-", "office+triage")
    assert destination(outcome)["queue"] == "front_desk"
    assert outcome.result.decision.request.category == "clinical"
    assert outcome.clinical


def test_main_menu_silence_is_unrouted_and_reaches_the_answering_service(
    matrix: PathMatrix,
) -> None:
    outcome = cell(matrix, "-,-,-", "triage")
    assert outcome.result.decision.request.category == "unrouted"
    assert destination(outcome) == {
        "kind": "transfer",
        "target": "answering_service",
        "announce": None,
    }


def test_known_cardiology_patient_skips_to_cardiology(matrix: PathMatrix) -> None:
    outcome = matrix.outcomes[f"{MAIN}/known:specialty=cardiology/1", "office+triage"]
    assert destination(outcome) == {
        "kind": "queue",
        "queue": "scheduling",
        "skills": ["cardiology"],
        "priority": "normal",
    }
    assert "menu-1-1" not in outcome.result.prompts


def test_refill_line_after_hours_reaches_the_after_hours_nurse(matrix: PathMatrix) -> None:
    outcome = matrix.outcomes[f"{REFILL_LINE}/unknown/", "closed"]
    assert destination(outcome) == {
        "kind": "transfer",
        "target": "after_hours_nurse",
        "announce": None,
    }
    assert outcome.result.decision.request.category == "refill"
    assert outcome.result.prompts == ("emergency-notice",)
    assert outcome.clinical


def test_holiday_closes_everything(matrix: PathMatrix) -> None:
    holiday = [o for (_, regime), o in matrix.outcomes.items() if regime == "holiday"]
    assert len(holiday) == 50
    for outcome in holiday:
        decision = outcome.result.decision
        assert decision.holiday == "closed", outcome.route.id
        assert decision.after_hours, outcome.route.id
        assert destination(outcome)["kind"] != "queue", outcome.route.id


# -- at risk and JSON ----------------------------------------------------------------------------
def test_reference_plan_has_no_route_at_risk(matrix: PathMatrix) -> None:
    assert matrix.at_risk() == []
    assert matrix.as_json()["at_risk"] == []


def test_voicemail_for_nurse_triage_puts_clinical_routes_at_risk(
    edited_plan: Callable[..., Path],
) -> None:
    path = edited_plan(
        ("after_hours: {transfer: after_hours_nurse}", "after_hours: {voicemail: triage}")
    )
    matrix = build_matrix(load_plan(path), WEEK_OF)
    risky = {(o.route.id, o.regime.id) for o in matrix.at_risk()}
    assert (menu_route("3,2"), "closed") in risky
    assert (f"{REFILL_LINE}/unknown/", "holiday") in risky
    assert (menu_route("9,4,3"), "unstaffed") in risky
    assert (menu_route("3,2"), "triage") not in risky  # nurse_triage is open then
    assert (menu_route("2"), "closed") not in risky  # billing is not clinical
    assert {r for _, r in risky} == {"closed", "holiday", "unstaffed"}
    first = matrix.as_json()["at_risk"][0]
    assert first == {
        "route": menu_route("3,2"),
        "description": "menu 3 > 2 (for any other clinical question)",
        "regime": "closed",
        "category": "clinical",
        "destination": {"kind": "voicemail", "box": "triage", "callback": None},
    }


def test_as_json_round_trips_through_json(matrix: PathMatrix) -> None:
    data = matrix.as_json()
    assert json.loads(json.dumps(data)) == data
    assert data["plan"] == "Lakeside Multi-Specialty Group"
    assert [r["id"] for r in data["regimes"]] == REGIME_IDS
    assert len(data["routes"]) == 50


def test_as_json_route_shape(matrix: PathMatrix) -> None:
    (route,) = [r for r in matrix.as_json()["routes"] if r["id"] == menu_route("9,4,2")]
    assert route["kind"] == "leaf"
    assert route["keys"] == ["9", "4", "2"]
    assert route["caller"] == {"known": False, "language": None, "specialty": None}
    assert list(route["outcomes"]) == REGIME_IDS
    assert route["outcomes"]["unstaffed"]["destination"] == {
        "kind": "voicemail",
        "box": "referrals",
        "callback": "next business day",
    }
    assert route["outcomes"]["unstaffed"]["clinical"] is False
    assert route["outcomes"]["holiday"]["holiday"] == "closed"
