"""The emulated PBX's state and the channel primitives every scenario is built from.

Everything here runs synchronously on the event loop: an operation changes state and
emits its ARI/AMI events in order through a `Sink`; anything that takes time (ringing,
media, dialplan `Wait`) is a timer. The servers are thin layers over this.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from frontdesk.emulator import bridging, media, records
from frontdesk.emulator.clock import Ids, now
from frontdesk.emulator.dialplan import Contexts, DialplanTable, default_dialplan
from frontdesk.emulator.errors import AriError
from frontdesk.emulator.events import (
    AmiEvent,
    AriEvent,
    ami_event,
    ari_event,
    channel_block,
    channel_sources,
    escape_c,
)
from frontdesk.emulator.model import (
    Application,
    Bridge,
    Channel,
    JsonDict,
    LiveRecording,
    Party,
    Phone,
    Playback,
    StoredRecording,
    cause_text,
)
from frontdesk.emulator.rtp_events import Rfc4733Stream
from frontdesk.emulator.sounds import Sounds


class Sink(Protocol):
    """Where events go: the servers (or a list, in unit tests)."""

    def ari(self, application: str, event: JsonDict) -> None: ...

    def ami(self, event: AmiEvent) -> None: ...

    def app_active(self, application: str) -> bool: ...


@dataclass
class PbxConfig:
    app: str = "frontdesk"
    system_name: str = "pbx"
    asterisk_id: str = "02:fc:00:00:00:01"
    staff: Sequence[str] = ("2001", "2002")
    registered: Sequence[str] | None = None  # None: every staff phone starts registered
    media_seconds: float = 0.05
    media_durations: dict[str, float] = field(default_factory=dict)
    answer_after: float | None = 1.5
    time_scale: float = 1.0  # multiplies seconds given in ARI requests and dialplan Waits
    dtmf_duration_ms: int = 280
    cdr_after_hangup: float = 0.0  # probability that AMI Cdr follows Hangup (2 of 20 did)
    seed: int | None = None
    dialplan: Contexts | None = None
    trunk_context: str = "from-pstn"
    staff_context: str = "staff"
    sounds: Sounds = field(default_factory=Sounds)  # default: every sound file exists
    # The PBX's own clock zone (Asterisk reads /etc/localtime; a container's is UTC), not
    # the practice's: Cdr times, CoreStatus and ARI's ping/info are written in it.
    timezone: str = "UTC"


class Pbx:
    def __init__(self, config: PbxConfig, sink: Sink) -> None:
        self.config = config
        self.sink = sink
        self.ids = Ids(config.system_name)
        self.random = random.Random(config.seed)
        self.dialplan = DialplanTable(config.dialplan or default_dialplan(config.app))
        self.channels: dict[str, Channel] = {}
        self.history: dict[str, Channel] = {}
        self.bridges: dict[str, Bridge] = {}
        self.playbacks: dict[str, Playback] = {}
        self.playback_queues: dict[str, list[str]] = {}
        self.live: dict[str, LiveRecording] = {}
        self.stored: dict[str, StoredRecording] = {}
        self.rtp_events: dict[str, Rfc4733Stream] = {}  # per channel: keys sent as RTP
        self.apps: dict[str, Application] = {}
        self.globals: dict[str, str] = {}
        self.phones = self._phones(config)
        self.device_states: dict[str, str] = {
            p.name: ("NOT_INUSE" if p.reachable else "UNAVAILABLE") for p in self.phones.values()
        }
        self.shutting_down = False
        self.zone = ZoneInfo(config.timezone)
        self.started = now()
        self.on_idle: Callable[[], None] | None = None

    @staticmethod
    def _phones(config: PbxConfig) -> dict[str, Phone]:
        registered = set(config.staff if config.registered is None else config.registered)
        phones = {
            "trunk": Phone(
                "trunk",
                config.trunk_context,
                Party(),
                True,
                "sip:127.0.0.1:5070",
                answer_after=config.answer_after,
                static_contact=True,
            )
        }
        for index, ext in enumerate(config.staff):
            phones[ext] = Phone(
                ext,
                config.staff_context,
                Party(f"Agent {ext}", ext),
                ext in registered,
                f"sip:{ext}@127.0.0.1:{5081 + index}",
                answer_after=config.answer_after,
            )
        return phones

    # -- scheduling -------------------------------------------------------------------
    def later(
        self, ch: Channel | None, delay: float, fn: Callable[..., None], *args: Any
    ) -> asyncio.TimerHandle:
        handle = asyncio.get_running_loop().call_later(max(delay, 0.0), fn, *args)
        if ch is not None:
            ch.timers.append(handle)
        return handle

    def scaled(self, seconds: float) -> float:
        return seconds * self.config.time_scale

    def media_seconds(self, uri: str) -> float:
        return self.config.media_durations.get(uri, self.config.media_seconds)

    # -- emitting ---------------------------------------------------------------------
    def emit(self, event: AriEvent) -> None:
        for app in list(self.apps.values()):
            if not app.allows(event.type):
                continue
            for _ in range(event.copies_for(app)):
                self.sink.ari(app.name, event.render(app.name, self.config.asterisk_id))

    def emit_channel(
        self,
        ch: Channel,
        kind: str,
        body: Iterable[tuple[str, Any]] = (),
        *,
        head: Iterable[tuple[str, Any]] = (),
        stasis: bool = False,
    ) -> None:
        fields = [*body, ("channel", ch.json())]
        self.emit(ari_event(kind, fields, channel_sources(ch), head=head, stasis=stasis))

    def ami(self, name: str, privilege: str, fields: Iterable[tuple[str, str]]) -> None:
        self.sink.ami(ami_event(name, privilege, fields))

    def ami_channel(
        self, name: str, ch: Channel, extra: Iterable[tuple[str, str]] = (), privilege: str = "call"
    ) -> None:
        self.ami(name, privilege, [*channel_block(ch), *extra])

    # -- lookups ----------------------------------------------------------------------
    def channel(self, channel_id: str) -> Channel:
        ch = self.channels.get(channel_id)
        if ch is None:
            raise AriError(404, "Channel not found")
        return ch

    def control(self, channel_id: str) -> Channel:
        """A channel the app controls: 404 unknown, 409 not in Stasis (`find_control`)."""
        ch = self.channel(channel_id)
        if ch.stasis_app is None or ch.hangup_requested:
            raise AriError(409, "Channel not in Stasis application")
        return ch

    def bridge(self, bridge_id: str) -> Bridge:
        found = self.bridges.get(bridge_id)
        if found is None:
            raise AriError(404, "Bridge not found")
        return found

    def app(self, name: str) -> Application:
        found = self.apps.get(name)
        if found is None:
            raise AriError(404, "Application not found")
        return found

    def register_app(self, name: str, subscribe_all: bool = False) -> Application:
        app = self.apps.setdefault(name, Application(name))
        app.subscribe_all = app.subscribe_all or subscribe_all
        return app

    def endpoint_channel_ids(self, endpoint: str) -> list[str]:
        return [c.id for c in self.channels.values() if c.endpoint == endpoint]

    # -- channel life -----------------------------------------------------------------
    def add_channel(self, ch: Channel) -> None:
        self.channels[ch.id] = ch
        self.history[ch.id] = ch
        self.ami_channel("Newchannel", ch)
        self.endpoint_changed(ch.endpoint)
        self.emit_channel(ch, "ChannelCreated")

    def endpoint_changed(self, endpoint: str) -> None:
        phone = self.phones.get(endpoint.removeprefix("PJSIP/"))
        if phone is None or not endpoint.startswith("PJSIP/"):
            return
        body = [("endpoint", phone.json(self.endpoint_channel_ids(endpoint)))]
        self.emit(ari_event("EndpointStateChange", body, [f"endpoint:{endpoint}"]))

    def set_state(self, ch: Channel, state: str) -> None:
        if ch.state == state:
            return
        ch.state = state
        if state == "Up" and ch.answered_at is None:
            ch.answered_at = now()
        self.ami_channel("Newstate", ch)
        self.emit_channel(ch, "ChannelStateChange")
        self.update_device(ch.endpoint)

    def set_var(self, ch: Channel, name: str, value: str) -> None:
        ch.variables[name] = value
        self.ami_channel("VarSet", ch, [("Variable", name), ("Value", escape_c(value))], "dialplan")
        self.emit_channel(ch, "ChannelVarset", head=[("variable", name), ("value", value)])

    def unset_var(self, ch: Channel, name: str) -> None:
        """`Set(NAME=)` with no value: the variable is deleted; only one that existed is
        reported (with an empty value), as `pbx_builtin_setvar_helper` does."""
        if ch.variables.pop(name, None) is None:
            return
        self.ami_channel("VarSet", ch, [("Variable", name), ("Value", "")], "dialplan")
        self.emit_channel(ch, "ChannelVarset", head=[("variable", name), ("value", "")])

    def set_caller(self, ch: Channel, caller: Party) -> None:
        ch.caller = caller
        pres = [("CID-CallingPres", "0 (Presentation Allowed, Not Screened)")]
        self.ami_channel("NewCallerid", ch, pres)
        body = [
            ("caller_presentation", 0),
            ("caller_presentation_txt", "Presentation Allowed, Not Screened"),
        ]
        self.emit_channel(ch, "ChannelCallerId", body)

    def set_connected(self, ch: Channel, connected: Party) -> None:
        if ch.connected == connected:
            return
        ch.connected = Party(connected.name, connected.number)
        self.ami_channel("NewConnectedLine", ch)
        self.emit_channel(ch, "ChannelConnectedLine")

    def set_dialplan_app(self, ch: Channel, app: str, data: str) -> None:
        """A dialplan step starts: AMI Newexten, ARI ChannelDialplan (topic)."""
        ch.dialplan.app_name, ch.dialplan.app_data = app, data
        ch.last_app, ch.last_data = app, data
        extra = [("Extension", ch.dialplan.exten), ("Application", app), ("AppData", data)]
        self.ami_channel("Newexten", ch, extra, "dialplan")
        self.emit_channel(
            ch, "ChannelDialplan", [("dialplan_app", app), ("dialplan_app_data", data)]
        )

    def answer(self, ch: Channel) -> None:
        self.set_state(ch, "Up")

    def update_device(self, endpoint: str) -> None:
        resource = endpoint.removeprefix("PJSIP/")
        phone = self.phones.get(resource)
        if phone is None or not endpoint.startswith("PJSIP/"):
            return
        states = {c.state for c in self.channels.values() if c.endpoint == endpoint}
        if not phone.reachable:
            state = "UNAVAILABLE"
        elif "Up" in states:
            state = "INUSE"
        elif "Ringing" in states:
            state = "RINGING"
        else:
            state = "NOT_INUSE"
        if self.device_states.get(endpoint) != state:
            self.device_states[endpoint] = state
            self.ami("DeviceStateChange", "call", [("Device", endpoint), ("State", state)])

    # -- Stasis -----------------------------------------------------------------------
    def enter_stasis(
        self, ch: Channel, app: str, args: list[str], replace: Channel | None = None
    ) -> None:
        """StasisStart; `replace`: the channel `ch` takes the place of in a Stasis bridge
        (a blind transfer's Local channel), sent as `replace_channel`."""
        ch.stasis_app, ch.stasis_args = app, args
        application = self.register_app(app)
        if ch.id not in application.channel_ids:
            application.channel_ids.append(ch.id)
        fields: list[tuple[str, Any]] = [("args", list(args)), ("channel", ch.json())]
        if replace is not None:
            fields.append(("replace_channel", replace.json()))
        self.emit(ari_event("StasisStart", fields, channel_sources(ch), stasis=True))

    def leave_stasis(self, ch: Channel) -> None:
        app = ch.stasis_app
        if app is None:
            return
        media.cancel_queued(self, ch)
        event = ari_event("StasisEnd", [("channel", ch.json())], channel_sources(ch), stasis=True)
        self.emit(event)
        ch.stasis_app = None
        if ch.owner_app != app:
            self.unsubscribe_channel(app, ch.id)
        if ch.originated and ch.dialplan.app_name == "Stasis":
            ch.dialplan.app_name, ch.dialplan.app_data = "AppDial2", "(Outgoing Line)"

    def unsubscribe_channel(self, app: str, channel_id: str) -> None:
        application = self.apps.get(app)
        if application is not None and channel_id in application.channel_ids:
            application.channel_ids.remove(channel_id)

    def stasis_failed(self, ch: Channel) -> None:
        self.set_var(ch, "STASISSTATUS", "FAILED")

    # -- hangup -----------------------------------------------------------------------
    def hangup(
        self,
        ch: Channel,
        *,
        cause: int,
        request: Sequence[tuple[str, Any]] | None = None,
        soft: bool = False,
        tech_cause: int | None = None,
        dial_status: str | None = None,
    ) -> None:
        """Tear a channel down with the event sequence of the recorded flows.

        `request`: ChannelHangupRequest fields (None: no request event, e.g. `Hangup()` in
        the dialplan or an unanswered originate timing out); `soft`: requested through ARI
        (AMI SoftHangupRequest Cause 32 instead of HangupRequest).
        """
        if ch.hangup_requested or ch.destroyed:
            return
        ch.hangup_requested = True
        ch.cancel_timers()
        if ch.answered_at is not None and ch.tech == "PJSIP":
            self._rtp_qos(ch)
        if request is not None:
            self._hangup_request(ch, request, soft)
        if dial_status is not None:
            self.dial_event(ch, dial_status)
        media.channel_gone(self, ch)
        if ch.bridge_id is not None:
            bridging.leave(self, ch, explicit=False)
        if ch.stasis_app is not None:
            self.leave_stasis(ch)
            self.set_var(ch, "STASISSTATUS", "SUCCESS")
            self.ami_channel("SoftHangupRequest", ch, [("Cause", "16")])
        self.destroy(ch, cause, tech_cause)

    def _hangup_request(self, ch: Channel, fields: Sequence[tuple[str, Any]], soft: bool) -> None:
        if soft:
            self.ami_channel("SoftHangupRequest", ch, [("Cause", "32")])
        else:
            names = {"cause": "Cause", "tech_cause": "TechCause"}
            extra = [(names[k], str(v)) for k, v in fields if k in names]
            self.ami_channel("HangupRequest", ch, extra)
        self.emit_channel(ch, "ChannelHangupRequest", head=fields)

    def dial_event(self, peer: Channel, status: str) -> None:
        """ARI `Dial` about an originated channel (no caller: nobody dialled it in)."""
        body = [
            ("dialstatus", status),
            ("forward", ""),
            ("dialstring", peer.dialstring),
            ("peer", peer.json()),
        ]
        self.emit(ari_event("Dial", body, channel_sources(peer)))
        dest = channel_block(peer, "Dest")
        if status == "":
            self.ami("DialBegin", "call", [*dest, ("DialString", peer.dialstring)])
        elif status == "RINGING":
            self.ami("DialState", "call", [*dest, ("DialStatus", status)])
        else:
            self.ami("DialEnd", "call", [*dest, ("DialStatus", status)])

    def _rtp_qos(self, ch: Channel) -> None:
        peer = bridging.peer_of(self, ch)
        for name, value in records.rtp_qos_values(self.random):
            self.set_var(ch, name, value)
            if peer is not None:
                self.set_var(peer, name + "BRIDGED", value)

    def destroy(self, ch: Channel, cause: int, tech_cause: int | None = None) -> None:
        ch.hangup_cause = cause
        ch.cancel_timers()
        cdr_later = self.random.random() < self.config.cdr_after_hangup
        if not cdr_later:
            self.ami("Cdr", "cdr", records.cdr_fields(ch, now(), self.zone))
        extra = [("Cause", str(cause)), ("Cause-txt", cause_text(cause))]
        if tech_cause is not None:
            extra.append(("TechCause", str(tech_cause)))
        self.ami_channel("Hangup", ch, extra)
        if cdr_later:
            self.ami("Cdr", "cdr", records.cdr_fields(ch, now(), self.zone))
        body: list[tuple[str, Any]] = [("cause", cause), ("cause_txt", cause_text(cause))]
        if tech_cause is not None:
            body.append(("tech_cause", tech_cause))
        self.emit_channel(ch, "ChannelDestroyed", body)
        ch.destroyed = True
        self.channels.pop(ch.id, None)
        for app in self.apps.values():
            if ch.id in app.channel_ids:
                app.channel_ids.remove(ch.id)
        self.update_device(ch.endpoint)
        self.endpoint_changed(ch.endpoint)
        hook, ch.on_destroyed = ch.on_destroyed, None
        if hook is not None:  # the other half of a Local pair, a Dial's callee
            hook(ch)
        if not self.channels and self.on_idle is not None:
            self.on_idle()
