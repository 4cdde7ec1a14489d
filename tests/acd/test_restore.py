"""`CallbackRestored`: a callback pending before a restart takes its original place again."""

from __future__ import annotations

from datetime import timedelta

import pytest

from frontdesk.acd import (
    AgentPause,
    AgentUnpause,
    Announce,
    CallbackRestored,
    CallbackResult,
    CallbackTask,
    CallerJoined,
    Escalate,
    Offer,
    OfferAnswered,
    OfferCallbackChoice,
    StartCallback,
)
from frontdesk.plan import Plan
from tests.acd.support import T0, Desk, only
from tests.conftest import local

CHLOE, DANA = "2003", "2004"
NUMBER = "+13125551007"


@pytest.fixture
def desk(plan: Plan) -> Desk:
    return Desk(plan)


def restored(call_id: str, queue: str = "billing", **fields: object) -> CallbackRestored:
    progress = {k: fields.pop(k) for k in ("attempts", "retry_at", "escalated") if k in fields}
    fields.setdefault("enqueued_at", T0)
    joined = CallerJoined(call_id=call_id, queue=queue, callback_number=NUMBER, **fields)  # type: ignore[arg-type]
    return CallbackRestored(joined, **progress)  # type: ignore[arg-type]


def busy(desk: Desk, *exts: str) -> None:
    for ext in exts:
        desk.login(ext)
        desk.send(AgentPause(ext))


def test_a_restored_callback_keeps_its_place_before_later_callers(desk: Desk) -> None:
    busy(desk, CHLOE)
    desk.now = T0 + timedelta(minutes=20)  # the daemon was down for a while
    desk.join("late", "billing", enqueued_at=T0 + timedelta(minutes=10))
    desk.send(restored("cb", enqueued_at=T0 + timedelta(minutes=5), category="billing"))
    desk.join("early", "billing", enqueued_at=T0)
    assert desk.waiting("billing") == ["early", "cb", "late"]
    view = desk.engine.caller("cb")
    assert view is not None
    assert (view.status, view.enqueued_at, view.category) == (
        "callback",
        T0 + timedelta(minutes=5),
        "billing",
    )
    desk.send(AgentUnpause(CHLOE))
    assert only(desk.log, Offer)[-1].call_id == "early"


def test_a_restored_callback_is_called_back_at_its_turn(desk: Desk) -> None:
    busy(desk, CHLOE)
    desk.send(restored("cb", category="billing"))
    out = desk.send(AgentUnpause(CHLOE))
    assert only(out, StartCallback) == [StartCallback("cb", CHLOE, NUMBER, "billing")]


def test_a_front_priority_callback_stays_in_front(desk: Desk) -> None:
    busy(desk, CHLOE)
    desk.join("normal", "billing", enqueued_at=T0 - timedelta(minutes=5))
    desk.send(restored("cb", priority="front"))
    assert desk.waiting("billing") == ["cb", "normal"]


def test_attempts_made_before_the_restart_count_towards_the_task(desk: Desk) -> None:
    busy(desk, CHLOE)
    desk.send(restored("cb", attempts=2, category="billing"))
    assert desk.engine.caller("cb").callback_attempts == 2  # type: ignore[union-attr]
    desk.send(AgentUnpause(CHLOE))
    desk.send(OfferAnswered("cb", CHLOE))
    out = desk.send(CallbackResult("cb", answered=False))  # the third and last try
    assert only(out, CallbackTask) == [CallbackTask("cb", NUMBER, "billing")]
    assert desk.engine.caller("cb") is None


def test_a_pending_retry_waits_until_it_is_due(desk: Desk) -> None:
    desk.login(CHLOE)
    retry_at = desk.now + timedelta(minutes=4)
    out = desk.send(restored("cb", attempts=1, retry_at=retry_at))
    assert only(out, StartCallback) == []
    view = desk.engine.caller("cb")
    assert view is not None
    assert (view.status, view.retry_at) == ("callback_retry", retry_at)
    assert only(desk.advance(timedelta(minutes=3, seconds=59)), StartCallback) == []
    assert len(only(desk.advance(1), StartCallback)) == 1


def test_a_retry_that_fell_due_during_the_restart_is_made_at_once(desk: Desk) -> None:
    desk.login(CHLOE)
    out = desk.send(restored("cb", attempts=1, retry_at=T0 - timedelta(minutes=1)))
    assert len(only(out, StartCallback)) == 1


def test_a_callback_restored_after_closing_time_is_a_task(plan: Plan) -> None:
    desk = Desk(plan, start=local("2026-11-30 16:30"))  # billing closes at 16:00
    out = desk.send(restored("cb", enqueued_at=local("2026-11-30 15:50"), category="billing"))
    assert out == [CallbackTask("cb", NUMBER, "billing")]
    assert desk.waiting("billing") == []


def test_a_restored_callback_becomes_a_task_at_closing_time(plan: Plan) -> None:
    desk = Desk(plan, start=local("2026-11-30 15:50"))
    desk.send(restored("cb", enqueued_at=local("2026-11-30 15:40")))
    assert only(desk.advance(timedelta(minutes=10)), CallbackTask) == [
        CallbackTask("cb", NUMBER, "unrouted")
    ]


def test_a_restored_callback_hears_no_announcement_and_no_offer(desk: Desk) -> None:
    desk.send(restored("cb"))
    later = desk.advance(timedelta(minutes=30))
    assert only(later, Announce) == []
    assert only(later, OfferCallbackChoice) == []


def test_escalation_is_not_raised_twice(desk: Desk) -> None:
    busy(desk, DANA)
    desk.send(restored("done", "nurse_triage", escalated=True))
    desk.send(restored("due", "nurse_triage", enqueued_at=T0 + timedelta(minutes=1)))
    out = desk.advance(timedelta(minutes=9))
    assert [e.call_id for e in only(out, Escalate)] == ["due"]
    assert desk.engine.caller("due").escalated  # type: ignore[union-attr]


def test_a_repeated_restore_is_ignored(desk: Desk) -> None:
    desk.send(restored("cb"))
    assert desk.send(restored("cb", enqueued_at=T0 + timedelta(minutes=1))) == []
    assert desk.waiting("billing") == ["cb"]


def test_a_restore_to_an_unknown_queue_is_a_programming_error(desk: Desk) -> None:
    with pytest.raises(ValueError, match="unknown queue"):
        desk.send(restored("cb", "radiology"))
