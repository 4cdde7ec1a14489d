"""The hub's facts about a call become call rows and events (pure, then on PostgreSQL)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from frontdesk.calls.events import (
    AgentRinging,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallbackChosen,
    CallbackOffered,
    CallbackReinstated,
    CallbackTaskRaised,
    CallInterrupted,
    CallRouted,
    CallStarted,
    ConversationEnded,
    EmergencyCallPlaced,
    EscalationRaised,
    ExternalTransferConnected,
    GoliveCaseSeen,
    HubEvent,
    PhoneTransferFailed,
    PhoneTransferred,
    PhoneTransferTarget,
    QueueJoined,
    SentAfterHours,
    VoicemailLeft,
)
from frontdesk.calls.recorder import CallRecorder
from frontdesk.routing.destination import Decision, QueueDestination, Request
from frontdesk.routing.directory import Patient
from frontdesk.routing.ivr import CallFacts
from frontdesk.store import Outbox, upgrade
from frontdesk.store.records import AgentStateChange, CallEvent, CallUpsert, Record, to_json
from tests.pg import DSN, dsn_in, scratch_schema

NOW = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
FACTS = CallFacts("+13125550000", "+13125551002", Patient("P-1002", "es", "cardiology"))
DECISION = Decision(
    Request("scheduling", "scheduling", "cardiology"),
    QueueDestination("scheduling", ("cardiology", "spanish")),
    "scheduling",
    False,
    None,
)


class Sink:
    def __init__(self) -> None:
        self.records: list[Record] = []

    def put(self, record: Record) -> None:
        self.records.append(record)

    def events(self) -> list[CallEvent]:
        return [r for r in self.records if isinstance(r, CallEvent)]

    def row(self, call: str) -> dict[str, Any]:
        """The call's row as PostgreSQL merges the upserts (later non-null wins)."""
        merged: dict[str, Any] = {}
        for r in self.records:
            if isinstance(r, CallUpsert) and r.linkedid == call:
                merged |= r.present()
        return merged


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def publish(recorder: CallRecorder, events: Iterable[HubEvent]) -> None:
    for event in events:
        recorder.on_hub(event)


def story(recorder: CallRecorder) -> None:
    publish(
        recorder,
        (
            CallStarted("c1", FACTS),
            CallRouted("c1", FACTS, DECISION, "es"),
            QueueJoined("c1", "scheduling"),
            CallAnswered("c1", "2001"),
            ConversationEnded("c1"),
            AgentStateChanged("2001", "wrap_up"),
        ),
    )


def test_a_call_story_becomes_upserts_and_events() -> None:
    sink = Sink()
    story(CallRecorder(sink, lambda: NOW))
    merged = sink.row("c1")
    assert merged["caller"] == "+13125551002"
    assert merged["patient_id"] == "P-1002"
    assert merged["category"] == "scheduling"
    assert merged["outcome"] == "answered"
    assert merged["agent"] == "2001"
    assert merged["holiday"] is False
    assert merged["destination"] == DECISION.destination.as_json()
    assert [r.kind for r in sink.events()] == [
        "started",
        "routed",
        "joined",
        "answered",
        "talk_ended",
    ]
    assert [(r.agent, r.at, r.state) for r in sink.records if isinstance(r, AgentStateChange)] == [
        ("2001", NOW, "wrap_up")
    ]
    started = next(r for r in sink.records if isinstance(r, CallUpsert))
    assert started.key == "c1:started"  # a replayed start is stored once


# Each fact as `call_events` has always stored it: (kind, data), in this key order.
STORED: list[tuple[HubEvent, str, dict[str, Any]]] = [
    (CallStarted("s", FACTS), "started", {"known_patient": True}),
    (
        CallRouted("s", FACTS, DECISION, "es"),
        "routed",
        {"destination": DECISION.destination.as_json()},
    ),
    (GoliveCaseSeen("s", "after-hours-1"), "golive_case", {"case": "after-hours-1"}),
    (QueueJoined("q", "billing"), "joined", {"queue": "billing"}),
    (
        AgentRinging("q", "2001", "+13125551002", "es", "billing"),
        "ringing",
        {"agent": "2001", "number": "+13125551002", "language": "es", "category": "billing"},
    ),
    (CallAnswered("q", None), "answered", {"agent": None}),
    (ConversationEnded("q"), "talk_ended", {}),
    (CallAbandoned("q"), "abandoned", {}),  # a queue's: no `where`
    (CallAbandoned("m", "menu"), "abandoned", {"where": "menu"}),
    (CallAbandoned("v", "voicemail"), "abandoned", {"where": "voicemail"}),
    (
        EscalationRaised("q", "nurse_triage", 300, ("2004", "2005")),
        "escalation",
        {"queue": "nurse_triage", "waited_s": 300, "recipients": ["2004", "2005"]},
    ),
    (SentAfterHours("q"), "after_hours", {}),
    (CallbackOffered("q"), "callback_offered", {}),
    (CallbackChosen("q"), "callback_accepted", {}),
    (CallbackReinstated("q", "billing"), "callback_restored", {"queue": "billing"}),
    (
        CallbackTaskRaised("q", "billing", "billing"),
        "callback_task",
        {"category": "billing", "queue": "billing"},
    ),
    (
        VoicemailLeft("v", "billing", "vm-1", "billing", "2026-12-01T17:00:00-06:00", True),
        "voicemail",
        {
            "box": "billing",
            "recording": "vm-1",
            "category": "billing",
            "callback_due": "2026-12-01T17:00:00-06:00",
            "hung_up": True,
        },
    ),
    (
        VoicemailLeft("v", None),
        "voicemail",
        {"box": None, "recording": None, "category": None, "callback_due": None, "hung_up": False},
    ),
    (ExternalTransferConnected("x"), "transfer_connected", {}),
    (
        PhoneTransferred("t", "2001", "2002", "blind"),
        "transferred",
        {"agent": "2001", "target": "2002", "how": "blind"},
    ),
    (
        PhoneTransferred("t", "2001", None, "attended"),
        "transferred",
        {"agent": "2001", "target": None, "how": "attended"},
    ),
    (PhoneTransferTarget("t", "2003"), "transfer_target", {"target": "2003"}),
    (PhoneTransferFailed("t"), "transfer_failed", {}),
    (CallInterrupted("i"), "interrupted", {}),
    (
        EmergencyCallPlaced("e", "2003", "Chloe Martin"),
        "emergency_call",
        {"extension": "2003", "name": "Chloe Martin"},
    ),
]


def test_each_fact_is_stored_as_it_always_was() -> None:
    for fact, kind, data in STORED:
        sink = Sink()
        CallRecorder(sink, lambda: NOW).on_hub(fact)
        (event,) = sink.events()
        assert (event.linkedid, event.kind) == (getattr(fact, "call", None), kind), fact
        spooled = to_json(event)["data"]
        assert json.dumps(spooled) == json.dumps(data), fact  # same keys, same order


def test_facts_set_the_call_row() -> None:
    clock, sink = Clock(), Sink()
    recorder = CallRecorder(sink, clock)
    publish(recorder, (QueueJoined("a", "billing"), EscalationRaised("a", "billing", 90)))
    clock.now += timedelta(seconds=95)
    recorder.on_hub(CallAbandoned("a"))
    assert sink.row("a") == {
        "escalated": True,
        "abandoned": True,
        "outcome": "abandoned",
        "wait_s": 95,
        "ended_at": clock.now,
    }
    publish(recorder, (QueueJoined("b", "billing"), CallbackOffered("b")))
    clock.now += timedelta(seconds=20)
    publish(recorder, (CallbackChosen("b"), CallbackTaskRaised("b", "billing")))
    assert sink.row("b") == {
        "callback_offered": True,
        "callback_accepted": True,
        "outcome": "callback",
        "wait_s": 20,
        "ended_at": clock.now,
    }
    publish(recorder, (CallAnswered("c", "2001"), PhoneTransferred("c", "2001", "2002", "blind")))
    clock.now += timedelta(seconds=30)
    recorder.on_hub(ConversationEnded("c"))
    row = sink.row("c")
    assert (row["transferred"], row["talk_s"], row["outcome"]) == (True, 30, "answered")
    recorder.on_hub(CallAbandoned("m", "menu"))
    assert sink.row("m")["outcome"] == "abandoned"
    publish(recorder, (VoicemailLeft("v", "billing"), ExternalTransferConnected("x")))
    assert (sink.row("v")["outcome"], sink.row("x")["outcome"]) == (
        "voicemail",
        "transferred_external",
    )
    recorder.on_hub(CallInterrupted("i"))
    assert sink.row("i") == {"outcome": "interrupted", "ended_at": clock.now}


def test_facts_that_change_no_row_are_events_only() -> None:
    sink = Sink()
    recorder = CallRecorder(sink, lambda: NOW)
    publish(
        recorder,
        (
            GoliveCaseSeen("g", "case-7"),
            AgentRinging("g", "2001", None, "en", "billing"),
            PhoneTransferTarget("g", "2002"),
            PhoneTransferFailed("g"),
            CallbackReinstated("g", "billing"),
            EmergencyCallPlaced("e", "2003", None),  # a call frontdesk has no row for
        ),
    )
    assert all(isinstance(r, CallEvent) for r in sink.records)
    assert len(sink.records) == 6


@contextlib.asynccontextmanager
async def recorded(
    tmp_path: Path, feed: Callable[[CallRecorder], object]
) -> AsyncIterator[asyncpg.Connection]:
    """A recorder fed by `feed`, its outbox drained into a scratch schema: a connection to
    that schema, to read what landed."""
    async with scratch_schema("fd_test") as schema:
        conn = await asyncpg.connect(DSN, server_settings={"search_path": schema})
        try:
            await upgrade(conn)
            outbox = Outbox(dsn_in(schema), tmp_path / "spool.jsonl")
            outbox.start()
            feed(CallRecorder(outbox, lambda: NOW))
            assert await outbox.drain(10)
            await outbox.close()
            yield conn
        finally:
            await conn.close()


async def test_the_story_lands_in_postgresql(tmp_path: Path) -> None:
    async with recorded(tmp_path, story) as conn:
        row = await conn.fetchrow("SELECT * FROM calls WHERE linkedid = 'c1'")
        assert row is not None
        assert (row["caller"], row["patient_id"], row["category"]) == (
            "+13125551002",
            "P-1002",
            "scheduling",
        )
        assert (row["outcome"], row["agent"], row["queue"]) == (
            "answered",
            "2001",
            "scheduling",
        )
        assert row["answered_at"] == NOW
        kinds = await conn.fetch(
            "SELECT kind FROM call_events WHERE linkedid = 'c1' ORDER BY event_key"
        )
        assert sorted(k["kind"] for k in kinds) == sorted(
            ["started", "routed", "joined", "answered", "talk_ended"]
        )


async def test_a_911_call_is_stored_though_frontdesk_never_had_the_call(tmp_path: Path) -> None:
    fact = EmergencyCallPlaced("e1", "2003", "Chloe Martin")
    async with recorded(tmp_path, lambda recorder: recorder.on_hub(fact)) as conn:
        event = await conn.fetchrow("SELECT kind, data::text FROM call_events")
        assert event is not None
        assert event["kind"] == "emergency_call"
        assert json.loads(event["data"]) == {"extension": "2003", "name": "Chloe Martin"}
        # its call is a bare row (no start): in no report, purged by its creation time
        row = await conn.fetchrow("SELECT started_at, outcome FROM calls WHERE linkedid = 'e1'")
        assert row is not None
        assert (row["started_at"], row["outcome"]) == (None, None)


def test_a_finished_call_is_handed_on_whole() -> None:
    finished: list[dict[str, Any]] = []
    recorder = CallRecorder(Sink(), lambda: NOW)
    recorder.on_finished = finished.append
    story(recorder)
    assert len(finished) == 1
    row = finished[0]
    assert row["linkedid"] == "c1"
    assert (row["outcome"], row["agent"], row["category"]) == ("answered", "2001", "scheduling")
    assert row["answered_at"] == NOW.isoformat()
