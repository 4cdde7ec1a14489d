"""PostgreSQL stopped for 30 s under load: every call still gets its row, none twice.

The daemon's database is a private server (store/embedded.py) under a temporary
directory, so the machine's shared PostgreSQL is never stopped. Calls keep arriving
before, during and after the outage; each waits in the queue and hangs up (an abandon).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest

from faults.harness import AbandonLoad, EmulatorProcess, free_port, wait_for
from frontdesk.store.embedded import EmbeddedPostgres, EmbeddedPostgresError, candidates

OUTAGE_S = 30.0
CALL_GAP_S = 0.4


@pytest.fixture
async def private_pg() -> AsyncIterator[EmbeddedPostgres]:
    if not candidates():
        pytest.skip("no PostgreSQL binaries (initdb, pg_ctl) for a private server")
    # Under /tmp (a short unix socket path), mode 0755: as root the server runs as an
    # unprivileged user that must be able to enter it.
    folder = Path(tempfile.mkdtemp(prefix="fd-fault-pg-", dir="/tmp"))
    folder.chmod(0o755)
    server = EmbeddedPostgres(folder, port=free_port())
    try:
        await server.start()
        yield server
    finally:
        with contextlib.suppress(EmbeddedPostgresError):
            await server.stop()
        shutil.rmtree(folder, ignore_errors=True)


async def test_postgres_down_30_s_under_load_loses_and_duplicates_no_call(
    pbx: EmulatorProcess, private_pg: EmbeddedPostgres, daemon_for: Any
) -> None:
    dsn = private_pg.dsn
    assert dsn is not None
    daemon = daemon_for(pbx, dsn)
    await daemon.ready()
    await daemon.pause_everyone()
    load = AbandonLoad(pbx, CALL_GAP_S)
    load.start()
    await asyncio.sleep(3)
    await private_pg.stop()
    down_at = time.monotonic()
    during = len(load.placed)
    await asyncio.sleep(OUTAGE_S)
    await private_pg.start()
    assert time.monotonic() - down_at >= OUTAGE_S
    assert len(load.placed) - during >= OUTAGE_S / CALL_GAP_S / 2  # calls kept coming
    await asyncio.sleep(3)
    await load.stop()
    assert daemon.events("store.unavailable"), "the outage was never noticed"

    conn = await asyncpg.connect(dsn)
    try:
        # The outbox reconnects with backoff (up to 30 s between tries), then replays.
        rows = await load.assert_each_call_once(conn, "every call's row after the outage")
        assert all(r["category"] == "refill" for r in rows)
    finally:
        await conn.close()
    assert daemon.events("store.reconnected")
    spool = daemon.data_dir / "spool.jsonl"
    await wait_for(lambda: not spool.exists() or spool.stat().st_size == 0, "the spool to empty")
    assert daemon.running
    assert await pbx.violations() == []
