"""The lab: a real Asterisk 22, `frontdesk run` against it, SIPp phones and the trunk.

`Lab` owns every process and stops all of them, whatever happened. Tests place calls with
`lab.call(...)` and judge them by what the phones and the trunk saw (SIPp traces), what
AMI said, and the call rows in PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from tests.pg import DSN

from lab.pbx import (
    AMI_PORT,
    ARI_URL,
    CALLER_PORTS,
    FRONTDESK,
    PHONE_PORTS,
    ROOT,
    TRUNK_PORT,
    Asterisk,
)
from lab.sipp import (
    Call,
    Sipp,
    answering_xml,
    caller_xml,
    dial_xml,
    invites_from,
    register_xml,
    wait_until,
)

API_TOKEN = "lab-api-token-for-the-lab-tier-only-0001"  # at least 32 characters
BUSINESS_HOURS = "2026-12-07T10:30"  # a Monday, no holiday
AFTER_HOURS = "2026-12-07T21:00"  # the same Monday evening: everything but 24/7 closed


def lab_plan(workdir: Path) -> Path:
    """The reference plan with the lab's short timers: a callback offer after 25 s, an
    escalation after 20 s, 2 s of wrap-up (so a test need not wait minutes)."""
    text = (ROOT / "daemon/frontdesk/examples/lakeside.yaml").read_text()
    text = re.sub(r"max_wait: \d+m", "max_wait: 25s\n    wrap_up: 2s", text)
    text = text.replace("escalate_after: 8m", "escalate_after: 20s")
    path = workdir / "lab-plan.yaml"
    path.write_text(text)
    return path


class Daemon:
    """`frontdesk run` against the real Asterisk, JSON logs in a file."""

    def __init__(self, workdir: Path, plan: Path, pbx: Asterisk, database_url: str) -> None:
        self.workdir, self.log = workdir, workdir / "frontdesk.log"
        self.http_port = _free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")} | {
            "FRONTDESK_ARI_URL": ARI_URL,
            "FRONTDESK_ARI_PASSWORD": pbx.secrets.ari,
            "FRONTDESK_AMI_PORT": str(AMI_PORT),
            "FRONTDESK_AMI_SECRET": pbx.secrets.ami,
            "FRONTDESK_PLAN": str(plan),
            "FRONTDESK_HTTP_PORT": str(self.http_port),
            "FRONTDESK_AGI_PORT": str(_free_port()),
            "FRONTDESK_LOG_FORMAT": "json",
            "FRONTDESK_DATA_DIR": str(workdir / "data"),
            "FRONTDESK_API_TOKEN": API_TOKEN,
            "FRONTDESK_DATABASE_URL": database_url,
            "FRONTDESK_DIRECTORY": str(ROOT / "daemon/frontdesk/examples/directory.csv"),
        }
        self.proc: Any = None

    def start(self, practice_time: str | None) -> None:
        """`practice_time`: the practice clock's start (practice-local); None: real time."""
        import subprocess

        env = dict(self.env)
        if practice_time is not None:
            env["FRONTDESK_PRACTICE_TIME"] = practice_time
        self.mark = self.text_length()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [FRONTDESK, "run"], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=self.workdir
            )
        wait_until(lambda: self.seen("calls.resynced"), "frontdesk to connect to ARI", 30)

    def text_length(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def seen(self, event: str) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"frontdesk exited:\n{self.text()[-3000:]}")
        return f'"event": "{event}"' in self.text()[self.mark :]

    def events(self, event: str) -> list[dict[str, Any]]:
        found = []
        for line in self.text()[self.mark :].splitlines():
            if f'"event": "{event}"' in line:
                try:
                    found.append(json.loads(line))
                except ValueError:
                    continue
        return found

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}{path}",
            method=method,
            headers=headers,
            data=json.dumps(body).encode()
            if body is not None
            else b""
            if method == "POST"
            else None,
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def kill(self, signal_number: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal_number)
            self.proc.wait(timeout=15)

    def stop(self) -> None:
        import signal

        self.kill(signal.SIGTERM)


class Lab:
    def __init__(
        self, prefix: Path, workdir: Path, database_url: str, schema: str, plan: Path | None = None
    ) -> None:
        self.workdir = workdir
        self.plan = plan or lab_plan(workdir)
        self.pbx = Asterisk(prefix, workdir, self.plan)
        self.database_url, self.schema = database_url, schema
        self.daemon = Daemon(workdir, self.plan, self.pbx, database_url)
        self.phones: dict[str, Sipp] = {}
        self.trunk: Sipp | None = None
        self._callers: list[Sipp] = []
        self._ports: Iterator[int] = itertools.cycle(CALLER_PORTS)
        self._dial_ports: Iterator[int] = itertools.cycle(range(5201, 5261))  # staff dialling
        self._seq = itertools.count(1)

    # -- bringing it up -----------------------------------------------------------------------
    def start(self, *, configure: bool = True, practice_time: str | None = BUSINESS_HOURS) -> None:
        if configure:
            self.pbx.configure()
            self.pbx.render_prompts()
        self.pbx.start()
        for ext in PHONE_PORTS:
            self.register(ext)
            self.phone(ext)
        self.trunk = Sipp(
            "trunk", self.workdir, TRUNK_PORT, answering_xml(1000, 60000), calls=None
        ).start()
        self.daemon.start(practice_time)

    def register(self, ext: str, *, expires: int = 3600) -> None:
        """The phone registers (`expires=0`: unregisters, as one unplugged politely)."""
        port = PHONE_PORTS[ext]
        reg = Sipp(
            f"register-{ext}-{next(self._seq)}",
            self.workdir,
            port,
            register_xml(ext, self.pbx.secrets.phones[ext], expires=expires),
            calls=1,
        ).start()
        if reg.wait(15) != 0:
            raise RuntimeError(f"phone {ext} did not register: {reg.dir}")

    def phone(
        self,
        ext: str,
        *,
        ring: float = 1.0,
        talk: float = 120.0,
        transfer_to: str | None = None,
        busy: bool = False,
    ) -> Sipp:
        """(Re)start a phone's answering SIPp: rings `ring` s, answers, hangs up after
        `talk` s unless the caller hangs up first (`transfer_to`: presses transfer to that
        extension after `talk` s instead; `busy`: answers 486 to every call)."""
        old = self.phones.get(ext)
        if old is not None:
            old.stop()
        sipp = Sipp(
            f"phone-{ext}-{next(self._seq)}",
            self.workdir,
            PHONE_PORTS[ext],
            answering_xml(
                round(ring * 1000), round(talk * 1000), transfer_to=transfer_to, busy=busy
            ),
            calls=None,
        ).start()
        self.phones[ext] = sipp
        return sipp

    def call(self, call: Call) -> Sipp:
        """A patient calls in on the trunk (from a port of its own), in the background."""
        name = f"call-{next(self._seq):03d}-{call.caller.lstrip('+')}"
        directory = self.workdir / name
        directory.mkdir(parents=True, exist_ok=True)
        sipp = Sipp(name, self.workdir, next(self._ports), caller_xml(call, directory), calls=1)
        self._callers.append(sipp)
        return sipp.start()

    def dial(self, ext: str, number: str) -> Sipp:
        """A staff phone dials `number` (a feature code), from a port of its own."""
        name = f"dial-{next(self._seq):03d}-{ext}-{number.replace('*', 'star')}"
        xml = dial_xml(ext, self.pbx.secrets.phones[ext], number)
        sipp = Sipp(name, self.workdir, next(self._dial_ports), xml, calls=1)
        self._callers.append(sipp)
        return sipp.start()

    def answered_by(self, caller: str, timeout: float = 40.0) -> str:
        """The extension whose phone got the INVITE carrying `caller`'s caller ID."""
        found: list[str] = []

        def rung() -> bool:
            found[:] = [e for e, p in self.phones.items() if invites_from(p, caller)]
            return bool(found)

        wait_until(rung, f"a phone to ring with {caller}", timeout)
        return found[0]

    def agent_states(self) -> dict[str, Any]:
        return {a["ext"]: a for a in self.daemon.api("GET", "/api/acd")["agents"]}

    def queue_callers(self, queue: str) -> list[dict[str, Any]]:
        for view in self.daemon.api("GET", "/api/acd")["queues"]:
            if view["name"] == queue:
                return list(view["callers"])
        raise AssertionError(f"no queue {queue}")

    def restart_daemon(self, practice_time: str) -> None:
        self.daemon.stop()
        self.daemon.start(practice_time)

    def stop(self) -> None:
        for sipp in [*self._callers, *self.phones.values(), *([self.trunk] if self.trunk else [])]:
            with contextlib.suppress(Exception):  # teardown goes on whatever one did
                sipp.stop()
        try:
            self.daemon.stop()
        finally:
            self.pbx.stop()

    # -- observing ------------------------------------------------------------------------------
    def rows(self, query: str, *args: Any) -> list[dict[str, Any]]:
        async def fetch() -> list[dict[str, Any]]:
            conn = await asyncpg.connect(
                self.database_url.split("?")[0], server_settings={"search_path": self.schema}
            )
            try:
                return [dict(r) for r in await conn.fetch(query, *args)]
            finally:
                await conn.close()

        return asyncio.run(fetch())

    def call_row(
        self, caller: str, timeout: float = 30.0, *, ended: bool = False
    ) -> dict[str, Any]:
        """The call row of `caller` (newest) once it has an outcome (`ended`: once the call
        is over: an answered call has its outcome long before), waiting for it."""
        found: list[dict[str, Any]] = []
        column = "ended_at" if ended else "outcome"

        def written() -> bool:
            found[:] = self.rows(
                f"SELECT * FROM calls WHERE caller = $1 AND {column} IS NOT NULL "
                "ORDER BY created_at DESC LIMIT 1",
                caller,
            )
            return bool(found)

        wait_until(written, f"the call row of {caller}", timeout)
        return found[0]


async def admin_sql(statement: str) -> None:
    """One statement on the test server as its admin (a lab run's scratch schema)."""
    conn = await asyncpg.connect(DSN, timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
