"""The demo's callers and staff (demo.py): what makes the reports' transfer, misrouting
and first-contact figures move. The daemon's parts are stood in for; the real ones are
exercised by tests/test_staff_transfers.py and tests/test_phone_transfer.py."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from frontdesk.calls.events import CallAbandoned, CallAnswered, ConversationEnded
from frontdesk.demo import DemoCallers, DemoStaff, _categories_by_queue
from frontdesk.plan import Plan
from frontdesk.routing.directory import Directory
from frontdesk.store.records import Disposition, Record

NOW = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)


@dataclass
class Transfers:
    """`StaffTransfers` as the demo uses it: what was asked."""

    asked: list[tuple[str, ...]] = field(default_factory=list)

    def to_queue(self, call: str, queue: str, *, by: str, reason: str, category: str) -> None:
        self.asked.append(("queue", call, queue, category, by))

    def to_agent(self, call: str, ext: str, *, by: str, reason: str) -> None:
        self.asked.append(("agent", call, ext, by))


class Emulator:
    def __init__(self) -> None:
        self.transfers: list[tuple[str, str]] = []

    async def transfer(self, channel: str, to: str) -> dict[str, Any]:
        self.transfers.append((channel, to))
        return {}


def staff_at_work(plan: Plan, stories: list[str]) -> tuple[DemoStaff, Any, list[Record]]:
    records: list[Record] = []
    calls = {
        f"c{i}": SimpleNamespace(joined=SimpleNamespace(queue="scheduling"), agent_leg=f"leg{i}")
        for i in range(len(stories))
    }
    runtime = SimpleNamespace(
        staff_transfers=Transfers(), acd=SimpleNamespace(calls=calls), now=lambda: NOW
    )
    staff = DemoStaff(plan, runtime, Emulator(), records.append, random.Random(1))  # type: ignore[arg-type]
    staff.PAUSE = (0.0, 0.0)
    picks = iter(stories)
    staff._pick = lambda: next(picks)  # type: ignore[method-assign]
    return staff, runtime, records


def codes(records: list[Record]) -> list[tuple[str, str, str]]:
    return [(r.linkedid, r.agent, r.code) for r in records if isinstance(r, Disposition)]


async def test_staff_move_misrouted_callers_hand_on_and_say_wrong_department(plan: Plan) -> None:
    stories = ["move", "colleague", "phone", "wrong_department", "resolved"]
    staff, runtime, records = staff_at_work(plan, stories)
    for i in range(len(stories)):
        staff.on_hub(CallAnswered(f"c{i}", "2001"))
    await asyncio.gather(*staff._tasks)
    asked = runtime.staff_transfers.asked
    assert asked[0][:2] == ("queue", "c0")
    queue, category = asked[0][2], asked[0][3]
    assert queue != "scheduling"  # another queue: a misroute
    assert category in _categories_by_queue(plan)[queue]
    assert asked[1][:2] == ("agent", "c1")
    assert asked[1][2] != "2001"  # a colleague
    assert staff.emulator.transfers[0][0] == "leg2"  # the agent's phone presses transfer
    # The moved patient is answered again in the new queue: no new decision for them.
    staff.on_hub(CallAnswered("c0", "2003"))
    assert len(asked) == 2
    for i in range(len(stories)):
        staff.on_hub(ConversationEnded(f"c{i}"))
    transferred = [c for c in codes(records) if c[2] == "transferred"]
    assert transferred == [("c0", "2001", "transferred"), ("c1", "2001", "transferred"),
                           ("c2", "2001", "transferred")]  # fmt: skip
    assert ("c3", "2001", "wrong_department") in codes(records)
    assert not [
        c for c in codes(records) if c[1] == "2001" and c[0] == "c0" and c[2] != "transferred"
    ]
    assert staff._stories == {}
    assert staff._agents == {}


async def test_a_call_that_ends_otherwise_is_forgotten(plan: Plan) -> None:
    staff, _, records = staff_at_work(plan, ["wrong_department"])
    staff.on_hub(CallAnswered("c0", "2001"))
    staff.on_hub(CallAbandoned("c0"))  # e.g. hung up in the queue it was moved to
    assert codes(records) == [("c0", "2001", "wrong_department")]
    assert staff._stories == staff._agents == {}


def test_demo_callers_mix_known_withheld_new_and_repeat_callers() -> None:
    directory = Directory()
    callers = DemoCallers(directory, random.Random(7))
    numbers = [callers.next() for _ in range(2000)]
    known = sum(n in callers.known for n in numbers)
    withheld = numbers.count("anonymous")
    new = [n for n in numbers if n.startswith("+1773555")]
    repeats = len(new) - len(set(new))
    assert 150 < known < 250
    assert 50 < withheld < 150
    assert 150 < repeats < 400  # some call again soon after
    assert len(set(new)) > 1200
    assert DemoCallers(None, random.Random(7)).known == []
