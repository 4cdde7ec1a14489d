"""Which staff phones are registered, from AMI `ContactStatus` events. No I/O.

Asterisk replays nothing after an AMI reconnect, so the set is only as fresh as the
connection: the daemon reports it per event and the ACD (next issue) will use it to
never offer a call to an unregistered phone.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from frontdesk.asterisk.ami_codec import Event

_UP = frozenset({"Created", "Reachable", "NonQualified", "Updated"})
_DOWN = frozenset({"Removed", "Unreachable"})


@dataclass
class PhonePresence:
    staff: Collection[str]
    registered: set[str] = field(default_factory=set)

    def on_event(self, event: Event) -> bool:
        """Apply one AMI event; True when the set of registered phones changed."""
        if event.name != "ContactStatus":
            return False
        extension = event.get("AOR") or ""
        status = event.get("ContactStatus") or ""
        if extension not in self.staff:
            return False
        before = extension in self.registered
        if status in _UP:
            self.registered.add(extension)
        elif status in _DOWN:
            self.registered.discard(extension)
        return before != (extension in self.registered)
