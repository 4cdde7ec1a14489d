"""The Stasis-args protocol, read in this one place.

Every channel that enters our app says why by its `Stasis()` arguments:
- none: a patient's call from the dialplan (`Stasis(frontdesk)`): the menu;
- `agent,<call>`, `callback-agent,<call>`, `callback-patient,<call>`: a leg the ACD
  originated for queued call `<call>` (calls/acd_runtime.py);
- `transfer,<call>`: the far end of an external transfer (calls/destinations.py);
- `handover,<call>`: a colleague or external number staff transferred a call to
  through frontdesk (calls/transfers.py);
- `return-agent,<call>`, `return-patient,<call>`: an agent returning a patient's call
  by hand, agent first (calls/return_calls.py);
- `feature,<action>`: a staff feature code, `*45` login, `*46` logout, `*47` pause
  (dialplan/extensions.conf);
- and a channel with `replace_channel`: Asterisk swapped it into one of our bridges in
  place of another (a phone's transfer button), never a new call.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Leg(StrEnum):
    AGENT = "agent"
    CALLBACK_AGENT = "callback-agent"
    CALLBACK_PATIENT = "callback-patient"
    TRANSFER = "transfer"
    HANDOVER = "handover"
    RETURN_AGENT = "return-agent"
    RETURN_PATIENT = "return-patient"


FEATURE = "feature"


@dataclass(frozen=True)
class Entered:
    """One StasisStart, read: exactly one of `call` (a new patient call), `leg`,
    `feature` or `replaced` says what it is; none of them: arguments we do not know."""

    channel_id: str
    channel: dict[str, Any]
    new_call: bool = False
    leg: Leg | None = None
    of_call: str | None = None  # the queued or handed-off call the leg belongs to
    feature: str | None = None  # login | logout | pause
    replaced: dict[str, Any] | None = None  # the channel it replaced in our bridge

    @property
    def caller_number(self) -> str:
        return str((self.channel.get("caller") or {}).get("number", ""))


def read_stasis_start(event: dict[str, Any]) -> Entered | None:
    """None for an event without a channel object (malformed)."""
    channel = event.get("channel")
    if not isinstance(channel, dict) or not isinstance(channel.get("id"), str):
        return None
    channel_id = str(channel["id"])
    replaced = event.get("replace_channel")
    if isinstance(replaced, dict):
        return Entered(channel_id, channel, replaced=replaced)
    args = [str(a) for a in event.get("args") or []]
    if not args:
        return Entered(channel_id, channel, new_call=True)
    if args[0] == FEATURE:
        return Entered(channel_id, channel, feature=args[1] if len(args) > 1 else "")
    if len(args) >= 2 and args[0] in Leg.__members__.values():
        return Entered(channel_id, channel, leg=Leg(args[0]), of_call=args[1])
    return Entered(channel_id, channel)


def leg_args(leg: Leg, call: str) -> str:
    """The `appArgs` of a leg we originate for `call`."""
    return f"{leg},{call}"


def is_our_leg(channel: dict[str, Any]) -> bool:
    """A channel we originated (agents, transfers): it carries Stasis arguments."""
    app_data = str((channel.get("dialplan") or {}).get("app_data", ""))
    return "," in app_data
