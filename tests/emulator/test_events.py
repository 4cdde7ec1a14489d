"""Event values, and shape conformance: every ARI event type and AMI event name the emulator
emits in a broad scenario, that also occurs in the recorded transcripts, has the recorded
shape (ARI: keys in order and JSON value types, recursively; AMI: field names in order)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from frontdesk.emulator import Emulator
from frontdesk.emulator.events import AmiEvent, ari_event, escape_c, line_safe
from frontdesk.emulator.model import Application
from tests.emulator.helpers import Ami, Ari, all_transcripts, field_names


def test_escape_c_like_asterisk() -> None:
    assert escape_c('He said "hi"') == 'He said \\"hi\\"'
    assert escape_c("a\\b\r\n\t'?") == "a\\\\b\\r\\n\\t\\'\\?"
    assert escape_c("José, a=b&c=d; €") == "José, a=b&c=d; €"


def test_line_safe() -> None:
    assert line_safe("x\r\nEvent: Fake") == "x\\r\\nEvent: Fake"


def test_ami_event_encoding() -> None:
    event = AmiEvent("Shutdown", "system", (("Shutdown", "Cleanly"), ("Restart", "False")))
    assert event.encode("lab") == (
        b"Event: Shutdown\r\nPrivilege: system,all\r\nSystemName: lab\r\n"
        b"Shutdown: Cleanly\r\nRestart: False\r\n\r\n"
    )
    listing = AmiEvent("CoreShowChannelsComplete", "", (("ListItems", "0"),), system_name=False)
    assert (
        listing.encode("lab", "7")
        == b"Event: CoreShowChannelsComplete\r\nActionID: 7\r\nListItems: 0\r\n\r\n"
    )


def test_ari_event_key_order_and_copies() -> None:
    event = ari_event(
        "ChannelVarset",
        [("channel", {"id": "c"})],
        ["channel:c", "endpoint:PJSIP/2001"],
        head=[("variable", "X"), ("value", "1")],
    )
    rendered = event.render("app", "02:fc:00:00:00:01")
    assert list(rendered) == [
        "variable",
        "value",
        "type",
        "timestamp",
        "channel",
        "asterisk_id",
        "application",
    ]
    both = Application("app", channel_ids=["c"], endpoint_ids=["PJSIP/2001"])
    assert event.copies_for(both) == 2  # as recorded in flow b
    assert event.copies_for(Application("other")) == 0
    stasis = ari_event("StasisStart", [], ["channel:c", "endpoint:PJSIP/2001"], stasis=True)
    assert stasis.copies_for(both) == 1


# -- conformance ---------------------------------------------------------------------------
def compatible(ours: Any, recorded: Any) -> bool:
    if isinstance(recorded, dict):
        return (
            isinstance(ours, dict)
            and list(ours) == list(recorded)
            and all(compatible(ours[k], recorded[k]) for k in recorded)
        )
    if isinstance(recorded, list):
        if not isinstance(ours, list):
            return False
        return not recorded or all(any(compatible(o, r) for r in recorded) for o in ours)
    return type(ours) is type(recorded)


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return sorted({json.dumps(_shape(v)) for v in value})
    return type(value).__name__


def recorded_ari() -> dict[str, list[dict[str, Any]]]:
    examples: dict[str, dict[str, dict[str, Any]]] = {}
    for record in all_transcripts():
        if record["kind"] == "ari_event":
            event = record["event"]
            examples.setdefault(event["type"], {})[json.dumps(_shape(event))] = event
    return {kind: list(found.values()) for kind, found in examples.items()}


def recorded_ami() -> dict[str, set[tuple[str, ...]]]:
    out: dict[str, set[tuple[str, ...]]] = {}
    for record in all_transcripts():
        if record["kind"] == "ami_event":
            names = tuple(field_names(record["raw"].encode()))
            out.setdefault(record["event"]["Event"], set()).add(names)
    return out


async def _scenario(emu: Emulator, ari: Ari, ami: Ami) -> list[dict[str, Any]]:
    """Drive most of what the emulator can emit."""
    events = await ari.events()
    await ari.request(
        "POST", "/ari/applications/frontdesk/subscription", {"eventSource": "endpoint:PJSIP/2001"}
    )
    await emu.unregister("2001")
    await emu.register("2001")
    caller = await emu.place_call("+13125550101", "5550100")
    await events.until("StasisStart")
    await ari.request("POST", f"/ari/channels/{caller}/answer")
    await ari.request("POST", f"/ari/channels/{caller}/play", {"media": "sound:hello-world"})
    await events.until("PlaybackFinished")
    await emu.press(caller, "1")
    path = f"/ari/channels/{caller}/variable"
    await ari.request("POST", path, {"variable": "LAB", "value": 'say "hi"'})
    await ari.request("POST", path, {"variable": "CALLERID(name)", "value": "José"})
    record = {"name": "r1", "format": "wav", "terminateOn": "#"}
    await ari.request("POST", f"/ari/channels/{caller}/record", record)
    await emu.press(caller, "#")
    await events.until("RecordingFinished")
    _, hold = await ari.request("POST", "/ari/bridges", {"type": "holding"})
    await ari.request("POST", f"/ari/bridges/{hold['id']}/addChannel", {"channel": caller})
    await ari.request("POST", f"/ari/bridges/{hold['id']}/moh")
    await emu.set_phone("2001", answer_after=0.01)
    params = {
        "endpoint": "PJSIP/2001",
        "app": "frontdesk",
        "appArgs": f"agent,{caller}",
        "callerId": "Q <5550200>",
    }
    _, agent = await ari.request("POST", "/ari/channels", params)
    await events.until("StasisStart", channel__id=agent["id"])
    _, mix = await ari.request("POST", "/ari/bridges", {"type": "mixing"})
    await ari.request("POST", f"/ari/bridges/{hold['id']}/removeChannel", {"channel": caller})
    await ari.request(
        "POST", f"/ari/bridges/{mix['id']}/addChannel", {"channel": f"{caller},{agent['id']}"}
    )
    await emu.agent_hangup(agent["id"])
    await events.until("ChannelDestroyed")
    await ari.request("DELETE", f"/ari/channels/{caller}", {"reason_code": "16"})
    await ari.request("DELETE", f"/ari/bridges/{mix['id']}")
    await events.until("BridgeDestroyed")
    await emu.set_phone("2002", answer_after=0.01, reply=486)
    await ari.request("POST", "/ari/channels", {"endpoint": "PJSIP/2002", "app": "frontdesk"})
    await events.until("ChannelDestroyed")
    await emu.set_phone("2002", answer_after=None)
    await ari.request(
        "POST", "/ari/channels", {"endpoint": "PJSIP/2002", "app": "frontdesk", "timeout": "1"}
    )
    await events.until("ChannelDestroyed")
    _, created = await ari.request(
        "POST", "/ari/channels/create", {"endpoint": "Local/wait@lab-local", "app": "frontdesk"}
    )
    await events.until("StasisStart", channel__id=created["id"])
    await ari.request("DELETE", f"/ari/channels/{created['id']}")
    await events.until("ChannelDestroyed")
    replacement = await ari.events()
    await events.until("ApplicationReplaced")
    await replacement.close()
    await asyncio.sleep(0.05)
    return events.seen


async def test_event_shapes_match_the_transcripts(emu: Emulator, ari: Ari) -> None:
    ari_examples, ami_examples = recorded_ari(), recorded_ami()
    ami = await Ami.connect(emu)
    await ami.login()
    emitted = await _scenario(emu, ari, ami)
    checked = set()
    for event in emitted:
        examples = ari_examples.get(event["type"])
        if examples is None:
            continue
        assert any(compatible(event, r) for r in examples), f"{event['type']}: {event}"
        checked.add(event["type"])
    assert checked >= {
        "StasisStart", "StasisEnd", "ChannelStateChange", "ChannelVarset", "ChannelDtmfReceived",
        "PlaybackStarted", "PlaybackFinished", "ChannelHangupRequest", "ChannelDestroyed", "Dial",
        "ChannelEnteredBridge", "ChannelLeftBridge", "BridgeDestroyed", "ChannelConnectedLine",
        "ChannelCallerId", "ChannelCreated", "ChannelDialplan", "EndpointStateChange",
        "PeerStatusChange", "ContactStatusChange", "RecordingStarted", "RecordingFinished",
        "ApplicationReplaced",
    }  # fmt: skip
    blocks = []
    while raw := await _next_block(ami):
        blocks.append(raw)
    seen_ami = set()
    for raw in blocks:
        names = tuple(field_names(raw))
        name = raw.decode().split("\r\n", 1)[0].removeprefix("Event: ")
        if not names or names[0] != "Event" or name not in ami_examples:
            continue
        assert names in ami_examples[name], f"{name}: {names}"
        seen_ami.add(name)
    assert seen_ami >= {
        "Newchannel", "Newstate", "Newexten", "VarSet", "Hangup", "HangupRequest", "SoftHangupRequest",
        "Cdr", "DTMFBegin", "DTMFEnd", "DeviceStateChange", "PeerStatus", "ContactStatus",
        "DialBegin", "DialState", "DialEnd", "BridgeCreate", "BridgeEnter", "BridgeLeave",
        "BridgeDestroy", "NewCallerid", "NewConnectedLine", "SuccessfulAuth", "FullyBooted",
    }  # fmt: skip
    ami.close()


async def _next_block(ami: Ami) -> bytes:
    try:
        return await ami.block(timeout=0.05)
    except TimeoutError:
        return b""
