"""Which staff phones are registered, from AMI. No I/O.

The ACD starts out assuming every phone reachable (a restart must not leave callers
without agents), and Asterisk replays nothing after an AMI (re)connect. So:

- `on_event` answers every staff `ContactStatus` with the phone's state, changed or not:
  an "unreachable"/"removed" about a phone never seen registered must still reach the ACD.
- `on_contacts` reads the answer to `PJSIPShowContacts`, sent at each AMI (re)connect:
  it lists the contacts that exist, so a staff phone without one is not registered.
  Asterisk answers "No Contacts found" (an error) when there are none: nobody is.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from frontdesk.asterisk.ami_codec import Event

if TYPE_CHECKING:
    from frontdesk.asterisk.ami import ListResult

NO_CONTACTS = "No Contacts found"
_UP = frozenset({"Created", "Reachable", "NonQualified", "Updated"})
_DOWN = frozenset({"Removed", "Unreachable"})
_LISTED_DOWN = frozenset({"Unreachable", "Removed"})  # a listed contact in any other state is up


@dataclass
class PhonePresence:
    staff: Collection[str]
    registered: set[str] = field(default_factory=set)
    ACTION: ClassVar[str] = "PJSIPShowContacts"  # the list action `on_contacts` reads

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

    def on_contacts(self, result: ListResult) -> dict[str, bool] | None:
        """The answer to `ACTION`: every staff phone's state, None if Asterisk refused."""
        if not result.response.ok:
            return self.snapshot(()) if result.response.message == NO_CONTACTS else None
        return self.snapshot(result.events)

    def snapshot(self, contacts: Iterable[Event]) -> dict[str, bool]:
        """Replace the set from `ContactList` events; every staff phone's state."""
        self.registered = {
            aor
            for contact in contacts
            if contact.name == "ContactList"
            and (contact.get("Status") or "") not in _LISTED_DOWN
            and (aor := _aor_of(contact)) in self.staff
        }
        return {ext: ext in self.registered for ext in sorted(self.staff)}


def _aor_of(contact: Event) -> str:
    """The AoR of a listed contact: its id is `<aor>;@<hash>` (`<aor>@@<hash>` if static)."""
    name = contact.get("ObjectName") or ""
    for separator in (";@", "@@"):
        if separator in name:
            return name.split(separator, 1)[0]
    return contact.get("Endpoint") or ""
