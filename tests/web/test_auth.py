"""Staff sign-in over HTTP on loopback, accounts in the real PostgreSQL: sessions, the
login throttle, CSRF, the API token, redirects and the security headers."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from argon2 import PasswordHasher
from yarl import URL

from frontdesk.asterisk.ari import AriClient, AriConfig
from frontdesk.calls.acd_runtime import AcdRuntime
from frontdesk.calls.runtime import CallRuntime
from frontdesk.plan import Plan
from frontdesk.settings import Settings
from frontdesk.staff import StaffUser
from frontdesk.store import db, upgrade
from frontdesk.store.accounts import AccountStore
from frontdesk.store.records import AuditEntry
from frontdesk.web.agents_api import make_app
from frontdesk.web.auth import (
    COOKIE,
    CSP,
    SESSIONS,
    LoginThrottle,
    Sessions,
    current_user,
    require,
    safe_next,
)
from frontdesk.web.identity import csrf_token
from frontdesk.web.templates import render
from tests.pg import dsn_in, scratch_schema

TOKEN = "test-token"
PASSWORD = "correct horse battery"
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # tests only
T0 = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
USERS = [
    ("alice", "Alice Agent", "agent", "2001"),
    ("bob", "Bob Agent", "agent", "2002"),
    ("nina", "Nina Nurse", "charge_nurse", "2005"),
    ("sam", "Sam Supervisor", "supervisor", None),
    ("ada", "Ada Admin", "admin", None),
]


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


# -- helpers shared with the other web tests -----------------------------------------------
@contextlib.asynccontextmanager
async def staff_accounts() -> AsyncIterator[AccountStore]:
    """An AccountStore in a schema of its own, with USERS (password PASSWORD)."""
    async with scratch_schema("fd_test") as schema:
        pool = await db.create_pool(dsn_in(schema), timeout=5)
        try:
            await upgrade(pool)
            store = AccountStore(pool, hasher=FAST)
            for username, name, role, ext in USERS:
                await store.add(username, name, role, ext, PASSWORD)
            yield store
        finally:
            await pool.close()


@pytest.fixture
async def accounts() -> AsyncIterator[AccountStore]:
    async with staff_accounts() as store:
        yield store


class Browser:
    """A client with its own cookie jar, like one browser."""

    def __init__(self, server: TestServer) -> None:
        self.server = server
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    def url(self, path: str) -> Any:
        return self.server.make_url(path)

    async def login_form(self, path: str = "/login") -> tuple[int, str, str]:
        async with self.http.get(self.url(path), allow_redirects=False) as r:
            page = await r.text()
        found = re.search(r'name="csrf" value="([^"]*)"', page)
        return r.status, page, found[1] if found else ""

    async def login(
        self, username: str, password: str = PASSWORD, next: str | None = None
    ) -> aiohttp.ClientResponse:
        _, _, token = await self.login_form()
        form = {"username": username, "password": password, "csrf": token}
        if next is not None:
            form["next"] = next
        async with self.http.post(self.url("/login"), data=form, allow_redirects=False) as r:
            await r.read()
            return r

    def session_id(self) -> str | None:
        for cookie in self.http.cookie_jar:
            if cookie.key == COOKIE:
                return cookie.value
        return None

    async def csrf(self) -> str:
        async with self.http.get(self.url("/whoami")) as r:
            return str((await r.json())["csrf"])

    async def request(
        self, method: str, path: str, *, csrf: str | None = None, **kwargs: Any
    ) -> tuple[int, Any, Any]:
        headers = dict(kwargs.pop("headers", {}))
        if csrf is not None:
            headers["X-CSRF-Token"] = csrf
        async with self.http.request(
            method, self.url(path), headers=headers, allow_redirects=False, **kwargs
        ) as r:
            body: Any = await r.json() if r.content_type == "application/json" else await r.text()
            return r.status, body, r.headers

    async def close(self) -> None:
        await self.http.close()


async def whoami(request: web.Request) -> web.Response:
    user = current_user(request)
    return web.json_response({"username": user.username, "csrf": csrf_token(request)})


@require("manage_users")
async def users_page(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def a_page(request: web.Request) -> web.Response:
    return render(request, "error.html", title="A page", message="hello")


async def an_action(request: web.Request) -> web.Response:
    form = await request.post()
    return web.json_response({"done": True, "fields": sorted(form)})


@dataclass
class World:
    server: TestServer
    clock: Clock
    runtime: CallRuntime
    audit: list[AuditEntry] = field(default_factory=list)
    browsers: list[Browser] = field(default_factory=list)

    def browser(self) -> Browser:
        made = Browser(self.server)
        self.browsers.append(made)
        return made

    @property
    def queues(self) -> AcdRuntime:
        return acd_of(self.runtime)

    @property
    def sessions(self) -> Sessions:
        return self.server.app[SESSIONS]


def no_pbx(plan: Plan, now: Callable[[], datetime]) -> CallRuntime:
    """The call runtime (its ACD for the web app) with an ARI client that is never called."""
    ari = AriClient(AriConfig("http://127.0.0.1:9/ari", "x", "y"))
    return CallRuntime(plan, ari, now=now)


def acd_of(runtime: CallRuntime) -> AcdRuntime:
    assert runtime.acd is not None
    return runtime.acd


async def close_runtime(runtime: CallRuntime) -> None:
    await runtime.close()
    await runtime.ari.close()


async def start_world(
    plan: Plan,
    accounts: AccountStore | None,
    more_routes: Callable[[web.Application, World], None] | None = None,
) -> World:
    """The app on loopback; `more_routes(app, world)` adds other modules' routes."""
    clock = Clock()
    runtime = no_pbx(plan, clock)
    audit: list[AuditEntry] = []
    app = make_app(acd_of(runtime), accounts, now=clock, api_token=TOKEN, put_audit=audit.append)
    app.router.add_get("/whoami", whoami)
    app.router.add_get("/admin/users", users_page)
    app.router.add_get("/page", a_page)
    app.router.add_post("/action", an_action)
    server = TestServer(app, host="127.0.0.1")
    world = World(server, clock, runtime, audit)
    if more_routes is not None:
        more_routes(app, world)
    await server.start_server()
    return world


async def stop_world(world: World) -> None:
    for browser in world.browsers:
        await browser.close()
    await world.server.close()
    await close_runtime(world.runtime)


@pytest.fixture
async def world(plan: Plan, accounts: AccountStore) -> AsyncIterator[World]:
    made = await start_world(plan, accounts)
    try:
        yield made
    finally:
        await stop_world(made)


# -- login and logout -----------------------------------------------------------------------
async def test_login_sets_a_session_and_redirects_to_next(world: World) -> None:
    alice = world.browser()
    status, page, token = await alice.login_form("/login?next=/agent")
    assert status == 200
    assert 'id="username"' in page
    assert 'id="password"' in page
    assert "Log in" in page
    assert token
    response = await alice.login("alice", next="/agent")
    assert (response.status, response.headers["Location"]) == (303, "/agent")
    cookie = response.cookies[COOKIE]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/"
    assert not cookie["secure"]  # plain HTTP, auto
    status, body, _ = await alice.request("GET", "/whoami")
    assert (status, body["username"]) == (200, "alice")
    assert [(e.action, e.actor) for e in world.audit] == [("login", "user:alice")]


async def test_without_next_login_goes_to_the_board(world: World) -> None:
    response = await world.browser().login("sam")
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", ""],
)
async def test_next_never_leaves_the_site(world: World, target: str) -> None:
    response = await world.browser().login("sam", next=target)
    assert response.headers["Location"] == "/"


def test_safe_next_keeps_local_paths() -> None:
    assert safe_next("/reports?since=7d") == "/reports?since=7d"
    assert safe_next("/\tevil") == "/"
    assert safe_next(None) == "/"


async def test_bad_password_unknown_user_and_disabled_user(
    world: World, accounts: AccountStore
) -> None:
    browser = world.browser()
    for username, password in (("alice", "wrong password"), ("mallory", PASSWORD)):
        response = await browser.login(username, password)
        assert response.status == 401
        assert browser.session_id() is None
    await accounts.disable("bob")
    response = await browser.login("bob")
    assert response.status == 401
    assert [e.action for e in world.audit] == ["login_failed"] * 3
    assert all("correct horse" not in repr(e) for e in world.audit)


async def test_a_new_session_id_at_every_login(world: World) -> None:
    browser = world.browser()
    await browser.login("alice")
    first = browser.session_id()
    await browser.login("alice")
    second = browser.session_id()
    assert first
    assert second
    assert first != second
    assert world.sessions.peek(first) is None  # the old one is gone
    # A planted cookie is not adopted either.
    planted = world.browser()
    planted.http.cookie_jar.update_cookies({COOKIE: "chosen-by-attacker"}, planted.url("/"))
    await planted.login("bob")
    assert planted.session_id() not in (None, "chosen-by-attacker")


async def test_logout_ends_the_session(world: World) -> None:
    alice = world.browser()
    await alice.login("alice")
    sid = alice.session_id()
    token = await alice.csrf()
    status, _, headers = await alice.request("POST", "/logout", data={"csrf": token})
    assert (status, headers["Location"]) == (303, "/login")
    assert world.sessions.peek(sid) is None
    assert (await alice.request("GET", "/whoami"))[0] == 303
    assert [e.action for e in world.audit] == ["login", "logout"]


async def test_logout_needs_the_csrf_token(world: World) -> None:
    alice = world.browser()
    await alice.login("alice")
    status, _, _ = await alice.request("POST", "/logout", data={"csrf": "wrong"})
    assert status == 403
    assert world.sessions.peek(alice.session_id()) is not None


async def test_the_login_form_needs_its_own_token(world: World) -> None:
    browser = world.browser()
    await browser.login_form()
    form = {"username": "alice", "password": PASSWORD, "csrf": "made.up"}
    status, _, _ = await browser.request("POST", "/login", data=form)
    assert status == 403
    # A token from another browser's cookie does not do either (double submit).
    other = world.browser()
    _, _, token = await other.login_form()
    status, _, _ = await browser.request("POST", "/login", data=form | {"csrf": token})
    assert status == 403
    # Nor a cross-site form post with a good token.
    _, _, token = await browser.login_form()
    status, _, _ = await browser.request(
        "POST", "/login", data=form | {"csrf": token}, headers={"Origin": "https://evil.example"}
    )
    assert status == 403
    assert browser.session_id() is None


# -- the throttle ---------------------------------------------------------------------------
async def test_five_failures_for_a_username_are_throttled(world: World) -> None:
    browser = world.browser()
    for _ in range(5):
        assert (await browser.login("alice", "wrong password")).status == 401
    refused = await browser.login("alice")  # even the right password
    assert refused.status == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 15 * 60
    assert browser.session_id() is None
    assert (await browser.login("bob")).status == 303  # other usernames are fine
    world.clock.advance(minutes=15)
    assert (await browser.login("alice")).status == 303
    assert "login_throttled" in [e.action for e in world.audit]


def test_throttle_by_address_and_success_clears_the_username() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock)
    for i in range(20):
        assert throttle.retry_after(f"user{i}", "10.0.0.1") is None
        throttle.failed(f"user{i}", "10.0.0.1")
    assert throttle.retry_after("someone", "10.0.0.1") == 15 * 60
    assert throttle.retry_after("someone", "10.0.0.2") is None
    for _ in range(4):
        throttle.failed("alice", "10.0.0.3")
    throttle.succeeded("alice")
    throttle.failed("alice", "10.0.0.3")
    assert throttle.retry_after("alice", "10.0.0.3") is None  # 1 since the success
    clock.advance(minutes=10)
    assert throttle.retry_after("someone", "10.0.0.1") == 5 * 60


def test_throttle_memory_is_bounded() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock, max_keys=100)
    for i in range(1000):
        throttle.failed(f"user{i}", f"10.0.{i // 256}.{i % 256}")
    assert len(throttle._failures) <= 100


# -- sessions expire ------------------------------------------------------------------------
async def test_idle_sessions_expire(world: World) -> None:
    alice = world.browser()
    await alice.login("alice")
    world.clock.advance(minutes=14)
    assert (await alice.request("GET", "/whoami"))[0] == 200  # use restarts the idle timer
    world.clock.advance(minutes=14)
    assert (await alice.request("GET", "/whoami"))[0] == 200
    world.clock.advance(minutes=15)
    status, _, headers = await alice.request("GET", "/whoami")
    assert (status, headers["Location"]) == (303, "/login?next=/whoami&expired=1")
    status, body, _ = await alice.request("GET", "/api/acd")
    assert (status, body) == (401, {"error": "login required"})
    _, page, _ = await alice.login_form("/login?next=/whoami&expired=1")
    assert "Your session expired" in page


def test_sessions_have_an_absolute_lifetime() -> None:
    clock = Clock()
    sessions = Sessions(clock)
    session = sessions.create(StaffUser("sam", "Sam", "supervisor", None))
    for _ in range(12 * 6 - 1):
        clock.advance(minutes=10)
        assert sessions.touch(session.id) is session
    clock.advance(minutes=10)
    assert sessions.touch(session.id) is None
    assert len(sessions) == 0


async def test_a_disabled_account_loses_its_session(world: World, accounts: AccountStore) -> None:
    bob = world.browser()
    await bob.login("bob")
    await accounts.disable("bob")
    assert (await bob.request("GET", "/whoami"))[0] == 200  # read again after a minute
    world.clock.advance(seconds=61)
    assert (await bob.request("GET", "/whoami"))[0] == 303


# -- unauthenticated ------------------------------------------------------------------------
async def test_pages_redirect_to_login_and_apis_answer_401(world: World) -> None:
    anonymous = world.browser()
    status, _, headers = await anonymous.request("GET", "/page?x=1&y=2")
    location = URL(headers["Location"])
    assert (status, location.path, dict(location.query)) == (
        303,
        "/login",
        {"next": "/page?x=1&y=2"},
    )
    for path in ("/api/acd", "/events", "/events/board"):
        status, body, _ = await anonymous.request("GET", path)
        assert (status, body) == (401, {"error": "login required"}), path
    status, _, _ = await anonymous.request("POST", "/api/agents/2001/login")
    assert status == 401
    assert "2001" not in world.queues.logged_in


async def test_public_paths(world: World) -> None:
    anonymous = world.browser()
    status, body, _ = await anonymous.request("GET", "/static/app.js")
    assert status == 200
    assert "X-CSRF-Token" in body
    assert (await anonymous.request("GET", "/static/app.css"))[0] == 200
    assert (await anonymous.request("GET", "/login"))[0] == 200


# -- CSRF -----------------------------------------------------------------------------------
async def test_csrf_is_required_for_changes(world: World) -> None:
    alice = world.browser()
    await alice.login("alice")
    token = await alice.csrf()
    missing = await alice.request("POST", "/api/agents/2001/login")
    assert missing[:2] == (403, {"error": "CSRF token missing or wrong"})
    wrong = await alice.request("POST", "/api/agents/2001/login", csrf=token[:-1] + "x")
    assert wrong[0] == 403
    assert "2001" not in world.queues.logged_in
    right = await alice.request("POST", "/api/agents/2001/login", csrf=token)
    assert right[:2] == (200, {"ext": "2001", "state": "idle", "pause_reason": None})
    # The form field does as well as the header.
    status, body, _ = await alice.request("POST", "/action", data={"csrf": token, "a": "1"})
    assert (status, body["done"]) == (200, True)


async def test_csrf_refusal_of_an_html_form_is_a_page(world: World) -> None:
    alice = world.browser()
    await alice.login("alice")
    status, body, headers = await alice.request(
        "POST", "/action", data={"a": "1"}, headers={"Accept": "text/html"}
    )
    assert status == 403
    assert headers["Content-Type"].startswith("text/html")
    assert "CSRF token missing or wrong" in body


async def test_a_foreign_origin_is_refused(world: World) -> None:
    alice = world.browser()
    await alice.login("alice")
    token = await alice.csrf()
    status, body, _ = await alice.request(
        "POST",
        "/api/agents/2001/login",
        csrf=token,
        headers={"Origin": "https://evil.example"},
    )
    assert (status, body) == (403, {"error": "cross-origin request refused"})
    same = f"http://{world.server.host}:{world.server.port}"
    status, _, _ = await alice.request(
        "POST", "/api/agents/2001/login", csrf=token, headers={"Origin": same}
    )
    assert status == 200


async def test_an_oversized_form_is_refused_before_the_csrf_check(world: World) -> None:
    alice = world.browser()
    await alice.login("alice")
    status, _, _ = await alice.request("POST", "/action", data={"a": "x" * 10_000})
    assert status == 413


# -- the API token --------------------------------------------------------------------------
async def test_the_bearer_token_works_for_the_api_only(world: World) -> None:
    anonymous = world.browser()
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    status, _, _ = await anonymous.request("POST", "/api/agents/2001/login", headers=bearer)
    assert status == 200  # no CSRF token: no cookie involved
    assert (await anonymous.request("GET", "/api/acd", headers=bearer))[0] == 200
    wrong = {"Authorization": "Bearer nope"}
    assert (await anonymous.request("GET", "/api/acd", headers=wrong))[0] == 401
    assert (await anonymous.request("GET", "/page", headers=bearer))[0] == 303  # pages: no


async def test_without_a_configured_token_bearer_means_nothing(
    plan: Plan, accounts: AccountStore
) -> None:
    runtime = no_pbx(plan, Clock())
    server = TestServer(make_app(acd_of(runtime), accounts, now=Clock()), host="127.0.0.1")
    await server.start_server()
    browser = Browser(server)
    try:
        headers = {"Authorization": "Bearer "}
        assert (await browser.request("GET", "/api/acd", headers=headers))[0] == 401
    finally:
        await browser.close()
        await server.close()
        await close_runtime(runtime)


# -- roles ----------------------------------------------------------------------------------
async def test_require_refuses_without_the_permission(world: World) -> None:
    alice, ada = world.browser(), world.browser()
    await alice.login("alice")
    await ada.login("ada")
    assert (await alice.request("GET", "/admin/users"))[:2] == (
        403,
        {"error": "you are not allowed to do that"},
    )
    assert (await ada.request("GET", "/admin/users"))[:2] == (200, {"ok": True})


# -- headers and pages ----------------------------------------------------------------------
async def test_security_headers_everywhere(world: World) -> None:
    alice = world.browser()
    for path in ("/login", "/page", "/static/app.css", "/api/acd", "/nowhere"):
        _, _, headers = await alice.request("GET", path)
        assert headers["Content-Security-Policy"] == CSP, path
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
    await alice.login("alice")
    for path in ("/page", "/api/acd", "/whoami", "/nowhere"):
        _, _, headers = await alice.request("GET", path)
        assert headers["Cache-Control"] == "no-store", path
        assert headers["Content-Security-Policy"] == CSP


async def test_the_base_page_has_the_nav_and_the_token(world: World) -> None:
    nina, ada = world.browser(), world.browser()
    await nina.login("nina")
    await ada.login("ada")
    _, page, _ = await nina.request("GET", "/page")
    token = await nina.csrf()
    assert f'<meta name="csrf-token" content="{token}">' in page
    assert 'href="/agent"' in page
    assert 'href="/reports"' in page
    assert 'href="/diagram"' in page
    assert "Nina Nurse" in page
    assert "charge nurse" in page
    assert f'name="csrf" value="{token}"' in page  # the logout form
    assert "<script>" not in page
    assert "style=" not in page
    _, page, _ = await ada.request("GET", "/page")
    assert 'href="/agent"' not in page  # no extension


async def test_names_are_escaped(world: World, accounts: AccountStore) -> None:
    await accounts.add("eve", "<script>alert(1)</script>", "agent", None, PASSWORD)
    eve = world.browser()
    await eve.login("eve")
    _, page, _ = await eve.request("GET", "/page")
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;" in page


# -- no database ----------------------------------------------------------------------------
async def test_without_a_database_nobody_logs_in_but_the_token_works(plan: Plan) -> None:
    made = await start_world(plan, None)
    try:
        browser = made.browser()
        _, page, _ = await browser.login_form()
        assert "needs the database" in page
        response = await browser.login("alice")
        assert response.status == 503
        assert browser.session_id() is None
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert (await browser.request("GET", "/api/acd", headers=bearer))[0] == 200
    finally:
        await stop_world(made)


# -- settings -------------------------------------------------------------------------------
def test_settings_for_sessions_and_cookies() -> None:
    defaults = Settings.from_env({})
    assert (defaults.session_idle_minutes, defaults.cookie_secure) == (15.0, None)
    env = {"FRONTDESK_SESSION_IDLE_MINUTES": "5", "FRONTDESK_COOKIE_SECURE": "on"}
    assert (Settings.from_env(env).session_idle_minutes, Settings.from_env(env).cookie_secure) == (
        5.0,
        True,
    )
    assert Settings.from_env({"FRONTDESK_COOKIE_SECURE": "off"}).cookie_secure is False
    with pytest.raises(ValueError, match="on, off or auto"):
        Settings.from_env({"FRONTDESK_COOKIE_SECURE": "maybe"})


async def test_secure_cookies_when_asked(plan: Plan, accounts: AccountStore) -> None:
    runtime = no_pbx(plan, Clock())
    app = make_app(acd_of(runtime), accounts, now=Clock(), secure_cookies=True)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    browser = Browser(server)
    try:
        async with browser.http.get(browser.url("/login")) as r:
            assert r.cookies["frontdesk_login_csrf"]["secure"]
    finally:
        await browser.close()
        await server.close()
        await close_runtime(runtime)
