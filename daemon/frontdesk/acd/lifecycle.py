"""A queued caller's life: one state machine, the only copy of where a caller stands.

The engine moves a caller through it (waiting, rung, called back, connected); the call
runtime asks the engine for the state (`AcdEngine.state`) and never keeps its own. Every
move goes through `advance`, which checks it against `TRANSITIONS` and raises
`IllegalTransition` for any other: a bug shows as an error, not as a caller stranded in
a state nothing leaves.

    waiting ──offer──▶ ringing ──answered──▶ talking ──transfer──▶ transferred
       ▲  ╲              │  ╲                   │                      │
       │   ╲ pressed 1   │   ╲ pressed 1        ▼                      ▼
       │    ▼            │    ▼                gone ◀──────────────── gone
       └──── ring failed ┘  callback ──offer──▶ calling_back ──patient answered──▶ talking
                              ▲    ▲                │
                              │    └── agent missed ┤
                        callback_retry ◀── patient missed

Any state but `gone` may end in `gone` (hung up, after hours, a task for staff). Staff
may move a caller they talk with to another queue, and a transfer nobody answers brings
the caller back: `talking` and `transferred` may go back to `waiting` (requeued, at
their place by arrival).
"""

from __future__ import annotations

from enum import StrEnum


class CallerState(StrEnum):
    WAITING = "waiting"  # on hold in the queue, offered to the next matching agent
    RINGING = "ringing"  # an agent's phone rings for them
    CALLBACK = "callback"  # hung up after pressing 1; keeps their place
    CALLBACK_RETRY = "callback_retry"  # the last callback went unanswered; waits to retry
    CALLING_BACK = "calling_back"  # the agent, then the patient, are being dialled
    TALKING = "talking"  # caller and agent are connected
    TRANSFERRED = "transferred"  # the agent handed the call on with their phone
    GONE = "gone"  # frontdesk is done with the call


TRANSITIONS: dict[CallerState, frozenset[CallerState]] = {
    CallerState.WAITING: frozenset({CallerState.RINGING, CallerState.CALLBACK}),
    CallerState.RINGING: frozenset(
        {CallerState.WAITING, CallerState.TALKING, CallerState.CALLBACK}
    ),
    CallerState.CALLBACK: frozenset({CallerState.CALLING_BACK}),
    CallerState.CALLBACK_RETRY: frozenset({CallerState.CALLBACK}),
    CallerState.CALLING_BACK: frozenset(
        {CallerState.CALLBACK, CallerState.CALLBACK_RETRY, CallerState.TALKING}
    ),
    CallerState.TALKING: frozenset({CallerState.TRANSFERRED, CallerState.WAITING}),
    CallerState.TRANSFERRED: frozenset({CallerState.WAITING}),
    CallerState.GONE: frozenset(),
}

# Callers still in a queue's order (shown on the board, counted in its depth).
IN_QUEUE = frozenset(
    {
        CallerState.WAITING,
        CallerState.RINGING,
        CallerState.CALLBACK,
        CallerState.CALLBACK_RETRY,
        CallerState.CALLING_BACK,
    }
)
# Callers an agent may be offered right now (the others are being rung or held).
AVAILABLE = frozenset({CallerState.WAITING, CallerState.CALLBACK})
# Callers who hung up and wait for frontdesk to call them back.
CALLBACKS = frozenset({CallerState.CALLBACK, CallerState.CALLBACK_RETRY, CallerState.CALLING_BACK})


class IllegalTransition(RuntimeError):
    def __init__(self, call_id: str, current: CallerState, wanted: CallerState) -> None:
        super().__init__(f"caller {call_id}: no transition from {current} to {wanted}")
        self.current, self.wanted = current, wanted


def advance(call_id: str, current: CallerState, wanted: CallerState) -> CallerState:
    """`wanted`, if a caller in `current` may move there (anything but `gone` may end)."""
    if wanted in TRANSITIONS[current] or (wanted is CallerState.GONE and current is not wanted):
        return wanted
    raise IllegalTransition(call_id, current, wanted)
