"""`frontdesk db purge` (store/purge.py, store/purge_cli.py) against the real PostgreSQL,
with a tiny fake ARI for the stored recordings."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import asyncpg  # type: ignore[import-untyped]
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from frontdesk.cli import main
from frontdesk.store import purge_cli
from frontdesk.store.migrations import upgrade
from frontdesk.store.purge import RecordingError, purge

NOW = datetime.now(UTC)


async def add_call(conn: asyncpg.Connection, call: str, days_ago: float, *, box: str = "") -> None:
    at = NOW - timedelta(days=days_ago)
    await conn.execute(
        "INSERT INTO calls (linkedid, caller, started_at) VALUES ($1, '+15555550100', $2)",
        call,
        at,
    )
    await conn.execute(
        "INSERT INTO call_events (linkedid, event_key, at, kind) VALUES ($1, $2, $3, 'started')",
        call,
        f"{call}-s",
        at,
    )
    await conn.execute(
        "INSERT INTO dispositions (disposition_key, linkedid, at, code) VALUES ($1, $1, $2, 'x')",
        call,
        at,
    )
    if box:
        await conn.execute(
            "INSERT INTO call_events (linkedid, event_key, at, kind, data)"
            " VALUES ($1, $2, $3, 'voicemail', $4::jsonb)",
            call,
            f"{call}-v",
            at,
            json.dumps({"box": box, "recording": f"frontdesk/{box}/{call}"}),
        )


async def seed(conn: asyncpg.Connection) -> None:
    await upgrade(conn)
    for i in range(7):
        await add_call(conn, f"old{i}", 500 + i)
    await add_call(conn, "new0", 10)
    for agent, days in (("2001", 450), ("2002", 5)):
        await conn.execute(
            "INSERT INTO agent_state_changes (change_key, agent, at, state)"
            " VALUES ($1, $2, $3, 'paused')",
            f"{agent}-{days}",
            agent,
            NOW - timedelta(days=days),
        )
    for call, status, days in (("p1", "done", 450), ("p2", "pending", 450), ("p3", "done", 5)):
        await conn.execute(
            "INSERT INTO pending_callbacks (call_id, revision, status, queue, priority,"
            " category, language, number, enqueued_at, attempts, escalated, updated_at)"
            " VALUES ($1, 1, $2, 'q', 'normal', 'c', 'en', '+15555550101', $3, 0, false, $3)",
            call,
            status,
            NOW - timedelta(days=days),
        )
    for key, days in (("a-old", 2200), ("a-young", 2000)):
        await conn.execute(
            "INSERT INTO audit_log (entry_key, at, actor, action) VALUES ($1, $2, 'x', 'y')",
            key,
            NOW - timedelta(days=days),
        )


async def counts(conn: asyncpg.Connection) -> dict[str, int]:
    tables = ("calls", "call_events", "dispositions", "agent_state_changes")
    found = {t: int(await conn.fetchval(f"SELECT count(*) FROM {t}")) for t in tables}
    found["pending_callbacks"] = int(await conn.fetchval("SELECT count(*) FROM pending_callbacks"))
    found["audit_log"] = int(await conn.fetchval("SELECT count(*) FROM audit_log"))
    return found


async def test_purges_before_the_cutoff_in_batches(conn: asyncpg.Connection) -> None:
    await seed(conn)
    report = await purge(conn, days=400, batch=3)
    assert report.deleted["calls"] == 7
    assert report.deleted["call_events"] == 7
    assert report.deleted["dispositions"] == 7
    assert report.deleted["agent_state_changes"] == 1
    assert report.deleted["pending_callbacks"] == 1  # the pending one is kept
    assert report.deleted["audit_log"] == 1  # older than six years only
    assert report.batches >= 3 + 1 + 1 + 1  # 7 calls in batches of 3
    assert await counts(conn) == {
        "calls": 1,
        "call_events": 1,
        "dispositions": 1,
        "agent_state_changes": 1,
        "pending_callbacks": 2,
        "audit_log": 1,
    }
    assert await conn.fetchval("SELECT linkedid FROM calls") == "new0"
    assert await conn.fetchval("SELECT entry_key FROM audit_log") == "a-young"


async def test_dry_run_deletes_nothing(conn: asyncpg.Connection) -> None:
    await seed(conn)
    before = await counts(conn)
    report = await purge(conn, days=400, dry_run=True)
    assert await counts(conn) == before
    assert report.deleted["calls"] == 7
    assert report.deleted["call_events"] == 7
    assert report.deleted["audit_log"] == 1
    assert report.deleted["pending_callbacks"] == 1


async def test_audit_log_younger_than_six_years_stays_append_only(
    conn: asyncpg.Connection,
) -> None:
    await seed(conn)
    with pytest.raises(ValueError, match="2190"):
        await purge(conn, days=400, audit_days=100)
    async with conn.transaction():
        await conn.execute("SET LOCAL frontdesk.audit_purge = 'on'")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM audit_log WHERE entry_key = 'a-young'")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):  # without the setting
        await conn.execute("DELETE FROM audit_log WHERE entry_key = 'a-old'")
    report = await purge(conn, days=400, audit_days=2195)
    assert report.deleted["audit_log"] == 1


@pytest.fixture
async def fake_ari(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[dict[str, object]]:
    """A fake ARI: DELETE /ari/recordings/stored/{name}; names in `stored` exist."""
    state: dict[str, object] = {"stored": set(), "deleted": [], "paths": []}

    async def delete(request: web.Request) -> web.Response:
        assert request.headers["Authorization"].startswith("Basic ")
        name = request.match_info["name"]
        state["paths"].append(request.raw_path)  # type: ignore[attr-defined]
        stored: set[str] = state["stored"]  # type: ignore[assignment]
        if name not in stored:
            return web.json_response({"message": "Recording not found"}, status=404)
        stored.discard(name)
        state["deleted"].append(name)  # type: ignore[attr-defined]
        return web.Response(status=204)

    app = web.Application()
    app.router.add_delete("/ari/recordings/stored/{name}", delete)
    server = TestServer(app)
    await server.start_server()
    monkeypatch.setenv("FRONTDESK_ARI_URL", str(server.make_url("/ari")))
    monkeypatch.setenv("FRONTDESK_ARI_PASSWORD", "pw")
    try:
        yield state
    finally:
        await server.close()


async def test_recordings_are_deleted_over_ari(
    conn: asyncpg.Connection, fake_ari: dict[str, object]
) -> None:
    await upgrade(conn)
    await add_call(conn, "vm1", 500, box="billing")
    await add_call(conn, "vm2", 500, box="billing")  # its file is already gone
    await add_call(conn, "vm3", 10, box="billing")  # young: kept
    fake_ari["stored"] = {"frontdesk/billing/vm1", "frontdesk/billing/vm3"}
    async with purge_cli._recordings() as delete:
        report = await purge(conn, days=400, delete_recording=delete)
    assert fake_ari["deleted"] == ["frontdesk/billing/vm1"]
    assert (report.recordings_deleted, report.recordings_gone, report.calls_kept) == (1, 1, 0)
    assert report.deleted["calls"] == 2
    paths: list[str] = fake_ari["paths"]  # type: ignore[assignment]
    assert f"/ari/recordings/stored/{quote('frontdesk/billing/vm1', safe='')}" in paths


async def test_ari_unreachable_keeps_the_calls_with_recordings(
    conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    await upgrade(conn)
    await add_call(conn, "vm1", 500, box="billing")
    await add_call(conn, "vm2", 501, box="triage")
    await add_call(conn, "plain", 502)
    monkeypatch.setenv("FRONTDESK_ARI_URL", "http://127.0.0.1:9/ari")  # discard: refused
    async with purge_cli._recordings() as delete:
        assert delete is not None
        with pytest.raises(RecordingError):
            await delete("frontdesk/billing/vm1")
        report = await purge(conn, days=400, delete_recording=delete, batch=2)
    assert report.calls_kept == 2
    assert report.ari_error is not None
    assert report.deleted["calls"] == 1
    kept = {r["linkedid"] for r in await conn.fetch("SELECT linkedid FROM calls")}
    assert kept == {"vm1", "vm2"}
    names = await conn.fetchval(
        "SELECT count(*) FROM call_events WHERE kind = 'voicemail' AND data ? 'recording'"
    )
    assert names == 2


# -- the command ----------------------------------------------------------------------------
@pytest.fixture
def url(pg_dsn: str, schema: str) -> str:
    sep = "&" if "?" in pg_dsn else "?"
    return f"{pg_dsn}{sep}options={quote(f'-csearch_path={schema}', safe='')}"


def _seed(pg_dsn: str, schema: str) -> None:
    async def go() -> None:
        conn = await asyncpg.connect(pg_dsn, server_settings={"search_path": schema})
        try:
            await seed(conn)
        finally:
            await conn.close()

    asyncio.run(go())


def test_command_dry_run_then_purge(
    url: str,
    pg_dsn: str,
    schema: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FRONTDESK_ARI_URL", raising=False)
    _seed(pg_dsn, schema)
    capsys.readouterr()  # the seeding's logs
    assert main(["db", "purge", "--database-url", url, "--dry-run", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dry_run"] is True
    assert report["deleted"]["calls"] == 7
    monkeypatch.setenv("FRONTDESK_RETENTION_DAYS", "400")
    assert main(["db", "purge", "--database-url", url]) == 0
    out = capsys.readouterr().out
    assert "calls" in out
    assert "7" in out
    assert main(["db", "purge", "--database-url", url, "--json", "--older-than", "1"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["deleted"]["calls"] == 1
    assert again["deleted"]["audit_log"] == 0


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--older-than", "0"], {}),
        (["--older-than", "ten"], {}),
        ([], {"FRONTDESK_RETENTION_DAYS": "-3"}),
        ([], {"FRONTDESK_AUDIT_RETENTION_DAYS": "365"}),
    ],
)
def test_command_refuses_bad_retention(
    args: list[str],
    env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code = main(["db", "purge", "--database-url", "postgresql://nobody@127.0.0.1:1/x", *args])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("frontdesk db purge: ")
    assert err.count("\n") == 1


def test_command_unreachable_database(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["db", "purge", "--database-url", "postgresql://nobody@127.0.0.1:1/x"])
    assert code == 2
    assert "unreachable" in capsys.readouterr().err
