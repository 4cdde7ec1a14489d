"""Screen pops over HTTP on loopback: only the agent rung sees the pop, each view audited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from frontdesk.calls.events import (
    AgentRinging,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    ConversationEnded,
)
from frontdesk.calls.hub import EventHub
from frontdesk.plan import Plan
from frontdesk.store.records import AuditEntry
from frontdesk.web.agents_api import make_app
from frontdesk.web.auth import SESSIONS, setup_auth
from frontdesk.web.screenpop import ScreenPops, add_screenpop_routes
from tests.web.test_auth import Browser, acd_of, close_runtime, no_pbx, staff_accounts

TOKEN = "test-token"
NOW = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)
PATIENT = {
    "patient_id": "P-1002",
    "name": "Alicia Gómez",
    "language": "es",
    "specialty": "cardiology",
    "shared": False,
}


class FakeSource:
    """Answers like ScreenPopSource; records what it was asked."""

    timeout = 0.25

    def __init__(self) -> None:
        self.asked: list[tuple[str | None, str, str, str | None]] = []
        self.delay = 0.0

    async def build(
        self, number: str | None, language: str, category: str, *, linkedid: str | None = None
    ) -> dict[str, Any]:
        self.asked.append((number, language, category, linkedid))
        await asyncio.sleep(self.delay)
        known = number == "+13125551002"
        return {
            "patient": dict(PATIENT) if known else None,
            "language": language,
            "category": category,
            "last_call": None,
            "degraded": False,
        }


class Env:
    def __init__(
        self,
        server: TestServer,
        pops: ScreenPops,
        source: FakeSource,
        hub: EventHub | None = None,
    ) -> None:
        self.server, self.pops, self.source = server, pops, source
        self.audit: list[AuditEntry] = []
        self.hub = hub or EventHub()

    async def get(self, ext: str, token: str = TOKEN) -> tuple[int, dict[str, Any] | None]:
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            aiohttp.ClientSession() as http,
            http.get(self.server.make_url(f"/api/agents/{ext}/screenpop"), headers=headers) as r,
        ):
            assert r.headers.get("Cache-Control") == "no-store" or r.status == 401
            body = await r.json() if r.status in (200, 401, 503) else None
            return r.status, body


def ringing(call: str, agent: str, number: str | None = "+13125551002") -> AgentRinging:
    return AgentRinging(call, agent, number, "es", "clinical")


@pytest.fixture
async def env(plan: Plan) -> AsyncIterator[Env]:
    runtime = no_pbx(plan, lambda: NOW)
    source = FakeSource()
    pops = ScreenPops(source)
    app = make_app(acd_of(runtime), None, now=lambda: NOW, api_token=TOKEN)
    audit: list[AuditEntry] = []
    add_screenpop_routes(app, pops, audit.append, lambda: NOW)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    made = Env(server, pops, source, runtime.hub)
    made.audit = audit
    made.hub.add_listener(pops.on_hub)  # as the daemon does
    try:
        yield made
    finally:
        await server.close()
        await pops.close()
        await close_runtime(runtime)


async def test_the_rung_agent_sees_the_pop_and_the_view_is_audited(env: Env) -> None:
    env.pops.on_hub(ringing("chan-1", "2001"))
    status, body = await env.get("2001")
    assert status == 200
    assert body == {
        "call": "chan-1",
        "agent": "2001",
        "status": "ringing",
        "number": "+13125551002",  # in full: the agent may call the patient back
        "patient": PATIENT,
        "language": "es",
        "category": "clinical",
        "last_call": None,
        "degraded": False,
    }
    assert env.source.asked == [("+13125551002", "es", "clinical", "chan-1")]
    assert len(env.audit) == 1
    entry = env.audit[0]
    assert (entry.at, entry.actor, entry.action, entry.subject, dict(entry.data)) == (
        NOW,
        "token",
        "screenpop_view",
        "chan-1",
        {"patient_id": "P-1002", "on_behalf": "agent:2001"},
    )
    assert "Alicia" not in repr(entry)  # the audit log names no one
    assert (await env.get("2001"))[0] == 200
    assert len(env.audit) == 2  # each view


async def test_another_agent_gets_nothing_and_nothing_is_audited(env: Env) -> None:
    env.pops.on_hub(ringing("chan-1", "2001"))
    assert await env.get("2002") == (204, None)
    assert env.audit == []


async def test_no_pop_is_204_and_the_token_is_required(env: Env) -> None:
    assert await env.get("2001") == (204, None)
    assert (await env.get("2001", token="wrong"))[0] == 401
    env.pops.on_hub(ringing("chan-1", "2001"))
    assert (await env.get("2001", token="wrong"))[0] == 401
    assert env.audit == []


async def test_a_view_during_the_build_waits_for_it(env: Env) -> None:
    env.source.delay = 0.1
    env.pops.on_hub(ringing("chan-1", "2001"))
    status, body = await env.get("2001")
    assert status == 200
    assert body is not None
    assert body["patient"]["patient_id"] == "P-1002"


async def test_lifetime_kept_after_the_call_until_the_next_ring(env: Env) -> None:
    env.pops.on_hub(ringing("chan-1", "2001"))
    env.pops.on_hub(CallAnswered("chan-1", "2001"))
    assert (await env.get("2001"))[1]["status"] == "answered"  # type: ignore[index]
    env.pops.on_hub(ConversationEnded("chan-1"))
    status, body = await env.get("2001")
    assert (status, body["status"] if body else None) == (200, "ended")
    env.pops.on_hub(ringing("chan-2", "2001", number=None))
    status, body = await env.get("2001")
    assert body is not None
    assert (status, body["call"], body["patient"]) == (200, "chan-2", None)
    assert [e.subject for e in env.audit] == ["chan-1", "chan-1", "chan-2"]
    assert env.audit[-1].data == {"patient_id": None, "on_behalf": "agent:2001"}


async def test_the_pop_follows_the_call_to_the_next_agent(env: Env) -> None:
    env.pops.on_hub(ringing("chan-1", "2001"))
    assert (await env.get("2001"))[0] == 200
    env.pops.on_hub(ringing("chan-1", "2002"))  # 2001 declined; the ACD rings 2002
    assert (await env.get("2001"))[0] == 204
    assert (await env.get("2002"))[0] == 200
    env.pops.on_hub(CallAbandoned("chan-1"))
    assert (await env.get("2002"))[1]["status"] == "abandoned"  # type: ignore[index]


async def test_logout_drops_the_pop(env: Env) -> None:
    env.pops.on_hub(ringing("chan-1", "2001"))
    env.pops.on_hub(AgentStateChanged("2001", "logged_out"))
    assert (await env.get("2001"))[0] == 204


async def test_published_through_the_hub_other_facts_are_ignored(env: Env) -> None:
    env.hub.publish(AgentStateChanged("2001", "idle"))
    env.hub.publish(CallAnswered("chan-9", "2001"))  # no pop for that call: nothing
    assert await env.get("2001") == (204, None)
    env.hub.publish(ringing("chan-9", "2001"))
    env.hub.publish(AgentStateChanged("2001", "talking"))  # only logging out drops it
    assert (await env.get("2001"))[1]["call"] == "chan-9"  # type: ignore[index]


async def test_no_audit_no_pop() -> None:
    def refuse(entry: AuditEntry) -> None:
        raise RuntimeError("audit queue full")

    source = FakeSource()
    pops = ScreenPops(source)
    app = web.Application()
    setup_auth(app, None, now=lambda: NOW, api_token=TOKEN)
    add_screenpop_routes(app, pops, refuse, lambda: NOW)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        pops.on_hub(ringing("chan-1", "2001"))
        status, body = await Env(server, pops, source).get("2001")
        assert status == 503
        assert body == {"error": "audit unavailable"}
    finally:
        await server.close()
        await pops.close()


# -- signed-in staff: a pop is only for the agent it rings -----------------------------------
async def test_only_the_signed_in_agent_of_that_extension_sees_the_pop(plan: Plan) -> None:
    runtime = no_pbx(plan, lambda: NOW)
    pops = ScreenPops(FakeSource())
    audit: list[AuditEntry] = []
    async with staff_accounts() as accounts:
        app = make_app(acd_of(runtime), accounts, now=lambda: NOW, api_token=TOKEN)
        add_screenpop_routes(app, pops, audit.append, lambda: NOW)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        alice, sam = Browser(server), Browser(server)
        try:
            await alice.login("alice")  # extension 2001
            await sam.login("sam")  # a supervisor, no extension
            pops.on_hub(ringing("chan-1", "2001"))
            status, body, headers = await alice.request("GET", "/api/agents/2001/screenpop")
            assert (status, body["patient"]["patient_id"]) == (200, "P-1002")
            assert headers["Cache-Control"] == "no-store"
            assert (await alice.request("GET", "/api/agents/2002/screenpop"))[0] == 403
            assert (await sam.request("GET", "/api/agents/2001/screenpop"))[0] == 403
            assert [(e.actor, dict(e.data)) for e in audit] == [
                ("user:alice", {"patient_id": "P-1002", "on_behalf": "agent:2001"})
            ]
            assert server.app[SESSIONS].peek(alice.session_id()) is not None
        finally:
            await alice.close()
            await sam.close()
            await server.close()
            await pops.close()
            await close_runtime(runtime)
