"""AMI over TCP: `Asterisk Call Manager/11.0.0`, CRLF lines, blank-line terminated blocks.

Every read is bounded: a line longer than `max_line` or a block larger than `max_block`
closes the connection; a connection that has not logged in within `auth_timeout` is
closed; reads after login time out after `read_timeout` and simply wait again (a logged-in
manager may stay silent, as with Asterisk). Writes go through one queue per session.

The user's `read`/`write` classes and `eventfilter`s (`AmiConfig.access`, by default those of
asterisk-conf/manager.conf) decide which events a session gets (see `ami_access`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from frontdesk.emulator.ami_access import FRONTDESK, EventFilter, ManagerUser, should_send
from frontdesk.emulator.events import AmiEvent, ami_event

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
QUEUE_LIMIT = 10_000

Message = list[tuple[str, str]]


@dataclass
class AmiConfig:
    user: str = "frontdesk"
    secret: str = "secret"
    system_name: str = "pbx"
    auth_timeout: float = 30.0
    failure_delay: float = 1.0  # Asterisk answers a bad secret after 1 s, then hangs up
    read_timeout: float = 60.0
    write_timeout: float = 5.0  # manager.conf writetimeout
    max_line: int = 8192
    max_block: int = 64 * 1024
    max_fields: int = 256
    access: ManagerUser = field(default_factory=lambda: FRONTDESK)  # manager.conf's user


def header(message: Message, name: str) -> str:
    """`astman_get_header`: the first field of that name, case-insensitively, or ""."""
    lowered = name.lower()
    return next((value for key, value in message if key.lower() == lowered), "")


def reply(status: str, action_id: str, fields: Sequence[tuple[str, str]] = ()) -> bytes:
    lines = [f"Response: {status}"]
    if action_id:
        lines.append(f"ActionID: {action_id}")
    lines += [f"{key}: {value}" for key, value in fields]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class AmiSession:
    def __init__(
        self, server: AmiServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.authenticated = False
        self.username = ""
        self.mask: frozenset[str] | None = None  # None: every class ("on")
        self.read: frozenset[str] = frozenset()  # the user's classes, set at login
        # manager.conf's eventfilters (copied at login), then those of `Action: Filter`
        self.filters: list[EventFilter] = []
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=QUEUE_LIMIT)
        self.closing = False
        self.opened = asyncio.get_running_loop().time()
        peer = writer.get_extra_info("peername") or ("127.0.0.1", 0)
        local = writer.get_extra_info("sockname") or ("127.0.0.1", 0)
        self.remote = f"IPV4/TCP/{peer[0]}/{peer[1]}"
        self.local = f"IPV4/TCP/{local[0]}/{local[1]}"
        self.session_id = f"0x{id(self):x}"

    # -- writing ------------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        if self.closing:
            return
        try:
            self.queue.put_nowait(data)
        except asyncio.QueueFull:
            self.close()

    def deliver(self, event: AmiEvent) -> None:
        """`process_events`: the user may read every class of the event, the session asked
        for them, and the event filters let it through."""
        if not self.authenticated:
            return
        classes = frozenset(event.privilege.split(",")) - {""}
        if not classes <= self.read or (self.mask is not None and not classes <= self.mask):
            return
        data = event.encode(self.server.config.system_name)
        if not self.filters or should_send(self.filters, event.name, data.decode()):
            self.send(data)

    def close(self) -> None:
        """Stop after what is queued has been written."""
        if not self.closing:
            self.closing = True
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait(None)

    async def _write_loop(self) -> None:
        timeout = self.server.config.write_timeout
        with contextlib.suppress(ConnectionError, TimeoutError):
            while (data := await self.queue.get()) is not None:
                self.writer.write(data)
                await asyncio.wait_for(self.writer.drain(), timeout)
        self.writer.close()

    # -- reading ------------------------------------------------------------------------
    def _timeout(self) -> float:
        config = self.server.config
        if self.authenticated:
            return config.read_timeout
        loop_time = asyncio.get_running_loop().time()
        return max(0.0, self.opened + config.auth_timeout - loop_time)

    async def read_message(self) -> Message | None:
        """One action block, or None at EOF / timeout before login / broken limits."""
        config = self.server.config
        fields: Message = []
        size = 0
        while True:
            try:
                line = await asyncio.wait_for(self.reader.readuntil(b"\n"), self._timeout())
            except TimeoutError:
                if self.authenticated:
                    continue
                return None
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return None
            size += len(line)
            if size > config.max_block or len(fields) >= config.max_fields:
                return None
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            if not text:
                if fields:
                    return fields
                continue
            key, sep, value = text.partition(":")
            if sep:
                fields.append((key.strip(), value.lstrip()))

    async def run(self, dispatch: Callable[[AmiSession, Message], Awaitable[None]]) -> None:
        writer_task = asyncio.create_task(self._write_loop())
        self.send(BANNER)
        try:
            while not self.closing:
                message = await self.read_message()
                if message is None:
                    break
                await dispatch(self, message)
        finally:
            self.close()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, TimeoutError):
                await asyncio.wait_for(writer_task, self.server.config.write_timeout)
            writer_task.cancel()


class AmiServer:
    def __init__(
        self,
        config: AmiConfig,
        dispatch: Callable[[AmiSession, Message], Awaitable[None]],
    ) -> None:
        self.config = config
        self.dispatch = dispatch
        self.sessions: set[AmiSession] = set()
        self.server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> int:
        self.server = await asyncio.start_server(
            self._connected, host, port, limit=self.config.max_line
        )
        return int(self.server.sockets[0].getsockname()[1])

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = AmiSession(self, reader, writer)
        self.sessions.add(session)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await session.run(self.dispatch)
        finally:
            self.sessions.discard(session)
            if task is not None:
                self._tasks.discard(task)

    def event(self, event: AmiEvent) -> None:
        for session in list(self.sessions):
            session.deliver(event)

    async def shutdown(self) -> None:
        """`Event: Shutdown` to every manager, then EOF on every connection (flow l)."""
        fields = [("Shutdown", "Cleanly"), ("Restart", "False")]
        self.event(ami_event("Shutdown", "system", fields))
        await self.close_sessions()

    async def close_sessions(self) -> None:
        for session in list(self.sessions):
            session.close()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=self.config.write_timeout)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        await self.close_sessions()
        if self.server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.server.wait_closed(), self.config.write_timeout)
            self.server = None
