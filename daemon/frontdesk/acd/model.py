"""What goes in and out of the ACD engine: events, commands and the snapshot, as frozen data.

Times are aware datetimes; the engine works in UTC internally and never reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from frontdesk.acd.lifecycle import CallerState
from frontdesk.plan.model import Plan
from frontdesk.routing.destination import Decision, QueueDestination

Priority = Literal["front", "normal"]
FailReason = Literal["no_answer", "busy", "declined", "unreachable"]
AgentStatus = Literal[
    "logged_out", "idle", "ringing", "talking", "wrap_up", "busy", "paused", "unreachable"
]

UNROUTED = "unrouted"


# -- events in ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class CallerJoined:
    """A caller enters queue `queue` (the router decided the queue is open and staffed).

    `skill` is the menu skill (relaxed after the queue's `skill_relax_after`);
    `language_skill` is always required. Urgent callers carry neither.
    `callback_number` is the caller's E.164 number, None when withheld or malformed.
    `clock_offset`: a go-live test call's routing time minus the real time
    (golive/override.py); until answered, its open/closed checks run at `now +
    clock_offset`, i.e. at its routed time plus its age. Zero for every other call.
    """

    call_id: str
    queue: str
    enqueued_at: datetime
    priority: Priority = "normal"
    skill: str | None = None
    language_skill: str | None = None
    category: str = UNROUTED
    callback_number: str | None = None
    language: str = "en"
    clock_offset: timedelta = timedelta(0)


@dataclass(frozen=True)
class CallerLeft:
    """The caller hung up (an abandon), or a pending callback is cancelled."""

    call_id: str


@dataclass(frozen=True)
class AgentLogin:
    ext: str


@dataclass(frozen=True)
class AgentLogout:
    ext: str


@dataclass(frozen=True)
class AgentPause:
    """`reason`: why (one of the plan's `all_pause_reasons`, checked by whoever asks);
    None: no reason given. Pausing an agent paused for another reason changes the reason."""

    ext: str
    reason: str | None = None


@dataclass(frozen=True)
class AgentUnpause:
    ext: str


@dataclass(frozen=True)
class PausedToggle:
    """Feature code *47: pause when available, unpause when paused."""

    ext: str


@dataclass(frozen=True)
class PhoneReachability:
    """AMI ContactStatus: an unregistered phone is never offered a call."""

    ext: str
    reachable: bool


@dataclass(frozen=True)
class AgentOutsideCall:
    """The agent is (`active`) or no longer is on a call frontdesk placed for them outside
    the queues (returning a callback task by hand): no queue call is offered meanwhile."""

    ext: str
    active: bool


@dataclass(frozen=True)
class OfferAnswered:
    """The agent picked up an `Offer` (-> talking) or the agent leg of a `StartCallback`."""

    call_id: str
    ext: str


@dataclass(frozen=True)
class OfferFailed:
    call_id: str
    ext: str
    reason: FailReason


@dataclass(frozen=True)
class TalkEnded:
    call_id: str


@dataclass(frozen=True)
class CallbackAccepted:
    """The caller pressed 1 after `OfferCallbackChoice`: they hang up and keep their place."""

    call_id: str


@dataclass(frozen=True)
class CallbackResult:
    """The patient leg of a `StartCallback`: answered (-> talking) or not (-> retry or task)."""

    call_id: str
    answered: bool


@dataclass(frozen=True)
class CallbackRestored:
    """A callback still pending when frontdesk last stopped (from the database), at its
    original place: `joined` as the caller first joined (their enqueue time and priority;
    a callback always has its `callback_number`), and the attempts made so far.

    `retry_at`: when the next attempt falls due after an unanswered one (None: at its turn).
    `escalated`: the escalation alert was already raised (it is raised once per call).
    """

    joined: CallerJoined
    attempts: int = 0
    retry_at: datetime | None = None
    escalated: bool = False

    @property
    def call_id(self) -> str:
        return self.joined.call_id


@dataclass(frozen=True)
class CallTransferred:
    """The agent handed the connected caller on with their phone: the agent's part is
    over (wrap-up), the caller stays `transferred` until `CallerLeft`."""

    call_id: str


@dataclass(frozen=True)
class CallerRequeued:
    """Staff moved a caller they were talking with (or a transfer that nobody answered)
    back into a queue: `joined` names the queue, skills, category and priority, and keeps
    the original `enqueued_at`, so the caller keeps their place by arrival. The agent's
    part is over (wrap-up)."""

    joined: CallerJoined


@dataclass(frozen=True)
class ConversationRestored:
    """After a restart: a caller who was talking to agent `ext` (re-adopted, still
    connected); the agent is busy with them until `TalkEnded`."""

    joined: CallerJoined
    ext: str


@dataclass(frozen=True)
class Tick:
    """Time passed; the runtime sends it at `next_deadline()`."""


Event = (
    CallerJoined
    | CallerLeft
    | AgentLogin
    | AgentLogout
    | AgentPause
    | AgentUnpause
    | PausedToggle
    | PhoneReachability
    | AgentOutsideCall
    | OfferAnswered
    | OfferFailed
    | TalkEnded
    | CallbackAccepted
    | CallbackResult
    | CallbackRestored
    | CallTransferred
    | CallerRequeued
    | ConversationRestored
    | Tick
)


# -- commands out ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Offer:
    """Ring agent `ext` for the caller; the engine cancels it itself after `ring_timeout`."""

    call_id: str
    ext: str
    ring_timeout: timedelta


@dataclass(frozen=True)
class CancelOffer:
    call_id: str
    ext: str


@dataclass(frozen=True)
class OfferCallbackChoice:
    """Play "press 1 to be called back, keeping your place"."""

    call_id: str


@dataclass(frozen=True)
class StartCallback:
    """Call agent `ext` first (ringing, `OfferAnswered` when picked up), whisper, then `number`."""

    call_id: str
    ext: str
    number: str
    category: str


@dataclass(frozen=True)
class Escalate:
    """Alert (dashboard, log, AMI UserEvent); `recipients` may be empty if nobody is logged in."""

    call_id: str
    queue: str
    recipients: tuple[str, ...]
    waited: timedelta


@dataclass(frozen=True)
class Announce:
    call_id: str
    position: int
    estimated_wait: timedelta | None


@dataclass(frozen=True)
class FollowAfterHours:
    """The queue closed while the caller waited: send them to the queue's `after_hours`."""

    call_id: str
    queue: str


@dataclass(frozen=True)
class AgentState:
    """What the board shows changed; `reason` is the pause's when `state` is paused."""

    ext: str
    state: AgentStatus
    reason: str | None = None


@dataclass(frozen=True)
class CallbackTask:
    """A callback that could not be completed: a task for staff (log, dashboard)."""

    call_id: str
    number: str
    category: str


Command = (
    Offer
    | CancelOffer
    | OfferCallbackChoice
    | StartCallback
    | Escalate
    | Announce
    | FollowAfterHours
    | AgentState
    | CallbackTask
)


# -- snapshot ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CallerView:
    call_id: str
    queue: str
    priority: Priority
    status: CallerState
    enqueued_at: datetime
    waited: timedelta
    skill: str | None
    language_skill: str | None
    agent: str | None  # the agent being rung (or called back with)
    escalated: bool
    category: str = UNROUTED
    callback_attempts: int = 0  # callbacks tried and not answered so far
    retry_at: datetime | None = None  # a `callback_retry`'s next attempt
    choice_offered: bool = False  # told "press 1 for a callback": a 1 now accepts


@dataclass(frozen=True)
class QueueView:
    name: str
    callers: tuple[CallerView, ...]  # in order: front first, then the longest waiting
    logged_in: int
    available: int
    staffed: int = 0  # logged in with a reachable phone (docs/routing.md §3.2)


@dataclass(frozen=True)
class AgentView:
    ext: str
    name: str
    state: AgentStatus
    since: datetime | None  # None until the agent's first event
    in_state: timedelta | None
    call_id: str | None
    queues: tuple[str, ...]
    # What the agent chose, whatever `state` shows (a paused agent may still be talking):
    # what a restart restores (store/presence.py).
    logged_in: bool = False
    paused: bool = False
    pause_reason: str | None = None  # while paused


@dataclass(frozen=True)
class AcdSnapshot:
    at: datetime | None
    queues: tuple[QueueView, ...]
    agents: tuple[AgentView, ...]

    def queue(self, name: str) -> QueueView:
        return next(q for q in self.queues if q.name == name)

    def agent(self, ext: str) -> AgentView:
        return next(a for a in self.agents if a.ext == ext)

    def caller(self, call_id: str) -> CallerView | None:
        return next((c for q in self.queues for c in q.callers if c.call_id == call_id), None)


# -- from the router ---------------------------------------------------------------------------
def caller_joined(
    plan: Plan,
    call_id: str,
    decision: Decision,
    language: str,
    callback_number: str | None,
    enqueued_at: datetime,
    clock_offset: timedelta = timedelta(0),
) -> CallerJoined:
    """The join event for a routing decision whose destination is a queue.

    `QueueDestination.skills` mixes the menu and the language skill; this splits them.
    `clock_offset`: the call's go-live routing shift (zero for a patient's call).
    """
    destination = decision.destination
    if not isinstance(destination, QueueDestination):
        raise ValueError(f"call {call_id} was not routed to a queue")
    lang = plan.practice.languages.get(language)
    language_skill = lang.skill if lang is not None and lang.skill in destination.skills else None
    menu = [s for s in destination.skills if s != language_skill]
    return CallerJoined(
        call_id=call_id,
        queue=destination.queue,
        enqueued_at=enqueued_at,
        priority=destination.priority,
        skill=menu[0] if menu else None,
        language_skill=language_skill,
        category=decision.request.category,
        callback_number=callback_number,
        language=language,
        clock_offset=clock_offset,
    )
