"""The dashboard's pages: the live board, the agent view, the reports and the call flow.

Pages are server-rendered (web/templates/); live data arrives over `/events`
(web/live.py) and is written into the page by web/static/*.js as text, never as HTML.

- `GET /` the live board (every role);
- `GET /agent` the agent page, a workplace for staff with an extension: log in/out,
  pause with a reason; the current call (the screen pop, its reason and wait, transfer
  to a queue, a colleague or an external, notes); the disposition form after the call
  with the wrap-up time left; the callback tasks and voicemail messages to return
  (claim, call back now, done with an outcome); my calls today. Its data comes from
  web/agent_page.py, the live stream and the APIs it posts to (web/static/agent.js);
- `GET /reports?from=DATE&to=DATE` the routing targets for a date range, with each
  metric's definition and two charts; `GET /reports.csv` the same as CSV (charge nurses,
  supervisors, admins); `&site=NAME|all`: one of the sites the viewer may see, or all
  of them (default: this daemon's site; docs/scale.md "Several sites");
- `GET /diagram` the plan's call flow with today's open/closed state (every role);
  `GET /diagram.svg` the picture itself, drawn by Graphviz.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from aiohttp import web

from frontdesk import diagram
from frontdesk.plan import Plan
from frontdesk.reports.charts import calls_per_hour_svg, wait_distribution_svg
from frontdesk.reports.export import to_csv
from frontdesk.reports.metrics import (
    FCR_WINDOW,
    SEED_TARGETS,
    SERVICE_LEVEL_TARGET,
    SHORT_ABANDON,
    CallRow,
    Report,
    compute,
)
from frontdesk.reports.store import load_rows
from frontdesk.routing.clock import PracticeClock
from frontdesk.store import db
from frontdesk.store.db import DEFAULT_SITE
from frontdesk.store.records import DISPOSITION_CODES, NOTE_MAX_CHARS
from frontdesk.web.auth import current_user, forbidden, require
from frontdesk.web.board import RETURN_OUTCOMES
from frontdesk.web.live import LIVE
from frontdesk.web.templates import render

log = structlog.get_logger("frontdesk.web")
MAX_REPORT_DAYS = 366
DIAGRAM_CACHE_SECONDS = 60.0


@dataclass
class PageContext:
    plan: Plan
    pool: db.Pool | None
    now: Callable[[], datetime]
    svg_cache: tuple[datetime, str] | None = None


PAGES = web.AppKey("pages", PageContext)


def add_page_routes(
    app: web.Application, plan: Plan, pool: db.Pool | None, now: Callable[[], datetime]
) -> None:
    app[PAGES] = PageContext(plan, pool, now)
    app.router.add_get("/", board_page)
    app.router.add_get("/agent", agent_page)
    app.router.add_get("/reports", reports_page)
    app.router.add_get("/reports.csv", reports_csv)
    app.router.add_get("/diagram", diagram_page)
    app.router.add_get("/diagram.svg", diagram_svg)


@require("view_board")
async def board_page(request: web.Request) -> web.Response:
    """The board of this site, or of another the viewer may see (`?site=`; a selector
    when there are several: docs/scale.md "Several sites")."""
    user = current_user(request)
    live = request.app.get(LIVE)
    own = live.site if live is not None else DEFAULT_SITE
    sites = await live.sites_for(user) if live is not None else [own]
    site = request.query.get("site") or (own if own in sites else next(iter(sites), own))
    if site not in sites:
        return forbidden(request, f"you may not see site {site}'s board")
    return render(
        request,
        "board.html",
        practice=request.app[PAGES].plan.practice.name,
        site=site,
        own_site=own,
        sites=sites,
    )


@require("view_board")
async def agent_page(request: web.Request) -> web.Response:
    user = current_user(request)
    if user.extension is None:
        return render(
            request, "error.html", status=403, message="The agent view is for staff with a phone."
        )
    return render(
        request,
        "agent.html",
        codes=sorted(DISPOSITION_CODES),
        note_max=NOTE_MAX_CHARS,
        outcomes=RETURN_OUTCOMES,
        zone=request.app[PAGES].plan.practice.timezone,
    )


# -- reports ----------------------------------------------------------------------------
class _BadRange(Exception):
    pass


def report_range(
    raw_from: str | None, raw_to: str | None, zone: ZoneInfo, today: date
) -> tuple[date, date, datetime, datetime]:
    """Local days `from`..`to` (both included; default the last 7 days) as `[start, end)`."""
    try:
        last = date.fromisoformat(raw_to) if raw_to else today
        first = date.fromisoformat(raw_from) if raw_from else last - timedelta(days=6)
    except ValueError:
        raise _BadRange("Dates look like 2026-11-30.") from None
    if last < first:
        raise _BadRange("The end date is before the start date.")
    if (last - first).days >= MAX_REPORT_DAYS:
        raise _BadRange(f"A report covers at most {MAX_REPORT_DAYS} days.")
    start = datetime.combine(first, time(), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(), tzinfo=zone).astimezone(UTC)
    return first, last, start, end


@dataclass(frozen=True)
class _Result:
    first: date
    last: date
    report: Report | None = None
    error: str | None = None
    rows: tuple[CallRow, ...] = ()
    site: str = DEFAULT_SITE  # a site's name, or "all"
    sites: tuple[str, ...] = ()  # the sites the viewer may choose from


async def _viewer_sites(request: web.Request) -> tuple[str, list[str]]:
    """This daemon's site and the sites the viewer may see (this one alone without the
    live board)."""
    live = request.app.get(LIVE)
    own = live.site if live is not None else DEFAULT_SITE
    user = current_user(request)
    sites = await live.sites_for(user) if live is not None else [own]
    return own, sites


async def _report(request: web.Request) -> _Result:
    own, choices = await _viewer_sites(request)
    site = request.query.get("site") or (own if own in choices else next(iter(choices), own))
    if site != "all" and site not in choices:
        raise web.HTTPForbidden(text=f"you may not see site {site}'s reports")
    result = await _site_report(request, choices if site == "all" else [site])
    return replace(result, site=site, sites=tuple(choices))


async def _site_report(request: web.Request, sites: list[str]) -> _Result:
    pages = request.app[PAGES]
    zone = ZoneInfo(pages.plan.practice.timezone)
    today = pages.now().astimezone(zone).date()
    try:
        first, last, start, end = report_range(
            request.query.get("from"), request.query.get("to"), zone, today
        )
        thresholds = (
            _seconds(request, "short", SHORT_ABANDON),
            _seconds(request, "sl", SERVICE_LEVEL_TARGET),
        )
    except _BadRange as exc:
        return _Result(today, today, error=str(exc))
    if pages.pool is None:
        return _Result(first, last, error="Reports need the database, which is not configured.")
    try:
        async with pages.pool.acquire() as conn:
            rows = await load_rows(conn, start, end + FCR_WINDOW, timeout=10.0, sites=sites)
    except (db.PostgresError, OSError, TimeoutError) as exc:
        log.warning("reports.unavailable", error=type(exc).__name__)
        return _Result(first, last, error="The database is unreachable; try again shortly.")
    report = compute(
        rows,
        start=start,
        end=end,
        zone=zone,
        short_abandon=timedelta(seconds=thresholds[0]),
        service_level_target=timedelta(seconds=thresholds[1]),
    )
    return _Result(first, last, report, rows=tuple(rows))


@require("view_reports")
async def reports_page(request: web.Request) -> web.Response:
    result = await _report(request)
    report, charts = result.report, []
    if report is not None:
        window = [
            r for r in result.rows if r.started_at and report.start <= r.started_at < report.end
        ]
        charts = [
            ("Calls per hour", _data_uri(calls_per_hour_svg(report))),
            ("Wait before answer or hang-up", _data_uri(wait_distribution_svg(window))),
        ]
    return render(
        request,
        "reports.html",
        first=result.first.isoformat(),
        last=result.last.isoformat(),
        short=request.query.get("short") or int(SHORT_ABANDON.total_seconds()),
        sl=request.query.get("sl") or int(SERVICE_LEVEL_TARGET.total_seconds()),
        report=report,
        error=result.error,
        charts=charts,
        site=result.site,
        sites=result.sites,
        **_routing_context(),
    )


def _routing_context() -> dict[str, Any]:
    """What the reports page's transfers/misrouting/FCR tables need besides the report."""
    hours = FCR_WINDOW.total_seconds() / 3600
    return {
        "routing_columns": (
            ("transfers", "Transfer rate"),
            ("misrouted", "Misrouted"),
            ("fcr", "First-contact resolution"),
        ),
        "seeds": SEED_TARGETS,
        "routing_window": f"{hours:g} hours",
    }


@require("view_reports")
async def reports_csv(request: web.Request) -> web.Response:
    result = await _report(request)
    if result.report is None:
        return web.Response(status=400, text=result.error or "", content_type="text/plain")
    first, last = result.first, result.last
    return web.Response(
        text=to_csv(result.report),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="frontdesk-{first}-{last}.csv"'},
    )


def _seconds(request: web.Request, name: str, default: timedelta) -> int:
    """A threshold in whole seconds from the query (0 to 3600), else the default."""
    raw = request.query.get(name, "").strip()
    if not raw:
        return int(default.total_seconds())
    if not raw.isdigit() or int(raw) > 3600:
        raise _BadRange("Thresholds are whole seconds from 0 to 3600.")
    return int(raw)


def _data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


# -- the call flow ----------------------------------------------------------------------
@require("view_diagram")
async def diagram_page(request: web.Request) -> web.Response:
    pages = request.app[PAGES]
    clock = PracticeClock(pages.plan)
    at = pages.now()
    queues = [
        (name, clock.schedule_open(queue.schedule, at)) for name, queue in pages.plan.queues.items()
    ]
    return render(
        request,
        "diagram.html",
        practice=pages.plan.practice.name,
        local_time=clock.local(at).strftime("%A %Y-%m-%d %H:%M"),
        queues=queues,
    )


@require("view_diagram")
async def diagram_svg(request: web.Request) -> web.Response:
    pages = request.app[PAGES]
    at = pages.now()
    cached = pages.svg_cache
    if cached is None or (at - cached[0]).total_seconds() > DIAGRAM_CACHE_SECONDS:
        dot = diagram.plan_to_dot(pages.plan, now=at, clock=PracticeClock(pages.plan))
        try:
            svg = await asyncio.to_thread(diagram.render_svg, dot)
        except diagram.DiagramError as exc:
            log.warning("diagram.unavailable", error=str(exc))
            return web.Response(status=503, text=str(exc), content_type="text/plain")
        pages.svg_cache = cached = (at, svg)
    return web.Response(text=cached[1], content_type="image/svg+xml")
