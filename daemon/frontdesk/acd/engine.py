"""The ACD as a sans-IO state machine: `handle(event, now)` -> commands (see the package doc).

Each `handle` call runs three steps: apply the event, fire every timer due at `now`
(in time order), then match waiting callers to available agents. The matching keeps
one invariant between calls: no available agent can take the head of any group of
available callers. Only what changed since (new or changed group heads, newly
available agents, a head whose menu skill was just relaxed) is re-examined, so a decision
costs O(groups + available agents), not O(callers x agents).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from frontdesk.acd.hours import next_closing
from frontdesk.acd.lifecycle import CallerState
from frontdesk.acd.matching import best_agent, requested_skills
from frontdesk.acd.model import (
    AcdSnapshot,
    AgentLogin,
    AgentLogout,
    AgentOutsideCall,
    AgentPause,
    AgentState,
    AgentUnpause,
    AgentView,
    Announce,
    CallbackAccepted,
    CallbackRestored,
    CallbackResult,
    CallbackTask,
    CallerJoined,
    CallerLeft,
    CallerRequeued,
    CallerView,
    CallTransferred,
    CancelOffer,
    Command,
    ConversationRestored,
    Escalate,
    Event,
    FailReason,
    FollowAfterHours,
    Offer,
    OfferAnswered,
    OfferCallbackChoice,
    OfferFailed,
    PausedToggle,
    PhoneReachability,
    QueueView,
    StartCallback,
    TalkEnded,
    Tick,
)
from frontdesk.acd.ordering import SortedIndex, TimerId, TimerKind, Timers
from frontdesk.acd.staffing import overflow_period, staffs
from frontdesk.acd.state import Agent, Caller, GroupKey
from frontdesk.plan.model import Plan, Queue
from frontdesk.routing.clock import PracticeClock

ANNOUNCE_EVERY = timedelta(seconds=60)
HANDLE_TIME_SAMPLES = 20
_CALLER_TIMERS: tuple[TimerKind, ...] = (
    "ring",
    "announce",
    "overflow",
    "escalate",
    "relax",
    "callback_retry",
    "closes_for",
)


@dataclass(frozen=True)
class CallbackPolicy:
    """After a callback's patient leg is not answered: `retries` more tries, `retry_after` apart."""

    retries: int = 2
    retry_after: timedelta = timedelta(minutes=10)


class AcdEngine:
    def __init__(
        self, plan: Plan, clock: PracticeClock, callback_policy: CallbackPolicy | None = None
    ) -> None:
        self._plan = plan
        self._clock = clock
        self._policy = callback_policy or CallbackPolicy()
        self._agents = {s.extension: Agent(s) for s in plan.staff}
        self._callers: dict[str, Caller] = {}
        self._order = {name: SortedIndex() for name in plan.queues}
        self._groups: dict[GroupKey, SortedIndex] = {}  # available callers; never empty
        self._available = {name: set[str]() for name in plan.queues}
        # The same agents per queue, longest idle first (`_best_pair` may stop early).
        self._idle_order = {name: list[tuple[datetime, str]]() for name in plan.queues}
        self._top_scores: dict[tuple[str, tuple[str, ...]], int] = {}
        self._logged_in = dict.fromkeys(plan.queues, 0)
        self._staffed = dict.fromkeys(plan.queues, 0)  # members who staff it (staffing.py)
        self._handle_times = {
            name: deque[timedelta](maxlen=HANDLE_TIME_SAMPLES) for name in plan.queues
        }
        self._timers: Timers[TimerId] = Timers()
        self._dirty_groups: set[GroupKey] = set()
        self._dirty_agents: set[str] = set()
        self._out: list[Command] = []
        self._seq = 0
        self._now: datetime | None = None

    # -- public API ------------------------------------------------------------------------
    def handle(self, event: Event, now: datetime) -> list[Command]:
        now = _utc(now)
        self._now = now
        self._apply(event, now)
        while (timer := self._timers.pop_due(now)) is not None:
            self._fire(timer, now)
        self._dispatch(now)
        out, self._out = self._out, []
        return out

    def caller(self, call_id: str) -> CallerView | None:
        """One caller of the ACD as of the last event (None: not the ACD's, or gone)."""
        caller = self._callers.get(call_id)
        return self._caller_view(caller, self._now) if caller is not None else None

    def agent(self, ext: str) -> AgentView | None:
        """One agent as of the last event (None: not on the plan's staff)."""
        agent = self._agents.get(ext)
        return self._agent_view(agent, self._now) if agent is not None else None

    def state(self, call_id: str) -> CallerState:
        """Where the caller stands (`gone` for one the engine does not know)."""
        caller = self._callers.get(call_id)
        return caller.status if caller is not None else CallerState.GONE

    def next_deadline(self) -> datetime | None:
        """When the runtime must call `handle(Tick(), now)` next (None: nothing pending)."""
        return self._timers.next()

    def snapshot(self, now: datetime | None = None) -> AcdSnapshot:
        """Queues with their callers in order and agents with their state; `now` defaults to
        the moment of the last event."""
        at = _utc(now) if now is not None else self._now
        queues = tuple(self._queue_view(name, at) for name in self._plan.queues)
        agents = tuple(self._agent_view(agent, at) for agent in self._agents.values())
        return AcdSnapshot(at, queues, agents)

    # -- events ----------------------------------------------------------------------------
    def _apply(self, event: Event, now: datetime) -> None:
        match event:
            case CallerJoined():
                self._join(event, now)
            case CallerLeft(call_id):
                self._left(call_id, now)
            case AgentLogin(ext):
                self._login(ext, now)
            case AgentLogout(ext):
                self._logout(ext, now)
            case AgentPause(ext, reason):
                self._pause(ext, now, paused=True, reason=reason)
            case AgentUnpause(ext):
                self._pause(ext, now, paused=False)
            case PausedToggle(ext):
                agent = self._agents.get(ext)
                self._pause(ext, now, paused=agent is not None and not agent.paused)
            case PhoneReachability(ext, reachable):
                self._reachability(ext, reachable, now)
            case AgentOutsideCall(ext, active):
                self._outside_call(ext, active, now)
            case OfferAnswered(call_id, ext):
                self._answered(call_id, ext, now)
            case OfferFailed(call_id, ext, reason):
                self._failed(call_id, ext, reason, now)
            case TalkEnded(call_id):
                self._talk_ended(call_id, now)
            case CallbackAccepted(call_id):
                self._callback_accepted(call_id, now)
            case CallbackResult(call_id, answered):
                self._callback_result(call_id, answered, now)
            case CallbackRestored():
                self._restore(event, now)
            case CallTransferred(call_id):
                self._talk_ended(call_id, now, transferred=True)
            case CallerRequeued(joined):
                self._requeue(joined, now)
            case ConversationRestored(joined, ext):
                self._restore_conversation(joined, ext, now)
            case Tick():
                pass

    def _join(self, event: CallerJoined, now: datetime) -> None:
        if event.queue not in self._plan.queues:
            raise ValueError(f"caller {event.call_id} joined unknown queue '{event.queue}'")
        if event.call_id in self._callers:
            return  # a repeated event
        if not self._open(event.queue, now + event.clock_offset):
            # The router checks before joining; a race with closing time lands here.
            self._emit(FollowAfterHours(event.call_id, event.queue))
            return
        self._seq += 1
        caller = Caller(event, _utc(event.enqueued_at), self._seq)
        self._callers[caller.call_id] = caller
        self._order[caller.queue].add(caller.order)
        self._enter_group(caller)
        self._start_caller_timers(caller)
        self._watch(caller, now)

    def _restore(self, event: CallbackRestored, now: datetime) -> None:
        """A callback pending before a restart takes its original place again."""
        joined = event.joined
        if joined.queue not in self._plan.queues:
            raise ValueError(
                f"callback {joined.call_id} restored to unknown queue '{joined.queue}'"
            )
        if joined.call_id in self._callers:
            return  # a repeated event
        if joined.callback_number is None:
            raise ValueError(f"callback {joined.call_id} restored without a number")
        if not self._open(joined.queue, now + joined.clock_offset):  # as at closing time
            self._emit(CallbackTask(joined.call_id, joined.callback_number, joined.category))
            return
        retry_at = _utc(event.retry_at) if event.retry_at is not None else None
        retrying = retry_at is not None and retry_at > now
        self._seq += 1
        caller = Caller(joined, _utc(joined.enqueued_at), self._seq)
        caller.status = CallerState.CALLBACK_RETRY if retrying else CallerState.CALLBACK
        caller.escalated, caller.callback_failures = event.escalated, event.attempts
        self._callers[caller.call_id] = caller
        self._order[caller.queue].add(caller.order)
        if caller.available:
            self._enter_group(caller)
        self._start_caller_timers(caller)  # announcements and offers skip callbacks
        if retrying and retry_at is not None:
            self._timers.set(("callback_retry", caller.call_id), retry_at)
        self._watch(caller, now)

    def _restore_conversation(self, joined: CallerJoined, ext: str, now: datetime) -> None:
        """A conversation that outlived a restart: the pair stays, the agent is busy."""
        agent = self._agents.get(ext)
        if joined.call_id in self._callers or agent is None:
            return
        self._withdraw_ring(agent, now)  # rung for someone else meanwhile: they wait on
        if agent.call_id is not None:
            return  # already talking with another caller: this restored pair is stale
        self._seq += 1
        caller = Caller(joined, _utc(joined.enqueued_at), self._seq)
        caller.status, caller.agent = CallerState.TALKING, ext
        caller.clock_offset = timedelta()  # answered: real time from now on
        self._callers[caller.call_id] = caller
        agent.activity, agent.call_id, agent.call_queue = "talking", caller.call_id, caller.queue
        agent.talk_started = now
        self._refresh(agent, now)

    def _left(self, call_id: str, now: datetime) -> None:
        caller = self._callers.get(call_id)
        if caller is None:
            return
        if caller.status in (CallerState.TALKING, CallerState.TRANSFERRED):
            self._talk_ended(call_id, now)
            return
        if caller.agent is not None:
            agent = self._agents[caller.agent]
            if not caller.agent_answered:
                self._emit(CancelOffer(call_id, agent.ext))
            # The agent never spoke to this caller: they keep their place among idle agents.
            self._free(agent, now, keep_idle_since=not caller.agent_answered)
        self._drop(caller)

    def _login(self, ext: str, now: datetime) -> None:
        agent = self._agents.get(ext)
        if agent is None or agent.logged_in:
            return
        agent.logged_in, agent.paused, agent.pause_reason = True, False, None
        self._count_login(agent, +1)
        self._refresh(agent, now)

    def _logout(self, ext: str, now: datetime) -> None:
        agent = self._agents.get(ext)
        if agent is None or not agent.logged_in:
            return
        agent.logged_in, agent.paused, agent.pause_reason = False, False, None
        self._count_login(agent, -1)
        self._withdraw_ring(agent, now)
        self._refresh(agent, now)

    def _pause(self, ext: str, now: datetime, *, paused: bool, reason: str | None = None) -> None:
        """Pause (with `reason`, or None) or unpause; a paused agent paused again with
        another reason keeps pausing, for that reason (None keeps the one given)."""
        agent = self._agents.get(ext)
        if agent is None or not agent.logged_in:
            return
        if agent.paused == paused:
            if paused and reason is not None and reason != agent.pause_reason:
                agent.pause_reason = reason
                self._refresh(agent, now)
            return
        agent.paused, agent.pause_reason = paused, reason if paused else None
        if paused:
            self._withdraw_ring(agent, now)
        self._refresh(agent, now)

    def _reachability(self, ext: str, reachable: bool, now: datetime) -> None:
        agent = self._agents.get(ext)
        if agent is None or agent.reachable == reachable:
            return
        agent.reachable = reachable
        if not reachable:
            self._withdraw_ring(agent, now)
        self._refresh(agent, now)

    def _outside_call(self, ext: str, active: bool, now: datetime) -> None:
        """Busy on a call of their own while idle; free again when it ends."""
        agent = self._agents.get(ext)
        if agent is None:
            return
        if active and agent.activity == "idle":
            agent.activity = "busy"
        elif not active and agent.activity == "busy":
            agent.activity = "idle"
        self._refresh(agent, now)

    def _answered(self, call_id: str, ext: str, now: datetime) -> None:
        caller = self._ringing(call_id, ext)
        if caller is None:
            return
        agent = self._agents[ext]
        self._timers.cancel(("ring", call_id))
        agent.activity, agent.talk_started = "talking", now
        if caller.status is CallerState.CALLING_BACK:
            caller.agent_answered = True  # the runtime now dials the patient
        else:
            self._connect(caller)
        self._refresh(agent, now)

    def _failed(self, call_id: str, ext: str, reason: FailReason, now: datetime) -> None:
        caller = self._ringing(call_id, ext)
        if caller is not None:
            self._ring_failed(caller, self._agents[ext], reason, now)

    def _talk_ended(self, call_id: str, now: datetime, *, transferred: bool = False) -> None:
        """The conversation is over for the agent (wrap-up); the caller is gone, or
        `transferred` (theirs until `CallerLeft`)."""
        caller = self._callers.get(call_id)
        if caller is None:
            return
        if caller.status is CallerState.TRANSFERRED:
            self._forget(caller)
            return
        if caller.status is not CallerState.TALKING:
            if caller.agent_answered and not transferred:
                self._callback_result(call_id, False, now)  # the agent hung up first
            return
        agent = self._agents[caller.agent or ""]
        caller.agent = None
        if transferred:
            caller.move(CallerState.TRANSFERRED)
        else:
            self._forget(caller)
        self._after_talk(agent, now)

    def _after_talk(self, agent: Agent, now: datetime) -> None:
        """The agent's conversation is over: its handle time counts, then wrap-up."""
        queue = agent.call_queue or ""
        wrap_up = self._plan.queues[queue].wrap_up if queue in self._plan.queues else timedelta()
        if agent.talk_started is not None and queue in self._handle_times:
            self._handle_times[queue].append(now - agent.talk_started + wrap_up)
        agent.call_id, agent.call_queue, agent.talk_started = None, None, None
        agent.activity = "wrap_up" if wrap_up > timedelta() else "idle"
        if agent.activity == "wrap_up":
            self._timers.set(("agent_ready", agent.ext), now + wrap_up)
        self._refresh(agent, now)

    def _requeue(self, joined: CallerJoined, now: datetime) -> None:
        """A conversation (or a transfer) back into a queue, at its place by arrival."""
        caller = self._callers.get(joined.call_id)
        if caller is None or caller.status not in (CallerState.TALKING, CallerState.TRANSFERRED):
            return
        if joined.queue not in self._plan.queues:
            raise ValueError(f"caller {joined.call_id} requeued to unknown queue '{joined.queue}'")
        if caller.status is CallerState.TALKING and caller.agent is not None:
            agent = self._agents[caller.agent]
            caller.agent = None
            self._after_talk(agent, now)
        caller.move(CallerState.WAITING)
        if not self._open(joined.queue, self._at(caller, now)):
            self._emit(FollowAfterHours(joined.call_id, joined.queue))
            self._forget(caller)
            return
        caller.joined, caller.choice_offered = joined, False
        self._order[caller.queue].add(caller.order)
        self._enter_group(caller)
        self._start_caller_timers(caller, start=now)  # a new wait for its announcements
        self._watch(caller, now)

    def _callback_accepted(self, call_id: str, now: datetime) -> None:
        caller = self._callers.get(call_id)
        if caller is None or caller.callback_number is None:
            return
        if caller.status not in (CallerState.WAITING, CallerState.RINGING):
            return
        if caller.agent is not None:  # pressed 1 just as an agent's phone started ringing
            agent = self._agents[caller.agent]
            self._emit(CancelOffer(call_id, agent.ext))
            self._timers.cancel(("ring", call_id))
            caller.agent = None
            self._free(agent, now, keep_idle_since=True)
        for kind in ("announce", "overflow"):
            self._timers.cancel((kind, call_id))
        caller.choice_pending = False
        self._set_status(caller, CallerState.CALLBACK)

    def _callback_result(self, call_id: str, answered: bool, now: datetime) -> None:
        caller = self._callers.get(call_id)
        if caller is None or caller.status is not CallerState.CALLING_BACK or caller.agent is None:
            return
        agent = self._agents[caller.agent]
        self._timers.cancel(("ring", call_id))
        if answered:
            if not caller.agent_answered:
                agent.activity, agent.talk_started = "talking", now
            self._connect(caller)
            self._refresh(agent, now)
            return
        caller.agent, caller.agent_answered = None, False
        self._free(agent, now, keep_idle_since=False)
        caller.callback_failures += 1
        closed = not self._open(caller.queue, self._at(caller, now))
        if caller.callback_failures > self._policy.retries or closed:
            self._to_task(caller)
            return
        self._set_status(caller, CallerState.CALLBACK_RETRY)
        self._timers.set(("callback_retry", call_id), now + self._policy.retry_after)

    # -- timers ----------------------------------------------------------------------------
    def _fire(self, timer: TimerId, now: datetime) -> None:
        kind, key = timer
        if kind == "agent_ready":
            self._agent_ready(key, now)
        elif kind == "closing":
            self._closing(key, now)
        elif (caller := self._callers.get(key)) is not None:
            self._fire_caller(kind, caller, now)

    def _fire_caller(self, kind: TimerKind, caller: Caller, now: datetime) -> None:
        if kind == "ring" and caller.agent is not None and not caller.agent_answered:
            self._emit(CancelOffer(caller.call_id, caller.agent))
            self._ring_failed(caller, self._agents[caller.agent], "no_answer", now)
        elif kind == "announce":
            self._announce(caller, now)
        elif kind == "overflow":
            self._overflow(caller, now)
        elif kind == "escalate":
            self._escalate(caller, now)
        elif kind == "relax" and self._is_head(caller):
            self._dirty_groups.add(caller.group)
        elif kind == "callback_retry" and caller.status is CallerState.CALLBACK_RETRY:
            self._set_status(caller, CallerState.CALLBACK)
        elif kind == "closes_for":
            self._closing_for(caller, now)

    def _agent_ready(self, ext: str, now: datetime) -> None:
        agent = self._agents[ext]
        if agent.activity in ("wrap_up", "busy"):
            agent.activity = "idle"
            self._refresh(agent, now)

    def _closing(self, queue: str, now: datetime) -> None:
        if self._open(queue, now):
            self._watch_closing(queue, now)
            return
        for call_id in list(self._order[queue]):
            caller = self._callers[call_id]
            if not caller.shifted:  # (a go-live caller's schedule closes on its own timer)
                self._closed_on(caller)

    def _closing_for(self, caller: Caller, now: datetime) -> None:
        """A go-live caller's queue may close at the caller's routed time plus its age."""
        if self._open(caller.queue, self._at(caller, now)):
            self._watch(caller, now)
        else:
            self._closed_on(caller)

    def _closed_on(self, caller: Caller) -> None:
        """Closing time for one caller: after hours, or a task for a pending callback.
        Callers being rung right now keep ringing; if that fails they follow after hours."""
        if caller.status is CallerState.WAITING:
            self._emit(FollowAfterHours(caller.call_id, caller.queue))
            self._drop(caller)
        elif caller.status in (CallerState.CALLBACK, CallerState.CALLBACK_RETRY):
            self._to_task(caller)

    def _announce(self, caller: Caller, now: datetime) -> None:
        if caller.status is CallerState.WAITING:
            position = self._order[caller.queue].position(caller.order)
            self._emit(Announce(caller.call_id, position, self._estimate(caller.queue, position)))
        if caller.status in (CallerState.WAITING, CallerState.RINGING):
            when = _next_slot(caller.enqueued_at, ANNOUNCE_EVERY, now)
            self._timers.set(("announce", caller.call_id), when)

    def _overflow(self, caller: Caller, now: datetime) -> None:
        """Each `overflow_period` of waiting (docs/routing.md §4.5, §4.7): the callback
        offer; in an unstaffed queue, after hours for a caller with no offer left to make."""
        if caller.status not in (CallerState.WAITING, CallerState.RINGING):
            return
        queue = self._queue(caller)
        offer = queue.max_wait is not None and caller.callback_number is not None
        unstaffed = self._staffed[caller.queue] == 0  # so nobody rings for this caller
        first_offer = offer and not caller.choice_offered
        if unstaffed and caller.status is CallerState.WAITING and not first_offer:
            self._emit(FollowAfterHours(caller.call_id, caller.queue))
            self._drop(caller)
            return
        if offer and caller.status is CallerState.WAITING:
            self._offer_choice(caller)
        elif offer:
            caller.choice_pending = True  # offered when the ring ends without an answer
        period = overflow_period(queue)
        self._timers.set(("overflow", caller.call_id), _next_slot(caller.enqueued_at, period, now))

    def _escalate(self, caller: Caller, now: datetime) -> None:
        if caller.escalated:
            return
        caller.escalated = True
        recipients = self._escalation_recipients(caller.queue)
        waited = now - caller.enqueued_at
        self._emit(Escalate(caller.call_id, caller.queue, recipients, waited))

    def _escalation_recipients(self, queue: str) -> tuple[str, ...]:
        role = self._plan.queues[queue].escalate_to
        on_duty = [a for a in self._agents.values() if a.logged_in]
        by_role = [a.ext for a in on_duty if role is not None and role in a.staff.roles]
        if by_role:
            return tuple(by_role)
        return tuple(a.ext for a in on_duty if queue in a.staff.queues)

    # -- matching --------------------------------------------------------------------------
    def _dispatch(self, now: datetime) -> None:
        while (pair := self._best_pair(now)) is not None:
            self._offer(*pair, now)
        self._dirty_groups.clear()
        self._dirty_agents.clear()

    def _best_pair(self, now: datetime) -> tuple[Caller, Agent] | None:
        """The first caller in order that some available agent can take, with its best agent.

        Pairs where neither the group head nor the agent changed were already checked
        and did not match, so only dirty groups meet every agent and clean groups meet
        only the newly available agents.
        """
        if not self._dirty_groups and not self._dirty_agents:
            return None
        best: tuple[Caller, Agent] | None = None
        for group, index in self._groups.items():
            head = index.head()
            if head is None or (best is not None and head >= best[0].order):
                continue
            pool = self._available[group[0]]
            if group not in self._dirty_groups:
                pool = pool & self._dirty_agents
            if not pool:
                continue
            caller = self._callers[head[3]]
            relax_after = self._plan.queues[group[0]].skill_relax_after
            if group in self._dirty_groups:  # every agent, longest idle first
                agents = (self._agents[ext] for _, ext in self._idle_order[group[0]])
                top = self._top_score(group[0], caller)
                agent = best_agent(agents, caller, now, relax_after, top=top)
            else:
                agent = best_agent((self._agents[e] for e in pool), caller, now, relax_after)
            if agent is not None:
                best = (caller, agent)
        return best

    def _top_score(self, queue: str, caller: Caller) -> int:
        """The highest sum of the caller's requested skill levels in the queue's staff."""
        requested = requested_skills(caller)
        top = self._top_scores.get((queue, requested))
        if top is None:
            members = self._plan.members(queue)
            top = max((sum(m.level(s) for s in requested) for m in members), default=0)
            self._top_scores[queue, requested] = top
        return top

    def _offer(self, caller: Caller, agent: Agent, now: datetime) -> None:
        callback = caller.status is CallerState.CALLBACK
        self._set_status(caller, CallerState.CALLING_BACK if callback else CallerState.RINGING)
        caller.agent = agent.ext
        agent.activity, agent.call_id, agent.call_queue = "ringing", caller.call_id, caller.queue
        ring_timeout = self._queue(caller).ring_timeout
        self._timers.set(("ring", caller.call_id), now + ring_timeout)
        if callback:
            assert caller.callback_number is not None
            number, category = caller.callback_number, caller.category
            self._emit(StartCallback(caller.call_id, agent.ext, number, category))
        else:
            self._emit(Offer(caller.call_id, agent.ext, ring_timeout))
        self._refresh(agent, now)

    def _ring_failed(self, caller: Caller, agent: Agent, reason: FailReason, now: datetime) -> None:
        """Ring-no-answer pauses the agent; busy/declined rest them for the ring timeout;
        unreachable marks the phone so. The caller keeps their place."""
        self._timers.cancel(("ring", caller.call_id))
        agent.activity, agent.call_id, agent.call_queue = "idle", None, None
        if reason == "no_answer":
            agent.paused = agent.logged_in
        elif reason == "unreachable":
            agent.reachable = False
        else:
            agent.activity = "busy"
            self._timers.set(("agent_ready", agent.ext), now + self._queue(caller).ring_timeout)
        self._refresh(agent, now)
        self._release(caller, now)

    def _withdraw_ring(self, agent: Agent, now: datetime) -> None:
        """The agent became unavailable while their phone rang: cancel, the caller keeps place."""
        if agent.activity != "ringing" or agent.call_id is None:
            return
        caller = self._callers[agent.call_id]
        self._emit(CancelOffer(caller.call_id, agent.ext))
        self._timers.cancel(("ring", caller.call_id))
        agent.activity, agent.call_id, agent.call_queue = "idle", None, None
        self._release(caller, now)

    def _release(self, caller: Caller, now: datetime) -> None:
        """An offer ended without a conversation: back in place, or after hours if closed."""
        caller.agent, caller.agent_answered = None, False
        callback = caller.status is CallerState.CALLING_BACK
        if not self._open(caller.queue, self._at(caller, now)):
            if callback:
                self._to_task(caller)
            else:
                self._emit(FollowAfterHours(caller.call_id, caller.queue))
                self._drop(caller)
            return
        self._set_status(caller, CallerState.CALLBACK if callback else CallerState.WAITING)
        if caller.choice_pending and caller.status is CallerState.WAITING:
            caller.choice_pending = False
            self._offer_choice(caller)

    def _offer_choice(self, caller: Caller) -> None:
        caller.choice_offered = True
        self._emit(OfferCallbackChoice(caller.call_id))

    def _connect(self, caller: Caller) -> None:
        """Caller and agent talk: the caller leaves the queue, the engine keeps the pair."""
        assert caller.agent is not None
        self._leave_queue(caller)
        caller.move(CallerState.TALKING)
        caller.clock_offset = timedelta()  # answered: the routed time no longer counts

    def _free(self, agent: Agent, now: datetime, *, keep_idle_since: bool) -> None:
        agent.activity, agent.call_id, agent.call_queue, agent.talk_started = (
            "idle",
            None,
            None,
            None,
        )
        self._refresh(agent, now, keep_idle_since=keep_idle_since)

    # -- bookkeeping -----------------------------------------------------------------------
    def _refresh(self, agent: Agent, now: datetime, *, keep_idle_since: bool = False) -> None:
        """Re-derive availability and the shown state after any change to the agent."""
        eligible = agent.is_eligible()
        if eligible != agent.eligible:
            agent.eligible = eligible
            if eligible and (not keep_idle_since or agent.idle_since is None):
                agent.idle_since = now
            idle = (agent.idle_since or now, agent.ext)  # set while available
            for queue in agent.staff.queues:
                pool = self._available.get(queue)
                if pool is None or (agent.ext in pool) == eligible:
                    continue
                order = self._idle_order[queue]
                if eligible:
                    pool.add(agent.ext)
                    insort(order, idle)
                else:
                    pool.discard(agent.ext)
                    del order[bisect_left(order, idle)]
            if eligible:
                self._dirty_agents.add(agent.ext)
        shown = agent.display()
        if staffs(shown) != agent.staffing:
            agent.staffing = not agent.staffing
            for queue in agent.staff.queues:
                if queue in self._staffed:
                    self._staffed[queue] += 1 if agent.staffing else -1
        reason = agent.pause_reason if shown == "paused" else None
        if shown != agent.shown or reason != agent.shown_reason:
            agent.shown, agent.shown_reason, agent.since = shown, reason, now
            self._emit(AgentState(agent.ext, shown, reason))

    def _count_login(self, agent: Agent, delta: int) -> None:
        for queue in agent.staff.queues:
            if queue in self._logged_in:
                self._logged_in[queue] += delta

    def _set_status(self, caller: Caller, status: CallerState) -> None:
        was_available = caller.available
        caller.move(status)
        if was_available and not caller.available:
            self._leave_group(caller)
        elif caller.available and not was_available:
            self._enter_group(caller)

    def _enter_group(self, caller: Caller) -> None:
        group = caller.group
        index = self._groups.get(group)
        if index is None:
            index = self._groups[group] = SortedIndex()
        index.add(caller.order)
        if index.head() == caller.order:  # a new tail cannot match: the head did not
            self._dirty_groups.add(group)

    def _leave_group(self, caller: Caller) -> None:
        group = caller.group
        index = self._groups[group]
        was_head = index.head() == caller.order
        index.remove(caller.order)
        if not len(index):
            del self._groups[group]
        elif was_head:
            self._dirty_groups.add(group)

    def _is_head(self, caller: Caller) -> bool:
        index = self._groups.get(caller.group) if caller.available else None
        return index is not None and index.head() == caller.order

    def _start_caller_timers(self, caller: Caller, start: datetime | None = None) -> None:
        queue, call_id = self._queue(caller), caller.call_id
        start = start or caller.enqueued_at
        self._timers.set(("announce", call_id), start + ANNOUNCE_EVERY)
        self._timers.set(("overflow", call_id), start + overflow_period(queue))
        if queue.escalate_after is not None:
            self._timers.set(("escalate", call_id), start + queue.escalate_after)
        if caller.skill is not None:
            self._timers.set(("relax", call_id), start + queue.skill_relax_after)

    def _watch(self, caller: Caller, now: datetime) -> None:
        """Arm the closing check that applies to a caller now in a queue: the queue's own,
        or for a go-live caller one at its routed time (`closes_for`, in real time)."""
        if not caller.shifted:
            if self._timers.get(("closing", caller.queue)) is None:
                self._watch_closing(caller.queue, now)
            return
        schedule, shift = self._queue(caller).schedule, caller.clock_offset
        closes = next_closing(self._plan, self._clock, schedule, now + shift) - shift
        self._timers.set(("closes_for", caller.call_id), closes)

    def _watch_closing(self, queue: str, now: datetime) -> None:
        schedule = self._plan.queues[queue].schedule
        self._timers.set(("closing", queue), next_closing(self._plan, self._clock, schedule, now))

    def _to_task(self, caller: Caller) -> None:
        assert caller.callback_number is not None
        self._emit(CallbackTask(caller.call_id, caller.callback_number, caller.category))
        self._drop(caller)

    def _drop(self, caller: Caller) -> None:
        """A queued caller is done with: gone, after hours or a task."""
        self._leave_queue(caller)
        self._forget(caller)

    def _leave_queue(self, caller: Caller) -> None:
        if caller.available:
            self._leave_group(caller)
        order = self._order[caller.queue]
        order.remove(caller.order)
        for kind in _CALLER_TIMERS:
            self._timers.cancel((kind, caller.call_id))
        if not len(order):
            self._timers.cancel(("closing", caller.queue))

    def _forget(self, caller: Caller) -> None:
        caller.move(CallerState.GONE)
        del self._callers[caller.call_id]

    def _ringing(self, call_id: str, ext: str) -> Caller | None:
        """The caller if `ext` is being rung for them right now (else a stale event)."""
        caller = self._callers.get(call_id)
        if caller is None or caller.agent != ext or caller.agent_answered:
            return None
        if caller.status not in (CallerState.RINGING, CallerState.CALLING_BACK):
            return None
        return caller

    def _estimate(self, queue: str, position: int) -> timedelta | None:
        """Position x mean handle time (talk + wrap-up) / members on duty; None if unknown."""
        samples, staffed = self._handle_times[queue], self._staffed[queue]
        if not samples or staffed <= 0:
            return None
        mean = sum(samples, timedelta()) / len(samples)
        return timedelta(seconds=round((mean * position / staffed).total_seconds()))

    def _open(self, queue: str, now: datetime) -> bool:
        return self._clock.schedule_open(self._plan.queues[queue].schedule, now)

    @staticmethod
    def _at(caller: Caller, now: datetime) -> datetime:
        """The time a caller's schedule checks run at: a go-live caller's routed time plus
        its age until answered, else `now`."""
        return now + caller.clock_offset

    def _queue(self, caller: Caller) -> Queue:
        return self._plan.queues[caller.queue]

    def _emit(self, command: Command) -> None:
        self._out.append(command)

    # -- views -----------------------------------------------------------------------------
    def _queue_view(self, name: str, at: datetime | None) -> QueueView:
        callers = tuple(self._caller_view(self._callers[c], at) for c in self._order[name])
        logged_in, available = self._logged_in[name], len(self._available[name])
        return QueueView(name, callers, logged_in, available, self._staffed[name])

    def _caller_view(self, caller: Caller, at: datetime | None) -> CallerView:
        waited = at - caller.enqueued_at if at is not None else timedelta()
        return CallerView(
            call_id=caller.call_id,
            queue=caller.queue,
            priority=caller.priority,
            status=caller.status,
            enqueued_at=caller.enqueued_at,
            waited=waited,
            skill=caller.skill,
            language_skill=caller.language_skill,
            agent=caller.agent,
            escalated=caller.escalated,
            category=caller.category,
            callback_attempts=caller.callback_failures,
            retry_at=self._timers.get(("callback_retry", caller.call_id)),
            choice_offered=caller.choice_offered,
        )

    @staticmethod
    def _agent_view(agent: Agent, at: datetime | None) -> AgentView:
        in_state = at - agent.since if at is not None and agent.since is not None else None
        return AgentView(
            ext=agent.ext,
            name=agent.staff.name,
            state=agent.shown,
            since=agent.since,
            in_state=in_state,
            call_id=agent.call_id,
            queues=agent.staff.queues,
            logged_in=agent.logged_in,
            paused=agent.paused,
            pause_reason=agent.pause_reason if agent.paused else None,
        )


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"the ACD needs aware datetimes, got {moment!r}")
    return moment.astimezone(UTC)


def _next_slot(start: datetime, period: timedelta, now: datetime) -> datetime:
    """The first `start + k * period` (k >= 1) strictly after `now`."""
    if period <= timedelta():
        return now + timedelta(days=365)
    elapsed = max(now - start, timedelta())
    return start + period * (elapsed // period + 1)
