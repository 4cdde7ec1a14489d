"""Where a call goes once the caller has chosen: docs/routing.md §3 as one pure function.

Inputs are the plan, the clock, what was chosen (a `Request`), the call's language,
who is logged in and the moment; the output is a `Decision`. No I/O, no waiting.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from frontdesk.plan.model import FRONT_DESK, AfterHours, Plan
from frontdesk.routing.clock import PracticeClock

OPERATOR = "operator"
UNROUTED = "unrouted"
CLINICAL_CATEGORIES = frozenset({"clinical", "refill", "test_results"})


@dataclass(frozen=True)
class QueueDestination:
    queue: str
    skills: tuple[str, ...]
    priority: Literal["normal", "front"] = "normal"

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": "queue",
            "queue": self.queue,
            "skills": list(self.skills),
            "priority": self.priority,
        }


@dataclass(frozen=True)
class VoicemailDestination:
    box: str
    callback: str | None

    def as_json(self) -> dict[str, Any]:
        return {"kind": "voicemail", "box": self.box, "callback": self.callback}


@dataclass(frozen=True)
class TransferDestination:
    target: str
    announce: str | None

    def as_json(self) -> dict[str, Any]:
        return {"kind": "transfer", "target": self.target, "announce": self.announce}


Destination = QueueDestination | VoicemailDestination | TransferDestination


@dataclass(frozen=True)
class Request:
    """What the caller chose: a menu leaf, a DID entry, the operator, or silence."""

    category: str
    queue: str | None = None
    skill: str | None = None
    urgent: bool = False
    chosen: str | None = None  # the menu category chosen before the operator key

    @classmethod
    def front_desk(cls, category: str, chosen: str | None = None) -> Request:
        return cls(category=category, queue=FRONT_DESK, chosen=chosen)


@dataclass(frozen=True)
class Decision:
    request: Request
    destination: Destination
    deciding_queue: str | None
    after_hours: bool
    holiday: str | None

    @property
    def prompts(self) -> tuple[str, ...]:
        """What the caller hears before being connected (announce or greeting)."""
        if isinstance(self.destination, TransferDestination) and self.destination.announce:
            return (self.destination.announce,)
        if isinstance(self.destination, VoicemailDestination):
            return (f"voicemail-{self.destination.box}",)
        return ()


def is_clinical(plan: Plan, request: Request, deciding_queue: str | None) -> bool:
    """Clinical per docs/routing.md §3.6: the category, the urgent flag, or an escalating queue."""
    if request.urgent or {request.category, request.chosen} & CLINICAL_CATEGORIES:
        return True
    queue = plan.queues.get(deciding_queue or "")
    return queue is not None and queue.escalate_after is not None


def decide(
    plan: Plan,
    clock: PracticeClock,
    request: Request,
    language: str,
    logged_in: Collection[str],
    now: datetime,
) -> Decision:
    holiday = clock.holiday(now)
    if request.urgent:
        return _urgent(plan, clock, request, logged_in, now, holiday)
    name = request.queue or FRONT_DESK
    queue = plan.queues[name]
    schedule_open = clock.schedule_open(queue.schedule, now)
    if not (schedule_open and _staffed(plan, name, logged_in)):
        destination = _after_hours(plan, queue.after_hours, name)
        return Decision(request, destination, name, not schedule_open, holiday)
    skills = {request.skill} if request.skill else set()
    lang = plan.practice.languages.get(language)
    if lang is not None and lang.skill:
        if _someone_speaks(plan, name, lang.skill, logged_in):
            skills.add(lang.skill)
        elif lang.fallback:
            fallback = TransferDestination(lang.fallback, plan.external[lang.fallback].announce)
            return Decision(request, fallback, name, False, holiday)
        # No fallback configured: the caller still reaches a person, without the language.
    destination = QueueDestination(name, tuple(sorted(skills)))
    return Decision(request, destination, name, False, holiday)


def _urgent(
    plan: Plan,
    clock: PracticeClock,
    request: Request,
    logged_in: Collection[str],
    now: datetime,
    holiday: str | None,
) -> Decision:
    urgent = plan.urgent
    business = urgent.business_hours if urgent else None
    schedule_open = False
    if business is not None:
        schedule_open = clock.schedule_open(plan.queues[business.queue].schedule, now)
        if schedule_open and _staffed(plan, business.queue, logged_in):
            destination = QueueDestination(business.queue, (), business.priority)
            return Decision(request, destination, business.queue, False, holiday)
    after = urgent.after_hours if urgent else None
    deciding = business.queue if business else None
    fallback = _after_hours(plan, after, deciding or FRONT_DESK)
    return Decision(request, fallback, deciding, not schedule_open, holiday)


def _after_hours(plan: Plan, after: AfterHours | None, queue: str) -> Destination:
    if after is None:
        # `frontdesk check` refuses such plans; a simulation still shows where it would go.
        return VoicemailDestination(queue, None)
    if after.transfer is not None:
        return TransferDestination(after.transfer, plan.external[after.transfer].announce)
    return VoicemailDestination(after.voicemail or queue, after.callback)


def _staffed(plan: Plan, queue: str, logged_in: Collection[str]) -> bool:
    return any(m.extension in logged_in for m in plan.members(queue))


def _someone_speaks(plan: Plan, queue: str, skill: str, logged_in: Collection[str]) -> bool:
    return any(m.extension in logged_in and m.level(skill) > 0 for m in plan.members(queue))
