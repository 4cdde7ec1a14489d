"""The live board's model (web/board.py): alerts, service level today, masking, order."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from frontdesk.acd import AgentPause, PhoneReachability
from frontdesk.calls.events import (
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallbackTaskRaised,
    CallRouted,
    CallShed,
    CallStarted,
    EmergencyCallPlaced,
    EscalationRaised,
    GoliveCaseSeen,
    QueueJoined,
    VoicemailLeft,
    from_record,
)
from frontdesk.plan import Plan
from frontdesk.routing.destination import Decision, QueueDestination, Request
from frontdesk.routing.ivr import CallFacts
from frontdesk.web.board import MAX_ALERTS, BoardState, Viewer, board_view
from tests.acd.support import T0, Desk

ZONE = ZoneInfo("America/Chicago")
NUMBERS = {"c1": "+13125551001", "c2": "+17735550123", "c3": None}


def _view(desk: Desk, state: BoardState, viewer: Viewer) -> dict[str, object]:
    snapshot = desk.engine.snapshot(desk.now)
    return board_view(
        snapshot,
        state,
        viewer,
        number_of=NUMBERS.get,
        open_now={"front_desk": True},
        at=desk.now,
    )


def _queue(view: dict[str, object], name: str) -> dict[str, object]:
    queues = view["queues"]
    assert isinstance(queues, list)
    return next(q for q in queues if q["name"] == name)


def test_callers_are_listed_in_order_with_their_wait(plan: Plan) -> None:
    desk = Desk(plan)
    desk.join("c1", "front_desk")
    desk.now += timedelta(seconds=30)
    desk.join("c2", "front_desk")
    desk.now += timedelta(seconds=15)
    view = _view(desk, BoardState(ZONE), Viewer(full_numbers=True))
    queue = _queue(view, "front_desk")
    callers = queue["callers"]
    assert isinstance(callers, list)
    assert [(c["position"], c["call"], c["waited_s"]) for c in callers] == [
        (1, "c1", 45),
        (2, "c2", 15),
    ]
    assert queue["longest_wait_s"] == 45
    assert queue["open"] is True
    assert callers[0]["number"] == "+13125551001"


def test_numbers_are_masked_for_viewers_without_the_permission(plan: Plan) -> None:
    desk = Desk(plan)
    desk.join("c1", "front_desk")
    desk.join("c3", "front_desk")
    view = _view(desk, BoardState(ZONE), Viewer(full_numbers=False))
    callers = _queue(view, "front_desk")["callers"]
    assert isinstance(callers, list)
    shown = callers[0]["number"]
    assert shown != "+13125551001"
    assert "1001" not in shown[:-4] or shown.endswith("1001")  # at most the last digits
    assert "555" not in shown
    assert callers[1]["number"] is None  # withheld stays withheld


def test_me_is_the_viewers_own_agent(plan: Plan) -> None:
    desk = Desk(plan)
    ext = plan.staff[0].extension
    desk.login(ext)
    view = _view(desk, BoardState(ZONE), Viewer(full_numbers=False, extension=ext))
    me = view["me"]
    assert isinstance(me, dict)
    assert me["ext"] == ext
    assert me["state"] == "idle"
    assert "me" not in _view(desk, BoardState(ZONE), Viewer(full_numbers=True))


def test_a_pause_shows_its_reason(plan: Plan) -> None:
    desk = Desk(plan)
    desk.login("2001", "2002")
    desk.send(AgentPause("2001", "lunch"))
    desk.send(AgentPause("2002"))  # *47-like: no reason
    view = _view(desk, BoardState(ZONE), Viewer(full_numbers=False, extension="2001"))
    agents = view["agents"]
    assert isinstance(agents, list)
    shown = {a["ext"]: (a["state"], a["pause_reason"]) for a in agents}
    assert shown["2001"] == ("paused", "lunch")
    assert shown["2002"] == ("paused", None)
    assert shown["2003"] == ("logged_out", None)
    me = view["me"]
    assert isinstance(me, dict)
    assert me["pause_reason"] == "lunch"


def test_service_level_counts_answers_in_time_and_long_abandons() -> None:
    state = BoardState(ZONE)
    state.on_event(QueueJoined("a", "q"), T0)
    state.on_event(CallAnswered("a", "2001"), T0 + timedelta(seconds=20))
    state.on_event(QueueJoined("b", "q"), T0)
    state.on_event(CallAnswered("b", "2001"), T0 + timedelta(seconds=90))
    state.on_event(QueueJoined("c", "q"), T0)
    state.on_event(CallAbandoned("c"), T0 + timedelta(seconds=3))  # short
    state.on_event(QueueJoined("d", "q"), T0)
    state.on_event(CallAbandoned("d"), T0 + timedelta(seconds=40))
    state.on_event(CallAbandoned("e", "menu"), T0 + timedelta(seconds=40))  # never queued
    assert state.service_level_today("q", T0 + timedelta(minutes=5)) == 1 / 3
    assert state.service_level_today("other", T0) is None


def test_service_level_starts_again_each_local_day() -> None:
    state = BoardState(ZONE)
    state.on_event(QueueJoined("a", "q"), T0)
    state.on_event(CallAnswered("a", None), T0 + timedelta(seconds=5))
    assert state.service_level_today("q", T0 + timedelta(hours=1)) == 1.0
    assert state.service_level_today("q", T0 + timedelta(days=1)) is None


def test_escalation_alert_stays_until_acknowledged_once() -> None:
    state = BoardState(ZONE)
    assert state.on_event(EscalationRaised("a", "nurse_triage", 300, ("2004",)), T0)
    state.on_event(CallAnswered("a", None), T0 + timedelta(seconds=10))
    (alert,) = state.alerts
    assert (alert.kind, alert.waited_s, alert.call_state) == ("escalation", 300, "answered")
    assert alert.as_json()["recipients"] == ["2004"]
    assert state.acknowledge(alert.id, "nurse.kim", T0 + timedelta(minutes=1)) is alert
    assert state.acknowledge(alert.id, "someone.else", T0 + timedelta(minutes=2)) is alert
    assert alert.acknowledged_by == "nurse.kim"
    assert state.acknowledge(999, "nurse.kim", T0) is None


def test_callback_task_is_an_alert() -> None:
    state = BoardState(ZONE)
    state.on_event(CallbackTaskRaised("a", "billing"), T0)
    (alert,) = state.alerts
    assert (alert.kind, alert.category, alert.call_state) == ("callback_task", "billing", "gone")


def test_what_happens_before_the_queue_leaves_the_board_alone() -> None:
    state = BoardState(ZONE)
    facts = CallFacts("+13125550000", "+13125551002", None)
    decision = Decision(
        Request("billing", "billing", None), QueueDestination("billing", ()), "billing", False, None
    )
    for event in (
        CallStarted("a", facts),
        CallRouted("a", facts, decision, "en"),
        GoliveCaseSeen("a", "case-1"),
    ):
        assert state.on_event(event, T0) is False
    assert state.on_event(AgentStateChanged("2001", "idle"), T0)  # the snapshot moves
    assert state.alerts == []


def test_stored_alerts_come_back_even_when_damaged() -> None:
    state = BoardState(ZONE)
    damaged = from_record("escalation", "a", {"waited_s": "long", "recipients": 7})
    assert damaged is not None
    state.on_event(damaged, T0)
    (alert,) = state.alerts
    assert (alert.kind, alert.queue, alert.waited_s, alert.recipients) == (
        "escalation",
        None,
        None,
        (),
    )


def test_alerts_are_bounded_dropping_acknowledged_ones_first() -> None:
    state = BoardState(ZONE)
    state.on_event(EscalationRaised("keep-me", "q", None), T0)
    state.on_event(EscalationRaised("old-acked", "q", None), T0)
    state.acknowledge(2, "x", T0)
    for i in range(MAX_ALERTS - 1):  # one too many: the acknowledged one goes
        state.on_event(EscalationRaised(f"c{i}", "q", None), T0)
    calls = [a.call for a in state.alerts]
    assert len(calls) == MAX_ALERTS
    assert "old-acked" not in calls
    assert "keep-me" in calls


def test_callbacks_are_listed_apart_from_waiting_callers(plan: Plan) -> None:
    desk = Desk(plan)
    desk.join("c1", "front_desk")
    view = _view(desk, BoardState(ZONE), Viewer(full_numbers=True))
    assert view["callbacks"] == []
    assert view["alerts"] == []


def test_a_voicemail_is_an_alert_with_its_callback_due() -> None:
    state = BoardState(ZONE)
    event = VoicemailLeft(
        "a", "scheduling", category="scheduling", callback_due="2026-12-01T17:00:00-06:00"
    )
    state.on_event(event, T0)
    (alert,) = state.alerts
    assert (alert.kind, alert.box, alert.due) == ("voicemail", "scheduling", event.callback_due)
    assert (alert.category, alert.call_state) == ("scheduling", "gone")
    assert alert.as_json()["due"] == "2026-12-01T17:00:00-06:00"


def test_an_unreachable_phone_shows_and_leaves_its_queue_unstaffed(plan: Plan) -> None:
    desk = Desk(plan)
    desk.login("2003")  # Chloe: billing's only member
    desk.send(PhoneReachability("2003", reachable=False))
    view = _view(desk, BoardState(ZONE), Viewer(full_numbers=False))
    billing = _queue(view, "billing")
    assert (billing["logged_in"], billing["staffed"]) == (1, 0)
    agents = view["agents"]
    assert isinstance(agents, list)
    assert next(a for a in agents if a["ext"] == "2003")["state"] == "unreachable"
    desk.send(PhoneReachability("2003", reachable=True))
    assert (
        _queue(_view(desk, BoardState(ZONE), Viewer(full_numbers=False)), "billing")["staffed"] == 1
    )


def test_shed_calls_show_the_board_overloaded_for_a_minute(plan: Plan) -> None:
    desk = Desk(plan)
    state = BoardState(ZONE)
    assert _view(desk, state, Viewer(full_numbers=False))["overload"] is None
    assert state.on_event(CallShed("s1", "max_channels"), desk.now)
    desk.now += timedelta(seconds=30)
    state.on_event(CallShed("s2", "loop_lag"), desk.now)
    assert _view(desk, state, Viewer(full_numbers=False))["overload"] == {
        "shed_last_minute": 2,
        "reason": "loop_lag",
    }
    desk.now += timedelta(seconds=31)  # the first is over a minute old
    assert _view(desk, state, Viewer(full_numbers=False))["overload"] == {
        "shed_last_minute": 1,
        "reason": "loop_lag",
    }
    desk.now += timedelta(seconds=30)
    assert _view(desk, state, Viewer(full_numbers=False))["overload"] is None


def _alerts(view: dict[str, object]) -> list[dict[str, object]]:
    alerts = view["alerts"]
    assert isinstance(alerts, list)
    return alerts


def test_a_911_call_is_an_alert_first_on_the_board_until_acknowledged(plan: Plan) -> None:
    desk, state = Desk(plan), BoardState(ZONE)
    assert state.on_event(EmergencyCallPlaced("e1", "2003", "Chloe Martin"), desk.now)
    desk.now += timedelta(minutes=1)
    state.on_event(EscalationRaised("c1", "nurse_triage", 300), desk.now)  # newer
    first, second = _alerts(_view(desk, state, Viewer(full_numbers=False)))
    assert (first["kind"], first["extension"], first["staff_name"]) == (
        "emergency_call",
        "2003",
        "Chloe Martin",
    )
    assert (first["raised_at"], first["call_state"]) == (T0.isoformat(), "unknown")
    assert second["kind"] == "escalation"
    state.on_event(CallAbandoned("e1"), desk.now)  # nothing of frontdesk's ends it
    assert state.alerts[0].acknowledged_by is None
    state.acknowledge(state.alerts[0].id, "nurse.kim", desk.now)
    view = _view(desk, state, Viewer(full_numbers=False))
    assert [a["kind"] for a in _alerts(view)] == ["escalation", "emergency_call"]  # newest first
    assert view["zone"] == "America/Chicago"  # the times are shown in the practice's


def test_an_unacknowledged_911_alert_is_never_dropped() -> None:
    state = BoardState(ZONE)
    state.on_event(EmergencyCallPlaced("e1", "2003", None), T0)
    for i in range(MAX_ALERTS):  # one too many, none acknowledged: the oldest else goes
        state.on_event(EscalationRaised(f"c{i}", "q", None), T0)
    calls = [a.call for a in state.alerts]
    assert len(calls) == MAX_ALERTS
    assert calls[0] == "e1"
    assert "c0" not in calls


def test_a_stored_911_alert_comes_back_even_when_damaged() -> None:
    state = BoardState(ZONE)
    damaged = from_record("emergency_call", "e1", {"extension": 2003, "name": ["x"]})
    assert damaged is not None
    state.on_event(damaged, T0)
    (alert,) = state.alerts
    assert (alert.kind, alert.extension, alert.staff_name) == ("emergency_call", "", None)
