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

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import structlog

from frontdesk.asterisk.ari import AriClient, AriError, ignore_gone
from frontdesk.calls.queues import AlertHub
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
_ENDING = frozenset({"StasisEnd", "ChannelHangupRequest", "ChannelDestroyed"})
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


class Destinations:
    def __init__(
        self,
        plan: Plan,
        ari: AriClient,
        alerts: AlertHub,
        *,
        now: Callable[[], datetime],
    ) -> None:
        self.plan = plan
        self.ari = ari
        self.alerts = alerts
        self.now = now
        self.clock = PracticeClock(plan)
        self.calls: dict[str, Handoff] = {}
        self._legs: dict[str, str] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def owns(self, channel: str) -> bool:
        return channel in self.calls or channel in self._legs

    async def deliver(self, channel: str, decision: Decision, number: str | None) -> None:
        destination = decision.destination
        message = None
        if isinstance(destination, VoicemailDestination):
            message = Message(destination, decision.deciding_queue, decision.request.category)
        handoff = Handoff(channel, message, number)
        self.calls[channel] = handoff
        marker = message.encode() if message is not None else TRANSFER
        await ignore_gone(self.ari.set_variable(channel, HANDOFF_VARIABLE, marker))
        if isinstance(destination, VoicemailDestination):
            handoff.recording = f"frontdesk/{destination.box}/{channel}"
            try:
                await self.ari.record(channel, handoff.recording, max_seconds=RECORD_SECONDS)
            except AriError as exc:
                if exc.call_is_gone and self.calls.pop(channel, None) is not None:
                    self._no_message(handoff, None)
                raise
        elif isinstance(destination, TransferDestination):
            await self._dial(handoff, destination)

    async def readopt(self, channel: str, marker: str, number: str | None) -> bool:
        """After a restart: a caller found mid-handoff (`HANDOFF_VARIABLE`) is watched
        again, never given the menu. A transfer whose far end is gone, or that was still
        ringing, goes to the dialplan's fallback. False: not a handoff of ours."""
        if marker == TRANSFER:
            return await self._readopt_transfer(channel, number)
        message = self._decode_message(marker)
        if message is None:
            return False
        handoff = Handoff(channel, message, number, hung_up=False)
        handoff.recording = f"frontdesk/{message.box.box}/{channel}"
        self.calls[channel] = handoff
        log.info("voicemail.readopted", call=channel, box=message.box.box)
        return True

    async def _readopt_transfer(self, channel: str, number: str | None) -> bool:
        handoff = Handoff(channel, None, number, leg=f"{channel}-xfer")
        self.calls[channel] = handoff
        try:
            leg = await self.ari.get_channel(handoff.leg or "")
        except AriError:
            leg = None
        if leg is None or leg.get("state") != "Up":
            log.warning("transfer.readopted_without_far_end", call=channel)
            self._spawn(self._fall_back(handoff))
            return True
        assert handoff.leg is not None
        self._legs[handoff.leg] = channel
        handoff.connected = True
        log.info("transfer.readopted", call=channel)
        return True

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

    def on_stasis_start(self, event: dict[str, Any]) -> bool:
        args = [str(a) for a in event.get("args") or []]
        if len(args) < 2 or args[0] != TRANSFER:
            return False
        leg = str((event.get("channel") or {}).get("id"))
        handoff = self.calls.get(args[1])
        if handoff is None:
            self._spawn(ignore_gone(self.ari.hangup(leg)))
            return True
        handoff.connected = True
        self._spawn(self._bridge(handoff, leg))
        return True

    def on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        channel = str((event.get("channel") or {}).get("id") or "")
        if kind == "RecordingFinished":
            self._recorded(event)
        elif kind in _ENDING and channel in self._legs:
            self._leg_ended(channel)
        elif kind in _ENDING and channel in self.calls:
            self._caller_ended(self.calls[channel], final=kind != "ChannelHangupRequest")

    # -- voicemail --------------------------------------------------------------------------
    def _recorded(self, event: dict[str, Any]) -> None:
        recording = event.get("recording") or {}
        target = str(recording.get("target_uri", "")).removeprefix("channel:")
        handoff = self.calls.pop(target, None)
        if handoff is None or handoff.message is None:
            return
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
        self.alerts.publish(
            {
                "kind": "voicemail",
                "call": handoff.channel,
                "box": box.box,
                "recording": handoff.recording,
                "category": handoff.message.category,
                "callback_due": due.isoformat() if due else None,
                "hung_up": handoff.hung_up,  # no `#`: the caller just hung up
            }
        )
        if not handoff.hung_up:
            self._spawn(ignore_gone(self.ari.hangup(handoff.channel)))

    def _no_message(self, handoff: Handoff, seconds: object) -> None:
        """The caller hung up without saying anything: abandoned, the empty file goes."""
        log.info("voicemail.abandoned", call=handoff.channel, seconds=seconds)
        self.alerts.publish({"kind": "abandoned", "call": handoff.channel, "where": "voicemail"})
        if handoff.recording is not None and seconds is not None:
            self._spawn(ignore_gone(self.ari.delete_recording(handoff.recording)))

    # -- transfer ---------------------------------------------------------------------------
    async def _dial(self, handoff: Handoff, destination: TransferDestination) -> None:
        leg = f"{handoff.channel}-xfer"
        handoff.leg = leg
        self._legs[leg] = handoff.channel
        dial = self.plan.external[destination.target].dial
        try:
            await self.ari.originate(
                dial,
                leg,
                app_args=f"{TRANSFER},{handoff.channel}",
                caller_id=handoff.number,
                timeout=45,
            )
        except AriError as exc:
            log.error(
                "transfer.failed",
                call=handoff.channel,
                target=destination.target,
                status=exc.status,
            )
            self._legs.pop(leg, None)
            await self._fall_back(handoff)

    async def _bridge(self, handoff: Handoff, leg: str) -> None:
        bridge = f"frontdesk-x-{handoff.channel}"
        try:
            await self.ari.create_bridge(bridge, "mixing")
            await self.ari.add_channels(bridge, [handoff.channel, leg])
            log.info("transfer.connected", call=handoff.channel)
            self.alerts.publish({"kind": "transfer_connected", "call": handoff.channel})
        except AriError as exc:
            log.warning("transfer.bridge_failed", call=handoff.channel, status=exc.status)

    def _leg_ended(self, leg: str) -> None:
        channel = self._legs.pop(leg)
        handoff = self.calls.get(channel)
        if handoff is None:
            return
        if handoff.connected:  # the far end hung up: the conversation is over
            self.calls.pop(channel, None)
            self._spawn(self._finish(handoff))
        else:  # never answered: the dialplan's fallback takes the caller
            log.warning("transfer.no_answer", call=channel)
            self._spawn(self._fall_back(handoff))

    def _caller_ended(self, handoff: Handoff, *, final: bool) -> None:
        if handoff.recording is not None:
            self._recording_caller_ended(handoff, final=final)
            return
        self.calls.pop(handoff.channel, None)
        if handoff.leg and handoff.leg in self._legs:
            self._legs.pop(handoff.leg, None)
            self._spawn(ignore_gone(self.ari.hangup(handoff.leg)))
        self._spawn(ignore_gone(self.ari.delete_bridge(f"frontdesk-x-{handoff.channel}")))

    def _recording_caller_ended(self, handoff: Handoff, *, final: bool) -> None:
        # Asterisk stores a recording cut by a hang-up and sends RecordingFinished before
        # StasisEnd, so wait for it; a StasisEnd first means it never started recording.
        handoff.hung_up = True
        if final:
            self.calls.pop(handoff.channel, None)
            self._no_message(handoff, None)

    async def _finish(self, handoff: Handoff) -> None:
        await ignore_gone(self.ari.hangup(handoff.channel))
        await ignore_gone(self.ari.delete_bridge(f"frontdesk-x-{handoff.channel}"))

    async def _fall_back(self, handoff: Handoff) -> None:
        self.calls.pop(handoff.channel, None)
        await ignore_gone(self.ari.set_variable(handoff.channel, "FRONTDESK_ROUTE", "fallback"))
        await ignore_gone(self.ari.continue_in_dialplan(handoff.channel))

    def _spawn(self, job: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


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
