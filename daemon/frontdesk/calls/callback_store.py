"""Callbacks that outlive a restart.

A caller who chose a callback has hung up: their place lives only in the ACD. So each
change that a restart must know (accepted, an attempt made, the next try's time, the
escalation) goes to `sink` (the outbox: `pending_callbacks`, revisioned so a late replay
never revives a finished one), and so does its end (done, a task for staff, cancelled).
At the next start the pending ones come back (`hold`); the first resync takes them
(`take_held`) to feed them among the re-adopted callers at their original places.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from datetime import datetime

import structlog

from frontdesk.acd.lifecycle import CALLBACKS
from frontdesk.acd.model import (
    CallbackRestored,
    CallbackResult,
    CallbackTask,
    CallerJoined,
    CallerView,
    Command,
    Event,
)
from frontdesk.calls.queue_state import queue_order
from frontdesk.store.records import PendingCallback

log = structlog.get_logger("frontdesk.acd")
# A callback's caller as they joined, and where the engine has them now.
Current = Callable[[str], tuple[CallerJoined, CallerView] | None]


class DurableCallbacks:
    def __init__(self, now: Callable[[], datetime]) -> None:
        self.now = now
        self.sink: Callable[[PendingCallback], None] | None = None
        self._saved: dict[str, PendingCallback] = {}  # the last record given, per callback
        self._held: list[PendingCallback] | None = []  # None: the first resync took them

    # -- at start -------------------------------------------------------------------------
    def hold(self, callbacks: Iterable[PendingCallback]) -> list[PendingCallback]:
        """Keep the restored callbacks for the first resync; after it (a late database)
        they are returned to be restored at once, in queue order."""
        if self._held is not None:
            self._held.extend(callbacks)
            return []
        return sorted(callbacks, key=lambda c: queue_order(c.priority, c.enqueued_at))

    def take_held(self) -> list[PendingCallback]:
        held, self._held = self._held or [], None
        return held

    def known(self, call_id: str) -> bool:
        return call_id in self._saved

    def track(self, callback: PendingCallback) -> None:
        """A restored callback: what the database has is its last saved state."""
        self._saved[callback.call_id] = callback

    def given_up(self, callback: PendingCallback) -> None:
        """A restored callback that became a task at once (its queue left the plan)."""
        ended = dataclasses.replace(callback, status="task", revision=callback.revision + 1)
        self._give(dataclasses.replace(ended, at=self.now()))

    # -- after each engine step -----------------------------------------------------------
    def save(self, event: Event, commands: list[Command], current: Current) -> None:
        """Write each callback this event or its commands touched, if its state changed."""
        if self.sink is None:
            return
        touched = {getattr(item, "call_id", None) for item in (event, *commands)}
        for call_id in touched:
            if isinstance(call_id, str):
                self._save_one(call_id, event, commands, current(call_id))

    def _save_one(
        self,
        call_id: str,
        event: Event,
        commands: list[Command],
        now_at: tuple[CallerJoined, CallerView] | None,
    ) -> None:
        saved = self._saved.get(call_id)
        if now_at is not None and now_at[1].status in CALLBACKS:
            record = self._record(*now_at, saved)
            if saved is None or _changed(saved, record):
                self._saved[call_id] = record
                self._give(record)
        elif saved is not None:  # no longer pending: done, a task, or cancelled
            del self._saved[call_id]
            status = _how_it_ended(call_id, event, commands)
            revision = saved.revision + 1
            self._give(dataclasses.replace(saved, status=status, revision=revision, at=self.now()))

    def _record(
        self, joined: CallerJoined, view: CallerView, saved: PendingCallback | None
    ) -> PendingCallback:
        number = joined.callback_number
        assert number is not None  # the engine never takes a callback without one
        return PendingCallback(
            call_id=joined.call_id,
            revision=saved.revision + 1 if saved is not None else 1,
            status="pending",
            queue=joined.queue,
            priority=joined.priority,
            skill=joined.skill,
            language_skill=joined.language_skill,
            category=joined.category,
            language=joined.language,
            number=number,
            enqueued_at=joined.enqueued_at,
            attempts=view.callback_attempts,
            retry_at=view.retry_at,
            escalated=view.escalated,
            at=self.now(),
        )

    def _give(self, record: PendingCallback) -> None:
        if self.sink is None:
            return
        try:
            self.sink(record)
        except Exception:  # a record keeping bug must not stop a call
            log.exception("acd.callback_not_saved", call=record.call_id)


def joined_of(callback: PendingCallback) -> CallerJoined:
    """The caller as they first joined, from the stored callback."""
    return CallerJoined(
        call_id=callback.call_id,
        queue=callback.queue,
        enqueued_at=callback.enqueued_at,
        priority="front" if callback.priority == "front" else "normal",
        skill=callback.skill,
        language_skill=callback.language_skill,
        category=callback.category,
        callback_number=callback.number,
        language=callback.language,
    )


def restored_event(callback: PendingCallback) -> CallbackRestored:
    return CallbackRestored(
        joined_of(callback),
        attempts=callback.attempts,
        retry_at=callback.retry_at,
        escalated=callback.escalated,
    )


def _changed(saved: PendingCallback, record: PendingCallback) -> bool:
    """Worth a write: what a restart must know (attempts, the next try, the escalation)."""
    before = (saved.attempts, saved.retry_at, saved.escalated)
    return before != (record.attempts, record.retry_at, record.escalated)


def _how_it_ended(call_id: str, event: Event, commands: list[Command]) -> str:
    if any(isinstance(c, CallbackTask) and c.call_id == call_id for c in commands):
        return "task"
    if isinstance(event, CallbackResult) and event.answered:
        return "done"
    return "cancelled"
