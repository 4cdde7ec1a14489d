from __future__ import annotations

import shutil
import socket
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest

from frontdesk.store import (
    AgentStateChange,
    AuditEntry,
    CallEvent,
    CallUpsert,
    Outbox,
    Record,
    upgrade,
)
from frontdesk.store.records import Disposition
from tests.store.conftest import TcpProxy, via

T0 = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
FAST = {
    "statement_timeout": 1.0,
    "write_timeout": 1.0,
    "connect_timeout": 0.5,
    "backoff_initial": 0.05,
    "backoff_max": 0.2,
}

MakeOutbox = Callable[..., Outbox]


@pytest.fixture
async def migrated(conn: asyncpg.Connection) -> asyncpg.Connection:
    await upgrade(conn)
    return conn


@pytest.fixture
async def make_outbox(schema: str, tmp_path: Path) -> AsyncIterator[MakeOutbox]:
    made: list[Outbox] = []

    def make(dsn: str, spool: str = "spool.jsonl", **options: Any) -> Outbox:
        outbox = Outbox(
            dsn,
            tmp_path / spool,
            server_settings={"search_path": schema},
            **{**FAST, **options},
        )
        made.append(outbox)
        return outbox

    yield make
    for outbox in made:
        await outbox.close(timeout=2)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def workload(calls: int, events_per_call: int) -> list[Record]:
    records: list[Record] = []
    for c in range(calls):
        linkedid = f"lab-1795738735.{c}"
        records.append(
            CallUpsert(
                linkedid,
                {"caller": f"+1312555{c:04d}", "dialled": "+13125550000", "started_at": T0},
                key=f"{linkedid}:start",
            )
        )
        for e in range(events_per_call):
            records.append(
                CallEvent(
                    linkedid, f"{linkedid}:ev:{e}", T0 + timedelta(seconds=e), "dtmf", {"n": e}
                )
            )
        records.append(
            CallUpsert(linkedid, {"outcome": "answered", "talk_s": 30}, key=f"{linkedid}:end")
        )
    records.append(AgentStateChange("2001", T0, "logged_in", key="agent:2001:1"))
    records.append(AuditEntry(T0, "system", "daemon.start", key="audit:1"))
    return records


async def counts(conn: asyncpg.Connection) -> dict[str, int]:
    result = {}
    for table in ("calls", "call_events", "agent_state_changes", "audit_log"):
        result[table] = await conn.fetchval(f"SELECT count(*) FROM {table}")
    return result


def expected(calls: int, events_per_call: int) -> dict[str, int]:
    return {
        "calls": calls,
        "call_events": calls * events_per_call,
        "agent_state_changes": 1,
        "audit_log": 1,
    }


async def test_writes_n_records_exactly(
    migrated: asyncpg.Connection, pg_dsn: str, make_outbox: MakeOutbox
) -> None:
    outbox = make_outbox(pg_dsn, batch_size=7)
    outbox.start()
    for record in workload(20, 5):
        outbox.put(record)
    assert await outbox.drain(10)
    assert await counts(migrated) == expected(20, 5)
    row = await migrated.fetchrow("SELECT * FROM calls WHERE linkedid = 'lab-1795738735.3'")
    assert row["caller"] == "+13125550003"
    assert row["outcome"] == "answered"
    assert row["talk_s"] == 30
    assert row["started_at"] == T0
    assert outbox.spooled == 0
    assert outbox.written == len(workload(20, 5))


async def test_upsert_merge_later_non_null_wins(
    migrated: asyncpg.Connection, pg_dsn: str, make_outbox: MakeOutbox
) -> None:
    outbox = make_outbox(pg_dsn)
    outbox.start()
    outbox.put(CallUpsert("x", {"queue": "scheduling", "urgent": True, "destination": {"q": 1}}))
    outbox.put(CallUpsert("x", {"queue": "nurse_triage", "agent": None, "wait_s": 12}))
    outbox.put(CallUpsert("x", {"queue": None, "agent": "2001", "urgent": None}))
    assert await outbox.drain(5)
    row = await migrated.fetchrow("SELECT * FROM calls WHERE linkedid = 'x'")
    assert (row["queue"], row["agent"], row["urgent"], row["wait_s"]) == (
        "nurse_triage",
        "2001",
        True,
        12,
    )
    assert row["destination"] == '{"q": 1}'
    assert row["escalated"] is False


async def test_hostile_caller_id_is_stored_verbatim(
    migrated: asyncpg.Connection, pg_dsn: str, make_outbox: MakeOutbox
) -> None:
    evil = "'); DROP TABLE calls;--"
    outbox = make_outbox(pg_dsn)
    outbox.start()
    outbox.put(CallUpsert(evil, {"caller": evil, "disposition": evil, "destination": {evil: evil}}))
    outbox.put(CallEvent(evil, evil, T0, evil, {"caller": evil}))
    outbox.put(AuditEntry(T0, evil, evil, evil, {evil: evil}, key=evil))
    assert await outbox.drain(5)
    row = await migrated.fetchrow("SELECT * FROM calls")
    assert (row["linkedid"], row["caller"], row["disposition"]) == (evil, evil, evil)
    assert await migrated.fetchval("SELECT destination ->> $1 FROM calls", evil) == evil
    assert await migrated.fetchval("SELECT data ->> 'caller' FROM call_events") == evil
    assert await migrated.fetchval("SELECT actor FROM audit_log") == evil


async def test_a_refused_record_does_not_block_the_rest(
    migrated: asyncpg.Connection, pg_dsn: str, make_outbox: MakeOutbox, tmp_path: Path
) -> None:
    await migrated.execute("ALTER TABLE calls ADD CONSTRAINT short CHECK (length(caller) < 20)")
    outbox = make_outbox(pg_dsn)
    outbox.start()
    outbox.put(CallUpsert("a", {"caller": "+13125550001"}))
    outbox.put(CallUpsert("b", {"caller": "x" * 30}))
    outbox.put(CallUpsert("c", {"caller": "+13125550003"}))
    assert await outbox.drain(5)
    rows = await migrated.fetch("SELECT linkedid FROM calls ORDER BY linkedid")
    assert [r["linkedid"] for r in rows] == ["a", "c"]
    assert outbox.refused == 1
    assert "x" * 30 in (tmp_path / "spool.jsonl.rejected").read_text()


async def test_one_batch_applies_its_records_as_if_one_by_one(
    migrated: asyncpg.Connection, pg_dsn: str, make_outbox: MakeOutbox
) -> None:
    outbox = make_outbox(pg_dsn)
    batch: list[Record] = [
        CallEvent("e", "e:1", T0, "started"),  # before the call's first upsert
        CallUpsert("e", {"queue": "first", "wait_s": 4}, key="e:up"),
        CallUpsert("e", {"queue": "again"}, key="e:up"),  # the same key: merged once
        CallEvent("e", "e:1", T0, "started"),  # the same key: stored once
        CallUpsert("e", {"agent": "2001"}),
        CallUpsert("e", {}),
        CallUpsert("bare", {}),
        # a disposition, then an upsert that sets the column too: the upsert wins
        Disposition("d1", "2001", T0, "booked"),
        CallUpsert("d1", {"disposition": "resolved"}),
        # the other way round: the disposition wins
        CallUpsert("d2", {"disposition": "resolved"}),
        Disposition("d2", "2001", T0, "booked"),
    ]
    for record in batch:  # all queued before the writer starts: one batch
        outbox.put(record)
    outbox.start()
    assert await outbox.drain(5)
    rows = {r["linkedid"]: r for r in await migrated.fetch("SELECT * FROM calls")}
    assert set(rows) == {"e", "bare", "d1", "d2"}
    assert (rows["e"]["queue"], rows["e"]["wait_s"], rows["e"]["agent"]) == ("first", 4, "2001")
    assert (rows["d1"]["disposition"], rows["d2"]["disposition"]) == ("resolved", "booked")
    assert await migrated.fetchval("SELECT count(*) FROM call_events") == 1
    assert outbox.written == len(batch)


async def test_a_refused_upsert_leaves_the_later_ones_of_its_call(
    migrated: asyncpg.Connection, pg_dsn: str, make_outbox: MakeOutbox
) -> None:
    outbox = make_outbox(pg_dsn)
    outbox.put(CallUpsert("r", {"queue": "q", "wait_s": -1}))  # calls.wait_s >= 0
    outbox.put(CallUpsert("r", {"wait_s": 3, "talk_s": 5}))
    outbox.start()
    assert await outbox.drain(5)
    row = await migrated.fetchrow("SELECT * FROM calls WHERE linkedid = 'r'")
    assert (row["queue"], row["wait_s"], row["talk_s"]) == (None, 3, 5)
    assert outbox.refused == 1


async def test_unreachable_database_spools_then_replays_without_duplicates(
    migrated: asyncpg.Connection, pg_dsn: str, make_outbox: MakeOutbox, tmp_path: Path
) -> None:
    records = workload(10, 3)
    down = make_outbox(via(pg_dsn, closed_port()))
    down.start()
    started = time.perf_counter()
    for record in records:
        down.put(record)
    assert time.perf_counter() - started < 0.05  # put never waits for the database
    assert not await down.drain(0.5)
    await down.close()
    spool = tmp_path / "spool.jsonl"
    assert len(spool.read_text().splitlines()) == len(records)
    assert await counts(migrated) == dict.fromkeys(expected(10, 3), 0)
    keep = tmp_path / "copy.jsonl"
    shutil.copy(spool, keep)

    up = make_outbox(pg_dsn)
    up.start()
    assert await up.drain(10)
    assert await counts(migrated) == expected(10, 3)
    assert spool.read_text() == ""
    assert up.replayed == len(records)
    await up.close()

    # the same spool replayed a second time (a crash before it was emptied): no duplicates
    shutil.copy(keep, spool)
    again = make_outbox(pg_dsn)
    again.put(CallUpsert("lab-1795738735.0", {"disposition": "after-replay"}))
    again.start()
    assert await again.drain(10)
    assert await counts(migrated) == expected(10, 3)
    row = await migrated.fetchrow("SELECT * FROM calls WHERE linkedid = 'lab-1795738735.0'")
    # the replayed upserts were applied once, before: they do not overwrite newer data
    assert (row["outcome"], row["disposition"]) == ("answered", "after-replay")


async def test_cut_connection_spools_and_replays_in_order(
    migrated: asyncpg.Connection,
    pg_dsn: str,
    make_outbox: MakeOutbox,
    proxy: TcpProxy,
    tmp_path: Path,
) -> None:
    outbox = make_outbox(via(pg_dsn, proxy.port))
    outbox.start()
    outbox.put(CallUpsert("c1", {"queue": "first"}))
    assert await outbox.drain(5)
    proxy.cut()
    for n in range(50):
        outbox.put(CallEvent("c1", f"c1:{n}", T0, "tick", {"n": n}))
    outbox.put(CallUpsert("c1", {"queue": "second"}))
    assert not await outbox.drain(0.5)
    assert not outbox.connected
    assert outbox.spooled == 51
    assert (tmp_path / "spool.jsonl").stat().st_size > 0
    proxy.restore()
    outbox.put(CallUpsert("c1", {"queue": "third"}))  # after the spooled ones
    assert await outbox.drain(10)
    assert await migrated.fetchval("SELECT count(*) FROM call_events") == 50
    assert await migrated.fetchval("SELECT queue FROM calls WHERE linkedid = 'c1'") == "third"


async def test_a_connection_to_another_server_writes_the_recent_records_again(
    migrated: asyncpg.Connection, pg_dsn: str, make_outbox: MakeOutbox, proxy: TcpProxy
) -> None:
    """A failover to a replica that lacks the last commits (faults/test_pg_failover.py
    does it with two servers): here the loss is made by hand and the server's identity
    as last seen is made to differ, as after a promotion elsewhere."""
    outbox = make_outbox(via(pg_dsn, proxy.port))
    outbox.start()
    for record in workload(3, 2):
        outbox.put(record)
    assert await outbox.drain(5)
    await migrated.execute("DELETE FROM call_upserts_applied WHERE linkedid LIKE '%.2'")
    await migrated.execute("DELETE FROM call_events WHERE linkedid LIKE '%.2'")
    await migrated.execute("DELETE FROM calls WHERE linkedid LIKE '%.2'")  # "never replicated"
    outbox._server = "the old primary"  # what the dead primary answered
    proxy.cut()
    outbox.put(CallEvent("lab-1795738735.0", "late", T0, "tick", {}))
    assert not await outbox.drain(0.3)
    proxy.restore()
    assert await outbox.drain(10)
    assert await counts(migrated) == {**expected(3, 2), "call_events": 3 * 2 + 1}
    row = await migrated.fetchrow("SELECT * FROM calls WHERE linkedid = 'lab-1795738735.2'")
    assert (row["outcome"], row["talk_s"]) == ("answered", 30)
    assert outbox.rewritten == len(workload(3, 2))


async def test_records_are_kept_for_a_rewrite_only_within_the_window(
    migrated: asyncpg.Connection, pg_dsn: str, make_outbox: MakeOutbox
) -> None:
    outbox = make_outbox(pg_dsn, recent_max=5)
    outbox.start()
    for record in workload(3, 2):
        outbox.put(record)
    assert await outbox.drain(5)
    kept = [record for _, record in outbox._recent]
    assert kept == workload(3, 2)[-5:]  # the newest, in order


async def test_stalled_database_times_out_spools_and_replays(
    migrated: asyncpg.Connection, pg_dsn: str, make_outbox: MakeOutbox, proxy: TcpProxy
) -> None:
    outbox = make_outbox(via(pg_dsn, proxy.port), write_timeout=0.3, connect_timeout=0.3)
    outbox.start()
    outbox.put(CallUpsert("s", {"queue": "a"}))
    assert await outbox.drain(5)
    proxy.stall()
    started = time.perf_counter()
    for n in range(20):
        outbox.put(CallEvent("s", f"s:{n}", T0, "tick"))
    assert time.perf_counter() - started < 0.05
    assert not await outbox.drain(1.0)
    assert outbox.spooled == 20
    proxy.restore()
    proxy.cut()  # the stalled connections are dead; new ones go through
    proxy.restore()
    assert await outbox.drain(10)
    assert await migrated.fetchval("SELECT count(*) FROM call_events") == 20


async def test_torn_spool_line_is_skipped_and_replay_goes_on(
    migrated: asyncpg.Connection,
    pg_dsn: str,
    make_outbox: MakeOutbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    down = make_outbox(via(pg_dsn, closed_port()))
    for n in range(5):
        down.put(CallEvent("t", f"t:{n}", T0, "tick"))
    down.start()
    await down.close()
    spool = tmp_path / "spool.jsonl"
    with spool.open("ab") as f:
        f.write(b'{"type":"call_event","linkedid":"t","key":"t:torn","at":"2026-')
    up = make_outbox(pg_dsn)
    up.put(CallEvent("t", "t:after", T0, "tick"))  # appended after the torn line is sealed
    up.start()
    assert await up.drain(10)
    keys = await migrated.fetch("SELECT event_key FROM call_events ORDER BY id")
    assert [k["event_key"] for k in keys] == [*(f"t:{n}" for n in range(5)), "t:after"]
    captured = capsys.readouterr()
    assert "spool_torn_tail" in captured.out + captured.err
