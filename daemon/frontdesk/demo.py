"""The demo (`make run` with no PBX configured) and the shifted practice clocks.

With `FRONTDESK_ARI_URL` unset, `frontdesk run` starts an embedded Asterisk emulator on
loopback, a stream of synthetic patient calls that walk the bundled plan's routes, and a
dashboard login printed beside its URL; the practice clock reads a business morning.
`FRONTDESK_PRACTICE_TIME` (testing only) starts the clock at a given practice time.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from frontdesk.calls.runtime import Clock, utc_now
from frontdesk.plan import Plan
from frontdesk.routing.clock import PracticeClock
from frontdesk.routing.directory import Directory
from frontdesk.routing.paths import enumerate_routes
from frontdesk.settings import Settings
from frontdesk.store import db
from frontdesk.store.accounts import AccountStore

log = structlog.get_logger("frontdesk.demo")


async def demo_login(plan: Plan, pool: db.Pool | None, url: str) -> None:
    """The demo's dashboard login: a supervisor at the first staff phone, a new password
    each run, printed (not logged) beside the URL."""
    if pool is None:
        log.warning("dashboard.no_logins", reason="no database for staff accounts")
        return
    password = secrets.token_urlsafe(9)
    ext = plan.staff[0].extension if plan.staff else None
    try:
        await AccountStore(pool).upsert_demo("demo", "Demo Supervisor", "supervisor", ext, password)
    except (db.PostgresError, OSError, TimeoutError) as exc:
        log.warning("dashboard.demo_login_failed", error=type(exc).__name__)
        return
    print(
        f"\n  Dashboard: {url}\n  Demo login: demo / {password}"
        f"  (supervisor at extension {ext}; a new password each run)\n",
        flush=True,
    )


def practice_clock(plan: Plan, settings: Settings) -> Clock:
    """The real clock, or a shifted one: the demo's, or `FRONTDESK_PRACTICE_TIME`'s."""
    if settings.practice_time is not None:
        start = settings.practice_time.replace(tzinfo=ZoneInfo(plan.practice.timezone))
        log.warning("clock.shifted", practice_time=start.isoformat())
        return _flowing_from(start)
    return _demo_clock(plan) if settings.demo else utc_now


def _flowing_from(start: datetime) -> Clock:
    """A clock that reads `start` now and then runs at the real clock's pace."""
    offset = start - utc_now()
    return lambda: utc_now() + offset


def _demo_clock(plan: Plan) -> Clock:
    """The demo runs on a business morning (10:30 local, next working day), time flowing."""
    clock = PracticeClock(plan)
    day = clock.local(utc_now()).date()
    while day.weekday() >= 5 or clock.holiday_on(day) is not None:
        day += timedelta(days=1)
    start = datetime.combine(day, time(10, 30), clock.zone)
    log.info("demo.clock", practice_time=start.isoformat())
    return _flowing_from(start)


@contextlib.asynccontextmanager
async def embedded_emulator(settings: Settings, plan: Plan) -> Any:
    from frontdesk.emulator import Emulator  # only the demo needs it

    emulator = Emulator(
        ari=("127.0.0.1", 0),
        ami=("127.0.0.1", 0),
        ari_user=settings.ari_user,
        ari_password=settings.ari_password,
        ami_user=settings.ami_user,
        ami_secret=settings.ami_secret,
        staff=[s.extension for s in plan.staff],
        media_seconds=0.3,
        sounds=_rendered_prompts(plan),
    )
    await emulator.start()
    log.info("emulator.started", ari_port=emulator.ari_port, ami_port=emulator.ami_port)
    try:
        yield emulator
    finally:
        await emulator.stop()


def _rendered_prompts(plan: Plan) -> set[str] | None:
    """The files `frontdesk prompts` would write: the demo's Asterisk plays those (and its
    core sounds) and, as a real one does, fails any other (None: every file exists)."""
    from frontdesk.prompts import PromptsError, build_inventory

    try:
        inventory = build_inventory(plan)
    except PromptsError:
        return None
    return {f"{p.language}/frontdesk/{p.name}" for p in inventory.prompts}


async def synthetic_calls(
    emulator: Any, plan: Plan, directory: Directory | None, gap: float
) -> None:
    """Walk the plan's routes as callers would: dial, listen, press keys, go quiet."""
    routes = list(enumerate_routes(plan))
    callers = _demo_callers(directory)
    rng = random.Random(7)
    pressing: set[asyncio.Task[None]] = set()
    while True:
        route = rng.choice(routes)
        caller = rng.choice(callers)
        did = route.did or next(iter(plan.numbers), "+13125550000")
        channel = await emulator.place_call(caller=caller, did=did)
        task = asyncio.create_task(_press(emulator, channel, [k for k in route.keys if k != "-"]))
        pressing.add(task)
        task.add_done_callback(pressing.discard)
        await asyncio.sleep(gap)


async def _press(emulator: Any, channel: str, keys: list[str]) -> None:
    """Press the route's keys, stay on the line a while (queue, talk), then hang up."""
    for key in keys:
        await asyncio.sleep(0.8)
        with contextlib.suppress(Exception):  # the caller may have been routed already
            await emulator.press(channel, key)
    await asyncio.sleep(random.uniform(6, 15))
    with contextlib.suppress(Exception):
        await emulator.hangup(channel)


def _demo_callers(directory: Directory | None) -> list[str]:
    """Known patients from the example directory, an unknown caller and a withheld one."""
    known = ["+13125551001", "+13125551002", "+13125551003", "+13125551007"] if directory else []
    return [*known, "+17735550123", "anonymous"]
