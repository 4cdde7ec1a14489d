"""The ACD over ARI: the pure `AcdEngine` decides, this module moves calls.

Queued callers wait in one holding bridge per queue (`frontdesk-q-<queue>`, music on
hold). An `Offer` originates the agent's phone (`PJSIP/<ext>`, the patient's caller ID,
Stasis args `agent,<call>`); when it answers, caller and agent meet in a mixing bridge
(`frontdesk-c-<call>`); either hangup ends both. What ARI reports back is translated
into engine events: an agent leg destroyed before it answered is a failed offer (cause
17 busy, 21 declined, 19 and others no answer), a queued caller's hangup an abandon.

Each queued call keeps everything needed to rebuild it in one channel variable,
`FRONTDESK_STATE` (compact JSON, written once when the call joins), so a restarted
daemon re-adopts waiting callers in their original order with their original wait.
A caller who chose a callback has hung up, so their callback is handed to `on_callback`
(the outbox: `pending_callbacks`) when accepted and at each change, and given back by
`restore_callbacks` at the next start; it rejoins among the re-adopted callers
(`take_restored`) at its original place.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from frontdesk.acd.callbacks import callback_allowed
from frontdesk.acd.engine import AcdEngine
from frontdesk.acd.model import (
    AgentLogin,
    AgentLogout,
    AgentPause,
    AgentState,
    AgentUnpause,
    Announce,
    CallbackAccepted,
    CallbackRestored,
    CallbackResult,
    CallbackTask,
    CallerJoined,
    CallerLeft,
    CallerView,
    CancelOffer,
    Command,
    Escalate,
    Event,
    FailReason,
    FollowAfterHours,
    Offer,
    OfferAnswered,
    OfferCallbackChoice,
    OfferFailed,
    PausedToggle,
    PhoneReachability,
    StartCallback,
    TalkEnded,
    Tick,
    caller_joined,
)
from frontdesk.asterisk.ari import AriClient, AriError, ignore_gone
from frontdesk.asterisk.ari_events import channel_of, playback_of
from frontdesk.calls.session import route_variables
from frontdesk.phone import mask_number
from frontdesk.plan.model import Plan
from frontdesk.routing.clock import PracticeClock
from frontdesk.routing.destination import Decision, QueueDestination, Request, decide
from frontdesk.store.records import PendingCallback

log = structlog.get_logger("frontdesk.acd")

STATE_VARIABLE = "FRONTDESK_STATE"
AGENT = "agent"
CALLBACK_AGENT = "callback-agent"
CALLBACK_PATIENT = "callback-patient"
FEATURE = "feature"
FALLBACK_CONTEXT = "frontdesk-fallback"  # dialplan/extensions.conf: ring the front desk
_ENDING = frozenset({"StasisEnd", "ChannelHangupRequest", "ChannelDestroyed"})
_CALLBACK_STATES = frozenset({"callback", "callback_retry", "calling_back"})
_FAIL_BY_CAUSE: dict[int, FailReason] = {
    17: "busy",
    21: "declined",
    1: "unreachable",
    3: "unreachable",
}
Alert = dict[str, Any]


@dataclass
class Queued:
    """A caller the ACD owns, and the legs that belong to them."""

    channel: str
    decision: Decision
    language: str
    number: str | None
    state: str = "waiting"  # waiting | talking | callback | transferred | gone
    agent_leg: str | None = None
    transfer_answered: bool = False  # the phone-transfer target picked up
    agent_ext: str | None = None
    patient_leg: str | None = None
    category: str = "unrouted"
    confirm_playback: str | None = None
    joined: CallerJoined | None = None
    held_agent: bool = False  # re-adopted mid-conversation: the agent is paused until it ends


class AlertHub:
    """In-process stream of what happens to queued calls and agents (alerts among them).

    The dashboard subscribes (a queue per subscriber); the call recorder listens.
    """

    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[Alert]] = set()
        self._listeners: list[Callable[[Alert], None]] = []
        self.recent: list[Alert] = []

    def add_listener(self, listener: Callable[[Alert], None]) -> None:
        self._listeners.append(listener)

    def publish(self, alert: Alert) -> None:
        self.recent = [*self.recent[-99:], alert]
        for queue in self._subscribers:
            if queue.qsize() < 1000:
                queue.put_nowait(alert)
        for listener in self._listeners:
            try:
                listener(alert)
            except Exception:  # a listener's bug must not stop a call
                log.exception("acd.listener_failed", kind=alert.get("kind"))

    def subscribe(self) -> asyncio.Queue[Alert]:
        queue: asyncio.Queue[Alert] = asyncio.Queue()
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Alert]) -> None:
        self._subscribers.discard(queue)


class QueueRuntime:
    def __init__(
        self,
        plan: Plan,
        ari: AriClient,
        *,
        now: Callable[[], datetime],
        logged_in: set[str],
        user_event: Callable[[str, dict[str, str]], Awaitable[object]] | None = None,
        trunk: str = "trunk",
        speed: float = 1.0,
    ) -> None:
        self.plan = plan
        self.ari = ari
        self.now = now
        self.clock = PracticeClock(plan)
        self.engine = AcdEngine(plan, self.clock)
        self.logged_in = logged_in  # shared with routing: a queue with nobody in is closed
        self.user_event = user_event
        self.trunk = trunk
        self.speed = speed  # practice seconds per real second (tests and demos run faster)
        self.alerts = AlertHub()
        self.calls: dict[str, Queued] = {}
        self._legs: dict[str, str] = {}  # agent/patient leg channel -> caller channel
        self._bridges: set[str] = set()
        self._lanes: dict[str, asyncio.Queue[Callable[[], Awaitable[None]] | None]] = {}
        self._tick: asyncio.TimerHandle | None = None
        self._leg_seq = 0
        self._tasks: set[asyncio.Task[None]] = set()
        # Durable callbacks: where each change goes, the last state given to it per
        # pending callback, and those restored but not yet fed (None: feed at once).
        self.on_callback: Callable[[PendingCallback], None] | None = None
        self._callbacks: dict[str, PendingCallback] = {}
        self._restored: list[PendingCallback] | None = []

    # -- entry points ---------------------------------------------------------------------
    def login_everyone(self, extensions: Collection[str]) -> None:
        for ext in extensions:
            self.feed(AgentLogin(ext))

    async def join(
        self, channel: str, decision: Decision, language: str, number: str | None
    ) -> None:
        """A routed caller enters their queue (the IVR session has finished)."""
        queued = Queued(channel, decision, language, number, category=decision.request.category)
        self.calls[channel] = queued
        joined = caller_joined(
            self.plan, channel, decision, language, callback_allowed(number), self.now()
        )
        queued.joined = joined
        try:
            await self._enter_holding(channel, joined.queue)
            await self.ari.set_variable(channel, STATE_VARIABLE, encode_state(joined))
        except AriError:
            self.calls.pop(channel, None)  # hung up before they reached the queue
            raise
        if queued.state != "gone":  # they may have hung up while we set them up
            self.alerts.publish({"kind": "joined", "call": channel, "queue": joined.queue})
            self.feed(joined)

    async def rejoin(self, channel: dict[str, Any], state: str) -> bool:
        """After a restart: a caller already in a holding bridge, with its saved state."""
        joined = decode_state(str(channel.get("id")), state)
        if joined is None:
            return False
        known = self.calls.get(joined.call_id)
        if known is not None and known.state == "callback":  # restored: they chose a callback
            self._hangup_leg(joined.call_id)
            return True
        talk = talking_with(state)
        if talk is not None:
            self._readopt_conversation(joined, *talk)
            return True
        request_decision = _decision_for(self.plan, self.clock, joined, self.now())
        self.calls[joined.call_id] = Queued(
            joined.call_id,
            request_decision,
            joined.language,
            joined.callback_number,
            category=joined.category,
        )
        self.calls[joined.call_id].joined = joined
        await self._enter_holding(joined.call_id, joined.queue)
        self.feed(joined)
        return True

    def _readopt_conversation(self, joined: CallerJoined, agent_leg: str, ext: str) -> None:
        """A caller who was talking when we restarted: keep the pair, hold the agent."""
        decision = _decision_for(self.plan, self.clock, joined, self.now())
        queued = Queued(
            joined.call_id,
            decision,
            joined.language,
            joined.callback_number,
            state="talking",
            agent_leg=agent_leg,
            agent_ext=ext,
            category=joined.category,
            joined=joined,
            held_agent=True,
        )
        self.calls[joined.call_id] = queued
        self._legs[agent_leg] = joined.call_id
        self.feed(AgentPause(ext))  # the engine must not offer them a second caller

    def owns(self, channel: str) -> bool:
        return channel in self.calls or channel in self._legs

    def reconnected(self) -> None:
        """The events socket is back; Asterisk may have restarted and lost our holding
        bridges, so each is created again when next used (409 if it survived)."""
        self._bridges.clear()

    def feed(self, event: Event) -> None:
        """Hand one event to the engine and run what it decides."""
        commands = self.engine.handle(event, self.now())
        if self.on_callback is not None:
            self._save_callbacks(event, commands)
        for command in commands:
            self._run(command)
        self._arm_tick()

    # -- durable callbacks ----------------------------------------------------------------
    def restore_callbacks(self, callbacks: Iterable[PendingCallback]) -> None:
        """Callbacks pending when frontdesk last stopped: kept for `take_restored` until
        the first resync takes them; fed at once after it (a late database)."""
        if self._restored is not None:
            self._restored.extend(callbacks)
            return
        for callback in sorted(callbacks, key=lambda c: queue_order(c.priority, c.enqueued_at)):
            self.restore_callback(callback)

    def take_restored(self) -> list[PendingCallback]:
        """The restored callbacks to feed among the re-adopted callers (then none again)."""
        restored, self._restored = self._restored or [], None
        return restored

    def restore_callback(self, callback: PendingCallback) -> None:
        """One callback back at its original place (the caller hung up long ago)."""
        if callback.call_id in self.calls or callback.call_id in self._callbacks:
            return
        if callback.queue not in self.plan.queues:  # the plan changed meanwhile: staff call back
            self._run(CallbackTask(callback.call_id, callback.number, callback.category))
            ended = dataclasses.replace(callback, status="task", revision=callback.revision + 1)
            self._emit_callback(dataclasses.replace(ended, at=self.now()))
            return
        self._callbacks[callback.call_id] = callback
        joined = CallerJoined(
            call_id=callback.call_id,
            queue=callback.queue,
            enqueued_at=callback.enqueued_at,
            priority="front" if callback.priority == "front" else "normal",
            skill=callback.skill,
            language_skill=callback.language_skill,
            category=callback.category,
            callback_number=callback.number,
            language=callback.language,
        )
        decision = _decision_for(self.plan, self.clock, joined, self.now())
        self.calls[callback.call_id] = Queued(
            callback.call_id,
            decision,
            callback.language,
            callback.number,
            state="callback",
            category=callback.category,
            joined=joined,
        )
        log.info(
            "acd.callback_restored",
            call=callback.call_id,
            queue=callback.queue,
            number=mask_number(callback.number),
            attempts=callback.attempts,
        )
        self.alerts.publish(
            {"kind": "callback_restored", "call": callback.call_id, "queue": callback.queue}
        )
        self.feed(_restored_event(callback, joined))

    def _save_callbacks(self, event: Event, commands: list[Command]) -> None:
        """Write each callback this event or its commands touched, if its state changed."""
        touched = {getattr(item, "call_id", None) for item in (event, *commands)}
        for call_id in touched:
            if isinstance(call_id, str):
                self._save_callback(call_id, event, commands)

    def _save_callback(self, call_id: str, event: Event, commands: list[Command]) -> None:
        view = self.engine.caller(call_id)
        saved = self._callbacks.get(call_id)
        if view is not None and view.status in _CALLBACK_STATES:
            queued = self.calls.get(call_id)
            if queued is not None and queued.joined is not None:
                record = self._callback_record(queued.joined, view, saved)
                if saved is None or _callback_changed(saved, record):
                    self._write_callback(record)
        elif saved is not None:  # no longer pending: done, a task, or cancelled
            status = _callback_end(call_id, event, commands)
            revision = saved.revision + 1
            del self._callbacks[call_id]
            self._emit_callback(
                dataclasses.replace(saved, status=status, revision=revision, at=self.now())
            )

    def _callback_record(
        self, joined: CallerJoined, view: CallerView, saved: PendingCallback | None
    ) -> PendingCallback:
        number = joined.callback_number
        assert number is not None  # the engine never takes a callback without one
        return PendingCallback(
            call_id=joined.call_id,
            revision=saved.revision + 1 if saved is not None else 1,
            status="pending",
            queue=joined.queue,
            priority=joined.priority,
            skill=joined.skill,
            language_skill=joined.language_skill,
            category=joined.category,
            language=joined.language,
            number=number,
            enqueued_at=joined.enqueued_at,
            attempts=view.callback_attempts,
            retry_at=view.retry_at,
            escalated=view.escalated,
            at=self.now(),
        )

    def _write_callback(self, record: PendingCallback) -> None:
        self._callbacks[record.call_id] = record
        self._emit_callback(record)

    def _emit_callback(self, record: PendingCallback) -> None:
        if self.on_callback is None:
            return
        try:
            self.on_callback(record)
        except Exception:  # a record keeping bug must not stop a call
            log.exception("acd.callback_not_saved", call=record.call_id)

    # -- ARI events -----------------------------------------------------------------------
    def on_stasis_start(self, event: dict[str, Any]) -> bool:
        """Our own legs and staff feature codes; False for a new inbound call."""
        args = [str(a) for a in event.get("args") or []]
        channel = event.get("channel") or {}
        channel_id = str(channel.get("id"))
        if len(args) >= 2 and args[0] in (AGENT, CALLBACK_AGENT, CALLBACK_PATIENT):
            self._leg_answered(args[0], channel_id, args[1])
            return True
        if args and args[0] == FEATURE:
            number = str((channel.get("caller") or {}).get("number", ""))
            self._submit(channel_id, lambda: self._feature(channel_id, number, args[1:]))
            return True
        return bool(args)

    def on_transfer_leg(self, event: dict[str, Any]) -> bool:
        """A phone's transfer button (SIP REFER): Asterisk dials the target through a Local
        channel and swaps it into our conversation bridge in place of the agent; that
        channel enters the app with `replace_channel` (recorded on Asterisk 22.10.1:
        StasisStart, then ChannelLeftBridge/EnteredBridge, then BridgeBlindTransfer). It
        is the transfer's leg, never a new call. False: not one of our agents' legs."""
        replaced = str((event.get("replace_channel") or {}).get("id", ""))
        call_id = self._legs.get(replaced)
        queued = self.calls.get(call_id or "")
        if call_id is None or queued is None or replaced != queued.agent_leg:
            return False
        leg = str((event.get("channel") or {}).get("id"))
        target = _transfer_target(event)
        self._legs.pop(replaced)
        self._legs[leg] = call_id
        queued.agent_leg, queued.state = leg, "transferred"
        # Blind: `Local/<ext>@staff-…;1`, Up when the target answers. Attended (recorded
        # too): `Local/_attended@transfer-…;1`, Down here and Up a moment later (the
        # colleague is on the line; BridgeAttendedTransfer names them).
        queued.transfer_answered = (event.get("channel") or {}).get("state") == "Up"
        log.info("acd.phone_transfer", call=call_id, agent=queued.agent_ext, target=target)
        self.alerts.publish(
            {
                "kind": "transferred",
                "call": call_id,
                "agent": queued.agent_ext,
                "target": target,
                "how": "attended" if target is None else "blind",
            }
        )
        # The agent's part is over: wrap-up, then new calls. Their swapped-out channel
        # stays in the app until someone hangs it up.
        self.feed(TalkEnded(call_id))
        self._hangup_leg(replaced)
        return True

    def on_attended_transfer(self, event: dict[str, Any]) -> None:
        """BridgeAttendedTransfer: who the agent handed the patient to (the colleague's
        leg is `transfer_target`), recorded with the call once the swap is done."""
        link = str((event.get("destination_link_first_leg") or {}).get("id", ""))
        call_id = self._legs.get(link)
        if call_id is None or event.get("result") != "Success":
            return
        name = str((event.get("transfer_target") or {}).get("name", ""))
        target = _extension_of(name) if name else None
        self.alerts.publish({"kind": "transfer_target", "call": call_id, "target": target})

    def _transfer_leg_event(self, queued: Queued, event: dict[str, Any]) -> None:
        if event.get("type") == "ChannelStateChange":
            queued.transfer_answered = (event.get("channel") or {}).get("state") == "Up"

    def _transfer_ended(self, queued: Queued) -> None:
        """The transfer leg is gone. Answered: the conversation is over, hang the patient
        up. Never answered (busy, no answer): the patient must not be left in silence
        nor dropped: the dialplan's fallback rings the front desk."""
        channel = queued.patient_leg or queued.channel  # a callback: the patient's leg
        if queued.transfer_answered:
            self._close_transfer(queued, hang_up=channel)
            return
        log.warning("acd.phone_transfer_failed", call=queued.channel)
        self.alerts.publish({"kind": "transfer_failed", "call": queued.channel})
        self._submit(
            channel,
            lambda: ignore_gone(self.ari.continue_in_dialplan(channel, FALLBACK_CONTEXT, "s", 1)),
        )
        self._close_transfer(queued, hang_up=None, talked=False)

    def _close_transfer(self, queued: Queued, *, hang_up: str | None, talked: bool = True) -> None:
        """A transferred call is over for the ACD: the other side hung up (`hang_up`), the
        conversation bridge goes."""
        queued.state = "gone"
        self.calls.pop(queued.channel, None)
        if talked:
            self.alerts.publish({"kind": "talk_ended", "call": queued.channel})
        self._hangup_leg(hang_up)
        bridge = f"frontdesk-c-{queued.channel}"
        self._submit(queued.channel, lambda: ignore_gone(self.ari.delete_bridge(bridge)))

    def on_event(self, event: dict[str, Any]) -> None:
        channel = channel_of(event)
        if channel is None:
            return
        kind = event.get("type")
        if channel in self._legs:
            queued = self.calls.get(self._legs[channel])
            if queued is not None and queued.state == "transferred":
                if channel != queued.agent_leg:  # a callback's patient leg: the caller
                    if kind in _ENDING:
                        self._legs.pop(channel, None)
                        self._caller_ended(queued)
                elif kind in _ENDING:
                    self._legs.pop(channel, None)
                    self._transfer_ended(queued)
                else:
                    self._transfer_leg_event(queued, event)
                return
            if kind in _ENDING:
                self._leg_ended(channel, event)
            elif kind == "PlaybackFinished":
                self._whisper_done(channel)
            return
        queued = self.calls.get(channel)
        if queued is None:
            return
        if kind in _ENDING:
            self._caller_ended(queued)
        elif (
            kind == "ChannelDtmfReceived"
            and event.get("digit") == "1"
            and queued.state == "offered"
        ):
            self._callback_accepted(queued)
        elif kind == "PlaybackFinished" and playback_of(event) == queued.confirm_playback:
            self._submit(channel, lambda: ignore_gone(self.ari.hangup(channel)))

    # -- translating ARI facts into engine events ---------------------------------------------
    def _leg_answered(self, kind: str, leg: str, call_id: str) -> None:
        queued = self.calls.get(call_id)
        if queued is None:
            self._submit(leg, lambda: ignore_gone(self.ari.hangup(leg)))
            return
        self._legs[leg] = call_id
        if kind == CALLBACK_PATIENT:
            queued.patient_leg = leg
            queued.state = "talking"
            self.feed(CallbackResult(call_id, answered=True))
            self._submit(call_id, lambda: self._connect(call_id, [leg, queued.agent_leg or ""]))
            return
        queued.agent_leg = leg
        log.info("acd.answered", call=call_id, agent=queued.agent_ext)
        self.alerts.publish({"kind": "answered", "call": call_id, "agent": queued.agent_ext})
        self.feed(OfferAnswered(call_id, queued.agent_ext or ""))
        if kind == CALLBACK_AGENT:
            whisper = [f"sound:frontdesk/callback-{queued.category}", "sound:beep"]
            self._submit(
                call_id, lambda: ignore_gone(self.ari.play(leg, whisper, f"{leg}-whisper"))
            )
            return
        queued.state = "talking"
        self._submit(call_id, lambda: self._connect(call_id, [call_id, leg]))

    def _leg_ended(self, leg: str, event: dict[str, Any]) -> None:
        call_id = self._legs.pop(leg)
        queued = self.calls.get(call_id)
        if queued is None:
            return
        if queued.state == "talking":
            self._end_talk(queued, ended=leg)
        elif leg == queued.patient_leg:
            queued.patient_leg = None
            self.feed(CallbackResult(call_id, answered=False))
            self._hangup_leg(queued.agent_leg)
        elif leg == queued.agent_leg or queued.agent_leg is None:
            cause = int(event.get("cause") or (event.get("channel") or {}).get("cause", 19) or 19)
            queued.agent_leg = None
            ext = queued.agent_ext or ""
            queued.agent_ext = None
            self.feed(OfferFailed(call_id, ext, _FAIL_BY_CAUSE.get(cause, "no_answer")))

    def _caller_ended(self, queued: Queued) -> None:
        if queued.state == "callback":
            return  # they accepted a callback: hanging up keeps their place
        if queued.state == "transferred":
            self._close_transfer(queued, hang_up=queued.agent_leg)
            return
        if queued.state == "talking":
            self._end_talk(queued, ended=queued.channel)
            return
        queued.state = "gone"
        self.calls.pop(queued.channel, None)
        log.info("acd.abandoned", call=queued.channel)
        self.alerts.publish({"kind": "abandoned", "call": queued.channel})
        self.feed(CallerLeft(queued.channel))

    def _end_talk(self, queued: Queued, *, ended: str) -> None:
        """Either side hung up: hang up the others (not `ended`, which is going already: a
        request for it only earns a 404, one REST request per call saved)."""
        log.info("acd.talk_ended", call=queued.channel, agent=queued.agent_ext)
        self.alerts.publish({"kind": "talk_ended", "call": queued.channel})
        queued.state = "gone"
        self.calls.pop(queued.channel, None)
        if queued.held_agent:
            self.feed(AgentUnpause(queued.agent_ext or ""))
        else:
            self.feed(TalkEnded(queued.channel))
        for leg in (queued.channel, queued.agent_leg, queued.patient_leg):
            if leg != ended:
                self._hangup_leg(leg)
        bridge = f"frontdesk-c-{queued.channel}"
        self._submit(queued.channel, lambda: ignore_gone(self.ari.delete_bridge(bridge)))

    def _callback_accepted(self, queued: Queued) -> None:
        queued.state = "callback"
        self.alerts.publish({"kind": "callback_accepted", "call": queued.channel})
        playback = f"{queued.channel}-cbconfirm"
        queued.confirm_playback = playback
        self.feed(CallbackAccepted(queued.channel))
        media = ["sound:frontdesk/callback-confirmed"]
        self._submit(
            queued.channel, lambda: ignore_gone(self.ari.play(queued.channel, media, playback))
        )

    def _whisper_done(self, leg: str) -> None:
        call_id = self._legs.get(leg)
        queued = self.calls.get(call_id or "")
        if queued is None or queued.number is None or queued.patient_leg is not None:
            return
        patient = f"{call_id}-patient-{self._next()}"
        queued.patient_leg = patient
        self._legs[patient] = queued.channel
        endpoint = f"PJSIP/{queued.number}@{self.trunk}"
        args = f"{CALLBACK_PATIENT},{queued.channel}"
        main = next(iter(self.plan.numbers), None)
        self._submit(queued.channel, lambda: self._originate(endpoint, patient, args, main, 30))

    # -- running engine commands --------------------------------------------------------------
    def _run(self, command: Command) -> None:
        if isinstance(command, Offer):
            self._offer(
                command.call_id, command.ext, int(command.ring_timeout.total_seconds()) + 5, AGENT
            )
        elif isinstance(command, StartCallback):
            self._offer(command.call_id, command.ext, 30, CALLBACK_AGENT)
        elif isinstance(command, CancelOffer):
            queued = self.calls.get(command.call_id)
            if queued is not None and queued.agent_ext == command.ext and queued.state != "talking":
                leg, queued.agent_leg, queued.agent_ext = queued.agent_leg, None, None
                if leg is not None:
                    self._legs.pop(leg, None)  # the engine already knows: ignore its end
                self._hangup_leg(leg)
        elif isinstance(command, OfferCallbackChoice):
            self._offer_callback(command.call_id)
        elif isinstance(command, Announce):
            self._announce(command)
        elif isinstance(command, Escalate):
            self._escalate(command)
        elif isinstance(command, FollowAfterHours):
            self._follow_after_hours(command.call_id)
        elif isinstance(command, AgentState):
            self._agent_state(command)
        elif isinstance(command, CallbackTask):
            self.calls.pop(command.call_id, None)  # a task for staff now, not a call
            log.warning(
                "acd.callback_task", call=command.call_id, number=mask_number(command.number)
            )
            self.alerts.publish(
                {"kind": "callback_task", "call": command.call_id, "category": command.category}
            )

    def _offer(self, call_id: str, ext: str, timeout: int, kind: str) -> None:
        queued = self.calls.get(call_id)
        if queued is None:
            return
        leg = f"{call_id}-{kind}-{self._next()}"
        queued.agent_leg, queued.agent_ext = leg, ext
        log.info("acd.ringing", call=call_id, agent=ext, kind=kind)
        self.alerts.publish(
            {
                "kind": "ringing",
                "call": call_id,
                "agent": ext,
                "number": queued.number,
                "language": queued.language,
                "category": queued.category,
            }
        )
        self._legs[leg] = call_id
        caller_id = queued.number or "Front desk"
        self._submit(
            call_id,
            lambda: self._originate(f"PJSIP/{ext}", leg, f"{kind},{call_id}", caller_id, timeout),
        )

    async def _originate(
        self, endpoint: str, leg: str, args: str, caller_id: str | None, timeout: int
    ) -> None:
        try:
            await self.ari.originate(
                endpoint, leg, app_args=args, caller_id=caller_id, timeout=timeout
            )
        except AriError as exc:  # e.g. 500 Allocation failed: the phone is not registered
            log.warning("acd.originate_failed", leg=leg, status=exc.status)
            if leg in self._legs:
                self._leg_ended(leg, {"cause": 1})

    def _offer_callback(self, call_id: str) -> None:
        queued = self.calls.get(call_id)
        if queued is None or queued.state not in ("waiting", "offered"):
            return
        queued.state = "offered"  # from now on, 1 accepts; renewed after each `max_wait`
        self.alerts.publish({"kind": "callback_offered", "call": call_id})
        media = ["sound:frontdesk/callback-offer"]
        self._submit(
            call_id,
            lambda: ignore_gone(self.ari.play(call_id, media, f"{call_id}-cboffer-{self._next()}")),
        )

    def _announce(self, command: Announce) -> None:
        media = (
            ["sound:queue-youarenext"]
            if command.position == 1
            else [
                "sound:queue-thereare",
                f"number:{command.position - 1}",
                "sound:queue-callswaiting",
            ]
        )
        playback = f"{command.call_id}-announce-{self._next()}"
        self._submit(
            command.call_id, lambda: ignore_gone(self.ari.play(command.call_id, media, playback))
        )

    def _escalate(self, command: Escalate) -> None:
        waited = int(command.waited.total_seconds())
        alert = {
            "kind": "escalation",
            "call": command.call_id,
            "queue": command.queue,
            "waited_s": waited,
            "recipients": list(command.recipients),
        }
        log.warning(
            "acd.escalation",
            call=command.call_id,
            queue=command.queue,
            waited_s=waited,
            recipients=list(command.recipients),
        )
        self.alerts.publish(alert)
        if self.user_event is not None:
            fields = {
                "Queue": command.queue,
                "CallId": command.call_id,
                "Waited": str(waited),
                "Recipients": ",".join(command.recipients),
            }
            notify = self.user_event
            self._submit(
                command.call_id, lambda: ignore_gone(notify("FrontdeskEscalation", fields))
            )

    def _follow_after_hours(self, call_id: str) -> None:
        queued = self.calls.pop(call_id, None)
        if queued is None:
            return
        queued.state = "gone"
        decision = decide(
            self.plan, self.clock, queued.decision.request, queued.language, (), self.now()
        )
        variables = route_variables(decision, queued.language, self.plan)

        async def leave() -> None:
            queue = queued.decision.destination.as_json().get("queue", "")
            await ignore_gone(self.ari.remove_channels(f"frontdesk-q-{queue}", [call_id]))
            for name, value in variables:
                await self.ari.set_variable(call_id, name, value)
            await self.ari.continue_in_dialplan(call_id)

        log.info("acd.after_hours", call=call_id, destination=decision.destination.as_json())
        self.alerts.publish({"kind": "after_hours", "call": call_id})
        self._submit(call_id, lambda: ignore_gone(leave()))

    def _agent_state(self, command: AgentState) -> None:
        if command.state == "logged_out":
            self.logged_in.discard(command.ext)
        else:
            self.logged_in.add(command.ext)
        self.alerts.publish({"kind": "agent", "ext": command.ext, "state": command.state})

    async def _feature(self, channel: str, number: str, args: list[str]) -> None:
        """Staff feature codes: *45 login, *46 logout, *47 pause toggle (Stasis args)."""
        ext = number.strip()
        action = args[0] if args else ""
        actions: dict[str, Event] = {
            "login": AgentLogin(ext),
            "logout": AgentLogout(ext),
            "pause": PausedToggle(ext),
        }
        event = actions.get(action)
        known = any(s.extension == ext for s in self.plan.staff)
        sound = "sound:beep" if event is not None and known else "sound:invalid"
        if event is not None and known:
            self.feed(event)
            log.info("acd.feature_code", ext=ext, action=action)
        await ignore_gone(self.ari.answer(channel))
        await ignore_gone(self.ari.play(channel, [sound], f"{channel}-feature"))
        await asyncio.sleep(0.5)
        await ignore_gone(self.ari.hangup(channel))

    def phone_reachable(self, ext: str, reachable: bool) -> None:
        self.feed(PhoneReachability(ext, reachable))

    # -- ARI plumbing ---------------------------------------------------------------------------
    async def _enter_holding(self, channel: str, queue: str) -> None:
        bridge = f"frontdesk-q-{queue}"
        if bridge not in self._bridges:
            try:
                await self.ari.create_bridge(bridge, "holding")
            except AriError as exc:
                if exc.status != 409:  # 409: it survived our restart, as bridges do
                    raise
            await self.ari.start_moh(bridge)
            self._bridges.add(bridge)
        try:
            await self.ari.add_channels(bridge, [channel])
        except AriError as exc:
            if exc.status not in (409, 422):  # a re-adopted caller is in it already
                raise

    async def _connect(self, call_id: str, channels: list[str]) -> None:
        queued = self.calls.get(call_id)
        bridge = f"frontdesk-c-{call_id}"
        try:
            if queued is not None:
                queue = queued.decision.destination.as_json().get("queue", "")
                await ignore_gone(self.ari.remove_channels(f"frontdesk-q-{queue}", [call_id]))
            await self.ari.create_bridge(bridge, "mixing")
            await self.ari.add_channels(bridge, [c for c in channels if c])
            if queued is not None and queued.joined is not None and queued.agent_leg:
                state = encode_state(
                    queued.joined, talking=(queued.agent_leg, queued.agent_ext or "")
                )
                await self.ari.set_variable(call_id, STATE_VARIABLE, state)
        except AriError as exc:
            log.warning("acd.connect_failed", call=call_id, status=exc.status)

    def _hangup_leg(self, leg: str | None) -> None:
        if leg:
            self._submit(leg, lambda: ignore_gone(self.ari.hangup(leg)))

    def _next(self) -> int:
        self._leg_seq += 1
        return self._leg_seq

    def _submit(self, lane: str, job: Callable[[], Awaitable[None]]) -> None:
        """Run `job` after the jobs already queued for the same call (one lane per call)."""
        queue = self._lanes.get(lane)
        if queue is None:
            queue = self._lanes[lane] = asyncio.Queue()
            task = asyncio.get_running_loop().create_task(self._drain(lane, queue))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        queue.put_nowait(job)

    async def _drain(
        self, lane: str, queue: asyncio.Queue[Callable[[], Awaitable[None]] | None]
    ) -> None:
        while not queue.empty():
            job = queue.get_nowait()
            if job is None:
                break
            try:
                await job()
            except Exception:  # one call's failure never stops another's
                log.exception("acd.job_failed", lane=lane)
        self._lanes.pop(lane, None)

    def _arm_tick(self) -> None:
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None
        deadline = self.engine.next_deadline()
        if deadline is None:
            return
        delay = max((deadline - self.now()).total_seconds(), 0.0) / self.speed
        self._tick = asyncio.get_running_loop().call_later(delay, lambda: self.feed(Tick()))

    async def close(self) -> None:
        if self._tick is not None:
            self._tick.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _restored_event(callback: PendingCallback, joined: CallerJoined) -> CallbackRestored:
    return CallbackRestored(
        call_id=callback.call_id,
        queue=joined.queue,
        enqueued_at=joined.enqueued_at,
        callback_number=callback.number,
        priority=joined.priority,
        skill=joined.skill,
        language_skill=joined.language_skill,
        category=joined.category,
        language=joined.language,
        attempts=callback.attempts,
        retry_at=callback.retry_at,
        escalated=callback.escalated,
    )


def _transfer_target(event: dict[str, Any]) -> str | None:
    """`2005` of `Local/2005@staff-00000001;1`: the number the agent transferred to; None
    for an attended transfer's `Local/_attended@transfer-…` (on_attended_transfer)."""
    name = str((event.get("channel") or {}).get("name", ""))
    if name.startswith("Local/_attended@"):
        return None
    return name.removeprefix("Local/").split("@", 1)[0] if name.startswith("Local/") else name


def _extension_of(name: str) -> str:
    """`2005` of the channel name `PJSIP/2005-0000001a`."""
    return name.removeprefix("PJSIP/").rsplit("-", 1)[0]


def queue_order(priority: str, enqueued_at: datetime) -> tuple[int, datetime]:
    """The engine's order of callers in a queue: front first, then the longest waiting."""
    return (0 if priority == "front" else 1, enqueued_at)


def _callback_changed(saved: PendingCallback, record: PendingCallback) -> bool:
    """Worth a write: what a restart must know (attempts, the next try, the escalation)."""
    before = (saved.attempts, saved.retry_at, saved.escalated)
    return before != (record.attempts, record.retry_at, record.escalated)


def _callback_end(call_id: str, event: Event, commands: list[Command]) -> str:
    """How a callback that left the engine ended."""
    if any(isinstance(c, CallbackTask) and c.call_id == call_id for c in commands):
        return "task"
    if isinstance(event, CallbackResult) and event.answered:
        return "done"
    return "cancelled"


# -- FRONTDESK_STATE ------------------------------------------------------------------------------
def encode_state(joined: CallerJoined, talking: tuple[str, str] | None = None) -> str:
    """Everything needed to rebuild a waiting caller (or a conversation), as compact JSON."""
    extra = {"a": talking[0], "x": talking[1]} if talking else {}
    return json.dumps(
        extra
        | {
            "v": 1,
            "q": joined.queue,
            "p": joined.priority,
            "s": joined.skill,
            "l": joined.language_skill,
            "c": joined.category,
            "t": joined.enqueued_at.isoformat(),
            "n": joined.callback_number,
            "lang": joined.language,
        },
        separators=(",", ":"),
    )


def talking_with(text: str) -> tuple[str, str] | None:
    """(agent leg, extension) when the saved state is a conversation."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if isinstance(data, dict) and isinstance(data.get("a"), str) and isinstance(data.get("x"), str):
        return str(data["a"]), str(data["x"])
    return None


def decode_state(call_id: str, text: str) -> CallerJoined | None:
    try:
        data = json.loads(text)
        return CallerJoined(
            call_id=call_id,
            queue=str(data["q"]),
            enqueued_at=datetime.fromisoformat(data["t"]),
            priority="front" if data.get("p") == "front" else "normal",
            skill=data.get("s"),
            language_skill=data.get("l"),
            category=str(data.get("c") or "unrouted"),
            callback_number=data.get("n"),
            language=str(data.get("lang") or "en"),
        )
    except (ValueError, KeyError, TypeError):
        log.warning("acd.bad_state", call=call_id)
        return None


def _decision_for(
    plan: Plan, clock: PracticeClock, joined: CallerJoined, now: datetime
) -> Decision:
    """The routing decision a re-adopted caller had (for after-hours later on)."""
    request = Request(joined.category, joined.queue, joined.skill, joined.priority == "front")
    skills = tuple(sorted(s for s in (joined.skill, joined.language_skill) if s))
    destination = QueueDestination(joined.queue, skills, joined.priority)
    return Decision(request, destination, joined.queue, False, clock.holiday(now))
