"""The ACD: who of the waiting callers is offered to which agent, and when (docs/routing.md §4).

A sans-IO state machine like the IVR: `AcdEngine.handle(event, now)` returns commands,
`next_deadline()` says when the runtime must send `Tick()`, `snapshot()` feeds the
dashboard. No sockets, no asyncio, no clock reads: `now` (aware) comes with every event.

Rules (docs/routing.md §4.1, §4.2) in short: an eligible agent is a member of the queue, logged in,
reachable, unpaused and idle, holding (level > 0) the caller's language skill always
and the caller's menu skill during the queue's first `skill_relax_after` of the wait.
Callers go first by priority (`front` before `normal`), then by enqueue time; agents by
the sum of their levels in the requested skills, then the longest idle.

Choices where the spec is silent (the "Choice" notes of docs/routing.md §4):

- **Joining a closed or unstaffed queue.** A queue is staffed while a member is logged
  in with a reachable phone, paused or not (acd/staffing.py; `QueueView.staffed`). The
  router sends callers of an unstaffed queue to its after-hours target before they
  join. If one still joins (a logout raced the decision) they wait like the callers who
  were there when the queue lost its staff: they keep their place until someone is on
  duty again, the schedule closes, or their next `max_wait` (below). A caller joining
  while the schedule is closed follows after hours at once.
- **Unstaffed queues** (docs/routing.md §4.7): at each `max_wait` of a caller's wait
  (else `escalate_after`, else 5 min: `overflow_period`) while nobody is on duty, a
  caller never offered a callback who may be gets the offer; any other waiting caller
  gets `FollowAfterHours`. Callbacks keep their place.
- **Matching order.** Whenever several pairs become possible at once, the first caller
  in order who has any eligible agent is offered to their best agent, and so on. No
  caller is rung on two phones, no phone rings for two callers.
- **Longest idle** counts from when the agent last became available (login, unpause,
  end of wrap-up, phone back). A ring that ended because the caller hung up or chose a
  callback does not reset it; a conversation or a missed ring does.
- **Failed rings.** `no_answer` (also the engine's own ring timeout, which emits
  `CancelOffer`) pauses the agent: they are away from their desk and must unpause
  (*47). `busy` and `declined` do not pause; the agent is shown `busy` and rests for
  the queue's `ring_timeout`, so a phone that is busy is not rung again at once.
  `unreachable` marks the phone unreachable until AMI reports it registered again.
  In every case the caller keeps their place and order.
- **Agent becomes unavailable while rung** (logout, pause, phone lost): the offer is
  cancelled and the caller keeps their place. An agent logging out in a conversation
  finishes it; logging in clears a pause. Phones count as reachable until AMI says
  otherwise (Asterisk replays nothing after an AMI reconnect).
- **Shown states**: `ringing` and `talking` win, then `logged_out`, `unreachable`,
  `wrap_up`, `busy`, `paused`, `idle`. `AgentState` is emitted on every change (a
  pause carries its `reason`, None without one: `AgentPause(ext, reason)`; pausing
  again with another reason changes it, and a new `AgentState` says so). A missed ring
  and `*47` pause without a reason. `agent(ext)` also tells what the agent chose
  (`logged_in`, `paused`, `pause_reason`), whatever is shown: what a restart restores.
- **Announcements** every 60 s of wait (counted from the enqueue time) while the
  caller is waiting on hold, skipped while an agent's phone rings for them. Position
  counts every caller ahead in the queue, callbacks included. The estimated wait is
  position x mean handle time (talk + wrap-up, last 20 calls of the queue) / members
  on duty; None until a call of the queue has ended or when nobody is on duty.
- **Callback offer** at `max_wait` and each further `max_wait` (from the enqueue time),
  only for callers with a usable number. If one falls due while an agent's phone rings
  for the caller, it is played as soon as that ring fails. A caller who presses 1 while
  being rung gets the ring cancelled. A callback keeps the original enqueue time and
  priority; at its turn `StartCallback` rings the agent (ring timeout and failed rings as
  for an offer), `OfferAnswered` means the agent is on the line, `CallbackResult` tells
  about the patient leg. Not answered: the agent is free at once (no wrap-up), the
  callback is retried per `CallbackPolicy` (default: 2 more tries, 10 min apart, each
  time at its original place), then becomes a `CallbackTask`. `CallbackRestored` brings
  back a callback that was pending when frontdesk stopped (the runtime keeps them in
  PostgreSQL) at its original place, with its attempts, pending retry and escalation;
  if its queue is closed by then it becomes a `CallbackTask` at once.
- **Escalation** happens once per call at `escalate_after` of wait, whether the caller
  is on hold, being rung or waiting for a callback. Recipients: logged-in staff with
  the `escalate_to` role (members of any queue), else the logged-in members of the
  queue, else nobody (the alert still reaches the dashboard and the log).
- **Closing time** (schedule closed, holidays included): callers on hold get
  `FollowAfterHours`; pending callbacks become `CallbackTask`s (they cannot be
  transferred and the practice calls back next business day). A caller whose agent's
  phone is ringing at that moment keeps the ring; if it is not answered they follow
  after hours. Conversations are never touched.
- **Go-live test calls** (`CallerJoined.clock_offset`, docs/golive.md): until answered,
  every open/closed check of such a caller (joining, closing time on a timer of its own,
  a failed ring, an unanswered callback) runs at `now + clock_offset`, its routed time
  plus its age. Durations count the real wait; the queue's own closing leaves it alone.
- **Stale events** (an answer after the engine's ring timeout, an event for an unknown
  call or extension, a repeated join) are ignored. Events are applied first, then the
  timers due at `now`, so an answer that arrives with a late tick still wins. A join to
  a queue the plan does not have, or a naive `now`, is a programming error (ValueError).
- **Times** in the snapshot are UTC; the engine converts every `now` to UTC so that
  durations stay exact across daylight-saving changes. Schedules and holidays are read
  in practice time through `PracticeClock`.
"""

from frontdesk.acd.engine import AcdEngine, CallbackPolicy
from frontdesk.acd.lifecycle import CallerState
from frontdesk.acd.model import (
    AcdSnapshot,
    AgentLogin,
    AgentLogout,
    AgentOutsideCall,
    AgentPause,
    AgentState,
    AgentStatus,
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
    caller_joined,
)

__all__ = [
    "AcdEngine",
    "AcdSnapshot",
    "AgentLogin",
    "AgentLogout",
    "AgentOutsideCall",
    "AgentPause",
    "AgentState",
    "AgentStatus",
    "AgentUnpause",
    "AgentView",
    "Announce",
    "CallTransferred",
    "CallbackAccepted",
    "CallbackPolicy",
    "CallbackRestored",
    "CallbackResult",
    "CallbackTask",
    "CallerJoined",
    "CallerLeft",
    "CallerRequeued",
    "CallerState",
    "CallerView",
    "CancelOffer",
    "Command",
    "ConversationRestored",
    "Escalate",
    "Event",
    "FollowAfterHours",
    "Offer",
    "OfferAnswered",
    "OfferCallbackChoice",
    "OfferFailed",
    "PausedToggle",
    "PhoneReachability",
    "QueueView",
    "StartCallback",
    "TalkEnded",
    "Tick",
    "caller_joined",
]
