"""A staff phone's BLIND TRANSFER button (SIP REFER) against the recording made on a real
Asterisk 22.10.1 with frontdesk running (tests/asterisk/recorded/
blind_transfer_from_agent_phone.jsonl): the same ARI events, in the same order, with the
same keys and value types; then the target's other answers (busy, no answer,
unregistered) and the other ways the Local leg ends."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from frontdesk.emulator import Emulator
from frontdesk.emulator.dialplan import default_dialplan
from tests.emulator.conftest import FAST
from tests.emulator.helpers import Ari, Events
from tests.emulator.test_events import compatible

RECORDING = Path(__file__).parents[1] / "asterisk/recorded/blind_transfer_from_agent_phone.jsonl"
LOCAL_NAME = re.compile(r"Local/(\d+)@staff-[0-9a-f]{8};1\Z")


def recorded() -> list[dict[str, Any]]:
    lines = RECORDING.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["event"] for line in lines]


def from_the_transfer(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """From the phone's REFER on (the recording's first ChannelUnhold)."""
    start = next(i for i, e in enumerate(events) if e["type"] == "ChannelUnhold")
    return events[start:]


def role(event: dict[str, Any]) -> str:
    subject = event.get("channel") or event.get("peer") or {}
    name = str(subject.get("name", ""))
    if name.startswith("PJSIP/trunk-"):
        return "caller"
    if name.startswith("Local/"):
        return "local" if name.endswith(";1") else "local;2"
    return "agent" if name else ""


def signature(events: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(e["type"], e.get("variable", ""), role(e)) for e in events]


async def bridged_call(emu: Emulator, ari: Ari, agent_ext: str = "2001") -> tuple[str, str, Events]:
    """What frontdesk's ACD does (as in the recording): a trunk caller, the agent's phone
    originated with `channelId <caller>-agent-1`, both in mixing bridge
    `frontdesk-c-<caller>`. Returns once the bridge has settled."""
    events = await ari.events()
    caller = await emu.place_call("+13125550777", "+13125550010", caller_name="")
    await events.until("StasisStart", channel__id=caller)
    await ari.request("POST", f"/ari/channels/{caller}/answer")
    agent = f"{caller}-agent-1"
    originate = {
        "endpoint": f"PJSIP/{agent_ext}",
        "app": "frontdesk",
        "appArgs": f"agent,{caller}",
        "channelId": agent,
        "callerId": "+13125550777",
        "timeout": "20",
    }
    assert (await ari.request("POST", "/ari/channels", originate))[0] == 200
    await events.until("StasisStart", channel__id=agent)
    bridge = f"frontdesk-c-{caller}"
    await ari.request("POST", "/ari/bridges", {"type": "mixing", "bridgeId": bridge})
    both = {"channel": f"{caller},{agent}"}
    assert (await ari.request("POST", f"/ari/bridges/{bridge}/addChannel", both))[0] == 204
    await settle(events)  # the pair is linked: BRIDGEPEER rounds, connected lines
    return caller, agent, events


async def target_hangs_up_then_frontdesk_ends(
    emu: Emulator, ari: Ari, events: Events, target: str, local: str, caller: str
) -> None:
    """The transfer's target hangs up; frontdesk then hangs the caller up and deletes the
    conversation bridge, as it did in the recordings."""
    await emu.agent_hangup(target)
    await events.until("StasisEnd", channel__id=local)
    await ari.request("DELETE", f"/ari/channels/{caller}", {"reason": "normal"})
    await ari.request("DELETE", f"/ari/bridges/frontdesk-c-{caller}")
    await events.until("BridgeDestroyed")
    await events.quiet(0.05)


def assert_as_recorded(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> None:
    """Types in order; then with every ChannelVarset's variable and whose event it is;
    then event by event: the recorded keys, in order, with the recorded value types."""
    assert [e["type"] for e in ours if e["type"] != "ChannelVarset"] == [
        e["type"] for e in theirs if e["type"] != "ChannelVarset"
    ]
    assert signature(ours) == signature(theirs)
    for mine, real in zip(ours, theirs, strict=True):
        assert compatible(mine, real), (mine, real)


async def settle(events: Events) -> None:
    """Read every event already sent (the emulator sends them before its REST reply)."""
    while True:
        try:
            await events.next(0.05)
        except TimeoutError:
            return


async def transfer_route(ari: Ari, channel: str, body: Any) -> tuple[int, Any]:
    async with ari.session.post(
        f"{ari.base}/_emulator/channels/{channel}/transfer", json=body
    ) as response:
        return response.status, await response.json()


async def test_blind_transfer_answered_then_target_hangs_up_as_recorded(
    emu: Emulator, ari: Ari
) -> None:
    caller, agent, events = await bridged_call(emu, ari)
    before = len(events.seen)
    status, reply = await transfer_route(ari, agent, {"to": "2002"})
    assert status == 200
    local, target = reply["local_channel_id"], reply["target_channel_id"]
    assert LOCAL_NAME.match(reply["local_channel"])
    assert reply["target_channel"].startswith("PJSIP/2002-")
    start = await events.until("StasisStart", channel__id=local)
    # What frontdesk did in the recording: hang the swapped-out agent channel up...
    await ari.request("DELETE", f"/ari/channels/{agent}", {"reason": "normal"})
    await events.until("Dial", dialstatus="ANSWER")
    # ...the target talks, then hangs up; frontdesk then hangs the caller up.
    await target_hangs_up_then_frontdesk_ends(emu, ari, events, target, local, caller)
    ours = events.seen[before:]
    assert_as_recorded(ours, from_the_transfer(recorded()))

    # The Local channel enters the app in the agent's place: args [], replace_channel.
    assert start["args"] == []
    assert start["replace_channel"]["id"] == agent
    assert start["channel"]["state"] == "Down"
    assert LOCAL_NAME.match(start["channel"]["name"])
    assert start["channel"]["dialplan"] == {
        "context": "staff",
        "exten": "2002",
        "priority": 1,
        "app_name": "Stasis",
        "app_data": "frontdesk",
    }
    swap = [e for e in ours if e["type"] in ("ChannelLeftBridge", "ChannelEnteredBridge")][:2]
    assert [(e["type"], e["channel"]["id"], e["bridge"]["channels"]) for e in swap] == [
        ("ChannelLeftBridge", agent, [caller]),
        ("ChannelEnteredBridge", local, [caller, local]),
    ]
    (blind,) = [e for e in ours if e["type"] == "BridgeBlindTransfer"]
    assert (blind["channel"]["id"], blind["transferee"]["id"]) == (agent, caller)
    assert blind["replace_channel"]["id"] == local
    assert blind["replace_channel"]["dialplan"]["app_name"] == ""  # the snapshot of before
    assert (blind["exten"], blind["context"], blind["result"], blind["is_external"]) == (
        "2002",
        "staff",
        "Success",
        True,
    )
    assert blind["bridge"]["id"] == f"frontdesk-c-{caller}"
    assert blind["bridge"]["channels"] == [caller, agent]  # as recorded: before the swap
    states = [e["channel"]["state"] for e in ours if e["type"] == "ChannelStateChange"]
    assert states == ["Ringing", "Up"]
    ringing = next(e for e in ours if e["type"] == "ChannelStateChange")
    assert ringing["channel"]["caller"] == {"name": "Agent 2002", "number": "2002"}
    ending = [(e["type"], e.get("variable", "")) for e in ours if role(e) == "local"][-6:]
    assert ending == [
        ("ChannelVarset", "CHANLOCALSTATUS"),
        ("ChannelHangupRequest", ""),
        ("ChannelVarset", "BRIDGEPEER"),
        ("ChannelVarset", "BRIDGEPVTCALLID"),
        ("ChannelLeftBridge", ""),
        ("StasisEnd", ""),
    ]
    hangup = next(e for e in ours if e["type"] == "ChannelHangupRequest" and role(e) == "local")
    assert (hangup["cause"], "soft" in hangup) == (16, False)
    local_status = next(e for e in ours if e.get("variable") == "CHANLOCALSTATUS")
    assert local_status["value"] == "ANSWER"
    # Neither Local;2 nor the target phone's channel ever reach the app; nor any
    # ChannelDestroyed (the agent channel is no longer the app's own after the swap).
    subjects = {(e.get("channel") or e.get("peer") or {}).get("id") for e in ours}
    assert subjects == {caller, agent, local, None}  # None: BridgeDestroyed
    assert "ChannelDestroyed" not in {e["type"] for e in ours}
    assert (await emu.channel(target))["hung_up"]
    assert emu.violations == []


async def test_python_method_and_busy_target(emu: Emulator, ari: Ari) -> None:
    await emu.set_phone("2002", answer_after=0.02, reply=486)
    caller, agent, events = await bridged_call(emu, ari)
    reply = await emu.transfer(agent, "2002")
    local, target = reply["local_channel_id"], reply["target_channel_id"]
    assert local is not None
    assert target is not None
    await events.until("StasisStart", channel__id=local)
    status = await events.until("ChannelVarset", channel__id=local, variable="CHANLOCALSTATUS")
    assert status["value"] == "BUSY"
    request = await events.next()
    assert (request["type"], request["cause"], request["channel"]["id"]) == (
        "ChannelHangupRequest",
        17,
        local,
    )
    await events.until("StasisEnd", channel__id=local)
    snapshot = await emu.channel(target)
    assert (snapshot["hung_up"], snapshot["hangup_cause"]) == (True, 17)
    # The caller is still in the app and the bridge; the agent channel too (out of it).
    assert (await emu.channel(caller))["bridge"] == f"frontdesk-c-{caller}"
    agent_now = await emu.channel(agent)
    assert (agent_now["in_stasis"], agent_now["bridge"], agent_now["hung_up"]) == (
        True,
        None,
        False,
    )
    await events.quiet(0.05)
    assert emu.violations == []


async def test_nobody_answers_until_the_dial_timeout(emu: Emulator, ari: Ari) -> None:
    await emu.set_phone("2002", answer_after=None)  # rings until Dial's 20 s (x 0.01)
    _caller, agent, events = await bridged_call(emu, ari)
    reply = await emu.transfer(agent, "2002")
    local = reply["local_channel_id"]
    await events.until("ChannelStateChange", channel__id=local)
    status = await events.until("ChannelVarset", channel__id=local, variable="CHANLOCALSTATUS")
    assert status["value"] == "NOANSWER"
    request = await events.until("ChannelHangupRequest", channel__id=local)
    assert request["cause"] == 19
    await events.until("StasisEnd", channel__id=local)


async def test_unregistered_target_ends_the_local_leg_at_once(emu: Emulator, ari: Ari) -> None:
    _caller, agent, events = await bridged_call(emu, ari)
    reply = await emu.transfer(agent, "2003")  # 2003 exists but is not registered
    assert reply["target_channel_id"] is None
    local = reply["local_channel_id"]
    after: list[dict[str, Any]] = []
    while not (after and after[-1]["type"] == "StasisEnd" and role(after[-1]) == "local"):
        after.append(await events.next())
    kinds = [(e["type"], e.get("variable", "")) for e in after if role(e) == "local"]
    assert ("ChannelStateChange", "") not in kinds  # never rang
    assert kinds[-6:] == [
        ("ChannelVarset", "CHANLOCALSTATUS"),
        ("ChannelHangupRequest", ""),
        ("ChannelVarset", "BRIDGEPEER"),
        ("ChannelVarset", "BRIDGEPVTCALLID"),
        ("ChannelLeftBridge", ""),
        ("StasisEnd", ""),
    ]
    status = next(e for e in after if e.get("variable") == "CHANLOCALSTATUS")
    assert status["value"] == "CHANUNAVAIL"
    request = next(e for e in after if e["type"] == "ChannelHangupRequest")
    assert (request["channel"]["id"], request["cause"]) == (local, 3)


@pytest.fixture
async def long_ring() -> AsyncIterator[tuple[Emulator, Ari]]:
    """An emulator whose staff extensions ring for 10 s (Dial's 1000 s x time_scale)."""
    dialplan = default_dialplan("frontdesk")
    dialplan["staff"] = {"_200X": [("Dial", "PJSIP/${EXTEN},1000"), ("Hangup", "")]}
    async with (
        Emulator(staff=["2001", "2002"], dialplan=dialplan, **FAST) as emu,  # type: ignore[arg-type]
        aiohttp.ClientSession() as session,
    ):
        yield emu, Ari(emu, session)


async def test_app_hangs_the_local_leg_up_and_the_target_stops_ringing(
    long_ring: tuple[Emulator, Ari],
) -> None:
    """What frontdesk does when the caller hangs up during the transfer."""
    emu, ari = long_ring
    await emu.set_phone("2002", answer_after=None)
    caller, agent, events = await bridged_call(emu, ari)
    reply = await emu.transfer(agent, "2002")
    local, target = reply["local_channel_id"], reply["target_channel_id"]
    await events.until("Dial", peer__id=local, dialstatus="RINGING")
    await emu.hangup(caller)
    await events.until("StasisEnd", channel__id=caller)
    assert (await ari.request("DELETE", f"/ari/channels/{local}", {"reason": "normal"}))[0] == 204
    request = await events.until("ChannelHangupRequest", channel__id=local)
    assert (request["cause"], request["soft"]) == (32, True)
    await events.until("StasisEnd", channel__id=local)
    await events.quiet(0.05)  # no ChannelDestroyed: not the app's own channel
    assert target is not None
    assert (await emu.channel(target))["hung_up"]
    local2 = next(c for c in emu.pbx.history.values() if c.name.endswith(";2"))
    assert local2.destroyed
    assert not emu.pbx.history[agent].destroyed  # nobody has hung the agent channel up yet
    assert emu.violations == []


async def test_hangup_route_on_the_local_channel_is_the_target_hanging_up(
    emu: Emulator, ari: Ari
) -> None:
    _caller, agent, events = await bridged_call(emu, ari)
    reply = await emu.transfer(agent, "2002")
    local, target = reply["local_channel_id"], reply["target_channel_id"]
    await events.until("ChannelStateChange", channel__id=local, channel__state="Up")
    async with ari.session.post(f"{ari.base}/_emulator/channels/{local}/hangup") as r:
        assert r.status == 200
    status = await events.until("ChannelVarset", channel__id=local, variable="CHANLOCALSTATUS")
    assert status["value"] == "ANSWER"
    request = await events.next()
    assert (request["type"], request["cause"]) == ("ChannelHangupRequest", 16)
    await events.until("StasisEnd", channel__id=local)
    assert target is not None
    assert (await emu.channel(target))["hung_up"]


async def test_continue_after_a_failed_transfer_leaves_the_bridge_first(
    emu: Emulator, ari: Ari
) -> None:
    """frontdesk sends a caller whose transfer nobody took to `frontdesk-fallback`."""
    await emu.set_phone("2002", answer_after=0.01, reply=486)
    caller, agent, events = await bridged_call(emu, ari)
    local = (await emu.transfer(agent, "2002"))["local_channel_id"]
    await events.until("StasisEnd", channel__id=local)
    target = {"context": "frontdesk-fallback", "extension": "s", "priority": "1"}
    assert (await ari.request("POST", f"/ari/channels/{caller}/continue", target))[0] == 204
    left = await events.until("ChannelLeftBridge", channel__id=caller)
    assert left["bridge"]["channels"] == []
    assert (await events.next())["type"] == "StasisEnd"
    snapshot = await emu.channel(caller)
    assert snapshot["continued_to"]["context"] == "frontdesk-fallback"
    assert (snapshot["bridge"], snapshot["in_stasis"]) == (None, False)
    while not (snapshot := await emu.channel(caller))["hung_up"]:
        await events.quiet(0.02)
    assert snapshot["media"][-2:] == [
        "sound:frontdesk/emergency-notice",
        "sound:frontdesk/fallback-voicemail",
    ]
    assert emu.violations == []


async def test_transfer_errors(emu: Emulator, ari: Ari) -> None:
    caller, agent, _events = await bridged_call(emu, ari)
    assert (await transfer_route(ari, "nope", {"to": "2002"}))[0] == 404
    assert (await transfer_route(ari, agent, {"to": "9999"}))[0] == 404  # no such extension
    assert (await transfer_route(ari, agent, {}))[0] == 400
    assert (await transfer_route(ari, agent, {"to": True}))[0] == 400
    await ari.request(
        "POST", f"/ari/bridges/frontdesk-c-{caller}/removeChannel", {"channel": agent}
    )
    status, body = await transfer_route(ari, agent, {"to": "2002"})
    assert status == 400
    assert "bridge" in body["error"]
    assert not any(c.name.startswith("Local/") for c in emu.pbx.history.values())
