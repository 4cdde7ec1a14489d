"""Call-centre metrics over `calls` rows for a date range: pure, no I/O.

`compute(rows, start=..., end=..., zone=...)` measures the calls that *started* in
`[start, end)`. Rows outside the range are only used to look for repeat calls (first-contact
resolution looks 72 hours past each call), so a loader should fetch `[start, end + FCR_WINDOW)`.
Transfers, misrouting and first-contact resolution are also given by category and by week
(docs/reports.md has their definitions), beside the practice's seed targets.
Each metric carries its value (None when there is nothing to measure: never a division by
zero), its target, whether it is met, the counts behind it and the one-line definition shown
to users.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

from frontdesk.routing.destination import CLINICAL_CATEGORIES

FCR_WINDOW = timedelta(hours=72)  # a new call from the same number within it: not resolved
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
    # From the call's events and dispositions (reports/store.py):
    phone_transfers: int = 0  # `transferred`: a phone's transfer button
    staff_transfers: int = 0  # `staff_transfer`: through frontdesk (page, *8, API)
    moved: bool = False  # a `staff_transfer` to another queue or category (`misrouted`)
    wrong_department: bool = False  # an agent's last disposition of the call says so

    @property
    def answered(self) -> bool:
        """Answered by staff: the ACD's outcome (frontdesk itself answers every caller)."""
        return self.outcome == "answered"

    @property
    def handed_on(self) -> bool:
        """Staff transferred the call (either kind; the row's flag is set for both)."""
        return self.transferred or self.phone_transfers > 0 or self.staff_transfers > 0

    @property
    def reached_staff(self) -> bool:
        """Answered by staff, for transfers, misrouting and first-contact resolution: the
        ACD's answer (outcome, or an agent on the row), or a transfer by staff, after which
        the call may end otherwise (e.g. abandoned in the queue it was moved to)."""
        return self.answered or self.agent is not None or self.handed_on

    @property
    def misrouted(self) -> bool:
        """Staff moved it to another queue or category, or dispositioned it wrong department."""
        return self.moved or self.wrong_department

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
class Seed:
    """A routing figure's seed target: the range practices start from (`before`) and the
    range frontdesk is bought to reach (`aim`), as shares; `better`: which way improves."""

    before: tuple[float, float]
    aim: tuple[float, float]
    better: Literal["lower", "higher"]

    @property
    def goal(self) -> Target:
        """Met at the aim's far end or better: ≤ 10 % misrouted, ≥ 80 % resolved."""
        return Target(high=self.aim[1]) if self.better == "lower" else Target(low=self.aim[0])

    def describe(self) -> str:
        return f"{_span(self.before)} → {_span(self.aim)}"

    def as_json(self) -> dict[str, Any]:
        return {
            "before": list(self.before),
            "aim": list(self.aim),
            "better": self.better,
            "display": self.describe(),
        }


def _span(bounds: tuple[float, float]) -> str:
    return f"{bounds[0] * 100:g}-{bounds[1] * 100:g} %"


# The practice's seed targets, from issue 13 ("Why"): the practice buys frontdesk to cut
# misrouted calls from 25-40 % to 5-10 % and staff transfers from 35-50 % to 8-15 %, and
# to raise first-contact resolution from 55-65 % to 80-88 %. Shown beside each of these
# figures (overall, by category, by week); `Targets` judges against each aim's far end.
SEED_TARGETS: Final[Mapping[str, Seed]] = {
    "misrouted": Seed(before=(0.25, 0.40), aim=(0.05, 0.10), better="lower"),
    "transfers": Seed(before=(0.35, 0.50), aim=(0.08, 0.15), better="lower"),
    "fcr": Seed(before=(0.55, 0.65), aim=(0.80, 0.88), better="higher"),
}


@dataclass(frozen=True)
class Targets:
    """The practice's targets; defaults from the recipe and the seed targets (above).
    None: no target (shown, not judged)."""

    misrouted: Target | None = SEED_TARGETS["misrouted"].goal
    aht: Target | None = Target(low=150, high=240)
    fcr: Target | None = SEED_TARGETS["fcr"].goal
    after_hours_clinical_voicemail: Target | None = Target(high=0)
    transfers: Target | None = SEED_TARGETS["transfers"].goal
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
    seed: Seed | None = None  # the seed target shown beside the figure (SEED_TARGETS)

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
            "seed": None if self.seed is None else self.seed.as_json(),
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
    # transfers, misrouting and first-contact resolution per category and per local week
    by_category: tuple[RoutingFigures, ...] = ()
    by_week: tuple[RoutingFigures, ...] = ()

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
            "routing": {
                "seed_targets": {k: seed.as_json() for k, seed in SEED_TARGETS.items()},
                "by_category": [f.as_json() for f in self.by_category],
                "by_week": [f.as_json() for f in self.by_week],
            },
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
    talk = [r.talk_s for r in answered if r.talk_s is not None]
    waits = [r.wait_s for r in answered if r.wait_s is not None]
    sl_s = service_level_target.total_seconds()
    within = [r for r in answered if r.wait_s is not None and r.wait_s <= sl_s]
    after_hours_vm = [r for r in calls if r.after_hours and r.clinical and r.went_to_voicemail]

    later = _calls_by_caller(everything)
    misrouted, transfers, fcr = _routing_metrics(_routing_figures("all", calls, later), targets)

    per_hour = [0] * 24
    for r in calls:
        if r.started_at is not None:  # always: in_range keeps only started calls
            per_hour[r.started_at.astimezone(zone).hour] += 1
    categories = Counter(r.category or UNKNOWN_CATEGORY for r in calls)

    n_answered = len(answered)
    metrics = (
        misrouted,
        Metric(
            "aht",
            "Average handle time",
            _mean(talk),
            "seconds",
            targets.aht,
            "Mean talk time of answered calls (wrap-up time is not recorded, so it is not included).",
            {"answered_with_talk_time": len(talk), "answered": n_answered},
        ),
        fcr,
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
        transfers,
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
        by_category=routing_by_category(calls, later),
        by_week=routing_by_week(calls, later, start=start, end=end, zone=zone),
    )


# -- transfers, misrouting and first-contact resolution (docs/reports.md) -------------------------
ROUTING_KEYS: Final = ("transfers", "misrouted", "fcr")
ANSWERED_BY_STAFF = (
    "Answered by staff: an agent picked the call up (outcome answered, or an agent on the "
    "record) or transferred it."
)


@dataclass(frozen=True)
class RoutingFigures:
    """Transfers, misrouting and first-contact resolution over one group of calls (all of
    the range, a category, a week): the counts, and the rates (None: nothing to measure)."""

    key: str  # "all", the category, or the week's Monday (ISO date)
    label: str
    answered: int  # answered by staff (`CallRow.reached_staff`)
    transferred: int  # of those, transferred by staff (either kind)
    misrouted: int  # of those, misrouted: moved to another queue or category, or ...
    moved: int
    wrong_department: int  # ... dispositioned wrong department (a call may be both)
    followable: int  # answered by staff from a known number
    resolved: int  # of those, resolved at first contact

    def value(self, key: str) -> float | None:
        """The rate of `key` (one of ROUTING_KEYS)."""
        if key == "transfers":
            return _ratio(self.transferred, self.answered)
        if key == "misrouted":
            return _ratio(self.misrouted, self.answered)
        if key == "fcr":
            return _ratio(self.resolved, self.followable)
        raise KeyError(key)

    def display(self, key: str) -> str:
        value = self.value(key)
        return "—" if value is None else format_value(value, "ratio")

    def met(self, key: str) -> bool | None:
        """Against the seed target's aim (the default `Targets`)."""
        return SEED_TARGETS[key].goal.met(self.value(key))

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "counts": {
                "answered_by_staff": self.answered,
                "transferred": self.transferred,
                "misrouted": self.misrouted,
                "moved": self.moved,
                "wrong_department": self.wrong_department,
                "answered_known_caller": self.followable,
                "resolved": self.resolved,
            },
            **{
                key: {"value": self.value(key), "display": self.display(key), "met": self.met(key)}
                for key in ROUTING_KEYS
            },
        }


def _calls_by_caller(rows: Iterable[CallRow]) -> dict[str, list[datetime]]:
    """Each known number's call start times (UTC, sorted): the repeats FCR looks for."""
    starts: dict[str, list[datetime]] = defaultdict(list)
    for r in rows:
        if r.caller is not None and r.started_at is not None:
            starts[r.caller].append(r.started_at.astimezone(UTC))
    for times in starts.values():
        times.sort()
    return starts


def _resolved_first_time(row: CallRow, later: Mapping[str, list[datetime]]) -> bool:
    """Answered by staff, neither transferred nor misrouted, and no new call from the same
    number within FCR_WINDOW after it started (in or after the range)."""
    if not row.reached_staff or row.handed_on or row.misrouted:
        return False
    if row.caller is None or row.started_at is None:
        return False
    first = row.started_at.astimezone(UTC)  # same-zone arithmetic would be wall-clock
    times = later.get(row.caller, [])
    after = bisect_right(times, first)
    return after == len(times) or times[after] > first + FCR_WINDOW


def _routing_figures(
    key: str, calls: Sequence[CallRow], later: Mapping[str, list[datetime]], label: str = ""
) -> RoutingFigures:
    answered = [r for r in calls if r.reached_staff]
    followable = [r for r in answered if r.caller is not None]
    return RoutingFigures(
        key=key,
        label=label or key,
        answered=len(answered),
        transferred=sum(1 for r in answered if r.handed_on),
        misrouted=sum(1 for r in answered if r.misrouted),
        moved=sum(1 for r in answered if r.moved),
        wrong_department=sum(1 for r in answered if r.wrong_department),
        followable=len(followable),
        resolved=sum(1 for r in followable if _resolved_first_time(r, later)),
    )


def _routing_metrics(f: RoutingFigures, targets: Targets) -> tuple[Metric, Metric, Metric]:
    """The range's misrouted rate, transfer rate and first-contact resolution."""
    hours = f"{FCR_WINDOW.total_seconds() / 3600:g} hours"
    misrouted = Metric(
        "misrouted",
        "Misrouted call rate",
        f.value("misrouted"),
        "ratio",
        targets.misrouted,
        "Calls answered by staff that staff then moved to another queue or category, or "
        "dispositioned 'wrong department', as a share of calls answered by staff.",
        {
            "misrouted": f.misrouted,
            "moved": f.moved,
            "wrong_department": f.wrong_department,
            "answered_by_staff": f.answered,
        },
        SEED_TARGETS["misrouted"],
    )
    transfers = Metric(
        "transfers",
        "Staff transfer rate",
        f.value("transfers"),
        "ratio",
        targets.transfers,
        "Calls answered by staff that staff then transferred (the phone's transfer button, or "
        "through frontdesk to a queue, a colleague or an external number), as a share of "
        "calls answered by staff.",
        {"transferred": f.transferred, "answered_by_staff": f.answered},
        SEED_TARGETS["transfers"],
    )
    fcr = Metric(
        "fcr",
        "First-contact resolution",
        f.value("fcr"),
        "ratio",
        targets.fcr,
        f"Calls answered by staff and resolved by the first agent (not transferred, not "
        f"misrouted, and no new call from the same number within {hours}), as a share of "
        f"calls answered by staff from a known number (the last {hours} of a range ending "
        f"now are provisional).",
        {
            "resolved": f.resolved,
            "answered_known_caller": f.followable,
            "answered_withheld": f.answered - f.followable,
        },
        SEED_TARGETS["fcr"],
    )
    return misrouted, transfers, fcr


def routing_by_category(
    calls: Sequence[CallRow], later: Mapping[str, list[datetime]]
) -> tuple[RoutingFigures, ...]:
    """Per category the menu routed to (`(none)`: no category), for the categories with
    calls answered by staff: most answered first, then by name."""
    groups: dict[str, list[CallRow]] = defaultdict(list)
    for r in calls:
        groups[r.category or UNKNOWN_CATEGORY].append(r)
    figures = [_routing_figures(name, rows, later) for name, rows in groups.items()]
    return tuple(sorted((f for f in figures if f.answered), key=lambda f: (-f.answered, f.key)))


def routing_by_week(
    calls: Sequence[CallRow],
    later: Mapping[str, list[datetime]],
    *,
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
) -> tuple[RoutingFigures, ...]:
    """Per practice-local week (Monday to Sunday) of the range, oldest first, every week
    of the range (empty ones too, so a trend has no gaps); a week the range cuts is
    labelled with the days it covers."""
    first_day = start.astimezone(zone).date()
    last_day = (end - timedelta(microseconds=1)).astimezone(zone).date()
    groups: dict[date, list[CallRow]] = defaultdict(list)
    for r in calls:
        if r.started_at is not None:
            groups[_monday(r.started_at.astimezone(zone).date())].append(r)
    weeks = []
    monday = _monday(first_day)
    while monday <= last_day:
        shown = (max(monday, first_day), min(monday + timedelta(days=6), last_day))
        label = f"{shown[0].isoformat()} to {shown[1].isoformat()}"
        weeks.append(_routing_figures(monday.isoformat(), groups[monday], later, label))
        monday += timedelta(days=7)
    return tuple(weeks)


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())
