"""Requests to Asterisk for one call, as data: what every decision of the call path
returns, and the only thing `CommandExecutor` (calls/executor.py) turns into ARI/AMI
requests. No I/O here.

Each command names the channel it acts on; the executor runs the commands of one call
in order (one lane per call), so a hang-up never overtakes the playback before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class Answer:
    channel: str


@dataclass(frozen=True)
class Play:
    """One playback for a whole list of media (one request for a whole menu)."""

    channel: str
    playback_id: str
    media: tuple[str, ...]
    language: str | None = None


@dataclass(frozen=True)
class StopPlayback:
    channel: str
    playback_id: str


@dataclass(frozen=True)
class ArmTimer:
    """Call the channel's owner back (`on_timer`) after `delay`."""

    channel: str
    timer: int
    delay: timedelta


@dataclass(frozen=True)
class DisarmTimer:
    channel: str
    timer: int


@dataclass(frozen=True)
class SetVariables:
    channel: str
    variables: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ContinueInDialplan:
    """Leave the app: after `Stasis()`, or at `context,extension,priority`."""

    channel: str
    context: str | None = None
    extension: str | None = None
    priority: int | None = None


@dataclass(frozen=True)
class Hangup:
    channel: str


@dataclass(frozen=True)
class Originate:
    """Dial `endpoint` as a new channel `channel` that enters the app with `app_args`
    (the Stasis-args protocol of calls/stasis.py)."""

    channel: str
    endpoint: str
    app_args: str
    caller_id: str | None
    timeout: int


@dataclass(frozen=True)
class Record:
    channel: str
    name: str
    max_seconds: int


@dataclass(frozen=True)
class DeleteRecording:
    channel: str  # the call it belonged to (its lane)
    name: str


@dataclass(frozen=True)
class EnterHolding:
    """Into a queue's holding bridge (music on hold), made when first needed."""

    channel: str
    bridge: str


@dataclass(frozen=True)
class LeaveBridge:
    channel: str
    bridge: str


@dataclass(frozen=True)
class MakeBridge:
    """A mixing bridge with these channels in it (caller and agent, caller and far end)."""

    channel: str  # the call it is for
    bridge: str
    members: tuple[str, ...]


@dataclass(frozen=True)
class AddToBridge:
    channel: str
    bridge: str


@dataclass(frozen=True)
class BridgeMusic:
    """Music on hold in a bridge (`on`) or not: a caller alone in it while a transfer rings."""

    channel: str  # the call it is for
    bridge: str
    on: bool


@dataclass(frozen=True)
class DeleteBridge:
    channel: str
    bridge: str


@dataclass(frozen=True)
class SendUserEvent:
    """An AMI UserEvent (wallboards, paging systems)."""

    channel: str
    name: str
    fields: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class SetGlobal:
    """An Asterisk global variable, read by the dialplan (admission control's shed flag).
    `channel` is only the lane: `PBX_LANE`, the PBX's own, ordered like a call's."""

    channel: str
    name: str
    value: str


PBX_LANE = "pbx"


@dataclass(frozen=True)
class Wait:
    """Let the call's last prompt be heard before what follows."""

    channel: str
    seconds: float


Command = (
    Answer
    | Play
    | StopPlayback
    | ArmTimer
    | DisarmTimer
    | SetVariables
    | ContinueInDialplan
    | Hangup
    | Originate
    | Record
    | DeleteRecording
    | EnterHolding
    | LeaveBridge
    | MakeBridge
    | AddToBridge
    | BridgeMusic
    | DeleteBridge
    | SendUserEvent
    | SetGlobal
    | Wait
)
