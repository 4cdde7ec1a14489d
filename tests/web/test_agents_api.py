"""The agents API over HTTP on loopback: log in/out, pause, the ACD snapshot, the token,
and who may control which agent when signed in."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from frontdesk.calls.acd_runtime import AcdRuntime
from frontdesk.calls.runtime import utc_now
from frontdesk.plan import Plan
from frontdesk.store.accounts import AccountStore
from frontdesk.store.records import AuditEntry
from frontdesk.web.agents_api import make_app
from frontdesk.web.auth import SESSIONS
from tests.web.test_auth import Browser, acd_of, close_runtime, no_pbx, staff_accounts

TOKEN = "test-token"


@pytest.fixture
async def server(plan: Plan) -> AsyncIterator[tuple[TestServer, AcdRuntime]]:
    runtime = no_pbx(plan, utc_now)
    queues = acd_of(runtime)
    app = make_app(queues, None, now=utc_now, api_token=TOKEN)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    yield test_server, queues
    await test_server.close()
    await close_runtime(runtime)


async def post(
    test_server: TestServer, path: str, token: str | None = TOKEN, body: bytes | None = None
) -> tuple[int, dict[str, object]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as http,
        http.post(test_server.make_url(path), headers=headers, data=body) as response,
    ):
        return response.status, await response.json()


async def test_login_pause_unpause_logout(server: tuple[TestServer, AcdRuntime]) -> None:
    test_server, queues = server
    assert await post(test_server, "/api/agents/2001/login") == (
        200,
        {"ext": "2001", "state": "idle", "pause_reason": None},
    )
    assert "2001" in queues.logged_in  # routing now sees the queue as staffed
    assert (await post(test_server, "/api/agents/2001/pause"))[1]["state"] == "paused"
    assert (await post(test_server, "/api/agents/2001/unpause"))[1]["state"] == "idle"
    assert (await post(test_server, "/api/agents/2001/logout"))[1]["state"] == "logged_out"
    assert "2001" not in queues.logged_in


async def test_unknown_agent_or_action_is_404(server: tuple[TestServer, AcdRuntime]) -> None:
    test_server, _ = server
    assert (await post(test_server, "/api/agents/9999/login"))[0] == 404
    assert (await post(test_server, "/api/agents/2001/dance"))[0] == 404


async def test_the_token_is_required(server: tuple[TestServer, AcdRuntime]) -> None:
    test_server, queues = server
    assert (await post(test_server, "/api/agents/2001/login", token=None))[0] == 401
    assert (await post(test_server, "/api/agents/2001/login", token="wrong"))[0] == 401
    assert "2001" not in queues.logged_in


async def test_snapshot_lists_queues_and_agents(server: tuple[TestServer, AcdRuntime]) -> None:
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


# -- signed-in staff ------------------------------------------------------------------------
@pytest.fixture
async def staffed(plan: Plan) -> AsyncIterator[tuple[TestServer, AcdRuntime]]:
    runtime = no_pbx(plan, utc_now)
    queues = acd_of(runtime)
    async with staff_accounts() as accounts:
        test_server = TestServer(_app(queues, accounts), host="127.0.0.1")
        await test_server.start_server()
        yield test_server, queues
        await test_server.close()
    await close_runtime(runtime)


def _app(queues: AcdRuntime, accounts: AccountStore) -> web.Application:
    return make_app(queues, accounts, now=utc_now, api_token=TOKEN)


async def signed_in(test_server: TestServer, username: str) -> tuple[Browser, str]:
    """A browser signed in as `username`, and its session's CSRF token."""
    browser = Browser(test_server)
    assert (await browser.login(username)).status == 303
    session = test_server.app[SESSIONS].peek(browser.session_id())
    assert session is not None
    return browser, session.csrf


async def test_an_agent_controls_only_their_own_extension(
    staffed: tuple[TestServer, AcdRuntime],
) -> None:
    test_server, queues = staffed
    alice, token = await signed_in(test_server, "alice")  # extension 2001
    try:
        status, body, _ = await alice.request("POST", "/api/agents/2001/login", csrf=token)
        assert (status, body) == (200, {"ext": "2001", "state": "idle", "pause_reason": None})
        status, body, _ = await alice.request("POST", "/api/agents/2002/login", csrf=token)
        assert status == 403
        assert "2002" in body["error"]
        assert queues.logged_in == {"2001"}
    finally:
        await alice.close()


async def test_a_supervisor_controls_any_agent_and_an_admin_none(
    staffed: tuple[TestServer, AcdRuntime],
) -> None:
    test_server, queues = staffed
    sam, sam_token = await signed_in(test_server, "sam")
    ada, ada_token = await signed_in(test_server, "ada")
    try:
        assert (await sam.request("POST", "/api/agents/2002/login", csrf=sam_token))[0] == 200
        assert (await sam.request("POST", "/api/agents/2004/login", csrf=sam_token))[0] == 200
        assert (await ada.request("POST", "/api/agents/2002/pause", csrf=ada_token))[0] == 403
        assert queues.logged_in == {"2002", "2004"}
    finally:
        await sam.close()
        await ada.close()


# -- pause reasons and the audit log -----------------------------------------------------------
@pytest.fixture
async def audited(plan: Plan) -> AsyncIterator[tuple[TestServer, AcdRuntime, list[AuditEntry]]]:
    """The API for a plan with a pause reason of its own, every audit entry kept."""
    runtime = no_pbx(plan.model_copy(update={"pause_reasons": ("training",)}), utc_now)
    queues = acd_of(runtime)
    entries: list[AuditEntry] = []
    app = make_app(queues, None, now=utc_now, api_token=TOKEN, put_audit=entries.append)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    yield test_server, queues, entries
    await test_server.close()
    await close_runtime(runtime)


async def test_pause_with_a_reason_is_shown_and_audited(
    audited: tuple[TestServer, AcdRuntime, list[AuditEntry]],
) -> None:
    test_server, _, entries = audited
    await post(test_server, "/api/agents/2003/login")
    lunch = json.dumps({"reason": "lunch"}).encode()
    assert await post(test_server, "/api/agents/2003/pause", body=lunch) == (
        200,
        {"ext": "2003", "state": "paused", "pause_reason": "lunch"},
    )
    training = json.dumps({"reason": "training"}).encode()  # the plan's own
    assert (await post(test_server, "/api/agents/2003/pause", body=training))[1][
        "pause_reason"
    ] == "training"
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            test_server.make_url("/api/acd"), headers={"Authorization": f"Bearer {TOKEN}"}
        ) as response,
    ):
        snapshot = await response.json()
    chloe = next(a for a in snapshot["agents"] if a["ext"] == "2003")
    assert (chloe["state"], chloe["pause_reason"]) == ("paused", "training")
    assert (chloe["logged_in"], chloe["paused"]) == (True, True)
    await post(test_server, "/api/agents/2003/unpause")
    await post(test_server, "/api/agents/2003/logout")
    assert [(e.actor, e.action, e.subject, dict(e.data)) for e in entries] == [
        ("token", "agent_login", "2003", {"on_behalf": "agent:2003"}),
        ("token", "agent_pause", "2003", {"reason": "lunch", "on_behalf": "agent:2003"}),
        ("token", "agent_pause", "2003", {"reason": "training", "on_behalf": "agent:2003"}),
        ("token", "agent_unpause", "2003", {"on_behalf": "agent:2003"}),
        ("token", "agent_logout", "2003", {"on_behalf": "agent:2003"}),
    ]


async def test_a_pause_without_a_body_or_reason_has_none(
    audited: tuple[TestServer, AcdRuntime, list[AuditEntry]],
) -> None:
    test_server, _, _ = audited
    await post(test_server, "/api/agents/2003/login")
    assert (await post(test_server, "/api/agents/2003/pause"))[1]["pause_reason"] is None
    await post(test_server, "/api/agents/2003/unpause")
    no_reason = json.dumps({"reason": None}).encode()
    assert (await post(test_server, "/api/agents/2003/pause", body=no_reason))[1] == {
        "ext": "2003",
        "state": "paused",
        "pause_reason": None,
    }


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b'{"reason": "nap"}', 422),  # not one of the plan's reasons
        (b'{"reason": 3}', 422),
        (b'{"reason": "LUNCH"}', 422),
        (b"lunch", 400),  # not JSON
        (b'["lunch"]', 400),  # not an object
    ],
)
async def test_a_bad_pause_reason_is_refused_and_changes_nothing(
    audited: tuple[TestServer, AcdRuntime, list[AuditEntry]], body: bytes, status: int
) -> None:
    test_server, queues, entries = audited
    await post(test_server, "/api/agents/2003/login")
    answer = await post(test_server, "/api/agents/2003/pause", body=body)
    assert answer[0] == status
    assert "error" in answer[1]
    if status == 422:
        assert answer[1]["reasons"] == ["lunch", "meeting", "admin", "training"]
    assert queues.engine.snapshot(queues.now()).agent("2003").state == "idle"
    assert [e.action for e in entries] == ["agent_login"]


async def test_a_signed_in_user_is_the_actor(plan: Plan) -> None:
    runtime = no_pbx(plan, utc_now)
    queues = acd_of(runtime)
    entries: list[AuditEntry] = []
    async with staff_accounts() as accounts:
        app = make_app(queues, accounts, now=utc_now, api_token=TOKEN, put_audit=entries.append)
        test_server = TestServer(app, host="127.0.0.1")
        await test_server.start_server()
        alice, token = await signed_in(test_server, "alice")  # extension 2001
        try:
            await alice.request("POST", "/api/agents/2001/login", csrf=token)
        finally:
            await alice.close()
            await test_server.close()
    await close_runtime(runtime)
    assert ("user:alice", "agent_login", "2001") in [
        (e.actor, e.action, e.subject) for e in entries
    ]
