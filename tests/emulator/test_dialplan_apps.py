"""The dialplan applications and expressions behind admission control: nested `${...}`,
FILTER, `$[a = b]`, GotoIf, Gosub/Return and UserEvent, and the default dialplan's
`[frontdesk-admission]` shedding the share FRONTDESK_SHED (%) of calls before Stasis."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from frontdesk.emulator import Emulator
from frontdesk.emulator.dialplan import (
    Labelled,
    UnsupportedExpression,
    default_dialplan,
    expression,
    filter_chars,
    substitute,
)
from tests.emulator.conftest import FAST
from tests.emulator.helpers import Ami, Ari, field_names, parse_block

FALLBACK_MEDIA = ["sound:frontdesk/emergency-notice", "sound:frontdesk/fallback-voicemail"]

RECORDED_SHED = Path(__file__).parent.parent / "asterisk/recorded/ami_dialplan_shed.jsonl"


# -- substitution -------------------------------------------------------------------------


def test_nested_variable_names_are_substituted_innermost_first() -> None:
    lookup = {"ARG1": "+1 (312) 555-0100", "FRONTDESK_URGENT_13125550100": "1"}
    assert substitute("${FRONTDESK_URGENT_${FILTER(0-9,${ARG1})}}", lookup) == "1"
    assert substitute("${FRONTDESK_URGENT_${FILTER(0-9,${NOPE})}}", lookup) == ""
    assert substitute("$5 ${ARG1:1} ${UNKNOWN(x)}", lookup) == "$5  "


@pytest.mark.parametrize(
    ("allowed", "kept"),
    [  # func_strings.c's own test_FILTER cases
        ("A-R", "DAHDI"),
        ("A\\-R", "A"),
        ("\\x41-R", "DAHDI"),
        ("0-9A-Ca-c", "0042133333A12212"),
        ("0-9a-cA-C_+\\-", "0042133333A12212"),
    ],
)
def test_filter(allowed: str, kept: str) -> None:
    assert filter_chars(f"{allowed},0042133333&DAHDI/g1/2212") == kept


def test_filter_keeps_commas_of_the_value_and_reads_nothing_without_one() -> None:
    assert substitute("${FILTER(0-9\\,,1,2;3)}", {}) == "1,23"
    assert substitute("${FILTER(0-9)}", {}) == ""


@pytest.mark.parametrize(
    ("text", "result"),
    [
        ('"" != "1"', "1"),
        ('"1" != "1"', "0"),
        ('"shed" = "shed"', "1"),
        ("shed=shed", "1"),
        ("1 == 01", "1"),  # two bare numbers compare as numbers
        ('"1" = "01"', "0"),  # quoted: strings
        ('"1" = 1', "0"),  # ast_expr2 keeps the quotes of a quoted operand
        ("0 < 1", "1"),
        ("050 < 49", "0"),  # numbers: 050 is 50 (the dialplan's 0${FRONTDESK_SHED})
        ("0100 < 100", "0"),
        ("0100 >= 100", "1"),
        ("2 <= 10", "1"),  # as numbers, not as strings
        ("abc", "abc"),
    ],
)
def test_comparisons(text: str, result: str) -> None:
    assert expression(text) == result
    assert substitute(f"$[{text}]", {}) == result


@pytest.mark.parametrize("text", ["1 + 1", "1 < 2 < 3", "a = b = c", "", "(1)"])
def test_other_expressions_are_refused(text: str) -> None:
    with pytest.raises(UnsupportedExpression):
        expression(text)


def test_labelled_steps_stay_app_data_pairs() -> None:
    step = Labelled("admit", "Return", "")
    app, data = step
    assert (app, data, step.label) == ("Return", "", "admit")
    admission = default_dialplan("frontdesk")["frontdesk-admission"]["s"]
    assert [getattr(s, "label", "") for s in admission] == ["", "", "", "", "admit"]


# -- applications, on a dialplan of the test's own ---------------------------------------

SUBROUTINES = {
    "from-pstn": {
        "_X.": [
            ("Set", "ARG1=outer"),
            ("Gosub", "sub,s,1(a,b)"),
            ("Set", "AFTER=${GOSUB_RETVAL}|${ARG1}|${ARG2}|${ARGC}"),
            ("GotoIf", "0?nowhere,s,1:branch,s,go"),
        ]
    },
    "sub": {
        "s": [
            ("Set", "IN=${ARG1}|${ARG2}|${ARGC}"),
            ("Gosub", "inner,s,1(x)"),
            ("Set", "BACK=${GOSUB_RETVAL}|${ARG1}|${ARG2}"),
            ("Return", "done"),
        ]
    },
    "inner": {
        "s": [
            ("Set", "INNER=${ARG1}|${ARG2}|${ARGC}"),
            ("GotoIf", "$[${ARG1} = x]?ok"),
            ("Return", "bad"),
            Labelled("ok", "Return", "good"),
        ]
    },
    "branch": {"s": [("NoOp", ""), Labelled("go", "UserEvent", "Reached,At: ${CONTEXT}")]},
}


@pytest.fixture
async def own() -> AsyncIterator[Emulator]:
    emulator = Emulator(staff=["2001"], dialplan=SUBROUTINES, **FAST)  # type: ignore[arg-type]
    await emulator.start()
    yield emulator
    await emulator.stop()


async def test_gosub_return_and_gotoif(own: Emulator) -> None:
    ami = await Ami.connect(own)
    await ami.login()
    channel_id = await own.place_call("+13125550101", "5550100")
    reached = await ami.until("UserEvent", Uniqueid=channel_id)
    assert (reached["UserEvent"], reached["At"], reached["Priority"]) == ("Reached", "branch", "2")
    variables = (await own.channel(channel_id))["variables"]
    assert variables["IN"] == "a|b|2"
    assert variables["INNER"] == "x||1"  # the outer frame's ARG2 masked
    assert variables["BACK"] == "good|a|b"  # the inner frame's arguments gone
    assert variables["AFTER"] == "done|outer||"  # the ARG1 the Gosub hid is back
    assert variables["GOSUB_RETVAL"] == "done"
    assert "ARGC" not in variables
    ami.close()


async def test_gosub_reports_its_arguments_as_local_variables(own: Emulator) -> None:
    ami = await Ami.connect(own)
    await ami.login()
    channel_id = await own.place_call("+13125550101", "5550100")
    varsets = []
    while (event := await ami.until("VarSet", Uniqueid=channel_id))["Variable"] != "IN":
        varsets.append((event["Context"], event["Priority"], event["Variable"], event["Value"]))
    assert varsets[-3:] == [
        ("sub", "0", "LOCAL(ARG1)", "a"),  # already at the subroutine, before its priority 1
        ("sub", "0", "LOCAL(ARG2)", "b"),
        ("sub", "0", "LOCAL(ARGC)", "2"),
    ]
    ami.close()


@pytest.mark.parametrize(
    "steps",
    [
        [("Return", "")],  # no Gosub
        [("Goto", "nolabel")],
        [("Gosub", "sub,s,nolabel(1)")],
        [("Gosub", "nowhere,s,1")],
        [("UserEvent", "")],
    ],
)
async def test_failing_applications_hang_up(steps: list[tuple[str, str]]) -> None:
    dialplan = {"from-pstn": {"_X.": [*steps, ("Playback", "never")]}, **SUBROUTINES}
    async with Emulator(staff=["2001"], dialplan=dialplan, **FAST) as emu:  # type: ignore[arg-type]
        channel_id = await emu.place_call("+13125550101", "5550100")
        snapshot = await emu.channel(channel_id)
        assert (snapshot["hung_up"], snapshot["hangup_cause"]) == (True, 16)
        assert snapshot["media"] == []


# -- the default dialplan's admission check -----------------------------------------------


async def set_global(ari: Ari, name: str, value: str) -> None:
    path = "/ari/asterisk/variable"
    assert await ari.request("POST", path, {"variable": name, "value": value}) == (204, None)


async def user_event(ami: Ami, channel_id: str) -> bytes:
    while True:
        raw = await ami.block()
        assert raw, "EOF before the UserEvent"
        fields = parse_block(raw)
        if fields.get("Event") == "UserEvent" and fields.get("Uniqueid") == channel_id:
            return raw


async def test_shedding_sends_calls_to_the_fallback_before_stasis(emu: Emulator, ari: Ari) -> None:
    ami = await Ami.connect(emu)
    await ami.login()
    events = await ari.events()
    await set_global(ari, "FRONTDESK_SHED", "100")
    channel_id = await emu.place_call("+13125550101", "+15550100")
    raw = await user_event(ami, channel_id)
    fields = parse_block(raw)
    assert (fields["Privilege"], fields["UserEvent"], fields["Did"]) == (
        "user,all",
        "FrontdeskShed",
        "15550100",  # FILTER(0-9,...) of the DID
    )
    assert (fields["Context"], fields["Exten"], fields["Priority"]) == (
        "frontdesk-admission",
        "s",
        "3",
    )
    # multi_user_event_to_ami: the channel's fields, UserEvent, then the body, as the
    # real 22.10.1 sent it (lab/test_business_hours.py recorded it)
    assert field_names(raw)[-4:] == ["Uniqueid", "Linkedid", "UserEvent", "Did"]
    recorded = json.loads(RECORDED_SHED.read_text().splitlines()[0])["event"]
    # (the lab's Asterisk had no `systemname`: no SystemName line; the emulator's has one)
    assert [f for f in field_names(raw) if f != "SystemName"] == list(recorded)
    hangup = await ami.until("Hangup", Uniqueid=channel_id)
    assert hangup["Context"] == "frontdesk-fallback"
    snapshot = await emu.channel(channel_id)
    assert snapshot["in_stasis"] is False
    assert snapshot["dialplan"]["context"] == "frontdesk-fallback"
    assert snapshot["media"] == FALLBACK_MEDIA
    assert snapshot["variables"]["GOSUB_RETVAL"] == "shed"
    assert "ARG1" not in snapshot["variables"]
    await events.quiet(0.05)  # no StasisStart, nothing at all for the app
    ami.close()


async def test_urgent_dids_are_admitted_while_shedding(emu: Emulator, ari: Ari) -> None:
    events = await ari.events()
    await set_global(ari, "FRONTDESK_SHED", "100")
    await set_global(ari, "FRONTDESK_URGENT_5550911", "1")
    urgent = await emu.place_call("+13125550101", "5550911")
    start = await events.until("StasisStart", channel__id=urgent)
    assert start["channel"]["dialplan"]["priority"] == 4
    other = await emu.place_call("+13125550102", "5550100")
    assert (await emu.channel(other))["dialplan"]["context"] == "frontdesk-fallback"
    assert (await emu.channel(urgent))["variables"]["GOSUB_RETVAL"] == ""


def test_rand_stays_within_its_bounds_and_the_share_to_shed_is_kept() -> None:
    draws = [int(substitute("${RAND(1,100)}", {})) for _ in range(2000)]
    assert min(draws) >= 1
    assert max(draws) <= 100
    assert len(set(draws)) > 90  # uniform enough to reach nearly every value
    admitted = sum(substitute("$[040 < ${RAND(1,100)}]", {}) == "1" for _ in range(4000))
    assert 0.55 < admitted / 4000 < 0.65  # FRONTDESK_SHED=40: 60 % go on to Stasis


@pytest.mark.parametrize("shed", [None, "0", ""])
async def test_calls_enter_stasis_when_not_shedding(
    emu: Emulator, ari: Ari, shed: str | None
) -> None:
    ami = await Ami.connect(emu)
    await ami.login()
    events = await ari.events()
    if shed is not None:
        await set_global(ari, "FRONTDESK_SHED", shed)
    channel_id = await emu.place_call("+13125550101", "+15550100")
    await events.until("StasisStart", channel__id=channel_id)
    newexten = await ami.until("Newexten", Uniqueid=channel_id, Application="Stasis")
    assert newexten["Context"] == "from-pstn"
    assert not any(e["type"] == "ChannelUserevent" for e in events.seen)
    ami.close()
