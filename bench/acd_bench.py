"""Microbenchmark of the ACD engine: decision time per event with ~1,000 waiting callers
and 200 agents. Not part of the tests.

    .venv/bin/python bench/acd_bench.py [--events 20000] [--seed 7]

The reference plan's queues and schedules with 200 generated staff members; callers
join over a few minutes (the first ~200 are offered and answered, 1,000 stay waiting); then a steady
mix of events is replayed: talks ending, wrap-ups ending (ticks), answers, rings not
answered, new callers, abandons, pauses, announcements. Each `handle` call is timed.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from frontdesk.acd import (
    AcdEngine,
    AgentLogin,
    AgentPause,
    AgentUnpause,
    CallerJoined,
    CallerLeft,
    Command,
    Event,
    Offer,
    OfferAnswered,
    OfferFailed,
    StartCallback,
    TalkEnded,
    Tick,
)
from frontdesk.plan import Plan, load_plan
from frontdesk.plan.model import Staff
from frontdesk.routing.clock import PracticeClock

PLAN_PATH = Path(__file__).resolve().parent.parent / "daemon/frontdesk/examples/lakeside.yaml"
START = datetime(2026, 11, 30, 9, 0, tzinfo=ZoneInfo("America/Chicago"))  # Monday
QUEUE_SKILLS: dict[str, list[str | None]] = {
    "scheduling": ["primary_care", "cardiology", "orthopedics", None],
    "intake": [None],
    "billing": [None],
    "referrals": [None],
    "nurse_triage": ["clinical", "pharmacy"],
    "front_desk": [None],
}
ALL_SKILLS = ["primary_care", "cardiology", "orthopedics", "clinical", "pharmacy"]


def big_plan(rng: random.Random, agents: int) -> Plan:
    plan = load_plan(PLAN_PATH)
    queues = list(QUEUE_SKILLS)
    staff = []
    for n in range(agents):
        member_of = tuple(rng.sample(queues, rng.randint(1, 3)))
        skills = {s: rng.randint(0, 5) for s in ALL_SKILLS}
        if rng.random() < 0.4:
            skills["spanish"] = rng.randint(1, 5)
        roles = ("charge_nurse",) if n % 50 == 0 else ()
        staff.append(
            Staff(
                name=f"Agent {n}",
                extension=str(3000 + n),
                queues=member_of,
                skills=skills,
                roles=roles,
            )
        )
    return plan.model_copy(update={"staff": tuple(staff)})


class Bench:
    def __init__(self, plan: Plan, rng: random.Random) -> None:
        self.engine = AcdEngine(plan, PracticeClock(plan))
        self.rng = rng
        self.now = START
        self.ringing: dict[str, str] = {}
        self.talking: list[str] = []
        self.waiting: set[str] = set()
        self.callers = 0
        self.samples: dict[str, list[float]] = defaultdict(list)

    def send(self, event: Event, record: bool = True) -> list[Command]:
        began = time.perf_counter_ns()
        out = self.engine.handle(event, self.now)
        elapsed = (time.perf_counter_ns() - began) / 1000
        if record:
            self.samples[type(event).__name__].append(elapsed)
        for command in out:
            if isinstance(command, Offer | StartCallback):
                self.ringing[command.call_id] = command.ext
                self.waiting.discard(command.call_id)
            elif hasattr(command, "call_id") and type(command).__name__ in (
                "CancelOffer",
                "FollowAfterHours",
            ):
                self.ringing.pop(command.call_id, None)
        return out

    def join(self, record: bool = True) -> None:
        self.callers += 1
        queue = self.rng.choice(list(QUEUE_SKILLS))
        front = queue == "nurse_triage" and self.rng.random() < 0.05
        event = CallerJoined(
            call_id=f"c{self.callers}",
            queue=queue,
            enqueued_at=self.now,
            priority="front" if front else "normal",
            skill=None if front else self.rng.choice(QUEUE_SKILLS[queue]),
            language_skill="spanish" if not front and self.rng.random() < 0.2 else None,
            callback_number="+13125551007" if self.rng.random() < 0.8 else None,
        )
        self.waiting.add(event.call_id)
        self.send(event, record)

    def answer_all(self, record: bool = True) -> None:
        for call_id, ext in list(self.ringing.items()):
            del self.ringing[call_id]
            self.send(OfferAnswered(call_id, ext), record)
            self.talking.append(call_id)

    def step(self) -> None:
        self.now += timedelta(milliseconds=rng_ms(self.rng))
        deadline = self.engine.next_deadline()
        if deadline is not None and deadline <= self.now:
            self.send(Tick())
            return
        roll = self.rng.random()
        if roll < 0.25 and self.talking:
            call_id = self.talking.pop(self.rng.randrange(len(self.talking)))
            self.send(TalkEnded(call_id))
        elif roll < 0.45 and self.ringing:
            call_id, ext = next(iter(self.ringing.items()))
            del self.ringing[call_id]
            if self.rng.random() < 0.9:
                self.send(OfferAnswered(call_id, ext))
                self.talking.append(call_id)
            else:
                self.send(OfferFailed(call_id, ext, "busy"))
        elif roll < 0.70 or len(self.waiting) < 950:
            self.join()
        elif roll < 0.85 and self.waiting:
            call_id = self.rng.choice(sorted(self.waiting))
            self.waiting.discard(call_id)
            self.send(CallerLeft(call_id))
        else:
            ext = str(3000 + self.rng.randrange(200))
            self.send(AgentPause(ext) if self.rng.random() < 0.5 else AgentUnpause(ext))


def rng_ms(rng: random.Random) -> int:
    return rng.randint(1, 120)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--waiting", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    bench = Bench(big_plan(rng, args.agents), rng)
    for n in range(args.agents):
        bench.send(AgentLogin(str(3000 + n)), record=False)
    while len(bench.waiting) < args.waiting:  # callers arrive over a few minutes
        bench.now += timedelta(milliseconds=150)
        deadline = bench.engine.next_deadline()
        if deadline is not None and deadline <= bench.now:
            bench.send(Tick(), record=False)
        bench.join(record=False)
        bench.answer_all(record=False)
    for _ in range(args.events):
        bench.step()
    everything = [v for values in bench.samples.values() for v in values]
    snapshot = bench.engine.snapshot()
    queued = sum(len(q.callers) for q in snapshot.queues)
    print(f"agents {args.agents}, callers in queues at the end {queued}, events {len(everything)}")
    print(
        f"decision time: p50 {percentile(everything, 0.5):.1f} µs, "
        f"p99 {percentile(everything, 0.99):.1f} µs, max {max(everything):.1f} µs, "
        f"mean {statistics.fmean(everything):.1f} µs"
    )
    for name, values in sorted(bench.samples.items()):
        print(
            f"  {name:<14} n={len(values):<6} p50 {percentile(values, 0.5):7.1f} µs"
            f"  p99 {percentile(values, 0.99):7.1f} µs"
        )
    began = time.perf_counter_ns()
    bench.engine.snapshot()
    print(f"snapshot of {queued} callers: {(time.perf_counter_ns() - began) / 1000:.0f} µs")


if __name__ == "__main__":
    main()
