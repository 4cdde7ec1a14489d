"""Asterisk restarts (the emulator is killed and started again on the same ports): the
daemon reconnects ARI and AMI by itself, and the calls that were in flight — gone with the
old Asterisk, never seen to end — are recorded as `interrupted`."""

from __future__ import annotations

import signal
from typing import Any

from faults.conftest import Database
from faults.harness import EmulatorProcess, caller_number, callers_in_flight, wait_for


async def test_asterisk_restart_reconnects_and_records_in_flight_calls_as_interrupted(
    pbx: EmulatorProcess, database: Database, daemon_for: Any
) -> None:
    daemon = daemon_for(pbx, database.dsn)
    await daemon.ready()
    queued, in_menu = await callers_in_flight(pbx, daemon, menu_caller=9)
    in_flight = {*queued, in_menu}

    async def recorded(query: str, expected: set[str]) -> bool:
        return {r["linkedid"] for r in await database.fetch(query)} == expected

    await wait_for(lambda: recorded("SELECT linkedid FROM calls", in_flight), "the calls' rows", 10)

    pbx.send(signal.SIGKILL)  # Asterisk dies: every channel with it
    await pbx.exited(10)
    await pbx.ready()  # and comes back, empty, on the same ports

    await wait_for(lambda: len(daemon.events("calls.resynced")) >= 2, "ARI to reconnect", 20)
    await wait_for(
        lambda: recorded("SELECT linkedid FROM calls WHERE outcome = 'interrupted'", in_flight),
        "the in-flight calls to be recorded as interrupted",
        10,
    )
    rows = await database.fetch("SELECT linkedid, ended_at, abandoned FROM calls")
    assert all(r["ended_at"] is not None and not r["abandoned"] for r in rows)
    events = await database.fetch("SELECT linkedid FROM call_events WHERE kind = 'interrupted'")
    assert sorted(r["linkedid"] for r in events) == sorted(in_flight)  # once each
    # AMI came back too (phones are tracked again), and new calls are taken as before.
    await wait_for(
        lambda: sum('"state": "connected"' in line for line in daemon.text().splitlines()) >= 2,
        "AMI to reconnect",
        20,
    )
    after = await pbx.place_call(caller_number(20))
    await wait_for(lambda: pbx.queued(after), "a new call to be taken after the restart")
    assert daemon.running
    assert await pbx.violations() == []
