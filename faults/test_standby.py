"""An active/standby pair on one emulated Asterisk and one database (docs/scale.md).

- kill -9 the active with 20 callers waiting: the standby takes the lock, re-adopts every
  caller in order and offers the first one to an agent again within 5 s of the kill (the
  measured time is printed and kept in docs/scale.md). Nobody lost, nobody twice.
- SIGSTOP the active (a partition: its process and sockets live on): the standby takes
  over once PostgreSQL has ended the frozen session; continued (SIGCONT), the old active
  sends Asterisk nothing at all and drops back to standby.

The active's agents are all paused, so callers wait. For the kill, the two nurse_triage
agents' stored presence is set to available while the active is dead (as if they had
resumed just before): the standby reads presence from PostgreSQL at takeover, so its
first offer shows when the ACD serves again.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from faults.conftest import Database
from faults.harness import (
    MAIN_DID,
    AriProxy,
    DaemonProcess,
    EmulatorProcess,
    caller_number,
    wait_for,
)

CALLERS = 20
TAKEOVER_GOAL_S = 5.0
TRIAGE = ("2004", "2005")  # nurse_triage's agents (REFILL_DID's queue)


class RecordingAriProxy(AriProxy):
    """The ARI proxy, noting when each request or events socket went through it."""

    def __init__(self, upstream_port: int) -> None:
        super().__init__(upstream_port)
        self.seen: list[tuple[float, str, str]] = []  # (monotonic, method, path)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append((time.monotonic(), request.method, request.path))
        return await super()._handle(request)


async def healthz(daemon: DaemonProcess) -> tuple[int, dict[str, Any]]:
    url = f"http://127.0.0.1:{daemon.http_port}/healthz"
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
        session.get(url) as response,
    ):
        return response.status, await response.json()


def standing_by(daemon: DaemonProcess, times: int = 1) -> bool:
    if not daemon.running:
        raise AssertionError(f"the daemon exited:\n{daemon.text()[-3000:]}")
    return len(daemon.events("instance.standby")) >= times


async def pair(
    pbx: EmulatorProcess, database: Database, daemon_for: Any, ari_url: str | None = None
) -> tuple[DaemonProcess, DaemonProcess]:
    """The active (started first) and a standby with a data directory of its own."""
    active = daemon_for(pbx, database.dsn, name="active", ari_url=ari_url)
    await active.ready()
    standby = daemon_for(
        pbx, database.dsn, name="standby", data_dir=active.data_dir.parent / "standby-data"
    )
    standby.start()
    await wait_for(lambda: standing_by(standby), "the standby to wait", 30)
    assert (await healthz(standby))[1]["role"] == "standby"
    await asyncio.sleep(1.0)  # the active's lock checks see the standby waiting
    return active, standby


async def waiting_callers(pbx: EmulatorProcess, active: DaemonProcess, n: int) -> list[str]:
    """`n` callers waiting in nurse_triage, in the active's order."""
    await active.pause_everyone()
    channels = []
    for i in range(n):
        channels.append(await pbx.place_call(caller_number(i)))
        await asyncio.sleep(0.02)

    async def all_queued() -> bool:
        return all(await asyncio.gather(*(pbx.queued(c) for c in channels)))

    await wait_for(all_queued, f"{n} callers to wait in nurse_triage", 60)
    order: list[str] = await active.queue_order("nurse_triage")
    assert sorted(order) == sorted(channels)
    return order


async def presence_stored(database: Database) -> bool:
    rows = await database.fetch("SELECT agent, paused FROM agent_presence")
    return {r["agent"] for r in rows if r["paused"]} >= set(TRIAGE)


def originates(requests: list[dict[str, Any]]) -> list[str]:
    """The calls offered to an agent (`POST /channels` to a staff phone), in order."""
    offered = []
    for entry in requests:
        query = entry.get("query") or {}
        to_staff = str(query.get("endpoint", "")).startswith("PJSIP/20")
        if entry["method"] == "POST" and entry["path"].endswith("/channels") and to_staff:
            offered.append(str(query.get("appArgs", "")).removeprefix("agent,"))
    return offered


async def test_kill_9_the_active_with_20_callers_waiting_the_standby_serves_them_in_order(
    pbx: EmulatorProcess,
    database: Database,
    daemon_for: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    active, standby = await pair(pbx, database, daemon_for)
    order = await waiting_callers(pbx, active, CALLERS)
    await wait_for(lambda: presence_stored(database), "the pauses to be stored")
    before = len(await pbx.control("GET", "/requests"))

    killed = time.monotonic()
    active.send(signal.SIGKILL)
    await database.fetch(  # the two agents resumed as the active died (see the docstring)
        "UPDATE agent_presence SET paused = false, pause_reason = NULL, revision = revision + 1"
        " WHERE agent = ANY($1::text[])",
        list(TRIAGE),
    )
    assert await active.exited(10) == -signal.SIGKILL

    async def first_offer() -> bool:
        return bool(originates((await pbx.control("GET", "/requests"))[before:]))

    await wait_for(first_offer, "the standby to offer a caller", 30)
    took = time.monotonic() - killed
    with capsys.disabled():
        print(f"\n[standby] kill -9 -> first caller offered again: {took:.2f} s")
    assert took <= TAKEOVER_GOAL_S, f"first offer {took:.2f} s after the kill"

    await wait_for(lambda: standby.events("calls.resynced"), "the standby's resync")
    taken = standby.events("instance.active")
    assert len(taken) == 1

    async def both_offered() -> bool:
        return len(originates((await pbx.control("GET", "/requests"))[before:])) >= 2

    await wait_for(both_offered, "both triage agents to be offered a caller")
    offered = originates((await pbx.control("GET", "/requests"))[before:])
    assert offered[:2] == order[:2]  # in their original order
    assert len(offered) == len(set(offered))  # nobody offered twice
    rest = await standby.queue_order("nurse_triage")
    assert [c for c in rest if c not in offered] == [c for c in order if c not in offered]
    assert set(rest) | set(offered) == set(order)
    for channel in order:  # Asterisk still has every one of them, in frontdesk's app
        snap = await pbx.channel(channel)
        assert not snap["hung_up"], channel
        assert snap["in_stasis"], channel
        state = json.loads(snap["variables"]["FRONTDESK_STATE"])
        assert state["q"] == "nurse_triage"
    rows = await database.fetch("SELECT linkedid FROM calls")
    assert sorted(r["linkedid"] for r in rows) == sorted(order)  # one row each, none twice
    assert (await healthz(standby))[1]["role"] == "active"
    assert await pbx.violations() == []


async def test_sigstop_the_active_the_standby_takes_over_and_the_continued_one_commands_nothing(
    pbx: EmulatorProcess,
    database: Database,
    daemon_for: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    proxy = RecordingAriProxy(pbx.ari_port)  # the active's only way to Asterisk's ARI
    await proxy.start()
    try:
        active, standby = await pair(pbx, database, daemon_for, ari_url=proxy.ari_url)
        order = await waiting_callers(pbx, active, 5)
        # One more caller in the menu: the active has timers running when it is frozen.
        in_menu = await pbx.place_call(caller_number(99), did=MAIN_DID)

        async def hearing_the_menu() -> bool:
            return any("menu" in m for m in (await pbx.channel(in_menu))["media"])

        await wait_for(hearing_the_menu, "the caller to hear the main menu")

        frozen = time.monotonic()
        active.send(signal.SIGSTOP)

        async def readopted() -> bool:
            if not standby.events("calls.resynced"):
                return False
            return await standby.queue_order("nurse_triage") == order

        await wait_for(readopted, "the standby to take over the waiting callers", 30)
        took = time.monotonic() - frozen
        with capsys.disabled():
            print(f"\n[standby] SIGSTOP -> callers re-adopted by the standby: {took:.2f} s")

        active.send(signal.SIGCONT)
        continued = time.monotonic()
        await wait_for(lambda: standing_by(active), "the old active to step down", 20)
        await asyncio.sleep(2.0)  # time for any stray timer or reconnect to show
        after = [s for s in proxy.seen if s[0] >= frozen]
        assert after == [], f"the fenced daemon reached Asterisk: {after}"
        assert active.events("instance.fenced") or active.events("call.fenced")
        assert active.running
        status, body = await healthz(active)
        assert (status, body["role"]) == (503, "standby")
        status, body = await healthz(standby)
        assert body["role"] == "active"
        # The new active has every caller still, in order, and keeps serving.
        assert await standby.queue_order("nurse_triage") == order
        for channel in order:
            snap = await pbx.channel(channel)
            assert snap["in_stasis"], channel
            assert not snap["hung_up"], channel
        channel = await pbx.place_call(caller_number(50))
        await wait_for(lambda: pbx.queued(channel), "the new active to take a new call")
        assert time.monotonic() - continued < 60
        assert await pbx.violations() == []
    finally:
        await proxy.close()
