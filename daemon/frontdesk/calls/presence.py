"""Which staff phones are registered: AMI ContactStatus events, ARI endpoint states. No I/O.

The ACD starts out assuming every phone reachable (a restart must not leave callers
without agents), and Asterisk replays nothing after an AMI (re)connect. So:

- `on_event` answers every staff `ContactStatus` with the phone's state, changed or not:
  an "unreachable"/"removed" about a phone never seen registered must still reach the ACD.
- `on_endpoints` reads the answer to ARI `GET /endpoints/PJSIP` (`ENDPOINTS_PATH`), asked at
  each AMI (re)connect: an endpoint is `online` while it has a reachable contact (with
  qualify off, any registered contact: flow b), `offline` without one. `unknown` says
  nothing, so it leaves the phone's state as it was.

Why ARI and not AMI for that snapshot: AMI's `PJSIPShowContacts` needs `write = system`
(res_pjsip registers it with EVENT_FLAG_SYSTEM), which also grants Reload, ModuleLoad,
GetConfig, Hangup and the Filter action; `DeviceStateList` needs `write = call` (Hangup,
Redirect, Setvar) or `reporting` (Status, Getvar: channel variables hold caller data).
frontdesk's ARI user already answers, bridges and originates; reading endpoint states
asks for no new right (asterisk-conf/README.md).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, ClassVar

from frontdesk.asterisk.ami_codec import Event

_UP = frozenset({"Created", "Reachable", "NonQualified", "Updated"})
_DOWN = frozenset({"Removed", "Unreachable"})
_ENDPOINT_STATES = {"online": True, "offline": False}  # "unknown" tells nothing


@dataclass
class PhonePresence:
    staff: Collection[str]
    registered: set[str] = field(default_factory=set)
    ENDPOINTS_PATH: ClassVar[str] = "/endpoints/PJSIP"  # the ARI listing `on_endpoints` reads

    def on_event(self, event: Event) -> tuple[str, bool] | None:
        """Apply one AMI event; (extension, registered) for a staff phone's ContactStatus."""
        if event.name != "ContactStatus":
            return None
        extension = event.get("AOR") or ""
        status = event.get("ContactStatus") or ""
        if extension not in self.staff or status not in _UP | _DOWN:
            return None
        if status in _UP:
            self.registered.add(extension)
        else:
            self.registered.discard(extension)
        return extension, status in _UP

    def on_endpoints(self, endpoints: Any) -> dict[str, bool] | None:
        """The ARI endpoint list -> the state of every staff phone (None: not a list).

        A staff phone missing from the list has no endpoint in pjsip.conf (the plan is newer
        than Asterisk's configuration): it cannot be rung either. One in state `unknown`
        is left out of the answer and keeps its state."""
        if not isinstance(endpoints, list):
            return None
        listed: dict[str, bool | None] = {}
        for endpoint in endpoints:
            if isinstance(endpoint, dict) and isinstance(endpoint.get("resource"), str):
                listed[endpoint["resource"]] = _ENDPOINT_STATES.get(str(endpoint.get("state")))
        states: dict[str, bool] = {}
        for extension in sorted(self.staff):
            online = listed.get(extension, False)
            if online is None:
                continue
            states[extension] = online
            if online:
                self.registered.add(extension)
            else:
                self.registered.discard(extension)
        return states
