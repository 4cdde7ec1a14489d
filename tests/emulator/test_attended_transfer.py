"""A staff phone's ATTENDED transfer (consult a colleague, then SIP REFER with Replaces)
against the recording made on a real Asterisk 22.10.1 with frontdesk running
(tests/asterisk/recorded/attended_transfer_from_agent_phone.jsonl): the same ARI events, in
the same order, with the same keys and value types; then the other ways the Local leg ends
and the route's errors."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from frontdesk.emulator import Emulator
from frontdesk.emulator.attended import SWAP_DELAY
from tests.emulator.helpers import Ari, Events
from tests.emulator.test_transfer import (
    assert_as_recorded,
    bridged_call,
    role,
    target_hangs_up_then_frontdesk_ends,
)

RECORDING = Path(__file__).parents[1] / "asterisk/recorded/attended_transfer_from_agent_phone.jsonl"
LOCAL_NAME = re.compile(r"Local/_attended@transfer-[0-9a-f]{8};1\Z")


def recorded() -> list[dict[str, Any]]:
    lines = RECORDING.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["event"] for line in lines]


def from_the_refer(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """From the phone's REFER on (the recording's first ChannelUnhold)."""
    start = next(i for i, e in enumerate(events) if e["type"] == "ChannelUnhold")
    return events[start:]


async def attended_route(ari: Ari, channel: str, body: Any) -> tuple[int, Any]:
    async with ari.session.post(
        f"{ari.base}/_emulator/channels/{channel}/attended-transfer", json=body
    ) as response:
        return response.status, await response.json()


async def refer_then_swap(events: Events) -> None:
    """The REFER's three events at once, then nothing until the swap (recorded: 0.5 s)."""
    refer = await events.take(3)
    assert [(e["type"], e.get("variable", ""), role(e)) for e in refer] == [
        ("ChannelUnhold", "", "agent"),
        ("ChannelVarset", "ATTENDEDTRANSFER", "agent"),
        ("ChannelVarset", "ATTENDEDTRANSFER", "caller"),
    ]
    await events.quiet(SWAP_DELAY * 0.6)


async def test_attended_transfer_then_the_colleague_hangs_up_as_recorded(
    emu: Emulator, ari: Ari
) -> None:
    caller, agent, events = await bridged_call(emu, ari)
    before = len(events.seen)
    status, reply = await attended_route(ari, agent, {"to": "2002"})
    assert status == 200
    local, target = reply["local_channel_id"], reply["target_channel_id"]
    assert LOCAL_NAME.match(reply["local_channel"])
    assert reply["target_channel"].startswith("PJSIP/2002-")
    # The consultation is under way, outside the app: the colleague is on the line.
    colleague = await emu.channel(target)
    assert (colleague["state"], colleague["in_stasis"], colleague["bridge"]) == ("Up", False, None)
    await refer_then_swap(events)
    start = await events.until("StasisStart", channel__id=local)
    await events.until("BridgeAttendedTransfer")
    # Swapped out, the agent's channel stays in the app (in no bridge)...
    snapshot = await emu.channel(agent)
    assert (snapshot["in_stasis"], snapshot["bridge"], snapshot["hung_up"]) == (True, None, False)
    # ...until frontdesk hangs it up, as in the recording.
    await ari.request("DELETE", f"/ari/channels/{agent}", {"reason": "normal"})
    await events.until("StasisEnd", channel__id=agent)
    # The colleague talks, then hangs up; frontdesk then hangs the caller up.
    await target_hangs_up_then_frontdesk_ends(emu, ari, events, target, local, caller)
    ours = events.seen[before:]
    theirs = from_the_refer(recorded())
    assert_as_recorded(ours, theirs)

    # `Local/_attended@transfer-…;1` enters the app in the agent's place, Down, with the
    # colleague's caller id.
    assert start["args"] == []
    assert start["replace_channel"]["id"] == agent
    assert start["channel"]["state"] == "Down"
    assert start["channel"]["caller"] == {"name": "Agent 2002", "number": "2002"}
    assert start["channel"]["dialplan"] == {
        "context": "transfer",
        "exten": "_attended",
        "priority": 1,
        "app_name": "Stasis",
        "app_data": "frontdesk",
    }
    swap = [e for e in ours if e["type"] in ("ChannelLeftBridge", "ChannelEnteredBridge")][:2]
    assert [(e["type"], e["channel"]["id"], e["bridge"]["channels"]) for e in swap] == [
        ("ChannelLeftBridge", agent, [caller]),
        ("ChannelEnteredBridge", local, [caller, local]),
    ]
    # Up at once (the colleague already answered), as Dial ANSWER with no dialstring.
    states = [e["channel"]["state"] for e in ours if e["type"] == "ChannelStateChange"]
    assert states == ["Up"]
    (dial,) = [e for e in ours if e["type"] == "Dial"]
    assert (dial["peer"]["id"], dial["dialstatus"], dial["dialstring"]) == (local, "ANSWER", "")
    assert "caller" not in dial

    (xfer,) = [e for e in ours if e["type"] == "BridgeAttendedTransfer"]
    (real,) = [e for e in theirs if e["type"] == "BridgeAttendedTransfer"]
    assert list(xfer) == list(real)
    channel_keys, bridge_keys = list(start["channel"]), list(swap[0]["bridge"])
    snapshots = (
        "transferer_first_leg",
        "transferer_second_leg",
        "transferee",
        "transfer_target",
        "destination_link_first_leg",
        "destination_link_second_leg",
    )
    for key in snapshots:
        assert list(xfer[key]) == list(real[key]) == channel_keys, key
    for key in ("transferer_first_leg_bridge", "transferer_second_leg_bridge"):
        assert list(xfer[key]) == list(real[key]) == bridge_keys, key
    assert (xfer["result"], xfer["is_external"], xfer["destination_type"]) == (
        "Success",
        False,
        "link",
    )
    assert (real["result"], real["is_external"], real["destination_type"]) == (
        "Success",
        False,
        "link",
    )
    assert xfer["transferer_first_leg"]["id"] == agent
    assert xfer["transferee"]["id"] == caller
    assert xfer["transfer_target"]["id"] == target
    assert xfer["transfer_target"]["name"] == reply["target_channel"]
    assert xfer["transfer_target"]["dialplan"]["app_name"] == "AppDial"
    second = xfer["transferer_second_leg"]
    assert second["name"].startswith("PJSIP/2001-")
    assert second["id"] not in (agent, caller, local, target)
    assert (second["state"], second["dialplan"]["exten"], second["dialplan"]["app_data"]) == (
        "Up",
        "2002",
        "PJSIP/2002,20",
    )
    first_bridge = xfer["transferer_first_leg_bridge"]
    assert first_bridge["id"] == f"frontdesk-c-{caller}"
    assert (first_bridge["channels"], first_bridge["technology"]) == ([caller, agent], "native_rtp")
    second_bridge = xfer["transferer_second_leg_bridge"]
    assert (second_bridge["bridge_class"], second_bridge["creator"]) == ("basic", "")
    assert second_bridge["channels"] == [second["id"], target]
    assert xfer["destination_link_first_leg"]["id"] == local
    assert xfer["destination_link_first_leg"]["state"] == "Up"
    link2 = xfer["destination_link_second_leg"]
    assert link2["name"] == reply["local_channel"][:-1] + "2"
    assert (link2["state"], link2["dialplan"]["app_name"]) == ("Up", "")
    assert xfer["transferee"]["connected"] != start["channel"]["caller"]  # before the swap
    # The caller's connected line becomes the colleague.
    connected = [e for e in ours if e["type"] == "ChannelConnectedLine" and role(e) == "caller"]
    assert connected[-1]["channel"]["connected"] == {"name": "Agent 2002", "number": "2002"}

    # The agent: RTP QoS, the hang-up frontdesk asked for, StasisEnd; no ChannelDestroyed.
    agent_end = [e for e in ours if role(e) == "agent" and e["type"] != "ChannelVarset"][-2:]
    assert [e["type"] for e in agent_end] == ["ChannelHangupRequest", "StasisEnd"]
    assert (agent_end[0]["cause"], agent_end[0]["soft"]) == (32, True)
    # The colleague hung up: `;1` ends with cause 16, no CHANLOCALSTATUS (`;2` ran no Dial).
    ending = [(e["type"], e.get("variable", "")) for e in ours if role(e) == "local"][-5:]
    assert ending == [
        ("ChannelHangupRequest", ""),
        ("ChannelVarset", "BRIDGEPEER"),
        ("ChannelVarset", "BRIDGEPVTCALLID"),
        ("ChannelLeftBridge", ""),
        ("StasisEnd", ""),
    ]
    hangup = next(e for e in ours if e["type"] == "ChannelHangupRequest" and role(e) == "local")
    assert (hangup["cause"], "soft" in hangup) == (16, False)
    assert not [e for e in ours if e.get("variable") == "CHANLOCALSTATUS"]
    # The consultation call, `;2` and the colleague's channel never reach the app; nor any
    # ChannelDestroyed.
    subjects = {(e.get("channel") or e.get("peer") or {}).get("id") for e in ours}
    assert subjects == {caller, agent, local, None}  # None: BridgeAttendedTransfer, -Destroyed
    assert "ChannelDestroyed" not in {e["type"] for e in ours}
    history = emu.pbx.history
    assert history[second["id"]].destroyed  # Asterisk hung the consultation call up
    assert history[link2["id"]].destroyed
    assert (await emu.channel(target))["hung_up"]
    assert emu.violations == []


async def test_hangup_route_on_the_local_channel_is_the_colleague_hanging_up(
    emu: Emulator, ari: Ari
) -> None:
    _caller, agent, events = await bridged_call(emu, ari)
    reply = await emu.attended_transfer(agent, "2002")
    local, target = reply["local_channel_id"], reply["target_channel_id"]
    await events.until("BridgeAttendedTransfer")
    async with ari.session.post(f"{ari.base}/_emulator/channels/{local}/hangup") as r:
        assert r.status == 200
    request = await events.next()
    assert (request["type"], request["channel"]["id"], request["cause"]) == (
        "ChannelHangupRequest",
        local,
        16,
    )
    await events.until("StasisEnd", channel__id=local)
    snapshot = await emu.channel(target)
    assert (snapshot["hung_up"], snapshot["hangup_cause"]) == (True, 0)  # the colleague's BYE
    # The agent channel is still in the app: nobody has hung it up yet.
    assert (await emu.channel(agent))["in_stasis"]
    assert emu.violations == []


async def test_the_app_hanging_the_local_channel_up_hangs_the_colleague_up(
    emu: Emulator, ari: Ari
) -> None:
    """What frontdesk does when the caller hangs up after the transfer."""
    caller, agent, events = await bridged_call(emu, ari)
    reply = await emu.attended_transfer(agent, "2002")
    local, target = reply["local_channel_id"], reply["target_channel_id"]
    await events.until("BridgeAttendedTransfer")
    await emu.hangup(caller)
    await events.until("StasisEnd", channel__id=caller)
    assert (await ari.request("DELETE", f"/ari/channels/{local}", {"reason": "normal"}))[0] == 204
    request = await events.until("ChannelHangupRequest", channel__id=local)
    assert (request["cause"], request["soft"]) == (32, True)
    await events.until("StasisEnd", channel__id=local)
    await events.quiet(0.05)
    assert (await emu.channel(target))["hung_up"]
    local2 = next(c for c in emu.pbx.history.values() if c.name.endswith(";2"))
    assert local2.destroyed
    assert not emu.pbx.history[agent].destroyed
    assert emu.violations == []


async def test_caller_gone_before_the_swap_fails_the_transfer(emu: Emulator, ari: Ari) -> None:
    """Not recorded (best guess): the caller hangs up between the REFER and the swap. The
    Local channel never reaches the app; the consultation goes on outside it."""
    caller, agent, events = await bridged_call(emu, ari)
    reply = await emu.attended_transfer(agent, "2002")
    local, target = reply["local_channel_id"], reply["target_channel_id"]
    await events.take(3)  # the REFER's
    await emu.hangup(caller)
    await events.until("StasisEnd", channel__id=caller)
    await events.quiet(SWAP_DELAY * 1.5)
    assert emu.pbx.history[local].destroyed
    assert not (await emu.channel(local))["in_stasis"]
    colleague = await emu.channel(target)
    assert (colleague["hung_up"], colleague["state"]) == (False, "Up")
    snapshot = await emu.channel(agent)
    assert (snapshot["in_stasis"], snapshot["hung_up"]) == (True, False)
    await emu.agent_hangup(target)  # the colleague ends the consultation: so does the agent's
    second = next(c for c in emu.pbx.history.values() if c.dialplan.app_name == "Dial")
    assert second.destroyed
    assert emu.violations == []


async def test_attended_transfer_errors(emu: Emulator, ari: Ari) -> None:
    caller, agent, _events = await bridged_call(emu, ari)
    assert (await attended_route(ari, "nope", {"to": "2002"}))[0] == 404
    assert (await attended_route(ari, agent, {"to": "9999"}))[0] == 404  # no such extension
    assert (await attended_route(ari, agent, {}))[0] == 400
    assert (await attended_route(ari, agent, {"to": True}))[0] == 400
    status, body = await attended_route(ari, agent, {"to": "2003"})  # not registered
    assert status == 400
    assert "PJSIP/2003" in body["error"]
    assert (await attended_route(ari, caller, {"to": "2002"}))[0] == 400  # the trunk's channel
    await ari.request(
        "POST", f"/ari/bridges/frontdesk-c-{caller}/removeChannel", {"channel": agent}
    )
    status, body = await attended_route(ari, agent, {"to": "2002"})
    assert status == 400
    assert "bridge" in body["error"]
    names = [c.name for c in emu.pbx.history.values()]
    assert not [n for n in names if n.startswith(("Local/", "PJSIP/2002-"))]
    assert len([n for n in names if n.startswith("PJSIP/2001-")]) == 1
    assert emu.violations == []
