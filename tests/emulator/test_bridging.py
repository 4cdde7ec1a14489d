"""Bridges over real sockets: flow (b2), the ACD pattern of holding bridge + MOH, originate an
agent, mixing bridge, agent hangs up, app hangs up the caller."""

from __future__ import annotations

from typing import Any

from frontdesk.emulator import Emulator
from tests.emulator.helpers import Ami, Ari, transcript


def _signature(events: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(type, variable, whose) per event; whose = caller or agent, by first appearance."""
    roles: dict[str, str] = {}
    out = []
    for event in events:
        subject = event.get("channel") or event.get("peer") or {}
        ident = subject.get("id", "")
        if ident and ident not in roles:
            roles[ident] = "caller" if not roles else "agent"
        out.append((event["type"], event.get("variable", ""), roles.get(ident, "")))
    return out


async def test_flow_b2_holding_moh_originate_mixing(emu: Emulator, ari: Ari) -> None:
    await emu.set_phone("2001", answer_after=0.05)
    assert (await ari.request("GET", "/ari/endpoints/PJSIP/2001"))[1]["state"] == "online"
    events = await ari.events()
    caller = await emu.place_call("+15551230002", "5550200")
    await events.until("StasisStart")
    await ari.request("POST", f"/ari/channels/{caller}/answer")
    _, hold = await ari.request(
        "POST", "/ari/bridges", {"type": "holding", "name": f"hold-{caller}"}
    )
    assert (hold["technology"], hold["bridge_type"]) == ("holding_bridge", "holding")
    add = {"channel": caller, "role": "participant"}
    assert (await ari.request("POST", f"/ari/bridges/{hold['id']}/addChannel", add))[0] == 204
    assert (await ari.request("POST", f"/ari/bridges/{hold['id']}/moh", {"mohClass": "default"}))[
        0
    ] == 204
    status, agent = await ari.request(
        "POST",
        "/ari/channels",
        {
            "endpoint": "PJSIP/2001",
            "app": "frontdesk",
            "appArgs": f"agent,{caller}",
            "callerId": '"Queue scheduling" <5550200>',
            "timeout": "30",
        },
    )
    assert status == 200
    assert agent["state"] == "Down"
    assert agent["dialplan"] == {
        "context": "staff",
        "exten": "s",
        "priority": 1,
        "app_name": "AppDial2",
        "app_data": "(Outgoing Line)",
    }
    assert (
        agent["caller"] == agent["connected"] == {"name": "Queue scheduling", "number": "5550200"}
    )
    start = await events.until("StasisStart", channel__id=agent["id"])
    assert start["args"] == ["agent", caller]
    assert start["channel"]["dialplan"]["app_data"] == f"frontdesk,agent,{caller}"
    _, mix = await ari.request("POST", "/ari/bridges", {"type": "mixing", "name": f"call-{caller}"})
    assert mix["technology"] == "simple_bridge"
    assert (await ari.request("DELETE", f"/ari/bridges/{hold['id']}/moh"))[0] == 204
    remove = {"channel": caller}
    assert (await ari.request("POST", f"/ari/bridges/{hold['id']}/removeChannel", remove))[0] == 204
    both = {"channel": f"{caller},{agent['id']}"}
    assert (await ari.request("POST", f"/ari/bridges/{mix['id']}/addChannel", both))[0] == 204
    await emu.agent_hangup(agent["id"])
    destroyed = await events.until("ChannelDestroyed")
    assert (destroyed["cause"], destroyed["cause_txt"]) == (16, "Normal Clearing")
    assert destroyed["channel"]["dialplan"]["app_name"] == "AppDial2"
    await ari.request("DELETE", f"/ari/channels/{caller}", {"reason_code": "16"})
    await events.until("StasisEnd", channel__id=caller)
    assert (await ari.request("DELETE", f"/ari/bridges/{mix['id']}"))[0] == 204
    await events.until("BridgeDestroyed")
    assert (await ari.request("DELETE", f"/ari/bridges/{hold['id']}"))[0] == 204
    await events.quiet(0.05)  # the holding bridge was left by removeChannel: no event
    flow = transcript("flow_b2_acd_same_flow_without_endpoint_subscription.jsonl")
    recorded = [r["event"] for r in flow if r["kind"] == "ari_event"]
    assert _signature(events.seen) == _signature(recorded)
    left = [e for e in events.seen if e["type"] == "ChannelLeftBridge"]
    assert [e["bridge"]["technology"] for e in left] == [
        "holding_bridge",
        "native_rtp",
        "simple_bridge",
    ]
    assert emu.violations == []


async def test_connected_lines_and_bridge_peers(emu: Emulator, ari: Ari) -> None:
    events = await ari.events()
    first = await emu.place_call("+13125550104", "5550304")
    await events.until("StasisStart")
    await ari.request("POST", f"/ari/channels/{first}/answer")
    _, agent = await ari.request(
        "POST", "/ari/channels", {"endpoint": "PJSIP/2002", "app": "frontdesk", "appArgs": "x"}
    )
    await events.until("StasisStart", channel__id=agent["id"])
    _, mix = await ari.request("POST", "/ari/bridges", {"type": "mixing"})
    await ari.request(
        "POST", f"/ari/bridges/{mix['id']}/addChannel", {"channel": f"{first},{agent['id']}"}
    )
    caller_line = await events.until("ChannelConnectedLine", channel__id=first)
    assert caller_line["channel"]["connected"] == {"name": "Agent 2002", "number": "2002"}
    caller = await emu.channel(first)
    assert caller["variables"]["BRIDGEPEER"] == agent["name"]
    _status, bridge = await ari.request("GET", f"/ari/bridges/{mix['id']}")
    assert bridge["channels"] == [first, agent["id"]]
    assert bridge["technology"] == "native_rtp"


async def test_bridge_errors(emu: Emulator, ari: Ari) -> None:
    assert await ari.request("POST", "/ari/bridges", {"type": "no-such-type"}) == (
        500,
        {"message": "Unable to create bridge. Possible duplicate bridge id '(null)'"},
    )
    _, _bridge = await ari.request("POST", "/ari/bridges", {"type": "mixing", "bridgeId": "b1"})
    assert await ari.request("POST", "/ari/bridges", {"bridgeId": "b1"}) == (
        409,
        {"message": "Bridge with id 'b1' already exists"},
    )
    assert await ari.request("POST", "/ari/bridges/b1/addChannel", {"channel": "nope"}) == (
        400,
        {"message": "Channel not found"},
    )
    assert await ari.request("DELETE", "/ari/bridges/b1/moh") == (
        409,
        {"message": "Bridge isn't playing music on hold"},
    )
    assert await ari.request("GET", "/ari/bridges/b2") == (404, {"message": "Bridge not found"})


async def test_bridge_events_on_ami(emu: Emulator, ari: Ari) -> None:
    ami = await Ami.connect(emu)
    await ami.login()
    events = await ari.events()
    caller = await emu.place_call("+13125550104", "5550304")
    await events.until("StasisStart")
    _, bridge = await ari.request("POST", "/ari/bridges", {"type": "holding", "name": "h"})
    await ari.request("POST", f"/ari/bridges/{bridge['id']}/addChannel", {"channel": caller})
    created = await ami.until("BridgeCreate")
    assert (created["BridgeTechnology"], created["BridgeName"]) == ("holding_bridge", "h")
    entered = await ami.until("BridgeEnter")
    assert (entered["BridgeNumChannels"], entered["Channel"]) == ("1", "PJSIP/trunk-00000000")
    ami.close()


def test_signature_roles() -> None:
    events = [
        {"type": "StasisStart", "channel": {"id": "a"}},
        {"type": "Dial", "peer": {"id": "b"}},
        {"type": "ChannelVarset", "variable": "X", "channel": {"id": "a"}},
    ]
    assert _signature(events) == [
        ("StasisStart", "", "caller"),
        ("Dial", "", "agent"),
        ("ChannelVarset", "X", "caller"),
    ]
