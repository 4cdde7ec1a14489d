"""Post-call dispositions: the agent says what became of a call.

`POST /api/calls/{linkedid}/disposition` with `{"agent": "2001", "code": "booked",
"note": "..."}` puts a `Disposition` and an `AuditEntry` into the record sink (the
outbox) and answers 202 `{"linkedid": ..., "code": ...}`: the write is asynchronous, and
durable through the outbox's spool. A bad body is a 400 with `{"error": "..."}`. The
route sits behind staff sign-in (web/auth.py) and the app's body-size cap: a signed-in
user's `agent` defaults to their own extension and may name another only with
`control_any_agent` (else 403); the API token's service user must name the agent.

Whose call it is (`CallOwners`): an unknown call id (neither in the live ACD nor in the
`calls` table) is a 404 and nothing is written. An agent may disposition only a call
they took: the `calls` row's `agent` is their extension, or they answered it (a
`call_events` `answered` row: one who transferred it on), or the live ACD has them on it
(ringing, talking or in wrap-up); else 403. Whoever holds `control_any_agent`
(supervisors, the API token) may disposition any known call. The database being
unreachable is a 503. The audit entry names the real actor (`user:<username>` or
`token`) and the agent in `data["on_behalf"]` (web/audit_actor.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from aiohttp import web

from frontdesk.calls.acd_runtime import AcdRuntime
from frontdesk.staff import can
from frontdesk.store import db
from frontdesk.store.records import (
    DISPOSITION_CODES,
    AuditEntry,
    Disposition,
    Record,
    RecordError,
)
from frontdesk.web.audit_actor import actor, on_behalf
from frontdesk.web.auth import current_user, forbidden

PATH = "/api/calls/{linkedid}/disposition"
# the call's agent, and every agent who answered it (one who transferred it on, too)
_CALL_AGENTS = """
SELECT c.agent,
       ARRAY(SELECT e.data->>'agent' FROM call_events e
             WHERE e.linkedid = c.linkedid AND e.kind = 'answered') AS answered
FROM calls c WHERE c.linkedid = $1
"""


class CallLookup(Protocol):
    async def agents_of(self, linkedid: str) -> frozenset[str] | None:
        """The extensions that took (or are on) the call; None for an unknown call.
        Raises `db.PostgresError` or one of `db.UNAVAILABLE` when it cannot tell."""
        ...


class CallOwners:
    """`CallLookup` from the live ACD and the `calls` table (either may be absent)."""

    def __init__(self, pool: db.Pool | None, acd: AcdRuntime | None) -> None:
        self._pool, self._acd = pool, acd

    async def agents_of(self, linkedid: str) -> frozenset[str] | None:
        known, agents = False, set()
        if self._acd is not None:
            queued = self._acd.calls.get(linkedid)
            if queued is not None:
                known = True
                if queued.agent_ext is not None:
                    agents.add(queued.agent_ext)
            for view in self._acd.engine.snapshot(self._acd.now()).agents:
                if view.call_id == linkedid:
                    known = True
                    agents.add(view.ext)
        if self._pool is not None:
            async with self._pool.acquire() as conn:
                rows = await conn.fetch(_CALL_AGENTS, linkedid, timeout=2.0)
            for row in rows:
                known = True
                agents.update(a for a in (row["agent"], *row["answered"]) if a is not None)
        return frozenset(agents) if known else None


def add_disposition_routes(
    app: web.Application,
    put: Callable[[Record], None],
    now: Callable[[], datetime],
    calls: CallLookup,
) -> None:
    """Add the disposition route to `app`; records go to `put` (e.g. `Outbox.put`)."""

    async def post_disposition(request: web.Request) -> web.Response:
        linkedid = request.match_info["linkedid"]
        user = current_user(request)
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _bad("the body is not valid JSON")
        if not isinstance(body, dict):
            return _bad("the body must be a JSON object")
        agent, code, note = body.get("agent", user.extension), body.get("code"), body.get("note")
        if not isinstance(agent, str) or not agent:
            return _bad('"agent" (the agent\'s extension, a string) is required')
        supervisor = can(user, "control_any_agent")
        if agent != user.extension and not supervisor:
            return forbidden(request, f"you may not record a disposition for extension {agent}")
        if not isinstance(code, str) or code not in DISPOSITION_CODES:
            return _bad(f'"code" must be one of {", ".join(sorted(DISPOSITION_CODES))}')
        if note is not None and not isinstance(note, str):
            return _bad('"note" must be a string or null')
        at = now()
        try:
            disposition = Disposition(linkedid=linkedid, agent=agent, at=at, code=code, note=note)
            audit = AuditEntry(
                at=at,
                actor=actor(user),
                action="disposition",
                subject=linkedid,
                # not the note: the audit log is append-only
                data={"code": code, **on_behalf(agent)},
            )
        except RecordError as exc:
            return _bad(str(exc))
        try:
            agents = await calls.agents_of(linkedid)
        except (*db.UNAVAILABLE, db.PostgresError):
            return web.json_response({"error": "the call records are unreachable"}, status=503)
        if agents is None:
            return web.json_response({"error": "no call with that id"}, status=404)
        if not supervisor and agent not in agents:
            return forbidden(request, "you may only record a disposition for a call you took")
        put(disposition)
        put(audit)
        return web.json_response({"linkedid": linkedid, "code": code}, status=202)

    app.router.add_post(PATH, post_disposition)


def _bad(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)
