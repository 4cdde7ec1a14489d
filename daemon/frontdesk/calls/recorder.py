"""The daemon's own facts about each call, as records for the outbox. No I/O here.

`CallRecorder.on_hub` listens to the event hub (calls/hub.py). Each fact about a call
(calls/events.py: its start, its routing, then what the ACD, voicemail and transfers
report) becomes a `CallEvent` row (the fact's stored `kind` and its data) and, where it
changes the call's summary row, a `CallUpsert`; every record carries its own unique key,
so a replay of the spool stores it once. Agent state changes become `AgentStateChange`
rows (a pause with its reason), and each login, logout, pause and unpause the agent's
`AgentPresence` (`agent_presence`: what a restart restores), revisioned so that a late
record never undoes a newer one. The sink is the outbox: `put` never blocks a call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, Protocol

from frontdesk.calls.events import (
    FINISHING,
    AgentPresenceChanged,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallbackChosen,
    CallbackOffered,
    CallbackTaskRaised,
    CallFact,
    CallInterrupted,
    CallRouted,
    CallStarted,
    ConversationEnded,
    EscalationRaised,
    ExternalTransferConnected,
    HubEvent,
    PhoneTransferred,
    QueueJoined,
    SentAfterHours,
    StaffTransferred,
    VoicemailLeft,
)
from frontdesk.store.records import (
    AgentPresence,
    AgentStateChange,
    CallEvent,
    CallUpsert,
    Record,
    new_key,
)

# fact -> the call row's fields it sets (besides the event itself)
_ROW_FIELDS: dict[type[CallFact], dict[str, Any]] = {
    CallAnswered: {"outcome": "answered"},
    CallAbandoned: {"abandoned": True, "outcome": "abandoned"},
    VoicemailLeft: {"voicemail": True, "outcome": "voicemail"},
    CallbackOffered: {"callback_offered": True},
    CallbackChosen: {"callback_accepted": True, "outcome": "callback"},
    CallbackTaskRaised: {"outcome": "callback"},
    ExternalTransferConnected: {"outcome": "transferred_external"},
    PhoneTransferred: {"transferred": True},  # staff moved the call (a phone's transfer button)
    StaffTransferred: {"transferred": True},  # ... or through frontdesk
    EscalationRaised: {"escalated": True},
    CallInterrupted: {"outcome": "interrupted"},
}

# facts after which the caller no longer waits in a queue (the end of `wait_s`)
_WAIT_ENDS = (CallAbandoned, VoicemailLeft, CallbackChosen, SentAfterHours)


class RecordSink(Protocol):
    def put(self, record: Record) -> None: ...


class CallRecorder:
    def __init__(
        self, sink: RecordSink, now: Callable[[], datetime], *, dsn: str | None = None
    ) -> None:
        self.sink = sink
        self.now = now
        self.dsn = dsn  # where the records go (the caller lookup reads from there too)
        self.on_finished: Callable[[dict[str, Any]], None] | None = None  # e.g. the webhook
        self._rows: dict[str, dict[str, Any]] = {}  # what we wrote per call, until it ends
        self._joined: dict[str, datetime] = {}  # for wait_s
        self._answered: dict[str, datetime] = {}  # for talk_s
        # `agent_presence` revisions: microseconds of the wall clock (not the practice
        # clock, which a demo shifts), so they grow across restarts; never below one stored.
        self.revision_clock: Callable[[], int] = lambda: time.time_ns() // 1000
        self._revision = 0

    def on_hub(self, event: HubEvent) -> None:
        """The hub's listener: every fact, and agent state changes."""
        at = self.now()
        match event:
            case AgentStateChanged(ext=ext, state=state, reason=reason):
                self.sink.put(AgentStateChange(ext, at, state, reason))
            case AgentPresenceChanged():
                self._presence(event, at)
            case CallStarted():
                self._started(event, at)
            case CallRouted():
                self._routed(event, at)
            case _:
                self._fact(event, at)

    def presence_stored(self, revisions: Iterable[int]) -> None:
        """The revisions read back at start: later records must be newer than all of them."""
        self._revision = max(self._revision, *revisions, 0)

    def _presence(self, changed: AgentPresenceChanged, at: datetime) -> None:
        self._revision = max(self._revision + 1, self.revision_clock())
        presence = AgentPresence(
            changed.ext,
            self._revision,
            changed.logged_in,
            changed.paused,
            changed.pause_reason,
            at,
        )
        self.sink.put(presence)

    def _started(self, started: CallStarted, at: datetime) -> None:
        call, patient = started.call, started.facts.patient
        fields = {
            "dialled": started.facts.did,
            "caller": started.facts.caller,
            "patient_id": patient.patient_id if patient else None,
            "started_at": at,
        }
        self._put_row(CallUpsert(call, fields, key=f"{call}:started"))
        self._event(started, at)

    def _routed(self, routed: CallRouted, at: datetime) -> None:
        decision = routed.decision
        fields = {
            "language": routed.language,
            "category": decision.request.category,
            "destination": decision.destination.as_json(),
            "queue": decision.deciding_queue,
            "after_hours": decision.after_hours,
            "holiday": decision.holiday is not None,
            "urgent": decision.request.urgent,
        }
        self._put_row(CallUpsert(routed.call, fields, key=f"{routed.call}:routed"))
        self._event(routed, at)

    def _fact(self, fact: CallFact, at: datetime) -> None:
        call = fact.call
        self._event(fact, at)
        fields = dict(_ROW_FIELDS.get(type(fact), {}))
        if isinstance(fact, QueueJoined):
            self._joined[call] = at
        if isinstance(fact, CallAnswered):
            fields |= {"answered_at": at, "agent": fact.agent}
            self._wait_ended(call, at, fields)
            self._answered[call] = at
        if isinstance(fact, ConversationEnded) and call in self._answered:
            fields["talk_s"] = _seconds(at - self._answered.pop(call))
        if isinstance(fact, _WAIT_ENDS):
            self._wait_ended(call, at, fields)
        if isinstance(fact, FINISHING):
            fields["ended_at"] = at
        if fields:
            self._put_row(CallUpsert(call, fields))
        if isinstance(fact, FINISHING):
            self._finished(call)

    def _wait_ended(self, call: str, at: datetime, fields: dict[str, Any]) -> None:
        joined = self._joined.pop(call, None)
        if joined is not None:
            fields["wait_s"] = _seconds(at - joined)

    def _put_row(self, upsert: CallUpsert) -> None:
        self.sink.put(upsert)
        self._rows.setdefault(upsert.linkedid, {}).update(upsert.present())

    def _finished(self, call: str) -> None:
        row = self._rows.pop(call, {})
        self._joined.pop(call, None)
        self._answered.pop(call, None)
        if self.on_finished is not None:
            self.on_finished({"linkedid": call} | _jsonable(row))

    def _event(self, fact: CallFact, at: datetime) -> None:
        self.sink.put(CallEvent(fact.call, new_key(), at, fact.kind, _stored_data(fact)))


def _stored_data(fact: CallFact) -> dict[str, Any]:
    """The fact's `call_events.data`, as it has always been stored: a queue's abandoned
    call has no `where` (the menu's and voicemail's have theirs)."""
    data = fact.data()
    if isinstance(fact, CallAbandoned) and fact.where is None:
        del data["where"]
    return data


def _seconds(elapsed: timedelta) -> int:
    return max(int(elapsed.total_seconds()), 0)


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}
