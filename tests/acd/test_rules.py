"""docs/routing.md §4 on the reference plan, one test per rule, at the level of events and commands."""

from __future__ import annotations

from datetime import timedelta

import pytest

from frontdesk.acd import (
    AgentLogin,
    AgentLogout,
    AgentPause,
    AgentState,
    AgentUnpause,
    Announce,
    CallbackAccepted,
    CallbackResult,
    CallbackTask,
    CallerLeft,
    CancelOffer,
    Escalate,
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
from frontdesk.plan import Plan
from tests.acd.support import T0, Desk, only
from tests.conftest import local

ANA, BEN, CHLOE, DANA, ELI, FAY = "2001", "2002", "2003", "2004", "2005", "2006"
RING = timedelta(seconds=15)
NUMBER = "+13125551007"


@pytest.fixture
def desk(plan: Plan) -> Desk:
    return Desk(plan)


def answer_and_end(desk: Desk, call_id: str, ext: str) -> None:
    desk.send(OfferAnswered(call_id, ext))
    desk.send(TalkEnded(call_id))


# -- who takes the call -------------------------------------------------------------------------
def test_cardiology_caller_goes_to_the_highest_level_first(desk: Desk) -> None:
    desk.login(FAY, BEN, ANA)  # Fay has waited longest, but Ana has cardiology 3 > 2
    out = desk.join("c1", "scheduling", skill="cardiology")
    assert only(out, Offer) == [Offer("c1", ANA, RING)]
    assert AgentState(ANA, "ringing") in out


def test_cardiology_caller_goes_to_fay_when_ana_is_busy(desk: Desk) -> None:
    desk.login(ANA, BEN, FAY)
    desk.join("c1", "scheduling", skill="cardiology")
    out = desk.join("c2", "scheduling", skill="cardiology")
    assert only(out, Offer) == [Offer("c2", FAY, RING)]


def test_equal_levels_go_to_the_longest_idle(desk: Desk) -> None:
    desk.login(FAY, BEN)  # primary care: Ben 3, Fay 3; Fay idle first
    assert only(desk.join("c1", "scheduling", skill="primary_care"), Offer)[0].ext == FAY


def test_the_language_skill_counts_in_the_sum_of_levels(desk: Desk) -> None:
    desk.login(BEN, ANA)  # primary care: Ben 3, Ana 2 + spanish 5
    out = desk.join("c1", "scheduling", skill="primary_care", language_skill="spanish")
    assert only(out, Offer)[0].ext == ANA


def test_spanish_caller_is_never_offered_to_ben(desk: Desk) -> None:
    desk.login(BEN)
    assert desk.join("c1", "scheduling", skill="primary_care", language_skill="spanish") == []
    assert only(desk.advance(timedelta(minutes=10)), Offer) == []  # relaxation keeps the language
    out = desk.login(ANA)
    assert only(out, Offer) == [Offer("c1", ANA, RING)]


def test_menu_skill_is_relaxed_after_skill_relax_after(desk: Desk) -> None:
    desk.login(ANA)  # orthopedics 0
    assert desk.join("c1", "scheduling", skill="orthopedics") == []
    assert desk.engine.next_deadline() == T0 + timedelta(seconds=61)  # joined after the login
    assert only(desk.advance(59), Offer) == []
    out = desk.advance(1)
    assert only(out, Offer) == [Offer("c1", ANA, RING)]
    assert desk.now == T0 + timedelta(seconds=61)


def test_relaxed_caller_still_prefers_the_skilled_agent(desk: Desk) -> None:
    desk.login(ANA, BEN)
    desk.send(AgentPause(BEN))
    desk.join("c1", "scheduling", skill="orthopedics")
    desk.advance(30)
    desk.send(AgentUnpause(BEN))
    assert desk.log[-2:] == [Offer("c1", BEN, RING), AgentState(BEN, "ringing")]


def test_a_non_member_never_gets_the_call(desk: Desk) -> None:
    desk.login(DANA)  # nurse, not in scheduling
    desk.join("c1", "scheduling")
    assert only(desk.advance(timedelta(minutes=5)), Offer) == []


def test_urgent_caller_goes_to_the_front_and_to_any_nurse(desk: Desk) -> None:
    desk.login(DANA)
    desk.send(AgentPause(DANA))
    desk.join("c1", "nurse_triage", skill="clinical", language_skill="spanish")
    desk.advance(20)
    desk.join("c2", "nurse_triage", skill="clinical")
    desk.advance(20)
    desk.join("urgent", "nurse_triage", priority="front")  # no skills at all
    assert desk.waiting("nurse_triage") == ["urgent", "c1", "c2"]
    out = desk.send(AgentUnpause(DANA))
    assert only(out, Offer) == [Offer("urgent", DANA, RING)]


def test_front_priority_first_then_longest_waiting(desk: Desk) -> None:
    desk.login(FAY)
    desk.send(AgentPause(FAY))
    for call_id, priority in (("n1", "normal"), ("n2", "normal"), ("f1", "front"), ("f2", "front")):
        desk.join(call_id, "front_desk", priority=priority)
        desk.advance(1)
    served = []
    desk.send(AgentUnpause(FAY))
    for _ in range(4):
        offer = only(desk.log, Offer)[-1]
        served.append(offer.call_id)
        answer_and_end(desk, offer.call_id, FAY)
        desk.advance(timedelta(seconds=30))  # wrap-up
    assert served == ["f1", "f2", "n1", "n2"]


def test_an_agent_in_two_queues_takes_the_longest_waiting_of_both(desk: Desk) -> None:
    desk.login(FAY)
    desk.send(AgentPause(FAY))
    desk.join("referral", "referrals")
    desk.advance(5)
    desk.join("sched", "scheduling", skill="primary_care")
    out = desk.send(AgentUnpause(FAY))
    assert only(out, Offer)[0].call_id == "referral"


def test_unreachable_phone_is_never_offered_a_call(desk: Desk) -> None:
    desk.login(CHLOE)
    out = desk.send(PhoneReachability(CHLOE, reachable=False))
    assert AgentState(CHLOE, "unreachable") in out
    assert only(desk.join("c1", "billing"), Offer) == []
    out = desk.send(PhoneReachability(CHLOE, reachable=True))
    assert only(out, Offer) == [Offer("c1", CHLOE, RING)]


def test_logged_out_and_paused_agents_get_no_calls(desk: Desk) -> None:
    desk.login(CHLOE)
    desk.send(AgentLogout(CHLOE))
    assert desk.join("c1", "billing") == []
    desk.login(CHLOE)
    assert only(desk.log, Offer) == [Offer("c1", CHLOE, RING)]


# -- ringing ------------------------------------------------------------------------------------
def test_ring_timeout_cancels_pauses_and_the_caller_keeps_their_place(desk: Desk) -> None:
    desk.login(CHLOE)
    desk.join("c1", "billing")
    desk.advance(5)
    desk.join("c2", "billing")
    assert desk.engine.next_deadline() == T0 + timedelta(seconds=1) + RING
    out = desk.advance(10)
    assert out[:2] == [CancelOffer("c1", CHLOE), AgentState(CHLOE, "paused")]
    assert desk.waiting("billing") == ["c1", "c2"]
    snapshot = desk.engine.snapshot()
    assert snapshot.caller("c1") is not None
    assert snapshot.caller("c1").status == "waiting"  # type: ignore[union-attr]
    out = desk.send(PausedToggle(CHLOE))  # *47: back
    assert only(out, Offer) == [Offer("c1", CHLOE, RING)]


def test_ring_no_answer_moves_the_caller_on_to_the_next_agent(desk: Desk) -> None:
    desk.login(ANA, FAY)
    desk.join("c1", "scheduling", skill="cardiology")
    out = desk.send(OfferFailed("c1", ANA, "no_answer"))
    assert only(out, Offer) == [Offer("c1", FAY, RING)]
    assert desk.state(ANA) == "paused"


@pytest.mark.parametrize("reason", ["busy", "declined"])
def test_busy_or_declined_rests_the_agent_for_the_ring_timeout(desk: Desk, reason: str) -> None:
    desk.login(CHLOE)
    desk.join("c1", "billing")
    out = desk.send(OfferFailed("c1", CHLOE, reason))  # type: ignore[arg-type]
    assert AgentState(CHLOE, "busy") in out
    assert only(out, Offer) == []
    assert only(desk.advance(14), Offer) == []
    assert only(desk.advance(1), Offer) == [Offer("c1", CHLOE, RING)]


def test_unreachable_failure_marks_the_phone(desk: Desk) -> None:
    desk.login(CHLOE)
    desk.join("c1", "billing")
    desk.send(OfferFailed("c1", CHLOE, "unreachable"))
    assert desk.state(CHLOE) == "unreachable"
    out = desk.send(PhoneReachability(CHLOE, reachable=True))
    assert only(out, Offer) == [Offer("c1", CHLOE, RING)]


def test_caller_hanging_up_while_rung_frees_the_agent(desk: Desk) -> None:
    desk.login(CHLOE)
    desk.join("c1", "billing")
    out = desk.send(CallerLeft("c1"))
    assert out == [CancelOffer("c1", CHLOE), AgentState(CHLOE, "idle")]
    assert desk.waiting("billing") == []
    assert only(desk.join("c2", "billing"), Offer) == [Offer("c2", CHLOE, RING)]


def test_abandon_while_waiting_removes_the_caller(desk: Desk) -> None:
    desk.join("c1", "billing")
    desk.join("c2", "billing")
    assert desk.send(CallerLeft("c1")) == []
    assert desk.waiting("billing") == ["c2"]


@pytest.mark.parametrize(
    "event",
    [AgentLogout(CHLOE), AgentPause(CHLOE), PausedToggle(CHLOE), PhoneReachability(CHLOE, False)],
)
def test_agent_leaving_while_rung_cancels_the_offer(desk: Desk, event: object) -> None:
    desk.login(CHLOE)
    desk.join("c1", "billing")
    out = desk.send(event)  # type: ignore[arg-type]
    assert out[0] == CancelOffer("c1", CHLOE)
    assert desk.waiting("billing") == ["c1"]


def test_a_late_answer_after_the_ring_timeout_is_ignored(desk: Desk) -> None:
    desk.login(CHLOE)
    desk.join("c1", "billing")
    desk.advance(RING)
    assert desk.send(OfferAnswered("c1", CHLOE)) == []
    assert desk.state(CHLOE) == "paused"


def test_an_answer_arriving_with_a_late_tick_wins(desk: Desk) -> None:
    desk.login(CHLOE)
    desk.join("c1", "billing")
    out = desk.send(OfferAnswered("c1", CHLOE), at=desk.now + RING + timedelta(seconds=2))
    assert out == [AgentState(CHLOE, "talking")]


# -- talking and wrap-up ------------------------------------------------------------------------
def test_answer_talk_and_wrap_up(desk: Desk) -> None:
    desk.login(CHLOE)
    desk.join("c1", "billing")
    desk.join("c2", "billing")
    assert desk.send(OfferAnswered("c1", CHLOE)) == [AgentState(CHLOE, "talking")]
    assert desk.waiting("billing") == ["c2"]
    desk.advance(120)
    assert desk.send(TalkEnded("c1")) == [AgentState(CHLOE, "wrap_up")]
    assert desk.engine.next_deadline() == desk.now + timedelta(seconds=30)
    assert only(desk.advance(29), Offer) == []
    out = desk.advance(1)
    assert out[:2] == [AgentState(CHLOE, "idle"), Offer("c2", CHLOE, RING)]


def test_hang_up_during_the_conversation_ends_the_talk(desk: Desk) -> None:
    desk.login(CHLOE)
    desk.join("c1", "billing")
    desk.send(OfferAnswered("c1", CHLOE))
    assert desk.send(CallerLeft("c1")) == [AgentState(CHLOE, "wrap_up")]


def test_pause_during_a_call_takes_effect_after_wrap_up(desk: Desk) -> None:
    desk.login(CHLOE)
    desk.join("c1", "billing")
    desk.send(OfferAnswered("c1", CHLOE))
    assert desk.send(PausedToggle(CHLOE)) == []  # still talking
    desk.send(TalkEnded("c1"))
    assert only(desk.advance(30), AgentState) == [AgentState(CHLOE, "paused")]


def test_time_in_state_in_the_snapshot(desk: Desk) -> None:
    desk.send(AgentLogin(CHLOE))
    desk.advance(42)
    view = desk.engine.snapshot(desk.now).agent(CHLOE)
    assert (view.state, view.in_state) == ("idle", timedelta(seconds=42))


# -- announcements ------------------------------------------------------------------------------
def test_announcements_every_minute_with_position(desk: Desk) -> None:
    desk.join("c1", "billing")
    desk.join("c2", "billing")
    out = desk.advance(60)
    assert only(out, Announce) == [Announce("c1", 1, None), Announce("c2", 2, None)]
    assert only(desk.advance(59), Announce) == []
    assert len(only(desk.advance(1), Announce)) == 2


def test_estimated_wait_comes_from_handle_times(desk: Desk) -> None:
    desk.login(CHLOE)
    desk.join("c0", "billing")
    desk.send(OfferAnswered("c0", CHLOE))
    desk.advance(90)
    desk.send(TalkEnded("c0"))  # handle time 90 s + 30 s wrap-up
    desk.send(AgentPause(CHLOE))
    desk.join("c1", "billing")
    desk.join("c2", "billing")
    assert only(desk.advance(60), Announce) == [
        Announce("c1", 1, timedelta(minutes=2)),
        Announce("c2", 2, timedelta(minutes=4)),
    ]


# -- overflow: callbacks ------------------------------------------------------------------------
def test_callback_offer_at_max_wait_and_after_each_further_max_wait(desk: Desk) -> None:
    nurses_busy(desk, ANA)  # paused: the queue is staffed, nobody takes the calls
    desk.join("c1", "scheduling", callback_number=NUMBER)
    desk.join("anon", "scheduling")  # withheld caller ID: never offered
    start = desk.now
    out = desk.advance(timedelta(minutes=4))
    assert only(out, OfferCallbackChoice) == [OfferCallbackChoice("c1")]
    assert desk.now == start + timedelta(minutes=4)
    assert only(desk.advance(timedelta(minutes=3, seconds=59)), OfferCallbackChoice) == []
    assert only(desk.advance(1), OfferCallbackChoice) == [OfferCallbackChoice("c1")]
    assert only(desk.log, OfferCallbackChoice) == [OfferCallbackChoice("c1")] * 2


def test_callback_keeps_its_place_and_calls_the_agent_first(desk: Desk) -> None:
    desk.login(ANA)
    desk.send(AgentPause(ANA))
    t_join = desk.now
    desk.join("c1", "scheduling", callback_number=NUMBER, category="scheduling")
    desk.advance(60)
    desk.join("c2", "scheduling")
    desk.advance(timedelta(minutes=3))
    assert desk.send(CallbackAccepted("c1")) == []
    assert desk.waiting("scheduling") == ["c1", "c2"]
    out = desk.send(AgentUnpause(ANA))
    assert only(out, StartCallback) == [StartCallback("c1", ANA, NUMBER, "scheduling")]
    assert desk.engine.snapshot().caller("c1").enqueued_at == t_join  # type: ignore[union-attr]
    assert desk.send(OfferAnswered("c1", ANA)) == [AgentState(ANA, "talking")]
    assert desk.send(CallbackResult("c1", answered=True)) == []
    assert desk.waiting("scheduling") == ["c2"]
    desk.send(TalkEnded("c1"))
    assert only(desk.advance(30), Offer) == [Offer("c2", ANA, RING)]


def test_callback_accepted_stops_announcements_and_offers(desk: Desk) -> None:
    desk.join("c1", "scheduling", callback_number=NUMBER)
    desk.advance(timedelta(minutes=4))
    desk.send(CallbackAccepted("c1"))
    later = desk.advance(timedelta(minutes=10))
    assert only(later, Announce) == []
    assert only(later, OfferCallbackChoice) == []


def test_callback_without_a_number_is_refused(desk: Desk) -> None:
    desk.join("c1", "scheduling")
    desk.send(CallbackAccepted("c1"))
    assert desk.engine.snapshot().caller("c1").status == "waiting"  # type: ignore[union-attr]


def test_pressing_1_while_rung_cancels_the_ring(desk: Desk) -> None:
    desk.login(BEN)
    desk.join("c1", "scheduling", skill="cardiology", callback_number=NUMBER)
    desk.advance(60)  # relaxed: Ben rings
    out = desk.send(CallbackAccepted("c1"))
    assert out[0] == CancelOffer("c1", BEN)
    assert only(out, StartCallback) == [StartCallback("c1", BEN, NUMBER, "unrouted")]


def test_callback_offer_due_while_rung_is_played_when_the_ring_fails(desk: Desk) -> None:
    desk.login(CHLOE)
    desk.send(AgentPause(CHLOE))
    desk.join("c1", "billing", callback_number=NUMBER)
    desk.advance(timedelta(minutes=4, seconds=55))
    desk.send(AgentUnpause(CHLOE))  # rings across the 5 min mark
    assert only(desk.advance(10), OfferCallbackChoice) == []
    out = desk.advance(5)
    assert only(out, OfferCallbackChoice) == [OfferCallbackChoice("c1")]


def test_unanswered_callback_is_retried_then_left_as_a_task(desk: Desk) -> None:
    desk.login(CHLOE)
    desk.send(AgentPause(CHLOE))
    desk.join("c1", "billing", callback_number=NUMBER, category="billing")
    desk.send(CallbackAccepted("c1"))
    desk.send(AgentUnpause(CHLOE))
    for attempt in range(3):
        assert only(desk.log, StartCallback)[-1] == StartCallback("c1", CHLOE, NUMBER, "billing")
        desk.send(OfferAnswered("c1", CHLOE))
        out = desk.send(CallbackResult("c1", answered=False))
        assert AgentState(CHLOE, "idle") in out
        if attempt < 2:
            assert desk.engine.snapshot().caller("c1").status == "callback_retry"  # type: ignore[union-attr]
            assert only(desk.advance(timedelta(minutes=9, seconds=59)), StartCallback) == []
            assert len(only(desk.advance(1), StartCallback)) == 1
    assert only(out, CallbackTask) == [CallbackTask("c1", NUMBER, "billing")]
    assert desk.waiting("billing") == []


def test_agent_free_after_an_unanswered_callback_takes_the_next_caller(desk: Desk) -> None:
    desk.login(CHLOE)
    desk.send(AgentPause(CHLOE))
    desk.join("c1", "billing", callback_number=NUMBER)
    desk.send(CallbackAccepted("c1"))
    desk.join("c2", "billing")
    desk.send(AgentUnpause(CHLOE))
    desk.send(OfferAnswered("c1", CHLOE))
    out = desk.send(CallbackResult("c1", answered=False))
    assert only(out, Offer) == [Offer("c2", CHLOE, RING)]


def test_agent_leg_of_a_callback_not_answered_keeps_the_callback(desk: Desk) -> None:
    desk.login(CHLOE)
    desk.send(AgentPause(CHLOE))
    desk.join("c1", "billing", callback_number=NUMBER)
    desk.send(CallbackAccepted("c1"))
    desk.send(AgentUnpause(CHLOE))
    out = desk.advance(RING)
    assert out[:2] == [CancelOffer("c1", CHLOE), AgentState(CHLOE, "paused")]
    assert desk.engine.snapshot().caller("c1").status == "callback"  # type: ignore[union-attr]


# -- escalation ---------------------------------------------------------------------------------
def nurses_busy(desk: Desk, *exts: str) -> None:
    for ext in exts:
        desk.login(ext)
        desk.send(AgentPause(ext))


def test_escalation_at_escalate_after_to_the_charge_nurse_once(desk: Desk) -> None:
    nurses_busy(desk, DANA, ELI)
    start = desk.now
    desk.join("c1", "nurse_triage", skill="clinical")
    assert only(desk.advance(timedelta(minutes=7, seconds=59)), Escalate) == []
    out = desk.advance(1)
    assert only(out, Escalate) == [Escalate("c1", "nurse_triage", (DANA,), timedelta(minutes=8))]
    assert desk.now == start + timedelta(minutes=8)
    assert only(desk.advance(timedelta(minutes=30)), Escalate) == []


def test_escalation_goes_to_queue_members_when_no_charge_nurse_is_logged_in(desk: Desk) -> None:
    nurses_busy(desk, ELI)
    desk.join("c1", "nurse_triage", skill="clinical")
    out = desk.advance(timedelta(minutes=8))
    assert only(out, Escalate)[0].recipients == (ELI,)


def test_escalation_with_nobody_logged_in_still_alerts_the_dashboard(desk: Desk) -> None:
    nurses_busy(desk, ELI)
    desk.join("c1", "nurse_triage", callback_number=NUMBER)  # offered at 5 min, waits on
    desk.send(AgentLogout(ELI))
    assert only(desk.advance(timedelta(minutes=8)), Escalate)[0].recipients == ()


def test_escalation_is_only_for_queues_with_escalate_after(desk: Desk) -> None:
    desk.join("c1", "billing")
    assert only(desk.advance(timedelta(minutes=30)), Escalate) == []


def test_escalation_also_covers_a_caller_waiting_for_a_callback(desk: Desk) -> None:
    nurses_busy(desk, DANA)
    desk.join("c1", "nurse_triage", callback_number=NUMBER)
    desk.advance(timedelta(minutes=5))
    desk.send(CallbackAccepted("c1"))
    assert only(desk.advance(timedelta(minutes=3)), Escalate)[0].call_id == "c1"


# -- closing time and logouts -------------------------------------------------------------------
def test_callers_follow_after_hours_at_closing_time(plan: Plan) -> None:
    desk = Desk(plan, start=local("2026-11-30 16:58"))
    desk.join("c1", "scheduling")
    desk.join("c2", "scheduling", callback_number=NUMBER)
    desk.advance(60)
    desk.send(CallbackAccepted("c2"))
    assert desk.engine.next_deadline() == local("2026-11-30 17:00")
    out = desk.advance(timedelta(minutes=5))
    assert desk.now == local("2026-11-30 17:04")
    assert FollowAfterHours("c1", "scheduling") in out
    assert CallbackTask("c2", NUMBER, "unrouted") in out
    closing = [c for c in desk.log if isinstance(c, FollowAfterHours | CallbackTask)]
    assert all(desk.log.index(c) >= len(desk.log) - len(out) for c in closing)
    assert desk.waiting("scheduling") == []
    assert desk.engine.next_deadline() is None


def test_callers_follow_after_hours_exactly_at_closing(plan: Plan) -> None:
    desk = Desk(plan, start=local("2026-11-30 16:59:59"))
    desk.join("c1", "scheduling")
    assert desk.advance(1) == [FollowAfterHours("c1", "scheduling")]


def test_a_caller_joining_on_a_holiday_follows_after_hours_at_once(plan: Plan) -> None:
    desk = Desk(plan, start=local("2026-11-26 10:00"))  # Thanksgiving
    assert desk.join("c1", "nurse_triage") == [FollowAfterHours("c1", "nurse_triage")]


def test_each_queue_closes_on_its_own_schedule(plan: Plan) -> None:
    desk = Desk(plan, start=local("2026-12-04 11:55"))  # a Friday: billing closes at noon
    nurses_busy(desk, CHLOE, DANA)
    desk.join("bill", "billing")
    desk.join("nurse", "nurse_triage")
    out = desk.advance(timedelta(minutes=10))
    assert only(out, FollowAfterHours) == [FollowAfterHours("bill", "billing")]
    assert desk.waiting("nurse_triage") == ["nurse"]


def test_a_caller_rung_at_closing_keeps_the_ring_and_follows_if_unanswered(plan: Plan) -> None:
    desk = Desk(plan, start=local("2026-11-30 16:59:50"))
    desk.login(CHLOE)
    desk.join("c1", "front_desk")
    assert only(desk.advance(5), FollowAfterHours) == []  # 16:59:56, ringing, 17:00 passes
    out = desk.advance(10)
    assert CancelOffer("c1", CHLOE) in out
    assert FollowAfterHours("c1", "front_desk") in out


def test_logout_of_the_last_member_keeps_waiting_callers(desk: Desk) -> None:
    desk.login(CHLOE)
    desk.send(AgentPause(CHLOE))
    desk.join("c1", "billing", callback_number=NUMBER)
    out = desk.send(AgentLogout(CHLOE))
    assert out == [AgentState(CHLOE, "logged_out")]
    later = desk.advance(timedelta(minutes=5))
    assert only(later, FollowAfterHours) == []
    assert only(later, OfferCallbackChoice) == [OfferCallbackChoice("c1")]  # timers keep running
    assert desk.waiting("billing") == ["c1"]
    assert only(desk.login(CHLOE), Offer) == [Offer("c1", CHLOE, RING)]


def test_logout_of_the_last_member_then_closing_time(plan: Plan) -> None:
    desk = Desk(plan, start=local("2026-11-30 15:50"))  # billing closes at 16:00 Mon-Thu
    desk.login(CHLOE)
    desk.send(AgentPause(CHLOE))
    desk.join("c1", "billing")
    desk.send(AgentLogout(CHLOE))
    assert only(desk.advance(timedelta(minutes=15)), FollowAfterHours) == [
        FollowAfterHours("c1", "billing")
    ]


# -- odds and ends ------------------------------------------------------------------------------
def test_agent_state_notifications(desk: Desk) -> None:
    assert desk.send(AgentLogin(CHLOE)) == [AgentState(CHLOE, "idle")]
    assert desk.send(AgentLogin(CHLOE)) == []
    assert desk.send(PausedToggle(CHLOE)) == [AgentState(CHLOE, "paused")]
    assert desk.send(PausedToggle(CHLOE)) == [AgentState(CHLOE, "idle")]
    assert desk.send(AgentLogout(CHLOE)) == [AgentState(CHLOE, "logged_out")]
    assert desk.send(AgentPause(CHLOE)) == []  # not logged in
    assert desk.send(AgentLogin("9999")) == []  # not staff


def test_login_clears_a_pause(desk: Desk) -> None:
    desk.login(CHLOE)
    desk.send(AgentPause(CHLOE))
    desk.send(AgentLogout(CHLOE))
    assert desk.send(AgentLogin(CHLOE)) == [AgentState(CHLOE, "idle")]


def test_stale_events_are_ignored(desk: Desk) -> None:
    desk.login(CHLOE)
    for event in (
        CallerLeft("nobody"),
        OfferAnswered("nobody", CHLOE),
        OfferFailed("nobody", CHLOE, "busy"),
        TalkEnded("nobody"),
        CallbackAccepted("nobody"),
        CallbackResult("nobody", answered=True),
        Tick(),
    ):
        assert desk.send(event) == []
    desk.join("c1", "billing")
    assert desk.send(OfferAnswered("c1", ANA)) == []  # not the agent being rung
    assert desk.join("c1", "billing") == []  # repeated join


def test_snapshot_orders_callers_and_shows_the_agent_being_rung(desk: Desk) -> None:
    desk.login(CHLOE)
    desk.join("n1", "front_desk")
    desk.join("n2", "front_desk")
    desk.join("f1", "front_desk", priority="front")
    queue = desk.engine.snapshot().queue("front_desk")
    assert [c.call_id for c in queue.callers] == ["f1", "n1", "n2"]
    assert [(c.status, c.agent) for c in queue.callers][1] == ("ringing", CHLOE)


def test_naive_times_are_refused(desk: Desk) -> None:
    with pytest.raises(ValueError, match="aware"):
        desk.engine.handle(Tick(), T0.replace(tzinfo=None))


def test_unknown_queue_is_refused(desk: Desk) -> None:
    with pytest.raises(ValueError, match="unknown queue"):
        desk.join("c1", "nowhere")


def test_nothing_pending_means_no_deadline(desk: Desk) -> None:
    desk.login(ANA, BEN)
    assert desk.engine.next_deadline() is None
