"""The daemon's own facts about each call, as records for the outbox. No I/O here.

The call runtime reports a call's start and its routing decision; the ACD and the
voicemail/transfer runtime publish what happens next on their event hub (joined,
ringing, answered, abandoned, escalation, voicemail, transfer, callback, after hours).
Each fact becomes a `CallEvent` and, where it changes the call's summary row, a
`CallUpsert`; every record carries its own unique key, so a replay of the spool stores
it once. Agent state changes
become `AgentStateChange` rows. The sink is the outbox: `put` never blocks a call.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from frontdesk.calls.session import Routed
from frontdesk.routing.ivr import CallFacts
from frontdesk.store.records import AgentStateChange, CallEvent, CallUpsert, Record, new_key

# hub event kind -> the call row's fields it sets (besides the event itself)
_ROW_FIELDS: dict[str, dict[str, Any]] = {
    "answered": {"outcome": "answered"},
    "abandoned": {"abandoned": True, "outcome": "abandoned"},
    "voicemail": {"voicemail": True, "outcome": "voicemail"},
    "callback_offered": {"callback_offered": True},
    "callback_accepted": {"callback_accepted": True, "outcome": "callback"},
    "callback_task": {"outcome": "callback"},
    "transfer_connected": {"outcome": "transferred_external"},
    "transferred": {"transferred": True},  # staff moved the call (a phone's transfer button)
    "escalation": {"escalated": True},
    "interrupted": {"outcome": "interrupted"},
}


# hub events after which nothing more happens to the call in frontdesk
FINISHED = frozenset({"talk_ended", "abandoned", "voicemail", "callback_task", "interrupted"})


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

    def started(self, channel: str, facts: CallFacts) -> None:
        at = self.now()
        patient = facts.patient
        fields = {
            "dialled": facts.did,
            "caller": facts.caller,
            "patient_id": patient.patient_id if patient else None,
            "started_at": at,
        }
        self._put_row(CallUpsert(channel, fields, key=f"{channel}:started"))
        self._event(channel, "started", {"known_patient": patient is not None}, at)

    def routed(self, routed: Routed) -> None:
        at = self.now()
        decision = routed.decision
        destination = decision.destination.as_json()
        fields = {
            "language": routed.language,
            "category": decision.request.category,
            "destination": destination,
            "queue": decision.deciding_queue,
            "after_hours": decision.after_hours,
            "holiday": decision.holiday is not None,
            "urgent": decision.request.urgent,
        }
        self._put_row(CallUpsert(routed.channel, fields, key=f"{routed.channel}:routed"))
        self._event(routed.channel, "routed", {"destination": destination}, at)

    def golive_case(self, channel: str, case: str) -> None:
        """Go-live mode: the test case a declared test caller's call says it is (an id
        the runtime has validated); `frontdesk golive verify` finds the call by it."""
        self._event(channel, "golive_case", {"case": case}, self.now())

    def left_in_menu(self, channel: str) -> None:
        """The caller hung up before any route was decided: an abandoned call."""
        self.on_hub({"kind": "abandoned", "call": channel, "where": "menu"})

    def interrupted(self, channel: str) -> None:
        """The call ended while frontdesk could not see it (an Asterisk restart or crash,
        or a hangup during a network cut): when and how it really ended is unknown."""
        self.on_hub({"kind": "interrupted", "call": channel})

    def on_hub(self, event: dict[str, Any]) -> None:
        """One event of the ACD/destinations hub."""
        kind = str(event.get("kind", ""))
        at = self.now()
        if kind == "agent":
            self.sink.put(AgentStateChange(str(event.get("ext")), at, str(event.get("state"))))
            return
        call = event.get("call")
        if not isinstance(call, str):
            return
        data = {k: v for k, v in event.items() if k not in ("kind", "call")}
        self._event(call, kind, data, at)
        fields = dict(_ROW_FIELDS.get(kind, {}))
        if kind == "joined":
            self._joined[call] = at
        if kind == "answered":
            fields |= {"answered_at": at, "agent": event.get("agent")}
            joined = self._joined.pop(call, None)
            if joined is not None:
                fields["wait_s"] = max(int((at - joined).total_seconds()), 0)
            self._answered[call] = at
        if kind == "talk_ended" and call in self._answered:
            fields["talk_s"] = max(int((at - self._answered.pop(call)).total_seconds()), 0)
        if kind in ("abandoned", "voicemail", "callback_accepted", "after_hours"):
            joined = self._joined.pop(call, None)
            if joined is not None:
                fields["wait_s"] = max(int((at - joined).total_seconds()), 0)
        if kind in ("talk_ended", "abandoned", "voicemail", "callback_task", "interrupted"):
            fields["ended_at"] = at
        if fields:
            self._put_row(CallUpsert(call, fields))
        if kind in FINISHED:
            self._finished(call)

    def _put_row(self, upsert: CallUpsert) -> None:
        self.sink.put(upsert)
        self._rows.setdefault(upsert.linkedid, {}).update(upsert.present())

    def _finished(self, call: str) -> None:
        row = self._rows.pop(call, {})
        self._joined.pop(call, None)
        self._answered.pop(call, None)
        if self.on_finished is not None:
            self.on_finished({"linkedid": call} | _jsonable(row))

    def _event(self, call: str, kind: str, data: dict[str, Any], at: datetime) -> None:
        self.sink.put(CallEvent(call, new_key(), at, kind, data))


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}
