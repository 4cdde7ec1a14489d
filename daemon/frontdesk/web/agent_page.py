"""The agent page's data (web/templates/agent.html, web/static/agent.js), read-only.

- `GET /api/agent-page/{ext}`: what the page offers and the call in hand: `queues` in
  the plan's order, numbered as `*8<n>` on the phone uses them (with each queue's
  `wrap_up_s` and the skills its members have, for a corrected transfer), `staff` (the
  colleagues to transfer to), `externals` (the plan's outside numbers, by name: never a
  dial string), `categories` (the plan's), `pause_reasons` (lunch, meeting, admin and
  the plan's own), and `call`: the call the agent is talking on (or being rung for),
  None without one — its id, queue, category, priority, language, skill, wait before
  the answer, talk time so far, whether it can be transferred, and the caller's number,
  masked unless the viewer may see full numbers (the board's rule, web/board.py). The
  patient themselves come from the screen pop (web/screenpop.py), which is audited.
- `GET /api/agents/{ext}/calls-today`: the calls the agent took since the practice's
  local midnight (`calls.agent`), newest first, at most `MAX_CALLS`: time (and its
  practice-local `local_time`), number (masked the same way), queue, category, outcome,
  talk time and disposition. 503 when the database is not configured or unreachable.

Both are for the agent at `ext` themselves or whoever may control any agent (the API
token counts as a supervisor); 404 for an extension the plan has no staff member for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from aiohttp import web

from frontdesk.calls.acd_runtime import AcdRuntime, Queued
from frontdesk.phone import mask_number
from frontdesk.plan import Plan
from frontdesk.plan.model import Menu
from frontdesk.staff import StaffUser, can, may_control
from frontdesk.store import db
from frontdesk.store.agent_calls import MAX_ROWS, calls_since
from frontdesk.web.auth import current_user, forbidden

log = structlog.get_logger("frontdesk.web")
MAX_CALLS = MAX_ROWS
FEATURE = "*8"  # calls/staff_transfers.py: *8<n> moves the caller to the n-th queue


@dataclass(frozen=True)
class _Context:
    plan: Plan
    queues: AcdRuntime
    pool: db.Pool | None
    now: Callable[[], datetime]


AGENT_PAGE = web.AppKey("agent_page", _Context)


def add_agent_page_routes(
    app: web.Application,
    plan: Plan,
    queues: AcdRuntime,
    pool: db.Pool | None,
    now: Callable[[], datetime],
) -> None:
    app[AGENT_PAGE] = _Context(plan, queues, pool, now)
    app.router.add_get("/api/agent-page/{ext}", agent_page_data)
    app.router.add_get("/api/agents/{ext}/calls-today", calls_today)


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _shown(user: StaffUser) -> Callable[[str | None], str | None]:
    """The caller's number as `user` may see it (None stays None: withheld)."""
    if can(user, "see_full_numbers"):
        return lambda number: number
    return lambda number: None if number is None else mask_number(number)


def _refusal(request: web.Request, ext: str) -> web.Response | None:
    context = request.app[AGENT_PAGE]
    if not may_control(current_user(request), ext):
        return forbidden(request, "the agent page is for the agent at that extension")
    if not any(s.extension == ext for s in context.plan.staff):
        return web.json_response({"error": f"no staff member has extension {ext}"}, status=404)
    return None


async def agent_page_data(request: web.Request) -> web.Response:
    ext = request.match_info["ext"]
    refused = _refusal(request, ext)
    if refused is not None:
        return refused
    context = request.app[AGENT_PAGE]
    plan = context.plan
    me = next(s for s in plan.staff if s.extension == ext)
    queues = []
    for number, (name, queue) in enumerate(plan.queues.items(), start=1):
        skills = {k for m in plan.members(name) for k, level in m.skills.items() if level > 0}
        queues.append(
            {
                "name": name,
                "label": _label(name),
                "number": number,
                "feature": f"{FEATURE}{number}" if number <= 9 else None,
                "wrap_up_s": int(queue.wrap_up.total_seconds()),
                "skills": sorted(skills),
                "mine": name in me.queues,
            }
        )
    body = {
        "ext": ext,
        "name": me.name,
        "queues": queues,
        "staff": [{"ext": s.extension, "name": s.name} for s in plan.staff if s.extension != ext],
        "externals": [{"name": name, "label": _label(name)} for name in plan.external],
        "categories": categories(plan),
        "pause_reasons": list(plan.all_pause_reasons),
        "call": current_call(context.queues, ext, _shown(current_user(request))),
    }
    return web.json_response(body)


def categories(plan: Plan) -> list[str]:
    """Every category the plan's menus and numbers name, sorted."""
    found: set[str] = set()

    def walk(menu: Menu) -> None:
        for option in menu.options.values():
            if option.category:
                found.add(option.category)
            if option.menu is not None:
                walk(option.menu)

    walk(plan.menu)
    found.update(entry.category for entry in plan.numbers.values() if entry.category)
    return sorted(found)


def current_call(
    queues: AcdRuntime, ext: str, show: Callable[[str | None], str | None]
) -> dict[str, Any] | None:
    """The call agent `ext` talks on, or is being rung for; None without one."""
    at = queues.now()
    me = queues.engine.agent(ext)
    queued: Queued | None = queues.talking_with(ext)
    state = "talking"
    if queued is None and me is not None and me.state == "ringing" and me.call_id:
        queued, state = queues.calls.get(me.call_id), "ringing"
    if queued is None:
        return None
    joined = queued.joined
    answered = me.since if state == "talking" and me is not None else None
    waited = (answered or at) - joined.enqueued_at
    talking = at - answered if answered is not None else None
    return {
        "call": queued.channel,
        "state": state,
        "queue": joined.queue,
        "category": joined.category,
        "priority": joined.priority,
        "language": joined.language,
        "skill": joined.skill,
        "enqueued_at": joined.enqueued_at.isoformat(),
        "waited_s": _seconds(waited),
        "talking_s": None if talking is None else _seconds(talking),
        # a callback's conversation (the patient was dialled) is not transferred
        "transferable": state == "talking" and queued.patient_leg is None,
        "number": show(queued.number),
    }


def _seconds(delta: timedelta) -> int:
    return max(int(delta.total_seconds()), 0)


async def calls_today(request: web.Request) -> web.Response:
    ext = request.match_info["ext"]
    refused = _refusal(request, ext)
    if refused is not None:
        return refused
    context = request.app[AGENT_PAGE]
    if context.pool is None:
        return web.json_response({"error": "the call records are not configured"}, status=503)
    zone = ZoneInfo(context.plan.practice.timezone)
    midnight = context.now().astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    try:
        async with context.pool.acquire() as conn:
            rows = await calls_since(conn, ext, midnight, limit=MAX_CALLS)
    except (*db.UNAVAILABLE, db.PostgresError) as exc:
        log.warning("agent_page.calls_unavailable", error=type(exc).__name__)
        return web.json_response({"error": "the call records are unreachable"}, status=503)
    show = _shown(current_user(request))
    calls = [
        {
            "call": row.linkedid,
            "started_at": row.started_at.isoformat(),
            "local_time": row.started_at.astimezone(zone).strftime("%H:%M"),
            "answered_at": None if row.answered_at is None else row.answered_at.isoformat(),
            "number": show(row.caller),
            "queue": row.queue,
            "category": row.category,
            "outcome": row.outcome,
            "talk_s": row.talk_s,
            "disposition": row.disposition,
        }
        for row in rows
    ]
    return web.json_response(
        {
            "since": midnight.isoformat(),
            "calls": calls,
            "limit": MAX_CALLS,
            "truncated": len(calls) >= MAX_CALLS,
        }
    )
