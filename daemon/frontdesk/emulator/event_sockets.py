"""ARI event WebSockets per application, with Asterisk 22's reconnect semantics (flow i).

One socket is current per app. A newer socket for the same app takes over and the older
one receives `ApplicationReplaced` and is left open (it gets nothing more). While an app has
no current socket it is inactive: its events are dropped (no replay later) and dialplan
`Stasis()` for it fails. Frames are compact JSON, UTF-8 unescaped, queued per socket and
written in order by one task; a socket whose queue overflows is cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from frontdesk.emulator.events import application_replaced
from frontdesk.emulator.timings import Mark, Timings

QUEUE_LIMIT = 10_000
WRITE_TIMEOUT = 5.0


def encode(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


@dataclass(eq=False)
class EventSocket:
    ws: web.WebSocketResponse
    transport: asyncio.Transport | None
    apps: tuple[str, ...]
    queue: asyncio.Queue[tuple[str, Mark | None] | None] = field(
        default_factory=lambda: asyncio.Queue(maxsize=QUEUE_LIMIT)
    )
    writer: asyncio.Task[None] | None = None
    timings: Timings | None = None

    def start(self) -> None:
        self.writer = asyncio.create_task(self._write())

    def send(self, text: str, mark: Mark | None = None) -> None:
        try:
            self.queue.put_nowait((text, mark))
        except asyncio.QueueFull:
            self.abort()

    async def _write(self) -> None:
        while (item := await self.queue.get()) is not None:
            text, mark = item
            if mark is not None and self.timings is not None:
                self.timings.written(mark)  # timed as it leaves, not as it is queued
            try:
                await asyncio.wait_for(self.ws.send_str(text), WRITE_TIMEOUT)
            except (ConnectionError, TimeoutError, RuntimeError):
                self.abort()
                return

    def abort(self) -> None:
        """Cut the TCP connection without a close frame (a network failure)."""
        if self.transport is not None:
            self.transport.abort()

    async def stop(self) -> None:
        if self.writer is not None and not self.writer.done():
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.writer), WRITE_TIMEOUT)
            self.writer.cancel()


class EventSockets:
    def __init__(self, asterisk_id: str, timings: Timings | None = None) -> None:
        self.asterisk_id = asterisk_id
        self.timings = timings
        self.current: dict[str, EventSocket] = {}
        self.open: set[EventSocket] = set()

    def attach(self, sock: EventSocket) -> None:
        self.open.add(sock)
        sock.timings = self.timings
        sock.start()
        for app in sock.apps:
            older = self.current.get(app)
            if older is not None and older is not sock:
                older.send(encode(application_replaced(app, self.asterisk_id)))
            self.current[app] = sock

    def detach(self, sock: EventSocket) -> None:
        self.open.discard(sock)
        for app in sock.apps:
            if self.current.get(app) is sock:
                del self.current[app]

    def app_active(self, app: str) -> bool:
        return app in self.current

    def send(self, app: str, event: dict[str, Any]) -> None:
        sock = self.current.get(app)
        if sock is not None:
            mark = self.timings.mark(event) if self.timings is not None else None
            sock.send(encode(event), mark)

    def drop_all(self) -> None:
        for sock in list(self.open):
            sock.abort()

    async def close_all(self, code: int = 1000) -> None:
        """Flush what is queued, then close every socket with a close frame."""
        socks = list(self.open)
        self.current.clear()
        for sock in socks:
            await sock.stop()
            with contextlib.suppress(ConnectionError, RuntimeError, TimeoutError):
                await asyncio.wait_for(sock.ws.close(code=code), WRITE_TIMEOUT)
