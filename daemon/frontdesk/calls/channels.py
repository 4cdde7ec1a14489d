"""Who owns each channel in the app: the one table the dispatcher routes events by.

A call belongs to one owner at a time: the menu (calls/menu.py) while the caller
chooses, then the ACD (calls/acd_runtime.py) or the destinations (voicemail, external
transfer: calls/destinations.py). An owner claims the channels it takes on (the
caller's, and the legs it dials) and hands the caller's on by releasing it.
"""

from __future__ import annotations

from typing import Any, Protocol

from frontdesk.asterisk.ari import AriError
from frontdesk.calls.commands import Command


class ChannelOwner(Protocol):
    def on_event(self, channel: str, event: dict[str, Any]) -> None:
        """An ARI event about one of its channels."""

    def on_timer(self, channel: str, timer: int) -> None:
        """A timer it armed (`ArmTimer`) for that channel fell due."""

    def request_failed(self, command: Command, exc: AriError) -> None:
        """A request it asked for failed (already logged by the executor)."""

    def lost(self, channel: str) -> None:
        """After a reconnect: Asterisk no longer has the channel (ended unseen)."""


class Channels:
    def __init__(self) -> None:
        self._owners: dict[str, ChannelOwner] = {}

    def claim(self, channel: str, owner: ChannelOwner) -> None:
        self._owners[channel] = owner

    def release(self, channel: str | None) -> None:
        if channel is not None:
            self._owners.pop(channel, None)

    def owner(self, channel: str) -> ChannelOwner | None:
        return self._owners.get(channel)

    def owned_by(self, owner: ChannelOwner) -> list[str]:
        return [c for c, o in self._owners.items() if o is owner]

    def __contains__(self, channel: object) -> bool:
        return channel in self._owners

    def __len__(self) -> int:
        return len(self._owners)

    def channels(self) -> list[str]:
        return list(self._owners)
