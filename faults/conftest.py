"""Fixtures of the fault suite: a plan that is open around the clock, a database schema of
the test's own, unique app names, and teardown that kills whatever a test left running."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from tests.pg import DSN, dsn_in, scratch_schema

from faults.harness import DaemonProcess, EmulatorProcess, Process

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference plan, open 24/7 with no holidays: queues are open whenever this runs."""
    text = (ROOT / "daemon/frontdesk/examples/lakeside.yaml").read_text()
    text = re.sub(r"  holidays:\n(    .*\n)+", "", text)
    text = re.sub(
        r"schedules:.*?\n\nqueues:",
        'schedules:\n  office: "24/7"\n  billing: "24/7"\n  triage: "24/7"\n\nqueues:',
        text,
        flags=re.S,
    )
    path = tmp_path_factory.mktemp("plan") / "plan.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def app() -> str:
    """A Stasis app name of the test's own (the instance lock is per app name)."""
    return f"fd-fault-{uuid.uuid4().hex[:8]}"


@dataclass
class Database:
    dsn: str  # for the daemon: the test's schema first in the search path
    schema: str

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        conn = await asyncpg.connect(DSN, server_settings={"search_path": self.schema})
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()


@pytest.fixture
async def database() -> AsyncIterator[Database]:
    async with scratch_schema("fd_fault") as name:
        yield Database(dsn_in(name), name)


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    """Every process a test starts; those still running at the end are killed."""
    started: list[Process] = []
    yield started
    for process in reversed(started):
        process.stop()


@pytest.fixture
async def pbx(tmp_path: Path, app: str, processes: list[Process]) -> EmulatorProcess:
    emulator = EmulatorProcess(tmp_path, app)
    processes.append(emulator)
    await emulator.ready()
    return emulator


@pytest.fixture
def daemon_for(tmp_path: Path, app: str, plan: Path, processes: list[Process]) -> Any:
    """A factory: `daemon_for(pbx, database_url, name=...)` -> a DaemonProcess (not started)."""

    def make(
        pbx: EmulatorProcess,
        database_url: str | None,
        *,
        name: str = "daemon",
        ari_url: str | None = None,
        ami_port: int | None = None,
        data_dir: Path | None = None,
    ) -> DaemonProcess:
        daemon = DaemonProcess(
            tmp_path,
            name,
            app=app,
            plan=plan,
            ari_url=ari_url or pbx.ari_url,
            ami_port=ami_port or pbx.ami_port,
            database_url=database_url,
            data_dir=data_dir,
        )
        processes.append(daemon)
        return daemon

    return make
