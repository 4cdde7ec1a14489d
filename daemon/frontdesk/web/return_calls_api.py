"""`POST /api/alerts/{id}/call-back`: "call back now" on a callback task or a voicemail.

The signed-in agent's phone rings first, then the patient's number from the call's
record (calls/return_calls.py). Only staff with an extension who may control their own
agent; 202 when it has started, 404 no such alert (or not one to call back), 409 that
call is being returned already, or someone else claimed it (web/live.py), 422 no
number to call (withheld), 503 the call records are unreachable. Audited
(`alert_call_back`); the number is never logged.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from frontdesk.calls.return_calls import ReturnCalls
from frontdesk.staff import can
from frontdesk.store import db
from frontdesk.store.call_numbers import caller_number
from frontdesk.store.records import AuditEntry
from frontdesk.web.audit_actor import actor, on_behalf
from frontdesk.web.auth import current_user, forbidden
from frontdesk.web.live import LiveBoard, alert_of


@dataclass(frozen=True)
class _Wiring:
    live: LiveBoard
    returns: ReturnCalls
    pool: db.Pool


WIRING = web.AppKey("return_calls", _Wiring)


def add_return_call_routes(
    app: web.Application, live: LiveBoard, returns: ReturnCalls, pool: db.Pool
) -> None:
    app[WIRING] = _Wiring(live, returns, pool)
    app.router.add_post("/api/alerts/{id}/call-back", call_back)


async def call_back(request: web.Request) -> web.Response:
    wiring, user = request.app[WIRING], current_user(request)
    if user.extension is None or not can(user, "return_calls"):
        return forbidden(request, "calling a patient back needs your own phone")
    alert = alert_of(request)
    if alert is None or not alert.returnable:
        return _error(404, "no callback task or voicemail with that id")
    if alert.held_by_other(user.username):
        return _error(409, f"{alert.claimed_by} claimed that call")
    try:
        number = await caller_number(wiring.pool, alert.call)
    except (*db.UNAVAILABLE, db.PostgresError):
        return _error(503, "the call records are unreachable")
    if number is None:
        return _error(422, "the caller's number is unknown or withheld")
    if not wiring.returns.start(alert.call, user.extension, number):
        return _error(409, "that call is being returned already")
    if wiring.live.put_audit is not None:
        wiring.live.put_audit(
            AuditEntry(
                at=wiring.live.queues.now(),
                actor=actor(user),
                action="alert_call_back",
                subject=alert.call,
                data={"alert": alert.id, "kind": alert.kind, "agent": user.extension}
                | on_behalf(user.extension),
            )
        )
    return web.json_response({"alert": alert.id, "agent": user.extension}, status=202)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)
