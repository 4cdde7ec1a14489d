"""Playbacks (several media in one playback, queueing, stop) and recordings (flows f/f2)."""

from __future__ import annotations

import asyncio
import wave
from io import BytesIO
from urllib.parse import quote

from frontdesk.emulator import Emulator
from tests.emulator.helpers import Ari, call_in_stasis, transcript


async def test_several_media_are_one_playback(emu: Emulator, ari: Ari) -> None:
    channel_id, events = await call_in_stasis(emu, ari)
    status, body = await ari.request(
        "POST",
        f"/ari/channels/{channel_id}/play/pb-1",
        {"media": "sound:a,sound:b", "lang": "es"},
    )
    assert status == 201
    assert body == {
        "id": "pb-1",
        "media_uri": "sound:a",
        "next_media_uri": "sound:b",
        "target_uri": f"channel:{channel_id}",
        "language": "es",
        "state": "queued",
    }
    got = await events.take(4)
    assert [(e["type"], e["playback"]["media_uri"], e["playback"]["state"]) for e in got] == [
        ("PlaybackStarted", "sound:a", "playing"),
        ("PlaybackContinuing", "sound:a", "continuing"),
        ("PlaybackStarted", "sound:b", "playing"),
        ("PlaybackFinished", "sound:b", "done"),
    ]
    assert "next_media_uri" not in got[3]["playback"]
    assert (await emu.channel(channel_id))["media"] == ["sound:a", "sound:b"]


async def test_repeated_media_parameters_and_queueing(emu: Emulator, ari: Ari) -> None:
    channel_id, events = await call_in_stasis(emu, ari)
    path = f"/ari/channels/{channel_id}/play"
    await ari.raw("POST", path, "media=sound:one&media=sound:two&playbackId=p1")
    await ari.request("POST", path, {"media": "sound:three", "playbackId": "p2"})
    kinds = [(e["type"], e["playback"]["id"]) for e in await events.take(6)]
    assert kinds == [
        ("PlaybackStarted", "p1"),
        ("PlaybackContinuing", "p1"),
        ("PlaybackStarted", "p1"),
        ("PlaybackFinished", "p1"),
        ("PlaybackStarted", "p2"),
        ("PlaybackFinished", "p2"),
    ]


async def test_stop_a_playback(emu: Emulator, ari: Ari) -> None:
    emu.pbx.config.media_durations["sound:long"] = 5.0
    channel_id, events = await call_in_stasis(emu, ari)
    await ari.request(
        "POST", f"/ari/channels/{channel_id}/play", {"media": "sound:long", "playbackId": "p"}
    )
    await events.until("PlaybackStarted")
    status, body = await ari.request("GET", "/ari/playbacks/p")
    assert (status, body["state"]) == (200, "playing")
    assert (await ari.request("DELETE", "/ari/playbacks/p"))[0] == 204
    finished = await events.until("PlaybackFinished")
    assert finished["playback"]["state"] == "done"
    assert await ari.request("GET", "/ari/playbacks/p") == (404, {"message": "Playback not found"})


async def test_hangup_during_playback(emu: Emulator, ari: Ari) -> None:
    emu.pbx.config.media_durations["sound:long"] = 5.0
    channel_id, events = await call_in_stasis(emu, ari)
    await ari.request("POST", f"/ari/channels/{channel_id}/play", {"media": "sound:long"})
    await events.until("PlaybackStarted")
    await emu.hangup(channel_id)
    kinds = [e["type"] for e in await events.take(3)]
    assert kinds == ["ChannelHangupRequest", "PlaybackFinished", "StasisEnd"]


async def test_play_needs_stasis(emu: Emulator, ari: Ari) -> None:
    assert await ari.request("POST", "/ari/channels/nope/play", {"media": "sound:x"}) == (
        404,
        {"message": "Channel not found"},
    )


async def test_bridge_playback(emu: Emulator, ari: Ari) -> None:
    channel_id, events = await call_in_stasis(emu, ari)
    _, bridge = await ari.request("POST", "/ari/bridges", {"type": "mixing"})
    await ari.request("POST", f"/ari/bridges/{bridge['id']}/addChannel", {"channel": channel_id})
    status, body = await ari.request(
        "POST", f"/ari/bridges/{bridge['id']}/play", {"media": "sound:x"}
    )
    assert (status, body["target_uri"]) == (201, f"bridge:{bridge['id']}")
    finished = await events.until("PlaybackFinished")
    assert finished["playback"]["target_uri"] == f"bridge:{bridge['id']}"


RECORD = {
    "name": "vm-13125550102",
    "format": "wav",
    "maxDurationSeconds": "5",
    "beep": "true",
    "ifExists": "overwrite",
    "terminateOn": "#",
}


async def test_flow_f_record_terminated_by_pound(emu: Emulator, ari: Ari) -> None:
    channel_id, events = await call_in_stasis(emu, ari, "+13125550102", "5550302")
    await ari.request("POST", f"/ari/channels/{channel_id}/answer")
    emu.pbx.config.time_scale = 1.0  # maxDurationSeconds=5 must not end it first
    status, body = await ari.request("POST", f"/ari/channels/{channel_id}/record", RECORD)
    assert (status, body) == (
        201,
        {
            "name": RECORD["name"],
            "format": "wav",
            "state": "queued",
            "target_uri": f"channel:{channel_id}",
        },
    )
    started = await events.until("RecordingStarted")
    assert started["recording"]["state"] == "recording"
    status, live = await ari.request("GET", f"/ari/recordings/live/{RECORD['name']}")
    assert (status, live["state"]) == (200, "recording")
    await emu.press(channel_id, "#")
    dtmf, finished = await events.take(2)
    assert (dtmf["type"], dtmf["digit"]) == ("ChannelDtmfReceived", "#")
    assert finished["type"] == "RecordingFinished"
    assert list(finished["recording"]) == ["name", "format", "state", "target_uri", "duration"]
    assert finished["recording"]["state"] == "done"
    assert await ari.request("GET", f"/ari/recordings/live/{RECORD['name']}") == (
        404,
        {"message": "Recording not found"},
    )
    assert await ari.request("GET", f"/ari/recordings/stored/{RECORD['name']}") == (
        200,
        {"name": RECORD["name"], "format": "wav"},
    )
    async with ari.session.get(
        f"{ari.base}/ari/recordings/stored/{RECORD['name']}/file",
        headers={"Authorization": "Basic ZnJvbnRkZXNrOnNlY3JldA=="},
    ) as response:
        assert response.content_type == "audio/wav"
        with wave.open(BytesIO(await response.read())) as wav:
            assert (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) == (8000, 2, 1)
    recorded = [
        r["event"]["type"]
        for r in transcript("flow_f_record_terminate_on_pound.jsonl")
        if r["kind"] == "ari_event"
    ]
    await ari.request("DELETE", f"/ari/channels/{channel_id}")
    await events.until("StasisEnd")
    assert [e["type"] for e in events.seen if e["type"] != "PlaybackFinished"] == recorded


async def test_flow_f2_record_max_duration(emu: Emulator, ari: Ari) -> None:
    channel_id, events = await call_in_stasis(emu, ari, "+13125550102", "5550312")
    await ari.request("POST", f"/ari/channels/{channel_id}/answer")
    await ari.request("POST", f"/ari/channels/{channel_id}/record", RECORD)
    await events.until("RecordingStarted")
    finished = await events.until("RecordingFinished")  # 5 s x time_scale 0.01
    assert finished["recording"]["duration"] == 5
    await emu.press(channel_id, "#")
    await events.until("ChannelDtmfReceived")  # a later # is just a digit
    await events.quiet(0.03)


async def test_caller_hangup_ends_the_recording_and_keeps_it(emu: Emulator, ari: Ari) -> None:
    """As res_stasis_recording: the record command returns on hang-up, the file is kept
    and RecordingFinished (done) is published before the Stasis loop ends (StasisEnd)."""
    channel_id, events = await call_in_stasis(emu, ari, "+13125550102", "5550302")
    await ari.request("POST", f"/ari/channels/{channel_id}/answer")
    name = f"vm/box-1/{channel_id}"  # a name with directories, as frontdesk's
    await ari.request("POST", f"/ari/channels/{channel_id}/record", {**RECORD, "name": name})
    await events.until("RecordingStarted")
    await asyncio.sleep(0.03)  # 3 s of message at time_scale 0.01
    seen = len(events.seen)
    await emu.hangup(channel_id)
    await events.until("StasisEnd")
    after = [e for e in events.seen[seen:] if e["type"] != "ChannelVarset"]  # RTP QoS
    got = [e["type"] for e in after]
    assert got == ["ChannelHangupRequest", "RecordingFinished", "StasisEnd"]
    finished = after[1]["recording"]
    assert (finished["name"], finished["state"]) == (name, "done")
    assert finished["duration"] >= 2
    stored = f"/ari/recordings/stored/{quote(name, safe='')}"  # one segment: / as %2F
    assert await ari.request("GET", stored) == (200, {"name": name, "format": "wav"})
    assert await ari.request("DELETE", stored) == (204, None)
    assert await ari.request("GET", stored) == (404, {"message": "Recording not found"})
    unquoted = f"/ari/recordings/stored/{name}"
    assert await ari.request("GET", unquoted) == (404, {"message": "Resource not found"})


async def test_recording_errors(emu: Emulator, ari: Ari) -> None:
    channel_id, _ = await call_in_stasis(emu, ari)
    path = f"/ari/channels/{channel_id}/record"
    assert await ari.request("POST", path, {**RECORD, "format": "mp9"}) == (
        422,
        {"message": "specified format is unknown on this system"},
    )
    assert await ari.request("POST", path, {**RECORD, "maxDurationSeconds": "-1"}) == (
        400,
        {"message": "max_duration_seconds cannot be negative"},
    )
    assert (await ari.request("POST", path, RECORD))[0] == 201
    assert await ari.request("POST", path, RECORD) == (
        409,
        {"message": f"Recording '{RECORD['name']}' already exists and can not be overwritten"},
    )
