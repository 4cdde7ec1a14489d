"""Transfers, misrouting and first-contact resolution from what the daemon records, on the
real PostgreSQL: the hub's facts go through the recorder and the outbox (call rows and
`call_events`), dispositions through the outbox too; `load_rows` reads them back and
`compute` gives the figures, overall, by category and by week."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg  # type: ignore[import-untyped]
import pytest

from frontdesk.calls.events import (
    CallAbandoned,
    CallAnswered,
    CallRouted,
    CallStarted,
    ConversationEnded,
    PhoneTransferred,
    QueueJoined,
    StaffTransferred,
)
from frontdesk.calls.recorder import CallRecorder
from frontdesk.reports.metrics import FCR_WINDOW, Report, compute
from frontdesk.reports.store import load_rows
from frontdesk.routing.destination import Decision, QueueDestination, Request
from frontdesk.routing.ivr import CallFacts
from frontdesk.store import Outbox, upgrade
from frontdesk.store.records import Disposition
from tests.pg import dsn_in

CHICAGO = ZoneInfo("America/Chicago")
T0 = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)  # Tuesday 10:00 in Chicago
START = datetime(2026, 11, 23, tzinfo=CHICAGO).astimezone(UTC)  # Monday
END = datetime(2026, 12, 7, tzinfo=CHICAGO).astimezone(UTC)  # two weeks


class Story:
    """Calls told as the daemon's facts, each at its own time, into the recorder."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self.at = T0
        self.recorder = CallRecorder(outbox, lambda: self.at)

    def call(self, call: str, at: datetime, caller: str | None, category: str) -> None:
        self.at = at
        facts = CallFacts("+13125550000", caller, None)
        decision = Decision(
            Request(category, category, None), QueueDestination(category, ()), category, False, None
        )
        self.recorder.on_hub(CallStarted(call, facts))
        self.recorder.on_hub(CallRouted(call, facts, decision, "en"))
        self.recorder.on_hub(QueueJoined(call, category))

    def then(self, seconds: float, *facts: object) -> None:
        self.at += timedelta(seconds=seconds)
        for fact in facts:
            self.recorder.on_hub(fact)  # type: ignore[arg-type]

    def disposition(self, call: str, agent: str, code: str, after: float) -> None:
        self.outbox.put(Disposition(call, agent, self.at + timedelta(seconds=after), code))


def tell(story: Story) -> None:
    t = T0
    # c1: billing; staff move the patient to scheduling (a misroute), Ben takes it there.
    story.call("c1", t, "+13125550101", "billing")
    story.then(10, CallAnswered("c1", "2003"))
    story.then(
        30, StaffTransferred("c1", "2003", "queue", "scheduling", "cardiology", "scheduling", True)
    )
    story.then(5, CallAnswered("c1", "2002"))
    story.then(90, ConversationEnded("c1"))
    story.disposition("c1", "2003", "transferred", 1)
    story.disposition("c1", "2002", "booked", 2)
    # c2: scheduling; Ana's phone transfers it to Eli, and Ana says wrong department (Eli's
    # later disposition is his own: Ana's word stands).
    story.call("c2", t + timedelta(minutes=1), "+13125550102", "scheduling")
    story.then(10, CallAnswered("c2", "2001"))
    story.then(20, PhoneTransferred("c2", "2001", "2005", "blind"))
    story.then(60, ConversationEnded("c2"))
    story.disposition("c2", "2001", "wrong_department", 1)
    story.disposition("c2", "2005", "resolved", 5)
    # c3: scheduling; answered, dispositioned wrong department: misrouted, not transferred.
    story.call("c3", t + timedelta(minutes=2), "+13125550103", "scheduling")
    story.then(10, CallAnswered("c3", "2001"), ConversationEnded("c3"))
    story.disposition("c3", "2001", "wrong_department", 1)
    # c4: scheduling; wrong department, corrected to resolved: not misrouted. The same
    # number calls again two days later (c5), so not resolved at first contact either.
    story.call("c4", t + timedelta(minutes=3), "+13125550104", "scheduling")
    story.then(10, CallAnswered("c4", "2001"), ConversationEnded("c4"))
    story.disposition("c4", "2001", "wrong_department", 1)
    story.disposition("c4", "2001", "resolved", 30)
    # c5: two days later; handed to a colleague (a transfer, not a misroute).
    story.call("c5", t + timedelta(days=2), "+13125550104", "scheduling")
    story.then(10, CallAnswered("c5", "2001"))
    story.then(20, StaffTransferred("c5", "2001", "agent", "2006", None, "scheduling"))
    story.then(60, ConversationEnded("c5"))
    # c6: billing, resolved: the same number's next call (c9) is a week later.
    story.call("c6", t + timedelta(minutes=4), "+13125550106", "billing")
    story.then(10, CallAnswered("c6", "2003"), ConversationEnded("c6"))
    # c7: billing, withheld number: answered, but cannot be followed.
    story.call("c7", t + timedelta(minutes=5), None, "billing")
    story.then(10, CallAnswered("c7", "2003"), ConversationEnded("c7"))
    # c8: scheduling, hung up in the queue: never answered by staff.
    story.call("c8", t + timedelta(minutes=6), "+13125550108", "scheduling")
    story.then(40, CallAbandoned("c8"))
    # c9: the second week.
    story.call("c9", t + timedelta(days=7), "+13125550106", "billing")
    story.then(10, CallAnswered("c9", "2003"), ConversationEnded("c9"))


@pytest.fixture
async def report(pg_dsn: str, schema: str, tmp_path: Path) -> Report:
    conn = await asyncpg.connect(pg_dsn, server_settings={"search_path": schema})
    try:
        await upgrade(conn)
        outbox = Outbox(dsn_in(schema), tmp_path / "spool.jsonl")
        outbox.start()
        tell(Story(outbox))
        assert await outbox.drain(10)
        await outbox.close()
        rows = await load_rows(conn, START, END + FCR_WINDOW)
    finally:
        await conn.close()
    return compute(rows, start=START, end=END, zone=CHICAGO)


async def test_the_rows_carry_transfers_misroutes_and_wrong_departments(report: Report) -> None:
    misrouted = report.metric("misrouted")
    assert dict(misrouted.counts) == {
        "misrouted": 3,  # c1 moved, c2 and c3 wrong department
        "moved": 1,
        "wrong_department": 2,
        "answered_by_staff": 8,  # all but c8
    }
    assert misrouted.value == pytest.approx(3 / 8)
    transfers = report.metric("transfers")
    assert dict(transfers.counts) == {"transferred": 3, "answered_by_staff": 8}  # c1, c2, c5
    fcr = report.metric("fcr")
    assert dict(fcr.counts) == {"resolved": 2, "answered_known_caller": 7, "answered_withheld": 1}
    assert fcr.value == pytest.approx(2 / 7)  # c6 and c9


async def test_by_category_and_week_from_the_records(report: Report) -> None:
    categories = {f.key: f for f in report.by_category}
    assert list(categories) == ["billing", "scheduling"]  # c1 stays billing: where it was routed
    billing, scheduling = categories["billing"], categories["scheduling"]
    assert (billing.answered, billing.transferred, billing.misrouted, billing.resolved) == (
        4,
        1,
        1,
        2,
    )
    assert billing.value("fcr") == pytest.approx(2 / 3)
    assert (scheduling.answered, scheduling.transferred, scheduling.misrouted) == (4, 2, 2)
    assert scheduling.value("fcr") == 0
    weeks = [(w.key, w.answered, w.transferred, w.misrouted, w.resolved) for w in report.by_week]
    assert weeks == [("2026-11-23", 7, 3, 3, 1), ("2026-11-30", 1, 0, 0, 1)]


async def test_only_transferred_or_dispositioned_calls_look_up_events(
    pg_dsn: str, schema: str, tmp_path: Path
) -> None:
    """A `staff_transfer` event of a call whose row says it was not transferred is not
    looked at (the row's flag is the gate that keeps the lookups to the calls that need
    them); nor a disposition of a call whose row has none."""
    conn = await asyncpg.connect(pg_dsn, server_settings={"search_path": schema})
    try:
        await upgrade(conn)
        await conn.execute(
            "INSERT INTO calls (linkedid, started_at, outcome, transferred) VALUES "
            "('x1', $1, 'answered', false), ('x2', $1, 'answered', true)",
            T0,
        )
        await conn.execute(
            "INSERT INTO call_events (linkedid, event_key, at, kind, data) VALUES "
            "('x1', 'k1', $1, 'staff_transfer', '{\"misrouted\": true}'), "
            "('x2', 'k2', $1, 'staff_transfer', '{\"misrouted\": true}'), "
            "('x2', 'k3', $1, 'staff_transfer', '{\"misrouted\": \"yes\"}'), "
            "('x2', 'k4', $1, 'transferred', '{}')",
            T0,
        )
        rows = {r.linkedid: r for r in await load_rows(conn, START, END)}
    finally:
        await conn.close()
    assert (rows["x1"].staff_transfers, rows["x1"].moved) == (0, False)
    assert (rows["x2"].staff_transfers, rows["x2"].phone_transfers, rows["x2"].moved) == (
        2,
        1,
        True,
    )
