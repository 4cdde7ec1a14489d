"""The ACD over ARI: the pure `AcdEngine` decides, this module translates both ways.

ARI facts become engine events (an agent leg destroyed before it answered is a failed
offer: cause 17 busy, 21 declined, 1 and 3 unreachable, others no answer; a queued
caller's hangup an abandon), and engine commands become per-call commands for the
executor. Where a caller stands is the engine's (`AcdEngine.state`, acd/lifecycle.py);
`Queued` only keeps the channels that belong to the call.

Queued callers wait in one holding bridge per queue (`frontdesk-q-<queue>`, music on
hold). An `Offer` originates the agent's phone (`PJSIP/<ext>`, the patient's caller ID,
Stasis args `agent,<call>`); when it answers, caller and agent meet in a mixing bridge
(`frontdesk-c-<call>`); either hangup ends both. A callback dials the agent first
(`callback-agent`), whispers the call's category, then dials the patient through the
trunk (`callback-patient`). A phone's transfer button swaps a new leg into the bridge
in place of the agent (`on_transfer_leg`): the call goes on as calls/transfers.py's, as
it does when staff hand it over through frontdesk (`hand_over`, calls/staff_transfers.py);
a transfer nobody answers, and a move to another queue, come back here (`requeue`).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from frontdesk.acd.callbacks import callback_allowed
from frontdesk.acd.engine import AcdEngine
from frontdesk.acd.lifecycle import CALLBACKS, CallerState
from frontdesk.acd.model import (
    AgentState,
    Announce,
    CallbackAccepted,
    CallbackResult,
    CallbackTask,
    CallerJoined,
    CallerLeft,
    CallerRequeued,
    CallerView,
    CallTransferred,
    CancelOffer,
    ConversationRestored,
    Escalate,
    Event,
    FailReason,
    FollowAfterHours,
    Offer,
    OfferAnswered,
    OfferCallbackChoice,
    OfferFailed,
    StartCallback,
    TalkEnded,
    Tick,
    caller_joined,
)
from frontdesk.acd.model import Command as EngineCommand
from frontdesk.asterisk.ari import AriError
from frontdesk.asterisk.ari_events import CHANNEL_ENDING
from frontdesk.calls import events
from frontdesk.calls.agent_desk import AgentDesk
from frontdesk.calls.callback_store import DurableCallbacks, joined_of, restored_event
from frontdesk.calls.channels import Channels
from frontdesk.calls.commands import (
    Command,
    ContinueInDialplan,
    DeleteBridge,
    EnterHolding,
    Hangup,
    LeaveBridge,
    MakeBridge,
    Originate,
    Play,
    SendUserEvent,
    SetVariables,
)
from frontdesk.calls.executor import CommandExecutor
from frontdesk.calls.hub import EventHub
from frontdesk.calls.queue_state import (
    STATE_VARIABLE,
    decode_state,
    encode_state,
    request_for,
    talking_with,
)
from frontdesk.calls.session import route_variables
from frontdesk.calls.stasis import Entered, Leg, leg_args
from frontdesk.calls.transfers import Transfer, Transfers, conversation_bridge, transfer_target
from frontdesk.phone import mask_number
from frontdesk.plan.model import Plan
from frontdesk.routing.clock import PracticeClock
from frontdesk.routing.destination import Decision, Request, decide
from frontdesk.store.records import PendingCallback

log = structlog.get_logger("frontdesk.acd")

FALLBACK_CONTEXT = "frontdesk-fallback"  # dialplan/extensions.conf: ring the front desk
_FAIL_BY_CAUSE: dict[int, FailReason] = {
    17: "busy",
    21: "declined",
    1: "unreachable",
    3: "unreachable",
}


@dataclass
class Queued:
    """A call the ACD owns and the channels that belong to it."""

    joined: CallerJoined
    request: Request  # what the caller asked for: their route if the queue closes
    number: str | None  # the caller's number (the agent's phone shows it)
    agent_leg: str | None = None  # being rung, or talking
    agent_ext: str | None = None
    patient_leg: str | None = None  # a callback's call to the patient
    confirm_playback: str | None = None

    @property
    def channel(self) -> str:
        return self.joined.call_id


def holding_bridge(queue: str) -> str:
    return f"frontdesk-q-{queue}"


class AcdRuntime:
    def __init__(
        self,
        plan: Plan,
        executor: CommandExecutor,
        channels: Channels,
        hub: EventHub,
        *,
        now: Callable[[], datetime],
        logged_in: set[str],
        trunk: str = "trunk",
        speed: float = 1.0,
    ) -> None:
        self.plan = plan
        self.executor = executor
        self.channels = channels
        self.hub = hub
        self.now = now
        self.clock = PracticeClock(plan)
        self.engine = AcdEngine(plan, self.clock)
        # Who staffs their queues (docs/routing.md §3.2: logged in, paused or not, with a
        # reachable phone), kept from the engine's AgentState; the router reads it.
        self.logged_in = logged_in
        self.trunk = trunk
        self.speed = speed  # practice seconds per real second (tests and demos run faster)
        self.calls: dict[str, Queued] = {}
        self.callbacks = DurableCallbacks(now)
        self.agents = AgentDesk(plan, self, executor, hub, now=now, logged_in=logged_in)
        self.transfers = Transfers(
            executor,
            channels,
            hub,
            closed=self._transfer_closed,
            unanswered=self._transfer_unanswered,
        )
        self._handed: dict[str, Queued] = {}  # calls in a transfer: theirs until it ends
        # Keys an agent presses during a conversation: (call, extension, digit).
        self.agent_keys: Callable[[str, str, str], None] | None = None
        self._legs: dict[str, str] = {}  # agent/patient leg -> its call
        self._tick: asyncio.TimerHandle | None = None
        self._leg_seq = 0

    # -- asking ---------------------------------------------------------------------------
    def state(self, call: str) -> CallerState:
        return self.engine.state(call)

    def caller(self, call: str) -> CallerView | None:
        return self.engine.caller(call)

    # -- entry points -------------------------------------------------------------------------
    def join(
        self,
        channel: str,
        decision: Decision,
        language: str,
        number: str | None,
        *,
        clock_offset: timedelta = timedelta(0),
    ) -> None:
        """A routed caller enters their queue (the menu has finished with them);
        `clock_offset`: a go-live call's routing shift (golive/override.py), which its
        open/closed checks keep until it is answered."""
        callback = callback_allowed(number)
        joined = caller_joined(
            self.plan, channel, decision, language, callback, self.now(), clock_offset
        )
        self._adopt(Queued(joined, decision.request, number))
        state = ((STATE_VARIABLE, encode_state(joined)),)
        bridge = holding_bridge(joined.queue)
        self._submit(channel, EnterHolding(channel, bridge), SetVariables(channel, state))
        self.hub.publish(events.QueueJoined(channel, joined.queue))
        self.feed(joined)

    def rejoin(self, channel: str, state: str) -> bool:
        """After a restart: a caller already in a holding bridge, with its saved state."""
        joined = decode_state(channel, state)
        if joined is None:
            return False
        if channel in self.calls and self.state(channel) in CALLBACKS:
            self._submit(channel, Hangup(channel))  # restored: they chose a callback
            return True
        talk = talking_with(state)
        queued = Queued(joined, request_for(joined), joined.callback_number)
        self._adopt(queued)
        if talk is not None:  # they were talking: keep the pair
            queued.agent_leg, queued.agent_ext = talk
            self._claim_leg(talk[0], channel)
            self.feed(ConversationRestored(joined, talk[1]))
            return True
        self._submit(channel, EnterHolding(channel, holding_bridge(joined.queue)))
        self.feed(joined)
        return True

    def restore_callbacks(self, callbacks: Iterable[PendingCallback]) -> None:
        """Callbacks pending when frontdesk last stopped (see calls/callback_store.py)."""
        for callback in self.callbacks.hold(callbacks):
            self.restore_callback(callback)

    def restore_callback(self, callback: PendingCallback) -> None:
        """One callback back at its original place (the caller hung up long ago)."""
        if callback.call_id in self.calls or self.callbacks.known(callback.call_id):
            return
        if callback.queue not in self.plan.queues:  # the plan changed: staff call back
            self._run(CallbackTask(callback.call_id, callback.number, callback.category))
            self.callbacks.given_up(callback)
            return
        self.callbacks.track(callback)
        joined = joined_of(callback)
        self.calls[callback.call_id] = Queued(joined, request_for(joined), callback.number)
        log.info(
            "acd.callback_restored",
            call=callback.call_id,
            queue=callback.queue,
            number=mask_number(callback.number),
            attempts=callback.attempts,
        )
        self.hub.publish(events.CallbackReinstated(callback.call_id, callback.queue))
        self.feed(restored_event(callback))

    def feed(self, event: Event) -> None:
        """Hand one event to the engine and run what it decides."""
        commands = self.engine.handle(event, self.now())
        self.callbacks.save(event, commands, self._callback_now)
        for command in commands:
            self._run(command)
        self.agents.after_step(event, commands)
        self._arm_tick()

    def _callback_now(self, call: str) -> tuple[CallerJoined, CallerView] | None:
        queued, view = self.calls.get(call), self.engine.caller(call)
        return (queued.joined, view) if queued is not None and view is not None else None

    # -- channels entering the app ----------------------------------------------------------
    def leg_answered(self, entered: Entered) -> None:
        """Our agent or patient leg is up (its StasisStart)."""
        leg, call = entered.channel_id, entered.of_call or ""
        queued = self.calls.get(call)
        if queued is None or self._legs.get(leg) != call:
            self._submit(leg, Hangup(leg))  # cancelled meanwhile, or not ours
            return
        if entered.leg is Leg.CALLBACK_PATIENT:
            self.feed(CallbackResult(call, answered=True))
            self._submit(call, *self._connect(queued))
            return
        log.info("acd.answered", call=call, agent=queued.agent_ext)
        self.hub.publish(events.CallAnswered(call, queued.agent_ext))
        self.feed(OfferAnswered(call, queued.agent_ext or ""))
        if entered.leg is Leg.CALLBACK_AGENT:
            whisper = (f"sound:frontdesk/callback-{queued.joined.category}", "sound:beep")
            self._submit(call, Play(leg, f"{leg}-whisper", whisper))
            return
        self._submit(call, *self._connect(queued))

    def on_transfer_leg(self, entered: Entered) -> bool:
        """A phone's transfer button: `entered` replaced one of our agents' legs in the
        conversation bridge (calls/transfers.py); their swapped-out channel stays in the
        app until hung up. False: not one of our agents' legs."""
        replaced = str((entered.replaced or {}).get("id", ""))
        call = self._legs.get(replaced)
        queued = self.calls.get(call or "")
        if call is None or queued is None or replaced != queued.agent_leg:
            return False
        agent, target = queued.agent_ext, transfer_target(entered.channel)
        # Blind: `Local/<ext>@staff-…;1`, Up when the target answers. Attended (recorded
        # too): `Local/_attended@transfer-…;1`, Down here and Up a moment later.
        answered = entered.channel.get("state") == "Up"
        log.info("acd.phone_transfer", call=call, agent=agent, target=target)
        how = "attended" if target is None else "blind"
        self.hub.publish(events.PhoneTransferred(call, agent, target, how))
        self.hand_over(call, entered.channel_id, answered=answered)
        self._submit(call, Hangup(replaced))
        return True

    def talking_with(self, ext: str) -> Queued | None:
        """The call agent `ext` is in a conversation on, if any (the engine knows it)."""
        view = self.engine.agent(ext)
        queued = self.calls.get(view.call_id or "") if view is not None else None
        talking = queued is not None and self.state(queued.channel) is CallerState.TALKING
        return queued if talking else None

    def hand_over(
        self, call: str, leg: str, *, answered: bool = False, dialled: bool = False
    ) -> Transfer:
        """The agent's part of a conversation is over (wrap-up, then new calls); the
        patient and `leg` (the target's) are calls/transfers.py's from now on."""
        queued = self.calls[call]
        self._forget(queued)
        self._handed[call] = queued
        transfer = Transfer(call, queued.patient_leg or call, leg, answered, dialled)
        self.transfers.take(transfer)
        self.feed(CallTransferred(call))
        return transfer

    def requeue(self, call: str, joined: CallerJoined, request: Request) -> None:
        """A conversation, or a transfer nobody answered, back into a queue (`joined`:
        which, with what skills and priority; its original arrival keeps the place)."""
        queued = self.calls.get(call) or self._handed.pop(call, None)
        if queued is None:
            return
        hang_up = [Hangup(leg) for leg in (queued.agent_leg,) if leg is not None]
        self._forget(queued)
        queued.joined, queued.request = joined, request
        queued.agent_leg = queued.agent_ext = None
        self._adopt(queued)
        conversation = conversation_bridge(call)
        self._submit(
            call,
            *hang_up,
            LeaveBridge(call, conversation),
            DeleteBridge(call, conversation),
            EnterHolding(call, holding_bridge(joined.queue)),
            SetVariables(call, ((STATE_VARIABLE, encode_state(joined)),)),
        )
        log.info("acd.requeued", call=call, queue=joined.queue, priority=joined.priority)
        self.hub.publish(events.QueueJoined(call, joined.queue))
        self.feed(CallerRequeued(joined))

    def _transfer_closed(self, call: str) -> None:
        self._handed.pop(call, None)
        self.feed(CallerLeft(call))

    def _transfer_unanswered(self, transfer: Transfer) -> None:
        """Back to the transferring agent's queue at the front: never silence, never
        dropped. A callback's patient has no place in a queue: the dialplan's fallback."""
        queued = self._handed.get(transfer.call)
        if queued is None or transfer.patient != transfer.call:
            self._handed.pop(transfer.call, None)
            fallback = ContinueInDialplan(transfer.patient, FALLBACK_CONTEXT, "s", 1)
            self._submit(transfer.call, fallback)
            self.feed(CallerLeft(transfer.call))
            return
        front = dataclasses.replace(queued.joined, priority="front")
        self.requeue(transfer.call, front, queued.request)

    # -- ARI events about our channels ----------------------------------------------------------
    def on_event(self, channel: str, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if channel in self._legs:
            self._leg_event(channel, kind, event)
        elif (queued := self.calls.get(channel)) is not None:
            self._caller_event(queued, kind, event)

    def on_timer(self, channel: str, timer: int) -> None:
        """The ACD arms no per-call timers (the engine's deadlines are `Tick`s)."""

    def request_failed(self, command: Command, exc: AriError) -> None:
        if isinstance(command, Originate) and command.channel in self._legs:
            # e.g. 500 Allocation failed: the phone is not registered
            self._leg_ended(command.channel, cause=1)

    def lost(self, channel: str) -> None:
        """Asterisk no longer has the channel (it restarted, or a hangup went unseen).

        A caller who accepted a callback hung up on purpose and keeps their place; a
        conversation ends as if either side hung up; a waiting caller leaves the queue,
        its outcome unknown. A leg lost mid-conversation ends it (a callback's: its caller's
        channel is long gone); a ringing leg is left to the ring timer."""
        call = self._legs.get(channel)
        if call is not None:
            if self.state(call) is CallerState.TALKING:
                log.info("call.gone_while_disconnected", channel=channel, call=call)
                self._leg_ended(channel, cause=16)
            return
        queued = self.calls.get(channel)
        state = self.state(channel)
        if queued is None or state in CALLBACKS or queued.patient_leg is not None:
            return
        log.info("call.gone_while_disconnected", channel=channel, state=str(state))
        if state is CallerState.TALKING:
            self._end_talk(queued, ended=channel)
            return
        self._forget(queued)
        self.hub.publish(events.CallInterrupted(channel))
        self.feed(CallerLeft(channel))

    def _leg_event(self, leg: str, kind: object, event: dict[str, Any]) -> None:
        if kind == "ChannelDtmfReceived":
            self._agent_key(leg, str(event.get("digit", "")))
        elif kind in CHANNEL_ENDING:
            cause = event.get("cause") or (event.get("channel") or {}).get("cause", 19)
            self._leg_ended(leg, cause=int(cause or 19))
        elif kind == "PlaybackFinished":
            self._whisper_done(leg)

    def _agent_key(self, leg: str, digit: str) -> None:
        queued = self.calls.get(self._legs.get(leg, ""))
        if queued is None or leg != queued.agent_leg or self.agent_keys is None:
            return
        if self.state(queued.channel) is CallerState.TALKING and queued.agent_ext:
            self.agent_keys(queued.channel, queued.agent_ext, digit)

    def _caller_event(self, queued: Queued, kind: object, event: dict[str, Any]) -> None:
        channel = queued.channel
        if kind in CHANNEL_ENDING:
            self._caller_ended(queued)
        elif kind == "ChannelDtmfReceived" and event.get("digit") == "1":
            view = self.engine.caller(channel)
            if view is not None and view.choice_offered and view.status in _MAY_CHOOSE:
                self._callback_accepted(queued)
        elif kind == "PlaybackFinished":
            playback = (event.get("playback") or {}).get("id")
            if playback is not None and playback == queued.confirm_playback:
                self._submit(channel, Hangup(channel))

    # -- translating ARI facts into engine events ---------------------------------------------
    def _leg_ended(self, leg: str, *, cause: int) -> None:
        call = self._legs.get(leg, "")
        self._forget_leg(leg)
        queued = self.calls.get(call)
        if queued is None:
            return
        if self.state(call) is CallerState.TALKING:
            self._end_talk(queued, ended=leg)
        elif leg == queued.patient_leg:
            queued.patient_leg = None
            self.feed(CallbackResult(call, answered=False))
            if queued.agent_leg:
                self._submit(call, Hangup(queued.agent_leg))
        elif leg == queued.agent_leg or queued.agent_leg is None:
            ext = queued.agent_ext or ""
            queued.agent_leg, queued.agent_ext = None, None
            self.feed(OfferFailed(call, ext, _FAIL_BY_CAUSE.get(cause, "no_answer")))

    def _caller_ended(self, queued: Queued) -> None:
        state = self.state(queued.channel)
        if state in CALLBACKS:
            return  # they accepted a callback: hanging up keeps their place
        if state is CallerState.TALKING:
            self._end_talk(queued, ended=queued.channel)
        else:
            self._forget(queued)
            log.info("acd.abandoned", call=queued.channel)
            self.hub.publish(events.CallAbandoned(queued.channel))
            self.feed(CallerLeft(queued.channel))

    def _end_talk(self, queued: Queued, *, ended: str) -> None:
        """Either side hung up: hang up the others (not `ended`, which is going already: a
        request for it only earns a 404, one REST request per call saved)."""
        call = queued.channel
        log.info("acd.talk_ended", call=call, agent=queued.agent_ext)
        self.hub.publish(events.ConversationEnded(call))
        self._forget(queued)
        self.feed(TalkEnded(call))
        hangups = [Hangup(leg) for leg in (call, queued.agent_leg, queued.patient_leg) if leg]
        self._submit(call, *[h for h in hangups if h.channel != ended])
        self._submit(call, DeleteBridge(call, conversation_bridge(call)))

    def _callback_accepted(self, queued: Queued) -> None:
        call = queued.channel
        self.hub.publish(events.CallbackChosen(call))
        queued.confirm_playback = f"{call}-cbconfirm"
        self.feed(CallbackAccepted(call))
        media = ("sound:frontdesk/callback-confirmed",)
        self._submit(call, Play(call, queued.confirm_playback, media))

    def _whisper_done(self, leg: str) -> None:
        queued = self.calls.get(self._legs.get(leg, ""))
        number = queued.joined.callback_number if queued is not None else None
        if queued is None or number is None or queued.patient_leg is not None:
            return
        call = queued.channel
        patient = f"{call}-patient-{self._next()}"
        queued.patient_leg = patient
        self._claim_leg(patient, call)
        main = next(iter(self.plan.numbers), None)
        args = leg_args(Leg.CALLBACK_PATIENT, call)
        endpoint = f"PJSIP/{number}@{self.trunk}"
        self._submit(call, Originate(patient, endpoint, args, main, 30))

    # -- running engine commands --------------------------------------------------------------
    def _run(self, command: EngineCommand) -> None:
        match command:
            case Offer(call, ext, ring_timeout):
                self._offer(call, ext, int(ring_timeout.total_seconds()) + 5, Leg.AGENT)
            case StartCallback(call, ext, _, _):
                self._offer(call, ext, 30, Leg.CALLBACK_AGENT)
            case CancelOffer(call, ext):
                self._cancel_offer(call, ext)
            case OfferCallbackChoice(call):
                self.hub.publish(events.CallbackOffered(call))
                media = ("sound:frontdesk/callback-offer",)
                self._submit(call, Play(call, f"{call}-cboffer-{self._next()}", media))
            case Announce():
                self._announce(command)
            case Escalate():
                self._escalate(command)
            case FollowAfterHours(call, _):
                self._follow_after_hours(call)
            case AgentState(ext, state, reason):
                self.agents.state_changed(ext, state, reason)
            case CallbackTask(call, number, category):
                queued = self.calls.get(call)
                if queued is not None:
                    self._forget(queued)
                log.warning("acd.callback_task", call=call, number=mask_number(number))
                queue = queued.joined.queue if queued is not None else None
                self.hub.publish(events.CallbackTaskRaised(call, category, queue))

    def _offer(self, call: str, ext: str, timeout: int, kind: Leg) -> None:
        queued = self.calls.get(call)
        if queued is None:
            return
        leg = f"{call}-{kind}-{self._next()}"
        queued.agent_leg, queued.agent_ext = leg, ext
        self._claim_leg(leg, call)
        log.info("acd.ringing", call=call, agent=ext, kind=str(kind))
        joined = queued.joined
        ringing = events.AgentRinging(call, ext, queued.number, joined.language, joined.category)
        self.hub.publish(ringing)
        caller_id = queued.number or "Front desk"
        self._submit(call, Originate(leg, f"PJSIP/{ext}", leg_args(kind, call), caller_id, timeout))

    def _cancel_offer(self, call: str, ext: str) -> None:
        queued = self.calls.get(call)
        if queued is None or queued.agent_ext != ext or self.state(call) is CallerState.TALKING:
            return
        leg, queued.agent_leg, queued.agent_ext = queued.agent_leg, None, None
        self._forget_leg(leg)  # the engine already knows: its end means nothing now
        if leg is not None:
            self._submit(call, Hangup(leg))

    def _announce(self, command: Announce) -> None:
        call, position = command.call_id, command.position
        media = (
            ("sound:queue-youarenext",)
            if position == 1
            else ("sound:queue-thereare", f"number:{position - 1}", "sound:queue-callswaiting")
        )
        self._submit(call, Play(call, f"{call}-announce-{self._next()}", media))

    def _escalate(self, command: Escalate) -> None:
        call, waited = command.call_id, int(command.waited.total_seconds())
        recipients = command.recipients
        log.warning(
            "acd.escalation",
            call=call,
            queue=command.queue,
            waited_s=waited,
            recipients=list(recipients),
        )
        self.hub.publish(events.EscalationRaised(call, command.queue, waited, recipients))
        fields = (
            ("Queue", command.queue),
            ("CallId", call),
            ("Waited", str(waited)),
            ("Recipients", ",".join(recipients)),
        )
        self._submit(call, SendUserEvent(call, "FrontdeskEscalation", fields))

    def _follow_after_hours(self, call: str) -> None:
        queued = self.calls.get(call)
        if queued is None:
            return
        self._forget(queued)
        language = queued.joined.language
        at = self.now() + queued.joined.clock_offset  # a go-live call: at its routed time
        decision = decide(self.plan, self.clock, queued.request, language, (), at)
        variables = route_variables(decision, language, self.plan)
        log.info("acd.after_hours", call=call, destination=decision.destination.as_json())
        self.hub.publish(events.SentAfterHours(call))
        self._submit(
            call,
            LeaveBridge(call, holding_bridge(queued.joined.queue)),
            SetVariables(call, variables),
            ContinueInDialplan(call),
        )

    # -- bookkeeping ---------------------------------------------------------------------------
    def _connect(self, queued: Queued) -> list[Command]:
        """Caller (or a callback's patient) and agent into their conversation bridge."""
        call, agent = queued.channel, queued.agent_leg or ""
        bridge = conversation_bridge(call)
        if queued.patient_leg is not None:  # a callback: the caller's channel is long gone
            return [MakeBridge(queued.patient_leg, bridge, (queued.patient_leg, agent))]
        state = encode_state(queued.joined, talking=(agent, queued.agent_ext or ""))
        return [
            LeaveBridge(call, holding_bridge(queued.joined.queue)),
            MakeBridge(call, bridge, (call, agent)),
            SetVariables(call, ((STATE_VARIABLE, state),)),
        ]

    def _adopt(self, queued: Queued) -> None:
        self.calls[queued.channel] = queued
        self.channels.claim(queued.channel, self)

    def _forget(self, queued: Queued) -> None:
        """The ACD is done with the call: its record and channels go (not the engine's,
        which moves on its own events)."""
        self.calls.pop(queued.channel, None)
        self.channels.release(queued.channel)
        for leg in (queued.agent_leg, queued.patient_leg):
            if leg is not None and self._legs.get(leg) == queued.channel:
                self._forget_leg(leg)

    def _claim_leg(self, leg: str, call: str) -> None:
        self._legs[leg] = call
        self.channels.claim(leg, self)

    def _forget_leg(self, leg: str | None) -> None:
        if leg is not None and self._legs.pop(leg, None) is not None:
            self.channels.release(leg)

    def _submit(self, lane: str, *commands: Command) -> None:
        self.executor.submit(lane, commands)

    def _next(self) -> int:
        self._leg_seq += 1
        return self._leg_seq

    def _arm_tick(self) -> None:
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None
        deadline = self.engine.next_deadline()
        if deadline is None:
            return
        delay = max((deadline - self.now()).total_seconds(), 0.0) / self.speed
        self._tick = asyncio.get_running_loop().call_later(delay, lambda: self.feed(Tick()))

    def close(self) -> None:
        if self._tick is not None:
            self._tick.cancel()


_MAY_CHOOSE = frozenset({CallerState.WAITING, CallerState.RINGING})
