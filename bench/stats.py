"""Pure helpers of the load benchmark: percentiles, Prometheus histograms, /proc reads,
and when to stop stepping up the call rate."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_SAMPLE = re.compile(r"^(?P<name>[a-z_:]+)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)$")


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile, q in 0..100; None when there are no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(len(ordered) * q / 100))
    return ordered[min(rank, len(ordered)) - 1]


def histogram_buckets(exposition: str, name: str) -> dict[float, float]:
    """Cumulative bucket counts (`le` -> count) of one unlabelled Prometheus histogram."""
    buckets: dict[float, float] = {}
    for line in exposition.splitlines():
        match = _SAMPLE.match(line.strip())
        if not match or match["name"] != f"{name}_bucket":
            continue
        le = re.search(r'le="([^"]+)"', match["labels"] or "")
        if le:
            buckets[float(le.group(1))] = float(match["value"])
    return buckets


def bucket_delta(after: Mapping[float, float], before: Mapping[float, float]) -> dict[float, float]:
    return {le: count - before.get(le, 0.0) for le, count in after.items()}


def histogram_quantile(buckets: Mapping[float, float], q: float) -> float | None:
    """Like PromQL's histogram_quantile (q in 0..1): linear within the bucket that holds
    the q-th observation; the top finite bound when it falls in `+Inf`."""
    items = sorted(buckets.items())
    if not items or items[-1][1] <= 0:
        return None
    rank = q * items[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in items:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return lower_bound


def gauge_sum(exposition: str, name: str) -> float:
    """The sum of every sample of a gauge, whatever its labels."""
    total = 0.0
    for line in exposition.splitlines():
        match = _SAMPLE.match(line.strip())
        if match and match["name"] == name:
            total += float(match["value"])
    return total


def vm_rss_kib(status_text: str) -> int:
    """`VmRSS` of a /proc/<pid>/status text, in KiB."""
    for line in status_text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise ValueError("no VmRSS line")


def cpu_seconds(stat_text: str, ticks_per_second: int) -> float:
    """User + system CPU time of a /proc/<pid>/stat text (the command may hold spaces)."""
    fields = stat_text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / ticks_per_second  # utime, stime


def cpu_model(cpuinfo_text: str) -> str:
    for line in cpuinfo_text.splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return "unknown"


@dataclass(frozen=True)
class StepVerdict:
    sustained: bool
    reason: str | None  # why not, in a few words


def judge_step(
    *,
    calls: int,
    completed: int,
    errors: int,
    placed_rate: float,
    target_rate: float,
    min_rate_share: float = 0.9,
) -> StepVerdict:
    """A step is sustained when every call reached its end state, nothing failed, and
    the driver really offered (nearly) the target rate."""
    if errors:
        return StepVerdict(False, f"{errors} error(s)")
    if completed < calls:
        return StepVerdict(False, f"{calls - completed} call(s) not completed in time")
    if placed_rate < min_rate_share * target_rate:
        return StepVerdict(False, f"only {placed_rate:.0f} calls/s could be placed")
    return StepVerdict(True, None)
