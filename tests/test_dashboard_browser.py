"""The staff dashboard in a real browser (Debian's Chromium driven by Playwright), against
`frontdesk run` in a process of its own: the demo's embedded Asterisk emulator without
synthetic callers, a real PostgreSQL.

The story: a supervisor watches the board and an agent logs in on the agent view; a
desk phone dials 911 and the board says so, first and plainly, until acknowledged; a
known patient (whose name in the EHR carries HTML) calls; the call appears on the board;
the agent's view pops the caller while the phone rings; the phone is answered, the caller
hangs up; the agent saves a disposition; the supervisor finds the call in the report.
Screenshots of the board, the agent view and the report are kept as test artifacts
(`$FRONTDESK_TEST_ARTIFACTS`, default `test-artifacts/`).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from frontdesk.asterisk.ami import AmiClient, AmiSettings
from frontdesk.settings import DEV_SECRET
from tests.pg import DSN, dsn_in
from tests.test_daemon import schema as schema

CHROMIUM = os.environ.get("FRONTDESK_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("FRONTDESK_TEST_ARTIFACTS", "test-artifacts"))
HTML_NAME = '<img src=x onerror="window.pwned=1">Ann <b>Lee</b>'
PASSWORD = "correct horse battery"
STARTUP_SECONDS = 60

playwright_api = pytest.importorskip("playwright.async_api")


def _browser_or_skip() -> None:
    if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists():
        message = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("FRONTDESK_TEST_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Daemon:
    url: str
    control: str  # the emulator's control API
    ami_port: int  # the emulator's AMI
    process: asyncio.subprocess.Process
    dsn: str
    schema: str

    async def user_event(self, name: str, **fields: str) -> None:
        """An AMI UserEvent on the emulated Asterisk, with the fields its dialplan sends."""
        ami = AmiClient(AmiSettings("127.0.0.1", self.ami_port, "frontdesk", DEV_SECRET))
        await ami.start()
        try:
            await ami.wait_connected(5.0)
            assert (await ami.user_event(name, **fields)).ok
        finally:
            await ami.close()

    async def control_post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{self.control}{path}", json=body) as response,
        ):
            assert response.status < 300, await response.text()
            result: dict[str, Any] = await response.json()
            return result


def _cli(env: dict[str, str], *args: str, stdin: str | None = None) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "frontdesk", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


async def _read_until_ready(process: asyncio.subprocess.Process) -> tuple[int, int, str]:
    """The emulator's ARI and AMI ports and the dashboard's URL, from the daemon's JSON log."""
    ari_port, ami_port, url = None, 0, None
    assert process.stdout is not None
    while ari_port is None or url is None:
        line = await process.stdout.readline()
        if not line:
            raise AssertionError("frontdesk run stopped before it was ready")
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == "emulator.started":
            ari_port, ami_port = int(entry["ari_port"]), int(entry["ami_port"])
        elif entry.get("event") == "dashboard.listening":
            url = str(entry["url"])
    return ari_port, ami_port, url


async def _drain(process: asyncio.subprocess.Process) -> None:
    assert process.stdout is not None
    while await process.stdout.readline():
        pass


@pytest.fixture
async def daemon(schema: str, tmp_path: Path) -> AsyncIterator[Daemon]:
    _browser_or_skip()
    dsn = dsn_in(schema)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    env |= {
        "FRONTDESK_HTTP_PORT": str(_free_port()),
        "FRONTDESK_AGI_PORT": "0",
        "FRONTDESK_LOG_FORMAT": "json",
        "FRONTDESK_DATA_DIR": str(tmp_path),
        "FRONTDESK_DATABASE_URL": dsn,
        "FRONTDESK_DEMO_CALLERS": "off",
        "FRONTDESK_AGENTS_START": "none",
    }
    _cli(env, "db", "upgrade")
    for user in (
        ["sam", "--role", "supervisor", "--name", "Sam Supervisor"],
        ["ana", "--role", "agent", "--name", "Ana Ruiz", "--extension", "2001"],
    ):
        _cli(env, "users", "add", *user, "--password-stdin", stdin=PASSWORD)
    conn = await asyncpg.connect(DSN, server_settings={"search_path": schema})
    try:
        await conn.execute(
            "INSERT INTO patients (phone, patient_id, preferred_language, specialty, name)"
            " VALUES ('+13125551001', 'P-1001', 'en', 'cardiology', $1)",
            HTML_NAME,
        )
    finally:
        await conn.close()
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
        ready = await asyncio.wait_for(_read_until_ready(process), STARTUP_SECONDS)
        ari_port, ami_port, url = ready
        drain = asyncio.create_task(_drain(process))  # keep the pipe from filling up
        yield Daemon(url, f"http://127.0.0.1:{ari_port}", ami_port, process, DSN, schema)
    finally:
        if process.returncode is None:
            process.terminate()
            await asyncio.wait_for(process.wait(), 30)
        if drain is not None:
            drain.cancel()


async def _log_in(browser: Any, daemon: Daemon, username: str, errors: list[str]) -> Any:
    """A browser context of its own (cookies apart) with `username` signed in."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.on("pageerror", lambda error: errors.append(f"{username}: {error}"))
    await page.goto(daemon.url)
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("text=Log in")
    await page.wait_for_url(daemon.url)
    return page


async def _disposition(daemon: Daemon, linkedid: str) -> str | None:
    conn = await asyncpg.connect(daemon.dsn, server_settings={"search_path": daemon.schema})
    try:
        for _ in range(50):
            code = await conn.fetchval(
                "SELECT code FROM dispositions WHERE linkedid = $1", linkedid
            )
            if code is not None:
                return str(code)
            await asyncio.sleep(0.2)
        return None
    finally:
        await conn.close()


async def test_a_call_from_the_board_to_the_report(daemon: Daemon) -> None:
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
        await agent.click("button[data-action=login]")
        await expect(agent.locator("#my-state")).to_have_text("idle")

        # A desk phone dials 911 (Kari's Law): the UserEvent of extensions.conf's `911`.
        await daemon.user_event(
            "FrontdeskEmergencyCall", Uniqueid="911.1", Linkedid="911.1", Extension="2003"
        )
        emergency = board.locator("#alerts li.alert.emergency")
        said = re.compile(r"^911 called from extension 2003 \(Chloe Martin\) at \d\d:\d\d")
        await expect(emergency.locator(".what")).to_have_text(said, timeout=5_000)
        await board.screenshot(path=ARTIFACTS / "board-911.png", full_page=True)
        await emergency.locator("button", has_text="Acknowledge").click()
        await expect(emergency).to_contain_text("acknowledged by sam", timeout=5_000)

        # A phone that drops off shows on the board, distinctly (docs/routing.md §3.2).
        await daemon.control_post("/_emulator/endpoints/2001/unregister", {})
        unreachable = board.locator('#agents tr[data-ext="2001"] .badge.unreachable')
        await expect(unreachable).to_have_text("phone unreachable", timeout=5_000)
        await daemon.control_post("/_emulator/endpoints/2001/register", {})
        await expect(agent.locator("#my-state")).to_have_text("idle", timeout=5_000)

        # The phone rings long enough to see the pop, then answers by itself.
        await daemon.control_post("/_emulator/endpoints/2001/behaviour", {"answer_after": 6})
        call = await daemon.control_post(
            "/_emulator/calls", {"caller": "+13125551001", "did": "+13125550000"}
        )
        channel = call["channel_id"]
        await asyncio.sleep(1.0)  # the menu starts playing
        await daemon.control_post(f"/_emulator/channels/{channel}/dtmf", {"digits": "1"})

        row = board.locator(f'[data-queue="scheduling"] tr[data-call="{channel}"]')
        await expect(row).to_be_visible(timeout=10_000)
        await expect(row).to_contain_text("+13125551001")  # a supervisor sees full numbers
        await board.screenshot(path=ARTIFACTS / "board.png", full_page=True)

        await expect(agent.locator("#pop")).to_be_visible(timeout=5_000)
        await expect(agent.locator("#pop-status")).to_have_text("ringing")
        await expect(agent.locator("#pop-patient")).to_have_text(HTML_NAME)  # as text
        assert await agent.locator("#pop img, #pop b").count() == 0
        assert await agent.evaluate("window.pwned") is None
        await expect(agent.locator("#pop-number")).to_have_text("+13125551001")
        await agent.screenshot(path=ARTIFACTS / "agent-pop.png", full_page=True)

        await expect(agent.locator("#my-state")).to_have_text("talking", timeout=10_000)
        await expect(agent.locator("#pop-status")).to_have_text("answered")
        await daemon.control_post(f"/_emulator/channels/{channel}/hangup", {})
        await expect(agent.locator("#wrapup")).to_be_visible(timeout=10_000)
        await agent.select_option("#disposition-code", "booked")
        await agent.fill("#disposition-note", "booked for Tuesday")
        await agent.click("text=Save disposition")
        await expect(agent.locator("#disposition-saved")).to_be_visible()
        assert await _disposition(daemon, channel) == "booked"

        await board.goto(daemon.url + "reports")
        await expect(board.locator("#total-calls")).to_contain_text("1 call from")
        await expect(board.locator("#categories")).to_contain_text("scheduling")
        await board.screenshot(path=ARTIFACTS / "report.png", full_page=True)
        assert errors == []
        await browser.close()
