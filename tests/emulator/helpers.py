"""Plain socket clients for the emulator tests: an ARI REST/WebSocket client on aiohttp and a
line-level AMI client on asyncio streams. They know nothing of the emulator's internals."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from yarl import URL

from frontdesk.emulator import Emulator

SHARED = Path(__file__).parents[2] / "../shared/asterisk"
TRANSCRIPTS = SHARED / "transcripts"
API_DOCS = SHARED / "ari-api-docs"
TIMEOUT = 2.0


def transcript(name: str) -> list[dict[str, Any]]:
    """Records of one recorded flow; skips the test when the shared folder is absent."""
    path = TRANSCRIPTS / name
    if not path.is_file():
        pytest.skip(f"recorded transcripts not available ({TRANSCRIPTS} is missing)")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def all_transcripts() -> list[dict[str, Any]]:
    if not TRANSCRIPTS.is_dir():
        pytest.skip(f"recorded transcripts not available ({TRANSCRIPTS} is missing)")
    return [r for p in sorted(TRANSCRIPTS.glob("*.jsonl")) for r in transcript(p.name)]


def auth_header(user: str = "frontdesk", password: str = "secret") -> dict[str, str]:
    return {"Authorization": aiohttp.encode_basic_auth(user, password)}


class Events:
    """One ARI events WebSocket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    async def next(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        message = await asyncio.wait_for(self.ws.receive(), timeout)
        if message.type != aiohttp.WSMsgType.TEXT:
            raise AssertionError(f"expected a text frame, got {message.type!r}")
        event: dict[str, Any] = json.loads(message.data)
        assert json.dumps(event, separators=(",", ":"), ensure_ascii=False) == message.data
        self.seen.append(event)
        return event

    async def take(self, count: int, timeout: float = TIMEOUT) -> list[dict[str, Any]]:
        return [await self.next(timeout) for _ in range(count)]

    async def until(self, kind: str, timeout: float = TIMEOUT, **match: Any) -> dict[str, Any]:
        """Skip events up to the first of type `kind` whose fields equal `match`."""
        while True:
            event = await self.next(timeout)
            if event["type"] == kind and all(_field(event, k) == v for k, v in match.items()):
                return event

    async def quiet(self, seconds: float) -> None:
        """Assert that no frame arrives for `seconds`."""
        try:
            message = await asyncio.wait_for(self.ws.receive(), seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected frame: {message.data!r}")

    async def close(self) -> None:
        await self.ws.close()


def _field(event: dict[str, Any], dotted: str) -> Any:
    value: Any = event
    for part in dotted.split("__"):
        value = value.get(part) if isinstance(value, dict) else None
    return value


class Ari:
    def __init__(self, emu: Emulator, session: aiohttp.ClientSession) -> None:
        self.base = f"http://127.0.0.1:{emu.ari_port}"
        self.session = session

    async def request(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        *,
        json_body: Any = None,
        raw_query: str | None = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        auth: bool = True,
    ) -> tuple[int, Any]:
        url = URL(
            f"{self.base}{path}" + (f"?{raw_query}" if raw_query else ""),
            encoded=raw_query is not None,
        )
        all_headers = {**(auth_header() if auth else {}), **(headers or {})}
        async with self.session.request(
            method, url, params=params, json=json_body, data=data, headers=all_headers
        ) as response:
            text = await response.text()
            return response.status, (json.loads(text) if text else None)

    async def raw(self, method: str, path: str, raw_query: str | None = None) -> tuple[int, str]:
        url = URL(f"{self.base}{path}" + (f"?{raw_query}" if raw_query else ""), encoded=True)
        async with self.session.request(method, url, headers=auth_header()) as response:
            return response.status, await response.text()

    async def events(self, app: str = "frontdesk", query: str = "") -> Events:
        url = f"{self.base}/ari/events?app={app}&subscribeAll=false{query}"
        ws = await self.session.ws_connect(url, headers=auth_header())
        return Events(ws)


class Ami:
    """A manager connection: writes actions, reads CRLF blocks."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, emu: Emulator) -> Ami:
        reader, writer = await asyncio.open_connection("127.0.0.1", emu.ami_port)
        ami = cls(reader, writer)
        assert (
            await asyncio.wait_for(reader.readline(), TIMEOUT)
            == b"Asterisk Call Manager/11.0.0\r\n"
        )
        return ami

    def send(self, *fields: tuple[str, str]) -> None:
        self.writer.write(("".join(f"{k}: {v}\r\n" for k, v in fields) + "\r\n").encode())

    async def block(self, timeout: float = TIMEOUT) -> bytes:
        """The next block, raw; b"" at EOF."""
        lines = []
        while True:
            line = await asyncio.wait_for(self.reader.readline(), timeout)
            if not line:
                return b"".join(lines)
            lines.append(line)
            if line == b"\r\n":
                return b"".join(lines)

    async def login(self, events: str = "on") -> None:
        self.send(
            ("Action", "Login"),
            ("Username", "frontdesk"),
            ("Secret", "secret"),
            ("Events", events),
            ("ActionID", "login"),
        )
        assert (
            await self.block()
            == b"Response: Success\r\nActionID: login\r\nMessage: Authentication accepted\r\n\r\n"
        )

    async def until(self, event: str, timeout: float = TIMEOUT, **match: str) -> dict[str, str]:
        while True:
            fields = parse_block(await self.block(timeout))
            if not fields:
                raise AssertionError(f"EOF while waiting for {event}")
            if fields.get("Event") == event and all(fields.get(k) == v for k, v in match.items()):
                return fields

    def close(self) -> None:
        self.writer.close()


def parse_block(raw: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in raw.decode().split("\r\n"):
        key, sep, value = line.partition(": ")
        if sep:
            out.setdefault(key, value)
    return out


def field_names(raw: bytes) -> list[str]:
    return [line.partition(":")[0] for line in raw.decode().split("\r\n") if line]


async def call_in_stasis(
    emu: Emulator, ari: Ari, caller: str = "+13125550101", did: str = "5550100"
) -> tuple[str, Events]:
    """Open the app's WebSocket, place a trunk call and wait for its StasisStart."""
    events = await ari.events()
    channel_id = await emu.place_call(caller, did)
    await events.until("StasisStart", channel__id=channel_id)
    return channel_id, events
