"""calls/callback_store.py: callbacks that outlive a restart."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from structlog.testing import capture_logs

from frontdesk.acd import AgentPause, AgentUnpause, CallbackAccepted, OfferAnswered
from frontdesk.acd.lifecycle import CallerState
from frontdesk.acd.model import (
    AgentState,
    CallbackRestored,
    CallbackResult,
    CallbackTask,
    CallerJoined,
    CallerLeft,
    CallerView,
    Command,
    Event,
    StartCallback,
    Tick,
)
from frontdesk.calls.callback_store import DurableCallbacks, joined_of, restored_event
from frontdesk.plan import Plan
from frontdesk.store.records import PendingCallback
from tests.acd.support import Desk
from tests.conftest import local

T = local("2026-11-30 10:00")
NOW = T + timedelta(minutes=7)
NUMBER = "+13125551007"
JOINED = CallerJoined(
    call_id="c1",
    queue="billing",
    enqueued_at=T,
    priority="front",
    skill="invoices",
    language_skill="spanish",
    category="billing",
    callback_number=NUMBER,
    language="es",
)


def view(
    status: CallerState = CallerState.CALLBACK,
    attempts: int = 0,
    retry_at: datetime | None = None,
    escalated: bool = False,
) -> CallerView:
    return CallerView(
        call_id="c1",
        queue="billing",
        priority="front",
        status=status,
        enqueued_at=T,
        waited=NOW - T,
        skill="invoices",
        language_skill="spanish",
        agent=None,
        escalated=escalated,
        category="billing",
        callback_attempts=attempts,
        retry_at=retry_at,
    )


def pending(call_id: str = "c1", **fields: object) -> PendingCallback:
    values: dict[str, object] = {
        "call_id": call_id,
        "revision": 1,
        "status": "pending",
        "queue": "billing",
        "priority": "normal",
        "skill": None,
        "language_skill": None,
        "category": "billing",
        "language": "en",
        "number": NUMBER,
        "enqueued_at": T,
        "attempts": 0,
        "retry_at": None,
        "escalated": False,
        "at": T,
    }
    return PendingCallback(**(values | fields))  # type: ignore[arg-type]


class Store:
    """A `DurableCallbacks` with a list for a sink and a settable caller."""

    def __init__(self) -> None:
        self.callbacks = DurableCallbacks(lambda: NOW)
        self.written: list[PendingCallback] = []
        self.callbacks.sink = self.written.append
        self.current: tuple[CallerJoined, CallerView] | None = None

    def save(self, event: Event, commands: list[Command] | None = None) -> list[PendingCallback]:
        before = len(self.written)
        self.callbacks.save(event, commands or [], lambda call: self.current)
        return self.written[before:]

    def at(self, caller_view: CallerView | None) -> Store:
        self.current = (JOINED, caller_view) if caller_view is not None else None
        return self


@pytest.fixture
def store() -> Store:
    return Store()


# -- hold / take_held ----------------------------------------------------------------------------
def test_held_until_the_first_take() -> None:
    callbacks = DurableCallbacks(lambda: NOW)
    a, b, c = pending("a"), pending("b"), pending("c")
    assert callbacks.hold([a, b]) == []
    assert callbacks.hold([c]) == []
    assert callbacks.take_held() == [a, b, c]
    assert callbacks.take_held() == []


def test_after_the_take_callbacks_come_back_at_once_in_queue_order() -> None:
    callbacks = DurableCallbacks(lambda: NOW)
    callbacks.take_held()
    late = pending("late", enqueued_at=T + timedelta(minutes=5))
    early = pending("early")
    front = pending("front", priority="front", enqueued_at=T + timedelta(minutes=9))
    assert callbacks.hold([late, early, front]) == [front, early, late]
    assert callbacks.take_held() == []


# -- save: pending records -----------------------------------------------------------------------
def test_first_sight_writes_a_pending_record(store: Store) -> None:
    written = store.at(view()).save(CallbackAccepted("c1"))
    assert written == [
        PendingCallback(
            call_id="c1",
            revision=1,
            status="pending",
            queue="billing",
            priority="front",
            skill="invoices",
            language_skill="spanish",
            category="billing",
            language="es",
            number=NUMBER,
            enqueued_at=T,
            attempts=0,
            retry_at=None,
            escalated=False,
            at=NOW,
        )
    ]
    assert store.callbacks.known("c1")


def test_unchanged_state_is_not_written_again(store: Store) -> None:
    store.at(view()).save(CallbackAccepted("c1"))
    # Now being called back: the status changed, but nothing a restart needs.
    calling: list[Command] = [StartCallback("c1", "2003", NUMBER, "billing")]
    assert store.at(view(CallerState.CALLING_BACK)).save(Tick(), calling) == []
    assert store.save(OfferAnswered("c1", "2003")) == []


@pytest.mark.parametrize(
    "changed",
    [
        {"attempts": 1},
        {"retry_at": NOW + timedelta(minutes=10)},
        {"escalated": True},
    ],
    ids=["attempts", "retry_at", "escalated"],
)
def test_changes_a_restart_needs_are_written(store: Store, changed: dict[str, object]) -> None:
    store.at(view()).save(CallbackAccepted("c1"))
    written = store.at(view(**changed)).save(CallbackResult("c1", answered=False))  # type: ignore[arg-type]
    assert len(written) == 1
    record = written[0]
    assert (record.revision, record.status) == (2, "pending")
    assert {k: getattr(record, k) for k in changed} == changed


def test_waiting_callers_are_not_callbacks(store: Store) -> None:
    assert store.at(view(CallerState.WAITING)).save(CallbackAccepted("c1")) == []
    assert store.at(view(CallerState.RINGING)).save(Tick()) == []
    assert not store.callbacks.known("c1")


def test_events_and_commands_without_a_call_touch_nothing(store: Store) -> None:
    store.at(view())
    assert store.save(Tick(), [AgentState("2003", "idle")]) == []


def test_nothing_is_written_without_a_sink() -> None:
    callbacks = DurableCallbacks(lambda: NOW)
    callbacks.save(CallbackAccepted("c1"), [], lambda call: (JOINED, view()))
    assert not callbacks.known("c1")


# -- save: the end ---------------------------------------------------------------------------------
def test_answered_callback_is_done(store: Store) -> None:
    store.at(view(attempts=1)).save(CallbackAccepted("c1"))
    written = store.at(view(CallerState.TALKING, attempts=1)).save(CallbackResult("c1", True))
    assert [(r.status, r.revision, r.attempts, r.at) for r in written] == [("done", 2, 1, NOW)]
    assert not store.callbacks.known("c1")
    assert store.save(CallbackResult("c1", True)) == []  # ended once


def test_callback_that_became_a_task(store: Store) -> None:
    store.at(view()).save(CallbackAccepted("c1"))
    task = CallbackTask("c1", NUMBER, "billing")
    written = store.at(None).save(CallbackResult("c1", answered=False), [task])
    assert [(r.status, r.revision) for r in written] == [("task", 2)]


def test_task_seen_only_in_the_commands_of_a_tick(store: Store) -> None:
    store.at(view()).save(CallbackAccepted("c1"))
    written = store.at(None).save(Tick(), [CallbackTask("c1", NUMBER, "billing")])
    assert [(r.status, r.revision) for r in written] == [("task", 2)]


def test_task_of_another_call_does_not_count(store: Store) -> None:
    store.at(view()).save(CallbackAccepted("c1"))
    other = CallbackTask("c2", NUMBER, "billing")
    written = store.at(None).save(CallerLeft("c1"), [other])
    assert [(r.call_id, r.status) for r in written] == [("c1", "cancelled")]


def test_cancelled_callback(store: Store) -> None:
    store.at(view()).save(CallbackAccepted("c1"))
    store.at(view(attempts=2)).save(CallbackResult("c1", answered=False))
    written = store.at(None).save(CallerLeft("c1"))
    assert [(r.status, r.revision, r.attempts) for r in written] == [("cancelled", 3, 2)]


def test_unanswered_result_that_ends_it_without_a_task_is_cancelled(store: Store) -> None:
    store.at(view()).save(CallbackAccepted("c1"))
    written = store.at(None).save(CallbackResult("c1", answered=False))
    assert [r.status for r in written] == ["cancelled"]


def test_a_failing_sink_is_logged_not_raised() -> None:
    callbacks = DurableCallbacks(lambda: NOW)

    def broken(record: PendingCallback) -> None:
        raise OSError("disk full")

    callbacks.sink = broken
    with capture_logs() as logs:
        callbacks.save(CallbackAccepted("c1"), [], lambda call: (JOINED, view()))
        callbacks.save(CallerLeft("c1"), [], lambda call: None)
    assert [(e["event"], e["log_level"], e["call"]) for e in logs] == [
        ("acd.callback_not_saved", "error", "c1"),
        ("acd.callback_not_saved", "error", "c1"),
    ]


# -- restored callbacks ----------------------------------------------------------------------------
def test_tracked_callback_continues_its_revisions(store: Store) -> None:
    restored = pending(revision=4, attempts=1, priority="front")
    store.callbacks.track(restored)
    assert store.callbacks.known("c1")
    written = store.at(view(attempts=2)).save(CallbackResult("c1", answered=False))
    assert [(r.status, r.revision) for r in written] == [("pending", 5)]


def test_given_up_is_a_task_one_revision_on(store: Store) -> None:
    store.callbacks.given_up(pending(revision=3))
    assert [(r.status, r.revision, r.at) for r in store.written] == [("task", 4, NOW)]


def test_joined_of_and_restored_event() -> None:
    due = NOW + timedelta(minutes=3)
    stored = pending(
        priority="front",
        skill="invoices",
        language_skill="spanish",
        language="es",
        attempts=2,
        retry_at=due,
        escalated=True,
    )
    assert joined_of(stored) == JOINED
    event = restored_event(stored)
    assert event == CallbackRestored(JOINED, attempts=2, retry_at=due, escalated=True)


def test_a_saved_record_restores_the_caller_as_they_joined(store: Store) -> None:
    [record] = store.at(view()).save(CallbackAccepted("c1"))
    assert joined_of(record) == JOINED


# -- with the engine -------------------------------------------------------------------------------
class RecordingDesk(Desk):
    def __init__(self, plan: Plan) -> None:
        super().__init__(plan)
        self.store = DurableCallbacks(lambda: self.now)
        self.written: list[PendingCallback] = []
        self.store.sink = self.written.append
        self.joined: dict[str, CallerJoined] = {}

    def send(self, event: Event, at: datetime | None = None) -> list[Command]:
        if isinstance(event, CallerJoined):
            self.joined[event.call_id] = event
        out = super().send(event, at)
        self.store.save(event, out, self.current)
        return out

    def current(self, call: str) -> tuple[CallerJoined, CallerView] | None:
        view = self.engine.caller(call)
        return (self.joined[call], view) if view is not None else None


def test_a_callback_through_the_engine(plan: Plan) -> None:
    chloe = "2003"
    desk = RecordingDesk(plan)
    desk.login(chloe)
    desk.send(AgentPause(chloe))
    desk.join("c1", "billing", callback_number=NUMBER, category="billing")
    assert desk.written == []  # waiting: not a callback yet
    desk.send(CallbackAccepted("c1"))
    desk.send(AgentUnpause(chloe))  # calling back
    desk.send(OfferAnswered("c1", chloe))
    desk.send(CallbackResult("c1", answered=False))  # patient missed: retry in 10 min
    desk.advance(timedelta(minutes=10))  # calling back again
    desk.send(OfferAnswered("c1", chloe))
    desk.send(CallbackResult("c1", answered=True))
    rows = [(r.revision, r.status, r.attempts, r.retry_at is not None) for r in desk.written]
    assert rows == [
        (1, "pending", 0, False),
        (2, "pending", 1, True),
        (3, "pending", 1, False),  # the retry fell due
        (4, "done", 1, False),
    ]
    assert all(joined_of(r) == desk.joined["c1"] for r in desk.written)
