"""`frontdesk simulate`: run the IVR machine against a scripted caller at a fixed moment.

The scripted caller (`scripted_call`) listens to each menu to the end, then presses its
next key, or stays silent for `-` (a timeout) and once the script runs out. This drives
the very machine the daemon uses; it is not a second implementation of the routing rules.
The go-live cases (`frontdesk.golive.cases`) time their keys on the same scripted call.
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
    call = scripted_call(ivr, at, keys)
    return Simulation(facts, call.language, call.decision, call.prompts)


@dataclass(frozen=True)
class Played:
    """The IVR played these prompts; the caller listened to the end."""

    prompts: tuple[str, ...]


@dataclass(frozen=True)
class Pressed:
    """The IVR waited for a key (`timer`); the caller pressed `key`, or stayed silent
    through the timeout (`key` is `TIMEOUT_KEY`)."""

    key: str
    timer: StartTimer
    language: str  # the call's language while the IVR waited


@dataclass(frozen=True)
class ScriptedCall:
    """What the scripted caller went through, in order, and where the call was routed."""

    turns: tuple[Played | Pressed, ...]
    language: str
    decision: Decision

    @property
    def prompts(self) -> tuple[str, ...]:
        """Every prompt played, in order."""
        return tuple(p for turn in self.turns if isinstance(turn, Played) for p in turn.prompts)


def scripted_call(ivr: Ivr, at: datetime, keys: Sequence[str]) -> ScriptedCall:
    """Drive `ivr`, started at `at`, with the scripted caller pressing `keys` in turn."""
    script = list(keys)
    turns: list[Played | Pressed] = []
    commands = ivr.start(at)
    for _ in range(_MAX_STEPS):
        events: list[Event] = []
        for command in commands:
            if isinstance(command, RouteCall):
                return ScriptedCall(tuple(turns), ivr.language, command.decision)
            if isinstance(command, PlayPrompts):
                turns.append(Played(command.prompts))
                events.append(PromptsFinished(command.playback))
            elif isinstance(command, StartTimer):
                key = script.pop(0) if script else TIMEOUT_KEY
                turns.append(Pressed(key, command, ivr.language))
                events.append(
                    TimerElapsed(command.timer) if key == TIMEOUT_KEY else KeyPressed(key)
                )
        commands = [c for event in events for c in ivr.handle(event, at)]
    raise RuntimeError("the IVR did not reach a destination")
