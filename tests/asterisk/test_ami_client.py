"""AmiClient against a scripted AMI server on loopback: each defect of the issue, reproduced.

The fake speaks AMI the way the recorded Asterisk 22.10.1 does (transcript flow l):
banner, `Login` answered `Success` + `FullyBooted`, a wrong secret answered
`Response: Error` / `Authentication failed` after a delay and then closed, `Ping` ->
`Ping: Pong`, and during a graceful shutdown `Response: Error` /
`Asterisk is shutting down`. Its own parser is deliberately naive (split on CRLF CRLF)
so that an injected `\\r\\nAction: ...` would show up as a second action.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from frontdesk.asterisk.ami import (
    AmiActionTimeout,
    AmiAuthError,
    AmiClient,
    AmiClosed,
    AmiConnectionLost,
    AmiNotConnected,
    AmiSettings,
    AmiShuttingDown,
    ConnectionState,
    backoff_delay,
)
from frontdesk.asterisk.ami_codec import Event, UnsafeValueError, sanitize_value

TRANSCRIPTS = Path(__file__).resolve().parents[3] / "shared" / "asterisk" / "transcripts"
BANNER = b"Asterisk Call Manager/11.0.0\r\n"
SECRET = "s3cret"
Action = dict[str, str]


def block(*pairs: tuple[str, str]) -> bytes:
    return b"".join(f"{k}: {v}\r\n".encode() for k, v in pairs) + b"\r\n"


@dataclass
class Session:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    actions: list[Action] = field(default_factory=list)

    def names(self) -> list[str]:
        return [a.get("Action", "") for a in self.actions]

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    def drop(self) -> None:
        self.writer.close()


class FakeAmi:
    """A tiny scripted AMI server; tests flip its behaviour between steps."""

    def __init__(self, *, auth_fail_delay: float = 0.2, send_banner: bool = True) -> None:
        self.auth_fail_delay = auth_fail_delay
        self.send_banner = send_banner
        self.ping_mode = "answer"  # "answer" | "ignore" | "shutting_down"
        self.silent: set[str] = {"Originate"}  # actions never answered
        self.sessions: list[Session] = []
        self.new_session = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", port)

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for session in self.sessions:
            session.drop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def all_actions(self) -> list[Action]:
        return [a for s in self.sessions for a in s.actions]

    async def wait_sessions(self, count: int, timeout: float = 3.0) -> Session:
        async with asyncio.timeout(timeout):
            while len(self.sessions) < count:
                self.new_session.clear()
                await self.new_session.wait()
        return self.sessions[count - 1]

    async def wait_action(self, name: str, timeout: float = 3.0) -> Action:
        async with asyncio.timeout(timeout):
            while True:
                for action in self.all_actions():
                    if action.get("Action") == name:
                        return action
                await asyncio.sleep(0.01)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(self._serve(Session(reader, writer)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, session: Session) -> None:
        self.sessions.append(session)
        self.new_session.set()
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            if self.send_banner:
                await session.send(BANNER)
            while True:
                raw = await session.reader.readuntil(b"\r\n\r\n")
                for chunk in raw.split(b"\r\n\r\n"):
                    if chunk.strip():
                        action = _parse(chunk)
                        session.actions.append(action)
                        if not await self._answer(session, action):
                            return
        session.drop()

    async def _answer(self, session: Session, action: Action) -> bool:
        name, aid = action.get("Action", ""), ("ActionID", action.get("ActionID", ""))
        if name == "Login":
            return await self._login(session, action, aid)
        if name in self.silent:
            return True
        if name == "Ping":
            await self._ping(session, aid)
        elif name == "Logoff":
            await session.send(
                block(("Response", "Goodbye"), aid, ("Message", "Thanks for all the fish."))
            )
            return False
        else:
            await session.send(block(("Response", "Success"), aid))
        return True

    async def _login(self, session: Session, action: Action, aid: tuple[str, str]) -> bool:
        if action.get("Secret") != SECRET:
            await asyncio.sleep(self.auth_fail_delay)
            await session.send(
                block(("Response", "Error"), aid, ("Message", "Authentication failed"))
            )
            return False
        ok = block(("Response", "Success"), aid, ("Message", "Authentication accepted"))
        booted = block(
            ("Event", "FullyBooted"), ("Privilege", "system,all"), ("Status", "Fully Booted")
        )
        await session.send(ok + booted)
        return True

    async def _ping(self, session: Session, aid: tuple[str, str]) -> None:
        if self.ping_mode == "answer":
            await session.send(
                block(("Response", "Success"), aid, ("Ping", "Pong"), ("Timestamp", "1.0"))
            )
        elif self.ping_mode == "shutting_down":
            await session.send(
                block(("Response", "Error"), aid, ("Message", "Asterisk is shutting down"))
            )


def _parse(chunk: bytes) -> Action:
    action: Action = {}
    for line in chunk.decode("utf-8", "replace").split("\r\n"):
        key, _, value = line.partition(": ")
        action[key] = value
    return action


def settings(port: int, **overrides: object) -> AmiSettings:
    base: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "username": "frontdesk",
        "secret": SECRET,
        "connect_timeout": 1.0,
        "banner_timeout": 0.5,
        "login_timeout": 1.0,
        "action_timeout": 1.0,
        "write_timeout": 1.0,
        "ping_interval": 0.1,
        "ping_timeout": 0.2,
        "backoff_initial": 0.05,
        "backoff_max": 0.2,
        "backoff_jitter": 0.5,
    }
    base.update(overrides)
    return AmiSettings(**base)  # type: ignore[arg-type]


@pytest.fixture
async def fake() -> AsyncIterator[FakeAmi]:
    server = FakeAmi()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def client_for() -> AsyncIterator[Callable[..., AmiClient]]:
    made: list[AmiClient] = []

    def make(port: int, **overrides: object) -> AmiClient:
        client = AmiClient(settings(port, **overrides), rng=random.Random(7))
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


async def wait_until(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def next_event(client: AmiClient, timeout: float = 2.0) -> Event:
    with client.events() as events:
        async with asyncio.timeout(timeout):
            return await anext(events)


# --- login --------------------------------------------------------------------------------


async def test_login_with_events_on_and_no_filter_action_by_default(
    fake: FakeAmi, client_for: Callable[..., AmiClient]
) -> None:
    client = client_for(fake.port)
    await client.start()
    assert client.connected
    assert client.state is ConnectionState.CONNECTED
    login = fake.sessions[0].actions[0]
    assert login["Action"] == "Login"
    assert (login["Username"], login["Secret"], login["Events"]) == ("frontdesk", SECRET, "on")
    # Filter needs `write = system`: manager.conf's eventfilter lines filter at the source.
    assert [a["Action"] for a in fake.sessions[0].actions] == ["Login"]


async def test_server_side_filter_when_asked_for(
    fake: FakeAmi, client_for: Callable[..., AmiClient]
) -> None:
    client = client_for(fake.port, server_filter=True)
    await client.start()
    filters = [a["Filter"] for a in fake.sessions[0].actions if a["Action"] == "Filter"]
    assert "Event: DeviceStateChange" in filters
    assert "Event: Shutdown" in filters


async def test_wrong_secret_raises_auth_error_after_the_server_delay(
    fake: FakeAmi, client_for: Callable[..., AmiClient]
) -> None:
    client = client_for(fake.port, secret="wrong-secret")
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(AmiAuthError, match="Authentication failed"):
        await client.start()
    assert loop.time() - started >= fake.auth_fail_delay * 0.9
    assert client.state is ConnectionState.STOPPED
    with pytest.raises(AmiNotConnected):
        await client.action("Ping")


async def test_secret_is_not_in_the_settings_repr() -> None:
    assert SECRET not in repr(settings(5038))


# --- half-open ------------------------------------------------------------------------------


async def test_half_open_connection_is_detected_and_replaced(
    fake: FakeAmi, client_for: Callable[..., AmiClient]
) -> None:
    client = client_for(fake.port)
    states: list[ConnectionState] = []
    client.add_state_listener(states.append)
    await client.start()
    fake.ping_mode = "ignore"  # the TCP connection stays open but nothing answers
    await fake.wait_sessions(2)
    fake.ping_mode = "answer"
    await client.wait_connected(2.0)
    assert client.connects == 2
    assert ConnectionState.DISCONNECTED in states
    assert states[-1] is ConnectionState.CONNECTED
    assert fake.sessions[0].writer.transport.is_closing() or fake.sessions[0].reader.at_eof()


# --- no re-send after a reconnect ---------------------------------------------------------


@pytest.mark.parametrize("cut", ["server_closes", "half_open"])
async def test_unanswered_originate_fails_and_is_never_resent(
    cut: str, fake: FakeAmi, client_for: Callable[..., AmiClient]
) -> None:
    client = client_for(fake.port, action_timeout=5.0)
    await client.start()
    originate = asyncio.create_task(
        client.action("Originate", Channel="PJSIP/2001", Application="Playback", Data="beep")
    )
    await fake.wait_action("Originate")
    if cut == "server_closes":
        fake.sessions[0].drop()
    else:
        fake.ping_mode = "ignore"
    with pytest.raises(AmiConnectionLost):
        await originate
    await fake.wait_sessions(2)
    fake.ping_mode = "answer"
    await client.wait_connected(2.0)
    await asyncio.sleep(0.4)  # several pings on the new connection
    assert [a["Action"] for a in fake.all_actions()].count("Originate") == 1
    assert "Originate" not in fake.sessions[1].names()


async def test_action_while_disconnected_is_refused_not_queued(
    client_for: Callable[..., AmiClient],
) -> None:
    probe = FakeAmi()
    await probe.start()
    port = probe.port
    await probe.stop()  # nothing listens on `port` now
    client = client_for(port)
    await client.start()  # not reachable: no exception, retried in the background
    assert client.state in (ConnectionState.DISCONNECTED, ConnectionState.CONNECTING)
    assert client.last_error is not None
    with pytest.raises(AmiNotConnected):
        await client.action("Originate", Channel="PJSIP/2001")
    server = FakeAmi()
    await server.start(port)
    try:
        await client.wait_connected(3.0)
        await asyncio.sleep(0.2)
        assert "Originate" not in [a["Action"] for a in server.all_actions()]
    finally:
        await server.stop()


# --- UTF-8 ----------------------------------------------------------------------------------


async def test_utf8_character_split_across_tcp_writes_arrives_intact(
    fake: FakeAmi, client_for: Callable[..., AmiClient]
) -> None:
    client = client_for(fake.port)
    await client.start()
    raw = block(
        ("Event", "ContactStatus"),
        ("Privilege", "system,all"),
        ("URI", "sip:2001@127.0.0.1:5081"),
        ("ContactStatus", "NonQualified"),
        ("AOR", "José Müller €"),
    )
    cut = raw.index("é".encode()) + 1  # between the two bytes of é
    with client.events() as events:
        await fake.sessions[0].send(raw[:cut])
        await asyncio.sleep(0.05)  # a separate TCP segment / read
        await fake.sessions[0].send(raw[cut:])
        async with asyncio.timeout(2.0):
            event = await anext(events)
    assert event.name == "ContactStatus"
    assert event["AOR"] == "José Müller €"


async def test_invalid_utf8_is_replaced_not_fatal(
    fake: FakeAmi, client_for: Callable[..., AmiClient]
) -> None:
    client = client_for(fake.port)
    await client.start()
    raw = b"Event: Cdr\r\nPrivilege: cdr,all\r\nCallerID: \xff\xfe bad\r\n\r\n"
    with client.events() as events:
        await fake.sessions[0].send(raw)
        async with asyncio.timeout(2.0):
            event = await anext(events)
    assert event["CallerID"] == "\ufffd\ufffd bad"
    assert client.connects == 1
    assert client.connected


# --- CR/LF injection --------------------------------------------------------------------------

EVIL = '"Eve" <+13125550199>\r\nAction: Originate\r\nChannel: PJSIP/+19005550100@trunk\r\n'


async def test_crlf_in_a_value_is_refused_and_nothing_is_sent(
    fake: FakeAmi, client_for: Callable[..., AmiClient]
) -> None:
    client = client_for(fake.port)
    await client.start()
    with pytest.raises(UnsafeValueError, match="CallerID") as caught:
        await client.action("Originate", Channel="PJSIP/2001", CallerID=EVIL)
    assert "Eve" not in str(caught.value)  # errors never echo values
    with pytest.raises(UnsafeValueError):
        await client.user_event("FrontdeskCall", Caller=EVIL)
    assert (await client.action("Ping")).ok  # the connection is still in step
    assert "Originate" not in [a["Action"] for a in fake.all_actions()]
    assert "UserEvent" not in [a["Action"] for a in fake.all_actions()]


async def test_sanitised_value_stays_one_action(
    fake: FakeAmi, client_for: Callable[..., AmiClient]
) -> None:
    fake.silent = set()
    client = client_for(fake.port)
    await client.start()
    response = await client.action("Originate", Channel="PJSIP/2001", CallerID=sanitize_value(EVIL))
    assert response.ok
    originates = [a for a in fake.all_actions() if a["Action"] == "Originate"]
    assert len(originates) == 1
    assert originates[0]["Channel"] == "PJSIP/2001"
    assert originates[0]["CallerID"].startswith('"Eve" <+13125550199> Action: Originate')


# --- shutdown ---------------------------------------------------------------------------------


async def test_shutting_down_answer_is_asterisk_going_away_not_a_protocol_error(
    fake: FakeAmi, client_for: Callable[..., AmiClient]
) -> None:
    client = client_for(fake.port)
    await client.start()
    fake.ping_mode = "shutting_down"
    await wait_until(lambda: client.shutting_down)
    await asyncio.sleep(0.35)  # more pings answered with the error: no reconnect
    assert client.connects == 1
    assert client.connected
    with pytest.raises(AmiShuttingDown):
        await client.action("Ping")
    shutdown = block(("Event", "Shutdown"), ("Privilege", "system,all"), ("Shutdown", "Cleanly"))
    with client.events() as events:
        await fake.sessions[0].send(shutdown)
        async with asyncio.timeout(2.0):
            assert (await anext(events)).name == "Shutdown"
    fake.sessions[0].drop()
    fake.ping_mode = "answer"
    await fake.wait_sessions(2)
    await wait_until(lambda: client.connects == 2)
    assert not client.shutting_down


# --- actions, lists, events ---------------------------------------------------------------------


async def test_action_timeout_keeps_the_connection(
    fake: FakeAmi, client_for: Callable[..., AmiClient]
) -> None:
    client = client_for(fake.port)
    await client.start()
    with pytest.raises(AmiActionTimeout):
        await client.action("Originate", Channel="PJSIP/2001", reply_timeout=0.05)
    assert (await client.action("Ping")).get("Ping") == "Pong"
    assert client.connects == 1


async def test_list_action_collects_its_events_and_keeps_them_off_the_stream(
    fake: FakeAmi, client_for: Callable[..., AmiClient]
) -> None:
    fake.silent = {"CoreShowChannels"}
    client = client_for(fake.port, events=None)
    await client.start()
    with client.events() as events:
        listing = asyncio.create_task(client.action_list("CoreShowChannels"))
        action = await fake.wait_action("CoreShowChannels")
        aid = ("ActionID", action["ActionID"])
        start = block(
            ("Response", "Success"),
            aid,
            ("EventList", "start"),
            ("Message", "Channels will follow"),
        )
        item = block(("Event", "CoreShowChannel"), aid, ("Channel", "PJSIP/trunk-00000001"))
        done = block(
            ("Event", "CoreShowChannelsComplete"),
            aid,
            ("EventList", "Complete"),
            ("ListItems", "1"),
        )
        other = block(("Event", "DeviceStateChange"), ("Device", "PJSIP/2001"), ("State", "INUSE"))
        await fake.sessions[0].send(start + item + other + done)
        result = await asyncio.wait_for(listing, 2.0)
        async with asyncio.timeout(2.0):
            first = await anext(events)
    assert result.response.starts_list
    assert [e.name for e in result.events] == ["CoreShowChannel"]
    assert first.name == "DeviceStateChange"


async def test_events_outside_the_filter_are_not_delivered(
    fake: FakeAmi, client_for: Callable[..., AmiClient]
) -> None:
    client = client_for(fake.port)
    await client.start()
    seen: list[str] = []
    client.add_listener(lambda event: seen.append(event.name))
    newchannel = block(("Event", "Newchannel"), ("Channel", "PJSIP/trunk-00000001"))
    device = block(("Event", "DeviceStateChange"), ("Device", "PJSIP/2001"), ("State", "INUSE"))
    await fake.sessions[0].send(newchannel + device)
    await wait_until(lambda: bool(seen))
    assert seen == ["DeviceStateChange"]


async def test_a_failing_listener_does_not_stop_the_client(
    fake: FakeAmi, client_for: Callable[..., AmiClient]
) -> None:
    client = client_for(fake.port)
    await client.start()

    def broken(event: Event) -> None:
        raise RuntimeError("listener bug")

    client.add_listener(broken)
    device = block(("Event", "DeviceStateChange"), ("Device", "PJSIP/2001"), ("State", "INUSE"))
    event = asyncio.create_task(next_event(client))
    await asyncio.sleep(0.01)
    await fake.sessions[0].send(device)
    assert (await event).name == "DeviceStateChange"
    assert client.connected


async def test_user_event_is_sent_with_its_headers(
    fake: FakeAmi, client_for: Callable[..., AmiClient]
) -> None:
    client = client_for(fake.port)
    await client.start()
    assert (await client.user_event("FrontdeskRouted", Queue="billing", Category="appointments")).ok
    sent = await fake.wait_action("UserEvent")
    assert (sent["UserEvent"], sent["Queue"], sent["Category"]) == (
        "FrontdeskRouted",
        "billing",
        "appointments",
    )


async def test_recorded_flow_d1_events_reach_the_subscriber(
    fake: FakeAmi, client_for: Callable[..., AmiClient]
) -> None:
    path = TRANSCRIPTS / "flow_d1_ami_during_flow_a.jsonl"
    if not path.is_file():
        pytest.skip("../shared/asterisk/transcripts is not beside this checkout")
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    events = [r for r in records if r["kind"] == "ami_event"]
    wanted = [
        r["event"]
        for r in events
        if r["event"]["Event"] in ("FullyBooted", "DeviceStateChange", "Cdr")
    ]
    client = client_for(fake.port)
    await client.start()
    got: list[Event] = []
    client.add_listener(got.append)
    await fake.sessions[0].send(b"".join(r["raw"].encode() for r in events))
    await wait_until(lambda: len(got) >= len(wanted))
    assert [e.as_dict() for e in got] == wanted


# --- protocol errors ----------------------------------------------------------------------------


async def test_oversized_line_is_a_protocol_error_and_reconnects(
    fake: FakeAmi, client_for: Callable[..., AmiClient]
) -> None:
    client = client_for(fake.port, max_line_length=256)
    await client.start()
    await fake.sessions[0].send(b"Event: Cdr\r\nCallerID: " + b"9" * 1000)
    await fake.wait_sessions(2)
    await wait_until(lambda: client.connects == 2)


async def test_wrong_service_on_the_port_is_not_an_auth_error(
    client_for: Callable[..., AmiClient],
) -> None:
    async def http_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(http_server, "127.0.0.1", 0)
    try:
        client = client_for(server.sockets[0].getsockname()[1])
        await client.start()
        assert not client.connected
        assert client.last_error is not None
        assert "banner" in client.last_error
    finally:
        server.close()
        await server.wait_closed()


async def test_silent_server_times_out_on_the_banner(client_for: Callable[..., AmiClient]) -> None:
    silent = FakeAmi(send_banner=False)
    await silent.start()
    try:
        client = client_for(silent.port, banner_timeout=0.1)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await client.start()
        assert loop.time() - started < 1.0
        assert not client.connected
        assert client.last_error is not None
        assert "no AMI banner within 0.1 s" in client.last_error
    finally:
        await silent.stop()


async def test_close_fails_waiting_actions_and_ends_subscriptions(
    fake: FakeAmi, client_for: Callable[..., AmiClient]
) -> None:
    client = client_for(fake.port, action_timeout=5.0)
    await client.start()
    events = client.events()
    originate = asyncio.create_task(client.action("Originate", Channel="PJSIP/2001"))
    await fake.wait_action("Originate")
    await client.close()
    with pytest.raises(AmiClosed):
        await originate
    assert [e async for e in events] == []
    assert client.state is ConnectionState.STOPPED
    assert "Logoff" in fake.sessions[0].names()


# --- backoff --------------------------------------------------------------------------------------


def test_backoff_grows_exponentially_is_capped_and_jittered() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(n, initial=0.5, maximum=30.0, jitter=0.5, rng=rng) for n in range(12)]
    for n, delay in enumerate(delays):
        base = min(30.0, 0.5 * 2**n)
        assert base * 0.5 <= delay <= base
    assert max(delays) <= 30.0
    assert len(set(delays)) == len(delays)
    flat = [backoff_delay(3, initial=1.0, maximum=60.0, jitter=0.0, rng=rng) for _ in range(3)]
    assert flat == [8.0, 8.0, 8.0]
