"""The live board over Server-Sent Events: `GET /events` pushes the board to each viewer.

`LiveBoard` listens to the event hub (`hub.add_listener(live.on_hub)`), keeps a
`BoardState` (web/board.py) and wakes every open stream when something changed;
each stream then sends the board as seen by its viewer (masking by role). Bursts are
coalesced (`COALESCE` seconds) and an unchanged board is re-sent every `REFRESH` seconds
so that wait times move; the browser never polls.

Streams never slow the call path: the board is rendered once per change (and at most
once per `REFRESH` otherwise) for each kind of viewer (full or masked numbers, the
agent's own extension) and the same bytes go to every stream of that kind
(`LiveBoard.payload_for`); a session may hold `STREAMS_PER_SESSION` streams and the
daemon `STREAMS_TOTAL` in all, beyond which `GET /events` answers 429.

Routes (behind web/auth.py's session check):
- `GET /events`: `text/event-stream`; `event: board` with the board JSON; `event: expired`
  then end of stream when the viewer's session has ended (idle timeout, logout, the
  account disabled, a new password, `frontdesk users revoke`): at once when this daemon
  ends it or hears of it (PostgreSQL NOTIFY), else at the session's next check against
  PostgreSQL, within `SESSION_CHECK` (2 s: web/auth.py).
- `GET /api/board`: the same JSON once (scripts, tests).
- Several sites (docs/scale.md "Several sites"): the board JSON says its `site`; with
  `?site=NAME` both routes give another site's board (web/site_boards.py: read from
  PostgreSQL, masked by the viewer's role like the own one; `as_of`, `stale`), and
  `GET /api/board?site=all` every site the viewer may see (`{"sites": [...]}`). A site
  the viewer's account does not list (staff.py `may_see_site`), the own one included,
  is a 403; a site with no board a 404. Another site's alerts are shown, not acted on.
- `POST /api/alerts/{id}/ack`: acknowledge an alert (`acknowledge_alert`: charge nurses
  and supervisors); a callback task or voicemail message is done this way, with an
  optional body `{"outcome": "reached" | "left_message" | "no_answer" | "wrong_number"}`
  (web/board.py `RETURN_OUTCOMES`), also by whoever may return calls (`return_calls`)
  unless someone else claimed it (409). Audited (`alert_acknowledged`, with the outcome).
- `POST /api/alerts/{id}/claim`: take a callback task or voicemail message
  (`return_calls`); 409 when someone else has it, 404 no such alert (or an escalation).
  `POST /api/alerts/{id}/release`: give it back (the one who claimed it, or
  `acknowledge_alert`). Both audited (`alert_claimed`, `alert_released`); the claims
  come back after a restart with their alerts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from aiohttp import web

from frontdesk.calls.acd_runtime import AcdRuntime
from frontdesk.calls.events import EscalationRaised, HubEvent, from_record
from frontdesk.plan import Plan
from frontdesk.routing.clock import PracticeClock
from frontdesk.staff import StaffUser, can, may_see_site, visible_sites
from frontdesk.store import board as store_board
from frontdesk.store import db
from frontdesk.store.db import DEFAULT_SITE
from frontdesk.store.records import AuditEntry
from frontdesk.web.audit_actor import actor
from frontdesk.web.auth import (
    current_session,
    current_user,
    forbidden,
    next_check,
    require,
    session_alive,
    watch_session,
)
from frontdesk.web.board import (
    ALERT_FACTS,
    RETURN_OUTCOMES,
    RETURNABLE_KINDS,
    Alert,
    BoardState,
    Viewer,
    board_view,
)
from frontdesk.web.server import OncePerInterval
from frontdesk.web.site_boards import PUBLISH_EVERY, SiteBoards

log = structlog.get_logger("frontdesk.web")
COALESCE = 0.2
REFRESH = 5.0
ALERT_DAYS = 3  # unacknowledged alerts older than this are not brought back after a restart
STREAMS_PER_SESSION = 3  # open `/events` streams one session (or the API token) may hold
STREAMS_TOTAL = 50  # open `/events` streams in all


class LiveBoard:
    def __init__(
        self,
        queues: AcdRuntime,
        plan: Plan,
        *,
        put_audit: Callable[[AuditEntry], None] | None = None,
        site: str = DEFAULT_SITE,
    ) -> None:
        self.queues = queues
        self.plan = plan
        self.site = site
        self.others: SiteBoards | None = None  # the other sites' boards (with a database)
        self.clock = PracticeClock(plan)
        self.state = BoardState(ZoneInfo(plan.practice.timezone))
        self.put_audit = put_audit
        self._watchers: set[asyncio.Event] = set()
        self.closed = False
        self.version = 0  # moves with every change of the board
        self._rendered: dict[bool, _Rendered] = {}  # full numbers or not -> the board
        self.renders = 0  # boards rendered for streams (tests, the bench)
        self.streams: dict[str, int] = {}  # session key -> open streams
        self.streams_per_session = STREAMS_PER_SESSION
        self.streams_total = STREAMS_TOTAL
        self.refused = 0  # streams refused since the start
        self.refused_log = OncePerInterval(60.0)

    async def restore(self, pool: db.Pool) -> None:
        """After a restart: the unacknowledged alerts of the last `ALERT_DAYS` days and
        today's service level, from the call records. A database problem leaves the
        board empty (logged), never delays the start for long."""
        at = self.queues.now()
        local = at.astimezone(self.state.zone)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        try:
            async with pool.acquire() as conn:
                since, kinds = at - timedelta(days=ALERT_DAYS), [f.kind for f in ALERT_FACTS]
                alerts = await store_board.open_alerts(conn, since, kinds)
                claims = await store_board.alert_claims(conn, since, sorted(RETURNABLE_KINDS))
                outcomes = await store_board.queue_outcomes(conn, midnight)
        except (db.PostgresError, OSError, TimeoutError) as exc:
            log.warning("board.restore_failed", error=type(exc).__name__)
            return
        for when, call, kind, data in alerts:
            fact = from_record(kind, call, data)
            if fact is not None:
                self.state.on_event(fact, when)
        for call, kind, by, when in claims:
            self.state.restore_claim(call, kind, by, when)
        for alert in self.state.alerts:
            if alert.kind == EscalationRaised.kind and alert.call not in self.queues.calls:
                alert.call_state = "ended"
        self.state.seed(outcomes, at)
        log.info("board.restored", alerts=len(alerts), queue_calls_today=len(outcomes))

    def on_hub(self, event: HubEvent) -> None:
        if self.state.on_event(event, self.queues.now()):
            self.changed()

    def changed(self) -> None:
        self.version += 1
        for wake in self._watchers:
            wake.set()

    def view_for(self, user: StaffUser) -> dict[str, Any]:
        viewer = Viewer(full_numbers=can(user, "see_full_numbers"), extension=user.extension)
        return self._view(viewer)

    def _view(self, viewer: Viewer) -> dict[str, Any]:
        at = self.queues.now()
        snapshot = self.queues.engine.snapshot(at)
        calls = self.queues.calls

        def number_of(call_id: str) -> str | None:
            queued = calls.get(call_id)
            return None if queued is None else queued.number

        open_now = {
            name: self.clock.schedule_open(queue.schedule, at)
            for name, queue in self.plan.queues.items()
        }
        view = board_view(
            snapshot, self.state, viewer, number_of=number_of, open_now=open_now, at=at
        )
        view["site"] = self.site
        return view

    def unmasked(self) -> dict[str, Any]:
        """The board with full numbers and no `me`: what other sites' viewers read."""
        return self._view(Viewer(full_numbers=True))

    async def sites_for(self, user: StaffUser) -> list[str]:
        """The sites whose boards `user` may see (this one alone without a database)."""
        known = await self.others.sites() if self.others is not None else [self.site]
        return visible_sites(user, known)

    async def board_for(self, user: StaffUser, site: str) -> dict[str, Any] | None:
        """The board of `site` (this one or another) as `user` may see it; None: none."""
        if site == self.site:
            return self.view_for(user)
        if self.others is None:
            return None
        viewer = Viewer(full_numbers=can(user, "see_full_numbers"))
        return await self.others.board_of(site, viewer)

    def payload_for(self, user: StaffUser) -> bytes:
        """The `event: board` message for this viewer, shared by every stream: the board is
        rendered once per change (or after a second) with full numbers and once masked;
        an agent's own entry (`me`) is spliced into the JSON, once per agent."""
        full = can(user, "see_full_numbers")
        now = asyncio.get_running_loop().time()
        rendered = self._rendered.get(full)
        if rendered is None or rendered.version != self.version or now - rendered.at >= 1.0:
            view = self._view(Viewer(full_numbers=full))
            agents = {agent["ext"]: agent for agent in view["agents"]}
            text = json.dumps(view, separators=(",", ":"))
            rendered = _Rendered(self.version, now, text, agents)
            self._rendered[full] = rendered
            self.renders += 1
        message = rendered.messages.get(user.extension)
        if message is None:
            payload = rendered.text
            if user.extension is not None:
                me = json.dumps(rendered.agents.get(user.extension), separators=(",", ":"))
                payload = f'{payload[:-1]},"me":{me}}}'
            message = f"event: board\ndata: {payload}\n\n".encode()
            rendered.messages[user.extension] = message
        return message

    def open_stream(self, key: str) -> bool:
        """Counts a stream for `key` (a session); False when a cap is reached."""
        if sum(self.streams.values()) >= self.streams_total:
            return False
        if self.streams.get(key, 0) >= self.streams_per_session:
            return False
        self.streams[key] = self.streams.get(key, 0) + 1
        return True

    def close_stream(self, key: str) -> None:
        left = self.streams.get(key, 0) - 1
        if left > 0:
            self.streams[key] = left
        else:
            self.streams.pop(key, None)

    def watch(self) -> asyncio.Event:
        wake = asyncio.Event()
        self._watchers.add(wake)
        return wake

    def unwatch(self, wake: asyncio.Event) -> None:
        self._watchers.discard(wake)

    def close(self) -> None:
        """Ends every open stream (the daemon is stopping)."""
        self.closed = True
        self.changed()


@dataclass
class _Rendered:
    """The board as sent, for one version of it (with full numbers, or masked)."""

    version: int
    at: float  # loop time
    text: str  # the JSON, without `me`
    agents: dict[str, dict[str, Any]]  # extension -> its entry, for `me`
    messages: dict[str | None, bytes] = field(default_factory=dict)  # extension -> message


LIVE = web.AppKey("live_board", LiveBoard)


def add_live_routes(app: web.Application, live: LiveBoard) -> None:
    app[LIVE] = live

    async def end_streams(_: web.Application) -> None:
        live.close()  # before the runner waits for open handlers

    app.on_shutdown.append(end_streams)
    app.router.add_get("/events", events)
    app.router.add_get("/api/board", board_once)
    app.router.add_post("/api/alerts/{id}/ack", acknowledge)
    app.router.add_post("/api/alerts/{id}/claim", claim)
    app.router.add_post("/api/alerts/{id}/release", release)


@require("view_board")
async def board_once(request: web.Request) -> web.Response:
    live, user = request.app[LIVE], current_user(request)
    site = request.query.get("site") or live.site
    if site == "all":
        boards = [await live.board_for(user, s) for s in await live.sites_for(user)]
        return web.json_response({"sites": [b for b in boards if b is not None]})
    if not may_see_site(user, site):
        return forbidden(request, f"you may not see site {site}'s board")
    board = await live.board_for(user, site)
    if board is None:
        return web.json_response({"error": f"no board for site {site}"}, status=404)
    return web.json_response(board)


@require("view_board")
async def events(request: web.Request) -> web.StreamResponse:
    live, user = request.app[LIVE], current_user(request)
    site = request.query.get("site") or live.site
    if not may_see_site(user, site):
        return forbidden(request, f"you may not see site {site}'s board")
    if site != live.site:
        return await _other_site_events(request, live, user, site)
    session = current_session(request)
    key = f"session:{session.id}" if session is not None else f"user:{user.username}"
    if not live.open_stream(key):
        live.refused += 1
        if live.refused_log.allow("streams_refused")[0]:  # not a line per refusal
            log.warning("board.streams_refused", user=user.username, refused=live.refused)
        return web.json_response(
            {"error": "too many open board streams"}, status=429, headers={"Retry-After": "10"}
        )
    try:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
        )
        await response.prepare(request)
        wake = live.watch()
        unwatch_session = watch_session(request, wake)  # its end wakes the stream at once
        try:
            while not live.closed:
                if not await session_alive(request):
                    await response.write(b"event: expired\ndata: {}\n\n")
                    break
                wake.clear()
                await response.write(live.payload_for(user))
                if not await _until_change(request, live, wake):
                    await response.write(b"event: expired\ndata: {}\n\n")
                    break
                await asyncio.sleep(COALESCE)
        except (ConnectionError, RuntimeError):  # the browser went away
            pass
        finally:
            live.unwatch(wake)
            unwatch_session()
    finally:
        live.close_stream(key)
    return response


async def _other_site_events(
    request: web.Request, live: LiveBoard, user: StaffUser, site: str
) -> web.StreamResponse:
    """Another site's board as a stream: read from PostgreSQL every second (its daemon
    writes it at most that often), sent when it changed or after `REFRESH` seconds."""
    key = _stream_key(request, user)
    if not live.open_stream(key):
        live.refused += 1
        return web.json_response(
            {"error": "too many open board streams"}, status=429, headers={"Retry-After": "10"}
        )
    try:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
        )
        await response.prepare(request)
        sent: tuple[str | None, float] = (None, 0.0)
        loop = asyncio.get_running_loop()
        with contextlib.suppress(ConnectionError, RuntimeError):  # the browser went away
            while not live.closed:
                if not await session_alive(request):
                    await response.write(b"event: expired\ndata: {}\n\n")
                    break
                board = await live.board_for(user, site)
                stamp = None if board is None else str(board.get("as_of"))
                if board is not None and (stamp != sent[0] or loop.time() - sent[1] >= REFRESH):
                    text = json.dumps(board, separators=(",", ":"))
                    await response.write(f"event: board\ndata: {text}\n\n".encode())
                    sent = (stamp, loop.time())
                await asyncio.sleep(PUBLISH_EVERY)
    finally:
        live.close_stream(key)
    return response


def _stream_key(request: web.Request, user: StaffUser) -> str:
    session = current_session(request)
    return f"session:{session.id}" if session is not None else f"user:{user.username}"


async def _until_change(request: web.Request, live: LiveBoard, wake: asyncio.Event) -> bool:
    """Waits until the board changes (or `REFRESH` seconds pass); False as soon as the
    stream's session has ended: checked when its end wakes the stream (logout or a
    revocation seen by this daemon) and at each of its checks against PostgreSQL (every
    few seconds: web/auth.py `SESSION_CHECK`)."""
    loop = asyncio.get_running_loop()
    until = loop.time() + REFRESH
    while not wake.is_set() and not live.closed:
        left = until - loop.time()
        if left <= 0:
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=next_check(request, left))
        if not await session_alive(request):
            return False
    return await session_alive(request)


async def acknowledge(request: web.Request) -> web.Response:
    live, user = request.app[LIVE], current_user(request)
    if not (can(user, "acknowledge_alert") or can(user, "return_calls")):
        return forbidden(request, "you are not allowed to do that")
    alert = alert_of(request)
    if alert is None:
        return _no_alert()
    body = await _body(request)
    if body is None:
        return web.json_response({"error": "the body must be a JSON object"}, status=400)
    outcome = body.get("outcome")
    if outcome is not None and (not alert.returnable or outcome not in RETURN_OUTCOMES):
        return web.json_response(
            {"error": f"outcome is one of {', '.join(RETURN_OUTCOMES)} (calls to return)"},
            status=422,
        )
    if not can(user, "acknowledge_alert"):
        if not (alert.returnable and can(user, "return_calls")):
            return forbidden(request, "you are not allowed to do that")
        if alert.held_by_other(user.username):
            return _claimed(alert)
    at: datetime = live.queues.now()
    done = alert.acknowledged_by is None
    live.state.acknowledge(alert.id, user.username, at, outcome)
    if done:
        log.info("board.alert_acknowledged", alert=alert.id, kind=alert.kind, by=user.username)
        data: dict[str, Any] = {"alert": alert.id, "kind": alert.kind}
        if outcome is not None:
            data["outcome"] = outcome
        _audit(live, user, at, "alert_acknowledged", alert, data)
        live.changed()
    return web.json_response(alert.as_json())


@require("return_calls")
async def claim(request: web.Request) -> web.Response:
    live, user = request.app[LIVE], current_user(request)
    alert = alert_of(request)
    if alert is None or not alert.returnable:
        return _no_alert()
    if alert.acknowledged_by is not None:
        return web.json_response({"error": "that call was returned already"}, status=409)
    if alert.held_by_other(user.username):
        return _claimed(alert)
    if alert.claimed_by is None:
        at: datetime = live.queues.now()
        live.state.claim(alert.id, user.username, at)
        log.info("board.alert_claimed", alert=alert.id, kind=alert.kind, by=user.username)
        _audit(live, user, at, "alert_claimed", alert, {"alert": alert.id, "kind": alert.kind})
        live.changed()
    return web.json_response(alert.as_json())


@require("return_calls")
async def release(request: web.Request) -> web.Response:
    live, user = request.app[LIVE], current_user(request)
    alert = alert_of(request)
    if alert is None or not alert.returnable:
        return _no_alert()
    if alert.held_by_other(user.username) and not can(user, "acknowledge_alert"):
        return _claimed(alert)
    if alert.claimed_by is not None and alert.acknowledged_by is None:
        at: datetime = live.queues.now()
        live.state.release(alert.id)
        log.info("board.alert_released", alert=alert.id, kind=alert.kind, by=user.username)
        _audit(live, user, at, "alert_released", alert, {"alert": alert.id, "kind": alert.kind})
        live.changed()
    return web.json_response(alert.as_json())


def alert_of(request: web.Request) -> Alert | None:
    """The alert the route's `{id}` names, if the board has it."""
    try:
        alert_id = int(request.match_info["id"])
    except ValueError:
        return None
    return request.app[LIVE].state.alert(alert_id)


async def _body(request: web.Request) -> dict[str, Any] | None:
    """The JSON object sent, {} for an empty body; None when it is not an object."""
    if not request.body_exists:
        return {}
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _no_alert() -> web.Response:
    return web.json_response({"error": "no such alert"}, status=404)


def _claimed(alert: Alert) -> web.Response:
    return web.json_response(
        {"error": f"{alert.claimed_by} is returning that call", "claimed_by": alert.claimed_by},
        status=409,
    )


def _audit(
    live: LiveBoard, user: StaffUser, at: datetime, action: str, alert: Alert, data: dict[str, Any]
) -> None:
    if live.put_audit is not None:
        live.put_audit(
            AuditEntry(at=at, actor=actor(user), action=action, subject=alert.call, data=data)
        )
