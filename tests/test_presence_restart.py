"""End to end: logins and pauses survive a restart ("logins survive kill -9").

frontdesk's call runtime, its recorder and outbox against a real PostgreSQL (a schema of
its own) and the emulated Asterisk, wired as `frontdesk run` does (daemon.py: the agents
are put back before calls are taken). A first start (nothing stored: everyone logs in),
an agent logs out with *46, another pauses for lunch through the API, a third with *47;
everything stops; a second start with FRONTDESK_AGENTS_START=all finds the stored states,
which win. With the database down at start, the setting decides, and the log says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp.test_utils import TestServer

from frontdesk import daemon
from frontdesk.asterisk.ari import AriClient, AriConfig
from frontdesk.calls.acd_runtime import AcdRuntime
from frontdesk.calls.recorder import CallRecorder
from frontdesk.calls.runtime import CallRuntime
from frontdesk.emulator import Emulator
from frontdesk.plan import Plan
from frontdesk.store import Outbox, db, upgrade
from frontdesk.store.presence import load_agent_presence
from frontdesk.web.agents_api import make_app
from tests.conftest import local
from tests.pg import dsn_in
from tests.store.conftest import pg_dsn as pg_dsn
from tests.store.conftest import schema as schema
from tests.store.conftest import via
from tests.store.test_outbox import closed_port
from tests.test_acd_calls import PASSWORD, SPEED, STAFF, FastClock, _hung_up
from tests.test_acd_calls import pbx as pbx

TOKEN = "test-token"
ANA, BEN, CHLOE, DANA = "2001", "2002", "2003", "2004"


@dataclass
class Frontdesk:
    queues: AcdRuntime
    outbox: Outbox
    ari: AriClient
    api: TestServer

    def shown(self) -> dict[str, tuple[str, str | None]]:
        snapshot = self.queues.engine.snapshot(self.queues.now())
        return {a.ext: (a.state, a.pause_reason) for a in snapshot.agents}

    async def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        data = json.dumps(body).encode() if body is not None else None
        async with (
            aiohttp.ClientSession() as http,
            http.post(self.api.make_url(path), headers=headers, data=data) as response,
        ):
            assert response.status == 200, await response.text()
            answer: dict[str, Any] = await response.json()
            return answer


@contextlib.asynccontextmanager
async def start_frontdesk(
    plan: Plan, pbx: Emulator, dsn: str, spool: Path, *, everyone: bool
) -> AsyncIterator[Frontdesk]:
    """What `frontdesk run` does, in order: the outbox and recorder, the call runtime, the
    agents put back (`daemon._agents_at_start`), the API, then calls are taken."""
    clock = FastClock(local("2026-11-30 10:00"))
    outbox = Outbox(dsn, spool, linger=0.0, connect_timeout=0.5, backoff_max=0.5)
    outbox.start()
    recorder = CallRecorder(outbox, clock, dsn=dsn)
    ari = AriClient(AriConfig(pbx.ari_url, "frontdesk", PASSWORD, backoff_initial=0.05))
    runtime = CallRuntime(plan, ari, now=clock, speed=SPEED)
    runtime.hub.add_listener(recorder.on_hub)
    queues = runtime.acd
    assert queues is not None
    pool = await db.create_pool(dsn, timeout=2.0)
    try:
        await daemon._agents_at_start(queues, recorder, pool, everyone=everyone)
        app = make_app(queues, None, now=clock, api_token=TOKEN, put_audit=outbox.put)
        api = TestServer(app, host="127.0.0.1")
        await api.start_server()
        task = asyncio.create_task(runtime.run())
        try:
            yield Frontdesk(queues, outbox, ari, api)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await api.close()
            await runtime.close()
            await ari.close()
    finally:
        await pool.close()
        await outbox.close(timeout=2)


async def feature_code(fd: Frontdesk, pbx: Emulator, ext: str, feature: str, n: int) -> None:
    """What `*45`/`*46`/`*47` on the phone at `ext` does: Stasis(frontdesk,feature,...)."""
    channel = f"feature-{n}"
    await fd.ari.originate(f"PJSIP/{ext}", channel, app_args=f"feature,{feature}", caller_id=ext)
    await wait_until(lambda: _hung_up(pbx, channel))


async def wait_until(predicate: Callable[[], bool], timeout: float = 8.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


async def test_logins_and_pauses_survive_a_restart(
    plan: Plan, pbx: Emulator, pg_dsn: str, schema: str, tmp_path: Path
) -> None:
    dsn = dsn_in(schema)
    conn = await db.connect(dsn, timeout=5)
    try:
        await upgrade(conn)
        spool = tmp_path / "spool.jsonl"
        async with start_frontdesk(plan, pbx, dsn, spool, everyone=True) as first:
            # A first run: nothing stored, so FRONTDESK_AGENTS_START=all logs everyone in.
            assert {ext for ext, (state, _) in first.shown().items() if state == "idle"} == set(
                STAFF
            )
            await feature_code(first, pbx, BEN, "logout", 1)  # *46
            await feature_code(first, pbx, DANA, "pause", 2)  # *47: paused, no reason
            answer = await first.post(f"/api/agents/{CHLOE}/pause", {"reason": "lunch"})
            assert (answer["state"], answer["pause_reason"]) == ("paused", "lunch")
            assert await first.outbox.drain(5)
        # Stopped, as by kill -9 once the changes were written: only the database knows.
        stored = await load_agent_presence(conn)
        assert {e: (p.logged_in, p.paused, p.pause_reason) for e, p in stored.items()} == {
            ANA: (True, False, None),
            BEN: (False, False, None),
            CHLOE: (True, True, "lunch"),
            DANA: (True, True, None),
            "2005": (True, False, None),
            "2006": (True, False, None),
        }
        before = {e: p.revision for e, p in stored.items()}

        async with start_frontdesk(plan, pbx, dsn, spool, everyone=True) as second:
            assert second.shown() == {
                ANA: ("idle", None),
                BEN: ("logged_out", None),  # FRONTDESK_AGENTS_START=all does not log him in
                CHLOE: ("paused", "lunch"),
                DANA: ("paused", None),
                "2005": ("idle", None),
                "2006": ("idle", None),
            }
            assert BEN not in second.queues.logged_in  # routing: not staffing his queues
            await feature_code(second, pbx, BEN, "login", 3)  # *45: back at his desk
            await wait_until(lambda: BEN in second.queues.logged_in)
            assert await second.outbox.drain(5)
        after = await load_agent_presence(conn)
        assert after[BEN].logged_in
        assert all(after[e].revision > before[e] for e in before)  # newer writes won

        audit = await conn.fetch("SELECT actor, action, subject, data FROM audit_log ORDER BY id")
        entries = [(r["actor"], r["action"], r["subject"], json.loads(r["data"])) for r in audit]
        assert entries == [
            *[("system", "agent_login", ext, {"source": "agents_start"}) for ext in STAFF],
            ("agent:2002", "agent_logout", BEN, {}),
            ("agent:2004", "agent_pause", DANA, {}),
            ("token", "agent_pause", CHLOE, {"reason": "lunch", "on_behalf": "agent:2003"}),
            ("agent:2002", "agent_login", BEN, {}),  # the second start audited nothing else
        ]
        lunch = await conn.fetch(
            "SELECT agent, state, reason FROM agent_state_changes WHERE reason IS NOT NULL"
        )
        assert {(r["agent"], r["state"], r["reason"]) for r in lunch} == {
            (CHLOE, "paused", "lunch")
        }
    finally:
        await conn.close()


@pytest.mark.parametrize("everyone", [True, False])
async def test_with_the_database_down_at_start_the_setting_decides(
    plan: Plan,
    pbx: Emulator,
    pg_dsn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    everyone: bool,
) -> None:
    monkeypatch.setattr(daemon, "RESTORE_WAIT", 0.5)
    down = via(pg_dsn, closed_port())
    with structlog.testing.capture_logs() as logs:
        async with start_frontdesk(
            plan, pbx, down, tmp_path / "spool.jsonl", everyone=everyone
        ) as fd:
            expected = "idle" if everyone else "logged_out"
            assert {state for state, _ in fd.shown().values()} == {expected}
    (warning,) = [e for e in logs if e["event"] == "acd.agents_not_restored"]
    assert warning["agents_start"] == ("all" if everyone else "none")
    assert warning["log_level"] == "warning"
    if everyone:  # what was spooled meanwhile: the logins, for when the database is back
        assert (tmp_path / "spool.jsonl").read_text().count('"agent_presence"') == len(STAFF)
