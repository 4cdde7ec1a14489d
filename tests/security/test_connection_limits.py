"""Issue 14 row 4: the dashboard's HTTP server caps connections per client and in all,
closes slow headers and idle keep-alive connections, keeps `/healthz` answering when
others hold every connection, and logs running out of descriptors once per interval."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
from collections.abc import AsyncIterator
from dataclasses import replace

from aiohttp import web

from frontdesk.web.server import (
    OncePerInterval,
    ResourceErrorFilter,
    ServerLimits,
    loop_exception_handler,
    start_site,
)

LIMITS = ServerLimits(
    max_connections=6, max_per_client=3, health_reserve=2, header_timeout=0.5, idle_timeout=0.7
)
Served = tuple[str, int]


async def ok(_: web.Request) -> web.Response:
    return web.Response(text="ok")


@contextlib.asynccontextmanager
async def serving(limits: ServerLimits = LIMITS) -> AsyncIterator[Served]:
    app = web.Application()
    app.router.add_get("/healthz", ok)
    app.router.add_get("/", ok)
    runner, site = await start_site(app, "127.0.0.1", 0, limits)
    assert site.port is not None
    try:
        yield "127.0.0.1", site.port
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def connections(
    at: Served, count: int
) -> AsyncIterator[list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]:
    opened = [await asyncio.open_connection(*at) for _ in range(count)]
    await asyncio.sleep(0.05)  # the server counted them
    try:
        yield opened
    finally:
        for _, writer in opened:
            writer.close()


async def get(at: Served, path: str) -> bytes:
    """A whole request on a fresh connection; the status line, b"" when closed."""
    reader, writer = await asyncio.open_connection(*at)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        return await asyncio.wait_for(reader.readline(), 2)
    except ConnectionError:
        return b""
    finally:
        writer.close()


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    try:
        while await asyncio.wait_for(reader.read(1024), seconds):
            pass
    except TimeoutError:
        return False
    except ConnectionError:
        pass
    return True


async def test_slow_headers_are_cut_off() -> None:
    async with serving() as at:
        reader, writer = await asyncio.open_connection(*at)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # ...and never the end of the headers
        assert await closed_within(reader, 2.0)
        writer.close()
        silent, writer2 = await asyncio.open_connection(*at)  # sends nothing at all
        assert await closed_within(silent, 2.0)
        writer2.close()


async def test_idle_keep_alive_connections_are_closed() -> None:
    async with serving() as at:
        reader, writer = await asyncio.open_connection(*at)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await reader.readline()).startswith(b"HTTP/1.1 200")
        assert await closed_within(reader, 2.0)
        writer.close()


async def test_one_client_gets_only_its_share() -> None:
    async with serving() as at, connections(at, LIMITS.max_per_client):
        assert await get(at, "/") in (b"", b"HTTP/1.1 503 Service Unavailable\r\n")
        assert (await get(at, "/healthz")).startswith(b"HTTP/1.1 200")


async def test_one_client_cannot_fill_the_reserve() -> None:
    limits = replace(LIMITS, header_timeout=5.0, idle_timeout=5.0)
    async with serving(limits) as at, connections(at, limits.max_per_client + 2):
        assert await get(at, "/healthz") == b""  # closed at once, nothing read


async def test_healthz_answers_when_every_connection_is_held() -> None:
    limits = replace(LIMITS, max_per_client=100, header_timeout=5.0, idle_timeout=5.0)
    async with serving(limits) as at, connections(at, limits.max_connections):
        assert await get(at, "/") in (b"", b"HTTP/1.1 503 Service Unavailable\r\n")
        assert (await get(at, "/healthz")).startswith(b"HTTP/1.1 200")
        async with connections(at, limits.health_reserve):  # the reserve is taken too
            assert await get(at, "/healthz") == b""  # closed at once, nothing read
        await asyncio.sleep(0.05)
        assert (await get(at, "/healthz")).startswith(b"HTTP/1.1 200")
    async with serving(limits) as at:  # and everything comes back once they leave
        assert (await get(at, "/")).startswith(b"HTTP/1.1 200")


def test_running_out_of_descriptors_is_logged_once_per_interval() -> None:
    now = [0.0]
    limiter = OncePerInterval(60.0, clock=lambda: now[0])
    reported: list[dict[str, object]] = []
    loop = asyncio.new_event_loop()
    try:
        handle = loop_exception_handler(limiter, lambda _, context: reported.append(context))
        logged = logging.getLogger("tests.security.accept")
        records: list[logging.LogRecord] = []
        logged.addFilter(ResourceErrorFilter(limiter))
        logged.addHandler(_Collect(records))
        logged.propagate = False
        emfile = OSError(errno.EMFILE, "Too many open files")
        for _ in range(10_000):
            handle(loop, {"message": "socket.accept() out of system resource", "exception": emfile})
            try:
                raise emfile
            except OSError:
                logged.exception("Error handling request")
        assert reported == []  # none reached the default handler (a traceback each)
        assert len(records) == 1
        assert records[0].exc_info is None  # no traceback
        now[0] = 61.0
        logged.exception("Error handling request", exc_info=emfile)
        assert len(records) == 2
        assert "9999 more not logged" in records[1].getMessage()
        other = {"message": "something else", "exception": ValueError("x")}
        handle(loop, other)
        assert reported == [other]  # anything else as before
    finally:
        loop.close()


class _Collect(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__()
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
