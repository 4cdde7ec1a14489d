"""The demo (`make run` with no PBX configured) and the shifted practice clocks.

With `FRONTDESK_ARI_URL` unset, `frontdesk run` starts an embedded Asterisk emulator on
loopback, a stream of synthetic patient calls that walk the bundled plan's routes, and a
dashboard login printed beside its URL; the practice clock reads a business morning.
The demo's staff hand a share of the calls they answer on (to the right queue, to a
colleague, with the phone's transfer button) and record dispositions, some of them
"wrong department", so that the reports' transfer, misrouting and first-contact figures
move (docs/reports.md).
`FRONTDESK_PRACTICE_TIME` (testing only) starts the clock at a given practice time.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
from collections import deque
from collections.abc import Callable, Coroutine
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from frontdesk.calls.events import FINISHING, CallAnswered, HubEvent
from frontdesk.calls.runtime import CallRuntime, Clock, utc_now
from frontdesk.plan import Plan
from frontdesk.plan.model import Menu
from frontdesk.routing.clock import PracticeClock
from frontdesk.routing.directory import Directory
from frontdesk.routing.paths import enumerate_routes
from frontdesk.settings import Settings
from frontdesk.store import db
from frontdesk.store.accounts import AccountStore
from frontdesk.store.records import Disposition, Record

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
    emulator: Any,
    plan: Plan,
    directory: Directory | None,
    gap: float,
    runtime: CallRuntime | None = None,
    put: Callable[[Record], None] | None = None,
) -> None:
    """Walk the plan's routes as callers would: dial, listen, press keys, go quiet. With
    the daemon's `runtime`, the demo's staff work the calls too (`DemoStaff`; `put`: where
    their dispositions go, the outbox)."""
    routes = list(enumerate_routes(plan))
    rng = random.Random(7)
    callers = DemoCallers(directory, rng)
    if runtime is not None:
        runtime.hub.add_listener(DemoStaff(plan, runtime, emulator, put, rng).on_hub)
    pressing: set[asyncio.Task[None]] = set()
    while True:
        route = rng.choice(routes)
        did = route.did or next(iter(plan.numbers), "+13125550000")
        channel = await emulator.place_call(caller=callers.next(), did=did)
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


class DemoCallers:
    """Who calls: now and then a known patient of the example directory (their screen
    pop), a withheld number, mostly numbers new to the practice; and some of those call
    again soon after, which first-contact resolution counts against the first call."""

    KNOWN, WITHHELD, AGAIN = 0.10, 0.05, 0.12  # shares of the calls

    def __init__(self, directory: Directory | None, rng: random.Random) -> None:
        self.rng = rng
        self.known = ["+13125551001", "+13125551002", "+13125551003", "+13125551007"]
        if directory is None:
            self.known = []
        self.recent: deque[str] = deque(maxlen=50)  # new numbers that may call again

    def next(self) -> str:
        roll = self.rng.random()
        if self.known and roll < self.KNOWN:
            return self.rng.choice(self.known)
        if roll < self.KNOWN + self.WITHHELD:
            return "anonymous"
        if self.recent and roll < self.KNOWN + self.WITHHELD + self.AGAIN:
            return self.rng.choice(self.recent)
        number = f"+1773555{self.rng.randrange(10_000):04d}"
        self.recent.append(number)
        return number


class DemoStaff:
    """The demo's staff at work, listening on the event hub. When they first answer a
    call, they decide what it needs (`STORIES`); a few seconds in, they hand the patient on
    through frontdesk (`CallRuntime.staff_transfers`) or with the phone's transfer button
    (the emulator's SIP REFER). When their part ends they may record a disposition."""

    # What the first agent does with a call they answered, as shares (the rest: they
    # resolve it). "move": the menu sent the patient to the wrong queue (misrouted);
    # "wrong_department": they take a message for the right one and say so.
    STORIES = (("move", 0.12), ("colleague", 0.05), ("phone", 0.04), ("wrong_department", 0.05))
    DISPOSED = 0.6  # the share of resolved conversations that get a disposition
    PAUSE = (1.5, 3.0)  # seconds into the conversation before a hand-on
    RESOLVED = ("resolved", "booked", "rescheduled", "message_taken")

    def __init__(
        self,
        plan: Plan,
        runtime: CallRuntime,
        emulator: Any,
        put: Callable[[Record], None] | None,
        rng: random.Random,
    ) -> None:
        self.runtime, self.emulator, self.put, self.rng = runtime, emulator, put, rng
        self.staff = [s.extension for s in plan.staff]
        self.categories = _categories_by_queue(plan)
        self._stories: dict[str, str] = {}  # call -> what its first agent decided
        self._agents: dict[str, str] = {}  # call -> the agent talking with the patient
        self._tasks: set[asyncio.Task[None]] = set()

    def on_hub(self, event: HubEvent) -> None:
        if isinstance(event, CallAnswered) and event.agent is not None:
            call, agent = event.call, event.agent
            self._agents[call] = agent
            if call not in self._stories:
                self._stories[call] = story = self._pick()
                if story in ("move", "colleague", "phone"):
                    self._soon(self._hand_on(call, agent, story))
        elif isinstance(event, FINISHING):
            last_agent = self._agents.pop(event.call, None)
            decided = self._stories.pop(event.call, None)
            if last_agent is not None and decided is not None:
                code = "wrong_department" if decided == "wrong_department" else None
                self._dispose(event.call, last_agent, code)

    def _pick(self) -> str:
        roll = self.rng.random()
        for story, share in self.STORIES:
            if roll < share:
                return story
            roll -= share
        return "resolved"

    async def _hand_on(self, call: str, agent: str, story: str) -> None:
        await asyncio.sleep(self.rng.uniform(*self.PAUSE))  # "let me put you through"
        colleague = self.rng.choice([ext for ext in self.staff if ext != agent] or [agent])
        transfers, queues = self.runtime.staff_transfers, self.runtime.acd
        try:
            if transfers is not None and queues is not None and story == "move":
                queued = queues.calls.get(call)
                here = queued.joined.queue if queued is not None else None
                elsewhere = [q for q in self.categories if q != here]
                if not elsewhere:
                    return
                queue = self.rng.choice(elsewhere)
                category = self.rng.choice(self.categories[queue])
                reason = f"needs {category.replace('_', ' ')}"
                transfers.to_queue(call, queue, by=agent, reason=reason, category=category)
            elif transfers is not None and story == "colleague":
                transfers.to_agent(call, colleague, by=agent, reason="for a colleague")
            elif queues is not None and story == "phone":
                queued = queues.calls.get(call)
                if queued is None or queued.agent_leg is None:
                    return
                await self.emulator.transfer(queued.agent_leg, colleague)
            else:
                return
        except Exception as exc:  # TransferRefused or the emulator's AriError: it is over
            log.debug("demo.transfer_skipped", call=call, story=story, error=type(exc).__name__)
            return
        if self._agents.get(call) == agent:
            del self._agents[call]  # their part is over: their disposition now
        self._dispose(call, agent, "transferred")

    def _dispose(self, call: str, agent: str, code: str | None) -> None:
        if self.put is None:
            return
        if code is None:
            if self.rng.random() >= self.DISPOSED:
                return
            code = self.rng.choice(self.RESOLVED)
        self.put(Disposition(call, agent, self.runtime.now(), code))

    def _soon(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _categories_by_queue(plan: Plan) -> dict[str, list[str]]:
    """The categories the plan's menu and numbers send to each queue."""
    found: dict[str, list[str]] = {}

    def add(queue: str | None, category: str | None) -> None:
        if queue is not None and category is not None:
            found.setdefault(queue, [])
            if category not in found[queue]:
                found[queue].append(category)

    def walk(menu: Menu, queue: str | None, category: str | None) -> None:
        for option in menu.options.values():
            here = (option.queue or queue, option.category or category)
            add(*here)
            if option.menu is not None:
                walk(option.menu, *here)

    walk(plan.menu, None, None)
    for entry in plan.numbers.values():
        add(entry.queue, entry.category)
    return found
