"""The dashboard's HTTP server: aiohttp's runner behind a connection gate.

`start_site(app, host, port, limits)` starts it; the limits are settings
(`ServerLimits.from_env`, README "Settings"):

- at most `max_connections` open connections in all and `max_per_client` from one client
  address. A connection beyond either cap is not handed to aiohttp: its first bytes are
  read (at most `header_timeout` seconds) and unless they are `GET /healthz` or
  `GET /metrics` it gets a bare 503 and is closed. `/healthz` thus keeps answering
  while other clients hold every connection: `health_reserve` more connections are kept
  for it. Beyond `max_connections + health_reserve`, or `PROBATION_PER_CLIENT` beyond its
  own share, a connection is closed at once.
  `max_connections` is also kept under the process's descriptor limit (`RLIMIT_NOFILE`)
  so that the database, Asterisk and the logs always get descriptors;
- a connection must send its first request's headers within `header_timeout` seconds
  (slow-loris); an idle keep-alive connection is closed after `idle_timeout` seconds
  (aiohttp's `keepalive_timeout`, which also closes a later request whose headers
  do not arrive in time);
- an `accept()` that fails for want of descriptors or memory (EMFILE, ENFILE, ENOBUFS,
  ENOMEM), and aiohttp's own errors of that kind, are logged once per
  `error_log_interval` seconds with the count of those not logged, not once per attempt.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import resource
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web

log = structlog.get_logger("frontdesk.web")

HEALTH_REQUESTS = (b"GET /healthz", b"GET /metrics")
OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n"
    b"Retry-After: 5\r\n\r\n"
)
DESCRIPTOR_HEADROOM = 128  # descriptors never given to dashboard connections
PROBATION_PER_CLIENT = 2  # connections beyond its share one client may try /healthz on
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PROBATION_SECONDS = 2.0  # at most this long to send the first bytes when beyond a cap
BODY_SECONDS = 10.0  # a request's whole body (client_max_size bounds its size)


@dataclass(frozen=True)
class ServerLimits:
    max_connections: int = 256
    max_per_client: int = 32
    health_reserve: int = 8
    header_timeout: float = 10.0
    idle_timeout: float = 15.0
    shutdown_timeout: float = 5.0
    error_log_interval: float = 60.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServerLimits:
        env = os.environ if env is None else env
        limits = cls(
            max_connections=int(env.get("FRONTDESK_HTTP_MAX_CONNECTIONS") or "256"),
            max_per_client=int(env.get("FRONTDESK_HTTP_MAX_PER_CLIENT") or "32"),
            header_timeout=float(env.get("FRONTDESK_HTTP_HEADER_TIMEOUT") or "10"),
            idle_timeout=float(env.get("FRONTDESK_HTTP_IDLE_TIMEOUT") or "15"),
        )
        if min(limits.max_connections, limits.max_per_client) < 1:
            raise ValueError("FRONTDESK_HTTP_MAX_CONNECTIONS and _MAX_PER_CLIENT must be >= 1")
        if min(limits.header_timeout, limits.idle_timeout) <= 0:
            raise ValueError("FRONTDESK_HTTP_HEADER_TIMEOUT and _IDLE_TIMEOUT must be > 0")
        return limits

    def under_descriptor_limit(self) -> ServerLimits:
        """These limits with `max_connections` lowered to fit `RLIMIT_NOFILE`."""
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return self
        room = max(8, soft - DESCRIPTOR_HEADROOM - self.health_reserve)
        if self.max_connections <= room:
            return self
        log.warning("dashboard.connections_lowered", to=room, descriptor_limit=soft)
        return ServerLimits(
            max_connections=room,
            max_per_client=min(self.max_per_client, room),
            health_reserve=self.health_reserve,
            header_timeout=self.header_timeout,
            idle_timeout=self.idle_timeout,
            shutdown_timeout=self.shutdown_timeout,
            error_log_interval=self.error_log_interval,
        )


@web.middleware
async def body_in_time(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every request body is read whole within BODY_SECONDS before any handler runs
    (aiohttp keeps it for the handler's `read`/`json`/`post`): a client sending its body a
    byte at a time holds a connection for seconds, not forever."""
    if request.can_read_body:
        try:
            async with asyncio.timeout(BODY_SECONDS):
                await request.read()
        except TimeoutError:
            return web.json_response({"error": "the request body took too long"}, status=408)
    return await handler(request)


class OncePerInterval:
    """Lets one of a kind through per interval; counts the others."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._last: dict[str, float] = {}
        self.suppressed: dict[str, int] = {}

    def allow(self, kind: str) -> tuple[bool, int]:
        """(whether to log it now, how many of the kind were not logged before it)."""
        now = self.clock()
        last = self._last.get(kind)
        if last is not None and now - last < self.interval:
            self.suppressed[kind] = self.suppressed.get(kind, 0) + 1
            return False, 0
        self._last[kind] = now
        return True, self.suppressed.pop(kind, 0)


def out_of_resources(exc: BaseException | None) -> bool:
    return isinstance(exc, OSError) and exc.errno in OUT_OF_RESOURCES


class ResourceErrorFilter(logging.Filter):
    """A logging filter (asyncio's and aiohttp's loggers): a record whose exception is
    out of descriptors or memory passes once per interval, without its traceback."""

    def __init__(self, limiter: OncePerInterval) -> None:
        super().__init__()
        self.limiter = limiter

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not out_of_resources(exc):
            return True
        allowed, skipped = self.limiter.allow(f"{record.name}:{record.msg}")
        if allowed:
            record.msg = f"{record.msg} ({exc}; {skipped} more not logged)"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return allowed


def loop_exception_handler(
    limiter: OncePerInterval,
    previous: Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object] | None,
) -> Callable[[asyncio.AbstractEventLoop, dict[str, Any]], None]:
    """The event loop's exception handler: `accept()` out of descriptors (which asyncio
    reports once per try) logged once per interval, anything else as before."""

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if out_of_resources(exc):
            allowed, skipped = limiter.allow(str(context.get("message")))
            if allowed:
                log.error(
                    "dashboard.out_of_resources",
                    message=context.get("message"),
                    error=str(exc),
                    not_logged=skipped,
                )
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    return handle


class ConnectionGate:
    """Counts connections in all and per client address; wraps aiohttp's protocol."""

    def __init__(self, factory: Callable[[], asyncio.BaseProtocol], limits: ServerLimits):
        self.factory = factory
        self.limits = limits
        self.total = 0
        self.per_client: dict[str, int] = {}
        self.refused = 0
        self._refusals = OncePerInterval(limits.error_log_interval)

    def __call__(self) -> asyncio.Protocol:
        return _Gated(self)

    def enter(self, client: str) -> str:
        """Counts a connection: "admit", "probation" (beyond a cap) or "refuse"."""
        self.total += 1
        held = self.per_client.get(client, 0) + 1
        self.per_client[client] = held
        limits = self.limits
        if self.total > limits.max_connections + limits.health_reserve:
            return "refuse"
        if held > limits.max_per_client + PROBATION_PER_CLIENT:
            return "refuse"  # one client never fills the reserve kept for /healthz
        if self.total > limits.max_connections or held > limits.max_per_client:
            return "probation"
        return "admit"

    def leave(self, client: str) -> None:
        self.total -= 1
        held = self.per_client.get(client, 0) - 1
        if held > 0:
            self.per_client[client] = held
        else:
            self.per_client.pop(client, None)

    def note_refused(self, client: str) -> None:
        self.refused += 1
        allowed, skipped = self._refusals.allow("refused")
        if allowed:
            log.warning(
                "dashboard.connection_refused",
                client=client,
                open=self.total,
                from_client=self.per_client.get(client, 0),
                not_logged=skipped,
            )


class _Gated(asyncio.Protocol):
    """One connection: handed to aiohttp's protocol when admitted; a header deadline."""

    def __init__(self, gate: ConnectionGate) -> None:
        self.gate = gate
        self.inner: asyncio.Protocol | None = None
        self.transport: asyncio.Transport | None = None
        self.client = ""
        self.first = b""  # bytes read on probation, or the tail of the first headers
        self.probation = False
        self.headers_done = False
        self.deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.client = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        verdict = self.gate.enter(self.client)
        if verdict == "refuse":
            self.gate.note_refused(self.client)
            transport.abort()
            return
        loop = asyncio.get_running_loop()
        timeout = self.gate.limits.header_timeout
        if verdict == "probation":
            self.probation = True
            timeout = min(timeout, PROBATION_SECONDS)
        self.deadline = loop.call_later(timeout, self._too_slow)
        if not self.probation:
            self._admit()

    def _admit(self) -> None:
        assert self.transport is not None
        self.inner = inner = self.gate.factory()  # type: ignore[assignment]
        assert inner is not None
        inner.connection_made(self.transport)

    def _too_slow(self) -> None:
        self.deadline = None
        if self.transport is not None and not self.transport.is_closing():
            if self.probation:
                self.gate.note_refused(self.client)
            self.transport.abort()

    def _refuse(self) -> None:
        assert self.transport is not None
        self.gate.note_refused(self.client)
        self.transport.write(REFUSAL)
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.probation:
            self.first += data
            if len(self.first) < 13 and b"\n" not in self.first:
                return
            if not self.first.startswith(HEALTH_REQUESTS):
                self._refuse()
                return
            self.probation = False
            data, self.first = self.first, b""
            self._admit()
        if not self.headers_done:
            seen = self.first + data
            if b"\r\n\r\n" in seen or b"\n\n" in seen:
                self.headers_done = True
                self.first = b""
                if self.deadline is not None:
                    self.deadline.cancel()
                    self.deadline = None
            else:
                self.first = seen[-3:]
        if self.inner is not None:
            self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        if self.inner is not None:
            return self.inner.eof_received()
        return None

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None
        self.gate.leave(self.client)
        if self.inner is not None:
            self.inner.connection_lost(exc)
            self.inner = None


class GatedSite(web.BaseSite):
    """A TCP site whose connections pass the `ConnectionGate` first."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, limits: ServerLimits):
        super().__init__(runner)
        self._host = host
        self._port = port
        self.limits = limits
        self.gate: ConnectionGate | None = None
        self.port: int | None = None

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self.port or self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        self.gate = ConnectionGate(server, self.limits)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self.gate, self._host, self._port, reuse_address=True
        )
        sockets = self._server.sockets
        self.port = int(sockets[0].getsockname()[1]) if sockets else None


_FILTERED_LOGGERS = ("asyncio", "aiohttp.server", "aiohttp.access", "aiohttp.web")


def quiet_resource_errors(interval: float) -> Callable[[], None]:
    """Installs the once-per-interval logging of descriptor exhaustion (the running loop's
    exception handler and a filter on asyncio's and aiohttp's loggers); returns the undo."""
    loop = asyncio.get_running_loop()
    limiter = OncePerInterval(interval)
    previous = loop.get_exception_handler()
    loop.set_exception_handler(loop_exception_handler(limiter, previous))
    log_filter = ResourceErrorFilter(limiter)
    for name in _FILTERED_LOGGERS:
        logging.getLogger(name).addFilter(log_filter)

    def undo() -> None:
        loop.set_exception_handler(previous)
        for name in _FILTERED_LOGGERS:
            logging.getLogger(name).removeFilter(log_filter)

    return undo


async def start_site(
    app: web.Application, host: str, port: int, limits: ServerLimits
) -> tuple[web.AppRunner, GatedSite]:
    """Starts the app on host:port behind the gate; the caller cleans the runner up.
    Raises OSError when the port is taken (the runner is cleaned up then)."""
    limits = limits.under_descriptor_limit()
    undo = quiet_resource_errors(limits.error_log_interval)

    async def restore_logging(_: web.Application) -> None:
        undo()

    app.on_cleanup.append(restore_logging)
    runner = web.AppRunner(
        app, keepalive_timeout=limits.idle_timeout, shutdown_timeout=limits.shutdown_timeout
    )
    await runner.setup()
    site = GatedSite(runner, host, port, limits)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    return runner, site
