"""Real processes for the fault suite: the emulated Asterisk and `frontdesk run`, each an OS
process (so `kill -9` and SIGTERM are real), plus TCP and HTTP proxies the tests control.

Everything is observed from the outside: the emulator's control API (`/_emulator/`), the
daemon's agents API and logs, process exit codes, and the `calls` table.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

FRONTDESK = str(Path(sys.executable).with_name("frontdesk"))
SECRET = "fault-suite-secret"  # the emulator's credentials, on loopback only
API_TOKEN = "fault-suite-token-of-at-least-32-characters"
STAFF = ("2001", "2002", "2003", "2004", "2005", "2006")
MAIN_DID = "+13125550000"  # the main menu
REFILL_DID = "+13125550010"  # straight into nurse_triage (no keys): Dana 2004, Eli 2005


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def wait_for(
    predicate: Callable[[], Awaitable[object] | object], what: str, timeout: float = 20.0
) -> float:
    """Poll until `predicate` holds; the seconds it took. Fails the test after `timeout`."""
    start = time.monotonic()
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


def caller_number(n: int) -> str:
    return f"+1773555{n:04d}"


async def callers_in_flight(
    pbx: EmulatorProcess, daemon: DaemonProcess, menu_caller: int
) -> tuple[list[str], str]:
    """With nobody to answer: three callers waiting in a queue, then one hearing the main
    menu (caller number `menu_caller`); their channel ids."""
    await daemon.pause_everyone()
    queued = [await pbx.place_call(caller_number(n)) for n in range(3)]
    for channel in queued:
        await wait_for(functools.partial(pbx.queued, channel), "a caller to wait in the queue")
    in_menu = await pbx.place_call(caller_number(menu_caller), did=MAIN_DID)

    async def hearing_the_menu() -> bool:
        return any("menu" in m for m in (await pbx.channel(in_menu))["media"])

    await wait_for(hearing_the_menu, "the caller to hear the main menu")
    return queued, in_menu


class Process:
    """One child process, its output in a file, ended by the test that started it."""

    def __init__(self, argv: list[str], env: Mapping[str, str], log: Path) -> None:
        self.argv, self.env, self.log = argv, dict(env), log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=self.log.parent
            )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def send(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def exited(self, timeout: float) -> int:
        """The exit code, waiting at most `timeout` s."""
        assert self.proc is not None
        proc = self.proc
        await wait_for(lambda: proc.poll() is not None, f"{self.argv[1]} to exit", timeout)
        assert proc.returncode is not None
        return proc.returncode

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        """Teardown: whatever is still running is killed."""
        if self.running:
            self.send(signal.SIGKILL)
            assert self.proc is not None
            self.proc.wait(timeout=10)


class EmulatorProcess(Process):
    """`frontdesk emulator` on fixed ports (a restart comes back on the same ones)."""

    def __init__(self, workdir: Path, app: str, name: str = "emulator") -> None:
        self.app = app
        self.ari_port, self.ami_port = free_port(), free_port()
        self.workdir = workdir
        env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
        env |= {"FRONTDESK_ARI_PASSWORD": SECRET, "FRONTDESK_AMI_SECRET": SECRET}
        super().__init__(self._argv(), env, workdir / f"{name}.log")

    def _argv(self) -> list[str]:
        return [
            FRONTDESK,
            "emulator",
            "--ari",
            f"127.0.0.1:{self.ari_port}",
            "--ami",
            f"127.0.0.1:{self.ami_port}",
            "--app",
            self.app,
            "--staff",
            ",".join(STAFF),
            "--media-seconds",
            "0.05",
            "--answer-after",
            "0.2",
        ]

    @property
    def ari_url(self) -> str:
        return f"http://127.0.0.1:{self.ari_port}/ari"

    async def ready(self) -> None:
        self.start()
        await wait_for(self._answers, "the emulator to listen", 20)

    async def _answers(self) -> bool:
        if not self.running:
            raise AssertionError(f"the emulator exited:\n{self.text()[-2000:]}")
        try:
            await self.control("GET", "/violations")
        except (aiohttp.ClientError, OSError):
            return False
        return True

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        url = f"http://127.0.0.1:{self.ari_port}/_emulator{path}"
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
            session.request(method, url, json=body) as response,
        ):
            text = await response.text()
            if response.status >= 400:
                raise AssertionError(f"{method} {path}: {response.status} {text}")
            return json.loads(text) if text else None

    async def place_call(self, caller: str, did: str = REFILL_DID) -> str:
        reply = await self.control("POST", "/calls", {"caller": caller, "did": did})
        channel: str = reply["channel_id"]
        return channel

    async def channel(self, channel_id: str) -> dict[str, Any]:
        snapshot: dict[str, Any] = await self.control("GET", f"/channels/{channel_id}")
        return snapshot

    async def hangup(self, channel_id: str) -> None:
        await self.control("POST", f"/channels/{channel_id}/hangup")

    async def queued(self, channel_id: str) -> bool:
        """In frontdesk's ACD: its saved state is on the channel and it is in a holding bridge."""
        snap = await self.channel(channel_id)
        return "FRONTDESK_STATE" in snap["variables"] and str(snap["bridge"] or "").startswith(
            "frontdesk-q-"
        )

    async def violations(self) -> list[Any]:
        found: list[Any] = await self.control("GET", "/violations")
        return found


class DaemonProcess(Process):
    """`frontdesk run` against an emulator (or a proxy in front of it)."""

    def __init__(
        self,
        workdir: Path,
        name: str,
        *,
        app: str,
        plan: Path,
        ari_url: str,
        ami_port: int,
        database_url: str | None,
        data_dir: Path | None = None,
    ) -> None:
        self.http_port = free_port()
        self.data_dir = data_dir or workdir / "data"
        env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
        env |= {
            "FRONTDESK_ARI_URL": ari_url,
            "FRONTDESK_ARI_PASSWORD": SECRET,
            "FRONTDESK_AMI_PORT": str(ami_port),
            "FRONTDESK_AMI_SECRET": SECRET,
            "FRONTDESK_APP": app,
            "FRONTDESK_PLAN": str(plan),
            "FRONTDESK_HTTP_PORT": str(self.http_port),
            "FRONTDESK_AGI_PORT": str(free_port()),
            "FRONTDESK_LOG_FORMAT": "json",
            "FRONTDESK_DATA_DIR": str(self.data_dir),
            "FRONTDESK_API_TOKEN": API_TOKEN,
        }
        if database_url is not None:
            env["FRONTDESK_DATABASE_URL"] = database_url
        super().__init__([FRONTDESK, "run"], env, workdir / f"{name}.log")

    async def ready(self, timeout: float = 30.0) -> None:
        """Started and connected to ARI, with its first resync done."""
        self.start()
        await wait_for(lambda: self._seen("calls.resynced"), "the daemon to connect", timeout)

    def _seen(self, event: str) -> bool:
        if f'"event": "{event}"' in self.text():
            return True
        if not self.running:
            raise AssertionError(f"the daemon exited early:\n{self.text()[-3000:]}")
        return False

    def events(self, event: str) -> list[dict[str, Any]]:
        """The daemon's JSON log lines of one event."""
        found = []
        for line in self.text().splitlines():
            if f'"event": "{event}"' in line:
                with contextlib.suppress(ValueError):
                    found.append(json.loads(line))
        return found

    async def api(self, path: str) -> Any:
        url = f"http://127.0.0.1:{self.http_port}{path}"
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
            session.get(url, headers=headers) as response,
        ):
            assert response.status == 200, f"GET {path}: {response.status}"
            return await response.json()

    async def post(self, path: str) -> Any:
        url = f"http://127.0.0.1:{self.http_port}{path}"
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
            session.post(url, headers=headers) as response,
        ):
            assert response.status == 200, f"POST {path}: {response.status}"
            return await response.json()

    async def pause_everyone(self) -> None:
        """Every agent paused: the queues stay staffed (a paused agent still counts, an
        unregistered phone does not), nobody is rung, every caller waits. Logins persist:
        a daemon started again on the same database finds them paused still."""
        for ext in STAFF:
            await self.post(f"/api/agents/{ext}/pause")

    async def resume_everyone(self) -> None:
        for ext in STAFF:
            await self.post(f"/api/agents/{ext}/unpause")

    async def queue_order(self, queue: str) -> list[str]:
        snapshot = await self.api("/api/acd")
        for view in snapshot["queues"]:
            if view["name"] == queue:
                return [c["call_id"] for c in view["callers"]]
        raise AssertionError(f"no queue {queue} in {snapshot}")


def full_numbers_in(text: str, numbers: list[str]) -> list[str]:
    """Caller numbers that appear in full in a log (they must only ever be masked)."""
    return [n for n in numbers if re.search(re.escape(n.lstrip("+")), text)]


class TcpLink:
    def __init__(self) -> None:
        self.opened = time.monotonic()
        self.logged_in: float | None = None  # when Asterisk's "Authentication accepted" passed
        self.closed_by_client: float | None = None
        self.frozen = False
        self.writers: list[asyncio.StreamWriter] = []


class TcpProxy:
    """A TCP proxy in front of AMI: it can cut every connection (RST-free close, both
    sides) or freeze them (sockets stay open, nothing is forwarded: a half-open link)."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.links: list[TcpLink] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        await self.drop()
        if self._server is not None:
            self._server.close()

    async def drop(self) -> None:
        for link in self.links:
            for writer in link.writers:
                writer.close()

    def freeze(self) -> None:
        for link in self.links:
            link.frozen = True

    def logged_in_since(self, since: float) -> list[TcpLink]:
        return [k for k in self.links if k.logged_in is not None and k.opened >= since]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = TcpLink()
        self.links.append(link)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        link.writers = [writer, up_writer]
        await asyncio.gather(
            self._pump(reader, up_writer, link, from_client=True),
            self._pump(up_reader, writer, link, from_client=False),
            return_exceptions=True,
        )

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        link: TcpLink,
        *,
        from_client: bool,
    ) -> None:
        try:
            while data := await reader.read(65536):
                if link.frozen:
                    continue  # swallowed: neither end hears from the other
                if not from_client and b"Authentication accepted" in data:
                    link.logged_in = link.logged_in or time.monotonic()
                writer.write(data)
                await writer.drain()
        finally:
            if from_client and link.closed_by_client is None:
                link.closed_by_client = time.monotonic()
            if not link.frozen:
                writer.close()


class AriProxy:
    """An HTTP + WebSocket proxy in front of ARI that can hold one REST request unanswered
    (`stall("/answer")`: the next POST whose path ends so) until the daemon gives up."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = f"http://127.0.0.1:{upstream_port}"
        self.port = free_port()
        self.stalled: list[str] = []  # paths held
        self.gave_up: list[str] = []  # held paths whose client hung up waiting
        self._stall_next: str | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def ari_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/ari"

    def stall(self, suffix: str) -> None:
        self._stall_next = suffix

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # Cancel a handler when its client hangs up: that is how a give-up is seen.
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request)
        path = request.path
        if self._stall_next and request.method == "POST" and path.endswith(self._stall_next):
            self._stall_next = None
            self.stalled.append(path)
            try:
                await asyncio.sleep(3600)  # never answered: the daemon must give up itself
            except asyncio.CancelledError:
                self.gave_up.append(path)  # the client closed the connection
                raise
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() in _FORWARDED}
        async with self._session.request(
            request.method,
            self.upstream + request.path_qs,
            headers=headers,
            data=await request.read(),
        ) as reply:
            body = await reply.read()
            return web.Response(
                status=reply.status, body=body, content_type=reply.content_type or None
            )

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        downstream = web.WebSocketResponse()
        await downstream.prepare(request)
        auth = {"Authorization": request.headers.get("Authorization", "")}
        url = "ws" + self.upstream[4:] + request.path_qs
        async with self._session.ws_connect(url, headers=auth) as upstream:

            async def down() -> None:
                async for message in upstream:
                    if message.type == aiohttp.WSMsgType.TEXT:
                        await downstream.send_str(message.data)

            task = asyncio.create_task(down())
            async for _ in downstream:  # the daemon sends nothing; this ends when it closes
                pass
            task.cancel()
        return downstream


_FORWARDED = frozenset({"authorization", "content-type"})


class AbandonLoad:
    """Calls placed every `gap` s until stopped, each queued then hung up (an abandon):
    a steady stream of rows and facts while a fault happens."""

    KINDS = ("started", "routed", "joined", "abandoned")  # the facts each call leaves

    def __init__(self, pbx: EmulatorProcess, gap: float) -> None:
        self.pbx, self.gap = pbx, gap
        self.placed: list[str] = []
        self._lives: list[asyncio.Task[None]] = []
        self._done = asyncio.Event()
        self._generator: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._generator = asyncio.create_task(self._load())

    async def stop(self) -> None:
        """No more calls; wait for those placed to end."""
        self._done.set()
        if self._generator is not None:
            await self._generator
        await asyncio.gather(*self._lives)

    async def _load(self) -> None:
        n = 0
        while not self._done.is_set():
            self._lives.append(asyncio.create_task(self._one_call(n)))
            n += 1
            await asyncio.sleep(self.gap)

    async def _one_call(self, n: int) -> None:
        channel = await self.pbx.place_call(caller_number(n))
        self.placed.append(channel)
        await wait_for(lambda: self.pbx.queued(channel), "a caller to be queued", 30)
        await self.pbx.hangup(channel)

    async def assert_each_call_once(self, conn: Any, what: str) -> list[Any]:
        """Every call's row (waited for up to 75 s: an outbox backs off up to 30 s) and each
        of its facts exactly once, none extra; the rows, for more checks."""

        async def all_abandoned() -> bool:
            rows = await conn.fetch("SELECT linkedid FROM calls WHERE outcome = 'abandoned'")
            return len(rows) == len(self.placed)

        await wait_for(all_abandoned, what, 75)
        rows = await conn.fetch("SELECT linkedid, category, started_at, ended_at FROM calls")
        assert {r["linkedid"] for r in rows} == set(self.placed)  # none lost, none extra
        assert all(r["started_at"] is not None and r["ended_at"] is not None for r in rows)
        counts = await conn.fetch(
            "SELECT linkedid, kind, count(*) AS n FROM call_events "
            "WHERE kind = ANY($1::text[]) GROUP BY linkedid, kind",
            list(self.KINDS),
        )
        assert len(counts) == len(self.placed) * len(self.KINDS)  # every fact of every call
        assert {r["n"] for r in counts} == {1}  # ... exactly once
        return list(rows)
