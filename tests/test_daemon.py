"""`frontdesk run` as a newcomer's `make run` starts it: the demo on the embedded emulator,
its call records landing in PostgreSQL."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from tests.pg import DSN, scratch_schema


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    async with scratch_schema("fd_daemon") as name:
        yield name


async def test_demo_routes_calls_records_them_and_logs_no_full_number(
    schema: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    env |= {
        "FRONTDESK_HTTP_PORT": "0",
        "FRONTDESK_AGI_PORT": "0",
        "FRONTDESK_LOG_FORMAT": "json",
        "FRONTDESK_DATA_DIR": str(tmp_path),
        "FRONTDESK_DATABASE_URL": f"{DSN}?options=-csearch_path%3D{schema}",
    }
    result = subprocess.run(
        [sys.executable, "-m", "frontdesk", "run", "--demo-calls", "3"],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    log = result.stdout + result.stderr
    assert log.count('"event": "call.routed"') >= 3
    assert '"event": "frontdesk.stopped"' in log
    # AMI with asterisk-conf/manager.conf's rights (the emulator's default): nothing refused,
    # and the phones' states were read at connect (over ARI).
    assert "ami_filter_refused" not in log
    assert "phones.sync" not in log  # neither sync_failed nor the old sync_refused
    assert re.search(
        r'"event": "phones.registered".*"synced": true|"synced": true.*"event": "phones.registered"',
        log,
    )
    # The demo's callers include known patients (+1312555100x): never in full in a log line.
    assert not re.search(r"\+?1?312555100\d", log)
    conn = await asyncpg.connect(DSN, server_settings={"search_path": schema})
    try:
        routed = await conn.fetchval("SELECT count(*) FROM calls WHERE category IS NOT NULL")
        # A first run: nothing stored, so FRONTDESK_AGENTS_START (all) logged everyone in,
        # and that is kept for the next start (agent_presence) and audited.
        logged_in = await conn.fetchval("SELECT count(*) FROM agent_presence WHERE logged_in")
        audited = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE actor = 'system' AND action = 'agent_login'"
        )
    finally:
        await conn.close()
    assert routed >= 3
    assert logged_in == audited == 6
    assert '"event": "acd.agents_restored"' in log
