"""The load bench's pure helpers (bench/stats.py, bench/bench_plan.py): fast, no processes."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import bench_plan
import stats

from frontdesk.acd.callbacks import callback_allowed
from frontdesk.plan import load_plan

EXPOSITION = """\
# HELP frontdesk_event_loop_lag_seconds How late the event loop woke a task.
# TYPE frontdesk_event_loop_lag_seconds histogram
frontdesk_event_loop_lag_seconds_bucket{le="0.001"} 90.0
frontdesk_event_loop_lag_seconds_bucket{le="0.002"} 98.0
frontdesk_event_loop_lag_seconds_bucket{le="0.005"} 100.0
frontdesk_event_loop_lag_seconds_bucket{le="+Inf"} 100.0
frontdesk_event_loop_lag_seconds_count 100.0
frontdesk_queue_depth{queue="billing"} 3.0
frontdesk_queue_depth{queue="scheduling"} 4.0
"""


def test_percentile_nearest_rank() -> None:
    assert stats.percentile([5.0, 1.0, 3.0], 50) == 3.0
    assert stats.percentile([float(n) for n in range(1, 201)], 99) == 198.0
    assert stats.percentile([], 99) is None


def test_histogram_quantile_interpolates_within_the_bucket() -> None:
    buckets = stats.histogram_buckets(EXPOSITION, "frontdesk_event_loop_lag_seconds")
    assert buckets[0.001] == 90.0
    assert stats.histogram_quantile(buckets, 0.5) == pytest.approx(0.001 * 50 / 90)
    assert stats.histogram_quantile(buckets, 0.99) == pytest.approx(0.002 + 0.003 * 0.5)


def test_a_step_diff_only_counts_its_own_observations() -> None:
    before = {0.001: 90.0, 0.002: 98.0, 0.005: 100.0, float("inf"): 100.0}
    after = {0.001: 90.0, 0.002: 98.0, 0.005: 110.0, float("inf"): 110.0}
    delta = stats.bucket_delta(after, before)
    assert stats.histogram_quantile(delta, 0.5) == pytest.approx(0.002 + 0.003 * 0.5)
    assert stats.histogram_quantile({float("inf"): 0.0}, 0.99) is None


def test_gauge_sum_adds_every_label() -> None:
    assert stats.gauge_sum(EXPOSITION, "frontdesk_queue_depth") == 7.0


def test_proc_reads() -> None:
    assert stats.vm_rss_kib("Name:\tpython\nVmRSS:\t  81234 kB\n") == 81234
    stat = "4242 (frontdesk run) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0"
    assert stats.cpu_seconds(stat, 100) == 3.0
    assert (
        stats.cpu_model("processor\t: 0\nmodel name\t: Some CPU @ 2.0GHz\n") == "Some CPU @ 2.0GHz"
    )


def test_a_step_stops_on_errors_late_calls_or_an_unreached_rate() -> None:
    good = stats.judge_step(calls=100, completed=100, errors=0, placed_rate=99, target_rate=100)
    assert good.sustained
    errors = stats.judge_step(calls=100, completed=100, errors=2, placed_rate=100, target_rate=100)
    assert (errors.sustained, errors.reason) == (False, "2 error(s)")
    late = stats.judge_step(calls=100, completed=97, errors=0, placed_rate=100, target_rate=100)
    assert not late.sustained
    slow = stats.judge_step(calls=100, completed=100, errors=0, placed_rate=60, target_rate=100)
    assert not slow.sustained


def test_the_bench_plan_passes_the_plan_checks(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    staff = bench_plan.write_plan(path, 10)
    plan = load_plan(path)
    assert len(staff) == 13  # two nurses, ten agents, the overflow member
    assert plan.queues["referrals"].max_wait is not None
    assert plan.queues["referrals"].max_wait.total_seconds() == 2
    assert [s.extension for s in plan.members("referrals")] == [bench_plan.OVERFLOW_EXTENSION]


def test_bench_callers_may_all_be_called_back() -> None:
    # The callback journey presses 1 after max_wait: a caller the daemon may not call back
    # (an N11 or 976 exchange) hears no offer and hangs up, and the bench counted that
    # correct abandon as an error (about 1 callback journey in 90).
    rng = random.Random(1)
    refused = [
        n for n in (bench_plan.caller_number(rng) for _ in range(20_000)) if not callback_allowed(n)
    ]
    assert refused == []
    every = {str(n) for n in range(200, 1000) if callback_allowed(f"+1773{n}0000")}
    assert set(bench_plan.CALLABLE_EXCHANGES) == every  # no callable exchange left out
