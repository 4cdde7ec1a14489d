"""`POST /api/alerts/{id}/call-back` (web/return_calls_api.py): "call back now" on a
callback task or a voicemail rings the signed-in agent first, with the number from the
call's record; the number never leaves the server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import cast

import pytest
from aiohttp import web

from frontdesk.calls.events import CallbackTaskRaised, EscalationRaised, VoicemailLeft
from frontdesk.calls.hub import EventHub
from frontdesk.calls.return_calls import ReturnCalls
from frontdesk.plan import Plan
from frontdesk.store.accounts import AccountStore
from frontdesk.web.live import LiveBoard, add_live_routes
from frontdesk.web.return_calls_api import add_return_call_routes
from tests.web.test_auth import Browser, World, start_world, stop_world
from tests.web.test_auth import accounts as accounts

NUMBER = "+13125551001"


@dataclass
class Returns:
    """Stands in for the call path: keeps what it was asked to dial."""

    started: list[tuple[str, str, str]] = field(default_factory=list)

    def start(self, call: str, agent: str, number: str) -> bool:
        if any(c == call for c, _, _ in self.started):
            return False
        self.started.append((call, agent, number))
        return True


@dataclass
class Desk:
    world: World
    live: LiveBoard
    hub: EventHub
    returns: Returns


@pytest.fixture
async def desk(plan: Plan, accounts: AccountStore) -> AsyncIterator[Desk]:
    made: dict[str, object] = {}

    def routes(app: web.Application, world: World) -> None:
        live = LiveBoard(world.queues, plan, put_audit=world.audit.append)
        hub, returns = EventHub(), Returns()
        hub.add_listener(live.on_hub)
        add_live_routes(app, live)
        add_return_call_routes(app, live, cast(ReturnCalls, returns), accounts.pool)
        made.update(live=live, hub=hub, returns=returns)

    world = await start_world(plan, accounts, routes)
    async with accounts.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO calls (linkedid, caller) VALUES ('c1', $1), ('c2', NULL), ('c3', $1)",
            NUMBER,
        )
    try:
        yield Desk(world, made["live"], made["hub"], made["returns"])  # type: ignore[arg-type]
    finally:
        await stop_world(world)


async def call_back(browser: Browser, alert: int) -> tuple[int, object]:
    csrf = await browser.csrf()
    status, body, _ = await browser.request("POST", f"/api/alerts/{alert}/call-back", csrf=csrf)
    return status, body


async def test_call_back_now_rings_the_agent_with_the_calls_number(desk: Desk) -> None:
    desk.hub.publish(CallbackTaskRaised("c1", "billing"))
    desk.hub.publish(VoicemailLeft("c3", box="billing"))
    task, voicemail = (a.id for a in desk.live.state.alerts)
    alice = desk.world.browser()
    await alice.login("alice")
    status, body = await call_back(alice, task)
    assert status == 202
    assert NUMBER not in str(body)
    assert desk.returns.started == [("c1", "2001", NUMBER)]
    assert (await call_back(alice, task))[0] == 409  # once at a time
    assert (await call_back(alice, voicemail))[0] == 202
    (entry,) = [e for e in desk.world.audit if e.action == "alert_call_back" and e.subject == "c1"]
    assert entry.actor == "user:alice"


async def test_what_cannot_be_called_back(desk: Desk) -> None:
    desk.hub.publish(CallbackTaskRaised("c2", "billing"))  # a withheld number
    desk.hub.publish(EscalationRaised("c1", "billing", 600))  # not a task
    withheld, escalation = (a.id for a in desk.live.state.alerts)
    alice, sam = desk.world.browser(), desk.world.browser()
    await alice.login("alice")
    await sam.login("sam")  # a supervisor without a phone
    assert (await call_back(alice, withheld))[0] == 422
    assert (await call_back(alice, escalation))[0] == 404
    assert (await call_back(alice, 999))[0] == 404
    assert (await call_back(sam, withheld))[0] == 403
    assert desk.returns.started == []
