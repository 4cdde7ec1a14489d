"""What the store writes: frozen records, and their JSON form for the spool (no I/O).

Every record carries a unique `key`, so that writing it twice (a replay of the spool
after a crash, or a batch that committed although its acknowledgement was lost) has
no effect the second time: inserts are `ON CONFLICT DO NOTHING`, and a `CallUpsert`'s
key is recorded in `call_upserts_applied` in the same transaction as its merge.

Merge rule of a call's row: a later non-null field wins, except the fields a
`CallUpsert` names in `fill`, which are written only where the column is still NULL.
The AMI `Cdr` merge (store/cdr.py) fills its times that way, so the times frontdesk
stamps itself (calls/recorder.py: its own UTC clock) win in whatever order they land.
"""

from __future__ import annotations

import json
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Final, Literal

OUTCOMES: Final = frozenset(
    {
        "answered",
        "abandoned",
        "voicemail",
        "callback",
        "transferred_external",
        "failed",
        "interrupted",  # ended while frontdesk could not see it (0004_interrupted_outcome.sql)
    }
)

# What the agent records when a call is finished (`dispositions.code`, `calls.disposition`).
DISPOSITION_CODES: Final = frozenset(
    {
        "booked",
        "rescheduled",
        "cancelled",
        "resolved",
        "message_taken",
        "needs_callback",
        "transferred",
        "wrong_department",  # the call was for another department: counts as misrouted
    }
)
NOTE_MAX_CHARS: Final = 500

ColumnType = Literal["text", "int", "bool", "timestamptz", "jsonb"]

# The columns of `calls` a CallUpsert may set (linkedid is the key, not a field).
CALL_FIELDS: Final[Mapping[str, ColumnType]] = {
    "dialled": "text",
    "caller": "text",
    "patient_id": "text",
    "language": "text",
    "category": "text",
    "destination": "jsonb",
    "queue": "text",
    "agent": "text",
    "started_at": "timestamptz",
    "answered_at": "timestamptz",
    "ended_at": "timestamptz",
    "wait_s": "int",
    "talk_s": "int",
    "after_hours": "bool",
    "holiday": "bool",
    "urgent": "bool",
    "escalated": "bool",
    "callback_offered": "bool",
    "callback_accepted": "bool",
    "voicemail": "bool",
    "abandoned": "bool",
    "transferred": "bool",
    "outcome": "text",
    "disposition": "text",
}


class RecordError(ValueError):
    """A record that can never be written (unknown field, wrong type, bad outcome)."""


def new_key() -> str:
    return uuid.uuid4().hex


def _aware(at: datetime, what: str) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise RecordError(f"{what}: a naive datetime is ambiguous; give an aware one")
    return at


def _check_json(value: Any, what: str) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise RecordError(f"{what}: not JSON-serialisable: {exc}") from exc


def _check_field(name: str, value: Any) -> None:
    kind = CALL_FIELDS.get(name)
    if kind is None:
        raise RecordError(f"CallUpsert: unknown field {name!r}")
    if value is None:
        return
    ok = {
        "text": isinstance(value, str),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "timestamptz": isinstance(value, datetime),
        "jsonb": True,
    }[kind]
    if not ok:
        raise RecordError(f"CallUpsert: {name} must be {kind}, not {type(value).__name__}")
    if kind == "timestamptz":
        _aware(value, f"CallUpsert.{name}")
    if kind == "jsonb":
        _check_json(value, f"CallUpsert.{name}")
    if name == "outcome" and value not in OUTCOMES:
        raise RecordError(f"CallUpsert: outcome {value!r} is not one of {sorted(OUTCOMES)}")


@dataclass(frozen=True, slots=True)
class CallEvent:
    """Something that happened to a call; `key` is unique (e.g. `<linkedid>:<source>:<n>`)."""

    linkedid: str
    key: str
    at: datetime
    kind: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _aware(self.at, "CallEvent.at")
        _check_json(dict(self.data), "CallEvent.data")


@dataclass(frozen=True, slots=True)
class CallUpsert:
    """Merge `fields` into the call's row: later non-null fields win, None never erases;
    the fields named in `fill` only fill a NULL column (they never overwrite)."""

    linkedid: str
    fields: Mapping[str, Any]
    key: str = field(default_factory=new_key)
    fill: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        for name, value in self.fields.items():
            _check_field(name, value)
        unknown = set(self.fill) - set(CALL_FIELDS)
        if unknown:
            raise RecordError(f"CallUpsert: unknown fill field(s) {sorted(unknown)}")
        object.__setattr__(self, "fill", frozenset(self.fill))

    def present(self) -> dict[str, Any]:
        """The fields that will be written (the non-null ones), in a stable order."""
        return {n: v for n, v in sorted(self.fields.items()) if v is not None}


@dataclass(frozen=True, slots=True)
class AgentStateChange:
    agent: str
    at: datetime
    state: str  # logged_in | logged_out | paused | unpaused | ringing | busy | wrap_up ...
    reason: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    key: str = field(default_factory=new_key)

    def __post_init__(self) -> None:
        _aware(self.at, "AgentStateChange.at")
        _check_json(dict(self.data), "AgentStateChange.data")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    actor: str  # "system", "agent:2001", "api:<token name>" ...
    action: str
    subject: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    key: str = field(default_factory=new_key)

    def __post_init__(self) -> None:
        _aware(self.at, "AuditEntry.at")
        _check_json(dict(self.data), "AuditEntry.data")


def _clean_text(text: str) -> str:
    """`text` without control characters (tab and newline kept; CR LF and CR become LF)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(
        c for c in text if c in "\t\n" or unicodedata.category(c) not in ("Cc", "Cs")
    ).strip()


def _check_id(value: Any, what: str, max_chars: int = 64) -> None:
    if (
        not isinstance(value, str)
        or not value
        or len(value) > max_chars
        or any(c.isspace() or unicodedata.category(c) in ("Cc", "Cf") for c in value)
    ):
        raise RecordError(
            f"{what}: give a non-empty string of at most {max_chars} printable characters"
        )


@dataclass(frozen=True, slots=True)
class Disposition:
    """What the agent says became of a call: one of DISPOSITION_CODES and an optional note.

    The note is cleaned when the record is made (control characters removed, tab and
    newline kept, surrounding whitespace trimmed, empty -> None) and may hold at most
    NOTE_MAX_CHARS characters after that.
    """

    linkedid: str
    agent: str
    at: datetime
    code: str
    note: str | None = None
    key: str = field(default_factory=new_key)

    def __post_init__(self) -> None:
        _check_id(self.linkedid, "Disposition.linkedid", max_chars=128)
        _check_id(self.agent, "Disposition.agent")
        _aware(self.at, "Disposition.at")
        if self.code not in DISPOSITION_CODES:
            raise RecordError(
                f"Disposition: code {self.code!r} is not one of {sorted(DISPOSITION_CODES)}"
            )
        if self.note is not None:
            if not isinstance(self.note, str):
                raise RecordError("Disposition: note must be a string")
            note = _clean_text(self.note)
            if len(note) > NOTE_MAX_CHARS:
                raise RecordError(
                    f"Disposition: note is {len(note)} characters; at most {NOTE_MAX_CHARS}"
                )
            object.__setattr__(self, "note", note or None)


CALLBACK_STATUSES: Final = frozenset({"pending", "done", "task", "cancelled"})


@dataclass(frozen=True, slots=True)
class PendingCallback:
    """A callback that keeps the caller's place, as of `revision` (`pending_callbacks`).

    Written when it is accepted and at each change; `status` leaves `pending` once it is
    done (the patient answered), a task (every try failed, or closing time), or cancelled.
    The row keeps the highest revision, so a replayed or late older record changes nothing.
    """

    call_id: str
    revision: int
    status: str
    queue: str
    priority: str
    skill: str | None
    language_skill: str | None
    category: str
    language: str
    number: str
    enqueued_at: datetime
    attempts: int
    retry_at: datetime | None
    escalated: bool
    at: datetime

    def __post_init__(self) -> None:
        _check_id(self.call_id, "PendingCallback.call_id", max_chars=128)
        if self.status not in CALLBACK_STATUSES:
            raise RecordError(f"PendingCallback: status {self.status!r} is not one of "
                              f"{sorted(CALLBACK_STATUSES)}")  # fmt: skip
        if self.priority not in ("front", "normal"):
            raise RecordError(f"PendingCallback: priority {self.priority!r}")
        if self.revision < 1 or self.attempts < 0:
            raise RecordError("PendingCallback: revision >= 1 and attempts >= 0")
        for name in ("enqueued_at", "at") + (("retry_at",) if self.retry_at else ()):
            _aware(getattr(self, name), f"PendingCallback.{name}")

    @property
    def key(self) -> str:
        return f"{self.call_id}:callback:{self.revision}"


PAUSE_REASON_MAX_CHARS: Final = 64


@dataclass(frozen=True, slots=True)
class AgentPresence:
    """Whether the agent at extension `agent` is logged in and paused (and why), as of
    `revision` (`agent_presence`, 0007): what a restart restores (store/presence.py).

    Written at each change; the row keeps the highest revision, so a replayed or late
    older record changes nothing. Revisions grow across restarts (calls/recorder.py).
    """

    agent: str
    revision: int
    logged_in: bool
    paused: bool
    pause_reason: str | None
    at: datetime

    def __post_init__(self) -> None:
        _check_id(self.agent, "AgentPresence.agent")
        if self.revision < 1:
            raise RecordError("AgentPresence: revision >= 1")
        if self.paused and not self.logged_in:
            raise RecordError("AgentPresence: only a logged-in agent can be paused")
        if self.pause_reason is not None and not self.paused:
            raise RecordError("AgentPresence: a pause reason without a pause")
        if self.pause_reason is not None:
            _check_id(self.pause_reason, "AgentPresence.pause_reason", PAUSE_REASON_MAX_CHARS)
        _aware(self.at, "AgentPresence.at")

    @property
    def key(self) -> str:
        return f"{self.agent}:presence:{self.revision}"


Record = (
    CallEvent
    | CallUpsert
    | AgentStateChange
    | AuditEntry
    | Disposition
    | PendingCallback
    | AgentPresence
)


# --- the spool's JSON form ------------------------------------------------------------


def _time(value: datetime) -> str:
    return value.isoformat()


def to_json(record: Record) -> dict[str, Any]:
    """A JSON-ready dict; `from_json(to_json(r)) == r`."""
    if isinstance(record, CallEvent):
        return {
            "type": "call_event",
            "linkedid": record.linkedid,
            "key": record.key,
            "at": _time(record.at),
            "kind": record.kind,
            "data": dict(record.data),
        }
    if isinstance(record, CallUpsert):
        fields = {n: _time(v) if isinstance(v, datetime) else v for n, v in record.fields.items()}
        fill = {"fill": sorted(record.fill)} if record.fill else {}
        return {
            "type": "call_upsert",
            "linkedid": record.linkedid,
            "key": record.key,
            "fields": fields,
        } | fill
    if isinstance(record, AgentStateChange):
        return {
            "type": "agent_state",
            "key": record.key,
            "agent": record.agent,
            "at": _time(record.at),
            "state": record.state,
            "reason": record.reason,
            "data": dict(record.data),
        }
    if isinstance(record, Disposition):
        return {
            "type": "disposition",
            "key": record.key,
            "linkedid": record.linkedid,
            "agent": record.agent,
            "at": _time(record.at),
            "code": record.code,
            "note": record.note,
        }
    if isinstance(record, PendingCallback):
        return {"type": "pending_callback", "key": record.key} | {
            name: _time(value) if isinstance(value, datetime) else value
            for name, value in _callback_fields(record).items()
        }
    if isinstance(record, AgentPresence):
        return {
            "type": "agent_presence",
            "key": record.key,
            "agent": record.agent,
            "revision": record.revision,
            "logged_in": record.logged_in,
            "paused": record.paused,
            "pause_reason": record.pause_reason,
            "at": _time(record.at),
        }
    return {
        "type": "audit",
        "key": record.key,
        "at": _time(record.at),
        "actor": record.actor,
        "action": record.action,
        "subject": record.subject,
        "data": dict(record.data),
    }


def _callback_fields(record: PendingCallback) -> dict[str, Any]:
    return {f.name: getattr(record, f.name) for f in fields(PendingCallback)}


def _callback_from_json(obj: Mapping[str, Any]) -> PendingCallback:
    times = ("enqueued_at", "retry_at", "at")
    values: dict[str, Any] = {
        f.name: datetime.fromisoformat(obj[f.name])
        if f.name in times and obj[f.name]
        else obj[f.name]
        for f in fields(PendingCallback)
    }
    return PendingCallback(**values)


def from_json(obj: Mapping[str, Any]) -> Record:
    """The record back from `to_json`'s form; RecordError (or KeyError/TypeError) if bad."""
    kind = obj.get("type")
    try:
        if kind == "call_event":
            return CallEvent(
                linkedid=str(obj["linkedid"]),
                key=str(obj["key"]),
                at=datetime.fromisoformat(obj["at"]),
                kind=str(obj["kind"]),
                data=dict(obj["data"]),
            )
        if kind == "call_upsert":
            fields = {
                n: datetime.fromisoformat(v)
                if CALL_FIELDS.get(n) == "timestamptz" and isinstance(v, str)
                else v
                for n, v in dict(obj["fields"]).items()
            }
            fill = frozenset(str(name) for name in obj.get("fill") or ())  # absent before 16
            return CallUpsert(str(obj["linkedid"]), fields, key=str(obj["key"]), fill=fill)
        if kind == "agent_state":
            return AgentStateChange(
                agent=str(obj["agent"]),
                at=datetime.fromisoformat(obj["at"]),
                state=str(obj["state"]),
                reason=obj.get("reason"),
                data=dict(obj.get("data") or {}),
                key=str(obj["key"]),
            )
        if kind == "disposition":
            return Disposition(
                linkedid=str(obj["linkedid"]),
                agent=str(obj["agent"]),
                at=datetime.fromisoformat(obj["at"]),
                code=str(obj["code"]),
                note=obj.get("note"),
                key=str(obj["key"]),
            )
        if kind == "pending_callback":
            return _callback_from_json(obj)
        if kind == "agent_presence":
            return AgentPresence(
                agent=str(obj["agent"]),
                revision=int(obj["revision"]),
                logged_in=bool(obj["logged_in"]),
                paused=bool(obj["paused"]),
                pause_reason=obj.get("pause_reason"),
                at=datetime.fromisoformat(obj["at"]),
            )
        if kind == "audit":
            return AuditEntry(
                at=datetime.fromisoformat(obj["at"]),
                actor=str(obj["actor"]),
                action=str(obj["action"]),
                subject=obj.get("subject"),
                data=dict(obj.get("data") or {}),
                key=str(obj["key"]),
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordError(f"unreadable {kind} record: {exc}") from exc
    raise RecordError(f"unknown record type {kind!r}")
