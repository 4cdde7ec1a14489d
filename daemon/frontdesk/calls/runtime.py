"""The I/O side of calls: ARI events -> call sessions -> the one command executor.

Each call has its own ordered command queue and worker task, so one call's slow or
failing request never holds up another. Decisions stay in `CallSession`; this module
only moves events in and requests out, keeps timers, and resynchronises after the
events socket reconnects (Asterisk replays nothing: a caller who hung up in the gap
never gets a `StasisEnd`, and a call that arrived in the gap never reached us).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from frontdesk.acd.model import CallerLeft
from frontdesk.asterisk.ari import AriClient, AriError, Connected, ignore_gone
from frontdesk.asterisk.ari_events import channel_of
from frontdesk.calls.destinations import HANDOFF_VARIABLE, Destinations
from frontdesk.calls.queues import STATE_VARIABLE, QueueRuntime, decode_state, queue_order
from frontdesk.calls.session import (
    Answer,
    AriCommand,
    ArmTimer,
    CallSession,
    ContinueInDialplan,
    Deliver,
    DisarmTimer,
    JoinQueue,
    Play,
    Routed,
    SetVariables,
    StopPlayback,
    facts_from_channel,
)
from frontdesk.golive import override
from frontdesk.phone import mask_number, normalize_number
from frontdesk.plan.model import Plan
from frontdesk.routing.clock import PracticeClock
from frontdesk.routing.directory import Directory, Patient
from frontdesk.routing.ivr import CallFacts
from frontdesk.store.records import PendingCallback

log = structlog.get_logger("frontdesk.calls")
Clock = Callable[[], datetime]
ROUTE_TIME_READ_TIMEOUT = 0.5  # go-live only: a test call waits at most this for its header


def utc_now() -> datetime:
    return datetime.now(UTC)


class CallRuntime:
    def __init__(
        self,
        plan: Plan,
        ari: AriClient,
        *,
        directory: Directory | None = None,
        logged_in: Collection[str] | None = None,
        now: Clock = utc_now,
        on_routed: Callable[[Routed], None] | None = None,
        queues: QueueRuntime | None = None,
        destinations: Destinations | None = None,
        on_started: Callable[[str, CallFacts], None] | None = None,
        on_left_in_menu: Callable[[str], None] | None = None,
        lookup: Callable[[str | None], Awaitable[Patient | None]] | None = None,
        golive: bool = False,
    ) -> None:
        self.plan = plan
        self.ari = ari
        self.clock = PracticeClock(plan)
        self.directory = directory or Directory()
        # A live view: the AMI adapter adds and removes registered staff phones.
        self.logged_in = logged_in if logged_in is not None else {s.extension for s in plan.staff}
        self.now = now
        self.on_routed = on_routed
        self.queues = queues  # frontdesk's ACD; None: queue routes go back to the dialplan
        self.destinations = destinations  # voicemail and transfers over ARI
        self.on_started = on_started
        self.on_left_in_menu = on_left_in_menu
        self.lookup = lookup  # the database's patient lookup (bounded); else `directory`
        self.golive = golive  # go-live testing: test callers may carry their routing time
        if golive:
            log.warning("golive.mode_on", test_callers=len(plan.golive.test_callers))
        self._looking_up: set[asyncio.Task[None]] = set()
        self.sessions: dict[str, CallSession] = {}
        self._queues: dict[str, asyncio.Queue[AriCommand | None]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._timers: dict[tuple[str, int], asyncio.TimerHandle] = {}
        self.resyncs = 0
        self.stopping = False  # shutting down: new calls go straight back to the dialplan
        self.on_interrupted: Callable[[str], None] | None = None  # ended while out of touch
        self.on_golive_case: Callable[[str, str], None] | None = None  # (channel, case id)
        self._handing_back: set[asyncio.Task[None]] = set()

    # -- the event loop -------------------------------------------------------------------
    async def run(self) -> None:
        async for item in self.ari.events():
            if isinstance(item, Connected):
                try:
                    await self.resync()
                except Exception:  # a failed resync must not stop the event loop
                    log.exception("calls.resync_crashed")
                    self.resyncs += 1
            else:
                self.dispatch(item)

    def dispatch(self, event: dict[str, Any]) -> None:
        """Route one ARI event to its call; malformed or foreign events are skipped."""
        if not isinstance(event, dict):
            log.warning("calls.bad_event", event_type=type(event).__name__)
            return
        try:
            self._dispatch(event)
        except Exception:  # one bad event must never stop the loop for every call
            log.exception("calls.event_failed", event_type=event.get("type"))

    def _dispatch(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "ApplicationReplaced":
            log.error("calls.app_replaced", app=self.ari.config.app)
            return
        if kind == "BridgeAttendedTransfer" and self.queues is not None:
            self.queues.on_attended_transfer(event)
            return
        channel = event.get("channel")
        channel_id = channel_of(event)
        if kind == "StasisStart" and isinstance(channel, dict) and channel_id not in self.sessions:
            if event.get("replace_channel"):
                self._replacing(event)
            elif not event.get("args"):
                self._start_call(channel)
            elif self.destinations is not None and self.destinations.on_stasis_start(event):
                pass  # a transfer's far end answered
            elif self.queues is not None:  # agent legs, callbacks and staff feature codes
                self.queues.on_stasis_start(event)
            return
        if self.destinations is not None and self.destinations.owns(channel_id or ""):
            self.destinations.on_event(event)
            return
        if self.queues is not None and self.queues.owns(channel_id or ""):
            self.queues.on_event(event)
            return
        session = self.sessions.get(channel_id or "")
        if session is None:
            return
        was_open = not session.ended
        self._submit(session, session.on_event(event, self.now()))
        if was_open and session.ended and session.ivr.decision is None:
            log.info("call.left_in_menu", channel=session.channel)
            if self.on_left_in_menu is not None:
                self.on_left_in_menu(session.channel)

    def _replacing(self, event: dict[str, Any]) -> None:
        """A channel Asterisk swapped into one of our bridges (a phone's transfer button):
        a leg of a call we have, never a new call. One we cannot place is hung up rather
        than given the menu in the middle of a conversation."""
        if self.queues is not None and self.queues.on_transfer_leg(event):
            return
        leg = channel_of(event) or ""
        replaced = (event.get("replace_channel") or {}).get("name")
        log.warning("calls.unknown_replacement", channel=leg, replaced=replaced)
        task = asyncio.ensure_future(ignore_gone(self.ari.hangup(leg)))
        self._handing_back.add(task)
        task.add_done_callback(self._handing_back.discard)

    def _start_call(self, channel: dict[str, Any]) -> None:
        """A new call: look the caller up (the database has a short deadline), then adopt.

        In go-live mode a declared test caller's routing-time header is read meanwhile."""
        caller = normalize_number(facts_from_channel(channel)[0], self.plan.practice.phone_region)
        timed = override.should_read(self.golive, self.plan.golive.test_callers, caller)
        if self.lookup is None and not timed:
            self.adopt(channel, answered=False)
            return
        lookup = self.lookup

        async def looked_up() -> None:
            channel_id = str(channel.get("id"))
            reading = (
                asyncio.ensure_future(self._golive_headers(channel_id, caller)) if timed else None
            )  # in parallel with the lookup: both are bounded
            try:
                patient = await lookup(caller) if lookup is not None else None
                shift, case = await reading if reading is not None else (timedelta(0), None)
            finally:
                if reading is not None:
                    reading.cancel()  # closing: no orphan read
            self.adopt(channel, answered=False, patient=patient, clock_offset=shift)
            if case is not None and channel_id in self.sessions and self.on_golive_case:
                self.on_golive_case(channel_id, case)  # `golive verify` finds the call by it

        task = asyncio.create_task(looked_up())
        self._looking_up.add(task)
        task.add_done_callback(self._looking_up.discard)

    async def _golive_headers(
        self, channel_id: str, caller: str | None
    ) -> tuple[timedelta, str | None]:
        """A test caller's routing time and go-live case id, both read at once."""
        return await asyncio.gather(
            self._route_time_offset(channel_id, caller), self._golive_case(channel_id, caller)
        )

    async def _read_header(self, channel_id: str, variable: str) -> str | None:
        """One header of the INVITE, read once with a short deadline; None on any trouble
        (no header: Asterisk answers 500, a slow PBX)."""
        try:
            body = await asyncio.wait_for(
                self.ari.request(
                    "GET",
                    f"/channels/{channel_id}/variable",
                    {"variable": variable},
                    idempotent=False,  # no retries: a missing header is a 500 too
                ),
                ROUTE_TIME_READ_TIMEOUT,
            )
        except (AriError, TimeoutError):
            return None
        return str(body["value"]) if isinstance(body, dict) and "value" in body else None

    async def _route_time_offset(self, channel_id: str, caller: str | None) -> timedelta:
        """A test caller's `X-Frontdesk-Route-Time`; any trouble means real time."""
        header = await self._read_header(channel_id, override.ARI_VARIABLE)
        verdict = override.decide(header, self.now())
        fields = {"channel": channel_id, "caller": mask_number(caller), "reason": verdict.reason}
        if verdict.honoured:
            assert verdict.at is not None
            log.warning("golive.time_override", **fields, route_time=verdict.at.isoformat())
        elif verdict.reason != "absent":
            log.warning("golive.time_override_ignored", **fields)
        return verdict.offset

    async def _golive_case(self, channel_id: str, caller: str | None) -> str | None:
        """A test caller's `X-Frontdesk-Case`, if it is a well-formed case id."""
        header = await self._read_header(channel_id, override.CASE_ARI_VARIABLE)
        case = override.case_id(header)
        if case is None and header is not None and header.strip():
            log.warning(
                "golive.case_ignored",
                channel=channel_id,
                caller=mask_number(caller),
                case=override.mask_case(header),
                length=len(header),
            )
        return case

    def adopt(
        self,
        channel: dict[str, Any],
        *,
        answered: bool,
        patient: Patient | None = None,
        clock_offset: timedelta = timedelta(0),
    ) -> None:
        channel_id = str(channel.get("id"))
        if self.stopping and not answered:
            self._hand_back(channel_id)
            return
        raw_caller, raw_did = facts_from_channel(channel)
        region = self.plan.practice.phone_region
        caller = normalize_number(raw_caller, region)
        found = patient if self.lookup is not None else self.directory.lookup(caller)
        facts = CallFacts(normalize_number(raw_did, region), caller, found)
        session = CallSession(
            self.plan,
            self.clock,
            channel_id,
            facts,
            self.logged_in,
            acd=self.queues is not None,
            clock_offset=clock_offset,
        )
        self.sessions[channel_id] = session
        if self.on_started is not None and not answered:
            self.on_started(channel_id, facts)
        log.info(
            "call.started",
            channel=channel_id,
            caller=mask_number(caller),
            did=facts.did,
            adopted=answered,
        )
        self._submit(session, session.start(self.now(), answered=answered))

    # -- commands -----------------------------------------------------------------------------
    def _submit(self, session: CallSession, commands: list[AriCommand]) -> None:
        channel = session.channel
        queue = self._queues.get(channel)
        if queue is None:
            queue = self._queues[channel] = asyncio.Queue()
            self._workers[channel] = asyncio.create_task(self._worker(session, queue))
        for command in commands:
            queue.put_nowait(command)
        if session.ended:
            queue.put_nowait(None)  # drain what is left, then stop this call's worker

    async def _worker(self, session: CallSession, queue: asyncio.Queue[AriCommand | None]) -> None:
        while (command := await queue.get()) is not None:
            try:
                await self._execute(session, command)
            except AriError as exc:
                self._request_failed(session, command, exc)
        self._forget(session.channel)

    async def _execute(self, session: CallSession, command: AriCommand) -> None:
        ari = self.ari
        if isinstance(command, Answer):
            await ari.answer(command.channel)
        elif isinstance(command, Play):
            await ari.play(command.channel, command.media, command.playback_id, command.language)
        elif isinstance(command, StopPlayback):
            await ignore_gone(ari.stop_playback(command.playback_id))
        elif isinstance(command, ArmTimer):
            self._arm(session, command)
        elif isinstance(command, DisarmTimer):
            handle = self._timers.pop((command.channel, command.timer), None)
            if handle is not None:
                handle.cancel()
        elif isinstance(command, SetVariables):
            for name, value in command.variables:
                await ari.set_variable(command.channel, name, value)
        elif isinstance(command, ContinueInDialplan):
            await ari.continue_in_dialplan(command.channel)
        elif isinstance(command, Routed):
            self._log_route(command)
        elif isinstance(command, JoinQueue) and self.queues is not None:
            await self.queues.join(
                command.channel, command.decision, command.language, command.number
            )
        elif isinstance(command, Deliver) and self.destinations is not None:
            await self.destinations.deliver(command.channel, command.decision, command.number)

    def _arm(self, session: CallSession, command: ArmTimer) -> None:
        def fire() -> None:
            self._timers.pop((command.channel, command.timer), None)
            if self.sessions.get(command.channel) is session:
                self._submit(session, session.on_timer(command.timer, self.now()))

        loop = asyncio.get_running_loop()
        handle = loop.call_later(command.delay.total_seconds(), fire)
        self._timers[(command.channel, command.timer)] = handle

    def _request_failed(self, session: CallSession, command: AriCommand, exc: AriError) -> None:
        if exc.call_is_gone:
            log.info("call.gone", channel=session.channel, status=exc.status)
            session.ended = True
            self._queues[session.channel].put_nowait(None)
            return
        log.warning(
            "call.request_failed",
            channel=session.channel,
            command=type(command).__name__,
            error=str(exc),
        )
        if isinstance(command, Play):
            # The caller heard nothing; carry on as if it played so they are not stranded.
            self._submit(session, session.playback_lost(self.now()))

    def _forget(self, channel: str) -> None:
        self._queues.pop(channel, None)
        self._workers.pop(channel, None)
        self.sessions.pop(channel, None)
        for key in [k for k in self._timers if k[0] == channel]:
            self._timers.pop(key).cancel()

    def _log_route(self, routed: Routed) -> None:
        decision = routed.decision
        log.info(
            "call.routed",
            channel=routed.channel,
            caller=mask_number(routed.facts.caller),
            known_patient=routed.facts.patient is not None,
            language=routed.language,
            category=decision.request.category,
            urgent=decision.request.urgent,
            after_hours=decision.after_hours,
            holiday=decision.holiday,
            destination=decision.destination.as_json(),
        )
        if self.on_routed is not None:
            self.on_routed(routed)

    # -- resynchronisation ----------------------------------------------------------------------
    async def resync(self) -> None:
        """Make our sessions match what Asterisk says is in the app right now."""
        try:
            present = set((await self.ari.application()).get("channel_ids", []))
        except AriError as exc:
            log.warning("calls.resync_failed", error=str(exc))
            self.resyncs += 1
            return
        if self.queues is not None:
            self.queues.reconnected()
        for channel in list(self.sessions.keys() - present):
            log.info("call.gone_while_disconnected", channel=channel)
            self._end(channel)
            self._interrupted(channel)
        self._queued_calls_gone(present)
        waiting: list[tuple[tuple[int, datetime], dict[str, Any], str]] = []
        for channel in sorted(present - self.sessions.keys()):
            if self.queues is not None and self.queues.owns(channel):
                continue
            found = await self._readopt(channel)
            if found is not None:
                waiting.append(found)
        await self._rejoin_in_order(waiting)
        for session in list(self.sessions.values()):
            await self._check_playback(session)
        self.resyncs += 1
        log.info("calls.resynced", in_app=len(present), resyncs=self.resyncs)

    def _end(self, channel: str) -> None:
        session = self.sessions[channel]
        session.ended = True
        self._submit(session, [])

    def _queued_calls_gone(self, present: set[str]) -> None:
        """Queued callers Asterisk no longer has (it restarted, or they hung up unseen).

        A caller who accepted a callback hung up on purpose and keeps their place; a
        conversation ends as if either side hung up; a waiting caller leaves the queue.
        """
        if self.queues is None:
            return
        for channel, queued in list(self.queues.calls.items()):
            if channel in present or queued.state in ("callback", "gone"):
                continue
            log.info("call.gone_while_disconnected", channel=channel, state=queued.state)
            if queued.state == "talking":
                self.queues.on_event({"type": "ChannelDestroyed", "channel": {"id": channel}})
                continue
            queued.state = "gone"
            self.queues.calls.pop(channel, None)
            self.queues.feed(CallerLeft(channel))
            self._interrupted(channel)

    def _interrupted(self, channel: str) -> None:
        """The call ended while we could not see it: its real outcome is unknown."""
        if self.on_interrupted is not None:
            self.on_interrupted(channel)

    async def _readopt(
        self, channel_id: str
    ) -> tuple[tuple[int, datetime], dict[str, Any], str] | None:
        """Re-adopt a call we lost track of; a queued caller is returned for `_rejoin_in_order`."""
        try:
            channel = await self.ari.get_channel(channel_id)
        except AriError:
            return None
        if channel.get("dialplan", {}).get("app_name") != "Stasis" or _is_our_leg(channel):
            return None
        if self.queues is not None:
            try:
                state = await self.ari.get_variable(channel_id, STATE_VARIABLE)
            except AriError:
                state = ""
            joined = decode_state(channel_id, state) if state else None
            if joined is not None:
                return queue_order(joined.priority, joined.enqueued_at), channel, state
        if await self._readopt_handoff(channel_id, channel):
            return None
        self.adopt(channel, answered=channel.get("state") == "Up")
        return None

    async def _readopt_handoff(self, channel_id: str, channel: dict[str, Any]) -> bool:
        """A caller in a transfer or leaving a message when we lost track: theirs again."""
        if self.destinations is None:
            return False
        try:
            marker = await self.ari.get_variable(channel_id, HANDOFF_VARIABLE)
        except AriError:
            return False  # no such variable: Asterisk answers 404/500
        caller = normalize_number(facts_from_channel(channel)[0], self.plan.practice.phone_region)
        return bool(marker) and await self.destinations.readopt(channel_id, marker, caller)

    async def _rejoin_in_order(
        self, waiting: list[tuple[tuple[int, datetime], dict[str, Any], str]]
    ) -> None:
        """Queued callers come back in their original order, with their original wait,
        and the callbacks restored from the database at their places among them (each is
        offered as soon as it is fed: feeding out of order would hand out agents so)."""
        assert self.queues is not None or not waiting
        if self.queues is None:
            return
        restored = self.queues.take_restored()
        rejoining: list[tuple[tuple[int, datetime], PendingCallback | tuple[dict[str, Any], str]]]
        # A restored callback first: a caller still on the line for it is hung up.
        rejoining = [(queue_order(c.priority, c.enqueued_at), c) for c in restored]
        rejoining += [(order, (channel, state)) for order, channel, state in waiting]
        for _, item in sorted(rejoining, key=lambda entry: entry[0]):
            if isinstance(item, PendingCallback):
                self.queues.restore_callback(item)
            elif await self.queues.rejoin(*item):
                log.info("call.readopted_in_queue", channel=item[0].get("id"))

    async def _check_playback(self, session: CallSession) -> None:
        playback = session.current_playback
        if playback is None:
            return
        try:
            await self.ari.request("GET", f"/playbacks/{playback}", idempotent=True)
        except AriError as exc:
            if exc.status == 404:  # it finished while we were not listening
                self._submit(session, session.playback_lost(self.now()))

    # -- shutting down -------------------------------------------------------------------------
    def stop_taking_calls(self) -> None:
        """SIGTERM: new calls and callers still in the menu go to the dialplan's fallback.

        `continue` without FRONTDESK_ROUTE: extensions.conf rings the front desk, as when
        frontdesk is down. Queued callers stay in Asterisk for the next start to re-adopt.
        """
        self.stopping = True
        for session in list(self.sessions.values()):
            if session.ended or session.ivr.decision is not None:
                continue  # routed: its own commands finish the hand-off
            session.ended = True
            for key in [k for k in self._timers if k[0] == session.channel]:
                self._timers.pop(key).cancel()
            log.info("call.handed_to_dialplan", channel=session.channel, reason="stopping")
            self._submit(session, [ContinueInDialplan(session.channel)])

    async def hand_back_unseen(self) -> None:
        """After the events socket closed: new calls whose StasisStart we never read."""
        try:
            present = set((await self.ari.application()).get("channel_ids", []))
        except AriError as exc:
            log.warning("calls.hand_back_failed", error=str(exc))
            return
        for channel_id in sorted(present - self.sessions.keys()):
            if any(o is not None and o.owns(channel_id) for o in (self.queues, self.destinations)):
                continue
            try:
                channel = await self.ari.get_channel(channel_id)
            except AriError:
                continue  # gone meanwhile
            try:
                state = await self.ari.get_variable(channel_id, STATE_VARIABLE)
            except AriError as exc:
                if "variable" not in exc.message.lower():
                    continue  # not readable: leave it for the next start
                state = ""  # not set: not a queued caller
            if not _is_our_leg(channel) and not state and channel.get("state") != "Up":
                self._hand_back(channel_id)
        await self.settle()

    def _hand_back(self, channel_id: str) -> None:
        log.info("call.handed_to_dialplan", channel=channel_id, reason="stopping")
        task = asyncio.create_task(ignore_gone(self.ari.continue_in_dialplan(channel_id)))
        self._handing_back.add(task)
        task.add_done_callback(self._handing_back.discard)

    async def settle(self, timeout: float = 1.0) -> None:
        """Give the requests in flight (hand-backs, routed calls' last steps) `timeout` s."""
        pending = {*self._workers.values(), *self._handing_back, *self._looking_up}
        if pending:
            await asyncio.wait(pending, timeout=timeout)

    async def close(self) -> None:
        if self.stopping:
            await self.settle()
        for handle in self._timers.values():
            handle.cancel()
        for task in [*self._workers.values(), *self._handing_back, *self._looking_up]:
            task.cancel()
        await asyncio.gather(
            *self._workers.values(), *self._handing_back, *self._looking_up, return_exceptions=True
        )


def _is_our_leg(channel: dict[str, Any]) -> bool:
    """Channels we originated (agents, transfers) carry Stasis arguments."""
    app_data = str(channel.get("dialplan", {}).get("app_data", ""))
    return "," in app_data
