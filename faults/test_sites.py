"""Two sites on one database (docs/scale.md "Several sites"): two emulated Asterisks (each
with its own systemname, so their uniqueids differ), two `frontdesk run` with different
FRONTDESK_SITE but the same Stasis app name, one PostgreSQL schema.

- both daemons are active: the site is part of the instance lock, so neither waits as
  the other's standby;
- each board shows its own site's callers only, and every call row carries its site;
- a supervisor whose account lists both sites (`frontdesk users add --sites`), signed in
  at the north dashboard, sees the south board and both boards (`?site=all`), with full
  numbers; a north-only charge nurse gets a 403 for the south board.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import aiohttp

from faults.conftest import Database
from faults.harness import (
    FRONTDESK,
    REFILL_DID,
    DaemonProcess,
    EmulatorProcess,
    Process,
    caller_number,
    wait_for,
)

PASSWORD = "two sites one database"
CALLERS = 3  # per site


class SiteEmulator(EmulatorProcess):
    """The emulator of one site: uniqueids start with the site's name (its systemname)."""

    def __init__(self, workdir: Path, app: str, site: str) -> None:
        self.site = site
        super().__init__(workdir, app, name=f"emulator-{site}")

    def _argv(self) -> list[str]:
        return [*super()._argv(), "--system-name", self.site]


async def start_site(
    site: str,
    app: str,
    tmp_path: Path,
    database: Database,
    daemon_for: Any,
    processes: list[Process],
) -> tuple[SiteEmulator, DaemonProcess]:
    pbx = SiteEmulator(tmp_path, app, site)
    processes.append(pbx)
    await pbx.ready()
    daemon = daemon_for(pbx, database.dsn, name=f"daemon-{site}", data_dir=tmp_path / site)
    daemon.env["FRONTDESK_SITE"] = site
    await daemon.ready()
    return pbx, daemon


async def waiting(pbx: EmulatorProcess, daemon: DaemonProcess, first: int) -> list[str]:
    """CALLERS callers waiting in nurse_triage at this site (every agent paused)."""
    await daemon.pause_everyone()
    channels = [await pbx.place_call(caller_number(first + i), REFILL_DID) for i in range(CALLERS)]

    async def all_queued() -> bool:
        return all(await asyncio.gather(*(pbx.queued(c) for c in channels)))

    await wait_for(all_queued, f"{CALLERS} callers to wait at {pbx.app}", 60)
    return channels


def add_user(database: Database, name: str, role: str, *sites: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    env["FRONTDESK_DATABASE_URL"] = database.dsn
    args = [FRONTDESK, "users", "add", name, "--role", role, "--site", "north"]
    args += ["--sites", ",".join(sites)] if sites else []
    done = subprocess.run(
        [*args, "--password-stdin"], input=PASSWORD + "\n", env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


async def signed_in(daemon: DaemonProcess, username: str) -> aiohttp.ClientSession:
    """A browser-like session signed in at `daemon`'s dashboard."""
    session = aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True), timeout=aiohttp.ClientTimeout(total=10)
    )
    base = f"http://127.0.0.1:{daemon.http_port}"
    async with session.get(f"{base}/login") as response:
        found = re.search(r'name="csrf" value="([^"]*)"', await response.text())
    assert found is not None
    form = {"username": username, "password": PASSWORD, "csrf": found[1]}
    async with session.post(f"{base}/login", data=form, allow_redirects=False) as response:
        assert response.status == 303, await response.text()
    return session


async def board(
    session: aiohttp.ClientSession, daemon: DaemonProcess, site: str | None = None
) -> tuple[int, Any]:
    query = f"?site={site}" if site else ""
    url = f"http://127.0.0.1:{daemon.http_port}/api/board{query}"
    async with session.get(url) as response:
        return response.status, await response.json()


def callers_on(view: dict[str, Any]) -> set[str]:
    return {c["call"] for q in view["queues"] for c in q["callers"]}


async def test_two_sites_on_one_database_each_board_its_own_a_supervisor_of_both_sees_both(
    tmp_path: Path,
    app: str,
    database: Database,
    daemon_for: Any,
    processes: list[Process],
) -> None:
    north_pbx, north = await start_site("north", app, tmp_path, database, daemon_for, processes)
    south_pbx, south = await start_site("south", app, tmp_path, database, daemon_for, processes)
    assert not north.events("instance.standby")
    assert not south.events("instance.standby")
    north_calls = await waiting(north_pbx, north, 0)
    south_calls = await waiting(south_pbx, south, 100)
    assert all(c.startswith("north-") for c in north_calls)
    assert all(c.startswith("south-") for c in south_calls)

    # each daemon's own board: its own callers only
    own_north, own_south = await north.api("/api/board"), await south.api("/api/board")
    assert (own_north["site"], callers_on(own_north)) == ("north", set(north_calls))
    assert (own_south["site"], callers_on(own_south)) == ("south", set(south_calls))

    add_user(database, "boss", "supervisor", "south")
    add_user(database, "nurse", "charge_nurse")
    boss = await signed_in(north, "boss")
    nurse = await signed_in(north, "nurse")
    try:

        async def south_seen_from_north() -> bool:  # published at most once a second
            status, view = await board(boss, north, "south")
            return status == 200 and callers_on(view) == set(south_calls)

        await wait_for(south_seen_from_north, "the south board at the north dashboard", 15)
        status, every = await board(boss, north, "all")
        assert status == 200
        by_site = {view["site"]: callers_on(view) for view in every["sites"]}
        assert by_site == {"north": set(north_calls), "south": set(south_calls)}
        numbers = {c["number"] for v in every["sites"] for q in v["queues"] for c in q["callers"]}
        assert caller_number(100) in numbers  # a supervisor sees full numbers
        assert (await board(nurse, north))[0] == 200
        assert (await board(nurse, north, "south"))[0] == 403
    finally:
        await boss.close()
        await nurse.close()

    rows = await database.fetch("SELECT site, linkedid FROM calls")
    sites = {r["linkedid"]: r["site"] for r in rows}
    assert {c: sites.get(c) for c in north_calls} == dict.fromkeys(north_calls, "north")
    assert {c: sites.get(c) for c in south_calls} == dict.fromkeys(south_calls, "south")
    presence = await database.fetch("SELECT site, count(*) AS n FROM agent_presence GROUP BY site")
    assert {r["site"] for r in presence} == {"north", "south"}  # 2001 at each site
    for pbx in (north_pbx, south_pbx):
        assert await pbx.violations() == []
