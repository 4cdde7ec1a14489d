"""The FastAGI routing decision runs the routing core on the dialplan's keys."""

from __future__ import annotations

from collections.abc import Callable

from frontdesk.asterisk.fastagi import AgiRequest, RouteVariables
from frontdesk.calls.agi_route import agi_decider
from frontdesk.plan import Plan
from frontdesk.routing.directory import Directory
from tests.conftest import REFERENCE_DIRECTORY, local

EVERYONE = {"2001", "2002", "2003", "2004", "2005", "2006"}


def request(script: str, caller: str = "+13125551002", dnid: str = "3125550000") -> AgiRequest:
    return AgiRequest(
        {
            "agi_network_script": script,
            "agi_callerid": caller,
            "agi_dnid": dnid,
            "agi_extension": dnid,
            "agi_language": "en",
        }
    )


def decider(
    plan: Plan, at: str = "2026-11-30 10:00", logged_in: set[str] = EVERYONE
) -> Callable[[AgiRequest], RouteVariables]:
    return agi_decider(plan, Directory.from_csv(REFERENCE_DIRECTORY), logged_in, lambda: local(at))


def test_keys_from_the_dialplan_choose_the_route(plan: Plan) -> None:
    result = decider(plan)(request("route?keys=1"))
    assert result.category == "scheduling"
    assert result.queue == "scheduling"
    assert result.skills == ("cardiology", "spanish")  # P-1002: cardiology, Spanish
    assert result.destination == "queue:scheduling"
    assert result.language == "es"


def test_no_keys_is_a_silent_caller_who_reaches_the_front_desk(plan: Plan) -> None:
    result = decider(plan)(request("route", caller="anonymous"))
    assert (result.category, result.destination) == ("unrouted", "queue:front_desk")


def test_after_hours_transfer_carries_the_dial_string(plan: Plan) -> None:
    result = decider(plan, at="2026-11-30 20:00")(request("route?keys=3,1"))
    assert result.destination == "transfer:PJSIP/+13125550199@trunk"
    assert result.category == "clinical"


def test_voicemail_destination(plan: Plan) -> None:
    result = decider(plan, at="2026-11-30 20:00")(request("route?keys=2"))
    assert result.destination == "voicemail:billing"


def test_refill_line_did_skips_the_menu(plan: Plan) -> None:
    result = decider(plan)(request("route", caller="+17735550123", dnid="+13125550010"))
    assert (result.category, result.queue, result.skills) == (
        "refill",
        "nurse_triage",
        ("pharmacy",),
    )


def test_garbage_keys_are_silence(plan: Plan) -> None:
    result = decider(plan)(request("route?keys=${EVIL}"))
    assert result.destination == "queue:front_desk"
