"""`frontdesk db repair-times` (store/repair_times.py, store/repair_times_cli.py) against
the real PostgreSQL: rows a misread Cdr moved six hours are put back to frontdesk's own
stamps; what only the Cdr knew stays."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import asyncpg  # type: ignore[import-untyped]
import pytest

from frontdesk.cli import main
from frontdesk.exits import EXIT_INVALID, EXIT_NEEDS_REPAIR, EXIT_OK
from frontdesk.store.migrations import upgrade

T0 = datetime(2026, 12, 5, 5, 31, 38, 123_000, tzinfo=UTC)
SIX = timedelta(hours=6)
EVENTS = {"started": 0, "answered": 20, "talk_ended": 82}


async def seed(conn: asyncpg.Connection) -> None:
    await upgrade(conn)

    async def call(linkedid: str, row: dict[str, datetime | None], kinds: dict[str, int]) -> None:
        await conn.execute(
            "INSERT INTO calls (linkedid, started_at, answered_at, ended_at)"
            " VALUES ($1, $2, $3, $4)",
            linkedid,
            row.get("started_at"),
            row.get("answered_at"),
            row.get("ended_at"),
        )
        for n, (kind, seconds) in enumerate(kinds.items()):
            await conn.execute(
                "INSERT INTO call_events (linkedid, event_key, at, kind) VALUES ($1, $2, $3, $4)",
                linkedid,
                f"{linkedid}:{n}",
                T0 + timedelta(seconds=seconds),
                kind,
            )

    right = {"started_at": T0, "answered_at": T0 + timedelta(seconds=20),
             "ended_at": T0 + timedelta(seconds=82)}  # fmt: skip
    # The bug: every Cdr time six hours late.
    await call("moved", {k: v + SIX for k, v in right.items() if v}, EVENTS)
    await call("right", right, EVENTS)
    # Abandoned in the menu: no answer; only the end moved.
    await call(
        "abandoned",
        {"started_at": T0, "ended_at": T0 + timedelta(seconds=9) + SIX},
        {"started": 0, "abandoned": 9},
    )
    # The dialplan took it while frontdesk was down: only the Cdr knows; it stays.
    await call("dialplan", {"started_at": T0 + SIX, "ended_at": T0 + SIX}, {})
    # A requeued call answered twice: the last answer is the row's.
    await call(
        "twice",
        {"started_at": T0, "answered_at": T0 + timedelta(seconds=5), "ended_at": T0 + SIX},
        {"started": 0, "answered": 5, "answered#2": 0, "talk_ended": 90},
    )
    await conn.execute(
        "UPDATE call_events SET kind = 'answered', at = $1 WHERE kind = 'answered#2'",
        T0 + timedelta(seconds=40),
    )


@pytest.fixture
def url(pg_dsn: str, schema: str) -> str:
    sep = "&" if "?" in pg_dsn else "?"
    return f"{pg_dsn}{sep}options={quote(f'-csearch_path={schema}', safe='')}"


def rows(pg_dsn: str, schema: str) -> dict[str, tuple[datetime | None, ...]]:
    async def go() -> dict[str, tuple[datetime | None, ...]]:
        conn = await asyncpg.connect(pg_dsn, server_settings={"search_path": schema})
        try:
            found = await conn.fetch(
                "SELECT linkedid, started_at, answered_at, ended_at FROM calls"
            )
        finally:
            await conn.close()
        return {r["linkedid"]: (r["started_at"], r["answered_at"], r["ended_at"]) for r in found}

    return asyncio.run(go())


def seeded(pg_dsn: str, schema: str) -> None:
    async def go() -> None:
        conn = await asyncpg.connect(pg_dsn, server_settings={"search_path": schema})
        try:
            await seed(conn)
        finally:
            await conn.close()

    asyncio.run(go())


def test_dry_run_counts_apply_repairs_then_nothing_is_left(
    url: str, pg_dsn: str, schema: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seeded(pg_dsn, schema)
    before = rows(pg_dsn, schema)
    capsys.readouterr()
    assert main(["db", "repair-times", "--database-url", url, "--json"]) == EXIT_NEEDS_REPAIR
    report = json.loads(capsys.readouterr().out)
    assert report == {
        "dry_run": True,
        "calls": 3,  # moved, abandoned, twice
        "columns": {"started_at": 1, "answered_at": 2, "ended_at": 3},
        "max_shift_s": SIX.total_seconds(),
    }
    assert rows(pg_dsn, schema) == before  # a dry run writes nothing

    assert main(["db", "repair-times", "--database-url", url, "--apply"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "rows changed" in out
    assert "21600 s (6.00 h)" in out
    after = rows(pg_dsn, schema)
    assert after["moved"] == after["right"] == before["right"]
    assert after["abandoned"] == (T0, None, T0 + timedelta(seconds=9))
    assert after["twice"] == (T0, T0 + timedelta(seconds=40), T0 + timedelta(seconds=90))
    assert after["dialplan"] == before["dialplan"]  # no event of its own: the Cdr's stays

    assert main(["db", "repair-times", "--database-url", url, "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["calls"] == 0


def test_the_table_of_a_dry_run(
    url: str, pg_dsn: str, schema: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seeded(pg_dsn, schema)
    capsys.readouterr()
    assert main(["db", "repair-times", "--database-url", url]) == EXIT_NEEDS_REPAIR
    out = capsys.readouterr().out
    assert "(dry run)" in out
    assert "rows would change" in out
    assert "--apply" in out


def test_unreachable_database(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["db", "repair-times", "--database-url", "postgresql://nobody@127.0.0.1:1/x"])
    assert code == EXIT_INVALID
    err = capsys.readouterr().err
    assert "unreachable" in err
    assert "nobody" not in err  # never the URL
