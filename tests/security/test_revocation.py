"""Issue 14 row 6: revocation. Sessions live in PostgreSQL (write-through from each
daemon's memory); disabling an account, a new password, logout and `frontdesk users
revoke` end sessions and open board streams at once, in every daemon on the database,
and sessions survive a restart.

Before the fix a disabled user's open board stream went on for up to 87 s, a new
password left the old session working, and a restart signed everyone out."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from frontdesk.calls.runtime import CallRuntime
from frontdesk.plan import Plan
from frontdesk.store import db, upgrade
from frontdesk.store.accounts import AccountStore
from frontdesk.store.sessions import SessionStore, session_hash
from frontdesk.web.agents_api import make_app
from frontdesk.web.auth import COOKIE, SESSION_CHECK
from frontdesk.web.live import LiveBoard, add_live_routes
from tests.pg import dsn_in, scratch_schema
from tests.store.conftest import TcpProxy
from tests.web.test_auth import (
    FAST,
    PASSWORD,
    USERS,
    Browser,
    acd_of,
    an_action,
    close_runtime,
    no_pbx,
    whoami,
)

BOUND = SESSION_CHECK + 0.5  # seconds: a session's end reaches every stream within this
NEW_PASSWORD = "an entirely new passphrase"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Daemon:
    """One dashboard on the shared database (as one `frontdesk run` would serve it)."""

    server: TestServer
    runtime: CallRuntime
    store: SessionStore
    browsers: list[Browser] = field(default_factory=list)

    def browser(self, cookie: str | None = None) -> Browser:
        made = Browser(self.server)
        if cookie is not None:
            made.http.cookie_jar.update_cookies({COOKIE: cookie}, self.server.make_url("/"))
        self.browsers.append(made)
        return made

    async def stop(self) -> None:
        for browser in self.browsers:
            await browser.close()
        await self.server.close()
        await close_runtime(self.runtime)


@dataclass
class Shared:
    """The database every daemon of a test shares."""

    dsn: str
    accounts: AccountStore
    daemons: list[Daemon] = field(default_factory=list)

    async def start(self, plan: Plan) -> Daemon:
        runtime = no_pbx(plan, utc_now)
        store = SessionStore(self.dsn)
        app = make_app(
            acd_of(runtime),
            AccountStore(self.accounts.pool, hasher=FAST),
            now=utc_now,
            session_store=store,
        )
        app.router.add_get("/whoami", whoami)
        app.router.add_post("/action", an_action)
        add_live_routes(app, LiveBoard(acd_of(runtime), plan))
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        daemon = Daemon(server, runtime, store)
        self.daemons.append(daemon)
        return daemon

    async def listening(self, daemon: Daemon) -> None:
        """Until the daemon's LISTEN connection is up (it starts in the background)."""
        await wait_until(lambda: daemon.store.listening)


@pytest.fixture
async def shared() -> AsyncIterator[Shared]:
    async with scratch_schema("fd_test") as schema:
        dsn = dsn_in(schema)
        pool = await db.create_pool(dsn, timeout=5)
        try:
            await upgrade(pool)
            accounts = AccountStore(pool, hasher=FAST)
            for username, name, role, ext in USERS:
                await accounts.add(username, name, role, ext, PASSWORD)
            made = Shared(dsn, accounts)
            try:
                yield made
            finally:
                for daemon in made.daemons:
                    await daemon.stop()
        finally:
            await pool.close()


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


async def open_stream(stack: contextlib.AsyncExitStack, browser: Browser) -> aiohttp.ClientResponse:
    response = await stack.enter_async_context(browser.http.get(browser.url("/events")))
    assert response.status == 200
    first = await asyncio.wait_for(response.content.readuntil(b"\n\n"), 5)
    assert first.startswith(b"event: board")
    return response


async def seconds_until_expired(stream: aiohttp.ClientResponse, since: float) -> float:
    """Reads the stream until `event: expired` and its end; the seconds since `since`."""

    async def read() -> float:
        while True:
            message = await stream.content.readuntil(b"\n\n")
            if message.startswith(b"event: expired"):
                took = time.monotonic() - since
                assert await stream.content.read() == b""  # and the stream ends
                return took

    return await asyncio.wait_for(read(), 30)


async def status_of(browser: Browser, method: str, path: str) -> int:
    status, _, _ = await browser.request(method, path)
    return status


async def refused_everywhere(browser: Browser) -> None:
    """Every kind of request with that cookie: pages redirect, APIs and streams 401."""
    assert await status_of(browser, "GET", "/whoami") == 303
    assert await status_of(browser, "GET", "/api/acd") == 401
    assert await status_of(browser, "GET", "/api/board") == 401
    assert await status_of(browser, "GET", "/events") == 401
    assert await status_of(browser, "POST", "/action") == 303


async def until_refused(browser: Browser, since: float) -> float:
    while await status_of(browser, "GET", "/whoami") == 200:
        assert time.monotonic() - since < BOUND, "the old session still works"
        await asyncio.sleep(0.02)
    return time.monotonic() - since


def cli(shared: Shared, *args: str) -> subprocess.CompletedProcess[str]:
    """`frontdesk users ...` in a process of its own, as an administrator runs it."""
    env = {k: v for k, v in os.environ.items() if k != "FRONTDESK_DATABASE_URL"}
    return subprocess.run(
        [sys.executable, "-m", "frontdesk", "users", *args, "--database-url", shared.dsn],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


# -- disable ------------------------------------------------------------------------------
@pytest.mark.parametrize("notify", [True, False], ids=["notified", "periodic-check"])
async def test_disable_ends_an_open_board_stream_within_the_bound(
    plan: Plan, shared: Shared, notify: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not notify:  # the backstop alone: no LISTEN connection
        monkeypatch.setattr(SessionStore, "listen", lambda self, on_user, **kw: None)
    daemon = await shared.start(plan)
    if notify:
        await shared.listening(daemon)
    nina = daemon.browser()
    await nina.login("nina")
    async with contextlib.AsyncExitStack() as stack:
        stream = await open_stream(stack, nina)
        await asyncio.sleep(0.3)
        since = time.monotonic()
        await shared.accounts.disable("nina")
        took = await seconds_until_expired(stream, since)
    print(f"disable -> stream expired in {took * 1000:.0f} ms ({'NOTIFY' if notify else 'check'})")
    assert took < (0.5 if notify else BOUND)
    await refused_everywhere(nina)


# -- a new password -----------------------------------------------------------------------
async def test_a_new_password_refuses_the_old_cookie(plan: Plan, shared: Shared) -> None:
    daemon = await shared.start(plan)
    await shared.listening(daemon)
    bob, bob_elsewhere = daemon.browser(), daemon.browser()
    await bob.login("bob")
    await bob_elsewhere.login("bob")
    assert await status_of(bob, "GET", "/whoami") == 200
    async with contextlib.AsyncExitStack() as stack:
        stream = await open_stream(stack, bob_elsewhere)
        since = time.monotonic()
        assert await shared.accounts.set_password("bob", NEW_PASSWORD) == 2
        took = await until_refused(bob, since)
        streamed = await seconds_until_expired(stream, since)
    print(f"new password -> old cookie refused in {took * 1000:.0f} ms")
    assert streamed < BOUND
    await refused_everywhere(bob)
    await refused_everywhere(bob_elsewhere)
    assert (await bob.login("bob", PASSWORD)).status == 401
    assert (await bob.login("bob", NEW_PASSWORD)).status == 303


# -- logout -------------------------------------------------------------------------------
async def test_logout_ends_the_session_for_every_request_and_daemon(
    plan: Plan, shared: Shared
) -> None:
    first, second = await shared.start(plan), await shared.start(plan)
    await shared.listening(second)
    alice = first.browser()
    await alice.login("alice")
    cookie = alice.session_id()
    assert cookie is not None
    same_cookie_there = second.browser(cookie)  # another daemon, the same database
    replayed_here = first.browser(cookie)  # a copy of the cookie, kept by an attacker
    assert await status_of(same_cookie_there, "GET", "/whoami") == 200
    async with contextlib.AsyncExitStack() as stack:
        stream = await open_stream(stack, same_cookie_there)
        local_stream = await open_stream(stack, alice)
        csrf = await alice.csrf()
        since = time.monotonic()
        status, _, _ = await alice.request("POST", "/logout", csrf=csrf)
        assert status == 303
        await refused_everywhere(replayed_here)  # at once in the daemon logged out of
        assert await seconds_until_expired(local_stream, since) < 0.5
        took = await seconds_until_expired(stream, since)
    print(f"logout -> the other daemon's stream expired in {took * 1000:.0f} ms")
    assert took < BOUND
    await refused_everywhere(same_cookie_there)
    assert await status_of(first.browser(cookie), "GET", "/whoami") == 303


# -- `frontdesk users revoke` from another process ------------------------------------------
async def test_revoke_from_the_cli_ends_sessions_in_running_daemons(
    plan: Plan, shared: Shared
) -> None:
    daemon = await shared.start(plan)
    await shared.listening(daemon)
    sam_desk, sam_laptop = daemon.browser(), daemon.browser()
    await sam_desk.login("sam")
    await sam_laptop.login("sam")
    listed = await asyncio.to_thread(cli, shared, "sessions", "sam", "--json")
    assert listed.returncode == 0, listed.stderr
    sessions = json.loads(listed.stdout)
    assert len(sessions) == 2
    laptop_id = session_hash(sam_laptop.session_id() or "")[:12]
    assert laptop_id in {s["session"] for s in sessions}
    async with contextlib.AsyncExitStack() as stack:
        laptop_stream = await open_stream(stack, sam_laptop)
        desk_stream = await open_stream(stack, sam_desk)
        one = await asyncio.to_thread(cli, shared, "revoke", "sam", "--session", laptop_id)
        since = time.monotonic()  # the command has returned: the row is ended
        assert (one.returncode, one.stdout.strip()) == (0, f"revoked 1 session of sam: {laptop_id}")
        took = await seconds_until_expired(laptop_stream, since)
        assert await status_of(sam_desk, "GET", "/whoami") == 200  # only that one
        rest = await asyncio.to_thread(cli, shared, "revoke", "sam")
        since = time.monotonic()
        assert rest.returncode == 0, rest.stderr
        took_rest = await seconds_until_expired(desk_stream, since)
    print(f"revoke (CLI) -> streams expired in {took * 1000:.0f} / {took_rest * 1000:.0f} ms")
    assert max(took, took_rest) < BOUND
    await refused_everywhere(sam_laptop)
    await refused_everywhere(sam_desk)
    listed = await asyncio.to_thread(cli, shared, "sessions", "sam", "--json")
    assert json.loads(listed.stdout) == []


# -- restarts -----------------------------------------------------------------------------
async def test_sessions_survive_a_restart(plan: Plan, shared: Shared) -> None:
    before = await shared.start(plan)
    nina = before.browser()
    await nina.login("nina")
    cookie = nina.session_id()
    assert cookie is not None
    csrf = await nina.csrf()
    await before.stop()
    shared.daemons.remove(before)
    after = await shared.start(plan)  # a new process on the same schema
    again = after.browser(cookie)
    status, body, _ = await again.request("GET", "/whoami")
    assert (status, body["username"], body["csrf"]) == (200, "nina", csrf)
    status, body, _ = await again.request("POST", "/action", csrf=csrf, data={"x": "1"})
    assert (status, body) == (200, {"done": True, "fields": ["x"]})
    async with contextlib.AsyncExitStack() as stack:
        await open_stream(stack, again)


async def test_only_a_hash_of_the_cookie_is_stored(plan: Plan, shared: Shared) -> None:
    daemon = await shared.start(plan)
    ada = daemon.browser()
    await ada.login("ada")
    cookie = ada.session_id()
    assert cookie is not None
    async with shared.accounts.pool.acquire() as conn:
        rows = await conn.fetch("SELECT * FROM staff_sessions")
    assert len(rows) == 1
    assert rows[0]["id_hash"] == session_hash(cookie)
    assert all(cookie not in str(value) for value in dict(rows[0]).values())
    assert rows[0]["client"] == "127.0.0.1"


# -- the database down ----------------------------------------------------------------------
@pytest.fixture
async def cut_off(shared: Shared) -> AsyncIterator[tuple[TcpProxy, str]]:
    """A proxy to the test PostgreSQL that the test can cut, and the schema's DSN through it."""
    parts = urlsplit(shared.dsn)
    tcp = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await tcp.start()
    try:
        yield tcp, urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{tcp.port}"))
    finally:
        await tcp.close()


async def test_with_the_database_down_held_sessions_go_on_and_nothing_new_gets_in(
    plan: Plan, shared: Shared, cut_off: tuple[TcpProxy, str]
) -> None:
    proxy, dsn = cut_off
    pool = await db.create_pool(dsn, timeout=2)
    try:
        runtime = no_pbx(plan, utc_now)
        store = SessionStore(dsn, timeout=1.0)
        app = make_app(
            acd_of(runtime),
            AccountStore(pool, hasher=FAST, timeout=1.0),
            now=utc_now,
            session_store=store,
        )
        app.router.add_get("/whoami", whoami)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        daemon = Daemon(server, runtime, store)
        shared.daemons.append(daemon)
        other = await shared.start(plan)  # a daemon that still reaches the database
        held, leaving, newcomer = daemon.browser(), daemon.browser(), daemon.browser()
        await held.login("nina")
        await leaving.login("bob")
        elsewhere = other.browser()
        await elsewhere.login("sam")
        unknown_here = daemon.browser(elsewhere.session_id())
        proxy.cut()
        await asyncio.sleep(SESSION_CHECK + 0.1)  # a check is due: it fails
        assert await status_of(held, "GET", "/whoami") == 200  # goes on, as it was
        assert await status_of(held, "GET", "/whoami") == 200
        assert (await newcomer.login("alice")).status == 503  # no new sign-in
        status, body, _ = await unknown_here.request("GET", "/api/acd")
        assert status == 503
        assert "cannot be checked" in body["error"]
        assert unknown_here.session_id() == elsewhere.session_id()  # the cookie is kept
        bob_cookie = leaving.session_id()
        assert bob_cookie is not None
        csrf = await leaving.csrf()
        assert (await leaving.request("POST", "/logout", csrf=csrf))[0] == 303
        replayed = daemon.browser(bob_cookie)
        assert await status_of(replayed, "GET", "/whoami") == 303  # ended here at once
        proxy.restore()
        assert await status_of(replayed, "GET", "/whoami") == 303  # and never resumed

        async def reasons() -> dict[str, str | None]:
            async with shared.accounts.pool.acquire() as conn:
                rows = await conn.fetch("SELECT username, ended_reason FROM staff_sessions")
            return {r["username"]: r["ended_reason"] for r in rows}

        for _ in range(100):  # the logout is written once the database is back
            if (await reasons())["bob"] == "logout":
                break
            await asyncio.sleep(0.1)
        assert await reasons() == {"nina": None, "bob": "logout", "sam": None}
        assert await status_of(replayed, "GET", "/whoami") == 303
        assert await status_of(unknown_here, "GET", "/whoami") == 200  # back with the database
        assert await status_of(held, "GET", "/whoami") == 200
    finally:
        await pool.close()
