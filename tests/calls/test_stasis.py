"""calls/stasis.py: the Stasis-args protocol."""

from __future__ import annotations

from typing import Any

import pytest

from frontdesk.calls.stasis import Entered, Leg, is_our_leg, leg_args, read_stasis_start

CHANNEL = {"id": "ch-1", "caller": {"number": "+13125551001"}}


def start(*args: str, **extra: Any) -> dict[str, Any]:
    return {"type": "StasisStart", "channel": CHANNEL, "args": list(args), **extra}


def test_no_args_is_a_new_patient_call() -> None:
    entered = read_stasis_start(start())
    assert entered == Entered("ch-1", CHANNEL, new_call=True)
    assert entered.caller_number == "+13125551001"


def test_missing_args_key_is_a_new_call_too() -> None:
    entered = read_stasis_start({"type": "StasisStart", "channel": CHANNEL})
    assert entered is not None
    assert entered.new_call


@pytest.mark.parametrize("leg", list(Leg))
def test_legs_name_their_call(leg: Leg) -> None:
    entered = read_stasis_start(start(str(leg), "call-7"))
    assert entered == Entered("ch-1", CHANNEL, leg=leg, of_call="call-7")
    assert not entered.new_call
    assert entered.feature is None
    assert entered.replaced is None


def test_leg_args_are_read_back_as_the_same_leg() -> None:
    for leg in Leg:
        entered = read_stasis_start(start(*leg_args(leg, "c9").split(",")))
        assert entered is not None
        assert (entered.leg, entered.of_call) == (leg, "c9")


def test_leg_args_format() -> None:
    assert leg_args(Leg.AGENT, "c1") == "agent,c1"
    assert leg_args(Leg.CALLBACK_AGENT, "c1") == "callback-agent,c1"
    assert leg_args(Leg.CALLBACK_PATIENT, "c1") == "callback-patient,c1"
    assert leg_args(Leg.TRANSFER, "c1") == "transfer,c1"


def test_feature_code() -> None:
    entered = read_stasis_start(start("feature", "login"))
    assert entered == Entered("ch-1", CHANNEL, feature="login")


def test_feature_without_an_action_is_still_a_feature_call() -> None:
    entered = read_stasis_start(start("feature"))
    assert entered is not None
    assert entered.feature == ""
    assert entered.leg is None
    assert not entered.new_call


@pytest.mark.parametrize(
    "args",
    [("agent",), ("bogus", "c1"), ("Agent", "c1"), ("frontdesk",)],
    ids=["leg-without-call", "unknown", "wrong-case", "one-word"],
)
def test_unknown_args_say_nothing(args: tuple[str, ...]) -> None:
    entered = read_stasis_start(start(*args))
    assert entered == Entered("ch-1", CHANNEL)


def test_non_string_args_are_read_as_text() -> None:
    entered = read_stasis_start({"channel": CHANNEL, "args": ["agent", 42]})
    assert entered is not None
    assert (entered.leg, entered.of_call) == (Leg.AGENT, "42")


def test_replace_channel_wins_over_args() -> None:
    replaced = {"id": "old-leg", "name": "PJSIP/2001-0001"}
    entered = read_stasis_start(start("agent", "c1", replace_channel=replaced))
    assert entered == Entered("ch-1", CHANNEL, replaced=replaced)
    assert not entered.new_call
    assert entered.leg is None


def test_replace_channel_that_is_not_an_object_is_ignored() -> None:
    entered = read_stasis_start(start(replace_channel="old-leg"))
    assert entered is not None
    assert entered.new_call
    assert entered.replaced is None


@pytest.mark.parametrize(
    "event",
    [
        {"type": "StasisStart", "args": []},
        {"type": "StasisStart", "channel": None},
        {"type": "StasisStart", "channel": "ch-1"},
        {"type": "StasisStart", "channel": {"name": "PJSIP/x"}},
        {"type": "StasisStart", "channel": {"id": 17}},
    ],
    ids=["no-channel", "null", "string", "no-id", "numeric-id"],
)
def test_malformed_events_are_none(event: dict[str, Any]) -> None:
    assert read_stasis_start(event) is None


def test_caller_number_is_empty_when_withheld() -> None:
    entered = read_stasis_start({"channel": {"id": "x", "caller": None}})
    assert entered is not None
    assert entered.caller_number == ""


def test_is_our_leg() -> None:
    assert is_our_leg({"dialplan": {"app_name": "Stasis", "app_data": "frontdesk,agent,c1"}})
    assert not is_our_leg({"dialplan": {"app_name": "Stasis", "app_data": "frontdesk"}})
    assert not is_our_leg({"dialplan": {}})
    assert not is_our_leg({"dialplan": None})
    assert not is_our_leg({})
