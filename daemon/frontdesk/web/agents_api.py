"""The agents API: log in, log out, pause and unpause, and the live ACD snapshot.

Served on loopback (`FRONTDESK_HTTP_HOST`/`FRONTDESK_HTTP_PORT`, default
127.0.0.1:8080). Until the dashboard brings staff accounts, every request must carry
`Authorization: Bearer $FRONTDESK_API_TOKEN` when that variable is set.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from frontdesk.acd.model import AgentLogin, AgentLogout, AgentPause, AgentUnpause, Event
from frontdesk.calls.queues import QueueRuntime

_ACTIONS: dict[str, Callable[[str], Event]] = {
    "login": AgentLogin,
    "logout": AgentLogout,
    "pause": AgentPause,
    "unpause": AgentUnpause,
}
QUEUES = web.AppKey("queues", QueueRuntime)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PUBLIC_PATHS = frozenset({"/metrics", "/healthz"})  # monitoring; no patient data (web/ops.py)


def make_app(queues: QueueRuntime, token: str | None) -> web.Application:
    app = web.Application(middlewares=[_bearer(token)], client_max_size=4096)
    app[QUEUES] = queues
    app.router.add_get("/api/acd", snapshot)
    app.router.add_post("/api/agents/{ext}/{action}", agent_action)
    return app


def _bearer(token: str | None) -> Any:
    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if token and request.path not in PUBLIC_PATHS:
            sent = request.headers.get("Authorization", "").removeprefix("Bearer ")
            if not hmac.compare_digest(sent.encode(), token.encode()):
                return web.json_response({"error": "unauthorized"}, status=401)
        return await handler(request)

    return check


async def snapshot(request: web.Request) -> web.Response:
    queues = request.app[QUEUES]
    view = queues.engine.snapshot(queues.now())
    return web.json_response(_jsonable(asdict(view)))


async def agent_action(request: web.Request) -> web.Response:
    queues = request.app[QUEUES]
    ext, action = request.match_info["ext"], request.match_info["action"]
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
