"""Event -> command latency of the app under test, seen from the PBX side (for benchmarks).

Off by default (`enabled` False: nothing is recorded, the event path pays one attribute
check). When on, the time an ARI event that calls for a reaction is written to the
WebSocket (`StasisStart`, `ChannelDtmfReceived`, `PlaybackFinished`) is remembered per
channel; the next REST request about that channel (its `/channels/{id}...` path, the
`channel` argument of a bridge's `addChannel`/`removeChannel`, or a `/playbacks/{id}` of
one of its playbacks) closes the pair and its latency becomes a sample. A newer trigger
replaces an older one still open (a digit pressed after a prompt ended is what the app
answers). Pairs not closed within `window` seconds are counted as `unpaired` rather than
sampled: some events legitimately call for nothing (a menu prompt ending before the
caller presses a key). Loopback network time and the HTTP parsing on both sides are
included. Memory is bounded: `MAX_SAMPLES` per event type, `MAX_OPEN` open pairs.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from typing import Any

TRIGGERS = frozenset({"StasisStart", "ChannelDtmfReceived", "PlaybackFinished"})
MAX_SAMPLES = 100_000
MAX_OPEN = 100_000
Mark = tuple[str, str]  # event type, channel id


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of unsorted values; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n * q / 100), at least the first
    return ordered[int(min(rank, len(ordered))) - 1]


def _channel_of(event: dict[str, Any]) -> str | None:
    channel = event.get("channel")
    if isinstance(channel, dict):
        return str(channel.get("id", "")) or None
    playback = event.get("playback")
    if isinstance(playback, dict):
        target = str(playback.get("target_uri", ""))
        if target.startswith("channel:"):
            return target.removeprefix("channel:")
    return None


class Timings:
    def __init__(self, window: float = 1.0, clock: Callable[[], float] = time.perf_counter):
        self.enabled = False
        self.window = window
        self.clock = clock
        self.open: dict[str, tuple[str, float]] = {}  # channel -> (event type, written at)
        self.playbacks: dict[str, str] = {}  # playback id -> channel id
        self.samples: dict[str, deque[float]] = {}
        self.unpaired: Counter[str] = Counter()
        self.requests = 0
        self.events = 0
        self.since = clock()

    def reset(self, *, enabled: bool = True, window: float | None = None) -> None:
        self.enabled = enabled
        if window is not None:
            self.window = window
        self.open.clear()
        self.playbacks.clear()
        self.samples.clear()
        self.unpaired.clear()
        self.requests = self.events = 0
        self.since = self.clock()

    def mark(self, event: dict[str, Any]) -> Mark | None:
        """At enqueue time: the trigger to time when the event is written, if any."""
        if not self.enabled:
            return None
        self.events += 1
        kind = str(event.get("type", ""))
        if kind == "PlaybackStarted":
            playback, channel = event.get("playback"), _channel_of(event)
            if isinstance(playback, dict) and channel and len(self.playbacks) < MAX_OPEN:
                self.playbacks[str(playback.get("id", ""))] = channel
            return None
        if kind == "PlaybackFinished":
            playback = event.get("playback")
            if isinstance(playback, dict):
                self.playbacks.pop(str(playback.get("id", "")), None)
        if kind not in TRIGGERS and kind != "StasisEnd":
            return None
        channel = _channel_of(event)
        return None if channel is None else (kind, channel)

    def written(self, mark: Mark) -> None:
        """The marked event has just been written to the WebSocket (a StasisEnd closes)."""
        kind, channel = mark
        self._close(channel)
        if kind != "StasisEnd" and len(self.open) < MAX_OPEN:
            self.open[channel] = (kind, self.clock())

    def request(self, entry: dict[str, Any]) -> None:
        """An ARI REST request (the emulator's request log entry) has arrived."""
        if not self.enabled:
            return
        self.requests += 1
        now = self.clock()
        for channel in self._channels(entry):
            opened = self.open.pop(channel, None)
            if opened is None:
                continue
            kind, at = opened
            if now - at > self.window:
                self.unpaired[kind] += 1
            else:
                self.samples.setdefault(kind, deque(maxlen=MAX_SAMPLES)).append(now - at)

    def _close(self, channel: str) -> None:
        opened = self.open.pop(channel, None)
        if opened is not None:
            self.unpaired[opened[0]] += 1

    def _channels(self, entry: dict[str, Any]) -> list[str]:
        parts = str(entry.get("path", "")).split("/")  # "", "ari", resource, id, ...
        if len(parts) < 4:
            return []
        resource, ident = parts[2], parts[3]
        if resource == "channels" and ident != "create":
            return [ident]
        if resource == "playbacks":
            channel = self.playbacks.get(ident)
            return [channel] if channel else []
        if resource == "bridges" and len(parts) > 4:
            args = {**(entry.get("query") or {}), **(entry.get("body") or {})}
            value = args.get("channel", "")
            items = value if isinstance(value, list) else str(value).split(",")
            return [c for c in items if c]
        return []

    def report(self) -> dict[str, Any]:
        """Counts and latency percentiles (milliseconds) since the last reset."""
        every = [s for samples in self.samples.values() for s in samples]
        return {
            "enabled": self.enabled,
            "window_s": self.window,
            "seconds": round(self.clock() - self.since, 3),
            "requests": self.requests,
            "events": self.events,
            "all": _summary(every),
            "by_event": {kind: _summary(list(s)) for kind, s in sorted(self.samples.items())},
            "unpaired": dict(sorted(self.unpaired.items())),
        }


def _summary(samples: Sequence[float]) -> dict[str, Any]:
    def ms(q: float) -> float | None:
        value = percentile(samples, q)
        return None if value is None else round(value * 1000, 3)

    return {"count": len(samples), "p50_ms": ms(50), "p99_ms": ms(99), "max_ms": ms(100)}
