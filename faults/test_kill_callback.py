"""kill -9 the daemon while a callback is pending (the patient hung up after pressing 1):
the restarted daemon restores it from PostgreSQL at its place and makes it."""

from __future__ import annotations

import asyncio
import re
import signal
from pathlib import Path
from typing import Any

import pytest

from faults.conftest import Database
from faults.harness import EmulatorProcess, caller_number, wait_for


@pytest.fixture
def plan(plan: Path, tmp_path: Path) -> Path:
    """The fault plan with nurse_triage offering the callback after 4 s, not 5 min."""
    text = re.sub(
        r"(  nurse_triage:\n    schedule: triage\n    max_wait: )5m", r"\g<1>4s", plan.read_text()
    )
    assert "max_wait: 4s" in text
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    return path


async def test_kill_9_with_a_pending_callback_restores_and_makes_it(
    pbx: EmulatorProcess, database: Database, daemon_for: Any
) -> None:
    first = daemon_for(pbx, database.dsn, name="daemon-1")
    await first.ready()
    await first.pause_everyone()  # nobody answers: every caller waits
    before = await pbx.place_call("anonymous")  # never offered a callback
    await wait_for(lambda: pbx.queued(before), "the first caller to wait", 20)
    patient = await pbx.place_call(caller_number(1))
    await wait_for(lambda: pbx.queued(patient), "the patient to wait", 20)
    after = await pbx.place_call("anonymous")
    await wait_for(lambda: pbx.queued(after), "the last caller to wait", 20)

    async def offered() -> bool:
        return "sound:frontdesk/callback-offer" in (await pbx.channel(patient))["media"]

    await wait_for(offered, "the callback offer", 20)
    await pbx.control("POST", f"/channels/{patient}/dtmf", {"digits": "1"})
    await wait_for(
        lambda: database.fetch(
            "SELECT 1 FROM pending_callbacks WHERE call_id = $1 AND status = 'pending'", patient
        ),
        "the callback to be stored",
        10,
    )
    order = await first.queue_order("nurse_triage")
    assert order == [before, patient, after]

    async def hung_up() -> bool:  # thanked, then hung up: only the database remembers it
        return bool((await pbx.channel(patient))["hung_up"])

    await wait_for(hung_up, "the patient to be hung up", 10)
    first.send(signal.SIGKILL)
    assert await first.exited(10) == -signal.SIGKILL
    second = daemon_for(pbx, database.dsn, name="daemon-2")
    await second.ready()
    await wait_for(
        lambda: _order_is(second, order), "the callback back at its place among the others", 30
    )
    assert second.events("acd.callback_restored")

    await second.resume_everyone()  # the nurses are back: the callback is made at its turn
    await wait_for(
        lambda: database.fetch(
            "SELECT 1 FROM pending_callbacks WHERE call_id = $1 AND status = 'done'", patient
        ),
        "the callback to be made",
        30,
    )
    dialled = [e for e in second.events("acd.ringing") if e.get("kind") == "callback-agent"]
    assert [e["call"] for e in dialled] == [patient]
    await asyncio.sleep(0)
    assert await pbx.violations() == []


async def _order_is(daemon: Any, order: list[str]) -> bool:
    return bool(await daemon.queue_order("nurse_triage") == order)
