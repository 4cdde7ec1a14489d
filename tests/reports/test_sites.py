"""Reports of one site or of all (docs/scale.md "Several sites"): `frontdesk report --site
NAME|all`, and the rows a report reads filtered by site."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import asyncpg  # type: ignore[import-untyped]
import pytest

from frontdesk.reports.store import load_agent_states, load_rows
from frontdesk.store import upgrade
from tests.reports.test_cli import run
from tests.reports.test_cli import url as url

NOW = datetime.now(UTC)


async def _seed(pg_dsn: str, schema: str) -> None:
    """Two calls at site main, one at north; agent 2001 paused at both sites."""
    conn = await asyncpg.connect(pg_dsn, server_settings={"search_path": schema})
    try:
        await upgrade(conn)
        for site, linkedid in (("main", "pbx-1.1"), ("main", "pbx-1.2"), ("north", "north-1.1")):
            await conn.execute("SELECT set_config('frontdesk.site', $1, false)", site)
            await conn.execute(
                "INSERT INTO calls (linkedid, started_at, queue, outcome, wait_s, talk_s)"
                " VALUES ($1, $2, 'billing', 'answered', 10, 60)",
                linkedid,
                NOW - timedelta(hours=2),
            )
        for site in ("main", "north"):
            await conn.execute("SELECT set_config('frontdesk.site', $1, false)", site)
            for minutes, state in ((50, "paused"), (20, "unpaused")):
                await conn.execute(
                    "INSERT INTO agent_state_changes (change_key, agent, at, state, reason)"
                    " VALUES ($1, '2001', $2, $3, 'lunch')",
                    f"{site}:{state}",
                    NOW - timedelta(minutes=minutes),
                    state,
                )
    finally:
        await conn.close()


@pytest.fixture
def seeded(url: str, pg_dsn: str, schema: str) -> str:
    asyncio.run(_seed(pg_dsn, schema))
    return url


def test_a_report_is_one_sites_unless_all_are_asked_for(
    seeded: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FRONTDESK_SITE", raising=False)
    base = ["report", "--since", "1d", "--json", "--database-url", seeded, "--zone", "UTC"]
    code, out, err = run(base, capsys)  # the default site: main
    assert (code, err) == (0, "")
    assert (json.loads(out)["total_calls"], json.loads(out)["site"]) == (2, "main")
    code, out, _ = run([*base, "--site", "north"], capsys)
    data = json.loads(out)
    assert (data["total_calls"], data["site"]) == (1, "north")
    assert [a["agent"] for a in data["pause_time"]["agents"]] == ["2001"]
    code, out, _ = run([*base, "--site", "all"], capsys)
    data = json.loads(out)
    assert data["total_calls"] == 3
    assert sorted(a["agent"] for a in data["pause_time"]["agents"]) == ["main/2001", "north/2001"]
    monkeypatch.setenv("FRONTDESK_SITE", "north")
    code, out, _ = run(base, capsys)
    assert json.loads(out)["total_calls"] == 1
    code, _, err = run([*base, "--site", "North"], capsys)
    assert code == 2
    assert "--site" in err


async def test_the_rows_of_some_sites(pg_dsn: str, schema: str) -> None:
    await _seed(pg_dsn, schema)
    conn = await asyncpg.connect(pg_dsn, server_settings={"search_path": schema})
    try:
        start, end = NOW - timedelta(days=1), NOW + timedelta(hours=1)
        assert len(await load_rows(conn, start, end)) == 3
        north = await load_rows(conn, start, end, sites=["north"])
        assert [r.linkedid for r in north] == ["north-1.1"]
        states = await load_agent_states(conn, start, end, sites=["main"])
        assert {s.agent for s in states} == {"2001"}
    finally:
        await conn.close()
