"""kill -9 the daemon with 50 callers waiting, start it again: every caller re-adopted, in
their original order, none lost."""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Any

from faults.conftest import Database
from faults.harness import EmulatorProcess, caller_number, wait_for

CALLERS = 50


async def test_kill_9_with_50_callers_waiting_readopts_all_in_order(
    pbx: EmulatorProcess, database: Database, daemon_for: Any
) -> None:
    first = daemon_for(pbx, database.dsn, name="daemon-1")
    await first.ready()
    await first.pause_everyone()  # nobody answers: every caller waits
    channels = []
    for n in range(CALLERS):
        channels.append(await pbx.place_call(caller_number(n)))
        await asyncio.sleep(0.02)

    async def all_queued() -> bool:
        return all(await asyncio.gather(*(pbx.queued(c) for c in channels)))

    await wait_for(all_queued, "50 callers to wait in nurse_triage", 60)
    order = await first.queue_order("nurse_triage")
    assert sorted(order) == sorted(channels)
    saved = {c: json.loads((await pbx.channel(c))["variables"]["FRONTDESK_STATE"]) for c in order}
    assert [saved[c]["t"] for c in order] == sorted(saved[c]["t"] for c in order)

    first.send(signal.SIGKILL)
    assert await first.exited(10) == -signal.SIGKILL
    second = daemon_for(pbx, database.dsn, name="daemon-2")
    await second.ready()

    async def readopted() -> bool:
        return len(await second.queue_order("nurse_triage")) == CALLERS

    await wait_for(readopted, "the restarted daemon to re-adopt 50 callers", 30)
    assert await second.queue_order("nurse_triage") == order
    for channel in channels:  # Asterisk still has every one of them, waiting in frontdesk
        snap = await pbx.channel(channel)
        assert not snap["hung_up"], channel
        assert snap["in_stasis"], channel
    rows = await database.fetch("SELECT linkedid, outcome FROM calls ORDER BY linkedid")
    assert {r["linkedid"] for r in rows} == set(channels)
    assert all(r["outcome"] is None for r in rows)  # still waiting: no outcome yet
    assert await pbx.violations() == []
