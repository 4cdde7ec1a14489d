"""The live board over HTTP (web/live.py): the SSE stream, masking by role, acknowledging
alerts, and streams that end with their session."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web

from frontdesk.acd.model import CallerJoined
from frontdesk.calls.events import EmergencyCallPlaced, EscalationRaised
from frontdesk.calls.hub import EventHub
from frontdesk.plan import Plan
from frontdesk.store.accounts import AccountStore
from frontdesk.web.live import LiveBoard, add_live_routes
from tests.web.test_auth import T0, Browser, World, start_world, stop_world
from tests.web.test_auth import accounts as accounts


@pytest.fixture
async def world(plan: Plan, accounts: AccountStore) -> AsyncIterator[World]:
    def live_routes(app: web.Application, world: World) -> None:
        live = LiveBoard(world.queues, plan, put_audit=world.audit.append)
        hub = EventHub()
        hub.add_listener(live.on_hub)
        add_live_routes(app, live)
        world.live = live  # type: ignore[attr-defined]
        world.hub = hub  # type: ignore[attr-defined]

    made = await start_world(plan, accounts, live_routes)
    try:
        yield made
    finally:
        await stop_world(made)


def join(world: World, call: str, number: str | None, queue: str = "front_desk") -> None:
    """A caller waiting (the ACD's own event; its number kept as the runtime keeps it)."""
    world.queues.feed(CallerJoined(call_id=call, queue=queue, enqueued_at=T0))
    world.queues.calls[call] = SimpleNamespace(number=number)  # type: ignore[assignment]


async def board(browser: Browser) -> dict[str, Any]:
    status, body, _ = await browser.request("GET", "/api/board")
    assert status == 200, body
    assert isinstance(body, dict)
    return body


def numbers(view: dict[str, Any], queue: str = "front_desk") -> list[str | None]:
    found = next(q for q in view["queues"] if q["name"] == queue)
    return [c["number"] for c in found["callers"]]


async def test_full_numbers_only_for_roles_that_need_them(world: World) -> None:
    join(world, "c1", "+13125551001")
    nurse, agent, admin = world.browser(), world.browser(), world.browser()
    for browser, name in ((nurse, "nina"), (agent, "alice"), (admin, "ada")):
        await browser.login(name)
    assert numbers(await board(nurse)) == ["+13125551001"]
    for browser in (agent, admin):
        (shown,) = numbers(await board(browser))
        assert shown is not None
        assert "555100" not in shown
        assert shown.endswith("1001")


async def test_me_is_the_signed_in_agent(world: World) -> None:
    alice = world.browser()
    await alice.login("alice")
    view = await board(alice)
    assert view["me"]["ext"] == "2001"
    sam = world.browser()
    await sam.login("sam")  # no extension
    assert "me" not in await board(sam)


async def read_events(browser: Browser, count: int) -> list[tuple[str, dict[str, Any]]]:
    """The first `count` events of the stream (name, data)."""
    events: list[tuple[str, dict[str, Any]]] = []
    async with browser.http.get(browser.url("/events")) as response:
        assert response.status == 200
        assert response.content_type == "text/event-stream"
        name = ""
        async for raw in response.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((name, json.loads(line.removeprefix("data: "))))
                if len(events) == count:
                    break
    return events


async def test_the_stream_pushes_a_change_without_polling(world: World) -> None:
    nina = world.browser()
    await nina.login("nina")

    async def escalate() -> None:
        await asyncio.sleep(0.3)
        world.hub.publish(EscalationRaised("c9", "nurse_triage", 300))  # type: ignore[attr-defined]

    task = asyncio.create_task(escalate())
    events = await asyncio.wait_for(read_events(nina, 2), timeout=4)  # < REFRESH: a push
    await task
    (first_name, first), (second_name, second) = events
    assert (first_name, second_name) == ("board", "board")
    assert first["alerts"] == []
    assert [(a["kind"], a["queue"], a["waited_s"]) for a in second["alerts"]] == [
        ("escalation", "nurse_triage", 300)
    ]


async def test_the_stream_ends_when_the_session_expires(world: World) -> None:
    nina = world.browser()
    await nina.login("nina")

    async def expire() -> None:
        await asyncio.sleep(0.3)
        world.clock.advance(minutes=16)  # idle timeout: 15 minutes
        world.live.changed()  # type: ignore[attr-defined]

    task = asyncio.create_task(expire())
    events = await asyncio.wait_for(read_events(nina, 2), timeout=4)
    await task
    assert [name for name, _ in events] == ["board", "expired"]


async def test_the_stream_needs_a_session(world: World) -> None:
    anonymous = world.browser()
    status, body, _ = await anonymous.request("GET", "/events")
    assert (status, body) == (401, {"error": "login required"})


async def test_acknowledging_an_alert(world: World) -> None:
    world.hub.publish(EscalationRaised("c9", "nurse_triage", None))  # type: ignore[attr-defined]
    alice, nina = world.browser(), world.browser()
    await alice.login("alice")
    await nina.login("nina")
    (alert,) = (await board(nina))["alerts"]
    path = f"/api/alerts/{alert['id']}/ack"
    assert (await alice.request("POST", path, csrf=await alice.csrf()))[0] == 403  # an agent
    assert (await nina.request("POST", path))[0] == 403  # no CSRF token
    status, body, _ = await nina.request("POST", path, csrf=await nina.csrf())
    assert (status, body["acknowledged_by"]) == (200, "nina")
    assert (await board(alice))["alerts"][0]["acknowledged_by"] == "nina"
    assert [
        (e.actor, e.action, e.subject) for e in world.audit if e.action.startswith("alert")
    ] == [("user:nina", "alert_acknowledged", "c9")]
    missing = await nina.request("POST", "/api/alerts/999/ack", csrf=await nina.csrf())
    assert missing[0] == 404


async def test_a_911_alert_is_first_for_everyone_and_acknowledged_like_an_escalation(
    world: World,
) -> None:
    world.hub.publish(EmergencyCallPlaced("e1", "2003", "Chloe Martin"))  # type: ignore[attr-defined]
    world.hub.publish(EscalationRaised("c9", "nurse_triage", None))  # type: ignore[attr-defined]
    alice, nina = world.browser(), world.browser()
    await alice.login("alice")
    await nina.login("nina")
    first, _ = (await board(alice))["alerts"]
    assert (first["kind"], first["extension"], first["staff_name"]) == (
        "emergency_call",
        "2003",
        "Chloe Martin",
    )
    path = f"/api/alerts/{first['id']}/ack"
    assert (await alice.request("POST", path, csrf=await alice.csrf()))[0] == 403  # an agent
    outcome = {"outcome": "reached"}
    done = await nina.request("POST", path, json=outcome, csrf=await nina.csrf())
    assert done[0] == 422  # not a call to return
    status, body, _ = await nina.request("POST", path, csrf=await nina.csrf())
    assert (status, body["acknowledged_by"]) == (200, "nina")
    assert [a["kind"] for a in (await board(alice))["alerts"]] == ["escalation", "emergency_call"]
    acknowledged = [e for e in world.audit if e.action == "alert_acknowledged"]
    assert [(e.subject, e.data["kind"]) for e in acknowledged] == [("e1", "emergency_call")]


async def test_a_restart_brings_back_unacknowledged_alerts_and_the_service_level(
    plan: Plan, accounts: AccountStore
) -> None:
    async with accounts.pool.acquire() as conn:
        for call in ("vm-open", "vm-acked", "esc", "e911", "answered", "abandoned"):
            await conn.execute("INSERT INTO calls (linkedid) VALUES ($1)", call)
        await conn.execute(
            "UPDATE calls SET started_at = $1, queue = 'billing', wait_s = 30,"
            " answered_at = $1 WHERE linkedid = 'answered'",
            T0,
        )
        await conn.execute(
            "UPDATE calls SET started_at = $1, queue = 'billing', wait_s = 40,"
            " abandoned = true WHERE linkedid = 'abandoned'",
            T0,
        )
        events = [
            ("vm-open", "voicemail", {"box": "billing", "callback_due": "2026-12-01T17:00"}),
            ("vm-acked", "voicemail", {"box": "billing"}),
            ("esc", "escalation", {"queue": "nurse_triage", "waited_s": 300}),
            ("e911", "emergency_call", {"extension": "2003", "name": "Chloe Martin"}),
        ]
        for i, (call, kind, data) in enumerate(events):
            await conn.execute(
                "INSERT INTO call_events (linkedid, event_key, at, kind, data)"
                " VALUES ($1, $2, $3, $4, $5::jsonb)",
                call,
                f"k{i}",
                T0 - timedelta(hours=3 - i),
                kind,
                json.dumps(data),
            )
        await conn.execute(
            "INSERT INTO audit_log (entry_key, at, actor, action, subject, data)"
            " VALUES ('a1', $1, 'user:nina', 'alert_acknowledged', 'vm-acked',"
            ' \'{"kind": "voicemail"}\'::jsonb)',
            T0,
        )
    world = await start_world(plan, accounts)
    try:
        live = LiveBoard(world.queues, plan)
        await live.restore(accounts.pool)
    finally:
        await stop_world(world)
    assert [(a.kind, a.call) for a in live.state.alerts] == [
        ("voicemail", "vm-open"),
        ("escalation", "esc"),
        ("emergency_call", "e911"),
    ]
    voicemail, escalation, emergency = live.state.alerts
    assert (emergency.extension, emergency.staff_name) == ("2003", "Chloe Martin")
    assert (voicemail.box, voicemail.due) == ("billing", "2026-12-01T17:00")
    assert (escalation.waited_s, escalation.call_state) == (300, "ended")
    assert escalation.raised_at == T0 - timedelta(hours=1)
    assert live.state.service_level_today("billing", T0) == 1 / 2
