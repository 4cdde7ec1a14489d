"""End to end (issue 16): `frontdesk run` as a process against the emulator over real
sockets, records in the real PostgreSQL, the example plan in America/Chicago, and the
PBX's clock in another zone: UTC (a container), the practice's own, and Asia/Kolkata
(+05:30). A call frontdesk handles leaves a row whose times are its events' to the
second, whatever the PBX's zone; a call only the dialplan handled (a DID that does not
reach Stasis) gets its times from the Cdr, read in the zone learned at the AMI connect.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg  # type: ignore[import-untyped]
import pytest

from frontdesk.emulator import Emulator
from frontdesk.emulator.dialplan import default_dialplan
from tests.pg import DSN, dsn_in, scratch_schema

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "call-times-test-secret"
REFILL_DID = "+13125550010"  # straight into nurse_triage, no keys
DIALPLAN_DID = "+13125550099"  # answered by the dialplan alone: frontdesk never sees it
ANSWERED = "SELECT 1 FROM call_events WHERE linkedid = $1 AND kind = 'answered'"
STAFF = ["2001", "2002", "2003", "2004", "2005", "2006"]


def open_all_week(tmp: Path) -> Path:
    """The example plan (America/Chicago), open 24/7 without holidays: its queues take the
    call whenever the test runs."""
    text = (ROOT / "daemon/frontdesk/examples/lakeside.yaml").read_text()
    text = re.sub(r"  holidays:\n(    .*\n)+", "", text)
    text = re.sub(
        r"schedules:.*?\n\nqueues:",
        'schedules:\n  office: "24/7"\n  billing: "24/7"\n  triage: "24/7"\n\nqueues:',
        text,
        flags=re.S,
    )
    assert "timezone: America/Chicago" in text
    path = tmp / "plan.yaml"
    path.write_text(text)
    return path


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    async with scratch_schema("fd_times") as name:
        yield name


async def fetch(schema: str, query: str, *args: Any) -> list[Any]:
    conn = await asyncpg.connect(DSN, server_settings={"search_path": schema})
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def until(what: str, check: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize(
    ("pbx_zone", "setting"),
    [
        ("UTC", None),
        ("America/Chicago", None),
        ("Asia/Kolkata", None),
        ("Asia/Kolkata", "Asia/Kolkata"),  # FRONTDESK_PBX_TIMEZONE wins (and agrees)
    ],
)
async def test_rows_and_events_agree_to_the_second_whatever_the_pbx_zone(
    pbx_zone: str, setting: str | None, schema: str, tmp_path: Path
) -> None:
    dialplan = default_dialplan("frontdesk")
    dialplan["from-pstn"] = {
        DIALPLAN_DID: [("Answer", ""), ("Wait", "1"), ("Hangup", "")],
        **dialplan["from-pstn"],
    }
    async with Emulator(
        ari_password=PASSWORD,
        ami_secret=PASSWORD,
        staff=STAFF,
        media_seconds=0.05,
        answer_after=0.3,
        dialplan=dialplan,
        pbx_timezone=pbx_zone,
    ) as pbx:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
        env |= {
            "FRONTDESK_PLAN": str(open_all_week(tmp_path)),
            "FRONTDESK_ARI_URL": pbx.ari_url,
            "FRONTDESK_ARI_PASSWORD": PASSWORD,
            "FRONTDESK_AMI_PORT": str(pbx.ami_port),
            "FRONTDESK_AMI_SECRET": PASSWORD,
            "FRONTDESK_DATABASE_URL": dsn_in(schema),
            "FRONTDESK_DATA_DIR": str(tmp_path / "data"),
            "FRONTDESK_HTTP_PORT": "0",
            "FRONTDESK_AGI_PORT": "0",
            "FRONTDESK_LOG_FORMAT": "json",
        }
        if setting is not None:
            env["FRONTDESK_PBX_TIMEZONE"] = setting
        log = tmp_path / "daemon.log"
        with log.open("wb") as out:
            daemon = subprocess.Popen(
                [sys.executable, "-m", "frontdesk", "run"], env=env, stdout=out, stderr=out
            )
        try:
            await until("the PBX clock", lambda: _logged(log, "ami.pbx_clock"), 30)
            await until("the ARI app", lambda: _logged(log, "calls.resynced"), 30)
            handled = await pbx.place_call("+13125551001", REFILL_DID)
            await until(
                "the agent's answer",
                lambda: fetch(schema, ANSWERED, handled),
            )
            await asyncio.sleep(1.2)  # a conversation over a second boundary
            await pbx.hangup(handled)
            placed = datetime.now(UTC)
            alone = await pbx.place_call("+13125551002", DIALPLAN_DID)
            await until("the dialplan call's end", lambda: _gone(pbx, alone))
            hung_up = datetime.now(UTC)
            await until("both rows, complete", lambda: _both(schema, handled, alone))
        finally:
            daemon.send_signal(signal.SIGTERM)
            await asyncio.to_thread(daemon.wait, 30)
            print(log.read_text()[-4000:])  # shown when the test fails
    text = log.read_text()
    (clock,) = [e for e in _events(text) if e["event"] == "ami.pbx_clock"]
    offset = datetime.now(ZoneInfo(pbx_zone)).utcoffset()
    assert offset is not None
    assert clock["offset"] == _offset(offset)
    source = "setting" if setting else "ari_ping"
    assert (clock["from_setting"], clock["source"]) == (setting is not None, source)
    assert clock["learned"] == clock["offset"]  # the PBX says so too

    row = (await fetch(schema, "SELECT * FROM calls WHERE linkedid = $1", handled))[0]
    events = {
        e["kind"]: e["at"]
        for e in await fetch(
            schema, "SELECT kind, at FROM call_events WHERE linkedid = $1 ORDER BY at", handled
        )
    }
    assert row["outcome"] == "answered"
    for column, kind in (("started_at", "started"), ("answered_at", "answered"),
                         ("ended_at", "talk_ended")):  # fmt: skip
        assert abs(row[column] - events[kind]) < timedelta(seconds=1), column
    # ... and those are real UTC moments, not six (or five and a half) hours off.
    assert abs(row["ended_at"] - placed) < timedelta(seconds=3)

    # Only the Cdr knows the dialplan's call: its times, read in the learned zone.
    (cdr_row,) = await fetch(schema, "SELECT * FROM calls WHERE linkedid = $1", alone)
    assert await fetch(schema, "SELECT 1 FROM call_events WHERE linkedid = $1", alone) == []
    assert placed - timedelta(seconds=2) <= cdr_row["started_at"] <= hung_up
    assert cdr_row["answered_at"] >= cdr_row["started_at"]
    assert abs(cdr_row["ended_at"] - hung_up) < timedelta(seconds=2)


async def _both(schema: str, handled: str, alone: str) -> bool:
    rows = await fetch(
        schema,
        "SELECT linkedid FROM calls WHERE linkedid = ANY($1) AND ended_at IS NOT NULL"
        " AND started_at IS NOT NULL AND answered_at IS NOT NULL",
        [handled, alone],
    )
    return len(rows) == 2


async def _gone(pbx: Emulator, channel: str) -> bool:
    return channel not in pbx.pbx.channels


async def _logged(log: Path, event: str) -> bool:
    return any(e["event"] == event for e in _events(log.read_text()))


def _events(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def _offset(offset: timedelta) -> str:
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
