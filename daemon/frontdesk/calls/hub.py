"""The event hub: where what happens to calls and agents (calls/events.py) reaches the
recorder, the live board, the metrics and the screen pops.

Listeners run synchronously, in the order they were added, and never stop a call: one
that raises is logged and the others still hear the event.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from frontdesk.calls.events import HubEvent

log = structlog.get_logger("frontdesk.hub")
Listener = Callable[[HubEvent], None]


class EventHub:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def publish(self, event: HubEvent) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:  # a listener's bug must not stop a call
                log.exception("hub.listener_failed", kind=event.kind)
