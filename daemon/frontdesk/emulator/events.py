"""ARI and AMI events as values: built by the PBX, rendered by the servers.

ARI: an event has the key order of the recorded frames (some types put fields *before*
`type`, e.g. `ChannelVarset`'s `variable`/`value`), and the event sources it concerns
(`channel:<id>`, `bridge:<id>`, `endpoint:PJSIP/2001`). A "topic" event reaches an app once
per matching subscription (so an app subscribed to a channel and to its endpoint gets it
twice, as recorded in flow b); a "stasis" event (StasisStart, bridge and playback events)
reaches it once.

AMI: `Event:` name, privilege class and fields in wire order; values of caller-id fields
and `VarSet` values are C-escaped like `ast_escape_c` (`"` becomes `\\"`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from frontdesk.emulator.clock import ari_time, now
from frontdesk.emulator.model import STATE_CODES, Application, Channel, JsonDict

Fields = tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class AriEvent:
    type: str
    body: Fields
    sources: tuple[str, ...]
    stasis: bool = False  # delivered once per app, not once per subscription
    head: Fields = ()
    timestamp: str = ""
    only_app: str | None = None  # StasisStart/End go to the app the channel is in

    def render(self, application: str, asterisk_id: str) -> JsonDict:
        out: JsonDict = dict(self.head)
        out["type"] = self.type
        out["timestamp"] = self.timestamp
        out.update(self.body)
        out["asterisk_id"] = asterisk_id
        out["application"] = application
        return out

    def copies_for(self, app: Application) -> int:
        if self.only_app is not None:
            return 1 if app.name == self.only_app else 0
        if app.subscribe_all:
            return 1
        hits = sum(1 for source in self.sources if app.subscribed(source))
        return min(hits, 1) if self.stasis else hits


def ari_event(
    kind: str,
    body: Iterable[tuple[str, Any]],
    sources: Iterable[str],
    *,
    stasis: bool = False,
    head: Iterable[tuple[str, Any]] = (),
    only_app: str | None = None,
) -> AriEvent:
    return AriEvent(
        kind, tuple(body), tuple(sources), stasis, tuple(head), ari_time(now()), only_app
    )


def channel_sources(ch: Channel) -> tuple[str, str]:
    return (f"channel:{ch.id}", f"endpoint:{ch.endpoint}")


def application_replaced(application: str, asterisk_id: str) -> JsonDict:
    """The one event whose `application` comes before `asterisk_id` (flow i)."""
    return {
        "type": "ApplicationReplaced",
        "timestamp": ari_time(now()),
        "application": application,
        "asterisk_id": asterisk_id,
    }


# -- AMI ---------------------------------------------------------------------------------

_C_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "?": "\\?",
}


def escape_c(text: str) -> str:
    """Asterisk's `ast_escape_c`, applied to caller ids and variable values on AMI."""
    return "".join(_C_ESCAPES.get(ch, ch) for ch in text)


def line_safe(text: str) -> str:
    """Fields Asterisk writes verbatim (AppData, CDR CallerID) must still not break lines."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


@dataclass(frozen=True)
class AmiEvent:
    name: str
    privilege: str  # call, dialplan, dtmf, cdr, system, security, user
    fields: tuple[tuple[str, str], ...]
    system_name: bool = True  # FullyBooted & list events carry no SystemName

    def encode(self, system_name: str, action_id: str | None = None) -> bytes:
        lines = [f"Event: {self.name}"]
        if action_id is not None:
            lines.append(f"ActionID: {action_id}")
        if self.privilege:
            lines.append(f"Privilege: {self.privilege},all")
        if self.system_name:
            lines.append(f"SystemName: {system_name}")
        lines += [f"{key}: {line_safe(value)}" for key, value in self.fields]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()


def ami_event(
    name: str, privilege: str, fields: Iterable[tuple[str, str]], *, system_name: bool = True
) -> AmiEvent:
    return AmiEvent(name, privilege, tuple(fields), system_name)


def _or_unknown(text: str) -> str:
    return escape_c(text) if text else "<unknown>"


def channel_block(ch: Channel, prefix: str = "") -> list[tuple[str, str]]:
    """The channel fields every channel event carries (`Dest` prefix for DialBegin etc.)."""
    return [
        (f"{prefix}Channel", ch.name),
        (f"{prefix}ChannelState", str(STATE_CODES.get(ch.state, 0))),
        (f"{prefix}ChannelStateDesc", ch.state),
        (f"{prefix}CallerIDNum", _or_unknown(ch.caller.number)),
        (f"{prefix}CallerIDName", _or_unknown(ch.caller.name)),
        (f"{prefix}ConnectedLineNum", _or_unknown(ch.connected.number)),
        (f"{prefix}ConnectedLineName", _or_unknown(ch.connected.name)),
        (f"{prefix}Language", ch.language),
        (f"{prefix}AccountCode", ch.accountcode),
        (f"{prefix}Context", ch.dialplan.context),
        (f"{prefix}Exten", ch.dialplan.exten),
        (f"{prefix}Priority", str(ch.dialplan.priority)),
        (f"{prefix}Uniqueid", ch.id),
        (f"{prefix}Linkedid", ch.linkedid),
    ]
