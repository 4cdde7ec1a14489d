"""docs/routing.md §3.2 and §4.7: a queue whose logged-in members' phones are all
unreachable is unstaffed; its waiting callers move on at their max_wait."""

from __future__ import annotations

from datetime import timedelta

import pytest

from frontdesk.acd import (
    AgentLogout,
    AgentPause,
    AgentUnpause,
    Announce,
    CallbackAccepted,
    FollowAfterHours,
    Offer,
    OfferAnswered,
    OfferCallbackChoice,
    PhoneReachability,
    TalkEnded,
)
from frontdesk.acd.staffing import UNSTAFFED_WAIT, overflow_period, staffs
from frontdesk.plan import Plan
from tests.acd.support import Desk, only

CHLOE, DANA, ELI = "2003", "2004", "2005"  # Chloe is billing's only member
NUMBER = "+13125551007"
RING = timedelta(seconds=15)


@pytest.fixture
def desk(plan: Plan) -> Desk:
    return Desk(plan)


def staffed(desk: Desk, queue: str) -> tuple[int, int]:
    view = desk.engine.snapshot(desk.now).queue(queue)
    return view.logged_in, view.staffed


def unplugged(desk: Desk, ext: str) -> None:
    desk.send(PhoneReachability(ext, reachable=False))


def test_an_unreachable_phone_stops_staffing_a_paused_one_does_not(desk: Desk) -> None:
    desk.login(CHLOE)
    desk.send(AgentPause(CHLOE))
    assert staffed(desk, "billing") == (1, 1)
    unplugged(desk, CHLOE)
    assert staffed(desk, "billing") == (1, 0)
    assert staffed(desk, "front_desk") == (1, 0)
    desk.send(PhoneReachability(CHLOE, reachable=True))
    assert staffed(desk, "billing") == (1, 1)
    desk.send(AgentLogout(CHLOE))
    assert staffed(desk, "billing") == (0, 0)


def test_staffs_by_shown_state() -> None:
    on_duty = ("idle", "paused", "wrap_up", "busy", "ringing", "talking")
    assert all(staffs(state) for state in on_duty)
    assert not staffs("unreachable")
    assert not staffs("logged_out")


def test_a_conversation_keeps_staffing_until_it_ends(desk: Desk) -> None:
    desk.login(CHLOE)
    desk.join("c0", "billing")
    desk.send(OfferAnswered("c0", CHLOE))
    unplugged(desk, CHLOE)  # the phone drops off AMI mid-call: the call goes on
    assert staffed(desk, "billing") == (1, 1)
    desk.send(TalkEnded("c0"))
    assert desk.state(CHLOE) == "unreachable"
    assert staffed(desk, "billing") == (1, 0)


def test_a_waiting_caller_follows_after_hours_at_max_wait_once_no_phone_is_reachable(
    desk: Desk,
) -> None:
    desk.login(CHLOE)
    desk.send(AgentPause(CHLOE))
    start = desk.now
    desk.join("c1", "billing")  # withheld number: no callback to offer
    desk.advance(60)
    unplugged(desk, CHLOE)
    assert only(desk.advance(timedelta(minutes=3, seconds=59)), FollowAfterHours) == []
    assert desk.waiting("billing") == ["c1"]
    assert desk.advance(1) == [FollowAfterHours("c1", "billing")]  # billing's max_wait: 5 min
    assert desk.now == start + timedelta(minutes=5)
    assert desk.waiting("billing") == []
    assert desk.engine.next_deadline() is None


def test_a_callable_caller_is_offered_the_callback_first_then_moves_on(desk: Desk) -> None:
    desk.login(CHLOE)
    unplugged(desk, CHLOE)
    desk.join("c1", "billing", callback_number=NUMBER)
    out = desk.advance(timedelta(minutes=5))
    assert only(out, OfferCallbackChoice) == [OfferCallbackChoice("c1")]
    assert only(out, FollowAfterHours) == []
    assert only(desk.advance(timedelta(minutes=4, seconds=59)), FollowAfterHours) == []
    assert only(desk.advance(1), FollowAfterHours) == [FollowAfterHours("c1", "billing")]


def test_a_callback_taken_in_an_unstaffed_queue_keeps_its_place(desk: Desk) -> None:
    desk.login(CHLOE)
    unplugged(desk, CHLOE)
    desk.join("c1", "billing", callback_number=NUMBER)
    desk.advance(timedelta(minutes=5))
    desk.send(CallbackAccepted("c1"))
    assert only(desk.advance(timedelta(minutes=30)), FollowAfterHours) == []
    assert desk.waiting("billing") == ["c1"]


def test_a_caller_offered_while_staffed_moves_on_at_the_next_max_wait(desk: Desk) -> None:
    desk.login(CHLOE)
    desk.send(AgentPause(CHLOE))
    desk.join("c1", "billing", callback_number=NUMBER)
    assert only(desk.advance(timedelta(minutes=5)), OfferCallbackChoice) == [
        OfferCallbackChoice("c1")
    ]
    desk.advance(timedelta(minutes=4))
    unplugged(desk, CHLOE)
    out = desk.advance(timedelta(minutes=1))
    assert only(out, OfferCallbackChoice) == []
    assert only(out, FollowAfterHours) == [FollowAfterHours("c1", "billing")]


def test_the_phone_coming_back_in_time_keeps_the_caller(desk: Desk) -> None:
    desk.login(CHLOE)
    unplugged(desk, CHLOE)
    desk.join("c1", "billing")
    desk.advance(timedelta(minutes=3))
    out = desk.send(PhoneReachability(CHLOE, reachable=True))
    assert only(out, Offer) == [Offer("c1", CHLOE, RING)]


def test_a_staffed_queue_keeps_callers_past_max_wait(desk: Desk) -> None:
    desk.login(CHLOE)
    desk.send(AgentPause(CHLOE))  # paused still staffs: the caller waits for Chloe
    desk.join("c1", "billing")
    assert only(desk.advance(timedelta(minutes=30)), FollowAfterHours) == []
    assert only(desk.send(AgentUnpause(CHLOE)), Offer) == [Offer("c1", CHLOE, RING)]


def test_one_reachable_member_is_enough(desk: Desk) -> None:
    desk.login(DANA, ELI)
    desk.send(AgentPause(DANA))
    desk.send(AgentPause(ELI))
    unplugged(desk, ELI)
    desk.join("c1", "nurse_triage")
    assert only(desk.advance(timedelta(minutes=20)), FollowAfterHours) == []


def test_the_last_member_logging_out_counts_the_same(desk: Desk) -> None:
    desk.login(CHLOE)
    desk.send(AgentPause(CHLOE))
    desk.join("c1", "billing")
    desk.send(AgentLogout(CHLOE))
    assert only(desk.advance(timedelta(minutes=5)), FollowAfterHours) == [
        FollowAfterHours("c1", "billing")
    ]


@pytest.mark.parametrize(
    ("escalate_after", "limit"),
    [(timedelta(minutes=8), timedelta(minutes=8)), (None, UNSTAFFED_WAIT)],
)
def test_without_max_wait_escalate_after_or_the_default_limits_the_wait(
    plan: Plan, escalate_after: timedelta | None, limit: timedelta
) -> None:
    billing = plan.queues["billing"].model_copy(
        update={"max_wait": None, "escalate_after": escalate_after}
    )
    desk = Desk(plan.model_copy(update={"queues": {**plan.queues, "billing": billing}}))
    assert overflow_period(billing) == limit
    desk.login(CHLOE)
    unplugged(desk, CHLOE)
    desk.join("c1", "billing", callback_number=NUMBER)  # no max_wait: no callback offer
    out = desk.advance(limit - timedelta(seconds=1))
    assert only(out, FollowAfterHours) == []
    assert only(out, OfferCallbackChoice) == []
    assert only(desk.advance(1), FollowAfterHours) == [FollowAfterHours("c1", "billing")]


def test_the_wait_estimate_counts_only_members_on_duty(desk: Desk) -> None:
    desk.login(CHLOE)
    desk.join("c0", "billing")
    desk.send(OfferAnswered("c0", CHLOE))
    desk.advance(90)
    desk.send(TalkEnded("c0"))
    unplugged(desk, CHLOE)
    desk.join("c1", "billing", callback_number=NUMBER)
    desk.advance(60)
    assert only(desk.log, Announce)[-1] == Announce("c1", 1, None)
