"""One call in our Stasis app: ARI events in, ARI commands (as data) out. No I/O.

The session wraps the IVR machine of the routing core and translates in both
directions: `PlaybackFinished` -> `PromptsFinished`, `ChannelDtmfReceived` -> `KeyPressed`,
`PlayPrompts` -> one `Play` request for the whole list of prompts, and so on. Events
for other playbacks, repeated events and events after the call ended are ignored,
so a late or duplicated event (Asterisk sends some twice) can never derail a call.

With frontdesk's ACD on (`acd=True`), a queue destination becomes `JoinQueue` and
voicemail or a transfer `Deliver`: the call stays in the app. Without the ACD every
route is handed back to the dialplan: the session sets `FRONTDESK_ROUTE` (queue | voicemail | transfer),
`FRONTDESK_DESTINATION` (queue name, voicemail box or dial string),
`FRONTDESK_CATEGORY` and `FRONTDESK_LANGUAGE`, then continues the channel after
`Stasis()`; `dialplan/extensions.conf` acts on them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from frontdesk.asterisk.ari_events import CHANNEL_ENDING, playback_of
from frontdesk.calls.commands import (
    Answer,
    ArmTimer,
    Command,
    ContinueInDialplan,
    DisarmTimer,
    Play,
    SetVariables,
    StopPlayback,
)
from frontdesk.plan.model import Plan
from frontdesk.routing.clock import PracticeClock
from frontdesk.routing.destination import (
    Decision,
    QueueDestination,
    TransferDestination,
    VoicemailDestination,
)
from frontdesk.routing.ivr import (
    CallFacts,
    CancelTimer,
    Event,
    HungUp,
    Ivr,
    KeyPressed,
    PlayPrompts,
    PromptsFinished,
    RouteCall,
    SetLanguage,
    StartTimer,
    StopPrompts,
    TimerElapsed,
)
from frontdesk.routing.ivr import Command as IvrCommand

SOUND_PREFIX = "sound:frontdesk/"
DTMF_DIGITS = frozenset("0123456789*#")


# -- what the session hands on besides requests (calls/menu.py acts on them) --------------------
@dataclass(frozen=True)
class JoinQueue:
    """Hand the caller to frontdesk's own ACD (the call stays in the Stasis app);
    `clock_offset`: a go-live call's routing shift, which the ACD's open/closed checks
    keep until the call is answered."""

    channel: str
    decision: Decision
    language: str
    number: str | None
    clock_offset: timedelta = timedelta(0)


@dataclass(frozen=True)
class Deliver:
    """Voicemail or an external transfer, done over ARI (with the ACD on)."""

    channel: str
    decision: Decision
    number: str | None


@dataclass(frozen=True)
class Routed:
    """Not a request: the decision, for the log line and (later) the ACD and call records."""

    channel: str
    facts: CallFacts
    language: str
    decision: Decision


Output = Command | Routed | JoinQueue | Deliver


class CallSession:
    def __init__(
        self,
        plan: Plan,
        clock: PracticeClock,
        channel: str,
        facts: CallFacts,
        logged_in: Collection[str],
        *,
        acd: bool = False,
        clock_offset: timedelta = timedelta(0),
    ) -> None:
        self.channel = channel
        self.acd = acd  # queue destinations go to our ACD rather than back to the dialplan
        # Go-live testing: this call decides at its own time (frontdesk.golive.override).
        self.clock_offset = clock_offset
        self.facts = facts
        self.ivr = Ivr(plan, clock, facts, logged_in)
        self.language = self.ivr.language
        self.ended = False
        # The caller hung up before the route was handed on: the menu's abandoned call,
        # whether or not the IVR had decided (a greeting or announcement may be playing).
        self.abandoned = False
        self._playbacks: dict[str, int] = {}  # our ARI playback id -> IVR playback number
        self._current_playback: str | None = None

    def start(self, now: datetime, *, answered: bool = False) -> list[Output]:
        """`answered`: a call re-adopted after a restart is already Up."""
        first: list[Output] = [] if answered else [Answer(self.channel)]
        return first + self._translate(self.ivr.start(now + self.clock_offset))

    def on_event(self, event: dict[str, Any], now: datetime) -> list[Output]:
        if self.ended:
            return []
        kind = event.get("type")
        if not isinstance(kind, str):
            return []
        if kind in CHANNEL_ENDING:
            self.hung_up(now)
            return []
        if kind == "PlaybackFinished":
            return self._playback_finished(playback_of(event), now)
        if kind == "ChannelDtmfReceived":
            digit = str(event.get("digit", ""))
            if digit in DTMF_DIGITS:
                return self._feed(KeyPressed(digit), now)
        return []

    def hung_up(self, now: datetime) -> None:
        """The caller is gone (their hangup, or a request that found the channel gone)."""
        if not self.ended:
            self.ended = self.abandoned = True
            self.ivr.handle(HungUp(), now)

    def on_timer(self, timer: int, now: datetime) -> list[Output]:
        return [] if self.ended else self._feed(TimerElapsed(timer), now)

    def playback_lost(self, now: datetime) -> list[Output]:
        """After a reconnect: our playback is gone and its PlaybackFinished was lost."""
        if self._current_playback is None:
            return []
        return self._playback_finished(self._current_playback, now)

    @property
    def current_playback(self) -> str | None:
        return self._current_playback

    # -- translation ----------------------------------------------------------------------
    def _playback_finished(self, playback_id: str | None, now: datetime) -> list[Output]:
        number = self._playbacks.pop(playback_id or "", None)
        if number is None:
            return []  # someone else's playback, or a duplicate
        if playback_id == self._current_playback:
            self._current_playback = None
        return self._feed(PromptsFinished(number), now)

    def _feed(self, event: Event, now: datetime) -> list[Output]:
        return self._translate(self.ivr.handle(event, now + self.clock_offset))

    def _translate(self, commands: list[IvrCommand]) -> list[Output]:
        out: list[Output] = []
        for command in commands:
            out.extend(self._one(command))
        return out

    def _one(self, command: IvrCommand) -> list[Output]:
        if isinstance(command, SetLanguage):
            self.language = command.language
            return []
        if isinstance(command, PlayPrompts):
            playback_id = f"{self.channel}-p{command.playback}"
            self._playbacks[playback_id] = command.playback
            self._current_playback = playback_id
            media = tuple(SOUND_PREFIX + name for name in command.prompts)
            return [Play(self.channel, playback_id, media, self.language)]
        if isinstance(command, StopPrompts):
            playback_id = f"{self.channel}-p{command.playback}"
            self._playbacks.pop(playback_id, None)
            self._current_playback = None
            return [StopPlayback(self.channel, playback_id)]
        if isinstance(command, StartTimer):
            return [ArmTimer(self.channel, command.timer, command.delay)]
        if isinstance(command, CancelTimer):
            return [DisarmTimer(self.channel, command.timer)]
        assert isinstance(command, RouteCall)
        return self._route(command.decision)

    def _route(self, decision: Decision) -> list[Output]:
        self.ended = True  # the IVR is done with this call
        routed = Routed(self.channel, self.facts, self.language, decision)
        if self.acd and isinstance(decision.destination, QueueDestination):
            join = JoinQueue(
                self.channel, decision, self.language, self.facts.caller, self.clock_offset
            )
            return [routed, join]
        if self.acd:
            return [routed, Deliver(self.channel, decision, self.facts.caller)]
        variables = route_variables(decision, self.language, self.ivr.plan)
        return [
            routed,
            SetVariables(self.channel, variables),
            ContinueInDialplan(self.channel),
        ]


def route_variables(decision: Decision, language: str, plan: Plan) -> tuple[tuple[str, str], ...]:
    """The channel variables the dialplan (and FastAGI callers) act on."""
    destination = decision.destination
    if isinstance(destination, QueueDestination):
        kind, target = "queue", destination.queue
    elif isinstance(destination, VoicemailDestination):
        kind, target = "voicemail", destination.box
    else:
        assert isinstance(destination, TransferDestination)
        kind, target = "transfer", plan.external[destination.target].dial
    return (
        ("FRONTDESK_ROUTE", kind),
        ("FRONTDESK_DESTINATION", target),
        ("FRONTDESK_CATEGORY", decision.request.category),
        ("FRONTDESK_LANGUAGE", language),
    )


def facts_from_channel(channel: dict[str, Any]) -> tuple[str | None, str | None]:
    """(raw caller number, raw dialled extension) from an ARI channel object."""
    caller = channel.get("caller")
    dialplan = channel.get("dialplan")
    number = caller.get("number") if isinstance(caller, dict) else None
    exten = dialplan.get("exten") if isinstance(dialplan, dict) else None
    return (
        number if isinstance(number, str) else None,
        exten if isinstance(exten, str) else None,
    )
