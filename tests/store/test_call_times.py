"""Where a call row's times come from (issue 16): frontdesk's own stamps win over the AMI
`Cdr`'s, whatever order the two reach PostgreSQL in; the Cdr fills what frontdesk did not
see. Real PostgreSQL, through the outbox's merge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest

from frontdesk.asterisk.ami_codec import Event
from frontdesk.store import CallUpsert, Outbox, upgrade
from frontdesk.store.cdr import cdr_upsert

T0 = datetime(2026, 12, 5, 5, 31, 38, 250_000, tzinfo=UTC)  # frontdesk saw the call start
UTC_PBX = UTC


@pytest.fixture
async def outbox(
    conn: asyncpg.Connection, pg_dsn: str, schema: str, tmp_path: Path
) -> AsyncIterator[Outbox]:
    await upgrade(conn)
    box = Outbox(
        pg_dsn,
        tmp_path / "spool.jsonl",
        server_settings={"search_path": schema},
        batch_size=1000,
    )
    yield box
    await box.close(timeout=2)


def cdr(linkedid: str, application: str = "Stasis", **times: str) -> Event:
    fields = {
        "Event": "Cdr",
        "DestinationContext": "from-pstn",
        "Channel": "PJSIP/trunk-0000000a",
        "LastApplication": application,
        "LastData": "frontdesk",
        "StartTime": "2026-12-05 05:31:37",
        "AnswerTime": "2026-12-05 05:31:37",
        "EndTime": "2026-12-05 05:33:01",
        "BillableSeconds": "84",
        "Disposition": "ANSWERED",
        "UniqueID": linkedid,
        "Sequence": "7",
    } | times
    return Event(tuple(fields.items()))


def recorder(linkedid: str) -> list[CallUpsert]:
    """What calls/recorder.py writes: its own UTC stamps, last non-null wins."""
    return [
        CallUpsert(linkedid, {"started_at": T0}, key=f"{linkedid}:started"),
        CallUpsert(linkedid, {"answered_at": T0 + timedelta(seconds=20), "agent": "2001"}),
        CallUpsert(linkedid, {"ended_at": T0 + timedelta(seconds=82)}),
    ]


async def times(conn: asyncpg.Connection, linkedid: str) -> tuple[datetime | None, ...]:
    row = await conn.fetchrow(
        "SELECT started_at, answered_at, ended_at FROM calls WHERE linkedid = $1", linkedid
    )
    return (row["started_at"], row["answered_at"], row["ended_at"])


OURS = (T0, T0 + timedelta(seconds=20), T0 + timedelta(seconds=82))


@pytest.mark.parametrize("together", [True, False], ids=["one-batch", "batch-each"])
async def test_frontdesks_times_win_whether_the_cdr_lands_first_or_last(
    conn: asyncpg.Connection, outbox: Outbox, together: bool
) -> None:
    outbox.start()
    for order, linkedid in (("cdr-first", "first"), ("cdr-last", "last")):
        upserts = recorder(linkedid)
        # A Cdr read six hours off (the bug): its times must change nothing.
        late = cdr_upsert(cdr(linkedid, StartTime="2026-12-05 11:31:37"), UTC_PBX)
        assert late is not None
        sequence = [late, *upserts] if order == "cdr-first" else [*upserts, late]
        for upsert in sequence:
            outbox.put(upsert)
            if not together:
                assert await outbox.drain(5)
    assert await outbox.drain(5)
    assert await times(conn, "first") == OURS
    assert await times(conn, "last") == OURS


async def test_the_cdr_fills_what_frontdesk_did_not_see(
    conn: asyncpg.Connection, outbox: Outbox
) -> None:
    outbox.start()
    # frontdesk was down: the dialplan's Queue() took the call; only the Cdr knows it.
    outbox.put(_check(cdr_upsert(cdr("dialplan", application="Queue"), UTC_PBX)))
    # frontdesk restarted during the call: it saw the end, not the start.
    outbox.put(CallUpsert("restart", {"ended_at": OURS[2]}))
    outbox.put(_check(cdr_upsert(cdr("restart"), UTC_PBX)))
    assert await outbox.drain(5)
    start = datetime(2026, 12, 5, 5, 31, 37, tzinfo=UTC)
    end = datetime(2026, 12, 5, 5, 33, 1, tzinfo=UTC)
    assert await times(conn, "dialplan") == (start, start, end)
    # answered_at: the Stasis leg's AnswerTime is frontdesk answering its own menu.
    assert await times(conn, "restart") == (start, None, OURS[2])
    talk = await conn.fetchval("SELECT talk_s FROM calls WHERE linkedid = 'dialplan'")
    assert talk == 84  # what is not a time still merges as before


def _check(upsert: CallUpsert | None) -> CallUpsert:
    assert upsert is not None
    return upsert
