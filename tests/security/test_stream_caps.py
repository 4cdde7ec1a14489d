"""Issue 14 row 5: board streams are capped per session and in all (429 beyond), and the
board is rendered once per change for all streams, not once per stream."""

from __future__ import annotations

import asyncio
import contextlib
import json

import aiohttp

from frontdesk.calls.events import EscalationRaised
from frontdesk.staff import StaffUser
from frontdesk.web.live import STREAMS_PER_SESSION, LiveBoard
from tests.web.test_auth import Browser, World
from tests.web.test_auth import accounts as accounts
from tests.web.test_live import world as world


async def open_stream(stack: contextlib.AsyncExitStack, browser: Browser) -> aiohttp.ClientResponse:
    response = await stack.enter_async_context(browser.http.get(browser.url("/events")))
    if response.status == 200:
        await response.content.readuntil(b"\n\n")  # the first board
    return response


async def wait_for(condition: object, timeout: float = 3.0) -> None:
    async def poll() -> None:
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


def live_of(world: World) -> LiveBoard:
    live: LiveBoard = world.live  # type: ignore[attr-defined]
    return live


async def test_one_session_may_hold_only_a_few_streams(world: World) -> None:
    nina = world.browser()
    await nina.login("nina")
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(STREAMS_PER_SESSION):
            assert (await open_stream(stack, nina)).status == 200
        refused = await open_stream(stack, nina)
        assert refused.status == 429
        assert (await refused.json())["error"] == "too many open board streams"
        other = world.browser()
        await other.login("ada")
        assert (await open_stream(stack, other)).status == 200  # another session's own cap
    live = live_of(world)
    await wait_for(lambda: not live.streams)  # closed streams give their places back
    async with contextlib.AsyncExitStack() as stack:
        assert (await open_stream(stack, nina)).status == 200


async def test_streams_are_capped_in_all(world: World) -> None:
    live = live_of(world)
    live.streams_total = 4
    async with contextlib.AsyncExitStack() as stack:
        statuses = []
        for name in ("nina", "ada", "alice", "sam", "nina"):
            browser = world.browser()
            await browser.login(name)
            statuses.append((await open_stream(stack, browser)).status)
        assert statuses == [200, 200, 200, 200, 429]


async def test_the_board_is_rendered_once_per_change_for_every_stream(world: World) -> None:
    live = live_of(world)
    nurses = [world.browser() for _ in range(6)]
    for browser in nurses:
        await browser.login("nina")
    async with contextlib.AsyncExitStack() as stack:
        streams = [await open_stream(stack, browser) for browser in nurses]
        assert all(s.status == 200 for s in streams)
        before = live.renders
        world.hub.publish(EscalationRaised("c9", "nurse_triage", 300))  # type: ignore[attr-defined]
        for stream in streams:  # every stream got the change...
            await asyncio.wait_for(stream.content.readuntil(b"\n\n"), 3)
        assert live.renders - before == 1  # ...rendered once for the six of them


async def test_the_shared_board_is_the_viewers_own(world: World) -> None:
    live = live_of(world)
    for user in (
        StaffUser("alice", "Alice Agent", "agent", "2001"),
        StaffUser("nina", "Nina Nurse", "charge_nurse", "2005"),
        StaffUser("sam", "Sam Supervisor", "supervisor", None),
        StaffUser("zed", "Zed Agent", "agent", "9999"),  # not in the plan: me is null
    ):
        sent = live.payload_for(user).decode()
        assert sent.startswith("event: board\ndata: ")
        assert json.loads(sent.removeprefix("event: board\ndata: ")) == live.view_for(user)
