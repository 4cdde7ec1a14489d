"""`agent_presence` (0007): logins and pauses written through the outbox (spooled in an
outage), the highest revision kept whatever the order, read back at start."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest

from frontdesk.store import AgentStateChange, Outbox, upgrade
from frontdesk.store.presence import load_agent_presence
from frontdesk.store.records import AgentPresence, RecordError, from_json, to_json
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


def presence(
    agent: str,
    revision: int,
    logged_in: bool = True,
    paused: bool = False,
    reason: str | None = None,
) -> AgentPresence:
    return AgentPresence(
        agent, revision, logged_in, paused, reason, T0 + timedelta(seconds=revision)
    )


def test_the_spool_form_round_trips() -> None:
    for record in (presence("2001", 7, True, True, "lunch"), presence("2002", 1, False)):
        assert from_json(to_json(record)) == record
        assert to_json(record)["type"] == "agent_presence"
    assert presence("2001", 7).key == "2001:presence:7"


@pytest.mark.parametrize(
    ("logged_in", "paused", "reason", "revision"),
    [
        (False, True, None, 1),  # paused but logged out
        (True, False, "lunch", 1),  # a reason without a pause
        (True, True, "two words", 1),
        (True, True, None, 0),  # revisions start at 1
    ],
)
def test_impossible_presence_is_refused(
    logged_in: bool, paused: bool, reason: str | None, revision: int
) -> None:
    with pytest.raises(RecordError):
        AgentPresence("2001", revision, logged_in, paused, reason, T0)


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(RecordError):
        AgentPresence("2001", 1, True, False, None, datetime(2026, 11, 30, 15, 0))


async def test_the_highest_revision_wins_whatever_the_order(
    conn: asyncpg.Connection, pg_dsn: str, make_outbox: MakeOutbox
) -> None:
    await upgrade(conn)
    outbox = make_outbox(pg_dsn)
    outbox.start()
    for record in (
        presence("2001", 5, True, True, "lunch"),
        presence("2001", 3, False),  # late, in the same batch: changes nothing
        presence("2002", 1, True),
        presence("2002", 2, False),
    ):
        outbox.put(record)
    assert await outbox.drain(5)
    assert await load_agent_presence(conn) == {
        "2001": presence("2001", 5, True, True, "lunch"),
        "2002": presence("2002", 2, False),
    }
    outbox.put(presence("2001", 4, False))  # late, in a batch of its own
    assert await outbox.drain(5)
    assert (await load_agent_presence(conn))["2001"].revision == 5
    outbox.put(presence("2001", 6, True, True, "meeting"))  # newer: wins
    assert await outbox.drain(5)
    assert (await load_agent_presence(conn))["2001"] == presence("2001", 6, True, True, "meeting")


async def test_a_late_spooled_record_never_undoes_a_newer_one(
    conn: asyncpg.Connection, pg_dsn: str, make_outbox: MakeOutbox
) -> None:
    await upgrade(conn)
    down = make_outbox(via(pg_dsn, closed_port()))
    down.start()
    down.put(presence("2003", 10, True, True, "admin"))  # an older daemon's, spooled
    assert not await down.drain(0.3)
    await down.close()
    up = make_outbox(pg_dsn)
    up.put(presence("2003", 11, False))  # written after the replay: the newest
    up.start()
    assert await up.drain(5)
    assert up.replayed == 1
    stored = await load_agent_presence(conn)
    assert stored["2003"] == presence("2003", 11, False)
    # ...and replayed once more (a crash before the spool was emptied): still the newest
    again = make_outbox(pg_dsn)
    again.put(presence("2003", 10, True, True, "admin"))
    again.start()
    assert await again.drain(5)
    assert (await load_agent_presence(conn))["2003"].revision == 11


async def test_a_pause_reason_is_kept_with_the_agent_state_change(
    conn: asyncpg.Connection, pg_dsn: str, make_outbox: MakeOutbox
) -> None:
    await upgrade(conn)
    outbox = make_outbox(pg_dsn)
    outbox.start()
    outbox.put(AgentStateChange("2001", T0, "paused", "lunch"))
    outbox.put(AgentStateChange("2001", T0 + timedelta(minutes=30), "idle"))
    assert await outbox.drain(5)
    rows = await conn.fetch("SELECT state, reason FROM agent_state_changes ORDER BY at")
    assert [(r["state"], r["reason"]) for r in rows] == [("paused", "lunch"), ("idle", None)]


async def test_nothing_stored_is_an_empty_map_and_a_missing_table_an_error(
    conn: asyncpg.Connection,
) -> None:
    with pytest.raises(asyncpg.UndefinedTableError):
        await load_agent_presence(conn)
    await upgrade(conn)
    assert await load_agent_presence(conn) == {}
