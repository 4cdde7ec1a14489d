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
- `ari_backlog`: REST requests in flight or waiting for a connection (the earliest
  sign, before the round trips grow; sampled at each new call and twice a second,
  smoothed like the others: a burst of a call's requests is not an overload);
- the channels in frontdesk's hands (the calls in progress, an agent leg counting too)
  against `max_channels`, the configured capacity.

Overloaded starts when any signal passes its limit. Then only a share of the new calls
is taken, `admit_ratio`, adjusted the way TCP adjusts its window (AIMD): halved at once
and again each `decrease_every` seconds while a signal stays past its limit, raised by
`increase_per_s` each second while every signal is under `resume_ratio` of its limit,
held in between. Overload ends once the share is back to all calls and every signal has
stayed under `resume_ratio` for `resume_after` seconds. An on/off switch instead (all
shed, then all taken) let a burst of the whole flood in at each resume: those calls
found the box saturated and a quarter of them failed at 1.5 times the ceiling on the
lab. Pure: the clock is injected, nothing here does I/O.

While overloaded, shedding moves in front of frontdesk: `AdmissionGate.dialplan_globals`
gives the Asterisk globals that make the dialplan's `[frontdesk-admission]` send new
calls to the fallback before `Stasis()` (`FRONTDESK_SHED=1`, and a
`FRONTDESK_URGENT_<digits>=1` for each form of an urgent number), so a flood costs
frontdesk and Asterisk's ARI nothing: no StasisStart, no `continue`, and the events of
the calls being served are not queued behind the flood's. The dialplan reports each
call it sheds (AMI UserEvent `FrontdeskShed`), counted here as reason `dialplan`. The
calls the dialplan lets through meet the same share again at StasisStart; the
feedback loop settles the share where the box keeps up all the same.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from frontdesk.phone import dialled_forms, normalize_number

SHED_GLOBAL = "FRONTDESK_SHED"  # read by [frontdesk-admission] in dialplan/extensions.conf
URGENT_GLOBAL = "FRONTDESK_URGENT_"  # + the digits of one dialled form of an urgent DID
DIALPLAN_REFRESH = 5.0  # s: the globals are sent again this often (a `dialplan reload`
# clears them; a lost request must not leave the dialplan shedding or admitting)
SMOOTHING = 0.2  # weight of the newest sample in a signal's mean
FLOOR_WINDOW = 60.0  # seconds over which the lowest event delay is the baseline
STALE = 10.0  # a signal with no sample for this long reads 0 (nothing is waiting)


@dataclass(frozen=True)
class Limits:
    """Where overload begins (FRONTDESK_ADMISSION_* settings; docs/scale.md says how
    the defaults were measured)."""

    max_channels: int = 650  # channels in frontdesk's hands: a caller in the menu or queue is
    # one, a conversation two (its agent leg). Measured: ~600 at the lab's ceiling (37
    # calls/s, 2 cores); a cap that answers at once where the signals answer late
    loop_lag: float = 0.25  # s
    event_delay: float = 1.0  # s above the usual
    ari_latency: float = 0.5  # s
    ari_backlog: int = 64  # REST requests in flight: four times the client's pool
    urgent_headroom: float = 1.5  # urgent calls are shed only past limits x this
    resume_ratio: float = 0.6  # calm: every signal under limit x this (the share grows)
    resume_after: float = 5.0  # overload ends once calm this long with every call taken
    decrease: float = 0.5  # past a limit: the share of new calls taken is multiplied by this
    decrease_every: float = 1.0  # s: at most this often (the signals need time to answer)
    increase_per_s: float = 0.02  # calm: the share grows by this much a second (slowly: a
    # call let in loads the box for its whole length, ~12 s on the lab; at 0.1 the share
    # overshot and 1.3 % of the calls failed at 45 calls/s)


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
    at_capacity: bool = False  # the last new call found max_channels in progress
    reason: str | None = None  # the signal that started the current overload
    shed: dict[str, int] = field(default_factory=dict)  # shed calls by reason
    admit_ratio: float = 1.0  # the share of new calls taken (1.0 unless overloaded)
    _credit: float = 0.0  # admission's running share: a call is taken each time it reaches 1
    _decreased_at: float | None = None
    _ramped_at: float | None = None
    _lag: _Mean = field(default_factory=_Mean)
    _delay: _Mean = field(default_factory=_Mean)
    _ari: _Mean = field(default_factory=_Mean)
    _floor: deque[tuple[float, float]] = field(default_factory=deque)  # (at, raw delay)
    _calm_since: float | None = None
    _backlog: _Mean = field(default_factory=_Mean)  # the ARI client's requests in flight

    # -- what the adapters feed in ---------------------------------------------------------
    def observe_loop_lag(self, seconds: float) -> None:
        self._lag.add(_clamp(seconds, self.limits.loop_lag), self.now())

    def observe_event_delay(self, seconds: float) -> None:
        """Asterisk's stamp to dispatch, raw; the baseline is the lowest of the last minute."""
        at = self.now()
        while self._floor and at - self._floor[0][0] > FLOOR_WINDOW:
            self._floor.popleft()
        while self._floor and self._floor[-1][1] >= seconds:
            self._floor.pop()  # a later, smaller sample: the older one is never the minimum
        self._floor.append((at, seconds))
        self._delay.add(_clamp(seconds - self._floor[0][1], self.limits.event_delay), at)

    def observe_ari_latency(self, seconds: float) -> None:
        self._ari.add(_clamp(seconds, self.limits.ari_latency), self.now())

    # -- the decision ------------------------------------------------------------------------
    def admit(self, channels: int, *, urgent: bool = False, backlog: int = 0) -> Verdict:
        """Whether a new call may enter the menu; a refusal is counted by its reason.

        Capacity is a plain cap (no hysteresis: one call ending makes room for one);
        the health signals go through the overloaded state and its share."""
        self._backlog.add(float(backlog), self.now())
        self._update()
        scale = self.limits.urgent_headroom if urgent else 1.0
        self.at_capacity = channels >= self.limits.max_channels
        if channels >= self.limits.max_channels * scale:
            return self._shed("max_channels")
        if urgent:  # judged against the limits x urgent_headroom, never by the share
            past = self._past(scale)
            return Verdict(True) if past is None else self._shed(past)
        if not self.overloaded:
            return Verdict(True)
        self._credit += self.admit_ratio  # every (1 / admit_ratio)-th call: deterministic
        if self._credit >= 1.0:
            self._credit -= 1.0
            return Verdict(True)
        return self._shed(self._past(1.0) or self.reason or "overloaded")

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
        at, limits = self.now(), self.limits
        past = self._past(1.0)
        if past is not None:
            if not self.overloaded:
                self.overloaded, self.reason, self.admit_ratio = True, past, 1.0
                self._decreased_at = None
            if self._decreased_at is None or at - self._decreased_at >= limits.decrease_every:
                self.admit_ratio *= limits.decrease
                self._decreased_at = at
            self._calm_since, self._ramped_at = None, at
            return
        if not self.overloaded:
            return
        if self._past(limits.resume_ratio) is not None:  # near the limit: hold the share
            self._calm_since, self._ramped_at = None, at
            return
        since = self._ramped_at if self._ramped_at is not None else at
        self.admit_ratio = min(1.0, self.admit_ratio + limits.increase_per_s * (at - since))
        self._ramped_at = at
        if self._calm_since is None:
            self._calm_since = at
        if self.admit_ratio >= 1.0 and at - self._calm_since >= limits.resume_after:
            self.overloaded, self.reason, self._calm_since = False, None, None
            self._credit = 0.0

    def _past(self, scale: float) -> str | None:
        """The first health signal over its limit times `scale`, or None."""
        limits = self.limits
        if self._backlog.read(self.now()) > limits.ari_backlog * scale:
            return "ari_backlog"
        values = self.signals()
        for name, limit in (
            ("loop_lag", limits.loop_lag),
            ("event_delay", limits.event_delay),
            ("ari_latency", limits.ari_latency),
        ):
            if values[name] > limit * scale:
                return name
        return None

    def tick(self, backlog: int = 0) -> bool:
        """Re-judge without a new call (a periodic check, so overload can end while no
        call arrives); whether overloaded."""
        self._backlog.add(float(backlog), self.now())
        self._update()
        return self.overloaded


def _clamp(sample: float, limit: float) -> float:
    """A sample counts at most twice its limit: one request stalled for 5 s is not a
    drowning Asterisk (alone it moves the mean to 0.4 x the limit), four in a row are."""
    return min(max(0.0, sample), 2 * limit)


@dataclass
class AdmissionGate:
    """The admission decision for one new call's channel (StasisStart), with the plan's
    urgent numbers, and when to log a shed call (once per `log_every` s, with a count)."""

    admission: Admission
    urgent_numbers: frozenset[str]
    region: str
    log_every: float = 10.0
    _logged_at: float | None = None
    _unlogged: int = 0
    _sent_percent: int | None = None  # the dialplan's share to shed (%), as last sent
    _sent_at: float = 0.0

    @classmethod
    def for_plan(
        cls, admission: Admission, numbers: Mapping[str, Any], region: str
    ) -> AdmissionGate:
        urgent = frozenset(did for did, entry in numbers.items() if getattr(entry, "urgent", False))
        return cls(admission, urgent, region)

    def judge(self, channel: Mapping[str, Any], channels: int, backlog: int = 0) -> Verdict:
        return self.admission.admit(channels, urgent=self._urgent(channel), backlog=backlog)

    def _urgent(self, channel: Mapping[str, Any]) -> bool:
        if not self.urgent_numbers:
            return False
        dialplan = channel.get("dialplan")
        exten = dialplan.get("exten") if isinstance(dialplan, dict) else None
        did = normalize_number(exten if isinstance(exten, str) else None, self.region)
        return did in self.urgent_numbers

    def dialplan_globals(self) -> list[tuple[str, str]]:
        """The globals for the dialplan's own shedding, in the order to set them (the
        urgent numbers before the share), when due: at each change of the percentage to
        shed and every `DIALPLAN_REFRESH` s; else nothing. Capacity (`max_channels`) is
        not shed there: it is a per-call cap, judged at each StasisStart."""
        admission, at = self.admission, self.admission.now()
        percent = round(100 * (1.0 - admission.admit_ratio)) if admission.overloaded else 0
        if percent == self._sent_percent and at - self._sent_at < DIALPLAN_REFRESH:
            return []
        self._sent_percent, self._sent_at = percent, at
        marks = self._urgent_marks if percent else []
        return [*marks, (SHED_GLOBAL, str(percent))]

    @functools.cached_property
    def _urgent_marks(self) -> list[tuple[str, str]]:
        """`FRONTDESK_URGENT_<digits>=1` for every form of every urgent number (parsed once)."""
        urgent = sorted({f for did in self.urgent_numbers for f in dialled_forms(did)})
        return [(URGENT_GLOBAL + digits, "1") for digits in urgent]

    def forget_dialplan(self) -> None:
        """After the events socket reconnects (Asterisk may have restarted, clearing its
        globals): send them again at once."""
        self._sent_percent = None

    def shed_in_dialplan(self) -> tuple[bool, int]:
        """One call the dialplan sent to the fallback itself; as `should_log`."""
        self.admission.shed["dialplan"] = self.admission.shed.get("dialplan", 0) + 1
        return self.should_log()

    def should_log(self) -> tuple[bool, int]:
        """(log this shed call now, shed calls not logged since the last line)."""
        at = self.admission.now()
        if self._logged_at is not None and at - self._logged_at < self.log_every:
            self._unlogged += 1
            return False, 0
        unlogged, self._logged_at, self._unlogged = self._unlogged, at, 0
        return True, unlogged
