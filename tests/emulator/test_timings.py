"""`/_emulator/timings`: event -> command latency as the PBX sees it (for the load bench)."""

from __future__ import annotations

from frontdesk.emulator import Emulator
from frontdesk.emulator.timings import Timings, percentile
from tests.emulator.helpers import Ari, call_in_stasis


async def test_off_by_default_nothing_is_recorded(emu: Emulator, ari: Ari) -> None:
    channel_id, events = await call_in_stasis(emu, ari)
    await ari.request("POST", f"/ari/channels/{channel_id}/answer")
    status, report = await ari.request("GET", "/_emulator/timings", auth=False)
    assert status == 200
    assert report["enabled"] is False
    assert report["requests"] == 0
    assert report["all"]["count"] == 0
    await events.close()


async def test_stasis_start_dtmf_and_playback_end_are_paired_with_the_next_request(
    emu: Emulator, ari: Ari
) -> None:
    status, _ = await ari.request("POST", "/_emulator/timings", json_body={}, auth=False)
    assert status == 200
    channel_id, events = await call_in_stasis(emu, ari)
    await ari.request("POST", f"/ari/channels/{channel_id}/answer")  # answers StasisStart
    await ari.request("POST", f"/ari/channels/{channel_id}/play/p1", {"media": "sound:hello-world"})
    await events.until("PlaybackFinished")
    await ari.request("POST", f"/ari/channels/{channel_id}/play/p2", {"media": "sound:beep"})
    await events.until("PlaybackFinished")
    await emu.press(channel_id, "5")
    await events.until("ChannelDtmfReceived")
    status, bridge = await ari.request("POST", "/ari/bridges", {"type": "holding"})
    assert status == 200
    await ari.request("POST", f"/ari/bridges/{bridge['id']}/addChannel", {"channel": channel_id})

    _, report = await ari.request("GET", "/_emulator/timings", auth=False)
    assert report["enabled"] is True
    assert report["requests"] == 5
    counts = {kind: s["count"] for kind, s in report["by_event"].items()}
    assert counts == {"ChannelDtmfReceived": 1, "PlaybackFinished": 1, "StasisStart": 1}
    assert report["unpaired"] == {"PlaybackFinished": 1}  # the last one called for nothing
    assert report["all"]["count"] == 3
    assert 0 < report["all"]["p50_ms"] <= report["all"]["p99_ms"] <= report["all"]["max_ms"]
    await events.close()


async def test_reset_clears_and_can_switch_off(emu: Emulator, ari: Ari) -> None:
    await ari.request("POST", "/_emulator/timings", json_body={}, auth=False)
    channel_id, events = await call_in_stasis(emu, ari)
    await ari.request("POST", f"/ari/channels/{channel_id}/answer")
    _, report = await ari.request(
        "POST", "/_emulator/timings", json_body={"enabled": False}, auth=False
    )
    assert report["enabled"] is False
    assert report["requests"] == 0
    assert report["by_event"] == {}
    await events.close()


def test_a_late_request_counts_as_unpaired_not_as_a_sample() -> None:
    now = [0.0]
    timings = Timings(window=1.0, clock=lambda: now[0])
    timings.reset()
    stasis = {"type": "StasisStart", "channel": {"id": "c1"}}
    mark = timings.mark(stasis)
    assert mark == ("StasisStart", "c1")
    timings.written(mark)
    now[0] = 2.5
    timings.request({"method": "POST", "path": "/ari/channels/c1/answer"})
    report = timings.report()
    assert report["all"]["count"] == 0
    assert report["unpaired"] == {"StasisStart": 1}


def test_a_deleted_playback_is_traced_back_to_its_channel() -> None:
    now = [0.0]
    timings = Timings(clock=lambda: now[0])
    timings.reset()
    started = {"type": "PlaybackStarted", "playback": {"id": "pb", "target_uri": "channel:c1"}}
    assert timings.mark(started) is None
    dtmf = {"type": "ChannelDtmfReceived", "digit": "1", "channel": {"id": "c1"}}
    mark = timings.mark(dtmf)
    assert mark is not None
    timings.written(mark)
    now[0] = 0.004
    timings.request({"method": "DELETE", "path": "/ari/playbacks/pb"})
    assert timings.report()["by_event"]["ChannelDtmfReceived"]["p50_ms"] == 4.0


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([3.0], 99) == 3.0
    assert percentile([], 50) is None
