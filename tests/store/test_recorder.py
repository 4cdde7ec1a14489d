"""The daemon's facts about a call become call rows and events (pure, then on PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg

from frontdesk.calls.session import Routed
from frontdesk.routing.destination import Decision, QueueDestination, Request
from frontdesk.routing.directory import Patient
from frontdesk.routing.ivr import CallFacts
from frontdesk.store import Outbox, upgrade
from frontdesk.store.recorder import CallRecorder
from frontdesk.store.records import AgentStateChange, CallEvent, CallUpsert, Record

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


def story(recorder: CallRecorder) -> None:
    recorder.started("c1", FACTS)
    recorder.routed(Routed("c1", FACTS, "es", DECISION))
    for event in (
        {"kind": "joined", "call": "c1", "queue": "scheduling"},
        {"kind": "answered", "call": "c1", "agent": "2001"},
        {"kind": "talk_ended", "call": "c1"},
        {"kind": "agent", "ext": "2001", "state": "wrap_up"},
    ):
        recorder.on_hub(event)


def test_a_call_story_becomes_upserts_and_events() -> None:
    sink = Sink()
    story(CallRecorder(sink, lambda: NOW))
    upserts = [r for r in sink.records if isinstance(r, CallUpsert)]
    merged: dict[str, Any] = {}
    for upsert in upserts:
        merged |= upsert.present()
    assert merged["caller"] == "+13125551002"
    assert merged["patient_id"] == "P-1002"
    assert merged["category"] == "scheduling"
    assert merged["outcome"] == "answered"
    assert merged["agent"] == "2001"
    assert merged["holiday"] is False
    kinds = [r.kind for r in sink.records if isinstance(r, CallEvent)]
    assert kinds == ["started", "routed", "joined", "answered", "talk_ended"]
    assert any(isinstance(r, AgentStateChange) and r.state == "wrap_up" for r in sink.records)


def test_events_without_a_call_are_ignored() -> None:
    sink = Sink()
    CallRecorder(sink, lambda: NOW).on_hub({"kind": "joined"})
    assert sink.records == []


async def test_the_story_lands_in_postgresql(
    pg_dsn: str, schema: str, conn: asyncpg.Connection, tmp_path: Any
) -> None:
    await upgrade(conn)
    dsn = f"{pg_dsn}?options=-csearch_path%3D{schema}"
    outbox = Outbox(dsn, tmp_path / "spool.jsonl")
    outbox.start()
    story(CallRecorder(outbox, lambda: NOW))
    assert await outbox.drain(10)
    await outbox.close()
    row = await conn.fetchrow("SELECT * FROM calls WHERE linkedid = 'c1'")
    assert row is not None
    assert (row["caller"], row["patient_id"], row["category"]) == (
        "+13125551002",
        "P-1002",
        "scheduling",
    )
    assert (row["outcome"], row["agent"], row["queue"]) == ("answered", "2001", "scheduling")
    assert row["answered_at"] == NOW
    assert await conn.fetchval("SELECT count(*) FROM call_events WHERE linkedid = 'c1'") == 5


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
