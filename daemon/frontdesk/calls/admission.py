"""Admission control: past its limits, frontdesk takes no new call into its menu.

A shed call goes straight back to the dialplan (`continue` without a route), whose
fallback rings the front desk and takes a message, exactly as when frontdesk is down.
Calls already in progress keep their service: shedding new ones is what keeps them
served. Calls to an urgent number (the plan's `numbers` entry with `urgent: true`) are
admitted first: they are shed only past the limits times `urgent_headroom`.

Four signals, each smoothed (an exponentially weighted mean) and fed in by the adapters:
- `loop_lag`: how late the event loop runs its callbacks (every command of every call
  waits that long);
- `event_delay`: how much longer than usual an ARI event took from Asterisk's stamp to
  its dispatch here (the events socket's backlog; measured above the lowest delay seen
  lately, so a constant clock difference between the two machines cancels out);
- `ari_latency`: a REST request's round trip (Asterisk itself is drowning);
- calls in progress against `max_calls`, the configured capacity.

Overloaded starts when any signal passes its limit and ends once every signal has stayed
under `resume_ratio` of its limit for `resume_after` seconds (hysteresis: no flapping
at the edge). Pure: the clock is injected, nothing here does I/O.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

SMOOTHING = 0.2  # weight of the newest sample in a signal's mean
FLOOR_WINDOW = 60.0  # seconds over which the lowest event delay is the baseline
STALE = 10.0  # a signal with no sample for this long reads 0 (nothing is waiting)


@dataclass(frozen=True)
class Limits:
    """Where overload begins (FRONTDESK_ADMISSION_* settings; docs/scale.md says how
    the defaults were measured)."""

    max_calls: int = 600  # calls in frontdesk's hands at once: menu, queue, talking
    loop_lag: float = 0.25  # s
    event_delay: float = 1.0  # s above the usual
    ari_latency: float = 1.0  # s
    urgent_headroom: float = 1.5  # urgent calls are shed only past limits x this
    resume_ratio: float = 0.6  # overload ends once every signal is under limit x this ...
    resume_after: float = 5.0  # ... for this many seconds


@dataclass(frozen=True)
class Verdict:
    admitted: bool
    reason: str | None = None  # why a call was shed: the signal past its limit


@dataclass
class _Mean:
    value: float = 0.0
    at: float | None = None  # when the last sample came

    def add(self, sample: float, at: float) -> None:
        fresh = self.at is None
        self.value = sample if fresh else self.value + SMOOTHING * (sample - self.value)
        self.at = at

    def read(self, at: float) -> float:
        return 0.0 if self.at is None or at - self.at > STALE else self.value


@dataclass
class Admission:
    now: Callable[[], float]  # a monotonic clock, in seconds
    limits: Limits = field(default_factory=Limits)
    overloaded: bool = False  # a health signal passed its limit (until calm again)
    at_capacity: bool = False  # the last new call found max_calls in progress
    reason: str | None = None  # the signal that started the current overload
    shed: dict[str, int] = field(default_factory=dict)  # shed calls by reason
    _lag: _Mean = field(default_factory=_Mean)
    _delay: _Mean = field(default_factory=_Mean)
    _ari: _Mean = field(default_factory=_Mean)
    _floor: deque[tuple[float, float]] = field(default_factory=deque)  # (at, raw delay)
    _calm_since: float | None = None

    # -- what the adapters feed in ---------------------------------------------------------
    def observe_loop_lag(self, seconds: float) -> None:
        self._lag.add(max(0.0, seconds), self.now())

    def observe_event_delay(self, seconds: float) -> None:
        """Asterisk's stamp to dispatch, raw; the baseline is the lowest of the last minute."""
        at = self.now()
        while self._floor and at - self._floor[0][0] > FLOOR_WINDOW:
            self._floor.popleft()
        while self._floor and self._floor[-1][1] >= seconds:
            self._floor.pop()  # a later, smaller sample: the older one is never the minimum
        self._floor.append((at, seconds))
        self._delay.add(max(0.0, seconds - self._floor[0][1]), at)

    def observe_ari_latency(self, seconds: float) -> None:
        self._ari.add(max(0.0, seconds), self.now())

    # -- the decision ------------------------------------------------------------------------
    def admit(self, calls_in_progress: int, *, urgent: bool = False) -> Verdict:
        """Whether a new call may enter the menu; a refusal is counted by its reason.

        Capacity is a plain cap (no hysteresis: one call ending makes room for one);
        the health signals go through the overloaded state."""
        self._update()
        scale = self.limits.urgent_headroom if urgent else 1.0
        self.at_capacity = calls_in_progress >= self.limits.max_calls
        if calls_in_progress >= self.limits.max_calls * scale:
            return self._shed("max_calls")
        past = self._past(scale)
        if past is not None:
            return self._shed(past)
        if self.overloaded and not urgent:
            return self._shed(self.reason or "overloaded")
        return Verdict(True)

    def _shed(self, reason: str) -> Verdict:
        self.shed[reason] = self.shed.get(reason, 0) + 1
        return Verdict(False, reason)

    def signals(self) -> dict[str, float]:
        """The smoothed signals (for /metrics and the board)."""
        at = self.now()
        return {
            "loop_lag": self._lag.read(at),
            "event_delay": self._delay.read(at),
            "ari_latency": self._ari.read(at),
        }

    def _update(self) -> None:
        past = self._past(1.0)
        if past is not None:
            if not self.overloaded:
                self.overloaded, self.reason = True, past
            self._calm_since = None
            return
        if not self.overloaded:
            return
        if self._past(self.limits.resume_ratio) is not None:
            self._calm_since = None
            return
        at = self.now()
        if self._calm_since is None:
            self._calm_since = at
        if at - self._calm_since >= self.limits.resume_after:
            self.overloaded, self.reason, self._calm_since = False, None, None

    def _past(self, scale: float) -> str | None:
        """The first health signal over its limit times `scale`, or None."""
        limits = self.limits
        values = self.signals()
        for name, limit in (
            ("loop_lag", limits.loop_lag),
            ("event_delay", limits.event_delay),
            ("ari_latency", limits.ari_latency),
        ):
            if values[name] > limit * scale:
                return name
        return None

    def tick(self) -> bool:
        """Re-judge without a new call (a periodic check, so overload can end while no
        call arrives); whether overloaded."""
        self._update()
        return self.overloaded
