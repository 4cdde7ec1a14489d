"""After the events socket (re)connects: make our calls match what Asterisk has.

Asterisk replays nothing: a caller who hung up in the gap never gets a `StasisEnd`, and
a call that arrived in the gap never reached us. So each owner hears which of its
channels are gone (`lost`), and each channel in the app that nobody owns is re-adopted
by what it carries: `FRONTDESK_STATE` (a queued caller: back in their original order,
with their original wait, the restored callbacks at their places among them),
`FRONTDESK_HANDOFF` (in voicemail or a transfer: left be), or nothing (the menu again).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog

from frontdesk.asterisk.ari import AriError
from frontdesk.calls.destinations import HANDOFF_VARIABLE
from frontdesk.calls.parts import CallParts
from frontdesk.calls.queue_state import STATE_VARIABLE, decode_state, queue_order, talking_with
from frontdesk.calls.session import facts_from_channel
from frontdesk.calls.stasis import is_our_leg
from frontdesk.phone import normalize_number
from frontdesk.store.records import PendingCallback

log = structlog.get_logger("frontdesk.calls")
Order = tuple[int, datetime]


class Resync:
    def __init__(self, parts: CallParts) -> None:
        self.ari = parts.ari
        self.channels = parts.channels
        self.executor = parts.executor
        self.menu, self.acd, self.destinations = parts.menu, parts.acd, parts.destinations
        self.count = 0

    async def run(self) -> None:
        try:
            present = await self.in_app()
        except AriError as exc:
            log.warning("calls.resync_failed", error=str(exc))
            self.count += 1
            return
        self.executor.reconnected()
        for channel in self.channels.channels():
            owner = self.channels.owner(channel)
            if channel not in present and owner is not None:
                owner.lost(channel)
        waiting: list[tuple[Order, str, str]] = []
        for channel in sorted(present - set(self.channels.channels())):
            found = await self._readopt(channel)
            if found is not None:
                waiting.append(found)
        self._rejoin_in_order(waiting)
        await self.menu.check_playbacks()
        self.count += 1
        log.info("calls.resynced", in_app=len(present), resyncs=self.count)

    async def in_app(self) -> set[str]:
        return set((await self.ari.application()).get("channel_ids", []))

    async def _readopt(self, channel_id: str) -> tuple[Order, str, str] | None:
        """Re-adopt a call we lost track of; a queued caller is returned for
        `_rejoin_in_order`."""
        try:
            channel = await self.ari.get_channel(channel_id)
        except AriError:
            return None
        if channel.get("dialplan", {}).get("app_name") != "Stasis" or is_our_leg(channel):
            return None
        if self.acd is not None:
            state = await self._variable(channel_id, STATE_VARIABLE)
            joined = decode_state(channel_id, state) if state else None
            if joined is not None:
                return queue_order(joined.priority, joined.enqueued_at), channel_id, state
        if await self._readopt_handoff(channel_id, channel):
            return None
        self.menu.adopt(channel, answered=channel.get("state") == "Up")
        return None

    async def _readopt_handoff(self, channel_id: str, channel: dict[str, Any]) -> bool:
        """A caller in a transfer or leaving a message when we lost track: theirs again."""
        if self.destinations is None:
            return False
        marker = await self._variable(channel_id, HANDOFF_VARIABLE)
        region = self.menu.plan.practice.phone_region
        caller = normalize_number(facts_from_channel(channel)[0], region)
        return bool(marker) and await self.destinations.readopt(
            self.ari, channel_id, marker, caller
        )

    async def _variable(self, channel: str, name: str) -> str:
        try:
            return await self.ari.get_variable(channel, name)
        except AriError:
            return ""  # no such variable: Asterisk answers 404/500

    def _rejoin_in_order(self, waiting: list[tuple[Order, str, str]]) -> None:
        """Queued callers come back in their original order, with their original wait,
        and the callbacks restored from the database at their places among them (each is
        offered as soon as it is fed: feeding out of order would hand out agents so)."""
        if self.acd is None:
            return
        restored = self.acd.callbacks.take_held()
        # A restored callback first: a caller still on the line for it is hung up.
        rejoining: list[tuple[Order, PendingCallback | tuple[str, str]]]
        rejoining = [(queue_order(c.priority, c.enqueued_at), c) for c in restored]
        rejoining += [(order, (channel, state)) for order, channel, state in waiting]
        # Conversations first: their agents are busy before anyone waiting is offered.
        rejoining.sort(key=lambda entry: (not _is_conversation(entry[1]), entry[0]))
        for _, item in rejoining:
            if isinstance(item, PendingCallback):
                self.acd.restore_callback(item)
            elif self.acd.rejoin(*item):
                log.info("call.readopted_in_queue", channel=item[0])


def _is_conversation(item: PendingCallback | tuple[str, str]) -> bool:
    return isinstance(item, tuple) and talking_with(item[1]) is not None
