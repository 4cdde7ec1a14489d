"""End to end: a go-live run against the emulator and the test PostgreSQL.

`frontdesk golive` writes the cases of the example plan (with a `golive` section); the
daemon's pieces run in-process with go-live mode on and a practice clock on a Monday
morning, then on a Friday night; every case is called in through the emulator's control
API with its `X-Frontdesk-Route-Time` header, its `X-Frontdesk-Case` id and its keys, in
reverse case order and side by side; then `frontdesk golive verify` reads the call rows
back from PostgreSQL and finds every case's call by the id the daemon recorded.
After-hours and holiday cases pass although the practice clock says 10:30 on a working
day; business-hours cases pass at 23:30 on a Friday, their queues included (the ACD
judges a test call at its routed time: issue 16). Then the headers are shown to be
ignored when go-live mode is off, when the caller is not a declared test caller, and
when they are garbage; and a test caller who hangs up in the menu or during the
voicemail greeting leaves an abandoned call, as any caller does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from structlog.testing import capture_logs

from frontdesk.asterisk.ari import AriClient, AriConfig
from frontdesk.calls.events import CallRouted, GoliveCaseSeen, HubEvent
from frontdesk.calls.recorder import CallRecorder
from frontdesk.calls.runtime import CallRuntime
from frontdesk.cli import main
from frontdesk.emulator import Emulator
from frontdesk.golive.cases import Case, CaseSet, case_tag, route_time_header
from frontdesk.golive.override import ARI_VARIABLE, CASE_ARI_VARIABLE, CASE_HEADER, HEADER
from frontdesk.plan import Plan, load_plan
from frontdesk.store import Outbox, db
from frontdesk.store.directory import PatientLookup, import_directory
from tests.conftest import local, reference_text
from tests.golive.conftest import schema_dsn as schema_dsn

STAFF = ["2001", "2002", "2003", "2004", "2005", "2006"]
PASSWORD = "test-only-secret"
TEST_CALLERS = ["+13125559901", "+13125559902", "+13125559903", "+13125559904"]
GOLIVE_SECTION = "golive:\n  test_callers: [" + ", ".join(f'"{n}"' for n in TEST_CALLERS) + "]\n"
MONDAY_MORNING = local("2026-11-30 10:30")  # every queue of the plan is open
FRIDAY_NIGHT = local("2026-12-04 23:30")  # every queue of the plan is closed
WEEK_OF = date(2026, 12, 1)
CALL_DEADLINE = 45.0  # a silent caller sits through three menus and timeouts


class DayClock:
    """The practice's clock: Monday 10:30 when the test starts, then real time."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.t0 = time.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.t0)


@pytest.fixture
def golive_plan(tmp_path: Path) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(reference_text() + "\n" + GOLIVE_SECTION, encoding="utf-8")
    return path


@pytest.fixture
async def pbx() -> AsyncIterator[Emulator]:
    emulator = Emulator(
        ari_password=PASSWORD,
        ami_secret=PASSWORD,
        staff=STAFF,
        media_seconds=0.02,
        answer_after=0.05,
    )
    await emulator.start()
    yield emulator
    await emulator.stop()
    # The header read is a request Asterisk's own Swagger allows (other flows have tests
    # of their own).
    assert [v for v in emulator.violations if v["path"].endswith("/variable")] == []


@dataclass
class Daemon:
    runtime: CallRuntime
    routed: dict[str, CallRouted]
    outbox: Outbox | None


@contextlib.asynccontextmanager
async def daemon(
    plan: Plan,
    pbx: Emulator,
    *,
    golive: bool,
    dsn: str | None = None,
    data_dir: Path | None = None,
    ari_url: str | None = None,
    start: datetime = MONDAY_MORNING,
) -> AsyncIterator[Daemon]:
    """The daemon's call path as `frontdesk run` wires it, minus AMI and the HTTP API;
    the practice clock starts at `start`."""
    clock = DayClock(start)
    async with contextlib.AsyncExitStack() as stack:
        url = ari_url or pbx.ari_url
        ari = AriClient(AriConfig(url, "frontdesk", PASSWORD, backoff_initial=0.05))
        stack.push_async_callback(ari.close)
        outbox = recorder = lookup = None
        if dsn is not None and data_dir is not None:
            outbox = Outbox(dsn, data_dir / "spool.jsonl")
            outbox.start()
            stack.push_async_callback(outbox.close)
            recorder = CallRecorder(outbox, clock, dsn=dsn)
            pool = await db.create_pool(dsn, timeout=2.0)
            stack.push_async_callback(pool.close)
            lookup = PatientLookup(pool, timeout=0.25).lookup
        runtime = CallRuntime(plan, ari, now=clock, lookup=lookup, golive=golive)
        routed: dict[str, CallRouted] = {}

        def on_routed(event: HubEvent) -> None:
            if isinstance(event, CallRouted):
                routed[event.call] = event

        runtime.hub.add_listener(on_routed)
        if recorder is not None:
            runtime.hub.add_listener(recorder.on_hub)  # as daemon.run wires it
        stack.push_async_callback(runtime.close)
        assert runtime.acd is not None
        runtime.acd.agents.login_everyone(STAFF)
        task = asyncio.create_task(runtime.run())
        try:
            await _wait_for(lambda: runtime.resyncs >= 1, 5.0)
            yield Daemon(runtime, routed, outbox)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def _wait_for(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.02)


async def place(pbx: Emulator, caller: str, did: str, headers: dict[str, str]) -> str:
    """Through the control API over HTTP, as another process (or a SIPp stand-in) would."""
    body: dict[str, Any] = {"caller": caller, "did": did, "headers": headers}
    url = f"http://127.0.0.1:{pbx.ari_port}/_emulator/calls"
    async with aiohttp.ClientSession() as http, http.post(url, json=body) as r:
        assert r.status == 200, await r.text()
        return str((await r.json())["channel_id"])


async def press(pbx: Emulator, channel: str, key: str) -> None:
    async with aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{pbx.ari_port}/_emulator/channels/{channel}/dtmf"
        async with http.post(url, json={"digits": key}) as r:
            assert r.status == 200, await r.text()


def _phase(runtime: CallRuntime, channel: str) -> str | None:
    session = runtime.sessions.get(channel)
    return session.ivr.phase.name if session is not None else None


async def drive(pbx: Emulator, fd: Daemon, channel: str, case: Case) -> None:
    """The caller listens to each menu, presses the case's keys, stays silent for `-`
    (the IVR's own timers run out), and hangs up once the call is routed."""
    for key in case.keys:
        if key == "-":
            continue  # silence: only ever at the end of a paths route
        await _wait_for(lambda: _phase(fd.runtime, channel) == "WAITING", CALL_DEADLINE)
        await press(pbx, channel, key)
    try:
        await _wait_for(lambda: channel in fd.routed, CALL_DEADLINE)
    except AssertionError:
        phase = _phase(fd.runtime, channel)
        raise AssertionError(f"case {case.number} ({case.id}) not routed; phase {phase}") from None
    await asyncio.sleep(0.2)  # the route's first steps (join, greeting) start
    with contextlib.suppress(Exception):  # it may have ended already (a failed transfer)
        await pbx.hangup(channel)


@pytest.mark.parametrize("start", [MONDAY_MORNING, FRIDAY_NIGHT], ids=["day", "night"])
async def test_every_case_of_the_example_plan_passes_verify_whatever_the_time(
    start: datetime,
    golive_plan: Path,
    schema_dsn: str,
    pbx: Emulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_dir = tmp_path / "run"
    argv = ["golive", str(golive_plan), "--out", str(run_dir), "--week-of", WEEK_OF.isoformat()]
    assert main(argv) == 0
    expected = json.loads((run_dir / "expected.json").read_text())
    cases = CaseSet.from_json(expected)
    assert not cases.skipped
    regimes = {c.regime_id for c in cases.cases}
    assert {"closed", "holiday"} <= regimes
    assert len(cases.cases) == 50 * len(regimes)
    conn = await db.connect(schema_dsn, timeout=5)
    try:
        await import_directory(conn, run_dir / "test_patients.csv")
    finally:
        await conn.close()
    plan = load_plan(golive_plan)
    started = time.monotonic()
    async with daemon(plan, pbx, golive=True, dsn=schema_dsn, data_dir=tmp_path, start=start) as fd:
        callers: list[asyncio.Task[None]] = []
        # Placed last case first: verify finds each call by the case id it sent (as
        # SIPp's scenarios send it), so the order in which calls start does not matter.
        for case in reversed(cases.cases):
            headers = {
                HEADER: route_time_header(case),
                CASE_HEADER: case_tag(expected["run"], case),
            }
            channel = await place(pbx, case.caller, case.did, headers)
            await _wait_for(lambda c=channel: c in fd.runtime.sessions or c in fd.routed, 5.0)
            callers.append(asyncio.create_task(drive(pbx, fd, channel, case)))
        await asyncio.gather(*callers)
        capsys.readouterr()  # the daemon's log lines
        assert fd.outbox is not None
        assert await fd.outbox.drain(timeout=15.0)
    elapsed = time.monotonic() - started
    # The practice clock never left its start: every case was routed (and queued) at the
    # time its header named.
    assert fd.runtime.now() < start + timedelta(minutes=5)
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", schema_dsn)
    since = start.isoformat()
    # (the CLI runs its own event loop: from a thread, as from a shell)
    code = await asyncio.to_thread(
        main, ["golive", "verify", str(run_dir), "--since", since, "--json"]
    )
    report = json.loads(capsys.readouterr().out.splitlines()[-1])  # after the log lines
    failed = [v for v in report["verdicts"] if not v["passed"]][:5]
    assert (code, report["failed"], failed) == (0, 0, [])
    assert report["cases"] == len(cases.cases)
    assert report["matched_by_case"] == len(cases.cases)
    assert report["surplus_rows"] == []
    assert elapsed < 90, f"the go-live run took {elapsed:.0f} s"
    # The readable table says the same.
    assert await asyncio.to_thread(main, ["golive", "verify", str(run_dir), "--since", since]) == 0
    assert f"{len(cases.cases)} cases: all passed" in capsys.readouterr().out


# -- the header is honoured only when it should be ---------------------------------------------
BILLING = "2"  # main menu > billing: a queue on Monday 10:30, voicemail at night
NIGHT = "2026-12-07T22:00:00-06:00"


async def _billing_call(
    pbx: Emulator, fd: Daemon, caller: str, header: str | None, case: str | None = None
) -> tuple[CallRouted, list[dict[str, Any]]]:
    with capture_logs() as logs:
        headers = {HEADER: header} if header is not None else {}
        if case is not None:
            headers[CASE_HEADER] = case
        channel = await place(pbx, caller, "+13125550000", headers)
        await _wait_for(lambda: _phase(fd.runtime, channel) == "WAITING", 5.0)
        await press(pbx, channel, BILLING)
        await _wait_for(lambda: channel in fd.routed, 5.0)
    with contextlib.suppress(Exception):
        await pbx.hangup(channel)
    return fd.routed[channel], logs


def _header_reads(pbx: Emulator) -> list[dict[str, Any]]:
    return [r for r in pbx.requests if ARI_VARIABLE in str(r.get("query", ""))]


def _case_reads(pbx: Emulator) -> list[dict[str, Any]]:
    return [r for r in pbx.requests if CASE_ARI_VARIABLE in str(r.get("query", ""))]


def _where(routed: CallRouted) -> tuple[str, bool]:
    return routed.decision.destination.as_json()["kind"], routed.decision.after_hours


@pytest.fixture
def plan_with_test_callers(golive_plan: Path) -> Plan:
    return load_plan(golive_plan)


async def test_a_test_caller_routes_at_the_time_its_header_names(
    plan_with_test_callers: Plan, pbx: Emulator
) -> None:
    async with daemon(plan_with_test_callers, pbx, golive=True) as fd:
        routed, logs = await _billing_call(pbx, fd, TEST_CALLERS[0], NIGHT)
    assert _where(routed) == ("voicemail", True)
    honoured = [e for e in logs if e["event"] == "golive.time_override"]
    assert len(honoured) == 1
    assert honoured[0]["route_time"] == NIGHT
    assert honoured[0]["caller"] == "+*******9901"  # masked, never the full number
    assert len(_header_reads(pbx)) == 1


async def test_the_header_is_ignored_with_go_live_mode_off(
    plan_with_test_callers: Plan, pbx: Emulator
) -> None:
    async with daemon(plan_with_test_callers, pbx, golive=False) as fd:
        routed, logs = await _billing_call(pbx, fd, TEST_CALLERS[0], NIGHT)
    assert _where(routed) == ("queue", False)  # Monday 10:30: billing is open
    assert _header_reads(pbx) == []  # never even read
    assert not [e for e in logs if e["event"].startswith("golive.")]


async def test_the_header_of_a_caller_not_declared_is_ignored(
    plan_with_test_callers: Plan, pbx: Emulator
) -> None:
    async with daemon(plan_with_test_callers, pbx, golive=True) as fd:
        routed, _ = await _billing_call(pbx, fd, "+17735550123", NIGHT)
    assert _where(routed) == ("queue", False)
    assert _header_reads(pbx) == []


@pytest.mark.parametrize(
    ("header", "reason"),
    [("next tuesday at 9", "unparsable"), ("2026-12-07T22:00:00", "naive")],
)
async def test_a_bad_header_is_logged_and_ignored(
    plan_with_test_callers: Plan, pbx: Emulator, header: str, reason: str
) -> None:
    async with daemon(plan_with_test_callers, pbx, golive=True) as fd:
        routed, logs = await _billing_call(pbx, fd, TEST_CALLERS[0], header)
    assert _where(routed) == ("queue", False)
    ignored = [e for e in logs if e["event"] == "golive.time_override_ignored"]
    assert [e["reason"] for e in ignored] == [reason]


async def test_a_test_caller_without_the_header_routes_at_real_time(
    plan_with_test_callers: Plan, pbx: Emulator
) -> None:
    async with daemon(plan_with_test_callers, pbx, golive=True) as fd:
        started = time.monotonic()
        routed, logs = await _billing_call(pbx, fd, TEST_CALLERS[0], None)
    assert _where(routed) == ("queue", False)
    # Asterisk answers 500 for an absent header: read once, not retried, no delay.
    assert [r["status"] for r in _header_reads(pbx)] == [500]
    assert time.monotonic() - started < 3.0
    assert not [e for e in logs if e["event"].startswith("golive.time_override")]


# -- the case id: recorded for verify, only when it should be ------------------------------------
CASE = "20261130T160000Z:37"


def _recording_case_ids(fd: Daemon) -> list[tuple[str, str]]:
    recorded: list[tuple[str, str]] = []

    def seen(event: HubEvent) -> None:
        if isinstance(event, GoliveCaseSeen):
            recorded.append((event.call, event.case))

    fd.runtime.hub.add_listener(seen)
    return recorded


async def test_a_test_callers_case_id_is_read_with_the_route_time_and_recorded(
    plan_with_test_callers: Plan, pbx: Emulator
) -> None:
    async with daemon(plan_with_test_callers, pbx, golive=True) as fd:
        recorded = _recording_case_ids(fd)
        routed, logs = await _billing_call(pbx, fd, TEST_CALLERS[0], NIGHT, case=CASE)
    assert recorded == [(routed.call, CASE)]
    assert _where(routed) == ("voicemail", True)  # the route time still counts
    # Both headers read once, in the same round: before the call is answered.
    paths = [(r["method"], r["path"]) for r in pbx.requests]
    answered = paths.index(("POST", f"/ari/channels/{routed.call}/answer"))
    reads = [pbx.requests.index(r) for r in (*_header_reads(pbx), *_case_reads(pbx))]
    assert len(reads) == 2
    assert max(reads) < answered
    assert not [e for e in logs if e["event"] == "golive.case_ignored"]


@pytest.mark.parametrize("bad", ["17 closed", "1;DROP TABLE calls", "x" * 80])
async def test_a_bad_case_id_is_ignored_and_logged_masked(
    plan_with_test_callers: Plan, pbx: Emulator, bad: str
) -> None:
    async with daemon(plan_with_test_callers, pbx, golive=True) as fd:
        recorded = _recording_case_ids(fd)
        routed, logs = await _billing_call(pbx, fd, TEST_CALLERS[0], NIGHT, case=bad)
    assert recorded == []
    assert _where(routed) == ("voicemail", True)  # the call itself goes on as ever
    ignored = [e for e in logs if e["event"] == "golive.case_ignored"]
    assert len(ignored) == 1
    assert ignored[0]["length"] == len(bad)
    assert ignored[0]["caller"] == "+*******9901"
    assert bad[3:] not in str(ignored[0])  # the text is never logged, beyond 3 characters


async def test_the_case_id_of_a_caller_not_declared_or_with_go_live_off_is_never_read(
    plan_with_test_callers: Plan, pbx: Emulator
) -> None:
    async with daemon(plan_with_test_callers, pbx, golive=True) as fd:
        recorded = _recording_case_ids(fd)
        await _billing_call(pbx, fd, "+17735550123", NIGHT, case=CASE)
    async with daemon(plan_with_test_callers, pbx, golive=False) as fd:
        recorded += _recording_case_ids(fd)
        await _billing_call(pbx, fd, TEST_CALLERS[0], NIGHT, case=CASE)
    assert recorded == []
    assert _case_reads(pbx) == []


class SlowHeaderProxy:
    """A TCP proxy to the emulator's ARI port that holds back any request reading a SIP
    header for `delay` seconds: a PBX that is slow to answer exactly that read."""

    def __init__(self, port: int, delay: float) -> None:
        self.target, self.delay = port, delay
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/ari"

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        for src, dst, slow in ((reader, up_writer, True), (up_reader, writer, False)):
            task = asyncio.create_task(self._pump(src, dst, slow))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, slow: bool) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await src.read(65536):
                if slow and b"PJSIP_HEADER" in data:
                    await asyncio.sleep(self.delay)
                dst.write(data)
                await dst.drain()
        dst.close()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def test_a_slow_header_read_never_holds_a_call_up(
    plan_with_test_callers: Plan, pbx: Emulator
) -> None:
    proxy = SlowHeaderProxy(pbx.ari_port, delay=3.0)
    url = await proxy.start()
    try:
        async with daemon(plan_with_test_callers, pbx, golive=True, ari_url=url) as fd:
            started = time.monotonic()
            channel = await place(pbx, TEST_CALLERS[0], "+13125550000", {HEADER: NIGHT})
            await _wait_for(lambda: channel in fd.runtime.sessions, 2.0)
            adopted_after = time.monotonic() - started
            await _wait_for(lambda: _phase(fd.runtime, channel) == "WAITING", 5.0)
            await press(pbx, channel, BILLING)
            await _wait_for(lambda: channel in fd.routed, 5.0)
            assert _where(fd.routed[channel]) == ("queue", False)  # real time: not honoured
            with contextlib.suppress(Exception):
                await pbx.hangup(channel)
    finally:
        await proxy.close()
    assert adopted_after < 1.5  # the 0.5 s deadline, not the PBX's 3 s


# -- a test caller who hangs up leaves an abandoned call, as any caller does ---------------------
@pytest.fixture
async def slow_pbx() -> AsyncIterator[Emulator]:
    """Prompts that last long enough to hang up while one plays."""
    emulator = Emulator(
        ari_password=PASSWORD,
        ami_secret=PASSWORD,
        staff=STAFF,
        media_seconds=0.4,
        answer_after=0.05,
    )
    await emulator.start()
    yield emulator
    await emulator.stop()


async def _outcome(dsn: str, channel: str) -> tuple[str | None, list[str]]:
    conn = await db.connect(dsn, timeout=5)
    try:
        outcome = await conn.fetchval("SELECT outcome FROM calls WHERE linkedid = $1", channel)
        kinds = await conn.fetch(
            "SELECT kind FROM call_events WHERE linkedid = $1 ORDER BY at, id", channel
        )
    finally:
        await conn.close()
    return outcome, [r["kind"] for r in kinds]


@pytest.mark.parametrize("when", ["menu", "greeting"])
async def test_a_test_caller_hanging_up_before_the_route_is_abandoned(
    plan_with_test_callers: Plan, slow_pbx: Emulator, schema_dsn: str, tmp_path: Path, when: str
) -> None:
    """Issue 16: with the route time and case headers read, a hang-up during the menu or
    during the voicemail greeting (the IVR has decided, the call is not routed yet) is an
    abandoned call: outcome `abandoned` and its `abandoned` event."""
    pbx = slow_pbx
    async with daemon(
        plan_with_test_callers, pbx, golive=True, dsn=schema_dsn, data_dir=tmp_path
    ) as fd:
        headers = {HEADER: NIGHT, CASE_HEADER: CASE}
        channel = await place(pbx, TEST_CALLERS[0], "+13125550000", headers)
        await _wait_for(lambda: _phase(fd.runtime, channel) == "PLAYING", 5.0)
        if when == "greeting":
            await press(pbx, channel, BILLING)  # at 22:00 by its header: billing's voicemail
            await _wait_for(lambda: _phase(fd.runtime, channel) == "ANNOUNCING", 5.0)
        await pbx.hangup(channel)
        await _wait_for(lambda: channel not in fd.runtime.sessions, 5.0)
        assert fd.outbox is not None
        assert await fd.outbox.drain(timeout=10.0)
    assert channel not in fd.routed
    outcome, kinds = await _outcome(schema_dsn, channel)
    assert outcome == "abandoned"
    assert kinds.count("abandoned") == 1
    assert {"started", "golive_case"} <= set(kinds)
