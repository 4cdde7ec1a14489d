"""The live call path, wired: ARI events in, requests out (docs/architecture.md).

    ARI event -> CallDispatcher -> the channel's owner (MenuCalls / AcdRuntime /
    Destinations) -> its pure core (CallSession + Ivr / AcdEngine) -> commands ->
    CommandExecutor -> ARI/AMI requests; facts -> EventHub -> records, board, metrics.

`CallRuntime` builds those parts for one ARI application and runs the events loop:
each (re)connection of the events socket resynchronises first (calls/resync.py).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import structlog

from frontdesk.asterisk.ami_codec import Event
from frontdesk.asterisk.ari import AriClient, AriError, Connected
from frontdesk.asterisk.ari_events import IGNORED_EVENTS
from frontdesk.calls.acd_runtime import AcdRuntime
from frontdesk.calls.admission import AdmissionGate
from frontdesk.calls.channels import Channels
from frontdesk.calls.commands import PBX_LANE, SetGlobal
from frontdesk.calls.destinations import Destinations
from frontdesk.calls.dispatcher import CallDispatcher
from frontdesk.calls.events import EmergencyCallPlaced
from frontdesk.calls.executor import CommandExecutor
from frontdesk.calls.hub import EventHub
from frontdesk.calls.menu import Lookup, MenuCalls
from frontdesk.calls.parts import CallParts
from frontdesk.calls.queue_state import STATE_VARIABLE
from frontdesk.calls.resync import Resync
from frontdesk.calls.return_calls import ReturnCalls
from frontdesk.calls.session import CallSession
from frontdesk.calls.staff_transfers import StaffTransfers
from frontdesk.calls.stasis import is_our_leg
from frontdesk.plan.model import Plan
from frontdesk.routing.directory import Directory

log = structlog.get_logger("frontdesk.calls")
Clock = Callable[[], datetime]
UserEvent = Callable[[str, dict[str, str]], Awaitable[object]]


def utc_now() -> datetime:
    return datetime.now(UTC)


class CallRuntime:
    """Everything between the ARI client and the pure cores, for one app.

    `acd=False`: no ACD; every route goes back to the dialplan in channel variables.
    """

    def __init__(
        self,
        plan: Plan,
        ari: AriClient,
        *,
        hub: EventHub | None = None,
        now: Clock = utc_now,
        acd: bool = True,
        logged_in: set[str] | None = None,
        directory: Directory | None = None,
        lookup: Lookup | None = None,
        user_event: UserEvent | None = None,
        trunk: str = "trunk",
        speed: float = 1.0,
        golive: bool = False,
        admission: AdmissionGate | None = None,
    ) -> None:
        self.plan = plan
        self.ari = ari
        self.hub = hub or EventHub()
        self.now = now
        # Who may be offered calls: the ACD keeps it; without one, every staff phone.
        self.logged_in = logged_in if logged_in is not None else set()
        if not acd and logged_in is None:
            self.logged_in.update(s.extension for s in plan.staff)
        self.channels = Channels()
        self.executor = CommandExecutor(ari, user_event=user_event)
        parts = (self.executor, self.channels, self.hub)
        self.acd = (
            AcdRuntime(plan, *parts, now=now, logged_in=self.logged_in, trunk=trunk, speed=speed)
            if acd
            else None
        )
        self.destinations = Destinations(plan, *parts, now=now) if acd else None
        self.staff_transfers = StaffTransfers(plan, self.acd) if self.acd is not None else None
        self.returns = (
            ReturnCalls(plan, *parts, feed=self.acd.feed, trunk=trunk)
            if self.acd is not None
            else None
        )
        self.menu = MenuCalls(
            plan,
            ari,
            *parts,
            now=now,
            logged_in=self.logged_in,
            directory=directory,
            lookup=lookup,
            queues=self.acd,
            handoffs=self.destinations,
            golive=golive,
        )
        wired = CallParts(
            ari,
            self.channels,
            self.executor,
            self.menu,
            self.acd,
            self.destinations,
            self.returns,
            self.hub,
            admission,
        )
        self.admission = admission
        if admission is not None:
            ari.on_latency = admission.admission.observe_ari_latency
        self.dispatcher = CallDispatcher(wired)
        self._resync = Resync(wired)

    @property
    def sessions(self) -> dict[str, CallSession]:
        """Callers in the menu right now."""
        return self.menu.sessions

    @property
    def resyncs(self) -> int:
        return self._resync.count

    # -- the event loop -------------------------------------------------------------------
    async def run(self) -> None:
        async for item in self.ari.events():
            if isinstance(item, Connected):
                await self._ignore_unread_events()
                if self.admission is not None:
                    self.admission.forget_dialplan()
                    self._send_dialplan_globals()
                try:
                    await self.resync()
                except Exception:  # a failed resync must not stop the event loop
                    log.exception("calls.resync_crashed")
                    self._resync.count += 1
            else:
                if self.admission is not None:
                    self._observe_delay(item)
                self.dispatcher.dispatch(item)

    def on_ami_event(self, event: Event) -> None:
        """AMI UserEvent `FrontdeskShed`: a call the dialplan sent to the fallback before
        Stasis() while we were overloaded (calls/admission.py); counted and logged.
        `FrontdeskEmergencyCall`: a staff phone dialled 911; the board alerts the site."""
        if event.name == "UserEvent" and event.get("UserEvent") == "FrontdeskShed":
            call = event.get("Linkedid") or event.get("Uniqueid") or "unknown"
            self.dispatcher.shed_in_dialplan(call)
        elif event.name == "UserEvent" and event.get("UserEvent") == "FrontdeskEmergencyCall":
            # A unique fallback id: the board's acknowledgements are kept per call.
            call = event.get("Linkedid") or event.get("Uniqueid") or f"911-{uuid.uuid4().hex}"
            digits = event.get("Extension") or ""  # the caller ID that dialled 911
            fact = EmergencyCallPlaced.reported(call, digits, self.plan.staff)
            log.warning("calls.emergency_call", extension=fact.extension, call=call)  # no names
            self.hub.publish(fact)

    async def _ignore_unread_events(self) -> None:
        """Ask Asterisk to keep the event types frontdesk never reads (most of a call's
        events) off the socket; without it (an older Asterisk) they come and are skipped."""
        try:
            await self.ari.ignore_events(IGNORED_EVENTS)
        except AriError as exc:
            log.warning("calls.event_filter_failed", error=str(exc))

    def _observe_delay(self, event: Any) -> None:
        """Asterisk's stamp to now: the events socket's backlog (admission control)."""
        stamp = event.get("timestamp") if isinstance(event, dict) else None
        if not isinstance(stamp, str):
            return
        try:
            sent = datetime.fromisoformat(stamp)
        except ValueError:
            return
        if sent.tzinfo is not None and self.admission is not None:
            delay = (datetime.now(UTC) - sent).total_seconds()
            self.admission.admission.observe_event_delay(delay)

    async def watch_health(self, interval: float = 0.5) -> None:
        """Until cancelled: the event loop's lag for admission control, and a periodic
        re-judging so that an overload ends even while no new call arrives."""
        if self.admission is None:
            return
        admission = self.admission.admission
        while True:
            start = time.monotonic()
            await asyncio.sleep(interval)
            admission.observe_loop_lag(max(0.0, time.monotonic() - start - interval))
            admission.tick(self.ari.in_flight)
            self._send_dialplan_globals()

    def _send_dialplan_globals(self) -> None:
        """The dialplan's shed flag (calls/admission.py), through the executor: fenced
        like every command, so a daemon that lost its turn never sets it."""
        if self.admission is None:
            return
        pairs = self.admission.dialplan_globals()
        if pairs:
            commands = [SetGlobal(PBX_LANE, name, value) for name, value in pairs]
            self.executor.submit(PBX_LANE, commands)

    async def resync(self) -> None:
        await self._resync.run()

    # -- shutting down -------------------------------------------------------------------------
    def stop_taking_calls(self) -> None:
        """SIGTERM: new calls and callers in the menu go to the dialplan's fallback."""
        self.menu.stop_taking_calls()

    async def hand_back_unseen(self) -> None:
        """After the events socket closed: new calls whose StasisStart we never read."""
        try:
            present = await self._resync.in_app()
        except AriError as exc:
            log.warning("calls.hand_back_failed", error=str(exc))
            return
        for channel_id in sorted(present - set(self.channels.channels())):
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
            if not is_our_leg(channel) and not state and channel.get("state") != "Up":
                self.menu.hand_back(channel_id)
        await self.settle()

    async def settle(self, timeout: float = 1.0) -> None:
        """Give the requests in flight (hand-backs, routed calls' last steps) `timeout` s."""
        await self.executor.settle(timeout)

    async def close(self) -> None:
        if self.menu.stopping:
            await self.settle()
        if self.acd is not None:
            self.acd.close()
        await self.menu.close()
        await self.executor.close()
