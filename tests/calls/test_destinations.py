"""When a voicemail's callback is due, from the queue's schedule and its promised window."""

from __future__ import annotations

from frontdesk.calls.destinations import callback_due
from frontdesk.plan import Plan
from frontdesk.routing.clock import PracticeClock
from tests.conftest import local


def due(plan: Plan, queue: str, window: str, at: str) -> str | None:
    moment = callback_due(plan, PracticeClock(plan), queue, window, local(at))
    return moment.isoformat() if moment else None


def test_next_business_day_is_the_end_of_the_next_open_day(plan: Plan) -> None:
    assert (
        due(plan, "billing", "next business day", "2026-11-30 20:00") == "2026-12-01T16:00:00-06:00"
    )
    # Thursday evening: Friday billing closes at noon.
    assert (
        due(plan, "billing", "next business day", "2026-12-03 20:00") == "2026-12-04T12:00:00-06:00"
    )


def test_friday_evening_skips_the_weekend(plan: Plan) -> None:
    assert (
        due(plan, "scheduling", "next business day", "2026-12-04 18:00")
        == "2026-12-07T17:00:00-06:00"
    )


def test_same_day_is_today_while_today_is_still_open(plan: Plan) -> None:
    assert due(plan, "intake", "same day", "2026-11-30 07:00") == "2026-11-30T17:00:00-06:00"
    assert due(plan, "intake", "same day", "2026-11-30 20:00") == "2026-12-01T17:00:00-06:00"


def test_holidays_are_skipped(plan: Plan) -> None:
    # Wednesday before Thanksgiving: Thursday is the holiday, Friday is open.
    assert (
        due(plan, "scheduling", "next business day", "2026-11-25 18:00")
        == "2026-11-27T17:00:00-06:00"
    )
    # Dec 23: Dec 24 is closed (plan), Dec 25 is Christmas: Monday Dec 28.
    assert (
        due(plan, "scheduling", "next business day", "2026-12-23 18:00")
        == "2026-12-28T17:00:00-06:00"
    )


def test_unknown_queue_has_no_due_time(plan: Plan) -> None:
    assert due(plan, "nope", "same day", "2026-11-30 10:00") is None
