"""The agents API: log in, log out, pause and unpause, and the live ACD snapshot.

Served on loopback (`FRONTDESK_HTTP_HOST`/`FRONTDESK_HTTP_PORT`, default
127.0.0.1:8080), behind staff sign-in (web/auth.py): a dashboard session, or for
`/api/...` `Authorization: Bearer $FRONTDESK_API_TOKEN` when that variable is set.
`POST /api/agents/{ext}/{action}` needs `control_own_agent` for the user's own
extension, or `control_any_agent` (frontdesk/staff.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from frontdesk.acd.model import AgentLogin, AgentLogout, AgentPause, AgentUnpause, Event
from frontdesk.calls.acd_runtime import AcdRuntime
from frontdesk.staff import may_control
from frontdesk.store.records import AuditEntry
from frontdesk.web.auth import Accounts, current_user, forbidden, setup_auth

_ACTIONS: dict[str, Callable[[str], Event]] = {
    "login": AgentLogin,
    "logout": AgentLogout,
    "pause": AgentPause,
    "unpause": AgentUnpause,
}
QUEUES = web.AppKey("queues", AcdRuntime)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PUBLIC_PATHS = frozenset({"/metrics", "/healthz"})  # monitoring; no patient data (web/ops.py)


def make_app(
    queues: AcdRuntime,
    accounts: Accounts | None,
    *,
    now: Callable[[], datetime],
    api_token: str | None = None,
    idle_minutes: float = 15,
    put_audit: Callable[[AuditEntry], None] | None = None,
    secure_cookies: bool | None = None,
) -> web.Application:
    app = web.Application(client_max_size=4096)
    setup_auth(
        app,
        accounts,
        now=now,
        idle_minutes=idle_minutes,
        api_token=api_token,
        secure_cookies=secure_cookies,
        put_audit=put_audit,
    )
    app[QUEUES] = queues
    app.router.add_get("/api/acd", snapshot)
    app.router.add_post("/api/agents/{ext}/{action}", agent_action)
    return app


async def snapshot(request: web.Request) -> web.Response:
    queues = request.app[QUEUES]
    view = queues.engine.snapshot(queues.now())
    return web.json_response(_jsonable(asdict(view)))


async def agent_action(request: web.Request) -> web.Response:
    queues = request.app[QUEUES]
    ext, action = request.match_info["ext"], request.match_info["action"]
    if not may_control(current_user(request), ext):
        return forbidden(request, f"you may not control the agent at extension {ext}")
    make = _ACTIONS.get(action)
    if make is None:
        return web.json_response({"error": f"unknown action {action!r}"}, status=404)
    if not any(s.extension == ext for s in queues.plan.staff):
        return web.json_response({"error": f"no staff member has extension {ext}"}, status=404)
    queues.feed(make(ext))
    state = queues.engine.snapshot(queues.now()).agent(ext).state
    return web.json_response({"ext": ext, "state": state})


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value
