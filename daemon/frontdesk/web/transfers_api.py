"""`POST /api/calls/{call}/transfer`: staff hand a patient on (calls/staff_transfers.py).

Body (JSON): `{"to": "queue", "target": "<queue>", "reason": "...", "category": "...",
"skill": "..."}`, `{"to": "agent", "target": "<extension>", "reason": "..."}` or
`{"to": "external", "target": "<external of the plan>", "reason": "..."}`. Only the
agent on the call (`control_own_agent`) or a supervisor (`control_any_agent`) may; the
API token counts as a supervisor. Answers 202 when the transfer has started; 404 no such
call, 409 not in a conversation, 422 a bad target, 403 not yours. Each transfer is
audited (`call_transfer`; actor `user:<username>` or `token`, `"on_behalf":
"agent:<ext>"` the agent on the call) as well as recorded with the call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from frontdesk.calls.staff_transfers import StaffTransfers, TransferRefused
from frontdesk.staff import may_control
from frontdesk.store.records import AuditEntry
from frontdesk.web.audit_actor import actor, on_behalf
from frontdesk.web.auth import current_user, forbidden


@dataclass(frozen=True)
class _Wiring:
    transfers: StaffTransfers
    put_audit: Callable[[AuditEntry], None]
    now: Callable[[], datetime]


WIRING = web.AppKey("transfers", _Wiring)
_KINDS = frozenset({"queue", "agent", "external"})


def add_transfer_routes(
    app: web.Application,
    transfers: StaffTransfers,
    put_audit: Callable[[AuditEntry], None] | None,
    now: Callable[[], datetime],
) -> None:
    app[WIRING] = _Wiring(transfers, put_audit or (lambda entry: None), now)
    app.router.add_post("/api/calls/{call}/transfer", transfer)


async def transfer(request: web.Request) -> web.Response:
    wiring = request.app[WIRING]
    transfers = wiring.transfers
    call = request.match_info["call"]
    body = await _body(request)
    if body is None:
        return _error(400, "the body must be a JSON object")
    to, target = body.get("to"), body.get("target")
    if to not in _KINDS or not isinstance(target, str) or not target:
        return _error(422, "`to` is queue, agent or external, with a `target`")
    queued = transfers.acd.calls.get(call)
    if queued is None or queued.agent_ext is None:
        return _error(404, "no call in a conversation with that id")
    user = current_user(request)
    if not may_control(user, queued.agent_ext):
        return forbidden(request, "only the agent on the call or a supervisor may transfer it")
    by = user.extension  # None for the API token
    reason = _text(body.get("reason"))
    try:
        if to == "queue":
            category, skill = _text(body.get("category")), _text(body.get("skill"))
            transfers.to_queue(call, target, by=by, reason=reason, category=category, skill=skill)
        elif to == "agent":
            transfers.to_agent(call, target, by=by, reason=reason)
        else:
            transfers.to_external(call, target, by=by, reason=reason)
    except TransferRefused as exc:
        return _error(exc.status, exc.message)
    wiring.put_audit(
        AuditEntry(
            at=wiring.now(),
            actor=actor(user),
            action="call_transfer",
            subject=call,
            data={"to": to, "target": target, "agent": queued.agent_ext}
            | on_behalf(queued.agent_ext),
        )
    )
    return web.json_response({"call": call, "to": to, "target": target}, status=202)


async def _body(request: web.Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)
