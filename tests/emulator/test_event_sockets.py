"""The events WebSocket's reconnect semantics, flow (i): no replay, lost events, inactive app
fails Stasis, ApplicationReplaced to the older socket which stays open."""

from __future__ import annotations

import asyncio

import aiohttp

from frontdesk.emulator import Emulator
from tests.emulator.helpers import Ami, Ari, auth_header, transcript


async def test_flow_i_reconnect_with_channels_in_stasis(emu: Emulator, ari: Ari) -> None:
    emu.pbx.config.media_durations["sound:vm-goodbye"] = 0.3
    first = await ari.events()
    a = await emu.place_call("+13125550105", "5550305")
    b = await emu.place_call("+13125550106", "5550306")
    c = await emu.place_call("+13125550128", "5550315")
    for channel_id in (a, b, c):
        await first.until("StasisStart", channel__id=channel_id)
        await ari.request("POST", f"/ari/channels/{channel_id}/answer")
    _, hold = await ari.request("POST", "/ari/bridges", {"type": "holding", "name": f"hold-{a}"})
    await ari.request("POST", f"/ari/bridges/{hold['id']}/addChannel", {"channel": a})
    await ari.request("POST", f"/ari/bridges/{hold['id']}/moh", {"mohClass": "default"})
    await first.until("ChannelEnteredBridge")
    await first.close()
    await asyncio.sleep(0.02)
    # while no socket is connected: a new call fails Stasis and goes on in the dialplan
    d = await emu.place_call("+13125550107", "5550307")
    snapshot = await emu.channel(d)
    assert snapshot["in_stasis"] is False
    assert snapshot["variables"]["STASISSTATUS"] == "FAILED"
    assert snapshot["dialplan"]["app_name"] == "Playback"
    await emu.hangup(c)  # its events are lost for good
    status, channels = await ari.request("GET", "/ari/channels")
    assert [ch["id"] for ch in channels] == [a, b, d]  # REST works without a socket
    status, app = await ari.request("GET", "/ari/applications/frontdesk")
    assert (app["channel_ids"], app["bridge_ids"]) == ([a, b], [hold["id"]])
    second = await ari.events()
    await second.quiet(0.1)  # no replay, no StasisStart, no ApplicationReplaced
    status, _playback = await ari.request(
        "POST", f"/ari/channels/{b}/play", {"media": "sound:beep", "playbackId": f"pb-{b}-beep"}
    )
    assert status == 201
    await second.until("PlaybackFinished")
    await ari.request("DELETE", f"/ari/bridges/{hold['id']}/moh")
    for channel_id in (a, b):
        await ari.request("DELETE", f"/ari/channels/{channel_id}", {"reason_code": "16"})
        await second.until("StasisEnd", channel__id=channel_id)
    await ari.request("DELETE", f"/ari/bridges/{hold['id']}")
    await second.until("BridgeDestroyed")
    assert await ari.request("GET", f"/ari/channels/{c}") == (404, {"message": "Channel not found"})
    third = await ari.events()
    replaced = await second.next()
    assert list(replaced) == ["type", "timestamp", "application", "asterisk_id"]
    assert (replaced["type"], replaced["application"]) == ("ApplicationReplaced", "frontdesk")
    assert not second.ws.closed  # left open by Asterisk
    e = await emu.place_call("+13125550109", "5550309")
    await third.until("StasisStart", channel__id=e)
    await second.quiet(0.05)  # the replaced socket gets nothing more
    await second.close()
    await third.close()
    flow = transcript("flow_i_ws_reconnect_with_channels_in_stasis.jsonl")
    recorded = [r["event"] for r in flow if r["kind"] == "ari_event" and r.get("ws") == "second"]
    assert [ev["type"] for ev in second.seen] == [ev["type"] for ev in recorded]


async def test_inactive_app_call_finishes_its_dialplan(emu: Emulator) -> None:
    ami = await Ami.connect(emu)
    await ami.login()
    d = await emu.place_call("+13125550107", "5550307")
    hangup = await ami.until("Hangup")
    assert (hangup["Uniqueid"], hangup["Cause"], hangup["Priority"]) == (d, "16", "7")
    snapshot = await emu.channel(d)
    assert snapshot["media"] == ["sound:vm-goodbye"]
    assert snapshot["hung_up"] is True
    ami.close()


async def test_drop_websockets_cuts_without_close_frame(emu: Emulator, ari: Ari) -> None:
    events = await ari.events()
    await emu.drop_websockets()
    message = await asyncio.wait_for(events.ws.receive(), 2.0)
    assert message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
    assert events.ws.close_code != 1000
    await asyncio.sleep(0.02)
    assert emu.sockets.app_active("frontdesk") is False


async def test_websocket_needs_auth_and_app(emu: Emulator, ari: Ari) -> None:
    url = f"{ari.base}/ari/events?app=frontdesk"
    async with ari.session.get(url) as response:
        assert response.status == 401
    async with ari.session.get(f"{ari.base}/ari/events", headers=auth_header()) as response:
        assert response.status == 400
    ws = await ari.session.ws_connect(f"{url}&api_key=frontdesk:secret")
    assert emu.sockets.app_active("frontdesk")
    await ws.close()


async def test_one_socket_for_two_apps(emu: Emulator, ari: Ari) -> None:
    events = await ari.events("frontdesk,other")
    assert emu.sockets.app_active("other")
    _status, apps = await ari.request("GET", "/ari/applications")
    assert [app["name"] for app in apps] == ["frontdesk", "other"]
    await events.close()
