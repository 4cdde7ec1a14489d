"""End to end: a callback accepted before a restart is made after it, at its turn.

The emulated Asterisk, the call runtime and the ACD as in tests/test_acd_calls.py, with
the pending callbacks going through a real outbox into a real PostgreSQL (a schema of
its own), and read back by the restarted runtime as the daemon does at start.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from frontdesk.acd.model import AgentPause
from frontdesk.calls.acd_runtime import AcdRuntime
from frontdesk.emulator import Emulator
from frontdesk.plan import Plan
from frontdesk.store import Outbox, upgrade
from frontdesk.store.callbacks import load_pending_callbacks
from frontdesk.store.db import Connection, connect
from tests.conftest import local
from tests.store.conftest import pg_dsn as pg_dsn
from tests.store.conftest import schema as schema
from tests.test_acd_calls import FastClock, _hung_up, open_practice
from tests.test_acd_calls import pbx as pbx

CHLOE = "2003"  # the only billing agent logged in
PATIENT = "+13125551001"


@pytest.fixture
async def db(pg_dsn: str, schema: str) -> AsyncIterator[Connection]:
    conn = await connect(pg_dsn, timeout=5, server_settings={"search_path": schema})
    await upgrade(conn)
    yield conn
    await conn.close()


def outbox_for(pg_dsn: str, schema: str, spool: Path) -> Outbox:
    outbox = Outbox(pg_dsn, spool, server_settings={"search_path": schema}, linger=0.0)
    outbox.start()
    return outbox


async def status_of(db: Connection, call_id: str) -> str | None:
    rows = await db.fetch("SELECT status FROM pending_callbacks WHERE call_id = $1", call_id)
    return str(rows[0]["status"]) if rows else None


async def test_a_pending_callback_survives_a_restart_and_is_made_at_its_turn(
    plan: Plan, pbx: Emulator, pg_dsn: str, schema: str, db: Connection, tmp_path: Path
) -> None:
    clock = FastClock(local("2026-11-30 10:00"))
    outbox = outbox_for(pg_dsn, schema, tmp_path / "spool.jsonl")

    def busy(queues: AcdRuntime) -> None:
        queues.feed(AgentPause(CHLOE))  # billing callers wait
        queues.callbacks.sink = outbox.put

    async with open_practice(plan, pbx, logged_in=[CHLOE], clock=clock, before_start=busy) as first:
        before = await first.call("2", caller="anonymous")  # never offered a callback
        patient = await first.call("2", caller=PATIENT)
        after = await first.call("2", caller="anonymous")
        await first.wait_for(
            lambda: "sound:frontdesk/callback-offer" in pbx.pbx.history[patient].media, timeout=10
        )  # billing's max_wait is 5 min
        await pbx.press(patient, "1")
        await first.wait_for(lambda: _hung_up(pbx, patient))
        place = first.queues.engine.snapshot(clock()).queue("billing").callers
        assert [(c.call_id, c.status) for c in place] == [
            (before, "waiting"),
            (patient, "callback"),
            (after, "waiting"),
        ]
        enqueued = {c.call_id: c.enqueued_at for c in place}
        assert await outbox.drain(5)
        assert await status_of(db, patient) == "pending"
    await outbox.close()  # the daemon is gone: only the database remembers the callback

    pending = await load_pending_callbacks(db)
    assert [(c.call_id, c.number, c.enqueued_at) for c in pending] == [
        (patient, PATIENT, enqueued[patient])
    ]
    outbox = outbox_for(pg_dsn, schema, tmp_path / "spool.jsonl")

    def restart(queues: AcdRuntime) -> None:  # Chloe is free at once this time
        queues.callbacks.sink = outbox.put
        queues.restore_callbacks(pending)

    async with open_practice(
        plan, pbx, logged_in=[CHLOE], clock=clock, before_start=restart
    ) as second:
        await second.wait_for(lambda: len(second.queues.calls) == 3)
        # Re-adopted callers and the restored callback rejoin in their original order:
        # the first caller in line, not the callback, gets Chloe.
        first_in_line = second.queues.calls[before]
        await second.wait_for(lambda: second.queues.state(first_in_line.channel) == "talking")
        place = second.queues.engine.snapshot(clock()).queue("billing").callers
        assert [(c.call_id, c.status) for c in place] == [(patient, "callback"), (after, "waiting")]
        assert {c.call_id: c.enqueued_at for c in place} == {
            c: enqueued[c] for c in (patient, after)
        }
        assert first_in_line.agent_leg is not None
        await pbx.agent_hangup(first_in_line.agent_leg)  # Chloe finishes with the first caller

        callback = second.queues.calls[patient]
        await second.wait_for(
            lambda: second.queues.state(callback.channel) == "talking", timeout=10
        )
        assert callback.agent_leg is not None
        assert callback.patient_leg is not None
        assert "sound:frontdesk/callback-billing" in pbx.pbx.history[callback.agent_leg].media
        assert pbx.pbx.history[callback.patient_leg].dialstring.endswith(f"{PATIENT}@trunk")
        assert second.queues.engine.caller(after) is not None  # still waiting: its turn is next
        assert await outbox.drain(5)
    await outbox.close()
    assert await status_of(db, patient) == "done"
    assert await load_pending_callbacks(db) == []  # a callback made never comes back
