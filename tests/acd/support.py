"""A tiny runtime for driving the ACD engine in tests: a clock, a log and shorthands."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, TypeVar

from frontdesk.acd import (
    AcdEngine,
    AgentLogin,
    CallbackPolicy,
    CallerJoined,
    Command,
    Event,
    Tick,
)
from frontdesk.plan import Plan
from frontdesk.routing.clock import PracticeClock
from tests.conftest import local

T0 = local("2026-11-30 10:00")  # a Monday: office, billing and triage open
C = TypeVar("C")


class Desk:
    def __init__(
        self, plan: Plan, start: datetime = T0, policy: CallbackPolicy | None = None
    ) -> None:
        self.engine = AcdEngine(plan, PracticeClock(plan), policy)
        self.now = start
        self.log: list[Command] = []

    def send(self, event: Event, at: datetime | None = None) -> list[Command]:
        if at is not None:
            self.now = at
        out = self.engine.handle(event, self.now)
        self.log.extend(out)
        return out

    def advance(self, delta: timedelta | float) -> list[Command]:
        """Let time pass, ticking at every deadline on the way (as the runtime does)."""
        if not isinstance(delta, timedelta):
            delta = timedelta(seconds=delta)
        end = self.now + delta
        out: list[Command] = []
        while (deadline := self.engine.next_deadline()) is not None and deadline <= end:
            self.now = max(self.now, deadline)
            out += self.send(Tick())
        self.now = end
        out += self.send(Tick())
        return out

    def login(self, *exts: str) -> list[Command]:
        out: list[Command] = []
        for ext in exts:
            out += self.send(AgentLogin(ext))
            self.now += timedelta(seconds=1)  # distinct idle times, in login order
        return out

    def join(self, call_id: str, queue: str, **fields: Any) -> list[Command]:
        fields.setdefault("enqueued_at", self.now)
        return self.send(CallerJoined(call_id=call_id, queue=queue, **fields))

    def state(self, ext: str) -> str:
        return self.engine.snapshot(self.now).agent(ext).state

    def waiting(self, queue: str) -> list[str]:
        return [c.call_id for c in self.engine.snapshot(self.now).queue(queue).callers]


def only(commands: list[Command], kind: type[C]) -> list[C]:
    return [c for c in commands if isinstance(c, kind)]
