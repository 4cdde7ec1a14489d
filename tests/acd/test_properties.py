"""Random event sequences through the ACD engine, with a small runtime playing the phones.

After every event: no available agent could take a waiting caller, offers are exclusive
both ways, callers are offered in order (front first, then the longest waiting), the
engine agrees with what the runtime saw, and nobody waits on hold in a queue that has
been unstaffed (no member logged in with a reachable phone) for two `max_wait`s. At the end, once everyone logs in and answers
and the practice closes, every caller was offered, left, or followed after hours (or, for
a callback, became a task).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from frontdesk.acd import (
    AgentLogin,
    AgentLogout,
    AgentPause,
    AgentUnpause,
    CallbackAccepted,
    CallbackResult,
    CallbackTask,
    CallerJoined,
    CallerLeft,
    CallerView,
    CancelOffer,
    Command,
    Event,
    FollowAfterHours,
    Offer,
    OfferAnswered,
    OfferCallbackChoice,
    OfferFailed,
    PausedToggle,
    PhoneReachability,
    StartCallback,
    TalkEnded,
    Tick,
)
from frontdesk.acd.lifecycle import AVAILABLE, IN_QUEUE, CallerState
from frontdesk.acd.model import AcdSnapshot
from frontdesk.acd.staffing import overflow_period
from frontdesk.plan import Plan, load_plan
from frontdesk.plan.model import Staff
from tests.acd.support import Desk
from tests.conftest import REFERENCE_PLAN, local

PLAN: Plan = load_plan(REFERENCE_PLAN)
STAFF = {s.extension: s for s in PLAN.staff}
EXTS = sorted(STAFF)
QUEUES = sorted(PLAN.queues)
SKILLS = [None, "primary_care", "cardiology", "orthopedics", "clinical", "pharmacy"]
STARTS = ["2026-11-30 10:00", "2026-11-30 16:50", "2026-12-04 11:50", "2026-11-30 17:55"]
NUMBER = "+13125551007"


def can_take(staff: Staff, caller: CallerView) -> bool:
    """docs/routing.md §4.1 (eligibility), written again independently of the engine."""
    if caller.queue not in staff.queues:
        return False
    if caller.language_skill and staff.level(caller.language_skill) <= 0:
        return False
    relax = PLAN.queues[caller.queue].skill_relax_after
    return not (caller.skill and caller.waited < relax and staff.level(caller.skill) <= 0)


def ahead(snapshot: AcdSnapshot, first: CallerView, second: CallerView) -> bool:
    """Whether `first` is before `second` in the order a free agent must respect."""
    if first.queue == second.queue:
        order = [c.call_id for c in snapshot.queue(first.queue).callers]
        return order.index(first.call_id) < order.index(second.call_id)
    rank = {"front": 0, "normal": 1}
    return (rank[first.priority], first.enqueued_at) < (rank[second.priority], second.enqueued_at)


class AcdMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.desk = Desk(PLAN)
        self.ringing: dict[str, str] = {}  # call id -> extension rung
        self.callback_rings: set[str] = set()
        self.legs: dict[str, str] = {}  # callbacks whose agent picked up
        self.talking: dict[str, str] = {}
        self.joined: list[str] = []
        self.offered: set[str] = set()
        self.left: set[str] = set()
        self.followed: set[str] = set()
        self.tasks: set[str] = set()
        self.choices: set[str] = set()
        self.logged_in: set[str] = set()
        self.unreachable: set[str] = set()
        self.unstaffed_since: dict[str, datetime] = {}  # queue -> since when

    # -- the runtime side -----------------------------------------------------------------------
    def send(self, event: Event) -> None:
        out = self.desk.send(event)
        for command in out:
            self.observe(command)
        self.check_order(out)
        self.track_staffing()

    def observe(self, command: Command) -> None:
        if isinstance(command, Offer | StartCallback):
            busy = {*self.ringing.values(), *self.legs.values(), *self.talking.values()}
            assert command.call_id not in self.ringing, f"{command.call_id} offered twice"
            assert command.call_id not in self.talking
            assert command.ext not in busy, f"{command.ext} offered a second caller"
            assert command.call_id not in self.left | self.followed | self.tasks
            self.ringing[command.call_id] = command.ext
            self.offered.add(command.call_id)
            if isinstance(command, StartCallback):
                self.callback_rings.add(command.call_id)
        elif isinstance(command, CancelOffer):
            assert self.ringing.pop(command.call_id) == command.ext
            self.callback_rings.discard(command.call_id)
        elif isinstance(command, FollowAfterHours):
            assert command.call_id not in self.ringing
            self.followed.add(command.call_id)
        elif isinstance(command, CallbackTask):
            assert command.call_id not in self.ringing
            self.tasks.add(command.call_id)
        elif isinstance(command, OfferCallbackChoice):
            self.choices.add(command.call_id)

    def check_order(self, out: list[Command]) -> None:
        """FIFO within a priority, front first: nobody the agent could take was passed over."""
        snapshot = self.desk.engine.snapshot(self.desk.now)
        for offer in (c for c in out if isinstance(c, Offer | StartCallback)):
            chosen = snapshot.caller(offer.call_id)
            assert chosen is not None
            staff = STAFF[offer.ext]
            for queue in staff.queues:
                for other in snapshot.queue(queue).callers:
                    skipped = other.status in AVAILABLE and can_take(staff, other)
                    assert not (skipped and ahead(snapshot, other, chosen)), (
                        f"{offer.ext} got {offer.call_id} before {other.call_id}"
                    )

    def track_staffing(self) -> None:
        """docs/routing.md §3.2, written again: a member on a call, or logged in with a
        reachable phone (paused or not), staffs the queue."""
        on_call = {*self.ringing.values(), *self.legs.values(), *self.talking.values()}
        on_duty = on_call | (self.logged_in - self.unreachable)
        for queue in QUEUES:
            if any(m.extension in on_duty for m in PLAN.members(queue)):
                self.unstaffed_since.pop(queue, None)
            else:
                self.unstaffed_since.setdefault(queue, self.desk.now)

    def present(self) -> set[str]:
        snapshot = self.desk.engine.snapshot(self.desk.now)
        return {c.call_id for q in snapshot.queues for c in q.callers} | set(self.talking)

    @staticmethod
    def pick(items: list[str] | set[str] | dict[str, str], index: int) -> str | None:
        keys = sorted(items)
        return keys[index % len(keys)] if keys else None

    # -- rules ----------------------------------------------------------------------------------
    @initialize(start=st.sampled_from(STARTS), present=st.sets(st.sampled_from(EXTS)))
    def open_desk(self, start: str, present: set[str]) -> None:
        self.desk.now = local(start)
        for ext in sorted(present):
            self.login(ext)

    @rule(
        queue=st.sampled_from(QUEUES),
        skill=st.sampled_from(SKILLS),
        spanish=st.booleans(),
        front=st.booleans(),
        number=st.booleans(),
    )
    def join(self, queue: str, skill: str | None, spanish: bool, front: bool, number: bool) -> None:
        call_id = f"c{len(self.joined)}"
        self.joined.append(call_id)
        self.send(
            CallerJoined(
                call_id=call_id,
                queue=queue,
                enqueued_at=self.desk.now,
                priority="front" if front else "normal",
                skill=None if front else skill,
                language_skill="spanish" if spanish and not front else None,
                callback_number=NUMBER if number else None,
            )
        )

    @rule(index=st.integers(0, 50))
    def leave(self, index: int) -> None:
        call_id = self.pick(self.joined, index)
        if call_id is None:
            return
        # The caller's phones are free the moment they leave: the agent may be offered the
        # next caller by this very event.
        self.legs.pop(call_id, None)
        self.talking.pop(call_id, None)
        self.send(CallerLeft(call_id))
        self.left.add(call_id)

    @rule(ext=st.sampled_from(EXTS))
    def login(self, ext: str) -> None:
        self.logged_in.add(ext)
        self.send(AgentLogin(ext))

    @rule(ext=st.sampled_from(EXTS))
    def logout(self, ext: str) -> None:
        self.logged_in.discard(ext)
        self.send(AgentLogout(ext))

    @rule(ext=st.sampled_from(EXTS), how=st.sampled_from([AgentPause, AgentUnpause, PausedToggle]))
    def pause(self, ext: str, how: type[AgentPause | AgentUnpause | PausedToggle]) -> None:
        self.send(how(ext))

    @rule(ext=st.sampled_from(EXTS), reachable=st.booleans())
    def reachability(self, ext: str, reachable: bool) -> None:
        (self.unreachable.discard if reachable else self.unreachable.add)(ext)
        self.send(PhoneReachability(ext, reachable))

    @rule(index=st.integers(0, 50))
    def answer(self, index: int) -> None:
        call_id = self.pick(self.ringing, index)
        if call_id is None:
            return
        ext = self.ringing.pop(call_id)
        if call_id in self.callback_rings:
            self.callback_rings.discard(call_id)
            self.legs[call_id] = ext
        else:
            self.talking[call_id] = ext
        self.send(OfferAnswered(call_id, ext))

    @rule(
        index=st.integers(0, 50),
        reason=st.sampled_from(["no_answer", "busy", "declined", "unreachable"]),
    )
    def fail(self, index: int, reason: str) -> None:
        call_id = self.pick(self.ringing, index)
        if call_id is None:
            return
        ext = self.ringing.pop(call_id)
        self.callback_rings.discard(call_id)
        if reason == "unreachable":
            self.unreachable.add(ext)
        self.send(OfferFailed(call_id, ext, reason))  # type: ignore[arg-type]

    @rule(index=st.integers(0, 50))
    def end_talk(self, index: int) -> None:
        call_id = self.pick(self.talking, index)
        if call_id is not None:
            del self.talking[call_id]
            self.send(TalkEnded(call_id))

    @rule(index=st.integers(0, 50))
    def accept_callback(self, index: int) -> None:
        call_id = self.pick(self.choices, index)
        if call_id is not None:
            self.send(CallbackAccepted(call_id))

    @rule(index=st.integers(0, 50), answered=st.booleans())
    def callback_result(self, index: int, answered: bool) -> None:
        call_id = self.pick(self.legs, index)
        if call_id is None:
            return
        ext = self.legs.pop(call_id)
        if answered:
            self.talking[call_id] = ext
        self.send(CallbackResult(call_id, answered))

    @rule(seconds=st.integers(0, 400))
    def wait(self, seconds: int) -> None:
        self.advance(timedelta(seconds=seconds))

    @rule()
    def tick_at_deadline(self) -> None:
        deadline = self.desk.engine.next_deadline()
        if deadline is not None:
            self.desk.now = max(self.desk.now, deadline.astimezone(self.desk.now.tzinfo))
            self.send(Tick())

    def advance(self, delta: timedelta) -> None:
        end = self.desk.now + delta
        while (deadline := self.desk.engine.next_deadline()) is not None and deadline <= end:
            self.desk.now = max(self.desk.now, deadline.astimezone(self.desk.now.tzinfo))
            self.send(Tick())
        self.desk.now = end
        self.send(Tick())

    # -- invariants -----------------------------------------------------------------------------
    @invariant()
    def no_idle_agent_while_a_matching_caller_waits(self) -> None:
        snapshot = self.desk.engine.snapshot(self.desk.now)
        waiting = [c for q in snapshot.queues for c in q.callers if c.status in AVAILABLE]
        for agent in snapshot.agents:
            if agent.state != "idle":
                continue
            assert agent.ext in self.logged_in
            assert agent.ext not in self.unreachable
            for caller in waiting:
                assert not can_take(STAFF[agent.ext], caller), (
                    f"{agent.ext} idle while {caller.call_id} waits"
                )

    @invariant()
    def engine_agrees_with_the_phones(self) -> None:
        snapshot = self.desk.engine.snapshot(self.desk.now)
        for call_id, ext in self.ringing.items():
            caller = snapshot.caller(call_id)
            assert caller is not None
            assert caller.agent == ext
            assert snapshot.agent(ext).state == "ringing"
        for ext in {*self.legs.values(), *self.talking.values()}:
            assert snapshot.agent(ext).state == "talking"
        rung = [c.agent for q in snapshot.queues for c in q.callers if c.agent is not None]
        assert len(rung) == len(set(rung)), "an agent is offered two callers"

    @invariant()
    def engine_state_agrees_with_the_phones(self) -> None:
        """`AcdEngine.state` (the only copy of where a caller stands) says what the phones
        say, and matches every queued caller's view."""
        engine = self.desk.engine
        for call_id in self.ringing:
            callback = call_id in self.callback_rings
            rung = CallerState.CALLING_BACK if callback else CallerState.RINGING
            assert engine.state(call_id) is rung, call_id
        for call_id in self.legs:
            assert engine.state(call_id) is CallerState.CALLING_BACK, call_id
        for call_id in self.talking:
            assert engine.state(call_id) is CallerState.TALKING, call_id
        for call_id in self.left | self.followed | self.tasks:
            assert engine.state(call_id) is CallerState.GONE, call_id
        snapshot = engine.snapshot(self.desk.now)
        for caller in (c for q in snapshot.queues for c in q.callers):
            assert caller.status in IN_QUEUE
            assert engine.state(caller.call_id) is caller.status

    @invariant()
    def nobody_waits_for_ever_in_an_unstaffed_queue(self) -> None:
        """At each max_wait in an unstaffed queue a caller is offered the callback (once)
        or follows after hours: at most two max_waits after the queue lost its staff."""
        snapshot = self.desk.engine.snapshot(self.desk.now)
        for queue, since in self.unstaffed_since.items():
            limit = 2 * overflow_period(PLAN.queues[queue])
            for caller in snapshot.queue(queue).callers:
                if caller.status is CallerState.WAITING:
                    waited = self.desk.now - max(since, caller.enqueued_at)
                    assert waited < limit, f"{caller.call_id} waits in unstaffed {queue}"
            assert snapshot.queue(queue).staffed == 0, queue

    @invariant()
    def resolved_callers_are_gone(self) -> None:
        snapshot = self.desk.engine.snapshot(self.desk.now)
        present = {c.call_id for q in snapshot.queues for c in q.callers}
        assert not present & (self.followed | self.tasks)

    def teardown(self) -> None:
        """Everyone logs in and answers until well after closing: nobody is left behind."""
        for ext in EXTS:
            self.unreachable.discard(ext)
            self.send(PhoneReachability(ext, True))
            self.login(ext)
            self.send(AgentUnpause(ext))
        limit = self.desk.now + timedelta(days=2)
        while self.present() and self.desk.now < limit:
            for call_id, ext in sorted(self.ringing.items()):
                self.ringing.pop(call_id)
                self.send(OfferAnswered(call_id, ext))
                if call_id in self.callback_rings:
                    self.callback_rings.discard(call_id)
                    self.send(CallbackResult(call_id, True))
                self.send(TalkEnded(call_id))
            for call_id in sorted(self.legs):
                self.legs.pop(call_id)
                self.send(CallbackResult(call_id, True))
                self.send(TalkEnded(call_id))
            for call_id in sorted(self.talking):
                self.talking.pop(call_id)
                self.send(TalkEnded(call_id))
            for ext in EXTS:
                self.send(AgentUnpause(ext))
            self.advance(timedelta(minutes=2))
        snapshot = self.desk.engine.snapshot(self.desk.now)
        assert all(not q.callers for q in snapshot.queues), snapshot
        for call_id in self.joined:
            assert call_id in self.offered | self.left | self.followed | self.tasks, call_id


AcdMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestAcdProperties = AcdMachine.TestCase


@pytest.mark.parametrize("start", STARTS)
def test_teardown_alone_leaves_nobody_behind(start: str) -> None:
    machine = AcdMachine()
    machine.open_desk(start, set())
    for queue in QUEUES:
        machine.join(queue, None, spanish=True, front=False, number=True)
    machine.teardown()
