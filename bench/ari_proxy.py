"""A timing relay in front of ARI for the lab bench (`make bench-lab`, bench/lab_bench.py).

    python bench/ari_proxy.py --listen 127.0.0.1:8090 --control 127.0.0.1:8091 \
        --upstream 127.0.0.1:8088

The app under test connects here instead of Asterisk. Each TCP connection is relayed to
one connection to Asterisk, byte for byte (so Asterisk sees the app's own HTTP sessions,
keep-alive and `sessionlimit` included), and the relay reads along without changing
anything:

- app -> Asterisk: the request line of each REST request (method, path, query), stamped
  on arrival (`time.perf_counter_ns`); a `GET /ari/events` is the events WebSocket;
- Asterisk -> app: the status line of each response, and on the events connection after
  `101` the WebSocket frames (text events), stamped on arrival, before being passed on.

From these, per caller channel (a `StasisStart` without args: a call from the dialplan):

- `first_play_ms`: StasisStart received -> the first `POST /channels/<id>/play...`;
- `key_next_ms`: ChannelDtmfReceived received -> the next REST request that names the
  channel (in its path or query: the channel itself, a playback `<id>-p1`, a bridge
  `talk-<id>`, `channel=<id>`).

It also counts REST requests (by method and path with ids replaced), events (by type),
response statuses and upstream connection failures. Nothing is judged here:
`GET /_bench/report` on the control port returns the counts and samples since the last
`POST /_bench/reset` (see bench/lab_bench.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
from collections import Counter
from typing import Any
from urllib.parse import unquote

from aiohttp import web

_TYPE = re.compile(r'^\{"type":"(\w+)"')
_IDS_AFTER = frozenset({"channels", "bridges", "playbacks", "recordings", "endpoints"})
_ID_SPLIT = re.compile(r"[/?&=,-]")  # ids in paths and queries: `<channel>-p1`, `channel=a,b`
_WANTED = frozenset({"StasisStart", "ChannelDtmfReceived", "StasisEnd"})


def path_template(method: str, path: str) -> str:
    """`POST /ari/channels/abc/play/abc-p1` -> `POST /channels/{id}/play/{id}`."""
    parts = path.removeprefix("/ari").strip("/").split("/")
    out: list[str] = []
    for n, part in enumerate(parts):
        out.append("{id}" if n and (parts[n - 1] in _IDS_AFTER or out[-1] == "play") else part)
    return f"{method} /{'/'.join(out)}"


class Timings:
    """What the proxy saw since the last reset."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.events = 0
        self.by_request: Counter[str] = Counter()
        self.by_event: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.upstream_errors = 0
        self.started: dict[str, int] = {}  # caller channel -> StasisStart (ns)
        self.keyed: dict[str, int] = {}  # channel -> its key press, awaiting a request (ns)
        self.first_play_ms: list[float] = []
        self.key_next_ms: list[float] = []
        self.callers = 0
        self.keys = 0

    # -- events ---------------------------------------------------------------------------
    def on_event(self, data: str, now: int) -> None:
        self.events += 1
        match = _TYPE.match(data)
        kind = match.group(1) if match else None
        if kind is None or kind in _WANTED:
            try:
                event: dict[str, Any] = json.loads(data)
            except ValueError:
                return
            kind = str(event.get("type"))
            self._track(kind, event, now)
        self.by_event[kind] += 1

    def _track(self, kind: str, event: dict[str, Any], now: int) -> None:
        channel = str((event.get("channel") or {}).get("id", ""))
        if kind == "StasisStart" and not event.get("args"):
            self.started[channel] = now
            self.callers += 1
        elif kind == "ChannelDtmfReceived":
            self.keyed[channel] = now
            self.keys += 1
        elif kind == "StasisEnd":
            self.started.pop(channel, None)
            self.keyed.pop(channel, None)

    # -- requests -------------------------------------------------------------------------
    def on_request(self, method: str, path: str, query: str, now: int) -> None:
        self.requests += 1
        self.by_request[path_template(method, path)] += 1
        parts = path.split("/")  # ['', 'ari', 'channels', '<id>', 'play', ...]
        if len(parts) >= 5 and parts[2] == "channels" and parts[4] == "play":
            began = self.started.pop(parts[3], None)
            if began is not None:
                self.first_play_ms.append((now - began) / 1e6)
        if self.keyed:
            # whole ids only: 1733380000.12 must not match 1733380000.123
            names = set(_ID_SPLIT.split(path + "?" + unquote(query)))
            for channel in [c for c in self.keyed if c in names]:
                self.key_next_ms.append((now - self.keyed.pop(channel)) / 1e6)

    def report(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "events": self.events,
            "callers": self.callers,
            "keys": self.keys,
            "by_request": dict(self.by_request.most_common()),
            "by_event": dict(self.by_event.most_common()),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "upstream_errors": self.upstream_errors,
            "first_play_ms": [round(v, 3) for v in self.first_play_ms],
            "key_next_ms": [round(v, 3) for v in self.key_next_ms],
            "stasis_start_without_play": len(self.started),
            "key_without_request": len(self.keyed),
        }


_METHODS = (b"GET ", b"POST ", b"PUT ", b"DELETE ")


class WebSocketReader:
    """Server-to-client WebSocket frames (unmasked) -> complete text messages."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.message = bytearray()

    def feed(self, data: bytes) -> list[str]:
        self.buffer += data
        out = []
        while len(self.buffer) >= 2:
            first, second = self.buffer[0], self.buffer[1]
            length, head = second & 0x7F, 2
            if length == 126:
                if len(self.buffer) < 4:
                    break
                length, head = int.from_bytes(self.buffer[2:4], "big"), 4
            elif length == 127:
                if len(self.buffer) < 10:
                    break
                length, head = int.from_bytes(self.buffer[2:10], "big"), 10
            if second & 0x80:
                head += 4  # a masked frame (not sent by servers; skipped all the same)
            if len(self.buffer) < head + length:
                break
            opcode = first & 0x0F
            if opcode in (0, 1):  # continuation, text
                self.message += self.buffer[head : head + length]
                if first & 0x80:
                    out.append(self.message.decode("utf-8", "replace"))
                    self.message = bytearray()
            del self.buffer[: head + length]
        return out


class _Side(asyncio.Protocol):
    def __init__(self, relay: Relay, upstream: bool) -> None:
        self.relay, self.upstream = relay, upstream
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if not self.upstream:
            self.relay.client_connected(self)

    def data_received(self, data: bytes) -> None:
        if self.upstream:
            self.relay.from_server(data)
        else:
            self.relay.from_client(data)

    def eof_received(self) -> bool | None:
        self.relay.close()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.relay.close()


class Relay:
    """One app connection and its own connection to Asterisk."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy, self.timings = proxy, proxy.timings
        self.client: _Side | None = None
        self.server: asyncio.Transport | None = None
        self.pending: list[bytes] = []  # from the app before Asterisk's side is up
        self.events_requested = False
        self.websocket: WebSocketReader | None = None
        self.closed = False

    def client_connected(self, side: _Side) -> None:
        self.client = side
        asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_connection(
                lambda: _Side(self, upstream=True), self.proxy.host, self.proxy.port
            )
        except OSError:
            self.timings.upstream_errors += 1
            self.close()
            return
        self.server = transport
        for chunk in self.pending:
            transport.write(chunk)
        self.pending.clear()
        if self.closed:
            transport.close()

    def from_client(self, data: bytes) -> None:
        if self.websocket is None and data.startswith(_METHODS):
            line = data[: data.find(b"\r\n")].decode("latin-1")
            method, _, rest = line.partition(" ")
            target = rest.partition(" ")[0]
            path, _, query = target.partition("?")
            if path.startswith("/ari/events"):
                self.events_requested = True
            else:
                self.timings.on_request(method, path, query, time.perf_counter_ns())
        if self.server is None:
            self.pending.append(data)
        else:
            self.server.write(data)

    def from_server(self, data: bytes) -> None:
        now = time.perf_counter_ns()
        if self.websocket is not None:
            for text in self.websocket.feed(data):
                self.timings.on_event(text, now)
        elif data.startswith(b"HTTP/1."):
            status = int(data[9:12])
            self.timings.statuses[status] += 1
            if status == 101 and self.events_requested:
                self.websocket = WebSocketReader()
                rest = data[data.find(b"\r\n\r\n") + 4 :]
                for text in self.websocket.feed(rest):
                    self.timings.on_event(text, now)
        if self.client is not None and self.client.transport is not None:
            self.client.transport.write(data)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.client is not None and self.client.transport is not None:
            self.client.transport.close()
        if self.server is not None:
            self.server.close()


class Proxy:
    def __init__(self, upstream: str) -> None:
        host, _, port = upstream.rpartition(":")
        self.host, self.port = host, int(port)
        self.timings = Timings()

    async def serve(self, listen: str, control: str) -> None:
        loop = asyncio.get_running_loop()
        host, _, port = listen.rpartition(":")
        server = await loop.create_server(
            lambda: _Side(Relay(self), upstream=False), host, int(port)
        )
        app = web.Application()
        app.router.add_get("/_bench/report", self._report)
        app.router.add_post("/_bench/reset", self._reset)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        chost, _, cport = control.rpartition(":")
        await web.TCPSite(runner, chost, int(cport)).start()
        async with server:
            await server.serve_forever()

    async def _report(self, _: web.Request) -> web.Response:
        return web.json_response(self.timings.report())

    async def _reset(self, _: web.Request) -> web.Response:
        self.timings.reset()
        return web.json_response({"reset": True})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:8090", help="where the app connects")
    parser.add_argument("--control", default="127.0.0.1:8091", help="/_bench/report, reset")
    parser.add_argument("--upstream", default="127.0.0.1:8088", help="Asterisk's HTTP server")
    args = parser.parse_args()
    asyncio.run(Proxy(args.upstream).serve(args.listen, args.control))


if __name__ == "__main__":
    main()
