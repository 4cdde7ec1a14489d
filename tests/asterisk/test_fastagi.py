"""FastAGI server over real loopback sockets: flow k replayed, hostile peers, safe values.

The test client plays Asterisk: it sends the `agi_*` header of transcript flow k and
answers each command line the way Asterisk 22.10.1 did, including the `HANGUP` line
that arrived between a command and its `200 result=` reply.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from frontdesk.asterisk.fastagi import (
    AgiChannel,
    AgiProtocolError,
    AgiRequest,
    AgiSettings,
    FastAgiServer,
    RouteVariables,
    agi_quote,
    default_decide,
    neutralize_value,
    parse_reply,
    read_environment,
    set_variable_command,
)

TRANSCRIPTS = Path(__file__).resolve().parents[3] / "shared" / "asterisk" / "transcripts"
FLOW_K = TRANSCRIPTS / "flow_k_fastagi_conversation_caller_hangup.jsonl"
CALLER = "+13125550109"

# Flow k, Asterisk -> server, one write (agi_accountcode has an empty value).
ENV_K = (
    "agi_network: yes\nagi_network_script: route?x=1\nagi_request: agi://127.0.0.1:4573/route?x=1\n"
    "agi_channel: PJSIP/trunk-00000011\nagi_language: en\nagi_type: PJSIP\n"
    "agi_uniqueid: lab-1795741768.25\nagi_version: 22.10.1\nagi_callerid: +13125550109\n"
    "agi_calleridname: PSTN Caller\nagi_callingpres: 0\nagi_callingani2: 0\nagi_callington: 0\n"
    "agi_callingtns: 0\nagi_dnid: agi\nagi_rdnis: unknown\nagi_context: from-pstn\n"
    "agi_extension: agi\nagi_priority: 2\nagi_enhanced: 0.0\nagi_accountcode: \n"
    "agi_threadid: 139918982694592\n\n"
)
# Flow k after the header: (command we send, lines Asterisk answered before the next command).
CONVERSATION_K = [
    ('SET VARIABLE FRONTDESK_QUEUE "billing"', ["200 result=1"]),
    ("GET VARIABLE CALLERID(num)", ["200 result=1 (+13125550109)"]),
    ('VERBOSE "hi" 1', ["200 result=1"]),
    ("EXEC Playback beep", ["200 result=0"]),
    ("WAIT FOR DIGIT 15000", ["200 result=-1"]),
    ("GET VARIABLE FRONTDESK_QUEUE", ["HANGUP", "200 result=1 (billing)"]),
    ("EXEC Playback beep", ["200 result=0"]),
]
ROUTE = RouteVariables(
    category="billing",
    queue="billing",
    skills=("es", "insurance"),
    destination="queue:billing",
    language="es",
)


def fast_settings(**overrides: object) -> AgiSettings:
    base: dict[str, object] = {
        "host": "127.0.0.1",
        "port": 0,
        "header_timeout": 0.3,
        "reply_timeout": 0.3,
        "decide_timeout": 0.2,
        "session_timeout": 2.0,
        "write_timeout": 0.5,
        "max_connections": 4,
    }
    base.update(overrides)
    return AgiSettings(**base)  # type: ignore[arg-type]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[FastAgiServer]]]:
    servers: list[FastAgiServer] = []

    async def start(
        decide: object = None, fallback: RouteVariables | None = None, **overrides: object
    ) -> FastAgiServer:
        server = FastAgiServer(
            decide or (lambda request: ROUTE),  # type: ignore[arg-type]
            fast_settings(**overrides),
            fallback=fallback,
        )
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


class Asterisk:
    """The Asterisk side of one FastAGI connection, over a real socket."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int) -> Asterisk:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, text: str | bytes) -> None:
        self.writer.write(text.encode() if isinstance(text, str) else text)
        await self.writer.drain()

    async def command(self, timeout: float = 2.0) -> str | None:
        """The next command line from the server, or None at EOF."""
        async with asyncio.timeout(timeout):
            line = await self.reader.readline()
        return line.decode().removesuffix("\n") if line else None

    async def closed_by_server(self, timeout: float = 2.0) -> bool:
        try:
            async with asyncio.timeout(timeout):
                return await self.reader.read(4096) == b""
        except ConnectionResetError:
            return True


async def answer_all(asterisk: Asterisk, replies: dict[int, list[str]] | None = None) -> list[str]:
    """Answer every command `200 result=1` (or the scripted lines by index) until EOF."""
    commands: list[str] = []
    while (line := await asterisk.command()) is not None:
        lines = (replies or {}).get(len(commands), ["200 result=1"])
        commands.append(line)
        await asterisk.send("".join(f"{reply}\n" for reply in lines))
    return commands


def parse_args(line: str) -> list[str]:
    """res_agi.c `parse_args`, ported: how Asterisk splits an AGI command into arguments."""
    argv: list[list[str]] = []
    quoted = escaped = False
    whitespace = True
    for ch in line:
        if ch == '"' and not escaped:
            quoted = not quoted
            if quoted and whitespace:
                argv.append([])
                whitespace = False
            continue
        if ch in " \t" and not quoted and not escaped:
            whitespace = True
            continue
        if ch == "\\" and not escaped:
            escaped = True
            continue
        if whitespace:
            argv.append([])
            whitespace = False
        argv[-1].append(ch)
        escaped = False
    return ["".join(arg) for arg in argv]


async def wait_idle(server: FastAgiServer, timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        while server.active:
            await asyncio.sleep(0.01)


# --- flow k ------------------------------------------------------------------------------------


def test_inline_flow_k_matches_the_transcript() -> None:
    if not FLOW_K.is_file():
        pytest.skip("../shared/asterisk/transcripts is not beside this checkout")
    records = [json.loads(line) for line in FLOW_K.read_text(encoding="utf-8").splitlines()]
    agi = [r for r in records if r["kind"] in ("agi_rx", "agi_tx") and r["raw"]]
    assert agi[0]["raw"] == ENV_K
    flat: list[tuple[str, str]] = []
    for command, replies in CONVERSATION_K:
        flat.append(("agi_tx", command + "\n"))
        flat.extend(("agi_rx", reply + "\n") for reply in replies)
    assert [(r["kind"], r["raw"]) for r in agi[1:]] == flat


async def test_flow_k_header_then_variables_set_with_out_of_step_hangup(
    serve: Callable[..., Awaitable[FastAgiServer]],
) -> None:
    seen: list[AgiRequest] = []

    def decide(request: AgiRequest) -> RouteVariables:
        seen.append(request)
        return ROUTE

    server = await serve(decide)
    asterisk = await Asterisk.connect(server.port)
    await asterisk.send(ENV_K)
    commands = await answer_all(asterisk, {1: ["HANGUP", "200 result=1"]})
    assert commands == [
        'SET VARIABLE FRONTDESK_CATEGORY "billing"',
        'SET VARIABLE FRONTDESK_QUEUE "billing"',
        'SET VARIABLE FRONTDESK_SKILLS "es,insurance"',
        'SET VARIABLE FRONTDESK_DESTINATION "queue:billing"',
        'SET VARIABLE FRONTDESK_LANGUAGE "es"',
    ]
    (request,) = seen
    assert (request.script, request.query) == ("route", {"x": "1"})
    assert (request.caller, request.caller_name, request.did) == (CALLER, "PSTN Caller", "agi")
    assert request.get("accountcode") == ""
    await wait_idle(server)
    assert server.served == 1


async def test_agi_channel_replays_flow_k_conversation() -> None:
    """The command helper against Asterisk's exact replies, HANGUP between command and reply."""
    results: list[object] = []

    async def fastagi_side(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        env = await read_environment(reader, fast_settings())
        results.append(AgiRequest(env).caller)
        channel = AgiChannel(reader, writer, fast_settings())
        for command, _ in CONVERSATION_K:
            reply = await channel.command(command)
            results.append((reply.code, reply.result, reply.data, channel.hung_up))
        writer.close()

    server = await asyncio.start_server(fastagi_side, "127.0.0.1", 0)
    try:
        asterisk = await Asterisk.connect(server.sockets[0].getsockname()[1])
        await asterisk.send(ENV_K)
        for command, replies in CONVERSATION_K:
            assert await asterisk.command() == command
            for reply in replies:  # one write per line, as recorded
                await asterisk.send(reply + "\n")
                await asyncio.sleep(0.005)
        assert await asterisk.closed_by_server()
    finally:
        server.close()
        await server.wait_closed()
    assert results == [
        CALLER,
        (200, "1", None, False),
        (200, "1", CALLER, False),
        (200, "1", None, False),
        (200, "0", None, False),
        (200, "-1", None, True),  # result=-1: hung up
        (200, "1", "billing", True),  # HANGUP skipped, reply still read
        (200, "0", None, True),  # not 511 on the dead channel
    ]


async def test_async_decide_and_unknown_script(
    serve: Callable[..., Awaitable[FastAgiServer]],
) -> None:
    async def decide(request: AgiRequest) -> RouteVariables:
        await asyncio.sleep(0)
        return default_decide(request)

    server = await serve(decide)
    asterisk = await Asterisk.connect(server.port)
    await asterisk.send(ENV_K)
    commands = await answer_all(asterisk)
    assert commands[1] == 'SET VARIABLE FRONTDESK_QUEUE "front-desk"'
    assert commands[4] == 'SET VARIABLE FRONTDESK_LANGUAGE "en"'
    other = await Asterisk.connect(server.port)
    await other.send(ENV_K.replace("route?x=1", "admin"))
    assert await other.command() is None  # no command for a script we do not serve


# --- decide failures -----------------------------------------------------------------------------


async def test_failing_decide_sets_the_fallback(
    serve: Callable[..., Awaitable[FastAgiServer]],
) -> None:
    def broken(request: AgiRequest) -> RouteVariables:
        raise RuntimeError("routing bug")

    fallback = RouteVariables(category="unrouted", queue="front-desk")
    server = await serve(broken, fallback=fallback)
    asterisk = await Asterisk.connect(server.port)
    await asterisk.send(ENV_K)
    commands = await answer_all(asterisk)
    assert commands[:2] == [
        'SET VARIABLE FRONTDESK_CATEGORY "unrouted"',
        'SET VARIABLE FRONTDESK_QUEUE "front-desk"',
    ]
    assert commands[2] == 'SET VARIABLE FRONTDESK_SKILLS ""'


async def test_slow_decide_without_fallback_sets_nothing(
    serve: Callable[..., Awaitable[FastAgiServer]],
) -> None:
    async def slow(request: AgiRequest) -> RouteVariables:
        await asyncio.sleep(5)
        return ROUTE

    server = await serve(slow)
    asterisk = await Asterisk.connect(server.port)
    await asterisk.send(ENV_K)
    # Closed after decide_timeout (0.2 s) with nothing set; a busy machine may take longer.
    assert await asterisk.command(timeout=4.0) is None


# --- hostile or broken peers -------------------------------------------------------------------------


async def ticker(stop: asyncio.Event, ticks: list[float]) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        ticks.append(loop.time())
        await asyncio.sleep(0.01)


async def test_truncated_header_then_close_does_not_block_the_loop(
    serve: Callable[..., Awaitable[FastAgiServer]],
) -> None:
    server = await serve()
    stop, ticks = asyncio.Event(), []
    tick = asyncio.create_task(ticker(stop, ticks))
    asterisk = await Asterisk.connect(server.port)
    await asterisk.send("agi_network: yes\nagi_network_script: rou")
    asterisk.writer.close()
    await wait_idle(server, timeout=1.0)
    await asyncio.sleep(0.1)
    stop.set()
    await tick
    assert len(ticks) >= 5  # the loop kept running
    assert max(b - a for a, b in itertools.pairwise(ticks)) < 0.2
    assert server.served == 0


async def test_early_eof_before_any_byte(serve: Callable[..., Awaitable[FastAgiServer]]) -> None:
    server = await serve()
    asterisk = await Asterisk.connect(server.port)
    asterisk.writer.close()
    await wait_idle(server, timeout=1.0)
    assert server.served == 0


async def test_oversized_header_line_is_cut_off(
    serve: Callable[..., Awaitable[FastAgiServer]],
) -> None:
    server = await serve(max_line_length=256)
    asterisk = await Asterisk.connect(server.port)
    await asterisk.send("agi_network: yes\nagi_callerid: " + "9" * 10_000)
    assert await asterisk.closed_by_server(timeout=1.0)
    await wait_idle(server)


async def test_too_many_header_lines_is_cut_off(
    serve: Callable[..., Awaitable[FastAgiServer]],
) -> None:
    server = await serve(max_header_lines=30)
    asterisk = await Asterisk.connect(server.port)
    await asterisk.send("".join(f"agi_arg_{n}: x\n" for n in range(1, 40)))
    assert await asterisk.closed_by_server(timeout=1.0)


async def test_malformed_header_line_is_refused(
    serve: Callable[..., Awaitable[FastAgiServer]],
) -> None:
    server = await serve()
    asterisk = await Asterisk.connect(server.port)
    await asterisk.send("GET / HTTP/1.1\nHost: x\n\n")
    assert await asterisk.closed_by_server(timeout=1.0)
    assert server.served == 0


async def test_slowloris_header_times_out_despite_steady_progress(
    serve: Callable[..., Awaitable[FastAgiServer]],
) -> None:
    server = await serve(header_timeout=0.3)
    asterisk = await Asterisk.connect(server.port)
    loop = asyncio.get_running_loop()
    started = loop.time()
    closed = False
    for byte in ENV_K.encode():
        try:
            await asterisk.send(bytes([byte]))
        except ConnectionError:
            closed = True
            break
        if asterisk.reader.at_eof():
            closed = True
            break
        await asyncio.sleep(0.02)
        if loop.time() - started > 2.0:
            break
    closed = closed or await asterisk.closed_by_server(timeout=0.5)
    assert closed
    assert loop.time() - started < 1.5
    assert server.served == 0


async def test_peer_that_never_answers_a_command_is_dropped(
    serve: Callable[..., Awaitable[FastAgiServer]],
) -> None:
    server = await serve(reply_timeout=0.1)
    asterisk = await Asterisk.connect(server.port)
    await asterisk.send(ENV_K)
    assert (await asterisk.command() or "").startswith("SET VARIABLE FRONTDESK_CATEGORY")
    assert await asterisk.command(timeout=1.0) is None  # gave up and closed
    await wait_idle(server)
    assert server.served == 0


async def test_connection_cap(serve: Callable[..., Awaitable[FastAgiServer]]) -> None:
    server = await serve(max_connections=2, header_timeout=5.0, session_timeout=10.0)
    idle = [await Asterisk.connect(server.port) for _ in range(2)]
    async with asyncio.timeout(1.0):
        while server.active < 2:
            await asyncio.sleep(0.01)
    extra = await Asterisk.connect(server.port)
    assert await extra.closed_by_server(timeout=1.0)
    assert server.refused == 1
    for asterisk in idle:
        asterisk.writer.close()
    await wait_idle(server)
    again = await Asterisk.connect(server.port)
    await again.send(ENV_K)
    assert len(await answer_all(again)) == 5


# --- safe values -----------------------------------------------------------------------------------

HOSTILE = [
    'He said "hi"',
    "back\\slash\\",
    'x" \nEXEC Dial PJSIP/+19005550100@trunk\n"',
    "${EVAL(${SHELL(rm -rf /)})}",
    "$[1+1]",
    "tab\there\r\nand\x00nul",
    'José Núñez, "VIP" €',
    "",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_set_variable_command_is_one_line_one_argument(value: str) -> None:
    command = set_variable_command("FRONTDESK_CATEGORY", value)
    assert "\n" not in command
    assert "\r" not in command
    argv = parse_args(command)
    assert argv[:3] == ["SET", "VARIABLE", "FRONTDESK_CATEGORY"]
    assert len(argv) == 4
    assert argv[3] == neutralize_value(value)
    assert not set(argv[3]) & set("${}\r\n\x00")


def test_neutralize_examples() -> None:
    assert neutralize_value("${EVAL(${SHELL(id)})}") == "EVAL(SHELL(id))"
    assert neutralize_value("a\r\nb\tc") == "abc"
    assert neutralize_value("x" * 1000) == "x" * 256
    assert agi_quote('say "hi" \\o/') == '"say \\"hi\\" \\\\o/"'


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_value_gives_exactly_one_argument(value: str) -> None:
    command = set_variable_command("FRONTDESK_QUEUE", value)
    assert command.count("\n") == 0
    argv = parse_args(command)
    assert len(argv) == 4
    assert argv[3] == neutralize_value(value)


@pytest.mark.parametrize("name", ["BAD NAME", "X\nY", "", "1ABC", "A-B"])
def test_invalid_variable_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="variable name"):
        set_variable_command(name, "x")


async def test_hostile_route_values_reach_asterisk_neutralised(
    serve: Callable[..., Awaitable[FastAgiServer]],
) -> None:
    evil = RouteVariables(
        category=HOSTILE[2],
        queue=HOSTILE[3],
        skills=("es", HOSTILE[5]),
        destination=HOSTILE[1],
        language=HOSTILE[0],
    )
    server = await serve(lambda request: evil)
    asterisk = await Asterisk.connect(server.port)
    await asterisk.send(ENV_K)
    commands = await answer_all(asterisk)
    assert len(commands) == 5
    values = {parse_args(c)[2]: parse_args(c)[3] for c in commands}
    assert all(len(parse_args(c)) == 4 for c in commands)
    assert values["FRONTDESK_CATEGORY"] == 'x" EXEC Dial PJSIP/+19005550100@trunk"'
    assert values["FRONTDESK_QUEUE"] == "EVAL(SHELL(rm -rf /))"
    assert values["FRONTDESK_SKILLS"] == "es,tabhereandnul"
    assert values["FRONTDESK_DESTINATION"] == "back\\slash\\"
    assert values["FRONTDESK_LANGUAGE"] == 'He said "hi"'


# --- replies, requests, logs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "code", "result", "data", "hung_up"),
    [
        ("200 result=1", 200, "1", None, False),
        ("200 result=1 (+13125550109)", 200, "1", CALLER, False),
        ("200 result=-1", 200, "-1", None, True),
        ("200 result= (timeout)", 200, "", "timeout", False),
        ("200 result=0 endpos=1234", 200, "0", None, False),
        ("510 Invalid or unknown command", 510, None, None, False),
        (
            "511 Command Not Permitted on a dead channel or intercepted channel",
            511,
            None,
            None,
            False,
        ),
    ],
)
def test_parse_reply(
    line: str, code: int, result: str | None, data: str | None, hung_up: bool
) -> None:
    reply = parse_reply(line)
    assert (reply.code, reply.result, reply.data, reply.hung_up) == (code, result, data, hung_up)


@pytest.mark.parametrize("line", ["HANGUP", "hello", "20 result=1", ""])
def test_parse_reply_rejects_non_replies(line: str) -> None:
    with pytest.raises(AgiProtocolError):
        parse_reply(line)


def test_request_accessors() -> None:
    env = {
        "agi_network_script": "route?x=1&lang=es&x=2",
        "agi_callerid": "unknown",
        "agi_calleridname": "",
        "agi_dnid": "unknown",
        "agi_extension": "5550100",
        "agi_arg_1": "first",
        "agi_arg_2": "",
    }
    request = AgiRequest(env)
    assert (request.script, request.query) == ("route", {"x": "2", "lang": "es"})
    assert (request.caller, request.caller_name) == (None, None)
    assert request.did == "5550100"
    assert request.arguments == ("first", "")
    assert (request.channel, request.language) == ("", "")


async def test_logs_mask_the_caller_number(serve: Callable[..., Awaitable[FastAgiServer]]) -> None:
    server = await serve()
    with structlog.testing.capture_logs() as logs:
        asterisk = await Asterisk.connect(server.port)
        await asterisk.send(ENV_K)
        await answer_all(asterisk)
        await wait_idle(server)
    assert any(entry["event"] == "agi_request" for entry in logs)
    text = repr(logs)
    assert CALLER not in text
    assert "+*******0109" in text  # the masked form keeps the last 4 digits
