"""Issue 14 row 2: dispositions only on one's own calls; an unknown call is a 404.

An agent (bob, 2002) changed the disposition of a call taken by 2004, and a disposition
on an unknown call id created a fake `calls` row. Now: agents disposition only calls
they took (the `calls` row, an `answered` event, or the live ACD), supervisors any call,
and an unknown call id is a 404 with nothing written. Real PostgreSQL (tests/pg.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from frontdesk.store.accounts import AccountStore
from frontdesk.store.records import AuditEntry, Disposition, Record
from frontdesk.web.auth import SESSIONS, setup_auth
from frontdesk.web.dispositions import CallOwners, add_disposition_routes
from tests.web.test_auth import Browser, staff_accounts

T0 = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
DANAS_CALL = "1764518400.42"  # taken by 2004
ALICES_CALL = "1764518400.43"  # answered by 2001, who transferred it on to 2004
UNKNOWN = "1764518400.99"


@dataclass
class World:
    server: TestServer
    accounts: AccountStore
    records: list[Record]

    async def signed_in(self, username: str) -> tuple[Browser, str]:
        browser = Browser(self.server)
        await browser.login(username)
        session = self.server.app[SESSIONS].peek(browser.session_id())  # type: ignore[arg-type]
        assert session is not None
        return browser, session.csrf

    async def post(self, username: str, call: str, body: dict[str, Any]) -> tuple[int, Any]:
        browser, csrf = await self.signed_in(username)
        try:
            status, answer, _ = await browser.request(
                "POST", f"/api/calls/{call}/disposition", csrf=csrf, json=body
            )
        finally:
            await browser.close()
        return status, answer

    async def calls_rows(self) -> int:
        async with self.accounts.pool.acquire() as conn:
            return int(await conn.fetchval("SELECT count(*) FROM calls"))


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with staff_accounts() as accounts:
        async with accounts.pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO calls (linkedid, started_at, agent) VALUES ($1, $3, '2004'),"
                " ($2, $3, '2004')",
                DANAS_CALL,
                ALICES_CALL,
                T0,
            )
            await conn.execute(
                "INSERT INTO call_events (linkedid, event_key, at, kind, data)"
                " VALUES ($1, 'k1', $2, 'answered', '{\"agent\": \"2001\"}')",
                ALICES_CALL,
                T0,
            )
        records: list[Record] = []
        app = web.Application(client_max_size=4096)
        setup_auth(app, accounts, now=lambda: T0)
        add_disposition_routes(app, records.append, lambda: T0, CallOwners(accounts.pool, None))
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            yield World(server, accounts, records)
        finally:
            await server.close()


async def test_an_agent_may_not_disposition_another_agents_call(world: World) -> None:
    status, answer = await world.post("bob", DANAS_CALL, {"code": "cancelled"})
    assert status == 403
    assert "a call you took" in answer["error"]
    assert world.records == []


async def test_an_agent_may_disposition_a_call_they_answered_and_transferred(
    world: World,
) -> None:
    assert (await world.post("alice", ALICES_CALL, {"code": "transferred"}))[0] == 202
    assert [type(r) for r in world.records] == [Disposition, AuditEntry]


async def test_a_supervisor_may_disposition_any_call(world: World) -> None:
    status, _ = await world.post("sam", DANAS_CALL, {"agent": "2004", "code": "resolved"})
    assert status == 202
    disposition = world.records[0]
    assert isinstance(disposition, Disposition)
    assert (disposition.linkedid, disposition.agent) == (DANAS_CALL, "2004")


@pytest.mark.parametrize("username", ["alice", "sam"])
async def test_an_unknown_call_is_404_and_nothing_is_written(world: World, username: str) -> None:
    body = {"agent": "2001", "code": "booked"}
    assert await world.post(username, UNKNOWN, body) == (404, {"error": "no call with that id"})
    assert world.records == []
    assert await world.calls_rows() == 2
