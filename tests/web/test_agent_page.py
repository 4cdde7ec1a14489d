"""The agent page's data over HTTP (web/agent_page.py): what it offers (the plan's queues
numbered as `*8<n>`, colleagues, externals by name, categories, pause reasons), the call
in hand with its number masked by role, and my calls today from the real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web

from frontdesk.acd.model import AgentLogin, CallerJoined, OfferAnswered
from frontdesk.calls.acd_runtime import Queued
from frontdesk.plan import Plan
from frontdesk.routing.destination import Request
from frontdesk.store.accounts import AccountStore
from frontdesk.web.agent_page import MAX_CALLS, add_agent_page_routes, categories
from tests.web.test_auth import T0, TOKEN, World, start_world, stop_world
from tests.web.test_auth import accounts as accounts

NUMBER = "+13125551001"


@pytest.fixture
async def world(plan: Plan, accounts: AccountStore) -> AsyncIterator[World]:
    def routes(app: web.Application, world: World) -> None:
        add_agent_page_routes(app, plan, world.queues, accounts.pool, world.clock)

    made = await start_world(plan, accounts, routes)
    try:
        yield made
    finally:
        await stop_world(made)


def talking(world: World, call: str = "c1", ext: str = "2001", waited: int = 90) -> None:
    """Agent `ext` answered `call` after it waited `waited` seconds in scheduling (the
    engine's own events: no phone is involved)."""
    queues, at = world.queues, world.clock()
    queues.engine.handle(AgentLogin(ext), at)
    joined = CallerJoined(
        call_id=call,
        queue="scheduling",
        enqueued_at=at - timedelta(seconds=waited),
        category="scheduling",
        skill="cardiology",
    )
    queued = Queued(joined, Request("scheduling", "scheduling"), NUMBER, f"{call}-leg", ext)
    queues.calls[call] = queued
    queues.engine.handle(joined, at)
    queues.engine.handle(OfferAnswered(call, ext), at)


async def page_of(world: World, user: str, ext: str = "2001") -> tuple[int, Any]:
    browser = world.browser()
    await browser.login(user)
    status, body, _ = await browser.request("GET", f"/api/agent-page/{ext}")
    return status, body


async def test_the_page_offers_the_plans_queues_colleagues_and_externals(
    world: World, plan: Plan
) -> None:
    status, body = await page_of(world, "alice")
    assert status == 200
    assert [q["name"] for q in body["queues"]] == list(plan.queues)
    first = body["queues"][0]
    assert (first["number"], first["feature"], first["label"]) == (1, "*81", "Scheduling")
    assert first["wrap_up_s"] == int(plan.queues["scheduling"].wrap_up.total_seconds())
    assert {"cardiology", "orthopedics", "primary_care"} <= set(first["skills"])
    assert [q["name"] for q in body["queues"] if q["mine"]] == [
        "scheduling",
        "intake",
        "front_desk",
    ]
    extensions = [s["ext"] for s in body["staff"]]
    assert "2001" not in extensions  # not myself
    assert extensions == [s.extension for s in plan.staff if s.extension != "2001"]
    assert [e["name"] for e in body["externals"]] == list(plan.external)
    assert "PJSIP" not in str(body)  # names, never dial strings
    assert body["categories"] == categories(plan)
    assert {"scheduling", "billing", "refill", "new_patient"} <= set(body["categories"])
    assert body["pause_reasons"] == list(plan.all_pause_reasons)
    assert body["pause_reasons"][:3] == ["lunch", "meeting", "admin"]
    assert body["call"] is None


async def test_the_call_in_hand_with_its_wait_and_the_number_masked_for_an_agent(
    world: World,
) -> None:
    talking(world, waited=90)
    world.clock.advance(seconds=30)
    status, body = await page_of(world, "alice")
    assert status == 200
    call = body["call"]
    assert call["call"] == "c1"
    assert (call["state"], call["queue"], call["category"]) == (
        "talking",
        "scheduling",
        "scheduling",
    )
    assert (call["waited_s"], call["talking_s"]) == (90, 30)
    assert call["transferable"] is True
    assert call["number"] != NUMBER
    assert call["number"].endswith("1001")
    assert "555100" not in call["number"]


async def test_a_supervisor_and_the_api_token_see_the_full_number(world: World) -> None:
    talking(world)
    status, body = await page_of(world, "sam")  # control_any_agent, see_full_numbers
    assert (status, body["call"]["number"]) == (200, NUMBER)
    browser = world.browser()
    status, body, _ = await browser.request(
        "GET", "/api/agent-page/2001", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert (status, body["call"]["number"]) == (200, NUMBER)


async def test_only_my_own_page_and_only_for_staff_of_the_plan(world: World) -> None:
    assert (await page_of(world, "bob", "2001"))[0] == 403  # another agent's
    assert (await page_of(world, "ada", "2001"))[0] == 403  # an admin without a phone
    assert (await page_of(world, "sam", "9999"))[0] == 404
    anonymous = world.browser()
    assert (await anonymous.request("GET", "/api/agent-page/2001"))[0] == 401


# -- my calls today -------------------------------------------------------------------------
async def add_calls(accounts: AccountStore, *rows: tuple[Any, ...]) -> None:
    async with accounts.pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO calls (linkedid, agent, started_at, answered_at, caller, queue,"
            " category, outcome, talk_s, disposition) VALUES ($1, $2, $3, $3, $4, 'scheduling',"
            " $5, 'answered', $6, $7)",
            rows,
        )


async def calls_today(world: World, user: str, ext: str = "2001") -> tuple[int, Any]:
    browser = world.browser()
    await browser.login(user)
    status, body, _ = await browser.request("GET", f"/api/agents/{ext}/calls-today")
    return status, body


async def test_my_calls_since_local_midnight_newest_first_masked(
    world: World, accounts: AccountStore
) -> None:
    # T0 is 10:00 in Chicago: local midnight is 06:00 UTC.
    await add_calls(
        accounts,
        ("early", "2001", T0 - timedelta(hours=3), NUMBER, "scheduling", 120, "booked"),
        ("late", "2001", T0 - timedelta(minutes=5), None, "billing", 40, None),
        ("yesterday", "2001", T0 - timedelta(hours=11), NUMBER, "scheduling", 60, None),
        ("bobs", "2002", T0 - timedelta(hours=1), NUMBER, "scheduling", 60, None),
    )
    status, body = await calls_today(world, "alice")
    assert status == 200
    assert [c["call"] for c in body["calls"]] == ["late", "early"]
    late, early = body["calls"]
    assert (early["local_time"], early["category"], early["talk_s"]) == ("07:00", "scheduling", 120)
    assert (early["outcome"], early["disposition"]) == ("answered", "booked")
    assert early["number"].endswith("1001")
    assert NUMBER not in str(body)
    assert late["number"] is None  # withheld
    assert body["truncated"] is False
    nurse_view = await calls_today(world, "sam")
    assert nurse_view[1]["calls"][1]["number"] == NUMBER
    assert (await calls_today(world, "bob"))[0] == 403


async def test_my_calls_today_are_bounded(world: World, accounts: AccountStore) -> None:
    rows = [
        (f"c{i}", "2001", T0 - timedelta(minutes=i), NUMBER, "scheduling", 10, None)
        for i in range(MAX_CALLS + 5)
    ]
    await add_calls(accounts, *rows)
    status, body = await calls_today(world, "alice")
    assert (status, len(body["calls"]), body["truncated"]) == (200, MAX_CALLS, True)
    assert body["calls"][0]["call"] == "c0"


async def test_without_a_database_my_calls_are_unavailable(
    plan: Plan, accounts: AccountStore
) -> None:
    def routes(app: web.Application, world: World) -> None:
        add_agent_page_routes(app, plan, world.queues, None, world.clock)

    world = await start_world(plan, accounts, routes)
    try:
        status, body = await calls_today(world, "alice")
        assert (status, body["error"]) == (503, "the call records are not configured")
    finally:
        await stop_world(world)
