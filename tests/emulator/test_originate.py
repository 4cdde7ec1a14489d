"""Originate over real sockets: the agent rings then answers, never answers (e), is busy (e2)
or declines (e3); originate errors; an outbound trunk leg (h)."""

from __future__ import annotations

import pytest

from frontdesk.emulator import Emulator
from tests.emulator.helpers import Ami, Ari, call_in_stasis, parse_block, transcript
from tests.emulator.test_bridging import _signature

CASES = {
    "flow_e_ring_no_answer_timeout.jsonl": (None, None, (19, "User alerting, no answer", 480)),
    "flow_e2_agent_busy_486.jsonl": (0.01, 486, (17, "User busy", 486)),
    "flow_e3_agent_decline_603.jsonl": (0.01, 603, (21, "Call Rejected", 603)),
}


@pytest.mark.parametrize("flow", list(CASES))
async def test_agent_does_not_take_the_call(emu: Emulator, ari: Ari, flow: str) -> None:
    answer_after, reply, (cause, text, tech) = CASES[flow]
    await emu.set_phone("2001", answer_after=answer_after, reply=reply)
    ami = await Ami.connect(emu)
    await ami.login()
    caller, events = await call_in_stasis(emu, ari, "+13125550101", "5550301")
    await ari.request("POST", f"/ari/channels/{caller}/answer")
    _, hold = await ari.request(
        "POST", "/ari/bridges", {"type": "holding", "name": f"hold-{caller}"}
    )
    await ari.request(
        "POST", f"/ari/bridges/{hold['id']}/addChannel", {"channel": caller, "role": "participant"}
    )
    await ari.request("POST", f"/ari/bridges/{hold['id']}/moh", {"mohClass": "default"})
    params = {
        "endpoint": "PJSIP/2001",
        "app": "frontdesk",
        "appArgs": f"agent,{caller}",
        "callerId": '"PSTN Caller" <+13125550101>',
        "timeout": "10",  # x time_scale 0.01: 0.1 s
    }
    _, agent = await ari.request("POST", "/ari/channels", params)
    destroyed = await events.until("ChannelDestroyed")
    assert (destroyed["cause"], destroyed["cause_txt"], destroyed["tech_cause"]) == (
        cause,
        text,
        tech,
    )
    assert await ari.request("GET", f"/ari/channels/{agent['id']}") == (
        404,
        {"message": "Channel not found"},
    )
    await ari.request("DELETE", f"/ari/bridges/{hold['id']}/moh")
    await ari.request("DELETE", f"/ari/channels/{caller}", {"reason_code": "16"})
    await events.until("StasisEnd")
    await ari.request("DELETE", f"/ari/bridges/{hold['id']}")
    await events.until("BridgeDestroyed")
    recorded = [r["event"] for r in transcript(flow) if r["kind"] == "ari_event"]
    assert _signature(events.seen) == _signature(recorded)
    hangup = await ami.until("Hangup", Channel=agent["name"])
    assert hangup["Cause"] == str(cause)
    assert hangup["TechCause"] == str(tech)
    ami.close()


async def test_no_dial_end_on_timeout_but_on_busy(emu: Emulator, ari: Ari) -> None:
    ami = await Ami.connect(emu)
    await ami.login()
    await emu.set_phone("2001", answer_after=None)
    await emu.set_phone("2002", answer_after=0.01, reply=486)
    await ari.events()
    for ext in ("2001", "2002"):
        await ari.request(
            "POST",
            "/ari/channels",
            {"endpoint": f"PJSIP/{ext}", "app": "frontdesk", "timeout": "5"},
        )
    seen = []
    while len([s for s in seen if s.get("Event") == "Hangup"]) < 2:
        seen.append(parse_block(await ami.block()))
    ends = [s["DialStatus"] for s in seen if s.get("Event") == "DialEnd"]
    assert ends == ["BUSY"]
    cdrs = {s["Channel"][:10]: s["Disposition"] for s in seen if s.get("Event") == "Cdr"}
    assert cdrs == {"PJSIP/2001": "NO ANSWER", "PJSIP/2002": "BUSY"}
    ami.close()


@pytest.mark.parametrize(
    ("endpoint", "status", "body"),
    [
        ("PJSIP/9999", 500, {"error": "Allocation failed"}),
        ("Bogus/123", 500, {"error": "Allocation failed"}),
        ("PJSIP/2003", 500, {"error": "Allocation failed"}),  # configured, not registered
        ("not-an-endpoint", 400, {"message": "Invalid endpoint specified"}),
    ],
)
async def test_originate_errors(ari: Ari, endpoint: str, status: int, body: dict[str, str]) -> None:
    assert await ari.request(
        "POST", "/ari/channels", {"endpoint": endpoint, "app": "frontdesk"}
    ) == (
        status,
        body,
    )


async def test_originate_needs_app_or_extension(ari: Ari) -> None:
    assert await ari.request("POST", "/ari/channels", {"endpoint": "PJSIP/2001"}) == (
        400,
        {"message": "Application or extension must be specified"},
    )


async def test_client_chosen_channel_id_and_duplicates(emu: Emulator, ari: Ari) -> None:
    await emu.set_phone("2001", answer_after=None)
    params = {"endpoint": "PJSIP/2001", "app": "frontdesk", "channelId": "agent-1"}
    status, agent = await ari.request("POST", "/ari/channels", params)
    assert (status, agent["id"]) == (200, "agent-1")
    assert await ari.request("POST", "/ari/channels", params) == (
        409,
        {"message": "Channel with given unique ID already exists"},
    )


async def test_unregistered_phone_comes_back(emu: Emulator, ari: Ari) -> None:
    await emu.unregister("2001")
    params = {"endpoint": "PJSIP/2001", "app": "frontdesk"}
    assert (await ari.request("POST", "/ari/channels", params))[0] == 500
    await emu.register("2001")
    assert (await ari.request("POST", "/ari/channels", params))[0] == 200


async def test_flow_h_outbound_trunk_leg(emu: Emulator, ari: Ari) -> None:
    await emu.set_phone("trunk", answer_after=0.02)
    caller, events = await call_in_stasis(emu, ari, "+13125550104", "5550304")
    await ari.request("POST", f"/ari/channels/{caller}/answer")
    params = {
        "endpoint": "PJSIP/+13125550199@trunk",
        "app": "frontdesk",
        "appArgs": f"transfer,{caller}",
        "callerId": '"PSTN Caller" <+13125550104>',
        "timeout": "30",
    }
    _, leg = await ari.request("POST", "/ari/channels", params)
    assert leg["name"].startswith("PJSIP/trunk-")
    assert leg["dialplan"]["context"] == "from-pstn"
    dial = await events.until("Dial")
    assert dial["dialstring"] == "+13125550199@trunk"
    start = await events.until("StasisStart", channel__id=leg["id"])
    assert start["args"] == ["transfer", caller]
    _, mix = await ari.request("POST", "/ari/bridges", {"type": "mixing", "name": f"xfer-{caller}"})
    await ari.request(
        "POST", f"/ari/bridges/{mix['id']}/addChannel", {"channel": f"{caller},{leg['id']}"}
    )
    line = await events.until("ChannelConnectedLine")
    assert line["channel"]["id"] == caller
    assert line["channel"]["connected"] == {"name": "PSTN Caller", "number": "+13125550104"}
    await emu.agent_hangup(leg["id"])
    request = await events.until("ChannelHangupRequest")
    assert "cause" not in request
    destroyed = await events.until("ChannelDestroyed", channel__id=leg["id"])
    assert destroyed["cause"] == 16
    assert emu.violations == []


async def test_app_cancels_a_ringing_originate(emu: Emulator, ari: Ari) -> None:
    await emu.set_phone("2001", answer_after=None)
    events = await ari.events()
    _, agent = await ari.request(
        "POST", "/ari/channels", {"endpoint": "PJSIP/2001", "app": "frontdesk"}
    )
    await events.until("Dial", dialstatus="RINGING")
    await ari.request("DELETE", f"/ari/channels/{agent['id']}")
    request = await events.next()
    assert (request["type"], request["cause"], request["soft"]) == (
        "ChannelHangupRequest",
        32,
        True,
    )
    assert (await events.next())["dialstatus"] == "CANCEL"
    assert (await events.next())["type"] == "ChannelDestroyed"
