"""`frontdesk simulate`: run the IVR machine against a scripted caller at a fixed moment.

The scripted caller listens to each menu to the end, then presses its next key, or
stays silent for `-` (a timeout) and once the script runs out. This drives the very
machine the daemon uses; it is not a second implementation of the routing rules.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from frontdesk.plan.model import Plan
from frontdesk.routing.clock import PracticeClock
from frontdesk.routing.destination import Decision
from frontdesk.routing.ivr import (
    CallFacts,
    Command,
    Event,
    Ivr,
    KeyPressed,
    PlayPrompts,
    PromptsFinished,
    RouteCall,
    StartTimer,
    TimerElapsed,
)

TIMEOUT_KEY = "-"
# A plan allows at most a few dozen steps; this only guards against a looping machine.
_MAX_STEPS = 1000


@dataclass(frozen=True)
class Simulation:
    facts: CallFacts
    language: str
    decision: Decision
    prompts: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        patient = self.facts.patient
        request = self.decision.request
        return {
            "did": self.facts.did,
            "caller": self.facts.caller,
            "known_patient": patient is not None,
            "patient_id": patient.patient_id if patient else None,
            "language": self.language,
            "category": request.category,
            "after_hours": self.decision.after_hours,
            "holiday": self.decision.holiday,
            "urgent": request.urgent,
            "destination": self.decision.destination.as_json(),
            "prompts": list(self.prompts),
        }


def default_did(plan: Plan) -> str | None:
    """The first number whose entry is the main menu (else the first number)."""
    for number, entry in plan.numbers.items():
        if entry.is_main:
            return number
    return next(iter(plan.numbers), None)


def parse_keys(text: str) -> list[str]:
    """`1,3` -> ['1', '3']; `-` is a timeout; empty text is no keys."""
    keys = [k.strip() for k in text.split(",")] if text.strip() else []
    for key in keys:
        if len(key) != 1 or key not in "0123456789*#-":
            raise ValueError(f"'{key}' is not a key (0-9, *, # or - for a timeout)")
    return keys


def simulate(
    plan: Plan,
    *,
    at: datetime,
    facts: CallFacts,
    keys: Sequence[str],
    logged_in: Collection[str],
    clock: PracticeClock | None = None,
) -> Simulation:
    ivr = Ivr(plan, clock or PracticeClock(plan), facts, frozenset(logged_in))
    script = list(keys)
    prompts: list[str] = []
    commands = ivr.start(at)
    for _ in range(_MAX_STEPS):
        events: list[Event] = []
        for command in commands:
            if isinstance(command, RouteCall):
                return Simulation(facts, ivr.language, command.decision, tuple(prompts))
            events.extend(_caller_reacts(command, script, prompts))
        commands = [c for event in events for c in ivr.handle(event, at)]
    raise RuntimeError("the IVR did not reach a destination")


def _caller_reacts(command: Command, script: list[str], prompts: list[str]) -> list[Event]:
    if isinstance(command, PlayPrompts):
        prompts.extend(command.prompts)
        return [PromptsFinished(command.playback)]
    if isinstance(command, StartTimer):
        key = script.pop(0) if script else TIMEOUT_KEY
        return [TimerElapsed(command.timer) if key == TIMEOUT_KEY else KeyPressed(key)]
    return []
