"""FastAGI server on asyncio streams: `AGI(agi://host:4573/route)` sets the routing variables.

The conversation (transcript flow k, Asterisk 22.10.1; lines end in `\\n` both ways):

1. Asterisk sends `agi_*: value` lines (`agi_network_script: route?x=1`: the query string
   is part of the script name; `agi_accountcode: ` may be empty) and an empty line.
2. We answer with commands, one line each; every command gets one `200 result=...` line.
   `200 result=-1` means the channel hung up. A `HANGUP` line may arrive at any time,
   even between a command and its reply (flow k: after `result=-1`, between our next
   command and its `200`); `AgiChannel` skips it and remembers `hung_up`.
3. We close the socket; the dialplan continues with `AGISTATUS`.

Per call the server asks `decide(request) -> RouteVariables` (the routing core; sync or
async) and sets `FRONTDESK_CATEGORY`, `FRONTDESK_QUEUE`, `FRONTDESK_SKILLS` (comma
separated), `FRONTDESK_DESTINATION` and `FRONTDESK_LANGUAGE` with
`SET VARIABLE NAME "value"`. If `decide` fails or times out, the optional `fallback`
route is set; without one nothing is set and the dialplan must treat an empty
`FRONTDESK_QUEUE` as "route to the front desk".

Escaping of a value (`agi_quote`), so that caller-supplied text can neither break the
command line nor be evaluated by the dialplan:

- control characters (CR, LF, NUL, TAB, every C0 control and DEL) are removed: a CR/LF
  would end the AGI command and start another;
- `$`, `{` and `}` are removed: without them no `${...}` / `$[...]` expression can form,
  even if the dialplan later passes the value through EVAL() or concatenates it;
- the value is cut to `max_value_length` characters;
- `\\` becomes `\\\\` and `"` becomes `\\"`, and the whole value is put in double quotes:
  res_agi's argument parser (`parse_args`) then yields exactly one argument, verbatim.
- Not changed: `,`, `&`, `|`, `^`. The dialplan must not paste these variables into an
  application's argument list unchecked (`Dial(${FRONTDESK_DESTINATION})` with a `&`
  would add a device): use them in `Set()`/`GotoIf()` or map them to fixed values.

Limits: each header line is at most `max_line_length` bytes, at most `max_header_lines`
lines, and the whole header must arrive within `header_timeout` seconds (a client
dribbling one byte at a time is cut off); each reply is awaited at most `reply_timeout`
seconds, the whole session `session_timeout` seconds; beyond `max_connections`
concurrent sessions a new connection is closed at once. EOF, a truncated or oversized
header never blocks the event loop: every read is a bounded `readuntil` under a timeout.
Logs mask phone numbers with `mask_number`.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType, TracebackType
from typing import TypeAlias
from urllib.parse import parse_qsl

import structlog

from frontdesk.phone import mask_number

log = structlog.get_logger("frontdesk.agi")

VARIABLE_PREFIX = "FRONTDESK_"
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_EXPRESSION = re.compile(r"[${}]")
_REPLY = re.compile(r"(?P<code>\d{3})(?:[ -](?P<rest>.*))?\Z")
_RESULT = re.compile(r"result=(?P<result>\S*)(?:\s+\((?P<data>.*)\))?")
_UNKNOWN = frozenset({"", "unknown"})
_MAX_SKIPPED_LINES = 64


class AgiError(Exception):
    """Base class of FastAGI session errors."""


class AgiProtocolError(AgiError):
    """The peer broke the protocol or a limit (oversized or malformed header, ...)."""


class AgiClosed(AgiError):
    """The peer closed the connection (possibly in the middle of the header)."""


class AgiTimeout(AgiError, TimeoutError):
    """A header or a reply did not arrive in time."""


@dataclass(frozen=True)
class AgiSettings:
    host: str = "127.0.0.1"
    port: int = 4573
    scripts: frozenset[str] | None = frozenset({"route"})  # None: serve any script name
    max_line_length: int = 2048
    max_header_lines: int = 200  # ~22 agi_* lines plus agi_arg_N
    header_timeout: float = 5.0
    reply_timeout: float = 5.0
    decide_timeout: float = 2.0
    write_timeout: float = 5.0
    session_timeout: float = 30.0
    max_connections: int = 64
    max_value_length: int = 256


@dataclass(frozen=True)
class AgiRequest:
    """The `agi_*` environment of one call, with convenient accessors."""

    env: Mapping[str, str]

    def get(self, name: str) -> str | None:
        """`get("callerid")` or `get("agi_callerid")`."""
        return self.env.get(name if name.startswith("agi_") else f"agi_{name}")

    def _known(self, name: str) -> str | None:
        value = self.get(name)
        return None if value is None or value.strip().lower() in _UNKNOWN else value

    @property
    def network_script(self) -> str:
        return self.get("network_script") or ""

    @property
    def script(self) -> str:
        """`route` for `agi_network_script: route?x=1`."""
        return self.network_script.partition("?")[0].strip("/")

    @property
    def query(self) -> dict[str, str]:
        """`{"x": "1"}` for `route?x=1` (last value wins)."""
        return dict(parse_qsl(self.network_script.partition("?")[2], keep_blank_values=True))

    @property
    def caller(self) -> str | None:
        """`agi_callerid`, None if withheld (`unknown` or empty)."""
        return self._known("callerid")

    @property
    def caller_name(self) -> str | None:
        return self._known("calleridname")

    @property
    def dnid(self) -> str | None:
        return self._known("dnid")

    @property
    def extension(self) -> str | None:
        return self._known("extension")

    @property
    def did(self) -> str | None:
        """The dialled number: `agi_dnid`, else the dialplan extension."""
        return self.dnid or self.extension

    @property
    def channel(self) -> str:
        return self.get("channel") or ""

    @property
    def uniqueid(self) -> str:
        return self.get("uniqueid") or ""

    @property
    def language(self) -> str:
        return self.get("language") or ""

    @property
    def context(self) -> str:
        return self.get("context") or ""

    @property
    def arguments(self) -> tuple[str, ...]:
        """`agi_arg_1`, `agi_arg_2`, ... in order."""
        out: list[str] = []
        while (value := self.get(f"arg_{len(out) + 1}")) is not None:
            out.append(value)
        return tuple(out)


@dataclass(frozen=True)
class RouteVariables:
    """What the routing core decided; set on the channel as `FRONTDESK_*`."""

    category: str
    queue: str
    skills: tuple[str, ...] = ()
    destination: str = ""
    language: str = ""

    def channel_variables(self) -> tuple[tuple[str, str], ...]:
        return (
            (f"{VARIABLE_PREFIX}CATEGORY", self.category),
            (f"{VARIABLE_PREFIX}QUEUE", self.queue),
            (f"{VARIABLE_PREFIX}SKILLS", ",".join(self.skills)),
            (f"{VARIABLE_PREFIX}DESTINATION", self.destination),
            (f"{VARIABLE_PREFIX}LANGUAGE", self.language),
        )


Decide: TypeAlias = Callable[[AgiRequest], RouteVariables | Awaitable[RouteVariables]]


def default_decide(request: AgiRequest) -> RouteVariables:
    """Stand-in until the routing core is plugged in: every call to the front desk."""
    return RouteVariables(
        category="general",
        queue="front-desk",
        destination="queue:front-desk",
        language=request.language or "en",
    )


# -- escaping -------------------------------------------------------------------------------


def neutralize_value(value: str, max_length: int = 256) -> str:
    """Drop control characters and `$ { }`, then cut to `max_length` characters."""
    return _EXPRESSION.sub("", _CONTROL.sub("", value))[:max_length]


def agi_quote(value: str, max_length: int = 256) -> str:
    """One AGI argument: neutralised, `\\` and `"` escaped, in double quotes."""
    clean = neutralize_value(value, max_length)
    return '"' + clean.replace("\\", "\\\\").replace('"', '\\"') + '"'


def set_variable_command(name: str, value: str, max_length: int = 256) -> str:
    if not _VARIABLE_NAME.match(name):
        raise ValueError(f"invalid channel variable name {name!r}")
    return f"SET VARIABLE {name} {agi_quote(value, max_length)}"


# -- replies --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgiReply:
    """`200 result=1 (billing)` -> code 200, result "1", data "billing"."""

    code: int
    result: str | None = None
    data: str | None = None
    text: str = ""

    @property
    def ok(self) -> bool:
        return self.code == 200

    @property
    def hung_up(self) -> bool:
        return self.code == 200 and self.result == "-1"


def parse_reply(line: str) -> AgiReply:
    match = _REPLY.match(line)
    if match is None:
        raise AgiProtocolError("unexpected line where an AGI reply was due")
    rest = match.group("rest") or ""
    result = _RESULT.match(rest)
    if result is None:
        return AgiReply(int(match.group("code")), text=line)
    return AgiReply(int(match.group("code")), result.group("result"), result.group("data"), line)


# -- reading --------------------------------------------------------------------------------


async def read_line(reader: asyncio.StreamReader) -> str:
    """One `\\n`-terminated line (CR tolerated), bounded by the reader's limit."""
    try:
        raw = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        raise AgiClosed(
            "connection closed mid-line" if exc.partial else "connection closed"
        ) from None
    except asyncio.LimitOverrunError:
        raise AgiProtocolError("line longer than the limit") from None
    except ConnectionError as exc:
        raise AgiClosed(f"connection error: {exc}") from None
    return raw.rstrip(b"\r\n").decode("utf-8", errors="replace")


async def read_environment(reader: asyncio.StreamReader, settings: AgiSettings) -> dict[str, str]:
    """The `agi_*` header up to its empty line, within `header_timeout` in total."""
    env: dict[str, str] = {}
    try:
        async with asyncio.timeout(settings.header_timeout):
            for _ in range(settings.max_header_lines + 1):
                line = await read_line(reader)
                if not line:
                    return env
                key, sep, value = line.partition(":")
                if not sep or not key.startswith("agi_"):
                    raise AgiProtocolError("malformed AGI header line")
                env[key] = value.removeprefix(" ")
    except TimeoutError:
        raise AgiTimeout(f"AGI header not complete within {settings.header_timeout} s") from None
    raise AgiProtocolError(f"AGI header longer than {settings.max_header_lines} lines")


class AgiChannel:
    """Commands to one AGI channel; copes with `HANGUP` lines arriving out of step."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, settings: AgiSettings
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._settings = settings
        self.hung_up = False

    async def command(self, line: str, *, timeout: float | None = None) -> AgiReply:
        """Send one command line and return its reply (skipping `HANGUP`, `100 Trying`)."""
        if "\n" in line or "\r" in line:
            raise ValueError("an AGI command is one line")
        self._writer.write(line.encode("utf-8") + b"\n")
        try:
            async with asyncio.timeout(self._settings.write_timeout):
                await self._writer.drain()
        except TimeoutError:
            raise AgiTimeout("AGI write blocked") from None
        except ConnectionError as exc:
            raise AgiClosed(f"connection error: {exc}") from None
        wait = self._settings.reply_timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(wait):
                return await self._read_reply()
        except TimeoutError:
            raise AgiTimeout(f"no AGI reply within {wait} s") from None

    async def _read_reply(self) -> AgiReply:
        for _ in range(_MAX_SKIPPED_LINES):
            line = await read_line(self._reader)
            if line == "HANGUP":
                self.hung_up = True
                continue
            if not line or line.startswith("100"):
                continue
            if line.startswith("520-"):
                return await self._read_usage(line)
            reply = parse_reply(line)
            self.hung_up = self.hung_up or reply.hung_up
            return reply
        raise AgiProtocolError("too many lines without an AGI reply")

    async def _read_usage(self, first: str) -> AgiReply:
        """`520-Invalid command syntax...` then usage lines, ending `520 End of proper usage.`"""
        for _ in range(_MAX_SKIPPED_LINES):
            if (await read_line(self._reader)).startswith("520 "):
                return AgiReply(520, text=first)
        raise AgiProtocolError("520 usage text without its end line")

    async def set_variable(self, name: str, value: str) -> AgiReply:
        command = set_variable_command(name, value, self._settings.max_value_length)
        return await self.command(command)

    async def get_variable(self, name: str) -> str | None:
        if not _VARIABLE_NAME.match(name) and not re.fullmatch(r"[A-Z]+\([A-Za-z0-9_]*\)", name):
            raise ValueError(f"invalid variable name {name!r}")
        reply = await self.command(f"GET VARIABLE {name}")
        return reply.data if reply.ok and reply.result == "1" else None


# -- server ---------------------------------------------------------------------------------


class FastAgiServer:
    """Accepts FastAGI connections and sets each call's routing variables."""

    def __init__(
        self,
        decide: Decide = default_decide,
        settings: AgiSettings | None = None,
        *,
        fallback: RouteVariables | None = None,
    ) -> None:
        self.settings = settings or AgiSettings()
        self._decide = decide
        self._fallback = fallback
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.active = 0
        self.refused = 0
        self.served = 0

    @property
    def port(self) -> int:
        """The bound port (useful with `port=0`)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("FastAGI server not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        s = self.settings
        self._server = await asyncio.start_server(
            self._accept, s.host, s.port, limit=s.max_line_length
        )
        log.info("agi_listening", host=s.host, port=self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> FastAgiServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.active >= self.settings.max_connections:
            self.refused += 1
            log.warning("agi_connection_refused", active=self.active)
            writer.transport.abort()
            return
        self.active += 1
        task = asyncio.create_task(self._handle(reader, writer), name="fastagi-session")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(self.settings.session_timeout):
                await self._session(reader, writer)
        except AgiError as exc:
            log.warning("agi_session_failed", error_type=type(exc).__name__, error=str(exc))
        except TimeoutError:
            log.warning("agi_session_timeout", seconds=self.settings.session_timeout)
        except Exception:
            log.exception("agi_session_crashed")
        finally:
            self.active -= 1
            await _close(writer)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = AgiRequest(MappingProxyType(await read_environment(reader, self.settings)))
        scripts = self.settings.scripts
        if scripts is not None and request.script not in scripts:
            log.warning("agi_unknown_script", script=request.script[:64])
            return
        log.info(
            "agi_request",
            script=request.script,
            caller=mask_number(request.caller),
            did=mask_number(request.did),
            uniqueid=request.uniqueid,
        )
        route = await self._route(request)
        if route is None:
            return
        channel = AgiChannel(reader, writer, self.settings)
        for name, value in route.channel_variables():
            reply = await channel.set_variable(name, value)
            if not reply.ok:
                log.warning("agi_set_variable_refused", variable=name, code=reply.code)
        self.served += 1
        log.info("agi_routed", category=route.category, queue=route.queue, hung_up=channel.hung_up)

    async def _route(self, request: AgiRequest) -> RouteVariables | None:
        try:
            async with asyncio.timeout(self.settings.decide_timeout):
                outcome = self._decide(request)
                route = outcome if isinstance(outcome, RouteVariables) else await outcome
            if not isinstance(route, RouteVariables):
                raise TypeError(f"decide() returned {type(route).__name__}, not RouteVariables")
            return route
        except Exception:
            log.exception("agi_decide_failed", fallback=self._fallback is not None)
            return self._fallback


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, TimeoutError):
        async with asyncio.timeout(1.0):
            await writer.wait_closed()
