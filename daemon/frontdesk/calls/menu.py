"""Callers in frontdesk's menu: one `CallSession` each, from the call's start to its route.

A new call is looked up (the database has a short deadline; in go-live mode a test
caller's headers are read meanwhile), answered and walked through the IVR. When the
IVR decides, the caller is handed on: to the ACD (a queue), to the destinations
(voicemail, an external number), or back to the dialplan with the route in channel
variables when frontdesk runs without its ACD. A caller who hangs up before the call is
routed — in a menu, or during the route's greeting or announcement — is an abandoned
call (`where`: `menu`). A go-live test call hands its routing shift on to the ACD.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog

from frontdesk.asterisk.ari import AriClient, AriError
from frontdesk.calls import events
from frontdesk.calls.channels import Channels
from frontdesk.calls.commands import Command, ContinueInDialplan, Play, StopPlayback
from frontdesk.calls.executor import CommandExecutor
from frontdesk.calls.golive_headers import read_golive_headers
from frontdesk.calls.hub import EventHub
from frontdesk.calls.session import (
    CallSession,
    Deliver,
    JoinQueue,
    Output,
    Routed,
    facts_from_channel,
)
from frontdesk.golive import override
from frontdesk.phone import mask_number, normalize_number
from frontdesk.plan.model import Plan
from frontdesk.routing.clock import PracticeClock
from frontdesk.routing.destination import Decision
from frontdesk.routing.directory import Directory, Patient
from frontdesk.routing.ivr import CallFacts

log = structlog.get_logger("frontdesk.calls")
Lookup = Callable[[str | None], Awaitable[Patient | None]]


class Queues(Protocol):
    def join(
        self,
        channel: str,
        decision: Decision,
        language: str,
        number: str | None,
        *,
        clock_offset: timedelta = ...,
    ) -> None:
        """Take a caller routed to a queue (calls/acd_runtime.py)."""


class Handoffs(Protocol):
    def deliver(self, channel: str, decision: Decision, number: str | None) -> None:
        """Take a caller routed to voicemail or an external number (calls/destinations.py)."""


class MenuCalls:
    def __init__(
        self,
        plan: Plan,
        ari: AriClient,
        executor: CommandExecutor,
        channels: Channels,
        hub: EventHub,
        *,
        now: Callable[[], datetime],
        logged_in: Collection[str],
        directory: Directory | None = None,
        lookup: Lookup | None = None,
        queues: Queues | None = None,
        handoffs: Handoffs | None = None,
        golive: bool = False,
    ) -> None:
        self.plan = plan
        self.ari = ari  # queries only (headers, playbacks): requests go through `executor`
        self.executor = executor
        self.channels = channels
        self.hub = hub
        self.now = now
        self.clock = PracticeClock(plan)
        # A live view: the ACD and the phones' presence change who is logged in.
        self.logged_in = logged_in
        self.directory = directory or Directory()
        self.lookup = lookup  # the database's patient lookup (bounded); else `directory`
        self.queues = queues  # frontdesk's ACD; None: every route goes back to the dialplan
        self.handoffs = handoffs
        self.golive = golive  # go-live testing: test callers may carry their routing time
        if golive:
            log.warning("golive.mode_on", test_callers=len(plan.golive.test_callers))
        self.sessions: dict[str, CallSession] = {}
        self.stopping = False  # shutting down: new calls go straight back to the dialplan
        self._looking_up: set[asyncio.Task[None]] = set()

    # -- a new call -------------------------------------------------------------------------
    def start_call(self, channel: dict[str, Any]) -> None:
        """Look the caller up (bounded), then adopt; go-live headers are read meanwhile."""
        caller = normalize_number(facts_from_channel(channel)[0], self.plan.practice.phone_region)
        timed = override.should_read(self.golive, self.plan.golive.test_callers, caller)
        if self.lookup is None and not timed:
            self.adopt(channel, answered=False)
            return
        task = asyncio.create_task(self._look_up(channel, caller, timed))
        self._looking_up.add(task)
        task.add_done_callback(self._looking_up.discard)

    async def _look_up(self, channel: dict[str, Any], caller: str | None, timed: bool) -> None:
        channel_id = str(channel.get("id"))
        reading = (
            asyncio.ensure_future(read_golive_headers(self.ari, channel_id, caller, self.now))
            if timed
            else None
        )  # in parallel with the lookup: both are bounded
        try:
            patient = await self.lookup(caller) if self.lookup is not None else None
            shift, case = await reading if reading is not None else (timedelta(0), None)
        finally:
            if reading is not None:
                reading.cancel()  # closing: no orphan read
        self.adopt(channel, answered=False, patient=patient, clock_offset=shift)
        if case is not None and channel_id in self.sessions:
            self.hub.publish(events.GoliveCaseSeen(channel_id, case))

    def adopt(
        self,
        channel: dict[str, Any],
        *,
        answered: bool,
        patient: Patient | None = None,
        clock_offset: timedelta = timedelta(0),
    ) -> None:
        """Start the menu for a call (`answered`: re-adopted after a restart, already Up)."""
        channel_id = str(channel.get("id"))
        if self.stopping and not answered:
            self.hand_back(channel_id)
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
        self.channels.claim(channel_id, self)
        if not answered:
            self.hub.publish(events.CallStarted(channel_id, facts))
        log.info(
            "call.started",
            channel=channel_id,
            caller=mask_number(caller),
            did=facts.did,
            adopted=answered,
        )
        self._act(session, session.start(self.now(), answered=answered))

    def hand_back(self, channel: str) -> None:
        """Shutting down: the dialplan's fallback takes the call (rings the front desk)."""
        log.info("call.handed_to_dialplan", channel=channel, reason="stopping")
        self.executor.submit(channel, [ContinueInDialplan(channel)])

    # -- the owner of callers in the menu ---------------------------------------------------------
    def on_event(self, channel: str, event: dict[str, Any]) -> None:
        session = self.sessions.get(channel)
        if session is None:
            return
        was_open = not session.ended
        self._act(session, session.on_event(event, self.now()))
        if was_open and session.ended:
            self._left(session)

    def _left(self, session: CallSession) -> None:
        """The caller hung up before the route was handed on: an abandoned call. That
        includes a hang-up during the route's greeting or announcement, when the IVR
        has decided but the call was never routed (no `CallRouted`, nobody else's)."""
        if session.abandoned:
            log.info("call.left_in_menu", channel=session.channel)
            self.hub.publish(events.CallAbandoned(session.channel, where="menu"))

    def on_timer(self, channel: str, timer: int) -> None:
        session = self.sessions.get(channel)
        if session is not None:
            self._act(session, session.on_timer(timer, self.now()))

    def request_failed(self, command: Command, exc: AriError) -> None:
        session = self.sessions.get(command.channel)
        if session is None or isinstance(command, StopPlayback):
            return  # (a prompt that ended as its key arrived: 404, the call goes on)
        if exc.call_is_gone:  # hung up before its events reached us: as a hang-up
            if not session.ended:
                session.hung_up(self.now())
                self._forget(session.channel)
                self._left(session)
        elif isinstance(command, Play):
            # The caller heard nothing; carry on as if it played so they are not stranded.
            self._act(session, session.playback_lost(self.now()))

    def lost(self, channel: str) -> None:
        """The call ended while we could not see it: its real outcome is unknown."""
        session = self.sessions.get(channel)
        if session is None:
            return
        log.info("call.gone_while_disconnected", channel=channel)
        session.ended = True
        self._forget(channel)
        self.hub.publish(events.CallInterrupted(channel))

    async def check_playbacks(self) -> None:
        """After a reconnect: a prompt that finished unseen moves its menu on."""
        for session in list(self.sessions.values()):
            playback = session.current_playback
            if playback is None:
                continue
            try:
                await self.ari.request("GET", f"/playbacks/{playback}", idempotent=True)
            except AriError as exc:
                if exc.status == 404:  # it finished while we were not listening
                    self._act(session, session.playback_lost(self.now()))

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
            self._forget(session.channel)
            self.hand_back(session.channel)

    async def close(self) -> None:
        for task in list(self._looking_up):
            task.cancel()
        await asyncio.gather(*self._looking_up, return_exceptions=True)

    # -- acting on what the session decided ---------------------------------------------------
    def _act(self, session: CallSession, outputs: list[Output]) -> None:
        requests: list[Command] = []
        for output in outputs:
            if isinstance(output, Routed):
                self._routed(output)
            elif isinstance(output, JoinQueue | Deliver):
                self.executor.submit(session.channel, requests)
                requests = []
                self._forget(session.channel)
                self._hand_on(output)
            else:
                requests.append(output)
        self.executor.submit(session.channel, requests)
        if session.ended:
            self._forget(session.channel)

    def _hand_on(self, output: JoinQueue | Deliver) -> None:
        if isinstance(output, JoinQueue) and self.queues is not None:
            self.queues.join(
                output.channel,
                output.decision,
                output.language,
                output.number,
                clock_offset=output.clock_offset,
            )
        elif isinstance(output, Deliver) and self.handoffs is not None:
            self.handoffs.deliver(output.channel, output.decision, output.number)

    def _routed(self, routed: Routed) -> None:
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
        self.hub.publish(events.CallRouted(routed.channel, routed.facts, decision, routed.language))

    def _forget(self, channel: str) -> None:
        if self.sessions.pop(channel, None) is not None:
            if self.channels.owner(channel) is self:
                self.channels.release(channel)
            self.executor.cancel_timers(channel)
