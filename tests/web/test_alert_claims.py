"""Calls to return, worked from the agent page (web/live.py, web/board.py): a callback task
or voicemail message is claimed by one person (the others see who), released, and done
with an outcome stored as the acknowledgement's data; audited, and the claims come back
after a restart with their alerts."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web

from frontdesk.calls.events import CallbackTaskRaised, EscalationRaised, VoicemailLeft
from frontdesk.calls.hub import EventHub
from frontdesk.calls.return_calls import ReturnCalls
from frontdesk.plan import Plan
from frontdesk.store.accounts import AccountStore
from frontdesk.web.board import BoardState
from frontdesk.web.live import LiveBoard, add_live_routes
from frontdesk.web.return_calls_api import add_return_call_routes
from tests.web.test_auth import T0, Browser, World, start_world, stop_world
from tests.web.test_auth import accounts as accounts

ZONE = ZoneInfo("America/Chicago")


# -- the board's state (pure) ----------------------------------------------------------------
def test_one_claim_stands_until_released_and_escalations_are_never_claimed() -> None:
    state = BoardState(ZONE)
    state.on_event(CallbackTaskRaised("a", "billing", "billing"), T0)
    state.on_event(EscalationRaised("b", "nurse_triage", 600), T0)
    task, escalation = state.alerts
    assert task.queue == "billing"
    assert state.claim(task.id, "alice", T0) is task
    assert state.claim(task.id, "bob", T0 + timedelta(minutes=1)) is task
    assert (task.claimed_by, task.claimed_at) == ("alice", T0)
    assert task.as_json()["claimed_by"] == "alice"
    assert state.claim(escalation.id, "alice", T0) is None
    assert state.release(task.id) is task
    assert task.claimed_by is None
    state.acknowledge(task.id, "alice", T0, "left_message")
    assert (task.acknowledged_by, task.outcome) == ("alice", "left_message")
    assert state.claim(task.id, "bob", T0) is task
    assert task.claimed_by is None  # done: nobody claims it any more


# -- over HTTP ---------------------------------------------------------------------------------
@dataclass
class Returns:
    started: list[tuple[str, str, str]] = field(default_factory=list)

    def start(self, call: str, agent: str, number: str) -> bool:
        self.started.append((call, agent, number))
        return True


@dataclass
class Desk:
    world: World
    live: LiveBoard
    hub: EventHub
    returns: Returns

    def ids(self) -> list[int]:
        return [a.id for a in self.live.state.alerts]

    def audit(self) -> list[tuple[str, str, str | None, dict[str, Any]]]:
        return [
            (e.actor, e.action, e.subject, dict(e.data))
            for e in self.world.audit
            if e.action.startswith("alert")
        ]


@pytest.fixture
async def desk(plan: Plan, accounts: AccountStore) -> AsyncIterator[Desk]:
    made: dict[str, Any] = {}

    def routes(app: web.Application, world: World) -> None:
        live = LiveBoard(world.queues, plan, put_audit=world.audit.append)
        hub, returns = EventHub(), Returns()
        hub.add_listener(live.on_hub)
        add_live_routes(app, live)
        add_return_call_routes(app, live, cast(ReturnCalls, returns), accounts.pool)
        made.update(live=live, hub=hub, returns=returns)

    world = await start_world(plan, accounts, routes)
    async with accounts.pool.acquire() as conn:
        await conn.execute("INSERT INTO calls (linkedid, caller) VALUES ('t1', '+13125551001')")
    try:
        yield Desk(world, made["live"], made["hub"], made["returns"])
    finally:
        await stop_world(world)


async def signed_in(desk: Desk, *names: str) -> list[Browser]:
    browsers = []
    for name in names:
        browser = desk.world.browser()
        await browser.login(name)
        browsers.append(browser)
    return browsers


async def post(browser: Browser, path: str, body: Any = None) -> tuple[int, Any]:
    kwargs: dict[str, Any] = {} if body is None else {"json": body}
    status, answer, _ = await browser.request("POST", path, csrf=await browser.csrf(), **kwargs)
    return status, answer


async def test_one_agent_claims_a_task_and_the_others_see_who(desk: Desk) -> None:
    desk.hub.publish(CallbackTaskRaised("t1", "billing", "billing"))
    (task,) = desk.ids()
    alice, bob = await signed_in(desk, "alice", "bob")
    status, body = await post(alice, f"/api/alerts/{task}/claim")
    assert (status, body["claimed_by"]) == (200, "alice")
    assert (await post(alice, f"/api/alerts/{task}/claim"))[0] == 200  # again: still hers
    status, board, _ = await bob.request("GET", "/api/board")
    assert board["alerts"][0]["claimed_by"] == "alice"
    status, body = await post(bob, f"/api/alerts/{task}/claim")
    assert (status, body["claimed_by"]) == (409, "alice")
    assert (await post(bob, f"/api/alerts/{task}/ack", {"outcome": "reached"}))[0] == 409
    assert (await post(bob, f"/api/alerts/{task}/release"))[0] == 409
    assert (await post(bob, f"/api/alerts/{task}/call-back"))[0] == 409  # not his
    assert desk.returns.started == []
    assert (await post(alice, f"/api/alerts/{task}/call-back"))[0] == 202
    assert (await post(alice, f"/api/alerts/{task}/release"))[0] == 200
    assert (await post(bob, f"/api/alerts/{task}/claim"))[1]["claimed_by"] == "bob"
    assert [(actor, action) for actor, action, _, _ in desk.audit()] == [
        ("user:alice", "alert_claimed"),
        ("user:alice", "alert_call_back"),
        ("user:alice", "alert_released"),
        ("user:bob", "alert_claimed"),
    ]
    assert desk.audit()[0][2:] == ("t1", {"alert": task, "kind": "callback_task"})


async def test_done_with_an_outcome_is_the_acknowledgement(desk: Desk) -> None:
    desk.hub.publish(VoicemailLeft("t1", "scheduling", category="scheduling"))
    (voicemail,) = desk.ids()
    (alice,) = await signed_in(desk, "alice")
    assert (await post(alice, f"/api/alerts/{voicemail}/claim"))[0] == 200
    bad = await post(alice, f"/api/alerts/{voicemail}/ack", {"outcome": "vanished"})
    assert bad[0] == 422
    assert (await post(alice, f"/api/alerts/{voicemail}/ack", ["reached"]))[0] == 400
    status, body = await post(alice, f"/api/alerts/{voicemail}/ack", {"outcome": "left_message"})
    assert status == 200
    assert (body["acknowledged_by"], body["outcome"]) == ("alice", "left_message")
    again = await post(alice, f"/api/alerts/{voicemail}/ack", {"outcome": "reached"})
    assert again[1]["outcome"] == "left_message"  # the first stands
    assert (await post(alice, f"/api/alerts/{voicemail}/claim"))[0] == 409  # done already
    (done,) = [entry for entry in desk.audit() if entry[1] == "alert_acknowledged"]
    assert done == (
        "user:alice",
        "alert_acknowledged",
        "t1",
        {"alert": voicemail, "kind": "voicemail", "outcome": "left_message"},
    )


async def test_an_unclaimed_task_is_done_by_any_agent_and_an_escalation_by_nurses_only(
    desk: Desk,
) -> None:
    desk.hub.publish(CallbackTaskRaised("t1", "billing"))
    desk.hub.publish(EscalationRaised("e1", "nurse_triage", 600))
    task, escalation = desk.ids()
    alice, nina, ada = await signed_in(desk, "alice", "nina", "ada")
    assert (await post(alice, f"/api/alerts/{task}/ack", {"outcome": "no_answer"}))[0] == 200
    assert (await post(alice, f"/api/alerts/{escalation}/ack"))[0] == 403
    assert (await post(alice, f"/api/alerts/{escalation}/claim"))[0] == 404
    assert (await post(ada, f"/api/alerts/{task}/claim"))[0] == 403  # admins return no calls
    assert (await post(ada, f"/api/alerts/{escalation}/ack"))[0] == 403
    outcome_on_escalation = await post(
        nina, f"/api/alerts/{escalation}/ack", {"outcome": "reached"}
    )
    assert outcome_on_escalation[0] == 422
    status, body = await post(nina, f"/api/alerts/{escalation}/ack")  # the board's button
    assert (status, body["acknowledged_by"], body["outcome"]) == (200, "nina", None)
    assert (await post(nina, "/api/alerts/999/claim"))[0] == 404


async def test_a_charge_nurse_may_release_anyones_claim(desk: Desk) -> None:
    desk.hub.publish(CallbackTaskRaised("t1", "billing"))
    (task,) = desk.ids()
    alice, nina = await signed_in(desk, "alice", "nina")
    await post(alice, f"/api/alerts/{task}/claim")
    status, body = await post(nina, f"/api/alerts/{task}/release")
    assert (status, body["claimed_by"]) == (200, None)


# -- after a restart ---------------------------------------------------------------------------
async def test_claims_come_back_with_their_alerts(plan: Plan, accounts: AccountStore) -> None:
    async with accounts.pool.acquire() as conn:
        for i, call in enumerate(("kept", "released", "done", "free")):
            await conn.execute("INSERT INTO calls (linkedid) VALUES ($1)", call)
            await conn.execute(
                "INSERT INTO call_events (linkedid, event_key, at, kind, data)"
                " VALUES ($1, $2, $3, 'callback_task', $4::jsonb)",
                call,
                f"k{i}",
                T0 - timedelta(hours=2),
                json.dumps({"category": "billing", "queue": "billing"}),
            )
        audit = [
            ("kept", "user:alice", "alert_claimed", 60),
            ("released", "user:alice", "alert_claimed", 60),
            ("released", "user:alice", "alert_released", 50),
            ("done", "user:bob", "alert_claimed", 60),
            ("done", "user:bob", "alert_acknowledged", 50),
        ]
        for i, (call, actor, action, minutes_ago) in enumerate(audit):
            await conn.execute(
                "INSERT INTO audit_log (entry_key, at, actor, action, subject, data)"
                ' VALUES ($1, $2, $3, $4, $5, \'{"kind": "callback_task"}\'::jsonb)',
                f"a{i}",
                T0 - timedelta(minutes=minutes_ago),
                actor,
                action,
                call,
            )
    world = await start_world(plan, accounts)
    try:
        live = LiveBoard(world.queues, plan)
        await live.restore(accounts.pool)
    finally:
        await stop_world(world)
    claims = {a.call: (a.claimed_by, a.queue) for a in live.state.alerts}
    assert claims == {
        "kept": ("alice", "billing"),
        "released": (None, "billing"),
        "free": (None, "billing"),
    }
    (kept,) = [a for a in live.state.alerts if a.call == "kept"]
    assert kept.claimed_at == T0 - timedelta(minutes=60)
