"""Staff sign-in for the dashboard: sessions, a login throttle, CSRF and security headers.

`setup_auth(app, accounts, now=...)` installs a middleware, the `GET/POST /login` and
`POST /logout` routes, the static files and the security headers. Handlers then read
`current_user(request)` and `csrf_token(request)` (web/identity.py), or are wrapped in
`@require(perm)`.

Who gets in:
- Public: `/login`, `/static/...`, `/metrics`, `/healthz` (no patient data there).
- Everything else needs a session, held in the `frontdesk_session` cookie (HttpOnly,
  SameSite=Strict, Path=/, Secure over HTTPS or when `secure_cookies=True`). Without
  one, a page redirects (303) to `/login?next=<path>`; `/api/...` and `/events...`
  answer 401 `{"error": "login required"}`.
- `/api/...` also accepts `Authorization: Bearer <FRONTDESK_API_TOKEN>` when a token is
  configured: it acts as the service user `api` (a supervisor without an extension)
  and needs no CSRF token, since no cookie is involved. A wrong token is a 401;
  10 wrong tokens from one client address within a minute refuse that address's bearer
  requests with 429 (Retry-After), even with the right token, until the minute has
  passed (`TokenFailures`). Wrong tokens are logged (`auth.api_token_refused`, with a
  count) at most once a minute, never with the token. settings.py refuses a token
  under 32 characters at start.

Host: before anything else, even public paths, the `Host` header must name one of
`allowed_hosts` (FRONTDESK_ALLOWED_HOSTS; by default the loopback names, and in the
daemon the bind address too), with any port; another is refused with 421, so a page
on a DNS-rebound name cannot reach `/login` or `/metrics`.

Sessions (`Sessions`, in memory) end after `idle_minutes` (default 15) without a
request, after 12 hours in any case, or at logout; each login gets a fresh random id (no
session fixation). With `session_store` (the daemon: store/sessions.py) that memory is a
write-through cache of PostgreSQL's `staff_sessions`, which keeps only the sha256 of the
cookie:
- a login writes its row first (the database down: refused, 503); logout ends the row;
- a cookie this daemon does not hold (after a restart, or another daemon's) is read back
  and goes on if its session is open, its account enabled and it has not expired (the
  database down: 503, the cookie kept);
- each session is checked against its row and account at most every `check_every`
  seconds (`SESSION_CHECK`, 2 s) while it is used or streamed, and at once when a
  `NOTIFY frontdesk_sessions` names its user (disable, a new password, `frontdesk users
  revoke`, a logout at another daemon): an ended session or a disabled account ends it
  here, and its open streams are woken (`watch_session`) to send `event: expired`;
- the database down: the sessions held go on unchecked (tried again after `DB_BACKOFF`
  seconds), a logout is kept in memory until it can be written;
- every `SWEEP_EVERY` seconds expired sessions' rows are ended and rows ended more than
  a week ago deleted.
Without a store (tests, tools) sessions live in memory only: a restart logs everyone
out, and every 60 s of use the account is read again (a disabled account loses its
sessions within a minute; the database being down keeps the session as is).

CSRF: every request other than GET/HEAD/OPTIONS made with a session must carry the
session's token in the `X-CSRF-Token` header or the `csrf` form field, and an `Origin`
header, when sent, must be this request's origin exactly: scheme, host and port (the
scheme is https over TLS, or when `secure_cookies` is on: TLS ends at a reverse proxy). The login form, made before any session,
is defended by a signed double-submit token: `GET /login` sets the
`frontdesk_login_csrf` cookie to `<random>.<HMAC of it under a per-process key>` and
puts the same value in the form; `POST /login` needs both, equal and well signed, and
the same Origin check. (A restart voids open login forms: reloading the page fixes it.)

Login throttle (`LoginThrottle`): 5 failures for one username or 20 from one client
address within 15 minutes refuse further attempts for that key (429 with Retry-After)
until the oldest of those failures is 15 minutes old; a good login clears the
username's count. Each attempt is counted BEFORE its password is checked (`reserve`,
with no await between the check and the count), so logins sent at once cannot all slip
past the limit: at most 5 passwords per username are checked per window. The client address is the socket's peer: behind a reverse proxy every
client shares the proxy's address, and its limit.

Every login, failed login, refused attempt and logout is logged (the username, never
the password) and, given `put_audit`, put as an `AuditEntry`. With `accounts=None` (no
database) nobody can log in, and the login page says so; the bearer token still works.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import math
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Protocol, TypeVar
from urllib.parse import quote, urlsplit

import structlog
from aiohttp import web

from frontdesk.staff import ALL_SITES, Permission, StaffUser, can
from frontdesk.store import db
from frontdesk.store.accounts import USERNAME
from frontdesk.store.records import AuditEntry
from frontdesk.store.sessions import NewSession, SessionStore, session_hash
from frontdesk.web.identity import CSRF, USER, optional_user
from frontdesk.web.server import OncePerInterval
from frontdesk.web.templates import render, setup_static

log = structlog.get_logger("frontdesk.web")

COOKIE: Final = "frontdesk_session"
LOGIN_COOKIE: Final = "frontdesk_login_csrf"
CSRF_HEADER: Final = "X-CSRF-Token"
CSRF_FIELD: Final = "csrf"
# The token is the installation's secret, like the database URL: it sees every site.
API_USER: Final = StaffUser("api", "API token", "supervisor", None, sites=(ALL_SITES,))
PUBLIC_PATHS: Final = frozenset({"/metrics", "/healthz", "/login"})
LOOPBACK_HOSTS: Final = ("localhost", "127.0.0.1", "::1")  # the default Host allow-list
ANY_HOST: Final = "*"  # in the allow-list: any Host is accepted (not recommended)
DEFAULT_PORTS: Final = {"http": "80", "https": "443"}
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
LIFETIME: Final = timedelta(hours=12)
RECHECK: Final = timedelta(seconds=60)  # in memory: the account is read again this often
SESSION_CHECK: Final = 2.0  # seconds: with PostgreSQL, each session is checked this often
DB_BACKOFF: Final = 5.0  # seconds without session checks after the database failed one
SWEEP_EVERY: Final = 30.0  # seconds between ending expired sessions' rows and the purge
MAX_PENDING_ENDS: Final = 10_000
CSP: Final = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'"
)

Clock = Callable[[], datetime]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
R = TypeVar("R", bound=web.StreamResponse)


class Accounts(Protocol):
    """What sign-in needs of `frontdesk.store.accounts.AccountStore`."""

    async def verify(self, username: str, password: str) -> StaffUser | None: ...

    async def get(self, username: str) -> StaffUser | None: ...


# -- sessions -----------------------------------------------------------------------------
@dataclass(eq=False)
class Session:
    id: str
    user: StaffUser
    csrf: str
    created: datetime
    last_seen: datetime
    checked: datetime  # when the account was last read from the database (in memory)
    key: str = ""  # sha256 of `id`: what PostgreSQL keeps (store/sessions.py)
    stored_seen: datetime | None = None  # `last_seen` as last written to PostgreSQL
    verified_at: float = -math.inf  # monotonic time of the last check against PostgreSQL
    ended: bool = False
    watchers: set[asyncio.Event] = field(default_factory=set)  # open streams' wake-ups

    def __post_init__(self) -> None:
        if not self.key:
            self.key = session_hash(self.id)

    def end(self) -> None:
        """Ended: every stream watching it wakes up (and finds it gone)."""
        self.ended = True
        for wake in self.watchers:
            wake.set()


class Sessions:
    """Signed-in staff, in memory (pure: the clock is injected)."""

    def __init__(
        self, now: Clock, idle: timedelta = timedelta(minutes=15), lifetime: timedelta = LIFETIME
    ) -> None:
        self.now = now
        self.idle = idle
        self.lifetime = lifetime
        self._by_id: dict[str, Session] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def create(self, user: StaffUser) -> Session:
        """A new session with a new random id (never a reused one: no fixation)."""
        self._purge()
        at = self.now()
        session = Session(secrets.token_urlsafe(32), user, secrets.token_urlsafe(32), at, at, at)
        self._by_id[session.id] = session
        return session

    def put(self, session: Session) -> Session:
        """Hold a session read back from PostgreSQL; the one held already wins."""
        return self._by_id.setdefault(session.id, session)

    def expired(self, session: Session) -> bool:
        return self._expired(session, self.now())

    def peek(self, sid: str | None) -> Session | None:
        """The live session `sid`, without counting this as use (an SSE stream's check)."""
        session = self._by_id.get(sid) if sid else None
        if session is None:
            return None
        if self._expired(session, self.now()):
            del self._by_id[session.id]
            session.end()
            return None
        return session

    def touch(self, sid: str | None) -> Session | None:
        """The live session `sid`, its idle timer restarted; None when gone or expired."""
        session = self.peek(sid)
        if session is not None:
            session.last_seen = self.now()
        return session

    def delete(self, sid: str | None) -> None:
        session = self._by_id.pop(sid, None) if sid else None
        if session is not None:
            session.end()

    def drop_user(self, username: str) -> None:
        for session in self.of_user(username):
            self.delete(session.id)

    def of_user(self, username: str) -> list[Session]:
        return [s for s in self._by_id.values() if s.user.username == username]

    def all(self) -> list[Session]:
        return list(self._by_id.values())

    def _expired(self, session: Session, at: datetime) -> bool:
        return at - session.last_seen >= self.idle or at - session.created >= self.lifetime

    def _purge(self) -> None:
        at = self.now()
        for sid in [s.id for s in self._by_id.values() if self._expired(s, at)]:
            self._by_id.pop(sid).end()


# -- login throttle -----------------------------------------------------------------------
class LoginThrottle:
    """Failed logins per username and per client address, in a sliding window (pure)."""

    def __init__(
        self,
        now: Clock,
        *,
        per_user: int = 5,
        per_address: int = 20,
        window: timedelta = timedelta(minutes=15),
        max_keys: int = 10_000,
    ) -> None:
        self.now = now
        self.limits = {"user": per_user, "address": per_address}
        self.window = window
        self.max_keys = max_keys
        self._failures: OrderedDict[tuple[str, str], deque[datetime]] = OrderedDict()

    def retry_after(self, username: str, address: str) -> float | None:
        """Seconds until an attempt is allowed, or None when it is allowed now."""
        at = self.now()
        waits = [self._wait(key, at) for key in self._keys(username, address)]
        blocked = [w for w in waits if w is not None]
        return max(blocked) if blocked else None

    def reserve(self, username: str, address: str) -> float | None:
        """Count an attempt BEFORE its password is checked: None when it may go ahead
        (and it is counted as a failure until `succeeded` or `release`), else the seconds
        to wait. No await between the check and the count, so concurrent logins cannot
        all pass the check before any of them is counted."""
        wait = self.retry_after(username, address)
        if wait is None:
            self.failed(username, address)
        return wait

    def failed(self, username: str, address: str) -> None:
        at = self.now()
        for key in self._keys(username, address):
            times = self._failures.pop(key, None) or deque(maxlen=self.limits[key[0]])
            times.append(at)
            self._failures[key] = times  # most recently failed last
        self._bound(at)

    def release(self, username: str, address: str) -> None:
        """Give back one reserved attempt (the check could not be made: no database)."""
        for key in self._keys(username, address):
            times = self._failures.get(key)
            if times:
                times.pop()
                if not times:
                    del self._failures[key]

    def succeeded(self, username: str, address: str | None = None) -> None:
        """A good login: the username's count is cleared, and its reserved attempt is
        given back to the address."""
        self._failures.pop(("user", username), None)
        times = self._failures.get(("address", address)) if address is not None else None
        if times:
            times.pop()
            if not times:
                del self._failures[("address", address or "")]

    def _keys(self, username: str, address: str) -> list[tuple[str, str]]:
        return [("user", username), ("address", address)]

    def _wait(self, key: tuple[str, str], at: datetime) -> float | None:
        times = self._failures.get(key)
        if times is None or len(times) < self.limits[key[0]]:
            return None
        until = times[0] + self.window  # the oldest of the last `limit` failures
        return (until - at).total_seconds() if until > at else None

    def _bound(self, at: datetime) -> None:
        if len(self._failures) <= self.max_keys:
            return
        for key in [k for k, t in self._failures.items() if at - t[-1] >= self.window]:
            del self._failures[key]
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)  # the least recently failed


# -- API token failures -------------------------------------------------------------------
class TokenFailures:
    """Wrong API tokens per client address in a sliding window (pure: the clock is
    injected): `limit` failures within `window` refuse that address's bearer requests
    (429, even with the right token) until the oldest of them is `window` old. A log
    line says how many were refused, at most once per `log_every`, never the token."""

    def __init__(
        self,
        now: Clock,
        *,
        limit: int = 10,
        window: timedelta = timedelta(minutes=1),
        log_every: timedelta = timedelta(minutes=1),
        max_keys: int = 10_000,
    ) -> None:
        self.now = now
        self.limit = limit
        self.window = window
        self.log_every = log_every
        self.max_keys = max_keys
        self.total = 0  # every wrong token since the start
        self._unlogged = 0
        self._logged_at: datetime | None = None
        self._failures: OrderedDict[str, deque[datetime]] = OrderedDict()

    def retry_after(self, address: str) -> float | None:
        times = self._failures.get(address)
        if times is None or len(times) < self.limit:
            return None
        until = times[0] + self.window
        wait = (until - self.now()).total_seconds()
        return wait if wait > 0 else None

    def failed(self, address: str) -> None:
        at = self.now()
        times = self._failures.pop(address, None) or deque(maxlen=self.limit)
        times.append(at)
        self._failures[address] = times
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)
        self.total += 1
        self._unlogged += 1
        if self._logged_at is None or at - self._logged_at >= self.log_every:
            log.warning(
                "auth.api_token_refused",
                address=address,
                failures=self._unlogged,
                total=self.total,
                throttled_addresses=sum(len(t) >= self.limit for t in self._failures.values()),
            )
            self._logged_at, self._unlogged = at, 0


# -- configuration and request state ------------------------------------------------------
@dataclass
class _Auth:
    accounts: Accounts | None
    sessions: Sessions
    throttle: LoginThrottle
    now: Clock
    api_token: str | None
    secure_cookies: bool | None
    put_audit: Callable[[AuditEntry], None] | None
    allowed_hosts: frozenset[str]
    token_failures: TokenFailures
    login_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    # Refused hosts are logged once a minute (a flood must not fill the log).
    host_log: OncePerInterval = field(default_factory=lambda: OncePerInterval(60.0))
    # Sessions in PostgreSQL (None: in memory only, for tests and tools without one).
    store: SessionStore | None = None
    check_every: float = SESSION_CHECK
    clock: Callable[[], float] = time.monotonic  # for the check interval and the backoff
    down_until: float = -math.inf  # no session checks before this (the database failed)
    down_log: OncePerInterval = field(default_factory=lambda: OncePerInterval(60.0))
    pending_ends: dict[str, str] = field(default_factory=dict)  # hash -> reason, unwritten
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


SESSIONS: Final = web.AppKey("sessions", Sessions)
_AUTH: Final = web.AppKey("auth", _Auth)
_SESSION: Final = web.RequestKey("session", Session)  # the user and CSRF token: identity.py


def setup_auth(
    app: web.Application,
    accounts: Accounts | None,
    *,
    now: Clock,
    idle_minutes: float = 15,
    api_token: str | None = None,
    secure_cookies: bool | None = None,
    put_audit: Callable[[AuditEntry], None] | None = None,
    allowed_hosts: Collection[str] = LOOPBACK_HOSTS,
    session_store: SessionStore | None = None,
    check_every: float = SESSION_CHECK,
) -> None:
    """Put `app` behind staff sign-in (see the module's docstring). With `session_store`
    sessions live in PostgreSQL (the daemon); without, in memory only."""
    sessions = Sessions(now, idle=timedelta(minutes=idle_minutes))
    app[SESSIONS] = sessions
    auth = app[_AUTH] = _Auth(
        accounts,
        sessions,
        LoginThrottle(now),
        now,
        api_token,
        secure_cookies,
        put_audit,
        frozenset(_host_name(h) for h in allowed_hosts),
        TokenFailures(now),
        store=session_store,
        check_every=check_every,
    )
    if session_store is not None:

        async def start(_: web.Application) -> None:
            await session_store.start()
            session_store.listen(lambda username: _on_notified(auth, username))
            _spawn(auth, _sweep(auth), "sessions-sweep")

        async def stop(_: web.Application) -> None:
            for task in list(auth.tasks):
                task.cancel()
            await asyncio.gather(*auth.tasks, return_exceptions=True)
            await session_store.close()

        app.on_startup.append(start)
        app.on_cleanup.append(stop)
    app.middlewares.append(_middleware)
    app.on_response_prepare.append(_security_headers)
    app.router.add_get("/login", _login_page)
    app.router.add_post("/login", _login)
    app.router.add_post("/logout", _logout)
    setup_static(app)


def current_user(request: web.Request) -> StaffUser:
    """The signed-in user; raises a redirect to /login (pages) or a 401 (APIs) if none."""
    user = optional_user(request)
    if user is None:
        raise _unauthenticated(request, expired=False)
    return user


def current_session(request: web.Request) -> Session | None:
    """The request's session (None for the API token and public paths)."""
    session: Session | None = request.get(_SESSION)
    return session


def require(permission: Permission) -> Callable[[Callable[[web.Request], Awaitable[R]]], Handler]:
    """A handler decorator: 403 unless the signed-in user holds `permission`."""

    def wrap(handler: Callable[[web.Request], Awaitable[R]]) -> Handler:
        @functools.wraps(handler)
        async def checked(request: web.Request) -> web.StreamResponse:
            user = current_user(request)
            if not can(user, permission):
                return forbidden(request, "you are not allowed to do that")
            return await handler(request)

        return checked

    return wrap


def is_api(path: str) -> bool:
    return path == "/api" or path.startswith("/api/") or path.startswith("/events")


def _is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith("/static/")


def wants_html(request: web.Request) -> bool:
    return not is_api(request.path) and "text/html" in request.headers.get("Accept", "")


def forbidden(request: web.Request, message: str) -> web.Response:
    if wants_html(request):
        return render(request, "error.html", status=403, title="Forbidden", message=message)
    return web.json_response({"error": message}, status=403)


# -- the middleware -----------------------------------------------------------------------
@web.middleware
async def _middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    auth = request.app[_AUTH]
    if not _host_allowed(request, auth):
        now, before = auth.host_log.allow("host")
        if now:
            host = request.headers.get("Host", "")[:100]
            log.warning("auth.host_refused", host=host, not_logged_before=before)
        return web.json_response({"error": "unknown host"}, status=421)
    if _is_public(request.path):
        return await handler(request)
    sent = request.headers.get("Authorization")
    if sent is not None and auth.api_token and is_api(request.path):
        return await _with_token(request, handler, auth, sent, auth.api_token)
    sid = request.cookies.get(COOKIE)
    session = auth.sessions.touch(sid)
    if session is None and sid and auth.store is not None:
        try:
            session = await _load(auth, sid)
        except _Unconfirmed:
            return _unavailable(request)
    if session is not None:
        session = await _recheck(auth, session)
    if session is None:
        raise _unauthenticated(request, expired=bool(sid))
    request[USER], request[_SESSION], request[CSRF] = session.user, session, session.csrf
    if request.method not in SAFE_METHODS:
        refused = await _csrf_refusal(request, session)
        if refused is not None:
            log.warning("auth.csrf_refused", username=session.user.username, path=request.path)
            return forbidden(request, refused)
    return await handler(request)


async def _with_token(
    request: web.Request, handler: Handler, auth: _Auth, sent: str, token: str
) -> web.StreamResponse:
    address = request.remote or "unknown"
    wait = auth.token_failures.retry_after(address)
    if wait is not None:  # even the right token: guessing from here has to stop
        return web.json_response(
            {"error": "too many wrong tokens"},
            status=429,
            headers={"Retry-After": str(max(1, int(wait + 0.999)))},
        )
    if not _bearer_ok(sent, token):
        auth.token_failures.failed(address)
        return web.json_response({"error": "unauthorized"}, status=401)
    request[USER] = API_USER
    return await handler(request)


def _host_name(host: str) -> str:
    """`Example.org:8080`, `[::1]:80`, `::1` → `example.org`, `::1` (no port, lower case)."""
    text = host.strip().lower()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else text[1:]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    return text.rstrip(".")


def _host_allowed(request: web.Request, auth: _Auth) -> bool:
    """The Host header names this server (DNS rebinding: another name that resolves
    here is refused). A request without one (HTTP/1.0) is let through."""
    host = request.headers.get("Host")
    if host is None or ANY_HOST in auth.allowed_hosts:
        return True
    return _host_name(host) in auth.allowed_hosts


def _bearer_ok(sent: str, token: str) -> bool:
    scheme, _, value = sent.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.encode(), token.encode())


async def _recheck(auth: _Auth, session: Session) -> Session | None:
    """The session if it still stands: with PostgreSQL, its row and account are read at
    most every `check_every` seconds (and at once on a notification); in memory, the
    account is read every `RECHECK`. Disabled accounts and ended sessions are dropped."""
    if session.ended:
        return None
    if auth.store is None:
        return await _recheck_account(auth, session)
    mono = auth.clock()
    if mono - session.verified_at < auth.check_every or mono < auth.down_until:
        return session
    session.verified_at = mono  # one check at a time for a session
    seen = session.last_seen
    moved = session.stored_seen is None or seen > session.stored_seen
    try:
        stored = await auth.store.read(session.key, seen if moved else None)
    except (*db.UNAVAILABLE, db.PostgresError) as exc:
        _database_failed(auth, exc)
        return session  # the database is down: the session goes on as it was
    auth.down_until = -math.inf  # the database answered
    if session.ended:  # ended meanwhile (a logout here)
        return None
    if stored is None or not stored.open:
        reason = "gone" if stored is None else stored.ended_reason or "disabled"
        log.info("auth.session_ended", username=session.user.username, reason=reason)
        auth.sessions.delete(session.id)
        return None
    if moved:
        session.stored_seen = seen
    session.user = stored.user  # a changed role applies
    return session


async def _recheck_account(auth: _Auth, session: Session) -> Session | None:
    """In memory: read the account again now and then (disabled accounts lose sessions)."""
    at = auth.now()
    if auth.accounts is None or at - session.checked < RECHECK:
        return session
    try:
        user = await auth.accounts.get(session.user.username)
    except Exception as exc:  # the database is down: keep the session as it is
        log.warning("auth.recheck_failed", error=type(exc).__name__)
        return session
    session.checked = at
    if user is None:
        log.info("auth.session_ended", username=session.user.username, reason="disabled")
        auth.sessions.drop_user(session.user.username)
        return None
    session.user = user
    return session


class _Unconfirmed(Exception):
    """A session this daemon does not hold, while PostgreSQL cannot be asked about it."""


async def _load(auth: _Auth, sid: str) -> Session | None:
    """A session this daemon does not hold yet (signed in before a restart, or at another
    daemon on the same database), read from PostgreSQL: held from now on if it is open,
    its account enabled and it has not expired by this daemon's clock."""
    assert auth.store is not None
    key = session_hash(sid)
    if key in auth.pending_ends:  # ended here while the database was down
        return None
    if auth.clock() < auth.down_until:
        raise _Unconfirmed
    try:
        stored = await auth.store.read(key)
    except (*db.UNAVAILABLE, db.PostgresError) as exc:
        _database_failed(auth, exc)
        raise _Unconfirmed from None
    auth.down_until = -math.inf
    if stored is None or not stored.open:
        return None
    at = auth.now()
    session = Session(
        sid,
        stored.user,
        stored.csrf,
        stored.created,
        stored.last_seen,
        at,
        key=key,
        stored_seen=stored.last_seen,
        verified_at=auth.clock(),
    )
    if auth.sessions.expired(session):
        return None  # the sweep marks its row
    held = auth.sessions.put(session)
    log.info("auth.session_resumed", username=stored.user.username)
    return auth.sessions.touch(held.id)


def _unavailable(request: web.Request) -> web.Response:
    message = "The database cannot be reached: your session cannot be checked. Try again soon."
    if wants_html(request):
        return render(request, "error.html", status=503, title="Unavailable", message=message)
    return web.json_response({"error": message}, status=503, headers={"Retry-After": "5"})


def _database_failed(auth: _Auth, exc: BaseException) -> None:
    """No session checks for `DB_BACKOFF` seconds (sessions held go on; none is resumed
    or made); logged once a minute."""
    auth.down_until = auth.clock() + DB_BACKOFF
    allowed, skipped = auth.down_log.allow("sessions")
    if allowed:
        log.warning("auth.sessions_unchecked", error=type(exc).__name__, not_logged=skipped)


async def _end(auth: _Auth, sid: str | None, reason: str) -> None:
    """End a session here at once and in PostgreSQL (every daemon); when the database is
    down its end is kept here (it cannot be resumed) and written by the sweep."""
    if not sid:
        return
    auth.sessions.delete(sid)
    if auth.store is None:
        return
    key = session_hash(sid)
    try:
        await auth.store.end(key, reason)
    except (*db.UNAVAILABLE, db.PostgresError) as exc:
        _database_failed(auth, exc)
        if len(auth.pending_ends) < MAX_PENDING_ENDS:
            auth.pending_ends[key] = reason


def _on_notified(auth: _Auth, username: str) -> None:
    """A NOTIFY: that user's sessions (everyone's for "") are checked now."""
    held = auth.sessions.all() if not username else auth.sessions.of_user(username)
    for session in held:
        session.verified_at = -math.inf
        _spawn(auth, _recheck_now(auth, session), "sessions-check")


async def _recheck_now(auth: _Auth, session: Session) -> None:
    auth.down_until = min(auth.down_until, auth.clock())  # the database just spoke
    await _recheck(auth, session)


async def _sweep(auth: _Auth) -> None:
    """Ends kept while the database was down are written (tried every `check_every`
    seconds); every `SWEEP_EVERY` seconds expired sessions' rows are ended and rows ended
    `RETENTION` ago deleted."""
    store = auth.store
    assert store is not None
    swept = -math.inf
    while True:
        await asyncio.sleep(auth.check_every)
        due = auth.clock() - swept >= SWEEP_EVERY
        if not due and not auth.pending_ends:
            continue
        try:
            for key, reason in list(auth.pending_ends.items()):
                await store.end(key, reason)
                del auth.pending_ends[key]
            auth.down_until = -math.inf
            if not due:
                continue
            expired = await store.expire(auth.now())
            purged = await store.purge()
            swept = auth.clock()
        except (*db.UNAVAILABLE, db.PostgresError) as exc:
            _database_failed(auth, exc)
            continue
        except Exception as exc:  # never let the sweep die: log it, go on
            log.error("auth.sessions_sweep_failed", error=type(exc).__name__)
            continue
        if expired or purged:
            log.info("auth.sessions_swept", expired=len(expired), deleted=purged)


def _spawn(auth: _Auth, work: Awaitable[None], name: str) -> None:
    async def run() -> None:
        await work

    task = asyncio.create_task(run(), name=name)
    auth.tasks.add(task)
    task.add_done_callback(auth.tasks.discard)


async def session_alive(request: web.Request) -> bool:
    """Whether the request's session still stands (for an open stream): looked at without
    counting as use, so an open board does not keep a session alive; checked against
    PostgreSQL every `check_every` seconds. True for the API token."""
    session = current_session(request)
    if session is None:
        return True
    auth = request.app[_AUTH]
    held = auth.sessions.peek(session.id)
    return held is not None and await _recheck(auth, held) is not None


def next_check(request: web.Request, longest: float) -> float:
    """Seconds until the request's session is next checked against PostgreSQL (at most
    `longest`; `longest` when sessions are in memory or for the API token)."""
    session = current_session(request)
    auth = request.app[_AUTH]
    if session is None or auth.store is None:
        return longest
    due = max(session.verified_at + auth.check_every, auth.down_until) - auth.clock()
    return max(0.05, min(longest, due))


def watch_session(request: web.Request, wake: asyncio.Event) -> Callable[[], None]:
    """`wake` is set when the request's session ends (logout, revocation): a stream's
    wait ends at once. Returns the undo."""
    session = current_session(request)
    if session is None:
        return lambda: None
    session.watchers.add(wake)
    if session.ended:
        wake.set()
    return lambda: session.watchers.discard(wake)


def _unauthenticated(request: web.Request, *, expired: bool) -> web.HTTPException:
    if is_api(request.path):
        error: web.HTTPException = web.HTTPUnauthorized(
            text='{"error": "login required"}', content_type="application/json"
        )
    else:
        target = "/login?next=" + quote(request.path_qs, safe="/")
        error = web.HTTPSeeOther(target + ("&expired=1" if expired else ""))
    if expired:
        error.del_cookie(COOKIE, path="/")
    return error


async def _csrf_refusal(request: web.Request, session: Session) -> str | None:
    if not _same_origin(request):
        return "cross-origin request refused"
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        form = await request.post()  # bounded by the app's client_max_size
        field_value = form.get(CSRF_FIELD)
        sent = field_value if isinstance(field_value, str) else None
    if sent is None or not hmac.compare_digest(sent.encode(), session.csrf.encode()):
        return "CSRF token missing or wrong"
    return None


def _same_origin(request: web.Request) -> bool:
    """No `Origin`, or one with this request's scheme, host and port exactly. The scheme
    is https when the request came over TLS or `secure_cookies` is on (TLS ends at a
    reverse proxy in front), else the request's own."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    secure = request.app[_AUTH].secure_cookies
    scheme = "https" if request.secure or secure else request.scheme
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return False
    if parts.scheme.lower() != scheme or not parts.hostname:
        return False
    if parts.path not in ("", "/") or parts.query or parts.username or parts.password:
        return False
    return _origin_key(scheme, parts.hostname, port) == _origin_key(
        scheme, *_split_host(request.host)
    )


def _split_host(host: str) -> tuple[str, int | None]:
    try:
        parts = urlsplit("//" + host.strip())
        return parts.hostname or "", parts.port
    except ValueError:
        return host, None


def _origin_key(scheme: str, host: str, port: int | None) -> tuple[str, str]:
    shown = str(port) if port is not None else DEFAULT_PORTS.get(scheme, "")
    return host.lower().rstrip("."), shown


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    # A signal, not the middleware: streamed responses (SSE) send headers at prepare().
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if optional_user(request) is not None or request.path == "/login":
        response.headers["Cache-Control"] = "no-store"


# -- login and logout ---------------------------------------------------------------------
def _secure(request: web.Request, auth: _Auth) -> bool:
    return request.secure if auth.secure_cookies is None else auth.secure_cookies


def _set_cookie(response: web.StreamResponse, name: str, value: str, secure: bool) -> None:
    response.set_cookie(
        name, value, path="/", httponly=True, samesite="Strict", secure=secure or None
    )


def _login_token(auth: _Auth) -> str:
    nonce = secrets.token_urlsafe(24)
    return f"{nonce}.{_sign(auth, nonce)}"


def _sign(auth: _Auth, nonce: str) -> str:
    return hmac.new(auth.login_key, nonce.encode(), hashlib.sha256).hexdigest()


def _login_token_ok(auth: _Auth, cookie: str | None, sent: str | None) -> bool:
    if not cookie or not sent or not hmac.compare_digest(cookie.encode(), sent.encode()):
        return False
    nonce, _, signature = sent.partition(".")
    return hmac.compare_digest(signature.encode(), _sign(auth, nonce).encode())


def safe_next(value: str | None) -> str:
    """A local path to go to after login; anything else (another site) becomes `/`."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in value):
        return "/"
    return value


def _login_form(
    request: web.Request, *, status: int = 200, message: str | None = None, username: str = ""
) -> web.Response:
    auth = request.app[_AUTH]
    # Keep a still-valid token: a second login page (another tab, or the browser's
    # favicon request redirected here) must not void the form already shown.
    kept = request.cookies.get(LOGIN_COOKIE)
    token = kept if kept and _login_token_ok(auth, kept, kept) else _login_token(auth)
    request[CSRF] = token
    if message is None and request.query.get("expired"):
        message = "Your session expired. Please log in again."
    response = render(
        request,
        "login.html",
        status=status,
        message=message,
        next=safe_next(request.query.get("next")),
        username=username,
        no_database=auth.accounts is None,
    )
    _set_cookie(response, LOGIN_COOKIE, token, _secure(request, auth))
    return response


async def _login_page(request: web.Request) -> web.StreamResponse:
    return _login_form(request)  # signed in or not: logging in again replaces the session


async def _login(request: web.Request) -> web.StreamResponse:
    auth = request.app[_AUTH]
    form = await request.post()
    sent = form.get(CSRF_FIELD)
    if not _same_origin(request) or not _login_token_ok(
        auth, request.cookies.get(LOGIN_COOKIE), sent if isinstance(sent, str) else None
    ):
        log.warning("auth.login_csrf_refused")
        return _login_form(request, status=403, message="The login form expired; try again.")
    if auth.accounts is None:
        return _login_form(request, status=503)
    username = str(form.get("username") or "").strip().lower()[:64]
    password = str(form.get("password") or "")
    address = request.remote or "unknown"
    wait = auth.throttle.reserve(username, address)  # counted now, before the await below
    if wait is not None:
        _record(request, "login_throttled", username)
        response = _login_form(
            request,
            status=429,
            message="Too many failed logins. Wait a few minutes and try again.",
            username=username,
        )
        response.headers["Retry-After"] = str(max(1, int(wait + 0.999)))
        return response
    try:
        user = await auth.accounts.verify(username, password)
    except Exception as exc:  # the database is down or too slow
        auth.throttle.release(username, address)
        log.error("auth.login_unavailable", error=type(exc).__name__)
        return _login_form(
            request, status=503, message="Logins are unavailable: the database cannot be reached."
        )
    if user is None:  # already counted by reserve()
        _record(request, "login_failed", username)
        return _login_form(
            request, status=401, message="Wrong username or password.", username=username
        )
    auth.throttle.succeeded(username, address)
    await _end(auth, request.cookies.get(COOKIE), "replaced")
    session = auth.sessions.create(user)
    if not await _stored(request, auth, session):
        return _login_form(
            request, status=503, message="Logins are unavailable: the database cannot be reached."
        )
    _record(request, "login", username)
    response = _see_other(safe_next(str(form.get("next") or "")))
    _set_cookie(response, COOKIE, session.id, _secure(request, auth))
    response.del_cookie(LOGIN_COOKIE, path="/")
    return response


async def _logout(request: web.Request) -> web.StreamResponse:
    auth = request.app[_AUTH]
    user = current_user(request)
    session = current_session(request)
    if session is not None:
        await _end(auth, session.id, "logout")
    _record(request, "logout", user.username)
    response = _see_other("/login")
    response.del_cookie(COOKIE, path="/")
    return response


async def _stored(request: web.Request, auth: _Auth, session: Session) -> bool:
    """A new session written to PostgreSQL (when sessions live there); False, the session
    dropped, when the database cannot take it: no session that cannot be listed or
    revoked is handed out."""
    if auth.store is None:
        return True
    new = NewSession(
        session.key,
        session.user.username,
        session.csrf,
        session.created,
        session.created + auth.sessions.lifetime,
        auth.sessions.idle,
        request.remote,
        request.headers.get("User-Agent"),
    )
    try:
        await auth.store.insert(new)
    except (*db.UNAVAILABLE, db.PostgresError) as exc:
        auth.sessions.delete(session.id)
        _database_failed(auth, exc)
        log.error("auth.login_unavailable", error=type(exc).__name__)
        return False
    session.stored_seen = session.created
    session.verified_at = auth.clock()
    return True


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def _record(request: web.Request, action: str, username: str) -> None:
    """Log, and audit when configured, a sign-in event (never the password)."""
    auth = request.app[_AUTH]
    shown = username if _printable_name(username) else "<invalid>"
    event = f"auth.{action}"
    (log.warning if action in ("login_failed", "login_throttled") else log.info)(
        event, username=shown
    )
    if auth.put_audit is None:
        return
    entry = AuditEntry(
        at=auth.now(),
        actor=f"user:{shown}" if action in ("login", "logout") else "anonymous",
        action=action,
        subject=shown,
        data={"address": request.remote or "unknown"},
    )
    try:
        auth.put_audit(entry)
    except Exception as exc:  # sign-in goes on; the log line above still says it
        log.error("auth.audit_failed", error=type(exc).__name__)


def _printable_name(username: str) -> bool:
    return bool(USERNAME.match(username))
