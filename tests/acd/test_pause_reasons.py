"""Pause reasons in the engine: `AgentPause(ext, reason)`, shown with the state, kept apart
from what the board shows (`agent(ext)`: logged in, paused, why) for a restart to restore."""

from __future__ import annotations

from datetime import timedelta

import pytest

from frontdesk.acd import (
    AgentLogin,
    AgentLogout,
    AgentPause,
    AgentState,
    AgentUnpause,
    OfferAnswered,
    OfferFailed,
    PausedToggle,
    TalkEnded,
)
from frontdesk.plan import Plan
from tests.acd.support import Desk

CHLOE = "2003"  # billing, front desk


@pytest.fixture
def desk(plan: Plan) -> Desk:
    return Desk(plan)


def chosen(desk: Desk, ext: str = CHLOE) -> tuple[bool, bool, str | None]:
    view = desk.engine.agent(ext)
    assert view is not None
    return view.logged_in, view.paused, view.pause_reason


def test_a_pause_carries_its_reason_and_a_new_reason_is_a_new_state(desk: Desk) -> None:
    desk.login(CHLOE)
    assert desk.send(AgentPause(CHLOE, "lunch")) == [AgentState(CHLOE, "paused", "lunch")]
    assert chosen(desk) == (True, True, "lunch")
    assert desk.engine.snapshot(desk.now).agent(CHLOE).pause_reason == "lunch"
    desk.now += timedelta(minutes=30)
    assert desk.send(AgentPause(CHLOE, "meeting")) == [AgentState(CHLOE, "paused", "meeting")]
    view = desk.engine.agent(CHLOE)
    assert view is not None
    assert view.since == desk.now
    assert desk.send(AgentPause(CHLOE, "meeting")) == []  # nothing new
    assert desk.send(AgentPause(CHLOE)) == []  # no reason keeps the one given
    assert chosen(desk) == (True, True, "meeting")
    assert desk.send(AgentUnpause(CHLOE)) == [AgentState(CHLOE, "idle")]
    assert chosen(desk) == (True, False, None)


def test_toggle_and_missed_ring_pause_without_a_reason(desk: Desk) -> None:
    desk.login(CHLOE)
    assert desk.send(PausedToggle(CHLOE)) == [AgentState(CHLOE, "paused")]
    assert chosen(desk) == (True, True, None)
    desk.send(PausedToggle(CHLOE))
    desk.join("c1", "billing")
    desk.send(OfferFailed("c1", CHLOE, "no_answer"))
    assert desk.state(CHLOE) == "paused"
    assert chosen(desk) == (True, True, None)


def test_login_and_logout_clear_the_reason(desk: Desk) -> None:
    desk.login(CHLOE)
    desk.send(AgentPause(CHLOE, "admin"))
    assert desk.send(AgentLogout(CHLOE)) == [AgentState(CHLOE, "logged_out")]
    assert chosen(desk) == (False, False, None)
    assert desk.send(AgentPause(CHLOE, "lunch")) == []  # not logged in
    assert desk.send(AgentLogin(CHLOE)) == [AgentState(CHLOE, "idle")]
    assert chosen(desk) == (True, False, None)


def test_a_pause_during_a_call_shows_when_the_call_is_over(desk: Desk) -> None:
    desk.login(CHLOE)
    desk.join("c1", "billing")
    desk.send(OfferAnswered("c1", CHLOE))
    assert desk.send(AgentPause(CHLOE, "lunch")) == []  # still talking on the board
    assert chosen(desk) == (True, True, "lunch")  # ...but the choice is made
    assert desk.engine.agent(CHLOE).pause_reason == "lunch"  # type: ignore[union-attr]
    assert desk.send(TalkEnded("c1")) == [AgentState(CHLOE, "wrap_up")]
    out = desk.advance(timedelta(seconds=60))
    assert AgentState(CHLOE, "paused", "lunch") in out


def test_an_unknown_extension_has_no_view(desk: Desk) -> None:
    assert desk.engine.agent("9999") is None
    assert desk.send(AgentPause("9999", "lunch")) == []
