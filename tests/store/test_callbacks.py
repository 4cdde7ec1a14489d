"""`pending_callbacks`: written through the outbox (spooled in an outage), read back at start."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest

from frontdesk.store import Outbox, upgrade
from frontdesk.store.callbacks import load_pending_callbacks
from frontdesk.store.records import PendingCallback, from_json, to_json
from tests.store.conftest import via
from tests.store.test_outbox import FAST, closed_port

T0 = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
MakeOutbox = Callable[[str], Outbox]


@pytest.fixture
async def make_outbox(schema: str, tmp_path: Path) -> AsyncIterator[MakeOutbox]:
    made: list[Outbox] = []

    def make(dsn: str) -> Outbox:
        outbox = Outbox(
            dsn, tmp_path / "spool.jsonl", server_settings={"search_path": schema}, **FAST
        )  # type: ignore[arg-type]
        made.append(outbox)
        return outbox

    yield make
    for outbox in made:
        await outbox.close(timeout=2)


def callback(call_id: str, revision: int = 1, **changes: object) -> PendingCallback:
    record = PendingCallback(
        call_id=call_id,
        revision=revision,
        status="pending",
        queue="billing",
        priority="normal",
        skill=None,
        language_skill="spanish",
        category="billing",
        language="es",
        number="+13125551007",
        enqueued_at=T0,
        attempts=0,
        retry_at=None,
        escalated=False,
        at=T0 + timedelta(minutes=5),
    )
    return dataclasses.replace(record, **changes)  # type: ignore[arg-type]


def test_the_spool_form_round_trips() -> None:
    record = callback("c1", 3, attempts=1, retry_at=T0 + timedelta(minutes=15))
    assert from_json(to_json(record)) == record


async def test_pending_callbacks_come_back_in_queue_order_and_finished_ones_do_not(
    conn: asyncpg.Connection, pg_dsn: str, make_outbox: MakeOutbox
) -> None:
    await upgrade(conn)
    outbox = make_outbox(pg_dsn)
    outbox.start()
    later = callback("later", enqueued_at=T0 + timedelta(minutes=2))
    retried = callback("early", 2, attempts=1, retry_at=T0 + timedelta(minutes=20))
    for record in (
        later,
        callback("early"),
        retried,
        callback("front", priority="front", enqueued_at=T0 + timedelta(minutes=9)),
        callback("done"),
        callback("done", 2, status="done"),
        callback("task", 4, status="task", attempts=3),
        callback("gone", 2, status="cancelled"),
    ):
        outbox.put(record)
    assert await outbox.drain(10)
    loaded = await load_pending_callbacks(conn)
    assert [c.call_id for c in loaded] == ["front", "early", "later"]
    assert loaded[1] == retried
    assert loaded[2] == later


async def test_an_older_revision_never_overwrites_a_newer_one(
    conn: asyncpg.Connection, pg_dsn: str, make_outbox: MakeOutbox
) -> None:
    await upgrade(conn)
    outbox = make_outbox(pg_dsn)
    outbox.start()
    outbox.put(callback("c1", 2, status="done"))
    assert await outbox.drain(10)
    outbox.put(callback("c1", 1))  # a late replay of the accept
    outbox.put(callback("c2", 1))
    assert await outbox.drain(10)
    assert [c.call_id for c in await load_pending_callbacks(conn)] == ["c2"]
    row = await conn.fetchrow("SELECT revision, status FROM pending_callbacks WHERE call_id='c1'")
    assert (row["revision"], row["status"]) == (2, "done")


async def test_a_callback_accepted_during_an_outage_is_spooled_then_restored(
    conn: asyncpg.Connection, pg_dsn: str, make_outbox: MakeOutbox, tmp_path: Path
) -> None:
    await upgrade(conn)
    down = make_outbox(via(pg_dsn, closed_port()))
    down.start()
    down.put(callback("c1"))
    down.put(callback("c1", 2, attempts=1))
    assert not await down.drain(0.3)
    await down.close()
    assert "pending_callback" in (tmp_path / "spool.jsonl").read_text()
    assert await load_pending_callbacks(conn) == []

    up = make_outbox(pg_dsn)
    up.start()
    assert await up.drain(10)  # what the daemon waits for before it restores
    assert await load_pending_callbacks(conn) == [callback("c1", 2, attempts=1)]


async def test_a_callback_is_written_without_waiting_for_a_batch_to_fill(
    conn: asyncpg.Connection, pg_dsn: str, schema: str, tmp_path: Path
) -> None:
    await upgrade(conn)
    outbox = Outbox(
        pg_dsn,
        tmp_path / "spool.jsonl",
        server_settings={"search_path": schema},
        linger=60.0,  # other records would wait a minute for company
        **FAST,  # type: ignore[arg-type]
    )
    outbox.start()
    try:
        outbox.put(callback("c1"))
        for _ in range(100):
            if await conn.fetchval("SELECT count(*) FROM pending_callbacks") == 1:
                break
            await asyncio.sleep(0.05)
        assert [c.call_id for c in await load_pending_callbacks(conn)] == ["c1"]
    finally:
        await outbox.close(timeout=2)
