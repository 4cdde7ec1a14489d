"""The agent page as a workplace, in a real browser (Debian's Chromium driven by
Playwright), against `frontdesk run` in a process of its own: the demo's embedded
Asterisk emulator without synthetic callers, a real PostgreSQL.

The story: an agent logs in on the agent page, pauses for a meeting and comes back; a
known patient calls and the call arrives on the page (the patient, the reason, the
wait); the agent writes a note and transfers the patient to billing from the page, with
the category corrected; the supervisor's board shows the patient in billing; the agent
saves the disposition (the note carried over) during the wrap-up time; then works a
callback task from before the restart to the end: claims it with the keyboard (the
board shows who has it), calls back now (their phone rings first), and marks it done
with an outcome; the call shows in "My calls today". A screenshot of the page is kept
(`$FRONTDESK_TEST_ARTIFACTS`, default `test-artifacts/`).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from tests.pg import DSN, dsn_in
from tests.test_daemon import schema as schema
from tests.test_dashboard_browser import (
    ARTIFACTS,
    CHROMIUM,
    PASSWORD,
    STARTUP_SECONDS,
    Daemon,
    _browser_or_skip,
    _cli,
    _drain,
    _free_port,
    _log_in,
    _read_until_ready,
)

playwright_api = pytest.importorskip("playwright.async_api")

PRACTICE_TIME = "2026-11-30T10:30"  # a Monday morning: every queue is open
ZONE = ZoneInfo("America/Chicago")
PATIENT = "+13125551001"
TASK_CALLER = "+13125551009"
_CLOCK = re.compile(r"^\d+:\d\d$")  # a duration as shown: 0:25, 1:02:03


async def _seed(schema: str) -> None:
    """A known patient, and two callback tasks left from before the start: one of Ana's
    queues (scheduling), one not (billing)."""
    raised = datetime(2026, 11, 30, 9, 45, tzinfo=ZONE)
    conn = await asyncpg.connect(DSN, server_settings={"search_path": schema})
    try:
        await conn.execute(
            "INSERT INTO patients (phone, patient_id, preferred_language, specialty, name)"
            " VALUES ($1, 'P-1001', 'en', 'cardiology', 'Ann Lee')",
            PATIENT,
        )
        for call, queue in (("task-mine", "scheduling"), ("task-billing", "billing")):
            await conn.execute(
                "INSERT INTO calls (linkedid, caller, queue, category, started_at)"
                " VALUES ($1, $2, $3, $3, $4)",
                call,
                TASK_CALLER,
                queue,
                raised,
            )
            await conn.execute(
                "INSERT INTO call_events (linkedid, event_key, at, kind, data)"
                " VALUES ($1, $2, $3, 'callback_task', $4::jsonb)",
                call,
                f"seed-{call}",
                raised,
                json.dumps({"category": queue, "queue": queue}),
            )
    finally:
        await conn.close()


@pytest.fixture
async def daemon(schema: str, tmp_path: Path) -> AsyncIterator[Daemon]:
    _browser_or_skip()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    env |= {
        "FRONTDESK_HTTP_PORT": str(_free_port()),
        "FRONTDESK_AGI_PORT": "0",
        "FRONTDESK_LOG_FORMAT": "json",
        "FRONTDESK_DATA_DIR": str(tmp_path),
        "FRONTDESK_DATABASE_URL": dsn_in(schema),
        "FRONTDESK_DEMO_CALLERS": "off",
        "FRONTDESK_AGENTS_START": "none",
        "FRONTDESK_PRACTICE_TIME": PRACTICE_TIME,
    }
    _cli(env, "db", "upgrade")
    for user in (
        ["sam", "--role", "supervisor", "--name", "Sam Supervisor"],
        ["ana", "--role", "agent", "--name", "Ana Ruiz", "--extension", "2001"],
    ):
        _cli(env, "users", "add", *user, "--password-stdin", stdin=PASSWORD)
    await _seed(schema)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "frontdesk",
        "run",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    drain: asyncio.Task[None] | None = None
    try:
        ari_port, ami_port, url = await asyncio.wait_for(
            _read_until_ready(process), STARTUP_SECONDS
        )
        drain = asyncio.create_task(_drain(process))
        yield Daemon(url, f"http://127.0.0.1:{ari_port}", ami_port, process, DSN, schema)
    finally:
        if process.returncode is None:
            process.terminate()
            await asyncio.wait_for(process.wait(), 30)
        if drain is not None:
            drain.cancel()


async def _row(daemon: Daemon, query: str, *args: Any) -> Any:
    """The first row of `query` once there is one (records are written asynchronously)."""
    conn = await asyncpg.connect(daemon.dsn, server_settings={"search_path": daemon.schema})
    try:
        for _ in range(50):
            row = await conn.fetchrow(query, *args)
            if row is not None:
                return row
            await asyncio.sleep(0.2)
        raise AssertionError(f"no row for {query} {args}")
    finally:
        await conn.close()


async def test_the_agent_page_from_a_call_to_a_returned_callback(daemon: Daemon) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    expect = playwright_api.expect
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox"]
        )
        errors: list[str] = []
        board = await _log_in(browser, daemon, "sam", errors)
        await expect(board.locator("#connection")).to_have_text("Live")
        agent = await _log_in(browser, daemon, "ana", errors)
        await agent.goto(daemon.url + "agent")
        await expect(agent.locator("#connection")).to_have_text("Live")

        # Log in, pause for a meeting, resume.
        await agent.click("button[data-action=login]")
        await expect(agent.locator("#my-state")).to_have_text("idle")
        await expect(agent.locator("#pause-reason option[value=meeting]")).to_have_count(1)
        await agent.select_option("#pause-reason", "meeting")
        await agent.click("button[data-action=pause]")
        await expect(agent.locator("#my-state")).to_have_text("paused")
        await expect(agent.locator("#my-pause-reason")).to_have_text("(Meeting)")
        paused = board.locator('#agents tr[data-ext="2001"]')
        await expect(paused).to_contain_text("paused (meeting)")  # the board shows why
        await agent.click("button[data-action=unpause]")
        await expect(agent.locator("#my-state")).to_have_text("idle")

        # Billing's Chloe is logged in (by the supervisor) but does not pick up: the
        # patient transferred there waits, rung, on the board.
        await board.evaluate("window.frontdesk.post('/api/agents/2003/login', {})")
        await daemon.control_post("/_emulator/endpoints/2003/behaviour", {"answer_after": None})
        await daemon.control_post("/_emulator/endpoints/2001/behaviour", {"answer_after": 1})
        call = await daemon.control_post(
            "/_emulator/calls", {"caller": PATIENT, "did": "+13125550000"}
        )
        channel = call["channel_id"]
        await asyncio.sleep(1.0)  # the menu starts playing
        await daemon.control_post(f"/_emulator/channels/{channel}/dtmf", {"digits": "1"})

        # The call arrives on the page: the patient, the reason, the queue, the wait.
        await expect(agent.locator("#my-state")).to_have_text("talking", timeout=15_000)
        await expect(agent.locator("#pop")).to_be_visible()
        await expect(agent.locator("#pop-patient")).to_have_text("Ann Lee")
        await expect(agent.locator("#call-queue")).to_have_text("Scheduling")
        await expect(agent.locator("#pop-category")).not_to_have_text("—")
        await expect(agent.locator("#call-wait")).to_have_text(_CLOCK)
        await expect(agent.locator("#transfer")).to_be_visible()
        ben = agent.locator('#transfer-agent option[value="2002"]')
        await expect(ben).to_have_text("Ben Okafor (2002) — logged out")  # colleagues, live
        await agent.fill("#call-note", "wants a payment plan")

        # Transfer to billing from the page, the category corrected.
        await agent.select_option("#transfer-queue", "billing")
        await agent.select_option("#transfer-category", "billing")
        await agent.fill("#transfer-reason", "a question about a bill")
        await agent.click("#transfer-to-queue")
        await expect(agent.locator("#transfer-result")).to_have_text(
            "Transferred to the Billing queue."
        )
        row = board.locator(f'[data-queue="billing"] tr[data-call="{channel}"]')
        await expect(row).to_be_visible(timeout=10_000)
        moved = await _row(
            daemon,
            "SELECT data FROM call_events WHERE linkedid = $1 AND kind = 'staff_transfer'",
            channel,
        )
        fact = json.loads(moved["data"])
        assert (fact["to"], fact["target"], fact["by"]) == ("queue", "billing", "2001")
        assert (fact["category"], fact["reason"]) == ("billing", "a question about a bill")

        # The disposition after the call, with the wrap-up time left; the note carried over.
        await expect(agent.locator("#wrapup")).to_be_visible(timeout=10_000)
        await expect(agent.locator("#wrapup-time")).to_be_visible()
        await expect(agent.locator("#wrapup-left")).to_have_text(_CLOCK)
        await expect(agent.locator("#pop-status")).to_have_text("transferred")
        await expect(agent.locator("#disposition-code")).to_have_value("transferred")
        await expect(agent.locator("#disposition-note")).to_have_value("wants a payment plan")
        await agent.screenshot(path=ARTIFACTS / "agent-page-wrapup.png", full_page=True)
        await agent.click("text=Save disposition")
        await expect(agent.locator("#disposition-saved")).to_be_visible()
        saved = await _row(
            daemon, "SELECT code, note FROM dispositions WHERE linkedid = $1", channel
        )
        assert (saved["code"], saved["note"]) == ("transferred", "wants a payment plan")

        # A callback task of Ana's queues (billing's is not hers), worked to the end.
        task = agent.locator("#task-list li", has_text="Callback task")
        await expect(task).to_have_count(1)
        await expect(task).to_contain_text("Scheduling")
        await expect(task).to_contain_text("not claimed")
        claim = task.get_by_role("button", name="Claim")
        await claim.focus()
        await agent.keyboard.press("Enter")  # keyboard only
        await expect(task).to_contain_text("claimed by you")
        await expect(task.get_by_role("button", name="Call back now")).to_be_focused()
        on_board = board.locator("#alerts li", has_text="claimed by ana")
        await expect(on_board).to_have_count(1)

        await agent.keyboard.press("Enter")  # call back now: my phone first
        await expect(agent.locator("#task-result")).to_contain_text("Your phone rings now")
        await _row(
            daemon,
            "SELECT 1 FROM audit_log WHERE action = 'alert_call_back' AND subject = 'task-mine'",
        )

        await task.get_by_label("Outcome").select_option("reached")
        await task.get_by_role("button", name="Done").click()
        await expect(agent.locator("#task-result")).to_have_text("Done: Reached.")
        await expect(agent.locator("#task-list li")).to_have_count(0)
        await expect(agent.locator("#no-tasks")).to_be_visible()
        done = await _row(
            daemon,
            "SELECT actor, data FROM audit_log"
            " WHERE action = 'alert_acknowledged' AND subject = 'task-mine'",
        )
        assert done["actor"] == "user:ana"
        assert json.loads(done["data"])["outcome"] == "reached"
        acknowledged = board.locator("#alerts li", has_text="acknowledged by ana (reached)")
        await expect(acknowledged).to_have_count(1)

        # My calls today: the transferred call, its number masked for an agent.
        today = agent.locator(f'#today-calls tr[data-call="{channel}"]')
        for _ in range(20):
            await agent.click("#today-refresh")
            await asyncio.sleep(0.5)
            if await today.count():
                break
        await expect(today).to_contain_text("+*******1001")
        await expect(today).to_contain_text("Transferred")  # the disposition
        assert PATIENT not in (await agent.locator("#today").inner_text())
        await agent.screenshot(path=ARTIFACTS / "agent-page.png", full_page=True)

        await daemon.control_post(f"/_emulator/channels/{channel}/hangup", {})
        assert errors == []
        await browser.close()
