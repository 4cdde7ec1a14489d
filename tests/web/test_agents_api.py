"""The agents API over HTTP on loopback: log in/out, pause, the ACD snapshot, the token."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from frontdesk.asterisk.ari import AriClient, AriConfig
from frontdesk.calls.queues import QueueRuntime
from frontdesk.calls.runtime import utc_now
from frontdesk.plan import Plan
from frontdesk.web.agents_api import make_app

TOKEN = "test-token"


@pytest.fixture
async def server(plan: Plan) -> AsyncIterator[tuple[TestServer, QueueRuntime]]:
    ari = AriClient(AriConfig("http://127.0.0.1:9/ari", "x", "y"))  # never called here
    queues = QueueRuntime(plan, ari, now=utc_now, logged_in=set())
    test_server = TestServer(make_app(queues, TOKEN), host="127.0.0.1")
    await test_server.start_server()
    yield test_server, queues
    await test_server.close()
    await queues.close()
    await ari.close()


async def post(
    test_server: TestServer, path: str, token: str | None = TOKEN
) -> tuple[int, dict[str, object]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as http,
        http.post(test_server.make_url(path), headers=headers) as response,
    ):
        return response.status, await response.json()


async def test_login_pause_unpause_logout(server: tuple[TestServer, QueueRuntime]) -> None:
    test_server, queues = server
    assert await post(test_server, "/api/agents/2001/login") == (
        200,
        {"ext": "2001", "state": "idle"},
    )
    assert "2001" in queues.logged_in  # routing now sees the queue as staffed
    assert (await post(test_server, "/api/agents/2001/pause"))[1]["state"] == "paused"
    assert (await post(test_server, "/api/agents/2001/unpause"))[1]["state"] == "idle"
    assert (await post(test_server, "/api/agents/2001/logout"))[1]["state"] == "logged_out"
    assert "2001" not in queues.logged_in


async def test_unknown_agent_or_action_is_404(server: tuple[TestServer, QueueRuntime]) -> None:
    test_server, _ = server
    assert (await post(test_server, "/api/agents/9999/login"))[0] == 404
    assert (await post(test_server, "/api/agents/2001/dance"))[0] == 404


async def test_the_token_is_required(server: tuple[TestServer, QueueRuntime]) -> None:
    test_server, queues = server
    assert (await post(test_server, "/api/agents/2001/login", token=None))[0] == 401
    assert (await post(test_server, "/api/agents/2001/login", token="wrong"))[0] == 401
    assert "2001" not in queues.logged_in


async def test_snapshot_lists_queues_and_agents(server: tuple[TestServer, QueueRuntime]) -> None:
    test_server, _ = server
    await post(test_server, "/api/agents/2004/login")
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            test_server.make_url("/api/acd"), headers={"Authorization": f"Bearer {TOKEN}"}
        ) as response,
    ):
        body = await response.json()
    assert [q["name"] for q in body["queues"]] == [
        "scheduling", "intake", "billing", "referrals", "nurse_triage", "front_desk",
    ]  # fmt: skip
    dana = next(a for a in body["agents"] if a["ext"] == "2004")
    assert dana["state"] == "idle"
