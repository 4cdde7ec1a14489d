"""Inbound trunk calls over real sockets: flow (a) end to end, DTMF, caller ids verbatim."""

from __future__ import annotations

import pytest

from frontdesk.emulator import CallRefused, Emulator
from tests.emulator.helpers import Ami, Ari, call_in_stasis, parse_block, transcript


async def test_flow_a_answer_play_dtmf_caller_hangup(emu: Emulator, ari: Ari) -> None:
    events = await ari.events()
    channel_id = await emu.place_call("+15551230001", "5550100")
    start = await events.next()
    assert start["type"] == "StasisStart"
    assert start["args"] == []
    assert start["channel"]["state"] == "Ring"
    assert start["channel"]["name"] == "PJSIP/trunk-00000000"
    assert start["channel"]["dialplan"] == {
        "context": "from-pstn",
        "exten": "5550100",
        "priority": 4,  # after the admission Gosub and GotoIf
        "app_name": "Stasis",
        "app_data": "frontdesk",
    }
    assert await ari.request("POST", f"/ari/channels/{channel_id}/answer") == (204, None)
    status, playback = await ari.request(
        "POST",
        f"/ari/channels/{channel_id}/play",
        {"media": "sound:hello-world", "playbackId": f"pb-{channel_id}-hello"},
    )
    assert status == 201
    assert playback == {
        "id": f"pb-{channel_id}-hello",
        "media_uri": "sound:hello-world",
        "target_uri": f"channel:{channel_id}",
        "language": "en",
        "state": "queued",
    }
    finished = await events.until("PlaybackFinished")
    assert finished["playback"]["state"] == "done"
    await emu.press(channel_id, "1")
    dtmf = await events.until("ChannelDtmfReceived")
    assert (dtmf["digit"], dtmf["duration_ms"]) == ("1", 280)
    await ari.request("POST", f"/ari/channels/{channel_id}/play", {"media": "digits:1"})
    await events.until("PlaybackFinished")
    await emu.press(channel_id, "#")
    await events.until("ChannelDtmfReceived", digit="#")
    await emu.hangup(channel_id)
    tail = await events.take(7)
    assert [e.get("variable", e["type"]) for e in tail] == [
        "RTPAUDIOQOS",
        "RTPAUDIOQOSJITTER",
        "RTPAUDIOQOSLOSS",
        "RTPAUDIOQOSRTT",
        "RTPAUDIOQOSMES",
        "ChannelHangupRequest",
        "StasisEnd",
    ]
    assert list(tail[5]) == ["type", "timestamp", "channel", "asterisk_id", "application"]
    await events.quiet(0.05)  # no ChannelDestroyed after StasisEnd
    flow_a = transcript("flow_a_inbound_answer_play_dtmf_caller_hangup.jsonl")
    recorded = [r["event"]["type"] for r in flow_a if r["kind"] == "ari_event"]
    assert [e["type"] for e in events.seen] == recorded
    snapshot = await emu.channel(channel_id)
    assert snapshot["media"] == ["sound:hello-world", "digits:1"]
    assert (snapshot["hung_up"], snapshot["hangup_cause"]) == (True, 0)
    assert emu.violations == []


async def test_caller_hangup_on_ami(emu: Emulator, ari: Ari) -> None:
    ami = await Ami.connect(emu)
    await ami.login()
    channel_id, _ = await call_in_stasis(emu, ari)
    await ari.request("POST", f"/ari/channels/{channel_id}/answer")
    await emu.hangup(channel_id)
    request = await ami.until("HangupRequest")
    assert "Cause" not in request
    cdr = await ami.until("Cdr")
    assert (cdr["Disposition"], cdr["LastApplication"], cdr["LastData"]) == (
        "ANSWERED",
        "Stasis",
        "frontdesk",
    )
    hangup = await ami.until("Hangup")
    assert (hangup["Cause"], hangup["Cause-txt"]) == ("0", "Unknown")
    ami.close()


async def test_caller_ids_are_passed_through_verbatim(emu: Emulator, ari: Ari) -> None:
    ami = await Ami.connect(emu)
    await ami.login()
    events = await ari.events()
    name = 'Eve "\\x" ${EXTEN}\r\nEvent: Injected'
    channel_id = await emu.place_call("+1312${X}", "5550100", name)
    start = await events.until("StasisStart")
    assert start["channel"]["caller"] == {"name": name, "number": "+1312${X}"}
    raw = await ami.block()
    while not raw.startswith(b"Event: Newchannel\r\n"):
        raw = await ami.block()
    fields = parse_block(raw)
    assert fields["CallerIDName"] == 'Eve \\"\\\\x\\" ${EXTEN}\\r\\nEvent: Injected'
    assert "Injected" not in raw.decode().replace("\\nEvent: Injected", "")
    assert fields["Uniqueid"] == channel_id
    ami.close()


async def test_press_rejects_non_dtmf(emu: Emulator, ari: Ari) -> None:
    channel_id, _ = await call_in_stasis(emu, ari)
    with pytest.raises(ValueError, match="not DTMF"):
        await emu.press(channel_id, "1x")
    with pytest.raises(KeyError):
        await emu.press("no-such-channel", "1")


async def test_a_did_without_extension_is_refused(emu: Emulator) -> None:
    with pytest.raises(CallRefused, match="no extension"):
        await emu.place_call("+13125550101", "reception")


async def test_ids_count_every_channel(emu: Emulator, ari: Ari) -> None:
    first, _ = await call_in_stasis(emu, ari)
    second = await emu.place_call("+13125550102", "5550101")
    assert first.rsplit(".", 1)[1] == "0"
    assert second.rsplit(".", 1)[1] == "1"
    assert first.startswith("pbx-")
    assert (await emu.channel(second))["name"] == "PJSIP/trunk-00000001"


async def test_app_hangup_with_reason_code(emu: Emulator, ari: Ari) -> None:
    ami = await Ami.connect(emu)
    await ami.login()
    channel_id, events = await call_in_stasis(emu, ari)
    await ari.request("POST", f"/ari/channels/{channel_id}/answer")
    await ari.request("DELETE", f"/ari/channels/{channel_id}", {"reason_code": "17"})
    request = await events.until("ChannelHangupRequest")
    assert (request["cause"], request["soft"]) == (32, True)  # the soft-hangup flag
    assert (await ami.until("SoftHangupRequest"))["Cause"] == "32"
    hangup = await ami.until("Hangup")
    assert (hangup["Cause"], hangup["Cause-txt"]) == ("17", "User busy")
    ami.close()
