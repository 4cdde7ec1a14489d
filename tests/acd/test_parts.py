"""The ACD's building blocks: closing times, ordered containers, the join event, purity."""

from __future__ import annotations

import ast
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import frontdesk.acd
from frontdesk.acd import AcdEngine, Announce, CallerJoined, FollowAfterHours, Tick, caller_joined
from frontdesk.acd.hours import HORIZON, next_closing
from frontdesk.acd.matching import best_agent, requested_skills
from frontdesk.acd.ordering import SortedIndex, Timers
from frontdesk.acd.state import Agent, Caller
from frontdesk.plan import Plan, load_plan
from frontdesk.plan.model import Staff
from frontdesk.routing.clock import PracticeClock
from frontdesk.routing.destination import Request, decide
from tests.conftest import local

ACD = Path(frontdesk.acd.__file__).parent
EVERYONE = ("2001", "2002", "2003", "2004", "2005", "2006")


# -- closing times --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("schedule", "now", "closes"),
    [
        ("office", "2026-11-30 10:00", "2026-11-30 17:00"),
        ("office", "2026-11-30 16:59:59", "2026-11-30 17:00"),
        ("billing", "2026-12-04 09:00", "2026-12-04 12:00"),  # Friday
        ("triage", "2026-12-05 09:30", "2026-12-05 12:00"),  # Saturday
        ("office", "2026-11-30 20:00", "2026-11-30 20:00"),  # closed now
        ("office", "2026-11-26 10:00", "2026-11-26 10:00"),  # Thanksgiving
    ],
)
def test_next_closing(plan: Plan, schedule: str, now: str, closes: str) -> None:
    moment = next_closing(plan, PracticeClock(plan), schedule, local(now))
    assert moment == local(closes)
    assert moment.tzinfo == UTC


def test_next_closing_of_a_round_the_clock_schedule_is_the_next_holiday(
    edited_plan: Callable[..., Path],
) -> None:
    plan = load_plan(
        edited_plan(("schedules:                        #", "schedules:\n  always: 24/7\n  #"))
    )
    clock = PracticeClock(plan)
    assert next_closing(plan, clock, "always", local("2026-11-25 10:00")) == local(
        "2026-11-26 00:00"
    )
    far = local("2026-06-01 10:00")  # no holiday within the horizon: look again later
    assert next_closing(plan, clock, "always", far) == far + HORIZON


def test_a_round_the_clock_queue_sends_callers_after_hours_at_midnight_before_a_holiday(
    edited_plan: Callable[..., Path],
) -> None:
    plan = load_plan(
        edited_plan(
            ("schedules:                        #", "schedules:\n  always: 24/7\n  #"),
            ("    schedule: triage", "    schedule: always"),
        )
    )
    engine = AcdEngine(plan, PracticeClock(plan))
    start = local("2026-11-25 23:58")
    engine.handle(CallerJoined("c1", "nurse_triage", start), start)
    assert engine.handle(Tick(), local("2026-11-25 23:59:59")) == [Announce("c1", 1, None)]
    assert engine.next_deadline() == local("2026-11-26 00:00")
    midnight = local("2026-11-26 00:00")
    assert engine.handle(Tick(), midnight) == [FollowAfterHours("c1", "nurse_triage")]


# -- containers -----------------------------------------------------------------------------------
def test_sorted_index_keeps_order_and_positions() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    index = SortedIndex()
    keys = [(1, t, 1, "a"), (0, t + timedelta(seconds=9), 2, "b"), (1, t, 3, "c")]
    for key in keys:
        index.add(key)
    assert list(index) == ["b", "a", "c"]
    assert index.position(keys[2]) == 3
    index.remove(keys[1])
    index.remove(keys[1])  # absent: nothing happens
    assert list(index) == ["a", "c"]
    assert index.head() == keys[0]


def test_timers_replace_cancel_and_pop_in_order() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    timers: Timers[str] = Timers()
    timers.set("a", t + timedelta(seconds=5))
    timers.set("b", t + timedelta(seconds=3))
    timers.set("a", t + timedelta(seconds=1))  # replaces the first
    timers.set("c", t + timedelta(seconds=2))
    timers.cancel("c")
    assert timers.next() == t + timedelta(seconds=1)
    assert timers.pop_due(t) is None
    assert timers.pop_due(t + timedelta(seconds=10)) == "a"
    assert timers.pop_due(t + timedelta(seconds=10)) == "b"
    assert timers.pop_due(t + timedelta(seconds=10)) is None
    assert timers.next() is None
    assert len(timers) == 0


def test_timers_stay_compact_under_churn() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    timers: Timers[int] = Timers()
    for n in range(10_000):
        timers.set(n % 10, t + timedelta(seconds=n))
        timers.next()
    assert len(timers) == 10
    assert len(timers._heap) < 1_000


# -- the join event from a routing decision --------------------------------------------------------
def test_caller_joined_splits_menu_and_language_skills(plan: Plan) -> None:
    clock, now = PracticeClock(plan), local("2026-11-30 10:00")
    request = Request("scheduling", "scheduling", "cardiology")
    decision = decide(plan, clock, request, "es", EVERYONE, now)
    event = caller_joined(plan, "c1", decision, "es", "+13125551002", now)
    assert event == CallerJoined(
        call_id="c1",
        queue="scheduling",
        enqueued_at=now,
        priority="normal",
        skill="cardiology",
        language_skill="spanish",
        category="scheduling",
        callback_number="+13125551002",
        language="es",
    )


def test_caller_joined_for_an_urgent_call_has_no_skills(plan: Plan) -> None:
    clock, now = PracticeClock(plan), local("2026-11-30 10:00")
    decision = decide(plan, clock, Request("clinical", urgent=True), "es", EVERYONE, now)
    event = caller_joined(plan, "c1", decision, "es", None, now)
    assert (event.queue, event.priority, event.skill, event.language_skill) == (
        "nurse_triage",
        "front",
        None,
        None,
    )


def test_caller_joined_refuses_a_decision_that_is_not_a_queue(plan: Plan) -> None:
    clock, now = PracticeClock(plan), local("2026-11-30 20:00")
    decision = decide(plan, clock, Request("billing", "billing"), "en", EVERYONE, now)
    with pytest.raises(ValueError, match="not routed to a queue"):
        caller_joined(plan, "c1", decision, "en", None, now)


# -- purity ---------------------------------------------------------------------------------------
FORBIDDEN_MODULES = {"asyncio", "aiohttp", "socket", "selectors", "threading", "subprocess", "time"}
FORBIDDEN_CALLS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter"}


@pytest.mark.parametrize("path", sorted(ACD.glob("*.py")), ids=lambda p: p.name)
def test_acd_module_does_no_io_and_reads_no_clock(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert not {a.name.split(".")[0] for a in node.names} & FORBIDDEN_MODULES
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.module.split(".")[0] not in FORBIDDEN_MODULES
        elif isinstance(node, ast.Attribute):
            assert node.attr not in FORBIDDEN_CALLS, f"{path.name}:{node.lineno} reads a clock"


def test_best_agent_stops_at_the_first_top_scorer_with_the_same_answer() -> None:
    rng = random.Random(5)
    now = datetime(2026, 12, 1, 15, tzinfo=UTC)
    skills = ("primary_care", "spanish")
    for _ in range(200):
        agents = [
            Agent(
                Staff(
                    name=f"A{n}",
                    extension=str(3000 + n),
                    skills={s: rng.randint(0, 3) for s in skills},
                ),
                idle_since=now - timedelta(seconds=rng.randint(0, 50)),
            )
            for n in range(rng.randint(0, 30))
        ]
        enqueued_at = now - timedelta(seconds=rng.randint(0, 90))
        joined = CallerJoined(
            "c", "scheduling", enqueued_at, "normal", "primary_care",
            rng.choice(["spanish", None]), "scheduling",
        )  # fmt: skip
        caller = Caller(joined, enqueued_at, 1)
        requested = requested_skills(caller)
        top = max((sum(a.staff.level(s) for s in requested) for a in agents), default=0)
        in_idle_order = sorted(agents, key=lambda a: (a.idle_since, a.ext))
        relax = timedelta(seconds=60)
        expected = best_agent(agents, caller, now, relax)
        assert best_agent(in_idle_order, caller, now, relax, top=top) is expected
