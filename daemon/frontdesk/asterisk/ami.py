"""AMI client on asyncio streams, built on the sans-IO `ami_codec`.

Why our own (see docs/ami-fastagi.md for the measurements): panoramisk 1.4 re-sends
unanswered actions (an Originate!) after a reconnect, never notices a half-open
connection, raises nothing on a wrong secret and drops multi-byte UTF-8 split across
reads; astami 1.1.0 has no event stream, no watchdog and no reconnect, and neither
refuses CR/LF in values.

Rules this client keeps:

- `start()` connects, reads the banner (timed) and logs in with `Events: on`. Events are
  filtered at the source by the user's `eventfilter` lines in manager.conf
  (asterisk-conf/manager.conf) and again here (`AmiSettings.events`). `Action: Filter` is
  sent only with `server_filter=True`: Asterisk registers it with EVENT_FLAG_SYSTEM, and
  `write = system` would also allow Reload, ModuleLoad and GetConfig. A wrong secret raises `AmiAuthError` (Asterisk answers
  `Response: Error` / `Authentication failed` after ~1 s and closes). If Asterisk is
  not reachable yet, `start()` returns and the client keeps trying in the background.
- a watchdog sends `Ping` every `ping_interval` s; no answer within `ping_timeout` s
  means the connection is half-open: it is closed and re-established. Reads are also
  bounded by `ping_interval + ping_timeout` of silence.
- reconnects use jittered exponential backoff (`backoff_delay`).
- an action is NEVER re-sent: when the connection drops, every action waiting for its
  answer fails with `AmiConnectionLost` (the caller decides; for an Originate the call
  may or may not have been placed). Actions issued while disconnected fail at once with
  `AmiNotConnected`; nothing is queued.
- during a graceful shutdown Asterisk answers every action (Ping too) with
  `Response: Error` / `Asterisk is shutting down`: `action()` raises `AmiShuttingDown`,
  `shutting_down` becomes True, and the watchdog does not count it as a failure. The
  `Shutdown` event and EOF follow; the client then reconnects with backoff.
- logs carry action and event names, never field values (they hold phone numbers).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType

import structlog

from frontdesk.asterisk.ami_codec import (
    DEFAULT_MAX_BLOCK_BYTES,
    DEFAULT_MAX_FIELDS,
    DEFAULT_MAX_LINE_LENGTH,
    AmiCodec,
    AmiMessage,
    AmiProtocolError,
    Banner,
    Event,
    FieldValue,
    Response,
    serialize_action,
)

log = structlog.get_logger("frontdesk.ami")

SHUTTING_DOWN_MESSAGE = "Asterisk is shutting down"
DEFAULT_EVENTS = frozenset(
    {"DeviceStateChange", "ContactStatus", "Cdr", "FullyBooted", "Shutdown", "UserEvent"}
)
_ALWAYS_WANTED = frozenset({"FullyBooted", "Shutdown"})
_END = object()


class AmiError(Exception):
    """Base class of the AMI client's errors."""


class AmiAuthError(AmiError):
    """Login refused (wrong username or secret, or not permitted from this address)."""


class AmiNotConnected(AmiError):
    """No logged-in connection right now; the action was not sent."""


class AmiConnectionLost(AmiError):
    """The connection dropped before the answer came. The action is NOT re-sent."""


class AmiClosed(AmiConnectionLost):
    """The client was closed while the action waited."""


class AmiActionTimeout(AmiError, TimeoutError):
    """No answer within the timeout; the action may still take effect on Asterisk."""


class AmiShuttingDown(AmiError):
    """Asterisk answered `Asterisk is shutting down`: it is going away."""


class ConnectionState(enum.Enum):
    STOPPED = "stopped"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


@dataclass(frozen=True)
class AmiSettings:
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = ""
    secret: str = field(default="", repr=False)
    connect_timeout: float = 5.0
    banner_timeout: float = 5.0
    login_timeout: float = 5.0  # a wrong secret is answered after ~1 s
    action_timeout: float = 10.0
    write_timeout: float = 5.0
    ping_interval: float = 10.0
    ping_timeout: float = 5.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    backoff_jitter: float = 0.5  # fraction of the delay that is randomised
    stable_after: float = 60.0  # a session this long resets the backoff
    events: frozenset[str] | None = DEFAULT_EVENTS  # None: every event
    # Also ask Asterisk to send only these (`Action: Filter`, needs `write = system`). Off:
    # frontdesk's manager.conf user has eventfilter lines instead (the module docstring).
    server_filter: bool = False
    event_queue_size: int = 10_000  # per subscription; the oldest is dropped when full
    read_size: int = 64 * 1024
    max_list_events: int = 50_000
    max_line_length: int = DEFAULT_MAX_LINE_LENGTH
    max_block_bytes: int = DEFAULT_MAX_BLOCK_BYTES
    max_fields: int = DEFAULT_MAX_FIELDS


@dataclass(frozen=True)
class ListResult:
    """A list action's answer and the events that followed it (ending `EventList: Complete`)."""

    response: Response
    events: tuple[Event, ...] = ()


def backoff_delay(
    attempt: int, *, initial: float, maximum: float, jitter: float, rng: random.Random
) -> float:
    """Exponential backoff capped at `maximum`, reduced by up to `jitter` (a fraction)."""
    base = min(maximum, initial * 2.0 ** min(attempt, 32))
    return base * (1.0 - jitter * rng.random())


@dataclass
class _Pending:
    name: str
    future: asyncio.Future[ListResult]
    collect: bool
    response: Response | None = None
    events: list[Event] = field(default_factory=list)


class _Connection:
    """One TCP session: its codec, its waiting actions, its reader task."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, codec: AmiCodec
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.codec = codec
        self.pending: dict[str, _Pending] = {}
        self.banner: asyncio.Future[Banner] = asyncio.get_running_loop().create_future()
        self.reader_task: asyncio.Task[None] | None = None
        self.closed_reason: str | None = None

    def fail(self, exc: AmiError) -> None:
        """Mark the session dead: every waiting action fails, nothing is re-sent."""
        if self.closed_reason is None:
            self.closed_reason = str(exc)
        if not self.banner.done():
            self.banner.set_exception(exc)
            self.banner.exception()  # mark retrieved
        pending, self.pending = self.pending, {}
        for item in pending.values():
            if not item.future.done():
                item.future.set_exception(exc)
        if pending:
            log.warning("ami_actions_failed", count=len(pending), reason=str(exc))
        self.writer.close()


class EventSubscription:
    """Async iterator over events; bounded, drops the oldest when the consumer lags."""

    def __init__(self, maxsize: int, unsubscribe: Callable[[EventSubscription], None]) -> None:
        self._queue: asyncio.Queue[Event | object] = asyncio.Queue(maxsize=max(1, maxsize))
        self._unsubscribe = unsubscribe
        self._ended = False
        self.dropped = 0

    def put(self, event: Event) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("ami_events_dropped", dropped=self.dropped)
        self._queue.put_nowait(event)

    def end(self) -> None:
        if not self._ended:
            self._ended = True
            if self._queue.full():
                self._queue.get_nowait()
            self._queue.put_nowait(_END)

    def close(self) -> None:
        self._unsubscribe(self)
        self.end()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        item = await self._queue.get()
        if isinstance(item, Event):
            return item
        raise StopAsyncIteration

    def __enter__(self) -> EventSubscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


EventListener = Callable[[Event], None]
StateListener = Callable[[ConnectionState], None]


class AmiClient:
    """A self-healing AMI connection. See the module docstring for its rules."""

    def __init__(self, settings: AmiSettings, *, rng: random.Random | None = None) -> None:
        self.settings = settings
        self._rng = rng or random.Random()
        self._ids = itertools.count(1)
        self._id_prefix = uuid.uuid4().hex[:8]
        self._state = ConnectionState.STOPPED
        self._conn: _Connection | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._closing = False
        self._connected_event = asyncio.Event()
        self._subscriptions: set[EventSubscription] = set()
        self._listeners: list[EventListener] = []
        self._state_listeners: list[StateListener] = []
        self.shutting_down = False
        self.last_error: str | None = None
        self.connects = 0
        # The last `FullyBooted` (sent at each login): its `Uptime` and when it came, by
        # this machine's clock: Asterisk's start in UTC (asterisk/pbx_clock.py).
        self.fully_booted: tuple[int, float] | None = None

    # -- observable state -----------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def connected(self) -> bool:
        return self._state is ConnectionState.CONNECTED

    def add_state_listener(self, listener: StateListener) -> Callable[[], None]:
        """Call `listener(state)` on every change; returns a function that removes it."""
        self._state_listeners.append(listener)
        return lambda: self._state_listeners.remove(listener)

    async def wait_connected(self, timeout: float) -> None:
        """Wait until logged in; raises TimeoutError."""
        async with asyncio.timeout(timeout):
            await self._connected_event.wait()

    def _set_state(self, state: ConnectionState) -> None:
        if state is self._state:
            return
        self._state = state
        if state is ConnectionState.CONNECTED:
            self._connected_event.set()
        else:
            self._connected_event.clear()
        log.info("ami_state", state=state.value)
        for listener in list(self._state_listeners):
            _call_safely(listener, state)

    # -- events -------------------------------------------------------------------------

    def events(self, maxsize: int | None = None) -> EventSubscription:
        """A new subscription: `async for event in client.events(): ...`."""
        subscription = EventSubscription(
            maxsize or self.settings.event_queue_size, self._subscriptions.discard
        )
        self._subscriptions.add(subscription)
        return subscription

    def add_listener(self, listener: EventListener) -> Callable[[], None]:
        """Call `listener(event)` (synchronously) for every wanted event; returns a remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _wanted(self, event: Event) -> bool:
        wanted = self.settings.events
        return wanted is None or event.name in wanted or event.name in _ALWAYS_WANTED

    def _publish(self, event: Event) -> None:
        if not self._wanted(event):
            return
        for subscription in list(self._subscriptions):
            subscription.put(event)
        for listener in list(self._listeners):
            _call_safely(listener, event)

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and log in once, then keep the connection alive in the background.

        Raises `AmiAuthError` on a refused login. Any other failure is logged and retried.
        """
        if self._supervisor is not None or self._closing:
            raise RuntimeError("AmiClient.start() may be called once")
        self._set_state(ConnectionState.CONNECTING)
        first: _Connection | None = None
        try:
            first = await self._establish()
        except AmiAuthError:
            self._set_state(ConnectionState.STOPPED)
            raise
        except (OSError, TimeoutError, AmiError) as exc:
            self._note_failure("ami_connect_failed", exc)
            self._set_state(ConnectionState.DISCONNECTED)
        self._supervisor = asyncio.create_task(self._supervise(first), name="ami-supervisor")

    async def close(self) -> None:
        """Log off, close, fail waiting actions with `AmiClosed`, end subscriptions."""
        self._closing = True
        conn = self._conn
        if conn is not None and self.connected:
            with contextlib.suppress(AmiError, OSError, TimeoutError):
                await self._request(conn, "Logoff", {}, 1.0, collect=False)
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        for open_conn in (conn, self._conn):  # the supervisor may have swapped it
            if open_conn is not None:
                await self._teardown(open_conn, AmiClosed("client closed"))
        self._conn = None
        self._set_state(ConnectionState.STOPPED)
        for subscription in list(self._subscriptions):
            subscription.end()

    async def __aenter__(self) -> AmiClient:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _supervise(self, first: _Connection | None) -> None:
        attempt = 0
        conn = first
        while not self._closing:
            if conn is None:
                await asyncio.sleep(self._next_delay(attempt))
                attempt += 1
                conn = await self._try_establish()
                continue
            started = time.monotonic()
            await self._run_session(conn)
            conn = None
            if time.monotonic() - started >= self.settings.stable_after:
                attempt = 0

    def _next_delay(self, attempt: int) -> float:
        s = self.settings
        delay = backoff_delay(
            attempt,
            initial=s.backoff_initial,
            maximum=s.backoff_max,
            jitter=s.backoff_jitter,
            rng=self._rng,
        )
        log.info("ami_reconnect_in", seconds=round(delay, 3), attempt=attempt + 1)
        return delay

    async def _try_establish(self) -> _Connection | None:
        self._set_state(ConnectionState.CONNECTING)
        try:
            return await self._establish()
        except (OSError, TimeoutError, AmiError) as exc:
            self._note_failure("ami_connect_failed", exc)
            self._set_state(ConnectionState.DISCONNECTED)
            return None

    def _note_failure(self, what: str, exc: BaseException) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, AmiAuthError):
            log.error(what, error=self.last_error)
        else:
            log.warning(what, error=self.last_error)

    async def _establish(self) -> _Connection:
        s = self.settings
        async with asyncio.timeout(s.connect_timeout):
            reader, writer = await asyncio.open_connection(s.host, s.port)
        codec = AmiCodec(
            max_line_length=s.max_line_length,
            max_block_bytes=s.max_block_bytes,
            max_fields=s.max_fields,
        )
        conn = _Connection(reader, writer, codec)
        conn.reader_task = asyncio.create_task(self._read_loop(conn), name="ami-reader")
        try:
            await self._handshake(conn)
        except BaseException as exc:
            reason = exc if isinstance(exc, AmiError) else AmiConnectionLost(f"handshake: {exc!r}")
            await self._teardown(conn, reason)
            raise
        return conn

    async def _handshake(self, conn: _Connection) -> None:
        s = self.settings
        try:
            async with asyncio.timeout(s.banner_timeout):
                banner = await asyncio.shield(conn.banner)
        except TimeoutError:
            raise AmiConnectionLost(f"no AMI banner within {s.banner_timeout} s") from None
        log.info("ami_banner", version=banner.version)
        login = {"Username": s.username, "Secret": s.secret, "Events": "on"}
        result = await self._request(conn, "Login", login, s.login_timeout, collect=False)
        if not result.response.ok:
            raise AmiAuthError(f"AMI login refused: {result.response.message or 'no reason'}")
        await self._install_filter(conn)
        self.connects += 1
        self.shutting_down = False
        self.last_error = None
        self._conn = conn
        self._set_state(ConnectionState.CONNECTED)

    async def _install_filter(self, conn: _Connection) -> None:
        events = self.settings.events
        if events is None or not self.settings.server_filter:
            return
        for name in sorted(events | _ALWAYS_WANTED):
            fields = {"Operation": "Add", "Filter": f"Event: {name}"}
            result = await self._request(
                conn, "Filter", fields, self.settings.action_timeout, collect=False
            )
            if not result.response.ok:
                # "Permission denied" without `write = system`: use manager.conf's
                # eventfilter lines instead; the client-side filter still applies.
                log.warning("ami_filter_refused", message=result.response.message)
                return

    async def _run_session(self, conn: _Connection) -> None:
        assert conn.reader_task is not None
        watchdog = asyncio.create_task(self._watchdog(conn), name="ami-watchdog")
        try:
            await asyncio.wait({conn.reader_task, watchdog}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            watchdog.cancel()
            reason = conn.closed_reason or "connection lost"
            lost = AmiClosed("client closed") if self._closing else AmiConnectionLost(reason)
            await self._teardown(conn, lost)
            if self._conn is conn:
                self._conn = None
            if not self._closing:
                self._set_state(ConnectionState.DISCONNECTED)
                log.warning("ami_disconnected", reason=conn.closed_reason)

    async def _teardown(self, conn: _Connection, reason: AmiError) -> None:
        conn.fail(reason)
        task = conn.reader_task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(1.0):
                await conn.writer.wait_closed()

    # -- reading ------------------------------------------------------------------------

    async def _read_loop(self, conn: _Connection) -> None:
        s = self.settings
        idle = s.ping_interval + s.ping_timeout
        try:
            while True:
                async with asyncio.timeout(idle):
                    data = await conn.reader.read(s.read_size)
                if not data:
                    conn.codec.receive_eof()
                    raise AmiConnectionLost("Asterisk closed the connection")
                self._dispatch_all(conn, conn.codec.feed(data))
        except AmiProtocolError as exc:
            self._dispatch_all(conn, exc.parsed)
            log.error("ami_protocol_error", reason=exc.reason)
            conn.fail(AmiConnectionLost(f"protocol error: {exc.reason}"))
        except TimeoutError:
            conn.fail(AmiConnectionLost(f"no data for {idle} s: connection half-open"))
        except AmiConnectionLost as exc:
            conn.fail(exc)
        except OSError as exc:
            conn.fail(AmiConnectionLost(f"socket error: {exc}"))
        except Exception as exc:
            log.exception("ami_reader_crashed")
            conn.fail(AmiConnectionLost(f"reader crashed: {type(exc).__name__}"))

    def _dispatch_all(self, conn: _Connection, messages: Iterable[AmiMessage]) -> None:
        for message in messages:
            if isinstance(message, Banner):
                if not conn.banner.done():
                    conn.banner.set_result(message)
            elif isinstance(message, Response):
                self._on_response(conn, message)
            else:
                self._on_event(conn, message)

    def _on_response(self, conn: _Connection, response: Response) -> None:
        pending = conn.pending.get(response.action_id or "")
        if pending is None:
            log.debug("ami_unmatched_response", status=response.status)
            return
        if response.message == SHUTTING_DOWN_MESSAGE and not response.ok:
            self._mark_shutting_down()
        if pending.collect and response.ok and response.starts_list:
            pending.response = response
            return
        self._resolve(conn, response.action_id or "", ListResult(response))

    def _on_event(self, conn: _Connection, event: Event) -> None:
        pending = conn.pending.get(event.action_id or "")
        if pending is not None and pending.collect and pending.response is not None:
            self._collect(conn, pending, event)
            return
        if event.name == "Shutdown":
            self._mark_shutting_down()
        if event.name == "FullyBooted" and (event.get("Uptime") or "").strip().isdigit():
            self.fully_booted = (int(event.get("Uptime") or "0"), time.time())
        self._publish(event)

    def _collect(self, conn: _Connection, pending: _Pending, event: Event) -> None:
        assert pending.response is not None
        action_id = pending.response.action_id or ""
        if event.ends_list:
            self._resolve(conn, action_id, ListResult(pending.response, tuple(pending.events)))
        elif len(pending.events) >= self.settings.max_list_events:
            conn.pending.pop(action_id, None)
            if not pending.future.done():
                pending.future.set_exception(
                    AmiError(
                        f"{pending.name}: more than {self.settings.max_list_events} list events"
                    )
                )
        else:
            pending.events.append(event)

    @staticmethod
    def _resolve(conn: _Connection, action_id: str, result: ListResult) -> None:
        pending = conn.pending.pop(action_id, None)
        if pending is not None and not pending.future.done():
            pending.future.set_result(result)

    def _mark_shutting_down(self) -> None:
        if not self.shutting_down:
            log.warning("ami_asterisk_shutting_down")
        self.shutting_down = True

    # -- watchdog -------------------------------------------------------------------------

    async def _watchdog(self, conn: _Connection) -> None:
        s = self.settings
        while True:
            await asyncio.sleep(s.ping_interval)
            try:
                result = await self._request(conn, "Ping", {}, s.ping_timeout, collect=False)
            except AmiActionTimeout:
                log.warning("ami_half_open", ping_timeout=s.ping_timeout)
                conn.fail(AmiConnectionLost(f"no Ping answer within {s.ping_timeout} s: half-open"))
                return
            except AmiError:
                return  # the reader has already failed the connection
            if result.response.message == SHUTTING_DOWN_MESSAGE:
                continue  # Asterisk going away: Shutdown + EOF follow
            if not result.response.ok:
                log.warning("ami_ping_error", message=result.response.message)

    # -- actions ----------------------------------------------------------------------------

    async def action(
        self, name: str, /, *, reply_timeout: float | None = None, **fields: FieldValue
    ) -> Response:
        """Send one action and return its response (check `response.ok`).

        Raises `UnsafeValueError` (nothing sent) for CR/LF in a value, `AmiNotConnected`,
        `AmiConnectionLost` (never re-sent), `AmiActionTimeout`, `AmiShuttingDown`.
        """
        result = await self._call(name, fields, reply_timeout, collect=False)
        return result.response

    async def action_list(
        self, name: str, /, *, reply_timeout: float | None = None, **fields: FieldValue
    ) -> ListResult:
        """Send a list action (`CoreShowChannels`, `QueueStatus`...) and collect its events."""
        return await self._call(name, fields, reply_timeout, collect=True)

    async def user_event(self, name: str, /, **fields: FieldValue) -> Response:
        """Raise `UserEvent` `name` with the given headers (`Action: UserEvent`)."""
        result = await self._call("UserEvent", {"UserEvent": name, **fields}, None, collect=False)
        return result.response

    async def _call(
        self, name: str, fields: Mapping[str, FieldValue], timeout: float | None, *, collect: bool
    ) -> ListResult:
        conn = self._conn
        if conn is None or not self.connected:
            raise AmiNotConnected(f"{name}: AMI is not connected")
        if timeout is None:
            timeout = self.settings.action_timeout
        result = await self._request(conn, name, fields, timeout, collect=collect)
        if not result.response.ok and result.response.message == SHUTTING_DOWN_MESSAGE:
            raise AmiShuttingDown(f"{name}: {SHUTTING_DOWN_MESSAGE}")
        return result

    async def _request(
        self,
        conn: _Connection,
        name: str,
        fields: Mapping[str, FieldValue],
        timeout: float,
        *,
        collect: bool,
    ) -> ListResult:
        action_id = f"fd-{self._id_prefix}-{next(self._ids)}"
        payload = serialize_action(name, action_id, fields)  # refuses CR/LF before any I/O
        if conn.closed_reason is not None:
            raise AmiConnectionLost(f"{name}: {conn.closed_reason}")
        future: asyncio.Future[ListResult] = asyncio.get_running_loop().create_future()
        conn.pending[action_id] = _Pending(name, future, collect)
        try:
            await self._write(conn, name, payload)
            try:
                async with asyncio.timeout(timeout):
                    return await future
            except TimeoutError:
                raise AmiActionTimeout(f"{name}: no answer within {timeout} s") from None
        finally:
            conn.pending.pop(action_id, None)

    async def _write(self, conn: _Connection, name: str, payload: bytes) -> None:
        """Write one action; a peer that does not read for `write_timeout` s is dropped."""
        try:
            conn.writer.write(payload)
            async with asyncio.timeout(self.settings.write_timeout):
                await conn.writer.drain()
        except TimeoutError:
            conn.fail(AmiConnectionLost(f"write blocked for {self.settings.write_timeout} s"))
            raise AmiConnectionLost(f"{name}: write timed out") from None
        except (ConnectionError, OSError) as exc:
            conn.fail(AmiConnectionLost(f"socket error: {exc}"))
            raise AmiConnectionLost(f"{name}: {exc}") from None


def _call_safely(listener: Callable[..., None], arg: object) -> None:
    try:
        listener(arg)
    except Exception:
        log.exception("ami_listener_failed")
