"""Issue 14 (found in review): a request body sent a byte at a time held a connection
forever (the header deadline covers only the headers). Every body is now read whole
within BODY_SECONDS before any handler runs, or the request gets 408."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from frontdesk.web import server


async def echo(request: web.Request) -> web.Response:
    return web.json_response(await request.json())


@pytest.fixture
async def app_server(monkeypatch: pytest.MonkeyPatch) -> TestServer:
    monkeypatch.setattr(server, "BODY_SECONDS", 0.2)
    app = web.Application(client_max_size=4096, middlewares=[server.body_in_time])
    app.router.add_post("/echo", echo)
    made = TestServer(app, host="127.0.0.1")
    await made.start_server()
    return made


async def test_a_body_that_never_finishes_gets_408(app_server: TestServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", app_server.port)
    writer.write(
        b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n{"
    )
    await writer.drain()
    status = await asyncio.wait_for(reader.readline(), timeout=2)
    assert status.startswith(b"HTTP/1.1 408")
    writer.close()
    await app_server.close()


async def test_a_body_sent_in_time_reaches_the_handler(app_server: TestServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", app_server.port)
    writer.write(
        b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b'Content-Length: 8\r\nConnection: close\r\n\r\n{"a": 1}'
    )
    await writer.drain()
    reply = await asyncio.wait_for(reader.read(), timeout=2)
    assert reply.startswith(b"HTTP/1.1 200")
    assert reply.endswith(b'{"a": 1}')
    writer.close()
    await app_server.close()
