"""`frontdesk run`: wire the adapters around the routing core and run until stopped.

With `FRONTDESK_ARI_URL` unset this is the demo: an embedded Asterisk emulator on
loopback plays the PBX and a stream of synthetic patient calls walks the bundled plan's
routes, one readable log line per routing decision (caller numbers masked).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import structlog
from aiohttp import web

from frontdesk.asterisk.ami import AmiClient, AmiSettings
from frontdesk.asterisk.ami_codec import Event
from frontdesk.asterisk.ari import AriClient, AriConfig
from frontdesk.asterisk.fastagi import AgiSettings, FastAgiServer
from frontdesk.asterisk.pbx_clock import PbxClock
from frontdesk.calls import events
from frontdesk.calls.acd_runtime import AcdRuntime
from frontdesk.calls.admission import Admission, AdmissionGate, Limits
from frontdesk.calls.agi_route import agi_decider
from frontdesk.calls.hub import EventHub
from frontdesk.calls.presence import PhonePresence
from frontdesk.calls.recorder import CallRecorder
from frontdesk.calls.runtime import CallRuntime, Clock
from frontdesk.demo import demo_login, embedded_emulator, practice_clock, synthetic_calls
from frontdesk.exits import EXIT_ALREADY_RUNNING
from frontdesk.instance import AlreadyRunning, InstanceLock
from frontdesk.plan import Plan, load_plan
from frontdesk.routing.directory import Directory, Patient
from frontdesk.settings import Settings
from frontdesk.store import CallUpsert, MigrationError, Outbox, db, upgrade
from frontdesk.store.accounts import AccountStore
from frontdesk.store.callbacks import load_pending_callbacks
from frontdesk.store.cdr import cdr_upsert
from frontdesk.store.directory import PatientLookup
from frontdesk.store.embedded import EmbeddedPostgres, EmbeddedPostgresError
from frontdesk.store.fhir import FhirLookup
from frontdesk.store.presence import load_agent_presence
from frontdesk.store.records import AgentPresence
from frontdesk.store.screenpop import ScreenPopSource
from frontdesk.store.sessions import SessionStore
from frontdesk.store.webhook import Webhook
from frontdesk.web.agent_page import add_agent_page_routes
from frontdesk.web.agents_api import make_app
from frontdesk.web.dispositions import CallOwners, add_disposition_routes
from frontdesk.web.live import LiveBoard, add_live_routes
from frontdesk.web.ops import Metrics, Probes, add_ops_routes
from frontdesk.web.pages import add_page_routes
from frontdesk.web.return_calls_api import add_return_call_routes
from frontdesk.web.screenpop import ScreenPops, add_screenpop_routes
from frontdesk.web.server import ServerLimits, start_site
from frontdesk.web.site_boards import SiteBoards
from frontdesk.web.standby import ActiveElsewhere, StandbyView, make_standby_app
from frontdesk.web.transfers_api import add_transfer_routes

log = structlog.get_logger("frontdesk.daemon")


async def run(settings: Settings, *, demo_calls: int | None = None, call_gap: float = 1.5) -> int:
    """Run until SIGINT/SIGTERM (or, in the demo, after `demo_calls` routed calls).

    With a database, a daemon whose app another one serves waits as standby, and one
    whose turn ends (fenced: frontdesk/instance.py) drops back to standby."""
    plan = load_plan(settings.plan)
    site = settings.site or plan.practice.site or db.DEFAULT_SITE  # FRONTDESK_SITE wins
    settings = dataclasses.replace(settings, site=site)
    directory = (
        Directory.from_csv(settings.directory, plan.practice.phone_region)
        if settings.directory
        else None
    )
    stop = asyncio.Event()
    _on_signals(stop.set)
    lock = InstanceLock(settings.app, settings.data_dir, settings.database_url, site=site)
    try:
        lock.lock_file()
    except AlreadyRunning as exc:
        return _refused(settings, exc)
    try:
        first = True
        while True:
            refused = await _take_turn(lock, settings, stop, first=first)
            if refused is not None:
                return refused
            first = False
            if not await _serve(lock, settings, plan, directory, stop, demo_calls, call_gap):
                return 0
            log.warning("instance.standby_again", app=settings.app)
    finally:
        lock.unlock_file()


async def _serve(
    lock: InstanceLock,
    settings: Settings,
    plan: Plan,
    directory: Directory | None,
    stop: asyncio.Event,
    demo_calls: int | None,
    call_gap: float,
) -> bool:
    """One turn as the active daemon: True when the turn was lost (fenced), False when
    stopped (SIGTERM, the demo's end)."""
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(lock.release)  # last: a standby takes over once all is shut
        ari_url = settings.ari_url
        emulator: Any = None
        if settings.demo:
            emulator = await stack.enter_async_context(embedded_emulator(settings, plan))
            ari_url = f"http://127.0.0.1:{emulator.ari_port}/ari"
        assert ari_url is not None
        ari = AriClient(AriConfig(ari_url, settings.ari_user, settings.ari_password, settings.app))
        stack.push_async_callback(ari.close)
        hub = EventHub()
        if demo_calls is not None:
            _stop_after(hub, demo_calls, stop)
        now = practice_clock(plan, settings)
        ami_port = emulator.ami_port if emulator is not None else settings.ami_port
        ami = await _start_ami(stack, settings, ami_port, plan)
        recorder = await _start_store(stack, settings, now)
        await lock.advertise(settings.public_url)  # (after the migrations: its table)
        pool = await _database_pool(stack, recorder, settings.site or db.DEFAULT_SITE)
        if recorder is not None:
            hub.add_listener(recorder.on_hub)
        if recorder is not None and not settings.demo and settings.practice_time is None:
            # (The PBX keeps the machine's time while a demo or lab practice clock is
            # shifted to another hour: its CDR times would not agree.)
            _record_cdrs(ami, recorder, PbxClock.watching(ami, ari, settings.pbx_timezone))
        runtime = CallRuntime(
            plan,
            ari,
            hub=hub,
            now=now,
            acd=settings.acd,
            directory=directory,
            lookup=await _caller_lookup(stack, settings, pool),
            user_event=lambda name, fields: ami.user_event(name, **fields),
            golive=settings.golive,
            admission=_admission(settings, plan),
        )
        stack.push_async_callback(runtime.close)
        ami.add_listener(runtime.on_ami_event)  # the dialplan's own shed calls
        _fence(lock, ari, runtime)
        queues = runtime.acd
        if queues is not None:
            await _agents_at_start(queues, recorder, pool, everyone=settings.agents_start == "all")
            if recorder is not None:
                await _durable_callbacks(stack, queues, recorder, pool)
            role = lambda: "standby" if lock.lost.is_set() else "active"  # noqa: E731
            metrics = _start_metrics(stack, _probes(ari, ami, recorder, runtime, role), hub)
            url = await _serve_agents_api(stack, settings, runtime, recorder, pool, now, metrics)
            if settings.demo and url is not None:
                await demo_login(plan, pool, url)
        track_phones(ami, ari, plan, queues)
        await _start_fastagi(stack, settings, plan, directory, runtime.logged_in)
        tasks = [
            asyncio.create_task(runtime.run(), name="ari-events"),
            asyncio.create_task(runtime.watch_health(), name="admission"),
        ]
        if emulator is not None and settings.demo_callers:
            put = recorder.sink.put if recorder is not None else None  # staff's dispositions
            callers = synthetic_calls(emulator, plan, directory, call_gap, runtime, put)
            tasks.append(asyncio.create_task(callers))
        # What startup built lives for good: freezing it keeps each full collection from
        # walking it (100k objects: 15-60 ms with the event loop stopped, under load).
        gc.collect()
        gc.freeze()
        log.info("frontdesk.running", app=settings.app, ari=ari_url, demo=settings.demo)
        fenced = await _until(stop, lock.lost)
        if fenced:
            await _step_down(tasks)
        else:
            await _stop_taking_calls(runtime, tasks)
    log.info("frontdesk.stopped", fenced=fenced)
    return fenced


async def _until(stop: asyncio.Event, lost: asyncio.Event) -> bool:
    """Wait for a stop (False) or the end of this daemon's turn (True)."""
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(lost.wait())]
    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for waiting in waits:
        waiting.cancel()
    return lost.is_set()


def _fence(lock: InstanceLock, ari: AriClient, runtime: CallRuntime) -> None:
    """The one gate: the executor commands only while this daemon's lease holds, the
    events socket reconnects only then, and either side's end of the turn ends both."""
    executor = runtime.executor
    executor.may_command = lock.commanding
    executor.on_fenced = lock.lose
    lock.on_lost = executor.fence
    ari.may_connect = executor.commanding
    if lock.lost.is_set():  # lost while starting
        executor.fence(lock.lease.lost or "lost")


async def _step_down(tasks: list[asyncio.Task[None]]) -> None:
    """The turn is lost: close the events socket and command nothing (no hand-back: the
    callers are the new active daemon's now); the exit stack closes the rest."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _stop_taking_calls(runtime: CallRuntime, tasks: list[asyncio.Task[None]]) -> None:
    """New calls and menu callers go to the dialplan's fallback; queued callers stay in
    Asterisk for the next start. Closing the events socket makes Asterisk fail Stasis()
    for later calls by itself; then the exit stack flushes the outbox."""
    log.info("frontdesk.stopping")
    runtime.stop_taking_calls()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(runtime.hand_back_unseen(), 2.0)


def _start_metrics(stack: contextlib.AsyncExitStack, probes: Probes, hub: EventHub) -> Metrics:
    """/metrics' sources, and the event-loop lag probe."""
    metrics = Metrics(probes)
    lag = asyncio.create_task(metrics.watch_loop(), name="loop-lag")
    stack.callback(lag.cancel)
    hub.add_listener(metrics.on_hub)
    return metrics


def _stop_after(hub: EventHub, calls: int, stop: asyncio.Event) -> None:
    """`frontdesk run --calls N`: stop once N calls were routed."""
    routed = 0

    def count(event: events.HubEvent) -> None:
        nonlocal routed
        if isinstance(event, events.CallRouted):
            routed += 1
            if routed >= calls:
                stop.set()

    hub.add_listener(count)


def _refused(settings: Settings, exc: AlreadyRunning) -> int:
    log.error("frontdesk.already_running", app=settings.app, error=str(exc))
    print(f"frontdesk run: {exc}", file=sys.stderr)
    return EXIT_ALREADY_RUNNING


async def _take_turn(
    lock: InstanceLock, settings: Settings, stop: asyncio.Event, *, first: bool
) -> int | None:
    """The app's advisory lock, before anything talks to Asterisk (a second events socket
    would steal the Stasis app): None once this daemon is active. Without a database
    another daemon is refused (exit 3); with one, this daemon waits as standby, its
    dashboard port sending staff to the active one; 0 when stopped meanwhile."""
    if settings.database_url is None:
        try:
            await lock.acquire()
        except AlreadyRunning as exc:
            return _refused(settings, exc)
        return None
    if await lock.try_acquire(without_database=first):
        return None
    log.info("instance.standby", app=settings.app, holder=await lock.refusal())
    began = time.monotonic()
    runner = await _serve_standby(settings, lock)
    try:
        if not await lock.wait(stop):
            log.info("frontdesk.stopped", role="standby")
            return 0
    finally:
        if runner is not None:
            await runner.cleanup()
    log.info("instance.active", app=settings.app, waited_s=round(time.monotonic() - began, 3))
    return None


async def _serve_standby(settings: Settings, lock: InstanceLock) -> web.AppRunner | None:
    """The standby's dashboard port: /healthz, /metrics, and a redirect to the active."""

    def view() -> StandbyView:
        active = lock.active
        elsewhere = (
            ActiveElsewhere(active.host, active.pid, active.public_url, active.since)
            if active is not None
            else None
        )
        return StandbyView(lock.host, settings.public_url, elsewhere, lock.database_reachable)

    try:
        runner, _ = await start_site(
            make_standby_app(view), settings.http_host, settings.http_port, _limits()
        )
    except OSError as exc:
        log.error("standby.http_unavailable", port=settings.http_port, error=str(exc))
        return None
    return runner


async def _start_store(
    stack: contextlib.AsyncExitStack, settings: Settings, now: Clock
) -> CallRecorder | None:
    """Call records: the configured database, else a private one under the data directory.

    The outbox never blocks a call: with the database down, records go to the spool
    (`<data dir>/spool.jsonl`) and are replayed when it is back.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    dsn = settings.database_url
    if dsn is None:
        embedded = EmbeddedPostgres(settings.data_dir)
        try:
            dsn = await embedded.start()
        except EmbeddedPostgresError as exc:
            log.warning("store.disabled", reason=str(exc))
            return None
        stack.push_async_callback(embedded.stop)
    try:
        conn = await db.connect(dsn, timeout=5.0)
        try:
            applied = await upgrade(conn)
        finally:
            await conn.close()
        log.info("store.ready", migrations_applied=applied)
    except (OSError, TimeoutError, MigrationError, db.PostgresError) as exc:
        log.warning("store.unavailable", error=type(exc).__name__)  # the outbox spools meanwhile
    # Every row the outbox writes takes this site (the columns' default, migration 0011).
    outbox = Outbox(
        dsn, settings.data_dir / "spool.jsonl", server_settings=db.site_settings(settings.site)
    )
    outbox.start()
    stack.push_async_callback(outbox.close, 2.0)  # then spool the rest: exit within 5 s
    recorder = CallRecorder(outbox, now, dsn=dsn)
    if settings.webhook_url and settings.webhook_secret:
        webhook = Webhook(settings.webhook_url, settings.webhook_secret)
        webhook.start()
        stack.push_async_callback(webhook.close)
        recorder.on_finished = webhook.notify  # each finished call, HMAC-signed
    return recorder


async def _database_pool(
    stack: contextlib.AsyncExitStack, recorder: CallRecorder | None, site: str
) -> db.Pool | None:
    """A small pool for what the call path reads (caller lookup, screen pop); its reads
    of "this site" (presence, callbacks, the board) and its writes mean `site`."""
    if recorder is None or recorder.dsn is None:
        return None
    pool = await db.create_pool(recorder.dsn, timeout=2.0, server_settings=db.site_settings(site))
    stack.push_async_callback(pool.close)
    return pool


async def _caller_lookup(
    stack: contextlib.AsyncExitStack, settings: Settings, pool: db.Pool | None
) -> Callable[[str | None], Awaitable[Patient | None]] | None:
    """Where callers are looked up: the EHR over FHIR when configured; else, with no CSV
    directory configured, the database's `patients` (`frontdesk directory import`)."""
    if settings.fhir_url:
        fhir = FhirLookup(settings.fhir_url, token=settings.fhir_token, timeout=0.5)
        stack.push_async_callback(fhir.close)
        return fhir.lookup
    if settings.directory is not None or pool is None:
        return None
    return PatientLookup(pool, timeout=0.25).lookup


def _record_cdrs(ami: AmiClient, recorder: CallRecorder, clock: PbxClock) -> None:
    """AMI `Cdr` events (cdr_manager) merged into the call rows: what frontdesk did not see.

    `talk_s` is left to the ACD's figure: a caller's CDR counts menu and hold time too.
    Times are read in the PBX's zone (`clock`) and only fill (frontdesk's own win).
    """

    def on_event(event: Event) -> None:
        if event.name != "Cdr":
            return
        upsert = cdr_upsert(event, clock.zone)
        if upsert is not None:
            fields = {k: v for k, v in upsert.fields.items() if k != "talk_s"}
            if fields:
                put = CallUpsert(upsert.linkedid, fields, key=upsert.key, fill=upsert.fill)
                recorder.sink.put(put)

    ami.add_listener(on_event)


def _admission(settings: Settings, plan: Plan) -> AdmissionGate | None:
    """Admission control with the configured limits (docs/scale.md, "Overload")."""
    if not settings.admission:
        return None
    limits = Limits(
        max_channels=settings.max_channels,
        loop_lag=settings.overload_loop_lag_ms / 1000,
        event_delay=settings.overload_event_delay_ms / 1000,
        ari_latency=settings.overload_ari_latency_ms / 1000,
        ari_backlog=settings.overload_ari_backlog,
    )
    admission = Admission(time.monotonic, limits)
    return AdmissionGate.for_plan(admission, plan.numbers, plan.practice.phone_region)


def _probes(
    ari: AriClient,
    ami: AmiClient,
    recorder: CallRecorder | None,
    runtime: CallRuntime,
    role: Callable[[], str],
) -> Probes:
    """What /metrics and /healthz read, at scrape time."""
    outbox = recorder.sink if recorder is not None else None
    queues = runtime.acd
    assert queues is not None
    admission = runtime.admission

    def callers() -> dict[str, list[float]]:
        snapshot = queues.engine.snapshot(queues.now())
        return {
            q.name: [c.waited.total_seconds() for c in q.callers if c.status != "callback"]
            for q in snapshot.queues
        }

    return Probes(
        ari=lambda: ari.connected,
        ami=lambda: ami.connected,
        database=(lambda: outbox.connected) if isinstance(outbox, Outbox) else (lambda: None),
        queue_depths=lambda: {name: len(waits) for name, waits in callers().items()},
        longest_waits=lambda: {name: max(waits, default=0.0) for name, waits in callers().items()},
        spool_depth=(lambda: max(outbox.spooled - outbox.replayed, 0))
        if isinstance(outbox, Outbox)
        else (lambda: 0),
        calls_in_app=lambda: len(runtime.sessions) + len(queues.calls),
        role=role,
        overloaded=lambda: admission is not None and admission.admission.overloaded,
        health=lambda: admission.admission.signals() if admission is not None else {},
    )


async def _durable_callbacks(
    stack: contextlib.AsyncExitStack,
    queues: AcdRuntime,
    recorder: CallRecorder,
    pool: db.Pool | None,
) -> None:
    """Pending callbacks survive restarts: each change goes through the outbox (spooled in
    an outage), and those still pending come back at their place before calls are taken.
    The database gets RESTORE_WAIT seconds; after that they come back when it does."""
    outbox = recorder.sink
    if not isinstance(outbox, Outbox):
        return
    queues.callbacks.sink = outbox.put
    if pool is None:
        return
    task = asyncio.create_task(_restore_callbacks(outbox, pool, queues), name="callbacks")
    stack.callback(task.cancel)
    await asyncio.wait({task}, timeout=RESTORE_WAIT)


RESTORE_WAIT = 5.0


async def _agents_at_start(
    queues: AcdRuntime, recorder: CallRecorder | None, pool: db.Pool | None, *, everyone: bool
) -> None:
    """Logins and pauses as they were when frontdesk last stopped (`agent_presence`, read
    once the outbox has replayed its spool), before calls are taken. A staff member never
    stored, or everyone when the database cannot be read within RESTORE_WAIT, takes
    FRONTDESK_AGENTS_START (`everyone`: logged in), and the log says so. From here on the
    recorder writes each change and the runtime audits feature codes."""
    outbox = recorder.sink if recorder is not None else None
    stored = None
    if recorder is not None and isinstance(outbox, Outbox):
        queues.agents.audit = outbox.put
        if pool is not None:
            stored = await _read_presence(outbox, pool)
        if stored is not None:
            recorder.presence_stored(p.revision for p in stored.values())
    defaulted = queues.agents.start_agents(stored, everyone=everyone)
    start = "all" if everyone else "none"
    if stored is None:
        log.warning("acd.agents_not_restored", agents_start=start, reason="no database")
        return
    log.info(
        "acd.agents_restored",
        logged_in=sorted(e for e, p in stored.items() if p.logged_in),
        paused=sorted(e for e, p in stored.items() if p.paused),
        first_run=defaulted,
        agents_start=start,
    )


async def _read_presence(outbox: Outbox, pool: db.Pool) -> dict[str, AgentPresence] | None:
    """The stored presence once the spool is replayed; None if that takes over RESTORE_WAIT
    or the database fails (the read runs in a task of its own: a stalled network may hold
    a cancelled asyncpg connection for a minute)."""

    async def read() -> dict[str, AgentPresence] | None:
        if not await outbox.drain(RESTORE_WAIT):
            return None
        return await load_agent_presence(pool, timeout=RESTORE_WAIT)

    task = asyncio.create_task(read(), name="agents-at-start")
    done, _ = await asyncio.wait({task}, timeout=RESTORE_WAIT)
    if not done:
        task.cancel()
        return None
    try:
        return task.result()
    except (*db.UNAVAILABLE, db.PostgresError) as exc:
        log.warning("acd.agents_not_read", error=type(exc).__name__)
        return None


async def _restore_callbacks(outbox: Outbox, pool: db.Pool, queues: AcdRuntime) -> None:
    """Once the outbox has replayed its spool (the table is complete), read and restore."""
    wait = 1.0
    while True:
        if await outbox.drain(wait):
            try:
                callbacks = await load_pending_callbacks(pool)
            except (*db.UNAVAILABLE, db.PostgresError) as exc:
                log.warning("acd.callbacks_not_restored_yet", error=type(exc).__name__)
            else:
                log.info("acd.callbacks_restored", pending=len(callbacks))
                queues.restore_callbacks(callbacks)
                return
        elif wait == 1.0:
            log.warning("acd.callbacks_waiting_for_database")
        wait = min(wait * 2, 30.0)


async def _start_fastagi(
    stack: contextlib.AsyncExitStack,
    settings: Settings,
    plan: Plan,
    directory: Directory | None,
    logged_in: Collection[str],
) -> None:
    agi = FastAgiServer(
        agi_decider(plan, directory or Directory(), logged_in),
        AgiSettings(settings.agi_host, settings.agi_port),
    )
    try:
        await agi.start()
    except OSError as exc:  # the port is taken: Stasis calls matter more than AGI ones
        log.error("fastagi.unavailable", port=settings.agi_port, error=str(exc))
        return
    stack.push_async_callback(agi.close)


async def _start_ami(
    stack: contextlib.AsyncExitStack, settings: Settings, port: int, plan: Plan
) -> AmiClient:
    """Connect AMI (it keeps reconnecting by itself); a wrong secret stops the daemon."""
    ami = AmiClient(
        AmiSettings(
            settings.ami_host,
            port,
            settings.ami_user,
            settings.ami_secret,
            ping_interval=4.0,  # a half-open connection is replaced within 10 s
            ping_timeout=3.0,
        )
    )
    await ami.start()
    stack.push_async_callback(ami.close)
    return ami


def track_phones(ami: AmiClient, ari: AriClient, plan: Plan, queues: AcdRuntime | None) -> None:
    """Registered staff phones -> the ACD never rings an absent phone.

    At each AMI (re)connect the endpoint states Asterisk has now, read over ARI (nothing is
    replayed; AMI's own contact listing needs `write = system`: calls/presence.py), then
    every ContactStatus, changed or not (the ACD starts out assuming every phone reachable)."""
    presence = PhonePresence({s.extension for s in plan.staff})
    syncing: set[asyncio.Task[None]] = set()

    def tell_acd(states: dict[str, bool]) -> None:
        if queues is not None:
            for ext, registered in states.items():
                queues.agents.phone_reachable(ext, registered)

    def on_event(event: Event) -> None:
        before = set(presence.registered)
        news = presence.on_event(event)
        if news is not None:
            if presence.registered != before:
                log.info("phones.registered", phones=sorted(presence.registered))
            tell_acd(dict([news]))
        elif event.name == "Shutdown":
            log.warning("asterisk.shutting_down")

    async def sync() -> None:
        try:
            listing = await ari.request("GET", PhonePresence.ENDPOINTS_PATH, idempotent=True)
        except Exception as exc:  # ARI down too: the next AMI connect asks again
            log.warning("phones.sync_failed", error=type(exc).__name__)
            return
        states = presence.on_endpoints(listing)
        if states is None:
            log.warning("phones.sync_failed", error="not an endpoint list")
            return
        log.info("phones.registered", phones=sorted(presence.registered), synced=True)
        tell_acd(states)

    def on_state(_: object) -> None:
        if ami.connected:
            task = asyncio.ensure_future(sync())
            syncing.add(task)
            task.add_done_callback(syncing.discard)

    ami.add_listener(on_event)
    ami.add_state_listener(on_state)
    on_state(None)  # start() may have connected already


async def _serve_agents_api(
    stack: contextlib.AsyncExitStack,
    settings: Settings,
    runtime: CallRuntime,
    recorder: CallRecorder | None,
    pool: db.Pool | None,
    now: Clock,
    metrics: Metrics,
) -> str | None:
    """The dashboard and its APIs; returns its URL, or None when the port is taken."""
    queues = runtime.acd
    assert queues is not None
    dsn = recorder.dsn if recorder is not None and pool is not None else None
    app = make_app(
        queues,
        AccountStore(pool) if pool is not None else None,
        now=now,
        api_token=settings.api_token,
        idle_minutes=settings.session_idle_minutes,
        put_audit=recorder.sink.put if recorder is not None else None,
        secure_cookies=settings.cookie_secure,
        allowed_hosts=settings.hosts,
        session_store=SessionStore(dsn) if dsn is not None else None,  # sessions in PostgreSQL
    )
    add_ops_routes(app, metrics.probes, metrics)
    put_audit = recorder.sink.put if recorder else None
    live = LiveBoard(
        queues, queues.plan, put_audit=put_audit, site=settings.site or db.DEFAULT_SITE
    )
    if pool is not None:
        await live.restore(pool)
        _share_board(stack, live, pool)
    runtime.hub.add_listener(live.on_hub)
    add_live_routes(app, live)
    if runtime.returns is not None and pool is not None:
        add_return_call_routes(app, live, runtime.returns, pool)
    add_page_routes(app, queues.plan, pool, now)
    add_agent_page_routes(app, queues.plan, queues, pool, now)
    if recorder is not None and pool is not None:
        pops = ScreenPops(ScreenPopSource(pool, timeout=0.25))
        runtime.hub.add_listener(pops.on_hub)
        stack.push_async_callback(pops.close)
        add_screenpop_routes(app, pops, recorder.sink.put, now)
    if recorder is not None:
        add_disposition_routes(app, recorder.sink.put, now, CallOwners(pool, queues))
    if runtime.staff_transfers is not None:
        put_audit = recorder.sink.put if recorder is not None else None
        add_transfer_routes(app, runtime.staff_transfers, put_audit, now)
    try:  # connection caps, header and idle timeouts (web/server.py)
        runner, _ = await start_site(app, settings.http_host, settings.http_port, _limits())
    except OSError as exc:  # the port is taken: calls matter more than the API
        log.error("agents_api.unavailable", port=settings.http_port, error=str(exc))
        return None
    stack.push_async_callback(runner.cleanup)
    port = site_port(runner) or settings.http_port
    url = f"http://{settings.http_host}:{port}/"
    log.info("dashboard.listening", url=url)
    return url


def _share_board(stack: contextlib.AsyncExitStack, live: LiveBoard, pool: db.Pool) -> None:
    """This site's board to PostgreSQL for other sites' viewers, theirs from there."""
    live.others = SiteBoards(live.site, pool, render=live.unmasked, version=lambda: live.version)
    task = asyncio.create_task(live.others.publish_forever(), name="site-board")
    stack.callback(task.cancel)


def _limits() -> ServerLimits:
    try:
        return ServerLimits.from_env()
    except ValueError as exc:
        log.error("dashboard.bad_limits", error=str(exc), using="the defaults")
        return ServerLimits()


def site_port(runner: web.AppRunner) -> int | None:
    """The port actually bound (FRONTDESK_HTTP_PORT=0 picks a free one)."""
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return None


def _on_signals(callback: Callable[[], None]) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, callback)
