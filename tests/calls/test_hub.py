"""The event hub: every listener hears every fact, in order, whatever another one does."""

from __future__ import annotations

from frontdesk.calls.events import CallAbandoned, HubEvent, QueueJoined
from frontdesk.calls.hub import EventHub


def test_listeners_hear_each_fact_in_order_even_when_one_raises() -> None:
    hub = EventHub()
    first: list[HubEvent] = []
    second: list[HubEvent] = []

    def broken(event: HubEvent) -> None:
        raise RuntimeError("a listener's bug")

    hub.add_listener(first.append)
    hub.add_listener(broken)
    hub.add_listener(second.append)
    facts = [QueueJoined("c1", "billing"), CallAbandoned("c1")]
    for fact in facts:
        hub.publish(fact)
    assert first == facts
    assert second == facts
