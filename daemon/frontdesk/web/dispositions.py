"""Post-call dispositions: the agent says what became of a call.

`POST /api/calls/{linkedid}/disposition` with `{"agent": "2001", "code": "booked",
"note": "..."}` puts a `Disposition` and an `AuditEntry` into the record sink (the
outbox) and answers 202 `{"linkedid": ..., "code": ...}`: the write is asynchronous, and
durable through the outbox's spool. A bad body is a 400 with `{"error": "..."}`. The
route sits behind staff sign-in (web/auth.py) and the app's body-size cap: a signed-in
user's `agent` defaults to their own extension and may name another only with
`control_any_agent` (else 403); the API token's service user must name the agent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from aiohttp import web

from frontdesk.staff import can
from frontdesk.store.records import (
    DISPOSITION_CODES,
    AuditEntry,
    Disposition,
    Record,
    RecordError,
)
from frontdesk.web.auth import current_user, forbidden

PATH = "/api/calls/{linkedid}/disposition"


def add_disposition_routes(
    app: web.Application,
    put: Callable[[Record], None],
    now: Callable[[], datetime],
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
        if agent != user.extension and not can(user, "control_any_agent"):
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
                actor=f"agent:{agent}",
                action="disposition",
                subject=linkedid,
                data={"code": code},  # not the note: the audit log is append-only
            )
        except RecordError as exc:
            return _bad(str(exc))
        put(disposition)
        put(audit)
        return web.json_response({"linkedid": linkedid, "code": code}, status=202)

    app.router.add_post(PATH, post_disposition)


def _bad(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)
