"""The emulated PBX's objects and their ARI JSON, in the key order Asterisk 22 uses."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from frontdesk.emulator.clock import ari_time

JsonDict = dict[str, Any]

STATE_CODES = {"Down": 0, "Rsrvd": 1, "OffHook": 2, "Dialing": 3, "Ring": 4, "Ringing": 5, "Up": 6}

CAUSE_TEXT = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    3: "No route to destination",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    21: "Call Rejected",
    26: "Answered elsewhere",
    27: "Destination out of order",
    28: "Invalid number format (addr incomplete)",
    31: "Normal, unspecified",
    34: "Circuit/channel congestion",
    38: "Network out of order",
    58: "Bearer capability not available",
    127: "Interworking, unspecified",
}


def cause_text(cause: int) -> str:
    return CAUSE_TEXT.get(cause, "Unknown")


@dataclass
class Party:
    name: str = ""
    number: str = ""

    def json(self) -> JsonDict:
        return {"name": self.name, "number": self.number}

    def callerid_all(self) -> str:
        """`"name" <number>` as `CALLERID(all)` and the CDR show it (quotes not escaped)."""
        if self.name and self.number:
            return f'"{self.name}" <{self.number}>'
        return self.name or (f"<{self.number}>" if self.number else "")


@dataclass
class Dialplan:
    context: str
    exten: str
    priority: int
    app_name: str = ""
    app_data: str = ""

    def json(self) -> JsonDict:
        return {
            "context": self.context,
            "exten": self.exten,
            "priority": self.priority,
            "app_name": self.app_name,
            "app_data": self.app_data,
        }


@dataclass
class GosubFrame:
    """A Gosub's return address and the ARGn/ARGC it set, with the values they hide (an
    outer frame's, or a variable of the same name), restored by Return (app_stack.c)."""

    context: str
    exten: str
    priority: int
    arguments: int
    hidden: dict[str, str | None] = field(default_factory=dict)


@dataclass
class Channel:
    id: str
    name: str
    endpoint: str  # "PJSIP/trunk", "PJSIP/2001", "Local/wait@lab-local"
    state: str
    protocol_id: str
    caller: Party
    dialplan: Dialplan
    created: float
    connected: Party = field(default_factory=Party)
    language: str = "en"
    accountcode: str = ""
    variables: dict[str, str] = field(default_factory=dict)
    sip_headers: dict[str, str] = field(default_factory=dict)  # of the inbound INVITE
    stasis_app: str | None = None  # the app whose Stasis() the channel is in
    stasis_args: list[str] = field(default_factory=list)
    owner_app: str | None = None  # app that originated it: it sees the channel until the end
    bridge_id: str | None = None
    answered_at: float | None = None
    hangup_cause: int | None = None
    hangup_requested: bool = False
    destroyed: bool = False
    originated: bool = False
    undialed: bool = False  # made by POST /channels/create and not dialled yet
    dialstring: str = ""
    media: list[str] = field(default_factory=list)
    failed_media: list[str] = field(default_factory=list)  # played but not found (sounds.py)
    continued_to: Dialplan | None = None
    redirected_to: str | None = None
    moh_class: str | None = None
    last_app: str = ""
    last_data: str = ""
    peer_name: str = ""  # the channel bridged with it, for the CDR's DestinationChannel
    on_result: Callable[[bool], None] | None = None  # AMI Originate: answered or not
    # A Local half or a dialled phone: what its end does to the channels tied to it, and
    # the channel whose hangup ends it from outside (a Local channel never gets a BYE).
    on_destroyed: Callable[[Channel], None] | None = None
    far_end: str | None = None
    timers: list[asyncio.TimerHandle] = field(default_factory=list)
    gosub_stack: list[GosubFrame] = field(default_factory=list)  # app_stack's datastore

    @property
    def tech(self) -> str:
        return self.endpoint.split("/", 1)[0]

    @property
    def linkedid(self) -> str:
        return self.id

    def json(self) -> JsonDict:
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "protocol_id": self.protocol_id,
            "caller": self.caller.json(),
            "connected": self.connected.json(),
            "accountcode": self.accountcode,
            "dialplan": self.dialplan.json(),
            "creationtime": ari_time(self.created),
            "language": self.language,
        }

    def cancel_timers(self) -> None:
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()


BRIDGE_TECHNOLOGY = {"mixing": "simple_bridge", "holding": "holding_bridge"}


@dataclass
class Bridge:
    id: str
    bridge_type: str  # mixing | holding
    name: str
    created: float
    technology: str = "simple_bridge"
    channels: list[str] = field(default_factory=list)
    moh_class: str | None = None
    moh_ids_used: bool = False

    def json(self) -> JsonDict:
        return {
            "id": self.id,
            "technology": self.technology,
            "bridge_type": self.bridge_type,
            "bridge_class": "stasis",
            "creator": "Stasis",
            "name": self.name,
            "channels": list(self.channels),
            "creationtime": ari_time(self.created),
            "video_mode": "talker",
        }


@dataclass
class Playback:
    id: str
    media: list[str]
    target_uri: str
    language: str
    state: str = "queued"  # queued | playing | continuing | done | failed
    index: int = 0
    timer: asyncio.TimerHandle | None = None

    @property
    def channel_id(self) -> str | None:
        kind, _, ident = self.target_uri.partition(":")
        return ident if kind == "channel" else None

    @property
    def bridge_id(self) -> str | None:
        kind, _, ident = self.target_uri.partition(":")
        return ident if kind == "bridge" else None

    def json(self) -> JsonDict:
        out: JsonDict = {"id": self.id, "media_uri": self.media[self.index]}
        if self.index < len(self.media) - 1:
            out["next_media_uri"] = self.media[self.index + 1]
        out |= {"target_uri": self.target_uri, "language": self.language, "state": self.state}
        return out


@dataclass
class LiveRecording:
    name: str
    format: str
    target_uri: str
    started: float
    terminate_on: str = "none"
    max_duration: int = 0
    state: str = "queued"  # queued | recording | paused | done | failed | canceled
    duration: int | None = None
    timer: asyncio.TimerHandle | None = None

    @property
    def channel_id(self) -> str:
        return self.target_uri.partition(":")[2]

    def json(self) -> JsonDict:
        out: JsonDict = {
            "name": self.name,
            "format": self.format,
            "state": self.state,
            "target_uri": self.target_uri,
        }
        if self.duration is not None:
            out["duration"] = self.duration
        return out


@dataclass
class StoredRecording:
    name: str
    format: str
    seconds: float

    def json(self) -> JsonDict:
        return {"name": self.name, "format": self.format}


@dataclass
class Phone:
    """A PJSIP endpoint: the PSTN trunk or a staff softphone and how it behaves when rung."""

    resource: str
    context: str
    callerid: Party
    registered: bool
    contact: str
    answer_after: float | None = 1.5  # None: rings until the originate times out
    reply: int | None = None  # 486 busy or 603 decline, sent after `reply_after`
    reply_after: float = 1.0
    static_contact: bool = False  # the trunk: no REGISTER, always reachable

    @property
    def name(self) -> str:
        return f"PJSIP/{self.resource}"

    @property
    def reachable(self) -> bool:
        return self.static_contact or self.registered

    def json(self, channel_ids: list[str]) -> JsonDict:
        return {
            "technology": "PJSIP",
            "resource": self.resource,
            "state": "online" if self.reachable else "offline",
            "channel_ids": channel_ids,
        }


@dataclass
class Application:
    """A Stasis application: registered by its first WebSocket, kept when sockets go."""

    name: str
    channel_ids: list[str] = field(default_factory=list)
    bridge_refs: dict[str, int] = field(default_factory=dict)
    endpoint_ids: list[str] = field(default_factory=list)
    subscribe_all: bool = False
    # `PUT /applications/{app}/eventFilter`: lists of {"type": ...}, empty = no filter
    events_allowed: list[JsonDict] = field(default_factory=list)
    events_disallowed: list[JsonDict] = field(default_factory=list)

    def allows(self, kind: str) -> bool:
        """Asterisk's rule: a disallowed type never; else only the allowed, if any."""
        if any(f.get("type") == kind for f in self.events_disallowed):
            return False
        return not self.events_allowed or any(f.get("type") == kind for f in self.events_allowed)

    def json(self) -> JsonDict:
        return {
            "name": self.name,
            "channel_ids": list(self.channel_ids),
            "bridge_ids": list(self.bridge_refs),
            "endpoint_ids": list(self.endpoint_ids),
            "device_names": [],
            "events_allowed": [dict(f) for f in self.events_allowed],
            "events_disallowed": [dict(f) for f in self.events_disallowed],
        }

    def subscribed(self, source: str) -> bool:
        kind, _, ident = source.partition(":")
        if kind == "channel":
            return ident in self.channel_ids
        if kind == "bridge":
            return ident in self.bridge_refs
        if kind == "endpoint":
            tech = ident.split("/", 1)[0]
            return ident in self.endpoint_ids or tech in self.endpoint_ids
        return False
