"""Several sites on one database: each daemon's board is its site's; another site's board
is read from PostgreSQL (`site_boards`) for staff whose account lists that site, masked
by the viewer's role exactly like the own one (docs/scale.md "Several sites")."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web

from frontdesk.acd.model import CallerJoined
from frontdesk.plan import Plan
from frontdesk.store.accounts import AccountStore
from frontdesk.web.board import Viewer, aged, masked_for
from frontdesk.web.live import LiveBoard, add_live_routes
from frontdesk.web.pages import add_page_routes
from frontdesk.web.site_boards import SiteBoards
from tests.web.test_auth import PASSWORD, T0, Browser, World, start_world, stop_world
from tests.web.test_auth import accounts as accounts

SOUTH_NUMBER = "+13125552002"
SOUTH_BOARD: dict[str, Any] = {
    "at": T0.isoformat(),
    "site": "south",
    "queues": [
        {
            "name": "front_desk",
            "callers": [{"position": 1, "call": "south-1.1", "number": SOUTH_NUMBER,
                         "waited_s": 30}],
            "longest_wait_s": 30,
        }
    ],
    "callbacks": [],
    "agents": [{"ext": "2001", "name": "South Agent", "state": "idle", "in_state_s": 5}],
    "alerts": [],
}  # fmt: skip


@pytest.fixture
async def world(plan: Plan, accounts: AccountStore) -> AsyncIterator[World]:
    """The north site's dashboard; the south site has published its board."""
    for name, role, ext, site, sites in (
        ("both", "supervisor", None, "north", ("south",)),
        ("nurse", "charge_nurse", "2005", "north", ()),
        ("agent", "agent", "2001", "north", ("south",)),
        ("southie", "charge_nurse", None, "south", ()),
    ):
        await accounts.add(name, name, role, ext, PASSWORD, site=site, sites=sites)
    south = SiteBoards("south", accounts.pool, render=lambda: SOUTH_BOARD, version=lambda: 1)
    south.clock = lambda: T0
    assert await south.publish_once()

    def routes(app: web.Application, world: World) -> None:
        live = LiveBoard(world.queues, plan, site="north")
        live.others = SiteBoards(
            "north", accounts.pool, render=live.unmasked, version=lambda: live.version
        )
        live.others.clock = lambda: T0 + timedelta(seconds=4)
        add_live_routes(app, live)
        add_page_routes(app, plan, accounts.pool, world.clock)

    made = await start_world(plan, accounts, routes)
    made.queues.feed(CallerJoined(call_id="north-1.1", queue="front_desk", enqueued_at=T0))
    made.queues.calls["north-1.1"] = SimpleNamespace(number="+13125551001")  # type: ignore[assignment]
    try:
        yield made
    finally:
        await stop_world(made)


async def signed_in(world: World, name: str) -> Browser:
    browser = world.browser()
    await browser.login(name)
    return browser


def callers(view: dict[str, Any]) -> list[str]:
    return [c["call"] for q in view["queues"] for c in q["callers"]]


async def test_each_board_is_its_sites_and_a_supervisor_of_both_sees_both(world: World) -> None:
    both = await signed_in(world, "both")
    status, own, _ = await both.request("GET", "/api/board")
    assert (status, own["site"], callers(own)) == (200, "north", ["north-1.1"])
    status, south, _ = await both.request("GET", "/api/board?site=south")
    assert (status, south["site"], callers(south)) == (200, "south", ["south-1.1"])
    assert south["queues"][0]["callers"][0]["number"] == SOUTH_NUMBER  # a supervisor's view
    assert south["queues"][0]["callers"][0]["waited_s"] == 34  # 4 s after it was written
    assert south["stale"] is False
    status, every, _ = await both.request("GET", "/api/board?site=all")
    assert status == 200
    assert [b["site"] for b in every["sites"]] == ["north", "south"]


async def test_a_role_sees_its_own_site_only_unless_its_account_lists_more(world: World) -> None:
    nurse = await signed_in(world, "nurse")
    assert (await nurse.request("GET", "/api/board"))[0] == 200
    assert (await nurse.request("GET", "/api/board?site=south"))[0] == 403
    _, every, _ = await nurse.request("GET", "/api/board?site=all")
    assert [b["site"] for b in every["sites"]] == ["north"]
    southie = await signed_in(world, "southie")  # another site's nurse on this dashboard
    assert (await southie.request("GET", "/api/board"))[0] == 403
    assert (await southie.request("GET", "/api/board?site=south"))[0] == 200
    assert (await nurse.request("GET", "/api/board?site=west"))[0] == 403


async def test_another_sites_board_is_masked_like_the_own_one(world: World) -> None:
    agent = await signed_in(world, "agent")
    _, south, _ = await agent.request("GET", "/api/board?site=south")
    shown = south["queues"][0]["callers"][0]["number"]
    assert shown.endswith("2002")
    assert "555200" not in shown
    _, own, _ = await agent.request("GET", "/api/board")
    (number,) = [c["number"] for q in own["queues"] for c in q["callers"]]
    assert number.endswith("1001")
    assert "555100" not in json.dumps(own)


async def test_the_board_page_offers_the_viewers_sites(world: World) -> None:
    both = await signed_in(world, "both")
    status, page, _ = await both.request("GET", "/")
    assert status == 200
    assert '<option value="south">south</option>' in page
    assert 'data-site="north"' in page
    status, page, _ = await both.request("GET", "/?site=south")
    assert 'data-site="south"' in page
    assert 'data-can-ack="0"' in page  # another site's alerts are acted on there
    nurse = await signed_in(world, "nurse")
    _, page, _ = await nurse.request("GET", "/")
    assert 'id="site"' not in page  # one site: no selector
    assert (await nurse.request("GET", "/?site=south"))[0] == 403


async def test_another_sites_stream(world: World) -> None:
    both = await signed_in(world, "both")
    async with both.http.get(both.url("/events?site=south")) as response:
        assert response.status == 200
        async for raw in response.content:
            line = raw.decode()
            if line.startswith("data: "):
                assert json.loads(line.removeprefix("data: "))["site"] == "south"
                break


async def test_publishing_writes_a_changed_board_at_most_once_a_second(
    accounts: AccountStore,
) -> None:
    version = [1]
    boards = SiteBoards(
        "east", accounts.pool, render=lambda: SOUTH_BOARD, version=lambda: version[0]
    )
    assert await boards.publish_once()
    assert not await boards.publish_once()  # unchanged
    version[0] = 2
    assert await boards.publish_once()
    assert boards.writes == 2
    assert "east" in await boards.sites()


def test_masking_and_ageing_are_pure() -> None:
    masked = masked_for(SOUTH_BOARD, Viewer(full_numbers=False))
    assert masked["queues"][0]["callers"][0]["number"] != SOUTH_NUMBER
    assert SOUTH_BOARD["queues"][0]["callers"][0]["number"] == SOUTH_NUMBER  # not changed
    assert masked_for(SOUTH_BOARD, Viewer(full_numbers=True)) == SOUTH_BOARD
    later = aged(SOUTH_BOARD, 10.6)
    assert later["queues"][0]["longest_wait_s"] == 40
    assert later["agents"][0]["in_state_s"] == 15


async def test_reports_of_a_site_or_all_of_the_viewers(world: World) -> None:
    both = await signed_in(world, "both")
    status, page, _ = await both.request("GET", "/reports?site=south")
    assert status == 200
    assert '<option value="south" selected>south</option>' in page
    assert (await both.request("GET", "/reports?site=all"))[0] == 200
    assert "site=all" in (await both.request("GET", "/reports?site=all"))[1]
    nurse = await signed_in(world, "nurse")
    assert (await nurse.request("GET", "/reports"))[0] == 200
    assert (await nurse.request("GET", "/reports?site=south"))[0] == 403
