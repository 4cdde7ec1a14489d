"""The agents API: log in, log out, pause and unpause, and the live ACD snapshot.

Served on loopback (`FRONTDESK_HTTP_HOST`/`FRONTDESK_HTTP_PORT`, default
127.0.0.1:8080), behind staff sign-in (web/auth.py): a dashboard session, or for
`/api/...` `Authorization: Bearer $FRONTDESK_API_TOKEN` when that variable is set.
`POST /api/agents/{ext}/{action}` needs `control_own_agent` for the user's own
extension, or `control_any_agent` (frontdesk/staff.py). `pause` takes an optional JSON
body `{"reason": "lunch"}`: one of the plan's `all_pause_reasons` (lunch, meeting,
admin and the plan's own `pause_reasons`), else 422. Each action is audited
(`agent_login`, `agent_logout`, `agent_pause`, `agent_unpause`; actor `user:<username>`
or `token`, and `"on_behalf": "agent:<ext>"` in the data: web/audit_actor.py).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Collection
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any, Final

from aiohttp import web

from frontdesk.acd.model import AgentLogin, AgentLogout, AgentPause, AgentUnpause, Event
from frontdesk.calls.acd_runtime import AcdRuntime
from frontdesk.staff import may_control
from frontdesk.store.records import AuditEntry
from frontdesk.store.sessions import SessionStore
from frontdesk.web.audit_actor import actor, on_behalf
from frontdesk.web.auth import LOOPBACK_HOSTS, Accounts, current_user, forbidden, setup_auth
from frontdesk.web.server import body_in_time

_ACTIONS: dict[str, Callable[[str], Event]] = {
    "login": AgentLogin,
    "logout": AgentLogout,
    "pause": AgentPause,
    "unpause": AgentUnpause,
}
QUEUES = web.AppKey("queues", AcdRuntime)
_PUT_AUDIT: Final = web.AppKey[Callable[[AuditEntry], None]]("agents_put_audit")
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
    allowed_hosts: Collection[str] = LOOPBACK_HOSTS,
    session_store: SessionStore | None = None,
) -> web.Application:
    # Outermost: the body (at most 4 KiB) is in before sign-in's CSRF check reads it.
    app = web.Application(client_max_size=4096, middlewares=[body_in_time])
    setup_auth(
        app,
        accounts,
        now=now,
        idle_minutes=idle_minutes,
        api_token=api_token,
        secure_cookies=secure_cookies,
        put_audit=put_audit,
        allowed_hosts=allowed_hosts,
        session_store=session_store,
    )
    app[QUEUES] = queues
    if put_audit is not None:
        app[_PUT_AUDIT] = put_audit
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
    reason = None
    if action == "pause":
        reason_or_refusal = await _pause_reason(request, queues.plan.all_pause_reasons)
        if isinstance(reason_or_refusal, web.Response):
            return reason_or_refusal
        reason = reason_or_refusal
    queues.feed(AgentPause(ext, reason) if action == "pause" else make(ext))
    put_audit = request.app.get(_PUT_AUDIT)
    if put_audit is not None:
        data = {"reason": reason} if reason is not None else {}
        data |= on_behalf(ext)
        who = actor(current_user(request))
        put_audit(AuditEntry(queues.now(), who, f"agent_{action}", ext, data))
    view = queues.engine.agent(ext)
    assert view is not None  # a member of the plan's staff
    return web.json_response({"ext": ext, "state": view.state, "pause_reason": view.pause_reason})


async def _pause_reason(
    request: web.Request, allowed: tuple[str, ...]
) -> str | web.Response | None:
    """The optional body's `reason` (None without a body or a reason), or the refusal."""
    raw = await request.read()
    if not raw.strip():
        return None
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return web.json_response({"error": "the body is not JSON"}, status=400)
    if not isinstance(body, dict):
        return web.json_response(
            {"error": 'give a JSON object like {"reason": "lunch"}'}, status=400
        )
    reason = body.get("reason")
    if reason is None:
        return None
    if not isinstance(reason, str) or reason not in allowed:
        shown = reason if isinstance(reason, str) else type(reason).__name__
        return web.json_response(
            {"error": f"unknown pause reason {shown!r}", "reasons": list(allowed)}, status=422
        )
    return reason


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
