"""docs/routing.md §1-§3 on the reference plan, one test per rule, through the IVR machine."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import pytest

from frontdesk.acd import AcdEngine, AgentLogin, AgentPause, AgentState, Event, PhoneReachability
from frontdesk.acd.staffing import staffs
from frontdesk.phone import normalize_number
from frontdesk.plan import Plan
from frontdesk.routing.clock import PracticeClock
from frontdesk.routing.directory import Directory
from frontdesk.routing.ivr import CallFacts
from frontdesk.routing.simulate import simulate
from tests.conftest import REFERENCE_DIRECTORY, local

MAIN = "+13125550000"
REFILL_LINE = "+13125550010"
OPEN = "2026-11-30 10:00"  # a Monday: office, billing and triage all open
EVENING = "2026-11-30 20:00"
EVERYONE = ("2001", "2002", "2003", "2004", "2005", "2006")
MENU = ["menu-1", "menu-2", "menu-3", "menu-4", "menu-operator", "language-es"]
DIRECTORY = Directory.from_csv(REFERENCE_DIRECTORY)


def call(
    plan: Plan,
    keys: str = "",
    at: str = OPEN,
    caller: str | None = None,
    did: str | None = MAIN,
    logged_in: Collection[str] = EVERYONE,
) -> dict[str, Any]:
    number = normalize_number(caller)
    facts = CallFacts(did, number, DIRECTORY.lookup(number))
    keys_list = keys.split(",") if keys else []
    return simulate(plan, at=local(at), facts=facts, keys=keys_list, logged_in=logged_in).as_json()


def queue(name: str, *skills: str, priority: str = "normal") -> dict[str, Any]:
    return {"kind": "queue", "queue": name, "skills": sorted(skills), "priority": priority}


# -- 1. Facts about a call ------------------------------------------------------------------
def test_unknown_did_goes_to_the_main_menu(plan: Plan) -> None:
    result = call(plan, "2", did="+13125559999")
    assert result["destination"] == queue("billing")
    assert result["prompts"][:2] == ["emergency-notice", "menu-1"]


def test_did_entry_skips_the_menus(plan: Plan) -> None:
    result = call(plan, did=REFILL_LINE)
    assert result["category"] == "refill"
    assert result["destination"] == queue("nurse_triage", "pharmacy")
    assert result["prompts"] == ["emergency-notice"]


@pytest.mark.parametrize("raw", ["(312) 555-1007", "3125551007", "+13125551007", "1-312-555-1007"])
def test_caller_id_is_normalised_before_the_directory_lookup(plan: Plan, raw: str) -> None:
    result = call(plan, caller=raw, keys="2")
    assert result["caller"] == "+13125551007"
    assert result["known_patient"] is True
    assert result["patient_id"] == "P-1007"


@pytest.mark.parametrize("raw", [None, "anonymous", "Restricted", "", "12", "not a number"])
def test_withheld_or_malformed_caller_is_unknown_not_an_error(plan: Plan, raw: str | None) -> None:
    result = call(plan, caller=raw, keys="2")
    assert result["caller"] is None
    assert result["known_patient"] is False
    assert result["patient_id"] is None
    assert result["destination"] == queue("billing")


def test_known_patient_language_is_used_when_offered(plan: Plan) -> None:
    result = call(plan, caller="+13125551002", keys="2")
    assert result["language"] == "es"
    assert result["destination"] == queue("billing", "spanish")


def test_known_patient_language_not_offered_falls_back_to_the_first(plan: Plan) -> None:
    result = call(plan, caller="+13125551006", keys="2")  # P-1006 prefers French
    assert result["language"] == "en"
    assert result["known_patient"] is True


def test_holiday_closes_every_schedule_all_day(plan: Plan) -> None:
    result = call(plan, "2", at="2026-12-25 10:00")
    assert result["holiday"] == "Christmas Day"
    assert result["after_hours"] is True
    assert result["destination"] == {
        "kind": "voicemail",
        "box": "billing",
        "callback": "next business day",
    }


def test_observed_day_off_is_a_holiday_too(plan: Plan) -> None:
    result = call(plan, "2", at="2026-07-03 10:00")  # July 4th 2026 is a Saturday
    assert result["holiday"] == "Independence Day (observed)"
    assert result["after_hours"] is True


def test_plan_closed_date_is_named_closed(plan: Plan) -> None:
    result = call(plan, "2", at="2026-12-24 10:00")
    assert result["holiday"] == "closed"
    assert result["destination"]["kind"] == "voicemail"


def test_opening_is_start_inclusive_and_end_exclusive(plan: Plan) -> None:
    assert call(plan, "2", at="2026-11-30 09:00:00")["destination"] == queue("billing")
    assert call(plan, "2", at="2026-11-30 08:59:59")["after_hours"] is True
    assert call(plan, "2", at="2026-11-30 15:59:59")["destination"] == queue("billing")
    assert call(plan, "2", at="2026-11-30 16:00:00")["after_hours"] is True


def test_clock_uses_the_practice_time_zone(plan: Plan) -> None:
    number = normalize_number("+13125551001")
    facts = CallFacts(MAIN, number, DIRECTORY.lookup(number))
    from datetime import datetime

    utc_morning = datetime.fromisoformat("2026-11-30T15:30:00+00:00")  # 09:30 in Chicago
    result = simulate(plan, at=utc_morning, facts=facts, keys=["2"], logged_in=EVERYONE)
    assert result.decision.after_hours is False
    utc_early = datetime.fromisoformat("2026-11-30T14:30:00+00:00")  # 08:30 in Chicago
    result = simulate(plan, at=utc_early, facts=facts, keys=["2"], logged_in=EVERYONE)
    assert result.decision.after_hours is True


# -- 2. The menu --------------------------------------------------------------------------
def test_emergency_notice_plays_first_then_the_main_menu(plan: Plan) -> None:
    assert call(plan, "2")["prompts"] == ["emergency-notice", *MENU]


def test_language_key_switches_and_replays_the_main_menu(plan: Plan) -> None:
    result = call(plan, "9,2")
    assert result["language"] == "es"
    assert result["prompts"] == ["emergency-notice", *MENU, *MENU[:-1]]
    assert result["destination"] == queue("billing", "spanish")


def test_language_key_is_invalid_in_a_submenu(plan: Plan) -> None:
    result = call(plan, "3,9,2")
    assert result["language"] == "en"
    assert "invalid-option" in result["prompts"]
    assert result["destination"] == queue("nurse_triage", "clinical")


@pytest.mark.parametrize("keys", ["0", "1,0", "3,0", "4,0", "9,0"])
def test_operator_key_reaches_front_desk_at_any_level(plan: Plan, keys: str) -> None:
    result = call(plan, keys)
    assert result["category"] == "operator"
    assert result["destination"]["queue"] == "front_desk"


def test_silent_caller_hears_the_menu_three_times_then_front_desk(plan: Plan) -> None:
    result = call(plan, "-,-,-")
    assert result["prompts"].count("menu-1") == 3
    assert result["category"] == "unrouted"
    assert result["destination"] == queue("front_desk")


def test_running_out_of_keys_is_silence(plan: Plan) -> None:
    assert call(plan, "")["destination"] == queue("front_desk")


def test_invalid_keys_count_like_timeouts(plan: Plan) -> None:
    result = call(plan, "7,-,8")  # the third miss routes at once, without another replay
    assert result["prompts"].count("invalid-option") == 1
    assert result["prompts"].count("menu-1") == 3
    assert result["category"] == "unrouted"


def test_two_misses_then_a_valid_key_still_routes(plan: Plan) -> None:
    assert call(plan, "7,-,2")["destination"] == queue("billing")


def test_lost_caller_keeps_the_category_chosen_so_far(plan: Plan) -> None:
    result = call(plan, "3,-,-,-")
    assert result["category"] == "clinical"
    assert result["destination"] == queue("front_desk")


def test_submenu_without_own_category_leaves_lost_caller_unrouted(plan: Plan) -> None:
    assert call(plan, "4,-,-,-")["category"] == "unrouted"


def test_silent_caller_after_hours_reaches_the_answering_service(plan: Plan) -> None:
    result = call(plan, "-,-,-", at=EVENING)
    assert result["destination"] == {
        "kind": "transfer",
        "target": "answering_service",
        "announce": None,
    }


def test_known_specialty_skips_the_scheduling_submenu(plan: Plan) -> None:
    result = call(plan, "1", caller="+13125551003")  # P-1003: orthopedics
    assert result["destination"] == queue("scheduling", "orthopedics")
    assert result["category"] == "scheduling"
    assert "menu-1-1" not in result["prompts"]


def test_known_patient_without_specialty_hears_the_submenu(plan: Plan) -> None:
    result = call(plan, "1,1", caller="+13125551004")  # P-1004: no specialty
    assert "menu-1-1" in result["prompts"]
    assert result["category"] == "new_patient"
    assert result["destination"] == queue("intake", "spanish")


def test_unknown_caller_hears_the_submenu(plan: Plan) -> None:
    result = call(plan, "1,3")
    assert result["destination"] == queue("scheduling", "cardiology")
    assert result["category"] == "scheduling"  # the parent's category


def test_leaf_category_overrides_the_parent(plan: Plan) -> None:
    assert call(plan, "1,1")["category"] == "new_patient"
    assert call(plan, "4,3")["category"] == "test_results"


# -- 3. Destination ---------------------------------------------------------------------------
def test_urgent_in_hours_goes_to_the_front_of_nurse_triage_without_skills(plan: Plan) -> None:
    result = call(plan, "3,1")
    assert result["urgent"] is True
    assert result["category"] == "clinical"
    assert result["destination"] == queue("nurse_triage", priority="front")
    assert result["after_hours"] is False


def test_urgent_spanish_caller_gets_no_language_skill_or_fallback(plan: Plan) -> None:
    result = call(plan, "3,1", caller="+13125551002", logged_in=["2004"])  # only Dana, no Spanish
    assert result["destination"] == queue("nurse_triage", priority="front")


def test_urgent_after_hours_transfers_with_announcement(plan: Plan) -> None:
    result = call(plan, "3,1", at=EVENING)
    assert result["destination"] == {
        "kind": "transfer",
        "target": "urgent_nurse_line",
        "announce": "urgent-connect",
    }
    assert result["prompts"][-1] == "urgent-connect"
    assert result["after_hours"] is True


def test_urgent_with_no_nurse_logged_in_transfers_but_is_not_after_hours(plan: Plan) -> None:
    result = call(plan, "3,1", logged_in=["2001"])
    assert result["destination"]["target"] == "urgent_nurse_line"
    assert result["after_hours"] is False


def test_urgent_on_a_holiday_never_reaches_voicemail(plan: Plan) -> None:
    result = call(plan, "3,1", at="2026-12-25 10:00")
    assert result["destination"]["kind"] == "transfer"


def test_open_queue_requires_menu_skill_and_language_skill(plan: Plan) -> None:
    result = call(plan, "1,3", caller="+13125551004")  # Spanish, no specialty on file
    assert result["destination"] == queue("scheduling", "cardiology", "spanish")


def test_language_fallback_when_no_logged_in_member_speaks_it(plan: Plan) -> None:
    result = call(plan, "9,1,2", logged_in=["2002", "2006"])  # Ana (Spanish) is out
    assert result["destination"] == {
        "kind": "transfer",
        "target": "language_line",
        "announce": None,
    }
    assert result["after_hours"] is False


def test_language_skill_held_by_a_logged_out_member_does_not_count(plan: Plan) -> None:
    assert call(plan, "9,2", logged_in=["2003"])["destination"] == queue("billing", "spanish")
    assert call(plan, "9,2", logged_in=["2003", "2001"])["destination"] == queue(
        "billing", "spanish"
    )


def test_queue_with_nobody_logged_in_follows_after_hours_without_the_flag(plan: Plan) -> None:
    result = call(plan, "2", logged_in=["2001"])
    assert result["destination"] == {
        "kind": "voicemail",
        "box": "billing",
        "callback": "next business day",
    }
    assert result["after_hours"] is False


def on_duty(plan: Plan, *events: Event) -> set[str]:
    """Who staffs their queues, as the ACD runtime keeps it for the router: from the
    engine's `AgentState` (calls/acd_runtime.py)."""
    engine, duty = AcdEngine(plan, PracticeClock(plan)), set[str]()
    for event in events:
        for command in engine.handle(event, local(OPEN)):
            if isinstance(command, AgentState):
                (duty.add if staffs(command.state) else duty.discard)(command.ext)
    return duty


def test_queue_whose_logged_in_members_are_all_unreachable_follows_after_hours(
    plan: Plan,
) -> None:
    """§3.2: billing's only member, Chloe, is logged in but her phone is unregistered."""
    paused = on_duty(plan, AgentLogin("2003"), AgentPause("2003"))
    assert call(plan, "2", logged_in=paused)["destination"] == queue("billing")
    unplugged = on_duty(plan, AgentLogin("2003"), PhoneReachability("2003", reachable=False))
    result = call(plan, "2", logged_in=unplugged)
    assert result["destination"] == {
        "kind": "voicemail",
        "box": "billing",
        "callback": "next business day",
    }
    assert result["after_hours"] is False


def test_a_speaker_whose_phone_is_unreachable_does_not_count(plan: Plan) -> None:
    """§3.3: Ana (Spanish) is logged in, her phone is not: the language line."""
    logins = [AgentLogin(ext) for ext in ("2001", "2002", "2006")]
    staff = on_duty(plan, *logins, PhoneReachability("2001", reachable=False))
    result = call(plan, "9,1,2", logged_in=staff)
    assert result["destination"]["target"] == "language_line"


def test_closed_queue_voicemail_carries_the_callback_window(plan: Plan) -> None:
    result = call(plan, "1,1", at=EVENING)
    assert result["destination"] == {"kind": "voicemail", "box": "intake", "callback": "same day"}
    assert result["prompts"][-1] == "voicemail-intake"
    assert result["after_hours"] is True


def test_closed_clinical_queue_transfers_to_the_after_hours_nurse(plan: Plan) -> None:
    result = call(plan, "4,3", at=EVENING)
    assert result["destination"] == {
        "kind": "transfer",
        "target": "after_hours_nurse",
        "announce": None,
    }


def test_saturday_morning_triage_is_open_but_the_office_is_not(plan: Plan) -> None:
    assert call(plan, "3,2", at="2026-12-05 10:00")["destination"] == queue(
        "nurse_triage", "clinical"
    )
    assert call(plan, "2", at="2026-12-05 10:00")["after_hours"] is True


def test_friday_afternoon_billing_is_closed_while_the_office_is_open(plan: Plan) -> None:
    assert call(plan, "2", at="2026-12-04 13:00")["after_hours"] is True
    assert call(plan, "1,2", at="2026-12-04 13:00")["destination"] == queue(
        "scheduling", "primary_care"
    )
