"""Who staffs a queue, and how long its callers wait when nobody does (docs/routing.md §3.2,
§4.7). Pure.

A queue is *staffed* while at least one of its members is logged in with a reachable
phone. A paused agent still staffs (a short, deliberate absence: they come back to the
callers); an agent whose phone AMI reports unregistered does not (nobody can answer
through it). The engine (`AcdEngine`: its queues' `staffed` count) and the router (the
set the ACD runtime keeps from `AgentState`) both judge by the agent's shown state, so
they always agree. New callers of an unstaffed queue follow its `after_hours` (the
router); callers already waiting do at their next `overflow_period` (the engine).
"""

from __future__ import annotations

from datetime import timedelta

from frontdesk.acd.model import AgentStatus
from frontdesk.plan.model import Queue

# How long a caller waits in an unstaffed queue that has neither `max_wait` nor
# `escalate_after`, before following its `after_hours`.
UNSTAFFED_WAIT = timedelta(minutes=5)

_OFF_DUTY: frozenset[AgentStatus] = frozenset({"logged_out", "unreachable"})


def staffs(state: AgentStatus | str) -> bool:
    """Whether an agent shown in `state` staffs their queues.

    Paused, wrap-up and busy agents do. `ringing` and `talking` win over `logged_out`
    and `unreachable` in the shown state (the phone is in use, the call goes on); once
    it is over the agent stops counting if they logged out or the phone is gone."""
    return state not in _OFF_DUTY


def overflow_period(queue: Queue) -> timedelta:
    """Each such period of waiting a caller is offered a callback (with `max_wait` only)
    and, in an unstaffed queue, moves on to `after_hours`: `max_wait`, else
    `escalate_after`, else `UNSTAFFED_WAIT`."""
    if queue.max_wait is not None:
        return queue.max_wait
    return queue.escalate_after if queue.escalate_after is not None else UNSTAFFED_WAIT
