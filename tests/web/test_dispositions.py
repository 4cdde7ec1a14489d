"""Post-call dispositions over HTTP on loopback: the records put, the 400s, the outbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg  # type: ignore[import-untyped]
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from frontdesk.store import Outbox, upgrade
from frontdesk.store.accounts import AccountStore
from frontdesk.store.records import (
    DISPOSITION_CODES,
    AuditEntry,
    Disposition,
    Record,
    RecordError,
    from_json,
    to_json,
)
from frontdesk.web.auth import SESSIONS, setup_auth
from frontdesk.web.dispositions import add_disposition_routes
from tests.pg import DSN, scratch_schema
from tests.web.test_auth import Browser, staff_accounts

T0 = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
LINKEDID = "1764518400.42"


TOKEN = "test-token"


class KnownCalls:
    """A `CallLookup`: the calls and who took them."""

    def __init__(self, calls: dict[str, frozenset[str]] | None = None) -> None:
        self.calls = calls if calls is not None else {LINKEDID: frozenset({"2001"})}

    async def agents_of(self, linkedid: str) -> frozenset[str] | None:
        return self.calls.get(linkedid)


def app_with(
    put: Any, accounts: AccountStore | None = None, calls: KnownCalls | None = None
) -> web.Application:
    app = web.Application(client_max_size=4096)
    setup_auth(app, accounts, now=lambda: T0, api_token=TOKEN)
    add_disposition_routes(app, put, lambda: T0, calls or KnownCalls())
    return app


@pytest.fixture
async def sink() -> AsyncIterator[tuple[TestServer, list[Record]]]:
    records: list[Record] = []
    server = TestServer(app_with(records.append), host="127.0.0.1")
    await server.start_server()
    yield server, records
    await server.close()


async def post(server: TestServer, linkedid: str, body: Any) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, bytes) else None
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            server.make_url(f"/api/calls/{linkedid}/disposition"),
            data=data,
            json=None if data is not None else body,
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as response,
    ):
        return response.status, await response.json()


async def test_a_disposition_is_put_with_its_audit_entry(
    sink: tuple[TestServer, list[Record]],
) -> None:
    server, records = sink
    status, body = await post(
        server, LINKEDID, {"agent": "2001", "code": "booked", "note": "  Tue 9:30\x07 Dr Lee "}
    )
    assert (status, body) == (202, {"linkedid": LINKEDID, "code": "booked"})
    disposition, audit = records
    assert isinstance(disposition, Disposition)
    assert (disposition.linkedid, disposition.agent, disposition.at) == (LINKEDID, "2001", T0)
    assert (disposition.code, disposition.note) == ("booked", "Tue 9:30 Dr Lee")
    assert isinstance(audit, AuditEntry)
    assert (audit.actor, audit.action, audit.subject) == ("token", "disposition", LINKEDID)
    # the note stays out of the audit log
    assert dict(audit.data) == {"code": "booked", "on_behalf": "agent:2001"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        ([1, 2], "JSON object"),
        ({"code": "booked"}, '"agent"'),
        ({"agent": "", "code": "booked"}, '"agent"'),
        ({"agent": 2001, "code": "booked"}, '"agent"'),
        ({"agent": "2001"}, '"code" must be one of'),
        ({"agent": "2001", "code": "Booked"}, '"code" must be one of'),
        ({"agent": "2001", "code": "message taken"}, "message_taken"),
        ({"agent": "2001", "code": "booked", "note": 5}, '"note"'),
        ({"agent": "2001", "code": "booked", "note": "x" * 501}, "at most 500"),
        ({"agent": "20 01", "code": "booked"}, "Disposition.agent"),
    ],
)
async def test_bad_requests_are_400_and_put_nothing(
    sink: tuple[TestServer, list[Record]], body: Any, message: str
) -> None:
    server, records = sink
    status, answer = await post(server, LINKEDID, body)
    assert status == 400
    assert message in answer["error"]
    assert records == []


async def test_every_code_is_accepted(sink: tuple[TestServer, list[Record]]) -> None:
    server, records = sink
    assert {
        "booked", "rescheduled", "cancelled", "resolved",
        "message_taken", "needs_callback", "transferred", "wrong_department",
    } == DISPOSITION_CODES  # fmt: skip
    for code in sorted(DISPOSITION_CODES):
        assert (await post(server, LINKEDID, {"agent": "2001", "code": code}))[0] == 202
    assert [r.code for r in records if isinstance(r, Disposition)] == sorted(DISPOSITION_CODES)


def test_the_record_cleans_its_note_and_round_trips_through_json() -> None:
    d = Disposition(LINKEDID, "2001", T0, "message_taken", note="line 1\r\nline 2\x00\x1b[31m")
    assert d.note == "line 1\nline 2[31m"
    assert from_json(to_json(d)) == d
    assert Disposition(LINKEDID, "2001", T0, "resolved", note=" \x01 ").note is None
    assert Disposition(LINKEDID, "2001", T0, "resolved", note="é" * 500).note == "é" * 500
    with pytest.raises(RecordError, match="naive"):
        Disposition(LINKEDID, "2001", datetime(2026, 1, 1), "booked")
    with pytest.raises(RecordError, match="code"):
        Disposition(LINKEDID, "2001", T0, "lost")


# --- signed-in staff ----------------------------------------------------------------


async def test_signed_in_agents_record_for_their_own_extension_only() -> None:
    records: list[Record] = []
    async with staff_accounts() as accounts:
        server = TestServer(app_with(records.append, accounts), host="127.0.0.1")
        await server.start_server()
        alice, sam = Browser(server), Browser(server)
        try:
            await alice.login("alice")  # extension 2001
            await sam.login("sam")  # a supervisor without an extension
            path = f"/api/calls/{LINKEDID}/disposition"
            token = server.app[SESSIONS].peek(alice.session_id()).csrf  # type: ignore[union-attr]
            status, _, _ = await alice.request("POST", path, csrf=token, json={"code": "booked"})
            assert status == 202  # "agent" defaults to her extension
            status, body, _ = await alice.request(
                "POST", path, csrf=token, json={"agent": "2002", "code": "booked"}
            )
            assert (status, body) == (
                403,
                {"error": "you may not record a disposition for extension 2002"},
            )
            sam_token = server.app[SESSIONS].peek(sam.session_id()).csrf  # type: ignore[union-attr]
            status, _, _ = await sam.request(
                "POST", path, csrf=sam_token, json={"agent": "2002", "code": "resolved"}
            )
            assert status == 202  # control_any_agent
            status, body, _ = await sam.request("POST", path, csrf=sam_token, json={"code": "x"})
            assert status == 400
            assert '"agent"' in body["error"]
        finally:
            await alice.close()
            await sam.close()
            await server.close()
    dispositions = [r for r in records if isinstance(r, Disposition)]
    assert [(d.agent, d.code) for d in dispositions] == [("2001", "booked"), ("2002", "resolved")]


# --- through a real outbox into PostgreSQL -------------------------------------------


@pytest.fixture
async def pg_schema() -> AsyncIterator[tuple[str, str]]:
    async with scratch_schema("fd_test") as name:
        yield DSN, name


async def test_through_the_outbox_into_postgres(pg_schema: tuple[str, str], tmp_path: Path) -> None:
    dsn, schema = pg_schema
    conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
    outbox = Outbox(dsn, tmp_path / "spool.jsonl", server_settings={"search_path": schema})
    server = TestServer(app_with(outbox.put), host="127.0.0.1")
    try:
        await upgrade(conn)
        outbox.start()
        await server.start_server()
        # No calls row yet (the live ACD knows the call): the disposition creates it.
        status, _ = await post(server, LINKEDID, {"agent": "2001", "code": "needs_callback"})
        assert status == 202
        assert await outbox.drain(5)
        # A replay of the same record (same key) adds nothing.
        row = await conn.fetchrow("SELECT * FROM dispositions")
        outbox.put(
            Disposition(LINKEDID, "2001", row["at"], "needs_callback", key=row["disposition_key"])
        )
        # A later correction wins on the call's row; an older one written late does not.
        outbox.put(Disposition(LINKEDID, "2002", T0.replace(minute=5), "booked", note="Fri 10:00"))
        outbox.put(Disposition(LINKEDID, "2001", T0.replace(hour=15), "cancelled"))
        assert await outbox.drain(5)
        rows = await conn.fetch("SELECT agent, at, code, note FROM dispositions ORDER BY at")
        assert [tuple(r) for r in rows] == [
            ("2001", T0.replace(hour=15), "cancelled", None),
            ("2001", T0, "needs_callback", None),
            ("2002", T0.replace(minute=5), "booked", "Fri 10:00"),
        ]
        assert await conn.fetchval(
            "SELECT disposition FROM calls WHERE linkedid = $1", LINKEDID
        ) == ("booked")
        audit = await conn.fetch("SELECT actor, action, subject, data FROM audit_log")
        assert [(a["actor"], a["action"], a["subject"]) for a in audit] == [
            ("token", "disposition", LINKEDID)
        ]
        assert outbox.refused == 0
    finally:
        await server.close()
        await outbox.close(timeout=2)
        await conn.close()
