"""Stasis bridges: holding (with music on hold) and mixing, as flows b/b2/e/h/i show them.

App subscriptions to a bridge are counted like Asterisk's: each `addChannel` of one of the
app's channels adds one, each explicit `removeChannel` drops one; a channel that leaves
because it hangs up keeps the count, so the app still gets `BridgeDestroyed` later (flow e)
but not after a `removeChannel` (flow b2's holding bridge).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from frontdesk.emulator.clock import now
from frontdesk.emulator.errors import AriError
from frontdesk.emulator.events import ari_event, channel_block
from frontdesk.emulator.model import BRIDGE_TECHNOLOGY, Bridge, Channel

if TYPE_CHECKING:
    from frontdesk.emulator.pbx import Pbx

BRIDGE_FLAGS = frozenset(
    {"mixing", "holding", "dtmf_events", "proxy_media", "video_sfu", "video_single", "sdp_label"}
)


def create(pbx: Pbx, type_text: str | None, bridge_id: str | None, name: str | None) -> Bridge:
    flags = [f.strip() for f in (type_text or "mixing").split(",") if f.strip()]
    if bridge_id and bridge_id in pbx.bridges:
        raise AriError(409, f"Bridge with id '{bridge_id}' already exists")
    if not flags or any(f not in BRIDGE_FLAGS for f in flags):
        raise AriError(
            500, f"Unable to create bridge. Possible duplicate bridge id '{bridge_id or '(null)'}'"
        )
    kind = "holding" if "holding" in flags else "mixing"
    bridge = Bridge(
        bridge_id or str(uuid.uuid4()), kind, name or "", now(), BRIDGE_TECHNOLOGY[kind]
    )
    pbx.bridges[bridge.id] = bridge
    pbx.ami("BridgeCreate", "call", _bridge_block(bridge))
    return bridge


def destroy(pbx: Pbx, bridge: Bridge) -> None:
    for channel_id in list(bridge.channels):
        ch = pbx.channels.get(channel_id)
        if ch is not None:
            leave(pbx, ch, explicit=False)
    bridge.moh_class = None
    pbx.bridges.pop(bridge.id, None)
    pbx.ami("BridgeDestroy", "call", _bridge_block(bridge))
    body = [("bridge", bridge.json())]
    pbx.emit(ari_event("BridgeDestroyed", body, [f"bridge:{bridge.id}"], stasis=True))
    for app in pbx.apps.values():
        app.bridge_refs.pop(bridge.id, None)


def add(pbx: Pbx, bridge: Bridge, channels: list[Channel]) -> None:
    for ch in channels:
        if ch.bridge_id == bridge.id:
            continue
        if ch.bridge_id is not None:
            leave(pbx, ch, explicit=True)
        _enter(pbx, bridge, ch)
    if bridge.bridge_type == "mixing" and len(bridge.channels) == 2:
        _link_pair(pbx, bridge)


def remove(pbx: Pbx, bridge: Bridge, channels: list[Channel]) -> None:
    for ch in channels:
        if ch.bridge_id != bridge.id:
            raise AriError(422, "Channel not in this bridge")
    for ch in channels:
        leave(pbx, ch, explicit=True)


def _enter(pbx: Pbx, bridge: Bridge, ch: Channel) -> None:
    bridge.channels.append(ch.id)
    ch.bridge_id = bridge.id
    if ch.stasis_app is not None:
        app = pbx.register_app(ch.stasis_app)
        app.bridge_refs[bridge.id] = app.bridge_refs.get(bridge.id, 0) + 1
    pbx.ami("BridgeEnter", "call", [*_bridge_block(bridge), *channel_block(ch)])
    body = [("bridge", bridge.json()), ("channel", ch.json())]
    sources = [f"channel:{ch.id}", f"bridge:{bridge.id}"]
    pbx.emit(ari_event("ChannelEnteredBridge", body, sources, stasis=True))


def leave(pbx: Pbx, ch: Channel, *, explicit: bool) -> None:
    bridge = pbx.bridges.get(ch.bridge_id or "")
    ch.bridge_id = None
    if bridge is None:
        return
    if ch.variables.get("BRIDGEPEER"):
        pbx.set_var(ch, "BRIDGEPEER", "")
        if "BRIDGEPVTCALLID" in ch.variables:  # not when its peer had none (a Local channel)
            pbx.set_var(ch, "BRIDGEPVTCALLID", "")
    bridge.channels.remove(ch.id)
    pbx.ami("BridgeLeave", "call", [*_bridge_block(bridge), *channel_block(ch)])
    body = [("bridge", bridge.json()), ("channel", ch.json())]
    sources = [f"channel:{ch.id}", f"bridge:{bridge.id}"]
    pbx.emit(ari_event("ChannelLeftBridge", body, sources, stasis=True))
    if len(bridge.channels) < 2:
        bridge.technology = BRIDGE_TECHNOLOGY[bridge.bridge_type]
    if explicit and ch.stasis_app is not None:
        _unref(pbx, ch.stasis_app, bridge.id)


def swap(pbx: Pbx, bridge: Bridge, out: Channel, into: Channel) -> None:
    """`into` takes `out`'s place (a blind transfer): `out` leaves, `into` enters; the
    bridge keeps its technology in both events (recorded: still `native_rtp`)."""
    technology = bridge.technology
    leave(pbx, out, explicit=False)
    bridge.technology = technology
    _enter(pbx, bridge, into)


def set_peer_vars(pbx: Pbx, ch: Channel, peer: Channel) -> None:
    """`BRIDGEPEER`, and `BRIDGEPVTCALLID` if the peer has a SIP call id (else it is
    unset: a Local peer has none)."""
    pbx.set_var(ch, "BRIDGEPEER", peer.name)
    if peer.protocol_id:
        pbx.set_var(ch, "BRIDGEPVTCALLID", peer.protocol_id)
    else:
        pbx.unset_var(ch, "BRIDGEPVTCALLID")


def _unref(pbx: Pbx, app_name: str, bridge_id: str) -> None:
    app = pbx.apps.get(app_name)
    if app is None or bridge_id not in app.bridge_refs:
        return
    app.bridge_refs[bridge_id] -= 1
    if app.bridge_refs[bridge_id] <= 0:
        del app.bridge_refs[bridge_id]


def _link_pair(pbx: Pbx, bridge: Bridge) -> None:
    """Two channels now talk: BRIDGEPEER/BRIDGEPVTCALLID set three times, connected lines."""
    first, second = (pbx.channels[c] for c in bridge.channels)
    if first.tech == second.tech == "PJSIP":
        bridge.technology = "native_rtp"
    first.peer_name = second.name
    for round_ in range(3):
        for ch, peer in ((second, first), (first, second)):
            pbx.set_var(ch, "BRIDGEPEER", peer.name)
            pbx.set_var(ch, "BRIDGEPVTCALLID", peer.protocol_id)
        if round_ == 1:  # as in flow b2; the connected-line updates race the third round
            pbx.set_connected(first, second.caller)
    pbx.set_connected(second, first.caller)


def peer_of(pbx: Pbx, ch: Channel) -> Channel | None:
    """The other channel of a two-party mixing bridge (it gets the `*BRIDGED` QoS vars)."""
    bridge = pbx.bridges.get(ch.bridge_id or "")
    if bridge is None or bridge.bridge_type != "mixing" or len(bridge.channels) != 2:
        return None
    other = next(c for c in bridge.channels if c != ch.id)
    return pbx.channels.get(other)


def start_moh(pbx: Pbx, bridge: Bridge, moh_class: str | None) -> None:
    if not bridge.moh_ids_used:
        pbx.ids.skip_unique(2)  # the Announcer/ARI_MOH;1 and ;2 channels
        bridge.moh_ids_used = True
    bridge.moh_class = moh_class or "default"


def stop_moh(bridge: Bridge) -> None:
    if bridge.moh_class is None:
        raise AriError(409, "Bridge isn't playing music on hold")
    bridge.moh_class = None


def _bridge_block(bridge: Bridge) -> list[tuple[str, str]]:
    return [
        ("BridgeUniqueid", bridge.id),
        ("BridgeType", "stasis"),
        ("BridgeTechnology", bridge.technology),
        ("BridgeCreator", "Stasis"),
        ("BridgeName", bridge.name),
        ("BridgeNumChannels", str(len(bridge.channels))),
        ("BridgeVideoSourceMode", "talker"),
    ]
