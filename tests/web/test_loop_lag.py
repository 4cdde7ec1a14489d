"""`frontdesk_event_loop_lag_seconds`: how late the event loop wakes a sleeping task."""

from __future__ import annotations

import asyncio
import contextlib
import time

from frontdesk.web.ops import Metrics, Probes


def _metrics() -> Metrics:
    return Metrics(
        Probes(
            ari=lambda: True,
            ami=lambda: True,
            database=lambda: None,
            queue_depths=dict,
            longest_waits=dict,
            spool_depth=lambda: 0,
            calls_in_app=lambda: 0,
        )
    )


def _sample(metrics: Metrics, name: str, labels: dict[str, str] | None = None) -> float:
    value = metrics.registry.get_sample_value(name, labels or {})
    return 0.0 if value is None else value


async def test_a_blocked_loop_shows_as_lag() -> None:
    metrics = _metrics()
    watcher = asyncio.create_task(metrics.watch_loop(interval=0.01))
    await asyncio.sleep(0.05)  # a few quiet wake-ups
    time.sleep(0.06)  # synchronous work holding the loop
    await asyncio.sleep(0.03)
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watcher

    count = _sample(metrics, "frontdesk_event_loop_lag_seconds_count")
    assert count >= 3
    under_20ms = _sample(metrics, "frontdesk_event_loop_lag_seconds_bucket", {"le": "0.02"})
    assert under_20ms <= count - 1  # the blocked wake-up was late by ~50 ms
    assert _sample(metrics, "frontdesk_event_loop_lag_seconds_sum") >= 0.04
    assert b"frontdesk_event_loop_lag_seconds_bucket" in metrics.exposition()


async def test_nothing_is_observed_until_the_watcher_runs() -> None:
    metrics = _metrics()
    assert _sample(metrics, "frontdesk_event_loop_lag_seconds_count") == 0.0
