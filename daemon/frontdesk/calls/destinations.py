"""Voicemail and external transfers over ARI (with frontdesk's ACD on).

- **Voicemail**: the IVR has already played the box's greeting (which speaks the
  callback window); the caller is recorded (`frontdesk/<box>/<channel>`, WAV, up to
  3 minutes, `#` ends it), then hung up, and a callback task is raised whose due time
  follows the queue's schedule: "same day" = the end of today's (or the next) open day,
  anything else ("next business day") = the end of the next open day after today.
  Most callers just hang up instead of pressing `#`: Asterisk then still stores the
  recording and sends `RecordingFinished` (before `StasisEnd`), and that is a message
  left like any other. Only a hang-up with under `MIN_MESSAGE_SECONDS` (1 s) of audio, or
  before the recording started, is an abandoned call (`abandoned`, where `voicemail`):
  nobody said anything, so the empty file is deleted and no callback task is raised.
- **Transfer**: the IVR has already played the target's `announce` prompt; the target
  is dialled through the trunk (`dial` of the plan's `external`), presenting the
  caller's number, and bridged with the caller; either hangup ends both. A target that
  does not answer sends the caller back to the dialplan's fallback (front desk phones,
  then a voicemail): a caller is never left in silence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import structlog

from frontdesk.asterisk.ari import AriClient, AriError
from frontdesk.asterisk.ari_events import CHANNEL_ENDING
from frontdesk.calls import events
from frontdesk.calls.channels import Channels
from frontdesk.calls.commands import (
    Command,
    ContinueInDialplan,
    DeleteBridge,
    DeleteRecording,
    Hangup,
    MakeBridge,
    Originate,
    Record,
    SetVariables,
)
from frontdesk.calls.executor import CommandExecutor
from frontdesk.calls.hub import EventHub
from frontdesk.calls.stasis import Entered, Leg, leg_args
from frontdesk.phone import mask_number
from frontdesk.plan.model import Plan
from frontdesk.routing.clock import PracticeClock
from frontdesk.routing.destination import Decision, TransferDestination, VoicemailDestination

log = structlog.get_logger("frontdesk.destinations")

TRANSFER = "transfer"
# Set on the caller's channel when a handoff starts, so that a restarted frontdesk finds a
# caller in a transfer or leaving a message and leaves them be (instead of playing them
# the menu): `transfer`, or `voicemail:<box>:<queue>:<category>` (plan names only).
HANDOFF_VARIABLE = "FRONTDESK_HANDOFF"
RECORD_SECONDS = 180
MIN_MESSAGE_SECONDS = 1  # Asterisk's whole seconds: 0 = under 1 s of audio, no message
_SEARCH_DAYS = 14


@dataclass(frozen=True)
class Message:
    """What a voicemail handoff needs to know when the recording ends."""

    box: VoicemailDestination
    queue: str | None
    category: str

    def encode(self) -> str:
        return f"voicemail:{self.box.box}:{self.queue or ''}:{self.category}"


@dataclass
class Handoff:
    channel: str
    message: Message | None
    number: str | None
    leg: str | None = None
    connected: bool = False
    recording: str | None = None
    hung_up: bool = False  # the caller hung up while recording: RecordingFinished follows


def transfer_bridge(call: str) -> str:
    return f"frontdesk-x-{call}"


class Destinations:
    def __init__(
        self,
        plan: Plan,
        executor: CommandExecutor,
        channels: Channels,
        hub: EventHub,
        *,
        now: Callable[[], datetime],
    ) -> None:
        self.plan = plan
        self.executor = executor
        self.channels = channels
        self.hub = hub
        self.now = now
        self.clock = PracticeClock(plan)
        self.calls: dict[str, Handoff] = {}
        self._legs: dict[str, str] = {}

    def deliver(self, channel: str, decision: Decision, number: str | None) -> None:
        """The menu routed the caller to a voicemail box or an external number."""
        destination = decision.destination
        message = None
        if isinstance(destination, VoicemailDestination):
            message = Message(destination, decision.deciding_queue, decision.request.category)
        handoff = self._adopt(Handoff(channel, message, number))
        marker = message.encode() if message is not None else TRANSFER
        commands: list[Command] = [SetVariables(channel, ((HANDOFF_VARIABLE, marker),))]
        if isinstance(destination, VoicemailDestination):
            handoff.recording = f"frontdesk/{destination.box}/{channel}"
            commands.append(Record(channel, handoff.recording, RECORD_SECONDS))
        elif isinstance(destination, TransferDestination):
            leg = handoff.leg = f"{channel}-xfer"
            self._claim_leg(leg, channel)
            dial = self.plan.external[destination.target].dial
            commands.append(Originate(leg, dial, leg_args(Leg.TRANSFER, channel), number, 45))
        self.executor.submit(channel, commands)

    async def readopt(self, ari: AriClient, channel: str, marker: str, number: str | None) -> bool:
        """After a restart: a caller found mid-handoff (`HANDOFF_VARIABLE`) is watched
        again, never given the menu. A transfer whose far end is gone, or that was still
        ringing, goes to the dialplan's fallback. False: not a handoff of ours."""
        if marker == TRANSFER:
            await self._readopt_transfer(ari, channel, number)
            return True
        message = self._decode_message(marker)
        if message is None:
            return False
        handoff = self._adopt(Handoff(channel, message, number, hung_up=False))
        handoff.recording = f"frontdesk/{message.box.box}/{channel}"
        log.info("voicemail.readopted", call=channel, box=message.box.box)
        return True

    async def _readopt_transfer(self, ari: AriClient, channel: str, number: str | None) -> None:
        handoff = self._adopt(Handoff(channel, None, number, leg=f"{channel}-xfer"))
        leg_id = handoff.leg or ""
        try:
            leg = await ari.get_channel(leg_id)
        except AriError:
            leg = None
        if leg is None or leg.get("state") != "Up":
            log.warning("transfer.readopted_without_far_end", call=channel)
            self._fall_back(handoff)
            return
        self._claim_leg(leg_id, channel)
        handoff.connected = True
        log.info("transfer.readopted", call=channel)

    def _decode_message(self, marker: str) -> Message | None:
        parts = marker.split(":")
        if len(parts) != 4 or parts[0] != "voicemail":
            return None
        _, box, queue, category = parts
        # The greeting's callback promise: that of the after-hours path with this box.
        paths = [q.after_hours for q in self.plan.queues.values()]
        if self.plan.urgent is not None:
            paths.append(self.plan.urgent.after_hours)
        callback = next((p.callback for p in paths if p is not None and p.voicemail == box), None)
        return Message(VoicemailDestination(box, callback), queue or None, category)

    def leg_answered(self, entered: Entered) -> None:
        """The far end of a transfer answered: bridge it with the caller."""
        leg = entered.channel_id
        handoff = self.calls.get(entered.of_call or "")
        if handoff is None:
            self.executor.submit(leg, [Hangup(leg)])
            return
        handoff.connected = True
        bridge = transfer_bridge(handoff.channel)
        self.executor.submit(
            handoff.channel, [MakeBridge(handoff.channel, bridge, (handoff.channel, leg))]
        )
        log.info("transfer.connected", call=handoff.channel)
        self.hub.publish(events.ExternalTransferConnected(handoff.channel))

    # -- ARI events about our channels ----------------------------------------------------
    def on_event(self, channel: str, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "RecordingFinished":
            self._recorded(event)
        elif kind in CHANNEL_ENDING and channel in self._legs:
            self._leg_ended(channel)
        elif kind in CHANNEL_ENDING and channel in self.calls:
            self._caller_ended(self.calls[channel], final=kind != "ChannelHangupRequest")

    def on_timer(self, channel: str, timer: int) -> None:
        """Destinations arm no timers."""

    def request_failed(self, command: Command, exc: AriError) -> None:
        handoff = self.calls.get(command.channel)
        if isinstance(command, Originate) and command.channel in self._legs:
            call = self._legs[command.channel]
            log.error("transfer.failed", call=call, status=exc.status)
            self._forget_leg(command.channel)
            handoff = self.calls.get(call)
            if handoff is not None:
                self._fall_back(handoff)
        elif handoff is not None and handoff.recording is not None and exc.call_is_gone:
            self._forget(handoff)  # gone before the recording started: no message
            self._no_message(handoff, None)

    def lost(self, channel: str) -> None:
        handoff = self.calls.get(channel)
        if handoff is not None:
            log.info("call.gone_while_disconnected", channel=channel, state="handoff")
            self._forget(handoff)
            self.hub.publish(events.CallInterrupted(channel))

    # -- voicemail --------------------------------------------------------------------------
    def _recorded(self, event: dict[str, Any]) -> None:
        recording = event.get("recording") or {}
        target = str(recording.get("target_uri", "")).removeprefix("channel:")
        handoff = self.calls.get(target)
        if handoff is None or handoff.message is None:
            return
        self._forget(handoff)
        box = handoff.message.box
        due = callback_due(self.plan, self.clock, handoff.message.queue, box.callback, self.now())
        seconds = recording.get("duration")
        if handoff.hung_up and not _is_message(seconds):
            self._no_message(handoff, seconds)
            return
        log.info(
            "voicemail.recorded",
            call=handoff.channel,
            box=box.box,
            seconds=seconds,
            hung_up=handoff.hung_up,
            caller=mask_number(handoff.number),
        )
        self.hub.publish(
            events.VoicemailLeft(
                handoff.channel,
                box=box.box,
                recording=handoff.recording,
                category=handoff.message.category,
                callback_due=due.isoformat() if due else None,
                hung_up=handoff.hung_up,  # no `#`: the caller just hung up
            )
        )
        if not handoff.hung_up:
            self.executor.submit(handoff.channel, [Hangup(handoff.channel)])

    def _no_message(self, handoff: Handoff, seconds: object) -> None:
        """The caller hung up without saying anything: abandoned, the empty file goes."""
        log.info("voicemail.abandoned", call=handoff.channel, seconds=seconds)
        self.hub.publish(events.CallAbandoned(handoff.channel, where="voicemail"))
        if handoff.recording is not None and seconds is not None:
            self.executor.submit(
                handoff.channel, [DeleteRecording(handoff.channel, handoff.recording)]
            )

    # -- transfer ---------------------------------------------------------------------------
    def _leg_ended(self, leg: str) -> None:
        channel = self._legs.get(leg, "")
        self._forget_leg(leg)
        handoff = self.calls.get(channel)
        if handoff is None:
            return
        if handoff.connected:  # the far end hung up: the conversation is over
            self._forget(handoff)
            bridge = transfer_bridge(channel)
            self.executor.submit(channel, [Hangup(channel), DeleteBridge(channel, bridge)])
        else:  # never answered: the dialplan's fallback takes the caller
            log.warning("transfer.no_answer", call=channel)
            self._fall_back(handoff)

    def _caller_ended(self, handoff: Handoff, *, final: bool) -> None:
        if handoff.recording is not None:
            self._recording_caller_ended(handoff, final=final)
            return
        self._forget(handoff)
        commands: list[Command] = []
        if handoff.leg and handoff.leg in self._legs:
            self._forget_leg(handoff.leg)
            commands.append(Hangup(handoff.leg))
        commands.append(DeleteBridge(handoff.channel, transfer_bridge(handoff.channel)))
        self.executor.submit(handoff.channel, commands)

    def _recording_caller_ended(self, handoff: Handoff, *, final: bool) -> None:
        # Asterisk stores a recording cut by a hang-up and sends RecordingFinished before
        # StasisEnd, so wait for it; a StasisEnd first means it never started recording.
        handoff.hung_up = True
        if final:
            self._forget(handoff)
            self._no_message(handoff, None)

    def _fall_back(self, handoff: Handoff) -> None:
        self._forget(handoff)
        channel = handoff.channel
        fallback = SetVariables(channel, (("FRONTDESK_ROUTE", "fallback"),))
        self.executor.submit(channel, [fallback, ContinueInDialplan(channel)])

    # -- bookkeeping ---------------------------------------------------------------------------
    def _adopt(self, handoff: Handoff) -> Handoff:
        self.calls[handoff.channel] = handoff
        self.channels.claim(handoff.channel, self)
        return handoff

    def _forget(self, handoff: Handoff) -> None:
        if self.calls.pop(handoff.channel, None) is not None:
            self.channels.release(handoff.channel)

    def _claim_leg(self, leg: str, call: str) -> None:
        self._legs[leg] = call
        self.channels.claim(leg, self)

    def _forget_leg(self, leg: str) -> None:
        if self._legs.pop(leg, None) is not None:
            self.channels.release(leg)


def _is_message(seconds: object) -> bool:
    """Enough audio to be a message (`duration` is absent when nothing was recorded)."""
    return isinstance(seconds, int) and seconds >= MIN_MESSAGE_SECONDS


def callback_due(
    plan: Plan, clock: PracticeClock, queue: str | None, window: str | None, now: datetime
) -> datetime | None:
    """When a voicemail's callback is due: the end of the right open day of the queue."""
    if queue is None or queue not in plan.queues:
        return None
    schedule = plan.queues[queue].schedule
    today = clock.local(now).date()
    same_day = (window or "").strip().lower() == "same day"
    first = today if same_day else today + timedelta(days=1)
    for offset in range(_SEARCH_DAYS):
        end = _closing_of(plan, clock, schedule, first + timedelta(days=offset))
        if end is not None and end > now:
            return end
    return None


def _closing_of(plan: Plan, clock: PracticeClock, schedule: str, day: date) -> datetime | None:
    """The end of the day's last opening interval, or None if closed all day."""
    if clock.holiday_on(day) is not None:
        return None
    intervals = plan.schedules[schedule].days[day.weekday()]
    if not intervals:
        return None
    end = intervals[-1].end
    midnight = datetime.combine(day, time(), tzinfo=clock.zone)
    return midnight + timedelta(minutes=end)
