"""Hostile caller IDs and names: never a number, never in a channel variable.

A caller ID carrying SQL, HTML, CR/LF, `${...}` (dialplan expressions), NUL or 10 kB
of text is an unknown caller: `normalize_number` gives None (or a clean E.164 number
when there is a real number in it), the IVR routes the call as it routes any unknown
caller, and nothing of the raw text reaches the channel variables frontdesk sets.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frontdesk.phone import mask_number, normalize_number
from frontdesk.plan import Plan
from frontdesk.routing.directory import Directory
from frontdesk.routing.ivr import CallFacts
from frontdesk.routing.simulate import Simulation, simulate
from tests.conftest import REFERENCE_DIRECTORY, local
from tests.test_live_calls import MAIN, open_line

E164 = re.compile(r"\+[1-9]\d{1,14}")
AT = local("2026-11-30 10:00")
HOSTILE = [
    "'; DROP TABLE calls; --",
    "13125551002' OR '1'='1",
    "+1312555' UNION SELECT patient_id FROM patients--",
    '"><script>alert(1)</script>',
    "<img src=x onerror=alert(1)>",
    "+1312555\r\n1002",
    "Action: Originate\r\nChannel: PJSIP/evil\r\n",
    "3125551002\r\n\r\nAction: Hangup",
    "${SHELL(rm -rf /)}",
    "$[1+1]",
    "${CALLERID(num)}",
    "\x00",
    "+1312555\x001002",
    "\x00${SHELL(id)}\r\n",
    "9" * 10_000,
    "+1" + "3" * 10_240,
    "A" * 10_240,
    "\u202e1002555213+",
    "\ufeff+13125551002\u200b",
    "",
    " ",
    "anonymous",
    "Restricted",
]
UNSAFE = ("\r", "\n", "\x00", "${", "$[")


def simulated(plan: Plan, caller: str | None, keys: list[str]) -> Simulation:
    facts = CallFacts(MAIN, caller, Directory.from_csv(REFERENCE_DIRECTORY).lookup(caller))
    everyone = {s.extension for s in plan.staff}
    return simulate(plan, at=AT, facts=facts, keys=keys, logged_in=everyone)


@pytest.mark.parametrize("raw", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_caller_id_is_none_or_clean_e164(raw: str) -> None:
    number = normalize_number(raw)
    assert number is None or E164.fullmatch(number), repr(number)
    assert not any(bad in mask_number(number) for bad in UNSAFE)


@settings(max_examples=300, deadline=None)
@given(
    raw=st.one_of(
        st.text(max_size=80), st.text(alphabet="0123456789+-() .x\r\n\x00${}", max_size=40)
    )
)
def test_any_text_is_none_or_clean_e164(raw: str) -> None:
    number = normalize_number(raw)
    assert number is None or E164.fullmatch(number), repr(number)


UNKNOWN = [raw for raw in HOSTILE if normalize_number(raw) is None]


@pytest.mark.parametrize("raw", UNKNOWN, ids=range(len(UNKNOWN)))
@pytest.mark.parametrize("keys", [["2"], ["3", "2"], ["9", "2"], []], ids=str)
def test_hostile_caller_is_routed_as_an_unknown_caller(
    plan: Plan, raw: str, keys: list[str]
) -> None:
    caller = normalize_number(raw, plan.practice.phone_region)
    assert caller is None
    result = simulated(plan, caller, keys)
    reference = simulated(plan, None, keys)
    assert result.facts.patient is None
    assert result.decision == reference.decision
    assert result.language == reference.language
    assert result.prompts == reference.prompts


@pytest.mark.parametrize(
    ("caller", "name"),
    [
        ("+1312555\r\n1002", "Robert'); DROP TABLE patients;--"),
        ("${SHELL(id)}", "${SHELL(id)}"),
        ("3125551002\x00", "<script>alert(1)</script>\r\nX-Evil: 1"),
        ("\x00" * 16, "\x00\r\n" * 16),
        ("7" * 10_240, "N" * 10_240),
        ("Action: Originate\r\n", "$[${CALLERID(num)}]"),
    ],
    ids=["crlf-sql", "dialplan-expr", "nul-html", "nul-flood", "10kB", "ami-injection"],
)
async def test_hostile_caller_ids_never_reach_channel_variables(
    plan: Plan, caller: str, name: str
) -> None:
    async with open_line(plan) as line:
        healthy = await line.call(caller="+17735550123")
        hostile = await line.pbx.place_call(caller=caller, did=MAIN, caller_name=name)
        for channel in (hostile, healthy):
            await line.wait_menu_played(channel, "menu-operator")
            await line.pbx.press(channel, "2")
        routed = await line.route_of(hostile)
        assert routed.facts.caller is None or E164.fullmatch(routed.facts.caller)
        assert routed.facts.patient is None or routed.facts.caller is not None
        for channel in (hostile, healthy):
            snapshot = await line.handed_back(channel)
            variables = snapshot["variables"]
            assert variables["FRONTDESK_ROUTE"] == "queue"
            assert variables["FRONTDESK_DESTINATION"] == "billing"
            for value in variables.values():
                assert not any(bad in str(value) for bad in UNSAFE), repr(value)[:200]
        set_requests = [r for r in line.pbx.requests if "/variable" in r["path"]]
        assert set_requests
        assert not any(
            bad in repr(r) for r in set_requests for bad in ("\\r", "\\n", "\\x00", "${")
        )
