"""Time paused per reason per agent (reports/pauses.py), from `agent_state_changes`, and in
`frontdesk report` (table, JSON, CSV) against the real PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import asyncpg  # type: ignore[import-untyped]
import pytest

from frontdesk.cli import main
from frontdesk.reports.pauses import NO_REASON, StateRow, format_span, pause_time
from frontdesk.reports.store import load_agent_states
from frontdesk.store import upgrade

T0 = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_a_pause_lasts_until_the_agents_next_state() -> None:
    rows = [
        StateRow("2001", at(0), "idle"),
        StateRow("2001", at(10), "paused", "lunch"),
        StateRow("2001", at(40), "idle"),
        StateRow("2001", at(50), "paused", "meeting"),
        StateRow("2001", at(55), "paused", "lunch"),  # another reason, same pause
        StateRow("2001", at(60), "logged_out"),
        StateRow("2002", at(5), "paused"),  # *47 or a missed ring: no reason
        StateRow("2002", at(20), "ringing"),
    ]
    paused = pause_time(rows, start=T0, end=at(120))
    assert paused.by_agent == {
        "2001": {"lunch": 35 * 60.0, "meeting": 5 * 60.0},  # the longest first
        "2002": {NO_REASON: 15 * 60.0},
    }
    assert paused.total("2001") == 40 * 60.0
    assert paused.total("2009") == 0


def test_pauses_are_clipped_to_the_range_and_to_now() -> None:
    rows = [
        StateRow("2003", at(-60), "paused", "admin"),  # began before the range
        StateRow("2003", at(30), "idle"),
        StateRow("2003", at(90), "paused", "lunch"),  # still on
    ]
    paused = pause_time(rows, start=T0, end=at(240), now=at(100))
    assert paused.by_agent == {"2003": {"admin": 30 * 60.0, "lunch": 10 * 60.0}}
    later = pause_time(rows, start=T0, end=at(120))  # a past range: up to its end
    assert later.by_agent["2003"]["lunch"] == 30 * 60.0


def test_agents_come_in_extension_order_and_nothing_paused_is_absent() -> None:
    rows = [
        StateRow("2010", at(0), "paused", "lunch"),
        StateRow("2002", at(0), "paused", "lunch"),
        StateRow("2005", at(0), "idle"),
    ]
    paused = pause_time(rows, start=T0, end=at(1))
    assert list(paused.by_agent) == ["2002", "2010"]
    data = paused.as_json()
    assert data["agents"][0] == {"agent": "2002", "total_s": 60.0, "reasons": {"lunch": 60.0}}
    assert "paused" in data["definition"]


def test_span_format() -> None:
    assert [format_span(s) for s in (0, 59, 90, 3600, 5400)] == [
        "0 min", "1 min", "2 min", "1 h 00 min", "1 h 30 min",
    ]  # fmt: skip


# -- from the database -----------------------------------------------------------------------
def states(now: datetime) -> list[tuple[str, datetime, str, str | None]]:
    return [
        ("2001", now - timedelta(days=9), "paused", "admin"),  # before the range: ignored...
        ("2001", now - timedelta(days=8), "paused", "meeting"),  # ...but its last row counts
        ("2001", now - timedelta(days=6), "idle", None),
        ("2001", now - timedelta(hours=3), "paused", "lunch"),
        ("2001", now - timedelta(hours=2), "idle", None),
        ("2002", now - timedelta(days=20), "idle", None),
    ]


async def _seed(pg_dsn: str, schema: str, now: datetime) -> None:
    conn = await asyncpg.connect(pg_dsn, server_settings={"search_path": schema})
    try:
        await upgrade(conn)
        for n, (agent, when, state, reason) in enumerate(states(now)):
            await conn.execute(
                "INSERT INTO agent_state_changes (change_key, agent, at, state, reason)"
                " VALUES ($1, $2, $3, $4, $5)",
                f"k{n}", agent, when, state, reason,
            )  # fmt: skip
    finally:
        await conn.close()


@pytest.fixture
def seeded(pg_dsn: str, schema: str) -> str:
    """The database URL; the rows are timed from now (the command reports up to its now)."""
    asyncio.run(_seed(pg_dsn, schema, datetime.now(UTC)))
    sep = "&" if "?" in pg_dsn else "?"
    return f"{pg_dsn}{sep}options={quote(f'-csearch_path={schema}', safe='')}"


async def test_the_loader_brings_each_agents_state_at_the_start(
    pg_dsn: str, schema: str, seeded: str
) -> None:
    now = datetime.now(UTC)
    conn = await asyncpg.connect(pg_dsn, server_settings={"search_path": schema})
    try:
        rows = await load_agent_states(conn, now - timedelta(days=7), now)
    finally:
        await conn.close()
    assert [(r.agent, r.state, r.reason) for r in rows] == [
        ("2001", "paused", "meeting"),  # the state the range began in
        ("2001", "idle", None),
        ("2001", "paused", "lunch"),
        ("2001", "idle", None),
        ("2002", "idle", None),
    ]


def test_frontdesk_report_shows_time_paused_per_reason(
    seeded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--since", "7d", "--json", "--database-url", seeded]) == 0
    data = json.loads(capsys.readouterr().out)
    (chloe,) = data["pause_time"]["agents"]
    assert chloe["agent"] == "2001"
    # the range starts 7 days before the command's now: 6 days ago ends the meeting
    assert chloe["reasons"] == {"meeting": pytest.approx(24 * 3600, abs=60), "lunch": 3600.0}
    assert "metrics" in data  # the call metrics are all still there

    sheet = tmp_path / "report.csv"
    assert main(["report", "--since", "7d", "--database-url", seeded, "--csv", str(sheet)]) == 0
    table = capsys.readouterr().out
    assert "Time paused per reason" in table
    assert "1 h 00 min" in table
    rows = list(csv.reader(sheet.read_text(encoding="utf-8").splitlines()))
    pauses = [r for r in rows if r[0] == "pause_time"]
    assert [r[1] for r in pauses] == ["2001:meeting", "2001:lunch"]
    assert float(pauses[1][2]) == 3600
