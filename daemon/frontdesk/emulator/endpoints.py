"""Staff phones (REGISTER, behaviour when rung) and app subscriptions to event sources."""

from __future__ import annotations

from typing import TYPE_CHECKING

from frontdesk.emulator.errors import AriError
from frontdesk.emulator.events import ari_event
from frontdesk.emulator.model import Application, Phone

if TYPE_CHECKING:
    from frontdesk.emulator.pbx import Pbx


def phone(pbx: Pbx, extension: str) -> Phone:
    found = pbx.phones.get(extension)
    if found is None:
        raise KeyError(extension)
    return found


def set_registered(pbx: Pbx, extension: str, registered: bool) -> None:
    """A REGISTER (or its removal): AMI PeerStatus, DeviceStateChange, ContactStatus."""
    target = phone(pbx, extension)
    if target.static_contact or target.registered == registered:
        return
    target.registered = registered
    peer = "Reachable" if registered else "Unreachable"
    contact = "NonQualified" if registered else "Removed"
    pbx.ami(
        "PeerStatus",
        "system",
        [("ChannelType", "PJSIP"), ("Peer", target.name), ("PeerStatus", peer)],
    )
    pbx.update_device(target.name)
    pbx.ami(
        "ContactStatus",
        "system",
        [
            ("URI", target.contact),
            ("ContactStatus", contact),
            ("AOR", target.resource),
            ("EndpointName", target.resource),
            ("RoundtripUsec", "0"),
        ],
    )
    _endpoint_events(pbx, target, peer, contact)


def _endpoint_events(pbx: Pbx, target: Phone, peer: str, contact: str) -> None:
    endpoint = target.json(pbx.endpoint_channel_ids(target.name))
    sources = [f"endpoint:{target.name}"]
    pbx.emit(ari_event("EndpointStateChange", [("endpoint", endpoint)], sources))
    pbx.emit(
        ari_event(
            "PeerStatusChange", [("endpoint", endpoint), ("peer", {"peer_status": peer})], sources
        )
    )
    info = {
        "uri": target.contact,
        "contact_status": contact,
        "aor": target.resource,
        "roundtrip_usec": "0",
    }
    pbx.emit(
        ari_event("ContactStatusChange", [("endpoint", endpoint), ("contact_info", info)], sources)
    )


def set_behaviour(
    pbx: Pbx, extension: str, answer_after: float | None = 1.5, reply: int | None = None
) -> None:
    """How the phone reacts when rung: answer after N s, or reply 486/603 after N s (1 s if
    `answer_after` is None), or (`answer_after=None`, no reply) ring until the timeout."""
    if reply not in (None, 486, 603):
        raise ValueError("reply must be None, 486 or 603")
    target = phone(pbx, extension)
    target.answer_after, target.reply = answer_after, reply


# -- subscriptions ---------------------------------------------------------------------
def subscribe(pbx: Pbx, app: Application, sources: list[str]) -> None:
    if not sources:
        raise AriError(400, "Missing parameter eventSource")
    parsed = [_parse_source(pbx, s) for s in sources]
    for kind, ident in parsed:
        if kind == "channel" and ident not in app.channel_ids:
            app.channel_ids.append(ident)
        elif kind == "bridge":
            app.bridge_refs[ident] = app.bridge_refs.get(ident, 0) + 1
        elif kind == "endpoint" and ident not in app.endpoint_ids:
            app.endpoint_ids.append(ident)


def unsubscribe(pbx: Pbx, app: Application, sources: list[str]) -> None:
    if not sources:
        raise AriError(400, "Missing parameter eventSource")
    parsed = [_parse_source(pbx, s) for s in sources]
    if not all(_is_subscribed(app, kind, ident) for kind, ident in parsed):
        raise AriError(409, "Application not subscribed to event source")
    for kind, ident in parsed:
        if kind == "channel":
            app.channel_ids.remove(ident)
        elif kind == "bridge":
            app.bridge_refs.pop(ident, None)
        else:
            app.endpoint_ids.remove(ident)


def _is_subscribed(app: Application, kind: str, ident: str) -> bool:
    if kind == "channel":
        return ident in app.channel_ids
    if kind == "bridge":
        return ident in app.bridge_refs
    return ident in app.endpoint_ids


def _parse_source(pbx: Pbx, source: str) -> tuple[str, str]:
    kind, sep, ident = source.partition(":")
    if not sep or kind not in ("channel", "bridge", "endpoint", "deviceState"):
        raise AriError(400, "Invalid event source URI scheme")
    if kind == "channel":
        exists = ident in pbx.channels
    elif kind == "bridge":
        exists = ident in pbx.bridges
    else:
        exists = kind == "endpoint" and _endpoint_exists(pbx, ident)
    if not exists:
        raise AriError(422, "Event source does not exist")
    return kind, ident


def _endpoint_exists(pbx: Pbx, ident: str) -> bool:
    tech, _, resource = ident.partition("/")
    if tech != "PJSIP":
        return False
    return not resource or resource in pbx.phones
