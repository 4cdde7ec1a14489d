"""A go-live test call carries its routing time into the ACD (issue 16).

Until it is answered, such a caller's open/closed checks run at its routed time plus
its age (`CallerJoined.clock_offset`); every other caller's at the real time. Durations
(max_wait, escalation, announcements) are the same in both: they count the real wait.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from frontdesk.acd import (
    AgentPause,
    CallbackAccepted,
    CallbackTask,
    CallerJoined,
    CallerRequeued,
    FollowAfterHours,
    Offer,
    OfferAnswered,
    OfferCallbackChoice,
    OfferFailed,
)
from frontdesk.plan import Plan
from tests.acd.support import Desk, only
from tests.conftest import local

FRIDAY_NIGHT = local("2026-12-04 23:30")  # every queue closed
MONDAY_9 = local("2026-12-07 09:00")  # billing open until 16:00
BILLING_CLOSES = local("2026-12-07 16:00")


def shift_to(routed: datetime, real: datetime) -> timedelta:
    """The offset a go-live call routed at `routed` carries when the real time is `real`."""
    return routed - real


@pytest.fixture
def night(plan: Plan) -> Desk:
    return Desk(plan, start=FRIDAY_NIGHT)


def test_a_caller_routed_in_business_hours_is_queued_and_offered_at_night(night: Desk) -> None:
    night.login("2003")
    out = night.join("golive", "billing", clock_offset=shift_to(MONDAY_9, night.now))
    assert only(out, FollowAfterHours) == []
    assert [o.ext for o in only(out, Offer)] == ["2003"]


def test_an_ordinary_caller_at_the_same_moment_still_follows_after_hours(night: Desk) -> None:
    night.login("2003")
    out = night.join("patient", "billing")
    assert out == [FollowAfterHours("patient", "billing")]


def test_a_missed_ring_keeps_the_caller_in_its_queue_at_its_routed_time(night: Desk) -> None:
    night.login("2003", "2001")
    night.join("golive", "billing", clock_offset=shift_to(MONDAY_9, night.now))
    out = night.send(OfferFailed("golive", "2003", "busy"))
    assert only(out, FollowAfterHours) == []
    assert night.waiting("billing") == ["golive"]


def test_the_queue_closes_for_the_caller_at_its_routed_time_plus_its_age(plan: Plan) -> None:
    """Real time Monday 10:00 (billing open for ordinary callers until 16:00); a go-live
    caller routed at 15:59 follows after hours a minute later, the ordinary one stays."""
    real = local("2026-11-30 10:00")
    desk = Desk(plan, start=real)
    desk.login("2003")
    desk.send(AgentPause("2003"))  # staffed, but nobody takes the callers
    routed = BILLING_CLOSES - timedelta(minutes=1)
    desk.join("golive", "billing", clock_offset=shift_to(routed, desk.now))
    desk.join("patient", "billing")
    assert only(desk.advance(timedelta(seconds=59)), FollowAfterHours) == []
    out = desk.advance(timedelta(seconds=2))
    assert only(out, FollowAfterHours) == [FollowAfterHours("golive", "billing")]
    assert desk.waiting("billing") == ["patient"]


def test_a_pending_callback_becomes_a_task_when_its_routed_time_closes(plan: Plan) -> None:
    real = local("2026-11-30 10:00")
    desk = Desk(plan, start=real)
    desk.login("2003")
    desk.send(AgentPause("2003"))
    routed = BILLING_CLOSES - timedelta(minutes=6)
    number = "+13125559901"
    offset = shift_to(routed, desk.now)
    desk.join("golive", "billing", callback_number=number, clock_offset=offset)
    assert only(desk.advance(timedelta(minutes=5)), OfferCallbackChoice)  # max_wait 5m
    desk.send(CallbackAccepted("golive"))
    out = desk.advance(timedelta(minutes=1, seconds=1))
    assert only(out, CallbackTask) == [CallbackTask("golive", number, "unrouted")]


def test_once_answered_the_call_lives_at_the_real_time(night: Desk) -> None:
    night.login("2003")
    joined = CallerJoined(
        "golive", "billing", night.now, clock_offset=shift_to(MONDAY_9, night.now)
    )
    night.send(joined)
    night.send(OfferAnswered("golive", "2003"))
    out = night.send(CallerRequeued(joined))  # the agent puts it back: real time, closed
    assert only(out, FollowAfterHours) == [FollowAfterHours("golive", "billing")]


def test_max_wait_counts_the_real_wait_whatever_the_shift(plan: Plan) -> None:
    real = local("2026-11-30 10:00")
    desk = Desk(plan, start=real)
    desk.login("2003")
    desk.send(AgentPause("2003"))
    desk.join("golive", "billing", callback_number="+13125559901", clock_offset=timedelta(hours=2))
    desk.join("patient", "billing", callback_number="+13125551001")
    out = desk.advance(timedelta(minutes=5))
    assert sorted(o.call_id for o in only(out, OfferCallbackChoice)) == ["golive", "patient"]
