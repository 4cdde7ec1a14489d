"""Several sites on one database (migration 0011): every row carries the writer's site,
from the connection's `frontdesk.site` setting, and what a daemon reads back at start is
its own site's only."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest

from frontdesk.store import Outbox, upgrade
from frontdesk.store import board as store_board
from frontdesk.store.agent_calls import calls_since
from frontdesk.store.callbacks import load_pending_callbacks
from frontdesk.store.migrations import available
from frontdesk.store.presence import load_agent_presence
from frontdesk.store.records import (
    AgentPresence,
    AgentStateChange,
    AuditEntry,
    CallEvent,
    CallUpsert,
    Disposition,
    PendingCallback,
)
from tests.store.test_outbox import FAST

T0 = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
SITE_TABLES = (
    "calls",
    "call_events",
    "callbacks",
    "voicemails",
    "agent_state_changes",
    "dispositions",
    "audit_log",
    "pending_callbacks",
    "agent_presence",
    "active_daemons",
)
MakeOutbox = Callable[[str], Outbox]
OpenAt = Callable[[str], Awaitable[asyncpg.Connection]]


@pytest.fixture
async def outbox_at(schema: str, pg_dsn: str, tmp_path: Path) -> AsyncIterator[MakeOutbox]:
    made: list[Outbox] = []

    def make(site: str) -> Outbox:
        settings = {"search_path": schema, "frontdesk.site": site}
        outbox = Outbox(pg_dsn, tmp_path / f"{site}.jsonl", server_settings=settings, **FAST)  # type: ignore[arg-type]
        made.append(outbox)
        outbox.start()
        return outbox

    yield make
    for outbox in made:
        await outbox.close(timeout=2)


@pytest.fixture
async def site_conn(pg_dsn: str, schema: str) -> AsyncIterator[OpenAt]:
    opened: list[asyncpg.Connection] = []

    async def open_at(site: str) -> asyncpg.Connection:
        conn = await asyncpg.connect(
            pg_dsn, server_settings={"search_path": schema, "frontdesk.site": site}
        )
        opened.append(conn)
        return conn

    yield open_at
    for conn in opened:
        await conn.close()


def _callback(call_id: str) -> PendingCallback:
    return PendingCallback(
        call_id, 1, "pending", "billing", "normal", None, None, "billing", "en",
        "+13125550100", T0, 0, None, False, T0,
    )  # fmt: skip


def _site_records(prefix: str) -> list[object]:
    call = f"{prefix}-1764601200.1"
    return [
        CallUpsert(call, {"queue": "billing", "agent": "2001", "started_at": T0,
                          "answered_at": T0 + timedelta(seconds=5), "wait_s": 5}),
        CallEvent(call, f"{call}:started", T0, "call_started"),
        AgentStateChange("2001", T0, "logged_in"),
        AuditEntry(T0, "agent:2001", "agent_login", "2001"),
        Disposition(call, "2001", T0 + timedelta(seconds=30), "booked"),
        _callback(f"{prefix}-1764601200.2"),
        AgentPresence("2001", 1, True, prefix == "north", "lunch" if prefix == "north" else None, T0),
    ]  # fmt: skip


def test_0011_is_the_sites_migration() -> None:
    assert [m.version for m in available()][-1] >= 11
    assert any(m.version == 11 and "sites" in m.name for m in available())


async def test_every_row_carries_its_writers_site(
    conn: asyncpg.Connection, outbox_at: MakeOutbox
) -> None:
    await upgrade(conn)
    for site in ("north", "south"):
        outbox = outbox_at(site)
        for record in _site_records(site):
            outbox.put(record)  # type: ignore[arg-type]
        assert await outbox.drain(5)
    for table in ("calls", "call_events", "agent_state_changes", "audit_log",
                  "dispositions", "pending_callbacks", "agent_presence"):  # fmt: skip
        rows = await conn.fetch(f"SELECT site, count(*) AS n FROM {table} GROUP BY site")
        assert {r["site"]: r["n"] for r in rows} == {"north": rows[0]["n"], "south": rows[0]["n"]}
    # extension 2001 exists at both sites, each with its own presence
    assert await conn.fetchval("SELECT count(*) FROM agent_presence WHERE agent = '2001'") == 2


async def test_each_site_reads_back_its_own(
    conn: asyncpg.Connection, outbox_at: MakeOutbox, site_conn: OpenAt
) -> None:
    await upgrade(conn)
    for site in ("north", "south"):
        outbox = outbox_at(site)
        for record in _site_records(site):
            outbox.put(record)  # type: ignore[arg-type]
        assert await outbox.drain(5)
    north = await site_conn("north")
    south = await site_conn("south")
    assert (await load_agent_presence(north))["2001"].paused
    assert not (await load_agent_presence(south))["2001"].paused
    assert [c.call_id for c in await load_pending_callbacks(north)] == ["north-1764601200.2"]
    assert [c.call_id for c in await load_pending_callbacks(south)] == ["south-1764601200.2"]
    mine = await calls_since(north, "2001", T0 - timedelta(hours=1))
    assert [c.linkedid for c in mine] == ["north-1764601200.1"]
    assert len(await store_board.queue_outcomes(south, T0 - timedelta(hours=1))) == 1
    # a connection without the setting (a script) is the default site: nothing there
    assert await load_agent_presence(conn) == {}


async def test_existing_rows_belong_to_the_default_site(conn: asyncpg.Connection) -> None:
    old = [m for m in available() if m.version < 11]
    await upgrade(conn, migrations=old)
    await conn.execute("INSERT INTO calls (linkedid) VALUES ('pbx-1.1')")
    await conn.execute(
        "INSERT INTO agent_presence (agent, revision, logged_in, paused, changed_at)"
        " VALUES ('2001', 1, true, false, now())"
    )
    await upgrade(conn)
    assert await conn.fetchval("SELECT site FROM calls") == "main"
    assert await conn.fetchval("SELECT site FROM agent_presence") == "main"
    for table in SITE_TABLES:
        default = await conn.fetchval(
            "SELECT column_default FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = $1 AND column_name = 'site'",
            table,
        )
        assert "frontdesk.site" in default, table


async def test_a_site_name_is_checked(conn: asyncpg.Connection) -> None:
    await upgrade(conn)
    await conn.execute("SET frontdesk.site = 'North Side'")
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute("INSERT INTO calls (linkedid) VALUES ('x-1.1')")
