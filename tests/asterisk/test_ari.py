"""The ARI client against a scripted HTTP/WebSocket server on loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from frontdesk.asterisk.ari import PRIORITY_CONNECTIONS, AriClient, AriConfig, AriError, Connected

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Server:
    """Answers each request with the next scripted response; records what it received."""

    def __init__(self) -> None:
        self.received: list[web.Request] = []
        self.raw_queries: list[str] = []
        self.script: list[tuple[int, Any]] = []
        self.frames: list[str] = []
        self.app = web.Application()
        self.app.router.add_get("/ari/events", self.events)
        self.app.router.add_route("*", "/ari/{tail:.*}", self.rest)
        self.runner = web.AppRunner(self.app)
        self.port = 0
        self.sockets = 0
        self.delay = 0.0  # seconds each REST answer takes
        self.in_flight = self.peak = 0  # REST requests being answered at once

    async def rest(self, request: web.Request) -> web.Response:
        self.received.append(request)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(self.delay)
        self.in_flight -= 1
        self.raw_queries.append(request.raw_path.partition("?")[2])
        status, body = self.script.pop(0) if self.script else (204, None)
        if body is None:
            return web.Response(status=status)
        return web.json_response(body, status=status)

    async def events(self, request: web.Request) -> web.WebSocketResponse:
        self.sockets += 1
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        for frame in self.frames:
            await ws.send_str(frame)
        await ws.close()
        return ws

    async def start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    scripted = Server()
    await scripted.start()
    yield scripted
    await scripted.runner.cleanup()


@pytest.fixture
async def client(server: Server) -> AsyncIterator[AriClient]:
    config = AriConfig(
        f"http://127.0.0.1:{server.port}/ari", "frontdesk", "pw", backoff_initial=0.01, retries=2
    )
    async with AriClient(config) as ari:
        yield ari


async def test_plus_is_sent_percent_encoded(client: AriClient, server: Server) -> None:
    server.script = [(200, {"id": "x"})]
    await client.originate("PJSIP/2001", "agent-1", caller_id="+13125551002")
    assert "callerId=%2B13125551002" in server.raw_queries[0]
    assert server.received[0].query["callerId"] == "+13125551002"


async def test_basic_auth_is_sent(client: AriClient, server: Server) -> None:
    await client.answer("c1")
    assert server.received[0].headers["Authorization"] == "Basic ZnJvbnRkZXNrOnB3"


async def test_a_menu_is_one_play_request(client: AriClient, server: Server) -> None:
    await client.play("c1", ["sound:frontdesk/menu-1", "sound:frontdesk/menu-2"], "c1-p1", "es")
    request = server.received[0]
    assert request.path == "/ari/channels/c1/play/c1-p1"
    assert request.query["media"] == "sound:frontdesk/menu-1,sound:frontdesk/menu-2"
    assert request.query["lang"] == "es"


async def test_idempotent_request_is_retried_after_a_5xx(client: AriClient, server: Server) -> None:
    server.script = [(503, {"message": "busy"}), (200, [])]
    assert await client.list_channels() == []
    assert len(server.received) == 2


async def test_originate_is_never_retried(client: AriClient, server: Server) -> None:
    server.script = [(500, {"error": "Allocation failed"})]
    with pytest.raises(AriError) as caught:
        await client.originate("PJSIP/2003", "agent-2")
    assert caught.value.status == 500
    assert caught.value.message == "Allocation failed"
    assert len(server.received) == 1


@pytest.mark.parametrize("status", [404, 409, 422])
async def test_channel_gone_is_a_per_call_error(
    client: AriClient, server: Server, status: int
) -> None:
    server.script = [(status, {"message": "Channel not found"})]
    with pytest.raises(AriError) as caught:
        await client.answer("gone")
    assert caught.value.call_is_gone
    assert len(server.received) == 1  # a 4xx is an answer, not a reason to retry


async def test_retries_give_up_with_a_clear_error(client: AriClient, server: Server) -> None:
    server.script = [(500, {"message": "x"})] * 3
    with pytest.raises(AriError, match="500"):
        await client.get_channel("c1")
    assert len(server.received) == 3


async def test_events_skip_malformed_frames_and_reconnect(
    client: AriClient, server: Server
) -> None:
    good = {"type": "StasisStart", "channel": {"id": "c1"}}
    server.frames = ["{not json", json.dumps([1, 2]), json.dumps({"no": "type"}), json.dumps(good)]
    seen: list[Any] = []

    async def collect() -> None:
        async for item in client.events():
            seen.append(item)
            if sum(isinstance(i, Connected) for i in seen) == 2:
                return

    await asyncio.wait_for(collect(), timeout=5)
    assert seen[0] == Connected(1)
    assert seen[1] == good
    assert seen[2] == Connected(2)  # the server closed the socket: reconnected, reported
    assert server.sockets == 2


async def test_events_url_names_our_app(client: AriClient) -> None:
    assert client._events_url().endswith("/ari/events?app=frontdesk&subscribeAll=false")
    assert client._events_url().startswith("ws://127.0.0.1:")


async def test_rest_connections_stay_under_asterisks_session_limit(server: Server) -> None:
    """http.conf's sessionlimit (20) refuses sessions past it: 40 requests at once use at
    most `max_connections` connections, the rest wait their turn."""
    server.delay = 0.05
    config = AriConfig(f"http://127.0.0.1:{server.port}/ari", "frontdesk", "pw")
    assert config.max_connections + PRIORITY_CONNECTIONS + 1 <= 17  # +1: the events socket
    async with AriClient(config) as ari:
        await asyncio.gather(*(ari.answer(f"c{n}") for n in range(40)))
    peers = {r.transport.get_extra_info("peername") for r in server.received if r.transport}
    assert len(server.received) == 40
    assert server.peak == config.max_connections  # as many as allowed, no more
    assert len(peers) <= config.max_connections


async def test_a_call_handed_back_does_not_wait_behind_the_others(server: Server) -> None:
    """`continue` has a pool of its own: with every ordinary connection busy, it goes at
    once (a call shed by admission control is never stuck behind the served ones)."""
    server.delay = 0.5
    config = AriConfig(f"http://127.0.0.1:{server.port}/ari", "frontdesk", "pw")
    async with AriClient(config) as ari:
        busy = [asyncio.create_task(ari.answer(f"c{n}")) for n in range(40)]
        await asyncio.sleep(0.05)
        assert ari.in_flight == 40
        started = asyncio.get_running_loop().time()
        await ari.continue_in_dialplan("shed-1")
        assert asyncio.get_running_loop().time() - started < 0.9  # not 3 rounds of 0.5 s
        await asyncio.gather(*busy)
    assert ari.in_flight == 0
