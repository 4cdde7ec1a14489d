"""Issue 14 row 3: the audit log names the real actor, and separately on whose behalf.

A supervisor acting "as agent 2003", or the API token reading 2001's screen pop or
recording 2002's disposition, was logged as `agent:2003` / `agent:2001` / `agent:2002`
(and the token's agent actions as `user:api`). Now the actor is `user:<username>` or
`token`, and the agent acted for is `data["on_behalf"]` (web/audit_actor.py); the
token acknowledging an alert (web/live.py) was `user:api`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from frontdesk.calls.events import EscalationRaised
from frontdesk.calls.hub import EventHub
from frontdesk.plan import Plan
from frontdesk.store.records import AuditEntry, Record
from frontdesk.web.agents_api import make_app
from frontdesk.web.auth import SESSIONS
from frontdesk.web.dispositions import add_disposition_routes
from frontdesk.web.live import LiveBoard, add_live_routes
from frontdesk.web.screenpop import ScreenPops, add_screenpop_routes
from tests.web.test_auth import TOKEN as WORLD_TOKEN
from tests.web.test_auth import (
    Browser,
    acd_of,
    close_runtime,
    no_pbx,
    staff_accounts,
    start_world,
    stop_world,
)
from tests.web.test_auth import World as AuthWorld
from tests.web.test_screenpop import FakeSource, ringing

TOKEN = "a-test-token-long-enough-for-any-strength-rule-0123456789"
NOW = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
CALL = "1764518400.42"


class AnyCall:
    async def agents_of(self, linkedid: str) -> frozenset[str] | None:
        return frozenset({"2001"}) if linkedid == CALL else None


@dataclass
class World:
    server: TestServer
    pops: ScreenPops
    audit: list[AuditEntry]

    async def as_token(self, method: str, path: str, body: Any = None) -> int:
        async with (
            aiohttp.ClientSession() as http,
            http.request(
                method,
                self.server.make_url(path),
                json=body,
                headers={"Authorization": f"Bearer {TOKEN}"},
            ) as response,
        ):
            return response.status

    async def as_user(self, username: str, method: str, path: str, body: Any = None) -> int:
        browser = Browser(self.server)
        try:
            await browser.login(username)
            session = self.server.app[SESSIONS].peek(browser.session_id())  # type: ignore[arg-type]
            assert session is not None
            status, _, _ = await browser.request(method, path, csrf=session.csrf, json=body)
            return status
        finally:
            await browser.close()

    def entries(self, action: str) -> list[tuple[str, str | None]]:
        return [(e.actor, e.data.get("on_behalf")) for e in self.audit if e.action == action]


@pytest.fixture
async def world(plan: Plan) -> AsyncIterator[World]:
    runtime = no_pbx(plan, lambda: NOW)
    pops = ScreenPops(FakeSource())
    audit: list[AuditEntry] = []

    def put(record: Record) -> None:
        if isinstance(record, AuditEntry):
            audit.append(record)

    async with staff_accounts() as accounts:
        app = make_app(
            acd_of(runtime), accounts, now=lambda: NOW, api_token=TOKEN, put_audit=audit.append
        )
        add_screenpop_routes(app, pops, audit.append, lambda: NOW)
        add_disposition_routes(app, put, lambda: NOW, AnyCall())
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            yield World(server, pops, audit)
        finally:
            await server.close()
            await pops.close()
            await close_runtime(runtime)


async def test_a_supervisor_acting_for_an_agent_is_the_actor(world: World) -> None:
    assert await world.as_user("sam", "POST", "/api/agents/2003/login") == 200
    assert world.entries("agent_login") == [("user:sam", "agent:2003")]
    body = {"agent": "2001", "code": "booked"}
    assert await world.as_user("sam", "POST", f"/api/calls/{CALL}/disposition", body) == 202
    assert world.entries("disposition") == [("user:sam", "agent:2001")]


async def test_the_api_token_is_the_actor(world: World) -> None:
    world.pops.on_hub(ringing(CALL, "2001"))
    assert await world.as_token("GET", "/api/agents/2001/screenpop") == 200
    assert await world.as_token("POST", "/api/agents/2003/login") == 200
    body = {"agent": "2001", "code": "resolved"}
    assert await world.as_token("POST", f"/api/calls/{CALL}/disposition", body) == 202
    assert world.entries("screenpop_view") == [("token", "agent:2001")]
    assert world.entries("agent_login") == [("token", "agent:2003")]
    assert world.entries("disposition") == [("token", "agent:2001")]


async def test_an_agent_acting_for_themselves_is_still_named_as_the_user(world: World) -> None:
    world.pops.on_hub(ringing(CALL, "2001"))
    assert await world.as_user("alice", "GET", "/api/agents/2001/screenpop") == 200
    assert await world.as_user("alice", "POST", f"/api/calls/{CALL}/disposition",
                               {"code": "booked"}) == 202  # fmt: skip
    assert [(e.action, e.actor) for e in world.audit if e.action != "login"] == [
        ("screenpop_view", "user:alice"),
        ("disposition", "user:alice"),
    ]
    assert not any(e.actor.startswith("agent:") for e in world.audit)


async def test_the_api_token_acknowledging_an_alert_is_the_actor(plan: Plan) -> None:
    hub = EventHub()

    def live_routes(app: web.Application, world: AuthWorld) -> None:
        live = LiveBoard(world.queues, plan, put_audit=world.audit.append)
        hub.add_listener(live.on_hub)
        add_live_routes(app, live)

    async with staff_accounts() as accounts:
        world = await start_world(plan, accounts, live_routes)
        try:
            hub.publish(EscalationRaised("c9", "nurse_triage", 300))
            headers = {"Authorization": f"Bearer {WORLD_TOKEN}"}
            async with aiohttp.ClientSession() as http:
                async with http.get(world.server.make_url("/api/board"), headers=headers) as r:
                    (alert,) = (await r.json())["alerts"]
                path = f"/api/alerts/{alert['id']}/ack"
                async with http.post(world.server.make_url(path), headers=headers) as r:
                    assert r.status == 200
        finally:
            await stop_world(world)
    assert [(e.actor, e.action) for e in world.audit if e.action.startswith("alert")] == [
        ("token", "alert_acknowledged")
    ]
