"""`frontdesk report` against the real PostgreSQL, in a schema of its own per test."""

from __future__ import annotations

import asyncio
import csv
import json
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg  # type: ignore[import-untyped]
import pytest

from frontdesk.cli import main
from frontdesk.reports.cli import time_range
from frontdesk.store import upgrade
from frontdesk.store.refusals import Refused

NOW = datetime.now(UTC)


@pytest.fixture
def url(pg_dsn: str, schema: str) -> str:
    sep = "&" if "?" in pg_dsn else "?"
    return f"{pg_dsn}{sep}options={quote(f'-csearch_path={schema}', safe='')}"


CALLS: list[dict[str, Any]] = [
    # Two answered calls, one transferred by staff; 3 and 4 minutes of talk.
    {"linkedid": "a1", "started_at": NOW - timedelta(days=1), "caller": "+13125550101",
     "category": "billing", "queue": "billing", "outcome": "answered", "wait_s": 20,
     "talk_s": 180, "transferred": True},
    {"linkedid": "a2", "started_at": NOW - timedelta(days=2), "caller": "+13125550102",
     "category": "scheduling", "queue": "front_desk", "outcome": "answered", "wait_s": 90,
     "talk_s": 240},
    # A long and a short abandon.
    {"linkedid": "b1", "started_at": NOW - timedelta(days=3), "caller": "+13125550103",
     "category": "scheduling", "queue": "front_desk", "outcome": "abandoned", "abandoned": True,
     "wait_s": 40},
    {"linkedid": "b2", "started_at": NOW - timedelta(hours=5), "caller": "+13125550104",
     "category": "scheduling", "queue": "front_desk", "outcome": "abandoned", "abandoned": True,
     "wait_s": 3},
    # An after-hours refill that ended in voicemail.
    {"linkedid": "v1", "started_at": NOW - timedelta(hours=30), "caller": "+13125550105",
     "category": "refill", "after_hours": True, "voicemail": True, "outcome": "voicemail"},
    # Older than 7 days: not in `--since 7d`.
    {"linkedid": "old", "started_at": NOW - timedelta(days=9), "caller": "+13125550106",
     "category": "billing", "queue": "billing", "outcome": "answered", "wait_s": 5, "talk_s": 60},
]  # fmt: skip


# a1 was moved by staff to another queue (a misroute); a2's disposition was corrected.
EVENTS = [
    ("a1", "a1:xfer", "staff_transfer",
     '{"by": "2003", "to": "queue", "target": "front_desk", "reason": null, '
     '"category": "scheduling", "misrouted": true}'),
]  # fmt: skip
DISPOSITIONS = [
    ("a2", "a2:d1", "2001", NOW - timedelta(days=2) + timedelta(minutes=5), "wrong_department"),
    ("a2", "a2:d2", "2001", NOW - timedelta(days=2) + timedelta(minutes=6), "resolved"),
]


async def _seed(pg_dsn: str, schema: str) -> None:
    conn = await asyncpg.connect(pg_dsn, server_settings={"search_path": schema})
    try:
        await upgrade(conn)
        for call in CALLS:
            columns = ", ".join(call)
            marks = ", ".join(f"${i}" for i in range(1, len(call) + 1))
            await conn.execute(f"INSERT INTO calls ({columns}) VALUES ({marks})", *call.values())
        for linkedid, key, kind, data in EVENTS:
            await conn.execute(
                "INSERT INTO call_events (linkedid, event_key, at, kind, data) "
                "VALUES ($1, $2, $3, $4, $5::jsonb)",
                linkedid, key, NOW - timedelta(days=1), kind, data,
            )  # fmt: skip
        for linkedid, key, agent, at, code in DISPOSITIONS:
            await conn.execute(
                "INSERT INTO dispositions (linkedid, disposition_key, agent, at, code) "
                "VALUES ($1, $2, $3, $4, $5)",
                linkedid, key, agent, at, code,
            )  # fmt: skip
            await conn.execute(
                "UPDATE calls SET disposition = $2 WHERE linkedid = $1", linkedid, code
            )
    finally:
        await conn.close()


@pytest.fixture
def seeded(url: str, pg_dsn: str, schema: str) -> str:
    asyncio.run(_seed(pg_dsn, schema))
    return url


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_json(seeded: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["report", "--since", "7d", "--json", "--database-url", seeded], capsys)
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert data["total_calls"] == 5
    assert data["zone"] == "America/Chicago"  # from the bundled plan
    metrics = {m["key"]: m for m in data["metrics"]}
    assert metrics["misrouted"]["value"] == pytest.approx(0.5)
    assert metrics["misrouted"]["passed"] is False
    assert metrics["misrouted"]["counts"] == {
        "misrouted": 1, "moved": 1, "wrong_department": 0, "answered_by_staff": 2,
    }  # fmt: skip
    assert metrics["misrouted"]["seed"]["display"] == "25-40 % → 5-10 %"
    assert metrics["transfers"]["value"] == pytest.approx(0.5)
    assert metrics["transfers"]["seed"]["before"] == [0.35, 0.50]
    assert metrics["aht"]["value"] == 210
    assert metrics["aht"]["passed"] is True
    assert metrics["aht"]["seed"] is None
    assert metrics["fcr"]["value"] == 0.5  # a1 was transferred; a2 was resolved
    assert metrics["fcr"]["seed"]["aim"] == [0.80, 0.88]
    routing = data["routing"]
    assert routing["seed_targets"]["fcr"]["display"] == "55-65 % → 80-88 %"
    by_category = {g["key"]: g for g in routing["by_category"]}
    assert list(by_category) == ["billing", "scheduling"]
    assert by_category["billing"]["misrouted"]["value"] == 1.0
    assert by_category["billing"]["transfers"]["met"] is False
    assert by_category["scheduling"]["misrouted"]["value"] == 0.0
    assert by_category["scheduling"]["fcr"]["display"] == "100.0 %"
    assert sum(w["counts"]["answered_by_staff"] for w in routing["by_week"]) == 2
    assert 1 <= len(routing["by_week"]) <= 2
    assert metrics["after_hours_clinical_voicemail"]["value"] == 1
    assert metrics["after_hours_clinical_voicemail"]["passed"] is False
    assert metrics["abandonment"]["counts"] == {"abandoned": 1, "short_abandoned": 1, "queued": 4}
    assert metrics["service_level"]["value"] == pytest.approx(1 / 3)
    assert metrics["asa"]["value"] == 55
    assert sum(data["calls_per_hour"]) == 5
    assert data["calls_per_category"] == {"scheduling": 3, "billing": 1, "refill": 1}


def test_table_and_csv(seeded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "report.csv"
    code, out, err = run(
        ["report", "--since", "30d", "--database-url", seeded, "--csv", str(target)], capsys
    )
    assert (code, err) == (0, "")
    assert "calls " in out
    assert ": 6" in out.splitlines()[0]
    for text in (
        "Misrouted call rate", "33.3 %", "✗", "✓", "Average handle time", "≤ 10.0 %",
        "25-40 % → 5-10 %", "35-50 % → 8-15 %", "55-65 % → 80-88 %",
        "resolution by category", "resolution by week",
    ):  # fmt: skip
        assert text in out
    assert "Calls per category" in out
    table = list(csv.DictReader(target.open(encoding="utf-8", newline="")))
    metrics = {r["name"]: r for r in table if r["section"] == "metric"}
    assert metrics["aht"]["value"] == "160"  # (180 + 240 + 60) / 3
    assert metrics["transfers"]["passed"] == "fail"


def test_from_to_in_local_days_and_zone(seeded: str, capsys: pytest.CaptureFixture[str]) -> None:
    day = (NOW - timedelta(days=9)).date()
    code, out, _ = run(
        ["report", "--from", day.isoformat(), "--to", day.isoformat(), "--zone", "UTC", "--json",
         "--database-url", seeded],
        capsys,
    )  # fmt: skip
    assert code == 0
    data = json.loads(out)
    assert data["total_calls"] == 1
    assert data["start"] == f"{day.isoformat()}T00:00:00+00:00"


def test_an_empty_database_reports_no_values(url: str, pg_dsn: str, schema: str, capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    code, _, err = run(["report", "--database-url", url], capsys)
    assert code == 2
    assert "frontdesk db upgrade" in err
    assert main(["db", "upgrade", "--database-url", url]) == 0
    capsys.readouterr()
    code, out, _ = run(["report", "--json", "--database-url", url], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["total_calls"] == 0
    assert {m["key"]: m["value"] for m in data["metrics"]}["aht"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "7w"], "not an age"),
        (["--since", "0d"], "not an age"),
        (["--since", "7d", "--from", "2026-11-01", "--to", "2026-11-02"], "not both"),
        (["--from", "2026-11-01"], "go together"),
        (["--from", "2026-11-05", "--to", "2026-11-01"], "before --from"),
        (["--from", "yesterday", "--to", "2026-11-01"], "not a date"),
        (["--zone", "Mars/Olympus"], "unknown time zone"),
    ],
)
def test_bad_arguments_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        ["report", *args, "--database-url", "postgresql://x@127.0.0.1:1/x"], capsys
    )
    assert code == 2
    assert out == ""
    assert message in err


def test_no_or_unreachable_database_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("FRONTDESK_DATABASE_URL", raising=False)
    code, _, err = run(["report"], capsys)
    assert code == 2
    assert "no database" in err
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    secret_url = f"postgresql://u:hunter2@127.0.0.1:{port}/x"
    code, _, err = run(["report", "--database-url", secret_url], capsys)
    assert code == 2
    assert "unreachable" in err
    assert "hunter2" not in err


def test_time_range_since() -> None:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("America/Chicago")
    assert time_range("24h", None, None, zone, NOW) == (NOW - timedelta(hours=24), NOW)
    assert time_range(None, None, None, zone, NOW) == (NOW - timedelta(days=7), NOW)
    start, end = time_range(None, "2026-03-08", "2026-03-08", zone, NOW)
    assert end - start == timedelta(hours=23)  # the spring-forward day is 23 hours long
    with pytest.raises(Refused):
        time_range("x", None, None, zone, NOW)


def test_a_range_at_the_end_of_the_calendar_is_refused_not_a_crash(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("America/Chicago")
    with pytest.raises(Refused, match="9999-12-30"):
        time_range(None, "9999-12-01", "9999-12-31", zone, NOW)
    code, _, err = run(["report", "--from", "9999-12-01", "--to", "9999-12-31"], capsys)
    assert code == 2
    assert "Traceback" not in err
