"""A thin, typed ARI client on aiohttp: REST requests and the events WebSocket.

Why our own: `ari-py` is Python 2 only; `aioari`/`asyncari` fetch the API description
from a live Asterisk at connect and do not reconnect; `ari-client` 0.9 spins the event
loop after a normal WebSocket close (measured; see README).

Rules this client keeps (from Asterisk 22's behaviour, see docs/emulator.md):
- Query values are percent-encoded by yarl, so a literal `+` is sent as `%2B` (Asterisk
  decodes a bare `+` as a space).
- Errors are per request: `AriError.status` tells 404/409/422 (channel gone or not in
  the app: end that call) from 5xx. Only idempotent requests are retried, on a 5xx or a
  lost connection, never on a timeout (Asterisk may still be doing it: a retry would
  add to a backlog), and within a budget (about one retry per ten successes): under
  overload retries never multiply the load. An originate is never retried blindly.
- `continue` (a call handed back to the dialplan) goes over a small pool of its own: a
  call shed by admission control never waits behind the calls frontdesk serves.
- The events socket reconnects with jittered exponential backoff and reports every
  (re)connect, because Asterisk replays nothing: the caller must resynchronise from
  `GET /applications/{app}`, `/channels` and `/bridges`.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import structlog

log = structlog.get_logger("frontdesk.ari")

MAX_EVENT_BYTES = 1 << 20  # an ARI event is a few kB; 1 MiB is garbage or an attack
MAX_REST_BYTES = 16 << 20  # GET /channels of a busy PBX is well under this
_RETRY_STATUSES = frozenset({500, 502, 503, 504})
# Retry budget (`AriClient._may_retry`): at most about one retry per ten successes.
RETRY_TOKENS_MAX = 10.0
RETRY_EARN = 0.1
PRIORITY_CONNECTIONS = 2  # besides `max_connections`: still under http.conf's sessionlimit


class AriError(Exception):
    def __init__(self, method: str, path: str, status: int, message: str) -> None:
        super().__init__(f"{method} {path}: {status} {message}")
        self.status = status
        self.message = message

    @property
    def call_is_gone(self) -> bool:
        """The channel no longer exists or left our app: that call's session ends."""
        return self.status in (404, 409, 422)


@dataclass(frozen=True)
class AriConfig:
    url: str  # e.g. http://127.0.0.1:8088/ari
    user: str
    password: str
    app: str = "frontdesk"
    request_timeout: float = 5.0
    retries: int = 2
    heartbeat: float = 15.0
    backoff_initial: float = 0.2
    backoff_max: float = 10.0
    # REST connections at once. Asterisk refuses HTTP sessions past http.conf's
    # `sessionlimit` (20 in asterisk-conf/, the events socket included): measured on the
    # lab, aiohttp's default of 100 lost 69 % of calls at 40 calls/s to refusals. Past
    # this, requests wait their turn (within request_timeout) instead. 14 + the 2 of the
    # priority pool + the events socket leave 3 for sessions Asterisk has not yet
    # counted out (at 16 + 2 the lab still saw "HTTP session count exceeded" at 50/s).
    max_connections: int = 14


@dataclass(frozen=True)
class Connected:
    """Marker yielded by `AriClient.events()` after every (re)connect of the socket."""

    attempt: int


class AriClient:
    def __init__(self, config: AriConfig, session: aiohttp.ClientSession | None = None) -> None:
        self.config = config
        self._own_session = session is None
        self._session = session
        self.connected = False
        self._closing = False
        self.on_latency: Callable[[float], None] | None = None  # each REST round trip, s
        self.in_flight = 0  # REST requests sent or waiting for a connection (a backlog)
        self._priority: aiohttp.ClientSession | None = None
        self._retry_tokens = RETRY_TOKENS_MAX
        # Asked before each (re)connect of the events socket: a new socket takes the app
        # over, so a daemon that lost its turn must not open one (frontdesk/instance.py).
        self.may_connect: Callable[[], bool] = lambda: True

    async def __aenter__(self) -> AriClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            auth = aiohttp.encode_basic_auth(self.config.user, self.config.password)
            timeout = aiohttp.ClientTimeout(total=self.config.request_timeout)
            connector = aiohttp.TCPConnector(limit=self.config.max_connections)
            self._session = aiohttp.ClientSession(
                headers={"Authorization": auth}, timeout=timeout, connector=connector
            )
        return self._session

    @property
    def priority_session(self) -> aiohttp.ClientSession:
        """`PRIORITY_CONNECTIONS` of its own, for what must not wait (calls handed back to
        the dialplan: shed by admission control, or frontdesk stopping)."""
        if self._priority is None:
            if not self._own_session:
                return self.session  # a session given by the caller (tests) serves both
            auth = aiohttp.encode_basic_auth(self.config.user, self.config.password)
            timeout = aiohttp.ClientTimeout(total=self.config.request_timeout)
            connector = aiohttp.TCPConnector(limit=PRIORITY_CONNECTIONS)
            self._priority = aiohttp.ClientSession(
                headers={"Authorization": auth}, timeout=timeout, connector=connector
            )
        return self._priority

    async def close(self) -> None:
        self._closing = True
        if self._own_session and self._session is not None:
            await self._session.close()
        if self._priority is not None:
            await self._priority.close()

    # -- REST -------------------------------------------------------------------------------
    async def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None = None,
        body: Mapping[str, Any] | None = None,
        *,
        idempotent: bool,
        priority: bool = False,
    ) -> Any:
        """One REST call; returns the parsed JSON body (None for 204). `priority`: over a
        small pool of its own, so it never queues behind the calls' ordinary requests."""
        attempts = 1 + (self.config.retries if idempotent else 0)
        self.in_flight += 1
        try:
            for attempt in range(attempts):
                started = time.monotonic()
                try:
                    result = await self._once(method, path, params, body, priority)
                    self._retry_tokens = min(RETRY_TOKENS_MAX, self._retry_tokens + RETRY_EARN)
                    return result
                except AriError as exc:
                    if exc.status not in _RETRY_STATUSES or not self._may_retry(attempt, attempts):
                        raise
                except TimeoutError as exc:  # Asterisk may still be doing it: never again
                    raise AriError(method, path, 0, f"no answer: {exc!r}") from exc
                except aiohttp.ClientError as exc:
                    if not self._may_retry(attempt, attempts):
                        raise AriError(method, path, 0, f"no answer: {exc!r}") from exc
                finally:
                    if self.on_latency is not None:  # admission control: Asterisk drowning?
                        self.on_latency(time.monotonic() - started)
                await asyncio.sleep(self.config.backoff_initial * (attempt + 1))
            raise AssertionError("unreachable")
        finally:
            self.in_flight -= 1

    def _may_retry(self, attempt: int, attempts: int) -> bool:
        """A retry costs a token; successes earn them back (a tenth each): retries stay a
        small share of the traffic, so a struggling Asterisk never meets a retry storm."""
        if attempt >= attempts - 1 or self._retry_tokens < 1:
            return False
        self._retry_tokens -= 1
        return True

    async def _once(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None,
        body: Mapping[str, Any] | None,
        priority: bool = False,
    ) -> Any:
        query = {k: str(v) for k, v in (params or {}).items()}
        url = self.config.url.rstrip("/") + path
        session = self.priority_session if priority else self.session
        async with session.request(method, url, params=query, json=body) as response:
            raw = await response.content.read(MAX_REST_BYTES + 1)
            if len(raw) > MAX_REST_BYTES:
                raise AriError(method, path, response.status, "response too large")
            text = raw.decode("utf-8", "replace")
            if response.status >= 400:
                raise AriError(method, path, response.status, _error_message(text))
            return json.loads(text) if text else None

    # -- channels ---------------------------------------------------------------------------
    async def answer(self, channel: str) -> None:
        await self.request("POST", f"/channels/{channel}/answer", idempotent=True)

    async def play(
        self, channel: str, media: Sequence[str], playback_id: str, lang: str | None = None
    ) -> None:
        """One playback for a whole list of media (one request for a whole menu)."""
        params: dict[str, str | int] = {"media": ",".join(media)}
        if lang:
            params["lang"] = lang
        await self.request(
            "POST", f"/channels/{channel}/play/{playback_id}", params, idempotent=False
        )

    async def stop_playback(self, playback_id: str) -> None:
        await self.request("DELETE", f"/playbacks/{playback_id}", idempotent=True)

    async def hangup(self, channel: str, reason: str = "normal") -> None:
        await self.request("DELETE", f"/channels/{channel}", {"reason": reason}, idempotent=True)

    async def set_variable(self, channel: str, name: str, value: str) -> None:
        params = {"variable": name, "value": value}
        await self.request("POST", f"/channels/{channel}/variable", params, idempotent=True)

    async def get_variable(self, channel: str, name: str) -> str:
        params = {"variable": name}
        body = await self.request("GET", f"/channels/{channel}/variable", params, idempotent=True)
        return str(body["value"])

    async def set_global(self, name: str, value: str) -> None:
        params = {"variable": name, "value": value}
        await self.request("POST", "/asterisk/variable", params, idempotent=True)

    async def continue_in_dialplan(
        self,
        channel: str,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
    ) -> None:
        params = {
            k: v
            for k, v in (("context", context), ("extension", extension), ("priority", priority))
            if v is not None
        }
        await self.request(
            "POST", f"/channels/{channel}/continue", params, idempotent=False, priority=True
        )

    async def originate(
        self,
        endpoint: str,
        channel_id: str,
        *,
        app_args: str = "",
        caller_id: str | None = None,
        timeout: int = 30,
    ) -> dict[str, Any]:
        params: dict[str, str | int] = {
            "endpoint": endpoint,
            "app": self.config.app,
            "appArgs": app_args,
            "channelId": channel_id,
            "timeout": timeout,
        }
        if caller_id:
            params["callerId"] = caller_id
        result: dict[str, Any] = await self.request("POST", "/channels", params, idempotent=False)
        return result

    async def redirect(self, channel: str, endpoint: str) -> None:
        params = {"endpoint": endpoint}
        await self.request("POST", f"/channels/{channel}/redirect", params, idempotent=False)

    async def record(
        self,
        channel: str,
        name: str,
        *,
        max_seconds: int = 120,
        terminate_on: str = "#",
        beep: bool = True,
    ) -> None:
        """Record the caller (a voicemail); `RecordingFinished` tells when it is done."""
        params: dict[str, str | int] = {
            "name": name,
            "format": "wav",
            "maxDurationSeconds": max_seconds,
            "terminateOn": terminate_on,
            "beep": "true" if beep else "false",
            "ifExists": "fail",
        }
        await self.request("POST", f"/channels/{channel}/record", params, idempotent=False)

    async def get_channel(self, channel: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", f"/channels/{channel}", idempotent=True)
        return result

    async def list_channels(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.request("GET", "/channels", idempotent=True)
        return result

    async def application(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.request(
            "GET", f"/applications/{self.config.app}", idempotent=True
        )
        return result

    async def ignore_events(self, types: Sequence[str]) -> None:
        """Ask Asterisk not to send these event types to our app at all (kept by the app
        in Asterisk across reconnects; set again at each one, as a restart forgets it)."""
        body = {"disallowed": [{"type": kind} for kind in types]}
        path = f"/applications/{self.config.app}/eventFilter"
        await self.request("PUT", path, body=body, idempotent=True)

    # -- recordings ---------------------------------------------------------------------------
    # A name is one path segment: its `/` (frontdesk/<box>/<channel>) is sent as %2F.
    async def stored_recording(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request(
            "GET", f"/recordings/stored/{quote(name, safe='')}", idempotent=True
        )
        return result

    async def delete_recording(self, name: str) -> None:
        path = f"/recordings/stored/{quote(name, safe='')}"
        await self.request("DELETE", path, idempotent=True)

    # -- bridges ----------------------------------------------------------------------------
    async def create_bridge(self, bridge_id: str, kind: str = "mixing") -> None:
        params = {"type": kind}
        await self.request("POST", f"/bridges/{bridge_id}", params, idempotent=True)

    async def add_channels(self, bridge_id: str, channels: Sequence[str]) -> None:
        params = {"channel": ",".join(channels)}
        await self.request("POST", f"/bridges/{bridge_id}/addChannel", params, idempotent=True)

    async def remove_channels(self, bridge_id: str, channels: Sequence[str]) -> None:
        params = {"channel": ",".join(channels)}
        await self.request("POST", f"/bridges/{bridge_id}/removeChannel", params, idempotent=True)

    async def start_moh(self, bridge_id: str, moh_class: str = "default") -> None:
        params = {"mohClass": moh_class}
        await self.request("POST", f"/bridges/{bridge_id}/moh", params, idempotent=True)

    async def stop_moh(self, bridge_id: str) -> None:
        await self.request("DELETE", f"/bridges/{bridge_id}/moh", idempotent=True)

    async def play_to_bridge(self, bridge_id: str, media: Sequence[str], playback_id: str) -> None:
        params = {"media": ",".join(media)}
        await self.request(
            "POST", f"/bridges/{bridge_id}/play/{playback_id}", params, idempotent=False
        )

    async def delete_bridge(self, bridge_id: str) -> None:
        await self.request("DELETE", f"/bridges/{bridge_id}", idempotent=True)

    async def list_bridges(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.request("GET", "/bridges", idempotent=True)
        return result

    # -- events -----------------------------------------------------------------------------
    async def events(self) -> AsyncIterator[dict[str, Any] | Connected]:
        """Events for our app, forever; a `Connected` marker after each (re)connect."""
        attempt = 0
        delay = self.config.backoff_initial
        while not self._closing:
            if not self.may_connect():
                log.warning("ari.not_connecting", app=self.config.app, reason="fenced")
                return
            try:
                async with self.session.ws_connect(
                    self._events_url(),
                    heartbeat=self.config.heartbeat,
                    max_msg_size=MAX_EVENT_BYTES,
                    timeout=aiohttp.ClientWSTimeout(ws_close=2.0),
                ) as ws:
                    attempt += 1
                    delay = self.config.backoff_initial
                    self.connected = True
                    log.info("ari.connected", app=self.config.app, attempt=attempt)
                    yield Connected(attempt)
                    async for event in _frames(ws):
                        yield event
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                log.warning("ari.connect_failed", error=repr(exc))
            self.connected = False
            if self._closing:
                return
            log.warning("ari.disconnected", retry_in=round(delay, 2))
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, self.config.backoff_max)

    def _events_url(self) -> str:
        base = self.config.url.rstrip("/")
        ws_base = "ws" + base[4:] if base.startswith("http") else base
        return f"{ws_base}/events?app={self.config.app}&subscribeAll=false"


async def _frames(ws: aiohttp.ClientWebSocketResponse) -> AsyncIterator[dict[str, Any]]:
    """Parsed events from the socket; a malformed frame is logged and skipped."""
    async for message in ws:
        if message.type is not aiohttp.WSMsgType.TEXT:
            if message.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE):
                return
            continue
        try:
            event = json.loads(message.data)
        except (ValueError, RecursionError):  # not JSON, or nested deep enough to hurt
            log.warning("ari.bad_frame", size=len(message.data))
            continue
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            log.warning("ari.bad_event", size=len(message.data))
            continue
        yield event


def _error_message(text: str) -> str:
    try:
        body = json.loads(text)
    except ValueError:
        return text[:200]
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or body)[:200]
    return str(body)[:200]


async def ignore_gone(request: Awaitable[object]) -> None:
    """A request whose failure only matters to the log: the channel may be gone already."""
    try:
        await request
    except AriError as exc:
        if not exc.call_is_gone:
            log.warning("ari.request_failed", status=exc.status, error=exc.message)
