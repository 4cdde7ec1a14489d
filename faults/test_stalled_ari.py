"""A stalled ARI response: one call's request is never answered; every other call is
answered, routed and queued meanwhile, and the stalled call recovers when the daemon
gives up on that request and retries it."""

from __future__ import annotations

from functools import partial
from typing import Any

from faults.conftest import Database
from faults.harness import AriProxy, EmulatorProcess, caller_number, wait_for


async def test_a_stalled_ari_response_leaves_other_calls_unaffected(
    pbx: EmulatorProcess, database: Database, daemon_for: Any
) -> None:
    proxy = AriProxy(pbx.ari_port)
    await proxy.start()
    try:
        daemon = daemon_for(pbx, database.dsn, ari_url=proxy.ari_url)
        await daemon.ready()
        await daemon.pause_everyone()
        proxy.stall("/answer")
        stuck = await pbx.place_call(caller_number(0))
        await wait_for(lambda: proxy.stalled == [f"/ari/channels/{stuck}/answer"], "the stall")
        others = [await pbx.place_call(caller_number(n)) for n in range(1, 6)]
        for channel in others:
            await wait_for(partial(pbx.queued, channel), "another caller to be queued")
        # All of that happened while the daemon was still waiting for the stalled answer.
        assert proxy.gave_up == []
        assert not await pbx.queued(stuck)
        # The daemon gives up on that request (its timeout) and retries it: the call goes on.
        await wait_for(lambda: proxy.gave_up, "the daemon to give up the stalled request")
        await wait_for(lambda: pbx.queued(stuck), "the stalled call to recover")
        order = await daemon.queue_order("nurse_triage")
        assert sorted(order[:5]) == sorted(others)
        assert order[5] == stuck  # it joined last
        assert await pbx.violations() == []
    finally:
        await proxy.close()
