"""The primary PostgreSQL dies under load and its replica is promoted: no row lost or doubled.

The daemon gets a two-host `FRONTDESK_DATABASE_URL` with `target_session_attrs=read-write`.
Replication is cut 3 s before the primary is killed (`pg_ctl stop -m immediate`), so the
promoted replica lacks the primary's last commits, as an asynchronous replica of a
crashed primary does. The outbox must notice it reached another server and write its
recent records again; calls keep arriving before, during and after.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest

from faults.harness import AbandonLoad, EmulatorProcess, wait_for
from faults.pg_pair import PgPair
from frontdesk.store.embedded import candidates

CALL_GAP_S = 0.4


@pytest.fixture
async def pair() -> AsyncIterator[PgPair]:
    if not candidates():
        pytest.skip("no PostgreSQL binaries (initdb, pg_ctl, pg_basebackup)")
    pg = PgPair(Path(tempfile.mkdtemp(prefix="fd-fault-pair-", dir="/tmp")))
    try:
        await pg.start()
        await pg.wait_streaming()
        yield pg
    finally:
        await pg.close()


async def test_primary_dies_and_replica_is_promoted_mid_load_loses_and_doubles_no_row(
    pbx: EmulatorProcess, pair: PgPair, daemon_for: Any
) -> None:
    daemon = daemon_for(pbx, pair.failover_dsn())
    await daemon.ready()
    await daemon.pause_everyone()
    load = AbandonLoad(pbx, CALL_GAP_S)
    load.start()
    await asyncio.sleep(4)
    pair.replication.freeze()  # the replica hears nothing more ...
    await asyncio.sleep(3)  # ... while the primary commits on
    await pair.primary.stop("immediate")
    failed_at = time.monotonic()
    await pair.replication.drop()
    await pair.replica.promote()
    promoted_s = time.monotonic() - failed_at
    await asyncio.sleep(6)
    await load.stop()

    conn = await asyncpg.connect(pair.replica.dsn())
    try:
        await load.assert_each_call_once(conn, "every call's row on the promoted replica")
    finally:
        await conn.close()
    changed = daemon.events("store.server_changed")
    assert changed, "the failover to another server went unnoticed"
    assert changed[0]["rewriting"] > 0
    assert daemon.events("store.recent_rewritten")
    assert daemon.running
    assert await pbx.violations() == []
    print(f"\npromotion took {promoted_s:.1f} s; {len(load.placed)} calls, none lost or doubled")


async def test_the_pair_streams(pair: PgPair) -> None:
    """The fixture itself: the replica is read-only and follows the primary."""
    primary = await asyncpg.connect(pair.primary.dsn())
    replica = await asyncpg.connect(pair.replica.dsn())
    try:
        await primary.execute("CREATE TABLE t (x int); INSERT INTO t VALUES (1)")

        async def replicated() -> bool:
            try:
                return bool(await replica.fetchval("SELECT count(*) FROM t") == 1)
            except asyncpg.UndefinedTableError:
                return False

        await wait_for(replicated, "the row on the replica", 10)
        assert await replica.fetchval("SELECT pg_is_in_recovery()") is True
    finally:
        await primary.close()
        await replica.close()
