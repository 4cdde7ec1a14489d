from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from frontdesk.store import AgentStateChange, AuditEntry, CallEvent, CallUpsert, RecordError
from frontdesk.store.records import from_json, to_json
from frontdesk.store.spool import Spool

T0 = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)


def test_append_read_clear(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.jsonl")
    assert not spool
    assert spool.append([{"a": 1}, {"b": "é"}]) == 2
    assert spool.append([{"c": 3}]) == 1
    assert list(spool.read()) == [{"a": 1}, {"b": "é"}, {"c": 3}]
    spool.clear()
    assert not spool
    assert list(spool.read()) == []


def test_torn_last_line_is_skipped_on_read(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(b'{"a":1}\n{"b":2}\n{"c":')
    spool = Spool.__new__(Spool)  # read without sealing, as a reader during a crash would
    spool.path, spool.max_line_bytes = path, 1024
    assert list(spool.read()) == [{"a": 1}, {"b": 2}]


def test_opening_seals_a_torn_tail_so_appends_stay_whole(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(b'{"a":1}\n{"c":')
    spool = Spool(path)
    spool.append([{"d": 4}])
    assert list(spool.read()) == [{"a": 1}, {"d": 4}]


def test_garbage_and_oversized_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(b'{"a":1}\nnot json\n[1,2]\n\n{"big":"' + b"x" * 300 + b'"}\n{"z":0}\n')
    spool = Spool(path, max_line_bytes=100)
    assert list(spool.read()) == [{"a": 1}, {"z": 0}]


def test_a_record_too_long_for_a_line_is_refused_not_written(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.jsonl", max_line_bytes=64)
    assert spool.append([{"a": "x" * 100}, {"b": 1}]) == 1
    assert list(spool.read()) == [{"b": 1}]


@pytest.mark.parametrize(
    "record",
    [
        CallEvent("L", "L:1", T0, "dtmf", {"digit": "1", "nested": [1, None]}),
        CallUpsert("L", {"started_at": T0, "destination": {"queue": "q"}, "urgent": True}, key="u"),
        AgentStateChange("2001", T0, "paused", "lunch", key="a"),
        AuditEntry(T0, "api:ops", "agent.logout", "2001", {"why": "end of shift"}, key="k"),
    ],
)
def test_records_round_trip_through_json(record: object) -> None:
    assert from_json(to_json(record)) == record  # type: ignore[arg-type]


def test_records_refuse_what_could_never_be_written() -> None:
    with pytest.raises(RecordError, match="unknown field"):
        CallUpsert("L", {"linkedid; DROP TABLE calls": 1})
    with pytest.raises(RecordError, match="outcome"):
        CallUpsert("L", {"outcome": "lost"})
    with pytest.raises(RecordError, match="must be bool"):
        CallUpsert("L", {"urgent": "yes"})
    with pytest.raises(RecordError, match="naive"):
        CallEvent("L", "k", datetime(2026, 1, 1), "x")
    with pytest.raises(RecordError, match="JSON"):
        AuditEntry(T0, "a", "b", data={"x": object()})
    with pytest.raises(RecordError, match="unknown record type"):
        from_json({"type": "nope"})
