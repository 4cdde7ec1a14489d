"""SIGTERM: new calls go to the dialplan's fallback, the outbox is flushed, and the daemon
exits within 5 s; callers waiting in frontdesk's queues stay in Asterisk for the next start."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from functools import partial
from typing import Any

from faults.conftest import Database
from faults.harness import EmulatorProcess, caller_number, callers_in_flight, wait_for

EXIT_BOUND_S = 5.0
MARGIN_S = 0.5  # process start-up and polling granularity of the test itself


def handed_to_dialplan(snap: dict[str, Any]) -> bool:
    """Out of Stasis with no route: extensions.conf's frontdesk-fallback rings the desk."""
    variables = snap["variables"]
    continued = snap["continued_to"] is not None or variables.get("STASISSTATUS") == "FAILED"
    return continued and not snap["in_stasis"] and "FRONTDESK_ROUTE" not in variables


async def test_sigterm_hands_new_calls_to_the_dialplan_flushes_and_exits_within_5_s(
    pbx: EmulatorProcess, database: Database, daemon_for: Any
) -> None:
    daemon = daemon_for(pbx, database.dsn)
    await daemon.ready()
    queued, in_menu = await callers_in_flight(pbx, daemon, menu_caller=10)

    new_calls: list[str] = []

    async def keep_calling() -> None:
        n = 100
        while True:
            with contextlib.suppress(AssertionError):  # 503 once the PBX refuses: not here
                new_calls.append(await pbx.place_call(caller_number(n)))
            n += 1
            await asyncio.sleep(0.05)

    started = time.monotonic()
    daemon.send(signal.SIGTERM)
    caller = asyncio.create_task(keep_calling())
    code = await daemon.exited(EXIT_BOUND_S + MARGIN_S + 5)
    took = time.monotonic() - started
    await asyncio.sleep(0.3)  # a few calls after the exit too
    caller.cancel()
    await asyncio.gather(caller, return_exceptions=True)

    assert code == 0, daemon.text()[-2000:]
    assert took <= EXIT_BOUND_S + MARGIN_S, f"exit took {took:.2f} s"
    assert '"event": "frontdesk.stopped"' in daemon.text()
    # Every call that arrived after SIGTERM, and the caller still in the menu, went to the
    # dialplan with no route; none was left in the Stasis app with nobody listening.
    assert len(new_calls) >= 3
    for channel in [in_menu, *new_calls]:
        await wait_for(partial(_handed, pbx, channel), f"{channel} to be handed to the dialplan", 5)
    assert (await pbx.channel(in_menu))["continued_to"] is not None  # by frontdesk itself
    # Waiting callers were not dropped: still in Asterisk, in frontdesk's holding bridge.
    for channel in queued:
        snap = await pbx.channel(channel)
        assert snap["in_stasis"], channel
        assert not snap["hung_up"], channel
        assert await pbx.queued(channel)
    # The outbox was flushed to PostgreSQL (nothing left in memory or in the spool).
    joined = await database.fetch("SELECT linkedid FROM call_events WHERE kind = 'joined'")
    assert {r["linkedid"] for r in joined} == set(queued)
    started_rows = await database.fetch("SELECT linkedid FROM calls WHERE started_at IS NOT NULL")
    assert {*queued, in_menu} <= {r["linkedid"] for r in started_rows}
    spool = daemon.data_dir / "spool.jsonl"
    assert not spool.exists() or spool.stat().st_size == 0
    # The next start takes the waiting callers back, in their order.
    again = daemon_for(pbx, database.dsn, name="daemon-2")
    await again.ready()

    async def readopted() -> bool:
        return sorted(await again.queue_order("nurse_triage")) == sorted(queued)

    await wait_for(readopted, "the waiting callers to be re-adopted")
    assert await pbx.violations() == []


async def _handed(pbx: EmulatorProcess, channel: str) -> bool:
    return handed_to_dialplan(await pbx.channel(channel))
