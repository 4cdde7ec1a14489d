"""The Emulator as a whole: graceful shutdown as in flow (l), and the `/_emulator/` routes."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from frontdesk.emulator import CallRefused, Emulator
from tests.emulator.helpers import Ami, Ari, call_in_stasis


async def test_graceful_shutdown_ordering(emu: Emulator, ari: Ari) -> None:
    ami = await Ami.connect(emu)
    await ami.login()
    channel_id, events = await call_in_stasis(emu, ari, "+13125550130", "5550310")
    await ari.request("POST", f"/ari/channels/{channel_id}/answer")
    await emu.shutdown_gracefully()
    with pytest.raises(CallRefused):
        await emu.place_call("+13125550131", "5550311")
    status, channels = await ari.request("GET", "/ari/channels")
    assert (status, [c["id"] for c in channels]) == (200, [channel_id])  # REST keeps working
    await ari.request("POST", f"/ari/channels/{channel_id}/play", {"media": "sound:beep"})
    await events.until("PlaybackFinished")
    ami.send(("Action", "Ping"), ("ActionID", "lab-7"))
    while (raw := await ami.block()).startswith(b"Event:"):
        pass
    assert (
        raw == b"Response: Error\r\nActionID: lab-7\r\nMessage: Asterisk is shutting down\r\n\r\n"
    )
    await ari.request("DELETE", f"/ari/channels/{channel_id}", {"reason_code": "16"})
    await events.until("StasisEnd")

    async def websocket_closed() -> float:
        message = await events.ws.receive(timeout=2.0)
        assert message.type == aiohttp.WSMsgType.CLOSE
        assert events.ws.close_code == 1000
        return time.monotonic()

    async def ami_shutdown() -> tuple[float, dict[str, str]]:
        shutdown = await ami.until("Shutdown")
        seen = time.monotonic()
        assert await ami.block() == b""  # then EOF
        return seen, shutdown

    closed_at, (shutdown_at, shutdown) = await asyncio.gather(websocket_closed(), ami_shutdown())
    assert closed_at < shutdown_at
    assert shutdown == {
        "Event": "Shutdown",
        "Privilege": "system,all",
        "SystemName": "pbx",
        "Shutdown": "Cleanly",
        "Restart": "False",
    }
    await asyncio.wait_for(emu.shut_down.wait(), 2.0)
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", emu.ami_port)
    ami.close()


async def test_shutdown_without_calls_is_immediate(emu: Emulator) -> None:
    await emu.shutdown_gracefully()
    await asyncio.wait_for(emu.shut_down.wait(), 2.0)


async def test_control_routes(emu: Emulator, ari: Ari) -> None:
    base = f"{ari.base}/_emulator"
    session = ari.session
    events = await ari.events()
    async with session.post(
        f"{base}/calls", json={"caller": "+13125550101", "did": "5550100"}
    ) as r:
        channel_id = (await r.json())["channel_id"]
    await events.until("StasisStart")
    async with session.post(
        f"{base}/channels/{channel_id}/dtmf", json={"digits": "12", "gap": 0.01}
    ) as r:
        assert r.status == 200
    assert [(await events.next())["digit"] for _ in range(2)] == ["1", "2"]
    async with session.get(f"{base}/channels/{channel_id}") as r:
        snapshot = await r.json()
    assert (snapshot["in_stasis"], snapshot["caller"]["number"]) == (True, "+13125550101")
    async with session.post(
        f"{base}/endpoints/2001/behaviour", json={"answer_after": None, "reply": 486}
    ) as r:
        assert r.status == 200
    assert emu.pbx.phones["2001"].reply == 486
    async with session.post(f"{base}/endpoints/2002/unregister") as r:
        assert r.status == 200
    assert emu.pbx.phones["2002"].registered is False
    async with session.post(f"{base}/endpoints/2002/register") as r:
        assert r.status == 200
    async with session.post(f"{base}/channels/{channel_id}/hangup") as r:
        assert r.status == 200
    await events.until("StasisEnd")
    async with session.get(f"{base}/channels/nope") as r:
        assert r.status == 404
    await ari.request("GET", "/ari/channels")
    async with session.get(f"{base}/requests") as r:
        assert [q["path"] for q in await r.json()] == ["/ari/channels"]
    async with session.get(f"{base}/violations") as r:
        assert await r.json() == []
    async with session.post(f"{base}/websockets/drop") as r:
        assert r.status == 200
    async with session.post(f"{base}/calls", json={"caller": "1", "did": "x"}) as r:
        assert r.status == 503
    async with session.post(f"{base}/calls", data=b"[1]") as r:
        assert r.status == 400
    async with session.post(f"{base}/shutdown") as r:
        assert r.status == 202
    await asyncio.wait_for(emu.shut_down.wait(), 2.0)


async def test_far_hangup_route(emu: Emulator, ari: Ari) -> None:
    await emu.set_phone("2001", answer_after=0.01)
    events = await ari.events()
    _, agent = await ari.request(
        "POST", "/ari/channels", {"endpoint": "PJSIP/2001", "app": "frontdesk"}
    )
    await events.until("StasisStart")
    async with ari.session.post(
        f"{ari.base}/_emulator/channels/{agent['id']}/hangup?side=far"
    ) as r:
        assert r.status == 200
    destroyed = await events.until("ChannelDestroyed")
    assert destroyed["cause"] == 16


async def test_registration_events(emu: Emulator, ari: Ari) -> None:
    ami = await Ami.connect(emu)
    await ami.login()
    events = await ari.events()
    status, app = await ari.request(
        "POST", "/ari/applications/frontdesk/subscription", {"eventSource": "endpoint:PJSIP/2001"}
    )
    assert (status, app["endpoint_ids"]) == (200, ["PJSIP/2001"])
    await emu.unregister("2001")
    got = await events.take(3)
    assert [e["type"] for e in got] == [
        "EndpointStateChange",
        "PeerStatusChange",
        "ContactStatusChange",
    ]
    assert got[0]["endpoint"]["state"] == "offline"
    assert got[2]["contact_info"]["contact_status"] == "Removed"
    peer = await ami.until("PeerStatus")
    assert (peer["Peer"], peer["PeerStatus"]) == ("PJSIP/2001", "Unreachable")
    assert (await ami.until("DeviceStateChange"))["State"] == "UNAVAILABLE"
    assert (await ami.until("ContactStatus"))["ContactStatus"] == "Removed"
    await emu.register("2001")
    assert next(e["type"] for e in await events.take(3)) == "EndpointStateChange"
    assert (await ami.until("ContactStatus"))["ContactStatus"] == "NonQualified"
    assert await ari.request(
        "POST", "/ari/applications/frontdesk/subscription", {"eventSource": "bogus:thing"}
    ) == (400, {"message": "Invalid event source URI scheme"})
    status, app = await ari.request(
        "DELETE", "/ari/applications/frontdesk/subscription", {"eventSource": "endpoint:PJSIP/2001"}
    )
    assert app["endpoint_ids"] == []
    ami.close()


async def test_endpoint_subscription_duplicates_channel_events(emu: Emulator, ari: Ari) -> None:
    """Flow (b): subscribed to the channel and to its endpoint, many events come twice."""
    await emu.set_phone("2001", answer_after=0.01)
    events = await ari.events()
    await ari.request(
        "POST", "/ari/applications/frontdesk/subscription", {"eventSource": "endpoint:PJSIP/2001"}
    )
    _, _agent = await ari.request(
        "POST", "/ari/channels", {"endpoint": "PJSIP/2001", "app": "frontdesk"}
    )
    await events.until("StasisStart")
    kinds = [e["type"] for e in events.seen]
    assert kinds[:2] == ["EndpointStateChange", "ChannelCreated"]
    assert kinds.count("Dial") == 6  # "", RINGING, ANSWER, each twice
    assert kinds.count("StasisStart") == 1
