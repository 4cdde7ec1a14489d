"""Small ordered containers: callers in queue order and the engine's timers. No I/O."""

from __future__ import annotations

import heapq
from bisect import bisect_left, insort
from collections.abc import Iterator
from datetime import datetime
from typing import Generic, Literal, TypeVar

# (0 for front / 1 for normal, enqueued_at, arrival sequence, call id): a total order.
OrderKey = tuple[int, datetime, int, str]

TimerKind = Literal[
    "ring",  # an offer's ring timeout (key: call id)
    "announce",  # position announcement (call id)
    "overflow",  # each max_wait: the callback offer, or after hours if unstaffed (call id)
    "escalate",  # escalate_after (call id)
    "relax",  # the menu skill stops being required (call id)
    "callback_retry",  # a callback's next attempt (call id)
    "agent_ready",  # wrap-up or busy back-off ends (extension)
    "closing",  # the queue's schedule may close (queue name)
    "closes_for",  # ... as a go-live caller routed at another time sees it (call id)
]
TimerId = tuple[TimerKind, str]
K = TypeVar("K")


class SortedIndex:
    """Call ids kept sorted by their order key: O(log n) search, O(n) memmove insert/remove."""

    def __init__(self) -> None:
        self._keys: list[OrderKey] = []

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        return (key[3] for key in self._keys)

    def add(self, key: OrderKey) -> None:
        insort(self._keys, key)

    def remove(self, key: OrderKey) -> None:
        index = bisect_left(self._keys, key)
        if index < len(self._keys) and self._keys[index] == key:
            del self._keys[index]

    def position(self, key: OrderKey) -> int:
        """1-based place of `key` (or where it would go)."""
        return bisect_left(self._keys, key) + 1

    def head(self) -> OrderKey | None:
        return self._keys[0] if self._keys else None


class Timers(Generic[K]):
    """One pending moment per timer id; a heap with lazy deletion of replaced entries."""

    def __init__(self) -> None:
        self._due: dict[K, datetime] = {}
        self._heap: list[tuple[datetime, int, K]] = []
        self._seq = 0

    def __len__(self) -> int:
        return len(self._due)

    def set(self, timer: K, when: datetime) -> None:
        self._due[timer] = when
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, timer))

    def cancel(self, timer: K) -> None:
        self._due.pop(timer, None)

    def get(self, timer: K) -> datetime | None:
        return self._due.get(timer)

    def pop_due(self, now: datetime) -> K | None:
        """The earliest timer due at `now` (removed), or None."""
        self._prune()
        if self._heap and self._heap[0][0] <= now:
            _, _, timer = heapq.heappop(self._heap)
            del self._due[timer]
            return timer
        return None

    def next(self) -> datetime | None:
        self._prune()
        return self._heap[0][0] if self._heap else None

    def _prune(self) -> None:
        heap = self._heap
        while heap and self._due.get(heap[0][2]) != heap[0][0]:
            heapq.heappop(heap)
        if len(heap) > 64 and len(heap) > 4 * len(self._due):
            self._compact()

    def _compact(self) -> None:
        self._heap = [entry for entry in self._heap if self._due.get(entry[2]) == entry[0]]
        heapq.heapify(self._heap)
