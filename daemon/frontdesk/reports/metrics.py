"""Call-centre metrics over `calls` rows for a date range: pure, no I/O.

`compute(rows, start=..., end=..., zone=...)` measures the calls that *started* in
`[start, end)`. Rows outside the range are only used to look for repeat calls (first-contact
resolution looks 7 days past each call), so a loader should fetch `[start, end + 7 days)`.
Each metric carries its value (None when there is nothing to measure: never a division by
zero), its target, whether it is met, the counts behind it and the one-line definition shown
to users.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from frontdesk.routing.destination import CLINICAL_CATEGORIES

FCR_WINDOW = timedelta(days=7)
SHORT_ABANDON = timedelta(seconds=10)
SERVICE_LEVEL_TARGET = timedelta(seconds=60)
UNKNOWN_CATEGORY = "(none)"

Unit = Literal["ratio", "seconds", "count"]


@dataclass(frozen=True)
class CallRow:
    """The columns of `calls` the reports read."""

    linkedid: str
    started_at: datetime | None
    caller: str | None = None
    category: str | None = None
    queue: str | None = None
    agent: str | None = None
    answered_at: datetime | None = None
    wait_s: int | None = None
    talk_s: int | None = None
    after_hours: bool = False
    urgent: bool = False
    voicemail: bool = False
    abandoned: bool = False
    transferred: bool = False
    outcome: str | None = None

    @property
    def answered(self) -> bool:
        """Answered by staff: the ACD's outcome (frontdesk itself answers every caller)."""
        return self.outcome == "answered"

    @property
    def queued(self) -> bool:
        return self.queue is not None

    @property
    def abandoned_in_queue(self) -> bool:
        return self.queued and not self.answered and (self.abandoned or self.outcome == "abandoned")

    @property
    def went_to_voicemail(self) -> bool:
        return self.voicemail or self.outcome == "voicemail"

    @property
    def clinical(self) -> bool:
        return self.urgent or self.category in CLINICAL_CATEGORIES


@dataclass(frozen=True)
class Target:
    """Inclusive bounds; None on a side means unbounded."""

    low: float | None = None
    high: float | None = None

    def met(self, value: float | None) -> bool | None:
        if value is None:
            return None
        if self.low is not None and value < self.low:
            return False
        return not (self.high is not None and value > self.high)

    def describe(self, unit: Unit) -> str:
        low, high = (None if b is None else format_value(b, unit) for b in (self.low, self.high))
        if low is not None and high is not None:
            return f"{low} to {high}"
        if low is not None:
            return f"≥ {low}"
        if high is not None:
            return f"≤ {high}"
        return "—"


@dataclass(frozen=True)
class Targets:
    """The practice's targets; defaults from the recipe. None: no target (shown, not judged)."""

    misrouted: Target | None = Target(high=0.10)
    aht: Target | None = Target(low=150, high=240)
    fcr: Target | None = Target(low=0.80)
    after_hours_clinical_voicemail: Target | None = Target(high=0)
    transfers: Target | None = Target(high=0.15)
    abandonment: Target | None = None
    service_level: Target | None = None
    asa: Target | None = None


DEFAULT_TARGETS = Targets()


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    value: float | None
    unit: Unit
    target: Target | None
    definition: str
    counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool | None:
        """True/False against the target; None with no target or no value."""
        return None if self.target is None else self.target.met(self.value)

    @property
    def display_value(self) -> str:
        return "—" if self.value is None else format_value(self.value, self.unit)

    @property
    def display_target(self) -> str:
        return "—" if self.target is None else self.target.describe(self.unit)

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "value": self.value,
            "unit": self.unit,
            "display": self.display_value,
            "target": None
            if self.target is None
            else {"low": self.target.low, "high": self.target.high},
            "target_display": self.display_target,
            "passed": self.passed,
            "definition": self.definition,
            "counts": dict(self.counts),
        }


@dataclass(frozen=True)
class Report:
    start: datetime
    end: datetime
    zone: str
    total_calls: int
    metrics: tuple[Metric, ...]
    calls_per_hour: tuple[int, ...]  # 24 local hours of started_at
    calls_per_category: Mapping[str, int]  # descending by count, then name
    short_abandon_s: float
    service_level_target_s: float

    def metric(self, key: str) -> Metric:
        for metric in self.metrics:
            if metric.key == key:
                return metric
        raise KeyError(key)

    def as_json(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "zone": self.zone,
            "total_calls": self.total_calls,
            "short_abandon_s": self.short_abandon_s,
            "service_level_target_s": self.service_level_target_s,
            "metrics": [m.as_json() for m in self.metrics],
            "calls_per_hour": list(self.calls_per_hour),
            "calls_per_category": dict(self.calls_per_category),
        }


def format_value(value: float, unit: Unit) -> str:
    if unit == "ratio":
        return f"{value * 100:.1f} %"
    if unit == "seconds":
        return f"{value:.0f} s" if value < 60 else f"{value / 60:.1f} min"
    return f"{value:g}"


def in_range(rows: Iterable[CallRow], start: datetime, end: datetime) -> list[CallRow]:
    """The rows whose call started in `[start, end)` (compared as instants, in UTC)."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    return [
        r for r in rows if r.started_at is not None and start <= r.started_at.astimezone(UTC) < end
    ]


def _ratio(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else numerator / denominator


def _mean(values: Sequence[int]) -> float | None:
    return None if not values else sum(values) / len(values)


def _seconds(span: timedelta) -> str:
    return f"{span.total_seconds():g} s"


def _called_again(row: CallRow, starts: Mapping[tuple[str, str | None], list[datetime]]) -> bool:
    if row.caller is None or row.started_at is None:
        return False
    first = row.started_at.astimezone(UTC)  # same-zone arithmetic would be wall-clock
    return any(first < t <= first + FCR_WINDOW for t in starts.get((row.caller, row.category), ()))


def compute(
    rows: Iterable[CallRow],
    *,
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
    short_abandon: timedelta = SHORT_ABANDON,
    service_level_target: timedelta = SERVICE_LEVEL_TARGET,
    targets: Targets = DEFAULT_TARGETS,
) -> Report:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    everything = list(rows)
    calls = in_range(everything, start, end)
    answered = [r for r in calls if r.answered]
    queued = [r for r in calls if r.queued]
    short_s = short_abandon.total_seconds()
    abandoned = [r for r in queued if r.abandoned_in_queue]
    short_abandons = [r for r in abandoned if r.wait_s is not None and r.wait_s < short_s]
    long_abandons = [r for r in abandoned if not (r.wait_s is not None and r.wait_s < short_s)]
    transferred = [r for r in answered if r.transferred]
    talk = [r.talk_s for r in answered if r.talk_s is not None]
    waits = [r.wait_s for r in answered if r.wait_s is not None]
    sl_s = service_level_target.total_seconds()
    within = [r for r in answered if r.wait_s is not None and r.wait_s <= sl_s]
    after_hours_vm = [r for r in calls if r.after_hours and r.clinical and r.went_to_voicemail]

    # First-contact resolution: a repeat is any later call (in or after the range) from the
    # same caller for the same category within FCR_WINDOW. Withheld numbers cannot be followed.
    by_key: dict[tuple[str, str | None], list[datetime]] = defaultdict(list)
    for r in everything:
        if r.caller is not None and r.started_at is not None:
            by_key[r.caller, r.category].append(r.started_at.astimezone(UTC))
    followable = [r for r in answered if r.caller is not None]
    resolved = [r for r in followable if not _called_again(r, by_key)]

    per_hour = [0] * 24
    for r in calls:
        if r.started_at is not None:  # always: in_range keeps only started calls
            per_hour[r.started_at.astimezone(zone).hour] += 1
    categories = Counter(r.category or UNKNOWN_CATEGORY for r in calls)

    n_answered = len(answered)
    metrics = (
        Metric(
            "misrouted",
            "Misrouted call rate",
            _ratio(len(transferred), n_answered),
            "ratio",
            targets.misrouted,
            "Answered calls that staff then transferred, as a share of answered calls.",
            {"transferred": len(transferred), "answered": n_answered},
        ),
        Metric(
            "aht",
            "Average handle time",
            _mean(talk),
            "seconds",
            targets.aht,
            "Mean talk time of answered calls (wrap-up time is not recorded, so it is not included).",
            {"answered_with_talk_time": len(talk), "answered": n_answered},
        ),
        Metric(
            "fcr",
            "First-contact resolution",
            _ratio(len(resolved), len(followable)),
            "ratio",
            targets.fcr,
            "Answered calls whose caller did not call again about the same category within 7 days, "
            "as a share of answered calls with a known number (the last 7 days are provisional).",
            {
                "resolved": len(resolved),
                "answered_known_caller": len(followable),
                "answered_withheld": n_answered - len(followable),
            },
        ),
        Metric(
            "after_hours_clinical_voicemail",
            "After-hours clinical calls to voicemail",
            float(len(after_hours_vm)),
            "count",
            targets.after_hours_clinical_voicemail,
            "Calls after hours about clinical questions, refills or test results (or urgent) "
            "that ended in voicemail instead of reaching a person.",
            {
                "calls": len(after_hours_vm),
                "after_hours_clinical": sum(1 for r in calls if r.after_hours and r.clinical),
            },
        ),
        Metric(
            "transfers",
            "Staff manual transfer rate",
            _ratio(len(transferred), n_answered),
            "ratio",
            targets.transfers,
            "Answered calls that staff transferred to another line, as a share of answered calls.",
            {"transferred": len(transferred), "answered": n_answered},
        ),
        Metric(
            "abandonment",
            "Abandonment rate",
            _ratio(len(long_abandons), len(queued)),
            "ratio",
            targets.abandonment,
            f"Calls that hung up in a queue after waiting at least {_seconds(short_abandon)}, "
            f"as a share of calls that reached a queue (shorter hang-ups are counted apart).",
            {
                "abandoned": len(long_abandons),
                "short_abandoned": len(short_abandons),
                "queued": len(queued),
            },
        ),
        Metric(
            "service_level",
            "Service level",
            _ratio(len(within), n_answered + len(long_abandons)),
            "ratio",
            targets.service_level,
            f"Calls answered within {_seconds(service_level_target)} of joining a queue, as a "
            f"share of answered calls plus calls abandoned after the short-abandon threshold.",
            {
                "answered_within": len(within),
                "answered": n_answered,
                "abandoned": len(long_abandons),
            },
        ),
        Metric(
            "asa",
            "Average speed of answer",
            _mean(waits),
            "seconds",
            targets.asa,
            "Mean time answered calls waited in a queue before staff picked up.",
            {"answered_with_wait_time": len(waits), "answered": n_answered},
        ),
    )
    return Report(
        start=start,
        end=end,
        zone=zone.key,
        total_calls=len(calls),
        metrics=metrics,
        calls_per_hour=tuple(per_hour),
        calls_per_category=dict(sorted(categories.items(), key=lambda kv: (-kv[1], kv[0]))),
        short_abandon_s=short_s,
        service_level_target_s=sl_s,
    )
