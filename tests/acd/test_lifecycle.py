"""acd/lifecycle.py: the caller state machine, alone and as the engine drives it."""

from __future__ import annotations

from itertools import product

import pytest

from frontdesk.acd import (
    AgentState,
    CallerJoined,
    CallerLeft,
    Offer,
    OfferAnswered,
    TalkEnded,
)
from frontdesk.acd.lifecycle import (
    AVAILABLE,
    CALLBACKS,
    IN_QUEUE,
    TRANSITIONS,
    CallerState,
    IllegalTransition,
    advance,
)
from frontdesk.acd.model import AgentPause, CallerRequeued, CallTransferred, ConversationRestored
from frontdesk.plan import Plan
from tests.acd.support import Desk, only

S = CallerState
CHLOE = "2003"  # billing (30 s wrap-up)

ALLOWED = [(a, b) for a, targets in TRANSITIONS.items() for b in targets]
FORBIDDEN = [
    (a, b)
    for a, b in product(S, S)
    if b not in TRANSITIONS[a] and not (b is S.GONE and a is not S.GONE)
]


def test_every_state_has_a_transition_entry() -> None:
    assert set(TRANSITIONS) == set(S)


@pytest.mark.parametrize(("current", "wanted"), ALLOWED, ids=lambda s: str(s))
def test_allowed_transitions_advance(current: CallerState, wanted: CallerState) -> None:
    assert advance("c1", current, wanted) is wanted


@pytest.mark.parametrize("current", [s for s in S if s is not S.GONE], ids=str)
def test_any_state_but_gone_may_end(current: CallerState) -> None:
    assert advance("c1", current, S.GONE) is S.GONE


@pytest.mark.parametrize(("current", "wanted"), FORBIDDEN, ids=lambda s: str(s))
def test_every_other_move_is_illegal(current: CallerState, wanted: CallerState) -> None:
    with pytest.raises(IllegalTransition) as raised:
        advance("c1", current, wanted)
    assert (raised.value.current, raised.value.wanted) == (current, wanted)
    assert "c1" in str(raised.value)


def test_the_forbidden_list_holds_the_moves_that_matter() -> None:
    for pair in [
        (S.GONE, S.GONE),
        (S.GONE, S.WAITING),
        (S.TALKING, S.RINGING),
        (S.WAITING, S.TALKING),
        (S.TRANSFERRED, S.TALKING),
        (S.CALLBACK, S.WAITING),
        (S.CALLBACK_RETRY, S.CALLING_BACK),
    ]:
        assert pair in FORBIDDEN


def test_documented_transitions_are_exactly_these() -> None:
    assert ALLOWED
    assert set(ALLOWED) == {
        (S.WAITING, S.RINGING),
        (S.WAITING, S.CALLBACK),
        (S.RINGING, S.WAITING),
        (S.RINGING, S.TALKING),
        (S.RINGING, S.CALLBACK),
        (S.CALLBACK, S.CALLING_BACK),
        (S.CALLBACK_RETRY, S.CALLBACK),
        (S.CALLING_BACK, S.CALLBACK),
        (S.CALLING_BACK, S.CALLBACK_RETRY),
        (S.CALLING_BACK, S.TALKING),
        (S.TALKING, S.TRANSFERRED),
        (S.TALKING, S.WAITING),  # staff moved the caller to a queue
        (S.TRANSFERRED, S.WAITING),  # nobody answered the transfer: back in the queue
    }


def test_state_sets() -> None:
    # Still in a queue's order: everything before a conversation.
    assert {S.WAITING, S.RINGING, S.CALLBACK, S.CALLBACK_RETRY, S.CALLING_BACK} == IN_QUEUE
    # Offerable now: not being rung, not waiting out a retry.
    assert {S.WAITING, S.CALLBACK} == AVAILABLE
    # Hung up and waiting to be called back.
    assert {S.CALLBACK, S.CALLBACK_RETRY, S.CALLING_BACK} == CALLBACKS
    assert AVAILABLE <= IN_QUEUE
    assert CALLBACKS <= IN_QUEUE


# -- through the engine --------------------------------------------------------------------------
def test_engine_follows_a_caller_to_a_transfer_and_out(plan: Plan) -> None:
    desk = Desk(plan)
    assert desk.engine.state("c1") is S.GONE  # unknown
    desk.join("c1", "billing")
    assert desk.engine.state("c1") is S.WAITING

    out = desk.login(CHLOE)
    assert [o.call_id for o in only(out, Offer)] == ["c1"]
    assert desk.engine.state("c1") is S.RINGING

    desk.send(OfferAnswered("c1", CHLOE))
    assert desk.engine.state("c1") is S.TALKING
    assert desk.state(CHLOE) == "talking"

    out = desk.send(CallTransferred("c1"))
    assert desk.engine.state("c1") is S.TRANSFERRED
    assert out == [AgentState(CHLOE, "wrap_up")]
    assert desk.state(CHLOE) == "wrap_up"
    assert desk.engine.caller("c1") is not None  # still the engine's until they leave

    desk.advance(30)  # the wrap-up ends while the transferred caller talks on
    assert desk.state(CHLOE) == "idle"
    assert desk.engine.state("c1") is S.TRANSFERRED

    assert desk.send(CallerLeft("c1")) == []  # the agent's part ended at the transfer
    assert desk.engine.state("c1") is S.GONE
    assert desk.engine.caller("c1") is None
    assert desk.state(CHLOE) == "idle"


def test_restored_conversation_keeps_the_agent_until_talk_ends(plan: Plan) -> None:
    desk = Desk(plan)
    desk.login(CHLOE)
    joined = CallerJoined("c1", "billing", desk.now)
    out = desk.send(ConversationRestored(joined, CHLOE))
    assert out == [AgentState(CHLOE, "talking")]
    assert desk.engine.state("c1") is S.TALKING
    assert desk.waiting("billing") == []  # not in the queue's order

    desk.join("c2", "billing")  # Chloe is busy: nobody is offered c2
    assert desk.engine.state("c2") is S.WAITING

    out = desk.send(TalkEnded("c1"))
    assert out == [AgentState(CHLOE, "wrap_up")]
    assert desk.engine.state("c1") is S.GONE
    out = desk.advance(30)
    assert [o.call_id for o in only(out, Offer)] == ["c2"]


def test_a_requeued_caller_keeps_their_place_by_arrival(plan: Plan) -> None:
    """Staff move a caller they talk with to another queue: the agent goes to wrap-up,
    the caller waits in the new queue ahead of those who arrived after them."""
    desk = Desk(plan)
    desk.login("2003")  # Chloe: billing and the front desk
    first = desk.join("c1", "front_desk")
    (offer,) = [c for c in first if isinstance(c, Offer)]
    desk.send(OfferAnswered("c1", offer.ext))
    desk.send(AgentPause(offer.ext))  # busy with paperwork after the call
    desk.advance(30)
    desk.join("c2", "billing")  # arrived later than c1
    joined = desk.engine.caller("c1")
    assert joined is not None
    moved = CallerJoined("c1", "billing", joined.enqueued_at, category="billing")
    desk.send(CallerRequeued(moved))
    assert desk.engine.state("c1") is S.WAITING
    order = [c.call_id for c in desk.engine.snapshot(desk.now).queue("billing").callers]
    assert order == ["c1", "c2"]
    assert desk.engine.snapshot(desk.now).agent(offer.ext).state != "talking"
