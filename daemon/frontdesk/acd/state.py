"""The engine's mutable records of callers and agents (internal to the ACD package)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from frontdesk.acd.lifecycle import AVAILABLE, CALLBACKS, IN_QUEUE, CallerState, advance
from frontdesk.acd.model import (
    AgentStatus,
    CallerJoined,
    Priority,
)
from frontdesk.acd.ordering import OrderKey
from frontdesk.plan.model import Staff

Activity = Literal["idle", "ringing", "talking", "wrap_up", "busy"]
# (queue, priority, menu skill, language skill): callers that every agent ranks alike.
GroupKey = tuple[str, Priority, str | None, str | None]


@dataclass(eq=False)
class Caller:
    joined: CallerJoined  # who they are and what they asked for, as they joined
    enqueued_at: datetime  # UTC
    seq: int
    status: CallerState = CallerState.WAITING  # changed only by `move`
    agent: str | None = None  # being rung, or called back with
    agent_answered: bool = False  # the agent leg of a callback is up
    escalated: bool = False
    choice_pending: bool = False  # a callback offer fell due while an agent was ringing
    choice_offered: bool = False  # told "press 1 for a callback"
    callback_failures: int = 0
    # Go-live: until answered, the caller's schedule checks run this far from `now`
    # (CallerJoined.clock_offset); zero once an agent has it, and for every patient.
    clock_offset: timedelta = field(init=False, default=timedelta(0))

    def __post_init__(self) -> None:
        self.clock_offset = self.joined.clock_offset

    @property
    def shifted(self) -> bool:
        return bool(self.clock_offset)

    @property
    def call_id(self) -> str:
        return self.joined.call_id

    @property
    def queue(self) -> str:
        return self.joined.queue

    @property
    def priority(self) -> Priority:
        return self.joined.priority

    @property
    def skill(self) -> str | None:
        return self.joined.skill

    @property
    def language_skill(self) -> str | None:
        return self.joined.language_skill

    @property
    def category(self) -> str:
        return self.joined.category

    @property
    def callback_number(self) -> str | None:
        return self.joined.callback_number

    @property
    def order(self) -> OrderKey:
        return (0 if self.priority == "front" else 1, self.enqueued_at, self.seq, self.call_id)

    @property
    def group(self) -> GroupKey:
        return (self.queue, self.priority, self.skill, self.language_skill)

    def move(self, wanted: CallerState) -> None:
        self.status = advance(self.call_id, self.status, wanted)

    @property
    def in_queue(self) -> bool:
        return self.status in IN_QUEUE

    @property
    def available(self) -> bool:
        return self.status in AVAILABLE

    @property
    def is_callback(self) -> bool:
        return self.status in CALLBACKS


@dataclass(eq=False)
class Agent:
    staff: Staff
    logged_in: bool = False
    reachable: bool = True  # until AMI says otherwise (Asterisk replays nothing on reconnect)
    paused: bool = False
    pause_reason: str | None = None  # while paused
    activity: Activity = "idle"
    call_id: str | None = None
    call_queue: str | None = None  # queue of the call being rung or talked on
    shown: AgentStatus = "logged_out"
    shown_reason: str | None = None  # the pause reason shown with `shown` "paused"
    since: datetime | None = None  # when `shown` last changed
    idle_since: datetime | None = None  # when the agent last became available
    eligible: bool = False
    staffing: bool = False  # counted among its queues' staff (acd/staffing.py)
    talk_started: datetime | None = None

    @property
    def ext(self) -> str:
        return self.staff.extension

    def is_eligible(self) -> bool:
        """Logged in, reachable, not paused and idle (docs/routing.md §4.1)."""
        return self.logged_in and self.reachable and not self.paused and self.activity == "idle"

    def display(self) -> AgentStatus:
        """What the dashboard shows; a call in progress wins over everything else."""
        if self.activity in ("ringing", "talking"):
            return self.activity
        if not self.logged_in:
            return "logged_out"
        if not self.reachable:
            return "unreachable"
        if self.activity != "idle":
            return self.activity
        return "paused" if self.paused else "idle"
